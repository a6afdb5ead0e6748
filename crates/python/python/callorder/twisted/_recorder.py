"""The recorder: Twisted's real reactor, observed, written as trace format v1.

How it sees what happens:

- *callbacks the reactor delivers*: the Twisted methods that call into a
  factory, a protocol or a producer are recompiled so that exactly those
  calls go through :func:`_site` (see ``_rewrite.py``); each is recorded on
  entry, with ``depth`` and ``within``, and gets ``error`` if it raised;
- *actions*: the methods of Twisted's connectors, ports and transports that
  an application calls (``write``, ``loseConnection``, ``connect``,
  ``stopListening``, ...) are wrapped; a call is recorded when the
  application made it, not when Twisted calls itself from inside another
  action;
- *calls the application makes to a callback itself* (a test calling
  ``protocol.connectionLost(None)``): the callback methods of the classes of
  the recorded factories and protocols are wrapped, and such a call is
  recorded with ``caller: "application"`` and ``site: "file.py:LINE"``.

Ids live on Twisted's own objects (connectors, ports, transports) and in a
table of weak references for factories, so the recorder never keeps an
application object alive. Each id belongs to one recording: what happens
to an object made before the recording began is not in it.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import sys
import time
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

from ._rewrite import reroute

if TYPE_CHECKING:
    from callorder import Verdict

def _encoder() -> Callable[[dict[str, Any]], str]:
    """One compact JSON encoder for every line. json.dumps with separators
    builds a new encoder per call, most of what writing a line costs; the
    C encoder made once is twice as fast again (json's own fallback where
    the C one is missing)."""
    from json import encoder

    make = getattr(encoder, "c_make_encoder", None)
    if make is None:
        return json.JSONEncoder(separators=(",", ":"), check_circular=False).encode

    def refuse(value: Any) -> Any:
        raise TypeError(f"not JSON: {value!r}")

    chunks = make(None, refuse, encoder.encode_basestring_ascii, None, ":", ",", False, False, True)
    join = "".join
    return lambda event: join(chunks(event, 0))


_ENCODE = _encoder()

#: Frame kinds on the recorder's stack.
_CALLBACK, _INTERNAL, _OPAQUE = 0, 1, 2


class _Frame:
    """A callback running, Twisted's own code inside an action, or a
    callback the recording does not show."""

    __slots__ = ("kind", "seq", "event", "obj", "hooks", "saved")

    def __init__(self, kind: int, seq: int = 0, event: str = "", obj: int = 0) -> None:
        self.kind = kind
        self.seq = seq
        self.event = event
        self.obj = obj
        self.hooks = False
        self.saved = 0


class Recording:
    """One trace being recorded: its events, in order, and its ids.

    Made by :func:`start`; ended by :meth:`finish`, which writes the trace.
    """

    _scopes = 0
    #: In a streamed recording, events kept in memory before they are
    #: written out (at the next event at top level: none can change then).
    FLUSH_AT = 4096

    def __init__(self, path: Optional[str] = None, stream: bool = False) -> None:
        Recording._scopes += 1
        #: Which recording an id on a Twisted object belongs to.
        self.scope = Recording._scopes
        #: Where :meth:`finish` writes the trace (``None``: keep it in memory).
        self.path = path
        #: The events not yet written out: all of them, unless streamed.
        self.events: list[dict[str, Any]] = []
        #: Whether events are written to :attr:`path` as the recording
        #: goes (a whole program's run), instead of all at :meth:`finish`.
        self.stream = stream and path is not None
        self._out: Optional[Any] = None
        #: How many events were written out already.
        self.written = 0
        #: Connection attempts seen (``connect_tcp`` and ``connect``).
        self.connections = 0
        self.seq = 0
        self.t0 = time.monotonic_ns()
        self._counts = {"f": 0, "c": 0, "l": 0, "p": 0}
        # id(factory) -> (weak reference or None, name). A weak reference's
        # callback drops the entry, so an id reused by a later object never
        # inherits a dead factory's name.
        self._factories: dict[int, tuple[Optional[weakref.ref], str]] = {}
        self._factory_refs: list[weakref.ref] = []
        self.unreferenceable_factories = 0
        #: (id(protocol), name) of the protocol the last build returned,
        #: until its connection_made names its transport.
        self.just_built: Optional[tuple[int, str]] = None
        self.finished = False
        #: What :meth:`finish` found about objects left alive.
        self.leaks: Optional[Leaks] = None

    def new_name(self, kind: str) -> str:
        self._counts[kind] += 1
        return f"{kind}{self._counts[kind]}"

    def factory_name(self, factory: Any) -> str:
        key = id(factory)
        entry = self._factories.get(key)
        if entry is not None and (entry[0] is None or entry[0]() is factory):
            return entry[1]
        name = self.new_name("f")
        factories = self._factories

        def forget(_ref: weakref.ref, key: int = key, name: str = name) -> None:
            if factories.get(key, (None, ""))[1] == name:
                del factories[key]

        try:
            ref: Optional[weakref.ref] = weakref.ref(factory, forget)
            self._factory_refs.append(weakref.ref(factory))
        except TypeError:
            # Not weakly referenceable (__slots__ without __weakref__): its
            # name is kept by id for this recording only.
            ref = None
            self.unreferenceable_factories += 1
        self._factories[key] = (ref, name)
        return name

    def event(self, kind: str, fields: dict[str, Any], top: bool = False) -> dict[str, Any]:
        """Appends an event at the current depth (at depth 0 if ``top``)."""
        if self.stream and not _state.frames and len(self.events) >= self.FLUSH_AT:
            self._flush()
        if kind == "connect_tcp" or kind == "connect":
            self.connections += 1
        self.seq += 1
        # Microseconds as a float of seconds: the division of an integer by
        # 1e6 is the double nearest the decimal, so it prints short (and
        # costs less than round()).
        ev: dict[str, Any] = {"seq": self.seq, "t": (time.monotonic_ns() - self.t0) // 1000 / 1e6}
        depth = 0 if top else _state.depth
        if depth:
            ev["depth"] = depth
            ev["within"] = _state.within
        ev["event"] = kind
        ev.update(fields)
        self.events.append(ev)
        return ev

    def _flush(self) -> None:
        if self._out is None:
            os.makedirs(os.path.dirname(os.path.abspath(str(self.path))), exist_ok=True)
            self._out = open(str(self.path), "w", encoding="utf-8")
        for line in self.lines():
            self._out.write(line + "\n")
        self.written += len(self.events)
        self.events.clear()

    def check(self, profile: str = "strict") -> "Verdict":
        """Judges the trace (the file if it was written, else the lines)."""
        import callorder

        if self.path is not None and self.finished:
            return callorder.check(self.path, profile=profile)
        return callorder.check(self.lines(), profile=profile)

    def lines(self) -> list[str]:
        """The trace so far, one JSON line per event (no newlines)."""
        encode = _ENCODE
        return [encode(e) for e in self.events]

    def finish(self, scope: Optional[str] = None) -> "Recording":
        """Ends the recording: appends ``end`` (with ``scope`` if given,
        e.g. ``"test"``: the recording is over, the reactor runs on),
        counts the factories left alive, and writes the trace to
        :attr:`path` if it has one."""
        global _active
        if self.finished:
            return self
        fields: dict[str, Any] = {"scope": scope} if scope else {}
        # The recording may end inside a callback (trial ends a test where
        # its Deferred fires); the end of the trace is not nested in it.
        self.event("end", fields, top=True)
        self.finished = True
        if _active is self:
            _active = None
        self.leaks = Leaks.count(self)
        if self.path is not None:
            self._flush()
            if self._out is not None:
                self._out.close()
                self._out = None
        return self


class Leaks:
    """The factories a recording saw that are still alive at its end."""

    def __init__(
        self,
        factories: int,
        alive: int,
        alive_after_gc: int,
        connections: int,
        held_by_test: int = 0,
        held_by_log: int = 0,
        collected: bool = False,
    ) -> None:
        #: Factories handed to ``connectTCP``/``listenTCP`` (and weakly referenceable).
        self.factories = factories
        #: Of those, alive when the recording ended.
        self.alive = alive
        #: Of those, alive after a full ``gc.collect()`` (run only when some
        #: are held by nothing known: a test case or Twisted's log buffer):
        #: what the application (or Twisted) really still holds.
        self.alive_after_gc = alive_after_gc
        #: Whether that collection ran.
        self.collected = collected
        #: Connections the recording saw asked for (``connect_tcp`` and ``connect``).
        self.connections = connections
        #: Of those alive, how many an attribute of a test case holds
        #: (trial and pytest keep test cases until the run ends).
        self.held_by_test = held_by_test
        #: Of those alive, how many a buffered log event of Twisted's holds:
        #: a noisy factory logs itself, and until logging begins
        #: ``twisted.logger`` keeps every event.
        self.held_by_log = held_by_log

    @property
    def leaked(self) -> int:
        """Factories alive after ``gc.collect()`` that no test case holds."""
        return self.alive_after_gc - self.held_by_test

    @classmethod
    def count(cls, rec: Recording) -> "Leaks":
        refs = rec._factory_refs
        survivors = [f for f in (r() for r in refs) if f is not None]
        alive = len(survivors)
        by_test, by_log = _holders(survivors)
        collected = len(by_test | by_log) < alive
        if collected:
            # Some are held by nothing known: perhaps only by garbage
            # cycles, which a collection frees. (A full collection is
            # costly, so only then.)
            del survivors
            gc.collect()
            survivors = [f for f in (r() for r in refs) if f is not None]
            by_test, by_log = _holders(survivors)
        after = len(survivors)
        del survivors
        return cls(len(refs), alive, after, rec.connections, len(by_test), len(by_log - by_test), collected)

    def __str__(self) -> str:
        text = f"{self.alive_after_gc} of {self.factories} factories still alive after {self.connections} connections made"
        if self.collected:
            text += f" (after gc.collect(); {self.alive} before it)"
        if self.held_by_test:
            text += f"; {self.held_by_test} held by the test case"
        if self.held_by_log:
            text += (
                f"; {self.held_by_log} held by buffered log events of Twisted's (a noisy factory "
                "logs itself, and until logging begins twisted.logger keeps every event: begin "
                "logging, or set noisy = False)"
            )
        return text


def _holders(objects: list[Any]) -> tuple[set[int], set[int]]:
    """The ids of ``objects`` that a test case's attributes hold, and of
    those a buffered log event of Twisted's holds: one scan of the heap for
    all of them."""
    by_test: set[int] = set()
    by_log: set[int] = set()
    if not objects:
        return by_test, by_log
    wanted = {id(o) for o in objects}
    for holder in gc.get_referrers(*objects):
        if not isinstance(holder, dict):
            continue
        if "_testMethodName" in holder:
            found = by_test
        elif "log_format" in holder:
            found = by_log
        else:
            continue
        found.update(id(v) for v in holder.values() if id(v) in wanted)
    return by_test, by_log


class _State:
    """The recorder's view of the call stack."""

    def __init__(self) -> None:
        self.frames: list[_Frame] = []
        self.depth = 0
        self.within = 0
        # (id(object), method) of the callback the reactor is calling right
        # now, so that the class wrapper of that method knows the call is
        # the reactor's (already recorded) and not the application's.
        self.token: Optional[tuple[int, str]] = None
        # "file.py:LINE" when the application itself called a method that
        # only the reactor calls (a transport's or a port's connectionLost):
        # the first callback it delivers is then the application's.
        self.application_site: Optional[str] = None

    def internal(self) -> bool:
        return bool(self.frames) and self.frames[-1].kind == _INTERNAL

    def push_callback(self, ev: dict[str, Any], obj: Any) -> _Frame:
        frame = _Frame(_CALLBACK, ev["seq"], ev["event"], id(obj))
        frame.saved = self.within
        self.frames.append(frame)
        self.depth += 1
        self.within = frame.seq
        return frame

    def push_internal(self) -> None:
        self.frames.append(_Frame(_INTERNAL))

    def push_opaque(self) -> None:
        # A callback the recording does not show: what it does is, for the
        # trace, done by top-level code.
        frame = _Frame(_OPAQUE)
        frame.saved = self.depth
        frame.seq = self.within
        self.frames.append(frame)
        self.depth = 0
        self.within = 0

    def pop(self) -> None:
        frame = self.frames.pop()
        if frame.kind == _CALLBACK:
            self.depth -= 1
            self.within = frame.saved
        elif frame.kind == _OPAQUE:
            self.depth = frame.saved
            self.within = frame.seq

    def innermost_callback(self) -> Optional[_Frame]:
        for frame in reversed(self.frames):
            if frame.kind == _CALLBACK:
                return frame
            if frame.kind == _OPAQUE:
                return None
        return None


