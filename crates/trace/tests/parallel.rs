//! `ParallelReader` reads every input exactly as `TraceReader` does: the
//! same records, the same first error, the same line number and line text
//! after each item, whatever the blocks and the number of threads.

mod common;

use std::fs;
use std::io::{self, Cursor, Read};
use std::path::PathBuf;

use callorder_trace::{Limits, ParallelReader, ReadError, Record, TraceReader};
use common::fixtures;

/// Each item with the reader's line number and line text after it.
type Items = Vec<(Result<Record, ReadError>, u64, String)>;

fn sequential(bytes: &[u8], limits: Limits) -> Items {
    let mut reader = TraceReader::with_limits(bytes, limits)
        .numbered_ids()
        .with_name("t.jsonl");
    let mut items = Vec::new();
    while let Some(item) = reader.next() {
        items.push((item, reader.line_number(), reader.current_line().to_owned()));
    }
    items
}

fn parallel(bytes: &[u8], limits: Limits, block_bytes: usize, threads: usize) -> Items {
    let mut reader = ParallelReader::new(Cursor::new(bytes.to_vec()))
        .with_limits(limits)
        .numbered_ids()
        .with_name("t.jsonl")
        .block_bytes(block_bytes)
        .threads(threads);
    let mut items = Vec::new();
    while let Some(item) = reader.next() {
        items.push((item, reader.line_number(), reader.current_line().to_owned()));
    }
    assert!(reader.next().is_none(), "fused");
    items
}

/// Asserts that every way of cutting `bytes` into blocks reads as the
/// whole file's reader reads it.
fn same_as_sequential(what: &str, bytes: &[u8], limits: Limits) {
    let expected = sequential(bytes, limits);
    for (block_bytes, threads) in [(1, 2), (90, 1), (200, 3), (4096, 2)] {
        let got = parallel(bytes, limits, block_bytes, threads);
        assert_eq!(
            got, expected,
            "{what}, blocks of {block_bytes} bytes on {threads} threads"
        );
    }
}

fn fixture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![fixtures()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(files.len() > 700, "the corpus is there: {}", files.len());
    files
}

#[test]
fn every_fixture_reads_as_the_sequential_reader_reads_it() {
    for path in fixture_files() {
        let bytes = fs::read(&path).unwrap();
        same_as_sequential(&path.display().to_string(), &bytes, Limits::default());
    }
}

#[test]
fn cut_and_flipped_fixtures_fail_where_the_sequential_reader_fails() {
    // Bytes that break a line in different ways: a newline inside one, a
    // quote, invalid UTF-8, a NUL, a digit (a wrong seq or t), a brace.
    let flips = [b'\n', b'"', 0xff, 0, b'7', b'}', b' '];
    let mut failed = 0;
    for (n, path) in fixture_files().into_iter().enumerate() {
        let bytes = fs::read(&path).unwrap();
        if bytes.is_empty() {
            continue;
        }
        let what = path.display().to_string();
        for k in 1..4 {
            let at = (bytes.len() * k / 4 + n) % bytes.len();
            same_as_sequential(
                &format!("{what} cut at {at}"),
                &bytes[..at],
                Limits::default(),
            );
            let mut flipped = bytes.clone();
            flipped[at] = flips[(n + k) % flips.len()];
            same_as_sequential(
                &format!("{what} with byte {at} changed"),
                &flipped,
                Limits::default(),
            );
            failed += usize::from(
                sequential(&flipped, Limits::default())
                    .iter()
                    .any(|i| i.0.is_err()),
            );
        }
    }
    assert!(
        failed > 1000,
        "most changes make the file malformed: {failed}"
    );
}

#[test]
fn lines_over_the_limit_fail_where_the_sequential_reader_fails() {
    let limits = Limits {
        max_line_bytes: 120,
        ..Limits::default()
    };
    let mut too_long = 0;
    for path in fixture_files().into_iter().step_by(7) {
        let bytes = fs::read(&path).unwrap();
        let expected = sequential(&bytes, limits);
        too_long += usize::from(expected.iter().any(|i| {
            i.0.as_ref()
                .is_err_and(|e| e.message.contains("longer than"))
        }));
        same_as_sequential(&path.display().to_string(), &bytes, limits);
    }
    assert!(too_long > 10, "some lines are over 120 bytes: {too_long}");
}

