//! `callorder corpus`: judge every trace of a manifest under both profiles.
//!
//! A manifest (`fixtures/twisted/manifest.json`) is a JSON array of entries
//! `{file, expect, expect_twisted?, mutation, first_bad_seq, ...}`
//! (`fixtures/twisted/README.md`). Each entry passes when it is judged so:
//!
//! | `expect` | under `strict` | under `twisted` |
//! |---|---|---|
//! | `legal` | legal | legal |
//! | `quirk` | illegal | legal |
//! | `illegal` | illegal, violation at `first_bad_seq` | the same, unless `expect_twisted` says otherwise |
//! | `malformed` | malformed, error at line `first_bad_seq` | the same |
//!
//! `expect_twisted`, when present, replaces the verdict wanted under
//! `twisted`; the seq is checked only when that verdict is `illegal`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use callorder_checker::{Coverage, Profile, Rule, RuleKind};
use serde::Deserialize;

use rayon::prelude::*;

use crate::check::{check_path, CheckOptions};
use crate::report::{FileReport, Verdict};

/// What a manifest entry expects of its file.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Legal under both profiles.
    Legal,
    /// A real Twisted quirk: legal under `twisted`, illegal under `strict`.
    Quirk,
    /// Illegal, with the violation at `first_bad_seq`.
    Illegal,
    /// Malformed, with the error at line `first_bad_seq`.
    Malformed,
}

impl Expect {
    /// The name used in the manifest and the summary.
    pub const fn as_str(self) -> &'static str {
        match self {
            Expect::Legal => "legal",
            Expect::Quirk => "quirk",
            Expect::Illegal => "illegal",
            Expect::Malformed => "malformed",
        }
    }
}

/// One entry of a manifest. Fields the corpus command does not use are
/// ignored.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Entry {
    /// The trace's path, relative to the manifest's directory.
    pub file: String,
    /// What the trace must be.
    pub expect: Expect,
    /// The verdict wanted under `twisted` instead of the one `expect` implies.
    #[serde(default)]
    pub expect_twisted: Option<Verdict>,
    /// For a mutant: the rule-breaking change made to its source trace.
    #[serde(default)]
    pub mutation: Option<String>,
    /// The seq of the first bad event (illegal), or the line of the first
    /// bad line (malformed; `None` for an empty file).
    #[serde(default)]
    pub first_bad_seq: Option<u64>,
}

impl Entry {
    /// The verdict this entry wants under `profile`.
    pub fn wanted(&self, profile: Profile) -> Verdict {
        if profile == Profile::Twisted {
            if let Some(verdict) = self.expect_twisted {
                return verdict;
            }
        }
        match (self.expect, profile) {
            (Expect::Legal, _) | (Expect::Quirk, Profile::Twisted) => Verdict::Legal,
            (Expect::Quirk, Profile::Strict) | (Expect::Illegal, _) => Verdict::Illegal,
            (Expect::Malformed, _) => Verdict::Malformed,
        }
    }

