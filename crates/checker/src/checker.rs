//! The checker: a pure state machine over trace events.
//!
//! This file holds the [`Checker`] itself and the way through one step
//! (`step`, the general path's `judge`, `step_inner` and `dispatch`); the
//! rules live in a file per section of `docs/spec.md`, so that a rule id
//! leads to its code in one hop:
//!
//! | spec section | rules | file |
//! |---|---|---|
//! | 1. Nesting | T-DEPTH, T-NESTED | `checker/nesting.rs` |
//! | 2. Ids | T-UNKNOWN-ID, T-DUPLICATE-ID, T-FACTORY | `checker/ids.rs` |
//! | 3. Factories | F-DO-START, F-START-HOOK, F-DO-STOP, F-STOP-HOOK, F-DOUBLE-STOP | `checker/factories.rs` |
//! | 4. Connectors | C-... | `checker/connectors.rs` (`checker/idle_connectors.rs`: what is kept of a disconnected one) |
//! | 5. Ports | S-... | `checker/ports.rs` |
//! | 6. Protocols | P-..., H-..., PR-... | `checker/protocols.rs`, `checker/half_close.rs`, `checker/producers.rs` |
//! | 7. The end | P-UNLOST, C-UNRESOLVED, F-UNSTOPPED, S-UNSTOPPED | `checker/end.rs` |
//!
//! Beside them: `checker/fast.rs`, the fast paths (the common transitions
//! of a life cycle, compared with the general path state by state in its
//! tests), `checker/legal_next.rs`, what would have been legal instead
//! of an event (for violation reports and for generating sequences), and
//! `checker/states.rs`, a read-only view of the live objects' states by the
//! names of `docs/spec.md` (section States), for measuring what a test
//! campaign reaches.

use callorder_trace::{
    Category, ConnectorId, Event, EventKind, FactoryId, Holder, Limits, PortId, ProtocolId, Step,
};

mod connectors;
mod end;
mod factories;
mod fast;
mod half_close;
mod idle_connectors;
mod ids;
mod legal_next;
mod nesting;
mod ports;
mod producers;
mod protocols;
mod states;

use factories::Hook;
use fast::FastPaths;
use idle_connectors::IdleConnectors;
use nesting::Parent;
pub use states::ObjectState;

use crate::coverage::Coverage;
use crate::idmap::IdMap;
use crate::profile::Profile;
use crate::rules::Rule;
use crate::state::{ConnectorState, FactoryState, Frame, PortState, ProtocolState, Recent, Source};
use crate::table::Table;
use crate::violation::{CheckError, Object, Violation, Warning};

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
    /// The limit on distinct ids (connectors, ports, protocols).
    max_ids: usize,
    /// How many more ids the trace may create within `max_ids`.
    ids_left: usize,
    /// An id was created past `max_ids`: the step is refused.
    over_ids: bool,
    /// The deepest a callback may run at.
    max_depth: u32,
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
    /// The last `do_start`/`do_stop` with `hooks: false` (its seq and
    /// kind): a hook nested in it is refused with a message that says why.
    hookless: Option<(u64, EventKind)>,
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

impl Checker {
    /// The format's default limit on objects alive at once.
    pub const DEFAULT_MAX_LIVE: usize = 1_000_000;
    /// The format's default limit on distinct ids.
    pub const DEFAULT_MAX_IDS: usize = Limits::DEFAULT_MAX_DISTINCT_IDS;

