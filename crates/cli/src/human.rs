//! Human output: what a person reading a CI log needs to fix a trace.
//!
//! The renderers always emit ANSI styles; the caller writes them through an
//! [`anstream::AutoStream`], which drops them unless colour is wanted (a
//! terminal, or `--color always`). [`plain`] strips them for tests.

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};
use callorder_checker::{Rule, RuleKind};

use crate::report::{ContextLine, FileReport, Verdict};

const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();
const GREEN: Style = AnsiColor::Green.on_default().bold();
const RED: Style = AnsiColor::Red.on_default().bold();
const MAGENTA: Style = AnsiColor::Magenta.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default().bold();
const CYAN: Style = AnsiColor::Cyan.on_default();

/// `text` in `style`, reset after.
fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}

fn verdict_style(verdict: Verdict) -> Style {
    match verdict {
        Verdict::Legal => GREEN,
        Verdict::Illegal => RED,
        Verdict::Malformed => MAGENTA,
    }
}

/// The name of a rule kind in the rule table.
pub fn kind_name(kind: RuleKind) -> &'static str {
    match kind {
        RuleKind::Forbids => "forbids",
        RuleKind::Obligation => "obligation",
        RuleKind::Permits => "permits",
        RuleKind::Unbreakable => "unbreakable",
    }
}

/// Strips ANSI styles from rendered text.
///
/// ```
/// let styled = format!("{}x{}", anstyle::Style::new().bold(), anstyle::Reset);
/// assert_eq!(callorder_cli::human::plain(&styled), "x");
/// ```
pub fn plain(text: &str) -> String {
    anstream::adapter::strip_str(text).to_string()
}

/// Renders one file's report, newline-terminated.
///
/// For a legal file: `FILE: legal` (with `, prefix (no end)` for a trace
/// without `end`) and its warnings. For an illegal one: the verdict, then
/// `FILE:LINE: RULE-ID: message`, the lines before it and the offending line,
/// the rule's text and citations, the object's recent history, and what was
/// expected instead. For a malformed one: `FILE:LINE:COLUMN: error: message`
/// and the bad line.
pub fn render(report: &FileReport) -> String {
    let mut out = String::new();
    let file = &report.file;
    let mut verdict = paint(verdict_style(report.verdict), report.verdict);
    if report.verdict == Verdict::Legal && !report.complete {
        verdict.push_str(", prefix (no end)");
    }
    let _ = writeln!(
        out,
        "{}: {verdict} {}",
        paint(BOLD, file),
        paint(
            DIM,
            format_args!(
                "[{}, {} event{}]",
                report.profile,
                report.events,
                if report.events == 1 { "" } else { "s" }
            )
        )
    );

    if let Some(v) = &report.violation {
        let _ = writeln!(
            out,
            "{}: {}: {}",
            paint(BOLD, format_args!("{file}:{}", v.line)),
            paint(RED, v.rule.id()),
            v.message
        );
        context(&mut out, &report.context, v.line, None);
        rule(&mut out, v.rule);
        if let Some(object) = &v.object {
            if v.history.is_empty() {
                let _ = writeln!(out, "  {} {object}", paint(BOLD, "object:"));
            } else {
                let _ = writeln!(
                    out,
                    "  {} of {object} (most recent last):",
                    paint(BOLD, "history")
                );
                let width = v.history.iter().map(|h| h.event.len()).max().unwrap_or(0);
                for h in &v.history {
                    let _ = write!(
                        out,
                        "    {} {:<width$}",
                        paint(CYAN, format_args!("{:>6}", h.seq)),
                        h.event
                    );
                    match &h.text {
                        Some(text) => {
                            let _ = writeln!(out, "  {}", paint(DIM, text));
                        }
                        None => out.push('\n'),
                    }
                }
            }
        }
        // An empty list says nothing useful (after `end`, or an obligation
        // owed before it), so it is left out.
        if !v.expected.is_empty() {
            let _ = writeln!(out, "  {}", paint(BOLD, "expected one of:"));
            for e in &v.expected {
                let _ = writeln!(out, "    {}", paint(AnsiColor::Green.on_default(), e));
            }
        }
        let _ = writeln!(
            out,
            "  {} {}",
            paint(BOLD, "actual:"),
            paint(RED, &v.actual)
        );
    }

    if let Some(e) = &report.error {
        let mut at = file.clone();
        if let Some(line) = e.line {
            let _ = write!(at, ":{line}");
            if let Some(column) = e.column {
                let _ = write!(at, ":{column}");
            }
        }
        let _ = writeln!(
            out,
            "{}: {}: {}",
            paint(BOLD, at),
            paint(MAGENTA, "error"),
            e.message
        );
        if let Some(line) = e.line {
            context(&mut out, &report.context, line, e.column);
        }
    }

    for w in &report.warnings {
        let _ = writeln!(
            out,
            "{}: {}: {}: {}",
            paint(BOLD, format_args!("{file}:{}", w.seq)),
            paint(YELLOW, "warning"),
            paint(YELLOW, w.rule.id()),
            w.message
        );
    }
    out
}

