//! The checker: a pure state machine over trace events.

use callorder_trace::{
    Category, ConnectorId, Event, EventKind, FactoryId, Holder, PortId, ProtocolId, Reason, Step,
};

use std::num::NonZeroU64;

mod fast;
use fast::FastPaths;

use crate::coverage::Coverage;
use crate::idmap::{CompactSet, IdMap};
use crate::profile::Profile;
use crate::rules::Rule;
use crate::state::{
    ConnectorPhase, ConnectorState, FactoryState, Found, Frame, PortState, Producer, ProtocolState,
    Recent, Source,
};
use crate::table::{Entry, Table};
use crate::violation::{CheckError, Object, Violation, Warning};

/// How many actions made inside callbacks that returned are remembered,
/// for the callbacks nested in a `within` naming one. The callbacks
/// themselves are found among the recent events ([`Recent`]); a `within`
/// naming an older one is trusted, not verified.
const RETURNED_FRAMES: usize = 256;

/// What the checks of an event need of the callback it runs inside: a
/// `Frame` without its outcome fields, small enough to pass in registers
/// (copies of the whole frame through the stack were a visible cost).
#[derive(Clone, Copy, Debug)]
struct Parent {
    seq: u64,
    depth: u32,
    kind: EventKind,
}

impl Parent {
    #[inline]
    fn of(frame: &Frame) -> Parent {
        Parent {
            seq: frame.seq,
            depth: frame.depth,
            kind: frame.kind,
        }
    }
}

/// A `start_factory`/`stop_factory` hook that must come next.
#[derive(Clone, Copy, Debug)]
struct Hook {
    kind: EventKind,
    factory: FactoryId,
    depth: u32,
    /// The do_start/do_stop it belongs to.
    caller: u64,
    /// For start hooks: who took the start, to undo it if the hook raises.
    holder: Option<Holder>,
}

/// The legal callback order as a state machine: feed it events with
/// [`step`](Checker::step), one at a time, and it says `Ok` or why not.
///
/// It does no I/O and never blocks; a trace file, the mock reactor or any
/// other source drives it. Under [`Profile::Strict`] a complete trace (one that
/// ends with `end`) must also meet every obligation; under
/// [`Profile::Twisted`] unmet obligations become [`warnings`](Checker::warnings).
///
/// Memory is bounded by live state (open connections, connectors that are
/// connecting or connected, listening ports, started factories) plus a few
/// bytes per id ever seen: ended protocols and ports are remembered as bare
/// 64-bit ids, so "after connection_lost" can be told from "unknown".
///
/// Once `step` returned an error the checker's state is unspecified: stop
/// feeding it.
///
/// ```
/// use callorder_checker::{Checker, Profile};
/// use callorder_trace::{ConnectorId, Event, FactoryId, Holder, ProtocolId, Reason, Step};
///
/// let (f, c, p) = (FactoryId(1), ConnectorId(1), ProtocolId(1));
/// let events = [
///     (0, Event::ConnectTcp { factory: f, connector: c }),
///     (0, Event::DoStart { factory: f, holder: Some(Holder::Connector(c)) }),
///     (1, Event::StartFactory { factory: f }),
///     (0, Event::StartedConnecting { factory: f, connector: c }),
///     (0, Event::BuildProtocol { factory: f, holder: Holder::Connector(c), protocol: Some(p) }),
///     (0, Event::ConnectionMade { protocol: p }),
///     (0, Event::ConnectionLost { protocol: p, reason: Reason::ConnectionDone }),
///     (0, Event::ClientConnectionLost { factory: f, connector: c, reason: Reason::ConnectionDone }),
///     (0, Event::DoStop { factory: f, holder: Some(Holder::Connector(c)) }),
///     (1, Event::StopFactory { factory: f }),
///     (0, Event::End),
/// ];
/// let mut checker = Checker::new(Profile::Strict);
/// for (i, (depth, event)) in events.into_iter().enumerate() {
///     checker.step(&Step::new(i as u64 + 1, event).at_depth(depth)).unwrap();
/// }
/// assert!(checker.warnings().is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct Checker {
    profile: Profile,
    max_live: usize,
    /// Factories with a start count, by id: a do_start or do_stop looks
    /// its factory up directly, as for the other objects, not through a
    /// hash map. Forgotten when the count returns to 0.
    factories: Table<FactoryId, FactoryState>,
    /// Live connectors; idle ones are ended here and kept in
    /// `idle_connectors`.
    connectors: Table<ConnectorId, ConnectorState>,
    /// Live ports; ended after their do_stop.
    ports: Table<PortId, PortState>,
    /// Live protocols; ended after their connection_lost.
    protocols: Table<ProtocolId, ProtocolState>,
    /// Connectors that are disconnected and hold no start: all they need is
    /// their factory, until they `connect` again.
    idle_connectors: IdleConnectors,
    /// Protocols that got register_producer after connection_lost: each is
    /// owed nothing, but may get one stop_producing (PR1).
    late_producers: IdMap<ProtocolId, u32>,
    stack: Vec<Frame>,
    /// By depth: the last action made inside the last callback at that
    /// depth that acted (running, or returned since), with that callback's
    /// seq; seq 0 when none did.
    sources: Vec<(u64, Source)>,
    /// The sources of returned callbacks whose slot in `sources` a later
    /// callback took, for a `within` naming one.
    returned_sources: Vec<(u64, Source)>,
    returned_sources_next: usize,
    hook: Option<Hook>,
    shutdown: bool,
    ended: bool,
    last_seq: u64,
    warnings: Vec<Warning>,
    coverage: Coverage,
    recent: Recent,
    fast: FastPaths,
}

impl Default for Checker {
    fn default() -> Self {
        Checker::new(Profile::Strict)
    }
}

/// A violation found while handling one event, before the event's seq and
/// the object's history are filled in.
///
/// Boxed, so that `Result<(), Fail>` is one pointer: every check on the hot
/// path returns it, and a wide error type made each of them pass it through
/// memory.
struct Fail(Box<FailInner>);

struct FailInner {
    rule: Rule,
    message: String,
    object: Option<Object>,
}

#[cold]
#[inline(never)]
fn fail(rule: Rule, object: Option<Object>, message: impl Into<String>) -> Fail {
    Fail(Box::new(FailInner {
        rule,
        message: message.into(),
        object,
    }))
}

type Check = Result<(), Fail>;

/// T-FACTORY, as a function of the coverage alone, so that a handler can
/// hold its object's state (one table lookup) across the check.
#[inline]
fn same_factory(
    coverage: &mut Coverage,
    object: Object,
    expected: FactoryId,
    named: FactoryId,
) -> Check {
    coverage.hit(Rule::FactoryMismatch);
    if expected == named {
        Ok(())
    } else {
        Err(fail(
            Rule::FactoryMismatch,
            Some(object),
            format!("names factory {named:?}, but {object:?} belongs to factory {expected:?}"),
        ))
    }
}

/// The state of connector `c`, which an event names with `factory`: one
/// lookup, after T-UNKNOWN-ID and T-FACTORY, so that a handler can keep the
/// state across the checks that follow.
#[inline]
fn connector_of<'a>(
    connectors: &'a mut Table<ConnectorId, ConnectorState>,
    coverage: &mut Coverage,
    c: ConnectorId,
    factory: FactoryId,
) -> Result<&'a mut ConnectorState, Fail> {
    let Some(conn) = connectors.get_mut(c) else {
        return Err(unknown_connector(c));
    };
    same_factory(coverage, Object::Connector(c), conn.factory, factory)?;
    Ok(conn)
}

/// T-UNKNOWN-ID for a connector.
fn unknown_connector(c: ConnectorId) -> Fail {
    fail(
        Rule::UnknownId,
        Some(Object::Connector(c)),
        "a connector no connect_tcp created",
    )
}

/// The protocol a transport action names: its state if live, `None` if it
/// ended (the action is a no-op, P3), T-UNKNOWN-ID if never built. One
/// lookup where `known_protocol` then `get` took three.
#[inline]
fn action_target(
    protocols: &mut Table<ProtocolId, ProtocolState>,
    p: ProtocolId,
) -> Result<Option<&mut ProtocolState>, Fail> {
    match protocols.entry(p) {
        Entry::Live(ps) => Ok(Some(ps)),
        Entry::Ended => Ok(None),
        Entry::Unknown => Err(fail(
            Rule::UnknownId,
            Some(Object::Protocol(p)),
            "a protocol no build_protocol returned",
        )),
    }
}

impl Checker {
    /// The format's default limit on objects alive at once.
    pub const DEFAULT_MAX_LIVE: usize = 1_000_000;

    /// A checker for a new trace.
    pub fn new(profile: Profile) -> Self {
        Checker {
            profile,
            max_live: Self::DEFAULT_MAX_LIVE,
            factories: Table::default(),
            connectors: Table::default(),
            ports: Table::default(),
            protocols: Table::default(),
            idle_connectors: IdleConnectors::default(),
            late_producers: IdMap::default(),
            stack: Vec::new(),
            sources: Vec::new(),
            returned_sources: Vec::new(),
            returned_sources_next: 0,
            hook: None,
            shutdown: false,
            ended: false,
            last_seq: 0,
            warnings: Vec::new(),
            coverage: Coverage::default(),
            recent: Recent::default(),
            fast: FastPaths::new(),
        }
    }

    /// Sets the limit on objects alive at once (factories, connectors, ports
    /// and protocols together); crossing it is a
    /// [`CheckError::TooManyLiveObjects`].
    #[must_use]
    pub fn with_max_live(mut self, max_live: usize) -> Self {
        self.max_live = max_live;
        self
    }

    /// The profile this checker holds the trace to.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Obligations left unmet at `end` under [`Profile::Twisted`].
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// How often each rule was exercised so far (a copy of the counts).
    pub fn coverage(&self) -> Coverage {
        let mut coverage = self.coverage.clone();
        self.fast.add_coverage(&mut coverage);
        coverage
    }

