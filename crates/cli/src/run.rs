//! `callorder run`: fixture scripts against the bundled implementations
//! their headers name, each run's trace in format v1.

use std::fs;
use std::path::Path;

use callorder_checker::Profile;
use callorder_harness::{parse_script, MockReactor, Run, ScriptFailureKind};
use callorder_reference::bundled;

use crate::report::Verdict;

/// The outcome of running one script.
#[derive(Debug)]
pub struct ScriptRun {
    /// Legal (0), illegal (1) or malformed (2), as `callorder check`: a
    /// step of the script that reached nothing makes it malformed, an
    /// `expect` that did not match makes it illegal.
    pub verdict: Verdict,
    /// The trace as JSON Lines, when the script ran.
    pub trace: Option<String>,
    /// What to tell the user on standard error: the violation, the
    /// implementation's errors and leaks, or why the script is malformed.
    pub notes: Vec<String>,
}

/// Reads, parses and runs the script at `path` under `profile`.
///
/// ```
/// use callorder_checker::Profile;
/// use callorder_cli::report::Verdict;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/scripts/seed_success.script");
/// let run = callorder_cli::run::run_script_file(std::path::Path::new(path), Profile::Strict);
/// assert_eq!(run.verdict, Verdict::Legal);
/// assert!(run.trace.unwrap().ends_with("\"event\":\"end\"}\n"));
/// ```
pub fn run_script_file(path: &Path, profile: Profile) -> ScriptRun {
    let name = path.display().to_string();
    match fs::read_to_string(path) {
        Ok(text) => run_script_text(&name, &text, profile),
        Err(e) => malformed(format!("{name}: {e}")),
    }
}

fn malformed(note: String) -> ScriptRun {
    ScriptRun {
        verdict: Verdict::Malformed,
        trace: None,
        notes: vec![note],
    }
}

/// Parses and runs the script `text`, named `name` in notes, under
/// `profile`.
///
/// ```
/// use callorder_checker::Profile;
/// use callorder_cli::report::Verdict;
/// use callorder_cli::run::run_script_text;
/// let run = run_script_text("a.script", "implementation echo_server\nshutdown\n", Profile::Strict);
/// assert_eq!(run.verdict, Verdict::Legal);
/// let run = run_script_text("b.script", "implementation nope\n", Profile::Strict);
/// assert_eq!(run.verdict, Verdict::Malformed);
/// ```
pub fn run_script_text(name: &str, text: &str, profile: Profile) -> ScriptRun {
    let file = match parse_script(text, name) {
        Ok(file) => file,
        Err(e) => return malformed(e.to_string()),
    };
    let Some(implementation) = file.implementation.clone() else {
        return malformed(format!(
            "{name}:1:1: expected a header `implementation NAME` naming one of: {}",
            bundled::NAMES.join(", ")
        ));
    };
    let reference = bundled::NAMES.contains(&implementation.as_str());
    let scenario = callorder_scenarios::NAMES.contains(&implementation.as_str());
    if !reference && !scenario {
        return malformed(format!(
            "{name}: no bundled implementation {implementation:?}; expected one of: {}, or a Twisted scenario: {}",
            bundled::NAMES.join(", "),
            callorder_scenarios::NAMES.join(", ")
        ));
    }
    let reactor = MockReactor::with_profile(profile, file.seed.unwrap_or(0));
    let run = reactor.run(file.script, |r| {
        // The name was checked above, so setting it up cannot fail.
        let _ = if reference {
            bundled::set_up(&implementation, r)
        } else {
            callorder_scenarios::set_up(&implementation, r)
        };
    });
    let unreached = (run.script_failures.iter()).any(|f| f.kind == ScriptFailureKind::Unreached);
    ScriptRun {
        verdict: if unreached {
            Verdict::Malformed
        } else if run.violation.is_some() || !run.script_failures.is_empty() {
            Verdict::Illegal
        } else {
            Verdict::Legal
        },
        trace: Some(run.trace_jsonl()),
        notes: notes(name, &run),
    }
}

fn notes(name: &str, run: &Run) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(v) = &run.violation {
        notes.push(format!(
            "{name}: violation at seq {}: [{}] {}",
            v.seq,
            v.rule.id(),
            v.message
        ));
    }
    // A failure of a parsed step names its file, line and column itself.
    notes.extend(run.script_failures.iter().map(ToString::to_string));
    notes.extend(
        run.errors
            .iter()
            .map(|e| format!("{name}: implementation error: {e}")),
    );
    notes.extend(run.leaks.iter().map(|l| format!("{name}: leak: {l}")));
    notes.extend(run.warnings.iter().map(|w| format!("{name}: warning: {w}")));
    notes
}
