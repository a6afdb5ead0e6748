//! Fuzzing a protocol alone, with no reactor: legal callback sequences,
//! straight from the checker.
//!
//! Each case is a list of [`Choice`]s. The driver keeps a
//! [`Checker`](callorder_checker::Checker) and, before every callback, asks
//! it for the legal next steps
//! ([`legal_next`](callorder_checker::Checker::legal_next)), keeps the
//! protocol's own callbacks, and delivers the next choice if it is among them
//! (it is skipped otherwise). The protocol gets a [`Transport`] over a small
//! recording reactor: its writes, closes and producer calls go into the
//! checker as actions, so the checker follows what it does (after its
//! `lose_connection`, `connection_lost(connection_done)` becomes due; after
//! `register_producer`, the producer callbacks become legal). `call_later`
//! timers run on a virtual clock that [`Choice::Advance`] moves. Callbacks
//! run to completion on a current-thread tokio runtime with a paused clock.
//!
//! The checks: no checker violation, no panic, no error returned, no action
//! that is a bug (a second `register_producer`), no write after a close
//! (`abort_connection`, `connection_lost`, a half-close;
//! [`DirectFuzz::allow_write_after_close`]), chunking invariance (each
//! passing case again with its data in one chunk and byte by byte: the
//! same bytes written and the same closes;
//! [`DirectFuzz::no_chunking_invariance`]), and your
//! [`invariants`](DirectFuzz::invariant). It delivers what Twisted's TCP
//! transport can: `stop_producing` only as the connection ends, unless
//! [`DirectFuzz::stop_producing_mid_connection`] asks for more. A failing case is shrunk, and the
//! failure prints the minimal callback sequence with what the protocol did
//! in each callback.
//!
//! ```
//! use callorder::reference::Echo;
//!
//! // Inside #[test]: panics with the minimal callback sequence on failure.
//! let report = callorder::fuzz_protocol(|| Box::new(Echo::new())).cases(32).check();
//! assert_eq!(report.cases, 32);
//! ```

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::FileFailurePersistence;

use callorder_core::{
    ActionError, Address, ConnectorId, PortId, Protocol, ProtocolId, ReactorOps, Reason, Transport,
};
use callorder_trace::{EventKind, FactoryId, Holder, Record};

use crate::campaign::{self, DirectCase, Rechunk, Settings};
pub use crate::campaign::{DirectFailure, DirectReport};
use crate::greedy::{self, Simplify};
use crate::recorder::{
    self, advance_timers, run_callback, show_bytes, top_level_callbacks, Conn, Ops, Outcome,
    Recorder, World,
};

/// The protocol under test, in every trace of a direct campaign.
pub const PROTOCOL: ProtocolId = ProtocolId(1);
/// The port its (notional) connection was accepted on.
const PORT: PortId = PortId(1);
/// The factory of that port.
const FACTORY: FactoryId = FactoryId(1);

/// What happens next to the protocol. A choice that is not legal when its
/// turn comes (data after `connection_lost`, `write_connection_lost` with
/// no half-close asked) is skipped, so removing choices while shrinking
/// always leaves a legal sequence. `connection_made` always comes first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// `data_received` with these bytes (never empty).
    Data(Vec<u8>),
    /// Virtual time passes: the protocol's `call_later` timers that fall
    /// due run.
    Advance(Duration),
    /// `connection_lost`, with the `n`-th legal reason (modulo their number):
    /// `connection_done` first when it is legal.
    Lost(usize),
    /// `read_connection_lost`: the peer closed its writing side
    /// (half-closeable protocols only).
    ReadLost,
    /// `write_connection_lost`: our writing side closed (after the
    /// protocol's `lose_write_connection`; half-closeable protocols only).
    WriteLost,
    /// `pause_producing` (to a registered streaming producer).
    Pause,
    /// `resume_producing` (to a registered producer).
    Resume,
    /// `stop_producing` (to a registered producer) while the connection
    /// lives: delivered only with
    /// [`DirectFuzz::stop_producing_mid_connection`], as Twisted's TCP
    /// transport stops a producer only when the connection ends (PR3),
    /// which every campaign delivers.
    Stop,
}