    /// Turns the fast paths on (the default) or off.
    ///
    /// The fast paths check the common top-level events of a life cycle
    /// without the general machinery of a step; whatever they do not take,
    /// the general path judges. They change no verdict, violation or
    /// coverage count: turning them off only makes the checker slower. It
    /// is there to show exactly that (the checker's tests compare both ways
    /// on every fixture), and to rule them out when a verdict looks wrong.
    ///
    /// ```
    /// use callorder_checker::{Checker, Profile, Rule};
    /// use callorder_trace::{Event, FactoryId, Holder, PortId, ProtocolId, Step};
    ///
    /// let (f, l, p) = (FactoryId(1), PortId(1), ProtocolId(1));
    /// let events = [
    ///     (0, Event::ListenTcp { factory: f, port: l }),
    ///     (0, Event::DoStart { factory: f, holder: Some(Holder::Port(l)) }),
    ///     (1, Event::StartFactory { factory: f }),
    ///     // These three take fast paths, where they are on.
    ///     (0, Event::BuildProtocol { factory: f, holder: Holder::Port(l), protocol: Some(p) }),
    ///     (0, Event::ConnectionMade { protocol: p }),
    ///     (0, Event::DataReceived { protocol: p, bytes: 5 }),
    /// ];
    /// let mut fast = Checker::new(Profile::Strict);
    /// let mut general = Checker::new(Profile::Strict).with_fast_paths(false);
    /// for (i, (depth, event)) in events.into_iter().enumerate() {
    ///     let step = Step::new(i as u64 + 1, event).at_depth(depth);
    ///     fast.step(&step).unwrap();
    ///     general.step(&step).unwrap();
    /// }
    /// assert_eq!(fast.coverage(), general.coverage());
    /// assert_eq!(fast.coverage().count(Rule::EmptyData), 1);
    ///
    /// // The same violation either way: fast paths leave those to the
    /// // general path.
    /// let again = Step::new(7, Event::ConnectionMade { protocol: p });
    /// let (a, b) = (fast.step(&again).unwrap_err(), general.step(&again).unwrap_err());
    /// assert_eq!(a.to_string(), b.to_string());
    /// ```
    #[must_use]
    pub fn with_fast_paths(mut self, on: bool) -> Self {
        self.fast.enabled = on;
        self.refresh_ready();
        self
    }

    /// Whether `end` was seen: the trace is complete.
    pub fn is_complete(&self) -> bool {
        self.ended
    }

    /// How many objects are alive now.
    pub fn live_objects(&self) -> usize {
        self.factories.len() + self.connectors.len() + self.ports.len() + self.protocols.len()
    }

    /// The seq of the last event accepted (0 before the first).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Judges one event. `Ok` means the trace so far can be legal.
    ///
    /// On `end`, the obligations still unmet are violations under
    /// [`Profile::Strict`] (at the `end` line) and warnings under
    /// [`Profile::Twisted`].
    #[inline]
    pub fn step(&mut self, step: &Step) -> Result<(), CheckError> {
        // Inlined into the caller: the paths behind it answer in one
        // register, and only a violation is unboxed.
        match self.fast_step(step) {
            Ok(()) => Ok(()),
            Err(e) => Err(*e),
        }
    }

    /// [`step`](Checker::step) for every event no fast path takes.
    #[inline(never)]
    fn general_step(&mut self, step: &Step) -> Result<(), Box<CheckError>> {
        let result = self.judge(step);
        // The only place where a hook comes to be owed or paid, the trace
        // ends or shuts down, or the ring of recent events is allocated.
        self.refresh_ready();
        result.map_err(Box::new)
    }

    /// Whether the next event may take a fast path.
    fn refresh_ready(&mut self) {
        self.fast.ready = self.fast.enabled
            && self.hook.is_none()
            && !self.ended
            && !self.shutdown
            && self.recent.is_allocated();
    }

    #[inline(always)]
    fn judge(&mut self, step: &Step) -> Result<(), CheckError> {
        match self.step_inner(step) {
            Ok(()) => {
                self.last_seq = step.seq;
                self.recent.push(step.seq, step.depth, step.event);
                let creates = matches!(
                    step.event,
                    Event::ConnectTcp { .. }
                        | Event::ListenTcp { .. }
                        | Event::BuildProtocol { .. }
                        | Event::DoStart { .. }
                );
                if creates && self.live_objects() > self.max_live {
                    return Err(CheckError::TooManyLiveObjects {
                        seq: step.seq,
                        limit: self.max_live,
                    });
                }
                Ok(())
            }
            Err(f) => Err(self.violation(step, f).into()),
        }
    }

    #[cold]
    #[inline(never)]
    fn violation(&self, step: &Step, f: Fail) -> Violation {
        let f = *f.0;
        let history = f
            .object
            .map(|o| self.recent.of(o, self.last_seq))
            .unwrap_or_default();
        let expected = match f.object {
            Some(o) if step.event != Event::End => self.legal_for(o, step),
            _ => Vec::new(),
        };
        Violation {
            rule: f.rule,
            seq: step.seq,
            kind: step.event.kind(),
            message: f.message,
            object: f.object,
            history,
            expected,
        }
    }

    #[inline(always)]
    fn step_inner(&mut self, step: &Step) -> Check {
        let kind = step.event.kind();
        self.coverage.hit(Rule::AfterEnd);
        if self.ended {
            return Err(fail(Rule::AfterEnd, None, format!("{kind} after end")));
        }
        // Most events neither follow a do_start/do_stop at count 0 nor are
        // hooks: they skip the hook check.
        if self.hook.is_some() || matches!(kind, EventKind::StartFactory | EventKind::StopFactory) {
            self.check_hook(step)?;
        }
        let parent = self.enter(step)?;
        if step.depth > 0 && kind.category() == Category::Callback {
            self.check_nested(step, parent)?;
        }
        self.dispatch(step, parent)?;
        // The kind is read again, not kept across `dispatch`: kept, it was
        // spilled and reloaded on every step.
        let kind = step.event.kind();
        // Once: each `is_callback`/`is_action` matches the kind again.
        let category = kind.category();
        let callback = category == Category::Callback;
        if step.failed && matches!(category, Category::Action | Category::SetUp) {
            // An action that raised delivers nothing, and ends the window of
            // the action before it.
            let source = Source::new(kind, None, None, None, false);
            self.set_source(parent, source);
        }
        if callback {
            // Only an outcome callback's return needs its connector.
            let connector = match step.event {
                Event::ClientConnectionFailed { connector, .. }
                | Event::ClientConnectionLost { connector, .. } => connector,
                _ => ConnectorId(0),
            };
            self.stack.push(Frame {
                seq: step.seq,
                depth: step.depth,
                kind,
                failed: step.failed,
                connector,
            });
        }
        Ok(())
    }

    // ---------------------------------------------------------------- nesting

    /// The hook of a do_start/do_stop at count 0 must come right inside it.
    #[inline(never)]
    fn check_hook(&mut self, step: &Step) -> Check {
        let kind = step.event.kind();
        match self.hook.take() {
            Some(hook) => {
                let rule = if hook.kind == EventKind::StartFactory {
                    Rule::StartHook
                } else {
                    Rule::StopHook
                };
                self.coverage.hit(rule);
                let fits = kind == hook.kind
                    && step.event.factory() == Some(hook.factory)
                    && step.depth == hook.depth + 1
                    && step.within.is_none_or(|w| w == hook.caller);
                if !fits {
                    self.hook = Some(hook);
                    let what = if hook.kind == EventKind::StartFactory {
                        "do_start"
                    } else {
                        "do_stop"
                    };
                    return Err(fail(
                        rule,
                        Some(Object::Factory(hook.factory)),
                        format!(
                            "expected {} at depth {} inside the {what} at seq {} (the start count {}), found {kind} at depth {}",
                            hook.kind,
                            hook.depth + 1,
                            hook.caller,
                            if hook.kind == EventKind::StartFactory { "was 0" } else { "reached 0" },
                            step.depth
                        ),
                    ));
                }
                if step.failed && hook.kind == EventKind::StartFactory && hook.holder.is_some() {
                    self.undo_start(hook.factory, hook.holder);
                }
                Ok(())
            }
            None => match kind {
                EventKind::StartFactory => {
                    self.coverage.hit(Rule::StartHook);
                    Err(fail(
                        Rule::StartHook,
                        step.event.factory().map(Object::Factory),
                        "start_factory outside a do_start that found the start count at 0",
                    ))
                }
                EventKind::StopFactory => {
                    self.coverage.hit(Rule::StopHook);
                    Err(fail(
                        Rule::StopHook,
                        step.event.factory().map(Object::Factory),
                        "stop_factory outside a do_stop that brought the start count to 0",
                    ))
                }
                _ => Ok(()),
            },
        }
    }

    /// Places the event on the call stack: the callbacks it shows to have
    /// returned are popped, and the callback it runs inside is returned.
    #[inline]
    fn enter(&mut self, step: &Step) -> Result<Option<Parent>, Fail> {
        let d = step.depth as usize;
        self.coverage.hit(Rule::Depth);
        if let Some(w) = step.within {
            return self.enter_within(step, w);
        }
        if d > self.stack.len() {
            return Err(self.too_deep(d));
        }
        if self.stack.len() > d {
            self.pop_to(d);
        }
        Ok(if d == 0 {
            None
        } else {
            self.stack.last().map(Parent::of)
        })
    }

    /// [`enter`](Checker::enter) for an event that names its enclosing
    /// callback, which few traces do.
    #[inline(never)]
    fn enter_within(&mut self, step: &Step, w: u64) -> Result<Option<Parent>, Fail> {
        let d = step.depth as usize;
        if step.depth == 0 {
            return Err(fail(
                Rule::Depth,
                None,
                format!("within {w} at depth 0: a top-level event runs inside no callback"),
            ));
        }
        let frame = if let Some(f) = self.stack.iter().find(|f| f.seq == w) {
            Some(Parent::of(f))
        } else if w >= step.seq || w == 0 {
            return Err(fail(
                Rule::Depth,
                None,
                format!("within {w} names no earlier event"),
            ));
        } else {
            match self.recent.find(w, self.last_seq) {
                Found::Event(seen) if seen.event.kind().is_callback() => Some(Parent {
                    seq: seen.seq,
                    depth: seen.depth,
                    kind: seen.event.kind(),
                }),
                Found::Event(_) | Found::Nothing => {
                    return Err(fail(
                        Rule::Depth,
                        None,
                        format!("within {w} names an event that is not a callback"),
                    ))
                }
                Found::Forgotten => None, // Older than the events remembered: trusted.
            }
        };
        if let Some(f) = frame {
            if f.depth as usize + 1 != d {
                return Err(fail(
                    Rule::Depth,
                    None,
                    format!(
                        "depth {d} inside the callback at seq {w}, which ran at depth {}",
                        f.depth
                    ),
                ));
            }
        }
        // The implicit stack follows depth alone ("the nearest earlier
        // event whose depth is one less"), so `within` does not reshape it.
        if d <= self.stack.len() {
            self.pop_to(d);
        }
        if let Some(f) = frame {
            if let Some(pos) = self.stack.iter().position(|s| s.seq == f.seq) {
                return Ok(Some(Parent::of(&self.stack[pos])));
            }
        }
        Ok(frame)
    }

