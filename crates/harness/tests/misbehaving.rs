//! Misbehaving implementations: a callback that panics, and one that returns
//! an error, in every callback position, one at a time.
//!
//! The cases are generated from the trace format's own list of callbacks
//! (`EventKind::ALL`, those that are callbacks): a callback with no case
//! fails the table, so a new callback cannot be forgotten. Each case states
//! what Twisted does when that callback raises (the `docs/semantics.md` ids)
//! as the victim's events from the failed one on, and checks that the run
//! reports the failure as the implementation's, at the failed event of the
//! trace so far, and that a well-behaved bystander connection in the same
//! reactor lives its whole life cycle after it, as Twisted's reactor goes on
//! with its other connections.

// Factories are shared as `Arc` by the API; the mock reactor is
// single-threaded, so a factory may keep `Rc` state.
#![allow(clippy::arc_with_non_send_sync)]

mod support;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Holder, Protocol,
    Reactor, Reason, Transport,
};
use callorder_harness::{Conn, ImplErrorKind, MockReactor, Outcome, Run, Script};
use callorder_trace::{EventKind, FactoryId, ProtocolId, Record};

/// How the victim's callback misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    Panic,
    Error,
}

const BOTH: [How; 2] = [How::Panic, How::Error];

/// The one callback that misbehaves, once: the first time it is called.
struct Trap {
    at: EventKind,
    how: How,
    sprung: Cell<bool>,
}

impl Trap {
    /// Called at the start of every callback of the victim.
    fn spring(&self, kind: EventKind) -> CallbackResult {
        if kind != self.at || self.sprung.replace(true) {
            return Ok(());
        }
        match self.how {
            How::Panic => panic!("{kind} panicked on purpose"),
            How::Error => Err(CallbackError::new(format!("{kind} failed on purpose"))),
        }
    }

    /// For `do_start` and `do_stop`, which return nothing: only a panic.
    fn spring_sync(&self, kind: EventKind) {
        if kind == self.at && self.how == How::Panic && !self.sprung.replace(true) {
            panic!("{kind} panicked on purpose");
        }
    }
}

/// What the victim's protocol does to reach the callback that fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Reach {
    /// Nothing special.
    #[default]
    Plain,
    /// connection_made registers a streaming producer and writes past the
    /// high-water mark: pause_producing follows.
    FillBuffer,
    /// connection_made registers a pull producer: resume_producing follows.
    PullProducer,
    /// connection_made registers a streaming producer: the connection's end
    /// stops it.
    StreamingProducer,
    /// connection_made half-closes: write_connection_lost follows.
    HalfCloseOnMade,
}

struct Victim {
    trap: Rc<Trap>,
    reach: Reach,
}

struct VictimProtocol {
    trap: Rc<Trap>,
    reach: Reach,
}

#[async_trait(?Send)]
impl Protocol for VictimProtocol {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.trap.spring(EventKind::ConnectionMade)?;
        match self.reach {
            Reach::Plain => {}
            Reach::FillBuffer => {
                t.register_producer(true)?;
                t.write(&[b'x'; 70_000])?;
            }
            Reach::PullProducer => t.register_producer(false)?,
            Reach::StreamingProducer => t.register_producer(true)?,
            Reach::HalfCloseOnMade => t.lose_write_connection()?,
        }
        Ok(())
    }
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        self.trap.spring(EventKind::DataReceived)
    }
    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        self.trap.spring(EventKind::ConnectionLost)
    }
    fn half_closeable(&self) -> bool {
        true
    }
    async fn read_connection_lost(&mut self) -> CallbackResult {
        self.trap.spring(EventKind::ReadConnectionLost)
    }
    async fn write_connection_lost(&mut self) -> CallbackResult {
        self.trap.spring(EventKind::WriteConnectionLost)
    }
    async fn pause_producing(&mut self) -> CallbackResult {
        self.trap.spring(EventKind::PauseProducing)
    }
    async fn resume_producing(&mut self) -> CallbackResult {
        self.trap.spring(EventKind::ResumeProducing)
    }
    async fn stop_producing(&mut self) -> CallbackResult {
        self.trap.spring(EventKind::StopProducing)
    }
}

