//! `callorder suite`: one runner for two sources of cases.
//!
//! - A **script** (`*.script`) is one case. Its header says what its run
//!   must give (`expect legal`, `expect illegal RULE-ID`, `expect
//!   malformed`; no `expect` line means `legal`), and it runs against the
//!   bundled implementation its header names, on the mock reactor, under
//!   the `strict` profile.
//! - A **manifest** (`manifest.json`, a JSON array of `{file, expect,
//!   expect_twisted?, first_bad_seq, ...}`) makes one case per entry, judged
//!   under both profiles exactly as `callorder corpus` judges it
//!   ([`crate::corpus::Entry::judge`]).
//!
//! A path given to the suite is a script, a manifest, or a directory, which
//! is searched (in path order) for both. With no path, the suite is the
//! default one embedded in the binary ([`crate::default_suite`]).
//!
//! Each case has a stable id derived from its path: the path as given,
//! `/`-separated, without `.` parts (`fixtures/scripts/seed_success.script`);
//! for a manifest entry, the manifest's directory joined with the entry's
//! `file` (`fixtures/twisted/legal/peer_reset.jsonl`). Cases run in id
//! order, and `--partition K/N` ([`crate::partition`]) shards that order.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use callorder_checker::{Coverage, Profile, Rule, RuleKind};
use callorder_harness::{parse_script, read_script_header, Expectation};

use crate::case::{CaseError, CaseResult, CaseViolation};
use crate::check::{check_path, check_reader, CheckOptions};
use crate::corpus::Entry;
use crate::partition::Partition;
use crate::report::{ContextLine, FileReport, Verdict};
use crate::run::run_script_text;

pub mod command;

/// Where a suite's files are read from.
#[derive(Clone, Debug)]
enum Origin {
    /// The file system, paths as given.
    Disk,
    /// The default suite, unpacked in memory.
    Embedded(Arc<BTreeMap<String, Vec<u8>>>),
}

impl Origin {
    fn read(&self, path: &str) -> io::Result<Vec<u8>> {
        match self {
            Origin::Disk => fs::read(path),
            Origin::Embedded(files) => files
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not in the default suite")),
        }
    }
}

/// What a case is.
#[derive(Clone, Debug)]
enum Kind {
    Script,
    Trace(Box<Entry>),
}

/// One case of a suite.
#[derive(Clone, Debug)]
pub struct Case {
    /// The stable id.
    pub id: String,
    /// The file the case is about (the script, or the trace), as it is read.
    pub path: String,
    /// The directory of a script, or the manifest of a trace: the row of
    /// the summary table and the JUnit test suite the case belongs to.
    pub group: String,
    kind: Kind,
}

/// A set of cases, in id order, and where to read their files.
#[derive(Clone, Debug)]
pub struct Suite {
    origin: Origin,
    cases: Vec<Case>,
}

/// The id of a path: `/`-separated, without `.` components.
///
/// ```
/// use std::path::Path;
/// use callorder_cli::suite::case_id;
/// assert_eq!(case_id(Path::new("./fixtures/scripts/../scripts/seed_success.script")), "fixtures/scripts/../scripts/seed_success.script");
/// assert_eq!(case_id(Path::new("./fixtures//twisted/legal/connect_refused.jsonl")), "fixtures/twisted/legal/connect_refused.jsonl");
/// ```
pub fn case_id(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut absolute = false;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::RootDir => absolute = true,
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    let joined = parts.join("/");
    if absolute {
        format!("/{joined}")
    } else {
        joined
    }
}

impl Suite {
    /// The default suite: the fixture scripts and the recorded corpus,
    /// embedded in the binary.
    ///
    /// # Errors
    ///
    /// If the embedded archive or its manifest cannot be read (a broken
    /// build).
    ///
    /// ```
    /// let suite = callorder_cli::suite::Suite::default_suite().unwrap();
    /// assert!(suite.cases().iter().any(|c| c.id == "fixtures/scripts/seed_success.script"));
    /// assert!(suite.cases().iter().any(|c| c.id == "fixtures/twisted/legal/peer_reset.jsonl"));
    /// ```
    pub fn default_suite() -> Result<Suite, String> {
        let files = Arc::new(
            crate::default_suite::files()
                .map_err(|e| format!("the default suite embedded in callorder: {e}"))?,
        );
        let mut cases = Vec::new();
        for (path, bytes) in files.iter() {
            if path.ends_with(".script") {
                cases.push(script_case(path));
            } else if path.ends_with("/manifest.json") {
                cases.extend(manifest_cases(path, bytes)?);
            }
        }
        let origin = Origin::Embedded(files);
        Ok(Suite::new(origin, cases))
    }

