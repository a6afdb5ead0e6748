//! Fuzzing a server factory alone, with no reactor: the reactor's
//! factory-side callbacks for its ports in legal orders, straight from the
//! checker.
//!
//! Each case is a number of ports (one to
//! [`max_ports`](DirectServerFuzz::max_ports), all over one fresh factory,
//! so its start count is exercised) and a list of [`ServerChoice`]s. The
//! driver plays the reactor: `listen_tcp` of every port, each followed by
//! its `do_start` (with `start_factory` when the factory's start count goes
//! 0 to 1). Before every choice it asks the
//! [`Checker`](callorder_checker::Checker) for the legal next steps
//! ([`legal_next`](callorder_checker::Checker::legal_next)) and delivers the
//! choice only if it is among them: a port that accepts a connection
//! (`build_protocol` with the peer's address, then the built protocol's
//! `connection_made`), bytes to a live connection, a connection that ends
//! (`connection_lost` with a reason the checker allows), a port that stops
//! listening (`stop_listening`, then its `do_stop`, with `stop_factory` when
//! the count goes 1 to 0), or virtual time passing (the `call_later` timers
//! that fall due run).
//!
//! The built protocols get [`Transport`]s over a small recording reactor, as
//! in [`direct`](crate::direct): their writes, closes and producer calls go
//! into the checker as actions.
//!
//! At the end the reactor shuts down: live connections are lost, then the
//! ports still listening get their `do_stop`.
//!
//! The checks are those of
//! [`fuzz_client_factory`](crate::fuzz_client_factory): no checker
//! violation, no panic, no error returned, no action that is a bug (a
//! second `register_producer`), no write after a close
//! ([`DirectServerFuzz::allow_write_after_close`]), chunking invariance
//! ([`DirectServerFuzz::no_chunking_invariance`]), and
//! your [`invariants`](DirectServerFuzz::invariant). A failing case is
//! shrunk, and the failure prints the minimal callback sequence with what
//! the factory and its protocols did in each callback.
//!
//! ```
//! use std::sync::Arc;
//! use callorder::reference::EchoFactory;
//!
//! // Inside #[test]: panics with the minimal callback sequence on failure.
//! let report = callorder::fuzz_server_factory(|| Arc::new(EchoFactory::new()))
//!     .cases(16)
//!     .check();
//! assert_eq!(report.cases, 16);
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

use callorder_core::{
    ActionError, Address, Factory, PortId, ProtocolId, Reactor, Reason, Transport,
};
use callorder_trace::{Event, FactoryId, Holder, Record};

use crate::campaign::{self, DirectCase, DirectFailure, DirectReport, Rechunk, Settings};
use crate::greedy::{self, Simplify};
use crate::recorder::{advance_timers, show_bytes, Conn, Outcome, Recorder, Stage, World};

/// The factory under test, in every trace of a direct server campaign.
pub const FACTORY: FactoryId = FactoryId(1);

/// What happens next to the factory. `port` is taken modulo the case's
/// number of ports, `conn` modulo the number of live connections (in the
/// order they were made, over all ports). A choice that is not legal when
/// its turn comes (an accept on a port that stopped listening, data with no
/// live connection) is skipped, so removing choices while shrinking always
/// leaves a legal sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerChoice {
    /// The port accepts a connection: `build_protocol`, then
    /// `connection_made` on the protocol it built.
    Accept(usize),
    /// `data_received` with these bytes (never empty) on a live connection.
    Data(usize, Vec<u8>),
    /// A live connection ends: `connection_lost` with the `n`-th legal
    /// reason (`connection_done` first when it is legal).
    Lost(usize, usize),
    /// The port stops listening: `stop_listening`, then its `do_stop`.
    StopListening(usize),
    /// Virtual time passes: the `call_later` timers that fall due run.
    Advance(Duration),
}

/// One case: how many ports share the factory, and what happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerCase {
    /// How many ports (at least one).
    pub ports: usize,
    /// What happens, in order.
    pub choices: Vec<ServerChoice>,
}

