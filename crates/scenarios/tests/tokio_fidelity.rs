//! Fidelity to Twisted over real sockets: each scenario of the recorder,
//! run by the tokio reactor (`callorder-tokio`) over loopback TCP with the
//! world its script (`fixtures/scripts/twisted/NAME.script`) describes made
//! real, must give the trace real Twisted recorded
//! (`fixtures/twisted/legal/NAME.jsonl`), under
//! `callorder_scenarios::compare`.
//!
//! Where the recording has both sides of a connection, both are in the one
//! reactor: its clients connect to its own listening port, as the
//! recorder's did. The script's world becomes:
//!
//! - `resolve N refuse`: a port of the loopback nobody listens on;
//! - an attempt left unanswered (`connect_timeout`, the shutdown while
//!   connecting): a listener whose backlog is full, so the kernel drops the
//!   SYN;
//! - `resolve 1 dns_failure`: a resolver that knows no name;
//! - `resolve 1 accept` with `reset client 1`: a raw peer that accepts,
//!   reads what the client wrote and resets (`SO_LINGER` 0);
//! - `window client 1 0 ... advance 300ms ... unlimited`: a raw peer that
//!   reads nothing for 300 ms, then everything;
//! - the driver's final `stop_listening 1`: the world stops every port
//!   still listening once the run is quiet, as the recorder's driver did
//!   once its connections had closed;
//! - `advance D` then `shutdown` with connections or attempts live: the
//!   world stops the run D after the last event the recorder waited for.
//!
//! Every wait is for an event ([`Watch`]); only the script's own delays
//! are slept, and timeouts are there against hangs only.
//!
//! The scenarios whose tokio trace differs from Twisted's are listed in
//! [`KNOWN_DIFFERENCES`] and in `docs/fidelity.md`, with why; the test fails
//! on any other difference, naming it, and when a listed one stops
//! differing.

mod common;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use callorder_checker::Profile;
use callorder_harness::live::Watch;
use callorder_harness::{ImplErrorKind, Run};
use callorder_scenarios::compare::compare;
use callorder_scenarios::{set_up_at, Listening, Site, NAMES};
use callorder_tokio::{Resolution, Resolver, SystemResolver, TokioReactor};
use callorder_trace::EventKind;
use common::{assert_only_known_differences, recording};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Only a hang waits this long.
const HANG: Duration = Duration::from_secs(60);

/// Scenarios whose tokio trace differs from Twisted's, and why (see
/// `docs/fidelity.md`, the column for the tokio reactor).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "register_producer_after_disconnect",
        "as under the mock: the core lets a protocol object go at its \
         connection_lost, so the late register_producer fails with \
         ConnectionGone and no stop_producing follows",
    ),
    (
        "streaming_producer_slow_reader",
        "as under the mock, the deliberate difference: the last \
         pause_producing, which Twisted delivers inside the write, would come \
         after the callback that unregistered the producer, so it is dropped",
    ),
];

/// Scenarios real sockets cannot reproduce on loopback, and why (also in
/// `docs/fidelity.md`).
const NOT_ON_LOOPBACK: &[(&str, &str)] = &[];

/// The peer side of a scenario, on the loopback.
#[derive(Clone, Copy, Debug)]
enum Peer {
    /// Only the reactor's own ports answer: `remote` is a closed port.
    Closed,
    /// An attempt to `remote` is never answered: a full backlog.
    NoAnswer,
    /// No name resolves.
    NoSuchName,
    /// A raw peer at `remote` accepts, reads `n` bytes and resets.
    ResetAfter(usize),
    /// A raw peer at `remote` accepts, reads `n` bytes and closes in
    /// order (no scenario's world: the test that a wrong world shows).
    CloseAfter(usize),
    /// A raw peer at `remote` accepts, reads nothing for a while, then
    /// reads to the end.
    SlowReader(Duration),
}

/// How a scenario's run ends, after its script.
#[derive(Clone, Copy, Debug)]
enum End {
    /// `shutdown` once nothing is left to do (the reactor's own end).
    Quiet,
    /// `stop_listening` of every port still listening once quiet, then
    /// `shutdown` once quiet again.
    StopListening,
    /// `shutdown` with something still live: `after` the `count`-th
    /// event of `kind`.
    StopAfter {
        kind: EventKind,
        count: usize,
        after: Duration,
    },
}

