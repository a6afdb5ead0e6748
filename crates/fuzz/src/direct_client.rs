//! Fuzzing a client factory alone, with no reactor: the reactor's
//! factory-side callbacks in legal orders, straight from the checker.
//!
//! Each case is a number of connectors (one to
//! [`max_connectors`](DirectClientFuzz::max_connectors), all over one fresh
//! factory, so its start count is exercised) and a list of
//! [`ClientChoice`]s. The driver plays the reactor: `connect_tcp` of every
//! connector, then for each the `do_start` (with `start_factory` when the
//! factory's start count goes 0 to 1) and `started_connecting` the attempt
//! owes. Before every choice it asks the [`Checker`](callorder_checker::Checker) for the legal next steps
//! ([`legal_next`](callorder_checker::Checker::legal_next)) and delivers the
//! choice only if it is among them: an attempt that connects
//! (`build_protocol`, then the built protocol's `connection_made`), that
//! fails (`client_connection_failed` with a reason the checker allows), bytes
//! to a connected protocol, a connection that ends (`connection_lost`, then
//! `client_connection_lost` with the same reason), or virtual time passing
//! (the `call_later` timers that fall due run). After an outcome the
//! connector's `do_stop` (with `stop_factory` when the count goes 1 to 0)
//! follows, unless the factory retried.
//!
//! The factory gets its [`Connector`] handles over a small recording
//! reactor: its `connect`, `stop_connecting` and `disconnect` go into the
//! checker as actions, and change what the driver owes and what is legal
//! next (a `connect` inside `client_connection_failed` retries without a
//! `do_stop`; a second one raises, which is an implementation error; a
//! `stop_connecting` while connecting makes `client_connection_failed
//! (user_cancelled)` due). Its protocols get [`Transport`]s over the same
//! reactor, as in [`direct`](crate::direct).
//!
//! At the end the reactor shuts down: live connections are lost, attempts in
//! progress fail, for a few rounds while the factory keeps retrying.
//!
//! The checks are those of [`fuzz_protocol`](crate::fuzz_protocol): no
//! checker violation, no panic, no error returned, no action that is a bug
//! (`connect` while connecting, a second `register_producer`), no write
//! after a close ([`DirectClientFuzz::allow_write_after_close`]), chunking
//! invariance ([`DirectClientFuzz::no_chunking_invariance`]), and your
//! [`invariants`](DirectClientFuzz::invariant). A failing case is shrunk,
//! and the failure prints the minimal callback sequence with what the
//! factory and its protocols did in each callback.
//!
//! ```
//! use std::sync::Arc;
//! use callorder::reference::LineClientFactory;
//!
//! // Inside #[test]: panics with the minimal callback sequence on failure.
//! let report = callorder::fuzz_client_factory(|| Arc::new(LineClientFactory::new(["hello"])))
//!     .cases(16)
//!     .check();
//! assert_eq!(report.cases, 16);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

use callorder_core::{
    ActionError, Address, ClientFactory, Connector, ConnectorId, ProtocolId, Reactor, Reason,
    Transport,
};
use callorder_trace::{Event, FactoryId, Holder, Record};

use crate::campaign::{self, DirectCase, DirectFailure, DirectReport, Rechunk, Settings};
use crate::greedy::{self, Simplify};
use crate::recorder::{advance_timers, show_bytes, who, Conn, Outcome, Recorder, Stage, World};

/// The factory under test, in every trace of a direct client campaign.
pub const FACTORY: FactoryId = FactoryId(1);
/// How many times the shutdown tears down what the factory keeps starting
/// before it gives up (and the checker reports what is left).
const TEARDOWN_ROUNDS: usize = 16;

/// What happens next to the factory. `connector` is taken modulo the
/// case's number of connectors. A choice that is not legal when its turn
/// comes (an attempt that connects while the connector is connected, data
/// with no connection) is skipped, so removing choices while shrinking
/// always leaves a legal sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientChoice {
    /// The connector's attempt connects: `build_protocol`, then
    /// `connection_made` on the protocol it built.
    Connect(usize),
    /// The connector's attempt fails: `client_connection_failed` with the
    /// `n`-th legal reason (modulo their number).
    Fail(usize, usize),
    /// `data_received` with these bytes (never empty) on the connector's
    /// protocol.
    Data(usize, Vec<u8>),
    /// The connector's connection ends: `connection_lost` with the `n`-th
    /// legal reason (`connection_done` first when it is legal), then
    /// `client_connection_lost` with the same.
    Lost(usize, usize),
    /// Virtual time passes: the `call_later` timers that fall due run.
    Advance(Duration),
}