    /// The cases of `paths`: scripts, manifests, and directories searched
    /// for both.
    ///
    /// # Errors
    ///
    /// A path that does not exist, a file that is neither a script nor a
    /// manifest, or a manifest that cannot be read: a usage error, naming
    /// the path.
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use callorder_cli::suite::Suite;
    /// let fixtures = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scripts"));
    /// let suite = Suite::from_paths(&[fixtures]).unwrap();
    /// assert!(suite.cases().len() >= 6);
    /// let err = Suite::from_paths(&[PathBuf::from("no/such/dir")]).unwrap_err();
    /// assert_eq!(err, "no/such/dir: no such file or directory");
    /// ```
    pub fn from_paths(paths: &[PathBuf]) -> Result<Suite, String> {
        let mut cases = Vec::new();
        for path in paths {
            let meta = fs::metadata(path)
                .map_err(|_| format!("{}: no such file or directory", path.display()))?;
            if meta.is_dir() {
                let mut files = Vec::new();
                walk(path, &mut files).map_err(|e| format!("{}: {e}", path.display()))?;
                files.sort();
                for file in files {
                    if file.extension().is_some_and(|e| e == "script") {
                        cases.push(script_case(&case_id(&file)));
                    } else if file.file_name().is_some_and(|n| n == "manifest.json") {
                        cases.extend(disk_manifest(&file)?);
                    }
                }
            } else if path.extension().is_some_and(|e| e == "script") {
                cases.push(script_case(&case_id(path)));
            } else if path.extension().is_some_and(|e| e == "json") {
                cases.extend(disk_manifest(path)?);
            } else {
                return Err(format!(
                    "{}: neither a script (.script) nor a manifest (.json); a trace alone has no expectation: check it with `callorder check`, or list it in a manifest",
                    path.display()
                ));
            }
        }
        Ok(Suite::new(Origin::Disk, cases))
    }

    fn new(origin: Origin, mut cases: Vec<Case>) -> Suite {
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        // A file named twice (a directory and a file in it) is one case.
        cases.dedup_by(|a, b| a.id == b.id);
        Suite { origin, cases }
    }

    /// The cases, in id order.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// Only the cases of one shard.
    ///
    /// ```
    /// use callorder_cli::suite::Suite;
    /// let suite = Suite::default_suite().unwrap();
    /// let all = suite.cases().len();
    /// let first = suite.clone().partition("1/2".parse().unwrap()).cases().len();
    /// let second = suite.partition("2/2".parse().unwrap()).cases().len();
    /// assert_eq!(first + second, all);
    /// ```
    #[must_use]
    pub fn partition(mut self, partition: Partition) -> Suite {
        self.cases = partition.select(self.cases);
        self
    }

    /// Runs every case, in order, telling `progress` about each as it ends.
    ///
    /// ```
    /// use std::path::PathBuf;
    /// use callorder_cli::suite::Suite;
    /// let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/examples/failing_suite"));
    /// let suite = Suite::from_paths(&[dir]).unwrap();
    /// let mut seen = Vec::new();
    /// let run = suite.run(|outcome| seen.push(outcome.result.id.clone()));
    /// assert_eq!(seen.len(), 2);
    /// assert_eq!(run.failed(), 2, "the example suite fails on purpose");
    /// assert!(run.summary().contains("total"));
    /// ```
    pub fn run(&self, mut progress: impl FnMut(&CaseOutcome)) -> SuiteRun {
        let mut run = SuiteRun::default();
        for case in &self.cases {
            let outcome = self.run_case(case);
            progress(&outcome);
            run.coverage.merge(&outcome.coverage);
            if let Some(v) = &outcome.result.violation {
                if let Some(rule) = Rule::from_id(&v.rule) {
                    run.broken.insert(rule);
                }
            }
            run.outcomes.push(outcome);
        }
        run
    }

    /// Runs one case.
    ///
    /// ```
    /// use callorder_cli::suite::Suite;
    /// let suite = Suite::default_suite().unwrap();
    /// let case = suite.cases().iter().find(|c| c.id == "fixtures/scripts/seed_success.script").unwrap();
    /// let outcome = suite.run_case(case);
    /// assert!(outcome.result.passed);
    /// assert_eq!(outcome.group, "fixtures/scripts");
    /// ```
    pub fn run_case(&self, case: &Case) -> CaseOutcome {
        let mut outcome = match &case.kind {
            Kind::Script => self.run_script(case),
            Kind::Trace(entry) => self.run_trace(case, entry),
        };
        outcome.group.clone_from(&case.group);
        outcome
    }

