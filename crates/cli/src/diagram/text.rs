//! The diagram for a terminal, in the manner of the ASCII figures that
//! explain Twisted's connectTCP flow: a box per object, its lifeline
//! below, and one arrow per event, labelled on the arrow when the label
//! fits between the two lifelines and beside the diagram when it does not.
//!
//! The margin shows each row's seq (`9-18` for a collapsed run) and its
//! nesting as dots, one per level. The violation's row is drawn with `=`
//! and marked `!!`, in red when colour is on (the output carries ANSI
//! styles; [`crate::human::plain`] strips them).

use std::fmt::Write as _;

use anstyle::{AnsiColor, Style};

use super::{Diagram, Row};

const RED: Style = AnsiColor::Red.on_default().bold();
const BOLD: Style = Style::new().bold();
const DIM: Style = Style::new().dimmed();

/// The narrowest column, so that short labels fit on their arrows.
const MIN_WIDTH: usize = 22;

/// Draws `diagram`, newline-terminated.
///
/// ```
/// use callorder_cli::diagram::{text, Diagram, Options};
/// let trace = concat!(
///     "{\"seq\":1,\"event\":\"listen_tcp\",\"factory\":\"f1\",\"port\":\"l1\"}\n",
///     "{\"seq\":2,\"event\":\"do_start\",\"factory\":\"f1\",\"port\":\"l1\"}\n",
///     "{\"seq\":3,\"depth\":1,\"event\":\"start_factory\",\"factory\":\"f1\"}\n",
/// );
/// let drawn = callorder_cli::human::plain(&text::render(&Diagram::new("t", trace, &Options::default())));
/// assert!(drawn.contains("| port l1 |"), "{drawn}");
/// assert!(drawn.contains("|---do_start--->|") || drawn.contains("do_start"), "{drawn}");
/// assert!(drawn.contains("3 ."), "depth 1 shows one dot:\n{drawn}");
/// ```
pub fn render(diagram: &Diagram) -> String {
    let labels: Vec<String> = (0..diagram.columns.len())
        .map(|i| diagram.column_label(i))
        .collect();
    let width = labels
        .iter()
        .map(|l| l.chars().count() + 4)
        .max()
        .unwrap_or(0)
        .max(MIN_WIDTH);
    let seqs: Vec<String> = diagram.rows.iter().map(seq_text).collect();
    let depth = diagram.rows.iter().map(|r| r.depth).max().unwrap_or(0) as usize;
    let seq_width = seqs.iter().map(String::len).max().unwrap_or(1);
    // "!! " + seq + " " + dots + " "
    let margin = 3 + seq_width + 1 + depth + 1;
    let center = |i: usize| margin + i * width + width / 2;
    let total = margin + diagram.columns.len() * width;

    let mut out = String::new();
    let _ = writeln!(out, "{}", paint(BOLD, &diagram.title));
    // The boxes.
    let mut lines = [blank(total), blank(total), blank(total)];
    for (i, label) in labels.iter().enumerate() {
        let inner = label.chars().count() + 2;
        let start = center(i) - inner.div_ceil(2);
        let edge = format!("+{}+", "-".repeat(inner));
        put(&mut lines[0], start, &edge);
        put(&mut lines[1], start, &format!("| {label} |"));
        put(&mut lines[2], start, &edge);
    }
    for line in &lines {
        let _ = writeln!(out, "{}", line.iter().collect::<String>().trim_end());
    }
    let lifelines = || {
        let mut line = blank(total);
        for i in 0..diagram.columns.len() {
            line[center(i)] = '|';
        }
        line
    };
    let _ = writeln!(out, "{}", lifelines().iter().collect::<String>().trim_end());

    for (row, seq) in diagram.rows.iter().zip(&seqs) {
        let mut line = lifelines();
        put(&mut line, 0, if row.violation { "!!" } else { "  " });
        put(&mut line, 3 + seq_width - seq.len(), seq);
        put(
            &mut line,
            3 + seq_width + 1,
            &".".repeat(row.depth as usize),
        );
        let shaft = if row.violation { '=' } else { '-' };
        let mut beside = None;
        if row.marker {
            for c in line.iter_mut().skip(margin) {
                *c = '=';
            }
            put(&mut line, margin + 2, &format!(" {} ", row.label));
        } else if row.from == row.to {
            // A call to itself: a hook on its lifeline.
            let x = center(row.from);
            put(&mut line, x + 1, &format!("{shaft}{shaft}' "));
            let room = width - 5;
            if row.label.chars().count() <= room {
                put(&mut line, x + 5, &row.label);
            } else {
                beside = Some(row.label.clone());
            }
        } else {
            let (a, b) = (center(row.from.min(row.to)), center(row.from.max(row.to)));
            for c in line.iter_mut().take(b).skip(a + 1) {
                *c = shaft;
            }
            let both = row.last_seq != row.seq;
            if row.from < row.to || both {
                line[b - 1] = '>';
            }
            if row.from > row.to || both {
                line[a + 1] = '<';
            }
            let label = row.label.chars().count();
            let span = b - a - 1;
            if label + 2 <= span {
                put(&mut line, a + 1 + (span - label) / 2, &row.label);
            } else {
                beside = Some(row.label.clone());
            }
        }
        let mut text: String = line.iter().collect::<String>().trim_end().to_owned();
        if let Some(label) = beside {
            let pad = total.saturating_sub(text.chars().count()) + 1;
            let _ = write!(text, "{}{label}", " ".repeat(pad));
        }
        if row.violation {
            if let Some(finding) = &diagram.finding {
                let _ = write!(text, "   <== {finding}");
            }
            let _ = writeln!(out, "{}", paint(RED, &text));
        } else {
            let _ = writeln!(out, "{text}");
        }
    }
    let _ = writeln!(out, "{}", lifelines().iter().collect::<String>().trim_end());
    match &diagram.finding {
        Some(finding) => {
            let _ = writeln!(out, "{} {finding}", paint(RED, diagram.verdict));
        }
        None => {
            let _ = writeln!(out, "{}", paint(BOLD, diagram.verdict));
        }
    }
    for note in &diagram.notes {
        let _ = writeln!(out, "{}", paint(DIM, note));
    }
    out
}

fn seq_text(row: &Row) -> String {
    if row.last_seq == row.seq {
        row.seq.to_string()
    } else {
        format!("{}-{}", row.seq, row.last_seq)
    }
}

fn blank(width: usize) -> Vec<char> {
    vec![' '; width]
}

/// Writes `text` into `line` from column `at`, growing it if need be.
fn put(line: &mut Vec<char>, at: usize, text: &str) {
    for (i, c) in text.chars().enumerate() {
        if at + i >= line.len() {
            line.resize(at + i + 1, ' ');
        }
        line[at + i] = c;
    }
}

fn paint(style: Style, text: impl std::fmt::Display) -> String {
    format!("{style}{text}{style:#}")
}