/// The choices of one case: mostly data, then time, closes and producer
/// calls; shrinks towards fewer choices, and data towards `a\r\n`.
///
/// ```
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// use callorder::direct::choices;
/// use callorder::strategy::payload;
///
/// let tree = choices(payload(), 8).new_tree(&mut TestRunner::deterministic()).unwrap();
/// assert!(tree.current().len() <= 8);
/// ```
pub fn choices(payloads: BoxedStrategy<Vec<u8>>, max: usize) -> BoxedStrategy<Vec<Choice>> {
    let delays: Vec<Duration> = [1, 100, 1_000, 5_000, 30_000, 600_000]
        .into_iter()
        .map(Duration::from_millis)
        .collect();
    let one = prop_oneof![
        10 => payloads.prop_filter_map("empty chunk", |b| (!b.is_empty()).then_some(Choice::Data(b))),
        2 => (0usize..4).prop_map(Choice::Lost),
        2 => select(delays).prop_map(Choice::Advance),
        1 => Just(Choice::ReadLost),
        1 => Just(Choice::WriteLost),
        1 => Just(Choice::Pause),
        1 => Just(Choice::Resume),
        1 => Just(Choice::Stop),
    ];
    vec(one, 0..=max).boxed()
}

type MakeProtocol = Rc<dyn Fn() -> Box<dyn Protocol>>;

/// A campaign over one protocol driven directly: build it with
/// [`fuzz_protocol`](crate::fuzz_protocol), tune it, then
/// [`check`](DirectFuzz::check).
#[must_use]
pub struct DirectFuzz {
    make: MakeProtocol,
    /// Deliver [`Choice::Stop`] mid-connection.
    stop_mid: bool,
    settings: Settings,
}

impl fmt::Debug for DirectFuzz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DirectFuzz");
        self.settings.describe(&mut d);
        d.field("stop_mid", &self.stop_mid);
        d.finish_non_exhaustive()
    }
}

impl DirectFuzz {
    pub(crate) fn new(make: MakeProtocol, source_file: &'static str) -> Self {
        DirectFuzz {
            make,
            stop_mid: false,
            settings: Settings::new(source_file),
        }
    }

    direct_campaign_settings!();

    /// Also delivers `stop_producing` to a registered producer while its
    /// connection lives (off by default). Twisted's TCP transport calls it
    /// only when the connection ends, just before `connection_lost` (PR3),
    /// which every case delivers; a producer that other code may stop (a
    /// consumer of its own, a test) needs this.
    pub fn stop_producing_mid_connection(mut self) -> Self {
        self.stop_mid = true;
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
    /// The [`DirectFailure`] of the minimal failing sequence.
    pub fn run(self) -> Result<DirectReport, Box<DirectFailure>> {
        let strategy = choices(self.settings.payloads(), self.settings.max_choices);
        campaign::run(&self.settings, &strategy, |rt, choices| {
            self.drive(rt, choices)
        })
    }

    /// Drives one fresh protocol through `choices`.
    fn drive(&self, rt: &tokio::runtime::Runtime, choices: &[Choice]) -> Outcome {
        let mut outcome = Driver::new(self.make.clone(), self.stop_mid, rt).run(choices);
        self.settings.finish_checks(&mut outcome);
        outcome
    }
}

/// The protocol driver's world: one protocol, no connectors or ports.
struct Alone;

impl World for Alone {
    const CAMPAIGN: &'static str = "fuzz_protocol";
    const FUZZED: &'static str = "protocol";

    fn peer(_: &State, _: ProtocolId) -> Address {
        Address::new("10.0.0.1:50001")
    }

    fn host(_: &State, _: ProtocolId) -> Address {
        Address::new(crate::ADDRESS)
    }

    fn destination(_: &State, _: ConnectorId) -> Address {
        Address::new("?")
    }

    fn disconnect(_: &mut State, _: ConnectorId) -> Result<(), ActionError> {
        Ok(())
    }
}

/// The recording reactor's state: one protocol, no connectors.
type State = Recorder<Alone>;

/// A running protocol callback's future.
type Callback<'a> = recorder::Callback<'a, ()>;

/// One case: a fresh protocol, its checker and its recording reactor.
struct Driver<'rt> {
    state: Rc<RefCell<State>>,
    /// Taken out while one of its callbacks runs.
    protocol: Option<Box<dyn Protocol>>,
    half_closeable: bool,
    /// Deliver `stop_producing` mid-connection.
    stop_mid: bool,
    rt: &'rt tokio::runtime::Runtime,
    callbacks: usize,
}

