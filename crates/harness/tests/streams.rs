//! Ordinary tokio stream code under scripted worlds: the stream adapter
//! runs plain `AsyncRead + AsyncWrite` functions as callorder protocols, so
//! refusals, one-byte chunks, resets at byte k, half-closes, slow readers
//! and virtual time reach code never written for callorder.

use std::io;
use std::time::Duration;

use callorder::stream::{stream_client, stream_server};
use callorder::{Conn, EventKind, MockReactor, Outcome, Reason, Run, Script};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// A plain tokio line client: says HELO, reads the greeting line, says
/// QUIT, reads to the end.
async fn line_client(stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream.write_all(b"HELO\r\n").await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    if !line.starts_with("250") {
        return Err(io::Error::other(format!("unexpected greeting {line:?}")));
    }
    stream.write_all(b"QUIT\r\n").await?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    Ok(())
}

fn run_client(script: Script) -> (Run, Vec<Result<(), String>>, Vec<Reason>) {
    let client = stream_client(line_client);
    let run = MockReactor::new().run(script, |reactor| {
        reactor.connect_tcp("mail.example:25", client.clone(), None);
    });
    (run, client.results(), client.connect_failures())
}

#[test]
fn the_function_itself_passes_a_plain_tokio_test_mock() {
    // What the user may already have: the same function against
    // tokio-test's scripted stream.
    let mock = tokio_test::io::Builder::new()
        .write(b"HELO\r\n")
        .read(b"250 hi\r\n")
        .write(b"QUIT\r\n")
        .build();
    tokio_test::block_on(line_client(mock)).expect("the mock's conversation");
}

#[test]
fn a_greeting_in_one_byte_chunks_is_read_whole() {
    let (run, results, _) = run_client(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send_chunked(Conn::Client(1), b"250 hi\r\n", 1)
            .close(Conn::Client(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(results, [Ok(())]);
    assert_eq!(
        run.written,
        [(Conn::Client(1), b"HELO\r\nQUIT\r\n".to_vec())]
    );
    assert_eq!(run.events_of_kind(EventKind::DataReceived).count(), 8);
}

#[test]
fn a_reset_at_byte_3_is_an_error_of_the_read() {
    let (run, results, _) = run_client(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"250")
            .reset(Conn::Client(1))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(results.len(), 1);
    let error = results[0].as_ref().expect_err("the read fails");
    assert!(error.contains("connection_lost"), "{error}");
}

#[test]
fn a_peer_that_closes_before_the_greeting_is_an_end_of_file() {
    let (run, results, _) = run_client(
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .shutdown(),
    );
    run.assert_clean();
    // read_line gives "" at end of file: not a 250.
    assert_eq!(results, [Err("unexpected greeting \"\"".to_owned())]);
}

#[test]
fn a_refused_connection_never_runs_the_function() {
    let (run, results, failures) = run_client(Script::new().resolve(1, Outcome::Refuse).shutdown());
    run.assert_clean();
    assert!(results.is_empty());
    assert_eq!(failures, [Reason::ConnectionRefused]);
}

#[test]
fn a_function_still_waiting_does_not_keep_a_step_from_ending() {
    // The greeting never comes: the function waits in read_line while the
    // script goes on; the shutdown ends its connection, and its read.
    let (run, results, _) = run_client(
        Script::new()
            .resolve(1, Outcome::Accept)
            .advance(Duration::from_secs(60))
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(results.len(), 1);
    assert!(results[0].is_err(), "{results:?}");
    let lost = run
        .events_of_kind(EventKind::ConnectionLost)
        .find_map(|r| r.step.event.reason());
    assert_eq!(lost, Some(Reason::ConnectionLost));
}

/// Writes, waits a virtual second, writes again, half-closes.
async fn ticker(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    stream.write_all(b"tick").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stream.write_all(b"tock").await?;
    stream.shutdown().await?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    Ok(())
}

fn ticker_run() -> Run {
    let client = stream_client(ticker);
    MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .advance(Duration::from_secs(5))
            .close(Conn::Client(1))
            .shutdown(),
        |reactor| {
            reactor.connect_tcp("clock.example:13", client.clone(), None);
        },
    )
}

#[test]
fn a_function_that_sleeps_wakes_at_its_virtual_deadline_within_an_advance() {
    let run = ticker_run();
    run.assert_clean();
    let writes: Vec<f64> = run
        .events_of_kind(EventKind::Write)
        .filter_map(|r| r.t)
        .collect();
    assert_eq!(writes, [0.0, 1.0]);
    // The half-close comes right after the second write, at its time.
    let half = run
        .events_of_kind(EventKind::LoseWriteConnection)
        .next()
        .and_then(|r| r.t);
    assert_eq!(half, Some(1.0));
    assert_eq!(run.written, [(Conn::Client(1), b"ticktock".to_vec())]);
}

#[test]
fn runs_with_tasks_are_deterministic() {
    assert_eq!(ticker_run().trace_jsonl(), ticker_run().trace_jsonl());
}

#[test]
fn the_function_acts_at_the_top_level_not_inside_a_callback() {
    let run = ticker_run();
    for r in run.events_of_kind(EventKind::Write) {
        assert_eq!(r.step.depth, 0, "{:?}", r);
    }
}

/// Writes `total` bytes in 16 KiB writes, then closes.
async fn flood(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let chunk = [7u8; 16 << 10];
    for _ in 0..16 {
        stream.write_all(&chunk).await?;
    }
    Ok(())
}

#[test]
fn a_slow_reader_holds_writes_back_until_its_window_opens() {
    let client = stream_client(flood);
    let run = MockReactor::new().run(
        Script::new()
            .window(Conn::Client(1), Some(0))
            .resolve(1, Outcome::Accept)
            .window(Conn::Client(1), None)
            .shutdown(),
        |reactor| {
            reactor.connect_tcp("sink.example:9", client.clone(), None);
        },
    );
    run.assert_clean();
    assert_eq!(client.results(), [Ok(())]);
    let kinds: Vec<EventKind> = run.trace.iter().map(|r| r.step.event.kind()).collect();
    let at = |kind| kinds.iter().position(|k| *k == kind).expect("in the trace");
    assert!(at(EventKind::PauseProducing) < at(EventKind::ResumeProducing));
    // Paused after the buffer passed 64 KiB: five 16 KiB writes, no more,
    // until the window opened.
    let before_resume = kinds[..at(EventKind::ResumeProducing)]
        .iter()
        .filter(|k| **k == EventKind::Write)
        .count();
    assert_eq!(before_resume, 5);
    assert_eq!(run.bytes_written(Conn::Client(1)), Some(256 << 10));
}

/// A plain tokio echo server: copies until the peer's end of file.
async fn echo(stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    tokio::io::copy(&mut r, &mut w).await.map(|_| ())
}

#[test]
fn the_server_form_runs_the_function_on_each_accepted_stream() {
    let server = stream_server(echo);
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.2:4000")
            .accept(1, "10.0.0.3:4000")
            .send(Conn::Server(1), b"one")
            .send_chunked(Conn::Server(2), b"two", 1)
            .half_close(Conn::Server(1))
            .reset(Conn::Server(2))
            .shutdown(),
        |reactor| {
            reactor
                .listen_tcp("0.0.0.0:7", server.clone())
                .expect("listens");
        },
    );
    run.assert_clean();
    assert_eq!(
        run.written,
        [
            (Conn::Server(1), b"one".to_vec()),
            (Conn::Server(2), b"two".to_vec())
        ]
    );
    let results = server.results();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0], Ok(()), "a half-close is an end of file");
    assert!(results[1].is_err(), "a reset is an error: {results:?}");
}
