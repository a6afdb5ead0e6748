//! The optional fields of format v1 that some events carry: `hooks` on
//! `do_start`/`do_stop`, `scope` on `end`, `data`/`data_cut` on
//! `data_received`/`write`, `caller`/`site` on callbacks. Each is read
//! where it is defined, written back the same, and refused with the line
//! and column when its value is not one the format allows.

mod common;

use callorder_trace::{
    Caller, ConnectorId, Data, Event, FactoryId, Holder, Limits, ProtocolId, ReadError,
    ReadErrorKind, Reason, Record, Scope, Step, TraceReader, TraceWriter,
};
use common::{first_error, read_all, RememberedNames};

fn ok(text: &str) -> Vec<Record> {
    read_all(text.as_bytes()).unwrap_or_else(|e| panic!("refused: {e}\n{text}"))
}

fn err(text: &str) -> ReadError {
    first_error(text.as_bytes()).unwrap_or_else(|| panic!("accepted:\n{text}"))
}

/// Writes `records` (with numbered ids) and returns the text.
fn written(records: &[Record]) -> String {
    let mut writer = TraceWriter::new(Vec::new());
    for record in records {
        writer.write(record).unwrap();
    }
    String::from_utf8(writer.into_inner()).unwrap()
}

/// Reads `text` and writes it back with the names it used: the same text,
/// for a trace the writer would have written.
fn read_and_write_back(text: &str) -> String {
    let mut names = RememberedNames::default();
    names.learn(text);
    let mut writer = TraceWriter::with_names(Vec::new(), names);
    for record in ok(text) {
        writer.write(&record).unwrap();
    }
    String::from_utf8(writer.into_inner()).unwrap()
}

/// The 1-based column where `needle` starts in `line`.
fn column_of(line: &str, needle: &str) -> u64 {
    line.find(needle).unwrap() as u64 + 1
}

// ---- hooks ----

#[test]
fn hooks_false_on_do_start_and_do_stop_is_kept() {
    let text = concat!(
        r#"{"seq":1,"event":"do_start","factory":"f1","connector":"c1","hooks":false}"#,
        "\n",
        r#"{"seq":2,"event":"do_stop","factory":"f1","connector":"c1","hooks":false}"#,
        "\n",
        r#"{"seq":3,"event":"do_start","factory":"f1","connector":"c1","hooks":true}"#,
        "\n",
        r#"{"seq":4,"event":"do_stop","factory":"f1","connector":"c1"}"#,
        "\n",
    );
    let records = ok(text);
    let hooks: Vec<_> = records.iter().map(|r| r.step.hooks).collect();
    assert_eq!(hooks, [Some(false), Some(false), Some(true), None]);
    let runs: Vec<_> = records
        .iter()
        .map(|r| r.step.runs_factory_hooks())
        .collect();
    assert_eq!(runs, [false, false, true, true]);
}

