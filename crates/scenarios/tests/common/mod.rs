//! What the fidelity tests of both reactors share: the recordings, and the
//! verdict that the scenarios that differ are exactly those listed.

use std::collections::BTreeSet;
use std::fs;
use std::io::BufReader;
use std::path::PathBuf;

use callorder_trace::{Record, TraceReader};

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The recording of scenario `name` under Twisted's `reactor` (`epoll`,
/// `select` or `asyncio`).
pub fn recording(name: &str, reactor: &str) -> Vec<Record> {
    let file = match reactor {
        "epoll" => format!("{name}.jsonl"),
        other => format!("{name}__{other}.jsonl"),
    };
    let path = root().join("fixtures/twisted/legal").join(&file);
    let f = fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    TraceReader::new(BufReader::new(f))
        .with_name(file.clone())
        .map(|r| r.unwrap_or_else(|e| panic!("{file}: {e}")))
        .collect()
}

/// Fails unless the scenarios that differ are exactly those `known` lists
/// (one that starts matching must leave the list too), with `report`, the
/// differences found; prints the known differences for the log.
pub fn assert_only_known_differences(
    differing: &BTreeSet<&str>,
    known: &[(&str, &str)],
    report: &str,
) {
    let known: BTreeSet<&str> = known.iter().map(|(n, _)| *n).collect();
    let unexpected: Vec<&&str> = differing.difference(&known).collect();
    let fixed: Vec<&&str> = known.difference(differing).collect();
    assert!(
        unexpected.is_empty() && fixed.is_empty(),
        "differ but not listed: {unexpected:?}\nlisted but match now: {fixed:?}\n{report}"
    );
    if !report.is_empty() {
        println!("{report}");
    }
}
