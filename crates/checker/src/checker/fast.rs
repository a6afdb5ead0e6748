//! Fast paths: the common transitions of a life cycle, checked without the
//! general machinery of a step.
//!
//! Almost every event of a real trace is a top-level callback (depth 0, no
//! `within`, no error) that moves one object one step along its life cycle
//! (`do_start` for a connector that owes one, `started_connecting`,
//! `build_protocol`, `connection_made`, `data_received`, `connection_lost`,
//! `client_connection_lost`, `do_stop` that leaves the factory started, the
//! `connect_tcp` of a new connector), or a `write` or `lose_connection` of
//! the innermost running callback. Each [`Transition`] checks exactly the
//! state the general handler would accept for that event, and updates it
//! exactly as that handler would; anything else (an unusual state, a
//! violation, a hook to come, a callback nested or raised, ids outside the
//! dense index) goes to the general path before anything is changed, and
//! the general path decides.
//!
//! A step's time follows its loads and stores (see `docs/performance.md`),
//! and the general path pays for its generality on every event: the call
//! stack's parent kept across calls, a coverage count per rule checked, the
//! registers saved around each handler. A transition counts its coverage
//! once ([`Transition::rules`] says which rules that stands for), and its
//! function calls nothing on its common path, so it saves no registers.
//!
//! The fast paths change no verdict, no violation and no coverage count:
//! `Checker::with_fast_paths(false)` turns them off, and the tests below
//! compare both ways, state for state, on every fixture, on mutants of the
//! legal ones and on a long generated trace.

use callorder_trace::{
    ConnectorId, Event, EventKind, FactoryId, Holder, PortId, ProtocolId, Reason, Step,
};

use super::nesting::RETURNED_FRAMES;
use super::Checker;
use crate::coverage::Coverage;
use crate::rules::Rule;
use crate::state::{ConnectorPhase, ConnectorState, Frame, Producer, ProtocolState, Source};
use crate::table::ENDED;
use crate::violation::CheckError;

/// A top-level event that the fast paths check, in the one state each
/// accepts it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transition {
    /// `connect_tcp` with a connector id never seen.
    ConnectTcp,
    /// `do_start` for a connector that owes one, on a factory already started.
    DoStartConnector,
    /// `started_connecting` after the connector's `do_start`.
    StartedConnecting,
    /// `build_protocol` returning a new protocol for a connecting connector.
    BuildForConnector,
    /// `build_protocol` returning a new protocol for a listening port.
    BuildForPort,
    /// `connection_made` of a built protocol.
    ConnectionMade,
    /// `data_received` on an open connection that is not closing.
    DataReceived,
    /// `connection_lost` of a protocol with no producer.
    ConnectionLost,
    /// `client_connection_lost` with the reason its protocol's
    /// `connection_lost` gave.
    ClientConnectionLost,
    /// `do_stop` for a connector whose outcome callback returned, on a
    /// factory that another holder keeps started.
    DoStopConnector,
    /// `write` inside a running callback, on a live protocol.
    Write,
    /// `lose_connection` inside a running callback, on a live protocol.
    LoseConnection,
}

impl Transition {
    pub(crate) const COUNT: usize = 12;
    const ALL: [Transition; Transition::COUNT] = [
        Transition::ConnectTcp,
        Transition::DoStartConnector,
        Transition::StartedConnecting,
        Transition::BuildForConnector,
        Transition::BuildForPort,
        Transition::ConnectionMade,
        Transition::DataReceived,
        Transition::ConnectionLost,
        Transition::ClientConnectionLost,
        Transition::DoStopConnector,
        Transition::Write,
        Transition::LoseConnection,
    ];

    /// The event a transition takes.
    const fn kind(self) -> EventKind {
        match self {
            Transition::ConnectTcp => EventKind::ConnectTcp,
            Transition::DoStartConnector => EventKind::DoStart,
            Transition::StartedConnecting => EventKind::StartedConnecting,
            Transition::BuildForConnector | Transition::BuildForPort => EventKind::BuildProtocol,
            Transition::ConnectionMade => EventKind::ConnectionMade,
            Transition::DataReceived => EventKind::DataReceived,
            Transition::ConnectionLost => EventKind::ConnectionLost,
            Transition::ClientConnectionLost => EventKind::ClientConnectionLost,
            Transition::DoStopConnector => EventKind::DoStop,
            Transition::Write => EventKind::Write,
            Transition::LoseConnection => EventKind::LoseConnection,
        }
    }

