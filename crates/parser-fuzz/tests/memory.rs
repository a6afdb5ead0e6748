//! Memory follows the input, measured: the counting allocator counts the
//! bytes each reader allocates while it reads, and the worst input of each
//! pass stays under a bound proportional to what the reader must hold.
//!
//! - The trace reader streams: while it reads a line, it holds at most a
//!   constant plus a multiple of the longest line so far (its buffer keeps
//!   that capacity), however many lines came before; the line limit caps
//!   that.
//! - The script and manifest readers build a value from the whole text: at
//!   most a constant plus a multiple of the text.
//!
//! The counters are global: this binary has one test, and its pass runs on
//! one thread, so that nothing else allocates while a reader is measured.

use std::path::PathBuf;
use std::sync::Mutex;

use callorder_cli::corpus::parse_manifest;
use callorder_harness::{parse_script, CountingAlloc, COUNTING_ALLOCATOR};
use callorder_parser_fuzz::{bytes, pass};
use callorder_trace::TraceReader;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

#[global_allocator]
static ALLOC: &CountingAlloc = &COUNTING_ALLOCATOR;

/// Bytes allocated so far (never decreases).
fn allocated() -> u64 {
    COUNTING_ALLOCATOR.stats().bytes_allocated as u64
}

/// Bytes live now.
fn live() -> i64 {
    let s = COUNTING_ALLOCATOR.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// A reader may hold this much whatever its input (buffers, error
/// messages).
const CONSTANT: u64 = 64 * 1024;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn files(dir: &str, extension: &str) -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = std::fs::read_dir(root().join(dir))
        .expect("a fixture directory")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("readable"))
        .collect()
}

/// The worst ratio seen: bytes held over the bytes they were for.
#[derive(Default)]
struct Worst {
    ratio: f64,
    bytes: u64,
}

impl Worst {
    fn see(&mut self, held: u64, of: usize) {
        let ratio = held.saturating_sub(CONSTANT) as f64 / of.max(1) as f64;
        if ratio > self.ratio {
            self.ratio = ratio;
        }
        self.bytes = self.bytes.max(held);
    }
}

/// Any input of a kind: a fixture, its bytes edited; or a long one made to
/// be expensive (`long`, with a size).
fn inputs(special: &'static [u8]) -> impl Strategy<Value = (Index, Vec<bytes::ByteEdit>, u32)> {
    (
        any::<Index>(),
        prop::collection::vec(bytes::edit(special), 0..4),
        prop_oneof![7 => Just(0u32), 1 => 1..40_000u32],
    )
}

#[test]
fn memory_follows_the_input() {
    let one_thread = |inputs| pass::Settings {
        shards: 1,
        ..pass::Settings::from_env(inputs)
    };

    // The trace reader, per line.
    let traces = [
        files("twisted/legal", "jsonl"),
        files("twisted/malformed", "jsonl"),
    ]
    .concat();
    let long_trace = |n: u32| {
        let detail = "\\u00e9\\\"".repeat(n as usize / 8);
        let mut text = String::new();
        for seq in 1..=16 {
            text.push_str(&format!(
                "{{\"seq\":{seq},\"event\":\"connection_made\",\"protocol\":\"p{seq}\",\"detail\":\"{detail}\"}}\n"
            ));
        }
        text.into_bytes()
    };
    let worst = Mutex::new(Worst::default());
    pass::run(
        "trace memory",
        &one_thread(5_000),
        || inputs(b"{}\":,\n\\"),
        |(which, edits, long)| {
            let mut text = if long > 0 {
                long_trace(long)
            } else {
                traces[which.index(traces.len())].clone()
            };
            bytes::apply_all(&mut text, &edits);
            let lines: Vec<usize> = text.split(|&b| b == b'\n').map(<[u8]>::len).collect();
            let base = live();
            let mut reader = TraceReader::new(&text[..]);
            loop {
                let (before, held_before) = (allocated(), live() - base);
                let item = reader.next();
                let during = allocated() - before;
                let read = reader.line_number() as usize;
                let longest = lines[..read.min(lines.len())]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0);
                let held = held_before.max(0) as u64 + during;
                worst.lock().unwrap().see(held, longest);
                prop_assert!(
                    held <= CONSTANT + 8 * longest as u64,
                    "{held} bytes with lines of at most {longest} bytes"
                );
                match item {
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            Ok::<(), TestCaseError>(())
        },
    );
    let worst = worst.into_inner().unwrap();
    eprintln!(
        "trace reader: at most {} bytes held, {:.1} bytes per byte of the longest line past {CONSTANT}",
        worst.bytes, worst.ratio
    );

    // The script parser, per text.
    let scripts = [
        files("scripts", "script"),
        files("scripts/twisted", "script"),
    ]
    .concat();
    let worst = Mutex::new(Worst::default());
    pass::run(
        "script memory",
        &one_thread(5_000),
        || inputs(b" \n\"\\{}#"),
        |(which, edits, long)| {
            let mut text = if long > 0 {
                // One step per byte sent: the most steps a text can make.
                format!(
                    "send client 1 \"{}\" chunks 1\n",
                    "x".repeat(long as usize / 4)
                )
                .into_bytes()
            } else {
                scripts[which.index(scripts.len())].clone()
            };
            bytes::apply_all(&mut text, &edits);
            let text = String::from_utf8_lossy(&text).into_owned();
            let before = allocated();
            let parsed = parse_script(&text, "memory.script");
            let held = allocated() - before;
            drop(parsed);
            worst.lock().unwrap().see(held, text.len());
            prop_assert!(
                held <= CONSTANT + 512 * text.len() as u64,
                "{held} bytes for {} bytes",
                text.len()
            );
            Ok(())
        },
    );
    let worst = worst.into_inner().unwrap();
    eprintln!(
        "script parser: at most {} bytes allocated, {:.1} bytes per byte of text past {CONSTANT}",
        worst.bytes, worst.ratio
    );

    // The manifest reader, per text.
    let manifest = std::fs::read(root().join("twisted/manifest.json")).expect("the manifest");
    let worst = Mutex::new(Worst::default());
    pass::run(
        "manifest memory",
        &one_thread(200),
        || inputs(b"{}[]\":,\n"),
        |(_, edits, _)| {
            let mut text = manifest.clone();
            bytes::apply_all(&mut text, &edits);
            let text = String::from_utf8_lossy(&text).into_owned();
            let before = allocated();
            let parsed = parse_manifest(&text);
            let held = allocated() - before;
            drop(parsed);
            worst.lock().unwrap().see(held, text.len());
            prop_assert!(
                held <= CONSTANT + 4 * text.len() as u64,
                "{held} bytes for {} bytes",
                text.len()
            );
            Ok(())
        },
    );
    let worst = worst.into_inner().unwrap();
    eprintln!(
        "manifest reader: at most {} bytes allocated, {:.1} bytes per byte of text past {CONSTANT}",
        worst.bytes, worst.ratio
    );
}