    #[cold]
    fn too_deep(&self, d: usize) -> Fail {
        let running = match self.stack.last() {
            Some(f) => format!(
                "the innermost running callback is {} at seq {} (depth {})",
                f.kind, f.seq, f.depth
            ),
            None => "no callback is running".to_owned(),
        };
        fail(
            Rule::Depth,
            None,
            format!(
                "depth {d} needs a running callback at depth {}, but {running}",
                d - 1
            ),
        )
    }

    /// Pops every callback at depth `d` or deeper: they returned.
    ///
    /// Most often one callback returns, and it decides nothing (it is no
    /// outcome callback). That case needs a load and a store, and is kept
    /// apart from the general loop so that it saves no registers: the
    /// loop's register saves cost more loads and stores than the pop
    /// itself, and the checker's speed follows its loads and stores. (What
    /// a returned callback's actions deliver stays in `sources` until a
    /// later callback at its depth acts; see `set_source`.)
    #[inline(never)]
    fn pop_to(&mut self, d: usize) {
        if self.stack.len() == d + 1
            && !matches!(
                self.stack[d].kind,
                EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
            )
        {
            self.stack.truncate(d);
            return;
        }
        self.pop_all_to(d);
    }

    /// [`pop_to`](Checker::pop_to) in general.
    #[inline(never)]
    fn pop_all_to(&mut self, d: usize) {
        while self.stack.len() > d {
            // Field by field, not the whole frame: it was just written field
            // by field, and a wide copy of it stalled on the store buffer.
            let top = self.stack.len() - 1;
            let parent = Parent::of(&self.stack[top]);
            if matches!(
                parent.kind,
                EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
            ) {
                let frame = self.stack[top];
                self.on_return(&frame);
            }
            self.stack.truncate(top);
        }
    }

    /// An outcome callback (`client_connection_*`) returned: what Twisted
    /// decides at that point. No other return decides anything.
    #[inline(never)]
    fn on_return(&mut self, frame: &Frame) {
        debug_assert!(matches!(
            frame.kind,
            EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
        ));
        let c = frame.connector;
        let Some(conn) = self.connectors.get_mut(c) else {
            return;
        };
        let retried_inside = conn.retry_inside.map(NonZeroU64::get) == Some(frame.seq);
        if retried_inside {
            conn.retry_inside = None;
        }
        match conn.phase {
            ConnectorPhase::Outcome { frame: seq } if seq == frame.seq => {
                // `if self.state == "disconnected": doStop()`, unless the
                // callback raised (P10): then the factory stays started.
                conn.phase = if frame.failed || !conn.holds {
                    ConnectorPhase::Disconnected
                } else {
                    ConnectorPhase::AwaitDoStop {
                        outcome: frame.seq,
                        double: false,
                    }
                };
            }
            ConnectorPhase::Disconnected if retried_inside && !frame.failed => {
                // N2: the retry made inside this callback failed and stopped
                // the factory inside it; Twisted stops it again now.
                conn.phase = ConnectorPhase::AwaitDoStop {
                    outcome: frame.seq,
                    double: true,
                };
            }
            _ => {}
        }
    }

    /// A callback at depth >= 1 needs an action or a hook that delivers it.
    fn check_nested(&mut self, step: &Step, parent: Option<Parent>) -> Check {
        let kind = step.event.kind();
        if matches!(kind, EventKind::StartFactory | EventKind::StopFactory) {
            return Ok(()); // Checked as a hook.
        }
        self.coverage.hit(Rule::Nested);
        let Some(parent) = parent else {
            return Ok(()); // `within` an old callback: trusted.
        };
        let source = self.source_of(parent);
        let delivered = source.is_some_and(|s| s.delivers && self.source_permits(&s, &step.event));
        if delivered {
            let src = source.expect("checked");
            match (src.action, kind) {
                (
                    EventKind::StopConnecting | EventKind::Disconnect,
                    EventKind::ClientConnectionFailed,
                ) if parent.kind == EventKind::StartedConnecting => {
                    self.coverage.hit(Rule::FailedInsideStarted)
                }
                (EventKind::Connect, EventKind::StartedConnecting) => {
                    self.coverage.hit(Rule::NestedRetry)
                }
                (EventKind::LoseConnection | EventKind::Disconnect, EventKind::ConnectionLost) => {
                    self.coverage.hit(Rule::LostInsideLose)
                }
                _ => {}
            }
            return Ok(());
        }
        let why = match source {
            Some(s) if s.delivers => format!(
                "the last action inside it, {}, does not deliver {kind}",
                s.action
            ),
            Some(s) => format!(
                "the last action inside it, {}, delivers nothing synchronously here",
                s.action
            ),
            None => "no action was made inside it".to_owned(),
        };
        Err(fail(
            Rule::Nested,
            self.object_of(&step.event),
            format!(
                "{kind} nested inside {} at seq {}, but {why}",
                parent.kind, parent.seq
            ),
        ))
    }

    fn source_permits(&self, s: &Source, event: &Event) -> bool {
        use EventKind as K;
        let conn_matches = |c: Option<ConnectorId>| c.is_some() && c == s.connector();
        match (s.action, *event) {
            (K::ConnectTcp | K::Connect, Event::DoStart { holder, factory }) => match holder {
                Some(Holder::Connector(c)) => conn_matches(Some(c)),
                Some(Holder::Port(_)) => false,
                None => s
                    .connector()
                    .and_then(|c| self.connectors.get(c))
                    .is_some_and(|c| c.factory == factory),
            },
            (K::ConnectTcp | K::Connect, Event::StartedConnecting { connector, .. }) => {
                conn_matches(Some(connector))
            }
            (K::ListenTcp, Event::DoStart { holder, .. }) => match holder {
                Some(Holder::Port(l)) => s.port() == Some(l),
                Some(Holder::Connector(_)) => false,
                None => true,
            },
            (
                K::StopConnecting | K::Disconnect,
                Event::ClientConnectionFailed { connector, .. },
            ) if s.protocol().is_none() => conn_matches(Some(connector)),
            (
                K::StopConnecting | K::Disconnect | K::LoseConnection,
                Event::DoStop { holder, .. },
            ) => match holder {
                Some(Holder::Connector(c)) => conn_matches(Some(c)),
                Some(Holder::Port(_)) => false,
                None => s.connector().is_some(),
            },
            (
                K::LoseConnection | K::Disconnect,
                Event::StopProducing { protocol } | Event::ConnectionLost { protocol, .. },
            ) => s.protocol() == Some(protocol),
            (K::LoseConnection | K::Disconnect, Event::ClientConnectionLost { connector, .. }) => {
                s.protocol().is_some() && conn_matches(Some(connector))
            }
            (K::Write, Event::PauseProducing { protocol }) => s.protocol() == Some(protocol),
            (
                K::RegisterProducer,
                Event::ResumeProducing { protocol } | Event::StopProducing { protocol },
            ) => s.protocol() == Some(protocol),
            _ => false,
        }
    }

    /// Records an action made inside `parent`, for the callbacks it may
    /// deliver nested at its depth.
    fn set_source(&mut self, parent: Option<Parent>, source: Source) {
        let Some(parent) = parent else { return };
        let d = parent.depth as usize;
        match self.sources.get_mut(d) {
            // Another action of the same callback, running or returned.
            Some(slot) if slot.0 == parent.seq => {
                slot.1 = source;
                return;
            }
            _ => {}
        }
        if self.stack.get(d).is_some_and(|f| f.seq == parent.seq) {
            // The first action of a running callback: its slot takes over
            // from the last callback at its depth that acted, which has
            // returned, and whose source a `within` naming it may still
            // need. Kept here rather than when that callback returned:
            // most callbacks return with nothing to keep.
            if self.sources.len() <= d {
                self.sources.resize(d + 1, (0, source));
            }
            let (seq, old) = self.sources[d];
            if seq != 0 {
                self.remember_source(seq, old);
            }
            self.sources[d] = (parent.seq, source);
        } else if let Some(slot) = self
            .returned_sources
            .iter_mut()
            .find(|(seq, _)| *seq == parent.seq)
        {
            slot.1 = source;
        } else {
            self.remember_source(parent.seq, source);
        }
    }

    /// The last action made inside `frame`, running or returned.
    fn source_of(&self, frame: Parent) -> Option<Source> {
        match self.sources.get(frame.depth as usize) {
            Some((seq, s)) if *seq == frame.seq => Some(*s),
            _ => self
                .returned_sources
                .iter()
                .find(|(seq, _)| *seq == frame.seq)
                .map(|(_, s)| *s),
        }
    }

    /// Keeps the source of a returned callback, for a `within` naming it.
    fn remember_source(&mut self, seq: u64, source: Source) {
        if self.returned_sources.len() < RETURNED_FRAMES {
            self.returned_sources.push((seq, source));
        } else {
            self.returned_sources[self.returned_sources_next] = (seq, source);
            self.returned_sources_next = (self.returned_sources_next + 1) % RETURNED_FRAMES;
        }
    }

    // --------------------------------------------------------------- dispatch

    fn object_of(&self, event: &Event) -> Option<Object> {
        match *event {
            Event::BuildProtocol {
                holder: Holder::Connector(c),
                ..
            } => Some(Object::Connector(c)),
            Event::BuildProtocol {
                holder: Holder::Port(l),
                ..
            } => Some(Object::Port(l)),
            _ => {
                if let Some(p) = event.protocol() {
                    Some(Object::Protocol(p))
                } else if let Some(c) = event.connector() {
                    Some(Object::Connector(c))
                } else if let Some(l) = event.port() {
                    Some(Object::Port(l))
                } else {
                    event.factory().map(Object::Factory)
                }
            }
        }
    }