    fn run_script(&self, case: &Case) -> CaseOutcome {
        let text = match self.origin.read(&case.path) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned()),
            Err(e) => Err(e.to_string()),
        };
        let text = match text {
            Ok(text) => text,
            Err(why) => {
                let mut result = CaseResult::new(&case.id, &case.path, Verdict::Malformed, "legal");
                result.error = Some(CaseError {
                    line: None,
                    column: None,
                    message: format!("cannot read the script: {why}"),
                });
                result.fail(format!("cannot read the script: {why}"));
                return CaseOutcome::new(result);
            }
        };
        // The header is read on its own, so that a script whose steps do
        // not parse can still expect that.
        let header = read_script_header(&text, &case.path).ok();
        let expect = header
            .as_ref()
            .and_then(|h| h.expect)
            .unwrap_or(Expectation::Legal);
        let run = run_script_text(&case.path, &text, Profile::Strict);
        let mut outcome;
        match (run.verdict, &run.trace) {
            (Verdict::Malformed, _) | (_, None) => {
                let mut result =
                    CaseResult::new(&case.id, &case.path, Verdict::Malformed, expect.to_string());
                let (line, column) = match parse_script(&text, &case.path) {
                    Err(e) => (Some(e.line as u64), Some(e.column as u64)),
                    Ok(_) => (None, None),
                };
                let message = run.notes.join("; ");
                result.error = Some(CaseError {
                    line,
                    column,
                    message: message.clone(),
                });
                (result.line, result.column) = (line.or(Some(1)), column);
                outcome = CaseOutcome::new(result);
                if expect != Expectation::Malformed {
                    outcome
                        .result
                        .fail(format!("want {expect}, got malformed: {message}"));
                }
            }
            (_, Some(trace)) => {
                let report = check_reader(
                    &case.path,
                    trace.as_bytes(),
                    &CheckOptions::new(Profile::Strict),
                );
                let mut result =
                    CaseResult::new(&case.id, &case.path, report.verdict, expect.to_string());
                result.line = Some(expect_line(&text));
                fill(&mut result, &report, false);
                outcome = CaseOutcome::new(result);
                outcome.coverage = report.coverage.clone();
                outcome.context = report.context.clone();
                let why = judge_run(expect, &report);
                if let Some(why) = why {
                    outcome.result.fail(why);
                    outcome.trace = Some(trace.clone());
                }
            }
        }
        outcome.result.rules = rule_ids(&outcome.coverage, outcome.result.violation.as_ref());
        outcome
    }

    fn run_trace(&self, case: &Case, entry: &Entry) -> CaseOutcome {
        let bytes = match &self.origin {
            Origin::Disk => None,
            Origin::Embedded(_) => Some(self.origin.read(&case.path)),
        };
        let mut reports: Vec<FileReport> = Vec::with_capacity(2);
        for profile in [Profile::Strict, Profile::Twisted] {
            let options = CheckOptions {
                reread: true,
                ..CheckOptions::new(profile)
            };
            let report = match &bytes {
                None => check_path(Path::new(&case.path), &options),
                Some(Ok(bytes)) => check_reader(&case.path, bytes.as_slice(), &options),
                Some(Err(e)) => {
                    let mut report = FileReport::new(&case.path, profile);
                    report.verdict = Verdict::Malformed;
                    report.error = Some(crate::report::ErrorReport {
                        line: None,
                        column: None,
                        message: format!("cannot open the trace: {e}"),
                        kind: "io",
                    });
                    report
                }
            };
            reports.push(report);
        }
        let strict = &reports[0];
        let mut result =
            CaseResult::new(&case.id, &case.path, strict.verdict, entry.expect.as_str());
        fill(&mut result, strict, true);
        let mut outcome = CaseOutcome::new(result);
        for report in &reports {
            outcome.coverage.merge(&report.coverage);
        }
        outcome.context = strict.context.clone();
        let failed = reports.iter().find_map(|report| {
            entry
                .judge(report.profile, report)
                .err()
                .map(|why| (report, why))
        });
        if let Some((report, why)) = failed {
            outcome
                .result
                .fail(format!("[{}] {why}", report.profile.as_str()));
            if outcome.result.line.is_none() {
                outcome.result.line = entry.first_bad_seq.or(Some(1));
            }
            outcome.context = report.context.clone();
            // A file on disk is read again only if its diagram is wanted:
            // a failing trace may be large.
            match &bytes {
                None => outcome.trace_file = Some(PathBuf::from(&case.path)),
                Some(Ok(bytes)) => {
                    outcome.trace = Some(String::from_utf8_lossy(bytes).into_owned());
                }
                Some(Err(_)) => {}
            }
        }
        outcome.result.rules = rule_ids(&outcome.coverage, outcome.result.violation.as_ref());
        outcome
    }
}

