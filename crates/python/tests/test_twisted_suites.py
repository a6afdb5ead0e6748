"""Twisted's own real-socket tests, run under ``python -m callorder.twisted
trial``: every trace is judged, and every rejection is a finding listed
here with what it is, explained from Twisted's source. A new rejection, or
a listed one that no longer happens, fails the test.

Nothing is skipped: the IPv6 tests (scope ids included) pass over this
machine's loopback, and none of these cases needs real DNS.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

# test id -> (rule, classification, why)
KNOWN = {
    "twisted.test.test_tcp.HalfCloseBuggyApplicationTests.test_readNotificationRaises": (
        "T-NESTED",
        "misuse by the test",
        "MyHCProtocol.readConnectionLost calls self.connectionLost(None) itself 'to simplify "
        "testing' (test_tcp.py): an application-made connection_lost inside read_connection_lost "
        "(the trace marks it caller: application); the transport's real connectionLost never comes",
    ),
    "twisted.test.test_tcp.HalfCloseBuggyApplicationTests.test_writeNotificationRaises": (
        "P-UNLOST",
        "misuse by the test",
        "the server protocol gets readConnectionLost and never closes its own side (semantics H2): "
        "its transport is then in neither the reader nor the writer set, so it is never lost and "
        "trial's dirty-reactor check, which looks only at those sets, cannot see the leaked connection",
    ),
    "twisted.test.test_tcp.ListeningTests.test_directConnectionLostCall": (
        "F-DO-STOP",
        "misuse by the test",
        "the test calls port.connectionLost(None) itself, which only the reactor's shutdown "
        "(ReactorBase.disconnectAll) does: a do_stop for a port nobody stopped",
    ),
    "twisted.test.test_tcp.ListeningTests.test_exceptInConnectionLostCall": (
        "F-DO-STOP",
        "misuse by the test",
        "as test_directConnectionLostCall: port.connectionLost(None) called by the test "
        "(through assertRaises)",
    ),
    "twisted.internet.test.test_tcp.TCPConnectionTestsBuilder_EPollReactorTests.test_resumeProducingWhileDisconnected": (
        "T-NESTED",
        "misuse by the test",
        "the test calls server.connectionLost(Failure(...)) on the transport itself, inside the "
        "protocol's connectionMade (test_tcp.py); only the reactor calls a transport's connectionLost, "
        "so the protocol's connection_lost arrives nested where no action delivers it",
    ),
}
SUITES = {
    "twisted.test.test_tcp": ["twisted.test.test_tcp"],
    "twisted.internet.test.test_tcp (epoll builders)": [
        "twisted.internet.test.test_tcp.TCP4ClientTestsBuilder_EPollReactorTests",
        "twisted.internet.test.test_tcp.TCPPortTestsBuilder_EPollReactorTests",
        "twisted.internet.test.test_tcp.TCPConnectionTestsBuilder_EPollReactorTests",
        "twisted.internet.test.test_tcp.AbortConnectionTests_EPollReactorTests",
    ],
}


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_twisted_real_socket_suites(suite: str, tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    run = subprocess.run(
        [sys.executable, "-m", "callorder.twisted", "trial", "--traces", str(traces), *SUITES[suite]],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    out = run.stdout
    assert re.search(r"^PASSED", out, re.M), out[-3000:]
    checked = re.search(r"^callorder: (\d+) traces checked", out, re.M)
    assert checked and int(checked.group(1)) > 30, out[-3000:]
    found = {}
    for test, verdict in re.findall(r"^callorder: (\S+): (illegal|malformed)$", out, re.M):
        assert verdict == "illegal", test
        file = traces / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', test)}.jsonl"
        rule_line = re.search(rf"^{re.escape(str(file))}:(\d+): ([A-Z0-9-]+):", out, re.M)
        assert rule_line, (test, out[-3000:])
        found[test] = rule_line.group(2)
    expected = {t: rule for t, (rule, _, _) in KNOWN.items() if any(t.startswith(s) for s in SUITES[suite])}
    assert found == expected, out[-5000:]
    # Trial passed; the checker's verdicts make the exit code worse.
    assert run.returncode == (1 if expected else 0), run.stderr[-2000:]
