//! `callorder diagram`: a trace drawn as a sequence diagram.
//!
//! Objects are columns: the application (`app`, for calls it makes from
//! outside any callback), the `reactor`, then connectors, ports and
//! factories, then each protocol beside its transport. Events are arrows in
//! trace order, from the object that calls to the object called:
//!
//! - a factory's callbacks come from the connector or port that calls them
//!   (`do_start`, `started_connecting`, `build_protocol`, ...), a
//!   protocol's from its transport (`connection_made`, `data_received`,
//!   `connection_lost`, the producer callbacks); the user hooks
//!   `start_factory`/`stop_factory` are the factory calling itself;
//! - an action comes from the object whose callback is running when it is
//!   made (the trace's `depth` says which), or from `app` at depth 0:
//!   `connect_tcp`/`listen_tcp`/`shutdown` go to the reactor, connector and
//!   port actions to their object, transport actions to the protocol's
//!   transport.
//!
//! Nesting is shown by depth (dots before the label in the terminal, a
//! bar on the callee's lifeline in SVG), and the first violation, found by
//! checking the trace, is highlighted. Long traces stay readable: a run of
//! three or more `data_received`/`write` events of one protocol collapses
//! into one row, [`Options::object`] keeps one object and what it talks
//! to, and [`Options::around`] keeps a window of events around a seq.
//!
//! [`text`] draws it for a terminal, [`svg`] as a self-contained HTML page
//! with an inline SVG.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use callorder_checker::Profile;
use serde_json::Value;

use crate::check::{check_reader, CheckOptions};
use crate::report::Verdict;

pub mod svg;
pub mod text;

/// The deepest nesting drawn; deeper events are drawn at this depth.
pub const MAX_DEPTH: u64 = 32;

/// What to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Only events that involve this object (a name of the trace: `p1`,
    /// `c1`, `f1`, `l1`), and the objects they involve.
    pub object: Option<String>,
    /// Only events whose seq is within [`Options::context`] of this one.
    pub around: Option<u64>,
    /// How many events before and after [`Options::around`] to keep.
    pub context: u64,
    /// Collapse runs of `data_received`/`write`.
    pub collapse: bool,
    /// The profile to check the trace under, for the highlight.
    pub profile: Profile,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            object: None,
            around: None,
            context: 10,
            collapse: true,
            profile: Profile::Strict,
        }
    }
}

/// What a column stands for, in the order columns are laid out.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ColumnKind {
    /// The application, outside any callback.
    App,
    /// The reactor.
    Reactor,
    /// An outgoing connector.
    Connector,
    /// A listening port.
    Port,
    /// A factory.
    Factory,
    /// A protocol's transport, or the protocol (each transport sits just
    /// before its protocol).
    Connection,
}

/// One object's column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// The key events use: `app`, `reactor`, a trace name (`c1`), or
    /// `transport p1`.
    pub key: String,
    /// What it is.
    pub kind: ColumnKind,
}

/// One row of the diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// The seq of the (first) event.
    pub seq: u64,
    /// The seq of the last event, when the row collapses several.
    pub last_seq: u64,
    /// The nesting depth.
    pub depth: u64,
    /// The caller's column.
    pub from: usize,
    /// The callee's column; equal to `from` for a call to itself, and for
    /// a marker (`shutdown`, `end`) the last column.
    pub to: usize,
    /// What the arrow says: the event and its main argument.
    pub label: String,
    /// Whether this is the violation's event.
    pub violation: bool,
    /// Whether this is a marker across every column (`end`).
    pub marker: bool,
}

/// A trace as a sequence diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagram {
    /// The trace's name.
    pub title: String,
    /// The columns, left to right.
    pub columns: Vec<Column>,
    /// The rows, top to bottom.
    pub rows: Vec<Row>,
    /// The verdict of checking the whole trace.
    pub verdict: Verdict,
    /// The violation or error, as one line (`seq 22: P-AFTER-LOST: ...`).
    pub finding: Option<String>,
    /// What was left out (filters, collapsed runs), and where reading
    /// stopped.
    pub notes: Vec<String>,
}

/// One event as the diagram needs it.
struct Event {
    seq: u64,
    depth: u64,
    from: String,
    to: String,
    name: String,
    label: String,
    protocol: Option<String>,
}

