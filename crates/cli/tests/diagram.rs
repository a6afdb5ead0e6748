//! `callorder diagram` draws what the trace says: the objects as columns in
//! the documented order, one arrow per event in trace order from caller to
//! callee, nesting, the violation marked, and the filters that keep a long
//! trace readable. The seed's two fixtures are golden files (the README
//! shows them).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

use callorder_checker::Profile;
use callorder_cli::diagram::{svg, text, Diagram, Options};
use callorder_cli::human::plain;
use callorder_cli::run::run_script_file;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const ILLEGAL: &str =
    "fixtures/twisted/illegal/client_echo_client_closes__data_received_after_connection_lost.jsonl";

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap()
}

fn callorder(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("the callorder binary runs");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
    output
}

fn seed_trace(script: &str) -> String {
    let run = run_script_file(
        &repo().join("fixtures/scripts").join(script),
        Profile::Strict,
    );
    run.trace.expect("the seed fixture runs")
}

#[test]
fn the_seed_fixtures_draw_as_their_golden_diagrams() {
    for (name, script) in [
        ("seed_success", "seed_success.script"),
        ("seed_failure", "seed_failure.script"),
    ] {
        let trace = seed_trace(script);
        let drawn = plain(&text::render(&Diagram::new(
            script,
            &trace,
            &Options::default(),
        )));
        insta::assert_snapshot!(format!("diagram_{name}"), drawn);
    }
}

#[test]
fn columns_follow_the_documented_order_and_arrows_go_caller_to_callee() {
    let d = Diagram::new(
        "t",
        &read(ILLEGAL),
        &Options {
            collapse: false,
            ..Options::default()
        },
    );
    let keys: Vec<&str> = d.columns.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "app",
            "reactor",
            "c1",
            "l1",
            "f1",
            "f2",
            "transport p1",
            "p1",
            "transport p2",
            "p2"
        ]
    );
    let col = |key: &str| keys.iter().position(|k| *k == key).unwrap();
    // One row per event, in trace order.
    let seqs: Vec<u64> = d.rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=27).collect::<Vec<_>>());
    let row = |seq: u64| &d.rows[seq as usize - 1];
    // listen_tcp: the application calls the reactor.
    assert_eq!((row(1).from, row(1).to), (col("app"), col("reactor")));
    // do_start: the port calls its factory; start_factory: the factory itself, nested.
    assert_eq!((row(2).from, row(2).to), (col("l1"), col("f1")));
    assert_eq!(
        (row(3).from, row(3).to, row(3).depth),
        (col("f1"), col("f1"), 1)
    );
    // connection_made: the transport calls its protocol; the protocol's
    // write inside it goes back to the transport.
    assert_eq!((row(11).from, row(11).to), (col("transport p2"), col("p2")));
    assert_eq!(
        (row(12).from, row(12).to, row(12).depth),
        (col("p2"), col("transport p2"), 1)
    );
    // Only the violation is marked.
    let marked: Vec<u64> = d
        .rows
        .iter()
        .filter(|r| r.violation)
        .map(|r| r.seq)
        .collect();
    assert_eq!(marked, [22]);
    assert!(d.rows.last().unwrap().marker, "end is a marker across");
}

#[test]
fn runs_of_data_received_and_write_collapse_but_never_the_violation() {
    let trace = seed_trace("seed_success.script");
    let full = Diagram::new(
        "t",
        &trace,
        &Options {
            collapse: false,
            ..Options::default()
        },
    );
    let short = Diagram::new("t", &trace, &Options::default());
    let collapsed: Vec<_> = short.rows.iter().filter(|r| r.last_seq != r.seq).collect();
    assert_eq!(collapsed.len(), 1);
    assert_eq!((collapsed[0].seq, collapsed[0].last_seq), (7, 11));
    assert_eq!(collapsed[0].label, "data_received x3, write x2");
    assert_eq!(short.rows.len(), full.rows.len() - 4);
    // In the illegal trace the data_received at seq 22 is the violation: it
    // stays a row of its own.
    let d = Diagram::new("t", &read(ILLEGAL), &Options::default());
    assert!(d
        .rows
        .iter()
        .any(|r| r.seq == 22 && r.last_seq == 22 && r.violation));
}