/// The lines before `line` and the line itself, marked, with a caret under
/// `column` when the line is shown whole.
fn context(out: &mut String, lines: &[ContextLine], line: u64, column: Option<u64>) {
    let width = lines
        .iter()
        .map(|c| c.line.to_string().len())
        .max()
        .unwrap_or(1);
    for c in lines {
        if c.line == line {
            let _ = writeln!(
                out,
                "{} {} {}",
                paint(RED, "  >"),
                paint(CYAN, format_args!("{:>width$} |", c.line)),
                c.text
            );
            let whole = c.text.chars().count() <= ContextLine::MAX_CHARS;
            if let Some(column) = column.filter(|_| whole) {
                // The column counts bytes; the caret needs characters.
                let bytes = usize::try_from(column)
                    .unwrap_or(usize::MAX)
                    .saturating_sub(1);
                let chars = c
                    .text
                    .char_indices()
                    .take_while(|(i, _)| *i < bytes)
                    .count();
                let _ = writeln!(
                    out,
                    "    {:width$}   {}{}",
                    "",
                    " ".repeat(chars),
                    paint(RED, "^")
                );
            }
        } else {
            let _ = writeln!(
                out,
                "    {} {}",
                paint(CYAN, format_args!("{:>width$} |", c.line)),
                paint(DIM, &c.text)
            );
        }
    }
}

/// The rule's text and where it comes from.
fn rule(out: &mut String, rule: Rule) {
    let _ = writeln!(
        out,
        "  {} {} ({}): {}",
        paint(BOLD, "rule"),
        rule.id(),
        kind_name(rule.kind()),
        rule.text()
    );
    let _ = writeln!(out, "  {} {}", paint(BOLD, "cites:"), rule.cites());
    let _ = writeln!(out, "  {} {}", paint(BOLD, "semantics:"), rule.semantics());
}

/// One line summing up several files: `3 files: 1 legal, 1 illegal, 1 malformed`.
pub fn summary(verdicts: &[Verdict]) -> String {
    let count = |v: Verdict| verdicts.iter().filter(|&&w| w == v).count();
    format!(
        "{} files: {} legal, {} illegal, {} malformed\n",
        verdicts.len(),
        paint(GREEN, count(Verdict::Legal)),
        paint(RED, count(Verdict::Illegal)),
        paint(MAGENTA, count(Verdict::Malformed)),
    )
}

/// The rule table: for each rule its id, kind and text, then what it cites
/// in Twisted and in `docs/semantics.md`.
pub fn rules_table() -> String {
    let mut out = String::new();
    let width = Rule::TABLE.iter().map(|r| r.id().len()).max().unwrap_or(0);
    for r in Rule::TABLE {
        let _ = writeln!(
            out,
            "{} {:<11} {}",
            paint(BOLD, format_args!("{:<width$}", r.id())),
            kind_name(r.kind()),
            r.text()
        );
        let _ = writeln!(
            out,
            "{:width$} {:<11} {} {}",
            "",
            "",
            paint(DIM, "cites:"),
            r.cites()
        );
        let _ = writeln!(
            out,
            "{:width$} {:<11} {} {}",
            "",
            "",
            paint(DIM, "semantics:"),
            r.semantics()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use callorder_checker::Profile;

    #[test]
    fn legal_prefix_says_so() {
        let report = FileReport::new("t.jsonl", Profile::Twisted);
        assert_eq!(
            plain(&render(&report)),
            "t.jsonl: legal, prefix (no end) [twisted, 0 events]\n"
        );
    }

    #[test]
    fn rules_table_lists_every_rule() {
        let table = plain(&rules_table());
        for r in Rule::TABLE {
            assert!(table.contains(r.id()) && table.contains(r.cites()), "{r}");
        }
    }
}
