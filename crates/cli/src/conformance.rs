//! `callorder conformance`: the reactor conformance suite
//! (`callorder-conformance`) on the mock or the tokio reactor, its cases
//! reported in the case-result shape `callorder suite` writes
//! ([`crate::case`]), with the reactor named.

use callorder_conformance::{CaseReport, SuiteReport};

use crate::case::{CaseResult, CaseViolation};
use crate::report::Verdict;

/// Where a conformance case is defined, for annotations.
pub const CASES_FILE: &str = "crates/conformance/src/cases.rs";

/// One case's result in the shared shape: `reactor` is set, `verdict` is
/// the trace's (`legal`, or `illegal` with the violation), `expected` is
/// `legal`, and `failure` says why a case failed (a violation, an error of
/// the run, or the case's own expectation unmet).
///
/// ```
/// use callorder_cli::conformance::case_result;
/// let suite = callorder_conformance::run_cases(
///     &mut callorder_conformance::MockWorld,
///     &callorder_conformance::cases::all()[..1],
/// );
/// let result = case_result(&suite.cases[0]);
/// assert_eq!(result.id, "client.echo_client_closes");
/// assert_eq!(result.reactor.as_deref(), Some("mock"));
/// assert!(result.passed && result.rules.contains(&"P-MADE".to_owned()));
/// ```
pub fn case_result(case: &CaseReport) -> CaseResult {
    let verdict = if case.violation.is_some() {
        Verdict::Illegal
    } else {
        Verdict::Legal
    };
    let mut result = CaseResult::new(case.id, CASES_FILE, verdict, "legal");
    result.reactor = Some(case.reactor.clone());
    result.rules = case.rules.iter().map(|r| r.id().to_owned()).collect();
    result.violation = case.violation.as_ref().map(|v| CaseViolation {
        rule: v.rule.id().to_owned(),
        message: v.message.clone(),
        seq: v.seq,
        line: v.seq,
    });
    if let Some(why) = &case.failure {
        result.fail(why.clone());
    }
    result
}

/// The exit code of a suite: 0 when every case passed, 1 when one
/// failed, 2 when no case ran (as `callorder suite`).
///
/// ```
/// use callorder_cli::conformance::exit_code;
/// use callorder_conformance::{run_cases, MockWorld};
/// assert_eq!(exit_code(&run_cases(&mut MockWorld, &[])), 2);
/// let one = &callorder_conformance::cases::all()[..1];
/// assert_eq!(exit_code(&run_cases(&mut MockWorld, one)), 0);
/// ```
pub fn exit_code(suite: &SuiteReport) -> u8 {
    if suite.cases.is_empty() {
        2
    } else if suite.passed() {
        0
    } else {
        1
    }
}