_state = _State()
_active: Optional[Recording] = None


def active() -> Optional[Recording]:
    """The recording in progress, if any."""
    return _active


def start(path: Optional[str] = None, stream: bool = False) -> Recording:
    """Begins a recording (installing the recorder if need be); see
    :class:`Recording` for ``path`` and ``stream``."""
    global _active
    install()
    if _active is not None and not _active.finished:
        raise RuntimeError("a recording is already in progress")
    _active = Recording(path, stream)
    return _active


# -- describing what the reactor passes ---------------------------------------

_REASONS: list[tuple[str, str]] = [
    ("twisted.internet.error.ConnectionAborted", "connection_aborted"),
    ("twisted.internet.error.ConnectionDone", "connection_done"),
    ("twisted.internet.error.ConnectionLost", "connection_lost"),
    ("twisted.internet.error.ConnectionRefusedError", "connection_refused"),
    ("twisted.internet.error.TimeoutError", "timeout"),
    ("twisted.internet.error.TCPTimedOutError", "timeout"),
    ("twisted.internet.error.DNSLookupError", "dns_lookup"),
    ("twisted.internet.error.UnknownHostError", "dns_lookup"),
    ("twisted.internet.error.UserError", "user_cancelled"),
    ("twisted.internet.error.ConnectError", "connect_error"),
]
_reason_types: list[tuple[type, str]] = []