    /// A checker for a new trace.
    pub fn new(profile: Profile) -> Self {
        Checker {
            profile,
            max_live: Self::DEFAULT_MAX_LIVE,
            max_ids: Self::DEFAULT_MAX_IDS,
            ids_left: Self::DEFAULT_MAX_IDS,
            over_ids: false,
            max_depth: Limits::DEFAULT_MAX_DEPTH,
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
            hookless: None,
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

    /// Sets the limit on distinct ids a trace may create: connectors, ports
    /// and protocols, each remembered after its object ends (a late event
    /// is told from an unknown id by it). Crossing it is a
    /// [`CheckError::TooManyIds`].
    ///
    /// Ids numbered in order (`1, 2, 3`, as callorder's reactors give them
    /// and as the trace reader reads `p1, p2, p3` with numbered ids) cost
    /// next to nothing once ended, since they are kept as ranges; other ids
    /// about 10 bytes each. The limit bounds the latter.
    ///
    /// ```
    /// use callorder_checker::{CheckError, Checker};
    /// use callorder_trace::{ConnectorId, Event, FactoryId, Step};
    /// let mut checker = Checker::default().with_max_distinct_ids(1);
    /// let connect = |seq, c| Step::new(seq, Event::ConnectTcp { factory: FactoryId(1), connector: ConnectorId(c) });
    /// checker.step(&connect(1, 1)).unwrap();
    /// let err = checker.step(&connect(2, 2)).unwrap_err();
    /// assert!(matches!(err, CheckError::TooManyIds { seq: 2, limit: 1 }));
    /// ```
    #[must_use]
    pub fn with_max_distinct_ids(mut self, max_ids: usize) -> Self {
        self.max_ids = max_ids;
        self.ids_left = max_ids;
        self
    }

    /// Sets the deepest `depth` a callback may run at (callbacks running
    /// inside one another: each is a frame the checker keeps until it
    /// returns). A callback deeper is a [`CheckError::TooDeep`]; one
    /// deeper than the callbacks running allow is a violation (T-DEPTH),
    /// as without the limit.
    ///
    /// ```
    /// use callorder_checker::{CheckError, Checker};
    /// use callorder_trace::{Event, FactoryId, Holder, PortId, Step};
    /// let (f, l) = (FactoryId(1), PortId(1));
    /// let mut checker = Checker::default().with_max_depth(0);
    /// checker.step(&Step::new(1, Event::ListenTcp { factory: f, port: l })).unwrap();
    /// checker.step(&Step::new(2, Event::DoStart { factory: f, holder: Some(Holder::Port(l)) })).unwrap();
    /// let hook = Step::new(3, Event::StartFactory { factory: f }).at_depth(1);
    /// assert!(matches!(checker.step(&hook), Err(CheckError::TooDeep { seq: 3, limit: 0 })));
    /// ```
    #[must_use]
    pub fn with_max_depth(mut self, max_depth: u32) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// Sets the limits the checker enforces from a reader's [`Limits`]:
    /// [`max_live_objects`](Limits::max_live_objects),
    /// [`max_distinct_ids`](Limits::max_distinct_ids) and
    /// [`max_depth`](Limits::max_depth).
    ///
    /// ```
    /// use callorder_checker::Checker;
    /// use callorder_trace::Limits;
    /// let checker = Checker::default().with_limits(&Limits { max_distinct_ids: 5, ..Limits::default() });
    /// # let _ = checker;
    /// ```
    #[must_use]
    pub fn with_limits(self, limits: &Limits) -> Self {
        self.with_max_live(limits.max_live_objects)
            .with_max_distinct_ids(limits.max_distinct_ids)
            .with_max_depth(limits.max_depth)
    }

    /// Counts a new connector, port or protocol id against the distinct-id
    /// limit; `judge` refuses the step that crossed it.
    #[inline]
    fn new_id(&mut self) {
        match self.ids_left.checked_sub(1) {
            Some(left) => self.ids_left = left,
            None => self.over_ids = true,
        }
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
                if self.over_ids {
                    return Err(CheckError::TooManyIds {
                        seq: step.seq,
                        limit: self.max_ids,
                    });
                }
                // Only the general path takes nested callbacks.
                if step.depth > self.max_depth && step.event.kind().is_callback() {
                    return Err(CheckError::TooDeep {
                        seq: step.seq,
                        limit: self.max_depth,
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
            caller: step.caller,
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
}
