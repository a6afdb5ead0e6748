//! `callorder conformance`: both reactors pass the suite, for people and as
//! one case-result object per case (the shape of `callorder suite --json`,
//! with the reactor named).

use std::process::{Command, Output};

use serde_json::Value;

fn callorder(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(args)
        .output()
        .expect("the callorder binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_mock_reactor_passes_and_the_summary_says_what_was_covered() {
    let output = callorder(&["conformance", "--reactor", "mock"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let cases = callorder_conformance::cases::all().len();
    assert!(
        text.contains(&format!("conformance mock: {cases}/{cases} cases passed")),
        "{text}"
    );
    assert!(text.contains("ok client.refused [mock]"), "{text}");
    assert!(text.contains("rules exercised"), "{text}");
    assert!(
        text.contains("recorded scenarios not in the suite:"),
        "{text}"
    );
}

#[test]
fn the_tokio_reactor_passes_with_one_case_result_per_line() {
    let output = callorder(&["conformance", "--reactor", "tokio", "--format", "json"]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let results: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["id"].as_str().expect("an id"))
        .collect();
    let want: Vec<&str> = callorder_conformance::cases::all()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, want);
    for r in &results {
        assert_eq!(r["reactor"], "tokio", "{r}");
        assert_eq!(r["verdict"], "legal", "{r}");
        assert_eq!(r["passed"], true, "{r}");
        assert!(r["violation"].is_null(), "{r}");
        assert!(!r["rules"].as_array().expect("rules").is_empty(), "{r}");
    }
    // It reads back as the suite's own case result.
    let back: callorder_cli::case::CaseResult =
        serde_json::from_str(text.lines().next().expect("a line")).expect("the shared shape");
    assert_eq!(back.reactor.as_deref(), Some("tokio"));
}

#[test]
fn a_reactor_the_command_does_not_know_is_a_usage_error() {
    let output = callorder(&["conformance", "--reactor", "twisted"]);
    assert_eq!(output.status.code(), Some(2));
}
