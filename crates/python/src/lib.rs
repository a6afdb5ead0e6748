//! `callorder._callorder`: the Rust half of the Python package `callorder`.
//!
//! Checking is done here, by the same code as `callorder check`
//! (`callorder_cli::check`), so a verdict, its message and its human
//! rendering are the command line's. The Python half (`python/callorder/`)
//! turns the reports into Python objects and exceptions.
//!
//! Every function hands a report back as two strings: the JSON object of
//! `callorder check --format json` and the human text of `callorder check`
//! (without colour). A whole file is checked with the interpreter released,
//! so other Python threads run meanwhile.

use std::io::{self, BufRead, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};

use callorder_checker::{CheckError, Checker, Profile};
use callorder_cli::names::NameMap;
use callorder_cli::report::{
    ContextLine, ErrorReport, FileReport, HistoryEntry, Verdict, ViolationReport, WarningReport,
};
use callorder_cli::{check_path, check_reader, human, CheckOptions};
use callorder_trace::{Caller, Limits, Record, TraceReader};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

/// A report as Python receives it: `(json, human)`.
type Rendered = (String, String);

fn profile(name: &str) -> PyResult<Profile> {
    name.parse::<Profile>()
        .map_err(|e| PyValueError::new_err(format!("{e}: expected \"strict\" or \"twisted\"")))
}

fn rendered(report: &FileReport) -> Rendered {
    (report.to_json(), human::plain(&human::render(report)))
}

fn options(profile: Profile) -> CheckOptions {
    CheckOptions {
        // As `callorder check` does: read a file a second time after a
        // violation, for the history's lines and the ids' names.
        reread: true,
        ..CheckOptions::new(profile)
    }
}

/// Checks the trace file at `path` under `profile`, as `callorder check`
/// does, and returns `(json, human)`.
#[pyfunction]
fn check_file(py: Python<'_>, path: &str, profile: &str) -> PyResult<Rendered> {
    let options = options(self::profile(profile)?);
    let path = path.to_owned();
    Ok(py.detach(move || rendered(&check_path(Path::new(&path), &options))))
}

/// Checks a whole trace held in memory, naming it `name` in the report.
///
/// What a file's second reading gives `callorder check` (the ids' names,
/// the lines of the object's history) comes here from the data itself.
#[pyfunction]
fn check_bytes(py: Python<'_>, name: &str, data: Vec<u8>, profile: &str) -> PyResult<Rendered> {
    let options = options(self::profile(profile)?);
    let name = name.to_owned();
    Ok(py.detach(move || {
        let mut report = check_reader(&name, data.as_slice(), &options);
        if report.violation.is_some() || !report.warnings.is_empty() {
            name_from_lines(&mut report, &data);
        }
        rendered(&report)
    }))
}

/// Names every id of `report` by the lines of `data`, and gives each
/// history entry its line.
fn name_from_lines(report: &mut FileReport, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let mut names = NameMap::numbered();
    for line in &lines {
        names.learn_line(line);
    }
    if let Some(v) = report.violation.as_mut() {
        v.message = names.substitute(&v.message);
        v.object = v.object.as_deref().map(|o| names.substitute(o));
        v.actual = names.substitute(&v.actual);
        for e in &mut v.expected {
            *e = names.substitute(e);
        }
        for h in &mut v.history {
            let at = usize::try_from(h.seq).ok().and_then(|n| n.checked_sub(1));
            h.text = at
                .and_then(|i| lines.get(i))
                .map(|l| ContextLine::new(h.seq, l).text);
        }
    }
    for w in &mut report.warnings {
        w.message = names.substitute(&w.message);
        w.object = w.object.as_deref().map(|o| names.substitute(o));
    }
}

/// The lines a streaming checker has been handed and the reader has not
/// read yet. The reader owns its input, so the checker keeps the other
/// handle to feed it one line at a time.
#[derive(Clone, Default)]
struct Feed {
    pending: Arc<Mutex<Vec<u8>>>,
    buffer: Vec<u8>,
    at: usize,
}

impl Feed {
    fn push(&self, line: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.extend_from_slice(line.as_bytes());
        pending.push(b'\n');
    }
}

impl Read for Feed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Feed {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.at == self.buffer.len() {
            self.buffer.clear();
            self.at = 0;
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::swap(&mut self.buffer, &mut pending);
        }
        Ok(&self.buffer[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.buffer.len());
    }
}

/// How many lines before a violation the streaming checker keeps to show.
const CONTEXT_LINES: usize = 5;

/// The streaming checker: one event at a time, as a recorder produces them.
///
/// Each line goes through the trace reader (so a malformed event is refused
/// with the reader's message) and then the checker. After the first
/// violation or error the checker is closed and keeps its report.
#[pyclass(module = "callorder._callorder")]
struct StreamChecker {
    feed: Feed,
    reader: TraceReader<Feed>,
    checker: Checker,
    report: FileReport,
    names: NameMap,
    context: Vec<ContextLine>,
    closed: bool,
}