/// One case: how many connectors share the factory, and what happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCase {
    /// How many connectors (at least one).
    pub connectors: usize,
    /// What happens, in order.
    pub choices: Vec<ClientChoice>,
}

/// The cases of a campaign: one to `max_connectors` connectors and up to
/// `max` choices, mostly outcomes and time; shrinks towards one connector
/// and fewer choices.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// use callorder::direct_client::client_cases;
/// use callorder::strategy::payload;
///
/// let tree = client_cases(payload(), 2, 8).new_tree(&mut TestRunner::deterministic()).unwrap();
/// assert!(tree.current().choices.len() <= 8);
/// assert!((1..=2).contains(&tree.current().connectors));
/// ```
pub fn client_cases(
    payloads: BoxedStrategy<Vec<u8>>,
    max_connectors: usize,
    max: usize,
) -> BoxedStrategy<ClientCase> {
    let delays: Vec<Duration> = [1, 100, 1_000, 5_000, 30_000, 600_000]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let c = 0usize..4;
    let one = prop_oneof![
        3 => c.clone().prop_map(ClientChoice::Connect),
        3 => (c.clone(), 0usize..4).prop_map(|(c, n)| ClientChoice::Fail(c, n)),
        4 => (c.clone(), payloads).prop_filter_map("empty chunk", |(c, b)| {
            (!b.is_empty()).then_some(ClientChoice::Data(c, b))
        }),
        2 => (c, 0usize..4).prop_map(|(c, n)| ClientChoice::Lost(c, n)),
        3 => select(delays).prop_map(ClientChoice::Advance),
    ];
    (1..=max_connectors.max(1), vec(one, 0..=max))
        .prop_map(|(connectors, choices)| ClientCase {
            connectors,
            choices,
        })
        .boxed()
}

type MakeFactory = Rc<dyn Fn() -> Arc<dyn ClientFactory>>;

/// A campaign over one client factory driven directly: build it with
/// [`fuzz_client_factory`](crate::fuzz_client_factory), tune it, then
/// [`check`](DirectClientFuzz::check).
#[must_use]
pub struct DirectClientFuzz {
    make: MakeFactory,
    max_connectors: usize,
    settings: Settings,
}

impl fmt::Debug for DirectClientFuzz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DirectClientFuzz");
        self.settings.describe(&mut d);
        d.field("max_connectors", &self.max_connectors);
        d.finish_non_exhaustive()
    }
}

impl DirectClientFuzz {
    pub(crate) fn new(make: MakeFactory, source_file: &'static str) -> Self {
        DirectClientFuzz {
            make,
            max_connectors: 2,
            settings: Settings::new(source_file),
        }
    }

    direct_campaign_settings!();

    /// The most connectors sharing the factory in a case (default 2; at
    /// least 1).
    pub fn max_connectors(mut self, n: usize) -> Self {
        self.max_connectors = n.max(1);
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
    /// The [`ClientFailure`] of the minimal failing case.
    pub fn run(self) -> Result<DirectReport, Box<ClientFailure>> {
        let strategy = client_cases(
            self.settings.payloads(),
            self.max_connectors,
            self.settings.max_choices,
        );
        campaign::run(&self.settings, &strategy, |rt, case| self.drive(rt, case))
    }

    /// Drives one fresh factory through `case`.
    fn drive(&self, rt: &tokio::runtime::Runtime, case: &ClientCase) -> Outcome {
        let mut outcome = Driver::new((self.make)(), case.connectors, rt).run(&case.choices);
        self.settings.finish_checks(&mut outcome);
        outcome
    }
}

/// The minimal failing case of a direct client campaign. Its
/// `Display` is the panic message of the campaign's `check`.
pub type ClientFailure = DirectFailure<ClientCase>;

/// Where a connector stands, as the reactor sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Its `do_start` is owed.
    AwaitDoStart,
    /// Its `started_connecting` is owed.
    AwaitStarted,
    /// Attempting: the outcome is the world's choice.
    Connecting,
    /// Connected, to this protocol (`None`: `build_protocol` returned none).
    Connected(Option<ProtocolId>),
    /// Its outcome callback is owed or running.
    Outcome,
    /// Disconnected (its `do_stop` may still be owed).
    Disconnected,
}

