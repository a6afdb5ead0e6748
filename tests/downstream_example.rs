//! `examples/downstream` is a crate outside the workspace, written as a
//! downstream user writes one; `.ci/run` builds and tests it with
//! `--locked --offline`. These checks keep it what it claims to be, cheaply:
//! `callorder` is its only callorder dependency, its three tests (scripted,
//! fuzz, snapshot) are 10 lines or fewer each, and every crate its own
//! Cargo.lock pins is one the workspace's Cargo.lock pins too (so the
//! workspace's build has fetched it, and the offline build can find it).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(path: &str) -> String {
    let p = root().join(path);
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `(name, version, source)` of every `[[package]]` of a Cargo.lock.
fn locked(lock: &str) -> BTreeSet<(String, String, Option<String>)> {
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|v| v.strip_prefix(" = \""))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_owned)
    };
    let mut out = BTreeSet::new();
    for package in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut version = None;
        let mut source = None;
        for line in package.lines() {
            name = name.or_else(|| value(line, "name"));
            version = version.or_else(|| value(line, "version"));
            source = source.or_else(|| value(line, "source"));
        }
        out.insert((name.expect("name"), version.expect("version"), source));
    }
    out
}

#[test]
fn every_crate_the_example_locks_is_locked_by_the_workspace() {
    let workspace = locked(&text("Cargo.lock"));
    let example = locked(&text("examples/downstream/Cargo.lock"));
    let registry: Vec<_> = example.iter().filter(|(_, _, s)| s.is_some()).collect();
    assert!(
        registry.len() > 20,
        "the example's lock names its dependencies: {example:?}"
    );
    let missing: Vec<_> = registry
        .into_iter()
        .filter(|p| !workspace.contains(*p))
        .collect();
    assert!(
        missing.is_empty(),
        "pinned by examples/downstream/Cargo.lock but not by Cargo.lock (copy the \
         workspace's lock there and run `cargo test --offline` in it): {missing:?}"
    );
}

#[test]
fn the_example_depends_on_callorder_alone_by_path_and_is_outside_the_workspace() {
    let manifest = text("examples/downstream/Cargo.toml");
    let deps: Vec<&str> = manifest
        .lines()
        .filter(|l| l.starts_with("callorder"))
        .collect();
    assert_eq!(deps, [r#"callorder = { path = "../../crates/callorder" }"#]);
    assert!(
        manifest.lines().any(|l| l == "[workspace]"),
        "its own workspace"
    );
    assert!(text("Cargo.toml").contains(r#"exclude = ["examples/downstream"]"#));
}

#[test]
fn the_examples_tests_are_ten_lines_or_fewer() {
    for test in ["scripted", "fuzz", "snapshot"] {
        let path = format!("examples/downstream/tests/{test}.rs");
        let lines = text(&path).lines().count();
        assert!(lines <= 10, "{path}: {lines} lines");
    }
    assert!(root()
        .join("examples/downstream/tests/snapshots/snapshot__the_trace_of_one_conversation.snap")
        .exists());
}

/// The example's lock must still resolve as it is: a dependency the facade
/// gained since the lock was written would make `.ci/run`'s `--locked`
/// build refuse it, minutes later. `cargo metadata` resolves without
/// building, in well under a second.
#[test]
fn the_example_lock_is_up_to_date() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(root().join("examples/downstream/Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "examples/downstream/Cargo.lock is out of date (run `cargo update --offline -w \
         --manifest-path examples/downstream/Cargo.toml`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
