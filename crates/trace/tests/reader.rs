//! The reader on small inline traces: one test per way a file can be
//! malformed, and the things that look odd but are well formed.

mod common;

use std::io::{self, BufRead, BufReader, Read};

use callorder_trace::{
    ConnectorId, Event, EventKind, FactoryId, Holder, PortId, ProtocolId, ReadError, ReadErrorKind,
    Reason, Record, TraceReader,
};
use common::{first_error, read_all};
use serde_json::{json, Value};

fn ok(text: &str) -> Vec<Record> {
    read_all(text.as_bytes()).unwrap_or_else(|e| panic!("refused: {e}\n{}", shorten(text)))
}

fn err(text: &str) -> ReadError {
    first_error(text.as_bytes()).unwrap_or_else(|| panic!("accepted:\n{}", shorten(text)))
}

fn shorten(text: &str) -> &str {
    text.get(..400).unwrap_or(text)
}

/// A trace whose lines are `lines` with `seq` filled in.
fn trace(lines: &[&str]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("{{\"seq\":{},{}\n", i + 1, &line[1..]))
        .collect()
}

fn assert_err(e: &ReadError, kind: ReadErrorKind, line: Option<u64>, message: &str) {
    assert_eq!((e.kind, e.line), (kind, line), "{e}");
    assert!(
        e.message.contains(message),
        "{:?} does not contain {message:?}",
        e.message
    );
}

const END: &str = r#"{"event":"end"}"#;

// ---- file-level shape ----

#[test]
fn an_empty_file_is_malformed_with_no_line() {
    let e = err("");
    assert_err(&e, ReadErrorKind::Empty, None, "empty");
    assert_eq!(
        (e.column, e.to_string().as_str()),
        (None, "the file is empty; expected at least one event")
    );
}

#[test]
fn a_lone_newline_is_a_blank_line() {
    assert_err(&err("\n"), ReadErrorKind::BlankLine, Some(1), "blank line");
}

#[test]
fn one_final_newline_is_allowed_but_not_two() {
    let text = trace(&[END]);
    assert_eq!(ok(&text).len(), 1);
    assert_err(
        &err(&format!("{text}\n")),
        ReadErrorKind::BlankLine,
        Some(2),
        "blank line",
    );
}

#[test]
fn a_blank_line_in_the_middle_is_malformed() {
    let text = "{\"seq\":1,\"event\":\"shutdown\"}\n\n{\"seq\":2,\"event\":\"end\"}\n";
    assert_err(&err(text), ReadErrorKind::BlankLine, Some(2), "blank line");
    let spaces = "{\"seq\":1,\"event\":\"shutdown\"}\n \t \n";
    assert_err(
        &err(spaces),
        ReadErrorKind::BlankLine,
        Some(2),
        "blank line",
    );
}

#[test]
fn a_complete_last_line_needs_no_newline() {
    let records = ok("{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":2,\"event\":\"end\"}");
    assert_eq!(records[1].step.event, Event::End);
}

#[test]
fn a_last_line_cut_short_is_malformed() {
    let e = err("{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":2,\"ev");
    assert_err(
        &e,
        ReadErrorKind::Truncated,
        Some(2),
        "last line is cut short",
    );
    let e = err("{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":2,\"event\":\"end\"");
    assert_err(
        &e,
        ReadErrorKind::Truncated,
        Some(2),
        "last line is cut short",
    );
}

#[test]
fn a_line_that_ends_inside_its_object_is_malformed() {
    let e = err("{\"seq\":1,\"event\":\"shut\n{\"seq\":2,\"event\":\"end\"}\n");
    assert_err(
        &e,
        ReadErrorKind::Truncated,
        Some(1),
        "ends inside its JSON object",
    );
}

#[test]
fn crlf_line_ends_are_accepted() {
    // JSON Lines allows them: `\r` is JSON whitespace.
    let records = ok("{\"seq\":1,\"event\":\"shutdown\"}\r\n{\"seq\":2,\"event\":\"end\"}\r\n");
    assert_eq!(records.len(), 2);
}