/// The world of each scenario, read from its script.
fn world_of(name: &str) -> (Peer, End) {
    use End::*;
    use Peer::*;
    match name {
        "connect_refused" | "reconnect_in_client_connection_failed" => (Closed, Quiet),
        // Stopped before the attempt can come to anything.
        "stop_connecting_immediately" => (NoAnswer, Quiet),
        "connect_timeout" => (NoAnswer, Quiet),
        "dns_lookup_failure" => (NoSuchName, Quiet),
        "peer_reset" => (ResetAfter(b"hello".len()), Quiet),
        "streaming_producer_slow_reader" => (SlowReader(Duration::from_millis(300)), Quiet),
        "reactor_shutdown_while_connecting" => (
            NoAnswer,
            StopAfter {
                kind: EventKind::StartedConnecting,
                count: 1,
                after: Duration::from_millis(200),
            },
        ),
        "reactor_shutdown_with_live_connections" => (
            Closed,
            // Both servers and both clients heard their bytes.
            StopAfter {
                kind: EventKind::DataReceived,
                count: 4,
                after: Duration::from_millis(20),
            },
        ),
        // The scenario stops its own port.
        "server_stop_listening_with_live_connections"
        | "server_stop_listening_in_build_protocol" => (Closed, Quiet),
        _ => (Closed, StopListening),
    }
}

/// A resolver that knows no name.
struct NoNames;

impl Resolver for NoNames {
    fn resolve(&self, host: &str, _: u16) -> Resolution {
        let error = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such name"));
        Box::pin(async move { Err(error) })
    }
}

/// Two different ports of the loopback nobody listens on: bound together
/// (so that they differ), then let go.
fn free_ports() -> (SocketAddr, SocketAddr) {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let (a, b) = (bind(), bind());
    let addr = |l: &std::net::TcpListener| l.local_addr().expect("its address");
    (addr(&a), addr(&b))
}

/// A listener that never accepts, its backlog filled: the kernel drops
/// the SYNs of further connects, which then never complete.
async fn full_backlog() -> (SocketAddr, TcpListener, Vec<TcpStream>) {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bound");
    let listener = socket.listen(0).expect("listening");
    let addr = listener.local_addr().expect("its address");
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    (addr, listener, fillers)
}

/// Waits until `ready`, looking again every millisecond (each look is a
/// turn of the run's world, not a guess at how long things take).
async fn until(ready: impl Fn() -> bool) {
    let give_up = tokio::time::Instant::now() + HANG;
    while !ready() && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// What the raw peer at `listener` does.
async fn play(listener: TcpListener, peer: Peer) -> Option<TcpStream> {
    let (mut stream, _) = tokio::time::timeout(HANG, listener.accept())
        .await
        .ok()?
        .ok()?;
    match peer {
        Peer::ResetAfter(n) | Peer::CloseAfter(n) => {
            let mut written = vec![0u8; n];
            tokio::time::timeout(HANG, stream.read_exact(&mut written))
                .await
                .ok()?
                .ok()?;
            if matches!(peer, Peer::ResetAfter(_)) {
                let _ = stream.set_zero_linger();
            }
            None
        }
        Peer::SlowReader(pause) => {
            tokio::time::sleep(pause).await;
            let mut buf = vec![0u8; 256 << 10];
            loop {
                match tokio::time::timeout(HANG, stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(_)) => {}
                }
            }
            let _ = stream.shutdown().await;
            Some(stream)
        }
        _ => Some(stream),
    }
}

