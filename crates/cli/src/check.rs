//! Checking one trace: stream it through [`TraceReader`] into a fresh
//! [`Checker`], stopping at the first error, and say why in a
//! [`FileReport`].
//!
//! Memory stays bounded whatever the input: the reader holds one line (at
//! most [`Limits::max_line_bytes`]), the checker holds live state (at most
//! [`Limits::max_live_objects`] objects), and the report keeps a small ring of
//! the last raw lines so that it can show context even for standard input.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use callorder_checker::{CheckError, Checker, Object, Profile, Violation, Warning};
use callorder_trace::{
    Caller, Event, Limits, ParallelReader, ReadError, ReadErrorKind, Record, TraceReader,
};

use crate::names::NameMap;
use crate::report::{
    shorten, ContextLine, ErrorReport, FileReport, HistoryEntry, Verdict, ViolationReport,
    WarningReport,
};

/// How to check a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// The profile to hold the trace to.
    pub profile: Profile,
    /// What a hostile file may make the reader and the checker hold.
    pub limits: Limits,
    /// How many lines before a violation or an error to keep for the
    /// report.
    pub context_lines: usize,
    /// After a violation or warnings, read a regular file a second time
    /// (line by line, up to the violation) to show the lines of the
    /// object's history and to name ids that the context lines do not.
    /// Costs nothing on a legal file without warnings.
    pub reread: bool,
    /// How many threads parse one big file's lines (1: the caller's, with
    /// [`TraceReader`]). Above 1, a regular file of at least
    /// [`PARALLEL_FROM_BYTES`] is read by a [`ParallelReader`] on that many
    /// workers, while this thread checks; the report is the same.
    pub parse_threads: usize,
}

/// The size from which a file is worth parsing on several threads (2 MiB,
/// 16 blocks), so that starting the threads is a small part of its time.
pub const PARALLEL_FROM_BYTES: u64 = 16 * ParallelReader::DEFAULT_BLOCK_BYTES as u64;

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            profile: Profile::Strict,
            limits: Limits::default(),
            context_lines: 5,
            reread: false,
            parse_threads: 1,
        }
    }
}

impl CheckOptions {
    /// Default options under `profile`.
    pub fn new(profile: Profile) -> Self {
        CheckOptions {
            profile,
            ..CheckOptions::default()
        }
    }
}

/// The read buffer for files: large, since a trace is read front to back
/// once and each `read` is a system call.
const FILE_BUFFER: usize = 1 << 18;

/// Checks the file at `path`, or standard input for `-`.
///
/// A file that cannot be opened is malformed, with an error that has no
/// line. The report names the file by `path`, lossily made UTF-8.
///
/// ```
/// use std::path::Path;
/// use callorder_cli::check::{check_path, CheckOptions};
/// use callorder_cli::report::Verdict;
/// let report = check_path(Path::new("/nonexistent/trace.jsonl"), &CheckOptions::default());
/// assert_eq!(report.verdict, Verdict::Malformed);
/// assert_eq!(report.error.unwrap().line, None);
/// ```
pub fn check_path(path: &Path, options: &CheckOptions) -> FileReport {
    let name = path.to_string_lossy();
    if path == Path::new("-") {
        return check_reader("-", io::stdin().lock(), options);
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => return unreadable(&name, options.profile, &e),
    };
    // Only a regular file can be read a second time: a pipe or a device
    // would give other bytes, or none.
    let metadata = file.metadata().ok().filter(std::fs::Metadata::is_file);
    let reread = (options.reread && metadata.is_some()).then_some(path);
    if options.parse_threads > 1 && metadata.is_some_and(|m| m.len() >= PARALLEL_FROM_BYTES) {
        return check_parallel(
            &name,
            file,
            options,
            reread,
            ParallelReader::DEFAULT_BLOCK_BYTES,
        );
    }
    check_inner(
        &name,
        BufReader::with_capacity(FILE_BUFFER, file),
        options,
        reread,
    )
}

