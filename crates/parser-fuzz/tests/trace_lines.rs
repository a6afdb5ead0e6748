//! The trace reader's fuzz pass: a million inputs in CI, of every kind a
//! hostile or damaged file holds, and a round trip through the writer.
//!
//! What every input must give: records, then at most one error, and that
//! error on the line after the last record, with a column inside that line;
//! no panic; never more of a line held than the limit allows.
//!
//! Inputs: arbitrary bytes; lines of every fixture trace (legal, illegal,
//! quirks, malformed) with fields dropped, duplicated, retyped, renamed,
//! swapped or added, and bytes flipped, inserted, deleted, copied or cut;
//! and the first lines of a fixture, so that `seq` and `t` are checked
//! across lines, with lines dropped, doubled and swapped. A third of the
//! inputs are read with a small line limit.
//!
//! `just fuzz-parsers` runs a long pass (`CALLORDER_PARSER_INPUTS`).

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use callorder_parser_fuzz::json::{self, Fields};
use callorder_parser_fuzz::pass::Tally;
use callorder_parser_fuzz::{bytes, lines, pass};
use callorder_trace::{
    name_hash, ConnectorId, Event, EventKind, FactoryId, Limits, Names, PortId, ProtocolId,
    ReadErrorKind, Reason, Record, TraceReader, TraceWriter,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

/// The CI count of the line-reader pass.
const LINE_INPUTS: u64 = 1_000_000;
/// The CI count of the round trip: whole traces, each tens of records.
const ROUND_TRIP_INPUTS: u64 = 5_000;

/// Bytes that mean something to JSON Lines.
const JSON_BYTES: &[u8] = b"{}[]\":,\n\r\t\\ 0123456789-+.eEtrufalsn\0\x7f\xc3\xa9\xef\xbb\xbf\xff";

/// The format's field names.
const FIELDS: &[&str] = &[
    "seq",
    "t",
    "depth",
    "within",
    "event",
    "factory",
    "connector",
    "port",
    "protocol",
    "addr",
    "reason",
    "detail",
    "bytes",
    "error",
    "timeout",
    "streaming",
];

/// Strings a field may be given: every event and reason name, and ids.
fn words() -> &'static [&'static str] {
    static WORDS: OnceLock<Vec<&'static str>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut words: Vec<&'static str> = EventKind::ALL
            .iter()
            .map(|k| &*k.to_string().leak())
            .collect();
        words.extend(Reason::ALL.iter().map(|r| &*r.to_string().leak()));
        words.extend(["f1", "c1", "l1", "p1", "p2", ""]);
        words
    })
}

/// The recorded Twisted corpus.
fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted")
}

/// Every fixture trace, as its lines, read once.
struct Corpus {
    files: Vec<Vec<String>>,
    /// Every line that is a JSON object, as fields, with `seq` 1: alone,
    /// it is the first line of a trace.
    first_lines: Vec<Fields>,
}

fn corpus() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut paths = Vec::new();
        for dir in ["legal", "illegal", "quirks", "malformed"] {
            for entry in fs::read_dir(fixtures().join(dir)).expect("a fixture directory") {
                paths.push(entry.expect("an entry").path());
            }
        }
        paths.sort();
        let files: Vec<Vec<String>> = paths
            .iter()
            .map(|p| {
                String::from_utf8_lossy(&fs::read(p).expect("readable"))
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .collect();
        let mut first_lines = Vec::new();
        for line in files.iter().flatten() {
            if let Some(mut fields) = Fields::parse(line) {
                fields.set("seq", "1");
                first_lines.push(fields);
            }
        }
        assert!(files.len() > 700 && first_lines.len() > 10_000);
        Corpus { files, first_lines }
    })
}

/// One input of the line pass.
#[derive(Debug, Clone)]
enum Input {
    /// Any bytes.
    Bytes(Vec<u8>),
    /// A fixture line made the first, then its fields edited, then its
    /// bytes.
    Line(Index, Vec<json::FieldEdit>, Vec<bytes::ByteEdit>),
    /// The first lines of a fixture, lines edited, then one line's fields,
    /// then the bytes.
    Head {
        file: Index,
        lines: usize,
        line_edits: Vec<lines::LineEdit>,
        field_edits: (Index, Vec<json::FieldEdit>),
        byte_edits: Vec<bytes::ByteEdit>,
    },
}

