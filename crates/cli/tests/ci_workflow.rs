//! The README's GitHub Actions workflow, run locally with 2 shards: its
//! `callorder suite` steps (not `cargo` itself) for each shard, then its
//! merge step. The shards' cases are the whole default suite, none twice,
//! and the merged JUnit file has exactly the whole suite's cases. (The fuzz
//! step's shards are checked the same way by `crates/fuzz/tests/campaign.rs`.)

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `run: |` blocks of the README's workflow, each as its lines.
fn run_blocks() -> Vec<Vec<String>> {
    let readme = fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme
        .find("```yaml\n")
        .expect("the README shows the workflow")
        + 8;
    let yaml = &readme[start..start + readme[start..].find("```").unwrap()];
    let lines: Vec<&str> = yaml.lines().collect();
    let mut blocks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim() == "run: |" {
            let indent = line.len() - line.trim_start().len();
            blocks.push(
                lines[i + 1..]
                    .iter()
                    .take_while(|l| l.len() - l.trim_start().len() > indent)
                    .map(|l| l.trim().to_owned())
                    .collect(),
            );
        }
    }
    blocks
}

/// The block whose lines run `callorder suite` with `needle`, without its
/// cargo lines and PATH set-up (the test puts its own binary first on the
/// PATH), for shard `k` of `n`.
fn step(needle: &str, k: usize, n: usize) -> String {
    let block = run_blocks()
        .into_iter()
        .find(|b| {
            b.iter()
                .any(|l| l.starts_with("callorder suite") && l.contains(needle))
        })
        .unwrap_or_else(|| panic!("no step with callorder suite {needle}"));
    block
        .iter()
        .filter(|l| !l.starts_with("cargo ") && !l.starts_with("export PATH="))
        .map(|l| {
            l.replace("${{ matrix.shard }}", &k.to_string())
                .replace("${{ strategy.job-total }}", &n.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bash(script: &str, dir: &Path) -> (i32, String) {
    let bin = Path::new(env!("CARGO_BIN_EXE_callorder")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn cases(path: &Path) -> Vec<String> {
    let report = quick_junit::Report::deserialize_from_str(&fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    report
        .test_suites
        .iter()
        .flat_map(|s| s.test_cases.iter().map(|c| c.name.as_str().to_owned()))
        .collect()
}

#[test]
fn the_workflow_shards_the_suite_into_the_whole_each_case_once() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ci-workflow");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();

    let mut shards: Vec<Vec<String>> = Vec::new();
    for k in 1..=2 {
        // Each shard runs on a machine of its own.
        let machine = dir.join(format!("machine-{k}"));
        fs::create_dir_all(&machine).unwrap();
        let (code, text) = bash(&step("--partition", k, 2), &machine);
        assert_eq!(code, 0, "shard {k}: {text}");
        let junit = machine.join(format!("suite-{k}.xml"));
        shards.push(cases(&junit));
        // As the artifact download lays them out.
        let artifact = dir.join("merge/shards").join(format!("shard-{k}"));
        fs::create_dir_all(&artifact).unwrap();
        fs::copy(&junit, artifact.join(format!("suite-{k}.xml"))).unwrap();
    }

    let whole_file = dir.join("whole.xml");
    let (code, text) = bash(
        &format!("callorder suite --junit {}", whole_file.display()),
        &dir,
    );
    assert_eq!(code, 0, "{text}");
    let whole = cases(&whole_file);

    let first: BTreeSet<&String> = shards[0].iter().collect();
    assert!(
        shards[1].iter().all(|c| !first.contains(c)),
        "a case in both shards"
    );
    let mut union: Vec<String> = shards.concat();
    union.sort();
    let mut sorted_whole = whole.clone();
    sorted_whole.sort();
    assert_eq!(union, sorted_whole, "the shards are the whole suite");
    assert!(
        shards.iter().all(|s| s.len() >= whole.len() / 2),
        "balanced"
    );

    let merge = dir.join("merge");
    let (code, text) = bash(&step("--merge", 1, 2), &merge);
    assert_eq!(code, 0, "{text}");
    let mut merged = cases(&merge.join("suite.xml"));
    merged.sort();
    assert_eq!(merged, sorted_whole);
}
