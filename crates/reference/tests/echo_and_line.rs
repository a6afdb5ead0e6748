//! The echo server and the line client, alone against scripted peers and
//! joined in one reactor.

mod common;

use std::sync::Arc;
use std::time::Duration;

use callorder_core::Reason;
use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use callorder_reference::{ClientOutcome, EchoFactory, LineClientFactory};
use callorder_trace::EventKind;
use common::{count, names, reasons, received_chunks};

const SERVER: &str = "127.0.0.1:7";

fn serve_echo(script: Script) -> (Arc<EchoFactory>, Run) {
    let factory = Arc::new(EchoFactory::new());
    let f = factory.clone();
    let run = MockReactor::new().run(script, move |r| {
        r.listen_tcp(SERVER, f).unwrap();
    });
    (factory, run)
}

fn connect_line_client(factory: &Arc<LineClientFactory>, script: Script) -> Run {
    let f = factory.clone();
    MockReactor::new().run(script, move |r| {
        r.connect_tcp("example.org:7", f, Some(Duration::from_secs(30)));
    })
}

// ------------------------------------------------------------------ echo

#[test]
fn the_echo_server_writes_back_every_chunk_it_receives() {
    let (factory, run) = serve_echo(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send(Conn::Server(1), b"hello ")
            .send(Conn::Server(1), b"world")
            .close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        run.written,
        vec![(Conn::Server(1), b"hello world".to_vec())]
    );
    assert_eq!(factory.built(), 1);
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionDone]
    );
}

#[test]
fn the_echo_server_echoes_one_byte_chunks_one_by_one() {
    let (_, run) = serve_echo(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send_chunked(Conn::Server(1), b"abcdef", 1)
            .close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Server(1), b"abcdef".to_vec())]);
    assert_eq!(received_chunks(&run), [1; 6]);
    assert_eq!(count(&run, EventKind::Write), 6);
}

#[test]
fn the_echo_server_serves_connections_independently() {
    let (factory, run) = serve_echo(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .accept(1, "10.0.0.3:5000")
            .send(Conn::Server(2), b"two")
            .send(Conn::Server(1), b"one")
            .reset(Conn::Server(1))
            .close(Conn::Server(2))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        run.written,
        vec![
            (Conn::Server(1), b"one".to_vec()),
            (Conn::Server(2), b"two".to_vec()),
        ]
    );
    assert_eq!(factory.built(), 2);
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionLost, Reason::ConnectionDone]
    );
}

#[test]
fn a_write_error_on_the_echo_connection_loses_it() {
    let (_, run) = serve_echo(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .write_error(Conn::Server(1))
            .send(Conn::Server(1), b"doomed")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionLost]
    );
}

#[test]
fn shutdown_with_a_live_echo_connection_loses_it_and_stops_the_port() {
    let (_, run) = serve_echo(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send(Conn::Server(1), b"x")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionLost]
    );
    assert_eq!(count(&run, EventKind::DoStop), 1);
    assert_eq!(names(&run).last(), Some(&"end"));
}

#[test]
fn connections_outlive_a_stopped_echo_port() {
    let (_, run) = serve_echo(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .stop_listening(1)
            .send(Conn::Server(1), b"still here")
            .close(Conn::Server(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Server(1), b"still here".to_vec())]);
}

// ------------------------------------------------------------ line client

#[test]
fn the_line_client_sends_its_lines_terminated_by_crlf() {
    let factory = Arc::new(LineClientFactory::new(["a", "bb", ""]));
    let run = connect_line_client(
        &factory,
        Script::new().resolve(1, Outcome::Accept).shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        run.written,
        vec![(Conn::Client(1), b"a\r\nbb\r\n\r\n".to_vec())]
    );
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Lost(Reason::ConnectionLost)]
    );
}

#[test]
fn the_line_client_reassembles_lines_sent_one_byte_at_a_time() {
    let factory = Arc::new(LineClientFactory::new(["go"]).close_after(3));
    let lines = factory.received();
    let run = connect_line_client(
        &factory,
        Script::new()
            .resolve(1, Outcome::Accept)
            .send_chunked(Conn::Client(1), b"first\r\nsecond\nthird\r\n", 1)
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(lines.lines(), ["first", "second", "third"]);
    assert_eq!(received_chunks(&run).len(), 21);
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Lost(Reason::ConnectionDone)]
    );
}

