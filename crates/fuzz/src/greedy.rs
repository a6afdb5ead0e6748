//! What the three reactor-free drivers (a protocol, a client factory, a
//! server factory) do with a run once it is over: the checks that look at
//! the whole trace, and the greedy pass that simplifies a failing case
//! further after proptest's shrinking.

use std::rc::Rc;

use callorder_trace::{Record, TraceWriter};

use crate::checks::{writes_after_close, CheckKind, Finding};
use crate::recorder::Outcome;

/// A user invariant of a direct campaign: over the trace and the bytes
/// written, `Err` with a message when it does not hold.
pub(crate) type DirectInvariant = Rc<dyn Fn(&[Record], &[u8]) -> Result<(), String>>;

/// The checks that need the whole run, in the order they are reported:
/// writes after a close (unless allowed), then the user's
/// invariants. A run that already failed keeps its first finding.
pub(crate) fn finish_checks(
    outcome: &mut Outcome,
    write_after_close: bool,
    invariants: &[(String, DirectInvariant)],
) {
    if outcome.finding.is_none() && write_after_close {
        outcome.finding = writes_after_close(&outcome.trace).into_iter().next();
    }
    if outcome.finding.is_none() {
        for (name, check) in invariants {
            if let Err(message) = check(&outcome.trace, &outcome.written) {
                outcome.finding = Some(Finding {
                    check: CheckKind::Invariant(name.clone()),
                    message,
                    seq: None,
                });
                break;
            }
        }
    }
}

/// The trace of a run as JSON Lines, for a failure report.
pub(crate) fn trace_text(trace: &[Record]) -> String {
    let mut w = TraceWriter::new(Vec::new());
    for r in trace {
        w.write(r).expect("in-memory write of finite records");
    }
    String::from_utf8(w.into_inner()).expect("the writer writes UTF-8")
}

/// A failing case of a direct campaign, as the greedy pass simplifies it.
pub(crate) trait Simplify: Clone {
    /// The same case with only the choices at `kept` (indexes, in order).
    fn keep(&self, kept: &[usize]) -> Self;
    /// Every case one step simpler than this one, in the order to try them.
    fn simpler(&self) -> Vec<Self>;
    /// The same case with its data re-chunked as `how` says, or `None`
    /// when that changes nothing.
    fn rechunked(&self, how: crate::campaign::Rechunk) -> Option<Self>;
}

/// The cases one choice shorter than `choices`, then those with one choice
/// made smaller by `smaller` (a chunk cut to its first byte, say).
pub(crate) fn simpler_choices<T: Clone>(
    choices: &[T],
    smaller: impl Fn(&T) -> Option<T>,
) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..choices.len())
        .map(|i| {
            let mut fewer = choices.to_vec();
            fewer.remove(i);
            fewer
        })
        .collect();
    for (i, choice) in choices.iter().enumerate() {
        if let Some(small) = smaller(choice) {
            let mut c = choices.to_vec();
            c[i] = small;
            out.push(c);
        }
    }
    out
}

/// The cases one step simpler than a case of `objects` objects (the
/// connectors or ports a reactor-free campaign drives) and `choices`: one
/// object fewer, then those of [`simpler_choices`]. `case` builds a case
/// from its parts.
pub(crate) fn simpler_cases<T: Clone, C>(
    objects: usize,
    choices: &[T],
    smaller: impl Fn(&T) -> Option<T>,
    case: impl Fn(usize, Vec<T>) -> C,
) -> Vec<C> {
    let mut out = Vec::new();
    if objects > 1 {
        out.push(case(objects - 1, choices.to_vec()));
    }
    out.extend(
        simpler_choices(choices, smaller)
            .into_iter()
            .map(|choices| case(objects, choices)),
    );
    out
}

/// The choices at `kept` (indexes, in order).
pub(crate) fn kept<T: Clone>(choices: &[T], kept: &[usize]) -> Vec<T> {
    kept.iter().map(|&i| choices[i].clone()).collect()
}

/// Greedy simplification after proptest's shrinking, which cannot see which
/// choices the driver skipped: first only the choices that delivered
/// something, then any case one step simpler that still fails the same
/// check, until none does. Gives the case and its run. A case that passes
/// when run again (a flaky implementation) comes back as it was.
pub(crate) fn minimize<C: Simplify>(case: C, drive: impl Fn(&C) -> Outcome) -> (C, Outcome) {
    let mut best = drive(&case);
    let Some(check) = best.finding.as_ref().map(|f| f.check.clone()) else {
        return (case, best);
    };
    let same = |o: &Outcome| o.finding.as_ref().map(|f| &f.check) == Some(&check);
    let mut current = case.keep(&best.delivered);
    let again = drive(&current);
    if same(&again) {
        best = again;
    } else {
        current = case;
    }
    'outer: for _ in 0..1000 {
        for candidate in current.simpler() {
            let outcome = drive(&candidate);
            if same(&outcome) {
                current = candidate;
                best = outcome;
                continue 'outer;
            }
        }
        break;
    }
    (current, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(finding: Option<CheckKind>, delivered: Vec<usize>) -> Outcome {
        Outcome {
            finding: finding.map(|check| Finding {
                check,
                message: String::new(),
                seq: None,
            }),
            trace: Vec::new(),
            written: Vec::new(),
            written_by: Default::default(),
            log: Vec::new(),
            delivered,
            callbacks: 0,
        }
    }

    impl Simplify for Vec<u32> {
        fn keep(&self, kept: &[usize]) -> Self {
            kept.iter().map(|&i| self[i]).collect()
        }
        fn rechunked(&self, _: crate::campaign::Rechunk) -> Option<Self> {
            None
        }
        fn simpler(&self) -> Vec<Self> {
            simpler_choices(self, |&n| (n > 1).then_some(n / 2))
        }
    }

    #[test]
    fn the_greedy_pass_keeps_only_what_the_failure_needs() {
        // Fails with a panic while some choice is at least 5; every choice
        // "delivers" except zeros.
        let drive = |case: &Vec<u32>| {
            let delivered = (0..case.len()).filter(|&i| case[i] != 0).collect();
            let fails = case.iter().any(|&n| n >= 5);
            outcome(fails.then_some(CheckKind::Panic), delivered)
        };
        let (case, run) = minimize(vec![0, 3, 40, 0, 9, 1], drive);
        // The zeros go first (they delivered nothing), then one choice at a
        // time; 9 halved would pass.
        assert_eq!(case, vec![9]);
        assert!(run.finding.is_some());
    }

    #[test]
    fn a_case_that_passes_when_run_again_comes_back_as_it_was() {
        let (case, run) = minimize(vec![1, 2, 3], |_| outcome(None, vec![0]));
        assert_eq!(case, vec![1, 2, 3]);
        assert!(run.finding.is_none());
    }

    #[test]
    fn simpler_cases_have_one_object_fewer_first_and_never_none() {
        let cases = simpler_cases(2, &[4u32], |&n| (n > 1).then_some(n / 2), |o, c| (o, c));
        assert_eq!(cases, vec![(1, vec![4]), (2, vec![]), (2, vec![2])]);
        let cases = simpler_cases(1, &[1u32], |_| None, |o, c| (o, c));
        assert_eq!(cases, vec![(1, vec![])]);
        assert_eq!(kept(&[7u32, 8, 9], &[0, 2]), vec![7, 9]);
    }

    #[test]
    fn simpler_choices_are_one_fewer_then_one_smaller() {
        let simpler = simpler_choices(&[4u32, 1], |&n| (n > 1).then_some(n / 2));
        assert_eq!(simpler, vec![vec![1], vec![4], vec![2, 1]]);
    }
}