fn field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Diagram {
    /// Draws the trace `text` (JSON Lines), named `title`.
    ///
    /// ```
    /// use callorder_cli::diagram::{Diagram, Options};
    /// let trace = concat!(
    ///     "{\"seq\":1,\"event\":\"listen_tcp\",\"factory\":\"f1\",\"port\":\"l1\"}\n",
    ///     "{\"seq\":2,\"event\":\"do_start\",\"factory\":\"f1\",\"port\":\"l1\"}\n",
    ///     "{\"seq\":3,\"event\":\"connection_made\",\"protocol\":\"p1\"}\n",
    /// );
    /// let d = Diagram::new("t.jsonl", trace, &Options::default());
    /// let keys: Vec<&str> = d.columns.iter().map(|c| c.key.as_str()).collect();
    /// assert_eq!(keys, ["app", "reactor", "l1", "f1", "transport p1", "p1"]);
    /// // do_start owes a start_factory first: seq 3 is the violation.
    /// assert!(d.rows[2].violation);
    /// assert!(d.finding.unwrap().starts_with("seq 3: F-START-HOOK: "));
    /// ```
    pub fn new(title: &str, text: &str, options: &Options) -> Diagram {
        let report = check_reader(title, text.as_bytes(), &CheckOptions::new(options.profile));
        let violation_seq = report.violation.as_ref().map(|v| v.seq);
        let finding = match (&report.violation, &report.error) {
            (Some(v), _) => Some(format!("seq {}: {}: {}", v.seq, v.rule.id(), v.message)),
            (_, Some(e)) => Some(format!(
                "malformed at line {}: {}",
                e.line.map_or_else(|| "?".to_owned(), |l| l.to_string()),
                e.message
            )),
            _ => None,
        };
        let mut notes = Vec::new();
        let mut events = Vec::new();
        // The callee of the callback running at each depth.
        let mut stack: Vec<String> = Vec::new();
        let mut kinds: BTreeMap<String, ColumnKind> = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                notes.push(format!("line {} is not JSON: drawn up to it", number + 1));
                break;
            };
            let Some(event) = to_event(&v, &mut stack, &mut kinds) else {
                notes.push(format!(
                    "line {} is not an event of trace format v1: drawn up to it",
                    number + 1
                ));
                break;
            };
            events.push(event);
        }

        if let Some(object) = &options.object {
            let transport = format!("transport {object}");
            let before = events.len();
            events.retain(|e| {
                [&e.from, &e.to]
                    .iter()
                    .any(|k| **k == *object || **k == transport)
                    || e.name == "end"
            });
            notes.push(format!(
                "--object {object}: {} of {before} events",
                events.len()
            ));
        }
        if let Some(seq) = options.around {
            let (low, high) = (seq.saturating_sub(options.context), seq + options.context);
            let before = events.len();
            events.retain(|e| (low..=high).contains(&e.seq));
            notes.push(format!(
                "--around {seq}: seq {low} to {high}, {} of {before} events",
                events.len()
            ));
        }

        let columns = layout(&events, &kinds);
        let index: BTreeMap<&str, usize> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.as_str(), i))
            .collect();
        let mut rows: Vec<Row> = Vec::new();
        let mut i = 0;
        let mut collapsed = 0;
        while i < events.len() {
            let e = &events[i];
            let run = if options.collapse {
                io_run(&events[i..], violation_seq)
            } else {
                1
            };
            let marker = e.name == "end";
            let (from, to) = (index[e.from.as_str()], index[e.to.as_str()]);
            if run >= 3 {
                let part = &events[i..i + run];
                let count = |name: &str| part.iter().filter(|e| e.name == name).count();
                let (received, written) = (count("data_received"), count("write"));
                let mut label = Vec::new();
                if received > 0 {
                    label.push(format!("data_received x{received}"));
                }
                if written > 0 {
                    label.push(format!("write x{written}"));
                }
                let protocol = e.protocol.clone().unwrap_or_default();
                rows.push(Row {
                    seq: e.seq,
                    last_seq: part[run - 1].seq,
                    depth: part.iter().map(|e| e.depth).min().unwrap_or(0),
                    from: index[format!("transport {protocol}").as_str()],
                    to: index[protocol.as_str()],
                    label: label.join(", "),
                    violation: false,
                    marker: false,
                });
                collapsed += 1;
                i += run;
                continue;
            }
            rows.push(Row {
                seq: e.seq,
                last_seq: e.seq,
                depth: e.depth,
                from,
                to: if marker { columns.len() - 1 } else { to },
                label: e.label.clone(),
                violation: violation_seq == Some(e.seq),
                marker,
            });
            i += 1;
        }
        if collapsed > 0 {
            notes.push(format!(
                "{collapsed} run{} of data_received/write collapsed",
                if collapsed == 1 { "" } else { "s" }
            ));
        }
        Diagram {
            title: title.to_owned(),
            columns,
            rows,
            verdict: report.verdict,
            finding,
            notes,
        }
    }

    /// The label of column `i`, as drawn in its header.
    ///
    /// ```
    /// use callorder_cli::diagram::{Diagram, Options};
    /// let trace = "{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p1\"}\n";
    /// let d = Diagram::new("t", trace, &Options::default());
    /// let labels: Vec<String> = (0..d.columns.len()).map(|i| d.column_label(i)).collect();
    /// assert_eq!(labels, ["app", "reactor", "transport p1", "protocol p1"]);
    /// ```
    pub fn column_label(&self, i: usize) -> String {
        let c = &self.columns[i];
        match c.kind {
            ColumnKind::App | ColumnKind::Reactor => c.key.clone(),
            ColumnKind::Connector => format!("connector {}", c.key),
            ColumnKind::Port => format!("port {}", c.key),
            ColumnKind::Factory => format!("factory {}", c.key),
            ColumnKind::Connection if c.key.starts_with("transport ") => c.key.clone(),
            ColumnKind::Connection => format!("protocol {}", c.key),
        }
    }
}

