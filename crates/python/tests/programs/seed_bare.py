"""The seed's first program: a factory with nothing but `protocol`.
connectTCP raises AttributeError (no doStart), before the reactor runs."""

import sys

from twisted.internet import reactor
from twisted.web import proxy


class myProtocolFactory:
    protocol = proxy.Proxy


reactor.connectTCP("localhost", int(sys.argv[1]), myProtocolFactory())
reactor.run()