/// Why the checked trace of a script's run falls short of the script's
/// expectation, or `None` when it meets it. (A script that could not run
/// at all is judged before it gets here.)
fn judge_run(expect: Expectation, report: &FileReport) -> Option<String> {
    match (expect, &report.violation) {
        (Expectation::Legal, None) if report.verdict == Verdict::Legal => None,
        (Expectation::Illegal(want), Some(v)) if v.rule == want => None,
        (_, Some(v)) => Some(format!(
            "want {expect}, got illegal {}: seq {}: {}",
            v.rule.id(),
            v.seq,
            v.message
        )),
        (_, None) => Some(format!("want {expect}, got {}", report.verdict)),
    }
}

/// Copies a check's verdict evidence into a case result; for a trace case
/// (`about_trace`), the annotation then points at the offending line.
fn fill(result: &mut CaseResult, report: &FileReport, about_trace: bool) {
    if let Some(v) = &report.violation {
        result.violation = Some(CaseViolation {
            rule: v.rule.id().to_owned(),
            message: v.message.clone(),
            seq: v.seq,
            line: v.line,
        });
        // A script case points at its script, not at the trace it made.
        if about_trace {
            result.line = Some(v.line);
        }
    }
    if let Some(e) = &report.error {
        result.error = Some(CaseError {
            line: e.line,
            column: e.column,
            message: e.message.clone(),
        });
        if about_trace {
            (result.line, result.column) = (e.line, e.column);
        }
    }
}

/// The line of a script's `expect` header, or 1: where an annotation about
/// the script's run points.
fn expect_line(text: &str) -> u64 {
    text.lines()
        .position(|l| l.trim_start().starts_with("expect "))
        .map_or(1, |i| i as u64 + 1)
}

/// The ids of the rules exercised (and the one broken), in table order.
fn rule_ids(coverage: &Coverage, violation: Option<&CaseViolation>) -> Vec<String> {
    Rule::TABLE
        .iter()
        .filter(|r| coverage.count(**r) > 0 || violation.is_some_and(|v| v.rule == r.id()))
        .map(|r| r.id().to_owned())
        .collect()
}

fn script_case(path: &str) -> Case {
    Case {
        id: path.to_owned(),
        path: path.to_owned(),
        group: path
            .rsplit_once('/')
            .map_or_else(|| ".".to_owned(), |(dir, _)| dir.to_owned()),
        kind: Kind::Script,
    }
}

fn manifest_cases(manifest: &str, bytes: &[u8]) -> Result<Vec<Case>, String> {
    let entries: Vec<Entry> =
        serde_json::from_slice(bytes).map_err(|e| format!("{manifest}: not a manifest: {e}"))?;
    let dir = manifest.rsplit_once('/').map_or("", |(dir, _)| dir);
    Ok(entries
        .into_iter()
        .map(|entry| {
            let path = if dir.is_empty() {
                entry.file.clone()
            } else {
                format!("{dir}/{}", entry.file)
            };
            let id = case_id(Path::new(&path));
            Case {
                id: id.clone(),
                path: id,
                group: manifest.to_owned(),
                kind: Kind::Trace(Box::new(entry)),
            }
        })
        .collect())
}

fn disk_manifest(path: &Path) -> Result<Vec<Case>, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    manifest_cases(&case_id(path), &bytes)
}

/// Every file under `dir`. Symbolic links to directories are not followed,
/// so a link cycle cannot make the walk endless.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(&path, files)?;
        } else if path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// One case's result, and what a report of its failure needs.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    /// The result, as `--json` writes it.
    pub result: CaseResult,
    /// The summary row and JUnit test suite the case counts in: its
    /// script's directory, or its trace's manifest.
    pub group: String,
    /// The lines around the violation or error, of the trace.
    pub context: Vec<ContextLine>,
    /// The rules the case exercised.
    pub coverage: Coverage,
    /// The trace, for a failing case that made one or read it from the
    /// default suite (for its diagram).
    pub trace: Option<String>,
    /// The trace's file, for a failing case about a trace on disk.
    pub trace_file: Option<PathBuf>,
}

impl CaseOutcome {
    fn new(result: CaseResult) -> Self {
        CaseOutcome {
            result,
            group: String::new(),
            context: Vec::new(),
            coverage: Coverage::default(),
            trace: None,
            trace_file: None,
        }
    }
}

