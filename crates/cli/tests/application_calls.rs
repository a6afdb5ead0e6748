//! A callback the application made itself (`caller: "application"`, with
//! its `site`) is judged like any other, and `callorder check` says who
//! made the offending call, and where, in its human and JSON output.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A server protocol that Twisted closed, then a test that calls its
/// `connectionLost` again by hand (P-LOST-TWICE at seq 7).
const TRACE: &str = concat!(
    r#"{"seq":1,"event":"listen_tcp","factory":"f1","port":"l1"}"#,
    "\n",
    r#"{"seq":2,"event":"do_start","factory":"f1","port":"l1"}"#,
    "\n",
    r#"{"seq":3,"depth":1,"event":"start_factory","factory":"f1"}"#,
    "\n",
    r#"{"seq":4,"event":"build_protocol","factory":"f1","port":"l1","protocol":"p1"}"#,
    "\n",
    r#"{"seq":5,"event":"connection_made","protocol":"p1"}"#,
    "\n",
    r#"{"seq":6,"event":"connection_lost","protocol":"p1","reason":"connection_done"}"#,
    "\n",
    r#"{"seq":7,"event":"connection_lost","protocol":"p1","reason":"connection_done","caller":"application","site":"test_x.py:42"}"#,
    "\n",
);

fn check(format: &str, trace: &str) -> Output {
    // A file per call: the tests run at once, and two of them check
    // different traces in the same format.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("application_calls_{format}_{call}.jsonl"));
    std::fs::write(&path, trace).unwrap();
    Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(["check", "--format", format, "--color", "never"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("the callorder binary runs")
}

#[test]
fn the_json_violation_says_the_application_made_the_call_and_where() {
    let output = check("json", TRACE);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let violation = &report["violation"];
    assert_eq!(violation["rule"], "P-LOST-TWICE");
    assert_eq!(violation["seq"], 7);
    assert_eq!(violation["caller"], "application");
    assert_eq!(violation["site"], "test_x.py:42");
}

#[test]
fn the_human_output_says_the_application_made_the_call_and_where() {
    let output = check("human", TRACE);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains(
            "caller: the application made this call itself at test_x.py:42, not the reactor"
        ),
        "{text}"
    );
}

#[test]
fn a_call_the_reactor_made_has_no_caller_in_the_report() {
    let reactor_made = TRACE.replace(r#","caller":"application","site":"test_x.py:42""#, "");
    let output = check("json", &reactor_made);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["violation"]["rule"], "P-LOST-TWICE");
    let keys: Vec<&str> = report["violation"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        !keys.contains(&"caller") && !keys.contains(&"site"),
        "{keys:?}"
    );
    let text = String::from_utf8(check("human", &reactor_made).stdout).unwrap();
    assert!(!text.contains("caller:"), "{text}");
}
