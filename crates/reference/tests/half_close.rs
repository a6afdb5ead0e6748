//! The half-close-aware protocol (semantics H1-H4).

mod common;

use std::sync::Arc;
use std::time::Duration;

use callorder_core::Reason;
use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use callorder_reference::{EchoFactory, HalfCloseFactory};
use callorder_trace::EventKind;
use common::{count, names, reasons, times};

fn serve(factory: &Arc<HalfCloseFactory>, script: Script) -> Run {
    let f = factory.clone();
    MockReactor::new().run(script, move |r| {
        r.listen_tcp("0.0.0.0:9", f).unwrap();
    })
}

/// The names of the events from `connection_made` on.
fn from_made(run: &Run) -> Vec<&'static str> {
    let all = names(run);
    let i = all.iter().position(|n| *n == "connection_made").unwrap();
    all[i..].to_vec()
}

#[test]
fn the_peers_eof_gives_read_connection_lost_then_the_reply_then_a_clean_close() {
    let factory = Arc::new(HalfCloseFactory::new(b"reply"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send(Conn::Server(1), b"req")
            .half_close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Server(1), b"reply".to_vec())]);
    assert_eq!(factory.received(), b"req");
    assert_eq!(
        from_made(&run),
        [
            "connection_made",
            "data_received",
            "read_connection_lost",
            "write",
            "lose_write_connection",
            "write_connection_lost",
            "lose_connection",
            "connection_lost",
            "shutdown",
            "do_stop",
            "stop_factory",
            "end",
        ]
    );
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionDone]
    );
}

#[test]
fn an_empty_reply_writes_nothing_but_still_closes_in_two_halves() {
    let factory = Arc::new(HalfCloseFactory::new(b""));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .half_close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Server(1), Vec::new())]);
    assert_eq!(count(&run, EventKind::WriteConnectionLost), 1);
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionDone]
    );
}

#[test]
fn one_byte_chunks_before_the_eof_are_all_received() {
    let factory = Arc::new(HalfCloseFactory::new(b"ok"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send_chunked(Conn::Server(1), b"chunky", 1)
            .half_close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(factory.received(), b"chunky");
    assert_eq!(count(&run, EventKind::DataReceived), 6);
}

#[test]
fn a_full_close_by_the_peer_is_a_plain_connection_lost() {
    let factory = Arc::new(HalfCloseFactory::new(b"never sent"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(count(&run, EventKind::ReadConnectionLost), 0);
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionDone]
    );
}

#[test]
fn a_reset_by_the_peer_loses_the_connection() {
    let factory = Arc::new(HalfCloseFactory::new(b"never sent"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .reset(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionLost]
    );
    assert!(run.written[0].1.is_empty());
}

// Twisted shuts the write side down only once the buffer flushes
// (semantics H3: "Once the buffer flushes, the transport does
// shutdown(SHUT_WR) and then calls writeConnectionLost()"): with the peer's
// window closed, write_connection_lost waits until it opens.
#[test]

fn the_write_side_closes_only_once_the_reply_is_flushed() {
    let factory = Arc::new(HalfCloseFactory::new(b"stuck reply"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .window(Conn::Server(1), Some(0))
            .half_close(Conn::Server(1))
            .advance(Duration::from_secs(5))
            .window(Conn::Server(1), None)
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(times(&run, EventKind::WriteConnectionLost), [5.0]);
    assert_eq!(times(&run, EventKind::ConnectionLost), [5.0]);
}

#[test]
fn shutdown_while_the_reply_waits_for_a_closed_window_ends_cleanly() {
    let factory = Arc::new(HalfCloseFactory::new(b"stuck reply"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .window(Conn::Server(1), Some(0))
            .half_close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(count(&run, EventKind::ConnectionLost), 1);
}

#[test]
fn shutdown_mid_connection_loses_the_half_closeable_connection() {
    let factory = Arc::new(HalfCloseFactory::new(b"reply"));
    let run = serve(
        &factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send(Conn::Server(1), b"half a request")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionLost]
    );
}

#[test]
fn the_half_close_factory_works_as_a_client_too() {
    let factory = Arc::new(HalfCloseFactory::new(b"bye"));
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"server says")
            .half_close(Conn::Client(1))
            .shutdown(),
        move |r| {
            r.connect_tcp("example.org:9", f, Some(Duration::from_secs(5)));
        },
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Client(1), b"bye".to_vec())]);
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionLost),
        [Reason::ConnectionDone]
    );
}

#[test]
fn the_half_close_client_against_the_echo_server_in_one_reactor() {
    // Our client never half-closes on its own; the echo server is not
    // half-closeable. Shutdown ends both.
    let factory = Arc::new(HalfCloseFactory::new(b"bye"));
    let f = factory.clone();
    let run = MockReactor::new().run(Script::new().shutdown(), move |r| {
        r.listen_tcp("127.0.0.1:9", Arc::new(EchoFactory::new()))
            .unwrap();
        r.connect_tcp("127.0.0.1:9", f, None);
    });
    run.assert_clean();
    assert_eq!(count(&run, EventKind::ConnectionLost), 2);
}

#[test]
fn the_half_close_run_is_byte_identical_when_run_twice() {
    let trace = || {
        serve(
            &Arc::new(HalfCloseFactory::new(b"r")),
            Script::new()
                .accept(1, "10.0.0.2:5000")
                .send(Conn::Server(1), b"q")
                .half_close(Conn::Server(1))
                .shutdown(),
        )
        .trace_jsonl()
    };
    assert_eq!(trace(), trace());
}
