//! The recorded Twisted corpus: every well-formed file reads, round-trips
//! through the writer, and every malformed one is refused at the line the
//! manifest names.

mod common;

use std::fs;

use callorder_trace::{ReadErrorKind, TraceWriter};
use common::{first_error, fixtures, read_all, RememberedNames};
use serde_json::Value;

fn manifest() -> Vec<Value> {
    let text = fs::read_to_string(fixtures().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn entries(expect: &[&str]) -> Vec<(String, Value)> {
    let entries: Vec<_> = manifest()
        .into_iter()
        .filter(|e| expect.contains(&e["expect"].as_str().unwrap()))
        .map(|e| (e["file"].as_str().unwrap().to_owned(), e))
        .collect();
    assert!(!entries.is_empty(), "no {expect:?} entries in the manifest");
    entries
}

#[test]
fn every_legal_trace_reads_and_round_trips() {
    let dir = fixtures().join("legal");
    let mut files = 0;
    for entry in fs::read_dir(&dir).expect("legal fixtures") {
        let path = entry.unwrap().path();
        let text = fs::read_to_string(&path).unwrap();
        let records =
            read_all(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(records.len(), text.lines().count());

        let mut names = RememberedNames::default();
        names.learn(&text);
        let mut writer = TraceWriter::with_names(Vec::new(), names);
        for record in &records {
            writer.write(record).unwrap();
        }
        let written = writer.into_inner();
        let again =
            read_all(&written).unwrap_or_else(|e| panic!("{} rewritten: {e}", path.display()));
        assert_eq!(again, records, "{}", path.display());
        files += 1;
    }
    assert!(
        files >= 80,
        "only {files} legal fixtures found in {}",
        dir.display()
    );
}

#[test]
fn illegal_and_quirk_traces_are_well_formed() {
    for (file, _) in entries(&["illegal", "quirk"]) {
        let bytes = fs::read(fixtures().join(&file)).unwrap();
        if let Err(e) = read_all(&bytes) {
            panic!("{file}: {e}");
        }
    }
}

#[test]
fn every_malformed_trace_is_refused_at_its_first_bad_line() {
    let entries = entries(&["malformed"]);
    for (file, entry) in &entries {
        let bytes = fs::read(fixtures().join(file)).unwrap();
        let err = first_error(&bytes).unwrap_or_else(|| panic!("{file} was accepted"));
        assert_eq!(err.line, entry["first_bad_seq"].as_u64(), "{file}: {err}");
        assert_ne!(err.kind, ReadErrorKind::Io, "{file}: {err}");
    }
    // Every file in the directory is in the manifest.
    let on_disk = fs::read_dir(fixtures().join("malformed")).unwrap().count();
    assert_eq!(on_disk, entries.len());
}

#[test]
fn malformed_traces_get_the_kind_their_mutation_names() {
    let expected = [
        ("empty_file", ReadErrorKind::Empty),
        ("utf8_bom", ReadErrorKind::Encoding),
        ("invalid_utf8", ReadErrorKind::Encoding),
        ("nul_byte_in_line", ReadErrorKind::Encoding),
        ("nul_bytes_only", ReadErrorKind::Encoding),
        ("blank_line_in_middle", ReadErrorKind::BlankLine),
        ("not_json", ReadErrorKind::Json),
        ("top_level_array", ReadErrorKind::Json),
        ("trailing_garbage_after_object", ReadErrorKind::Json),
        ("deeply_nested_json", ReadErrorKind::Json),
        ("json_truncated_object", ReadErrorKind::Truncated),
        ("truncated_last_line", ReadErrorKind::Truncated),
        ("seq_gap", ReadErrorKind::Sequence),
        ("seq_repeated", ReadErrorKind::Sequence),
        ("seq_starts_at_0", ReadErrorKind::Sequence),
        ("seq_starts_at_2", ReadErrorKind::Sequence),
        ("unknown_event_name", ReadErrorKind::Field),
        ("unknown_reason", ReadErrorKind::Field),
        ("missing_seq", ReadErrorKind::Field),
        ("missing_event", ReadErrorKind::Field),
        ("missing_reason", ReadErrorKind::Field),
        ("wrong_type_seq_string", ReadErrorKind::Field),
        ("wrong_type_t_string", ReadErrorKind::Field),
    ];
    let entries = entries(&["malformed"]);
    for (mutation, kind) in expected {
        let Some((file, _)) = entries.iter().find(|(_, e)| e["mutation"] == mutation) else {
            continue;
        };
        let bytes = fs::read(fixtures().join(file)).unwrap();
        let err = first_error(&bytes).unwrap();
        assert_eq!(err.kind, kind, "{file}: {err}");
    }
}