impl Input {
    fn text(&self) -> Vec<u8> {
        let corpus = corpus();
        match self {
            Input::Bytes(b) => b.clone(),
            Input::Line(which, fields, edits) => {
                let mut line = corpus.first_lines[which.index(corpus.first_lines.len())].clone();
                json::apply_all(&mut line, fields);
                let mut text = line.to_text().into_bytes();
                text.push(b'\n');
                bytes::apply_all(&mut text, edits);
                text
            }
            Input::Head {
                file,
                lines: n,
                line_edits,
                field_edits: (which, fields),
                byte_edits,
            } => {
                let file = &corpus.files[file.index(corpus.files.len())];
                let mut head: Vec<String> = file.iter().take(*n).cloned().collect();
                lines::apply_all(&mut head, line_edits);
                if !head.is_empty() {
                    let at = which.index(head.len());
                    if let Some(mut f) = Fields::parse(&head[at]) {
                        json::apply_all(&mut f, fields);
                        head[at] = f.to_text();
                    }
                }
                let mut text = head.join("\n").into_bytes();
                text.push(b'\n');
                bytes::apply_all(&mut text, byte_edits);
                text
            }
        }
    }
}

fn input() -> impl Strategy<Value = (Input, Option<usize>)> {
    let field_edits = || json::field_edits(FIELDS, words(), 3);
    let input = prop_oneof![
        2 => bytes::any_bytes(JSON_BYTES, 200).prop_map(Input::Bytes),
        5 => (any::<Index>(), field_edits(), prop::collection::vec(bytes::edit(JSON_BYTES), 0..2))
            .prop_map(|(i, f, b)| Input::Line(i, f, b)),
        2 => (any::<Index>(), prop::collection::vec(bytes::edit(JSON_BYTES), 1..4))
            .prop_map(|(i, b)| Input::Line(i, Vec::new(), b)),
        3 => (
            any::<Index>(),
            1..8usize,
            lines::edits(2),
            (any::<Index>(), field_edits()),
            prop::collection::vec(bytes::edit(JSON_BYTES), 0..2),
        )
            .prop_map(|(file, lines, line_edits, field_edits, byte_edits)| Input::Head {
                file,
                lines,
                line_edits,
                field_edits,
                byte_edits,
            }),
    ];
    // A small limit a third of the time, so that long lines meet it.
    (
        input,
        prop_oneof![2 => Just(None), 1 => (0..300usize).prop_map(Some)],
    )
}

/// Reads `text` to the end and checks what holds for any input; counts
/// what it reached in `tally`.
fn check(text: &[u8], max_line_bytes: Option<usize>, tally: &Tally) -> Result<(), TestCaseError> {
    let limits = Limits {
        max_line_bytes: max_line_bytes.unwrap_or(Limits::DEFAULT_MAX_LINE_BYTES),
        ..Limits::default()
    };
    let mut reader = TraceReader::with_limits(text, limits);
    let mut records = 0u64;
    while let Some(item) = reader.next() {
        prop_assert!(
            reader.current_line().len() <= limits.max_line_bytes + 1,
            "held {} bytes of a line",
            reader.current_line().len()
        );
        match item {
            Ok(record) => {
                records += 1;
                prop_assert_eq!(record.step.seq, records);
            }
            Err(e) => {
                tally.count(format!("{:?}", e.kind));
                if records > 0 {
                    tally.count("records, then an error");
                }
                prop_assert!(reader.next().is_none(), "a second item after {}", e);
                if e.kind == ReadErrorKind::Empty {
                    // The one error with no line: there is none.
                    prop_assert!(text.is_empty() && records == 0, "{}", e);
                    prop_assert_eq!((e.line, e.column), (None, None));
                    return Ok(());
                }
                prop_assert_ne!(e.kind, ReadErrorKind::Io);
                prop_assert_eq!(e.line, Some(records + 1), "{}", e);
                let line = text
                    .split(|&b| b == b'\n')
                    .nth(records as usize)
                    .unwrap_or(&[]);
                let column = e
                    .column
                    .ok_or_else(|| TestCaseError::fail(format!("no column: {e}")))?;
                prop_assert!(
                    column >= 1 && column <= line.len() as u64 + 1,
                    "column {} of a {}-byte line: {}",
                    column,
                    line.len(),
                    e
                );
                return Ok(());
            }
        }
    }
    prop_assert!(records > 0, "an input with no records and no error");
    tally.count("read to the end");
    Ok(())
}