#[async_trait(?Send)]
impl Factory for Victim {
    fn do_start(&self, _: Holder) {
        self.trap.spring_sync(EventKind::DoStart);
    }
    fn do_stop(&self, _: Holder) {
        self.trap.spring_sync(EventKind::DoStop);
    }
    async fn start_factory(&self, _: &Reactor) -> CallbackResult {
        self.trap.spring(EventKind::StartFactory)
    }
    async fn stop_factory(&self) -> CallbackResult {
        self.trap.spring(EventKind::StopFactory)
    }
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        self.trap.spring(EventKind::BuildProtocol)?;
        Ok(Some(Box::new(VictimProtocol {
            trap: self.trap.clone(),
            reach: self.reach,
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Victim {
    async fn started_connecting(&self, _: &Connector) -> CallbackResult {
        self.trap.spring(EventKind::StartedConnecting)
    }
    async fn client_connection_failed(&self, _: &Connector, _: Reason) -> CallbackResult {
        self.trap.spring(EventKind::ClientConnectionFailed)
    }
    async fn client_connection_lost(&self, _: &Connector, _: Reason) -> CallbackResult {
        self.trap.spring(EventKind::ClientConnectionLost)
    }
}

/// The bystander: a well-behaved client of its own factory.
struct Bystander;

#[async_trait(?Send)]
impl Protocol for Bystander {
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

#[async_trait(?Send)]
impl Factory for Bystander {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Bystander)))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Bystander {}

const BYSTANDER: &str = "10.0.0.1:80";
const VICTIM_SERVER: &str = "0.0.0.0:8080";
const VICTIM_CLIENT: &str = "10.0.0.2:80";

/// Which side the victim is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    /// A client connecting to [`VICTIM_CLIENT`], after the bystander's
    /// connector: its attempt is attempt 2, its connection `client 2`.
    Client,
    /// A server listening on [`VICTIM_SERVER`] (port 1): its connections
    /// are `server 1`, `server 2`, ...
    Server,
}

/// One case: a callback failing, and what follows.
struct Case {
    kind: EventKind,
    side: Side,
    reach: Reach,
    /// Which misbehaviours the callback can have: `do_start` and `do_stop`
    /// return nothing, so they can only panic.
    how: &'static [How],
    /// The victim's part of the script, before the bystander's.
    world: fn(Script) -> Script,
    /// What Twisted does when the callback raises.
    semantics: &'static str,
    /// The victim's events from the failed one on (`!` marks an event with
    /// `error`), up to the end of the run.
    then: &'static [&'static str],
    /// The rule of the violation the run ends with, if Twisted's answer
    /// leaves an obligation unmet at `end` that the strict profile owes.
    violation: Option<&'static str>,
}

fn nothing(s: Script) -> Script {
    s
}

const LOST_OTHER: [&str; 5] = [
    "connection_lost(other)",
    "client_connection_lost(other)",
    "do_stop",
    "stop_factory",
    "",
];

/// Every case. More than one case may have the same callback (a client's
/// and a server's `build_protocol`).
fn cases() -> Vec<Case> {
    use EventKind as K;
    vec![
        Case {
            kind: K::DoStart,
            side: Side::Client,
            reach: Reach::Plain,
            how: &[How::Panic],
            world: nothing,
            semantics: "P11, F1: the connect raises; the connector stays connecting, its factory unstarted",
            then: &["do_start!", "start_factory!"],
            violation: None,
        },
        Case {
            kind: K::StartFactory,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: nothing,
            semantics: "P11, F1: the connect raises; the connector stays connecting, its factory unstarted",
            then: &["do_start!", "start_factory!"],
            violation: None,
        },
        Case {
            kind: K::StartedConnecting,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| {
                s.resolve(2, Outcome::Accept)
                    .send(Conn::Client(2), b"x")
                    .close(Conn::Client(2))
            },
            semantics: "P11: connectTCP raises, but the attempt goes on and may succeed",
            then: &[
                "started_connecting!",
                "build_protocol",
                "connection_made",
                "data_received",
                "connection_lost(connection_done)",
                "client_connection_lost(connection_done)",
                "do_stop",
                "stop_factory",
            ],
            violation: None,
        },
        Case {
            kind: K::BuildProtocol,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept),
            semantics: "C11, G4: client_connection_failed(connect_error), then do_stop",
            then: &[
                "build_protocol!",
                "client_connection_failed(connect_error)",
                "do_stop",
                "stop_factory",
            ],
            violation: None,
        },
        Case {
            kind: K::BuildProtocol,
            side: Side::Server,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| {
                s.accept(1, "10.9.9.9:5000")
                    .accept(1, "10.9.9.9:5001")
                    .send(Conn::Server(2), b"x")
                    .close(Conn::Server(2))
            },
            semantics: "S3: the accept makes no connection; the port serves the next one",
            then: &[
                "build_protocol!",
                "build_protocol",
                "connection_made",
                "data_received",
                "connection_lost(connection_done)",
                "do_stop",
                "stop_factory",
            ],
            violation: None,
        },
        Case {
            kind: K::ClientConnectionFailed,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Refuse),
            semantics: "P10: no do_stop; the connector keeps its start, the factory is never stopped",
            then: &["client_connection_failed(connection_refused)!"],
            violation: None,
        },
        Case {
            kind: K::ClientConnectionLost,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept).close(Conn::Client(2)),
            semantics: "P10: no do_stop; the connector keeps its start, the factory is never stopped",
            then: &[
                "connection_lost(connection_done)",
                "client_connection_lost(connection_done)!",
            ],
            violation: None,
        },
        Case {
            kind: K::DoStop,
            side: Side::Client,
            reach: Reach::Plain,
            how: &[How::Panic],
            world: |s| s.resolve(2, Outcome::Refuse),
            semantics: "F2, F3b: the exception leaves the connector's connectionFailed, after the outcome",
            then: &[
                "client_connection_failed(connection_refused)",
                "do_stop!",
                "stop_factory!",
            ],
            violation: None,
        },
        Case {
            kind: K::StopFactory,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Refuse),
            semantics: "F2, F3b: the exception leaves the connector's connectionFailed, after the outcome",
            then: &[
                "client_connection_failed(connection_refused)",
                "do_stop!",
                "stop_factory!",
            ],
            violation: None,
        },
        Case {
            kind: K::ConnectionMade,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept),
            semantics: "P8: as P7, connection_lost with the exception in the same turn",
            then: &[
                "connection_made!",
                LOST_OTHER[0],
                LOST_OTHER[1],
                LOST_OTHER[2],
                LOST_OTHER[3],
            ],
            violation: None,
        },
        Case {
            kind: K::ConnectionMade,
            side: Side::Server,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| {
                s.accept(1, "10.9.9.9:5000")
                    .send(Conn::Server(1), b"x")
                    .close(Conn::Server(1))
            },
            semantics: "S3, G13: a server connection stays open after its connection_made raised",
            then: &[
                "connection_made!",
                "data_received",
                "connection_lost(connection_done)",
                "do_stop",
                "stop_factory",
            ],
            violation: None,
        },
        Case {
            kind: K::DataReceived,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept).send(Conn::Client(2), b"x"),
            semantics: "P7: connection_lost with the exception in the same turn, then the factory's",
            then: &[
                "data_received!",
                LOST_OTHER[0],
                LOST_OTHER[1],
                LOST_OTHER[2],
                LOST_OTHER[3],
            ],
            violation: None,
        },
        Case {
            kind: K::ReadConnectionLost,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept).half_close(Conn::Client(2)),
            semantics: "H5: connection_lost with the exception follows at once",
            then: &[
                "read_connection_lost!",
                LOST_OTHER[0],
                LOST_OTHER[1],
                LOST_OTHER[2],
                LOST_OTHER[3],
            ],
            violation: None,
        },
        Case {
            kind: K::WriteConnectionLost,
            side: Side::Client,
            reach: Reach::HalfCloseOnMade,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept),
            semantics: "H5: connection_lost with the exception follows at once",
            then: &[
                "write_connection_lost!",
                LOST_OTHER[0],
                LOST_OTHER[1],
                LOST_OTHER[2],
                LOST_OTHER[3],
            ],
            violation: None,
        },
        Case {
            kind: K::ConnectionLost,
            side: Side::Client,
            reach: Reach::Plain,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept).close(Conn::Client(2)),
            semantics: "P9, N3: no client_connection_lost and no do_stop, ever",
            then: &["connection_lost(connection_done)!"],
            violation: None,
        },
        Case {
            kind: K::PauseProducing,
            side: Side::Client,
            reach: Reach::FillBuffer,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept),
            semantics: "PR6, P8: the raise leaves the write in connection_made; the producer is stopped, then connection_lost",
            then: &[
                "pause_producing!",
                "stop_producing",
                LOST_OTHER[0],
                LOST_OTHER[1],
                LOST_OTHER[2],
                LOST_OTHER[3],
            ],
            violation: None,
        },
        Case {
            kind: K::ResumeProducing,
            side: Side::Client,
            reach: Reach::PullProducer,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept),
            semantics: "PR6, P8: the raise leaves register_producer in connection_made; the producer is stopped, then connection_lost",
            then: &[
                "resume_producing!",
                "stop_producing",
                LOST_OTHER[0],
                LOST_OTHER[1],
                LOST_OTHER[2],
                LOST_OTHER[3],
            ],
            violation: None,
        },
        Case {
            kind: K::StopProducing,
            side: Side::Client,
            reach: Reach::StreamingProducer,
            how: &BOTH,
            world: |s| s.resolve(2, Outcome::Accept).close(Conn::Client(2)),
            semantics: "PR6: the transport's connectionLost stops at the raise: no connection_lost, no outcome, ever",
            then: &["stop_producing!"],
            // Twisted leaves the protocol made and never lost, and its
            // connector connected: the strict profile owes both at `end`.
            violation: Some("C-UNRESOLVED"),
        },
    ]
}

