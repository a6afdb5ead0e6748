"""The recorder on Twisted's real reactor, over loopback: what it writes, and
that the checker judges it as Twisted's source says it should.

These are trial test cases (pytest runs them): each spins the real reactor
until the Deferred it returns fires.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import tempfile
import warnings
import weakref

from twisted.internet import defer, endpoints, protocol, reactor
from twisted.trial import unittest

from callorder import twisted as recorder

from twisted_apps import (
    EchoFactory,
    OneShot,
    OneShotFactory,
    event_names,
    events,
)


class RecorderCase(unittest.TestCase):
    """Each test records between setUp and its own finish()."""

    def setUp(self) -> None:
        self.recording = recorder.start()
        self.addCleanup(self._end)

    def _end(self) -> None:
        if not self.recording.finished:
            self.recording.finish(scope="test")

    def listen(self, factory: protocol.Factory) -> int:
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.port = port
        return port.getHost().port

    @defer.inlineCallbacks
    def finish(self, profile: str = "strict"):
        """Waits for the server's connections to close, stops the port,
        ends the recording and returns its verdict."""
        server = self.port.factory
        if isinstance(server, EchoFactory):
            built = [e for e in events(self.recording, "build_protocol") if "port" in e and e["protocol"]]
            yield server.closed_count(len(built))
        yield self.port.stopListening()
        self.recording.finish(scope="test")
        return self.recording.check(profile)


class ConnectTCPTests(RecorderCase):
    @defer.inlineCallbacks
    def test_an_echo_round_trip_is_recorded_in_order_and_legal(self):
        client = OneShotFactory()
        reactor.connectTCP("127.0.0.1", self.listen(EchoFactory()), client)
        yield client.lost
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        names = event_names(self.recording)
        # The client's life cycle, in Twisted's order (semantics C1, C3a).
        client_side = [n for n, e in zip(names, self.recording.events) if e.get("factory") == "f2" or e.get("connector") == "c1"]
        self.assertEqual(
            client_side,
            ["connect_tcp", "do_start", "start_factory", "started_connecting", "build_protocol", "client_connection_lost", "do_stop", "stop_factory"],
        )
        start = events(self.recording, "start_factory")[1]
        self.assertEqual((start["depth"], start["within"]), (1, start["seq"] - 1))
        write = events(self.recording, "write")[0]
        self.assertEqual((write["depth"], write["bytes"]), (1, 5))
        self.assertEqual(self.recording.events[-1], {**self.recording.events[-1], "event": "end", "scope": "test"})

    @defer.inlineCallbacks
    def test_a_refused_connection_fails_its_connector(self):
        port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        number = port.getHost().port
        yield port.stopListening()
        self.port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        client = OneShotFactory()
        reactor.connectTCP("127.0.0.1", number, client)
        yield self.assertFailure(client.lost, Exception)
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        failed = events(self.recording, "client_connection_failed")
        self.assertEqual([e["reason"] for e in failed], ["connection_refused"])


class EndpointTests(RecorderCase):
    @defer.inlineCallbacks
    def test_an_endpoint_client_forwards_do_start_without_hooks(self):
        # endpoints._WrappingFactory forwards doStart/doStop to the factory
        # it wraps; its own startFactory never runs (issue 12, part 1).
        number = self.listen(EchoFactory())
        client = OneShotFactory()
        endpoint = endpoints.TCP4ClientEndpoint(reactor, "127.0.0.1", number)
        yield endpoint.connect(client)
        yield client.done
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        starts = [e for e in events(self.recording, "do_start") if "connector" in e]
        self.assertEqual([e.get("hooks") for e in starts], [False])
        stops = [e for e in events(self.recording, "do_stop") if "connector" in e]
        self.assertEqual([e.get("hooks") for e in stops], [False])
        self.assertEqual(len(events(self.recording, "start_factory")), 1)  # the server's

    @defer.inlineCallbacks
    def test_client_and_server_from_strings(self):
        server = endpoints.serverFromString(reactor, "tcp:0:interface=127.0.0.1")
        self.port = yield server.listen(EchoFactory())
        number = self.port.getHost().port
        client = OneShotFactory()
        yield endpoints.clientFromString(reactor, f"tcp:127.0.0.1:{number}").connect(client)
        yield client.done
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual(len(events(self.recording, "listen_tcp")), 1)
        self.assertEqual(len(events(self.recording, "connect_tcp")), 1)

    @defer.inlineCallbacks
    def test_a_hostname_endpoint_to_a_numeric_address(self):
        number = self.listen(EchoFactory())
        client = OneShotFactory()
        yield endpoints.HostnameEndpoint(reactor, b"127.0.0.1", number).connect(client)
        yield client.done
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertGreaterEqual(len(events(self.recording, "connect_tcp")), 1)


class ReconnectingTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_reconnecting_factory_that_gives_up(self):
        # Semantics RC3: stopped and started again each round.
        closed = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        number = closed.getHost().port
        yield closed.stopListening()
        self.port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        gave_up = defer.Deferred()

        class GiveUp(protocol.ReconnectingClientFactory):
            maxRetries = 2
            initialDelay = 0.01
            factor = 1.0
            jitter = 0

            def clientConnectionFailed(self, connector, reason):
                protocol.ReconnectingClientFactory.clientConnectionFailed(self, connector, reason)
                if self.retries > self.maxRetries:
                    gave_up.callback(None)

        reactor.connectTCP("127.0.0.1", number, GiveUp())
        yield gave_up
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual(len(events(self.recording, "client_connection_failed")), 3)
        self.assertEqual(len(events(self.recording, "connect")), 2)


class ApplicationObjectTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_duck_typed_factory_without_a_base_class(self):
        # The seed's factory: no base class, only the methods Twisted calls.
        lost = defer.Deferred()

        class Duck:
            protocol = OneShot
            greeting = b"hi"
            done = None

            def doStart(self):
                pass

            def startedConnecting(self, connector):
                pass

            def buildProtocol(self, addr):
                p = self.protocol()
                p.factory = self
                return p

            def clientConnectionLost(self, connector, reason):
                lost.callback(None)

            def doStop(self):
                pass

        reactor.connectTCP("127.0.0.1", self.listen(EchoFactory()), Duck())
        yield lost
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual([e.get("hooks") for e in events(self.recording, "do_start") if "connector" in e], [False])

    @defer.inlineCallbacks
    def test_methods_assigned_on_the_instance_and_a_custom_setattr(self):
        seen = []

        class Guarded(OneShot):
            def __setattr__(self, name, value):
                # Refuses attributes it does not know; the recorder sets none.
                if name not in ("transport", "connected", "factory", "received"):
                    raise AttributeError(name)
                object.__setattr__(self, name, value)

        class Factory(OneShotFactory):
            protocol = Guarded

        client = Factory()
        client.clientConnectionLost = lambda connector, reason: (seen.append("own"), client.lost.callback(None))
        reactor.connectTCP("127.0.0.1", self.listen(EchoFactory()), client)
        yield client.lost
        verdict = yield self.finish()
        self.assertEqual(seen, ["own"])
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual(len(events(self.recording, "client_connection_lost")), 1)

    @defer.inlineCallbacks
    def test_a_port_that_listens_again_is_a_new_port(self):
        factory = EchoFactory()
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        yield port.stopListening()
        port.startListening()
        self.port = port
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual([e["port"] for e in events(self.recording, "listen_tcp")], ["l1", "l2"])
        self.assertEqual(len(events(self.recording, "start_factory")), 2)

    @defer.inlineCallbacks
    def test_recording_keeps_no_object_alive(self):
        # A factory per connection, dropped by the application once its
        # connection ended: nothing of the recorder may keep it.
        number = self.listen(EchoFactory())
        refs = []
        for _ in range(5):
            client = OneShotFactory()
            refs.append(weakref.ref(client))
            reactor.connectTCP("127.0.0.1", number, client)
            yield client.lost
            del client
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        gc.collect()
        self.assertEqual([r for r in refs if r() is not None], [])
        # Alive: only the server's factory, which the test's port holds; a
        # port is no test case, so a collection ran to tell.
        leaks = self.recording.leaks
        self.assertEqual((leaks.factories, leaks.alive_after_gc, leaks.collected), (6, 1, True))

    @defer.inlineCallbacks
    def test_factories_the_application_keeps_are_counted(self):
        number = self.listen(EchoFactory())
        kept = []
        for _ in range(3):
            client = OneShotFactory()
            kept.append(client)
            reactor.connectTCP("127.0.0.1", number, client)
            yield client.lost
        yield self.finish()
        leaks = self.recording.leaks
        # The three kept, and the server's (the test's port holds it).
        self.assertEqual((leaks.factories, leaks.alive_after_gc, leaks.connections), (4, 4, 3))
        self.assertIn("4 of 4 factories still alive after 3 connections made", str(leaks))


class ApplicationCallTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_callback_the_application_calls_is_marked_and_judged(self):
        # A protocol that tells its factory to stop when it closes: the
        # factory's stopFactory runs outside any do_stop.
        stopped = defer.Deferred()

        class Closing(protocol.Protocol):
            def dataReceived(self, data):
                self.transport.write(data)

            def connectionLost(self, reason):
                self.factory.stopFactory()

        class Pool(protocol.Factory):
            protocol = Closing

            def stopFactory(self):
                if not stopped.called:
                    stopped.callback(None)
        client = OneShotFactory()
        reactor.connectTCP("127.0.0.1", self.listen(Pool()), client)
        yield stopped
        yield client.lost
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "illegal")
        self.assertEqual(verdict.violation.rule, "F-STOP-HOOK")
        line = self.recording.events[verdict.violation.line - 1]
        self.assertEqual((line["event"], line["caller"]), ("stop_factory", "application"))
        self.assertRegex(line["site"], r"^test_recorder\.py:\d+$")

    @defer.inlineCallbacks
    def test_calls_inside_a_callback_chain_are_not_the_applications(self):
        # makeConnection calls connectionMade, a subclass calls the base
        # class's connectionLost: neither is a call of the application.
        class Super(OneShot):
            def connectionLost(self, reason):
                OneShot.connectionLost(self, reason)

        class Factory(OneShotFactory):
            protocol = Super

        client = Factory()
        reactor.connectTCP("127.0.0.1", self.listen(EchoFactory()), client)
        yield client.lost
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual([e for e in self.recording.events if "caller" in e], [])


class ProducerTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_pull_producer_is_resumed_inside_register_producer(self):
        done = defer.Deferred()

        class Pull:
            def __init__(self, transport):
                self.transport, self.left = transport, 3

            def resumeProducing(self):
                if self.left:
                    self.left -= 1
                    self.transport.write(b"x" * 10)
                else:
                    self.transport.unregisterProducer()
                    self.transport.loseConnection()

            def stopProducing(self):
                pass

        class Sender(protocol.Protocol):
            def connectionMade(self):
                self.transport.registerProducer(Pull(self.transport), False)

            def connectionLost(self, reason):
                done.callback(None)

        class SenderFactory(protocol.ClientFactory):
            protocol = Sender

        reactor.connectTCP("127.0.0.1", self.listen(EchoFactory()), SenderFactory())
        yield done
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        register = events(self.recording, "register_producer")[0]
        following = self.recording.events[register["seq"]]
        self.assertEqual((following["event"], following["depth"]), ("resume_producing", register["depth"]))


class ReactorOnlyCallTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_port_connection_lost_called_by_the_application_is_marked(self):
        # Only the reactor's shutdown calls Port.connectionLost; a caller
        # elsewhere makes the do_stop it delivers the application's.
        port = reactor.listenTCP(0, EchoFactory(), interface="127.0.0.1")
        port.connectionLost(None)
        self.recording.finish(scope="test")
        verdict = self.recording.check()
        self.assertEqual((verdict.verdict, verdict.violation.rule), ("illegal", "F-DO-STOP"))
        stop = events(self.recording, "do_stop")[0]
        self.assertEqual(stop["caller"], "application")
        self.assertRegex(stop["site"], r"^test_recorder\.py:\d+$")
        yield None


class ScopeTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_objects_made_before_the_recording_are_not_in_it(self):
        # A server and a connection from before the recording: their later
        # callbacks belong to no trace, and the factory's hook call made by
        # the reactor for them is not taken for the application's.
        server = EchoFactory()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        client = OneShotFactory()
        reactor.connectTCP("127.0.0.1", port.getHost().port, client)
        recording = recorder.start()
        try:
            yield client.lost
            yield server.closed_count(1)
            yield port.stopListening()
        finally:
            recording.finish(scope="test")
        self.assertEqual(event_names(recording), ["end"])
        self.assertEqual(recording.check().verdict, "legal")


class AgentTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_web_agent_request_to_a_local_site(self):
        # Agent connects through HostnameEndpoint, so through connectTCP.
        from twisted.web import client, http, resource, server

        closed = defer.Deferred()

        class Channel(http.HTTPChannel):
            def connectionLost(self, reason):
                http.HTTPChannel.connectionLost(self, reason)
                closed.callback(None)

        class Hello(resource.Resource):
            isLeaf = True

            def render_GET(self, request):
                return b"hello"

        site = server.Site(Hello())
        site.protocol = Channel
        number = self.listen(site)
        agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, persistent=False))
        response = yield agent.request(b"GET", f"http://127.0.0.1:{number}/".encode())
        with warnings.catch_warnings():
            # Twisted's own: the response's transport proxy has no
            # abortConnection, and readBody warns about it.
            warnings.simplefilter("ignore", DeprecationWarning)
            reading = client.readBody(response)
        body = yield reading
        self.assertEqual(body, b"hello")
        yield closed
        # The server closes (the pool keeps no connection); the client
        # learns of it a reactor turn or more later.
        yield _until(lambda: events(self.recording, "client_connection_lost"))
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual(len(events(self.recording, "connect_tcp")), 1)
        self.assertGreaterEqual(len(events(self.recording, "data_received")), 2)


@defer.inlineCallbacks
def _until(predicate):
    """Waits, a reactor turn at a time, until ``predicate()`` is true."""
    from twisted.internet import task

    while not predicate():
        yield task.deferLater(reactor, 0, lambda: None)


def _shape(recording, protocol):
    """(event, depth) of one protocol's events and connector c1's, in order."""
    return [
        (e["event"], e.get("depth", 0))
        for e in recording.events
        if e.get("protocol") == protocol or e.get("connector") == "c1"
    ]


class HalfCloseTests(RecorderCase):
    @defer.inlineCallbacks
    def test_lose_connection_after_the_write_side_closed_delivers_inside_it(self):
        # Semantics H1-H4: a half-closeable client answers the server's
        # half-close, closes its own write side, and on writeConnectionLost
        # calls loseConnection, inside which Twisted delivers connectionLost,
        # clientConnectionLost and doStop (abstract.py loseConnection).
        from zope.interface import implementer

        from twisted.internet.interfaces import IHalfCloseableProtocol

        class HalfServer(protocol.Protocol):
            def connectionMade(self):
                self.transport.write(b"hello world")
                self.transport.loseWriteConnection()

            def connectionLost(self, reason):
                self.factory.closed += 1
                for d in self.factory.waiting:
                    d.callback(None)

        @implementer(IHalfCloseableProtocol)
        class HalfClient(protocol.Protocol):
            def readConnectionLost(self):
                self.transport.write(b"hello again")
                self.transport.loseWriteConnection()

            def writeConnectionLost(self):
                self.transport.loseConnection()

        server = EchoFactory()
        server.protocol = HalfServer
        client = OneShotFactory()
        client.protocol = HalfClient
        reactor.connectTCP("127.0.0.1", self.listen(server), client)
        yield client.lost
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        self.assertEqual(
            [s for s in _shape(self.recording, "p2") if s[0] not in ("connect_tcp", "do_start", "start_factory", "started_connecting")],
            [
                ("build_protocol", 0),
                ("connection_made", 0),
                ("data_received", 0),
                ("read_connection_lost", 0),
                ("write", 1),
                ("lose_write_connection", 1),
                ("write_connection_lost", 0),
                ("lose_connection", 1),
                ("connection_lost", 1),
                ("client_connection_lost", 1),
                ("do_stop", 1),
            ],
        )
        self.assertEqual(events(self.recording, "stop_factory")[0]["depth"], 2)


class StreamingProducerTests(RecorderCase):
    @defer.inlineCallbacks
    def test_a_full_buffer_pauses_the_producer_inside_write(self):
        # Semantics PR2a: a write that fills the buffer pauses a streaming
        # producer nested in that write; draining it resumes it from the loop.
        done = defer.Deferred()

        @implementer_push
        class Push:
            def __init__(self, transport):
                self.transport, self.rounds = transport, 3

            def pauseProducing(self):
                pass

            def resumeProducing(self):
                self.rounds -= 1
                if self.rounds:
                    self.fill()
                else:
                    self.transport.unregisterProducer()
                    self.transport.loseConnection()

            def stopProducing(self):
                pass

            def fill(self):
                for _ in range(2):
                    self.transport.write(b"x" * 65536)

        class Sender(protocol.Protocol):
            def connectionMade(self):
                producer = Push(self.transport)
                self.transport.registerProducer(producer, True)
                producer.fill()

            def connectionLost(self, reason):
                done.callback(None)

        client = OneShotFactory()
        client.protocol = Sender
        reactor.connectTCP("127.0.0.1", self.listen(_Sink()), client)
        yield done
        verdict = yield self.finish()
        self.assertEqual(verdict.verdict, "legal", verdict.report)
        kinds = [(e["event"], e.get("depth", 0)) for e in self.recording.events if e.get("protocol") == "p2"]
        self.assertIn(("pause_producing", 1), kinds)
        self.assertIn(("resume_producing", 0), kinds)
        pause = events(self.recording, "pause_producing")[0]
        self.assertEqual(self.recording.events[pause["seq"] - 2]["event"], "write")


def implementer_push(cls):
    from zope.interface import implementer

    from twisted.internet.interfaces import IPushProducer

    return implementer(IPushProducer)(cls)


class _Sink(EchoFactory):
    """A server that reads and discards, and tells when it is closed."""

    class protocol(protocol.Protocol):  # noqa: N801 (the attribute Twisted reads)
        def connectionLost(self, reason):
            self.factory.closed += 1
            for d in self.factory.waiting:
                d.callback(None)


class StreamedTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_a_streamed_recording_writes_events_as_it_goes(self):
        # What `run` uses for a long program: events are written out at
        # top level, where none of them can change any more.
        directory = tempfile.mkdtemp(prefix="callorder-test-")
        self.addCleanup(shutil.rmtree, directory)
        path = os.path.join(directory, "trace.jsonl")
        recording = recorder.start(path, stream=True)
        recording.FLUSH_AT = 8
        most_in_memory = 0
        try:
            server = EchoFactory()
            port = reactor.listenTCP(0, server, interface="127.0.0.1")
            number = port.getHost().port
            for n in range(3):
                client = OneShotFactory()
                reactor.connectTCP("127.0.0.1", number, client)
                yield client.lost
                yield server.closed_count(n + 1)
                most_in_memory = max(most_in_memory, len(recording.events))
                self.assertGreater(recording.written, 0)
            yield port.stopListening()
        finally:
            recording.finish(scope="test")
        lines = [json.loads(line) for line in open(path)]
        self.assertEqual([e["seq"] for e in lines], list(range(1, len(lines) + 1)))
        self.assertGreater(len(lines), most_in_memory)
        self.assertEqual(recording.connections, 3)
        self.assertEqual(recording.check().verdict, "legal")
        listen = lines[0]
        self.assertEqual((listen["event"], listen["addr"]), ("listen_tcp", f"127.0.0.1:{number}"))
