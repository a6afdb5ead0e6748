//! `callorder suite` as CI runs it: the default suite passes and says so,
//! a failing case fails the gate with JUnit, JSON and GitHub annotations
//! that point at the offending line, a gate that ran nothing fails, and the
//! shards of a suite add up to the whole, once.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn callorder(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the callorder binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    output
}

/// The repository's root: case ids are relative to it, as in CI.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fresh directory for one test's files (tests run in parallel).
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("suite-tests")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

const FAILING: &str = "docs/examples/failing_suite";

/// The testcase names of a JUnit file, and how many of them failed.
fn junit_cases(path: &PathBuf) -> (Vec<String>, usize) {
    let text = fs::read_to_string(path).unwrap();
    let report = quick_junit::Report::deserialize_from_str(&text).unwrap();
    let mut names = Vec::new();
    let mut failed = 0;
    for suite in &report.test_suites {
        for case in &suite.test_cases {
            names.push(case.name.as_str().to_owned());
            if !matches!(case.status, quick_junit::TestCaseStatus::Success { .. }) {
                failed += 1;
            }
        }
    }
    (names, failed)
}

#[test]
fn the_default_suite_passes_and_ends_with_the_summary_table() {
    let output = callorder(&["suite"]);
    let text = stdout(&output);
    assert_eq!(code(&output), 0, "{text}");
    let total = text
        .lines()
        .find(|l| l.starts_with("total"))
        .unwrap_or_else(|| panic!("no total row:\n{text}"));
    let numbers: Vec<usize> = total
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    // Every fixture script and every manifest entry is a case.
    assert!(numbers[0] >= 35 + 748, "{total}");
    assert_eq!((numbers[1], numbers[2]), (numbers[0], 0), "{total}");
    for row in [
        "fixtures/scripts ",
        "fixtures/scripts/twisted ",
        "fixtures/twisted/manifest.json ",
    ] {
        assert!(text.contains(row), "no row {row:?}:\n{text}");
    }
    assert!(text.contains("spec rules covered: "), "{text}");
}

#[test]
fn the_default_suite_is_the_fixtures_directory_case_for_case() {
    let dir = scratch("default-is-fixtures");
    let (embedded, on_disk) = (dir.join("embedded.jsonl"), dir.join("disk.jsonl"));
    assert_eq!(
        code(&callorder(&["suite", "--json", embedded.to_str().unwrap()])),
        0
    );
    assert_eq!(
        code(&callorder(&[
            "suite",
            "fixtures",
            "--json",
            on_disk.to_str().unwrap()
        ])),
        0
    );
    let ids = |path: &PathBuf| -> Vec<String> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(ids(&embedded), ids(&on_disk));
}

