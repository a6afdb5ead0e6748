//! The cases: each a stable id, the recorded Twisted scenario it
//! reproduces, the probe, the world's plan, and what the trace must show
//! beyond being legal.

use std::time::Duration;

use callorder_harness::Run;
use callorder_trace::{EventKind, Reason};

use crate::probe::ProbePlan;
use crate::world::{Answer, PeerStep, Plan};

/// Which probe a case sets up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A client probe connects once to the world's address.
    Client,
    /// This many client probes, each of its own factory, connect at once.
    Clients(usize),
    /// A server probe listens on the world's address.
    Server,
}

/// A case of the suite.
#[derive(Clone, Debug)]
pub struct Case {
    /// The stable id: `client.refused`, `server.stop_listening_with_live_connections`, ...
    pub id: &'static str,
    /// The recorded Twisted scenario it reproduces (`fixtures/twisted/legal/NAME.jsonl`).
    pub scenario: &'static str,
    /// The probe's side.
    pub role: Role,
    /// What the probe does.
    pub probe: ProbePlan,
    /// What the world does.
    pub plan: Plan,
    /// What the trace must show, beyond being legal and clean.
    pub expect: fn(&Run) -> Result<(), String>,
}

/// A connect timeout long enough that no loopback connect reaches it, on
/// any machine.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The timeout of the case whose attempt is never answered.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);

fn plan(client: Option<Answer>, peers: Vec<Vec<PeerStep>>) -> Plan {
    Plan {
        client,
        attempts: 1,
        timeout: TIMEOUT,
        peers,
        shutdown_live: false,
    }
}

/// The reasons of the events of `kind`, in order.
fn reasons(run: &Run, kind: EventKind) -> Vec<Reason> {
    run.events_of_kind(kind)
        .filter_map(|r| r.step.event.reason())
        .collect()
}

fn want<T: PartialEq + std::fmt::Debug>(what: &str, got: T, wanted: T) -> Result<(), String> {
    if got == wanted {
        Ok(())
    } else {
        Err(format!("{what}: want {wanted:?}, got {got:?}"))
    }
}

/// The seq of the first event of `kind`.
fn first(run: &Run, kind: EventKind) -> Result<u64, String> {
    run.events_of_kind(kind)
        .next()
        .map(|r| r.step.seq)
        .ok_or_else(|| format!("no {kind} in the trace"))
}

fn failed_with(run: &Run, reason: Reason) -> Result<(), String> {
    want(
        "client_connection_failed",
        reasons(run, EventKind::ClientConnectionFailed),
        vec![reason],
    )?;
    want(
        "build_protocol",
        run.events_of_kind(EventKind::BuildProtocol).count(),
        0,
    )
}

fn lost_with(run: &Run, reason: Reason) -> Result<(), String> {
    want(
        "connection_lost",
        reasons(run, EventKind::ConnectionLost),
        vec![reason],
    )?;
    want(
        "client_connection_lost",
        reasons(run, EventKind::ClientConnectionLost),
        vec![reason],
    )
}

fn server_lost(run: &Run, lost: &[Reason]) -> Result<(), String> {
    want(
        "connection_lost",
        reasons(run, EventKind::ConnectionLost),
        lost.to_vec(),
    )
}