    /// The rules the general path checks (counts in [`Coverage`]) for this
    /// event in this state: every step is checked against T-AFTER-END and
    /// T-DEPTH, then each handler adds its own.
    const fn rules(self) -> &'static [Rule] {
        use Rule::*;
        match self {
            Transition::ConnectTcp => &[AfterEnd, Depth, DuplicateId],
            Transition::DoStartConnector => &[AfterEnd, Depth, DoStart, FactoryMismatch],
            Transition::StartedConnecting => &[AfterEnd, Depth, FactoryMismatch, StartedConnecting],
            Transition::BuildForConnector => &[
                AfterEnd,
                Depth,
                FactoryMismatch,
                OutcomeBeforeStarted,
                OneOutcome,
                DuplicateId,
            ],
            Transition::BuildForPort => &[
                AfterEnd,
                Depth,
                BuildAfterStop,
                FactoryMismatch,
                DuplicateId,
            ],
            Transition::ConnectionMade => &[AfterEnd, Depth, Made],
            Transition::DataReceived => &[
                AfterEnd, Depth, AfterLost, BeforeMade, UnknownId, EmptyData, ReadClosed,
            ],
            Transition::ConnectionLost => &[
                AfterEnd, Depth, LostTwice, AfterLost, BeforeMade, UnknownId, Reason, StopFirst,
            ],
            Transition::ClientConnectionLost => &[
                AfterEnd,
                Depth,
                FactoryMismatch,
                Reason,
                LostOrder,
                LostReason,
            ],
            Transition::DoStopConnector => &[AfterEnd, Depth, DoStop, FactoryMismatch],
            Transition::Write | Transition::LoseConnection => &[AfterEnd, Depth],
        }
    }
}

/// The fast paths' own state.
#[derive(Clone, Debug)]
pub(crate) struct FastPaths {
    /// Turned on (the default) or off by `with_fast_paths`.
    pub enabled: bool,
    /// Whether the next event may take a fast path: enabled, and no hook is
    /// owed, the trace did not end, the reactor did not shut down, and the
    /// ring of recent events is allocated (by the first event). Kept by the
    /// general path, the only one that changes those.
    pub ready: bool,
    /// How many events took each transition: their coverage.
    pub counts: [u64; Transition::COUNT],
}

impl FastPaths {
    pub(crate) fn new() -> Self {
        FastPaths {
            enabled: true,
            ready: false,
            counts: [0; Transition::COUNT],
        }
    }

    /// Adds the coverage of the events that took a fast path to `coverage`.
    pub(crate) fn add_coverage(&self, coverage: &mut Coverage) {
        for (t, &n) in Transition::ALL.iter().zip(self.counts.iter()) {
            if n > 0 {
                for &rule in t.rules() {
                    coverage.add(rule, n);
                }
            }
        }
    }
}

/// What a fast path answers: `Ok`, or whatever the general path says of an
/// event it declined. One word: it comes back in a register.
type Verdict = Result<(), Box<CheckError>>;

impl Checker {
    /// Judges `step` on a fast path if one takes it, else on the general
    /// path.
    ///
    /// This dispatch inlines into `step`'s caller. Each fast path is a
    /// function of its own that calls nothing on its common path and, when
    /// it declines, calls the general path last (a jump): none saves
    /// registers it does not need.
    #[inline(always)]
    pub(crate) fn fast_step(&mut self, step: &Step) -> Verdict {
        if !self.fast.ready || step.failed || step.within.is_some() {
            return self.general_step(step);
        }
        if step.depth != 0 {
            return self.fast_action(step);
        }
        if !self.returns_plainly() {
            // A hook is judged before the call stack moves (`check_hook`),
            // and no fast path takes one.
            if matches!(
                step.event,
                Event::StartFactory { .. } | Event::StopFactory { .. }
            ) {
                return self.general_step(step);
            }
            return self.return_all_then(step);
        }
        // Each arm calls its path last: a jump, with no registers saved.
        match step.event {
            Event::ConnectTcp { factory, connector } => {
                self.fast_connect_tcp(step, factory, connector)
            }
            Event::DoStart {
                factory,
                holder: Some(Holder::Connector(c)),
            } => self.fast_do_start(step, factory, c),
            Event::StartedConnecting { factory, connector } => {
                self.fast_started_connecting(step, factory, connector)
            }
            Event::BuildProtocol {
                factory,
                holder: Holder::Connector(c),
                protocol: Some(p),
            } => self.fast_build_for_connector(step, factory, c, p),
            Event::BuildProtocol {
                factory,
                holder: Holder::Port(l),
                protocol: Some(p),
            } => self.fast_build_for_port(step, factory, l, p),
            Event::ConnectionMade { protocol } => self.fast_connection_made(step, protocol),
            Event::DataReceived { protocol, bytes } => {
                self.fast_data_received(step, protocol, bytes)
            }
            Event::ConnectionLost { protocol, reason } => {
                self.fast_connection_lost(step, protocol, reason)
            }
            Event::ClientConnectionLost {
                factory,
                connector,
                reason,
            } => self.fast_client_connection_lost(step, factory, connector, reason),
            Event::DoStop {
                factory,
                holder: Some(Holder::Connector(c)),
            } => self.fast_do_stop(step, factory, c),
            _ => self.general_step(step),
        }
    }