#[test]
fn a_failing_case_fails_the_gate_with_junit_json_and_annotations() {
    let dir = scratch("failing");
    let (junit, json) = (dir.join("suite.xml"), dir.join("suite.jsonl"));
    let output = callorder(&[
        "suite",
        FAILING,
        "--junit",
        junit.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 1, "{}", stdout(&output));
    assert!(stdout(&output).contains("FAIL docs/examples/failing_suite/wrong_expectation.script: want illegal P-AFTER-LOST, got legal"));

    // JUnit: one testcase per case, the violation as the failure message,
    // with the trace lines around it.
    let (names, failed) = junit_cases(&junit);
    assert_eq!(
        names,
        [
            "docs/examples/failing_suite/wrong_expectation.script",
            "docs/examples/failing_suite/data_after_lost.jsonl"
        ]
    );
    assert_eq!(failed, 2);
    let xml = fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(r#"<failure message="P-AFTER-LOST: data_received after connection_lost""#),
        "{xml}"
    );
    assert!(
        xml.contains("    22 | {&quot;seq&quot;:22,"),
        "the offending line in the text:\n{xml}"
    );

    // JSON: the shared case-result shape, one object per line.
    let cases: Vec<Value> = fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 2);
    let trace = &cases[0];
    assert_eq!(
        trace["id"],
        "docs/examples/failing_suite/data_after_lost.jsonl"
    );
    assert_eq!(trace["verdict"], "illegal");
    assert_eq!(trace["expected"], "legal");
    assert_eq!(trace["passed"], false);
    assert_eq!(trace["violation"]["rule"], "P-AFTER-LOST");
    assert_eq!(trace["violation"]["seq"], 22);
    assert!(trace["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "P-AFTER-LOST"));
    assert!(
        trace.get("reactor").is_none(),
        "only conformance cases have a reactor"
    );

    // GitHub annotations, on the line of the trace and of the script.
    let output = callorder(&["suite", "--format", "github", FAILING]);
    assert_eq!(code(&output), 1);
    let annotations: Vec<String> = stdout(&output)
        .lines()
        .filter(|l| l.starts_with("::error "))
        .map(str::to_owned)
        .collect();
    assert_eq!(annotations.len(), 2, "{}", stdout(&output));
    assert!(annotations[0].starts_with(
        "::error file=docs/examples/failing_suite/data_after_lost.jsonl,line=22,title=callorder suite docs/examples/failing_suite/data_after_lost.jsonl::P-AFTER-LOST: data_received after connection_lost"
    ), "{}", annotations[0]);
    assert!(
        annotations[1].starts_with(
            "::error file=docs/examples/failing_suite/wrong_expectation.script,line=4,"
        ),
        "the script's expect line: {}",
        annotations[1]
    );
}

#[test]
fn expect_illegal_and_expect_malformed_scripts_pass_when_they_are_right() {
    let dir = scratch("expectations");
    // The run is legal, so `expect legal` passes and `expect illegal` fails;
    // a script that does not parse passes only with `expect malformed`.
    let body = "implementation echo_server\n\naccept 1 from 127.0.0.1:5000\nshutdown\n";
    fs::write(dir.join("legal.script"), format!("expect legal\n{body}")).unwrap();
    fs::write(dir.join("no_expect.script"), body).unwrap();
    fs::write(
        dir.join("broken.script"),
        "expect malformed\nimplementation echo_server\nsend clinet 1 \"x\"\n",
    )
    .unwrap();
    fs::write(
        dir.join("unknown.script"),
        "expect malformed\nimplementation no_such_thing\nshutdown\n",
    )
    .unwrap();
    let output = callorder(&["suite", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(
        stdout(&output).contains("total                4       4       0")
            || stdout(&output)
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["total", "4", "4", "0"]),
        "{}",
        stdout(&output)
    );

    // The same malformed script expected legal fails, pointing at the bad token.
    fs::write(
        dir.join("broken.script"),
        "expect legal\nimplementation echo_server\nsend clinet 1 \"x\"\n",
    )
    .unwrap();
    let output = callorder(&["suite", "--format", "github", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(text.contains("broken.script,line=3,col=6,"), "{text}");
    assert!(text.contains("want legal, got malformed"), "{text}");
}

#[test]
fn a_gate_that_ran_nothing_fails() {
    let dir = scratch("empty");
    let output = callorder(&["suite", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no case to run"), "{stderr}");
    // A shard that gets no case fails too.
    let output = callorder(&[
        "suite",
        "--partition",
        "3/3",
        "fixtures/scripts/seed_success.script",
        "fixtures/scripts/seed_failure.script",
    ]);
    assert_eq!(code(&output), 2);
}

#[test]
fn missing_paths_and_bare_traces_are_usage_errors() {
    let output = callorder(&["suite", "no/such/suite"]);
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("no/such/suite: no such file or directory"));
    let output = callorder(&["suite", "fixtures/twisted/legal/peer_reset.jsonl"]);
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("a trace alone has no expectation"));
}

#[test]
fn require_coverage_fails_when_a_declared_rule_was_never_exercised() {
    let one = "fixtures/scripts/seed_success.script";
    assert_eq!(code(&callorder(&["suite", one])), 0);
    let output = callorder(&["suite", "--require-coverage", one]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.starts_with("--require-coverage:"))
        .unwrap_or_else(|| panic!("{text}"));
    // One life cycle of a client never reaches a port's rules.
    assert!(line.contains("S-BUILD"), "{line}");
}

#[test]
fn shards_merge_into_the_whole_suite_once() {
    let dir = scratch("shards");
    let whole = dir.join("whole.xml");
    assert_eq!(
        code(&callorder(&[
            "suite",
            "fixtures/scripts",
            "--junit",
            whole.to_str().unwrap()
        ])),
        0
    );
    let mut shards = Vec::new();
    for k in 1..=2 {
        let shard = dir.join(format!("shard-{k}.xml"));
        let output = callorder(&[
            "suite",
            "fixtures/scripts",
            "--partition",
            &format!("{k}/2"),
            "--junit",
            shard.to_str().unwrap(),
        ]);
        assert_eq!(code(&output), 0, "{}", stdout(&output));
        shards.push(shard);
    }
    let (a, _) = junit_cases(&shards[0]);
    let (b, _) = junit_cases(&shards[1]);
    let (all, _) = junit_cases(&whole);
    assert!(!a.is_empty() && !b.is_empty());
    let a_set: BTreeSet<&String> = a.iter().collect();
    assert!(
        b.iter().all(|id| !a_set.contains(id)),
        "no case in both shards"
    );
    assert_eq!(a.len() + b.len(), all.len());

    let merged = dir.join("merged.xml");
    let output = callorder(&[
        "suite",
        "--merge",
        shards[0].to_str().unwrap(),
        shards[1].to_str().unwrap(),
        "--junit",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let (mut merged_ids, failed) = junit_cases(&merged);
    let mut all_ids = all.clone();
    merged_ids.sort();
    all_ids.sort();
    assert_eq!(merged_ids, all_ids);
    assert_eq!(failed, 0);

    // The same shard twice is an overlap, and the merge refuses it.
    let output = callorder(&[
        "suite",
        "--merge",
        shards[0].to_str().unwrap(),
        shards[0].to_str().unwrap(),
        "--junit",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 2);
    assert!(String::from_utf8_lossy(&output.stderr).contains("the shards overlap"));
}

#[test]
fn diagrams_are_written_for_failing_cases_only() {
    let dir = scratch("diagrams");
    let output = callorder(&["suite", FAILING, "--diagrams", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 1);
    let html = dir.join("docs__examples__failing_suite__data_after_lost.jsonl.html");
    let page = fs::read_to_string(&html).unwrap_or_else(|e| panic!("{}: {e}", html.display()));
    assert!(page.contains("class=\"violation\" data-seq=\"22\""));
    let text =
        fs::read_to_string(dir.join("docs__examples__failing_suite__data_after_lost.jsonl.txt"))
            .unwrap();
    assert!(text.contains("!! 22"), "{text}");
    // A passing suite writes none.
    let passing = scratch("diagrams-passing");
    assert_eq!(
        code(&callorder(&[
            "suite",
            "fixtures/scripts/seed_success.script",
            "--diagrams",
            passing.to_str().unwrap()
        ])),
        0
    );
    assert_eq!(fs::read_dir(&passing).unwrap().count(), 0);
}

#[test]
fn a_progress_bar_shows_on_a_terminal_only() {
    // Not a terminal: nothing on stderr, only the report on stdout.
    let output = callorder(&["suite", "fixtures/scripts"]);
    assert_eq!(code(&output), 0);
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A terminal, through util-linux's `script`: the bar counts the cases.
    let Ok(script) = Command::new("script")
        .args([
            "-qec",
            &format!("{} suite fixtures/scripts", env!("CARGO_BIN_EXE_callorder")),
            "/dev/null",
        ])
        .current_dir(repo())
        .stdin(std::process::Stdio::null())
        .output()
    else {
        eprintln!("skipped: no `script` to give callorder a terminal");
        return;
    };
    let screen = String::from_utf8_lossy(&script.stdout);
    let scripts = ["fixtures/scripts", "fixtures/scripts/twisted"]
        .iter()
        .flat_map(|d| fs::read_dir(repo().join(d)).unwrap())
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "script")
        })
        .count();
    assert!(
        screen.contains(&format!("/{scripts} fixtures/scripts/")),
        "{screen}"
    );
    assert!(screen.contains("\x1b[2K"), "the bar is cleared at the end");
    assert!(screen.contains("total"), "{screen}");
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_cycle_does_not_make_the_search_endless() {
    let dir = scratch("link-cycle");
    fs::copy(
        repo().join("fixtures/scripts/seed_success.script"),
        dir.join("seed_success.script"),
    )
    .unwrap();
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    let output = callorder(&["suite", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(
        stdout(&output)
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["total", "1", "1", "0"]),
        "{}",
        stdout(&output)
    );
}
