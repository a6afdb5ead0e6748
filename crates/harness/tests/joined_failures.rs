//! A client and a server of the same mock reactor are joined in memory, as
//! a loopback connection joins them in Twisted. When one side fails to get
//! going (its `build_protocol` or `connection_made` raises) or ends before
//! the other side is made, the other side must hear of it as Twisted's peer
//! does: through a clean close of its socket, at once, and not only at the
//! teardown.
//!
//! Each test names the path and cites what Twisted 26.10 does there
//! (`twisted/internet/tcp.py`).

// Factories are shared as `Arc` by the API; the mock reactor is
// single-threaded, so these test factories hold `Rc`/`RefCell` state.
#![allow(clippy::arc_with_non_send_sync)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Factory, Protocol, Transport,
};
use callorder_harness::{ImplErrorKind, MockReactor, Run, Script};
use callorder_trace::{Event, EventKind, Holder, ProtocolId, Reason};

const ADDRESS: &str = "127.0.0.1:8000";

/// What a test side does in `build_protocol`.
#[derive(Clone, Copy)]
enum Build {
    /// Returns a protocol.
    Protocol,
    /// Returns none.
    Nothing,
    /// Returns an error.
    Fail,
    /// Panics.
    Panic,
    /// Sleeps this long (virtual time), then returns a protocol.
    After(Duration),
}

/// What a test protocol does in `connection_made`.
#[derive(Clone, Copy)]
enum Made {
    /// Nothing.
    Nothing,
    /// Returns an error.
    Fail,
}

struct Side {
    build: Build,
    made: Made,
}

impl Side {
    fn new(build: Build, made: Made) -> Arc<Side> {
        Arc::new(Side { build, made })
    }
}

struct Peer {
    made: Made,
}