    /// Every event naming a connector first brings it back if it was idle
    /// (`revive`), in the arm that already has the connector at hand.
    #[inline(always)]
    fn dispatch(&mut self, step: &Step, parent: Option<Parent>) -> Check {
        let seq = step.seq;
        let failed = step.failed;
        match step.event {
            Event::ConnectTcp { factory, connector } => {
                self.revive(connector);
                self.connect_tcp(step, parent, factory, connector)
            }
            Event::ListenTcp { factory, port } => self.listen_tcp(step, parent, factory, port),
            Event::DoStart { factory, holder } => {
                self.revive_holder(holder);
                self.do_start(step, factory, holder)
            }
            Event::StartFactory { .. } | Event::StopFactory { .. } => Ok(()), // hooks: check_hook
            Event::StartedConnecting { factory, connector } => {
                self.revive(connector);
                self.started_connecting(factory, connector)
            }
            Event::BuildProtocol {
                factory,
                holder,
                protocol,
            } => {
                self.revive_holder(Some(holder));
                self.build_protocol(step, factory, holder, protocol)
            }
            Event::ClientConnectionFailed {
                factory,
                connector,
                reason,
            } => {
                self.revive(connector);
                self.connection_failed(seq, factory, connector, reason)
            }
            Event::ClientConnectionLost {
                factory,
                connector,
                reason,
            } => {
                self.revive(connector);
                self.client_connection_lost(seq, factory, connector, reason)
            }
            Event::DoStop { factory, holder } => {
                self.revive_holder(holder);
                self.do_stop(step, factory, holder)
            }
            Event::ConnectionMade { protocol } => self.connection_made(seq, failed, protocol),
            Event::DataReceived { protocol, bytes } => {
                self.data_received(seq, failed, protocol, bytes)
            }
            Event::ReadConnectionLost { protocol } => {
                self.read_connection_lost(seq, failed, protocol)
            }
            Event::WriteConnectionLost { protocol } => {
                self.write_connection_lost(seq, failed, protocol)
            }
            Event::ConnectionLost { protocol, reason } => {
                self.connection_lost(failed, protocol, reason)
            }
            Event::PauseProducing { protocol } => self.pause_producing(protocol),
            Event::ResumeProducing { protocol } => self.resume_producing(protocol),
            Event::StopProducing { protocol } => self.stop_producing(protocol),
            Event::Connect { connector } => {
                self.revive(connector);
                self.connect(step, parent, connector)
            }
            Event::StopConnecting { connector } => {
                self.revive(connector);
                self.stop_connecting(step, parent, connector)
            }
            Event::Disconnect { connector } => {
                self.revive(connector);
                self.disconnect(step, parent, connector)
            }
            Event::Write { protocol, .. } => self.transport_action(step, parent, protocol),
            Event::LoseConnection { protocol } => self.lose_connection(step, parent, protocol),
            Event::LoseWriteConnection { protocol } => {
                self.lose_write_connection(step, parent, protocol)
            }
            Event::AbortConnection { protocol } => self.transport_action(step, parent, protocol),
            Event::RegisterProducer {
                protocol,
                streaming,
            } => self.register_producer(step, parent, protocol, streaming),
            Event::UnregisterProducer { protocol } => {
                self.unregister_producer(step, parent, protocol)
            }
            Event::StopListening { port } => self.stop_listening(step, parent, port),
            Event::PauseReading { protocol } | Event::ResumeReading { protocol } => {
                self.transport_action(step, parent, protocol)
            }
            Event::Shutdown => {
                self.shutdown = true;
                Ok(())
            }
            Event::End => self.end(step),
        }
    }

    // -------------------------------------------------------------- factories

    /// The start count of `factory`, at 0 if it has none yet (a do_stop of
    /// a factory never started keeps it at 0, as Twisted's count does).
    #[inline]
    fn factory_state(&mut self, factory: FactoryId) -> &mut FactoryState {
        if !self.factories.is_live(factory) {
            self.factories.insert(factory, FactoryState::default());
        }
        self.factories.get_mut(factory).expect("inserted")
    }

    fn factory_mismatch(&mut self, object: Object, expected: FactoryId, named: FactoryId) -> Check {
        same_factory(&mut self.coverage, object, expected, named)
    }

    fn do_start(&mut self, step: &Step, factory: FactoryId, holder: Option<Holder>) -> Check {
        self.coverage.hit(Rule::DoStart);
        let holder = match holder {
            Some(h) => h,
            None => self.find_holder(factory, true).ok_or_else(|| {
                fail(
                    Rule::DoStart,
                    Some(Object::Factory(factory)),
                    "do_start with no connector or port that owes one (connect_tcp, connect or listen_tcp)",
                )
            })?,
        };
        match holder {
            Holder::Connector(c) => {
                let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
                if conn.phase != ConnectorPhase::AwaitDoStart {
                    let why = if conn.holds {
                        "it holds a start on its factory already".to_owned()
                    } else {
                        format!("it is {}", phase_name(conn.phase))
                    };
                    return Err(fail(
                        Rule::DoStart,
                        Some(Object::Connector(c)),
                        format!("do_start for a connector that owes none: {why}"),
                    ));
                }
                conn.phase = ConnectorPhase::AwaitStarted;
                conn.holds = true;
            }
            Holder::Port(l) => {
                let Some(port) = self.ports.get(l) else {
                    return Err(self.unknown_port(l));
                };
                let expected = port.factory;
                self.factory_mismatch(Object::Port(l), expected, factory)?;
                let port = self.ports.get_mut(l).expect("present");
                if port.started || port.stuck {
                    return Err(fail(
                        Rule::DoStart,
                        Some(Object::Port(l)),
                        "a second do_start for one port",
                    ));
                }
                port.started = true;
            }
        }
        let f = self.factory_state(factory);
        let at_zero = f.num_ports == 0;
        f.num_ports += 1;
        if at_zero {
            self.hook = Some(Hook {
                kind: EventKind::StartFactory,
                factory,
                depth: step.depth,
                caller: step.seq,
                // Undone here already if do_start itself failed.
                holder: (!step.failed).then_some(holder),
            });
        }
        if step.failed {
            self.undo_start(factory, Some(holder));
        }
        Ok(())
    }

    /// start_factory raised inside do_start: Twisted's count did not move,
    /// and the connect or listen that asked for it raised (P11, S1).
    fn undo_start(&mut self, factory: FactoryId, holder: Option<Holder>) {
        if let Some(f) = self.factories.get_mut(factory) {
            f.num_ports = f.num_ports.saturating_sub(1);
        }
        match holder {
            Some(Holder::Connector(c)) => {
                if let Some(conn) = self.connectors.get_mut(c) {
                    conn.holds = false;
                    conn.phase = ConnectorPhase::Stuck;
                }
            }
            Some(Holder::Port(l)) => {
                if let Some(port) = self.ports.get_mut(l) {
                    port.stuck = true;
                    // Its listen raised: it never listened (S1).
                    port.started = false;
                }
            }
            None => {}
        }
    }

    /// The connector or port of `factory` that owes a do_start (`starting`)
    /// or a do_stop, created first. Only for traces that leave the holder out.
    fn find_holder(&self, factory: FactoryId, starting: bool) -> Option<Holder> {
        let conn = self
            .connectors
            .iter()
            .filter(|(_, s)| {
                s.factory == factory
                    && if starting {
                        s.phase == ConnectorPhase::AwaitDoStart
                    } else {
                        matches!(s.phase, ConnectorPhase::AwaitDoStop { .. })
                    }
            })
            .map(|(c, s)| (s.born, Holder::Connector(c)));
        let port = self
            .ports
            .iter()
            .filter(|(_, s)| {
                s.factory == factory
                    && if starting {
                        !s.started
                    } else {
                        s.stopping || self.shutdown
                    }
            })
            .map(|(l, s)| (s.born, Holder::Port(l)));
        conn.chain(port)
            .min_by_key(|(born, _)| *born)
            .map(|(_, h)| h)
    }

    fn do_stop(&mut self, step: &Step, factory: FactoryId, holder: Option<Holder>) -> Check {
        self.coverage.hit(Rule::DoStop);
        let holder = match holder {
            Some(h) => h,
            None => self.find_holder(factory, false).ok_or_else(|| {
                fail(
                    Rule::DoStop,
                    Some(Object::Factory(factory)),
                    "do_stop with no connector or port that owes one",
                )
            })?,
        };
        // Twisted's count goes down on every accepted do_stop while above 0,
        // whether or not the holder held a start (the N2 double stop).
        match holder {
            Holder::Connector(c) => {
                let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
                match conn.phase {
                    ConnectorPhase::AwaitDoStop { double: false, .. } => {}
                    ConnectorPhase::AwaitDoStop {
                        double: true,
                        outcome,
                    } => {
                        self.coverage.hit(Rule::DoubleStop);
                        if self.profile == Profile::Strict {
                            return Err(fail(
                                Rule::DoubleStop,
                                Some(Object::Connector(c)),
                                format!(
                                    "a second do_stop for one start: the retry inside the {} at seq {outcome} already failed and stopped the factory (Twisted bug N2; the twisted profile accepts it)",
                                    "outcome callback"
                                ),
                            ));
                        }
                        self.coverage.hit(Rule::StopAtZero);
                    }
                    phase => {
                        let why = match phase {
                            ConnectorPhase::Outcome { frame } => {
                                format!("its outcome callback at seq {frame} is still running")
                            }
                            ConnectorPhase::Disconnected if !conn.holds => {
                                "it holds no start on its factory (no matching do_start)".to_owned()
                            }
                            p => format!("it is {}", phase_name(p)),
                        };
                        return Err(fail(
                            Rule::DoStop,
                            Some(Object::Connector(c)),
                            format!("do_stop for a connector that owes none: {why}"),
                        ));
                    }
                }
                conn.holds = false;
                conn.phase = ConnectorPhase::Disconnected;
            }
            Holder::Port(l) => {
                let Some(port) = self.ports.get(l) else {
                    if self.ports.is_ended(l) {
                        return Err(fail(
                            Rule::DoStop,
                            Some(Object::Port(l)),
                            "a second do_stop for one port",
                        ));
                    }
                    return Err(self.unknown_port(l));
                };
                let expected = port.factory;
                self.factory_mismatch(Object::Port(l), expected, factory)?;
                let port = self.ports.get(l).expect("present");
                if !port.started {
                    return Err(fail(
                        Rule::DoStop,
                        Some(Object::Port(l)),
                        "do_stop for a port that was never started",
                    ));
                }
                if !port.stopping && !self.shutdown {
                    return Err(fail(
                        Rule::DoStop,
                        Some(Object::Port(l)),
                        "do_stop for a port before stop_listening (or shutdown)",
                    ));
                }
                self.ports.end(l);
            }
        }
        if let Holder::Connector(c) = holder {
            self.make_idle(c);
        }
        let f = self.factory_state(factory);
        if f.num_ports > 0 {
            f.num_ports -= 1;
            if f.num_ports == 0 {
                self.hook = Some(Hook {
                    kind: EventKind::StopFactory,
                    factory,
                    depth: step.depth,
                    caller: step.seq,
                    holder: None,
                });
                self.factories.forget(factory);
            }
        }
        Ok(())
    }

    #[inline]
    fn revive_holder(&mut self, holder: Option<Holder>) {
        if let Some(Holder::Connector(c)) = holder {
            self.revive(c);
        }
    }

    /// Brings an idle connector back to full state.
    #[inline]
    fn revive(&mut self, c: ConnectorId) {
        if !self.connectors.is_live(c) {
            self.revive_idle(c);
        }
    }

    /// [`revive`](Checker::revive) for a connector that is not live: out of
    /// line, so that the common case (it is live) stays small in every
    /// handler.
    #[inline(never)]
    fn revive_idle(&mut self, c: ConnectorId) {
        let factory = match self.connectors.parked(c) {
            Some(tag) => self.idle_connectors.factory(tag),
            None if self.idle_connectors.is_empty() => None,
            None => self.idle_connectors.take(c),
        };
        if let Some(factory) = factory {
            self.connectors.insert(
                c,
                ConnectorState {
                    factory,
                    phase: ConnectorPhase::Disconnected,
                    holds: false,
                    cancelled: false,
                    retry_inside: None,
                    born: 0,
                },
            );
        }
    }

