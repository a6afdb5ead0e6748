//! What `callorder check` says about one file: the verdict and its evidence.
//!
//! [`FileReport`] serialises to the one-line JSON object of
//! `callorder check --format json`; the fields marked "not in JSON" feed the
//! human output only.

use callorder_checker::{Coverage, Profile, Rule};
use serde::{Serialize, Serializer};

/// The verdict on one file, ordered from best to worst.
#[derive(
    Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Well formed and breaks no rule (for a prefix: none so far).
    Legal,
    /// Well formed, and an event breaks a rule.
    Illegal,
    /// Not a trace of format v1, unreadable, or over a limit.
    Malformed,
}

impl Verdict {
    /// The exit code this verdict stands for: 0, 1 or 2. With several files,
    /// `callorder check` exits with the highest.
    pub const fn exit_code(self) -> u8 {
        match self {
            Verdict::Legal => 0,
            Verdict::Illegal => 1,
            Verdict::Malformed => 2,
        }
    }

    /// The name used in reports: `legal`, `illegal`, `malformed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Legal => "legal",
            Verdict::Illegal => "illegal",
            Verdict::Malformed => "malformed",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn rule_id<S: Serializer>(rule: &Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.id())
}

fn profile_name<S: Serializer>(profile: &Profile, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(profile.as_str())
}

/// The first event that cannot be legal.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ViolationReport {
    /// The offending event's seq (the `end` line for an unmet obligation).
    pub seq: u64,
    /// The rule broken, serialised as its stable id.
    #[serde(serialize_with = "rule_id")]
    pub rule: Rule,
    /// What happened, with ids by name where the report could learn them.
    pub message: String,
    /// The line of the offending event (equal to `seq` in a well-formed
    /// trace).
    pub line: u64,
    /// The offending event's name.
    pub event: &'static str,
    /// The object the rule is about (`protocol p1`), when there is one.
    pub object: Option<String>,
    /// That object's most recent events, oldest first.
    pub history: Vec<HistoryEntry>,
    /// What would have been legal for that object instead.
    pub expected: Vec<String>,
    /// The offending event as the checker saw it.
    pub actual: String,
}

/// One past event of the object a violation is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The event's seq.
    pub seq: u64,
    /// The event's name.
    pub event: &'static str,
    /// The event's line as written, when the file could be read again
    /// (not in JSON).
    #[serde(skip)]
    pub text: Option<String>,
}

/// An obligation left unmet at `end` under the `twisted` profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WarningReport {
    /// The seq of the `end` line.
    pub seq: u64,
    /// The obligation, serialised as its stable id.
    #[serde(serialize_with = "rule_id")]
    pub rule: Rule,
    /// What is owed, with ids by name where known.
    pub message: String,
    /// The object that owes it (`port l1`).
    pub object: Option<String>,
}

/// Why a file is malformed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// The 1-based number of the first bad line; `None` only for an empty or
    /// unreadable file.
    pub line: Option<u64>,
    /// The 1-based byte column within that line, where meaningful.
    pub column: Option<u64>,
    /// What was expected and what was found.
    pub message: String,
    /// A stable name for the kind of problem: `empty`, `encoding`, `json`,
    /// `field`, `sequence`, `line_too_long`, `blank_line`, `truncated`,
    /// `io`, `too_many_live_objects`, or `incomplete` (`check
    /// --require-complete` on a trace without `end`).
    pub kind: &'static str,
}

/// One raw line shown around a violation or an error (not in JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextLine {
    /// Its 1-based line number.
    pub line: u64,
    /// Its text, shortened to [`ContextLine::MAX_CHARS`] characters.
    pub text: String,
}

impl ContextLine {
    /// How much of a line a report keeps: enough to read an event, and
    /// little enough that a 1 MiB line does not flood the terminal.
    pub const MAX_CHARS: usize = 400;

    /// A context line, shortened if need be.
    pub fn new(line: u64, text: &str) -> Self {
        ContextLine {
            line,
            text: shorten(text, Self::MAX_CHARS),
        }
    }
}

/// `text` cut to at most `max` characters, with `…` marking the cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// Everything `callorder check` says about one file.
///
/// Exactly one of `violation` and `error` is set for an illegal or a
/// malformed file, and neither for a legal one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileReport {
    /// The path as given, or `-` for standard input.
    pub file: String,
    /// The verdict.
    pub verdict: Verdict,
    /// The violation, for an illegal file.
    pub violation: Option<ViolationReport>,
    /// Obligations left unmet at `end` under the `twisted` profile.
    pub warnings: Vec<WarningReport>,
    /// The error, for a malformed file.
    pub error: Option<ErrorReport>,
    /// The profile the file was checked under.
    #[serde(serialize_with = "profile_name")]
    pub profile: Profile,
    /// Whether the checker accepted an `end`: a legal trace without one is
    /// a prefix, legal so far. (An obligation unmet at `end` under `strict`
    /// is a violation, so such a trace is not complete either.)
    pub complete: bool,
    /// How many events were accepted before the verdict.
    pub events: u64,
    /// The lines before the violation or error, and its own line last
    /// (not in JSON).
    #[serde(skip)]
    pub context: Vec<ContextLine>,
    /// How often each rule was exercised (not in JSON).
    #[serde(skip)]
    pub coverage: Coverage,
}

impl FileReport {
    /// A report with no verdict evidence yet: legal, no events.
    pub fn new(file: impl Into<String>, profile: Profile) -> Self {
        FileReport {
            file: file.into(),
            verdict: Verdict::Legal,
            violation: None,
            warnings: Vec::new(),
            error: None,
            profile,
            complete: false,
            events: 0,
            context: Vec::new(),
            coverage: Coverage::default(),
        }
    }

    /// The report as one line of JSON, without the newline.
    pub fn to_json(&self) -> String {
        // Serialising these plain structs cannot fail (string keys only, no
        // floats); should it ever, the line still says what went wrong.
        serde_json::to_string(self).unwrap_or_else(|e| {
            serde_json::json!({
                "file": self.file,
                "verdict": Verdict::Malformed,
                "violation": null,
                "warnings": [],
                "error": {"line": null, "column": null, "message": format!("cannot serialise the report: {e}")},
            })
            .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_order_by_exit_code() {
        assert!(Verdict::Legal < Verdict::Illegal && Verdict::Illegal < Verdict::Malformed);
        assert_eq!(Verdict::Malformed.exit_code(), 2);
    }

    #[test]
    fn shorten_cuts_on_characters() {
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("hé", 2), "hé");
    }

    #[test]
    fn json_has_the_documented_keys_in_order() {
        let json = FileReport::new("a.jsonl", Profile::Strict).to_json();
        assert!(json.starts_with(r#"{"file":"a.jsonl","verdict":"legal","violation":null,"warnings":[],"error":null,"#), "{json}");
    }
}