    /// Whether every running callback returned, as a top-level event shows,
    /// without calls: nothing runs, or one callback that decides nothing
    /// on its return. Otherwise the event goes to
    /// [`return_all_then`](Checker::return_all_then).
    #[inline(always)]
    fn returns_plainly(&self) -> bool {
        match self.stack.len() {
            0 => true,
            1 => !matches!(
                self.stack[0].kind,
                EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
            ),
            _ => false,
        }
    }

    /// Pops every running callback (an outcome callback's return decides
    /// what Twisted does next), then judges the top-level `step` again,
    /// now with nothing running. The general path pops them first too
    /// (for any event but a hook), so this stays done if no fast path
    /// takes the event.
    #[cold]
    #[inline(never)]
    fn return_all_then(&mut self, step: &Step) -> Verdict {
        self.pop_to(0);
        self.fast_step(step)
    }

    /// The end of a top-level callback taken by a fast path: it runs until
    /// the next event at its depth. Its frame takes the place of the one
    /// callback that returned, if one did (no call to grow the stack).
    #[inline(always)]
    fn taken(&mut self, step: &Step, transition: Transition, connector: ConnectorId) -> Verdict {
        match self.stack.first_mut() {
            // Field by field: a frame built whole and copied was read back
            // wider than it was written, which stalls on the store buffer.
            // (Its depth stays 0: the stack is indexed by depth.)
            Some(top) => {
                debug_assert_eq!(top.depth, 0);
                top.seq = step.seq;
                top.kind = transition.kind();
                top.failed = false;
                top.connector = connector;
            }
            None => {
                let frame = Frame {
                    seq: step.seq,
                    depth: 0,
                    kind: transition.kind(),
                    failed: false,
                    connector,
                };
                return self.taken_first(step, transition, frame);
            }
        }
        self.record(step, transition, 0)
    }

    /// [`taken`](Checker::taken) with nothing running before.
    #[inline(never)]
    fn taken_first(&mut self, step: &Step, transition: Transition, frame: Frame) -> Verdict {
        self.stack.push(frame);
        self.record(step, transition, 0)
    }

    /// What every step the fast paths take ends with, as the general path
    /// ends its own: its coverage, its seq, and its place among the recent
    /// events. (`depth` is the step's, a constant on the top-level paths.)
    #[inline(always)]
    fn record(&mut self, step: &Step, transition: Transition, depth: u32) -> Verdict {
        self.fast.counts[transition as usize] += 1;
        self.last_seq = step.seq;
        self.recent.push_allocated(step.seq, depth, step.event);
        Ok(())
    }

    /// Whether this event creates an object past the live limit, or an id
    /// past the distinct-id limit: the general path reports it.
    #[inline(always)]
    fn at_limits(&self) -> bool {
        self.live_objects() >= self.max_live || self.ids_left == 0
    }

    #[inline(never)]
    fn fast_connect_tcp(&mut self, step: &Step, factory: FactoryId, c: ConnectorId) -> Verdict {
        // A connector id seen before (live, idle or parked) takes the
        // general path, which revives or refuses it.
        if !self.connectors.can_insert_dense(c)
            || !self.idle_connectors.is_empty()
            || self.at_limits()
        {
            return self.general_step(step);
        }
        self.stack.clear();
        self.connectors
            .insert_dense(c, ConnectorState::new(factory, step.seq));
        self.ids_left -= 1;
        // An action: no frame.
        self.record(step, Transition::ConnectTcp, 0)
    }

