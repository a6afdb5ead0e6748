//! Every fixture script runs against the implementation its header names,
//! legally, and its trace is a golden file (reviewed with `cargo insta`).
//! `callorder run` exits as `callorder check` does.

use std::path::{Path, PathBuf};
use std::process::Command;

use callorder_checker::Profile;
use callorder_cli::report::Verdict;
use callorder_cli::run::run_script_file;

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scripts");
    let mut files = Vec::new();
    for dir in [dir.clone(), dir.join("twisted")] {
        files.extend(
            std::fs::read_dir(&dir)
                .expect("fixtures/scripts exists")
                .map(|e| e.expect("readable").path())
                .filter(|p| p.extension().is_some_and(|e| e == "script")),
        );
    }
    files.sort();
    files
}

/// The snapshot name: the file's stem, prefixed by its folder below
/// fixtures/scripts.
fn snapshot_name(file: &Path) -> String {
    let stem = file
        .file_stem()
        .expect("a name")
        .to_string_lossy()
        .to_string();
    match file
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().to_string())
    {
        Some(folder) if folder != "scripts" => format!("{folder}__{stem}"),
        _ => stem,
    }
}

#[test]
fn every_fixture_script_runs_legally_and_matches_its_golden_trace() {
    let files = scripts();
    assert!(files.len() >= 5 + 29, "the fixtures are there");
    for file in files {
        let run = run_script_file(&file, Profile::Strict);
        assert_eq!(
            run.verdict,
            Verdict::Legal,
            "{}: {:?}",
            file.display(),
            run.notes
        );
        insta::assert_snapshot!(snapshot_name(&file), run.trace.expect("it ran"));
    }
}

#[test]
fn the_same_script_gives_the_same_trace_byte_for_byte() {
    for file in scripts() {
        let a = run_script_file(&file, Profile::Strict).trace;
        let b = run_script_file(&file, Profile::Strict).trace;
        assert_eq!(a, b, "{}", file.display());
    }
}

fn callorder(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn callorder_run_prints_a_trace_that_callorder_check_accepts() {
    let script = scripts()
        .into_iter()
        .find(|p| p.ends_with("seed_success.script"))
        .expect("the seed fixture");
    let dir = std::env::temp_dir().join(format!("callorder-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let out = dir.join("trace.jsonl");
    let (code, _, stderr) = callorder(&[
        "run",
        "--out",
        out.to_str().unwrap(),
        script.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (code, stdout, _) = callorder(&["check", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_malformed_script_exits_2_with_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("callorder-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let bad = dir.join("bad.script");
    std::fs::write(&bad, "implementation echo_server\nsend clinet 1 \"x\"\n").unwrap();
    let (code, _, stderr) = callorder(&["run", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("bad.script:2:6"), "{stderr}");
    let unknown = dir.join("unknown.script");
    std::fs::write(&unknown, "implementation nope\nshutdown\n").unwrap();
    let (code, _, stderr) = callorder(&["run", unknown.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stderr.contains("no bundled implementation"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_step_that_reaches_nothing_exits_2_and_a_failed_expect_exits_1() {
    let dir = std::env::temp_dir().join(format!("callorder-unreached-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    // The script: well formed, but its steps name things that never
    // exist.
    let dead = dir.join("dead.script");
    std::fs::write(
        &dead,
        "implementation line_client\n\
         resolve 1 accept\n\
         send client 7 \"x\\n\"\n\
         resolve 9 accept\n\
         close server 3\n\
         shutdown\n",
    )
    .unwrap();
    let (code, stdout, stderr) = callorder(&["run", dead.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    let name = dead.display();
    assert!(
        stderr.contains(&format!(
            "{name}:3:1: send client 7 \"x\\n\": no connection client 7 (connections so far: \
             client 1; attempts: 1)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{name}:4:1: resolve 9 accept: no attempt 9")));
    assert!(stderr.contains(&format!(
        "{name}:5:1: close server 3: no connection server 3"
    )));
    // The trace is still printed.
    assert!(stdout.ends_with("\"event\":\"end\"}\n"), "{stdout}");

    let wrong = dir.join("wrong.script");
    std::fs::write(
        &wrong,
        "implementation echo_server\n\
         accept 1 from 10.0.0.1:5000\n\
         send server 1 \"ping\"\n\
         expect server 1 \"pong\"\n\
         shutdown\n",
    )
    .unwrap();
    let (code, _, stderr) = callorder(&["run", wrong.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr
            .contains("wrong.script:4:1: expect server 1 \"pong\": the peer received other bytes"),
        "{stderr}"
    );
    let right = dir.join("right.script");
    std::fs::write(
        &right,
        "implementation echo_server\n\
         accept 1 from 10.0.0.1:5000\n\
         send server 1 \"ping\"\n\
         expect server 1 \"ping\"\n\
         shutdown\n",
    )
    .unwrap();
    let (code, _, stderr) = callorder(&["run", right.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}
