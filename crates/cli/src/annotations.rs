//! GitHub Actions annotations (`--format github`): one workflow command per
//! problem, so that it shows on the line of the trace or script it is
//! about.
//!
//! ```text
//! ::error file=fixtures/twisted/illegal/client_echo_client_closes__data_received_after_connection_lost.jsonl,line=22,title=callorder P-AFTER-LOST::P-AFTER-LOST: data_received after connection_lost
//! ```
//!
//! Values are escaped as the runner wants: `%`, CR and LF everywhere, and
//! `:` and `,` in properties too.

use crate::case::CaseResult;
use crate::report::FileReport;

/// An annotation's level.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Level {
    /// `::error`: fails the check.
    Error,
    /// `::warning`.
    Warning,
}

/// One workflow command, without the newline.
///
/// ```
/// use callorder_cli::annotations::{command, Level};
/// assert_eq!(
///     command(Level::Error, "a,b.jsonl", Some(3), None, "callorder P-MADE", "P-MADE: 50% done\nnext"),
///     "::error file=a%2Cb.jsonl,line=3,title=callorder P-MADE::P-MADE: 50%25 done%0Anext",
/// );
/// ```
pub fn command(
    level: Level,
    file: &str,
    line: Option<u64>,
    column: Option<u64>,
    title: &str,
    message: &str,
) -> String {
    let level = match level {
        Level::Error => "error",
        Level::Warning => "warning",
    };
    let mut properties = vec![format!("file={}", property(file))];
    if let Some(line) = line {
        properties.push(format!("line={line}"));
        if let Some(column) = column {
            properties.push(format!("col={column}"));
        }
    }
    properties.push(format!("title={}", property(title)));
    format!("::{level} {}::{}", properties.join(","), data(message))
}

fn data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The annotations of one checked file: its violation or error, and its
/// warnings. A legal file without warnings has none.
///
/// ```
/// use callorder_cli::check::{check_reader, CheckOptions};
/// let trace = "{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p1\"}\n";
/// let report = check_reader("t.jsonl", trace.as_bytes(), &CheckOptions::default());
/// let lines = callorder_cli::annotations::for_report(&report);
/// assert_eq!(lines.len(), 1);
/// assert!(lines[0].starts_with("::error file=t.jsonl,line=1,title=callorder P-MADE::P-MADE: "), "{}", lines[0]);
/// ```
pub fn for_report(report: &FileReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = &report.violation {
        out.push(command(
            Level::Error,
            &report.file,
            Some(v.line),
            None,
            &format!("callorder {}", v.rule.id()),
            &format!("{}: {}", v.rule.id(), v.message),
        ));
    }
    if let Some(e) = &report.error {
        out.push(command(
            Level::Error,
            &report.file,
            e.line,
            e.column,
            "callorder: malformed trace",
            &format!("malformed ({}): {}", e.kind, e.message),
        ));
    }
    for w in &report.warnings {
        out.push(command(
            Level::Warning,
            &report.file,
            None,
            None,
            &format!("callorder {}", w.rule.id()),
            &format!("{}: {} (at end, seq {})", w.rule.id(), w.message, w.seq),
        ));
    }
    out
}

/// The annotation of a suite case, if it failed.
///
/// ```
/// use callorder_cli::case::CaseResult;
/// use callorder_cli::report::Verdict;
/// let mut case = CaseResult::new("s/a.script", "s/a.script", Verdict::Legal, "illegal P-MADE");
/// assert_eq!(callorder_cli::annotations::for_case(&case), None);
/// case.fail("want illegal P-MADE, got legal");
/// case.line = Some(2);
/// assert_eq!(
///     callorder_cli::annotations::for_case(&case).unwrap(),
///     "::error file=s/a.script,line=2,title=callorder suite s/a.script::want illegal P-MADE, got legal",
/// );
/// ```
pub fn for_case(case: &CaseResult) -> Option<String> {
    if case.passed {
        return None;
    }
    let why = case.failure.as_deref().unwrap_or("failed");
    let message = match &case.violation {
        Some(v) => format!(
            "{}: {} (seq {}; want {}, got {})",
            v.rule, v.message, v.seq, case.expected, case.verdict
        ),
        None => why.to_owned(),
    };
    Some(command(
        Level::Error,
        &case.file,
        case.line,
        case.column,
        &format!("callorder suite {}", case.id),
        &message,
    ))
}
