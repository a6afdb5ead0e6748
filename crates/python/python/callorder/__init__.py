"""callorder: check that Factory/Protocol callbacks come in a legal order.

The checker is callorder's Rust checker, compiled into this package; it
judges a *trace* (trace format v1, JSON Lines, one event per line) exactly
as the ``callorder check`` command line does.

Check a file::

    >>> import callorder
    >>> verdict = callorder.check(["{\\"seq\\":1,\\"event\\":\\"connection_made\\",\\"protocol\\":\\"p1\\"}"])
    >>> verdict.verdict, verdict.violation.rule
    ('illegal', 'P-MADE')

or stream events as they happen::

    >>> checker = callorder.Checker(profile="strict")
    >>> checker.step({"event": "listen_tcp", "factory": "f1", "port": "l1"})
    >>> checker.step({"event": "do_start", "factory": "f1", "port": "l1"})
    >>> checker.step({"event": "start_factory", "factory": "f1", "depth": 1})
    >>> checker.finish().verdict     # the port was never stopped
    'illegal'

Recording real Twisted applications is in :mod:`callorder.twisted`; the
pytest plugin is on with ``pytest --callorder``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Union

from . import _callorder

__all__ = [
    "Checker",
    "HistoryEntry",
    "MalformedTrace",
    "PROFILES",
    "Rule",
    "TraceError",
    "Verdict",
    "Violation",
    "Warning",
    "check",
    "rules",
]

#: The profiles a trace can be held to: ``strict`` (the clean order, every
#: obligation met at ``end``) and ``twisted`` (also what Twisted's reactor
#: really does that breaks it; obligations unmet at ``end`` are warnings).
PROFILES = ("strict", "twisted")


@dataclass(frozen=True)
class HistoryEntry:
    """One past event of the object a violation is about."""

    seq: int
    event: str


class Violation(Exception):
    """The first event of a trace that cannot be legal.

    Raised by :meth:`Checker.step`, and found on an illegal
    :class:`Verdict` as ``verdict.violation``. ``str()`` of it is the
    report ``callorder check`` prints.
    """

    def __init__(self, data: Mapping[str, Any], report: str) -> None:
        super().__init__(report)
        #: The stable id of the rule broken, e.g. ``"P-AFTER-LOST"``.
        self.rule: str = data["rule"]
        #: The offending event's ``seq`` (the ``end`` line for an unmet obligation).
        self.seq: int = data["seq"]
        #: What happened, ids by the names the trace used.
        self.message: str = data["message"]
        #: What would have been legal for that object instead.
        self.expected: list[str] = list(data.get("expected", ()))
        #: The offending event as the checker saw it.
        self.actual: str = data.get("actual", "")
        #: The line of the offending event.
        self.line: int = data.get("line", self.seq)
        #: The offending event's name.
        self.event: str = data.get("event", "")
        #: The object the rule is about (``"protocol p1"``), if any.
        self.object: Optional[str] = data.get("object")
        #: ``"application"`` when the application made the offending call
        #: itself (the event's ``caller``), else ``None``: the reactor did.
        self.caller: Optional[str] = data.get("caller")
        #: Where the application made it (``"file.py:LINE"``), when known.
        self.site: Optional[str] = data.get("site")
        #: That object's most recent events, oldest first.
        self.history: list[HistoryEntry] = [
            HistoryEntry(h["seq"], h["event"]) for h in data.get("history", ())
        ]
        #: The whole report, as ``callorder check`` prints it.
        self.report: str = report

    def __repr__(self) -> str:
        return f"Violation(rule={self.rule!r}, seq={self.seq}, message={self.message!r})"


class TraceError(ValueError):
    """A trace that is not trace format v1 (a *malformed* one)."""

    def __init__(self, data: Mapping[str, Any], report: str) -> None:
        super().__init__(report)
        #: The 1-based line of the first bad line; ``None`` for an empty or unreadable file.
        self.line: Optional[int] = data.get("line")
        #: The 1-based byte column within it, where meaningful.
        self.column: Optional[int] = data.get("column")
        #: What was expected and what was found.
        self.message: str = data["message"]
        #: A stable name of the problem: ``json``, ``field``, ``sequence``, ``io``, ...
        self.kind: str = data.get("kind", "")
        #: The whole report, as ``callorder check`` prints it.
        self.report: str = report

    def __repr__(self) -> str:
        return f"TraceError(line={self.line}, column={self.column}, message={self.message!r})"


#: Raised by :meth:`Checker.step` for an event that is not trace format v1.
MalformedTrace = TraceError


@dataclass(frozen=True)
class Warning:  # noqa: A001 (the name the report uses)
    """An obligation left unmet at ``end`` under the ``twisted`` profile."""

    seq: int
    rule: str
    message: str
    object: Optional[str] = None


@dataclass(frozen=True)
class Verdict:
    """What the checker says about one trace.

    ``verdict`` is ``"legal"``, ``"illegal"`` or ``"malformed"``; exactly
    one of ``violation`` (illegal) and ``error`` (malformed) is set for a
    trace that is not legal. ``bool(verdict)`` is true for a legal one.
    """

    verdict: str
    violation: Optional[Violation]
    warnings: list[Warning]
    error: Optional[TraceError]
    profile: str
    complete: bool
    events: int
    file: str
    #: The report ``callorder check`` prints for this trace.
    report: str = field(repr=False)

    @property
    def exit_code(self) -> int:
        """The exit code ``callorder check`` gives: 0 legal, 1 illegal, 2 malformed."""
        return {"legal": 0, "illegal": 1, "malformed": 2}[self.verdict]

    def __bool__(self) -> bool:
        return self.verdict == "legal"

    def __str__(self) -> str:
        return self.report

    @classmethod
    def _from_rendered(cls, rendered: tuple[str, str]) -> "Verdict":
        text, report = rendered
        data = json.loads(text)
        violation = Violation(data["violation"], report) if data.get("violation") else None
        error = TraceError(data["error"], report) if data.get("error") else None
        return cls(
            verdict=data["verdict"],
            violation=violation,
            warnings=[Warning(**w) for w in data.get("warnings", ())],
            error=error,
            profile=data["profile"],
            complete=data["complete"],
            events=data["events"],
            file=data["file"],
            report=report,
        )


def _profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}: expected one of {', '.join(PROFILES)}")
    return profile


def _line(event: Union[str, Mapping[str, Any]]) -> str:
    if isinstance(event, str):
        return event.rstrip("\n")
    return json.dumps(event, separators=(",", ":"))


Lines = Iterable[Union[str, Mapping[str, Any]]]


def check(
    path_or_lines: Union[str, "os.PathLike[str]", bytes, Lines],
    profile: str = "strict",
) -> Verdict:
    """Checks one trace and returns its :class:`Verdict`.

    ``path_or_lines`` is a path (``str`` or ``os.PathLike``; ``"-"`` is
    standard input), the whole trace as ``bytes``, or an iterable of its
    lines (each a JSON ``str``, or a ``dict`` of the event). A file is read
    and checked in Rust, streaming, as ``callorder check`` does.

    >>> check([{"seq": 1, "event": "end"}]).verdict
    'legal'
    >>> check(b"not json\\n").error.kind
    'json'
    """
    profile = _profile(profile)
    if isinstance(path_or_lines, (str, os.PathLike)):
        return Verdict._from_rendered(_callorder.check_file(os.fspath(path_or_lines), profile))
    if isinstance(path_or_lines, (bytes, bytearray, memoryview)):
        data = bytes(path_or_lines)
    else:
        data = "".join(_line(e) + "\n" for e in path_or_lines).encode()
    return Verdict._from_rendered(_callorder.check_bytes("<lines>", data, profile))


class Checker:
    """The streaming checker: hand it events one by one as they happen.

    :meth:`step` raises :class:`Violation` at the first event that cannot be
    legal (and :class:`TraceError` for one that is not trace format v1);
    :meth:`finish` judges the end. An event without ``seq`` gets the next
    one.

    >>> c = Checker()
    >>> try:
    ...     c.step({"event": "connection_made", "protocol": "p1"})
    ... except Violation as v:
    ...     print(v.rule, v.seq, v.message)
    P-MADE 1 connection_made for a protocol no build_protocol returned
    """

    def __init__(self, profile: str = "strict", name: str = "<events>") -> None:
        self.profile = _profile(profile)
        self._inner = _callorder.StreamChecker(self.profile, name)
        self._verdict: Optional[Verdict] = None

    @property
    def events(self) -> int:
        """How many events the checker accepted."""
        return self._inner.events

    def step(self, event: Union[str, Mapping[str, Any]]) -> None:
        """Checks one event: a ``dict`` of its fields, or its JSON line."""
        if self._verdict is not None:
            raise RuntimeError("the checker already judged this trace; make a new Checker")
        if isinstance(event, Mapping) and "seq" not in event:
            event = {"seq": self.events + 1, **event}
        rendered = self._inner.step(_line(event))
        if rendered is None:
            return
        self._verdict = Verdict._from_rendered(rendered)
        raise self._verdict.violation or self._verdict.error  # type: ignore[misc]

    def finish(self) -> Verdict:
        """Judges the trace: its :class:`Verdict`.

        If no ``end`` was stepped, one is stepped first, so what is still
        owed (a connection never lost, a port never stopped) is judged: a
        violation under ``strict``, warnings under ``twisted``.
        """
        if self._verdict is not None:
            return self._verdict
        if not self._inner.complete:
            rendered = self._inner.step(_line({"seq": self.events + 1, "event": "end"}))
            if rendered is not None:
                self._verdict = Verdict._from_rendered(rendered)
                return self._verdict
        self._verdict = Verdict._from_rendered(self._inner.finish())
        return self._verdict


@dataclass(frozen=True)
class Rule:
    """One rule of the legal order, as ``callorder rules`` lists it."""

    id: str
    kind: str
    text: str
    cites: str
    semantics: str


def rules() -> list[Rule]:
    """The rule table: every rule's id, kind, text and citations.

    >>> any(r.id == "P-AFTER-LOST" for r in rules())
    True
    """
    return [Rule(*r) for r in _callorder.rules()]