/// Checks `file` with its lines parsed on `options.parse_threads` workers,
/// in blocks of about `block_bytes`.
fn check_parallel(
    name: &str,
    file: File,
    options: &CheckOptions,
    reread: Option<&Path>,
    block_bytes: usize,
) -> FileReport {
    let reader = ParallelReader::new(file)
        .with_limits(options.limits)
        .numbered_ids()
        .block_bytes(block_bytes)
        .threads(options.parse_threads);
    check_records(name, reader, options, reread)
}

/// What the check reads records from: either reader, which yield the same.
trait Lines: Iterator<Item = Result<Record, ReadError>> {
    fn line_number(&self) -> u64;
    fn current_line(&self) -> &str;
}

impl<R: BufRead> Lines for TraceReader<R> {
    fn line_number(&self) -> u64 {
        TraceReader::line_number(self)
    }
    fn current_line(&self) -> &str {
        TraceReader::current_line(self)
    }
}

impl Lines for ParallelReader {
    fn line_number(&self) -> u64 {
        ParallelReader::line_number(self)
    }
    fn current_line(&self) -> &str {
        ParallelReader::current_line(self)
    }
}

/// Whether every path names something `check` can read as a trace: `-`, or
/// an existing file that is not a directory. A missing path or a directory
/// is a mistake on the command line, not a malformed trace.
///
/// # Errors
///
/// The first path that is missing or a directory, named in the message.
///
/// ```
/// use std::path::PathBuf;
/// use callorder_cli::check::usable_paths;
/// assert!(usable_paths(&[PathBuf::from("-")]).is_ok());
/// let err = usable_paths(&[PathBuf::from("/nonexistent/t.jsonl")]).unwrap_err();
/// assert_eq!(err, "/nonexistent/t.jsonl: no such file");
/// let err = usable_paths(&[std::env::temp_dir()]).unwrap_err();
/// assert!(err.ends_with("is a directory (give the trace files in it, such as DIR/*.jsonl)"), "{err}");
/// ```
pub fn usable_paths(paths: &[impl AsRef<Path>]) -> Result<(), String> {
    for path in paths.iter().map(AsRef::as_ref) {
        if path == Path::new("-") {
            continue;
        }
        match std::fs::metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!("{}: no such file", path.display()));
            }
            Ok(m) if m.is_dir() => {
                return Err(format!(
                    "{}: is a directory (give the trace files in it, such as DIR/*.jsonl)",
                    path.display()
                ));
            }
            // Anything else (no permission, say) is reported per file.
            _ => {}
        }
    }
    Ok(())
}

/// Holds a legal report to a complete trace (`check --require-complete`):
/// a legal prefix (no `end`, as a truncated recording has) becomes
/// malformed, with an error of kind `incomplete` at the line where `end`
/// was due. Other reports are left as they are.
///
/// ```
/// use callorder_cli::check::{check_reader, require_complete, CheckOptions};
/// use callorder_cli::report::Verdict;
/// let prefix = "{\"seq\":1,\"event\":\"listen_tcp\",\"factory\":\"f1\",\"port\":\"l1\"}\n";
/// let mut report = check_reader("t.jsonl", prefix.as_bytes(), &CheckOptions::default());
/// assert_eq!(report.verdict, Verdict::Legal);
/// require_complete(&mut report);
/// assert_eq!(report.verdict, Verdict::Malformed);
/// let error = report.error.unwrap();
/// assert_eq!((error.line, error.kind), (Some(2), "incomplete"));
/// ```
pub fn require_complete(report: &mut FileReport) {
    if report.verdict != Verdict::Legal || report.complete {
        return;
    }
    report.verdict = Verdict::Malformed;
    report.error = Some(ErrorReport {
        line: Some(report.events + 1),
        column: None,
        message: format!(
            "no `end` after {} events: the trace stops short (a truncated recording?), and --require-complete wants a complete one",
            report.events
        ),
        kind: "incomplete",
    });
}

