"""callorder.check and callorder.Checker judge traces as `callorder check` does."""

import json
from pathlib import Path

import pytest

import callorder

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "twisted"

LISTEN = [
    {"seq": 1, "event": "listen_tcp", "factory": "f1", "port": "l1"},
    {"seq": 2, "event": "do_start", "factory": "f1", "port": "l1"},
    {"seq": 3, "depth": 1, "event": "start_factory", "factory": "f1"},
    {"seq": 4, "event": "stop_listening", "port": "l1"},
    {"seq": 5, "event": "do_stop", "factory": "f1", "port": "l1"},
    {"seq": 6, "depth": 1, "event": "stop_factory", "factory": "f1"},
    {"seq": 7, "event": "end"},
]


def manifest():
    return json.loads((FIXTURES / "manifest.json").read_text())


def test_a_legal_trace_from_lines_dicts_or_bytes():
    for given in (LISTEN, [json.dumps(e) for e in LISTEN], "".join(json.dumps(e) + "\n" for e in LISTEN).encode()):
        verdict = callorder.check(given)
        assert (verdict.verdict, verdict.complete, verdict.events) == ("legal", True, 7)
        assert verdict and verdict.exit_code == 0 and verdict.violation is None


def test_the_violation_names_rule_seq_expected_and_actual():
    lines = LISTEN[:3] + [{"seq": 4, "event": "data_received", "protocol": "p1", "bytes": 3}]
    verdict = callorder.check(lines)
    v = verdict.violation
    assert (verdict.verdict, verdict.exit_code) == ("illegal", 1)
    assert (v.rule, v.seq, v.line) == ("T-UNKNOWN-ID", 4, 4)
    assert v.actual == "data_received(protocol=p1, bytes=3)"
    assert "T-UNKNOWN-ID" in verdict.report and "<lines>:4:" in verdict.report


def test_unmet_obligations_are_violations_under_strict_and_warnings_under_twisted():
    lines = LISTEN[:3] + [{"seq": 4, "event": "end"}]
    strict = callorder.check(lines)
    assert (strict.verdict, strict.violation.rule, strict.violation.seq) == ("illegal", "S-UNSTOPPED", 4)
    twisted = callorder.check(lines, profile="twisted")
    assert twisted.verdict == "legal"
    assert [(w.rule, w.object) for w in twisted.warnings] == [("S-UNSTOPPED", "port l1")]


def test_a_malformed_trace_names_line_and_column():
    verdict = callorder.check(['{"seq":1,"event":"end"}', '{"seq":3,"event":"end"}'])
    assert (verdict.verdict, verdict.exit_code) == ("malformed", 2)
    assert (verdict.error.line, verdict.error.kind) == (2, "sequence")
    assert "expected seq 2, found 3" in verdict.error.message


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown profile"):
        callorder.check(LISTEN, profile="lenient")


def test_a_file_is_judged_as_the_manifest_says():
    # Every recorded legal trace and one illegal, quirk and malformed entry
    # of each kind: the same checker as the CLI's, reached from Python.
    entries = manifest()
    picked = [e for e in entries if e["expect"] == "legal"]
    for kind in ("illegal", "quirk", "malformed"):
        picked += [e for e in entries if e["expect"] == kind][:5]
    for e in picked:
        verdict = callorder.check(FIXTURES / e["file"])
        want = {"legal": "legal", "quirk": "illegal", "illegal": "illegal", "malformed": "malformed"}[e["expect"]]
        assert verdict.verdict == want, (e["file"], verdict.report)
        if e["expect"] == "illegal":
            assert verdict.violation.seq == e["first_bad_seq"], e["file"]
        if e["expect"] == "quirk":
            assert callorder.check(FIXTURES / e["file"], profile="twisted").verdict == "legal"


def test_a_missing_file_is_malformed_without_a_line():
    verdict = callorder.check("/nonexistent/trace.jsonl")
    assert (verdict.verdict, verdict.error.line, verdict.error.kind) == ("malformed", None, "io")


