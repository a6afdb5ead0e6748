//! `docs/trace-format.md` is the project's description of trace format v1.
//! Every example in it is a trace file, and the line after its opening
//! fence says what it is (`legal`, `prefix`, `illegal RULE at SEQ`,
//! `malformed line N`, `reads`). This test reads each example with
//! `callorder-trace`, judges it with the checker, and checks that it is
//! taken as the doc says, and that every field of every well-formed line is
//! read as the doc's tables say it means.

use std::path::Path;

use callorder::checker::{CheckError, Checker, Profile, Rule};
use callorder::trace::{name_hash, Event, ReadError, Record, TraceReader};
use serde_json::{Map, Value};

/// What the doc says an example is.
#[derive(Clone, Debug, PartialEq)]
enum Verdict {
    /// Well formed, complete, and legal under `strict`.
    Legal,
    /// Well formed and legal so far, with no `end`.
    Prefix,
    /// Well formed; the first event that cannot be legal is `seq`.
    Illegal { rule: String, seq: u64 },
    /// Refused by the reader at this line.
    Malformed { line: u64 },
    /// Well formed; the doc says in words what the checker makes of it.
    Reads,
}

struct Example {
    /// The doc's line of the opening fence, for messages.
    at: usize,
    verdict: Verdict,
    text: String,
}

fn verdict(info: &str, at: usize) -> Verdict {
    let words: Vec<&str> = info.split_whitespace().collect();
    match words.as_slice() {
        ["legal"] => Verdict::Legal,
        ["prefix"] => Verdict::Prefix,
        ["reads"] => Verdict::Reads,
        ["illegal", rule, "at", seq] => Verdict::Illegal {
            rule: (*rule).to_owned(),
            seq: seq.parse().expect("a seq"),
        },
        ["malformed", "line", line] => Verdict::Malformed {
            line: line.parse().expect("a line number"),
        },
        _ => panic!("docs/trace-format.md:{at}: unknown example verdict `{info}`"),
    }
}

/// Every fenced block whose info string starts with `jsonl`.
fn examples(doc: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut open: Option<Example> = None;
    for (n, line) in doc.lines().enumerate() {
        if let Some(ex) = open.as_mut() {
            if line.starts_with("```") {
                out.push(open.take().expect("open"));
            } else {
                ex.text.push_str(line);
                ex.text.push('\n');
            }
        } else if let Some(info) = line.strip_prefix("```jsonl") {
            open = Some(Example {
                at: n + 1,
                verdict: verdict(info, n + 1),
                text: String::new(),
            });
        }
    }
    assert!(open.is_none(), "an example is not closed");
    out
}

fn read(text: &str) -> Result<Vec<Record>, ReadError> {
    TraceReader::new(text.as_bytes()).collect()
}

/// The verdict the reader and the `strict` checker give a file.
fn judge(text: &str) -> Verdict {
    let records = match read(text) {
        Ok(records) => records,
        Err(e) => {
            return Verdict::Malformed {
                line: e.line.unwrap_or(0),
            }
        }
    };
    let mut checker = Checker::new(Profile::Strict);
    for r in &records {
        match checker.step(&r.step) {
            Ok(()) => {}
            Err(CheckError::Violation(v)) => {
                return Verdict::Illegal {
                    rule: v.rule.id().to_owned(),
                    seq: v.seq,
                }
            }
            Err(e) => panic!("not a verdict: {e:?}"),
        }
    }
    if checker.is_complete() {
        Verdict::Legal
    } else {
        Verdict::Prefix
    }
}

/// The fields of the doc's field table, as the reader must have read them
/// from `json`.
fn assert_fields_read(json: &Map<String, Value>, r: &Record, at: &str) {
    let int = |k: &str| json.get(k).and_then(Value::as_u64);
    let text = |k: &str| json.get(k).and_then(Value::as_str);
    let id = |k: &str| text(k).map(name_hash);
    let e = &r.step.event;

    assert_eq!(Some(r.step.seq), int("seq"), "{at}: seq");
    assert_eq!(Some(e.kind().as_str()), text("event"), "{at}: event");
    assert_eq!(r.t, json.get("t").and_then(Value::as_f64), "{at}: t");
    assert_eq!(
        u64::from(r.step.depth),
        int("depth").unwrap_or(0),
        "{at}: depth"
    );
    assert_eq!(r.step.within, int("within"), "{at}: within");
    assert_eq!(r.addr.as_deref(), text("addr"), "{at}: addr");
    assert_eq!(r.detail.as_deref(), text("detail"), "{at}: detail");
    assert_eq!(r.error.as_deref(), text("error"), "{at}: error");
    assert_eq!(r.step.failed, json.contains_key("error"), "{at}: error");
    assert_eq!(
        r.timeout,
        json.get("timeout").and_then(Value::as_f64),
        "{at}: timeout"
    );
    assert_eq!(e.factory().map(|f| f.0), id("factory"), "{at}: factory");
    assert_eq!(
        e.connector().map(|c| c.0),
        id("connector"),
        "{at}: connector"
    );
    assert_eq!(e.port().map(|p| p.0), id("port"), "{at}: port");
    assert_eq!(e.protocol().map(|p| p.0), id("protocol"), "{at}: protocol");
    assert_eq!(
        e.reason().map(|r| r.as_str()),
        text("reason").filter(|_| e.reason().is_some()),
        "{at}: reason"
    );
    match e {
        Event::DataReceived { bytes, .. } | Event::Write { bytes, .. } => {
            assert_eq!(Some(*bytes), int("bytes"), "{at}: bytes");
        }
        Event::RegisterProducer { streaming, .. } => {
            assert_eq!(
                Some(*streaming),
                json.get("streaming").and_then(Value::as_bool),
                "{at}: streaming"
            );
        }
        Event::BuildProtocol { protocol, .. } => {
            // Required, and `null` when no protocol was returned.
            assert!(json.contains_key("protocol"), "{at}: protocol");
            assert_eq!(protocol.is_none(), json["protocol"].is_null(), "{at}");
        }
        _ => {}
    }
}

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/trace-format.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_example_is_judged_as_the_doc_says() {
    let examples = examples(&doc());
    for ex in &examples {
        let at = format!("docs/trace-format.md:{}", ex.at);
        match &ex.verdict {
            Verdict::Reads => assert!(read(&ex.text).is_ok(), "{at}: not well formed"),
            said => assert_eq!(
                &judge(&ex.text),
                said,
                "{at}: not what the doc says\n{}",
                ex.text
            ),
        }
    }
}