#[test]
fn object_and_around_keep_part_of_a_long_trace() {
    let trace = read(ILLEGAL);
    let one = Diagram::new(
        "t",
        &trace,
        &Options {
            object: Some("p1".into()),
            ..Options::default()
        },
    );
    let keys: Vec<&str> = one.columns.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["app", "reactor", "transport p1", "p1"]);
    let seqs: Vec<u64> = one.rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [9, 13, 14, 21, 22, 27]);
    let window = Diagram::new(
        "t",
        &trace,
        &Options {
            around: Some(22),
            context: 2,
            ..Options::default()
        },
    );
    let seqs: Vec<u64> = window.rows.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [20, 21, 22, 23, 24]);
    assert!(window
        .notes
        .iter()
        .any(|n| n.starts_with("--around 22: seq 20 to 24")));
}

#[test]
fn the_terminal_diagram_marks_the_violation_and_says_it() {
    let output = callorder(&["diagram", ILLEGAL]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "the exit code is the verdict's"
    );
    let drawn = String::from_utf8_lossy(&output.stdout);
    let line = drawn
        .lines()
        .find(|l| l.starts_with("!! 22"))
        .unwrap_or_else(|| panic!("{drawn}"));
    assert!(
        line.contains("|=") && line.contains(">|"),
        "an arrow of = : {line}"
    );
    assert!(
        line.ends_with("<== seq 22: P-AFTER-LOST: data_received after connection_lost"),
        "{line}"
    );
    let output = callorder(&[
        "diagram",
        "--object",
        "p1",
        "--around",
        "22",
        "--context",
        "1",
        ILLEGAL,
    ]);
    let drawn = String::from_utf8_lossy(&output.stdout);
    assert!(
        drawn.contains("| protocol p1 |") && !drawn.contains("protocol p2"),
        "{drawn}"
    );
}

#[test]
fn html_is_self_contained() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diagram-html");
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join("d.html");
    let output = callorder(&["diagram", "--html", file.to_str().unwrap(), ILLEGAL]);
    assert_eq!(output.status.code(), Some(1));
    let page = fs::read_to_string(&file).unwrap();
    assert_eq!(
        page,
        svg::html(&Diagram::new(ILLEGAL, &read(ILLEGAL), &Options::default()))
    );
    // Nothing to fetch: no scripts, links, images or URLs but the SVG namespace.
    for needle in ["<script", "<link", "<img", "url(http", "@import", "https:"] {
        assert!(!page.contains(needle), "{needle}");
    }
    assert_eq!(page.matches("http://").count(), 1, "only xmlns");
    assert!(page.contains("class=\"violation\" data-seq=\"22\""));
}

#[test]
fn check_writes_a_diagram_per_failing_trace_and_github_annotations() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("check-diagrams");
    let _ = fs::remove_dir_all(&dir);
    let legal = "fixtures/twisted/legal/client_echo_client_closes.jsonl";
    let malformed = "fixtures/twisted/malformed/client_echo_client_closes__not_json.jsonl";
    let output = callorder(&[
        "check",
        "--format",
        "github",
        "--diagrams",
        dir.to_str().unwrap(),
        legal,
        ILLEGAL,
        malformed,
    ]);
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "none for the legal trace: {text}");
    assert_eq!(
        lines[0],
        format!("::error file={ILLEGAL},line=22,title=callorder P-AFTER-LOST::P-AFTER-LOST: data_received after connection_lost")
    );
    assert!(
        lines[1].starts_with(&format!("::error file={malformed},line=13,col=")),
        "{}",
        lines[1]
    );
    let written: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        written.len(),
        4,
        "html and text of the two failing ones: {written:?}"
    );
}

#[test]
fn a_hostile_trace_draws_what_it_can_without_blowing_up() {
    let trace = concat!(
        "{\"seq\":1,\"event\":\"listen_tcp\",\"factory\":\"f1\",\"port\":\"l1\"}\n",
        "{\"seq\":2,\"depth\":18446744073709551615,\"event\":\"do_start\",\"factory\":\"f1\",\"port\":\"l1\"}\n",
        "{\"seq\":3,\"event\":\"no_such_event\"}\n",
        "not json\n",
    );
    let d = Diagram::new("t", trace, &Options::default());
    assert_eq!(d.rows.len(), 2, "drawn up to the unknown event");
    assert_eq!(d.rows[1].depth, callorder_cli::diagram::MAX_DEPTH);
    assert!(d
        .notes
        .iter()
        .any(|n| n == "line 3 is not an event of trace format v1: drawn up to it"));
    let drawn = text::render(&d);
    assert!(drawn.len() < 10_000, "{} bytes", drawn.len());
    assert!(svg::html(&d).len() < 20_000);
}

#[test]
fn diagram_reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(["diagram", "-"])
        .current_dir(repo())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), read(ILLEGAL).as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("!! 22"));
}