/// The cases of a campaign: one to `max_ports` ports and up to `max`
/// choices, mostly accepts, data and time; shrinks towards one port and
/// fewer choices.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// use callorder::direct_server::server_cases;
/// use callorder::strategy::payload;
///
/// let tree = server_cases(payload(), 2, 8).new_tree(&mut TestRunner::deterministic()).unwrap();
/// assert!(tree.current().choices.len() <= 8);
/// assert!((1..=2).contains(&tree.current().ports));
/// ```
pub fn server_cases(
    payloads: BoxedStrategy<Vec<u8>>,
    max_ports: usize,
    max: usize,
) -> BoxedStrategy<ServerCase> {
    let delays: Vec<Duration> = [1, 100, 1_000, 5_000, 30_000, 600_000]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let n = 0usize..4;
    // Stopping a port is rare: once both stopped, only the live
    // connections are left to exercise.
    let one = prop_oneof![
        4 => n.clone().prop_map(ServerChoice::Accept),
        4 => (n.clone(), payloads).prop_filter_map("empty chunk", |(c, b)| {
            (!b.is_empty()).then_some(ServerChoice::Data(c, b))
        }),
        2 => (n.clone(), 0usize..4).prop_map(|(c, r)| ServerChoice::Lost(c, r)),
        1 => n.prop_map(ServerChoice::StopListening),
        2 => select(delays).prop_map(ServerChoice::Advance),
    ];
    (1..=max_ports.max(1), vec(one, 0..=max))
        .prop_map(|(ports, choices)| ServerCase { ports, choices })
        .boxed()
}

type MakeFactory = Rc<dyn Fn() -> Arc<dyn Factory>>;

/// A campaign over one server factory driven directly: build it with
/// [`fuzz_server_factory`](crate::fuzz_server_factory), tune it, then
/// [`check`](DirectServerFuzz::check).
#[must_use]
pub struct DirectServerFuzz {
    make: MakeFactory,
    max_ports: usize,
    settings: Settings,
}

impl fmt::Debug for DirectServerFuzz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DirectServerFuzz");
        self.settings.describe(&mut d);
        d.field("max_ports", &self.max_ports);
        d.finish_non_exhaustive()
    }
}

impl DirectServerFuzz {
    pub(crate) fn new(make: MakeFactory, source_file: &'static str) -> Self {
        DirectServerFuzz {
            make,
            max_ports: 2,
            settings: Settings::new(source_file),
        }
    }

    direct_campaign_settings!();

    /// The most ports sharing the factory in a case (default 2; at least 1).
    pub fn max_ports(mut self, n: usize) -> Self {
        self.max_ports = n.max(1);
        self
    }

    /// Runs the campaign: the report, or the minimal failing case.
    ///
    /// # Panics
    ///
    /// If [`SEED_ENV`](crate::SEED_ENV) or [`CASES_ENV`](crate::CASES_ENV)
    /// is malformed.
    ///
    /// # Errors
    ///
    /// The [`ServerFailure`] of the minimal failing case.
    pub fn run(self) -> Result<DirectReport, Box<ServerFailure>> {
        let strategy = server_cases(
            self.settings.payloads(),
            self.max_ports,
            self.settings.max_choices,
        );
        campaign::run(&self.settings, &strategy, |rt, case| self.drive(rt, case))
    }

    /// Drives one fresh factory through `case`.
    fn drive(&self, rt: &tokio::runtime::Runtime, case: &ServerCase) -> Outcome {
        let mut outcome = Driver::new((self.make)(), case.ports, rt).run(&case.choices);
        self.settings.finish_checks(&mut outcome);
        outcome
    }
}

/// The minimal failing case of a direct server campaign. Its
/// `Display` is the panic message of the campaign's `check`.
pub type ServerFailure = DirectFailure<ServerCase>;

/// Where a port stands, as the reactor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Its `do_start` is owed.
    AwaitDoStart,
    /// Accepting connections.
    Listening,
    /// `stop_listening` came; its `do_stop` may still be owed.
    Stopped,
}

struct PortSt {
    id: PortId,
    addr: Address,
    phase: Phase,
    /// It holds a start of the factory (its `do_start` came, its `do_stop`
    /// not yet).
    holds: bool,
}

/// The recording reactor's state, with the ports it plays.
type State = Recorder<Ports>;

/// The ports, the connections they accepted, and what the reactor owes.
struct Ports {
    all: Vec<PortSt>,
    /// The ports whose `do_stop` is owed, delivered in order once nothing
    /// runs.
    owed_stops: VecDeque<usize>,
    /// Every accepted connection's peer address and port index (kept after
    /// the connection ends, for the transport's `peer` and `host`).
    accepted: BTreeMap<ProtocolId, (Address, usize)>,
}

