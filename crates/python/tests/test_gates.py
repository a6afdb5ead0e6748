"""The gates: ``pytest --callorder``, ``python -m callorder.twisted trial``
and ``python -m callorder.twisted run``, each on real Twisted over
loopback, in a process of its own."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest


pytest_plugins = ["pytester"]

PROGRAMS = Path(__file__).parent / "programs"

# Trial test cases on the global reactor: an echo round trip, an
# application with an ordering bug (a protocol that stops its factory
# itself when its connection closes), and a factory made per connection.
APP_TESTS = textwrap.dedent(
    '''
    from twisted.internet import defer, protocol, reactor
    from twisted.trial import unittest


    class Echo(protocol.Protocol):
        def dataReceived(self, data):
            self.transport.write(data)

        def connectionLost(self, reason):
            self.factory.closed.callback(None)


    class EchoFactory(protocol.Factory):
        protocol = Echo
        noisy = False

        def __init__(self):
            self.closed = defer.Deferred()


    class Closing(Echo):
        def connectionLost(self, reason):
            self.factory.stopFactory()  # the bug: only doStop may call it
            Echo.connectionLost(self, reason)


    class Pool(EchoFactory):
        protocol = Closing


    class Once(protocol.Protocol):
        def connectionMade(self):
            self.transport.write(b"ping")

        def dataReceived(self, data):
            self.transport.loseConnection()


    class OnceFactory(protocol.ClientFactory):
        protocol = Once

        def __init__(self):
            self.lost = defer.Deferred()

        def clientConnectionLost(self, connector, reason):
            self.lost.callback(None)


    class AppTests(unittest.TestCase):
        @defer.inlineCallbacks
        def round_trip(self, server, client):
            port = reactor.listenTCP(0, server, interface="127.0.0.1")
            reactor.connectTCP("127.0.0.1", port.getHost().port, client)
            yield client.lost
            yield server.closed
            yield port.stopListening()

        def test_echo(self):
            quiet = OnceFactory()
            quiet.noisy = False
            return self.round_trip(EchoFactory(), quiet)

        def test_pool_stops_its_factory(self):
            quiet = OnceFactory()
            quiet.noisy = False
            return self.round_trip(Pool(), quiet)

        @defer.inlineCallbacks
        def test_factory_per_connection(self):
            # The seed's leak: a new (noisy) factory for each of 10
            # connections, none kept by the test.
            server = EchoFactory()
            port = reactor.listenTCP(0, server, interface="127.0.0.1")
            for _ in range(10):
                client = OnceFactory()
                reactor.connectTCP("127.0.0.1", port.getHost().port, client)
                yield client.lost
                yield server.closed
                server.closed = defer.Deferred()
            del client
            yield port.stopListening()
    '''
)


def test_pytest_gate_fails_the_illegal_test_and_reports_the_leak(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(test_app=APP_TESTS)
    traces = tmp_path / "traces"
    result = pytester.runpytest_subprocess("--callorder", "--callorder-traces", str(traces), "-p", "no:cacheprovider")
    # The buggy test passes its own assertions and fails its teardown.
    result.assert_outcomes(passed=3, errors=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "callorder: recording Twisted callbacks, profile strict, traces in *",
            "*ERROR at teardown of AppTests.test_pool_stops_its_factory*",
            "*: F-STOP-HOOK: *",
            "*caller: the application made this call itself at test_app.py:*, not the reactor",
            f"*trace: {traces}/test_app.py_AppTests_test_pool_stops_its_factory.jsonl",
            "*3 traces checked (strict): 1 not legal*",
        ]
    )
    # The leak's cost: the 10 per-connection factories, which Twisted's
    # log buffer keeps ("Starting factory" events hold them).
    result.stdout.fnmatch_lines(["*test_factory_per_connection: factories alive: 10 of 11 factories still alive after 10 connections made*10 held by buffered log events*"])
    assert (traces / "test_app.py_AppTests_test_echo.jsonl").read_text().endswith('"event":"end","scope":"test"}\n')
    # One violation, reported once in the teardown's error. The short summary
    # repeats the message in full when pytest sees CI set (it truncates only
    # on a developer's terminal), so the count stops before it.
    report = out.split("short test summary info")[0]
    assert report.count(": F-STOP-HOOK: ") == 1


def test_without_the_flag_nothing_is_recorded(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    assert "callorder: recording" not in result.stdout.str()
    assert "traces checked" not in result.stdout.str()


def test_the_profile_option_is_checked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=APP_TESTS)
    result = pytester.runpytest_subprocess("--callorder", "--callorder-profile", "lenient")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--callorder-profile: invalid choice: 'lenient'*"])


# A test that pauses its server's transport and closes the client: the
# paused transport is in neither of the reactor's sets, so it never learns
# of the close (Twisted #11168, semantics P12) and trial cannot see it.
PAUSED_TESTS = textwrap.dedent(
    '''
    from twisted.internet import defer, protocol, reactor
    from twisted.trial import unittest


    class Pausing(protocol.Protocol):
        def connectionMade(self):
            self.transport.pauseProducing()
            self.factory.made.callback(None)


    class Closer(protocol.Protocol):
        def connectionMade(self):
            self.transport.loseConnection()


    class Lost(protocol.ClientFactory):
        protocol = Closer
        noisy = False

        def __init__(self):
            self.lost = defer.Deferred()

        def clientConnectionLost(self, connector, reason):
            self.lost.callback(None)


    class PausedTests(unittest.TestCase):
        @defer.inlineCallbacks
        def test_paused_server_never_learns(self):
            server = protocol.Factory.forProtocol(Pausing)
            server.noisy = False
            server.made = defer.Deferred()
            port = reactor.listenTCP(0, server, interface="127.0.0.1")
            client = Lost()
            reactor.connectTCP("127.0.0.1", port.getHost().port, client)
            yield server.made
            yield client.lost
            yield port.stopListening()
    '''
)


@pytest.mark.parametrize("profile", ["strict", "twisted"])
def test_the_profile_decides_what_an_unmet_obligation_is(pytester: pytest.Pytester, profile: str) -> None:
    pytester.makepyfile(test_paused=PAUSED_TESTS)
    result = pytester.runpytest_subprocess("--callorder", "--callorder-profile", profile, "-p", "no:cacheprovider")
    if profile == "strict":
        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(["*: P-UNLOST: *protocol p1 got connection_made but never connection_lost"])
    else:
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*test_paused_server_never_learns: warning: P-UNLOST: *protocol p1*"])


def _gate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "callorder.twisted", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_trial_gate_names_the_test_and_exits_with_the_worse_code(tmp_path: Path) -> None:
    (tmp_path / "test_app.py").write_text(APP_TESTS)
    run = _gate("trial", "--traces", str(tmp_path / "traces"), "test_app", cwd=tmp_path)
    out = run.stdout
    assert "PASSED" in out, out  # trial itself passed
    assert "callorder: 3 traces checked (strict), 1 not legal" in out, out
    assert "callorder: test_app.AppTests.test_pool_stops_its_factory: illegal" in out, out
    assert "F-STOP-HOOK" in out
    assert run.returncode == 1
    # Trial's own options pass through after the gate's.
    legal = _gate("trial", "--traces", str(tmp_path / "traces"), "--reporter=text", "test_app.AppTests.test_echo", cwd=tmp_path)
    assert legal.returncode == 0, legal.stdout + legal.stderr
    assert "callorder: 1 traces checked (strict), 0 not legal" in legal.stdout
    assert (tmp_path / "traces" / "test_app.AppTests.test_echo.jsonl").exists()


class _ClosingServer:
    """A plain socket server on loopback that closes each connection it
    accepts (what the seed's client meets)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(60)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
            conn.close()
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        self.thread.join(timeout=5)


def test_run_the_seeds_program_against_a_local_server(tmp_path: Path) -> None:
    server = _ClosingServer()
    try:
        run = _gate("run", "--out", str(tmp_path), "--", str(PROGRAMS / "seed_client.py"), str(server.port), cwd=tmp_path)
    finally:
        server.close()
    assert run.returncode == 0, run.stdout + run.stderr
    trace = (tmp_path / "seed_client.jsonl").read_text()
    assert '"event":"do_start","factory":"f1","connector":"c1","hooks":false' in trace
    assert '"event":"client_connection_lost"' in trace and '"event":"shutdown"' in trace


def test_run_records_the_seeds_bare_factory_failing_at_do_start(tmp_path: Path) -> None:
    # No doStart at all: connectTCP raises AttributeError before the
    # reactor runs; the attempt's start failed, so nothing more is owed.
    run = _gate("run", "--out", str(tmp_path), "--", str(PROGRAMS / "seed_bare.py"), "9", cwd=tmp_path)
    assert "AttributeError" in run.stderr
    lines = (tmp_path / "seed_bare.jsonl").read_text().splitlines()
    assert '"event":"do_start"' in lines[1] and '"hooks":false' in lines[1] and '"error":"AttributeError' in lines[1]
    assert run.returncode == 0, run.stdout + run.stderr


def test_run_fails_an_application_that_calls_connection_lost_itself(tmp_path: Path) -> None:
    run = _gate("run", "--out", str(tmp_path), "--", str(PROGRAMS / "lost_twice.py"), cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert ": T-NESTED: connection_lost nested inside data_received" in run.stderr
    assert "caller: the application made this call itself at lost_twice.py:13, not the reactor" in run.stderr


def test_run_reports_the_factories_a_factory_per_connection_leaves(tmp_path: Path) -> None:
    run = _gate("run", "--out", str(tmp_path), "--", str(PROGRAMS / "factory_per_connection.py"), "20", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "factories alive: 21 of 21 factories still alive after 20 connections made" in run.stderr
    assert "21 held by buffered log events" in run.stderr


def test_run_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _gate("run", "--out", str(tmp_path), cwd=tmp_path).returncode == 2
    assert _gate("run", "--out", str(tmp_path), "--", "missing.py", cwd=tmp_path).returncode == 2
    assert _gate("run", "--", "prog.py", cwd=tmp_path).returncode == 2