/// How many events from the start of `events` form a collapsible run: all
/// `data_received` or `write`, of one protocol, at most one level deep,
/// the violation not among them.
fn io_run(events: &[Event], violation: Option<u64>) -> usize {
    let first = &events[0];
    let io = |e: &Event| {
        matches!(e.name.as_str(), "data_received" | "write")
            && e.protocol == first.protocol
            && Some(e.seq) != violation
    };
    events.iter().take_while(|e| io(e)).count()
}

/// The columns events use: app and reactor first, then connectors, ports
/// and factories, then each transport with its protocol, each group in
/// order of first appearance.
fn layout(events: &[Event], kinds: &BTreeMap<String, ColumnKind>) -> Vec<Column> {
    let mut seen: Vec<(ColumnKind, usize, String)> = Vec::new();
    let mut order = 0;
    let mut add = |key: &str, seen: &mut Vec<(ColumnKind, usize, String)>| {
        if seen.iter().any(|(_, _, k)| k == key) {
            return;
        }
        let kind = match key {
            "app" => ColumnKind::App,
            "reactor" => ColumnKind::Reactor,
            _ => kinds.get(key).copied().unwrap_or(ColumnKind::Connection),
        };
        // A transport and its protocol share a slot: the transport first.
        let slot = match key.strip_prefix("transport ") {
            Some(protocol) => seen
                .iter()
                .find(|(_, _, k)| k == protocol)
                .map_or(order, |(_, s, _)| *s),
            None => seen
                .iter()
                .find(|(_, _, k)| k.strip_prefix("transport ") == Some(key))
                .map_or(order, |(_, s, _)| *s),
        };
        order += 1;
        seen.push((kind, slot, key.to_owned()));
    };
    add("app", &mut seen);
    add("reactor", &mut seen);
    for e in events {
        for key in [&e.from, &e.to] {
            add(key, &mut seen);
        }
        if let Some(p) = &e.protocol {
            add(&format!("transport {p}"), &mut seen);
            add(p, &mut seen);
        }
    }
    seen.sort_by(|a, b| {
        (a.0, a.1, !a.2.starts_with("transport ")).cmp(&(b.0, b.1, !b.2.starts_with("transport ")))
    });
    seen.into_iter()
        .map(|(kind, _, key)| Column { key, kind })
        .collect()
}