impl<'rt> Driver<'rt> {
    fn new(make: MakeProtocol, stop_mid: bool, rt: &'rt tokio::runtime::Runtime) -> Self {
        let mut recorder = State::new(Alone);
        recorder.conns.insert(PROTOCOL, Conn::default());
        let state = Rc::new(RefCell::new(recorder));
        let protocol = make();
        let half_closeable = protocol.half_closeable();
        Driver {
            state,
            protocol: Some(protocol),
            half_closeable,
            stop_mid,
            rt,
            callbacks: 0,
        }
    }

    fn done(&self) -> bool {
        self.state.borrow().finding.is_some()
    }

    /// Reads or changes the protocol's connection.
    fn conn<T>(&self, f: impl FnOnce(&mut Conn) -> T) -> T {
        f(self
            .state
            .borrow_mut()
            .conns
            .get_mut(&PROTOCOL)
            .expect("the one connection"))
    }

    fn run(mut self, choices: &[Choice]) -> Outcome {
        use callorder_trace::Event as E;
        {
            // The connection's past: a port listening, its factory started,
            // the protocol built for an accepted connection.
            let mut s = self.state.borrow_mut();
            let holder = Holder::Port(PORT);
            s.record(
                E::ListenTcp {
                    factory: FACTORY,
                    port: PORT,
                },
                0,
                None,
            );
            s.record(
                E::DoStart {
                    factory: FACTORY,
                    holder: Some(holder),
                },
                0,
                None,
            );
            s.record(E::StartFactory { factory: FACTORY }, 1, None);
            s.record(
                E::BuildProtocol {
                    factory: FACTORY,
                    holder,
                    protocol: Some(PROTOCOL),
                },
                0,
                None,
            );
            s.feed();
        }
        let mut delivered = Vec::new();
        let ops: Rc<dyn ReactorOps> = Rc::new(Ops(self.state.clone()));
        let transport = Transport::new(PROTOCOL, ops);
        self.deliver(E::ConnectionMade { protocol: PROTOCOL }, None, |p| {
            p.connection_made(transport)
        });
        for (i, choice) in choices.iter().enumerate() {
            if self.done() {
                break;
            }
            if self.apply(choice) {
                delivered.push(i);
            }
        }
        if !self.done() {
            self.teardown();
        }
        // The timers may hold handles on the recorder: drop them first.
        let timers = std::mem::take(&mut self.state.borrow_mut().timers);
        drop(timers);
        let callbacks = self.callbacks;
        self.state.borrow_mut().outcome(delivered, callbacks)
    }

    /// The protocol's own callbacks that are legal now.
    fn legal(&self) -> Vec<callorder_trace::Event> {
        top_level_callbacks(&self.state.borrow().checker)
            .filter(|e| e.protocol() == Some(PROTOCOL))
            .collect()
    }

    /// Delivers `choice` if it is legal now; whether it was.
    fn apply(&mut self, choice: &Choice) -> bool {
        use callorder_trace::Event as E;
        if let Choice::Advance(by) = choice {
            self.advance(*by);
            return true;
        }
        let legal = self.legal();
        let has = |k: EventKind| legal.iter().any(|e| e.kind() == k);
        match choice {
            Choice::Data(bytes) if has(EventKind::DataReceived) && !bytes.is_empty() => {
                let event = E::DataReceived {
                    protocol: PROTOCOL,
                    bytes: bytes.len() as u64,
                };
                let owned = bytes.clone();
                self.deliver(event, Some(show_bytes(bytes)), move |p| {
                    Box::pin(async move { p.data_received(&owned).await })
                });
                true
            }
            Choice::Lost(n) => {
                let mut reasons: Vec<Reason> = legal
                    .iter()
                    .filter_map(|e| match e {
                        E::ConnectionLost { reason, .. } => Some(*reason),
                        _ => None,
                    })
                    .collect();
                // connection_done first, then the order of the format.
                reasons.sort_by_key(|r| *r != Reason::ConnectionDone);
                if reasons.is_empty() {
                    return false;
                }
                let reason = reasons[n % reasons.len()];
                self.lose(reason);
                true
            }
            Choice::ReadLost if self.half_closeable && has(EventKind::ReadConnectionLost) => {
                self.deliver(E::ReadConnectionLost { protocol: PROTOCOL }, None, |p| {
                    p.read_connection_lost()
                });
                true
            }
            Choice::WriteLost if self.half_closeable && has(EventKind::WriteConnectionLost) => {
                self.deliver(E::WriteConnectionLost { protocol: PROTOCOL }, None, |p| {
                    p.write_connection_lost()
                });
                true
            }
            Choice::Pause if has(EventKind::PauseProducing) => {
                self.deliver(E::PauseProducing { protocol: PROTOCOL }, None, |p| {
                    p.pause_producing()
                });
                true
            }
            Choice::Resume if has(EventKind::ResumeProducing) => {
                self.deliver(E::ResumeProducing { protocol: PROTOCOL }, None, |p| {
                    p.resume_producing()
                });
                true
            }
            Choice::Stop if self.stop_mid && has(EventKind::StopProducing) => {
                self.deliver(E::StopProducing { protocol: PROTOCOL }, None, |p| {
                    p.stop_producing()
                });
                true
            }
            _ => false,
        }
    }