#[pymethods]
impl StreamChecker {
    #[new]
    fn new(profile: &str, name: &str) -> PyResult<Self> {
        let profile = self::profile(profile)?;
        let feed = Feed::default();
        Ok(StreamChecker {
            // As `callorder check` reads them: numbered ids (the recorder
            // numbers its objects) let the checker keep ended ones as runs,
            // so a long recording costs memory by its live objects.
            reader: TraceReader::with_limits(feed.clone(), Limits::default()).numbered_ids(),
            feed,
            checker: Checker::new(profile).with_limits(&Limits::default()),
            report: FileReport::new(name, profile),
            names: NameMap::numbered(),
            context: Vec::new(),
            closed: false,
        })
    }

    /// Checks one event line (JSON, no newline). Returns `None` while the
    /// trace is legal, else the report `(json, human)` of the violation or
    /// the error; the checker is then closed.
    fn step(&mut self, line: &str) -> PyResult<Option<Rendered>> {
        if self.closed {
            return Err(PyRuntimeError::new_err(
                "the checker is closed: it already judged this trace",
            ));
        }
        if line.contains('\n') {
            return Err(PyValueError::new_err(
                "one event per step: the line holds a newline",
            ));
        }
        self.feed.push(line);
        if self.context.len() > CONTEXT_LINES {
            self.context.remove(0);
        }
        let record = match self.reader.next() {
            Some(Ok(record)) => record,
            Some(Err(e)) => {
                self.context
                    .push(ContextLine::new(self.reader.line_number(), line));
                self.report.verdict = Verdict::Malformed;
                self.report.error = Some(ErrorReport {
                    line: e.line,
                    column: e.column,
                    message: e.message.clone(),
                    kind: callorder_cli::check::error_kind(e.kind),
                });
                return Ok(Some(self.close()));
            }
            None => return Err(PyRuntimeError::new_err("the reader lost the line")),
        };
        let number = self.reader.line_number();
        self.context.push(ContextLine::new(number, line));
        self.names.learn_line(line);
        match self.checker.step(&record.step) {
            Ok(()) => {
                self.report.events += 1;
                Ok(None)
            }
            Err(CheckError::Violation(v)) => {
                let names = &self.names;
                self.report.verdict = Verdict::Illegal;
                self.report.violation = Some(violation(&v, &record, number, names));
                Ok(Some(self.close()))
            }
            Err(e) => {
                self.report.verdict = Verdict::Malformed;
                self.report.error = callorder_cli::check::limit_error(&e, number);
                Ok(Some(self.close()))
            }
        }
    }

    /// The report so far `(json, human)`, closing the checker: legal with
    /// its warnings if no event broke a rule, else the violation or error.
    fn finish(&mut self) -> Rendered {
        if !self.closed {
            self.close();
        }
        rendered(&self.report)
    }

    /// How many events the checker accepted.
    #[getter]
    fn events(&self) -> u64 {
        self.report.events
    }

    /// Whether the checker accepted an `end`.
    #[getter]
    fn complete(&self) -> bool {
        self.checker.is_complete()
    }

    /// Whether the checker judged the trace and takes no more events.
    #[getter]
    fn closed(&self) -> bool {
        self.closed
    }
}

impl StreamChecker {
    fn close(&mut self) -> Rendered {
        self.closed = true;
        self.report.complete = self.checker.is_complete();
        self.report.context = std::mem::take(&mut self.context);
        if self.report.verdict == Verdict::Legal {
            let names = &self.names;
            self.report.warnings = self
                .checker
                .warnings()
                .iter()
                .map(|w| WarningReport {
                    seq: w.seq,
                    rule: w.rule,
                    message: names.substitute(&w.message),
                    object: w.object.as_ref().map(|o| names.object(o)),
                })
                .collect();
        }
        rendered(&self.report)
    }
}

/// A violation as `callorder check` reports it, ids by the names the
/// events used.
fn violation(
    v: &callorder_checker::Violation,
    record: &Record,
    line: u64,
    names: &NameMap,
) -> ViolationReport {
    ViolationReport {
        seq: v.seq,
        rule: v.rule,
        message: names.substitute(&v.message),
        line,
        event: v.kind.as_str(),
        object: v.object.as_ref().map(|o| names.object(o)),
        history: v
            .history
            .iter()
            .map(|p| HistoryEntry {
                seq: p.seq,
                event: p.kind.as_str(),
                text: None,
            })
            .collect(),
        expected: v.expected.iter().map(|e| names.proposed_event(e)).collect(),
        actual: names.event(&record.step.event),
        caller: v.caller.map(Caller::as_str),
        site: record.site.as_deref().map(str::to_owned),
    }
}

/// The rule table, as `callorder rules --format json` lists it: one JSON
/// object per rule.
#[pyfunction]
fn rules() -> Vec<(String, String, String, String, String)> {
    callorder_checker::Rule::TABLE
        .iter()
        .map(|r| {
            (
                r.id().to_owned(),
                human::kind_name(r.kind()).to_owned(),
                r.text().to_owned(),
                r.cites().to_owned(),
                r.semantics().to_owned(),
            )
        })
        .collect()
}

/// The extension module.
#[pymodule]
fn _callorder(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(check_file, m)?)?;
    m.add_function(wrap_pyfunction!(check_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(rules, m)?)?;
    m.add_class::<StreamChecker>()?;
    Ok(())
}