#[test]
fn no_input_panics_the_reader_and_every_error_has_its_place() {
    let settings = pass::Settings::from_env(LINE_INPUTS);
    corpus();
    let tally = Tally::default();
    let report = pass::run("trace lines", &settings, input, |(input, limit)| {
        check(&input.text(), limit, &tally)
    });
    assert_eq!(report.inputs, settings.inputs);
    eprintln!("trace lines reached: {tally}");
    // Every check of the reader is reached, and the inputs that get past
    // all of them are not rare.
    for kind in [
        ReadErrorKind::Empty,
        ReadErrorKind::Encoding,
        ReadErrorKind::Json,
        ReadErrorKind::Field,
        ReadErrorKind::Sequence,
        ReadErrorKind::LineTooLong,
        ReadErrorKind::BlankLine,
        ReadErrorKind::Truncated,
    ] {
        assert!(
            tally.get(&format!("{kind:?}")) > 0,
            "no {kind:?} error: {tally}"
        );
    }
    assert!(
        tally.get("read to the end") * 100 > report.inputs,
        "{tally}"
    );
    assert!(
        tally.get("records, then an error") * 20 > report.inputs,
        "{tally}"
    );
}

// ------------------------------------------------------------ round trip

/// The names of a fixture's ids, so records read from it are written back
/// with the same names; and any name an edit gives.
#[derive(Default, Clone, Debug)]
struct Remembered(HashMap<u64, String>);

impl Remembered {
    fn learn(&mut self, name: &str) -> u64 {
        let hash = name_hash(name);
        self.0.insert(hash, name.to_owned());
        hash
    }
    fn name(&self, hash: u64) -> String {
        self.0.get(&hash).cloned().expect("every id was named")
    }
}

impl Names for Remembered {
    fn factory(&self, id: FactoryId) -> String {
        self.name(id.0)
    }
    fn connector(&self, id: ConnectorId) -> String {
        self.name(id.0)
    }
    fn port(&self, id: PortId) -> String {
        self.name(id.0)
    }
    fn protocol(&self, id: ProtocolId) -> String {
        self.name(id.0)
    }
}

/// A legal fixture's records and names.
fn legal() -> &'static [(Vec<Record>, Remembered)] {
    static LEGAL: OnceLock<Vec<(Vec<Record>, Remembered)>> = OnceLock::new();
    LEGAL.get_or_init(|| {
        let mut paths: Vec<_> = fs::read_dir(fixtures().join("legal"))
            .expect("legal fixtures")
            .map(|e| e.expect("an entry").path())
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let text = fs::read_to_string(p).expect("readable");
                let mut names = Remembered::default();
                for line in text.lines() {
                    let fields = Fields::parse(line).expect("a JSON object");
                    for key in ["factory", "connector", "port", "protocol"] {
                        if let Some(v) = fields.get(key) {
                            if let Ok(name) = serde_json::from_str::<String>(v) {
                                names.learn(&name);
                            }
                        }
                    }
                }
                let records = TraceReader::new(text.as_bytes())
                    .collect::<Result<_, _>>()
                    .expect("a legal fixture reads");
                (records, names)
            })
            .collect()
    })
}

/// A change to one record of a trace, in the values the writer must spell
/// and the reader must read back: free text with any characters, ids with
/// any names, numbers at their edges.
#[derive(Clone, Debug)]
enum RecordEdit {
    Addr(Option<String>),
    Detail(Option<String>),
    Error(Option<String>),
    Timeout(Option<f64>),
    Depth(u32),
    Within(Option<u64>),
    /// The first id of the event is renamed.
    Rename(String),
    /// `t` grows by this much from here on (it may not decrease).
    Later(f64),
}