def _reason(failure: Any) -> dict[str, Any]:
    if not _reason_types:
        from twisted.python.reflect import namedAny

        _reason_types.extend((namedAny(q), r) for q, r in _REASONS)
    value = getattr(failure, "value", failure)
    for kind, reason in _reason_types:
        if isinstance(value, kind):
            break
    else:
        reason = "other"
    return {"reason": reason, "detail": _short(repr(value))}


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    return _short(f"{type(exc).__name__}: {exc}")


def _addr(address: Any) -> Optional[str]:
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is None or port is None:
        return None
    # host:port, an IPv6 host in brackets so that the port stays apart.
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


# -- delivering callbacks -------------------------------------------------------


def _mark_application(ev: dict[str, Any]) -> None:
    site = _state.application_site
    if site is not None:
        _state.application_site = None
        ev["caller"] = "application"
        ev["site"] = site


def _deliver(rec: Recording, kind: str, fields: dict[str, Any], receiver: Any, method: str, args: tuple) -> Any:
    """Records callback ``kind`` and calls ``receiver.method(*args)`` as
    Twisted would, inside a callback frame."""
    try:
        fn = getattr(receiver, method)
    except AttributeError as e:
        # A duck-typed object without the method: the call raised.
        rec.event(kind, fields)["error"] = _describe(e)
        raise
    ev = rec.event(kind, fields)
    if _state.application_site is not None:
        _mark_application(ev)
    _state.push_callback(ev, receiver)
    _state.token = (id(receiver), method)
    try:
        return fn(*args)
    except BaseException as e:
        ev["error"] = _describe(e)
        raise
    finally:
        _state.token = None
        _state.pop()