/// The outcome of a whole suite.
#[derive(Clone, Debug, Default)]
pub struct SuiteRun {
    /// Every case's outcome, in id order.
    pub outcomes: Vec<CaseOutcome>,
    /// The rules exercised, summed over every case.
    pub coverage: Coverage,
    /// The rules some case's violation broke.
    pub broken: BTreeSet<Rule>,
}

impl SuiteRun {
    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.result.passed).count()
    }

    /// The rules that can be exercised (every rule but the unbreakable
    /// ones), which the suite declares by running against the spec.
    pub fn declared() -> Vec<Rule> {
        Rule::TABLE
            .iter()
            .copied()
            .filter(|r| r.kind() != RuleKind::Unbreakable)
            .collect()
    }

    /// The declared rules no case exercised or broke.
    ///
    /// ```
    /// use callorder_cli::suite::SuiteRun;
    /// // A run of nothing covers nothing.
    /// assert_eq!(SuiteRun::default().uncovered(), SuiteRun::declared());
    /// ```
    pub fn uncovered(&self) -> Vec<Rule> {
        Self::declared()
            .into_iter()
            .filter(|r| self.coverage.count(*r) == 0 && !self.broken.contains(r))
            .collect()
    }

    /// The summary table: per group and in total, cases run, passed and
    /// failed; then the rules covered out of those declared.
    pub fn summary(&self) -> String {
        let mut groups: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for o in &self.outcomes {
            let g = groups.entry(o.group.as_str()).or_default();
            g.0 += 1;
            if o.result.passed {
                g.1 += 1;
            }
        }
        let total = self.outcomes.len();
        let passed = total - self.failed();
        let width = groups
            .keys()
            .map(|g| g.len())
            .chain(["source".len(), "total".len()])
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:>6}  {:>6}",
            "source", "cases", "passed", "failed"
        );
        for (group, (n, ok)) in &groups {
            let _ = writeln!(out, "{group:<width$}  {n:>6}  {ok:>6}  {:>6}", n - ok);
        }
        let _ = writeln!(
            out,
            "{:<width$}  {total:>6}  {passed:>6}  {:>6}",
            "total",
            total - passed
        );
        let declared = Self::declared().len();
        let uncovered = self.uncovered();
        let _ = write!(
            out,
            "spec rules covered: {}/{declared} (exercised or broken by some case)",
            declared - uncovered.len()
        );
        if !uncovered.is_empty() {
            let ids: Vec<&str> = uncovered.iter().map(|r| r.id()).collect();
            let _ = write!(out, "; never: {}", ids.join(", "));
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report of a trace whose protocol is made without being built.
    fn illegal_report() -> FileReport {
        let trace = "{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p1\"}\n";
        check_reader("t", trace.as_bytes(), &CheckOptions::default())
    }

    #[test]
    fn a_run_meets_expect_illegal_only_with_the_rule_it_names() {
        let report = illegal_report();
        let rule = report.violation.as_ref().unwrap().rule;
        assert_eq!(judge_run(Expectation::Illegal(rule), &report), None);
        let other = Rule::TABLE.iter().copied().find(|r| *r != rule).unwrap();
        let why = judge_run(Expectation::Illegal(other), &report).unwrap();
        assert!(
            why.starts_with(&format!(
                "want illegal {}, got illegal {}: seq 1: ",
                other.id(),
                rule.id()
            )),
            "{why}"
        );
        let why = judge_run(Expectation::Legal, &report).unwrap();
        assert!(why.starts_with("want legal, got illegal"), "{why}");
    }

    #[test]
    fn a_legal_run_meets_only_expect_legal() {
        let report = check_reader(
            "t",
            "{\"seq\":1,\"event\":\"end\"}\n".as_bytes(),
            &CheckOptions::default(),
        );
        assert_eq!(judge_run(Expectation::Legal, &report), None);
        assert_eq!(
            judge_run(Expectation::Illegal(Rule::AfterLost), &report).as_deref(),
            Some("want illegal P-AFTER-LOST, got legal")
        );
        assert_eq!(
            judge_run(Expectation::Malformed, &report).as_deref(),
            Some("want malformed, got legal")
        );
    }

    #[test]
    fn case_ids_are_slash_separated_without_dot_parts() {
        assert_eq!(case_id(Path::new("a/./b/c.script")), "a/b/c.script");
        assert_eq!(case_id(Path::new("/abs/x.json")), "/abs/x.json");
    }
}
