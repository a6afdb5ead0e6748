//! The script parser's fuzz pass: a million inputs in CI.
//!
//! What every input must give: a script, or an error whose line exists and
//! whose column is inside that line (or just after its last character); no
//! panic; a script no larger than its text (a step and a byte sent cost at
//! least one byte of text each), so memory follows the input; and a script
//! that `print_script` prints and `parse_script` reads back unchanged.
//!
//! Inputs: arbitrary text; every fixture script (and its canonical form)
//! with lines dropped, doubled, swapped, moved or cut, words dropped,
//! doubled, swapped or replaced by a keyword or a word of the wrong kind,
//! and bytes flipped, inserted, deleted, copied or cut.
//!
//! `just fuzz-parsers` runs a long pass (`CALLORDER_PARSER_INPUTS`).

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use callorder_harness::{parse_script, print_script, ScriptFile, Step, WorldEvent};
use callorder_parser_fuzz::pass::Tally;
use callorder_parser_fuzz::{bytes, lines, pass, words};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// The CI count of the pass.
const INPUTS: u64 = 1_000_000;

/// Characters that mean something to the format.
const SCRIPT_BYTES: &[u8] = b" \t\n\r#\"\\{}:.0123456789abcdefxhsmnu\xc3\xa9\xef\xbb\xbf\xff\0";

/// The format's words.
const VOCABULARY: &[&str] = &[
    "implementation",
    "seed",
    "resolve",
    "send",
    "half_close",
    "close",
    "reset",
    "window",
    "read_chunks",
    "write_error",
    "accept",
    "from",
    "stop_listening",
    "fault",
    "expect",
    "batch",
    "advance",
    "checkpoint",
    "shutdown",
    "chunks",
    "unlimited",
    "client",
    "server",
    "refuse",
    "dns_failure",
    "fail",
    "build_protocol",
    "connection_made",
    "data_received",
    "start_factory",
    "connection_lost",
    "end",
    "1",
    "2",
    "3",
    "hex:00ff",
    "\"x\"",
    "\"a\\r\\n\"",
    "1.5s",
    "250ms",
    "10us",
    "7ns",
    "127.0.0.1:5000",
    "{",
    "}",
    "#",
];

/// Every fixture script's text, and its canonical text.
fn fixtures() -> &'static [String] {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scripts");
        let mut paths = Vec::new();
        for dir in [root.clone(), root.join("twisted")] {
            for entry in fs::read_dir(&dir).expect("fixtures/scripts") {
                let path = entry.expect("an entry").path();
                if path.extension().is_some_and(|e| e == "script") {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        let mut texts = Vec::new();
        for path in paths {
            let text = fs::read_to_string(&path).expect("readable");
            let file = parse_script(&text, "fixture").expect("a fixture reads");
            texts.push(text);
            texts.push(print_script(&file));
        }
        assert!(texts.len() >= 60, "{} fixture texts", texts.len());
        texts
    })
}

/// One input.
#[derive(Clone, Debug)]
enum Input {
    /// Any text (bytes made UTF-8, invalid ones replaced).
    Text(Vec<u8>),
    /// A fixture, its lines edited, then the words of one line, then its
    /// bytes.
    Fixture {
        which: Index,
        line_edits: Vec<lines::LineEdit>,
        word_edits: Vec<(Index, Vec<words::WordEdit>)>,
        byte_edits: Vec<bytes::ByteEdit>,
    },
}

impl Input {
    fn text(&self) -> String {
        match self {
            Input::Text(b) => String::from_utf8_lossy(b).into_owned(),
            Input::Fixture {
                which,
                line_edits,
                word_edits,
                byte_edits,
            } => {
                let texts = fixtures();
                let text = &texts[which.index(texts.len())];
                let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
                lines::apply_all(&mut lines, line_edits);
                for (at, edits) in word_edits {
                    if !lines.is_empty() {
                        let at = at.index(lines.len());
                        lines[at] = words::apply_all(&lines[at], edits);
                    }
                }
                let mut text = lines.join("\n").into_bytes();
                bytes::apply_all(&mut text, byte_edits);
                String::from_utf8_lossy(&text).into_owned()
            }
        }
    }
}