struct ConnSt {
    id: ConnectorId,
    phase: Phase,
    /// It holds a start of the factory (its `do_start` came, its `do_stop`
    /// not yet).
    holds: bool,
    /// `stop_connecting` before `started_connecting`: the attempt fails
    /// right after it.
    cancelled: bool,
    /// `connect` inside the running outcome callback.
    retried: bool,
}

/// What the reactor owes, delivered in order once nothing runs.
#[derive(Clone, Copy, Debug)]
enum Due {
    DoStart(usize),
    Started(usize),
    Failed(usize, Reason),
    ClientLost(usize, Reason),
    DoStop(usize),
}

/// The recording reactor's state, with the connectors it plays.
type State = Recorder<Connectors>;

/// The connectors and what the reactor owes them.
struct Connectors {
    all: Vec<ConnSt>,
    queue: VecDeque<Due>,
}

impl Connectors {
    fn index(&self, c: ConnectorId) -> Option<usize> {
        self.all.iter().position(|cs| cs.id == c)
    }

    /// `stop_connecting`'s effect (also `disconnect` while connecting).
    fn cancel(&mut self, i: usize) -> Result<(), ActionError> {
        let cs = &mut self.all[i];
        match cs.phase {
            Phase::AwaitDoStart | Phase::AwaitStarted => {
                cs.cancelled = true;
                Ok(())
            }
            Phase::Connecting => {
                cs.phase = Phase::Outcome;
                self.queue.push_back(Due::Failed(i, Reason::UserCancelled));
                Ok(())
            }
            _ => Err(ActionError::NotConnecting),
        }
    }
}

impl World for Connectors {
    const CAMPAIGN: &'static str = "fuzz_client_factory";
    const FUZZED: &'static str = "factory";

    fn peer(_: &State, _: ProtocolId) -> Address {
        Address::new(crate::ADDRESS)
    }

    fn host(_: &State, _: ProtocolId) -> Address {
        Address::new("10.0.0.2:50001")
    }

    fn connect(s: &mut State, c: ConnectorId) -> Result<(), ActionError> {
        let result = match s.world.index(c) {
            None => Err(ActionError::NotConnecting),
            Some(i) => {
                let cs = &mut s.world.all[i];
                match cs.phase {
                    Phase::Disconnected | Phase::Outcome => {
                        if cs.phase == Phase::Outcome {
                            // A retry inside the outcome callback: no do_stop.
                            cs.retried = true;
                        }
                        cs.cancelled = false;
                        let due = if cs.holds {
                            cs.phase = Phase::AwaitStarted;
                            Due::Started(i)
                        } else {
                            cs.phase = Phase::AwaitDoStart;
                            Due::DoStart(i)
                        };
                        s.world.queue.push_back(due);
                        Ok(())
                    }
                    _ => Err(ActionError::AlreadyConnecting),
                }
            }
        };
        s.action(Event::Connect { connector: c }, result, "connect".into());
        result
    }

    fn stop_connecting(s: &mut State, c: ConnectorId) -> Result<(), ActionError> {
        let result = s
            .world
            .index(c)
            .map_or(Err(ActionError::NotConnecting), |i| s.world.cancel(i));
        s.action(
            Event::StopConnecting { connector: c },
            result,
            "stop_connecting".into(),
        );
        result
    }