/// The bystander's part of the script: a whole life cycle of attempt 1.
fn bystander_world(s: Script) -> Script {
    s.resolve(1, Outcome::Accept)
        .send(Conn::Client(1), b"hello")
        .close(Conn::Client(1))
}

const BYSTANDER_LIFE: [&str; 10] = [
    "connect_tcp",
    "do_start",
    "start_factory",
    "started_connecting",
    "build_protocol",
    "connection_made",
    "data_received",
    "connection_lost(connection_done)",
    "client_connection_lost(connection_done)",
    "do_stop",
];

fn describe(r: &Record) -> String {
    let e = &r.step.event;
    let mut s = e.kind().to_string();
    if let Some(reason) = e.reason() {
        s.push_str(&format!("({reason})"));
    }
    if r.step.failed {
        s.push('!');
    }
    s
}

/// The factory set up at `addr`, by the set-up event that names it.
fn factory_at(run: &Run, addr: &str) -> FactoryId {
    run.trace
        .iter()
        .find(|r| r.addr.as_deref() == Some(addr))
        .and_then(|r| r.step.event.factory())
        .unwrap_or_else(|| panic!("a connect_tcp or listen_tcp to {addr}"))
}

/// The events of factory `f`, its connectors and ports, and the protocols
/// it built, in trace order.
fn events_of_factory(run: &Run, f: FactoryId) -> Vec<&Record> {
    let mut protocols: Vec<ProtocolId> = Vec::new();
    let mut mine = Vec::new();
    for r in &run.trace {
        let e = &r.step.event;
        if e.kind() == EventKind::BuildProtocol && e.factory() == Some(f) {
            protocols.extend(e.protocol());
        }
        let by_protocol =
            e.factory().is_none() && e.protocol().is_some_and(|p| protocols.contains(&p));
        if e.factory() == Some(f) || by_protocol {
            mine.push(r);
        }
    }
    mine
}