impl Ports {
    /// `stop_listening`'s effect: the port's `do_stop` is owed if it
    /// started (it comes from the event loop, never nested).
    fn stop(&mut self, l: PortId) -> Result<(), ActionError> {
        let Some(i) = self.all.iter().position(|p| p.id == l) else {
            return Err(ActionError::NotListening);
        };
        let port = &mut self.all[i];
        if port.phase != Phase::Listening {
            return Err(ActionError::NotListening);
        }
        port.phase = Phase::Stopped;
        if port.holds {
            self.owed_stops.push_back(i);
        }
        Ok(())
    }
}

impl World for Ports {
    const CAMPAIGN: &'static str = "fuzz_server_factory";
    const FUZZED: &'static str = "factory";

    fn peer(s: &State, protocol: ProtocolId) -> Address {
        s.world
            .accepted
            .get(&protocol)
            .map_or_else(|| Address::new("10.0.0.2:50000"), |(a, _)| a.clone())
    }

    fn host(s: &State, protocol: ProtocolId) -> Address {
        s.world.accepted.get(&protocol).map_or_else(
            || Address::new(crate::ADDRESS),
            |&(_, i)| s.world.all[i].addr.clone(),
        )
    }

    fn stop_listening(s: &mut State, port: PortId) -> Result<(), ActionError> {
        let result = s.world.stop(port);
        s.action(
            Event::StopListening { port },
            result,
            "stop_listening".into(),
        );
        result
    }
}

/// One case: a fresh factory, its ports, checker and recording reactor.
struct Driver<'rt> {
    stage: Stage<'rt, Ports>,
    factory: Arc<dyn Factory>,
}

impl<'rt> Driver<'rt> {
    fn new(factory: Arc<dyn Factory>, ports: usize, rt: &'rt tokio::runtime::Runtime) -> Self {
        let all = (1..=ports.max(1) as u64)
            .map(|n| PortSt {
                id: PortId(n),
                addr: Address::new(format!("127.0.0.1:{}", 7999 + n)),
                phase: Phase::AwaitDoStart,
                holds: false,
            })
            .collect();
        let world = Ports {
            all,
            owed_stops: VecDeque::new(),
            accepted: BTreeMap::new(),
        };
        Driver {
            stage: Stage::new(world, rt),
            factory,
        }
    }

    fn run(mut self, choices: &[ServerChoice]) -> Outcome {
        let ports = self.stage.state.borrow().world.all.len();
        for i in 0..ports {
            if self.stage.done() {
                break;
            }
            {
                let mut s = self.stage.state.borrow_mut();
                let (port, addr) = (s.world.all[i].id, s.world.all[i].addr.clone());
                let idx = s.record(
                    Event::ListenTcp {
                        factory: FACTORY,
                        port,
                    },
                    0,
                    None,
                );
                s.trace[idx].addr = Some(addr.shared());
                s.log
                    .push(format!("listen_tcp (l{}) {}", port.0, addr.as_str()));
                s.feed();
            }
            self.do_start(i);
            self.settle();
        }
        let mut delivered = Vec::new();
        for (i, choice) in choices.iter().enumerate() {
            if self.stage.done() {
                break;
            }
            if self.apply(choice) {
                delivered.push(i);
            }
            self.settle();
        }
        if !self.stage.done() {
            self.teardown();
        }
        // Break the cycles through the reactor (timers and protocols hold
        // handles on it) before taking the results out.
        self.stage.clear_timers();
        self.stage.protocols.clear();
        let callbacks = self.stage.callbacks;
        self.stage.state.borrow_mut().outcome(delivered, callbacks)
    }

    /// The callbacks that are legal now, at depth 0.
    fn port(&self, n: usize) -> (usize, PortId, Phase) {
        let s = self.stage.state.borrow();
        let i = n % s.world.all.len();
        (i, s.world.all[i].id, s.world.all[i].phase)
    }

    /// The `n`-th live connection (modulo their number), if any.
    fn live(&self, n: usize) -> Option<ProtocolId> {
        let s = self.stage.state.borrow();
        let live: Vec<ProtocolId> = s
            .conns
            .iter()
            .filter(|(_, c)| !c.lost)
            .map(|(p, _)| *p)
            .collect();
        (!live.is_empty()).then(|| live[n % live.len()])
    }