    /// Keeps only the factory of a connector that is disconnected and holds
    /// nothing, so memory follows live connectors, not connectors ever made.
    fn make_idle(&mut self, c: ConnectorId) {
        if let Some(conn) = self.connectors.get(c) {
            // A retry inside a running outcome callback is still pending (N2).
            if conn.phase == ConnectorPhase::Disconnected
                && !conn.holds
                && conn.retry_inside.is_none()
            {
                let factory = conn.factory;
                let tag = self.idle_connectors.tag(factory);
                if !self.connectors.park(c, tag) {
                    self.connectors.forget(c);
                    self.idle_connectors.insert(c, factory);
                }
            }
        }
    }

    fn unknown_port(&self, l: PortId) -> Fail {
        fail(
            Rule::UnknownId,
            Some(Object::Port(l)),
            "a port no listen_tcp created",
        )
    }

    // ------------------------------------------------------------- connectors

    fn connect_tcp(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        factory: FactoryId,
        c: ConnectorId,
    ) -> Check {
        if step.failed {
            return Ok(()); // It raised before doStart: nothing was created (C1).
        }
        self.coverage.hit(Rule::DuplicateId);
        if self.connectors.is_live(c) {
            return Err(fail(
                Rule::DuplicateId,
                Some(Object::Connector(c)),
                "connect_tcp with a connector id already used",
            ));
        }
        self.connectors
            .insert(c, ConnectorState::new(factory, step.seq));
        self.set_source(
            parent,
            Source::new(EventKind::ConnectTcp, Some(c), None, None, true),
        );
        Ok(())
    }

    fn connector_mut(&mut self, c: ConnectorId) -> Result<&mut ConnectorState, Fail> {
        match self.connectors.get_mut(c) {
            Some(s) => Ok(s),
            None => Err(fail(
                Rule::UnknownId,
                Some(Object::Connector(c)),
                "a connector no connect_tcp created",
            )),
        }
    }

    fn started_connecting(&mut self, factory: FactoryId, c: ConnectorId) -> Check {
        let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
        self.coverage.hit(Rule::StartedConnecting);
        match conn.phase {
            ConnectorPhase::AwaitStarted => {
                conn.phase = ConnectorPhase::Connecting;
                Ok(())
            }
            ConnectorPhase::AwaitDoStart => Err(fail(
                Rule::StartedConnecting,
                Some(Object::Connector(c)),
                "started_connecting before the do_start its connect owes",
            )),
            phase => Err(fail(
                Rule::StartedConnecting,
                Some(Object::Connector(c)),
                format!(
                    "started_connecting, but the connector is {} (one per connect)",
                    phase_name(phase)
                ),
            )),
        }
    }

    fn connect(&mut self, step: &Step, parent: Option<Parent>, c: ConnectorId) -> Check {
        self.coverage.hit(Rule::ConnectState);
        let strict = self.profile == Profile::Strict;
        let running = |seq: u64| {
            parent.is_some_and(|p| p.seq == seq) || self.stack.iter().any(|f| f.seq == seq)
        };
        let retry_frame = match self.connectors.get(c).map(|s| s.phase) {
            Some(ConnectorPhase::Outcome { frame }) if running(frame) => Some(frame),
            _ => None,
        };
        let conn = self.connector_mut(c)?;
        if step.failed {
            return Ok(()); // It raised: nothing changed (C9).
        }
        match conn.phase {
            ConnectorPhase::Disconnected => {
                conn.phase = if conn.holds {
                    ConnectorPhase::AwaitStarted
                } else {
                    ConnectorPhase::AwaitDoStart
                };
                conn.cancelled = false;
            }
            ConnectorPhase::AwaitDoStop { double: true, .. } if strict => {
                // Under strict, Twisted's second stop (N2) is not owed.
                conn.phase = ConnectorPhase::AwaitDoStart;
                conn.cancelled = false;
            }
            ConnectorPhase::Outcome { frame } if retry_frame == Some(frame) => {
                // A retry inside client_connection_*: no do_stop, no do_start (C5).
                conn.phase = if conn.holds {
                    ConnectorPhase::AwaitStarted
                } else {
                    ConnectorPhase::AwaitDoStart
                };
                conn.cancelled = false;
                conn.retry_inside = NonZeroU64::new(frame);
            }
            ConnectorPhase::AwaitDoStop {
                outcome,
                double: false,
            } if parent.is_some_and(|p| p.seq == outcome) => {
                // `within` names the outcome callback: it had not returned
                // (it awaited), so this is a retry inside it after all.
                conn.phase = if conn.holds {
                    ConnectorPhase::AwaitStarted
                } else {
                    ConnectorPhase::AwaitDoStart
                };
                conn.cancelled = false;
            }
            ConnectorPhase::AwaitDoStop { outcome, .. } => {
                self.coverage.hit(Rule::Retry);
                return Err(fail(
                    Rule::Retry,
                    Some(Object::Connector(c)),
                    format!("connect after the outcome callback at seq {outcome} returned, before the do_stop it owes"),
                ));
            }
            phase => {
                return Err(fail(
                    Rule::ConnectState,
                    Some(Object::Connector(c)),
                    format!(
                        "connect on a connector that is {}: Twisted raises (error expected on it)",
                        phase_name(phase)
                    ),
                ));
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::Connect, Some(c), None, None, true),
        );
        Ok(())
    }

    fn stop_connecting(&mut self, step: &Step, parent: Option<Parent>, c: ConnectorId) -> Check {
        self.coverage.hit(Rule::ConnectState);
        let conn = self.connector_mut(c)?;
        if step.failed {
            return Ok(()); // NotConnectingError: nothing changed.
        }
        match conn.phase {
            ConnectorPhase::AwaitDoStart
            | ConnectorPhase::AwaitStarted
            | ConnectorPhase::Connecting => {
                conn.cancelled = true;
            }
            phase => {
                return Err(fail(
                    Rule::ConnectState,
                    Some(Object::Connector(c)),
                    format!(
                        "stop_connecting on a connector that is {}: Twisted raises NotConnectingError (error expected on it)",
                        phase_name(phase)
                    ),
                ));
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::StopConnecting, Some(c), None, None, true),
        );
        Ok(())
    }

    fn disconnect(&mut self, step: &Step, parent: Option<Parent>, c: ConnectorId) -> Check {
        let conn = self.connector_mut(c)?;
        if step.failed {
            return Ok(());
        }
        let source = match conn.phase {
            ConnectorPhase::AwaitDoStart
            | ConnectorPhase::AwaitStarted
            | ConnectorPhase::Connecting => {
                conn.cancelled = true;
                Source::new(EventKind::Disconnect, Some(c), None, None, true)
            }
            ConnectorPhase::Connected {
                protocol: Some(p),
                build_raised: false,
            } => {
                // `transport.loseConnection()` (C8): the same as lose_connection.
                let delivers = match self.protocols.get_mut(p) {
                    Some(ps) => {
                        ps.losing = true;
                        ps.write_closed
                    }
                    None => false,
                };
                Source::new(EventKind::Disconnect, Some(c), None, Some(p), delivers)
            }
            _ => Source::new(EventKind::Disconnect, Some(c), None, None, false),
        };
        self.set_source(parent, source);
        Ok(())
    }

    fn connection_failed(
        &mut self,
        seq: u64,
        factory: FactoryId,
        c: ConnectorId,
        reason: Reason,
    ) -> Check {
        let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
        self.coverage.hit(Rule::Reason);
        if !reason.is_failure() {
            return Err(fail(
                Rule::Reason,
                Some(Object::Connector(c)),
                format!(
                    "client_connection_failed with reason {reason}, which is not a connect failure"
                ),
            ));
        }
        self.coverage.hit(Rule::OneOutcome);
        self.coverage.hit(Rule::OutcomeBeforeStarted);
        match conn.phase {
            ConnectorPhase::Connecting => {
                if conn.cancelled && reason != Reason::UserCancelled {
                    return Err(fail(
                        Rule::Cancel,
                        Some(Object::Connector(c)),
                        format!("the attempt was cancelled (stop_connecting or disconnect), so it fails with user_cancelled, not {reason}"),
                    ));
                }
            }
            ConnectorPhase::Connected {
                build_raised: true, ..
            } => {
                self.coverage.hit(Rule::FailedAfterBuildRaised);
                self.coverage.hit(Rule::BuildOutcome);
            }
            ConnectorPhase::AwaitDoStart | ConnectorPhase::AwaitStarted => {
                return Err(fail(
                    Rule::OutcomeBeforeStarted,
                    Some(Object::Connector(c)),
                    "client_connection_failed before started_connecting",
                ));
            }
            ConnectorPhase::Connected { .. } | ConnectorPhase::Lost { .. } => {
                return Err(fail(
                    Rule::OneOutcome,
                    Some(Object::Connector(c)),
                    "client_connection_failed after a build_protocol that did not raise: the attempt connected",
                ));
            }
            phase => {
                return Err(fail(
                    Rule::OneOutcome,
                    Some(Object::Connector(c)),
                    format!(
                        "client_connection_failed, but the connector is {}",
                        phase_name(phase)
                    ),
                ));
            }
        }
        conn.phase = ConnectorPhase::Outcome { frame: seq };
        conn.cancelled = false;
        Ok(())
    }

