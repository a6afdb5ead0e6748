"""The seed's program: a factory with no base class, only the methods the
reactor calls, connecting to a server (here a local one, port in argv[1]),
with Twisted's HTTP proxy as its protocol. It stops the reactor when its
connection is lost, so that it ends."""

import sys

from twisted.internet import reactor
from twisted.python import log
from twisted.web import proxy

log.startLogging(sys.stdout)


class myProtocolFactory:
    protocol = proxy.Proxy

    def doStart(self):
        pass

    def startedConnecting(self, connectorInstance):
        print(connectorInstance)

    def buildProtocol(self, address):
        print(address)
        return self.protocol()

    def clientConnectionLost(self, connection, reason):
        print(reason)
        print(connection)
        reactor.stop()

    def doStop(self):
        pass


reactor.connectTCP("localhost", int(sys.argv[1]), myProtocolFactory())
reactor.run()
