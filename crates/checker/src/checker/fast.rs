//! Fast paths: the common top-level transitions of a life cycle, checked
//! without the general machinery of a step.
//!
//! Almost every event of a real trace is a top-level callback (depth 0, no
//! `within`, no error) that moves one object one step along its life cycle:
//! `do_start` for a connector that owes one, `started_connecting`,
//! `build_protocol`, `connection_made`, `data_received`, `connection_lost`,
//! `client_connection_lost`, `do_stop` that leaves the factory started, and
//! the `connect_tcp` of a new connector. Each [`Transition`] checks exactly
//! the state the general handler would accept for that event, and updates it
//! exactly as that handler would; anything else (an unusual state, a
//! violation, a hook to come, a callback nested or raised) falls through to
//! the general path before anything is changed, and the general path decides.
//!
//! A step's time follows its loads and stores (see `docs/performance.md`),
//! and the general path pays for its generality on every event: the call
//! stack's parent kept across calls, a coverage count per rule checked, the
//! registers saved around each handler. A transition counts its coverage
//! once ([`Transition::RULES`] says which rules it checks) and keeps its few
//! values in registers.
//!
//! The fast paths change no verdict, no violation and no coverage count:
//! `Checker::with_fast_paths(false)` turns them off, and the tests compare
//! both ways, state for state, on every fixture and on mutants of them.

use callorder_trace::{
    ConnectorId, Event, EventKind, FactoryId, Holder, PortId, ProtocolId, Reason, Step,
};

use super::{Checker, Parent};
use crate::coverage::Coverage;
use crate::rules::Rule;
use crate::state::{ConnectorPhase, ConnectorState, Frame, Producer, ProtocolState, Source};

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
    /// owed, the trace did not end and the reactor did not shut down. Kept
    /// by the general path, the only one that changes those.
    pub ready: bool,
    /// How many events took each transition: their coverage.
    pub counts: [u64; Transition::COUNT],
}