fn run_case(case: &Case, how: How) -> Run {
    let trap = Rc::new(Trap {
        at: case.kind,
        how,
        sprung: Cell::new(false),
    });
    let victim = Arc::new(Victim {
        trap,
        reach: case.reach,
    });
    let script = bystander_world((case.world)(Script::new())).shutdown();
    MockReactor::new().run(script, move |r| {
        r.connect_tcp(BYSTANDER, Arc::new(Bystander), None);
        match case.side {
            Side::Client => {
                r.connect_tcp(VICTIM_CLIENT, victim, None);
            }
            Side::Server => {
                r.listen_tcp(VICTIM_SERVER, victim).expect("a free address");
            }
        }
    })
}

/// Checks one case; what went wrong, if anything.
fn check(case: &Case, how: How) -> Result<(), String> {
    let run = run_case(case, how);
    let context = || {
        format!(
            "{} {how:?} ({:?}; {}):\n{}",
            case.kind,
            case.side,
            case.semantics,
            run.trace_jsonl()
        )
    };
    // Reported as the implementation's error, at the failed event.
    let [error] = &run.errors[..] else {
        return Err(format!(
            "expected one error, got {:?}\n{}",
            run.errors,
            context()
        ));
    };
    let kind = match how {
        How::Panic => ImplErrorKind::Panicked,
        How::Error => ImplErrorKind::Returned,
    };
    let said = match how {
        How::Panic => format!("{} panicked on purpose", case.kind),
        How::Error => format!("{} failed on purpose", case.kind),
    };
    if error.kind != kind || error.message != said {
        return Err(format!("the error is {error:?}\n{}", context()));
    }
    // start_factory and stop_factory fail the do_start or do_stop whose hook
    // they are: the error is reported at the hook's caller.
    let reported = match case.kind {
        EventKind::StartFactory => EventKind::DoStart,
        EventKind::StopFactory => EventKind::DoStop,
        other => other,
    };
    if error.event != Some(reported) {
        return Err(format!("the error names {:?}\n{}", error.event, context()));
    }
    let failed = run
        .trace
        .iter()
        .find(|r| r.step.seq == error.seq)
        .ok_or_else(|| format!("no record at seq {}\n{}", error.seq, context()))?;
    let shown = match how {
        How::Panic => format!("panicked: {said}"),
        How::Error => said.clone(),
    };
    if !failed.step.failed || failed.error.as_deref() != Some(shown.as_str()) {
        return Err(format!("the failed record is {failed:?}\n{}", context()));
    }
    // What Twisted does next, for the victim.
    let addr = match case.side {
        Side::Client => VICTIM_CLIENT,
        Side::Server => VICTIM_SERVER,
    };
    let victim = events_of_factory(&run, factory_at(&run, addr));
    let from = victim
        .iter()
        .position(|r| r.step.failed)
        .ok_or_else(|| format!("no failed event of the victim\n{}", context()))?;
    let expected: Vec<&str> = case
        .then
        .iter()
        .copied()
        .filter(|e| !e.is_empty())
        .collect();
    // The victim's events from the failure on; for a failure that is not
    // the victim's first event of its kind (a client_connection_lost after
    // its connection_lost), from the first expected one.
    let start = from.saturating_sub(expected.iter().position(|e| e.ends_with('!')).unwrap_or(0));
    let got: Vec<String> = victim[start..].iter().map(|r| describe(r)).collect();
    if got != expected {
        return Err(format!(
            "the victim's events from its failure are {got:?}, expected {expected:?}\n{}",
            context()
        ));
    }
    // The run went on: the bystander's whole life cycle, after the failure.
    let bystander = events_of_factory(&run, factory_at(&run, BYSTANDER));
    let life: Vec<String> = bystander.iter().map(|r| describe(r)).collect();
    let whole: Vec<&str> = BYSTANDER_LIFE
        .iter()
        .copied()
        .chain(["stop_factory"])
        .collect();
    if life != whole {
        return Err(format!("the bystander's life is {life:?}\n{}", context()));
    }
    let built = bystander
        .iter()
        .find(|r| r.step.event.kind() == EventKind::BuildProtocol)
        .map(|r| r.step.seq);
    if built.is_none_or(|seq| seq < error.seq) {
        return Err(format!(
            "the bystander's connection should be made after the failure at seq {}\n{}",
            error.seq,
            context()
        ));
    }
    let rule = run.violation.as_ref().map(|v| v.rule.id());
    if rule != case.violation {
        return Err(format!(
            "the violation is {:?}, expected {:?}\n{}",
            run.violation,
            case.violation,
            context()
        ));
    }
    if run.trace.last().map(|r| r.step.event.kind()) != Some(EventKind::End) {
        return Err(format!("the run did not reach its end\n{}", context()));
    }
    Ok(())
}

