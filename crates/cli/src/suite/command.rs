//! `callorder suite` as the command runs it: load the cases (or merge
//! shards' JUnit files), run them with a progress bar, write the reports
//! asked for, print the failures and the summary table, and choose the exit
//! code.

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Suite, SuiteRun};
use crate::partition::Partition;

/// What `callorder suite` was asked to do.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Scripts, manifests and directories; none: the default suite.
    pub paths: Vec<PathBuf>,
    /// Write JUnit XML here.
    pub junit: Option<PathBuf>,
    /// Write the case results here, one JSON object per line.
    pub json: Option<PathBuf>,
    /// Print GitHub Actions annotations for the failures.
    pub github: bool,
    /// Run only this shard.
    pub partition: Option<Partition>,
    /// Merge these JUnit files into `junit` instead of running cases.
    pub merge: Vec<PathBuf>,
    /// Fail when a declared rule was never exercised or broken.
    pub require_coverage: bool,
    /// Write a diagram of each failing case here.
    pub diagrams: Option<PathBuf>,
    /// Show a progress bar (on a terminal only, whatever this says).
    pub progress: bool,
}

/// Exit code: every case passed (and, with `--require-coverage`, every
/// declared rule was covered).
pub const PASSED: u8 = 0;
/// Exit code: some case failed, or a declared rule was not covered.
pub const FAILED: u8 = 1;
/// Exit code: a usage error, or no case ran.
pub const USAGE: u8 = 2;

/// Runs the command; messages about usage go to standard error.
///
/// # Errors
///
/// Only if `out` cannot be written.
///
/// ```
/// use callorder_cli::suite::command::{run, Options, PASSED, USAGE};
/// let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scripts/seed_success.script");
/// let mut out = Vec::new();
/// let options = Options { paths: vec![script.into()], ..Options::default() };
/// assert_eq!(run(&options, &mut out).unwrap(), PASSED);
/// assert!(String::from_utf8(out).unwrap().contains("total"));
/// // A shard with no case in it ran nothing, and fails.
/// let options = Options { partition: Some("2/2".parse().unwrap()), ..options };
/// assert_eq!(run(&options, &mut Vec::new()).unwrap(), USAGE);
/// ```
pub fn run(options: &Options, out: &mut impl Write) -> io::Result<u8> {
    if !options.merge.is_empty() {
        return merge(options, out);
    }
    let suite = if options.paths.is_empty() {
        Suite::default_suite()
    } else {
        Suite::from_paths(&options.paths)
    };
    let mut suite = match suite {
        Ok(suite) => suite,
        Err(message) => return usage(&message),
    };
    if let Some(partition) = options.partition {
        suite = suite.partition(partition);
    }
    if suite.cases().is_empty() {
        return usage(&format!(
            "no case to run{}: a gate that ran nothing must not pass",
            options
                .partition
                .map_or_else(String::new, |p| format!(" in shard {p}"))
        ));
    }

    let bar = if options.progress {
        let bar = ProgressBar::new(suite.cases().len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {wide_msg}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let run = suite.run(|outcome| {
        bar.set_message(outcome.result.id.clone());
        bar.inc(1);
    });
    bar.finish_and_clear();

    if let Some(path) = &options.junit {
        if let Err(message) = crate::junit::write(&crate::junit::report(&run), path) {
            return usage(&message);
        }
    }
    if let Some(path) = &options.json {
        if let Err(e) = write_json(&run, path) {
            return usage(&format!("{}: {e}", path.display()));
        }
    }
    if let Some(dir) = &options.diagrams {
        if let Err(e) = write_diagrams(&run, dir) {
            return usage(&format!("{}: {e}", dir.display()));
        }
    }

    for outcome in run.outcomes.iter().filter(|o| !o.result.passed) {
        let result = &outcome.result;
        if options.github {
            if let Some(line) = crate::annotations::for_case(result) {
                writeln!(out, "{line}")?;
            }
        } else {
            writeln!(
                out,
                "FAIL {}: {}",
                result.id,
                result.failure.as_deref().unwrap_or("failed")
            )?;
            if let Some(line) = result.line {
                writeln!(out, "  at {}:{line}", result.file)?;
            }
        }
    }
    out.write_all(run.summary().as_bytes())?;

    let mut code = if run.failed() > 0 { FAILED } else { PASSED };
    if options.require_coverage {
        let uncovered = run.uncovered();
        if !uncovered.is_empty() {
            let ids: Vec<&str> = uncovered.iter().map(|r| r.id()).collect();
            writeln!(
                out,
                "--require-coverage: {} declared rule{} never exercised or broken: {}",
                ids.len(),
                if ids.len() == 1 { "" } else { "s" },
                ids.join(", ")
            )?;
            code = FAILED;
        }
    }
    Ok(code)
}

fn usage(message: &str) -> io::Result<u8> {
    let _ = writeln!(io::stderr(), "callorder suite: {message}");
    Ok(USAGE)
}

fn write_json(run: &SuiteRun, path: &std::path::Path) -> io::Result<()> {
    let mut text = String::new();
    for outcome in &run.outcomes {
        text.push_str(&serde_json::to_string(&outcome.result).map_err(io::Error::other)?);
        text.push('\n');
    }
    fs::write(path, text)
}

fn write_diagrams(run: &SuiteRun, dir: &std::path::Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for outcome in run.outcomes.iter().filter(|o| !o.result.passed) {
        let trace = match (&outcome.trace, &outcome.trace_file) {
            (Some(trace), _) => trace.clone(),
            (None, Some(file)) => match fs::read(file) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                // Gone since it was checked: nothing to draw.
                Err(_) => continue,
            },
            (None, None) => continue,
        };
        crate::diagram::write_case_diagram(dir, &outcome.result.id, &trace)?;
    }
    Ok(())
}

/// `--merge`: the shards' JUnit files into one.
fn merge(options: &Options, out: &mut impl Write) -> io::Result<u8> {
    let Some(target) = &options.junit else {
        return usage("--merge needs --junit FILE, the file to write the merged report to");
    };
    let report = match crate::junit::merge(&options.merge) {
        Ok(report) => report,
        Err(message) => return usage(&message),
    };
    if let Err(message) = crate::junit::write(&report, target) {
        return usage(&message);
    }
    writeln!(
        out,
        "merged {} files into {}: {} cases, {} failed",
        options.merge.len(),
        target.display(),
        report.tests,
        report.failures + report.errors
    )?;
    Ok(if report.tests == 0 {
        USAGE
    } else if report.failures + report.errors > 0 {
        FAILED
    } else {
        PASSED
    })
}