/// Checks a trace read from `input`, naming it `name` in the report.
///
/// ```
/// use callorder_cli::check::{check_reader, CheckOptions};
/// use callorder_cli::report::Verdict;
/// let trace = "{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p1\"}\n";
/// let report = check_reader("t.jsonl", trace.as_bytes(), &CheckOptions::default());
/// assert_eq!(report.verdict, Verdict::Illegal);
/// let violation = report.violation.unwrap();
/// assert_eq!((violation.seq, violation.rule.id()), (1, "P-MADE"));
/// assert_eq!(report.context.last().unwrap().text, trace.trim_end());
/// ```
pub fn check_reader<R: BufRead>(name: &str, input: R, options: &CheckOptions) -> FileReport {
    check_inner(name, input, options, None)
}

/// A file that could not be opened.
fn unreadable(path: &str, profile: Profile, e: &io::Error) -> FileReport {
    let mut report = FileReport::new(path, profile);
    report.verdict = Verdict::Malformed;
    report.error = Some(ErrorReport {
        line: None,
        column: None,
        message: format!("cannot open the trace: {e}"),
        kind: "io",
    });
    report
}

/// The last few raw lines, oldest first. Slots are reused, so once full it
/// allocates nothing more (unless a longer line comes).
struct Ring {
    lines: VecDeque<(u64, String)>,
    capacity: usize,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Ring {
            lines: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    fn push(&mut self, number: u64, text: &str) {
        let mut slot = if self.lines.len() == self.capacity {
            self.lines.pop_front().map(|(_, s)| s).unwrap_or_default()
        } else {
            String::new()
        };
        slot.clear();
        slot.push_str(text);
        self.lines.push_back((number, slot));
    }

    fn learn_names(&self, names: &mut NameMap) {
        for (_, text) in &self.lines {
            names.learn_line(text);
        }
    }

    fn context(&self) -> Vec<ContextLine> {
        self.lines
            .iter()
            .map(|(n, text)| ContextLine::new(*n, text))
            .collect()
    }
}

/// The report of a trace that crossed one of the checker's limits (live
/// objects, nesting depth, distinct ids) at line `line`, as `callorder
/// check` gives it: a malformed trace, with the limit's kind. `None` for a
/// violation, which is a verdict and not an error of the file.
///
/// ```
/// use callorder_checker::CheckError;
/// use callorder_cli::check::limit_error;
///
/// let error = limit_error(&CheckError::TooDeep { seq: 9, limit: 30 }, 9).unwrap();
/// assert_eq!(error.kind, "too_deep");
/// assert_eq!(error.line, Some(9));
/// assert!(error.message.contains("over the nesting-depth limit of 30"));
/// ```
pub fn limit_error(e: &CheckError, line: u64) -> Option<ErrorReport> {
    let (message, kind) = match *e {
        CheckError::Violation(_) => return None,
        CheckError::TooManyLiveObjects { seq, limit } => (
            format!(
                "more than {limit} objects alive at once at seq {seq}: over the live-object limit of {limit}"
            ),
            "too_many_live_objects",
        ),
        CheckError::TooDeep { seq, limit } => (
            format!(
                "a callback at depth {} (seq {seq}): over the nesting-depth limit of {limit}",
                u64::from(limit) + 1
            ),
            "too_deep",
        ),
        CheckError::TooManyIds { seq, limit } => (
            format!(
                "more than {limit} distinct ids of connectors, ports and protocols at seq {seq}: over the distinct-id limit of {limit}"
            ),
            "too_many_ids",
        ),
    };
    Some(ErrorReport {
        line: Some(line),
        column: None,
        message,
        kind,
    })
}

fn check_inner<R: BufRead>(
    name: &str,
    input: R,
    options: &CheckOptions,
    reread: Option<&Path>,
) -> FileReport {
    // Numbered ids (p1, p2, ...), which Twisted's recorder and callorder's
    // reactors give, let the checker keep ended ones as ranges.
    let reader = TraceReader::with_limits(input, options.limits).numbered_ids();
    check_records(name, reader, options, reread)
}

fn check_records(
    name: &str,
    mut reader: impl Lines,
    options: &CheckOptions,
    reread: Option<&Path>,
) -> FileReport {
    let mut report = FileReport::new(name, options.profile);
    let mut checker = Checker::new(options.profile).with_limits(&options.limits);
    // The offending line itself plus the context before it.
    let mut ring = Ring::new(options.context_lines + 1);

    loop {
        match reader.next() {
            None => break,
            Some(Ok(record)) => {
                ring.push(reader.line_number(), reader.current_line());
                match checker.step(&record.step) {
                    Ok(()) => report.events += 1,
                    Err(CheckError::Violation(v)) => {
                        let line = reader.line_number();
                        illegal(&mut report, &v, &record, line, &ring, options, reread);
                        break;
                    }
                    Err(e) => {
                        report.verdict = Verdict::Malformed;
                        report.error = limit_error(&e, reader.line_number());
                        report.context = ring.context();
                        break;
                    }
                }
            }
            Some(Err(e)) => {
                // The bad line is not in the ring yet; an empty or
                // unreadable file has no line to show.
                if e.line.is_some() {
                    ring.push(reader.line_number(), reader.current_line());
                }
                malformed(&mut report, &e, &ring);
                break;
            }
        }
    }

    report.complete = checker.is_complete();
    report.coverage = checker.coverage();
    if report.verdict == Verdict::Legal && !checker.warnings().is_empty() {
        let mut names = NameMap::numbered();
        ring.learn_names(&mut names);
        let warnings = checker.warnings();
        if let Some(path) = reread {
            let wanted = warnings.iter().flat_map(|w| {
                object_hash(w.object)
                    .into_iter()
                    .chain(NameMap::debug_ids(&w.message))
            });
            let _ = reread_file(
                path,
                options.limits,
                u64::MAX,
                &BTreeSet::new(),
                wanted,
                &mut names,
            );
        }
        report.warnings = warnings.iter().map(|w| warning(w, &names)).collect();
    }
    report
}

fn warning(w: &Warning, names: &NameMap) -> WarningReport {
    WarningReport {
        seq: w.seq,
        rule: w.rule,
        message: names.substitute(&w.message),
        object: w.object.as_ref().map(|o| names.object(o)),
    }
}

fn malformed(report: &mut FileReport, e: &ReadError, ring: &Ring) {
    report.verdict = Verdict::Malformed;
    report.error = Some(ErrorReport {
        line: e.line,
        column: e.column,
        message: e.message.clone(),
        kind: error_kind(e.kind),
    });
    report.context = ring.context();
}

/// The stable name of a reader error's kind, for JSON.
pub fn error_kind(kind: ReadErrorKind) -> &'static str {
    match kind {
        ReadErrorKind::Io => "io",
        ReadErrorKind::Empty => "empty",
        ReadErrorKind::Encoding => "encoding",
        ReadErrorKind::Json => "json",
        ReadErrorKind::Field => "field",
        ReadErrorKind::Sequence => "sequence",
        ReadErrorKind::LineTooLong => "line_too_long",
        ReadErrorKind::BlankLine => "blank_line",
        ReadErrorKind::Truncated => "truncated",
    }
}

