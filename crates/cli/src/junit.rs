//! JUnit XML, which CI systems read natively: one `testcase` per case,
//! named by its id, in a `testsuite` per source (a script directory or a
//! manifest). A failing case carries the violation as its failure message
//! (`RULE-ID: message`), and the trace lines around it as the failure's
//! text. No times or timestamps are written, so the same run gives the
//! same file.
//!
//! [`merge`] puts the files of a suite's shards back into one, and refuses
//! a case that two shards both ran.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::suite::{CaseOutcome, SuiteRun};

/// The name of the report (the `testsuites` element).
pub const REPORT_NAME: &str = "callorder";

/// The JUnit report of a suite's run.
///
/// ```
/// use callorder_cli::suite::Suite;
/// let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scripts/seed_success.script");
/// let run = Suite::from_paths(&[fixtures.into()]).unwrap().run(|_| {});
/// let xml = callorder_cli::junit::report(&run).to_string().unwrap();
/// assert!(xml.contains(r#"<testsuites name="callorder" tests="1" failures="0" errors="0">"#), "{xml}");
/// ```
pub fn report(run: &SuiteRun) -> Report {
    let mut suites: BTreeMap<&str, TestSuite> = BTreeMap::new();
    for outcome in &run.outcomes {
        suites
            .entry(outcome.group.as_str())
            .or_insert_with(|| TestSuite::new(outcome.group.as_str()))
            .add_test_case(test_case(outcome));
    }
    let mut report = Report::new(REPORT_NAME);
    report.add_test_suites(suites.into_values());
    report
}

fn test_case(outcome: &CaseOutcome) -> TestCase {
    let result = &outcome.result;
    let status = if result.passed {
        TestCaseStatus::success()
    } else {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        let message = match &result.violation {
            Some(v) => format!("{}: {}", v.rule, v.message),
            None => result.failure.clone().unwrap_or_default(),
        };
        status.set_message(message);
        status.set_type(format!("expected {}", result.expected));
        let mut text = String::new();
        let _ = writeln!(text, "{}", result.failure.as_deref().unwrap_or_default());
        let location = match result.line {
            Some(line) => format!("{}:{line}", result.file),
            None => result.file.clone(),
        };
        let _ = writeln!(text, "at {location}");
        for line in &outcome.context {
            let _ = writeln!(text, "{:>6} | {}", line.line, line.text);
        }
        status.set_description(text);
        status
    };
    let mut case = TestCase::new(result.id.as_str(), status);
    case.set_classname(outcome.group.as_str());
    case
}

/// Writes `report` to `path`.
///
/// # Errors
///
/// If the file cannot be written, with the path in the message.
///
/// ```
/// let report = quick_junit::Report::new("callorder");
/// let err = callorder_cli::junit::write(&report, std::path::Path::new("/nonexistent/dir/suite.xml")).unwrap_err();
/// assert!(err.starts_with("/nonexistent/dir/suite.xml: "), "{err}");
/// ```
pub fn write(report: &Report, path: &Path) -> Result<(), String> {
    let xml = report
        .to_string()
        .map_err(|e| format!("{}: cannot write JUnit XML: {e}", path.display()))?;
    fs::write(path, xml).map_err(|e| format!("{}: {e}", path.display()))
}

/// Merges the JUnit files of a suite's shards into one report: test suites
/// of the same name become one, cases sorted by name.
///
/// # Errors
///
/// A file that cannot be read or is not JUnit XML, or a case that is in two
/// files (the shards overlapped), named in the message.
///
/// ```
/// use quick_junit::{Report, TestCase, TestCaseStatus, TestSuite};
/// let shard = |names: &[&str]| {
///     let mut suite = TestSuite::new("fixtures/scripts");
///     suite.add_test_cases(names.iter().map(|n| TestCase::new(*n, TestCaseStatus::success())));
///     let mut report = Report::new("callorder");
///     report.add_test_suite(suite);
///     report.to_string().unwrap()
/// };
/// let dir = std::env::temp_dir().join(format!("junit-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let (a, b) = (dir.join("a.xml"), dir.join("b.xml"));
/// std::fs::write(&a, shard(&["x", "z"])).unwrap();
/// std::fs::write(&b, shard(&["y"])).unwrap();
/// let merged = callorder_cli::junit::merge(&[a.clone(), b]).unwrap();
/// let names: Vec<&str> = merged.test_suites[0].test_cases.iter().map(|c| c.name.as_str()).collect();
/// assert_eq!(names, ["x", "y", "z"]);
/// assert_eq!(merged.tests, 3);
/// let err = callorder_cli::junit::merge(&[a.clone(), a]).unwrap_err();
/// assert!(err.contains("x: in two files"), "{err}");
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn merge(paths: &[impl AsRef<Path>]) -> Result<Report, String> {
    let mut suites: BTreeMap<String, Vec<TestCase>> = BTreeMap::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for path in paths.iter().map(AsRef::as_ref) {
        let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let report = Report::deserialize_from_str(&text)
            .map_err(|e| format!("{}: not JUnit XML: {e}", path.display()))?;
        for suite in report.test_suites {
            for case in suite.test_cases {
                let name = case.name.as_str().to_owned();
                let here = path.display().to_string();
                if let Some(before) = seen.insert(name.clone(), here.clone()) {
                    return Err(format!(
                        "{name}: in two files, {before} and {here}: the shards overlap"
                    ));
                }
                suites
                    .entry(suite.name.as_str().to_owned())
                    .or_default()
                    .push(case);
            }
        }
    }
    let mut report = Report::new(REPORT_NAME);
    for (name, mut cases) in suites {
        cases.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        let mut suite = TestSuite::new(name);
        suite.add_test_cases(cases);
        report.add_test_suite(suite);
    }
    Ok(report)
}
