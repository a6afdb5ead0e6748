//! The `callorder` binary as CI uses it: exit codes, JSON lines, standard
//! input, limits, and what the human output shows.

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const LEGAL: &str = "legal/client_echo_client_closes.jsonl";
const ILLEGAL: &str =
    "illegal/client_echo_client_closes__data_received_after_connection_lost.jsonl";
const MALFORMED: &str = "malformed/client_echo_client_closes__not_json.jsonl";
const QUIRK: &str = "quirks/paused_transport_at_reactor_shutdown.jsonl";

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/twisted")
        .join(name);
    path.to_string_lossy().into_owned()
}

/// A fresh directory for one test's files (tests run in parallel).
fn scratch(test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn callorder(args: &[&str]) -> Output {
    run(args, None)
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callorder"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the callorder binary runs");
    if let Some(input) = stdin {
        // Dropping the handle closes the pipe, so the child sees the end.
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("panicked"),
        "callorder {args:?} panicked: {stderr}"
    );
    output
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

/// Each stdout line as JSON.
fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn exit_code_is_the_verdict() {
    for (file, want) in [(LEGAL, 0), (ILLEGAL, 1), (MALFORMED, 2)] {
        let output = callorder(&["check", &fixture(file)]);
        assert_eq!(code(&output), want, "{file}: {}", stdout(&output));
    }
}

#[test]
fn the_highest_exit_code_wins_across_files() {
    let cases: [(&[&str], i32); 4] = [
        (&[LEGAL, LEGAL], 0),
        (&[LEGAL, ILLEGAL, LEGAL], 1),
        (&[MALFORMED, LEGAL], 2),
        (&[ILLEGAL, MALFORMED, LEGAL], 2),
    ];
    for (files, want) in cases {
        let mut args = vec!["check".to_owned(), "--format".to_owned(), "json".to_owned()];
        args.extend(files.iter().map(|f| fixture(f)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = callorder(&args);
        assert_eq!(code(&output), want, "{files:?}");
        // One line per file, in argument order, even after a bad one.
        let files_seen: Vec<String> = json_lines(&output)
            .iter()
            .map(|v| v["file"].as_str().unwrap().to_owned())
            .collect();
        let files_given: Vec<String> = files.iter().map(|f| fixture(f)).collect();
        assert_eq!(files_seen, files_given);
    }
}

#[test]
fn json_lines_have_the_documented_shape() {
    let output = callorder(&[
        "check",
        "--profile",
        "twisted",
        "--format",
        "json",
        &fixture(LEGAL),
        &fixture(ILLEGAL),
        &fixture(MALFORMED),
        &fixture(QUIRK),
    ]);
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 4, "{}", stdout(&output));
    for line in &lines {
        for key in ["file", "verdict", "violation", "warnings", "error"] {
            assert!(line.get(key).is_some(), "no {key:?} in {line}");
        }
        assert!(line["warnings"].is_array(), "{line}");
    }
    let verdicts: Vec<&str> = lines
        .iter()
        .map(|l| l["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["legal", "illegal", "malformed", "legal"]);

    let (legal, illegal, malformed, quirk) = (&lines[0], &lines[1], &lines[2], &lines[3]);
    assert!(legal["violation"].is_null() && legal["error"].is_null());

    let violation = &illegal["violation"];
    assert_eq!(violation["seq"], 22);
    assert_eq!(violation["rule"], "P-AFTER-LOST");
    assert!(violation["message"].is_string());
    assert!(illegal["error"].is_null());

    let error = &malformed["error"];
    assert_eq!(error["line"], 13);
    assert!(error["column"].is_u64());
    assert!(error["message"].is_string());
    assert!(malformed["violation"].is_null());

    // Under twisted the quirk's unmet obligations are warnings.
    let warnings = quirk["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty(), "{quirk}");
    for w in warnings {
        assert!(
            w["seq"].is_u64() && w["rule"].is_string() && w["message"].is_string(),
            "{w}"
        );
    }
}

#[test]
fn dash_reads_standard_input() {
    let trace = fs::read(fixture(LEGAL)).unwrap();
    let output = run(&["check", "--format", "json", "-"], Some(&trace));
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    let lines = json_lines(&output);
    assert_eq!(
        (lines[0]["file"].as_str(), lines[0]["verdict"].as_str()),
        (Some("-"), Some("legal"))
    );

    // Human output shows context from standard input too.
    let trace = fs::read(fixture(ILLEGAL)).unwrap();
    let output = run(&["check", "-"], Some(&trace));
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(text.contains("-:22: P-AFTER-LOST:"), "{text}");
    assert!(
        text.contains(r#""event":"data_received","protocol":"p1","bytes":11"#),
        "{text}"
    );
}

#[test]
fn an_empty_file_has_no_error_line() {
    let dir = scratch("empty");
    let empty = dir.join("empty.jsonl");
    fs::write(&empty, b"").unwrap();
    let output = callorder(&["check", "--format", "json", empty.to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    let error = &json_lines(&output)[0]["error"];
    assert!(error["line"].is_null(), "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("empty"),
        "{error}"
    );
}

#[test]
fn a_ten_megabyte_line_is_refused() {
    let dir = scratch("long-line");
    let padding = "x".repeat(10 << 20);
    // Alone on a single line...
    let single = dir.join("single.jsonl");
    fs::write(
        &single,
        format!("{{\"seq\":1,\"event\":\"end\",\"detail\":\"{padding}\"}}\n"),
    )
    .unwrap();
    // ...and in the middle of a legal trace.
    let middle = dir.join("middle.jsonl");
    let legal = fs::read_to_string(fixture(LEGAL)).unwrap();
    let mut text = String::new();
    for (i, line) in legal.lines().enumerate() {
        if i == 3 {
            text.push_str(&line.replacen('}', &format!(",\"note\":\"{padding}\"}}"), 1));
        } else {
            text.push_str(line);
        }
        text.push('\n');
    }
    fs::write(&middle, text).unwrap();

    for (path, line) in [(&single, 1), (&middle, 4)] {
        let output = callorder(&["check", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(code(&output), 2, "{}", path.display());
        let json = &json_lines(&output)[0];
        assert_eq!(json["verdict"], "malformed");
        assert_eq!(json["error"]["line"], line, "{json}");
        assert!(
            json["error"]["message"].as_str().unwrap().contains("limit"),
            "{json}"
        );
        // The report never carries the line itself.
        assert!(output.stdout.len() < 4096);
    }
}

#[test]
fn too_many_live_objects_is_refused_naming_the_limit_and_line() {
    let output = callorder(&[
        "check",
        "--format",
        "json",
        "--max-live-objects",
        "2",
        &fixture(LEGAL),
    ]);
    assert_eq!(code(&output), 2);
    let error = &json_lines(&output)[0]["error"];
    assert!(error["line"].is_u64(), "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("limit of 2"),
        "{error}"
    );
}

#[test]
fn files_checked_on_several_workers_are_reported_in_argument_order() {
    // Every legal and illegal fixture, in an order that is not the
    // directory's, and more of them than a batch.
    let mut files: Vec<String> = ["legal", "illegal"]
        .iter()
        .flat_map(|dir| {
            fs::read_dir(fixture(dir))
                .unwrap()
                .map(|e| e.unwrap().path().to_string_lossy().into_owned())
        })
        .filter(|p| p.ends_with(".jsonl"))
        .collect();
    files.sort();
    files.reverse();
    assert!(files.len() > 64, "{} files", files.len());
    let run = |jobs: &str| {
        let mut args = vec!["check", "--format", "json", "--jobs", jobs];
        args.extend(files.iter().map(String::as_str));
        callorder(&args)
    };
    let (one, two) = (run("1"), run("2"));
    assert_eq!(code(&one), code(&two));
    assert_eq!(stdout(&one), stdout(&two));
    let named: Vec<String> = json_lines(&one)
        .iter()
        .map(|j| j["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(named, files);
}

#[test]
fn the_depth_and_distinct_id_limits_are_flags() {
    // LEGAL nests start_factory at depth 1, and makes a port, a connector
    // and protocols.
    let text = fs::read_to_string(fixture(LEGAL)).unwrap();
    let deep_line = text
        .lines()
        .position(|l| l.contains("\"depth\":1"))
        .unwrap() as u64
        + 1;
    let output = callorder(&[
        "check",
        "--format",
        "json",
        "--max-depth",
        "0",
        &fixture(LEGAL),
    ]);
    assert_eq!(code(&output), 2);
    let error = &json_lines(&output)[0]["error"];
    assert_eq!(error["kind"], "too_deep", "{error}");
    assert_eq!(error["line"], deep_line, "{error}");
    assert_eq!(
        error["message"],
        "a callback at depth 1 (seq 3): over the nesting-depth limit of 0"
    );

    let output = callorder(&[
        "check",
        "--format",
        "json",
        "--max-distinct-ids",
        "1",
        &fixture(LEGAL),
    ]);
    assert_eq!(code(&output), 2);
    let error = &json_lines(&output)[0]["error"];
    assert_eq!(error["kind"], "too_many_ids", "{error}");
    assert!(error["line"].is_u64(), "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("distinct-id limit of 1"),
        "{error}"
    );

    // The defaults admit the file.
    let output = callorder(&[
        "check",
        "--max-depth",
        "1",
        "--max-distinct-ids",
        "10000000",
        &fixture(LEGAL),
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
}

#[test]
fn human_output_names_the_rule_and_shows_the_offending_line() {
    let output = callorder(&["check", &fixture(ILLEGAL)]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(text.contains(":22: P-AFTER-LOST: "), "{text}");
    let offending = fs::read_to_string(fixture(ILLEGAL))
        .unwrap()
        .lines()
        .nth(21)
        .unwrap()
        .to_owned();
    assert!(text.contains(&format!("> 22 | {offending}")), "{text}");
    assert!(
        text.contains("expected one of:")
            && text.contains("actual: data_received(protocol=p1, bytes=11)"),
        "{text}"
    );
    // Not a terminal: no colour.
    assert!(!text.contains('\u{1b}'), "{text}");
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let always = callorder(&["check", "--color", "always", &fixture(ILLEGAL)]);
    assert!(stdout(&always).contains('\u{1b}'));
    let never = callorder(&["--color", "never", "check", &fixture(ILLEGAL)]);
    assert!(!stdout(&never).contains('\u{1b}'));
}

#[test]
fn a_trace_without_end_is_a_legal_prefix() {
    let legal = fs::read_to_string(fixture(LEGAL)).unwrap();
    let prefix: String = legal.lines().take(5).map(|l| format!("{l}\n")).collect();
    let output = run(&["check", "-"], Some(prefix.as_bytes()));
    assert_eq!(code(&output), 0);
    assert!(
        stdout(&output).contains("legal, prefix (no end)"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["check"][..],
        &["check", "--profile", "lenient", "x"],
        &["frobnicate"],
    ] {
        let output = callorder(args);
        assert_eq!(code(&output), 2, "{args:?}");
    }
}

#[test]
fn rules_prints_every_rule() {
    let output = callorder(&["rules"]);
    assert_eq!(code(&output), 0);
    let text = stdout(&output);
    for id in ["P-AFTER-LOST", "F-DOUBLE-STOP", "T-DEPTH", "G12"] {
        assert!(text.contains(id), "{id} missing from {text}");
    }
    let output = callorder(&["rules", "--format", "json"]);
    for line in json_lines(&output) {
        for key in ["id", "kind", "text", "cites", "semantics"] {
            assert!(line[key].is_string(), "{line}");
        }
    }
}

/// A manifest whose expectations are wrong must fail, naming the entries.
#[test]
fn corpus_reports_failing_entries() {
    let dir = scratch("corpus");
    for (name, source) in [("a.jsonl", LEGAL), ("b.jsonl", ILLEGAL)] {
        fs::copy(fixture(source), dir.join(name)).unwrap();
    }
    let manifest = dir.join("manifest.json");
    fs::write(
        &manifest,
        r#"[{"file":"a.jsonl","expect":"legal","first_bad_seq":null},
            {"file":"b.jsonl","expect":"illegal","mutation":"wrong_seq","first_bad_seq":21}]"#,
    )
    .unwrap();
    let output = callorder(&["corpus", manifest.to_str().unwrap()]);
    assert_eq!(code(&output), 1);
    let text = stdout(&output);
    assert!(
        text.contains(
            "FAIL b.jsonl [strict]: violation at seq 22 (P-AFTER-LOST), want 21 (wrong_seq)"
        ),
        "{text}"
    );
    assert!(
        text.contains("corpus manifest.json: illegal 0/1, legal 1/1"),
        "{text}"
    );
    assert!(text.contains("spec coverage"), "{text}");

    fs::write(&manifest, "not a manifest").unwrap();
    assert_eq!(code(&callorder(&["corpus", manifest.to_str().unwrap()])), 2);
}

/// The main job over the real corpus: its summary line, and an exit code
/// that agrees with it.
#[test]
fn corpus_over_the_fixtures_prints_a_summary() {
    let output = callorder(&["corpus", &fixture("manifest.json")]);
    let text = stdout(&output);
    let summary = text
        .lines()
        .find(|l| l.starts_with("corpus manifest.json: "))
        .unwrap_or_else(|| panic!("{text}"));
    for kind in ["illegal", "legal", "malformed", "quirk"] {
        assert!(summary.contains(&format!("{kind} ")), "{summary}");
    }
    let failing = text.lines().filter(|l| l.starts_with("FAIL ")).count();
    assert_eq!(code(&output), if failing == 0 { 0 } else { 1 }, "{text}");
}

#[test]
fn a_big_file_parsed_on_two_workers_reports_as_on_one() {
    // Over check's 4 MiB threshold, so that --jobs 2 parses it in blocks on
    // two threads while --jobs 1 reads it line by line.
    let mut legal = Vec::new();
    callorder_cli::workload::Workload {
        events: 60_000,
        wave: 500,
    }
    .write(&mut legal)
    .unwrap();
    assert!(legal.len() as u64 > callorder_cli::check::PARALLEL_FROM_BYTES);
    let middle = legal.len() * 3 / 5;
    let line_start = |at: usize| legal[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let mut flipped = legal.clone();
    flipped[middle] = b'}';
    let mut dropped = legal[..line_start(middle)].to_vec();
    let next = line_start(middle)
        + legal[line_start(middle)..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap()
        + 1;
    dropped.extend_from_slice(&legal[next..]);
    let mut later_t = legal.clone();
    // A t below the line before, blocks in: `"t":0.048000` becomes 0.000001.
    let at = line_start(legal.len() * 4 / 5);
    let t = at + legal[at..].windows(4).position(|w| w == b"\"t\":").unwrap() + 4;
    later_t[t..t + 8].copy_from_slice(b"0.000001");
    // A protocol made twice, blocks in: a violation, whose report reads
    // the file again.
    let received = middle
        + legal[middle..]
            .windows(15)
            .position(|w| w == b"\"data_received\"")
            .unwrap();
    let mut made_twice = legal[..received].to_vec();
    made_twice.extend_from_slice(b"\"connection_made\"");
    made_twice.extend_from_slice(&legal[received + 15..]);
    let dir = scratch("a_big_file_parsed_on_two_workers_reports_as_on_one");
    let cases = [
        ("legal", legal.clone()),
        ("cut", legal[..middle].to_vec()),
        ("flipped", flipped),
        ("dropped", dropped),
        ("later_t", later_t),
        ("made_twice", made_twice),
    ];
    let mut verdicts = Vec::new();
    for (name, bytes) in cases {
        let path = dir.join(format!("{name}.jsonl"));
        fs::write(&path, bytes).unwrap();
        let path = path.to_string_lossy().into_owned();
        for format in ["json", "human"] {
            let run = |jobs: &str| callorder(&["check", "--format", format, "--jobs", jobs, &path]);
            let (one, two) = (run("1"), run("2"));
            assert_eq!(stdout(&two), stdout(&one), "{name}, {format}");
            assert_eq!(code(&two), code(&one), "{name}, {format}");
            if format == "json" {
                verdicts.push(json_lines(&one)[0]["verdict"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(
        verdicts,
        [
            "legal",
            "malformed",
            "malformed",
            "malformed",
            "malformed",
            "illegal"
        ]
    );
}