#[test]
fn hooks_elsewhere_is_type_checked_and_ignored() {
    let records = ok(r#"{"seq":1,"event":"start_factory","factory":"f1","hooks":false}"#);
    assert_eq!(records[0].step.hooks, None);
    let e = err(r#"{"seq":1,"event":"end","hooks":"no"}"#);
    assert_eq!((e.kind, e.line), (ReadErrorKind::Field, Some(1)));
    assert!(e.message.contains("field \"hooks\""), "{e}");
}

#[test]
fn hooks_are_written_back_on_do_start_and_do_stop() {
    let (f, c) = (FactoryId(1), ConnectorId(1));
    let start = Event::DoStart {
        factory: f,
        holder: Some(Holder::Connector(c)),
    };
    let stop = Event::DoStop {
        factory: f,
        holder: Some(Holder::Connector(c)),
    };
    let records = [
        Record::new(Step::new(1, start).hooks(false)),
        Record::new(Step::new(2, stop).hooks(true)),
        Record::new(Step::new(3, start)),
    ];
    let text = written(&records);
    assert_eq!(
        text,
        concat!(
            r#"{"seq":1,"event":"do_start","factory":"f1","connector":"c1","hooks":false}"#,
            "\n",
            r#"{"seq":2,"event":"do_stop","factory":"f1","connector":"c1","hooks":true}"#,
            "\n",
            r#"{"seq":3,"event":"do_start","factory":"f1","connector":"c1"}"#,
            "\n",
        )
    );
    assert_eq!(read_and_write_back(&text), text);
}

// ---- scope ----

#[test]
fn scope_test_on_end_is_kept_and_written_back() {
    let records = ok(r#"{"seq":1,"event":"end","scope":"test"}"#);
    assert_eq!(records[0].step.scope, Some(Scope::Test));
    let text = "{\"seq\":1,\"event\":\"end\",\"scope\":\"test\"}\n";
    assert_eq!(written(&records), text);
    assert_eq!(read_and_write_back(text), text);
    assert_eq!(ok(r#"{"seq":1,"event":"end"}"#)[0].step.scope, None);
}

#[test]
fn any_other_scope_is_malformed_with_its_column() {
    let line = r#"{"seq":1,"event":"end","scope":"reactor"}"#;
    let e = err(line);
    assert_eq!((e.kind, e.line), (ReadErrorKind::Field, Some(1)));
    assert!(
        e.message
            .contains("unknown scope \"reactor\"; expected \"test\""),
        "{e}"
    );
    assert!(e.column.unwrap() >= column_of(line, "\"reactor\""), "{e}");
    // Checked wherever it appears, as a reason is.
    let e = err(r#"{"seq":1,"event":"shutdown","scope":"Test"}"#);
    assert!(e.message.contains("unknown scope \"Test\""), "{e}");
}

#[test]
fn scope_elsewhere_is_ignored() {
    assert_eq!(
        ok(r#"{"seq":1,"event":"shutdown","scope":"test"}"#)[0]
            .step
            .scope,
        None
    );
}

// ---- data ----

#[test]
fn data_is_decoded_on_data_received_and_write() {
    let text = concat!(
        r#"{"seq":1,"event":"data_received","protocol":"p1","bytes":5,"data":"aGVsbG8="}"#,
        "\n",
        r#"{"seq":2,"depth":1,"event":"write","protocol":"p1","bytes":0,"data":""}"#,
        "\n",
    );
    let records = ok(text);
    assert_eq!(records[0].data, Some(Data::new(b"hello")));
    assert_eq!(records[1].data, Some(Data::new(b"")));
    assert_eq!(read_and_write_back(text), text);
}

#[test]
fn cut_data_holds_fewer_bytes_than_the_event() {
    let line =
        r#"{"seq":1,"event":"write","protocol":"p1","bytes":100000,"data":"AAEC","data_cut":true}"#;
    let data = ok(line)[0].data.clone().unwrap();
    assert_eq!(data.bytes(), [0, 1, 2]);
    assert!(data.is_cut());
    assert_eq!(read_and_write_back(line), format!("{line}\n"));
}

#[test]
fn data_that_does_not_hold_the_events_bytes_is_malformed() {
    let line = r#"{"seq":1,"event":"data_received","protocol":"p1","bytes":6,"data":"aGVsbG8="}"#;
    let e = err(line);
    assert_eq!((e.kind, e.line), (ReadErrorKind::Field, Some(1)));
    assert!(
        e.message
            .contains("holds 5 bytes, but \"bytes\" is 6; expected all 6"),
        "{e}"
    );
    assert_eq!(e.column, Some(column_of(line, "\"aGVsbG8=\"")));
    // Cut, it must hold fewer than the event's bytes.
    let line =
        r#"{"seq":1,"event":"write","protocol":"p1","bytes":5,"data":"aGVsbG8=","data_cut":true}"#;
    let e = err(line);
    assert!(e.message.contains("expected fewer than 5"), "{e}");
    // data_cut says something about data: not without it.
    let line = r#"{"seq":1,"event":"write","protocol":"p1","bytes":5,"data_cut":true}"#;
    let e = err(line);
    assert!(e.message.contains("no \"data\""), "{e}");
    assert_eq!(e.column, Some(column_of(line, "true")));
}

#[test]
fn data_must_be_standard_base64_with_padding() {
    for bad in ["aGVsbG8", "aGVs*G8=", "aGVsbG8-", "aGVsbG8_"] {
        let line = format!(
            r#"{{"seq":1,"event":"data_received","protocol":"p1","bytes":5,"data":"{bad}"}}"#
        );
        let e = err(&line);
        assert_eq!((e.kind, e.line), (ReadErrorKind::Field, Some(1)), "{bad}");
        assert!(
            e.message
                .contains("field \"data\": expected standard base64 with padding"),
            "{bad}: {e}"
        );
        assert!(e.column.is_some(), "{e}");
    }
}

#[test]
fn data_over_64_kib_is_malformed_and_64_kib_is_not() {
    let most = Data::new(&vec![0xab; Data::MAX_BYTES]);
    let line = format!(
        r#"{{"seq":1,"event":"data_received","protocol":"p1","bytes":{},"data":"{}"}}"#,
        Data::MAX_BYTES,
        most.to_base64()
    );
    assert_eq!(ok(&line)[0].data.as_ref(), Some(&most));
    // Far under the reader's line limit, with room for the other fields.
    assert!(line.len() < Limits::DEFAULT_MAX_LINE_BYTES / 8);
    let over = Data::from_parts(vec![0; 3], false)
        .unwrap()
        .to_base64()
        .repeat(21846);
    let line = format!(
        r#"{{"seq":1,"event":"data_received","protocol":"p1","bytes":65538,"data":"{over}"}}"#
    );
    let e = err(&line);
    assert_eq!((e.kind, e.line), (ReadErrorKind::Field, Some(1)));
    assert!(e.message.contains("expected at most 65536 bytes"), "{e}");
}

#[test]
fn data_elsewhere_is_checked_but_not_kept() {
    let records = ok(r#"{"seq":1,"event":"connection_made","protocol":"p1","data":"aGk="}"#);
    assert_eq!(records[0].data, None);
    let e = err(r#"{"seq":1,"event":"end","data":"!"}"#);
    assert!(e.message.contains("field \"data\""), "{e}");
}

#[test]
fn the_writer_refuses_data_its_reader_would_refuse() {
    let write = Event::Write {
        protocol: ProtocolId(1),
        bytes: 3,
    };
    let mut writer = TraceWriter::new(Vec::new());
    let record = Record::new(Step::new(1, write)).with_data(b"four");
    let e = writer.write(&record).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("expected exactly 3"), "{e}");
    assert!(writer.into_inner().is_empty());
}

#[test]
fn with_data_cuts_long_content_and_reads_back_cut() {
    let content = vec![b'x'; Data::MAX_BYTES + 10];
    let write = Event::Write {
        protocol: ProtocolId(1),
        bytes: content.len() as u64,
    };
    let record = Record::new(Step::new(1, write)).with_data(&content);
    let text = written(std::slice::from_ref(&record));
    assert!(text.contains("\"data_cut\":true"));
    let back = ok(&text);
    assert_eq!(back[0].data, record.data);
    assert_eq!(
        back[0].data.as_ref().unwrap().bytes().len(),
        Data::MAX_BYTES
    );
}

// ---- caller and site ----

#[test]
fn caller_and_site_are_kept_on_callbacks() {
    let line = r#"{"seq":1,"event":"connection_lost","protocol":"p1","reason":"connection_done","caller":"application","site":"test_x.py:42"}"#;
    let records = ok(line);
    assert_eq!(records[0].step.caller, Some(Caller::Application));
    assert_eq!(records[0].site.as_deref(), Some("test_x.py:42"));
    assert_eq!(
        records[0].step.event,
        Event::ConnectionLost {
            protocol: ProtocolId::from_name("p1"),
            reason: Reason::ConnectionDone
        }
    );
    assert_eq!(read_and_write_back(line), format!("{line}\n"));
}

#[test]
fn any_other_caller_is_malformed() {
    let line = r#"{"seq":1,"event":"data_received","protocol":"p1","bytes":1,"caller":"reactor"}"#;
    let e = err(line);
    assert_eq!((e.kind, e.line), (ReadErrorKind::Field, Some(1)));
    assert!(
        e.message
            .contains("unknown caller \"reactor\"; expected \"application\""),
        "{e}"
    );
}

#[test]
fn caller_and_site_on_actions_are_ignored() {
    let line = r#"{"seq":1,"event":"write","protocol":"p1","bytes":1,"caller":"application","site":"x.py:1"}"#;
    let record = &ok(line)[0];
    assert_eq!((record.step.caller, record.site.as_deref()), (None, None));
}

#[test]
fn a_reader_with_a_name_points_at_the_bad_field() {
    let text = "{\"seq\":1,\"event\":\"end\",\"scope\":\"suite\"}\n";
    let e = TraceReader::new(text.as_bytes())
        .with_name("t.jsonl")
        .next()
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().starts_with("t.jsonl:1:"), "{e}");
}