#[async_trait(?Send)]
impl Protocol for Peer {
    async fn connection_made(&mut self, _: Transport) -> CallbackResult {
        match self.made {
            Made::Nothing => Ok(()),
            Made::Fail => Err("connection_made failed".into()),
        }
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

#[async_trait(?Send)]
impl Factory for Side {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        match self.build {
            Build::Protocol => {}
            Build::Nothing => return Ok(None),
            Build::Fail => return Err("build_protocol failed".into()),
            Build::Panic => panic!("build_protocol panicked"),
            Build::After(delay) => tokio::time::sleep(delay).await,
        }
        Ok(Some(Box::new(Peer { made: self.made })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Side {}

/// Listens with `server` and connects `client` to it, so the reactor joins
/// them; the script only shuts down.
fn joined(server: Arc<Side>, client: Arc<Side>) -> Run {
    MockReactor::new().run(Script::new().shutdown(), |r| {
        r.listen_tcp(ADDRESS, server).expect("listens");
        r.connect_tcp(ADDRESS, client, None);
    })
}

/// The protocol the port built.
fn server_protocol(run: &Run) -> ProtocolId {
    run.trace
        .iter()
        .find_map(|r| match r.step.event {
            Event::BuildProtocol {
                holder: Holder::Port(_),
                protocol: Some(p),
                ..
            } => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the port built a protocol:\n{}", run.trace_jsonl()))
}

/// Where `p` got `connection_lost`, and with what reason.
fn lost(run: &Run, p: ProtocolId) -> Option<(usize, Reason)> {
    run.trace
        .iter()
        .enumerate()
        .find_map(|(i, r)| match r.step.event {
            Event::ConnectionLost { protocol, reason } if protocol == p => Some((i, reason)),
            _ => None,
        })
}

fn shutdown_at(run: &Run) -> usize {
    run.trace
        .iter()
        .position(|r| r.step.event.kind() == EventKind::Shutdown)
        .expect("the script shuts down")
}

/// The server's protocol got `connection_lost(connection_done)` before the
/// shutdown: it heard of its peer's close at once.
#[track_caller]
fn assert_server_closed_cleanly_before_shutdown(run: &Run) {
    assert!(run.violation.is_none(), "{:?}", run.violation);
    let server = server_protocol(run);
    match lost(run, server) {
        Some((at, Reason::ConnectionDone)) if at < shutdown_at(run) => {}
        other => panic!(
            "want the server's connection_lost(connection_done) before shutdown, got {other:?}:\n{}",
            run.trace_jsonl()
        ),
    }
}

// Found by a session's review (fixed): a client whose build_protocol
// returns an error on a joined connection got its
// client_connection_failed(connect_error) (C11), but its server was never
// told, and kept its connection until the teardown's
// connection_lost(connection_lost). Twisted: the exception reaches
// `_BaseBaseClient.connectionLost`, which (not yet `connected`) calls
// `failIfNotConnected`, and that closes the client's socket in order
// (`_closeSocket(True)`: shutdown, then close), so the server reads a clean
// close in its next turn.
#[test]
fn c11_a_server_sees_a_clean_close_when_its_joined_client_fails_to_build() {
    let run = joined(
        Side::new(Build::Protocol, Made::Nothing),
        Side::new(Build::Fail, Made::Nothing),
    );
    assert_server_closed_cleanly_before_shutdown(&run);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, ImplErrorKind::Returned);
}

// The same, when the build panics (Twisted: any exception).
#[test]
fn c11_a_server_sees_a_clean_close_when_its_joined_client_panics_in_build() {
    let run = joined(
        Side::new(Build::Protocol, Made::Nothing),
        Side::new(Build::Panic, Made::Nothing),
    );
    assert_server_closed_cleanly_before_shutdown(&run);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, ImplErrorKind::Panicked);
}

// Found with the C11 fix (fixed): the server's build_protocol awaits, so
// the client's build runs first, fails, and closes the client's socket
// before the server has a protocol to tell. The server, once made, never
// heard of it. Twisted: the accepted socket already holds the client's FIN,
// so the server's first read after connectionMade is a clean close.
#[test]
fn c11_a_server_built_after_its_client_failed_sees_a_clean_close() {
    let run = joined(
        Side::new(Build::After(Duration::from_millis(5)), Made::Nothing),
        Side::new(Build::Fail, Made::Nothing),
    );
    assert_server_closed_cleanly_before_shutdown(&run);
}

// Found with the C11 fix (fixed): the same gap when the client's
// connection_made raises while the server's build still awaits. The client
// loses its connection with the exception (P8) and its socket closes, but
// the server, made afterwards, never heard of it. Twisted: the server's
// first read after connectionMade is the clean close already waiting.
#[test]
fn p8_a_server_built_after_its_client_failed_in_connection_made_sees_a_clean_close() {
    let run = joined(
        Side::new(Build::After(Duration::from_millis(5)), Made::Nothing),
        Side::new(Build::Protocol, Made::Fail),
    );
    assert_server_closed_cleanly_before_shutdown(&run);
}

// Found with the C11 fix (fixed): a client whose build returns none while
// the server's build still awaits closes its dummy transport (C10), and the
// server, made afterwards, never heard of it. Twisted: the server reads the
// clean close.
#[test]
fn c10_a_server_built_after_its_client_built_none_sees_a_clean_close() {
    let run = joined(
        Side::new(Build::After(Duration::from_millis(5)), Made::Nothing),
        Side::new(Build::Nothing, Made::Nothing),
    );
    run.assert_clean();
    assert_server_closed_cleanly_before_shutdown(&run);
}

// Already right, kept as the specification of the other failure paths: a
// client whose connection_made raises loses its connection with the
// exception (P8), and its server reads a clean close (Twisted closes the
// socket in order after the exception, `Connection.connectionLost`).
#[test]
fn p8_a_server_sees_a_clean_close_when_its_joined_client_fails_in_connection_made() {
    let run = joined(
        Side::new(Build::Protocol, Made::Nothing),
        Side::new(Build::Protocol, Made::Fail),
    );
    assert_server_closed_cleanly_before_shutdown(&run);
}

// Already right: a server whose connection_made raises keeps its connection
// (S3, G13: `Port.doRead` logs the exception and goes on), so its client is
// not told anything before the shutdown.
#[test]
fn s3_a_client_keeps_its_connection_when_its_joined_server_fails_in_connection_made() {
    let run = joined(
        Side::new(Build::Protocol, Made::Fail),
        Side::new(Build::Protocol, Made::Nothing),
    );
    assert!(run.violation.is_none(), "{:?}", run.violation);
    let shutdown = shutdown_at(&run);
    let early_loss = run.trace[..shutdown]
        .iter()
        .any(|r| r.step.event.kind() == EventKind::ConnectionLost);
    assert!(!early_loss, "{}", run.trace_jsonl());
}

// Already right: a server whose build_protocol raises builds no protocol
// (S3); the mock closes the accepted socket at once, and its client reads a
// clean close (as when the build returns none, S2).
#[test]
fn s3_a_client_sees_a_clean_close_when_its_joined_server_fails_to_build() {
    let run = joined(
        Side::new(Build::Fail, Made::Nothing),
        Side::new(Build::Protocol, Made::Nothing),
    );
    assert!(run.violation.is_none(), "{:?}", run.violation);
    let closed = run.trace.iter().position(|r| {
        matches!(
            r.step.event,
            Event::ConnectionLost {
                reason: Reason::ConnectionDone,
                ..
            }
        )
    });
    assert!(
        closed.is_some_and(|c| c < shutdown_at(&run)),
        "{}",
        run.trace_jsonl()
    );
}
