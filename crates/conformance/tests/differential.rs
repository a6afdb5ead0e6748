//! Differential runs: every case of the suite, run on the mock reactor
//! from a script and on the tokio reactor with real loopback peers doing
//! the same, gives the same trace under the fidelity comparison
//! (`callorder_scenarios::compare`, which leaves aside times, details,
//! ids and the chunking the kernel chose).

use callorder_conformance::{cases, run_cases, MockWorld, TokioWorld};
use callorder_scenarios::compare::compare;

#[test]
fn every_case_gives_the_same_trace_on_the_mock_and_on_real_sockets() {
    let all = cases::all();
    let mock = run_cases(&mut MockWorld, &all);
    let tokio = run_cases(&mut TokioWorld, &all);
    let mut mismatches = Vec::new();
    for (m, t) in mock.cases.iter().zip(&tokio.cases) {
        assert_eq!(m.id, t.id);
        let differences = compare(&m.records, &t.records);
        if !differences.is_empty() {
            let listed: Vec<String> = differences.iter().map(ToString::to_string).collect();
            mismatches.push(format!("{}:\n  {}", m.id, listed.join("\n  ")));
        }
    }
    assert!(
        mismatches.is_empty(),
        "mock and tokio differ:\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn the_comparison_names_what_differs() {
    // Two different cases are different runs: the comparison must say so,
    // naming what it found different.
    let all = cases::all();
    let pick = |id: &str| {
        all.iter()
            .filter(|c| c.id == id)
            .cloned()
            .collect::<Vec<_>>()
    };
    let refused = run_cases(&mut MockWorld, &pick("client.refused"));
    let timed_out = run_cases(&mut MockWorld, &pick("client.connect_timeout"));
    let differences = compare(&refused.cases[0].records, &timed_out.cases[0].records);
    assert!(!differences.is_empty());
    let text: Vec<String> = differences.iter().map(ToString::to_string).collect();
    assert!(
        text.join("\n").contains("client_connection_failed"),
        "{text:?}"
    );
}
