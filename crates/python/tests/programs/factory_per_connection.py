"""The seed's leak: connectTCP called N times with a new factory each time.
The connections all end, yet the factories stay alive: a noisy factory
logs "Starting factory" with itself in the event, and until logging
begins Twisted keeps every event."""

import sys

from twisted.internet import protocol, reactor

N = int(sys.argv[1])


class Hello(protocol.Protocol):
    def connectionMade(self):
        self.transport.loseConnection()


class PerConnection(protocol.ClientFactory):
    protocol = Hello

    def clientConnectionLost(self, connector, reason):
        self.next()

    def clientConnectionFailed(self, connector, reason):
        self.next()


done = 0


def connect_next():
    global done
    if done == N:
        port.stopListening().addCallback(lambda _: reactor.stop())
        return
    done += 1
    factory = PerConnection()
    factory.next = connect_next
    reactor.connectTCP("127.0.0.1", port.getHost().port, factory)


class Server(protocol.Protocol):
    pass


port = reactor.listenTCP(0, protocol.Factory.forProtocol(Server), interface="127.0.0.1")
reactor.callWhenRunning(connect_next)
reactor.run()