def _opaque(receiver: Any, method: str, args: tuple) -> Any:
    fn = getattr(receiver, method)
    _state.push_opaque()
    # Still the reactor's call, if not one this recording shows.
    _state.token = (id(receiver), method)
    try:
        return fn(*args)
    finally:
        _state.token = None
        _state.pop()


def _holder(rec: Recording, obj: Any) -> Optional[tuple[str, str]]:
    """``(name, factory name)`` of a connector or port of this recording."""
    mark = getattr(obj, "_callorder", None)
    if mark is None or mark[0] != rec.scope:
        return None
    return mark[1], mark[2]


def _protocol(rec: Recording, transport: Any) -> Optional[str]:
    mark = getattr(transport, "_callorder_protocol", None)
    if mark is None or mark[0] != rec.scope:
        return None
    return mark[1]


def _hooked(rec: Recording, kind: str, hook: str, field: str, owner: Any, factory: Any, method: str, args: tuple) -> Any:
    """``do_start``/``do_stop``: ``hooks: false`` unless ``Factory``'s own
    ``doStart``/``doStop`` ran on this very factory inside it (then
    ``start_factory``/``stop_factory`` are recorded where it calls them)."""
    names = _holder(rec, owner)
    if names is None:
        return _opaque(factory, method, args)
    name, fname = names
    fields: dict[str, Any] = {"factory": fname, field: name}
    try:
        fn = getattr(factory, method)
    except AttributeError as e:
        fields["hooks"] = False
        rec.event(kind, fields)["error"] = _describe(e)
        raise
    ev = rec.event(kind, fields)
    if _state.application_site is not None:
        _mark_application(ev)
    frame = _state.push_callback(ev, factory)
    _state.token = (id(factory), method)
    try:
        return fn(*args)
    except BaseException as e:
        ev["error"] = _describe(e)
        raise
    finally:
        _state.token = None
        _state.pop()
        if not frame.hooks:
            # Insert after "factory" and the holder, before any "error".
            error = ev.pop("error", None)
            ev["hooks"] = False
            if error is not None:
                ev["error"] = error


def _hook_site(rec: Recording, factory: Any, kind: str, method: str) -> Any:
    """``Factory.doStart`` calling ``startFactory`` (or ``doStop``,
    ``stopFactory``): a hook, recorded if it runs inside the reactor's
    ``do_start`` of this same factory."""
    frame = _state.frames[-1] if _state.frames else None
    caller = "do_start" if kind == "start_factory" else "do_stop"
    if frame is None or frame.kind != _CALLBACK or frame.obj != id(factory) or frame.event != caller:
        return getattr(factory, method)()
    fname = rec.factory_name(factory)
    return _deliver(rec, kind, {"factory": fname}, factory, method, ())


def _factory_entered(factory: Any, event: str) -> None:
    frame = _state.frames[-1] if _state.frames else None
    if frame is not None and frame.kind == _CALLBACK and frame.event == event and frame.obj == id(factory):
        frame.hooks = True


def _built(rec: Recording, ev: dict[str, Any], protocol: Any) -> None:
    if protocol is None:
        ev["protocol"] = None
        rec.just_built = None
        return
    name = rec.new_name("p")
    ev["protocol"] = name
    rec.just_built = (id(protocol), name)
    _watch_class(protocol, _PROTOCOL_METHODS)


def _build(rec: Recording, owner: Any, field: str, factory: Any, args: tuple) -> Any:
    names = _holder(rec, owner)
    if names is None:
        return _opaque(factory, "buildProtocol", args)
    name, fname = names
    fields: dict[str, Any] = {"factory": fname, field: name}
    addr = _addr(args[0]) if args else None
    if addr is not None:
        fields["addr"] = addr
    fields["protocol"] = None
    try:
        fn = factory.buildProtocol
    except AttributeError as e:
        rec.event("build_protocol", fields)["error"] = _describe(e)
        raise
    ev = rec.event("build_protocol", fields)
    _state.push_callback(ev, factory)
    _state.token = (id(factory), "buildProtocol")
    try:
        protocol = fn(*args)
    except BaseException as e:
        ev["error"] = _describe(e)
        rec.just_built = None
        raise
    finally:
        _state.token = None
        _state.pop()
    _built(rec, ev, protocol)
    return protocol


def _made(rec: Recording, protocol: Any, transport: Any) -> Any:
    built = rec.just_built
    if built is None or built[0] != id(protocol):
        return _opaque(protocol, "makeConnection", (transport,))
    rec.just_built = None
    # The protocol's id too: a wrapped protocol (endpoints, policies) sees
    # the same transport, and is not the one the reactor knows.
    transport._callorder_protocol = (rec.scope, built[1], id(protocol))
    return _deliver(rec, "connection_made", {"protocol": built[1]}, protocol, "makeConnection", (transport,))


def _on_transport(kind: str, method: str, fields: Callable[[tuple], dict[str, Any]]) -> Callable[..., Any]:
    def handle(rec: Recording, transport: Any, receiver: Any, args: tuple) -> Any:
        name = _protocol(rec, transport)
        if name is None:
            return _opaque(receiver, method, args)
        return _deliver(rec, kind, {"protocol": name, **fields(args)}, receiver, method, args)

    return handle