    /// Delivers `choice` if it is legal now; whether it was.
    fn apply(&mut self, choice: &ServerChoice) -> bool {
        match choice {
            ServerChoice::Advance(by) => {
                self.advance(*by);
                true
            }
            ServerChoice::Accept(n) => {
                let (i, id, phase) = self.port(*n);
                let holder = Holder::Port(id);
                if phase != Phase::Listening {
                    return false;
                }
                let legal =
                    self.stage.legal().iter().any(
                        |e| matches!(e, Event::BuildProtocol { holder: h, .. } if *h == holder),
                    );
                if !legal {
                    return false;
                }
                self.accept(i, id);
                true
            }
            ServerChoice::Data(n, bytes) => {
                let Some(p) = self.live(*n) else {
                    return false;
                };
                let legal =
                    self.stage.legal().iter().any(
                        |e| matches!(e, Event::DataReceived { protocol, .. } if *protocol == p),
                    );
                if bytes.is_empty() || !legal {
                    return false;
                }
                let owned = bytes.clone();
                self.stage.deliver_protocol(
                    p,
                    Event::DataReceived {
                        protocol: p,
                        bytes: bytes.len() as u64,
                    },
                    Some(show_bytes(bytes)),
                    move |proto| Box::pin(async move { proto.data_received(&owned).await }),
                );
                true
            }
            ServerChoice::Lost(n, r) => {
                let Some(p) = self.live(*n) else {
                    return false;
                };
                let mut reasons = self.stage.lost_reasons(p);
                reasons.sort_by_key(|r| *r != Reason::ConnectionDone);
                if reasons.is_empty() {
                    return false;
                }
                self.stage.end_connection(p, reasons[r % reasons.len()]);
                true
            }
            ServerChoice::StopListening(n) => {
                let (_, id, phase) = self.port(*n);
                if phase != Phase::Listening {
                    return false;
                }
                // The test stops the port, from outside any callback.
                let mut s = self.stage.state.borrow_mut();
                let result = s.world.stop(id);
                s.record(
                    Event::StopListening { port: id },
                    0,
                    result.err().map(|e| e.to_string()),
                );
                s.log.push(format!("stop_listening (l{})", id.0));
                s.feed();
                true
            }
        }
    }

    /// The port accepts a connection: `build_protocol` with the peer's
    /// address, then `connection_made` on what it built.
    fn accept(&mut self, i: usize, id: PortId) {
        let p = self.stage.next_protocol_id();
        let peer = Address::new(format!("10.0.0.2:{}", 50_000 + p.0));
        let holder = Holder::Port(id);
        let event = Event::BuildProtocol {
            factory: FACTORY,
            holder,
            protocol: Some(p),
        };
        let factory = self.factory.clone();
        let addr = peer.clone();
        let built = self
            .stage
            .deliver(event, 0, Some(peer.as_str().to_owned()), move || {
                Box::pin(async move { factory.build_protocol(&addr).await })
            });
        {
            let mut s = self.stage.state.borrow_mut();
            let idx = s
                .trace
                .iter()
                .rposition(|r| r.step.event == event)
                .expect("recorded");
            s.trace[idx].addr = Some(peer.shared());
            if let Some(None) = built {
                // The record said Some: it was not fed yet, so set it right.
                s.trace[idx].step.event = Event::BuildProtocol {
                    factory: FACTORY,
                    holder,
                    protocol: None,
                };
                s.log
                    .push("    (built none: the connection is closed)".into());
            }
        }
        match built {
            Some(Some(protocol)) => {
                {
                    let mut s = self.stage.state.borrow_mut();
                    s.conns.insert(p, Conn::default());
                    s.world.accepted.insert(p, (peer, i));
                }
                self.stage.protocols.insert(p, protocol);
                let transport = Transport::new(p, self.stage.ops.clone());
                self.stage.deliver_protocol(
                    p,
                    Event::ConnectionMade { protocol: p },
                    None,
                    |proto| proto.connection_made(transport),
                );
            }
            // Built none: the port closes the connection, no callback owed.
            Some(None) => {}
            // The build failed: the case has its finding, fed with it.
            None => return,
        }
        // The build's record is fed now, with its result.
        self.stage.state.borrow_mut().feed();
    }

    /// Delivers what the reactor owes, in order, until nothing is owed.
    fn settle(&mut self) {
        loop {
            if self.stage.done() {
                return;
            }
            let Some(i) = self.stage.state.borrow_mut().world.owed_stops.pop_front() else {
                return;
            };
            self.do_stop(i);
        }
    }

