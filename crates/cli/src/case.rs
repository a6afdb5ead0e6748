//! The result of one case, in the one shape every callorder command that
//! runs cases writes: `callorder suite --json` now, and `callorder
//! conformance --format json` (which adds `reactor`) shares it, so CI tools
//! read one schema.
//!
//! One JSON object per case, one per line:
//!
//! ```json
//! {"id":"fixtures/twisted/illegal/client_echo_client_closes__data_received_after_connection_lost.jsonl","verdict":"illegal","expected":"illegal",
//!  "passed":true,"rules":["P-AFTER-LOST","P-MADE"],
//!  "violation":{"rule":"P-AFTER-LOST","message":"data_received after connection_lost","seq":22,"line":22},
//!  "error":null,"failure":null,"file":"fixtures/twisted/illegal/client_echo_client_closes__data_received_after_connection_lost.jsonl","line":22,"column":null}
//! ```
//!
//! - `id`: the case's stable id, derived from its path (see
//!   [`crate::suite`]); `reactor` (absent here): the reactor a conformance
//!   case ran on.
//! - `verdict`: what the case gave, `legal`, `illegal` or `malformed` (a
//!   trace case judged under two profiles gives its `strict` verdict);
//!   `expected`: what it had to give, in the words of its source (`legal`,
//!   `illegal P-AFTER-LOST`, `quirk`, ...); `passed`: whether it did.
//! - `rules`: the ids of the rules the case exercised or broke, in the rule
//!   table's order.
//! - `violation`: the first violation, or `null`; `error`: why the case
//!   could not be judged (a malformed script or trace), or `null`.
//! - `failure`: why the case failed, or `null` when it passed.
//! - `file`, `line`, `column`: where a CI annotation points, the line of
//!   the trace (or script) the case is about.

use serde::{Deserialize, Serialize};

use crate::report::Verdict;

/// One case's result. Serialises to the object documented in the module.
///
/// ```
/// use callorder_cli::case::CaseResult;
/// use callorder_cli::report::Verdict;
/// let case = CaseResult::new("fixtures/scripts/seed_success.script", "fixtures/scripts/seed_success.script", Verdict::Legal, "legal");
/// let json = serde_json::to_string(&case).unwrap();
/// assert!(json.starts_with(r#"{"id":"fixtures/scripts/seed_success.script","verdict":"legal","expected":"legal","passed":true,"rules":[]"#), "{json}");
/// assert!(!json.contains("reactor"));
/// let back: CaseResult = serde_json::from_str(&json).unwrap();
/// assert_eq!(back, case);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseResult {
    /// The stable id.
    pub id: String,
    /// The reactor the case ran on, for conformance cases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reactor: Option<String>,
    /// What the case gave.
    pub verdict: Verdict,
    /// What it had to give, as its source says it.
    pub expected: String,
    /// Whether it gave that.
    pub passed: bool,
    /// The rules exercised or broken, by id, in table order.
    pub rules: Vec<String>,
    /// The first violation.
    pub violation: Option<CaseViolation>,
    /// Why the case could not be judged.
    pub error: Option<CaseError>,
    /// Why the case failed; `None` when it passed.
    pub failure: Option<String>,
    /// The file an annotation points at.
    pub file: String,
    /// The line in `file`, from 1.
    pub line: Option<u64>,
    /// The column in `line`, from 1.
    pub column: Option<u64>,
}

impl CaseResult {
    /// A passing case that gave `verdict`, expected `expected`, about
    /// `file`, with nothing else known yet.
    pub fn new(
        id: impl Into<String>,
        file: impl Into<String>,
        verdict: Verdict,
        expected: impl Into<String>,
    ) -> Self {
        CaseResult {
            id: id.into(),
            reactor: None,
            verdict,
            expected: expected.into(),
            passed: true,
            rules: Vec::new(),
            violation: None,
            error: None,
            failure: None,
            file: file.into(),
            line: None,
            column: None,
        }
    }

    /// Marks the case failed, saying why.
    ///
    /// ```
    /// use callorder_cli::case::CaseResult;
    /// use callorder_cli::report::Verdict;
    /// let mut case = CaseResult::new("a", "a", Verdict::Legal, "illegal P-MADE");
    /// case.fail("want illegal P-MADE, got legal");
    /// assert!(!case.passed);
    /// assert_eq!(case.failure.as_deref(), Some("want illegal P-MADE, got legal"));
    /// ```
    pub fn fail(&mut self, why: impl Into<String>) {
        self.passed = false;
        self.failure = Some(why.into());
    }
}

/// A case's first violation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseViolation {
    /// The broken rule's id.
    pub rule: String,
    /// What happened.
    pub message: String,
    /// The offending event's seq.
    pub seq: u64,
    /// The offending event's line in the trace.
    pub line: u64,
}

/// Why a case could not be judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseError {
    /// The line of the problem, when there is one.
    pub line: Option<u64>,
    /// Its column.
    pub column: Option<u64>,
    /// What was expected and found.
    pub message: String,
}