impl FastPaths {
    pub(crate) fn new() -> Self {
        FastPaths {
            enabled: true,
            ready: true,
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

impl Checker {
    /// Checks `step` on a fast path if one takes it: true if it did (the
    /// event is legal and the state updated), false if the general path
    /// must judge it. Before returning false it may have popped the
    /// callbacks that returned, which the general path would do first too.
    #[inline(always)]
    pub(crate) fn fast_step(&mut self, step: &Step) -> bool {
        if !self.fast.ready || step.failed || step.within.is_some() {
            return false;
        }
        if step.depth != 0 {
            return self.fast_action(step);
        }
        // A hook is judged before the call stack moves (`check_hook`), and
        // no fast path takes one.
        if matches!(
            step.event,
            Event::StartFactory { .. } | Event::StopFactory { .. }
        ) {
            return false;
        }
        // Every running callback returned: a top-level event runs inside
        // none. The general path pops them first too, so this stays done
        // if a fast path then declines the event.
        if !self.stack.is_empty() {
            self.pop_to(0);
        }
        let seq = step.seq;
        let (transition, connector) = match step.event {
            Event::ConnectTcp { factory, connector } => {
                if !self.fast_connect_tcp(seq, factory, connector) {
                    return false;
                }
                (Transition::ConnectTcp, None)
            }
            Event::DoStart {
                factory,
                holder: Some(Holder::Connector(c)),
            } => {
                if !self.fast_do_start(factory, c) {
                    return false;
                }
                (Transition::DoStartConnector, None)
            }
            Event::StartedConnecting { factory, connector } => {
                match self.connectors.get_mut(connector) {
                    Some(conn)
                        if conn.factory == factory
                            && matches!(conn.phase, ConnectorPhase::AwaitStarted) =>
                    {
                        conn.phase = ConnectorPhase::Connecting;
                    }
                    _ => return false,
                }
                (Transition::StartedConnecting, None)
            }
            Event::BuildProtocol {
                factory,
                holder,
                protocol: Some(p),
            } => match holder {
                Holder::Connector(c) => {
                    if !self.fast_build_for_connector(seq, factory, c, p) {
                        return false;
                    }
                    (Transition::BuildForConnector, None)
                }
                Holder::Port(l) => {
                    if !self.fast_build_for_port(seq, factory, l, p) {
                        return false;
                    }
                    (Transition::BuildForPort, None)
                }
            },
            Event::ConnectionMade { protocol } => {
                match self.protocols.get_mut(protocol) {
                    Some(ps) if !ps.made => ps.made = true,
                    _ => return false,
                }
                (Transition::ConnectionMade, None)
            }
            Event::DataReceived { protocol, bytes } => {
                match self.protocols.get(protocol) {
                    Some(ps)
                        if ps.made
                            && ps.must_lose.is_none()
                            && bytes != 0
                            && !ps.read_closed
                            && !ps.losing => {}
                    _ => return false,
                }
                (Transition::DataReceived, None)
            }
            Event::ConnectionLost { protocol, reason } => {
                if !self.fast_connection_lost(protocol, reason) {
                    return false;
                }
                (Transition::ConnectionLost, None)
            }
            Event::ClientConnectionLost {
                factory,
                connector,
                reason,
            } => {
                match self.connectors.get_mut(connector) {
                    Some(conn)
                        if conn.factory == factory
                            && matches!(conn.phase, ConnectorPhase::Lost { reason: r } if r == reason) =>
                    {
                        conn.phase = ConnectorPhase::Outcome { frame: seq };
                    }
                    _ => return false,
                }
                (Transition::ClientConnectionLost, Some(connector))
            }
            Event::DoStop {
                factory,
                holder: Some(Holder::Connector(c)),
            } => {
                if !self.fast_do_stop(factory, c) {
                    return false;
                }
                (Transition::DoStopConnector, None)
            }
            _ => return false,
        };
        self.fast.counts[transition as usize] += 1;
        if transition != Transition::ConnectTcp {
            // A callback: it runs until the next event at its depth.
            self.stack.push(Frame {
                seq,
                depth: 0,
                kind: step.event.kind(),
                failed: false,
                connector: connector.unwrap_or(ConnectorId(0)),
            });
        }
        self.last_seq = seq;
        self.recent.push(seq, 0, step.event);
        true
    }

    /// An action inside the running callback at the depth above: a
    /// `write` or `lose_connection` on a live protocol.
    #[inline(always)]
    fn fast_action(&mut self, step: &Step) -> bool {
        let d = step.depth as usize;
        if d > self.stack.len() {
            return false;
        }
        let (transition, source) = match step.event {
            Event::Write { protocol, .. } => match self.protocols.get(protocol) {
                Some(ps) => {
                    let streaming = matches!(ps.producer, Producer::Streaming { .. });
                    let source =
                        Source::new(EventKind::Write, None, None, Some(protocol), streaming);
                    (Transition::Write, source)
                }
                None => return false,
            },
            Event::LoseConnection { protocol } => match self.protocols.get_mut(protocol) {
                Some(ps) => {
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
                None => return false,
            },
            _ => return false,
        };
        // The callbacks deeper than this action's parent returned.
        if self.stack.len() > d {
            self.pop_to(d);
        }
        let parent = Parent::of(&self.stack[d - 1]);
        self.set_source(Some(parent), source);
        self.fast.counts[transition as usize] += 1;
        self.last_seq = step.seq;
        self.recent.push(step.seq, step.depth, step.event);
        true
    }

    /// Whether this event creates an object past the live limit: the
    /// general path reports it.
    #[inline(always)]
    fn at_live_limit(&self) -> bool {
        self.live_objects() >= self.max_live
    }

    #[inline(always)]
    fn fast_connect_tcp(&mut self, seq: u64, factory: FactoryId, c: ConnectorId) -> bool {
        // A connector id seen before (live, idle or parked) takes the
        // general path, which revives or refuses it.
        if !self.connectors.is_unknown(c)
            || !self.idle_connectors.is_empty()
            || self.at_live_limit()
        {
            return false;
        }
        self.connectors.insert(
            c,
            ConnectorState {
                factory,
                phase: ConnectorPhase::AwaitDoStart,
                holds: false,
                cancelled: false,
                retry_inside: None,
                born: seq,
            },
        );
        true
    }

    #[inline(always)]
    fn fast_do_start(&mut self, factory: FactoryId, c: ConnectorId) -> bool {
        // At count 0, start_factory must follow: the general path owes it.
        match self.factories.get(factory) {
            Some(f) if f.num_ports > 0 => {}
            _ => return false,
        }
        match self.connectors.get_mut(c) {
            Some(conn)
                if conn.factory == factory
                    && matches!(conn.phase, ConnectorPhase::AwaitDoStart) =>
            {
                conn.phase = ConnectorPhase::AwaitStarted;
                conn.holds = true;
            }
            _ => return false,
        }
        if let Some(f) = self.factories.get_mut(factory) {
            f.num_ports += 1;
        }
        true
    }

    #[inline(always)]
    fn fast_build_for_connector(
        &mut self,
        seq: u64,
        factory: FactoryId,
        c: ConnectorId,
        p: ProtocolId,
    ) -> bool {
        if self.protocols.is_live_or_ended(p) || self.at_live_limit() {
            return false;
        }
        match self.connectors.get_mut(c) {
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
            _ => return false,
        }
        self.protocols
            .insert(p, ProtocolState::new(Holder::Connector(c), seq));
        true
    }

    #[inline(always)]
    fn fast_build_for_port(
        &mut self,
        seq: u64,
        factory: FactoryId,
        l: PortId,
        p: ProtocolId,
    ) -> bool {
        match self.ports.get(l) {
            Some(port) if port.factory == factory && port.started && !port.stopping => {}
            _ => return false,
        }
        if self.protocols.is_live_or_ended(p) || self.at_live_limit() {
            return false;
        }
        self.protocols
            .insert(p, ProtocolState::new(Holder::Port(l), seq));
        true
    }

    #[inline(always)]
    fn fast_connection_lost(&mut self, p: ProtocolId, reason: Reason) -> bool {
        let owner = match self.protocols.get(p) {
            Some(ps)
                if ps.made
                    && ps.must_lose.is_none()
                    && ps.producer == Producer::None
                    && reason.is_loss() =>
            {
                ps.owner
            }
            _ => return false,
        };
        match owner {
            Holder::Connector(c) => {
                // As the general path: only the connector's own protocol
                // moves it on.
                if let Some(conn) = self.connectors.get_mut(c) {
                    if matches!(conn.phase, ConnectorPhase::Connected { protocol: Some(q), .. } if q == p)
                    {
                        conn.phase = ConnectorPhase::Lost { reason };
                    }
                }
            }
            // A protocol outliving its port is counted by the general path.
            Holder::Port(l) if self.ports.is_ended(l) => return false,
            Holder::Port(_) => {}
        }
        self.protocols.end(p);
        true
    }

    #[inline(always)]
    fn fast_do_stop(&mut self, factory: FactoryId, c: ConnectorId) -> bool {
        // At count 1, stop_factory must follow: the general path owes it.
        match self.factories.get(factory) {
            Some(f) if f.num_ports > 1 => {}
            _ => return false,
        }
        match self.connectors.get_mut(c) {
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
            _ => return false,
        }
        self.make_idle(c);
        if let Some(f) = self.factories.get_mut(factory) {
            f.num_ports -= 1;
        }
        true
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

    use callorder_trace::{Step, TraceReader};

    use super::{Checker, Transition};
    use crate::profile::Profile;

    /// Every trace of the bundled corpus that parses, with its file name.
    fn corpus() -> Vec<(String, Vec<Step>)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted");
        let mut traces = Vec::new();
        for dir in ["legal", "quirks", "illegal"] {
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
            ("hook", format!("{hook:?}")),
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

    #[test]
    fn the_fast_paths_agree_with_the_general_path_on_mutants_of_the_legal_fixtures() {
        for (name, steps) in corpus() {
            if !name.starts_with("legal/") || steps.len() > 120 {
                continue;
            }
            let steps = renumbered(&steps);
            let n = steps.len();
            let renumber = |mut v: Vec<Step>| {
                for (i, s) in v.iter_mut().enumerate() {
                    s.seq = i as u64 + 1;
                }
                v
            };
            let mut mutants = Vec::new();
            for i in 0..n {
                let mut deleted = steps.clone();
                deleted.remove(i);
                mutants.push(renumber(deleted));
                let mut duplicated = steps.clone();
                duplicated.insert(i, steps[i]);
                mutants.push(renumber(duplicated));
                if i + 1 < n {
                    let mut swapped = steps.clone();
                    swapped.swap(i, i + 1);
                    mutants.push(renumber(swapped));
                }
                for depth in [steps[i].depth + 1, steps[i].depth.saturating_sub(1)] {
                    let mut moved = steps.clone();
                    moved[i].depth = depth;
                    mutants.push(moved);
                }
                let mut raised = steps.clone();
                raised[i].failed = !raised[i].failed;
                mutants.push(raised);
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
}