fn line(seq: u64, t: &str, rest: &str) -> String {
    format!("{{\"seq\":{seq},\"t\":{t},\"event\":\"connection_made\"{rest}}}\n")
}

#[test]
fn t_that_decreases_across_a_block_boundary_is_the_first_error() {
    // Line 3 starts the second block of 2 lines; its t is below line 2's.
    let text = [
        line(1, "1.0", ",\"protocol\":\"p1\""),
        line(2, "2.0", ",\"protocol\":\"p2\""),
        line(3, "1.5", ",\"protocol\":\"p3\""),
        line(4, "3.0", ""),
    ]
    .concat();
    let block = text.find("{\"seq\":3").unwrap();
    let expected = sequential(text.as_bytes(), Limits::default());
    let error = expected[2].0.as_ref().unwrap_err();
    assert_eq!(
        error.message,
        "\"t\" decreases: expected at least 2, found 1.5"
    );
    assert_eq!((error.line, error.column), (Some(3), Some(14)));
    for threads in 1..=3 {
        let got = parallel(text.as_bytes(), Limits::default(), block, threads);
        assert_eq!(got, expected);
    }
}

#[test]
fn t_that_decreases_at_a_line_with_another_error_is_reported_as_the_whole_reader_would() {
    // Line 3 has no protocol too, an error found after t's; its block's
    // worker does not know line 2's t and finds only the missing field.
    let text = [
        line(1, "1.0", ",\"protocol\":\"p1\""),
        line(2, "2.0", ",\"protocol\":\"p2\""),
        line(3, "1.5", ""),
    ]
    .concat();
    let block = text.find("{\"seq\":3").unwrap();
    let expected = sequential(text.as_bytes(), Limits::default());
    let error = expected.last().unwrap().0.as_ref().unwrap_err();
    assert!(error.message.starts_with("\"t\" decreases"), "{error}");
    let alone = sequential(line(3, "1.5", "").as_bytes(), Limits::default());
    assert!(alone[0].0.is_err());
    assert_eq!(
        parallel(text.as_bytes(), Limits::default(), block, 2),
        expected
    );
}

#[test]
fn an_empty_input_is_the_empty_error() {
    let expected = sequential(b"", Limits::default());
    assert_eq!(expected.len(), 1);
    assert_eq!(parallel(b"", Limits::default(), 16, 2), expected);
}

/// Fails after its bytes, as a disk might.
struct FailsAfter(Cursor<Vec<u8>>);

impl Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::Error::other("the disk went away")),
            n => Ok(n),
        }
    }
}

#[test]
fn a_failing_input_gives_its_whole_lines_then_the_error() {
    let text = [
        line(1, "1.0", ",\"protocol\":\"p1\""),
        line(2, "2.0", ",\"protocol\":\"p2\""),
    ]
    .concat()
        + "{\"seq\":3";
    let items: Vec<_> = ParallelReader::new(FailsAfter(Cursor::new(text.into_bytes())))
        .block_bytes(40)
        .collect();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_ok() && items[1].is_ok());
    let error = items[2].as_ref().unwrap_err();
    assert_eq!((error.line, error.column), (None, None));
    assert_eq!(error.message, "cannot read the trace: the disk went away");
}

#[test]
fn dropped_early_it_stops_its_threads() {
    let text: String = (1..=20_000)
        .map(|seq| line(seq, "1.0", &format!(",\"protocol\":\"p{seq}\"")))
        .collect();
    let mut reader = ParallelReader::new(Cursor::new(text.into_bytes())).block_bytes(1000);
    assert!(reader.next().unwrap().is_ok());
    // Dropping joins the threads; a thread left waiting would hang here.
    drop(reader);
}