def test_the_streaming_checker_raises_at_the_first_bad_event():
    checker = callorder.Checker()
    for event in LISTEN[:3]:
        checker.step({k: v for k, v in event.items() if k != "seq"})
    with pytest.raises(callorder.Violation) as raised:
        checker.step({"event": "build_protocol", "factory": "f2", "port": "l1", "protocol": "p1"})
    assert (raised.value.rule, raised.value.seq) == ("T-FACTORY", 4)
    assert raised.value.object == "port l1"
    assert [h.event for h in raised.value.history][:2] == ["listen_tcp", "do_start"]
    assert checker.finish().violation.rule == "T-FACTORY"
    with pytest.raises(RuntimeError):
        checker.step({"event": "end"})


def test_finish_judges_the_end():
    checker = callorder.Checker(profile="twisted")
    for event in LISTEN[:3]:
        checker.step(event)
    verdict = checker.finish()
    assert (verdict.verdict, verdict.complete, verdict.events) == ("legal", True, 4)
    assert [w.rule for w in verdict.warnings] == ["S-UNSTOPPED"]
    checker = callorder.Checker()
    for event in LISTEN:
        checker.step(event)
    assert checker.finish().verdict == "legal"


def test_a_malformed_event_raises_trace_error():
    checker = callorder.Checker()
    with pytest.raises(callorder.TraceError) as raised:
        checker.step({"event": "connection_lost", "protocol": "p1"})
    assert raised.value.line == 1 and "reason" in raised.value.message


def test_rules_lists_the_rule_table():
    ids = {r.id for r in callorder.rules()}
    assert {"P-AFTER-LOST", "F-START-HOOK", "C-LOST-REASON"} <= ids


def test_a_violation_at_a_call_the_application_made_says_who_and_where():
    lines = LISTEN[:3] + [
        {"seq": 4, "depth": 1, "within": 3, "event": "stop_factory", "factory": "f1", "caller": "application", "site": "app.py:12"}
    ]
    for verdict in (callorder.check(lines), _streamed(lines)):
        v = verdict.violation
        assert (v.rule, v.caller, v.site) == ("F-STOP-HOOK", "application", "app.py:12")
        assert "the application made this call itself at app.py:12, not the reactor" in verdict.report
    assert callorder.check(LISTEN[:3] + [{"seq": 4, "event": "data_received", "protocol": "p1", "bytes": 1}]).violation.caller is None


def _streamed(lines):
    checker = callorder.Checker()
    try:
        for event in lines:
            checker.step(event)
    except callorder.Violation:
        pass
    return checker.finish()


def nested_retries(levels: int) -> list:
    """A connector that connects again inside each client_connection_failed
    and stops connecting inside the started_connecting that delivers, whose
    failure comes inside that: each retry runs two levels deeper."""
    events = [
        {"event": "connect_tcp", "factory": "f1", "connector": "c1", "addr": "127.0.0.1:1", "timeout": 30},
        {"event": "do_start", "factory": "f1", "connector": "c1"},
        {"depth": 1, "event": "start_factory", "factory": "f1"},
        {"event": "started_connecting", "factory": "f1", "connector": "c1"},
    ]
    for level in range(levels):
        d = 2 * level
        reason = "connection_refused" if level == 0 else "user_cancelled"
        events += [
            {"depth": d, "event": "client_connection_failed", "factory": "f1", "connector": "c1", "reason": reason},
            {"depth": d + 1, "event": "connect", "connector": "c1"},
            {"depth": d + 1, "event": "started_connecting", "factory": "f1", "connector": "c1"},
            {"depth": d + 2, "event": "stop_connecting", "connector": "c1"},
        ]
    for event in events:
        if event.get("depth") == 0:
            del event["depth"]
    return events


def test_the_streaming_checker_refuses_a_trace_nested_past_the_depth_limit():
    # The default limit is 1,000 levels, as `callorder check --max-depth`.
    checker = callorder.Checker()
    for event in nested_retries(400):
        checker.step(event)
    with pytest.raises(callorder.TraceError) as raised:
        for event in nested_retries(600)[len(nested_retries(400)):]:
            checker.step(event)
    assert raised.value.kind == "too_deep"
    assert "over the nesting-depth limit of 1000" in raised.value.message
    assert raised.value.line == 4 + 4 * 500 + 3, "the started_connecting at depth 1001 (the connect before it is an action)"
