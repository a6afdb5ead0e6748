//! Mistakes on the command line are usage errors (exit 2) that name what
//! is wrong, and `--require-complete` holds a trace to its `end`.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

fn callorder(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(args)
        .output()
        .expect("the callorder binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    output
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh directory for one test's files (tests run in parallel).
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("usage-tests")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    path.to_string_lossy().into_owned()
}

const LEGAL: &str = "twisted/legal/client_echo_client_closes.jsonl";

#[test]
fn a_missing_file_is_a_usage_error_naming_it_not_a_malformed_trace() {
    let missing = "/nonexistent/callorder/trace.jsonl";
    let output = callorder(&["check", "--format", "json", &fixture(LEGAL), missing]);
    assert_eq!(code(&output), 2);
    // No report at all, not even for the good file: nothing was checked.
    assert!(
        output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert_eq!(
        stderr(&output),
        format!("callorder check: {missing}: no such file\n")
    );
}

#[test]
fn a_directory_is_a_usage_error_naming_it() {
    let dir = scratch("directory");
    let output = callorder(&["check", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(output.stdout.is_empty());
    let message = stderr(&output);
    assert!(
        message.contains(&format!("{}: is a directory", dir.display())),
        "{message}"
    );
}

#[test]
fn require_complete_makes_a_trace_without_end_malformed() {
    let dir = scratch("require-complete");
    let text = fs::read_to_string(fixture(LEGAL)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let cut = dir.join("cut.jsonl");
    fs::write(&cut, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    let cut = cut.to_str().unwrap();

    // Without the flag, a prefix is legal so far.
    assert_eq!(code(&callorder(&["check", cut])), 0);

    let output = callorder(&["check", "--require-complete", "--format", "json", cut]);
    assert_eq!(code(&output), 2);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["verdict"], "malformed");
    assert_eq!(report["error"]["kind"], "incomplete");
    assert_eq!(report["error"]["line"], lines.len());

    // A complete trace passes with the flag.
    let output = callorder(&["check", "--require-complete", &fixture(LEGAL)]);
    assert_eq!(code(&output), 0);
}

#[test]
fn run_out_that_is_a_file_with_several_scripts_says_it_needs_a_directory() {
    let dir = scratch("run-out");
    let file = dir.join("existing.jsonl");
    fs::write(&file, "keep me\n").unwrap();
    let output = callorder(&[
        "run",
        "--out",
        file.to_str().unwrap(),
        &fixture("scripts/seed_success.script"),
        &fixture("scripts/seed_failure.script"),
    ]);
    assert_eq!(code(&output), 2);
    let message = stderr(&output);
    assert!(
        message.contains("is a file, and 2 scripts need a directory"),
        "{message}"
    );
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "keep me\n",
        "left alone"
    );

    // One script may overwrite the file.
    let output = callorder(&[
        "run",
        "--out",
        file.to_str().unwrap(),
        &fixture("scripts/seed_success.script"),
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(fs::read_to_string(&file)
        .unwrap()
        .ends_with("\"event\":\"end\"}\n"));
}