    fn client_connection_lost(
        &mut self,
        seq: u64,
        factory: FactoryId,
        c: ConnectorId,
        reason: Reason,
    ) -> Check {
        let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
        self.coverage.hit(Rule::Reason);
        if !reason.is_loss() {
            return Err(fail(
                Rule::Reason,
                Some(Object::Connector(c)),
                format!(
                    "client_connection_lost with reason {reason}, which is not a connection loss"
                ),
            ));
        }
        self.coverage.hit(Rule::LostOrder);
        self.coverage.hit(Rule::LostReason);
        match conn.phase {
            ConnectorPhase::Lost { reason: lost } => {
                if lost != reason {
                    return Err(fail(
                        Rule::LostReason,
                        Some(Object::Connector(c)),
                        format!("client_connection_lost with reason {reason}, but the protocol's connection_lost said {lost}"),
                    ));
                }
            }
            ConnectorPhase::Connected {
                protocol: None,
                build_raised: false,
            } => {
                self.coverage.hit(Rule::LostWithoutProtocol);
                self.coverage.hit(Rule::BuildOutcome);
                if reason != Reason::ConnectionDone {
                    return Err(fail(
                        Rule::LostReason,
                        Some(Object::Connector(c)),
                        format!("build_protocol returned none, so the connection closes with connection_done, not {reason}"),
                    ));
                }
            }
            ConnectorPhase::Connected {
                protocol: Some(p),
                build_raised: false,
            } => {
                return Err(fail(
                    Rule::LostOrder,
                    Some(Object::Connector(c)),
                    format!(
                        "client_connection_lost before the connection_lost of its protocol {p:?}"
                    ),
                ));
            }
            ConnectorPhase::Connected {
                build_raised: true, ..
            } => {
                return Err(fail(
                    Rule::BuildOutcome,
                    Some(Object::Connector(c)),
                    "build_protocol raised, so client_connection_failed follows, not client_connection_lost",
                ));
            }
            ConnectorPhase::Stuck => {
                return Err(fail(
                    Rule::LostOrder,
                    Some(Object::Connector(c)),
                    "client_connection_lost after a connection_lost that raised: Twisted never calls it (P9)",
                ));
            }
            ConnectorPhase::AwaitDoStart
            | ConnectorPhase::AwaitStarted
            | ConnectorPhase::Connecting => {
                return Err(fail(
                    Rule::OutcomeBeforeStarted,
                    Some(Object::Connector(c)),
                    "client_connection_lost, but the attempt never connected",
                ));
            }
            phase => {
                return Err(fail(
                    Rule::OneOutcome,
                    Some(Object::Connector(c)),
                    format!(
                        "client_connection_lost, but the connector is {}",
                        phase_name(phase)
                    ),
                ));
            }
        }
        conn.phase = ConnectorPhase::Outcome { frame: seq };
        Ok(())
    }

    // ------------------------------------------------------------------ ports

    fn listen_tcp(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        factory: FactoryId,
        l: PortId,
    ) -> Check {
        if step.failed {
            return Ok(()); // CannotListenError: no port, no do_start (S1).
        }
        self.coverage.hit(Rule::DuplicateId);
        if self.ports.is_live(l) || self.ports.is_ended(l) {
            return Err(fail(
                Rule::DuplicateId,
                Some(Object::Port(l)),
                "listen_tcp with a port id already used",
            ));
        }
        self.ports.insert(
            l,
            PortState {
                factory,
                started: false,
                stopping: false,
                stuck: false,
                born: step.seq,
            },
        );
        self.set_source(
            parent,
            Source::new(EventKind::ListenTcp, None, Some(l), None, true),
        );
        Ok(())
    }

    fn stop_listening(&mut self, step: &Step, parent: Option<Parent>, l: PortId) -> Check {
        if let Some(port) = self.ports.get_mut(l) {
            if !step.failed {
                port.stopping = true;
            }
        } else if !self.ports.is_ended(l) {
            return Err(self.unknown_port(l));
        }
        // Its do_stop comes from the event loop, never nested (S4).
        self.set_source(
            parent,
            Source::new(EventKind::StopListening, None, Some(l), None, false),
        );
        Ok(())
    }

    // -------------------------------------------------------------- protocols

    fn build_protocol(
        &mut self,
        step: &Step,
        factory: FactoryId,
        holder: Holder,
        protocol: Option<ProtocolId>,
    ) -> Check {
        let seq = step.seq;
        match holder {
            Holder::Connector(c) => {
                let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
                self.coverage.hit(Rule::OutcomeBeforeStarted);
                self.coverage.hit(Rule::OneOutcome);
                match conn.phase {
                    ConnectorPhase::Connecting if conn.cancelled => {
                        return Err(fail(
                            Rule::Cancel,
                            Some(Object::Connector(c)),
                            "build_protocol after the attempt was cancelled: it fails with user_cancelled first",
                        ));
                    }
                    ConnectorPhase::Connecting => {}
                    ConnectorPhase::AwaitDoStart | ConnectorPhase::AwaitStarted => {
                        return Err(fail(
                            Rule::OutcomeBeforeStarted,
                            Some(Object::Connector(c)),
                            "build_protocol before started_connecting",
                        ));
                    }
                    phase => {
                        return Err(fail(
                            Rule::OneOutcome,
                            Some(Object::Connector(c)),
                            format!(
                                "build_protocol, but the connector is {} (one per attempt)",
                                phase_name(phase)
                            ),
                        ));
                    }
                }
                let built = if step.failed { None } else { protocol };
                conn.phase = ConnectorPhase::Connected {
                    protocol: built,
                    build_raised: step.failed,
                };
            }
            Holder::Port(l) => {
                self.coverage.hit(Rule::BuildAfterStop);
                let Some(port) = self.ports.get(l) else {
                    if self.ports.is_ended(l) {
                        return Err(fail(
                            Rule::BuildAfterStop,
                            Some(Object::Port(l)),
                            "build_protocol on a port after its do_stop",
                        ));
                    }
                    return Err(self.unknown_port(l));
                };
                let expected = port.factory;
                self.factory_mismatch(Object::Port(l), expected, factory)?;
                let port = self.ports.get_mut(l).expect("present");
                if !port.started {
                    return Err(fail(
                        Rule::BuildAfterStop,
                        Some(Object::Port(l)),
                        if port.stuck {
                            "build_protocol on a port whose start_factory raised: it never listened"
                        } else {
                            "build_protocol on a port before its do_start"
                        },
                    ));
                }
                if port.stopping {
                    self.coverage.hit(Rule::BuildAfterStopListening);
                }
            }
        }
        let Some(p) = protocol else { return Ok(()) };
        if step.failed {
            return Ok(());
        }
        self.coverage.hit(Rule::DuplicateId);
        if self.protocols.is_live_or_ended(p) {
            return Err(fail(
                Rule::DuplicateId,
                Some(Object::Protocol(p)),
                "build_protocol returned a protocol id already used",
            ));
        }
        self.protocols.insert(p, ProtocolState::new(holder, seq));
        Ok(())
    }

    /// The live protocol a transport callback is delivered to. Callbacks
    /// after connection_lost, before connection_made or after a callback
    /// that raised are refused here.
    fn delivered_to(&mut self, kind: EventKind, p: ProtocolId) -> Result<&mut ProtocolState, Fail> {
        self.coverage.hit(Rule::AfterLost);
        self.coverage.hit(Rule::BeforeMade);
        self.coverage.hit(Rule::UnknownId);
        let ps = match self.protocols.entry(p) {
            Entry::Live(ps) => ps,
            Entry::Ended if kind == EventKind::ConnectionLost => {
                self.coverage.hit(Rule::LostTwice);
                return Err(fail(
                    Rule::LostTwice,
                    Some(Object::Protocol(p)),
                    "a second connection_lost",
                ));
            }
            Entry::Ended => {
                return Err(fail(
                    Rule::AfterLost,
                    Some(Object::Protocol(p)),
                    format!("{kind} after connection_lost"),
                ))
            }
            Entry::Unknown => {
                return Err(fail(
                    Rule::UnknownId,
                    Some(Object::Protocol(p)),
                    format!("{kind} for a protocol no build_protocol returned"),
                ))
            }
        };
        if !ps.made {
            return Err(fail(
                Rule::BeforeMade,
                Some(Object::Protocol(p)),
                format!("{kind} before connection_made"),
            ));
        }
        if let Some(raised) = ps.must_lose {
            self.coverage.hit(Rule::Raised);
            if !matches!(kind, EventKind::ConnectionLost | EventKind::StopProducing) {
                return Err(fail(
                    Rule::Raised,
                    Some(Object::Protocol(p)),
                    format!("{kind}, but the callback at seq {raised} raised, so connection_lost comes next"),
                ));
            }
        }
        Ok(ps)
    }

    fn connection_made(&mut self, seq: u64, failed: bool, p: ProtocolId) -> Check {
        self.coverage.hit(Rule::Made);
        let Some(ps) = self.protocols.get_mut(p) else {
            return Err(if self.protocols.is_ended(p) {
                fail(
                    Rule::Made,
                    Some(Object::Protocol(p)),
                    "connection_made after connection_lost",
                )
            } else {
                fail(
                    Rule::Made,
                    Some(Object::Protocol(p)),
                    "connection_made for a protocol no build_protocol returned",
                )
            });
        };
        if ps.made {
            return Err(fail(
                Rule::Made,
                Some(Object::Protocol(p)),
                "a second connection_made",
            ));
        }
        ps.made = true;
        if failed {
            match ps.owner {
                // The client's connection ends with the exception (P8).
                Holder::Connector(_) => ps.must_lose = NonZeroU64::new(seq),
                // The server's stays open (S3, #5614).
                Holder::Port(_) => self.coverage.hit(Rule::OpenAfterMadeRaised),
            }
        }
        Ok(())
    }

    fn data_received(&mut self, seq: u64, failed: bool, p: ProtocolId, bytes: u64) -> Check {
        let ps = self.delivered_to(EventKind::DataReceived, p)?;
        let (read_closed, losing) = (ps.read_closed, ps.losing);
        if failed {
            ps.must_lose = NonZeroU64::new(seq);
        }
        self.coverage.hit(Rule::EmptyData);
        if bytes == 0 {
            return Err(fail(
                Rule::EmptyData,
                Some(Object::Protocol(p)),
                "data_received with 0 bytes (an empty read is EOF)",
            ));
        }
        self.coverage.hit(Rule::ReadClosed);
        if read_closed {
            return Err(fail(
                Rule::ReadClosed,
                Some(Object::Protocol(p)),
                "data_received after read_connection_lost (the peer's EOF)",
            ));
        }
        if losing {
            self.coverage.hit(Rule::DataAfterLose);
        }
        Ok(())
    }

    fn read_connection_lost(&mut self, seq: u64, failed: bool, p: ProtocolId) -> Check {
        let ps = self.delivered_to(EventKind::ReadConnectionLost, p)?;
        let was = ps.read_closed;
        ps.read_closed = true;
        if failed {
            ps.must_lose = NonZeroU64::new(seq);
        }
        self.coverage.hit(Rule::ReadClosed);
        self.coverage.hit(Rule::HalfClose);
        if was {
            return Err(fail(
                Rule::ReadClosed,
                Some(Object::Protocol(p)),
                "a second read_connection_lost",
            ));
        }
        Ok(())
    }

    fn write_connection_lost(&mut self, seq: u64, failed: bool, p: ProtocolId) -> Check {
        let ps = self.delivered_to(EventKind::WriteConnectionLost, p)?;
        let (closing, closed) = (ps.write_closing, ps.write_closed);
        ps.write_closed = true;
        if failed {
            ps.must_lose = NonZeroU64::new(seq);
        }
        self.coverage.hit(Rule::WriteClosed);
        if !closing {
            return Err(fail(
                Rule::WriteClosed,
                Some(Object::Protocol(p)),
                "write_connection_lost without lose_write_connection",
            ));
        }
        if closed {
            return Err(fail(
                Rule::WriteClosed,
                Some(Object::Protocol(p)),
                "a second write_connection_lost",
            ));
        }
        self.coverage.hit(Rule::HalfClose);
        Ok(())
    }