/// Every case, in a stable order.
pub fn all() -> Vec<Case> {
    use PeerStep::*;
    let echo_client = ProbePlan {
        greet: b"hello",
        close_after: Some(5),
        ..ProbePlan::default()
    };
    let greeter = ProbePlan {
        greet: b"hello",
        ..ProbePlan::default()
    };
    let echo_server = ProbePlan {
        echo: true,
        ..ProbePlan::default()
    };
    vec![
        Case {
            id: "client.echo_client_closes",
            scenario: "client_echo_client_closes",
            role: Role::Client,
            probe: echo_client.clone(),
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"hello"), ReadToEnd])),
                vec![],
            ),
            expect: |run| lost_with(run, Reason::ConnectionDone),
        },
        Case {
            id: "client.server_closes",
            scenario: "client_server_closes",
            role: Role::Client,
            probe: greeter.clone(),
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"bye"), Close])),
                vec![],
            ),
            expect: |run| lost_with(run, Reason::ConnectionDone),
        },
        Case {
            id: "client.refused",
            scenario: "connect_refused",
            role: Role::Client,
            probe: greeter.clone(),
            plan: plan(Some(Answer::Refuse), vec![]),
            expect: |run| failed_with(run, Reason::ConnectionRefused),
        },
        Case {
            id: "client.connect_timeout",
            scenario: "connect_timeout",
            role: Role::Client,
            probe: greeter.clone(),
            plan: Plan {
                timeout: SHORT_TIMEOUT,
                ..plan(Some(Answer::NeverAnswer), vec![])
            },
            expect: |run| failed_with(run, Reason::Timeout),
        },
        Case {
            id: "client.dns_lookup_failure",
            scenario: "dns_lookup_failure",
            role: Role::Client,
            probe: greeter.clone(),
            plan: plan(Some(Answer::FailName), vec![]),
            expect: |run| failed_with(run, Reason::DnsLookup),
        },
        Case {
            id: "client.peer_reset",
            scenario: "peer_reset",
            role: Role::Client,
            probe: greeter.clone(),
            plan: plan(Some(Answer::Accept(vec![Read(5), Reset])), vec![]),
            expect: |run| lost_with(run, Reason::ConnectionLost),
        },
        Case {
            id: "client.abort_connection",
            scenario: "client_abort_connection",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                abort_after: Some(1),
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"x"), ReadToEnd])),
                vec![],
            ),
            expect: |run| lost_with(run, Reason::ConnectionAborted),
        },
        Case {
            id: "client.half_close",
            scenario: "half_close",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                half_closeable: true,
                half_close_after: Some(4),
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![
                    Read(5),
                    Send(b"ping"),
                    ReadToEnd,
                    Send(b"bye"),
                    HalfClose,
                    ReadToEnd,
                ])),
                vec![],
            ),
            expect: |run| {
                first(run, EventKind::WriteConnectionLost)?;
                first(run, EventKind::ReadConnectionLost)?;
                lost_with(run, Reason::ConnectionDone)
            },
        },
        Case {
            id: "client.build_protocol_none",
            scenario: "client_build_protocol_none",
            role: Role::Client,
            probe: ProbePlan {
                build_none: true,
                ..ProbePlan::default()
            },
            plan: plan(Some(Answer::Accept(vec![ReadToEnd])), vec![]),
            expect: |run| {
                want(
                    "client_connection_lost",
                    reasons(run, EventKind::ClientConnectionLost),
                    vec![Reason::ConnectionDone],
                )
            },
        },
        Case {
            id: "client.connection_made_raises",
            scenario: "client_connection_made_raises",
            role: Role::Client,
            probe: ProbePlan {
                raise_in_made: true,
                ..ProbePlan::default()
            },
            plan: plan(Some(Answer::Accept(vec![ReadToEnd])), vec![]),
            expect: |run| lost_with(run, Reason::Other),
        },
        Case {
            id: "client.data_received_raises",
            scenario: "client_data_received_raises",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                raise_in_data: true,
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"boom"), ReadToEnd])),
                vec![],
            ),
            expect: |run| lost_with(run, Reason::Other),
        },
        Case {
            id: "client.connector_disconnect_while_connected",
            scenario: "connector_disconnect_while_connected",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                disconnect_after: Some(1),
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"x"), ReadToEnd])),
                vec![],
            ),
            expect: |run| {
                first(run, EventKind::Disconnect)?;
                lost_with(run, Reason::ConnectionDone)
            },
        },
        Case {
            id: "client.streaming_producer_slow_reader",
            scenario: "streaming_producer_slow_reader",
            role: Role::Client,
            probe: ProbePlan {
                produce: Some(1 << 20),
                ..ProbePlan::default()
            },
            plan: plan(Some(Answer::Accept(vec![ReadToEnd])), vec![]),
            expect: |run| {
                let (pause, resume) = (
                    first(run, EventKind::PauseProducing)?,
                    first(run, EventKind::ResumeProducing)?,
                );
                if pause > resume {
                    return Err(format!("resumed at seq {resume} before paused at {pause}"));
                }
                lost_with(run, Reason::ConnectionDone)
            },
        },
        Case {
            id: "client.reactor_shutdown_while_connecting",
            scenario: "reactor_shutdown_while_connecting",
            role: Role::Client,
            probe: greeter.clone(),
            plan: Plan {
                shutdown_live: true,
                ..plan(Some(Answer::NeverAnswer), vec![])
            },
            expect: |run| {
                let shutdown = first(run, EventKind::Shutdown)?;
                let failed = first(run, EventKind::ClientConnectionFailed)?;
                if failed < shutdown {
                    return Err("the attempt failed before the shutdown".into());
                }
                failed_with(run, Reason::ConnectError)
            },
        },
        Case {
            id: "client.stop_connecting_immediately",
            scenario: "stop_connecting_immediately",
            role: Role::Client,
            probe: ProbePlan {
                stop_connecting: true,
                ..ProbePlan::default()
            },
            plan: plan(Some(Answer::NeverAnswer), vec![]),
            expect: |run| {
                first(run, EventKind::StopConnecting)?;
                failed_with(run, Reason::UserCancelled)
            },
        },
        Case {
            id: "client.abort_then_raise_in_data_received",
            scenario: "abort_then_raise_in_data_received",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                abort_then_raise: true,
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"x"), ReadToEnd])),
                vec![],
            ),
            expect: |run| {
                first(run, EventKind::AbortConnection)?;
                lost_with(run, Reason::Other)
            },
        },
        Case {
            id: "client.abort_in_pause_producing",
            scenario: "abort_in_pause_producing",
            role: Role::Client,
            probe: ProbePlan {
                produce: Some(1 << 20),
                abort_in_pause: true,
                ..ProbePlan::default()
            },
            plan: plan(Some(Answer::Accept(vec![ReadToEnd])), vec![]),
            expect: |run| {
                let stop = first(run, EventKind::StopProducing)?;
                let lost = first(run, EventKind::ConnectionLost)?;
                if stop > lost {
                    return Err("stop_producing after connection_lost".into());
                }
                lost_with(run, Reason::ConnectionAborted)
            },
        },
        Case {
            id: "client.pull_producer",
            scenario: "pull_producer",
            role: Role::Client,
            probe: ProbePlan {
                pull: Some(400_000),
                ..ProbePlan::default()
            },
            plan: plan(Some(Answer::Accept(vec![ReadToEnd])), vec![]),
            expect: |run| {
                let written: u64 = run
                    .events_of_kind(EventKind::Write)
                    .map(|r| match r.step.event {
                        callorder_trace::Event::Write { bytes, .. } => bytes,
                        _ => 0,
                    })
                    .sum();
                want("bytes written", written, 400_000)?;
                first(run, EventKind::ResumeProducing)?;
                lost_with(run, Reason::ConnectionDone)
            },
        },
        Case {
            id: "client.register_producer_after_disconnect",
            scenario: "register_producer_after_disconnect",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                register_after_lost: true,
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![Read(5), Send(b"bye"), Close])),
                vec![],
            ),
            expect: |run| {
                let lost = first(run, EventKind::ConnectionLost)?;
                let stop = first(run, EventKind::StopProducing)?;
                if stop < lost {
                    return Err("stop_producing before connection_lost".into());
                }
                lost_with(run, Reason::ConnectionDone)
            },
        },
        Case {
            id: "client.half_close_read_connection_lost_raises",
            scenario: "half_close_read_connection_lost_raises",
            role: Role::Client,
            probe: ProbePlan {
                greet: b"hello",
                half_closeable: true,
                raise_in_read_lost: true,
                ..ProbePlan::default()
            },
            plan: plan(
                Some(Answer::Accept(vec![Read(5), HalfClose, ReadToEnd])),
                vec![],
            ),
            expect: |run| {
                first(run, EventKind::ReadConnectionLost)?;
                lost_with(run, Reason::Other)
            },
        },
        Case {
            id: "client.reconnect_in_client_connection_failed",
            scenario: "reconnect_in_client_connection_failed",
            role: Role::Client,
            probe: ProbePlan {
                retry_on_failure: 3,
                ..ProbePlan::default()
            },
            plan: Plan {
                attempts: 4,
                ..plan(Some(Answer::Refuse), vec![])
            },
            expect: |run| {
                want(
                    "client_connection_failed",
                    reasons(run, EventKind::ClientConnectionFailed),
                    vec![Reason::ConnectionRefused; 4],
                )?;
                // Retries inside the outcome callback: one start, one stop.
                want(
                    "do_start",
                    run.events_of_kind(EventKind::DoStart).count(),
                    1,
                )?;
                want("do_stop", run.events_of_kind(EventKind::DoStop).count(), 1)
            },
        },
        Case {
            id: "client.factory_reused_20_connections",
            scenario: "factory_reused_20_connections",
            role: Role::Client,
            probe: ProbePlan {
                reconnects: 19,
                ..echo_client.clone()
            },
            plan: Plan {
                attempts: 20,
                ..plan(
                    Some(Answer::Accept(vec![Read(5), Send(b"hello"), ReadToEnd])),
                    vec![],
                )
            },
            expect: |run| {
                want(
                    "connection_lost",
                    reasons(run, EventKind::ConnectionLost),
                    vec![Reason::ConnectionDone; 20],
                )?;
                want(
                    "start_factory",
                    run.events_of_kind(EventKind::StartFactory).count(),
                    1,
                )
            },
        },
        Case {
            id: "client.many_factories_each_once",
            scenario: "many_factories_each_once",
            role: Role::Clients(20),
            probe: echo_client.clone(),
            plan: Plan {
                attempts: 20,
                ..plan(
                    Some(Answer::Accept(vec![Read(5), Send(b"hello"), ReadToEnd])),
                    vec![],
                )
            },
            expect: |run| {
                want(
                    "client_connection_lost",
                    reasons(run, EventKind::ClientConnectionLost),
                    vec![Reason::ConnectionDone; 20],
                )?;
                want(
                    "start_factory",
                    run.events_of_kind(EventKind::StartFactory).count(),
                    20,
                )
            },
        },
        Case {
            id: "server.echo_peer_closes",
            scenario: "client_echo_client_closes",
            role: Role::Server,
            probe: echo_server.clone(),
            plan: plan(None, vec![vec![Send(b"ping"), Read(4), Close]]),
            expect: |run| server_lost(run, &[Reason::ConnectionDone]),
        },
        Case {
            id: "server.peer_reset",
            scenario: "peer_reset",
            role: Role::Server,
            probe: echo_server.clone(),
            plan: plan(None, vec![vec![Send(b"ping"), Read(4), Reset]]),
            expect: |run| server_lost(run, &[Reason::ConnectionLost]),
        },
        Case {
            id: "server.build_protocol_none",
            scenario: "server_build_protocol_none",
            role: Role::Server,
            probe: ProbePlan {
                build_none: true,
                ..ProbePlan::default()
            },
            plan: plan(None, vec![vec![ReadToEnd]]),
            expect: |run| {
                want(
                    "built protocols",
                    run.events_of_kind(EventKind::ConnectionMade).count(),
                    0,
                )?;
                first(run, EventKind::BuildProtocol).map(|_| ())
            },
        },
        Case {
            id: "server.connection_made_raises",
            scenario: "server_connection_made_raises",
            role: Role::Server,
            probe: ProbePlan {
                greet: b"hi",
                raise_in_made: true,
                ..ProbePlan::default()
            },
            // G13: the connection stays open; the peer closes it.
            plan: plan(None, vec![vec![Read(2), Close]]),
            expect: |run| server_lost(run, &[Reason::ConnectionDone]),
        },
        Case {
            id: "server.stop_listening_in_build_protocol",
            scenario: "server_stop_listening_in_build_protocol",
            role: Role::Server,
            probe: ProbePlan {
                echo: true,
                stop_listening_in_build: true,
                ..ProbePlan::default()
            },
            plan: plan(None, vec![vec![Send(b"ping"), Read(4), Close]]),
            expect: |run| {
                let stop = first(run, EventKind::StopListening)?;
                let made = first(run, EventKind::ConnectionMade)?;
                if stop > made {
                    return Err("stop_listening after connection_made".into());
                }
                server_lost(run, &[Reason::ConnectionDone])
            },
        },
        Case {
            id: "server.stop_listening_with_live_connections",
            scenario: "server_stop_listening_with_live_connections",
            role: Role::Server,
            probe: ProbePlan {
                echo: true,
                stop_listening_in_build: true,
                ..ProbePlan::default()
            },
            // The port's do_stop comes from the event loop while the
            // connection lives; its echo comes after (G2).
            plan: plan(
                None,
                vec![vec![Send(b"ping"), Read(4), Send(b"more"), Read(4), Close]],
            ),
            expect: |run| {
                let do_stop = first(run, EventKind::DoStop)?;
                let last_data = run
                    .events_of_kind(EventKind::DataReceived)
                    .last()
                    .map(|r| r.step.seq)
                    .ok_or("no data_received")?;
                if do_stop > last_data {
                    return Err("the port stopped only after the connection's data".into());
                }
                server_lost(run, &[Reason::ConnectionDone])
            },
        },
        Case {
            id: "server.reactor_shutdown_with_live_connections",
            scenario: "reactor_shutdown_with_live_connections",
            role: Role::Server,
            probe: echo_server.clone(),
            plan: Plan {
                shutdown_live: true,
                ..plan(
                    None,
                    vec![vec![Send(b"a"), Read(1)], vec![Send(b"b"), Read(1)]],
                )
            },
            expect: |run| {
                let shutdown = first(run, EventKind::Shutdown)?;
                if run
                    .events_of_kind(EventKind::ConnectionLost)
                    .any(|r| r.step.seq < shutdown)
                {
                    return Err("a connection ended before the shutdown".into());
                }
                server_lost(run, &[Reason::ConnectionLost, Reason::ConnectionLost])
            },
        },
        Case {
            id: "server.peer_half_close",
            scenario: "half_close",
            role: Role::Server,
            probe: ProbePlan {
                echo: true,
                half_closeable: true,
                ..ProbePlan::default()
            },
            plan: plan(
                None,
                vec![vec![Send(b"ping"), Read(4), HalfClose, ReadToEnd]],
            ),
            expect: |run| {
                first(run, EventKind::ReadConnectionLost)?;
                server_lost(run, &[Reason::ConnectionDone])
            },
        },
    ]
}

/// Recorded Twisted scenarios (`fixtures/scripts/twisted/`) the suite does
/// not run on every reactor, each with its reason.
pub const NOT_IN_SUITE: &[(&str, &str)] = &[(
    "reconnecting_client_factory",
    "its delays are seconds of real time on a real reactor (mock only: virtual time)",
)];