#[test]
fn every_callback_has_a_case_for_a_panic_and_for_an_error() {
    let cases = cases();
    let mut missing = Vec::new();
    for &kind in EventKind::ALL.iter().filter(|k| k.is_callback()) {
        for how in BOTH {
            let covered = cases.iter().any(|c| c.kind == kind && c.how.contains(&how));
            // do_start and do_stop return `()`: they can panic, never
            // return an error.
            let impossible =
                how == How::Error && matches!(kind, EventKind::DoStart | EventKind::DoStop);
            if !covered && !impossible {
                missing.push(format!("{kind} {how:?}"));
            }
        }
    }
    assert!(missing.is_empty(), "callbacks with no case: {missing:?}");
}

#[test]
fn a_callback_that_panics_or_fails_gets_what_twisted_does_and_the_run_goes_on() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in cases() {
        for &how in case.how {
            ran += 1;
            if let Err(why) = check(&case, how) {
                failures.push(why);
            }
        }
    }
    assert!(ran >= 30, "{ran} cases ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn under_the_twisted_profile_a_stop_producing_that_raises_leaves_warnings_not_a_violation() {
    let case = cases()
        .into_iter()
        .find(|c| c.kind == EventKind::StopProducing)
        .expect("a case");
    let trap = Rc::new(Trap {
        at: case.kind,
        how: How::Error,
        sprung: Cell::new(false),
    });
    let victim = Arc::new(Victim {
        trap,
        reach: case.reach,
    });
    let run = MockReactor::with_profile(callorder_checker::Profile::Twisted, 0).run(
        (case.world)(Script::new()).shutdown(),
        |r| {
            r.connect_tcp(BYSTANDER, Arc::new(Bystander), None);
            r.connect_tcp(VICTIM_CLIENT, victim, None);
        },
    );
    assert!(run.violation.is_none(), "{:?}", run.violation);
    let owed: Vec<&str> = run.warnings.iter().map(|w| w.rule.id()).collect();
    assert!(
        owed.contains(&"P-UNLOST") && owed.contains(&"C-UNRESOLVED"),
        "{owed:?}"
    );
}

