//! Properties: no input panics the reader, and whatever the writer writes
//! reads back as the same records.

mod common;

use std::fs;

use callorder_trace::{
    Caller, ConnectorId, Data, Event, EventKind, FactoryId, Holder, PortId, ProtocolId,
    ReadErrorKind, Reason, Record, Scope, Step, TraceReader, TraceWriter,
};
use common::{fixtures, RememberedNames};
use proptest::prelude::*;

/// Reads `bytes` to the end and checks what holds for any input: the lines
/// of the records count up from 1, at most one error comes, and it comes
/// last.
fn read_checking_shape(bytes: &[u8]) {
    let mut reader = TraceReader::new(bytes);
    let mut expected_seq = 1;
    while let Some(item) = reader.next() {
        match item {
            Ok(record) => {
                assert_eq!(record.step.seq, expected_seq);
                assert_eq!(reader.line_number(), expected_seq);
                assert_eq!(record.step.failed, record.error.is_some());
                expected_seq += 1;
            }
            Err(e) => {
                assert!(reader.next().is_none());
                match e.kind {
                    ReadErrorKind::Empty => assert_eq!((e.line, expected_seq), (None, 1)),
                    ReadErrorKind::Io => panic!("I/O error from memory: {e}"),
                    _ => assert_eq!(e.line, Some(expected_seq), "{e}"),
                }
                return;
            }
        }
    }
    assert!(expected_seq > 1, "an empty input must be an error");
}

fn legal_fixture_texts() -> Vec<Vec<u8>> {
    let mut paths: Vec<_> = fs::read_dir(fixtures().join("legal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths.iter().map(|p| fs::read(p).unwrap()).collect()
}

/// An edit of a byte string: replace, insert or delete one byte.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to JSON Lines are likelier than others.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"{}[]\":,\n\\ 0123456789-.eEtfnul\0\xff".to_vec()),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
    ]
}

fn apply(text: &mut Vec<u8>, edit: &Edit) {
    let len = text.len();
    match *edit {
        Edit::Replace(i, b) if len > 0 => text[i % len] = b,
        Edit::Insert(i, b) => text.insert(i % (len + 1), b),
        Edit::Delete(i) if len > 0 => drop(text.remove(i % len)),
        _ => {}
    }
}

const NAMES: usize = 4;

fn name(prefix: &str, n: usize) -> String {
    format!("{prefix}{n}")
}

/// Every name the generated events use, so the writer can spell them.
fn all_names() -> RememberedNames {
    let mut names = RememberedNames::default();
    for prefix in ["f", "c", "l", "p", "weird \"name\"\n\u{1F600}"] {
        for n in 0..NAMES {
            names.insert(&name(prefix, n));
        }
    }
    names
}

fn event() -> impl Strategy<Value = Event> {
    let id = || 0..NAMES;
    let odd = any::<bool>();
    (
        0..EventKind::ALL.len(),
        (id(), id(), id(), id(), odd),
        prop::sample::select(Reason::ALL.to_vec()),
        any::<u64>(),
        any::<bool>(),
        0..3u8,
        any::<bool>(),
    )
        .prop_map(
            |(kind, (f, c, l, p, odd), reason, bytes, streaming, holder, none)| {
                // Some names need escaping, to test that too.
                let prefix = |p: &'static str| if odd { "weird \"name\"\n\u{1F600}" } else { p };
                let factory = FactoryId::from_name(&name(prefix("f"), f));
                let connector = ConnectorId::from_name(&name(prefix("c"), c));
                let port = PortId::from_name(&name(prefix("l"), l));
                let protocol = ProtocolId::from_name(&name(prefix("p"), p));
                let holder = match holder {
                    0 => None,
                    1 => Some(Holder::Connector(connector)),
                    _ => Some(Holder::Port(port)),
                };
                match EventKind::ALL[kind] {
                    EventKind::ConnectTcp => Event::ConnectTcp { factory, connector },
                    EventKind::ListenTcp => Event::ListenTcp { factory, port },
                    EventKind::DoStart => Event::DoStart { factory, holder },
                    EventKind::StartFactory => Event::StartFactory { factory },
                    EventKind::StartedConnecting => Event::StartedConnecting { factory, connector },
                    EventKind::BuildProtocol => Event::BuildProtocol {
                        factory,
                        holder: holder.unwrap_or(Holder::Port(port)),
                        protocol: (!none).then_some(protocol),
                    },
                    EventKind::ClientConnectionFailed => Event::ClientConnectionFailed {
                        factory,
                        connector,
                        reason,
                    },
                    EventKind::ClientConnectionLost => Event::ClientConnectionLost {
                        factory,
                        connector,
                        reason,
                    },
                    EventKind::DoStop => Event::DoStop { factory, holder },
                    EventKind::StopFactory => Event::StopFactory { factory },
                    EventKind::ConnectionMade => Event::ConnectionMade { protocol },
                    EventKind::DataReceived => Event::DataReceived { protocol, bytes },
                    EventKind::ReadConnectionLost => Event::ReadConnectionLost { protocol },
                    EventKind::WriteConnectionLost => Event::WriteConnectionLost { protocol },
                    EventKind::ConnectionLost => Event::ConnectionLost { protocol, reason },
                    EventKind::PauseProducing => Event::PauseProducing { protocol },
                    EventKind::ResumeProducing => Event::ResumeProducing { protocol },
                    EventKind::StopProducing => Event::StopProducing { protocol },
                    EventKind::Connect => Event::Connect { connector },
                    EventKind::StopConnecting => Event::StopConnecting { connector },
                    EventKind::Disconnect => Event::Disconnect { connector },
                    EventKind::Write => Event::Write { protocol, bytes },
                    EventKind::LoseConnection => Event::LoseConnection { protocol },
                    EventKind::LoseWriteConnection => Event::LoseWriteConnection { protocol },
                    EventKind::AbortConnection => Event::AbortConnection { protocol },
                    EventKind::RegisterProducer => Event::RegisterProducer {
                        protocol,
                        streaming,
                    },
                    EventKind::UnregisterProducer => Event::UnregisterProducer { protocol },
                    EventKind::StopListening => Event::StopListening { port },
                    EventKind::PauseReading => Event::PauseReading { protocol },
                    EventKind::ResumeReading => Event::ResumeReading { protocol },
                    EventKind::Shutdown => Event::Shutdown,
                    EventKind::End => Event::End,
                }
            },
        )
}