    fn do_start(&mut self, i: usize) {
        let (holder, first) = {
            let mut s = self.stage.state.borrow_mut();
            let first = !s.world.all.iter().any(|p| p.holds);
            let port = &mut s.world.all[i];
            port.holds = true;
            port.phase = Phase::Listening;
            (Holder::Port(port.id), first)
        };
        let factory = self.factory.clone();
        self.stage.deliver(
            Event::DoStart {
                factory: FACTORY,
                holder: Some(holder),
            },
            0,
            None,
            move || {
                Box::pin(async move {
                    factory.do_start(holder);
                    Ok(())
                })
            },
        );
        if first && !self.stage.done() {
            let factory = self.factory.clone();
            let reactor = Reactor::new(self.stage.ops.clone());
            self.stage.deliver(
                Event::StartFactory { factory: FACTORY },
                1,
                None,
                move || Box::pin(async move { factory.start_factory(&reactor).await }),
            );
        }
    }

    fn do_stop(&mut self, i: usize) {
        let (holder, last) = {
            let mut s = self.stage.state.borrow_mut();
            if !s.world.all[i].holds {
                return;
            }
            s.world.all[i].holds = false;
            s.world.all[i].phase = Phase::Stopped;
            let last = !s.world.all.iter().any(|p| p.holds);
            (Holder::Port(s.world.all[i].id), last)
        };
        let factory = self.factory.clone();
        self.stage.deliver(
            Event::DoStop {
                factory: FACTORY,
                holder: Some(holder),
            },
            0,
            None,
            move || {
                Box::pin(async move {
                    factory.do_stop(holder);
                    Ok(())
                })
            },
        );
        if last && !self.stage.done() {
            let factory = self.factory.clone();
            self.stage.deliver(
                Event::StopFactory { factory: FACTORY },
                1,
                None,
                move || Box::pin(async move { factory.stop_factory().await }),
            );
        }
    }

    /// The end of the run: the reactor shuts down, losing live connections,
    /// then stopping the ports that still listen (as Twisted's reactor does).
    fn teardown(&mut self) {
        self.settle();
        if self.stage.done() {
            return;
        }
        {
            let mut s = self.stage.state.borrow_mut();
            s.record(Event::Shutdown, 0, None);
            s.log.push("shutdown".into());
            s.feed();
        }
        self.stage.clear_timers();
        let live: Vec<ProtocolId> = {
            let s = self.stage.state.borrow();
            s.conns
                .iter()
                .filter(|(_, c)| !c.lost)
                .map(|(p, _)| *p)
                .collect()
        };
        for p in live {
            if self.stage.done() {
                return;
            }
            let reason = self.stage.shutdown_reason(p);
            self.stage.end_connection(p, reason);
            self.settle();
        }
        let ports = self.stage.state.borrow().world.all.len();
        for i in 0..ports {
            if self.stage.done() {
                return;
            }
            self.do_stop(i);
            self.settle();
        }
        if self.stage.done() {
            return;
        }
        self.stage.clear_timers();
        self.stage.end_trace();
    }

    /// Runs the timers due within `by`, then sets the clock.
    fn advance(&mut self, by: Duration) {
        let state = self.stage.state.clone();
        advance_timers(&state, by, || {
            self.settle();
            self.stage.done()
        });
    }
}

impl DirectCase for ServerCase {
    const SUBJECT: &'static str = "server factory";

    fn objects(&self) -> Option<(usize, &'static str)> {
        Some((self.ports, "port"))
    }

    fn choices(&self) -> &dyn fmt::Debug {
        &self.choices
    }

    fn empty() -> Self {
        ServerCase {
            ports: 1,
            choices: Vec::new(),
        }
    }
}

impl Simplify for ServerCase {
    fn keep(&self, kept: &[usize]) -> Self {
        ServerCase {
            ports: self.ports,
            choices: greedy::kept(&self.choices, kept),
        }
    }

    /// One port fewer, one choice fewer, or one chunk cut to its first
    /// byte.
    fn simpler(&self) -> Vec<Self> {
        let smaller = |c: &ServerChoice| match c {
            ServerChoice::Data(conn, bytes) if bytes.len() > 1 => {
                Some(ServerChoice::Data(*conn, bytes[..1].to_vec()))
            }
            _ => None,
        };
        greedy::simpler_cases(self.ports, &self.choices, smaller, |ports, choices| {
            ServerCase { ports, choices }
        })
    }

    fn rechunked(&self, how: Rechunk) -> Option<Self> {
        let choices = campaign::rechunked(
            &self.choices,
            how,
            |c| match c {
                ServerChoice::Data(conn, bytes) => Some((*conn, &bytes[..])),
                _ => None,
            },
            ServerChoice::Data,
        );
        (choices != self.choices).then_some(ServerCase {
            ports: self.ports,
            choices,
        })
    }
}