#[test]
fn the_line_client_splits_several_lines_in_one_chunk_and_keeps_a_partial_one() {
    let factory = Arc::new(LineClientFactory::new(Vec::<String>::new()));
    let lines = factory.received();
    let run = connect_line_client(
        &factory,
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"one\r\ntwo\nthr")
            .send(Conn::Client(1), b"ee\r")
            .send(Conn::Client(1), b"\nfour")
            .close(Conn::Client(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(lines.lines(), ["one", "two", "three"]);
    assert_eq!(run.written, vec![(Conn::Client(1), Vec::new())]);
}

#[test]
fn the_line_client_closes_after_n_lines_and_ignores_the_rest() {
    let factory = Arc::new(LineClientFactory::new(["q"]).close_after(2));
    let lines = factory.received();
    let run = connect_line_client(
        &factory,
        Script::new()
            .resolve(1, Outcome::Accept)
            // "3" comes in the same read as the closing line: ignored. (A
            // later send would reach no connection: it closed.)
            .send(Conn::Client(1), b"1\n2\n3\n")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(lines.lines(), ["1", "2"]);
    assert_eq!(count(&run, EventKind::LoseConnection), 1);
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionDone]
    );
}

#[test]
fn the_line_client_with_close_after_zero_closes_right_after_sending() {
    let factory = Arc::new(LineClientFactory::new(["bye"]).close_after(0));
    let run = connect_line_client(
        &factory,
        Script::new().resolve(1, Outcome::Accept).shutdown(),
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Client(1), b"bye\r\n".to_vec())]);
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Lost(Reason::ConnectionDone)]
    );
}

#[test]
fn the_line_client_hears_a_refusal() {
    let factory = Arc::new(LineClientFactory::new(["x"]));
    let run = connect_line_client(
        &factory,
        Script::new().resolve(1, Outcome::Refuse).shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Failed(Reason::ConnectionRefused)]
    );
    assert_eq!(count(&run, EventKind::BuildProtocol), 0);
}

#[test]
fn the_line_client_hears_a_dns_failure() {
    let factory = Arc::new(LineClientFactory::new(["x"]));
    let run = connect_line_client(
        &factory,
        Script::new().resolve(1, Outcome::DnsFailure).shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Failed(Reason::DnsLookup)]
    );
}

#[test]
fn the_line_client_times_out_when_nobody_answers() {
    let factory = Arc::new(LineClientFactory::new(["x"]));
    let run = connect_line_client(
        &factory,
        Script::new()
            .advance(Duration::from_secs(29))
            .advance(Duration::from_secs(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Failed(Reason::Timeout)]
    );
    assert_eq!(
        common::times(&run, EventKind::ClientConnectionFailed),
        [30.0]
    );
}

#[test]
fn the_line_client_hears_the_peer_reset_and_close() {
    for (reset, reason) in [
        (true, Reason::ConnectionLost),
        (false, Reason::ConnectionDone),
    ] {
        let factory = Arc::new(LineClientFactory::new(["x"]));
        let lines = factory.received();
        let script = Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"partial line then ");
        let script = if reset {
            script.reset(Conn::Client(1))
        } else {
            script.close(Conn::Client(1))
        };
        let run = connect_line_client(&factory, script.shutdown());
        run.assert_clean();
        assert!(lines.is_empty());
        assert_eq!(factory.outcomes().all(), [ClientOutcome::Lost(reason)]);
        assert_eq!(reasons(&run, EventKind::ConnectionLost), [reason]);
    }
}

#[test]
fn shutdown_mid_connection_loses_the_line_clients_connection() {
    let factory = Arc::new(LineClientFactory::new(["x"]).close_after(5));
    let lines = factory.received();
    let run = connect_line_client(
        &factory,
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"one\n")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(lines.lines(), ["one"]);
    assert_eq!(
        factory.outcomes().all(),
        [ClientOutcome::Lost(Reason::ConnectionLost)]
    );
}

// ------------------------------------------------------------------ joined

/// The echo server and the line client in one reactor.
fn echo_and_line_client(lines: &[&str], close_after: usize) -> (Arc<LineClientFactory>, Run) {
    let client = Arc::new(LineClientFactory::new(lines.iter().copied()).close_after(close_after));
    let c = client.clone();
    let run = MockReactor::new().run(Script::new().stop_listening(1).shutdown(), move |r| {
        r.listen_tcp(SERVER, Arc::new(EchoFactory::new())).unwrap();
        r.connect_tcp(SERVER, c, Some(Duration::from_secs(30)));
    });
    (client, run)
}

#[test]
fn the_echo_server_and_the_line_client_exchange_the_lines() {
    let (client, run) = echo_and_line_client(&["hello", "world"], 2);
    run.assert_clean();
    assert_eq!(client.received().lines(), ["hello", "world"]);
    assert_eq!(
        client.outcomes().all(),
        [ClientOutcome::Lost(Reason::ConnectionDone)]
    );
    // Both sides saw a clean close; nothing went to a scripted peer.
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionDone; 2]
    );
    assert!(run.written.is_empty());
    // Both factories were stopped: the client's, then the port's.
    assert_eq!(count(&run, EventKind::StopFactory), 2);
}

#[test]
fn the_joined_exchange_is_byte_identical_when_run_twice() {
    let (_, a) = echo_and_line_client(&["a", "b", "c"], 3);
    let (_, b) = echo_and_line_client(&["a", "b", "c"], 3);
    a.assert_clean();
    assert_eq!(a.trace_jsonl(), b.trace_jsonl());
}
