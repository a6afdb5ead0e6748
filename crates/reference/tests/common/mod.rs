//! Helpers shared by the tests: reading facts out of a run's trace.
#![allow(dead_code)] // Each test file uses its own subset.

use callorder_core::Reason;
use callorder_harness::Run;
use callorder_trace::{Event, EventKind, Record};

/// The records of one kind, in order.
pub fn records(run: &Run, kind: EventKind) -> Vec<&Record> {
    run.trace
        .iter()
        .filter(|r| r.step.event.kind() == kind)
        .collect()
}

/// How many events of one kind the trace has.
pub fn count(run: &Run, kind: EventKind) -> usize {
    records(run, kind).len()
}

/// The virtual times of the events of one kind.
pub fn times(run: &Run, kind: EventKind) -> Vec<f64> {
    records(run, kind)
        .iter()
        .map(|r| r.t.expect("the mock reactor stamps every event"))
        .collect()
}

/// The event names in order, for asserting a whole sequence.
pub fn names(run: &Run) -> Vec<&'static str> {
    run.trace
        .iter()
        .map(|r| r.step.event.kind().as_str())
        .collect()
}

/// The reasons of the events of one kind that carry one.
pub fn reasons(run: &Run, kind: EventKind) -> Vec<Reason> {
    records(run, kind)
        .iter()
        .filter_map(|r| match r.step.event {
            Event::ClientConnectionFailed { reason, .. }
            | Event::ClientConnectionLost { reason, .. }
            | Event::ConnectionLost { reason, .. } => Some(reason),
            _ => None,
        })
        .collect()
}

/// The byte counts of the `data_received` events.
pub fn received_chunks(run: &Run) -> Vec<u64> {
    run.trace
        .iter()
        .filter_map(|r| match r.step.event {
            Event::DataReceived { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect()
}

/// The mock clock's resolution: `Duration`'s nanosecond, and `t` is
/// written as an `f64` of seconds.
pub const CLOCK_RESOLUTION: f64 = 1e-9;

/// Whether `a` is the virtual time `b`, up to the mock clock's resolution
/// (never early).
pub fn same_time(a: f64, b: f64) -> bool {
    a >= b - 1e-9 && a - b <= CLOCK_RESOLUTION
}

/// Asserts that two lists of times agree, pairwise.
#[track_caller]
pub fn assert_times(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!(same_time(*a, *e), "{actual:?} vs {expected:?}");
    }
}
