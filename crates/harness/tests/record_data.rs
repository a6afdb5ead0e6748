//! `MockReactor::record_data`: the records of `data_received` and `write`
//! keep their bytes (the format's optional `data`, with `data_cut` past
//! 64 KiB), so that a golden trace changes when the content changes; and
//! what the reactor's writer writes, the project's own reader reads back.

use std::sync::Arc;

use callorder::reference::EchoFactory;
use callorder_harness::{Conn, MockReactor, Run, Script};
use callorder_trace::{Data, Event, Record, TraceReader};

/// An echo server that gets `first` and then `second` from one peer.
fn echo(record_data: bool, first: &[u8], second: &[u8]) -> Run {
    let script = Script::new()
        .accept(1, "10.0.0.9:5000")
        .send(Conn::Server(1), first)
        .send(Conn::Server(1), second)
        .close(Conn::Server(1))
        .shutdown();
    MockReactor::new()
        .record_data(record_data)
        .run(script, |r| {
            r.listen_tcp("0.0.0.0:80", Arc::new(EchoFactory::new()))
                .unwrap();
        })
}

/// The run's trace as its writer writes it, read back by the reader.
fn read_back(run: &Run) -> Vec<Record> {
    let text = run.trace_jsonl();
    TraceReader::new(text.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn contents(records: &[Record], want: fn(&Event) -> bool) -> Vec<Vec<u8>> {
    records
        .iter()
        .filter(|r| want(&r.step.event))
        .map(|r| r.data.as_ref().expect("data kept").bytes().to_vec())
        .collect()
}

#[test]
fn data_received_and_write_keep_their_bytes_and_read_back() {
    let run = echo(true, b"ping\r\n", b"pong\r\n");
    run.assert_clean();
    let records = read_back(&run);
    // Ids read back as hashes of their names; the rest is the same.
    let kept = |rs: &[Record]| -> Vec<_> {
        rs.iter()
            .map(|r| (r.step.seq, r.step.event.kind(), r.data.clone()))
            .collect()
    };
    assert_eq!(
        kept(&records),
        kept(&run.trace),
        "the reader reads what the writer wrote"
    );
    let received = contents(&records, |e| matches!(e, Event::DataReceived { .. }));
    let written = contents(&records, |e| matches!(e, Event::Write { .. }));
    assert_eq!(received, [b"ping\r\n".to_vec(), b"pong\r\n".to_vec()]);
    assert_eq!(written, received, "an echo writes what it got");
    assert!(run.trace_jsonl().contains(r#""bytes":6,"data":"cGluZw0K""#));
}

#[test]
fn a_golden_trace_changes_with_the_content_only_when_data_is_recorded() {
    let (a, b) = (echo(true, b"ping\r\n", b"x"), echo(true, b"pong\r\n", b"x"));
    assert_ne!(a.trace_jsonl(), b.trace_jsonl());
    let (a, b) = (
        echo(false, b"ping\r\n", b"x"),
        echo(false, b"pong\r\n", b"x"),
    );
    assert_eq!(a.trace_jsonl(), b.trace_jsonl(), "same counts, same trace");
    assert!(!a.trace_jsonl().contains("\"data\""), "off by default");
}

#[test]
fn content_past_64_kib_is_cut_and_still_reads_back() {
    let big = vec![b'z'; Data::MAX_BYTES + 100];
    let run = echo(true, &big, b"x");
    run.assert_clean();
    let records = read_back(&run);
    let cut: Vec<&Record> = records
        .iter()
        .filter(|r| r.data.as_ref().is_some_and(Data::is_cut))
        .collect();
    assert!(!cut.is_empty(), "some event carried more than 64 KiB");
    for r in cut {
        assert_eq!(r.data.as_ref().unwrap().bytes().len(), Data::MAX_BYTES);
    }
    // Each line stays far under the reader's 1 MiB limit.
    assert!(run.trace_jsonl().lines().all(|l| l.len() < 100_000));
}
