//! A compact way to write traces in tests, so that each test reads as the
//! rule it states.
//!
//! One event per line: `DEPTH EVENT key=value ...`. Values that look like
//! numbers, `true`, `false` or `null` are written as such, anything else as a
//! string; `!error` marks the event as failed (the format's `error` field);
//! `within=N` names the enclosing callback. `seq` is numbered from 1. A line
//! starting with `>` is the one the test expects the violation at.

#![allow(dead_code)]

use callorder_checker::{CheckError, Checker, Profile, Rule, Warning};
use callorder_trace::TraceReader;

/// The trace as JSON Lines, and the seq of the line marked with `>`.
pub fn to_jsonl(script: &str) -> (String, Option<u64>) {
    let mut out = String::new();
    let mut marked = None;
    let mut seq = 0u64;
    for raw in script.lines() {
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        seq += 1;
        if let Some(rest) = line.strip_prefix('>') {
            marked = Some(seq);
            line = rest.trim();
        }
        let mut words = line.split_whitespace();
        let depth: u32 = words
            .next()
            .and_then(|d| d.parse().ok())
            .expect("a depth first");
        let event = words.next().expect("an event name");
        let mut obj = format!("{{\"seq\":{seq},\"depth\":{depth},\"event\":\"{event}\"");
        for word in words {
            if word == "!error" {
                obj.push_str(",\"error\":\"raised in test\"");
                continue;
            }
            let (k, v) = word.split_once('=').expect("key=value");
            let literal = v == "true" || v == "false" || v == "null" || v.parse::<f64>().is_ok();
            if literal {
                obj.push_str(&format!(",\"{k}\":{v}"));
            } else {
                obj.push_str(&format!(",\"{k}\":\"{v}\""));
            }
        }
        obj.push_str("}\n");
        out.push_str(&obj);
    }
    (out, marked)
}

/// Runs the script under `profile`: the warnings, or the seq and rule of the
/// violation.
pub fn run(script: &str, profile: Profile) -> Result<Vec<Warning>, (u64, Rule, String)> {
    let (jsonl, _) = to_jsonl(script);
    let mut checker = Checker::new(profile);
    for record in TraceReader::new(jsonl.as_bytes()) {
        let record = record.expect("test traces are well formed");
        match checker.step(&record.step) {
            Ok(()) => {}
            Err(CheckError::Violation(v)) => return Err((v.seq, v.rule, v.to_string())),
            Err(e) => panic!("{e}"),
        }
    }
    Ok(checker.warnings().to_vec())
}

/// The script breaks `rule` exactly at the line marked `>`, under both
/// profiles.
#[track_caller]
pub fn breaks(rule: Rule, script: &str) {
    for profile in [Profile::Strict, Profile::Twisted] {
        breaks_under(profile, rule, script);
    }
}

/// The script breaks `rule` exactly at the line marked `>` under `profile`.
#[track_caller]
pub fn breaks_under(profile: Profile, rule: Rule, script: &str) {
    let (_, marked) = to_jsonl(script);
    let at = marked.expect("mark the offending line with >");
    match run(script, profile) {
        Ok(w) => panic!(
            "{profile}: expected {rule} at seq {at}, but the trace was accepted (warnings: {w:?})"
        ),
        Err((seq, got, msg)) => {
            assert_eq!(
                (seq, got),
                (at, rule),
                "{profile}: expected {rule} at seq {at}, got: {msg}"
            )
        }
    }
}

/// The script is legal under both profiles, with no warnings.
#[track_caller]
pub fn accepted(script: &str) {
    for profile in [Profile::Strict, Profile::Twisted] {
        accepted_under(profile, script);
    }
}

/// The script is legal under `profile`; returns its warnings.
#[track_caller]
pub fn accepted_under(profile: Profile, script: &str) -> Vec<Warning> {
    match run(script, profile) {
        Ok(w) => w,
        Err((_, _, msg)) => panic!("{profile}: expected the trace to be accepted, got: {msg}"),
    }
}

/// A client connector c1 of factory f1 that connected: p1 is made.
pub const CLIENT_MADE: &str = "
    0 connect_tcp factory=f1 connector=c1
    0 do_start factory=f1 connector=c1
    1 start_factory factory=f1
    0 started_connecting factory=f1 connector=c1
    0 build_protocol factory=f1 connector=c1 protocol=p1
    0 connection_made protocol=p1
";

/// The clean end of CLIENT_MADE.
pub const CLIENT_CLOSED: &str = "
    0 connection_lost protocol=p1 reason=connection_done
    0 client_connection_lost factory=f1 connector=c1 reason=connection_done
    0 do_stop factory=f1 connector=c1
    1 stop_factory factory=f1
";

/// A port l1 of factory f1 that accepted p1.
pub const SERVER_MADE: &str = "
    0 listen_tcp factory=f1 port=l1
    0 do_start factory=f1 port=l1
    1 start_factory factory=f1
    0 build_protocol factory=f1 port=l1 protocol=p1
    0 connection_made protocol=p1
";

/// The clean end of SERVER_MADE.
pub const SERVER_CLOSED: &str = "
    0 connection_lost protocol=p1 reason=connection_done
    0 stop_listening port=l1
    0 do_stop factory=f1 port=l1
    1 stop_factory factory=f1
";

/// Concatenates script fragments.
pub fn trace(parts: &[&str]) -> String {
    parts.join("\n")
}
