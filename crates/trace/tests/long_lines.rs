//! Lines far over the limit are refused without being held: the input is
//! generated lazily, and the test checks how much of it the reader took.

use std::cell::Cell;
use std::io::{BufReader, Read};
use std::rc::Rc;

use callorder_trace::{Limits, ReadErrorKind, TraceReader};

const TEN_MB: u64 = 10_000_000;

/// `head`, then `fill` bytes of `x`, then `tail`, produced on demand.
struct Generated {
    head: Vec<u8>,
    fill: u64,
    tail: Vec<u8>,
    /// How many bytes have been handed out, shared with the test.
    served: Rc<Cell<u64>>,
}

impl Generated {
    fn new(head: impl Into<Vec<u8>>, fill: u64, tail: impl Into<Vec<u8>>) -> Self {
        Generated {
            head: head.into(),
            fill,
            tail: tail.into(),
            served: Rc::default(),
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = if !self.head.is_empty() {
            let n = buf.len().min(self.head.len());
            buf[..n].copy_from_slice(&self.head[..n]);
            self.head.drain(..n);
            n
        } else if self.fill > 0 {
            let n = buf
                .len()
                .min(usize::try_from(self.fill).unwrap_or(usize::MAX));
            buf[..n].fill(b'x');
            self.fill -= n as u64;
            n
        } else {
            let n = buf.len().min(self.tail.len());
            buf[..n].copy_from_slice(&self.tail[..n]);
            self.tail.drain(..n);
            n
        };
        self.served.set(self.served.get() + n as u64);
        Ok(n)
    }
}

fn valid_lines(n: u64) -> String {
    (1..=n)
        .map(|seq| format!("{{\"seq\":{seq},\"event\":\"shutdown\"}}\n"))
        .collect()
}

/// The most the reader may have taken: the limit, the byte past it, and
/// what its `BufReader` had read ahead.
fn bound(limits: &Limits, before: usize) -> u64 {
    (limits.max_line_bytes + 1 + 8 * 1024 + before) as u64
}

#[test]
fn a_single_ten_megabyte_line_is_refused_in_bounded_memory() {
    let source = Generated::new(r#"{"seq":1,"event":"end","detail":""#, TEN_MB, "\"}\n");
    let mut reader = TraceReader::new(BufReader::new(source)).with_name("big.jsonl");
    let e = reader.next().unwrap().unwrap_err();
    assert_eq!(
        (e.kind, e.line),
        (ReadErrorKind::LineTooLong, Some(1)),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "big.jsonl:1:1048577: line is longer than the 1048576-byte limit"
    );
    assert!(reader.next().is_none());
    assert!(reader.current_line().len() <= Limits::default().max_line_bytes + 1);
    assert_eq!(reader.line_number(), 1);

    // The reader stopped at the limit: most of the line was never
    // produced, let alone held.
    let source = Generated::new("{", TEN_MB, "}\n");
    let served = Rc::clone(&source.served);
    let e = TraceReader::new(BufReader::new(source))
        .find_map(Result::err)
        .unwrap();
    assert_eq!(e.kind, ReadErrorKind::LineTooLong);
    assert!(
        served.get() <= bound(&Limits::default(), 1),
        "read {} bytes",
        served.get()
    );
}

#[test]
fn a_ten_megabyte_line_in_the_middle_is_refused_at_its_line() {
    let before = valid_lines(5);
    let head = format!("{before}{{\"seq\":6,\"event\":\"end\",\"detail\":\"");
    let tail = format!("\"}}\n{}", "{\"seq\":7,\"event\":\"end\"}\n");
    let source = Generated::new(head.clone(), TEN_MB, tail);
    let served = Rc::clone(&source.served);
    let mut reader = TraceReader::new(BufReader::new(source));
    for seq in 1..=5 {
        assert_eq!(reader.next().unwrap().unwrap().step.seq, seq);
    }
    let e = reader.next().unwrap().unwrap_err();
    assert_eq!(
        (e.kind, e.line),
        (ReadErrorKind::LineTooLong, Some(6)),
        "{e}"
    );
    assert!(e.message.contains("1048576-byte limit"), "{e}");
    assert!(reader.next().is_none());
    assert!(
        served.get() <= bound(&Limits::default(), head.len()),
        "read {} bytes",
        served.get()
    );
}

#[test]
fn the_limit_counts_bytes_before_the_newline() {
    let limits = Limits {
        max_line_bytes: 40,
        ..Limits::default()
    };
    let line = |len: usize| {
        let fixed = r#"{"seq":1,"event":"end","x":""}"#.len();
        format!(
            r#"{{"seq":1,"event":"end","x":"{}"}}"#,
            "y".repeat(len - fixed)
        )
    };
    let read =
        |text: String| TraceReader::with_limits(text.as_bytes(), limits).find_map(Result::err);
    assert_eq!(read(format!("{}\n", line(40))), None);
    assert_eq!(read(line(40)), None);
    assert_eq!(read(format!("{}\r\n", line(39))), None);
    for text in [format!("{}\n", line(41)), line(41)] {
        let e = read(text).unwrap();
        assert_eq!((e.kind, e.line), (ReadErrorKind::LineTooLong, Some(1)));
        assert_eq!(e.message, "line is longer than the 40-byte limit");
    }
}

#[test]
fn a_zero_limit_refuses_every_line() {
    let limits = Limits {
        max_line_bytes: 0,
        ..Limits::default()
    };
    let e = TraceReader::with_limits(&b"{}\n"[..], limits)
        .find_map(Result::err)
        .unwrap();
    assert_eq!(e.kind, ReadErrorKind::LineTooLong);
}