def _on_connector(kind: str, method: str, reason_at: Optional[int]) -> Callable[..., Any]:
    def handle(rec: Recording, connector: Any, factory: Any, args: tuple) -> Any:
        names = _holder(rec, connector)
        if names is None:
            return _opaque(factory, method, args)
        name, fname = names
        fields: dict[str, Any] = {"factory": fname, "connector": name}
        if reason_at is not None:
            fields.update(_reason(args[reason_at]))
        return _deliver(rec, kind, fields, factory, method, args)

    return handle


def _none(_args: tuple) -> dict[str, Any]:
    return {}


def _data_received(rec: Recording, transport: Any, receiver: Any, args: tuple) -> Any:
    # The busiest site: _on_transport's work without its generic fields.
    name = _protocol(rec, transport)
    if name is None:
        return _opaque(receiver, "dataReceived", args)
    return _deliver(rec, "data_received", {"protocol": name, "bytes": len(args[0])}, receiver, "dataReceived", args)


def _connect_tcp(rec: Recording, reactor: Any, connector: Any, args: tuple) -> Any:
    """``connectTCP``: the connector is new; record it before its
    ``connect()`` delivers ``do_start`` and ``started_connecting``."""
    factory = connector.factory
    name = rec.new_name("c")
    fname = rec.factory_name(factory)
    connector._callorder = (rec.scope, name, fname)
    fields: dict[str, Any] = {"factory": fname, "connector": name, "addr": _addr(connector)}
    if connector.timeout is not None:
        fields["timeout"] = connector.timeout
    rec.event("connect_tcp", fields)
    _watch_class(factory, _FACTORY_METHODS)
    _state.push_internal()
    try:
        return connector.connect(*args)
    finally:
        _state.pop()


def _internal_call(rec: Recording, owner: Any, receiver: Any, method: str, args: tuple) -> Any:
    _state.push_internal()
    try:
        return getattr(receiver, method)(*args)
    finally:
        _state.pop()


# key -> (method name, handler(rec, owner, receiver, args))
_SITES: dict[str, tuple[str, Callable[..., Any]]] = {
    "c.do_start": ("doStart", lambda rec, c, f, a: _hooked(rec, "do_start", "start_factory", "connector", c, f, "doStart", a)),
    "c.do_stop": ("doStop", lambda rec, c, f, a: _hooked(rec, "do_stop", "stop_factory", "connector", c, f, "doStop", a)),
    "l.do_start": ("doStart", lambda rec, l, f, a: _hooked(rec, "do_start", "start_factory", "port", l, f, "doStart", a)),
    "l.do_stop": ("doStop", lambda rec, l, f, a: _hooked(rec, "do_stop", "stop_factory", "port", l, f, "doStop", a)),
    "hook.start": ("startFactory", lambda rec, f, _r, a: _hook_site(rec, f, "start_factory", "startFactory")),
    "hook.stop": ("stopFactory", lambda rec, f, _r, a: _hook_site(rec, f, "stop_factory", "stopFactory")),
    "c.started": ("startedConnecting", _on_connector("started_connecting", "startedConnecting", None)),
    "c.failed": ("clientConnectionFailed", _on_connector("client_connection_failed", "clientConnectionFailed", 1)),
    "c.lost": ("clientConnectionLost", _on_connector("client_connection_lost", "clientConnectionLost", 1)),
    "c.build": ("buildProtocol", lambda rec, c, f, a: _build(rec, c, "connector", f, a)),
    "l.build": ("buildProtocol", lambda rec, l, f, a: _build(rec, l, "port", f, a)),
    "made": ("makeConnection", lambda rec, _o, p, a: _made(rec, p, a[0])),
    "data": ("dataReceived", _data_received),
    "read_lost": ("readConnectionLost", _on_transport("read_connection_lost", "readConnectionLost", _none)),
    "write_lost": ("writeConnectionLost", _on_transport("write_connection_lost", "writeConnectionLost", _none)),
    "lost": ("connectionLost", _on_transport("connection_lost", "connectionLost", lambda a: _reason(a[0]))),
    "pause": ("pauseProducing", _on_transport("pause_producing", "pauseProducing", _none)),
    "resume": ("resumeProducing", _on_transport("resume_producing", "resumeProducing", _none)),
    "stop": ("stopProducing", _on_transport("stop_producing", "stopProducing", _none)),
    "connect_tcp": ("connect", _connect_tcp),
    "internal.lose": ("loseConnection", lambda rec, o, r, a: _internal_call(rec, o, r, "loseConnection", a)),
}


def _site(key: str, owner: Any, receiver: Any, *args: Any) -> Any:
    """Where every rerouted call of Twisted's code arrives."""
    rec = _active
    method, handle = _SITES[key]
    if rec is None:
        return getattr(receiver, method)(*args)
    return handle(rec, owner, receiver, args)


# -- actions --------------------------------------------------------------------


def _action(kind: str, fields: Callable[[Recording, Any, tuple, dict], Optional[dict[str, Any]]], fn: Callable[..., Any]) -> Callable[..., Any]:
    def action(self: Any, *args: Any, **kw: Any) -> Any:
        rec = _active
        if rec is None or _state.internal():
            return fn(self, *args, **kw)
        given = fields(rec, self, args, kw)
        if given is None:
            return fn(self, *args, **kw)
        ev = rec.event(kind, given)
        seq = rec.seq
        _state.push_internal()
        try:
            return fn(self, *args, **kw)
        except BaseException as e:
            # Only an action that itself raised changed nothing; one that a
            # callback it delivered raised through did what it did.
            if rec.seq == seq:
                ev["error"] = _describe(e)
            raise
        finally:
            _state.pop()

    action.__wrapped__ = fn  # type: ignore[attr-defined]
    action.__name__ = getattr(fn, "__name__", kind)
    action.__qualname__ = getattr(fn, "__qualname__", kind)
    action.__doc__ = getattr(fn, "__doc__", None)
    return action


