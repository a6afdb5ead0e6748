//! The fuzz campaign that CI shards by seed range (the README's workflow,
//! section "CI: sharding across machines"), and the check that its shards
//! add up to the whole campaign, each seed once.
//!
//! ```text
//! CALLORDER_FUZZ_SEED=0..1000 cargo test --release -p callorder-fuzz --test campaign -- --nocapture
//! ```

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use callorder_fuzz::{fuzz_client, fuzz_server};
use callorder_reference::{EchoFactory, LineClientFactory};

/// Set by the sharding test: print a fingerprint of every run's trace.
const FINGERPRINTS: &str = "CALLORDER_FUZZ_FINGERPRINTS";

thread_local! {
    static SEEN: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

fn fingerprint(
    trace: &[callorder_trace::Record],
    _: &[(callorder_harness::Conn, Vec<u8>)],
) -> Result<(), String> {
    let mut hasher = DefaultHasher::new();
    format!("{trace:?}").hash(&mut hasher);
    SEEN.with(|seen| seen.borrow_mut().push(hasher.finish()));
    Ok(())
}

/// Prints what a campaign ran: `campaign NAME: seeds START..END` (or the
/// one seed), and with [`FINGERPRINTS`] set, every run's fingerprint.
fn report(name: &str, seed: u64, range: Option<std::ops::Range<u64>>, cases: u32) {
    let seeds = range.map_or_else(|| seed.to_string(), |r| format!("{}..{}", r.start, r.end));
    println!("campaign {name}: seeds {seeds}, {cases} cases");
    let mut seen = SEEN.with(|seen| std::mem::take(&mut *seen.borrow_mut()));
    if std::env::var_os(FINGERPRINTS).is_some() {
        seen.sort_unstable();
        println!("fingerprints {name}: {seen:?}");
    }
}

/// The reference client and server, under every default check. Without a
/// seed range, a short campaign from seed 0.
#[test]
fn reference_implementations() {
    let client =
        fuzz_client(|| Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2)))
            .name("line_client")
            .cases(16)
            .regressions(None)
            .invariant("fingerprint", fingerprint)
            .check();
    report("line_client", client.seed, client.seed_range, client.cases);
    let server = fuzz_server(|| Arc::new(EchoFactory::new()))
        .name("echo_server")
        .cases(16)
        .regressions(None)
        .invariant("fingerprint", fingerprint)
        .check();
    report("echo_server", server.seed, server.seed_range, server.cases);
}

/// What one run of [`reference_implementations`] printed: per campaign,
/// its seeds and its sorted fingerprints.
fn parse(stdout: &str) -> BTreeMap<String, (String, Vec<u64>)> {
    let mut out: BTreeMap<String, (String, Vec<u64>)> = BTreeMap::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("campaign ") {
            let (name, rest) = rest.split_once(": seeds ").unwrap();
            let seeds = rest.split(',').next().unwrap().to_owned();
            out.entry(name.to_owned()).or_default().0 = seeds;
        } else if let Some(rest) = line.strip_prefix("fingerprints ") {
            let (name, list) = rest.split_once(": ").unwrap();
            let list = list.trim_matches(['[', ']']);
            out.entry(name.to_owned()).or_default().1 = list
                .split(", ")
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
        }
    }
    out
}

/// The `run:` block of the README's workflow step that runs the campaign.
fn workflow_fuzz_step() -> String {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let start = readme
        .find("```yaml\n")
        .expect("the README shows the workflow")
        + 8;
    let yaml = &readme[start..start + readme[start..].find("```").unwrap()];
    let lines: Vec<&str> = yaml.lines().collect();
    // The block after the `run: |` whose lines name CALLORDER_FUZZ_SEED.
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != "run: |" {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let block: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.len() - l.trim_start().len() > indent)
            .map(|l| l.trim())
            .collect();
        if block.iter().any(|l| l.contains("CALLORDER_FUZZ_SEED")) {
            return block.join("\n");
        }
    }
    panic!("no fuzz step in the README's workflow");
}

/// Runs the campaign as the workflow's step does for shard `k` of `n`,
/// with `seeds` in all: the step's script, with the test binary (this one)
/// in place of `cargo test`.
fn run_shard(script: &str, k: usize, n: usize, seeds: u64) -> String {
    let cargo = "cargo test --release -p callorder-fuzz --test campaign --";
    assert!(script.contains(cargo), "{script}");
    let script = script
        .replace("${{ matrix.shard }}", &k.to_string())
        .replace("${{ strategy.job-total }}", &n.to_string())
        .replace(cargo, "\"$CAMPAIGN\" reference_implementations --exact");
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("CAMPAIGN", std::env::current_exe().unwrap())
        .env("FUZZ_SEEDS", seeds.to_string())
        .env(FINGERPRINTS, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "shard {k}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_workflow_shards_the_campaign_into_the_whole_each_seed_once() {
    if std::env::var_os(FINGERPRINTS).is_some() {
        return; // a child of this very test
    }
    let script = workflow_fuzz_step();
    let shards: Vec<_> = (1..=2)
        .map(|k| parse(&run_shard(&script, k, 2, 8)))
        .collect();
    let whole = Command::new(std::env::current_exe().unwrap())
        .args(["reference_implementations", "--exact", "--nocapture"])
        .env("CALLORDER_FUZZ_SEED", "0..8")
        .env(FINGERPRINTS, "1")
        .output()
        .unwrap();
    assert!(whole.status.success());
    let whole = parse(&String::from_utf8_lossy(&whole.stdout));
    assert_eq!(
        whole.keys().collect::<Vec<_>>(),
        ["echo_server", "line_client"]
    );
    for (name, (seeds, prints)) in &whole {
        assert_eq!(seeds, "0..8");
        // The shards' seeds tile the whole range, none twice...
        let ranges: Vec<&str> = shards.iter().map(|s| s[name].0.as_str()).collect();
        assert_eq!(ranges, ["0..4", "4..8"], "{name}");
        // ...and they ran the whole campaign's cases: the same runs, as a
        // multiset of trace fingerprints.
        let mut union: Vec<u64> = shards.iter().flat_map(|s| s[name].1.clone()).collect();
        union.sort_unstable();
        assert!(!prints.is_empty(), "{name}");
        assert_eq!(&union, prints, "{name}");
    }
}