/// Any finite `f64`, with the awkward ones well represented.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::POSITIVE
            | prop::num::f64::NEGATIVE
            | prop::num::f64::SUBNORMAL
            | prop::num::f64::ZERO
            | prop::num::f64::NORMAL,
        0.0..1e4f64,
        prop::sample::select(vec![
            0.0,
            0.1 + 0.2,
            1e-7,
            1e16,
            1e300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324
        ]),
    ]
}

fn text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![any::<String>(), "[a-z:0-9.]{0,12}"])
}

/// The optional fields defined for some events only, each in play:
/// `hooks`, `scope`, `data` (with its length and whether it is cut),
/// `caller` and `site`.
#[derive(Clone, Debug)]
struct Extras {
    hooks: Option<bool>,
    scope: bool,
    /// The content kept, and how many more bytes the event had (then cut).
    data: Option<(Vec<u8>, u64)>,
    caller: bool,
    site: Option<String>,
}

fn extras() -> impl Strategy<Value = Extras> {
    let data = (
        prop::collection::vec(any::<u8>(), 0..48),
        prop_oneof![Just(0u64), 1..u64::from(u32::MAX)],
    );
    (
        prop::option::of(any::<bool>()),
        any::<bool>(),
        prop::option::of(data),
        any::<bool>(),
        text(),
    )
        .prop_map(|(hooks, scope, data, caller, site)| Extras {
            hooks,
            scope,
            data,
            caller,
            site,
        })
}

/// Puts the extras on the events they are defined for, as a recorder
/// would: data of the event's length (or shorter, and cut).
fn with_extras(mut record: Record, extras: Extras) -> Record {
    let kind = record.step.event.kind();
    match &mut record.step.event {
        Event::DoStart { .. } | Event::DoStop { .. } => record.step.hooks = extras.hooks,
        Event::End if extras.scope => record.step.scope = Some(Scope::Test),
        Event::DataReceived { bytes, .. } | Event::Write { bytes, .. } => {
            if let Some((content, more)) = extras.data {
                *bytes = content.len() as u64 + more;
                record.data = Data::from_parts(content, more > 0);
            }
        }
        _ => {}
    }
    if kind.is_callback() {
        record.step.caller = extras.caller.then_some(Caller::Application);
        record.site = extras.site.map(String::into_boxed_str);
    }
    record
}

/// A trace of records with every optional field in play. `t` is made
/// non-decreasing and non-negative, as a reader requires.
fn records() -> impl Strategy<Value = Vec<Record>> {
    let record = (
        event(),
        (any::<u32>(), prop::option::of(any::<u64>())),
        (prop::option::of(0.0..1e6f64), prop::option::of(finite())),
        (text(), text(), text()),
        extras(),
    );
    prop::collection::vec(record, 1..40).prop_map(|items| {
        let mut t_so_far = 0.0f64;
        items
            .into_iter()
            .enumerate()
            .map(
                |(i, (event, (depth, within), (dt, timeout), (addr, detail, error), extras))| {
                    let t = dt.map(|dt| {
                        t_so_far += dt;
                        t_so_far
                    });
                    let seq = i as u64 + 1;
                    let mut step = Step::new(seq, event).at_depth(depth);
                    step.within = within;
                    step.failed = error.is_some();
                    let mut record = Record::new(step);
                    record.t = t;
                    record.addr = addr.map(Into::into);
                    record.detail = detail;
                    record.error = error;
                    record.timeout = timeout;
                    with_extras(record, extras)
                },
            )
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        read_checking_shape(&bytes);
    }

    #[test]
    fn arbitrary_lines_never_panic(
        lines in prop::collection::vec("[ -~\n]{0,80}|\\{\"seq\":[0-9],\"event\":\"[a-z_]{0,20}\"[ -~]{0,40}\\}", 0..8),
    ) {
        read_checking_shape(lines.join("\n").as_bytes());
    }

    #[test]
    fn edited_fixtures_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let texts = legal_fixture_texts();
        let mut text = texts[which.index(texts.len())].clone();
        for edit in &edits {
            apply(&mut text, edit);
        }
        read_checking_shape(&text);
    }

    #[test]
    fn written_records_read_back_equal(records in records()) {
        let mut writer = TraceWriter::with_names(Vec::new(), all_names());
        for record in &records {
            writer.write(record).unwrap();
        }
        let bytes = writer.into_inner();
        let again: Result<Vec<_>, _> = TraceReader::new(&bytes[..]).collect();
        let again = again.unwrap_or_else(|e| {
            panic!("{e}\n{}", String::from_utf8_lossy(&bytes))
        });
        prop_assert_eq!(again, records);
    }

    #[test]
    fn writing_is_deterministic(records in records()) {
        let write = || {
            let mut writer = TraceWriter::with_names(Vec::new(), all_names());
            for record in &records {
                writer.write(record).unwrap();
            }
            writer.into_inner()
        };
        prop_assert_eq!(write(), write());
    }
}
