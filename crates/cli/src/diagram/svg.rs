//! The diagram as a self-contained HTML page with an inline SVG, to keep as
//! a CI artifact: no script, no style sheet, font or image from anywhere
//! else, so it opens offline and shows the same everywhere.
//!
//! The SVG sits at the page's top left corner, and its coordinates are
//! fixed by [`Layout`], so a test can find in a screenshot where each
//! column's box and the violation's highlight are. Each column's box is a
//! `rect` with `class="column"` and `data-key`, the violation's row a
//! `rect` with `class="violation"`.

use std::fmt::Write as _;

use super::Diagram;

/// Where things are drawn, in SVG user units (CSS pixels).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The left margin, where the seqs are.
    pub margin: u32,
    /// The width of one column.
    pub column: u32,
    /// The top of the column boxes.
    pub box_top: u32,
    /// The height of the column boxes.
    pub box_height: u32,
    /// The top of the first row.
    pub first_row: u32,
    /// The height of one row.
    pub row: u32,
}

/// The layout every diagram uses.
pub const LAYOUT: Layout = Layout {
    margin: 64,
    column: 150,
    box_top: 10,
    box_height: 30,
    first_row: 56,
    row: 26,
};

/// The fill of a column's box.
pub const COLUMN_FILL: &str = "#dbe8fb";
/// The fill of the violation's row.
pub const VIOLATION_FILL: &str = "#ffcccc";
/// The colour of the violation's arrow and text.
pub const VIOLATION_INK: &str = "#c00000";

impl Layout {
    /// The x of column `i`'s lifeline.
    ///
    /// ```
    /// use callorder_cli::diagram::svg::LAYOUT;
    /// assert_eq!(LAYOUT.center(1) - LAYOUT.center(0), LAYOUT.column);
    /// assert_eq!(LAYOUT.row_top(1) - LAYOUT.row_top(0), LAYOUT.row);
    /// ```
    pub const fn center(&self, i: usize) -> u32 {
        self.margin + i as u32 * self.column + self.column / 2
    }

    /// The top of row `r`.
    pub const fn row_top(&self, r: usize) -> u32 {
        self.first_row + r as u32 * self.row
    }

    /// The width and height of the SVG of a diagram with `columns` columns
    /// and `rows` rows (and `notes` lines below them).
    pub const fn size(&self, columns: usize, rows: usize, notes: usize) -> (u32, u32) {
        (
            self.margin + columns as u32 * self.column + 10,
            self.row_top(rows) + 14 + notes as u32 * 18 + 10,
        )
    }
}