#[test]
fn every_field_of_every_well_formed_example_is_read_as_the_doc_says() {
    for ex in examples(&doc()) {
        let Ok(records) = read(&ex.text) else {
            continue;
        };
        for (n, (line, r)) in ex.text.lines().zip(&records).enumerate() {
            let at = format!("docs/trace-format.md:{}", ex.at + 1 + n);
            let json: Map<String, Value> = serde_json::from_str(line).expect("a JSON object");
            assert_fields_read(&json, r, &at);
        }
    }
}

/// What trace format v1 without its extensions says about an event.
fn v1_fields(r: &Record) -> String {
    let e = &r.step.event;
    format!(
        "{} {} {:?} {} {} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
        r.step.seq,
        r.step.depth,
        r.step.within,
        r.step.failed,
        e.kind(),
        e.factory(),
        e.connector(),
        e.port(),
        e.protocol(),
        e.reason(),
        r.t,
        r.addr,
        r.detail,
        r.timeout,
    )
}

#[test]
fn the_optional_extensions_of_v1_are_read_and_leave_the_rest_of_their_line_unchanged() {
    // A reader that does not know a field skips it (today's callorder-trace
    // knows none of these): each line with its extension fields reads as
    // the same line without them does, as far as v1 goes.
    const EXTENSIONS: &[&str] = &["hooks", "scope", "data", "data_cut", "caller", "site"];
    let mut seen: Vec<&str> = Vec::new();
    for ex in examples(&doc()) {
        let Ok(records) = read(&ex.text) else {
            continue;
        };
        let mut bare = String::new();
        for line in ex.text.lines() {
            let mut json: Map<String, Value> = serde_json::from_str(line).expect("JSON");
            for field in EXTENSIONS {
                if json.remove(*field).is_some() && !seen.contains(field) {
                    seen.push(field);
                }
            }
            bare.push_str(&Value::Object(json).to_string());
            bare.push('\n');
        }
        let bare_records = read(&bare).expect("the same trace without extensions");
        let with: Vec<String> = records.iter().map(v1_fields).collect();
        let without: Vec<String> = bare_records.iter().map(v1_fields).collect();
        assert_eq!(with, without, "docs/trace-format.md:{}", ex.at);
    }
    seen.sort_unstable();
    let mut all = EXTENSIONS.to_vec();
    all.sort_unstable();
    assert_eq!(seen, all, "every extension has an example");
}

#[test]
fn the_examples_cover_every_verdict_and_the_rules_they_name_exist() {
    let examples = examples(&doc());
    let has = |f: fn(&Verdict) -> bool| examples.iter().any(|e| f(&e.verdict));
    assert!(has(|v| *v == Verdict::Legal));
    assert!(has(|v| *v == Verdict::Prefix));
    assert!(has(|v| *v == Verdict::Reads));
    assert!(has(|v| matches!(v, Verdict::Illegal { .. })));
    assert!(has(|v| matches!(v, Verdict::Malformed { .. })));
    for ex in &examples {
        if let Verdict::Illegal { rule, .. } = &ex.verdict {
            assert!(
                Rule::from_id(rule).is_some(),
                "docs/trace-format.md:{}: {rule}",
                ex.at
            );
        }
    }
}

#[test]
fn a_doc_example_that_says_the_wrong_thing_is_caught() {
    let doc = "```jsonl legal\n{\"seq\":1,\"event\":\"end\"}\n{\"seq\":2,\"event\":\"end\"}\n```\n";
    let ex = &examples(doc)[0];
    assert_eq!(ex.verdict, Verdict::Legal);
    assert_eq!(
        judge(&ex.text),
        Verdict::Illegal {
            rule: "T-AFTER-END".into(),
            seq: 2
        }
    );
}