fn object_hash(object: Option<Object>) -> Option<u64> {
    Some(match object? {
        Object::Factory(id) => id.0,
        Object::Connector(id) => id.0,
        Object::Port(id) => id.0,
        Object::Protocol(id) => id.0,
    })
}

/// The hashes of the ids an event names, except the made-up protocol of a
/// proposed `build_protocol`, which no line names.
fn event_hashes(event: &Event) -> impl Iterator<Item = u64> {
    let protocol = match event {
        Event::BuildProtocol { .. } => None,
        _ => event.protocol().map(|p| p.0),
    };
    [
        event.factory().map(|f| f.0),
        event.connector().map(|c| c.0),
        event.port().map(|l| l.0),
        protocol,
    ]
    .into_iter()
    .flatten()
}

fn illegal(
    report: &mut FileReport,
    v: &Violation,
    record: &Record,
    line: u64,
    ring: &Ring,
    options: &CheckOptions,
    reread: Option<&Path>,
) {
    let mut names = NameMap::numbered();
    ring.learn_names(&mut names);
    let mut texts = BTreeMap::new();
    if let Some(path) = reread {
        let lines: BTreeSet<u64> = v.history.iter().map(|p| p.seq).collect();
        let wanted = object_hash(v.object)
            .into_iter()
            .chain(v.expected.iter().flat_map(event_hashes))
            .chain(NameMap::debug_ids(&v.message));
        // Best effort: the verdict stands even if the file changed or
        // vanished since.
        texts =
            reread_file(path, options.limits, line, &lines, wanted, &mut names).unwrap_or_default();
    }
    report.verdict = Verdict::Illegal;
    report.violation = Some(ViolationReport {
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
                text: texts.remove(&p.seq),
            })
            .collect(),
        expected: v.expected.iter().map(|e| names.proposed_event(e)).collect(),
        actual: names.event(&record.step.event),
        caller: v.caller.map(Caller::as_str),
        site: record.site.as_deref().map(str::to_owned),
    });
    report.context = ring.context();
}