    /// `connection_lost(reason)`, after the `stop_producing` a registered
    /// producer is owed first.
    fn lose(&mut self, reason: Reason) {
        use callorder_trace::Event as E;
        let owes_stop = self.conn(|c| c.producer)
            && self
                .legal()
                .iter()
                .any(|e| e.kind() == EventKind::StopProducing);
        if owes_stop {
            self.deliver(E::StopProducing { protocol: PROTOCOL }, None, |p| {
                p.stop_producing()
            });
            self.conn(|c| c.producer = false);
            if self.done() {
                return;
            }
        }
        self.conn(|c| c.lost = true);
        self.deliver(
            E::ConnectionLost {
                protocol: PROTOCOL,
                reason,
            },
            Some(reason.to_string()),
            |p| p.connection_lost(reason),
        );
    }

    /// The end of the run: the connection is lost if it is not yet (with
    /// the reason its own closes make due), the port stops, the trace ends.
    fn teardown(&mut self) {
        use callorder_trace::Event as E;
        if !self.conn(|c| c.lost) {
            // What the protocol's own closes make due; else the reactor
            // shutting down.
            let legal = self.legal();
            let (aborted, losing) = self.conn(|c| (c.aborted, c.losing));
            let reason = crate::recorder::reason_at_shutdown(aborted, losing, |reason| {
                legal.contains(&E::ConnectionLost {
                    protocol: PROTOCOL,
                    reason,
                })
            });
            self.lose(reason);
        }
        if self.done() {
            return;
        }
        let mut s = self.state.borrow_mut();
        let holder = Some(Holder::Port(PORT));
        s.record(E::Shutdown, 0, None);
        s.record(
            E::DoStop {
                factory: FACTORY,
                holder,
            },
            0,
            None,
        );
        s.record(E::StopFactory { factory: FACTORY }, 1, None);
        s.record(E::End, 0, None);
        s.feed();
    }

    /// Runs the timers due within `by`, then sets the clock.
    fn advance(&mut self, by: Duration) {
        let state = self.state.clone();
        advance_timers(&state, by, || self.done());
    }

    /// Records the callback `event`, runs it to completion, then feeds the
    /// checker the callback and the actions it made.
    fn deliver(
        &mut self,
        event: callorder_trace::Event,
        what: Option<String>,
        call: impl for<'a> FnOnce(&'a mut dyn Protocol) -> Callback<'a>,
    ) {
        let line = match what {
            Some(w) => format!("{} {w}", event.kind()),
            None => event.kind().to_string(),
        };
        self.callbacks += 1;
        let mut protocol = self.protocol.take().expect("no callback is running");
        run_callback(&self.state, self.rt, (event, 0, line), true, || {
            call(protocol.as_mut())
        });
        self.protocol = Some(protocol);
    }
}

impl DirectCase for Vec<Choice> {
    const SUBJECT: &'static str = "protocol";

    fn objects(&self) -> Option<(usize, &'static str)> {
        None
    }

    fn choices(&self) -> &dyn fmt::Debug {
        self
    }

    fn empty() -> Self {
        Vec::new()
    }
}

impl Simplify for Vec<Choice> {
    fn keep(&self, kept: &[usize]) -> Self {
        kept.iter().map(|&i| self[i].clone()).collect()
    }

    /// One choice fewer, or one chunk cut to its first byte.
    fn simpler(&self) -> Vec<Self> {
        greedy::simpler_choices(self, |c| match c {
            Choice::Data(bytes) if bytes.len() > 1 => Some(Choice::Data(bytes[..1].to_vec())),
            _ => None,
        })
    }

    fn rechunked(&self, how: Rechunk) -> Option<Self> {
        let out = campaign::rechunked(
            self,
            how,
            |c| match c {
                Choice::Data(bytes) => Some((0, &bytes[..])),
                _ => None,
            },
            |_, bytes| Choice::Data(bytes),
        );
        (out != *self).then_some(out)
    }
}