/// Runs scenario `name` on the tokio reactor, with the world `peer` and
/// `end` (its own: [`world_of`]).
async fn run_on_tokio(name: &str, peer: Peer, end: End) -> Run {
    let (server, remote) = free_ports();
    let mut site = Site {
        server: server.to_string(),
        remote: remote.to_string(),
        ..Site::default()
    };
    let resolver: Arc<dyn Resolver> = match peer {
        Peer::NoSuchName => Arc::new(NoNames),
        _ => Arc::new(SystemResolver),
    };
    let mut keep = None;
    let mut raw = None;
    match peer {
        Peer::NoAnswer => {
            let (addr, listener, fillers) = full_backlog().await;
            site.remote = addr.to_string();
            keep = Some((listener, fillers));
        }
        Peer::ResetAfter(_) | Peer::CloseAfter(_) | Peer::SlowReader(_) => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
            site.remote = listener.local_addr().expect("its address").to_string();
            raw = Some(listener);
        }
        Peer::Closed | Peer::NoSuchName => {}
    }
    let reactor = TokioReactor::with_profile(resolver, Profile::Strict, 0).give_up_after(HANG);
    let watch: Watch = reactor.watch();
    let stopper = reactor.stopper();
    let ports: Rc<RefCell<Option<Listening>>> = Rc::default();
    let to_stop = ports.clone();
    let world = async move {
        let stream = match raw {
            Some(listener) => play(listener, peer).await,
            None => None,
        };
        match end {
            End::Quiet => {}
            End::StopListening => {
                until(|| watch.quiet()).await;
                let listening = to_stop.borrow_mut().take().expect("set up");
                for port in listening.borrow().iter() {
                    port.stop_listening().expect("still listening");
                }
            }
            End::StopAfter { kind, count, after } => {
                until(|| watch.recorded(kind) >= count).await;
                tokio::time::sleep(after).await;
                stopper.stop();
            }
        }
        // Kept open until the run is over: a close now would race the
        // shutdown's teardown.
        stream
    };
    let (run, stream) = reactor
        .run_with(
            |r| {
                let listened = set_up_at(name, r, &site).unwrap_or_else(|e| panic!("{e}"));
                *ports.borrow_mut() = Some(listened);
            },
            world,
        )
        .await;
    drop((stream, keep));
    run
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime")
}

/// The tokio reactor matches Twisted on every scenario loopback can
/// reproduce, except the known differences; all mismatches are reported at
/// once, each naming what differs and the events involved.
#[test]
fn the_tokio_reactor_matches_twisted() {
    let skipped: BTreeSet<&str> = NOT_ON_LOOPBACK.iter().map(|(n, _)| *n).collect();
    let rt = runtime();
    let mut report_text = String::new();
    let mut differing = BTreeSet::new();
    for name in NAMES.iter().filter(|n| !skipped.contains(**n)) {
        let (peer, end) = world_of(name);
        let run = rt.block_on(run_on_tokio(name, peer, end));
        let mut text = String::new();
        if let Some(v) = &run.violation {
            text.push_str(&format!("the checker rejected the run: {v}\n"));
        }
        // The scenarios' own failures (a callback that raises) are part of
        // the trace; a run that hung is not.
        for e in run
            .errors
            .iter()
            .filter(|e| e.kind == ImplErrorKind::Stalled)
        {
            text.push_str(&format!("the run stalled: {}\n", e.message));
        }
        for d in compare(&recording(name, "epoll"), &run.trace) {
            text.push_str(&d.to_string());
        }
        if !text.is_empty() {
            differing.insert(*name);
            report_text.push_str(&format!(
                "=== {name}\n{text}--- tokio trace:\n{}",
                run.trace_jsonl()
            ));
        }
    }
    assert_only_known_differences(&differing, KNOWN_DIFFERENCES, &report_text);
}

/// Every recorded scenario is either run over real sockets or listed with
/// the reason it cannot be, and the lists name only real scenarios.
#[test]
fn every_scenario_is_run_on_loopback_or_listed() {
    for (name, _) in NOT_ON_LOOPBACK.iter().chain(KNOWN_DIFFERENCES) {
        assert!(NAMES.contains(name), "{name} is not a scenario");
    }
    for (name, _) in NOT_ON_LOOPBACK {
        assert!(
            !KNOWN_DIFFERENCES.iter().any(|(n, _)| n == name),
            "{name} is both skipped and a known difference"
        );
    }
}

/// The comparison sees what the real peer did: a peer that closes where
/// `peer_reset`'s resets gives a trace that differs from the recording, and
/// the difference names the protocol history and the reasons involved.
#[test]
fn a_world_that_is_not_the_scripts_is_named() {
    let run = runtime().block_on(run_on_tokio(
        "peer_reset",
        Peer::CloseAfter(b"hello".len()),
        End::Quiet,
    ));
    assert!(run.violation.is_none(), "{:?}", run.violation);
    let text: String = compare(&recording("peer_reset", "epoll"), &run.trace)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(text.contains("protocol histories differ"), "{text}");
    assert!(
        text.contains("connection_lost(connection_lost)")
            && text.contains("connection_lost(connection_done)"),
        "{text}"
    );
}