/// Reads a regular file a second time, up to line `last`: returns the
/// (shortened) text of the lines numbered in `lines`, and learns the names
/// of the `wanted` hashes (and of every id on those lines). Stops early once
/// it has everything.
fn reread_file(
    path: &Path,
    limits: Limits,
    last: u64,
    lines: &BTreeSet<u64>,
    wanted: impl IntoIterator<Item = u64>,
    names: &mut NameMap,
) -> io::Result<BTreeMap<u64, String>> {
    let mut wanted: HashSet<u64> = wanted.into_iter().filter(|h| !names.knows(*h)).collect();
    let mut texts = BTreeMap::new();
    if wanted.is_empty() && lines.is_empty() {
        return Ok(texts);
    }
    let mut input = BufReader::with_capacity(FILE_BUFFER, File::open(path)?);
    let cap = u64::try_from(limits.max_line_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut buf = Vec::new();
    let mut number = 0u64;
    while number < last && (!wanted.is_empty() || texts.len() < lines.len()) {
        buf.clear();
        // The same cap as the reader's, so a line too long to check is
        // never held whole here either.
        let n = (&mut input).take(cap).read_until(b'\n', &mut buf)?;
        if n == 0 || (buf.last() != Some(&b'\n') && n as u64 == cap) {
            break;
        }
        number += 1;
        let Ok(text) = std::str::from_utf8(&buf) else {
            break;
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if lines.contains(&number) {
            names.learn_line(text);
            texts.insert(number, shorten(text, ContextLine::MAX_CHARS));
        }
        if !wanted.is_empty() {
            for name in NameMap::ids_of(text) {
                if wanted.remove(&names.key(&name)) {
                    names.learn(&name);
                }
            }
        }
    }
    Ok(texts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGAL: &str = r#"{"seq":1,"event":"listen_tcp","factory":"f1","port":"l1"}
{"seq":2,"event":"do_start","factory":"f1","port":"l1"}
{"seq":3,"depth":1,"event":"start_factory","factory":"f1"}
{"seq":4,"event":"stop_listening","port":"l1"}
{"seq":5,"event":"do_stop","factory":"f1","port":"l1"}
{"seq":6,"depth":1,"event":"stop_factory","factory":"f1"}
{"seq":7,"event":"end"}
"#;

    fn check(text: &str, profile: Profile) -> FileReport {
        check_reader("t", text.as_bytes(), &CheckOptions::new(profile))
    }

    #[test]
    fn legal_complete_and_prefix() {
        let report = check(LEGAL, Profile::Strict);
        assert_eq!(
            (report.verdict, report.complete, report.events),
            (Verdict::Legal, true, 7)
        );
        let prefix: String = LEGAL.lines().take(3).map(|l| format!("{l}\n")).collect();
        let report = check(&prefix, Profile::Strict);
        assert_eq!((report.verdict, report.complete), (Verdict::Legal, false));
    }

    #[test]
    fn unmet_obligation_is_a_violation_or_a_warning() {
        // Stop before the port is stopped.
        let mut text: String = LEGAL.lines().take(3).map(|l| format!("{l}\n")).collect();
        text.push_str("{\"seq\":4,\"event\":\"end\"}\n");
        let strict = check(&text, Profile::Strict);
        assert_eq!(strict.verdict, Verdict::Illegal);
        assert_eq!(strict.violation.as_ref().unwrap().seq, 4);
        let twisted = check(&text, Profile::Twisted);
        assert_eq!(twisted.verdict, Verdict::Legal);
        assert!(!twisted.warnings.is_empty());
        // The port's name is on a context line, so the warning uses it.
        assert!(
            twisted
                .warnings
                .iter()
                .any(|w| w.object.as_deref() == Some("port l1")),
            "{:?}",
            twisted.warnings
        );
    }

    #[test]
    fn malformed_keeps_the_bad_line_and_its_context() {
        let text = LEGAL.replace("{\"seq\":4", "{\"seq\":9");
        let report = check(&text, Profile::Strict);
        assert_eq!(report.verdict, Verdict::Malformed);
        let error = report.error.unwrap();
        assert_eq!((error.line, error.kind), (Some(4), "sequence"));
        let lines: Vec<u64> = report.context.iter().map(|c| c.line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
    }

    #[test]
    fn empty_input_has_no_line() {
        let report = check("", Profile::Strict);
        let error = report.error.unwrap();
        assert_eq!((error.line, error.kind), (None, "empty"));
        assert!(report.context.is_empty());
    }

    #[test]
    fn too_many_live_objects_is_malformed_at_its_line() {
        let options = CheckOptions {
            limits: Limits {
                max_live_objects: 0,
                ..Limits::default()
            },
            ..CheckOptions::default()
        };
        let report = check_reader("t", LEGAL.as_bytes(), &options);
        assert_eq!(report.verdict, Verdict::Malformed);
        let error = report.error.unwrap();
        assert_eq!((error.line, error.kind), (Some(1), "too_many_live_objects"));
        assert!(error.message.contains("limit of 0"), "{}", error.message);
    }

    #[test]
    fn too_many_ids_is_malformed_at_its_line() {
        let options = CheckOptions {
            limits: Limits {
                max_distinct_ids: 0,
                ..Limits::default()
            },
            ..CheckOptions::default()
        };
        let report = check_reader("t", LEGAL.as_bytes(), &options);
        assert_eq!(report.verdict, Verdict::Malformed);
        let error = report.error.unwrap();
        assert_eq!((error.line, error.kind), (Some(1), "too_many_ids"));
        assert!(
            error.message.contains("distinct-id limit of 0"),
            "{}",
            error.message
        );
    }

    #[test]
    fn too_deep_is_malformed_at_its_line() {
        let options = CheckOptions {
            limits: Limits {
                max_depth: 0,
                ..Limits::default()
            },
            ..CheckOptions::default()
        };
        let report = check_reader("t", LEGAL.as_bytes(), &options);
        assert_eq!(report.verdict, Verdict::Malformed);
        let error = report.error.unwrap();
        assert_eq!((error.line, error.kind), (Some(3), "too_deep"));
        assert_eq!(
            error.message,
            "a callback at depth 1 (seq 3): over the nesting-depth limit of 0"
        );
    }

    #[test]
    fn numbered_and_other_names_both_show_as_the_trace_gave_them() {
        // "p1" is read as the number 1, "alpha" as its hash: a report
        // names each as the trace did.
        let text = r#"{"seq":1,"event":"listen_tcp","factory":"f1","port":"l1"}
{"seq":2,"event":"do_start","factory":"f1","port":"l1"}
{"seq":3,"depth":1,"event":"start_factory","factory":"f1"}
{"seq":4,"event":"build_protocol","factory":"f1","port":"l1","protocol":"p1"}
{"seq":5,"event":"build_protocol","factory":"f1","port":"l1","protocol":"alpha"}
{"seq":6,"event":"connection_made","protocol":"p1"}
{"seq":7,"event":"connection_made","protocol":"alpha"}
{"seq":8,"event":"connection_lost","protocol":"alpha","reason":"connection_done"}
{"seq":9,"event":"connection_lost","protocol":"p1","reason":"connection_done"}
"#;
        for (bad, name) in [("alpha", "protocol alpha"), ("p1", "protocol p1")] {
            let late = format!(
                "{{\"seq\":10,\"event\":\"data_received\",\"protocol\":\"{bad}\",\"bytes\":3}}\n"
            );
            let report = check(&format!("{text}{late}"), Profile::Strict);
            let violation = report.violation.unwrap();
            assert_eq!(violation.rule.id(), "P-AFTER-LOST");
            assert_eq!(violation.object.as_deref(), Some(name));
            assert_eq!(
                violation.actual,
                format!("data_received(protocol={bad}, bytes=3)")
            );
        }
    }

    #[test]
    fn ring_keeps_the_last_lines() {
        let mut ring = Ring::new(2);
        for (n, text) in ["a", "b", "c"].iter().enumerate() {
            ring.push(n as u64 + 1, text);
        }
        let kept: Vec<_> = ring
            .context()
            .into_iter()
            .map(|c| (c.line, c.text))
            .collect();
        assert_eq!(kept, [(2, "b".to_owned()), (3, "c".to_owned())]);
    }
}

#[cfg(test)]
mod parallel_tests {
    use std::path::PathBuf;

    use super::*;
    use crate::human;

    fn fixture_files() -> Vec<PathBuf> {
        let mut files = Vec::new();
        let mut dirs =
            vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted")];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "jsonl") {
                    files.push(path);
                }
            }
        }
        files.sort();
        assert!(files.len() > 700, "the corpus is there: {}", files.len());
        files
    }

    /// Both renderings of the report of `path`, read by the sequential
    /// reader and by the parallel one in blocks of `block_bytes`.
    fn both(path: &Path, options: &CheckOptions, block_bytes: usize) -> [(String, String); 2] {
        let name = path.to_string_lossy();
        let reread = options.reread.then_some(path);
        let sequential = check_path(path, options);
        let file = File::open(path).unwrap();
        let parallel = check_parallel(&name, file, options, reread, block_bytes);
        [sequential, parallel].map(|r| (r.to_json(), human::plain(&human::render(&r))))
    }

    #[test]
    fn every_fixture_reports_the_same_read_in_parallel() {
        for (n, path) in fixture_files().into_iter().enumerate() {
            let profile = [Profile::Strict, Profile::Twisted][n % 2];
            let options = CheckOptions {
                reread: true,
                parse_threads: 2,
                ..CheckOptions::new(profile)
            };
            let [sequential, parallel] = both(&path, &options, [1, 100, 700][n % 3]);
            assert_eq!(parallel, sequential, "{}", path.display());
        }
    }

    #[test]
    fn cut_and_flipped_fixtures_report_the_same_read_in_parallel() {
        let dir =
            std::env::temp_dir().join(format!("callorder-check-parallel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let flips = [b'\n', b'"', 0xff, b'7', b'}'];
        let mut malformed = 0;
        for (n, path) in fixture_files().into_iter().enumerate().step_by(3) {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.is_empty() {
                continue;
            }
            let at = (bytes.len() * (1 + n % 3) / 4 + n) % bytes.len();
            let mut flipped = bytes.clone();
            flipped[at] = flips[n % flips.len()];
            for (what, changed) in [("cut", &bytes[..at]), ("flipped", &flipped[..])] {
                let copy = dir.join(format!("{n}-{what}.jsonl"));
                std::fs::write(&copy, changed).unwrap();
                let options = CheckOptions {
                    reread: true,
                    parse_threads: 2,
                    ..CheckOptions::default()
                };
                let [sequential, parallel] = both(&copy, &options, [1, 64, 300][n % 3]);
                malformed += usize::from(sequential.0.contains("\"malformed\""));
                assert_eq!(parallel, sequential, "{} {what} at {at}", path.display());
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(malformed > 200, "most changes are malformed: {malformed}");
    }
}