/// `text` with `&`, `<`, `>` and `"` escaped for XML.
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG element of `diagram`.
///
/// ```
/// use callorder_cli::diagram::{svg, Diagram, Options};
/// let trace = "{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p1\"}\n";
/// let drawn = svg::svg(&Diagram::new("t", trace, &Options::default()));
/// assert!(drawn.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
/// assert!(drawn.contains("class=\"violation\""));
/// assert!(drawn.contains("data-key=\"p1\""));
/// ```
pub fn svg(diagram: &Diagram) -> String {
    let l = LAYOUT;
    let mut footer: Vec<(String, bool)> = Vec::new();
    if let Some(finding) = &diagram.finding {
        footer.push((format!("{}: {finding}", diagram.verdict), true));
    } else {
        footer.push((diagram.verdict.to_string(), false));
    }
    footer.extend(diagram.notes.iter().map(|n| (n.clone(), false)));
    let (width, height) = l.size(diagram.columns.len(), diagram.rows.len(), footer.len());
    let bottom = l.row_top(diagram.rows.len());
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"monospace\" font-size=\"11\">"
    );
    let _ = write!(
        out,
        "<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>"
    );
    let _ = write!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    // The violation's row first, so everything else is drawn over it.
    for (r, row) in diagram.rows.iter().enumerate() {
        if row.violation {
            let _ = write!(
                out,
                "<rect class=\"violation\" data-seq=\"{}\" x=\"0\" y=\"{}\" width=\"{width}\" height=\"{}\" fill=\"{VIOLATION_FILL}\"/>",
                row.seq,
                l.row_top(r),
                l.row
            );
        }
    }
    for i in 0..diagram.columns.len() {
        let x = l.center(i);
        let _ = write!(
            out,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{bottom}\" stroke=\"#9a9a9a\" stroke-dasharray=\"4 3\"/>",
            l.box_top + l.box_height
        );
        let (bx, bw) = (x - l.column / 2 + 8, l.column - 16);
        let _ = write!(
            out,
            "<rect class=\"column\" data-key=\"{}\" x=\"{bx}\" y=\"{}\" width=\"{bw}\" height=\"{}\" fill=\"{COLUMN_FILL}\" stroke=\"#3a6ea5\"/>",
            esc(&diagram.columns[i].key),
            l.box_top,
            l.box_height
        );
        let _ = write!(
            out,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>",
            l.box_top + 19,
            esc(&diagram.column_label(i))
        );
    }
    // Activation bars: a callee is busy from its callback to the last
    // deeper row after it.
    for (r, row) in diagram.rows.iter().enumerate() {
        let nested = diagram.rows[r + 1..]
            .iter()
            .take_while(|n| n.depth > row.depth)
            .count();
        if nested > 0 && !row.marker {
            let _ = write!(
                out,
                "<rect class=\"active\" x=\"{}\" y=\"{}\" width=\"8\" height=\"{}\" fill=\"#eeeeee\" stroke=\"#666666\"/>",
                l.center(row.to) - 4,
                l.row_top(r) + l.row / 2,
                nested as u32 * l.row
            );
        }
    }
    for (r, row) in diagram.rows.iter().enumerate() {
        let top = l.row_top(r);
        let y = top + l.row / 2 + 4;
        let ink = if row.violation {
            VIOLATION_INK
        } else {
            "#222222"
        };
        let seq = if row.last_seq == row.seq {
            row.seq.to_string()
        } else {
            format!("{}-{}", row.seq, row.last_seq)
        };
        let _ = write!(
            out,
            "<text x=\"8\" y=\"{}\" fill=\"{ink}\">{seq}{}</text>",
            top + 17,
            ".".repeat(row.depth as usize)
        );
        if row.marker {
            let _ = write!(
                out,
                "<line x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{ink}\" stroke-dasharray=\"8 4\"/><text x=\"{}\" y=\"{}\" fill=\"{ink}\">{}</text>",
                l.margin,
                width - 10,
                l.margin + 4,
                y - 4,
                esc(&row.label)
            );
            continue;
        }
        let (x1, x2) = (l.center(row.from), l.center(row.to));
        let stroke_width = if row.violation { 2 } else { 1 };
        if x1 == x2 {
            let _ = write!(
                out,
                "<path d=\"M{x1},{} h24 v10 h-20\" fill=\"none\" stroke=\"{ink}\" stroke-width=\"{stroke_width}\" marker-end=\"url(#head)\"/><text x=\"{}\" y=\"{}\" fill=\"{ink}\">{}</text>",
                y - 6,
                x1 + 30,
                y + 2,
                esc(&row.label)
            );
        } else {
            let both = if row.last_seq != row.seq {
                " marker-start=\"url(#head)\""
            } else {
                ""
            };
            let _ = write!(
                out,
                "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"{ink}\" stroke-width=\"{stroke_width}\" marker-end=\"url(#head)\"{both}/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{ink}\">{}</text>",
                (x1 + x2) / 2,
                y - 4,
                esc(&row.label)
            );
        }
    }
    for (i, (line, bad)) in footer.iter().enumerate() {
        let ink = if *bad { VIOLATION_INK } else { "#222222" };
        let _ = write!(
            out,
            "<text x=\"8\" y=\"{}\" fill=\"{ink}\">{}</text>",
            bottom + 18 + i as u32 * 18,
            esc(line)
        );
    }
    out.push_str("</svg>");
    out
}

/// A self-contained HTML page holding the diagram's SVG at its top left
/// corner.
///
/// ```
/// use callorder_cli::diagram::{svg, Diagram, Options};
/// let page = svg::html(&Diagram::new("t.jsonl", "{\"seq\":1,\"event\":\"end\"}\n", &Options::default()));
/// assert!(page.starts_with("<!DOCTYPE html>"));
/// assert!(!page.contains("http://") || page.matches("http://").count() == 1, "only the SVG namespace");
/// ```
pub fn html(diagram: &Diagram) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>callorder diagram: {}</title></head>\n<body style=\"margin:0;background:#ffffff\">{}</body></html>\n",
        esc(&diagram.title),
        svg(diagram)
    )
}
