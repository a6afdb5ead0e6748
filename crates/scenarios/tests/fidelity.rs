//! Fidelity to Twisted: each scenario of the recorder, run under the mock
//! reactor with its script (`fixtures/scripts/twisted/NAME.script`), must
//! give the trace real Twisted recorded (`fixtures/twisted/legal/NAME.jsonl`,
//! the epoll reactor), under `callorder_scenarios::compare`.
//!
//! The scenarios that do not match are listed in [`KNOWN_DIFFERENCES`] and
//! in `docs/fidelity.md`, with why; the table test fails when a scenario
//! starts or stops matching, so the list stays true.

mod common;

use std::collections::BTreeSet;
use std::fs;

use callorder_checker::Profile;
use callorder_harness::{parse_script, MockReactor, Run};
use callorder_scenarios::compare::{compare, Difference};
use callorder_scenarios::{set_up, NAMES};
use callorder_trace::TraceReader;
use common::{assert_only_known_differences, recording, root};

/// Scenarios whose mock trace differs from Twisted's, and why (see
/// `docs/fidelity.md`).
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "register_producer_after_disconnect",
        "the mock lets a protocol object go at its connection_lost (so that it \
         cannot leak), so a register_producer made later by a timer has no \
         producer left to stop: it fails with ConnectionGone and no \
         stop_producing follows; Twisted stops the object, which lives on as \
         long as anything holds it",
    ),
    (
        "streaming_producer_slow_reader",
        "the deliberate difference: Twisted delivers the last pause_producing \
         inside the write, before the protocol unregisters its producer in the \
         same callback; callorder would deliver it after the callback returns, \
         when the producer is gone, so it is not delivered at all",
    ),
];

fn run(name: &str) -> Run {
    let path = root()
        .join("fixtures/scripts/twisted")
        .join(format!("{name}.script"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = parse_script(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(file.implementation.as_deref(), Some(name), "{name}.script");
    let reactor = MockReactor::with_profile(Profile::Strict, file.seed.unwrap_or(0));
    reactor.run(file.script, |r| {
        set_up(name, r).unwrap_or_else(|e| panic!("{e}"));
    })
}

fn report(diffs: &[Difference]) -> String {
    diffs.iter().map(ToString::to_string).collect()
}

/// The comparison is the right bar: the three recordings of every scenario
/// (epoll, select, asyncio) agree under it.
#[test]
fn the_three_recordings_of_every_scenario_agree() {
    let mut failures = String::new();
    for name in NAMES {
        let epoll = recording(name, "epoll");
        for other in ["select", "asyncio"] {
            let diffs = compare(&epoll, &recording(name, other));
            if !diffs.is_empty() {
                failures.push_str(&format!("{name}: epoll vs {other}\n{}", report(&diffs)));
            }
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

/// Every recorded legal scenario has an implementation and a script.
#[test]
fn every_recorded_scenario_is_implemented() {
    let dir = root().join("fixtures/twisted/legal");
    let recorded: BTreeSet<String> = fs::read_dir(&dir)
        .expect("the recordings")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".jsonl")?;
            (!stem.contains("__")).then(|| stem.to_owned())
        })
        .collect();
    let implemented: BTreeSet<String> = NAMES.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(recorded, implemented);
}

/// The mock reactor matches Twisted on every scenario except the known
/// differences; all mismatches are reported at once.
#[test]
fn the_mock_reactor_matches_twisted() {
    let mut report_text = String::new();
    let mut differing = BTreeSet::new();
    for name in NAMES {
        let run = run(name);
        let mut text = String::new();
        if let Some(v) = &run.violation {
            text.push_str(&format!("the checker rejected the run: {v}\n"));
        }
        let diffs = compare(&recording(name, "epoll"), &run.trace);
        text.push_str(&report(&diffs));
        if !text.is_empty() {
            differing.insert(*name);
            report_text.push_str(&format!(
                "=== {name}\n{text}--- mock trace:\n{}",
                run.trace_jsonl()
            ));
        }
    }
    assert_only_known_differences(&differing, KNOWN_DIFFERENCES, &report_text);
}

/// The comparison is not blind: it tells apart each legal recording from
/// every illegal mutant made of it (`fixtures/twisted/illegal/`).
#[test]
fn the_comparison_sees_the_mutations_of_a_recording() {
    let dir = root().join("fixtures/twisted/illegal");
    let (mut seen, mut total) = (0, 0);
    let mut blind = Vec::new();
    for name in NAMES {
        let legal = recording(name, "epoll");
        let prefix = format!("{name}__");
        let mut files: Vec<_> = fs::read_dir(&dir)
            .expect("the mutants")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|f| f.starts_with(&prefix) && f.ends_with(".jsonl"))
            .collect();
        files.sort();
        for file in files {
            let text = fs::read_to_string(dir.join(&file)).expect("readable");
            let Ok(mutant) = TraceReader::new(text.as_bytes()).collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            total += 1;
            if compare(&legal, &mutant).is_empty() {
                blind.push(file);
            } else {
                seen += 1;
            }
        }
    }
    println!("{seen} of {total} mutants differ; same under the comparison: {blind:#?}");
    assert!(total > 0 && seen == total, "{seen}/{total}: {blind:#?}");
}