fn input() -> impl Strategy<Value = Input> {
    let line_edits = prop_oneof![2 => Just(Vec::new()), 1 => lines::edits(2)];
    let word_edits = prop::collection::vec((any::<Index>(), words::edits(VOCABULARY, 2)), 0..3);
    let byte_edits = prop_oneof![2 => Just(Vec::new()), 1 => bytes::edits(SCRIPT_BYTES, 3)];
    prop_oneof![
        1 => bytes::any_bytes(SCRIPT_BYTES, 120).prop_map(Input::Text),
        5 => (any::<Index>(), line_edits, word_edits, byte_edits).prop_map(
            |(which, line_edits, word_edits, byte_edits)| Input::Fixture {
                which,
                line_edits,
                word_edits,
                byte_edits,
            }
        ),
    ]
}

/// Parses `text` and checks what holds for any input; counts what it
/// reached in `tally` (an error by the first words of what it expected).
fn check(text: &str, tally: &Tally) -> Result<(), TestCaseError> {
    match parse_script(text, "fuzz.script") {
        Err(e) => {
            let what: Vec<&str> = e.expected.split(' ').take(3).collect();
            tally.count(format!("expected {}", what.join(" ")));
            // The format ignores a byte-order mark and counts no column for it.
            let body = text.strip_prefix('\u{feff}').unwrap_or(text);
            let line = body
                .split('\n')
                .nth(e.line.wrapping_sub(1))
                .ok_or_else(|| {
                    TestCaseError::fail(format!(
                        "{e}: line {} of {}",
                        e.line,
                        body.split('\n').count()
                    ))
                })?;
            let width = line.strip_suffix('\r').unwrap_or(line).chars().count();
            prop_assert!(
                e.column >= 1 && e.column <= width + 1,
                "column {} of a {}-character line: {}",
                e.column,
                width,
                e
            );
            prop_assert!(
                e.to_string()
                    .starts_with(&format!("fuzz.script:{}:{}: expected ", e.line, e.column)),
                "{}",
                e
            );
        }
        Ok(file) => {
            tally.count("a script");
            let steps = file.script.steps();
            let sent: usize = steps
                .iter()
                .filter_map(|s| match s {
                    Step::Batch(events) => Some(events),
                    _ => None,
                })
                .flatten()
                .map(|e| match e {
                    WorldEvent::Send { bytes, .. } => bytes.len(),
                    _ => 0,
                })
                .sum();
            prop_assert!(
                steps.len() <= text.len() && sent <= text.len(),
                "{} steps and {} bytes sent from {} bytes of text",
                steps.len(),
                sent,
                text.len()
            );
            let printed = print_script(&file);
            let back: Result<ScriptFile, _> = parse_script(&printed, "printed.script");
            prop_assert_eq!(back.as_ref(), Ok(&file), "printed as:\n{}", printed);
        }
    }
    Ok(())
}

#[test]
fn no_text_panics_the_parser_and_every_error_has_its_place() {
    let settings = pass::Settings::from_env(INPUTS);
    fixtures();
    let tally = Tally::default();
    let report = pass::run("script files", &settings, input, |input| {
        check(&input.text(), &tally)
    });
    assert_eq!(report.inputs, settings.inputs);
    eprintln!("script files reached: {tally}");
    // Scripts are read often enough for the round trip to count, and the
    // errors are many kinds, not the first check again and again.
    assert!(tally.get("a script") * 10 > report.inputs, "{tally}");
    let kinds = tally
        .counts()
        .keys()
        .filter(|k| k.starts_with("expected"))
        .count();
    assert!(kinds >= 25, "{kinds} kinds of error: {tally}");
}