/// The event of one trace line, with its caller and callee; `stack` holds
/// the callee of the callback running at each depth, and `kinds` learns
/// what each name is from the field that holds it.
fn to_event(
    v: &Value,
    stack: &mut Vec<String>,
    kinds: &mut BTreeMap<String, ColumnKind>,
) -> Option<Event> {
    let name = field(v, "event")?.to_owned();
    let seq = v.get("seq").and_then(Value::as_u64)?;
    // No real nesting is deeper; a hostile depth must not make the drawing
    // huge.
    let depth = v
        .get("depth")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(MAX_DEPTH);
    let factory = field(v, "factory").map(str::to_owned);
    let connector = field(v, "connector").map(str::to_owned);
    let port = field(v, "port").map(str::to_owned);
    let protocol = field(v, "protocol").map(str::to_owned);
    let transport = protocol.as_ref().map(|p| format!("transport {p}"));
    for (name, kind) in [
        (&factory, ColumnKind::Factory),
        (&connector, ColumnKind::Connector),
        (&port, ColumnKind::Port),
        (&protocol, ColumnKind::Connection),
        (&transport, ColumnKind::Connection),
    ] {
        if let Some(name) = name {
            kinds.entry(name.clone()).or_insert(kind);
        }
    }
    let owner = connector.clone().or_else(|| port.clone());
    let caller = || {
        usize::try_from(depth)
            .ok()
            .filter(|d| *d > 0)
            .and_then(|d| stack.get(d - 1).cloned())
            .unwrap_or_else(|| "app".to_owned())
    };
    let reason = field(v, "reason");
    let with = |arg: Option<String>| match arg {
        Some(arg) => format!("{name}({arg})"),
        None => name.clone(),
    };
    let bytes = v
        .get("bytes")
        .and_then(Value::as_u64)
        .map(|b| format!("{b} B"));
    let error = v.get("error").is_some_and(|e| !e.is_null());
    let (from, to, label) = match name.as_str() {
        "connect_tcp" | "listen_tcp" => {
            let made = owner.clone()?;
            (caller(), "reactor".to_owned(), format!("{name} -> {made}"))
        }
        "shutdown" => (caller(), "reactor".to_owned(), name.clone()),
        "end" => ("app".to_owned(), "app".to_owned(), name.clone()),
        "do_start"
        | "do_stop"
        | "started_connecting"
        | "client_connection_failed"
        | "client_connection_lost" => (owner?, factory?, with(reason.map(str::to_owned))),
        "build_protocol" => (
            owner?,
            factory?,
            format!(
                "{name} -> {}",
                protocol.clone().unwrap_or_else(|| "none".into())
            ),
        ),
        "start_factory" | "stop_factory" => {
            let f = factory?;
            (f.clone(), f, name.clone())
        }
        "connection_made"
        | "data_received"
        | "read_connection_lost"
        | "write_connection_lost"
        | "connection_lost"
        | "pause_producing"
        | "resume_producing"
        | "stop_producing" => (
            transport.clone()?,
            protocol.clone()?,
            with(bytes.clone().or_else(|| reason.map(str::to_owned))),
        ),
        "connect" | "stop_connecting" | "disconnect" => (caller(), connector?, name.clone()),
        "stop_listening" => (caller(), port?, name.clone()),
        "write"
        | "lose_connection"
        | "lose_write_connection"
        | "abort_connection"
        | "register_producer"
        | "unregister_producer"
        | "pause_reading"
        | "resume_reading" => (caller(), transport.clone()?, with(bytes.clone())),
        _ => return None,
    };
    // The callee of a callback is running until a shallower event comes.
    let is_callback = !matches!(
        name.as_str(),
        "connect_tcp" | "listen_tcp" | "shutdown" | "end"
    ) && !matches!(
        name.as_str(),
        "connect"
            | "stop_connecting"
            | "disconnect"
            | "stop_listening"
            | "write"
            | "lose_connection"
            | "lose_write_connection"
            | "abort_connection"
            | "register_producer"
            | "unregister_producer"
            | "pause_reading"
            | "resume_reading"
    );
    if is_callback {
        stack.truncate(usize::try_from(depth).unwrap_or(usize::MAX));
        stack.push(to.clone());
    }
    let label = if error {
        format!("{label} !error")
    } else {
        label
    };
    Some(Event {
        seq,
        depth,
        from,
        to,
        name,
        label,
        protocol,
    })
}

/// Where [`write_case_diagram`] writes a case's diagram: the id with `/`
/// made `__`, as `.html` and `.txt`.
///
/// ```
/// use std::path::Path;
/// let (html, txt) = callorder_cli::diagram::case_paths(Path::new("d"), "fixtures/scripts/seed_success.script");
/// assert_eq!(html, Path::new("d/fixtures__scripts__seed_success.script.html"));
/// assert_eq!(txt, Path::new("d/fixtures__scripts__seed_success.script.txt"));
/// ```
pub fn case_paths(dir: &Path, id: &str) -> (PathBuf, PathBuf) {
    let stem: String = id
        .trim_start_matches('/')
        .replace('/', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        dir.join(format!("{stem}.html")),
        dir.join(format!("{stem}.txt")),
    )
}

/// Writes the diagram of a failing case's trace into `dir`, as HTML and as
/// plain text ([`case_paths`]).
///
/// # Errors
///
/// If a file cannot be written.
pub fn write_case_diagram(dir: &Path, id: &str, trace: &str) -> io::Result<()> {
    let diagram = Diagram::new(id, trace, &Options::default());
    let (html, txt) = case_paths(dir, id);
    fs::write(html, svg::html(&diagram))?;
    fs::write(txt, crate::human::plain(&text::render(&diagram)))
}
