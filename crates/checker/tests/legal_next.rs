//! What the checker offers as legal: `Checker::legal_next` for generators
//! of callback sequences, and `Violation::expected` in reports. Each offer
//! is exactly what a copy of the checker accepts at that point.

mod support;

use callorder_checker::{CheckError, Checker, Profile, Violation};
use callorder_trace::{EventKind, Step, TraceReader};
use support::*;

/// The steps of a script, as the reader reads them.
fn steps(script: &str) -> Vec<Step> {
    let (jsonl, _) = to_jsonl(script);
    TraceReader::new(jsonl.as_bytes())
        .map(|r| r.expect("test traces are well formed").step)
        .collect()
}

/// The checker after every step of a legal script.
fn checked(script: &str) -> Checker {
    let mut checker = Checker::new(Profile::Strict);
    for step in steps(script) {
        checker.step(&step).expect("the script is legal");
    }
    checker
}

fn offers(steps: &[Step], kind: EventKind, depth: u32) -> bool {
    steps
        .iter()
        .any(|s| s.event.kind() == kind && s.depth == depth)
}

#[test]
fn legal_next_offers_the_next_seq_and_only_steps_a_copy_accepts() {
    let checker = checked(SERVER_MADE);
    let next = checker.legal_next();
    for step in &next {
        assert_eq!(step.seq, 6, "{step:?}");
        assert!(
            checker.clone().step(step).is_ok(),
            "offered but illegal: {step:?}"
        );
    }
    // The made protocol may get data or lose its connection; the running
    // connection_made may write; a new connection may begin.
    assert!(offers(&next, EventKind::DataReceived, 0), "{next:?}");
    assert!(offers(&next, EventKind::ConnectionLost, 0), "{next:?}");
    assert!(offers(&next, EventKind::Write, 1), "{next:?}");
    assert!(offers(&next, EventKind::ConnectTcp, 0), "{next:?}");
    assert!(!offers(&next, EventKind::ConnectionMade, 0), "{next:?}");
}

/// The violation the last step of the script breaks, and a copy of the
/// checker from just before it, with that step.
fn violation_at_the_end(script: &str) -> (Violation, Checker, Step) {
    let all = steps(script);
    let (bad, before) = all.split_last().expect("steps");
    let mut checker = Checker::new(Profile::Strict);
    for step in before {
        checker.step(step).expect("legal up to the last step");
    }
    let copy = checker.clone();
    match checker.step(bad) {
        Err(CheckError::Violation(v)) => (*v, copy, *bad),
        other => panic!("expected a violation, got {other:?}"),
    }
}

/// Every event the violation lists is listed once, and a copy of the
/// checker from before the offending step accepts it at that step's depth.
fn each_listed_event_is_legal_there(violation: &Violation, copy: &Checker, bad: &Step) {
    for (i, event) in violation.expected.iter().enumerate() {
        assert!(
            !violation.expected[..i].contains(event),
            "listed twice: {event:?}"
        );
        let trial = Step::new(bad.seq, *event).at_depth(bad.depth);
        assert!(
            copy.clone().step(&trial).is_ok(),
            "listed but illegal: {event:?}"
        );
    }
}

fn kinds(violation: &Violation) -> Vec<EventKind> {
    violation.expected.iter().map(|e| e.kind()).collect()
}

#[test]
fn a_violation_lists_the_events_on_its_object_a_copy_would_have_accepted() {
    let (violation, copy, bad) =
        violation_at_the_end(&trace(&[SERVER_MADE, "0 connection_made protocol=p1"]));
    let kinds = kinds(&violation);
    assert!(kinds.contains(&EventKind::DataReceived), "{kinds:?}");
    assert!(kinds.contains(&EventKind::ConnectionLost), "{kinds:?}");
    assert!(!kinds.contains(&EventKind::ConnectionMade), "{kinds:?}");
    each_listed_event_is_legal_there(&violation, &copy, &bad);
}

#[test]
fn a_nested_violation_lists_what_was_legal_at_its_own_depth() {
    // A callback nested in connection_made: only the protocol's actions
    // were legal at depth 1, not its callbacks.
    let (violation, copy, bad) = violation_at_the_end(&trace(&[
        SERVER_MADE,
        "1 data_received protocol=p1 bytes=1",
    ]));
    let kinds = kinds(&violation);
    assert!(kinds.contains(&EventKind::Write), "{kinds:?}");
    assert!(!kinds.contains(&EventKind::DataReceived), "{kinds:?}");
    each_listed_event_is_legal_there(&violation, &copy, &bad);
}