// ---- encoding ----

#[test]
fn a_byte_order_mark_is_malformed() {
    let e = err("\u{feff}{\"seq\":1,\"event\":\"end\"}\n");
    assert_err(&e, ReadErrorKind::Encoding, Some(1), "byte-order mark");
    assert_eq!(e.column, Some(1));
}

#[test]
fn invalid_utf8_is_malformed_at_its_byte() {
    let mut bytes = trace(&[r#"{"event":"shutdown"}"#]).into_bytes();
    bytes.extend_from_slice(b"{\"seq\":2,\"event\":\"end\",\"detail\":\"\xff\"}\n");
    let e = first_error(&bytes).unwrap();
    assert_err(
        &e,
        ReadErrorKind::Encoding,
        Some(2),
        "expected UTF-8, found byte 0xff",
    );
    assert_eq!(e.column, Some(34));
}

#[test]
fn a_nul_byte_is_malformed_even_inside_a_string() {
    let e = err("{\"seq\":1,\"event\":\"end\",\"detail\":\"a\0b\"}\n");
    assert_err(&e, ReadErrorKind::Encoding, Some(1), "NUL byte");
    assert_eq!(e.column, Some(35));
    // Escaped, it is just a character of the string.
    let records = ok("{\"seq\":1,\"event\":\"end\",\"detail\":\"a\\u0000b\"}\n");
    assert_eq!(records[0].detail.as_deref(), Some("a\0b"));
}

// ---- JSON ----

#[test]
fn a_line_must_be_one_json_object() {
    for (line, message) in [
        (
            "[{\"seq\":1,\"event\":\"end\"}]",
            "expected a JSON object, found `[`",
        ),
        ("\"end\"", "expected a JSON object, found `\"`"),
        ("42", "expected a JSON object, found `4`"),
        ("null", "expected a JSON object, found `n`"),
        ("seq=1 event=end", "expected a JSON object, found `s`"),
        (
            "{\"seq\":1,\"event\":\"end\"} x",
            "invalid JSON: trailing characters",
        ),
        (
            "{\"seq\":1,\"event\":\"end\"}{\"seq\":2,\"event\":\"end\"}",
            "trailing characters",
        ),
        ("{\"seq\":1,\"event\":\"end\",}", "invalid JSON"),
        ("{\"seq\":1 \"event\":\"end\"}", "invalid JSON"),
        ("{seq:1}", "invalid JSON"),
    ] {
        let e = err(&format!("{line}\n"));
        assert_err(&e, ReadErrorKind::Json, Some(1), message);
    }
}

#[test]
fn json_errors_point_at_their_column() {
    let e = err("{\"seq\":1,\"event\":\"end\"} x\n");
    assert_eq!(e.column, Some(25));
    let e = err("  [1]\n");
    assert_eq!(e.column, Some(3));
}

#[test]
fn deep_nesting_in_an_unknown_field_is_an_error_not_a_stack_overflow() {
    let depth = 100_000;
    let line = format!(
        "{{\"seq\":1,\"event\":\"end\",\"x\":{}{}}}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_err(&err(&line), ReadErrorKind::Json, Some(1), "recursion limit");
    let line = format!(
        "{{\"seq\":1,\"event\":\"end\",\"x\":{}\n",
        "{\"a\":".repeat(depth)
    );
    let e = err(&line);
    assert_eq!((e.kind, e.line), (ReadErrorKind::Json, Some(1)), "{e}");
    // Modest nesting is fine.
    let line = format!(
        "{{\"seq\":1,\"event\":\"end\",\"x\":{}{}}}\n",
        "[".repeat(50),
        "]".repeat(50)
    );
    ok(&line);
}

// ---- fields ----

#[test]
fn seq_and_event_are_required_on_every_line() {
    let e = err("{\"event\":\"end\"}\n");
    assert_err(&e, ReadErrorKind::Field, Some(1), "expected field \"seq\"");
    assert_eq!(e.column, Some(1));
    let e = err("{\"seq\":1}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "expected field \"event\"",
    );
    let e = err("{\"seq\":1,\"event\":null}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "expected field \"event\"",
    );
}

/// Each event with its required fields, as in the format's tables.
fn complete_events() -> Vec<(EventKind, Value)> {
    let f = || json!("f1");
    let c = || json!("c1");
    let l = || json!("l1");
    let p = || json!("p1");
    let cases = [
        ("connect_tcp", json!({"factory": f(), "connector": c()})),
        ("listen_tcp", json!({"factory": f(), "port": l()})),
        ("do_start", json!({"factory": f()})),
        ("start_factory", json!({"factory": f()})),
        (
            "started_connecting",
            json!({"factory": f(), "connector": c()}),
        ),
        (
            "build_protocol",
            json!({"factory": f(), "connector": c(), "protocol": p()}),
        ),
        (
            "client_connection_failed",
            json!({"factory": f(), "connector": c(), "reason": "timeout"}),
        ),
        (
            "client_connection_lost",
            json!({"factory": f(), "connector": c(), "reason": "other"}),
        ),
        ("do_stop", json!({"factory": f()})),
        ("stop_factory", json!({"factory": f()})),
        ("connection_made", json!({"protocol": p()})),
        ("data_received", json!({"protocol": p(), "bytes": 3})),
        ("read_connection_lost", json!({"protocol": p()})),
        ("write_connection_lost", json!({"protocol": p()})),
        (
            "connection_lost",
            json!({"protocol": p(), "reason": "connection_done"}),
        ),
        ("pause_producing", json!({"protocol": p()})),
        ("resume_producing", json!({"protocol": p()})),
        ("stop_producing", json!({"protocol": p()})),
        ("connect", json!({"connector": c()})),
        ("stop_connecting", json!({"connector": c()})),
        ("disconnect", json!({"connector": c()})),
        ("write", json!({"protocol": p(), "bytes": 0})),
        ("lose_connection", json!({"protocol": p()})),
        ("lose_write_connection", json!({"protocol": p()})),
        ("abort_connection", json!({"protocol": p()})),
        (
            "register_producer",
            json!({"protocol": p(), "streaming": true}),
        ),
        ("unregister_producer", json!({"protocol": p()})),
        ("stop_listening", json!({"port": l()})),
        ("pause_reading", json!({"protocol": p()})),
        ("resume_reading", json!({"protocol": p()})),
        ("shutdown", json!({})),
        ("end", json!({})),
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .map(|(name, mut fields)| {
            fields["seq"] = json!(1);
            fields["event"] = json!(name);
            (name.parse().unwrap(), fields)
        })
        .collect();
    assert_eq!(cases.len(), EventKind::ALL.len());
    cases
}

fn line_of(value: &Value) -> String {
    format!("{value}\n")
}

#[test]
fn every_event_reads_with_exactly_its_required_fields() {
    for (kind, fields) in complete_events() {
        let record = &ok(&line_of(&fields))[0];
        assert_eq!(record.step.event.kind(), kind);
    }
}

#[test]
fn every_required_field_is_required() {
    for (kind, fields) in complete_events() {
        for key in fields.as_object().unwrap().keys() {
            if key == "seq" || key == "event" {
                continue;
            }
            for absent in [None, Some(Value::Null)] {
                let mut line = fields.clone();
                match &absent {
                    None => drop(line.as_object_mut().unwrap().remove(key)),
                    Some(null) => line[key] = null.clone(),
                }
                if kind == EventKind::BuildProtocol && key == "protocol" && absent.is_some() {
                    continue; // null is a value here; see its own test
                }
                let e = err(&line_of(&line));
                let expected = match (kind, key.as_str()) {
                    (EventKind::BuildProtocol, "connector") => {
                        "expected field \"connector\" or \"port\" on build_protocol".to_owned()
                    }
                    _ => format!("expected field \"{key}\" on {kind}"),
                };
                assert_err(&e, ReadErrorKind::Field, Some(1), &expected);
            }
        }
    }
}

#[test]
fn build_protocol_may_return_no_protocol_but_must_say_so() {
    let line = r#"{"seq":1,"event":"build_protocol","factory":"f1","port":"l1","protocol":null}"#;
    let records = ok(line);
    assert_eq!(
        records[0].step.event,
        Event::BuildProtocol {
            factory: FactoryId::from_name("f1"),
            holder: Holder::Port(PortId::from_name("l1")),
            protocol: None,
        }
    );
    let line = r#"{"seq":1,"event":"build_protocol","factory":"f1","port":"l1"}"#;
    assert_err(
        &err(line),
        ReadErrorKind::Field,
        Some(1),
        "expected field \"protocol\" on build_protocol",
    );
}

#[test]
fn a_holder_is_a_connector_or_a_port_not_both() {
    let both = r#"{"seq":1,"event":"build_protocol","factory":"f1","connector":"c1","port":"l1","protocol":"p1"}"#;
    let e = err(both);
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "expected one of \"connector\" or \"port\" on build_protocol, found both",
    );
    assert_eq!(
        e.column,
        Some(u64::try_from(both.find("\"l1\"").unwrap()).unwrap() + 1)
    );
    for kind in ["do_start", "do_stop"] {
        let both =
            format!(r#"{{"seq":1,"event":"{kind}","factory":"f1","connector":"c1","port":"l1"}}"#);
        assert_err(&err(&both), ReadErrorKind::Field, Some(1), "found both");
    }
    let records = ok(&trace(&[
        r#"{"event":"do_start","factory":"f1"}"#,
        r#"{"event":"do_start","factory":"f1","connector":"c1"}"#,
        r#"{"event":"do_stop","factory":"f1","port":"l1"}"#,
        r#"{"event":"do_stop","factory":"f1","port":null,"connector":"c1"}"#,
    ]));
    let holders: Vec<_> = records
        .iter()
        .map(|r| match r.step.event {
            Event::DoStart { holder, .. } | Event::DoStop { holder, .. } => holder,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        holders,
        [
            None,
            Some(Holder::Connector(ConnectorId::from_name("c1"))),
            Some(Holder::Port(PortId::from_name("l1"))),
            Some(Holder::Connector(ConnectorId::from_name("c1"))),
        ]
    );
}

#[test]
fn every_known_field_is_type_checked_even_where_unused() {
    for (field, value, expected) in [
        ("seq", json!("1"), "expected a non-negative integer"),
        (
            "seq",
            json!(1.0),
            "invalid type: floating point `1.0`, expected a non-negative integer",
        ),
        ("t", json!("0.5"), "expected a number"),
        ("t", json!(true), "expected a number"),
        (
            "depth",
            json!(-1),
            "invalid value: integer `-1`, expected a non-negative integer",
        ),
        ("depth", json!(1.5), "expected a non-negative integer"),
        ("within", json!("3"), "expected a non-negative integer"),
        ("within", json!(1e3), "expected a non-negative integer"),
        ("factory", json!(1), "expected an id (a string)"),
        ("connector", json!(["c1"]), "expected an id (a string)"),
        ("port", json!({"l": 1}), "expected an id (a string)"),
        ("protocol", json!(7), "expected an id (a string)"),
        ("addr", json!(8000), "expected a string"),
        ("reason", json!(1), "expected a reason of trace format v1"),
        ("detail", json!(["x"]), "expected a string"),
        ("bytes", json!("11"), "expected a non-negative integer"),
        ("bytes", json!(-3), "expected a non-negative integer"),
        ("error", json!(false), "expected a string"),
        ("timeout", json!("30"), "expected a number"),
        ("streaming", json!(1), "expected true or false"),
        ("streaming", json!("true"), "expected true or false"),
        ("hooks", json!("false"), "expected true or false"),
        ("scope", json!(1), "expected a scope of trace format v1"),
        ("data", json!(5), "expected standard base64 (a string)"),
        ("data_cut", json!(1), "expected true or false"),
        (
            "caller",
            json!(true),
            "expected a caller of trace format v1",
        ),
        ("site", json!(42), "expected a string"),
    ] {
        let mut line = json!({"seq": 1, "event": "end"});
        line[field] = value;
        let e = err(&line_of(&line));
        assert_err(
            &e,
            ReadErrorKind::Field,
            Some(1),
            &format!("field \"{field}\": "),
        );
        assert!(e.message.contains(expected), "{field}: {e}");
        assert!(e.column.unwrap() > 1, "{e}");
    }
    let e = err("{\"seq\":1,\"event\":42}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "field \"event\": invalid type: integer `42`",
    );
}

#[test]
fn numbers_out_of_range_are_malformed() {
    let e = err("{\"seq\":18446744073709551616,\"event\":\"end\"}\n");
    assert_err(&e, ReadErrorKind::Field, Some(1), "field \"seq\"");
    let e = err("{\"seq\":1,\"depth\":4294967296,\"event\":\"end\"}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "field \"depth\": expected at most 4294967295",
    );
    assert_eq!(e.column, Some(18));
    let e = err("{\"seq\":1,\"t\":1e400,\"event\":\"end\"}\n");
    assert_eq!((e.kind, e.line), (ReadErrorKind::Json, Some(1)), "{e}");
    assert!(e.message.contains("\"t\""), "{e}");
    let max_depth = ok("{\"seq\":1,\"depth\":4294967295,\"event\":\"end\"}\n");
    assert_eq!(max_depth[0].step.depth, u32::MAX);
}

#[test]
fn a_known_field_given_twice_is_malformed() {
    let e = err("{\"seq\":1,\"event\":\"end\",\"seq\":1}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "field \"seq\": given twice",
    );
    // Unknown fields are not looked at, even repeated.
    ok("{\"seq\":1,\"event\":\"end\",\"x\":1,\"x\":2}\n");
}

#[test]
fn unknown_events_and_reasons_are_malformed() {
    let e = err("{\"seq\":1,\"event\":\"connection_exploded\"}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "unknown event \"connection_exploded\"",
    );
    let e = err("{\"seq\":1,\"event\":\"End\"}\n");
    assert_err(&e, ReadErrorKind::Field, Some(1), "unknown event \"End\"");
    let line = r#"{"seq":1,"event":"connection_lost","protocol":"p1","reason":"cosmic_rays"}"#;
    assert_err(
        &err(line),
        ReadErrorKind::Field,
        Some(1),
        "unknown reason \"cosmic_rays\"",
    );
    // A reason is checked wherever it appears.
    let e = err("{\"seq\":1,\"event\":\"end\",\"reason\":\"nope\"}\n");
    assert_err(&e, ReadErrorKind::Field, Some(1), "unknown reason \"nope\"");
}

#[test]
fn reasons_that_do_not_fit_the_event_are_for_the_checker() {
    let line =
        r#"{"seq":1,"event":"connection_lost","protocol":"p1","reason":"connection_refused"}"#;
    assert_eq!(
        ok(line)[0].step.event.reason(),
        Some(Reason::ConnectionRefused)
    );
    let line = r#"{"seq":1,"event":"data_received","protocol":"p1","bytes":0}"#;
    assert!(matches!(
        ok(line)[0].step.event,
        Event::DataReceived { bytes: 0, .. }
    ));
}

#[test]
fn null_is_the_same_as_missing() {
    let line = r#"{"seq":1,"t":null,"depth":null,"within":null,"event":"end","addr":null,"detail":null,"error":null,"timeout":null,"factory":null,"bytes":null,"streaming":null,"reason":null}"#;
    let record = &ok(line)[0];
    assert_eq!(
        record,
        &Record::new(callorder_trace::Step::new(1, Event::End))
    );
    let line = r#"{"seq":1,"event":"connection_made","protocol":null}"#;
    assert_err(
        &err(line),
        ReadErrorKind::Field,
        Some(1),
        "expected field \"protocol\" on connection_made",
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let line = r#"{"seq":1,"event":"write","protocol":"p1","bytes":5,"payload":"aGVsbG8=","meta":{"a":[1,2,{"b":null}],"c":1.5e3},"v":2,"seq2":"x"}"#;
    let record = &ok(line)[0];
    assert_eq!(
        record.step.event,
        Event::Write {
            protocol: ProtocolId::from_name("p1"),
            bytes: 5
        }
    );
}

#[test]
fn fields_an_event_does_not_use_are_ignored() {
    let line = r#"{"seq":1,"event":"connection_made","protocol":"p1","factory":"f1","connector":"c1","bytes":3,"streaming":false,"reason":"other"}"#;
    assert_eq!(
        ok(line)[0].step.event,
        Event::ConnectionMade {
            protocol: ProtocolId::from_name("p1")
        }
    );
}

#[test]
fn escaped_strings_work_in_ids_and_text() {
    let line = r#"{"seq":1,"event":"connect_tcp","factory":"f\u0031","connector":"c\"1\"","addr":"h\u00e9:1","detail":"a\nb\t\\","error":"\ud83d\ude00"}"#;
    let record = &ok(line)[0];
    assert_eq!(
        record.step.event,
        Event::ConnectTcp {
            factory: FactoryId::from_name("f1"),
            connector: ConnectorId::from_name("c\"1\""),
        }
    );
    assert_eq!(record.addr.as_deref(), Some("hé:1"));
    assert_eq!(record.detail.as_deref(), Some("a\nb\t\\"));
    assert_eq!(record.error.as_deref(), Some("😀"));
    assert!(record.step.failed);
    // Escaped keys are keys like any other.
    let line = r#"{"s\u0065q":1,"event":"end"}"#;
    assert_eq!(ok(line).len(), 1);
}

#[test]
fn error_marks_the_step_failed() {
    let records = ok(&trace(&[
        r#"{"event":"shutdown","error":""}"#,
        r#"{"event":"end","error":null}"#,
    ]));
    assert!(records[0].step.failed);
    assert_eq!(records[0].error.as_deref(), Some(""));
    assert!(!records[1].step.failed);
}

#[test]
fn optional_fields_are_kept() {
    let line = r#"{"seq":1,"t":0.25,"depth":2,"within":7,"event":"connect_tcp","factory":"f1","connector":"c1","addr":"127.0.0.1:80","timeout":30,"detail":"d"}"#;
    let record = &ok(line)[0];
    assert_eq!(record.t, Some(0.25));
    assert_eq!((record.step.depth, record.step.within), (2, Some(7)));
    assert_eq!(record.timeout, Some(30.0));
    assert_eq!(record.addr.as_deref(), Some("127.0.0.1:80"));
    assert_eq!(record.detail.as_deref(), Some("d"));
    assert!(!record.step.failed);
}

// ---- sequence ----

#[test]
fn seq_starts_at_one_and_rises_by_one() {
    let e = err("{\"seq\":0,\"event\":\"end\"}\n");
    assert_err(
        &e,
        ReadErrorKind::Sequence,
        Some(1),
        "expected seq 1, found 0",
    );
    assert_eq!(e.column, Some(8));
    let e = err("{\"seq\":2,\"event\":\"end\"}\n");
    assert_err(
        &e,
        ReadErrorKind::Sequence,
        Some(1),
        "expected seq 1, found 2",
    );
    let gap = "{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":3,\"event\":\"end\"}\n";
    assert_err(
        &err(gap),
        ReadErrorKind::Sequence,
        Some(2),
        "expected seq 2, found 3",
    );
    let repeat = "{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":1,\"event\":\"end\"}\n";
    assert_err(
        &err(repeat),
        ReadErrorKind::Sequence,
        Some(2),
        "expected seq 2, found 1",
    );
}

#[test]
fn t_never_decreases() {
    let records = ok(&trace(&[
        r#"{"t":0.5,"event":"shutdown"}"#,
        r#"{"event":"shutdown"}"#,
        r#"{"t":0.5,"event":"shutdown"}"#,
        r#"{"t":2,"event":"end"}"#,
    ]));
    assert_eq!(records[3].t, Some(2.0));
    let text = trace(&[
        r#"{"t":0.5,"event":"shutdown"}"#,
        r#"{"event":"shutdown"}"#,
        r#"{"t":0.25,"event":"end"}"#,
    ]);
    let e = err(&text);
    assert_err(
        &e,
        ReadErrorKind::Sequence,
        Some(3),
        "\"t\" decreases: expected at least 0.5, found 0.25",
    );
    assert_eq!(e.column, Some(14));
    let e = err("{\"seq\":1,\"t\":-0.1,\"event\":\"end\"}\n");
    assert_err(
        &e,
        ReadErrorKind::Field,
        Some(1),
        "expected a non-negative \"t\", found -0.1",
    );
}

// ---- the reader itself ----

#[test]
fn after_an_error_the_reader_stops() {
    let text = "{\"seq\":1,\"event\":\"shutdown\"}\nnonsense\n{\"seq\":3,\"event\":\"end\"}\n";
    let mut reader = TraceReader::new(text.as_bytes());
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().unwrap().is_err());
    assert_eq!(reader.current_line(), "nonsense");
    assert!(reader.next().is_none());
    assert!(reader.next().is_none());
    assert_eq!(reader.line_number(), 2);
}

#[test]
fn current_line_survives_the_end_of_input() {
    let mut reader = TraceReader::new(&b"{\"seq\":1,\"event\":\"end\"}\r\n"[..]);
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().is_none());
    assert_eq!(reader.current_line(), "{\"seq\":1,\"event\":\"end\"}");
    assert_eq!(reader.line_number(), 1);
}

#[test]
fn errors_display_file_line_and_column() {
    let text = "{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":3,\"event\":\"end\"}\n";
    let e = TraceReader::new(text.as_bytes())
        .with_name("a/b.jsonl")
        .find_map(Result::err)
        .unwrap();
    assert_eq!(e.to_string(), "a/b.jsonl:2:8: expected seq 2, found 3");
    let e = err(text);
    assert_eq!(e.to_string(), "2:8: expected seq 2, found 3");
    let e = err("\n");
    assert_eq!(e.column, Some(1));
    assert!(e.to_string().starts_with("1:1: blank line"), "{e}");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().contains("blank line"));
}

#[test]
fn a_directory_is_an_io_error() {
    let dir = std::env::temp_dir();
    let file = std::fs::File::open(&dir).expect("directories open on unix");
    let e = TraceReader::new(BufReader::new(file))
        .with_name("tmp")
        .find_map(Result::err)
        .unwrap();
    assert_eq!(
        (e.kind, e.line, e.column),
        (ReadErrorKind::Io, None, None),
        "{e}"
    );
    assert!(
        e.to_string().starts_with("tmp: cannot read the trace: "),
        "{e}"
    );
}

/// Gives its bytes, then fails.
struct FailsAfter<'a>(&'a [u8]);

impl Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_mid_file_is_an_io_error() {
    let source = FailsAfter(b"{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":2,");
    let mut reader = TraceReader::new(BufReader::with_capacity(16, source));
    assert!(reader.next().unwrap().is_ok());
    let e = reader.next().unwrap().unwrap_err();
    assert_eq!((e.kind, e.line), (ReadErrorKind::Io, None));
    assert!(e.message.contains("disk on fire"), "{e}");
    assert!(reader.next().is_none());
}

/// Fails with `Interrupted` before every successful read.
struct Interrupting<'a> {
    data: &'a [u8],
    interrupt: bool,
}

impl Read for Interrupting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = buf.len().min(self.data.len()).min(3);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn interrupted_reads_are_retried() {
    let data = trace(&[r#"{"event":"shutdown"}"#, END]);
    let source = Interrupting {
        data: data.as_bytes(),
        interrupt: false,
    };
    let reader: Box<dyn BufRead> = Box::new(BufReader::with_capacity(4, source));
    let records: Result<Vec<_>, _> = TraceReader::new(reader).collect();
    assert_eq!(records.unwrap().len(), 2);
    let empty = Interrupting {
        data: b"",
        interrupt: false,
    };
    let e = TraceReader::new(BufReader::new(empty))
        .find_map(Result::err)
        .unwrap();
    assert_eq!(e.kind, ReadErrorKind::Empty);
}