def _of_connector(rec: Recording, c: Any, _a: tuple, _k: dict) -> Optional[dict[str, Any]]:
    names = _holder(rec, c)
    return None if names is None else {"connector": names[0]}


def _of_port(rec: Recording, port: Any, _a: tuple, _k: dict) -> Optional[dict[str, Any]]:
    names = _holder(rec, port)
    return None if names is None else {"port": names[0]}


def _of_transport(extra: Callable[[tuple, dict], dict[str, Any]]) -> Callable[..., Optional[dict[str, Any]]]:
    def fields(rec: Recording, t: Any, args: tuple, kw: dict) -> Optional[dict[str, Any]]:
        name = _protocol(rec, t)
        return None if name is None else {"protocol": name, **extra(args, kw)}

    return fields


def _nothing(_a: tuple, _k: dict) -> dict[str, Any]:
    return {}


def _write_bytes(args: tuple, kw: dict) -> dict[str, Any]:
    data = args[0] if args else kw.get("data", b"")
    try:
        return {"bytes": len(data)}
    except TypeError:
        return {"bytes": 0}


def _sequence_bytes(args: tuple, kw: dict) -> dict[str, Any]:
    iovec = args[0] if args else kw.get("iovec", ())
    try:
        return {"bytes": sum(len(chunk) for chunk in iovec)}
    except TypeError:
        return {"bytes": 0}


def _streaming(args: tuple, kw: dict) -> dict[str, Any]:
    streaming = args[1] if len(args) > 1 else kw.get("streaming", False)
    return {"streaming": bool(streaming)}