    /// Whether `report` (of this entry's file under `profile`) is what the
    /// entry wants; if not, why not.
    pub fn judge(&self, profile: Profile, report: &FileReport) -> Result<(), String> {
        let want = self.wanted(profile);
        if report.verdict != want {
            let why = match (&report.violation, &report.error) {
                (Some(v), _) => format!(" (seq {} {}: {})", v.seq, v.rule.id(), v.message),
                (_, Some(e)) => format!(" (line {}: {})", opt(e.line), e.message),
                _ => String::new(),
            };
            return Err(format!("want {want}, got {}{why}", report.verdict));
        }
        match (self.expect, want) {
            (Expect::Illegal, Verdict::Illegal) => {
                let seq = report.violation.as_ref().map(|v| v.seq);
                if seq != self.first_bad_seq {
                    let rule = report.violation.as_ref().map_or("", |v| v.rule.id());
                    return Err(format!(
                        "violation at seq {} ({rule}), want {} ({})",
                        opt(seq),
                        opt(self.first_bad_seq),
                        self.mutation.as_deref().unwrap_or("no mutation named"),
                    ));
                }
            }
            (Expect::Malformed, _) => {
                let line = report.error.as_ref().and_then(|e| e.line);
                if line != self.first_bad_seq {
                    return Err(format!(
                        "error at line {}, want {}",
                        opt(line),
                        opt(self.first_bad_seq)
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `N` or `null`, as JSON would say it.
fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "null".to_owned(), |v| v.to_string())
}

/// Reads a manifest.
///
/// # Errors
///
/// The file cannot be read, or is not a manifest: `PATH:LINE:COLUMN: not a
/// manifest: WHAT` (see [`parse_manifest`]).
pub fn load_manifest(path: &Path) -> Result<Vec<Entry>, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read the manifest: {e}", path.display()))?;
    parse_manifest(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not a manifest: {}",
            path.display(),
            e.line,
            e.column,
            e.message
        )
    })
}

/// Why a manifest's text is not a manifest: where, and what was expected.
///
/// Lines and columns count from 1; a column counts bytes, and points at
/// the last byte read: the end of the value that does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The line of the first byte that does not fit.
    pub line: usize,
    /// Its column.
    pub column: usize,
    /// What was expected there, and what was found.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ManifestError {}

/// Reads a manifest's text (a `&str`, or bytes that must be UTF-8): a JSON
/// array of [`Entry`] objects. Never panics; memory follows the text (JSON
/// nested deeper than 128 levels is refused, not recursed into). Both
/// `callorder corpus` and the suite read manifests with it.
///
/// # Errors
///
/// A [`ManifestError`] at the first byte that does not fit.
///
/// ```
/// use callorder_cli::corpus::parse_manifest;
/// let entries = parse_manifest(r#"[{"file": "a.jsonl", "expect": "legal"}]"#).unwrap();
/// assert_eq!(entries[0].file, "a.jsonl");
/// let err = parse_manifest("[\n {\"file\": \"a.jsonl\", \"expect\": \"maybe\"}]").unwrap_err();
/// assert_eq!((err.line, err.column), (2, 38));
/// assert!(err.to_string().starts_with("2:38: unknown variant `maybe`"), "{err}");
/// ```
pub fn parse_manifest(text: impl AsRef<[u8]>) -> Result<Vec<Entry>, ManifestError> {
    serde_json::from_slice(text.as_ref()).map_err(|e| {
        // serde_json says where at the end of its message; it is kept apart.
        let full = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        ManifestError {
            line: e.line().max(1),
            // Column 0 is before the line's first byte (an empty text).
            column: e.column().max(1),
            message: full.strip_suffix(&at).unwrap_or(&full).to_owned(),
        }
    })
}

/// One entry that fell short.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The entry's file, as the manifest names it.
    pub file: String,
    /// The profile under which it fell short.
    pub profile: Profile,
    /// How.
    pub why: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.file, self.profile, self.why)
    }
}

/// The outcome of judging a whole manifest.
#[derive(Clone, Debug, Default)]
pub struct CorpusRun {
    /// The entries that fell short, at most one per entry, in manifest order.
    pub failures: Vec<Failure>,
    /// For each kind of entry: how many passed, out of how many.
    pub counts: BTreeMap<Expect, (usize, usize)>,
    /// Coverage merged over every run of a legal or quirk entry (both
    /// profiles).
    pub coverage: Coverage,
    /// The rules that the violations of illegal and quirk entries named.
    pub violated: BTreeSet<Rule>,
}

impl CorpusRun {
    /// Whether every entry passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// `corpus manifest.json: illegal 625/625, legal 87/87, malformed 30/30, quirk 6/6`
    pub fn summary(&self, manifest_name: &str) -> String {
        let mut counts: Vec<String> = self
            .counts
            .iter()
            .map(|(expect, (passed, total))| format!("{} {passed}/{total}", expect.as_str()))
            .collect();
        // Sorted by name, as judge_corpus.py prints them.
        counts.sort();
        format!("corpus {manifest_name}: {}", counts.join(", "))
    }

    /// Which rules the legal and quirk traces exercised, and which never.
    pub fn coverage_summary(&self) -> String {
        let reachable = Rule::TABLE
            .iter()
            .filter(|r| r.kind() != RuleKind::Unbreakable)
            .count();
        let untouched = self.coverage.untouched();
        let mut out = format!(
            "spec coverage (legal and quirk traces): {}/{reachable} rules exercised",
            reachable - untouched.len()
        );
        if !untouched.is_empty() {
            let ids: Vec<&str> = untouched.iter().map(|r| r.id()).collect();
            out.push_str("; never exercised: ");
            out.push_str(&ids.join(", "));
        }
        out
    }

    /// Which rules that can be broken no illegal or quirk trace breaks.
    pub fn violation_summary(&self) -> String {
        let breakable: Vec<Rule> = Rule::TABLE
            .iter()
            .copied()
            .filter(|r| matches!(r.kind(), RuleKind::Forbids | RuleKind::Obligation))
            .collect();
        let never: Vec<&str> = breakable
            .iter()
            .filter(|r| !self.violated.contains(r))
            .map(|r| r.id())
            .collect();
        let mut out = format!(
            "rules broken by illegal and quirk traces: {}/{}",
            breakable.len() - never.len(),
            breakable.len()
        );
        if !never.is_empty() {
            out.push_str("; never broken: ");
            out.push_str(&never.join(", "));
        }
        out
    }
}

/// Judges every entry of the manifest at `manifest`, whose files are
/// relative to `root` (by default the manifest's directory).
pub fn run(manifest: &Path, root: Option<&Path>) -> Result<CorpusRun, String> {
    let entries = load_manifest(manifest)?;
    let root: PathBuf = match root {
        Some(root) => root.to_owned(),
        None => manifest.parent().map(Path::to_owned).unwrap_or_default(),
    };
    Ok(judge_all(&entries, &root))
}