/// A protocol whose other code, not a callback, panics: `half_closeable`,
/// or its `Drop`.
struct Brittle {
    half_closeable_panics: bool,
    drop_panics: bool,
}

#[async_trait(?Send)]
impl Protocol for Brittle {
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
    fn half_closeable(&self) -> bool {
        if self.half_closeable_panics {
            panic!("half_closeable panicked on purpose");
        }
        true
    }
}

impl Drop for Brittle {
    fn drop(&mut self) {
        if self.drop_panics && !std::thread::panicking() {
            panic!("drop panicked on purpose");
        }
    }
}

struct BrittleFactory {
    half_closeable_panics: bool,
    drop_panics: bool,
    /// Whether the factory's own Drop panics.
    factory_drop_panics: bool,
}

#[async_trait(?Send)]
impl Factory for BrittleFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Brittle {
            half_closeable_panics: self.half_closeable_panics,
            drop_panics: self.drop_panics,
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for BrittleFactory {}

impl Drop for BrittleFactory {
    fn drop(&mut self) {
        if self.factory_drop_panics && !std::thread::panicking() {
            panic!("the factory's drop panicked on purpose");
        }
    }
}

fn brittle_run(half_closeable_panics: bool, drop_panics: bool, factory_drop_panics: bool) -> Run {
    let script = bystander_world(
        Script::new()
            .resolve(2, Outcome::Accept)
            .half_close(Conn::Client(2)),
    )
    .shutdown();
    MockReactor::new().run(script, |r| {
        r.connect_tcp(BYSTANDER, Arc::new(Bystander), None);
        let brittle = BrittleFactory {
            half_closeable_panics,
            drop_panics,
            factory_drop_panics,
        };
        r.connect_tcp(VICTIM_CLIENT, Arc::new(brittle), None);
    })
}

fn errors(run: &Run) -> Vec<String> {
    run.errors.iter().map(|e| e.to_string()).collect()
}

fn bystander_lived(run: &Run) -> bool {
    let life: Vec<String> = events_of_factory(run, factory_at(run, BYSTANDER))
        .iter()
        .map(|r| describe(r))
        .collect();
    life.len() == BYSTANDER_LIFE.len() + 1 && life.iter().zip(BYSTANDER_LIFE).all(|(a, b)| a == b)
}

#[test]
fn a_half_closeable_that_panics_is_reported_and_the_protocol_taken_as_not_half_closeable() {
    let run = brittle_run(true, false, false);
    let build = run
        .events_of_kind(EventKind::BuildProtocol)
        .find(|r| r.step.event.factory() == Some(factory_at(&run, VICTIM_CLIENT)))
        .map(|r| r.step.seq)
        .expect("the victim's build");
    assert_eq!(
        errors(&run),
        [format!(
            "seq {build}: build_protocol panicked: the half_closeable of the protocol it built \
             panicked: half_closeable panicked on purpose"
        )]
    );
    // The peer's half-close ends a connection that is not half-closeable.
    let victim: Vec<String> = events_of_factory(&run, factory_at(&run, VICTIM_CLIENT))
        .iter()
        .map(|r| describe(r))
        .collect();
    assert!(
        victim.contains(&"connection_lost(connection_done)".to_owned()),
        "{victim:?}"
    );
    assert!(bystander_lived(&run), "{}", run.trace_jsonl());
    assert_eq!(
        run.trace.last().map(|r| r.step.event.kind()),
        Some(EventKind::End)
    );
}

#[test]
fn a_protocol_whose_drop_panics_is_reported_and_the_run_goes_on() {
    let run = brittle_run(false, true, false);
    let lost = run
        .events_of_kind(EventKind::ConnectionLost)
        .next()
        .map(|r| r.step.seq)
        .expect("the victim's connection_lost");
    let [error] = &run.errors[..] else {
        panic!("one error: {:?}", errors(&run));
    };
    assert_eq!(error.kind, ImplErrorKind::Panicked);
    assert_eq!(
        error.message,
        "the drop of protocol p1 panicked: drop panicked on purpose"
    );
    // Dropped once its connection ended, as the reactor lets go of it.
    assert!(error.seq >= lost, "{error}");
    assert_eq!(
        error.to_string(),
        format!("after seq {}: {}", error.seq, error.message)
    );
    assert!(bystander_lived(&run), "{}", run.trace_jsonl());
    assert_eq!(
        run.trace.last().map(|r| r.step.event.kind()),
        Some(EventKind::End)
    );
}

#[test]
fn a_factory_whose_drop_panics_when_the_reactor_lets_go_is_reported_and_the_run_goes_on() {
    let run = brittle_run(false, false, true);
    let message = errors(&run);
    assert_eq!(message.len(), 1, "{message:?}");
    assert!(
        message[0].ends_with(
            ": the drop of a factory the reactor let go of panicked: the factory's drop panicked \
             on purpose"
        ),
        "{message:?}"
    );
    assert!(bystander_lived(&run), "{}", run.trace_jsonl());
    assert_eq!(
        run.trace.last().map(|r| r.step.event.kind()),
        Some(EventKind::End)
    );
}
