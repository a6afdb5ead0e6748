"""A real ordering bug: a client that 'cleans up' by calling its own
protocol's connectionLost when it gives up, and then closes the
connection, whose real connectionLost follows."""

from twisted.internet import protocol, reactor


class Impatient(protocol.Protocol):
    def connectionMade(self):
        self.transport.write(b"ping")

    def dataReceived(self, data):
        self.connectionLost(None)  # the bug: the reactor calls this, not us
        self.transport.loseConnection()

    def connectionLost(self, reason):
        pass


class Factory(protocol.ClientFactory):
    protocol = Impatient
    noisy = False

    def clientConnectionLost(self, connector, reason):
        port.stopListening().addCallback(lambda _: reactor.stop())


class Echo(protocol.Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


port = reactor.listenTCP(0, protocol.Factory.forProtocol(Echo), interface="127.0.0.1")
reactor.connectTCP("127.0.0.1", port.getHost().port, Factory())
reactor.run()