    #[inline(never)]
    fn fast_do_start(&mut self, step: &Step, factory: FactoryId, c: ConnectorId) -> Verdict {
        // At count 0, start_factory must follow: the general path owes it.
        // With `hooks: false` the count does not move: the general path.
        match self.factories.get_dense(factory) {
            Some(f) if f.num_ports > 0 && step.runs_factory_hooks() => {}
            _ => return self.general_step(step),
        }
        match self.connectors.get_dense_mut(c) {
            Some(conn)
                if conn.factory == factory
                    && matches!(conn.phase, ConnectorPhase::AwaitDoStart) =>
            {
                conn.phase = ConnectorPhase::AwaitStarted;
                conn.holds = true;
            }
            _ => return self.general_step(step),
        }
        if let Some(f) = self.factories.get_dense_mut(factory) {
            f.num_ports += 1;
        }
        self.taken(step, Transition::DoStartConnector, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_started_connecting(
        &mut self,
        step: &Step,
        factory: FactoryId,
        c: ConnectorId,
    ) -> Verdict {
        match self.connectors.get_dense_mut(c) {
            Some(conn)
                if conn.factory == factory
                    && matches!(conn.phase, ConnectorPhase::AwaitStarted) =>
            {
                conn.phase = ConnectorPhase::Connecting;
            }
            _ => return self.general_step(step),
        }
        self.taken(step, Transition::StartedConnecting, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_build_for_connector(
        &mut self,
        step: &Step,
        factory: FactoryId,
        c: ConnectorId,
        p: ProtocolId,
    ) -> Verdict {
        if !self.protocols.can_insert_dense(p) || self.at_limits() {
            return self.general_step(step);
        }
        match self.connectors.get_dense_mut(c) {
            Some(conn)
                if conn.factory == factory
                    && matches!(conn.phase, ConnectorPhase::Connecting)
                    && !conn.cancelled =>
            {
                conn.phase = ConnectorPhase::Connected {
                    protocol: Some(p),
                    build_raised: false,
                };
            }
            _ => return self.general_step(step),
        }
        self.protocols
            .insert_dense(p, ProtocolState::new(Holder::Connector(c), step.seq));
        self.ids_left -= 1;
        self.taken(step, Transition::BuildForConnector, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_build_for_port(
        &mut self,
        step: &Step,
        factory: FactoryId,
        l: PortId,
        p: ProtocolId,
    ) -> Verdict {
        match self.ports.get_dense(l) {
            Some(port) if port.factory == factory && port.started && !port.stopping => {}
            _ => return self.general_step(step),
        }
        if !self.protocols.can_insert_dense(p) || self.at_limits() {
            return self.general_step(step);
        }
        self.protocols
            .insert_dense(p, ProtocolState::new(Holder::Port(l), step.seq));
        self.ids_left -= 1;
        self.taken(step, Transition::BuildForPort, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_connection_made(&mut self, step: &Step, p: ProtocolId) -> Verdict {
        match self.protocols.get_dense_mut(p) {
            Some(ps) if !ps.made => ps.made = true,
            _ => return self.general_step(step),
        }
        self.taken(step, Transition::ConnectionMade, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_data_received(&mut self, step: &Step, p: ProtocolId, bytes: u64) -> Verdict {
        match self.protocols.get_dense(p) {
            Some(ps)
                if ps.made
                    && ps.must_lose.is_none()
                    && bytes != 0
                    && !ps.read_closed
                    && !ps.losing => {}
            _ => return self.general_step(step),
        }
        self.taken(step, Transition::DataReceived, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_connection_lost(&mut self, step: &Step, p: ProtocolId, reason: Reason) -> Verdict {
        if !self.protocols.can_end_dense(p) {
            return self.general_step(step);
        }
        let owner = match self.protocols.get_dense(p) {
            Some(ps)
                if ps.made
                    && ps.must_lose.is_none()
                    && ps.producer == Producer::None
                    && reason.is_loss() =>
            {
                ps.owner
            }
            _ => return self.general_step(step),
        };
        match owner {
            Holder::Connector(c) => {
                // As the general path: only the connector's own protocol
                // moves it on.
                let Some(conn) = self.connectors.get_dense_mut(c) else {
                    return self.general_step(step);
                };
                if matches!(conn.phase, ConnectorPhase::Connected { protocol: Some(q), .. } if q == p)
                {
                    conn.phase = ConnectorPhase::Lost { reason };
                }
            }
            // A protocol outliving its port is counted by the general path.
            Holder::Port(l) => match self.ports.dense_slot(l) {
                Some(s) if s != ENDED => {}
                _ => return self.general_step(step),
            },
        }
        self.protocols.end_dense(p);
        self.taken(step, Transition::ConnectionLost, ConnectorId(0))
    }

    #[inline(never)]
    fn fast_client_connection_lost(
        &mut self,
        step: &Step,
        factory: FactoryId,
        c: ConnectorId,
        reason: Reason,
    ) -> Verdict {
        match self.connectors.get_dense_mut(c) {
            Some(conn)
                if conn.factory == factory
                    && matches!(conn.phase, ConnectorPhase::Lost { reason: r } if r == reason) =>
            {
                conn.phase = ConnectorPhase::Outcome { frame: step.seq };
            }
            _ => return self.general_step(step),
        }
        // An outcome callback: its return decides (`on_return`), so its
        // frame keeps its connector.
        self.taken(step, Transition::ClientConnectionLost, c)
    }

    #[inline(never)]
    fn fast_do_stop(&mut self, step: &Step, factory: FactoryId, c: ConnectorId) -> Verdict {
        // At count 1, stop_factory must follow: the general path owes it.
        // With `hooks: false` the count does not move: the general path.
        match self.factories.get_dense(factory) {
            Some(f) if f.num_ports > 1 && step.runs_factory_hooks() => {}
            _ => return self.general_step(step),
        }
        match self.connectors.get_dense_mut(c) {
            Some(conn)
                if conn.factory == factory
                    && matches!(
                        conn.phase,
                        ConnectorPhase::AwaitDoStop { double: false, .. }
                    ) =>
            {
                conn.holds = false;
                conn.phase = ConnectorPhase::Disconnected;
            }
            _ => return self.general_step(step),
        }
        if let Some(f) = self.factories.get_dense_mut(factory) {
            f.num_ports -= 1;
        }
        self.make_idle(c);
        self.taken(step, Transition::DoStopConnector, ConnectorId(0))
    }

    /// An action of the innermost running callback: a `write` or
    /// `lose_connection` on a live protocol. What it delivers goes to its
    /// callback's slot in `sources`, as `set_source` would put it.
    #[inline(never)]
    fn fast_action(&mut self, step: &Step) -> Verdict {
        let d = step.depth as usize;
        // Deeper callbacks that returned, or a first action at this depth
        // (its slot is made), take the general path.
        if d != self.stack.len() || self.sources.len() < d {
            return self.general_step(step);
        }
        let parent_seq = self.stack[d - 1].seq;
        // The callback's first action takes the slot of another, which
        // returned; its source is remembered for a `within` naming it, in
        // a ring the general path fills first.
        let last_seq = self.sources[d - 1].0;
        let remembers = last_seq != 0 && last_seq != parent_seq;
        if remembers && self.returned_sources.len() < RETURNED_FRAMES {
            return self.general_step(step);
        }
        let (transition, source) = match step.event {
            Event::Write { protocol, .. } => {
                let Some(ps) = self.protocols.get_dense(protocol) else {
                    return self.general_step(step);
                };
                let streaming = matches!(ps.producer, Producer::Streaming { .. });
                let source = Source::new(EventKind::Write, None, None, Some(protocol), streaming);
                (Transition::Write, source)
            }
            Event::LoseConnection { protocol } => {
                let Some(ps) = self.protocols.get_dense_mut(protocol) else {
                    return self.general_step(step);
                };
                ps.losing = true;
                let connector = match ps.owner {
                    Holder::Connector(c) => Some(c),
                    Holder::Port(_) => None,
                };
                // Only once the write side is closed does loseConnection
                // deliver connection_lost synchronously (H4).
                let source = Source::new(
                    EventKind::LoseConnection,
                    connector,
                    None,
                    Some(protocol),
                    ps.write_closed,
                );
                (Transition::LoseConnection, source)
            }
            _ => return self.general_step(step),
        };
        let slot = &mut self.sources[d - 1];
        let last = slot.1;
        *slot = (parent_seq, source);
        if remembers {
            // `remember_source` on a full ring.
            let next = self.returned_sources_next;
            self.returned_sources[next] = (last_seq, last);
            self.returned_sources_next = (next + 1) % RETURNED_FRAMES;
        }
        self.record(step, transition, step.depth)
    }
}

/// The fast paths against the general path: the same verdict, violation,
/// coverage and state after every event.
#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fs;
    use std::io::BufReader;
    use std::path::PathBuf;

    use callorder_trace::{Event, Step, TraceReader};

    use super::{Checker, Transition};
    use crate::profile::Profile;

    /// Every trace of the bundled corpus that parses, with its file name.
    fn corpus() -> Vec<(String, Vec<Step>)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted");
        let mut traces = Vec::new();
        for dir in ["legal", "quirks", "illegal", "forwarding"] {
            let mut paths: Vec<PathBuf> = fs::read_dir(root.join(dir))
                .expect("the bundled fixtures")
                .map(|e| e.expect("a directory entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect();
            paths.sort();
            for path in paths {
                let file = fs::File::open(&path).expect("readable");
                let steps: Result<Vec<Step>, _> = TraceReader::new(BufReader::new(file))
                    .map(|r| r.map(|r| r.step))
                    .collect();
                if let Ok(steps) = steps {
                    traces.push((format!("{dir}/{}", path.display()), steps));
                }
            }
        }
        assert!(traces.len() > 700, "the corpus is bundled");
        traces
    }

    /// The same trace with ids numbered 1, 2, 3 per kind in order of first
    /// use, as callorder's reactors number objects (the tables' dense
    /// index), where trace files give 64-bit name hashes.
    fn renumbered(steps: &[Step]) -> Vec<Step> {
        let mut numbering: [HashMap<u64, u64>; 4] = Default::default();
        steps
            .iter()
            .map(|s| {
                let mut s = *s;
                s.event = s.event.map_ids(&mut |kind, id| {
                    let ids = &mut numbering[kind as usize];
                    let next = ids.len() as u64 + 1;
                    *ids.entry(id).or_insert(next)
                });
                s
            })
            .collect()
    }

    /// Everything the checker knows, but how it got there: the model's
    /// fields, and the coverage with the fast paths' counts added in, by
    /// name. The pattern names every field, so a new one must be placed here.
    fn model(c: &Checker) -> Vec<(&'static str, String)> {
        let Checker {
            profile,
            max_live,
            max_ids,
            ids_left,
            over_ids,
            max_depth,
            factories,
            connectors,
            ports,
            protocols,
            idle_connectors,
            late_producers,
            stack,
            sources,
            returned_sources,
            returned_sources_next,
            hook,
            hookless,
            shutdown,
            ended,
            last_seq,
            warnings,
            coverage: _,
            recent,
            fast: _,
        } = c;
        vec![
            ("profile", format!("{profile:?}")),
            ("max_live", format!("{max_live}")),
            ("ids", format!("{max_ids} {ids_left} {over_ids}")),
            ("max_depth", format!("{max_depth}")),
            ("factories", format!("{factories:?}")),
            ("connectors", format!("{connectors:?}")),
            ("ports", format!("{ports:?}")),
            ("protocols", format!("{protocols:?}")),
            ("idle_connectors", format!("{idle_connectors:?}")),
            ("late_producers", format!("{late_producers:?}")),
            ("stack", format!("{stack:?}")),
            ("sources", format!("{sources:?}")),
            (
                "returned_sources",
                format!("{returned_sources:?} {returned_sources_next}"),
            ),
            ("hook", format!("{hook:?} {hookless:?}")),
            (
                "flags",
                format!("shutdown {shutdown} ended {ended} last_seq {last_seq}"),
            ),
            ("warnings", format!("{warnings:?}")),
            ("recent", format!("{:?}", recent.of_all())),
            ("coverage", format!("{:?}", c.coverage())),
        ]
    }

    fn assert_same_model(fast: &Checker, general: &Checker, what: &str) {
        for ((name, a), (_, b)) in model(fast).into_iter().zip(model(general)) {
            assert_eq!(
                a, b,
                "{what}: `{name}` differs (left: fast paths, right: general)"
            );
        }
    }

    /// Steps both checkers through `steps` and fails at the first event
    /// after which they differ. `every_step` compares the whole state after
    /// each event, not only the verdicts and the final state.
    fn agree(
        name: &str,
        steps: &[Step],
        profile: Profile,
        every_step: bool,
    ) -> [u64; Transition::COUNT] {
        let mut fast = Checker::new(profile);
        let mut general = Checker::new(profile).with_fast_paths(false);
        for step in steps {
            let (a, b) = (fast.step(step), general.step(step));
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "{name} ({profile}): verdicts differ at seq {}",
                step.seq
            );
            if every_step || a.is_err() {
                let what = format!("{name} ({profile}) after seq {}", step.seq);
                assert_same_model(&fast, &general, &what);
            }
            if a.is_err() {
                return fast.fast.counts;
            }
        }
        assert_same_model(&fast, &general, &format!("{name} ({profile}) at the end"));
        assert_eq!(
            general.fast.counts,
            [0; Transition::COUNT],
            "turned off, they stay off"
        );
        fast.fast.counts
    }

    #[test]
    fn the_fast_paths_agree_with_the_general_path_on_every_fixture() {
        let mut taken = [0u64; Transition::COUNT];
        for (name, steps) in corpus() {
            for profile in [Profile::Strict, Profile::Twisted] {
                for steps in [steps.clone(), renumbered(&steps)] {
                    let counts = agree(&name, &steps, profile, true);
                    for (t, n) in taken.iter_mut().zip(counts) {
                        *t += n;
                    }
                }
            }
        }
        // Each transition was compared, not skipped.
        for (t, n) in Transition::ALL.iter().zip(taken) {
            assert!(n > 0, "no fixture took the fast path {t:?}");
        }
    }

    /// A trace longer than the fixtures: a server and a shared client
    /// factory through `connections` life cycles, each writing inside its
    /// callbacks, so that the ring of returned callbacks' sources fills and
    /// wraps (the fixtures are too short for that). Ids are names, as in a
    /// trace file. `forwarding`: the client factory is a forwarding one,
    /// whose do_start and do_stop say `hooks: false` and run no hooks.
    fn long_trace(connections: u64, forwarding: bool) -> Vec<Step> {
        let hooks = if forwarding { r#","hooks":false"# } else { "" };
        use std::fmt::Write as _;
        let mut text = String::new();
        let mut seq = 0;
        let mut line = |depth: u32, body: &str| {
            seq += 1;
            writeln!(text, r#"{{"seq":{seq},"depth":{depth},{body}}}"#).expect("a string");
        };
        line(0, r#""event":"listen_tcp","factory":"server","port":"l""#);
        line(0, r#""event":"do_start","factory":"server","port":"l""#);
        line(1, r#""event":"start_factory","factory":"server""#);
        line(
            0,
            r#""event":"connect_tcp","factory":"client","connector":"c0""#,
        );
        line(
            0,
            &format!(r#""event":"do_start","factory":"client","connector":"c0"{hooks}"#),
        );
        if !forwarding {
            line(1, r#""event":"start_factory","factory":"client""#);
        }
        for i in 0..connections {
            let (c, next) = (format!("c{i}"), format!("c{}", i + 1));
            let client = format!(r#""factory":"client","connector":"{c}""#);
            let (s, p) = (
                format!(r#""protocol":"s{i}""#),
                format!(r#""protocol":"p{i}""#),
            );
            let done = r#""reason":"connection_done""#;
            line(0, &format!(r#""event":"started_connecting",{client}"#));
            line(
                0,
                &format!(r#""event":"build_protocol","factory":"server","port":"l",{s}"#),
            );
            line(0, &format!(r#""event":"connection_made",{s}"#));
            line(1, &format!(r#""event":"write",{s},"bytes":5"#));
            line(0, &format!(r#""event":"build_protocol",{client},{p}"#));
            line(0, &format!(r#""event":"connection_made",{p}"#));
            line(0, &format!(r#""event":"data_received",{p},"bytes":5"#));
            line(1, &format!(r#""event":"write",{p},"bytes":3"#));
            line(1, &format!(r#""event":"lose_connection",{p}"#));
            line(0, &format!(r#""event":"data_received",{s},"bytes":3"#));
            line(0, &format!(r#""event":"connection_lost",{p},{done}"#));
            line(
                0,
                &format!(r#""event":"client_connection_lost",{client},{done}"#),
            );
            line(0, &format!(r#""event":"connection_lost",{s},{done}"#));
            if i + 1 < connections {
                // The next connector starts before this one stops: the
                // client factory stays started.
                let next = format!(r#""factory":"client","connector":"{next}""#);
                line(0, &format!(r#""event":"connect_tcp",{next}"#));
                line(0, &format!(r#""event":"do_start",{next}{hooks}"#));
                line(0, &format!(r#""event":"do_stop",{client}{hooks}"#));
            } else {
                line(0, &format!(r#""event":"do_stop",{client}{hooks}"#));
                if !forwarding {
                    line(1, r#""event":"stop_factory","factory":"client""#);
                }
            }
        }
        line(0, r#""event":"stop_listening","port":"l""#);
        line(0, r#""event":"do_stop","factory":"server","port":"l""#);
        line(1, r#""event":"stop_factory","factory":"server""#);
        line(0, r#""event":"end""#);
        TraceReader::new(text.as_bytes())
            .map(|r| r.expect("a well-formed trace").step)
            .collect()
    }

    #[test]
    fn the_fast_paths_agree_with_the_general_path_on_a_trace_that_wraps_the_rings() {
        let named = long_trace(300, false);
        let mut checker = Checker::new(Profile::Strict);
        for step in &named {
            if let Err(e) = checker.step(step) {
                panic!("the long trace is legal, but: {e}");
            }
        }
        assert!(checker.is_complete());
        agree("long trace, named ids", &named, Profile::Strict, true);
        let counts = agree("long trace", &renumbered(&named), Profile::Strict, true);
        // Every write is its callback's first action: once the general
        // path filled the ring, each took the fast path and wrote the ring
        // there, wrapping it.
        let writes = counts[Transition::Write as usize];
        assert_eq!(
            writes,
            2 * 300 - 1 - super::RETURNED_FRAMES as u64,
            "{counts:?}"
        );
    }

    /// A forwarding client factory (`hooks: false`) never takes the fast
    /// paths of do_start and do_stop, which move the start count; the
    /// rest of its life cycles do.
    #[test]
    fn the_fast_paths_agree_with_the_general_path_on_a_forwarding_factory() {
        let named = long_trace(300, true);
        let mut checker = Checker::new(Profile::Strict);
        for step in &named {
            if let Err(e) = checker.step(step) {
                panic!("the forwarding trace is legal, but: {e}");
            }
        }
        assert!(checker.is_complete());
        for profile in [Profile::Strict, Profile::Twisted] {
            agree("forwarding, named ids", &named, profile, true);
            let counts = agree("forwarding", &renumbered(&named), profile, true);
            assert_eq!(counts[Transition::DoStartConnector as usize], 0);
            assert_eq!(counts[Transition::DoStopConnector as usize], 0);
            assert_eq!(counts[Transition::DataReceived as usize], 2 * 300);
        }
    }

    #[test]
    fn the_fast_paths_agree_with_the_general_path_on_mutants_of_the_legal_fixtures() {
        for (name, steps) in corpus() {
            if !name.starts_with("legal/") || steps.len() > 120 {
                continue;
            }
            // Both shapes of ids: the dense index's (callorder's reactors)
            // and the sparse part's (name hashes from trace files).
            for steps in [renumbered(&steps), steps] {
                mutants_agree(&name, &steps);
            }
        }
    }

    /// Every mutant of `steps` (each event deleted, duplicated, swapped with
    /// the next, moved a level deeper or shallower, raised or not), judged
    /// both ways under both profiles.
    fn mutants_agree(name: &str, steps: &[Step]) {
        let n = steps.len();
        let renumber = |mut v: Vec<Step>| {
            for (i, s) in v.iter_mut().enumerate() {
                s.seq = i as u64 + 1;
            }
            v
        };
        let mut mutants = Vec::new();
        for i in 0..n {
            let mut deleted = steps.to_vec();
            deleted.remove(i);
            mutants.push(renumber(deleted));
            let mut duplicated = steps.to_vec();
            duplicated.insert(i, steps[i]);
            mutants.push(renumber(duplicated));
            if i + 1 < n {
                let mut swapped = steps.to_vec();
                swapped.swap(i, i + 1);
                mutants.push(renumber(swapped));
            }
            for depth in [steps[i].depth + 1, steps[i].depth.saturating_sub(1)] {
                let mut moved = steps.to_vec();
                moved[i].depth = depth;
                mutants.push(moved);
            }
            let mut raised = steps.to_vec();
            raised[i].failed = !raised[i].failed;
            mutants.push(raised);
            if matches!(steps[i].event, Event::DoStart { .. } | Event::DoStop { .. }) {
                // Marked as a forwarding factory's, or no longer.
                let mut hookless = steps.to_vec();
                hookless[i].hooks = steps[i].runs_factory_hooks().then_some(false);
                mutants.push(hookless);
            }
        }
        for (k, mutant) in mutants.iter().enumerate() {
            let profile = if k % 2 == 0 {
                Profile::Strict
            } else {
                Profile::Twisted
            };
            agree(&format!("{name} mutant {k}"), mutant, profile, true);
        }
    }
}