    fn disconnect(s: &mut State, c: ConnectorId) -> Result<(), ActionError> {
        let result = match s.world.index(c) {
            None => Ok(()),
            Some(i) => match s.world.all[i].phase {
                Phase::AwaitDoStart | Phase::AwaitStarted | Phase::Connecting => s.world.cancel(i),
                Phase::Connected(Some(p)) => {
                    if let Some(conn) = s.conns.get_mut(&p) {
                        if !conn.lost {
                            conn.losing = true;
                        }
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
        };
        s.action(
            Event::Disconnect { connector: c },
            result,
            "disconnect".into(),
        );
        result
    }
}

/// One case: a fresh factory, its connectors, checker and recording
/// reactor.
struct Driver<'rt> {
    stage: Stage<'rt, Connectors>,
    factory: Arc<dyn ClientFactory>,
}

impl<'rt> Driver<'rt> {
    fn new(
        factory: Arc<dyn ClientFactory>,
        connectors: usize,
        rt: &'rt tokio::runtime::Runtime,
    ) -> Self {
        let all = (1..=connectors.max(1) as u64)
            .map(|n| ConnSt {
                id: ConnectorId(n),
                phase: Phase::AwaitDoStart,
                holds: false,
                cancelled: false,
                retried: false,
            })
            .collect();
        let world = Connectors {
            all,
            queue: VecDeque::new(),
        };
        Driver {
            stage: Stage::new(world, rt),
            factory,
        }
    }

    fn run(mut self, choices: &[ClientChoice]) -> Outcome {
        {
            // The test connects every connector: connect_tcp, each owing its
            // do_start.
            let mut s = self.stage.state.borrow_mut();
            for i in 0..s.world.all.len() {
                let connector = s.world.all[i].id;
                let idx = s.record(
                    Event::ConnectTcp {
                        factory: FACTORY,
                        connector,
                    },
                    0,
                    None,
                );
                s.trace[idx].addr = Some(crate::ADDRESS.into());
                s.log.push(format!(
                    "connect_tcp ({})",
                    who(&Event::Connect { connector })
                ));
                s.world.queue.push_back(Due::DoStart(i));
            }
            s.feed();
        }
        self.settle();
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
        let timers = std::mem::take(&mut self.stage.state.borrow_mut().timers);
        drop(timers);
        self.stage.protocols.clear();
        let callbacks = self.stage.callbacks;
        self.stage.state.borrow_mut().outcome(delivered, callbacks)
    }

    /// The callbacks that are legal now, at depth 0.
    fn connector(&self, c: usize) -> (usize, ConnectorId, Phase) {
        let s = self.stage.state.borrow();
        let i = c % s.world.all.len();
        (i, s.world.all[i].id, s.world.all[i].phase)
    }

    /// Delivers `choice` if it is legal now; whether it was.
    fn apply(&mut self, choice: &ClientChoice) -> bool {
        match choice {
            ClientChoice::Advance(by) => {
                self.advance(*by);
                true
            }
            ClientChoice::Connect(c) => {
                let (i, id, phase) = self.connector(*c);
                let holder = Holder::Connector(id);
                let legal =
                    self.stage.legal().iter().any(
                        |e| matches!(e, Event::BuildProtocol { holder: h, .. } if *h == holder),
                    );
                if phase != Phase::Connecting || !legal {
                    return false;
                }
                self.build(i, id);
                true
            }
            ClientChoice::Fail(c, n) => {
                let (i, id, phase) = self.connector(*c);
                if phase != Phase::Connecting {
                    return false;
                }
                let reasons: Vec<Reason> = self
                    .stage
                    .legal()
                    .iter()
                    .filter_map(|e| match e {
                        Event::ClientConnectionFailed {
                            connector, reason, ..
                        } if *connector == id => Some(*reason),
                        _ => None,
                    })
                    .collect();
                if reasons.is_empty() {
                    return false;
                }
                let reason = reasons[n % reasons.len()];
                let mut s = self.stage.state.borrow_mut();
                s.world.all[i].phase = Phase::Outcome;
                s.world.queue.push_back(Due::Failed(i, reason));
                true
            }
            ClientChoice::Data(c, bytes) => {
                let (_, _, phase) = self.connector(*c);
                let Phase::Connected(Some(p)) = phase else {
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
            ClientChoice::Lost(c, n) => {
                let (i, _, phase) = self.connector(*c);
                let Phase::Connected(Some(p)) = phase else {
                    return false;
                };
                let mut reasons = self.stage.lost_reasons(p);
                reasons.sort_by_key(|r| *r != Reason::ConnectionDone);
                if reasons.is_empty() {
                    return false;
                }
                let reason = reasons[n % reasons.len()];
                self.lose(i, p, reason);
                true
            }
        }
    }

    /// The connector's attempt connects: `build_protocol`, then
    /// `connection_made` on what it built.
    fn build(&mut self, i: usize, id: ConnectorId) {
        let p = self.stage.next_protocol_id();
        let holder = Holder::Connector(id);
        let event = Event::BuildProtocol {
            factory: FACTORY,
            holder,
            protocol: Some(p),
        };
        // Connected, with no protocol yet: a connect inside the build
        // raises, a disconnect does nothing.
        self.stage.state.borrow_mut().world.all[i].phase = Phase::Connected(None);
        let factory = self.factory.clone();
        let built = self.stage.deliver(event, 0, None, move || {
            Box::pin(async move { factory.build_protocol(&Address::new(crate::ADDRESS)).await })
        });
        let Some(built) = built else { return };
        match built {
            Some(protocol) => {
                {
                    let mut s = self.stage.state.borrow_mut();
                    s.world.all[i].phase = Phase::Connected(Some(p));
                    s.conns.insert(p, Conn::default());
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
            None => {
                let mut s = self.stage.state.borrow_mut();
                // The record said Some: it was not fed yet, so set it right.
                let idx = s
                    .trace
                    .iter()
                    .rposition(|r| r.step.event == event)
                    .expect("recorded");
                s.trace[idx].step.event = Event::BuildProtocol {
                    factory: FACTORY,
                    holder,
                    protocol: None,
                };
                s.log.push("    (built none)".into());
                s.world.all[i].phase = Phase::Outcome;
                s.world
                    .queue
                    .push_back(Due::ClientLost(i, Reason::ConnectionDone));
            }
        }
        // The build's record is fed now, with its result.
        self.stage.state.borrow_mut().feed();
    }

    /// `connection_lost(reason)` (after the `stop_producing` a registered
    /// producer is owed), then `client_connection_lost` is owed.
    fn lose(&mut self, i: usize, p: ProtocolId, reason: Reason) {
        if !self.stage.end_connection(p, reason) {
            return;
        }
        let mut s = self.stage.state.borrow_mut();
        s.world.all[i].phase = Phase::Outcome;
        s.world.queue.push_back(Due::ClientLost(i, reason));
    }

    /// Delivers what the reactor owes, in order, until nothing is owed.
    fn settle(&mut self) {
        loop {
            if self.stage.done() {
                return;
            }
            let Some(due) = self.stage.state.borrow_mut().world.queue.pop_front() else {
                return;
            };
            match due {
                Due::DoStart(i) => self.do_start(i),
                Due::Started(i) => self.started(i),
                Due::Failed(i, reason) => self.outcome(i, reason, false),
                Due::ClientLost(i, reason) => self.outcome(i, reason, true),
                Due::DoStop(i) => self.do_stop(i),
            }
        }
    }

    fn do_start(&mut self, i: usize) {
        let holder = Holder::Connector(self.stage.state.borrow().world.all[i].id);
        let first = {
            let mut s = self.stage.state.borrow_mut();
            let first = !s.world.all.iter().any(|c| c.holds);
            s.world.all[i].holds = true;
            if s.world.all[i].phase == Phase::AwaitDoStart {
                s.world.all[i].phase = Phase::AwaitStarted;
            }
            s.world.queue.push_back(Due::Started(i));
            first
        };
        let event = Event::DoStart {
            factory: FACTORY,
            holder: Some(holder),
        };
        let factory = self.factory.clone();
        self.stage.deliver(event, 0, None, move || {
            Box::pin(async move {
                factory.do_start(holder);
                Ok(())
            })
        });
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

    fn started(&mut self, i: usize) {
        let id = {
            let mut s = self.stage.state.borrow_mut();
            let cs = &mut s.world.all[i];
            if cs.phase != Phase::AwaitStarted {
                return;
            }
            cs.phase = Phase::Connecting;
            cs.id
        };
        let factory = self.factory.clone();
        let connector = Connector::new(id, self.stage.ops.clone());
        self.stage.deliver(
            Event::StartedConnecting {
                factory: FACTORY,
                connector: id,
            },
            0,
            None,
            move || Box::pin(async move { factory.started_connecting(&connector).await }),
        );
        let mut guard = self.stage.state.borrow_mut();
        let s = &mut *guard;
        let cs = &mut s.world.all[i];
        if cs.cancelled && cs.phase == Phase::Connecting {
            cs.cancelled = false;
            cs.phase = Phase::Outcome;
            s.world
                .queue
                .push_back(Due::Failed(i, Reason::UserCancelled));
        }
    }

    /// `client_connection_failed` (or `_lost`), then the `do_stop` unless
    /// the factory retried.
    fn outcome(&mut self, i: usize, reason: Reason, lost: bool) {
        let id = {
            let mut s = self.stage.state.borrow_mut();
            let cs = &mut s.world.all[i];
            cs.phase = Phase::Outcome;
            cs.retried = false;
            cs.id
        };
        let factory = self.factory.clone();
        let connector = Connector::new(id, self.stage.ops.clone());
        let event = if lost {
            Event::ClientConnectionLost {
                factory: FACTORY,
                connector: id,
                reason,
            }
        } else {
            Event::ClientConnectionFailed {
                factory: FACTORY,
                connector: id,
                reason,
            }
        };
        self.stage
            .deliver(event, 0, Some(reason.to_string()), move || {
                Box::pin(async move {
                    if lost {
                        factory.client_connection_lost(&connector, reason).await
                    } else {
                        factory.client_connection_failed(&connector, reason).await
                    }
                })
            });
        let mut guard = self.stage.state.borrow_mut();
        let s = &mut *guard;
        let cs = &mut s.world.all[i];
        if !cs.retried {
            cs.phase = Phase::Disconnected;
            s.world.queue.push_back(Due::DoStop(i));
        }
        s.world.all[i].retried = false;
    }

    fn do_stop(&mut self, i: usize) {
        let (holder, last) = {
            let mut s = self.stage.state.borrow_mut();
            if !s.world.all[i].holds {
                return;
            }
            s.world.all[i].holds = false;
            let last = !s.world.all.iter().any(|c| c.holds);
            (Holder::Connector(s.world.all[i].id), last)
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

    /// The end of the run: the reactor shuts down, losing live connections
    /// and failing attempts, for a few rounds while the factory retries.
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
        for _ in 0..TEARDOWN_ROUNDS {
            let phases: Vec<Phase> = self
                .stage
                .state
                .borrow()
                .world
                .all
                .iter()
                .map(|c| c.phase)
                .collect();
            let mut any = false;
            for (i, phase) in phases.into_iter().enumerate() {
                if self.stage.done() {
                    return;
                }
                match phase {
                    Phase::Connected(Some(p)) => {
                        any = true;
                        let reason = self.stage.shutdown_reason(p);
                        self.lose(i, p, reason);
                    }
                    Phase::Connecting => {
                        any = true;
                        let mut s = self.stage.state.borrow_mut();
                        s.world.all[i].phase = Phase::Outcome;
                        s.world
                            .queue
                            .push_back(Due::Failed(i, Reason::ConnectError));
                    }
                    _ => {}
                }
                self.settle();
            }
            self.stage.clear_timers();
            if !any {
                break;
            }
        }
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

impl DirectCase for ClientCase {
    const SUBJECT: &'static str = "client factory";

    fn objects(&self) -> Option<(usize, &'static str)> {
        Some((self.connectors, "connector"))
    }

    fn choices(&self) -> &dyn fmt::Debug {
        &self.choices
    }

    fn empty() -> Self {
        ClientCase {
            connectors: 1,
            choices: Vec::new(),
        }
    }
}

impl Simplify for ClientCase {
    fn keep(&self, kept: &[usize]) -> Self {
        ClientCase {
            connectors: self.connectors,
            choices: greedy::kept(&self.choices, kept),
        }
    }

    /// One connector fewer, one choice fewer, or one chunk cut to its first
    /// byte.
    fn simpler(&self) -> Vec<Self> {
        let smaller = |c: &ClientChoice| match c {
            ClientChoice::Data(conn, bytes) if bytes.len() > 1 => {
                Some(ClientChoice::Data(*conn, bytes[..1].to_vec()))
            }
            _ => None,
        };
        greedy::simpler_cases(
            self.connectors,
            &self.choices,
            smaller,
            |connectors, choices| ClientCase {
                connectors,
                choices,
            },
        )
    }

    fn rechunked(&self, how: Rechunk) -> Option<Self> {
        let n = self.connectors.max(1);
        let choices = campaign::rechunked(
            &self.choices,
            how,
            |c| match c {
                ClientChoice::Data(conn, bytes) => Some((*conn % n, &bytes[..])),
                _ => None,
            },
            ClientChoice::Data,
        );
        (choices != self.choices).then_some(ClientCase {
            connectors: self.connectors,
            choices,
        })
    }
}