    fn connection_lost(&mut self, failed: bool, p: ProtocolId, reason: Reason) -> Check {
        self.coverage.hit(Rule::LostTwice);
        let ps = self.delivered_to(EventKind::ConnectionLost, p)?;
        let (owner, producer) = (ps.owner, ps.producer);
        self.coverage.hit(Rule::Reason);
        if !reason.is_loss() {
            return Err(fail(
                Rule::Reason,
                Some(Object::Protocol(p)),
                format!("connection_lost with reason {reason}, which is not a connection loss"),
            ));
        }
        self.coverage.hit(Rule::StopFirst);
        if producer != Producer::None {
            return Err(fail(
                Rule::StopFirst,
                Some(Object::Protocol(p)),
                "connection_lost while a producer is registered: stop_producing comes first",
            ));
        }
        self.protocols.end(p);
        match owner {
            Holder::Connector(c) => {
                if let Some(conn) = self.connectors.get_mut(c) {
                    if matches!(conn.phase, ConnectorPhase::Connected { protocol: Some(q), .. } if q == p)
                    {
                        // P9: a connection_lost that raised ends the connector's story.
                        conn.phase = if failed {
                            ConnectorPhase::Stuck
                        } else {
                            ConnectorPhase::Lost { reason }
                        };
                    }
                }
            }
            Holder::Port(l) => {
                if self.ports.is_ended(l) {
                    self.coverage.hit(Rule::ProtocolOutlivesPort);
                }
            }
        }
        Ok(())
    }

    fn producer_callback(&mut self, kind: EventKind, p: ProtocolId) -> Result<(), Fail> {
        self.coverage.hit(Rule::ProducerCallback);
        if kind == EventKind::StopProducing && self.take_late_producer(p) {
            return Ok(()); // register_producer after connection_lost (PR1).
        }
        let ps = self.delivered_to(kind, p)?;
        let producer = ps.producer;
        let next = match (kind, producer) {
            (EventKind::PauseProducing, Producer::Streaming { .. }) => {
                Producer::Streaming { paused: true }
            }
            (EventKind::ResumeProducing, Producer::Streaming { paused: true }) => {
                Producer::Streaming { paused: false }
            }
            (EventKind::ResumeProducing, Producer::Pull) => Producer::Pull,
            (EventKind::StopProducing, Producer::Streaming { .. } | Producer::Pull) => {
                Producer::None
            }
            (_, producer) => {
                let state = match producer {
                    Producer::None => "no producer is registered",
                    Producer::Pull => "the producer is a pull producer",
                    Producer::Streaming { paused: false } => "the streaming producer is not paused",
                    Producer::Streaming { paused: true } => "the streaming producer is paused",
                };
                return Err(fail(
                    Rule::ProducerCallback,
                    Some(Object::Protocol(p)),
                    format!("{kind}, but {state}"),
                ));
            }
        };
        ps.producer = next;
        Ok(())
    }

