//! The recorded Twisted corpus (`fixtures/twisted`), judged as its manifest
//! says, through the same code as `callorder check`:
//!
//! - every `legal/` trace is legal under both profiles;
//! - every quirk is legal under `twisted` and illegal under `strict`;
//! - every `illegal/` trace is illegal with its violation at `first_bad_seq`
//!   under `strict`, and under `twisted` too unless `expect_twisted` says
//!   otherwise;
//! - every `malformed/` file is malformed with its error at line
//!   `first_bad_seq` (no line for an empty file).
//!
//! Each test collects every failing entry before it fails, so one run shows
//! the whole list.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use callorder::checker::Profile;
use callorder_cli::{check_path, CheckOptions, FileReport, Verdict};
use serde_json::Value;

const PROFILES: [Profile; 2] = [Profile::Strict, Profile::Twisted];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted")
}

/// One manifest entry, read loosely so that a field this test does not
/// know cannot break it.
struct Entry {
    file: String,
    expect: String,
    expect_twisted: Option<String>,
    mutation: Option<String>,
    first_bad_seq: Option<u64>,
}

fn manifest() -> Vec<Entry> {
    let path = fixtures().join("manifest.json");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entries: Vec<Value> = serde_json::from_str(&text).expect("the manifest is a JSON array");
    entries
        .iter()
        .map(|e| {
            let string = |key: &str| e.get(key).and_then(Value::as_str).map(str::to_owned);
            Entry {
                file: string("file").expect("every entry names its file"),
                expect: string("expect").expect("every entry says what it expects"),
                expect_twisted: string("expect_twisted"),
                mutation: string("mutation"),
                first_bad_seq: e.get("first_bad_seq").and_then(Value::as_u64),
            }
        })
        .collect()
}

fn entries(expect: &str) -> Vec<Entry> {
    let entries: Vec<Entry> = manifest()
        .into_iter()
        .filter(|e| e.expect == expect)
        .collect();
    assert!(!entries.is_empty(), "no {expect} entries in the manifest");
    entries
}

fn check(entry: &Entry, profile: Profile) -> FileReport {
    check_path(&fixtures().join(&entry.file), &CheckOptions::new(profile))
}

/// Why a report is not the verdict wanted, in a few words.
fn describe(report: &FileReport) -> String {
    match (&report.violation, &report.error) {
        (Some(v), _) => format!("illegal at seq {} [{}]: {}", v.seq, v.rule.id(), v.message),
        (_, Some(e)) => format!("malformed at line {:?}: {}", e.line, e.message),
        _ => format!("{} ({} warnings)", report.verdict, report.warnings.len()),
    }
}

/// Fails listing every failure, if any.
fn assert_none(what: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} of {total} {what} fell short:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

#[test]
fn legal_traces_are_legal_under_both_profiles() {
    let entries = entries("legal");
    let mut failures = Vec::new();
    for entry in &entries {
        for profile in PROFILES {
            let report = check(entry, profile);
            if report.verdict != Verdict::Legal {
                failures.push(format!("{} [{profile}]: {}", entry.file, describe(&report)));
            } else if !report.complete {
                failures.push(format!("{} [{profile}]: legal, but no `end`", entry.file));
            }
        }
    }
    assert_none("legal traces", entries.len(), &failures);
}

#[test]
fn quirks_are_legal_under_twisted_and_illegal_under_strict() {
    let entries = entries("quirk");
    let mut failures = Vec::new();
    for entry in &entries {
        let twisted = check(entry, Profile::Twisted);
        if twisted.verdict != Verdict::Legal {
            failures.push(format!(
                "{} [twisted]: want legal, got {}",
                entry.file,
                describe(&twisted)
            ));
        }
        let strict = check(entry, Profile::Strict);
        if strict.verdict != Verdict::Illegal {
            failures.push(format!(
                "{} [strict]: want illegal, got {}",
                entry.file,
                describe(&strict)
            ));
        }
    }
    assert_none("quirks", entries.len(), &failures);
}

#[test]
fn illegal_traces_are_rejected_at_their_first_bad_seq() {
    let entries = entries("illegal");
    let mut failures = Vec::new();
    for entry in &entries {
        let Some(first_bad) = entry.first_bad_seq else {
            failures.push(format!(
                "{}: the manifest gives no first_bad_seq",
                entry.file
            ));
            continue;
        };
        for profile in PROFILES {
            let want = match (profile, entry.expect_twisted.as_deref()) {
                (Profile::Twisted, Some(verdict)) => verdict,
                _ => "illegal",
            };
            let report = check(entry, profile);
            let mutation = entry.mutation.as_deref().unwrap_or("?");
            if report.verdict.as_str() != want {
                failures.push(format!(
                    "{} [{profile}]: want {want}, got {} ({mutation})",
                    entry.file,
                    describe(&report)
                ));
            } else if want == "illegal" {
                let seq = report.violation.as_ref().map(|v| v.seq);
                if seq != Some(first_bad) {
                    failures.push(format!(
                        "{} [{profile}]: want the violation at seq {first_bad} ({mutation}), got {}",
                        entry.file,
                        describe(&report)
                    ));
                }
            }
        }
    }
    assert_none("illegal traces", entries.len(), &failures);
}

#[test]
fn malformed_files_are_refused_at_their_first_bad_line() {
    let entries = entries("malformed");
    let mut failures = Vec::new();
    for entry in &entries {
        for profile in PROFILES {
            let report = check(entry, profile);
            let line = report.error.as_ref().and_then(|e| e.line);
            if report.verdict != Verdict::Malformed {
                failures.push(format!(
                    "{} [{profile}]: want malformed, got {}",
                    entry.file,
                    describe(&report)
                ));
            } else if line != entry.first_bad_seq {
                failures.push(format!(
                    "{} [{profile}]: want the error at line {:?}, got {}",
                    entry.file,
                    entry.first_bad_seq,
                    describe(&report)
                ));
            }
        }
    }
    assert_none("malformed files", entries.len(), &failures);
}

/// A fixture left out of the manifest would never be judged.
#[test]
fn the_manifest_lists_every_fixture() {
    let listed: BTreeSet<String> = manifest().into_iter().map(|e| e.file).collect();
    let mut missing = Vec::new();
    for dir in ["legal", "quirks", "illegal", "malformed"] {
        for file in fs::read_dir(fixtures().join(dir)).expect("fixture directory") {
            let name = format!(
                "{dir}/{}",
                file.expect("directory entry").file_name().to_string_lossy()
            );
            if !listed.contains(&name) {
                missing.push(name);
            }
        }
    }
    assert_none("fixtures on disk", listed.len(), &missing);
}
