//! The manifest reader's fuzz pass. Its real input is large (the corpus
//! manifest is 226 kB, 748 entries), so CI reads fewer of them: a
//! thousand whole manifests, edited, and many small ones made of a few of
//! its entries.
//!
//! What every input must give: entries, or an error whose line exists and
//! whose column is inside that line (or just after it); no panic; no more
//! entries than the text has room for.
//!
//! `just fuzz-parsers` runs a long pass (`CALLORDER_PARSER_INPUTS`).

use std::path::PathBuf;
use std::sync::OnceLock;

use callorder_cli::corpus::parse_manifest;
use callorder_parser_fuzz::json::{self, Fields};
use callorder_parser_fuzz::pass::Tally;
use callorder_parser_fuzz::{bytes, lines, pass};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// The CI count of whole manifests.
const WHOLE_INPUTS: u64 = 1_000;
/// The CI count of small manifests.
const SMALL_INPUTS: u64 = 100_000;

const JSON_BYTES: &[u8] = b"{}[]\":,\n \\0123456789-.eEtrufalsn\0\xff";

/// An entry's fields.
const FIELDS: &[&str] = &[
    "file",
    "expect",
    "expect_twisted",
    "mutation",
    "first_bad_seq",
    "source",
];

/// Values an entry's field may be given.
const WORDS: &[&str] = &[
    "legal",
    "illegal",
    "quirk",
    "malformed",
    "strict",
    "twisted",
    "Legal",
    "legal/a.jsonl",
    "",
];

/// The corpus manifest's entries, as fields.
fn entries() -> &'static [Fields] {
    static ENTRIES: OnceLock<Vec<Fields>> = OnceLock::new();
    ENTRIES.get_or_init(|| {
        let path =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted/manifest.json");
        let text = std::fs::read_to_string(path).expect("the corpus manifest");
        let values: Vec<serde_json::Value> = serde_json::from_str(&text).expect("JSON");
        let entries: Vec<Fields> = values
            .iter()
            .map(|v| Fields::parse(&v.to_string()).expect("an object"))
            .collect();
        assert!(entries.len() > 700, "{} entries", entries.len());
        entries
    })
}

/// A manifest of these entries, one to a line, as the corpus writes them.
fn manifest(entries: &[Fields]) -> Vec<u8> {
    let mut text = String::from("[\n");
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&entry.to_text());
    }
    text.push_str("\n]\n");
    text.into_bytes()
}

/// Edits of a manifest's entries: which entries (dropped, doubled, moved),
/// the fields of some of them, then the bytes.
#[derive(Clone, Debug)]
struct Edits {
    entries: Vec<lines::LineEdit>,
    fields: Vec<(Index, Vec<json::FieldEdit>)>,
    bytes: Vec<bytes::ByteEdit>,
}

impl Edits {
    fn apply(&self, mut entries: Vec<Fields>) -> Vec<u8> {
        lines::apply_all(&mut entries, &self.entries);
        for (at, edits) in &self.fields {
            if !entries.is_empty() {
                let at = at.index(entries.len());
                json::apply_all(&mut entries[at], edits);
            }
        }
        let mut text = manifest(&entries);
        bytes::apply_all(&mut text, &self.bytes);
        text
    }
}

fn edits() -> impl Strategy<Value = Edits> {
    (
        prop_oneof![2 => Just(Vec::new()), 1 => lines::edits(2)],
        prop::collection::vec((any::<Index>(), json::field_edits(FIELDS, WORDS, 3)), 0..3),
        prop_oneof![2 => Just(Vec::new()), 1 => bytes::edits(JSON_BYTES, 3)],
    )
        .prop_map(|(entries, fields, bytes)| Edits {
            entries,
            fields,
            bytes,
        })
}

/// Reads `text` and checks what holds for any input; counts what it
/// reached in `tally` (an error by its first words).
fn check(text: &[u8], tally: &Tally) -> Result<(), TestCaseError> {
    match parse_manifest(text) {
        Ok(entries) => {
            tally.count("a manifest");
            // An entry needs at least `{"file":"","expect":"legal"}`.
            prop_assert!(
                entries.len() * 28 <= text.len(),
                "{} entries",
                entries.len()
            );
        }
        Err(e) => {
            let what: Vec<&str> = e.message.split(' ').take(2).collect();
            tally.count(what.join(" "));
            let line = text.split(|&b| b == b'\n').nth(e.line - 1).ok_or_else(|| {
                TestCaseError::fail(format!("{e}: no line {} in the text", e.line))
            })?;
            prop_assert!(
                e.column >= 1 && e.column <= line.len() + 1,
                "column {} of a {}-byte line: {}",
                e.column,
                line.len(),
                e
            );
        }
    }
    Ok(())
}

#[test]
fn no_edit_of_the_corpus_manifest_panics_the_reader() {
    let settings = pass::Settings::from_env(WHOLE_INPUTS);
    entries();
    let tally = Tally::default();
    let report = pass::run("whole manifests", &settings, edits, |edits| {
        check(&edits.apply(entries().to_vec()), &tally)
    });
    assert_eq!(report.inputs, settings.inputs);
    eprintln!("whole manifests reached: {tally}");
    assert_reached(&tally, report.inputs);
}

#[test]
fn no_small_manifest_panics_the_reader() {
    let settings = pass::Settings::from_env(SMALL_INPUTS);
    entries();
    let strategy = || {
        prop_oneof![
            1 => bytes::any_bytes(JSON_BYTES, 120).prop_map(|b| (Vec::new(), None, b)),
            4 => (prop::collection::vec(any::<Index>(), 0..6), edits())
                .prop_map(|(picks, edits)| (picks, Some(edits), Vec::new())),
        ]
    };
    let tally = Tally::default();
    let report = pass::run(
        "small manifests",
        &settings,
        strategy,
        |(picks, edits, raw)| {
            let text = match edits {
                None => raw,
                Some(edits) => {
                    let all = entries();
                    let picked = picks
                        .iter()
                        .map(|i| all[i.index(all.len())].clone())
                        .collect();
                    edits.apply(picked)
                }
            };
            check(&text, &tally)
        },
    );
    assert_eq!(report.inputs, settings.inputs);
    eprintln!("small manifests reached: {tally}");
    assert_reached(&tally, report.inputs);
}

/// Manifests are read often, and the edits reach serde's checks of an
/// entry: fields missing, unknown values, wrong types, fields given twice.
fn assert_reached(tally: &Tally, inputs: u64) {
    assert!(tally.get("a manifest") * 10 > inputs, "{tally}");
    for what in [
        "missing field",
        "unknown variant",
        "invalid type:",
        "duplicate field",
    ] {
        assert!(tally.get(what) > 0, "no {what:?}: {tally}");
    }
}