/// How many entries are checked at once, at most.
const JUDGE_BATCH: usize = 64;

/// Judges `entries`, whose files are relative to `root`.
pub fn judge_all(entries: &[Entry], root: &Path) -> CorpusRun {
    let mut run = CorpusRun::default();
    // The entries are checked on every core, a batch at a time, and judged
    // in manifest order, so the run is the same as one worker's.
    let reports = entries.chunks(JUDGE_BATCH).flat_map(|batch| {
        let checked: Vec<_> = batch
            .par_iter()
            .map(|entry| {
                let path = root.join(&entry.file);
                [Profile::Strict, Profile::Twisted]
                    .map(|profile| (profile, check_path(&path, &CheckOptions::new(profile))))
            })
            .collect();
        batch.iter().zip(checked)
    });
    for (entry, checked) in reports {
        let mut outcome = Ok(());
        for (profile, report) in checked {
            if matches!(entry.expect, Expect::Legal | Expect::Quirk) {
                run.coverage.merge(&report.coverage);
            }
            if let Some(v) = &report.violation {
                if matches!(entry.expect, Expect::Illegal | Expect::Quirk) {
                    run.violated.insert(v.rule);
                }
            }
            // Like judge_corpus.py: the first profile that falls short is
            // the one reported.
            if outcome.is_ok() {
                outcome = entry.judge(profile, &report).map_err(|why| Failure {
                    file: entry.file.clone(),
                    profile,
                    why,
                });
            }
        }
        let count = run.counts.entry(entry.expect).or_insert((0, 0));
        count.1 += 1;
        match outcome {
            Ok(()) => count.0 += 1,
            Err(failure) => run.failures.push(failure),
        }
    }
    run
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ViolationReport;

    fn entry(json: &str) -> Entry {
        serde_json::from_str(json).unwrap()
    }

    fn illegal_at(seq: u64) -> FileReport {
        let mut report = FileReport::new("x", Profile::Strict);
        report.verdict = Verdict::Illegal;
        report.violation = Some(ViolationReport {
            seq,
            rule: Rule::AfterEnd,
            message: String::new(),
            line: seq,
            event: "end",
            object: None,
            history: Vec::new(),
            expected: Vec::new(),
            actual: String::new(),
            caller: None,
            site: None,
        });
        report
    }

    #[test]
    fn wanted_verdicts_follow_the_manifest() {
        let quirk = entry(r#"{"file":"q","expect":"quirk","first_bad_seq":null}"#);
        assert_eq!(quirk.wanted(Profile::Strict), Verdict::Illegal);
        assert_eq!(quirk.wanted(Profile::Twisted), Verdict::Legal);
        let mutant = entry(
            r#"{"file":"i","expect":"illegal","expect_twisted":"legal","first_bad_seq":9,"extra":1}"#,
        );
        assert_eq!(mutant.wanted(Profile::Strict), Verdict::Illegal);
        assert_eq!(mutant.wanted(Profile::Twisted), Verdict::Legal);
    }

    #[test]
    fn illegal_needs_the_right_seq() {
        let mutant = entry(r#"{"file":"i","expect":"illegal","mutation":"m","first_bad_seq":9}"#);
        assert_eq!(mutant.judge(Profile::Strict, &illegal_at(9)), Ok(()));
        let err = mutant.judge(Profile::Strict, &illegal_at(8)).unwrap_err();
        assert_eq!(err, "violation at seq 8 (T-AFTER-END), want 9 (m)");
        let legal = FileReport::new("x", Profile::Strict);
        assert_eq!(
            mutant.judge(Profile::Strict, &legal).unwrap_err(),
            "want illegal, got legal"
        );
    }

    #[test]
    fn a_bad_manifest_is_reported_with_its_path_line_and_column() {
        let path =
            std::env::temp_dir().join(format!("callorder-manifest-{}.json", std::process::id()));
        fs::write(&path, "[\n  {\"file\": 3}\n]\n").unwrap();
        let err = load_manifest(&path).unwrap_err();
        fs::remove_file(&path).unwrap();
        assert_eq!(
            err,
            format!(
                "{}:2:12: not a manifest: invalid type: integer `3`, expected a string",
                path.display()
            )
        );
    }

    #[test]
    fn summary_is_sorted_by_kind() {
        let mut run = CorpusRun::default();
        run.counts.insert(Expect::Quirk, (6, 6));
        run.counts.insert(Expect::Legal, (87, 87));
        run.counts.insert(Expect::Illegal, (620, 625));
        assert_eq!(
            run.summary("m.json"),
            "corpus m.json: illegal 620/625, legal 87/87, quirk 6/6"
        );
    }
}