def _listen(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``Port.startListening``, from ``listenTCP`` or again after a stop: a
    new ``listen_tcp``, so a port that listens again is a new port of the
    trace (ids are never reused)."""

    def start_listening(self: Any, *args: Any, **kw: Any) -> Any:
        rec = _active
        if rec is None:
            return fn(self, *args, **kw)
        name = rec.new_name("l")
        fname = rec.factory_name(self.factory)
        self._callorder = (rec.scope, name, fname)
        ev = rec.event("listen_tcp", {"factory": fname, "port": name})
        seq = rec.seq
        _watch_class(self.factory, _FACTORY_METHODS)
        _state.push_internal()
        try:
            result = fn(self, *args, **kw)
        except BaseException as e:
            if rec.seq == seq:
                ev["error"] = _describe(e)
            raise
        finally:
            _state.pop()
        addr = _addr(self.getHost()) if getattr(self, "connected", False) else None
        if addr is not None:
            # Known once bound (port 0 picks one).
            ev["addr"] = addr
        return result

    start_listening.__wrapped__ = fn  # type: ignore[attr-defined]
    start_listening.__doc__ = fn.__doc__
    return start_listening


def _reactor_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A method only the reactor calls (``Connection.connectionLost``,
    ``Port.connectionLost``): called from elsewhere, the callback it
    delivers is marked as the application's, with the caller's line."""

    def reactor_only(self: Any, *args: Any, **kw: Any) -> Any:
        if _active is not None:
            caller = sys._getframe(1)
            module = caller.f_globals.get("__name__", "")
            if not module.startswith("twisted.internet.") or module.startswith("twisted.internet.test"):
                _state.application_site = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
        try:
            return fn(self, *args, **kw)
        finally:
            _state.application_site = None

    reactor_only.__wrapped__ = fn  # type: ignore[attr-defined]
    reactor_only.__doc__ = fn.__doc__
    return reactor_only


# -- callbacks the application calls itself ---------------------------------------------

# method -> the event it is, for calls the application makes itself
_FACTORY_METHODS = {
    "doStart": "do_start",
    "doStop": "do_stop",
    "startFactory": "start_factory",
    "stopFactory": "stop_factory",
    "startedConnecting": "started_connecting",
    "buildProtocol": "build_protocol",
    "clientConnectionFailed": "client_connection_failed",
    "clientConnectionLost": "client_connection_lost",
}
_PROTOCOL_METHODS = {
    "makeConnection": "connection_made",
    "connectionMade": "connection_made",
    "dataReceived": "data_received",
    "readConnectionLost": "read_connection_lost",
    "writeConnectionLost": "write_connection_lost",
    "connectionLost": "connection_lost",
}
_watched: dict[type, list[tuple[str, Any, bool]]] = {}


def _watch_class(obj: Any, methods: dict[str, str]) -> None:
    """Wraps the callback methods of ``type(obj)`` once, to see calls the
    application makes to them itself."""
    cls = type(obj)
    if cls in _watched or not _installed:
        return
    changes: list[tuple[str, Any, bool]] = []
    _watched[cls] = changes
    for method, kind in methods.items():
        try:
            found = getattr(cls, method)
        except AttributeError:
            continue
        func = getattr(found, "__func__", found)
        if (
            not callable(func)
            or getattr(func, "_callorder_watch", False)
            or isinstance(inspect.getattr_static(cls, method), (staticmethod, classmethod))
        ):
            continue
        wrapper = _watch(kind, method, func)
        had = method in cls.__dict__
        original = cls.__dict__.get(method)
        try:
            type.__setattr__(cls, method, wrapper)
        except (TypeError, AttributeError):
            continue
        changes.append((method, original, had))


def _watch(kind: str, method: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def watched(self: Any, *args: Any, **kw: Any) -> Any:
        rec = _active
        if rec is None:
            return func(self, *args, **kw)
        token = _state.token
        if token is not None and token[0] == id(self):
            # The reactor's call (already recorded), or Twisted's own chain
            # inside it (makeConnection calling connectionMade).
            _state.token = None
            return func(self, *args, **kw)
        inner = _state.innermost_callback()
        if inner is not None and inner.obj == id(self) and inner.event == kind:
            # A super() call or a callback's own chain inside it.
            return func(self, *args, **kw)
        fields = _application_fields(rec, kind, self, args)
        if fields is None:
            return func(self, *args, **kw)
        caller = sys._getframe(1)
        fields["caller"] = "application"
        fields["site"] = f"{os.path.basename(caller.f_code.co_filename)}:{caller.f_lineno}"
        ev = rec.event(kind, fields)
        _state.push_callback(ev, self)
        try:
            return func(self, *args, **kw)
        except BaseException as e:
            ev["error"] = _describe(e)
            raise
        finally:
            _state.pop()

    watched._callorder_watch = True  # type: ignore[attr-defined]
    watched.__wrapped__ = func  # type: ignore[attr-defined]
    watched.__name__ = method
    watched.__qualname__ = getattr(func, "__qualname__", method)
    watched.__doc__ = getattr(func, "__doc__", None)
    return watched


def _application_fields(rec: Recording, kind: str, obj: Any, args: tuple) -> Optional[dict[str, Any]]:
    """The fields of a callback the application called on ``obj``, or
    ``None`` if ``obj`` is not one the recording knows."""
    if kind in ("connection_made", "data_received", "read_connection_lost", "write_connection_lost", "connection_lost"):
        mark = getattr(getattr(obj, "transport", None), "_callorder_protocol", None)
        if mark is None or mark[0] != rec.scope or mark[2] != id(obj):
            return None
        fields: dict[str, Any] = {"protocol": mark[1]}
        if kind == "data_received":
            fields["bytes"] = len(args[0]) if args else 0
        if kind == "connection_lost":
            fields.update(_reason(args[0] if args else None))
        return fields
    entry = rec._factories.get(id(obj))
    if entry is None or (entry[0] is not None and entry[0]() is not obj):
        return None
    fields = {"factory": entry[1]}
    if kind in ("started_connecting", "client_connection_failed", "client_connection_lost", "build_protocol"):
        connector = args[0] if args else None
        names = _holder(rec, connector)
        if kind == "build_protocol" or names is None:
            return None
        fields["connector"] = names[0]
        if kind != "started_connecting":
            fields.update(_reason(args[1] if len(args) > 1 else None))
    return fields


# -- installing -----------------------------------------------------------------

_installed = False
_undo: list[tuple[Any, str, Any, bool]] = []


def _set(owner: Any, name: str, value: Any) -> None:
    _undo.append((owner, name, owner.__dict__.get(name), name in owner.__dict__))
    setattr(owner, name, value)


def install() -> None:
    """Installs the recorder into Twisted (idempotent). Nothing is recorded
    until a recording starts; with none, each patched call costs one check."""
    global _installed
    if _installed:
        return
    from twisted.internet import abstract, base, posixbase, protocol, tcp

    def rerouted(owner: type, name: str, sites: dict[tuple[str, str], str]) -> Any:
        return reroute(owner, name, sites, _site)

    # Callbacks the reactor delivers.
    connector_connect = rerouted(base.BaseConnector, "connect", {("self.factory", "doStart"): "c.do_start", ("self.factory", "startedConnecting"): "c.started"})
    _set(base.BaseConnector, "buildProtocol", rerouted(base.BaseConnector, "buildProtocol", {("self.factory", "buildProtocol"): "c.build"}))
    _set(base.BaseConnector, "connectionFailed", rerouted(base.BaseConnector, "connectionFailed", {("self.factory", "clientConnectionFailed"): "c.failed", ("self.factory", "doStop"): "c.do_stop"}))
    _set(base.BaseConnector, "connectionLost", rerouted(base.BaseConnector, "connectionLost", {("self.factory", "clientConnectionLost"): "c.lost", ("self.factory", "doStop"): "c.do_stop"}))
    port_listen = rerouted(tcp.Port, "startListening", {("self.factory", "doStart"): "l.do_start"})
    _set(tcp.Port, "doRead", rerouted(tcp.Port, "doRead", {("self.factory", "buildProtocol"): "l.build", ("protocol", "makeConnection"): "made"}))
    _set(tcp.Port, "connectionLost", _reactor_only(rerouted(tcp.Port, "connectionLost", {("self.factory", "doStop"): "l.do_stop"})))
    _set(tcp.BaseClient, "_connectDone", rerouted(tcp.BaseClient, "_connectDone", {("self.protocol", "makeConnection"): "made", ("self", "loseConnection"): "internal.lose"}))
    _set(tcp.Connection, "_dataReceived", rerouted(tcp.Connection, "_dataReceived", {("self.protocol", "dataReceived"): "data"}))
    _set(tcp.Connection, "readConnectionLost", rerouted(tcp.Connection, "readConnectionLost", {("p", "readConnectionLost"): "read_lost"}))
    _set(tcp.Connection, "_closeWriteConnection", rerouted(tcp.Connection, "_closeWriteConnection", {("p", "writeConnectionLost"): "write_lost"}))
    _set(tcp.Connection, "connectionLost", _reactor_only(rerouted(tcp.Connection, "connectionLost", {("protocol", "connectionLost"): "lost"})))
    _set(abstract.FileDescriptor, "connectionLost", rerouted(abstract.FileDescriptor, "connectionLost", {("self.producer", "stopProducing"): "stop"}))
    _set(abstract.FileDescriptor, "doWrite", rerouted(abstract.FileDescriptor, "doWrite", {("self.producer", "resumeProducing"): "resume"}))
    _set(abstract.FileDescriptor, "_maybePauseProducer", rerouted(abstract.FileDescriptor, "_maybePauseProducer", {("self.producer", "pauseProducing"): "pause"}))
    register = rerouted(abstract._ConsumerMixin, "registerProducer", {("producer", "stopProducing"): "stop", ("pullProducer", "resumeProducing"): "resume"})
    _set(posixbase.PosixReactorBase, "connectTCP", rerouted(posixbase.PosixReactorBase, "connectTCP", {("c", "connect"): "connect_tcp"}))
    # Factory's own hooks, seen where Factory.doStart/doStop call them.
    factory_start = rerouted(protocol.Factory, "doStart", {("self", "startFactory"): "hook.start"})
    factory_stop = rerouted(protocol.Factory, "doStop", {("self", "stopFactory"): "hook.stop"})

    def do_start(self: Any) -> Any:
        _factory_entered(self, "do_start")
        return factory_start(self)

    def do_stop(self: Any) -> Any:
        _factory_entered(self, "do_stop")
        return factory_stop(self)

    do_start.__doc__, do_stop.__doc__ = protocol.Factory.doStart.__doc__, protocol.Factory.doStop.__doc__
    _set(protocol.Factory, "doStart", do_start)
    _set(protocol.Factory, "doStop", do_stop)

    # Actions the application makes.
    _set(base.BaseConnector, "connect", _action("connect", _of_connector, connector_connect))
    _set(base.BaseConnector, "stopConnecting", _action("stop_connecting", _of_connector, base.BaseConnector.stopConnecting))
    _set(base.BaseConnector, "disconnect", _action("disconnect", _of_connector, base.BaseConnector.disconnect))
    _set(tcp.Port, "startListening", _listen(port_listen))
    stop_listening = _action("stop_listening", _of_port, tcp.Port.loseConnection)
    _set(tcp.Port, "loseConnection", stop_listening)
    _set(tcp.Port, "stopListening", stop_listening)
    fd = abstract.FileDescriptor
    _set(fd, "write", _action("write", _of_transport(_write_bytes), fd.write))
    _set(fd, "writeSequence", _action("write", _of_transport(_sequence_bytes), fd.writeSequence))
    _set(fd, "loseConnection", _action("lose_connection", _of_transport(_nothing), fd.loseConnection))
    _set(fd, "loseWriteConnection", _action("lose_write_connection", _of_transport(_nothing), fd.loseWriteConnection))
    _set(fd, "pauseProducing", _action("pause_reading", _of_transport(_nothing), fd.pauseProducing))
    _set(fd, "resumeProducing", _action("resume_reading", _of_transport(_nothing), fd.resumeProducing))
    _set(abstract._ConsumerMixin, "registerProducer", _action("register_producer", _of_transport(_streaming), register))
    _set(abstract._ConsumerMixin, "unregisterProducer", _action("unregister_producer", _of_transport(_nothing), abstract._ConsumerMixin.unregisterProducer))
    _set(tcp._AbortingMixin, "abortConnection", _action("abort_connection", _of_transport(_nothing), tcp._AbortingMixin.abortConnection))

    # The reactor's teardown of what is still open, the "during shutdown"
    # trigger every reactor made after this registers: `shutdown` marks it
    # (a whole program's reactor, or one a test builds and stops; trial's
    # global reactor is never stopped between tests).
    disconnect_all = base.ReactorBase.disconnectAll

    def disconnectAll(self: Any) -> Any:
        rec = _active
        if rec is not None:
            rec.event("shutdown", {})
        return disconnect_all(self)

    disconnectAll.__doc__ = disconnect_all.__doc__
    _set(base.ReactorBase, "disconnectAll", disconnectAll)
    _installed = True


def uninstall() -> None:
    """Puts Twisted back as it was (ends any recording first)."""
    global _installed, _active
    if _active is not None and not _active.finished:
        _active.finish()
    _active = None
    # Class wrappers first: a watched Twisted class may wrap what the
    # patches below put there.
    for cls, changes in _watched.items():
        for method, value, had in changes:
            if had:
                type.__setattr__(cls, method, value)
            else:
                type.__delattr__(cls, method)
    _watched.clear()
    for owner, name, value, had in reversed(_undo):
        if had:
            setattr(owner, name, value)
        else:
            delattr(owner, name)
    _undo.clear()
    _installed = False
