"""Small Twisted applications the recorder's tests run over loopback.

Each fires Deferreds from its callbacks, so a test waits for the event it
needs instead of sleeping.
"""

from __future__ import annotations

from twisted.internet import defer, protocol


class Echo(protocol.Protocol):
    """Writes back what it receives; tells its factory when it is closed."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)

    def connectionLost(self, reason: object) -> None:
        self.factory.closed += 1
        waiting, self.factory.waiting = self.factory.waiting, []
        for d in waiting:
            d.callback(None)


class EchoFactory(protocol.Factory):
    """An echo server; :meth:`closed_count` waits for its connections to close."""

    protocol = Echo

    def __init__(self) -> None:
        self.closed = 0
        self.waiting: list[defer.Deferred] = []

    @defer.inlineCallbacks
    def closed_count(self, n: int):
        while self.closed < n:
            d: defer.Deferred = defer.Deferred()
            self.waiting.append(d)
            yield d


class OneShot(protocol.Protocol):
    """Sends a greeting, closes on the first answer, and fires
    ``factory.done`` with what it got when the connection is lost."""

    def connectionMade(self) -> None:
        self.received = b""
        self.transport.write(self.factory.greeting)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        self.transport.loseConnection()

    def connectionLost(self, reason: object) -> None:
        done, self.factory.done = self.factory.done, None
        if done is not None:
            done.callback(self.received)


class OneShotFactory(protocol.ClientFactory):
    """A client factory for :class:`OneShot`; ``lost`` fires on
    ``clientConnectionLost`` (after the protocol's ``connectionLost``)."""

    protocol = OneShot
    # A noisy factory logs "Starting factory" with itself in the event, and
    # until logging begins Twisted keeps every event: the factory stays
    # alive (the seed's leak; test_gates shows it). Quiet, it is freed.
    noisy = False

    def __init__(self, greeting: bytes = b"hello") -> None:
        self.greeting = greeting
        self.done: defer.Deferred | None = defer.Deferred()
        self.lost: defer.Deferred = defer.Deferred()

    def clientConnectionLost(self, connector: object, reason: object) -> None:
        self.lost.callback(None)

    def clientConnectionFailed(self, connector: object, reason: object) -> None:
        self.lost.errback(reason)


def event_names(recording: object) -> list[str]:
    return [e["event"] for e in recording.events]  # type: ignore[attr-defined]


def events(recording: object, name: str) -> list[dict]:
    return [e for e in recording.events if e["event"] == name]  # type: ignore[attr-defined]