fn record_edit() -> impl Strategy<Value = (Index, RecordEdit)> {
    let text = || {
        prop::option::of(prop_oneof![
            any::<String>(),
            "[ -~]{0,20}",
            Just("\u{2028}\"\\\u{0}".to_owned())
        ])
    };
    let edit = prop_oneof![
        text().prop_map(RecordEdit::Addr),
        text().prop_map(RecordEdit::Detail),
        text().prop_map(RecordEdit::Error),
        prop::option::of(prop_oneof![
            any::<f64>().prop_filter("finite", |x| x.is_finite()),
            Just(0.1 + 0.2),
            Just(f64::MAX)
        ])
        .prop_map(RecordEdit::Timeout),
        any::<u32>().prop_map(RecordEdit::Depth),
        prop::option::of(any::<u64>()).prop_map(RecordEdit::Within),
        prop_oneof![any::<String>(), Just("\"\n\\".to_owned())].prop_map(RecordEdit::Rename),
        prop_oneof![0.0..1e6f64, Just(5e-324), Just(1e-7)].prop_map(RecordEdit::Later),
    ];
    (any::<Index>(), edit)
}

fn rename(event: &mut Event, names: &mut Remembered, name: &str) {
    let hash = names.learn(name);
    match event {
        Event::ConnectTcp { factory, .. }
        | Event::ListenTcp { factory, .. }
        | Event::DoStart { factory, .. }
        | Event::StartFactory { factory }
        | Event::StartedConnecting { factory, .. }
        | Event::BuildProtocol { factory, .. }
        | Event::ClientConnectionFailed { factory, .. }
        | Event::ClientConnectionLost { factory, .. }
        | Event::DoStop { factory, .. }
        | Event::StopFactory { factory } => *factory = FactoryId(hash),
        Event::Connect { connector }
        | Event::StopConnecting { connector }
        | Event::Disconnect { connector } => *connector = ConnectorId(hash),
        Event::StopListening { port } => *port = PortId(hash),
        Event::Shutdown | Event::End => {}
        other => {
            if let Some(protocol) = protocol_of(other) {
                *protocol = ProtocolId(hash);
            }
        }
    }
}

fn protocol_of(event: &mut Event) -> Option<&mut ProtocolId> {
    match event {
        Event::ConnectionMade { protocol }
        | Event::DataReceived { protocol, .. }
        | Event::ReadConnectionLost { protocol }
        | Event::WriteConnectionLost { protocol }
        | Event::ConnectionLost { protocol, .. }
        | Event::PauseProducing { protocol }
        | Event::ResumeProducing { protocol }
        | Event::StopProducing { protocol }
        | Event::Write { protocol, .. }
        | Event::LoseConnection { protocol }
        | Event::LoseWriteConnection { protocol }
        | Event::AbortConnection { protocol }
        | Event::RegisterProducer { protocol, .. }
        | Event::UnregisterProducer { protocol }
        | Event::PauseReading { protocol }
        | Event::ResumeReading { protocol } => Some(protocol),
        _ => None,
    }
}

#[test]
fn every_trace_the_writer_writes_reads_back_the_same() {
    let settings = pass::Settings::from_env(ROUND_TRIP_INPUTS);
    legal();
    let strategy = || (any::<Index>(), prop::collection::vec(record_edit(), 0..8));
    let report = pass::run("trace round trip", &settings, strategy, |(which, edits)| {
        let fixtures = legal();
        let (records, names) = &fixtures[which.index(fixtures.len())];
        let (mut records, mut names) = (records.clone(), names.clone());
        for (at, edit) in &edits {
            let len = records.len();
            let i = at.index(len);
            let r = &mut records[i];
            match edit {
                RecordEdit::Addr(a) => r.addr = a.as_deref().map(Into::into),
                RecordEdit::Detail(d) => r.detail.clone_from(d),
                RecordEdit::Error(e) => {
                    r.error.clone_from(e);
                    r.step.failed = e.is_some();
                }
                RecordEdit::Timeout(t) => r.timeout = *t,
                RecordEdit::Depth(d) => r.step.depth = *d,
                RecordEdit::Within(w) => r.step.within = *w,
                RecordEdit::Rename(name) => rename(&mut r.step.event, &mut names, name),
                RecordEdit::Later(by) => {
                    for t in records[i..].iter_mut().filter_map(|r| r.t.as_mut()) {
                        *t += by;
                    }
                }
            }
        }
        let mut writer = TraceWriter::with_names(Vec::new(), names);
        for record in &records {
            writer
                .write(record)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let text = writer.into_inner();
        let back: Result<Vec<Record>, _> = TraceReader::new(&text[..]).collect();
        let back = back
            .map_err(|e| TestCaseError::fail(format!("{e}\n{}", String::from_utf8_lossy(&text))))?;
        prop_assert_eq!(back, records);
        Ok(())
    });
    assert_eq!(report.inputs, settings.inputs);
}