    /// One stop_producing owed by a register_producer after connection_lost.
    fn take_late_producer(&mut self, p: ProtocolId) -> bool {
        match self.late_producers.get_mut(&p) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.late_producers.remove(&p);
                true
            }
            None => false,
        }
    }

    fn pause_producing(&mut self, p: ProtocolId) -> Check {
        self.producer_callback(EventKind::PauseProducing, p)
    }

    fn resume_producing(&mut self, p: ProtocolId) -> Check {
        self.producer_callback(EventKind::ResumeProducing, p)
    }

    fn stop_producing(&mut self, p: ProtocolId) -> Check {
        self.producer_callback(EventKind::StopProducing, p)
    }

    /// A transport action that changes nothing the order depends on; on a
    /// lost connection it is a no-op (P3).
    fn transport_action(&mut self, step: &Step, parent: Option<Parent>, p: ProtocolId) -> Check {
        let live_streaming = matches!(action_target(&mut self.protocols, p)?, Some(ps) if matches!(ps.producer, Producer::Streaming { .. }));
        let delivers = step.event.kind() == EventKind::Write && live_streaming && !step.failed;
        self.set_source(
            parent,
            Source::new(step.event.kind(), None, None, Some(p), delivers),
        );
        Ok(())
    }

    fn known_protocol(&self, p: ProtocolId) -> Check {
        if self.protocols.is_live_or_ended(p) {
            Ok(())
        } else {
            Err(fail(
                Rule::UnknownId,
                Some(Object::Protocol(p)),
                "a protocol no build_protocol returned",
            ))
        }
    }

    fn lose_connection(&mut self, step: &Step, parent: Option<Parent>, p: ProtocolId) -> Check {
        let (delivers, connector) = match action_target(&mut self.protocols, p)? {
            Some(ps) => {
                if !step.failed {
                    ps.losing = true;
                }
                let connector = match ps.owner {
                    Holder::Connector(c) => Some(c),
                    Holder::Port(_) => None,
                };
                // Only once the write side is closed does loseConnection
                // deliver connection_lost synchronously (H4).
                (ps.write_closed && !step.failed, connector)
            }
            None => (false, None),
        };
        self.set_source(
            parent,
            Source::new(
                EventKind::LoseConnection,
                connector,
                None,
                Some(p),
                delivers,
            ),
        );
        Ok(())
    }

    fn lose_write_connection(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
    ) -> Check {
        if let Some(ps) = action_target(&mut self.protocols, p)? {
            if !step.failed {
                ps.write_closing = true;
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::LoseWriteConnection, None, None, Some(p), false),
        );
        Ok(())
    }

    fn register_producer(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
        streaming: bool,
    ) -> Check {
        self.known_protocol(p)?;
        self.coverage.hit(Rule::Register);
        if !step.failed {
            match self.protocols.get_mut(p) {
                Some(ps) => {
                    if ps.producer != Producer::None {
                        return Err(fail(
                            Rule::Register,
                            Some(Object::Protocol(p)),
                            "register_producer while a producer is registered: Twisted raises (error expected on it)",
                        ));
                    }
                    ps.producer = if streaming {
                        Producer::Streaming { paused: false }
                    } else {
                        Producer::Pull
                    };
                }
                None => {
                    *self.late_producers.entry(p).or_default() += 1;
                }
            }
        }
        self.set_source(
            parent,
            Source::new(
                EventKind::RegisterProducer,
                None,
                None,
                Some(p),
                !step.failed,
            ),
        );
        Ok(())
    }

    fn unregister_producer(&mut self, step: &Step, parent: Option<Parent>, p: ProtocolId) -> Check {
        if let Some(ps) = action_target(&mut self.protocols, p)? {
            if !step.failed {
                ps.producer = Producer::None;
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::UnregisterProducer, None, None, Some(p), false),
        );
        Ok(())
    }

    // ------------------------------------------------------------------- end

    fn end(&mut self, step: &Step) -> Check {
        self.pop_to(0);
        self.ended = true;
        let mut owed: Vec<(u64, Rule, Object, String)> = Vec::new();
        for (p, ps) in self.protocols.iter() {
            if ps.made {
                owed.push((
                    ps.born,
                    Rule::Unlost,
                    Object::Protocol(p),
                    format!("protocol {p:?} got connection_made but never connection_lost"),
                ));
            }
        }
        for (c, cs) in self.connectors.iter() {
            match cs.phase {
                ConnectorPhase::Disconnected | ConnectorPhase::Stuck => {}
                ConnectorPhase::AwaitDoStop { double: true, .. }
                    if self.profile == Profile::Strict => {}
                ConnectorPhase::AwaitDoStop { .. } => owed.push((
                    cs.born,
                    Rule::Unstopped,
                    Object::Connector(c),
                    format!("connector {c:?} owes the do_stop of its factory"),
                )),
                phase => owed.push((
                    cs.born,
                    Rule::Unresolved,
                    Object::Connector(c),
                    format!(
                        "connector {c:?} is {} and never got its outcome",
                        phase_name(phase)
                    ),
                )),
            }
        }
        for (l, ls) in self.ports.iter() {
            if ls.started && !ls.stuck {
                owed.push((
                    ls.born,
                    Rule::PortUnstopped,
                    Object::Port(l),
                    format!("port {l:?} never got its do_stop"),
                ));
            }
        }
        for rule in [
            Rule::Unlost,
            Rule::Unstopped,
            Rule::Unresolved,
            Rule::PortUnstopped,
            Rule::Unstopped,
        ] {
            self.coverage.hit(rule);
        }
        if owed.is_empty() {
            return Ok(());
        }
        owed.sort_by_key(|(born, ..)| *born);
        match self.profile {
            Profile::Strict => {
                let (_, rule, object, _) = owed[0];
                let all: Vec<String> = owed.iter().map(|(.., m)| m.clone()).collect();
                Err(fail(
                    rule,
                    Some(object),
                    format!("the trace ended with obligations unmet: {}", all.join("; ")),
                ))
            }
            Profile::Twisted => {
                if owed.iter().any(|(_, r, ..)| *r == Rule::Unlost) {
                    self.coverage.hit(Rule::PausedAtShutdown);
                }
                self.warnings
                    .extend(owed.into_iter().map(|(_, rule, object, message)| Warning {
                        rule,
                        seq: step.seq,
                        message,
                        object: Some(object),
                    }));
                Ok(())
            }
        }
    }

    // ------------------------------------------------------------ legal next

    /// Events on `object` that would be legal instead of `step`, at its depth.
    /// A copy to try one event on: everything that judges it, without the
    /// ring of recent events (up to 1,024 of them), which only a violation
    /// report reads and which was most of the cost of a copy.
    fn probe(&self) -> Checker {
        let mut probe = Checker {
            profile: self.profile,
            max_live: self.max_live,
            factories: self.factories.clone(),
            connectors: self.connectors.clone(),
            ports: self.ports.clone(),
            protocols: self.protocols.clone(),
            idle_connectors: self.idle_connectors.clone(),
            late_producers: self.late_producers.clone(),
            stack: self.stack.clone(),
            sources: self.sources.clone(),
            returned_sources: self.returned_sources.clone(),
            returned_sources_next: self.returned_sources_next,
            hook: self.hook,
            shutdown: self.shutdown,
            ended: self.ended,
            last_seq: self.last_seq,
            warnings: Vec::new(),
            coverage: self.coverage.clone(),
            recent: Recent::default(),
            fast: self.fast.clone(),
        };
        probe.refresh_ready();
        probe
    }

    /// Makes `probe` a copy of this checker as [`probe`](Checker::probe)
    /// does, reusing its allocations: trying many events costs copies, not
    /// allocations.
    fn reset_probe(&self, probe: &mut Checker) {
        probe.profile = self.profile;
        probe.max_live = self.max_live;
        probe.factories.clone_from(&self.factories);
        probe.connectors.clone_from(&self.connectors);
        probe.ports.clone_from(&self.ports);
        probe.protocols.clone_from(&self.protocols);
        probe.idle_connectors.clone_from(&self.idle_connectors);
        probe.late_producers.clone_from(&self.late_producers);
        probe.stack.clone_from(&self.stack);
        probe.sources.clone_from(&self.sources);
        probe.returned_sources.clone_from(&self.returned_sources);
        probe.returned_sources_next = self.returned_sources_next;
        probe.hook = self.hook;
        probe.shutdown = self.shutdown;
        probe.ended = self.ended;
        probe.last_seq = self.last_seq;
        probe.warnings.clear();
        probe.coverage.clone_from(&self.coverage);
        probe.fast.clone_from(&self.fast);
        probe.refresh_ready();
    }

    fn legal_for(&self, object: Object, step: &Step) -> Vec<Event> {
        let mut out = Vec::new();
        let mut probe = self.probe();
        // The trials keep the step's `within`, which may name a callback
        // that returned: they need the recent events that remember it.
        probe.recent = self.recent.clone();
        for event in self.candidates(object) {
            self.reset_probe(&mut probe);
            let trial = Step {
                seq: step.seq,
                depth: step.depth,
                within: step.within,
                failed: false,
                event,
            };
            if probe.step_inner(&trial).is_ok() && !out.contains(&event) {
                out.push(event);
            }
        }
        out
    }

    /// Every event the trace could legally continue with now, at every depth
    /// that fits, for the objects the checker knows, plus events that create
    /// new objects (with fresh ids).
    ///
    /// This is slow (it tries each candidate on a copy of the checker): it is
    /// meant for generating callback sequences, not for the hot path.
    ///
    /// ```
    /// use callorder_checker::Checker;
    /// use callorder_trace::{Event, EventKind};
    /// let checker = Checker::default();
    /// let next = checker.legal_next();
    /// assert!(next.iter().any(|s| s.event.kind() == EventKind::ConnectTcp));
    /// assert!(next.iter().all(|s| s.event.kind() != EventKind::DataReceived));
    /// ```
    pub fn legal_next(&self) -> Vec<Step> {
        let seq = self.last_seq + 1;
        let mut objects: Vec<(u64, Object)> = Vec::new();
        objects.extend(
            self.connectors
                .iter()
                .map(|(c, s)| (s.born, Object::Connector(c))),
        );
        objects.extend(self.ports.iter().map(|(l, s)| (s.born, Object::Port(l))));
        objects.extend(
            self.protocols
                .iter()
                .map(|(p, s)| (s.born, Object::Protocol(p))),
        );
        objects.sort_by_key(|(born, o)| (*born, format!("{o:?}")));
        let mut events: Vec<Event> = Vec::new();
        for (_, o) in &objects {
            for e in self.candidates(*o) {
                if !events.contains(&e) {
                    events.push(e);
                }
            }
        }
        let mut idle: Vec<ConnectorId> = self.idle_connectors.ids();
        idle.extend(self.connectors.parked_ids());
        idle.sort_unstable();
        events.extend(
            idle.into_iter()
                .map(|connector| Event::Connect { connector }),
        );
        let factory = self
            .factories
            .iter()
            .map(|(f, _)| f)
            .min()
            .unwrap_or(FactoryId(1));
        let fresh = |n: u64| n.wrapping_add(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        events.push(Event::ConnectTcp {
            factory,
            connector: ConnectorId(fresh(1)),
        });
        events.push(Event::ListenTcp {
            factory,
            port: PortId(fresh(2)),
        });
        events.push(Event::Shutdown);
        events.push(Event::End);
        let mut out = Vec::new();
        let depths: Vec<u32> = (0..=self.stack.len() as u32).collect();
        let mut probe = self.probe();
        for event in events {
            for &depth in &depths {
                let trial = Step {
                    seq,
                    depth,
                    within: None,
                    failed: false,
                    event,
                };
                self.reset_probe(&mut probe);
                if probe.step_inner(&trial).is_ok() {
                    out.push(trial);
                }
            }
        }
        out
    }

    /// Candidate events on one object: every kind with every reason, for
    /// [`legal_next`](Checker::legal_next) and violation reports.
    fn candidates(&self, object: Object) -> Vec<Event> {
        let mut out = Vec::new();
        let fresh_protocol =
            ProtocolId((self.last_seq + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        match object {
            Object::Connector(c) => {
                let Some(cs) = self.connectors.get(c) else {
                    return out;
                };
                let (f, h) = (cs.factory, Some(Holder::Connector(c)));
                out.push(Event::DoStart {
                    factory: f,
                    holder: h,
                });
                out.push(Event::StartedConnecting {
                    factory: f,
                    connector: c,
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Connector(c),
                    protocol: Some(fresh_protocol),
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Connector(c),
                    protocol: None,
                });
                for reason in Reason::ALL {
                    out.push(Event::ClientConnectionFailed {
                        factory: f,
                        connector: c,
                        reason,
                    });
                    out.push(Event::ClientConnectionLost {
                        factory: f,
                        connector: c,
                        reason,
                    });
                }
                out.push(Event::DoStop {
                    factory: f,
                    holder: h,
                });
                out.push(Event::Connect { connector: c });
                out.push(Event::StopConnecting { connector: c });
                out.push(Event::Disconnect { connector: c });
            }
            Object::Port(l) => {
                let Some(ls) = self.ports.get(l) else {
                    return out;
                };
                let f = ls.factory;
                out.push(Event::DoStart {
                    factory: f,
                    holder: Some(Holder::Port(l)),
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Port(l),
                    protocol: Some(fresh_protocol),
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Port(l),
                    protocol: None,
                });
                out.push(Event::StopListening { port: l });
                out.push(Event::DoStop {
                    factory: f,
                    holder: Some(Holder::Port(l)),
                });
            }
            Object::Protocol(p) => {
                out.push(Event::ConnectionMade { protocol: p });
                out.push(Event::DataReceived {
                    protocol: p,
                    bytes: 1,
                });
                out.push(Event::ReadConnectionLost { protocol: p });
                out.push(Event::WriteConnectionLost { protocol: p });
                for reason in Reason::ALL {
                    out.push(Event::ConnectionLost {
                        protocol: p,
                        reason,
                    });
                }
                out.push(Event::PauseProducing { protocol: p });
                out.push(Event::ResumeProducing { protocol: p });
                out.push(Event::StopProducing { protocol: p });
                out.push(Event::Write {
                    protocol: p,
                    bytes: 1,
                });
                out.push(Event::LoseConnection { protocol: p });
                out.push(Event::LoseWriteConnection { protocol: p });
                out.push(Event::AbortConnection { protocol: p });
                out.push(Event::RegisterProducer {
                    protocol: p,
                    streaming: true,
                });
                out.push(Event::RegisterProducer {
                    protocol: p,
                    streaming: false,
                });
                out.push(Event::UnregisterProducer { protocol: p });
                if let Some(ps) = self.protocols.get(p) {
                    if let Holder::Connector(c) = ps.owner {
                        out.extend(self.candidates(Object::Connector(c)));
                    }
                }
            }
            Object::Factory(f) => {
                out.push(Event::StartFactory { factory: f });
                out.push(Event::StopFactory { factory: f });
            }
        }
        out
    }
}

fn phase_name(phase: ConnectorPhase) -> String {
    match phase {
        ConnectorPhase::AwaitDoStart => "waiting for its do_start".into(),
        ConnectorPhase::AwaitStarted => "connecting, before started_connecting".into(),
        ConnectorPhase::Connecting => "connecting".into(),
        ConnectorPhase::Connected {
            protocol: Some(_),
            build_raised: false,
        } => "connected".into(),
        ConnectorPhase::Connected {
            protocol: None,
            build_raised: false,
        } => "connected with no protocol (build_protocol returned none)".into(),
        ConnectorPhase::Connected {
            build_raised: true, ..
        } => "connected, after a build_protocol that raised".into(),
        ConnectorPhase::Lost { .. } => "connected, after its protocol's connection_lost".into(),
        ConnectorPhase::Outcome { frame } => format!("in its outcome callback (seq {frame})"),
        ConnectorPhase::AwaitDoStop { outcome, .. } => {
            format!("disconnected, owing the do_stop of the outcome at seq {outcome}")
        }
        ConnectorPhase::Disconnected => "disconnected".into(),
        ConnectorPhase::Stuck => "stuck after a callback raised".into(),
    }
}

/// Connectors that are disconnected and hold no start, by factory: a bare
/// id each (factories are few, so finding one's factory scans them).
#[derive(Debug, Default)]
struct IdleConnectors {
    by_factory: Vec<(FactoryId, CompactSet)>,
}

impl Clone for IdleConnectors {
    fn clone(&self) -> Self {
        IdleConnectors {
            by_factory: self.by_factory.clone(),
        }
    }

    fn clone_from(&mut self, source: &Self) {
        self.by_factory.clone_from(&source.by_factory);
    }
}

impl IdleConnectors {
    fn is_empty(&self) -> bool {
        self.by_factory.iter().all(|(_, set)| set.is_empty())
    }

    /// The small number a parked connector keeps for its factory.
    fn tag(&mut self, factory: FactoryId) -> u32 {
        match self.by_factory.iter().position(|(f, _)| *f == factory) {
            Some(i) => i as u32,
            None => {
                self.by_factory.push((factory, CompactSet::default()));
                (self.by_factory.len() - 1) as u32
            }
        }
    }

    /// The factory of a tag.
    fn factory(&self, tag: u32) -> Option<FactoryId> {
        self.by_factory.get(tag as usize).map(|(f, _)| *f)
    }

    fn insert(&mut self, c: ConnectorId, factory: FactoryId) {
        match self.by_factory.iter_mut().find(|(f, _)| *f == factory) {
            Some((_, set)) => {
                set.insert(c.0);
            }
            None => {
                let mut set = CompactSet::default();
                set.insert(c.0);
                self.by_factory.push((factory, set));
            }
        }
    }

    /// Removes an idle connector; its factory.
    fn take(&mut self, c: ConnectorId) -> Option<FactoryId> {
        self.by_factory
            .iter_mut()
            .find_map(|(f, set)| set.remove(c.0).then_some(*f))
    }

    fn ids(&self) -> Vec<ConnectorId> {
        self.by_factory
            .iter()
            .flat_map(|(_, set)| set.iter().map(ConnectorId))
            .collect()
    }
}
