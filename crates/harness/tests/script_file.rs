//! Script files: reading, printing, round trips, every error with its
//! position, and the example fixtures.

use std::path::PathBuf;
use std::time::Duration;

use callorder_checker::Rule;
use callorder_core::Address;
use callorder_harness::{
    parse_script, print_script, read_script_header, Conn, Expectation, Outcome, Script,
    ScriptError, ScriptFile, Step, WorldEvent,
};
use callorder_trace::EventKind;
use proptest::prelude::*;

fn parse(text: &str) -> ScriptFile {
    match parse_script(text, "t.script") {
        Ok(file) => file,
        Err(e) => panic!("{e}"),
    }
}

/// The error for `text`, as `line:col: expected ..., found ...`.
fn error(text: &str) -> String {
    match parse_script(text, "t.script") {
        Ok(file) => panic!("parsed: {file:?}"),
        Err(e) => {
            let shown = e.to_string();
            let prefix = format!("t.script:{}:{}: ", e.line, e.column);
            assert!(shown.starts_with(&prefix), "{shown}");
            assert_eq!(
                shown,
                format!(
                    "t.script:{}:{}: expected {}, found {}",
                    e.line, e.column, e.expected, e.found
                )
            );
            format!(
                "{}:{}: expected {}, found {}",
                e.line, e.column, e.expected, e.found
            )
        }
    }
}

fn accept(port: usize, peer: &str) -> WorldEvent {
    WorldEvent::Accept {
        port,
        peer: Address::new(peer),
    }
}

// ------------------------------------------------------------ hand-written

const EXAMPLE: &str = r#"# comments start with #
implementation echo_and_line_client
seed 7            # the run's seed

resolve 1 accept
send client 1 "hello\r\n"          # strings with escapes \r \n \t \\ \" \xNN
send server 2 hex:68656c6c6f
send client 1 "abcdef" chunks 2    # expands to send_chunked
half_close client 1
close server 1
reset client 1
window client 1 1024
window client 1 unlimited
write_error client 1
accept 1 from 127.0.0.1:5000
stop_listening 1
batch {                            # several events in one turn
  accept 1 from 127.0.0.1:5001
  accept 1 from 127.0.0.1:5002
}
advance 1.5s
checkpoint                         # notes the heap, for the leak check
shutdown
"#;

#[test]
fn the_example_reads_as_the_builder_says() {
    let file = parse(EXAMPLE);
    let expected = Script::new()
        .with_implementation("echo_and_line_client")
        .resolve(1, Outcome::Accept)
        .send(Conn::Client(1), b"hello\r\n")
        .send(Conn::Server(2), b"hello")
        .send_chunked(Conn::Client(1), b"abcdef", 2)
        .half_close(Conn::Client(1))
        .close(Conn::Server(1))
        .reset(Conn::Client(1))
        .window(Conn::Client(1), Some(1024))
        .window(Conn::Client(1), None)
        .write_error(Conn::Client(1))
        .accept(1, "127.0.0.1:5000")
        .stop_listening(1)
        .batch(vec![
            accept(1, "127.0.0.1:5001"),
            accept(1, "127.0.0.1:5002"),
        ])
        .advance(Duration::from_millis(1500))
        .checkpoint()
        .shutdown();
    assert_eq!(file.script, expected);
    assert_eq!(file.implementation.as_deref(), Some("echo_and_line_client"));
    assert_eq!(file.script.implementation(), Some("echo_and_line_client"));
    assert_eq!(file.seed, Some(7));
}

#[test]
fn the_example_prints_canonically_and_reads_back() {
    let file = parse(EXAMPLE);
    let text = print_script(&file);
    assert_eq!(
        text,
        "implementation echo_and_line_client\n\
         seed 7\n\
         \n\
         resolve 1 accept\n\
         send client 1 \"hello\\r\\n\"\n\
         send server 2 \"hello\"\n\
         send client 1 \"ab\"\n\
         send client 1 \"cd\"\n\
         send client 1 \"ef\"\n\
         half_close client 1\n\
         close server 1\n\
         reset client 1\n\
         window client 1 1024\n\
         window client 1 unlimited\n\
         write_error client 1\n\
         accept 1 from 127.0.0.1:5000\n\
         stop_listening 1\n\
         batch {\n  accept 1 from 127.0.0.1:5001\n  accept 1 from 127.0.0.1:5002\n}\n\
         advance 1500ms\n\
         checkpoint\n\
         shutdown\n"
    );
    assert_eq!(parse(&text), file);
    assert_eq!(file.to_string(), text);
}

#[test]
fn every_outcome_and_connection_kind() {
    let file = parse(
        "resolve 1 accept\nresolve 2 refuse\nresolve 3 dns_failure\nresolve 4 fail\n\
         close client 12\nclose server 3\n",
    );
    let expected = Script::new()
        .resolve(1, Outcome::Accept)
        .resolve(2, Outcome::Refuse)
        .resolve(3, Outcome::DnsFailure)
        .resolve(4, Outcome::Fail)
        .close(Conn::Client(12))
        .close(Conn::Server(3));
    assert_eq!(file.script, expected);
    assert_eq!(file.implementation, None);
    assert_eq!(file.seed, None);
}

#[test]
fn an_empty_file_is_an_empty_script() {
    for text in ["", "\n", "# nothing\n\n   \t\n", "\u{feff}"] {
        assert_eq!(parse(text), ScriptFile::default(), "{text:?}");
    }
    assert_eq!(print_script(&ScriptFile::default()), "");
}

#[test]
fn header_only_and_header_in_either_order() {
    let file = parse("seed 18446744073709551615\nimplementation \"my impl\"\n");
    assert_eq!(file.seed, Some(u64::MAX));
    assert_eq!(file.implementation.as_deref(), Some("my impl"));
    assert_eq!(
        print_script(&file),
        "implementation \"my impl\"\nseed 18446744073709551615\n"
    );
}

#[test]
fn a_batch_of_one_is_the_bare_event() {
    assert_eq!(
        parse("batch {\n  close client 1\n}\n").script,
        parse("close client 1\n").script
    );
}

#[test]
fn expect_reads_like_send() {
    assert_eq!(
        parse("expect client 1 \"pong\\n\"\nexpect server 2 hex:00ff\n").script,
        Script::new()
            .expect(Conn::Client(1), b"pong\n")
            .expect(Conn::Server(2), &[0, 0xff])
    );
    assert_eq!(
        error("expect client 1\n"),
        "1:16: expected bytes (a quoted string or hex:HEXDIGITS), found end of line"
    );
}

#[test]
fn every_step_keeps_the_place_it_was_read_from() {
    let file = parse(
        "implementation x\n\
         \n\
         resolve 1 accept\n\
         \x20 send client 1 \"abcd\" chunks 2   # two steps, one line\n\
         batch {\n\
         \x20 close client 1\n\
         \t  reset client 2\n\
         }\n\
         advance 1s\n",
    );
    let at = |step, event| {
        let p = file.script.position(step, event).expect("a position");
        assert_eq!(&*p.file, "t.script");
        (p.line, p.column)
    };
    assert_eq!(at(0, 0), (3, 1));
    assert_eq!(at(1, 0), (4, 3));
    assert_eq!(at(2, 0), (4, 3));
    assert_eq!(at(3, 0), (6, 3));
    assert_eq!(at(3, 1), (7, 4));
    assert_eq!(at(4, 0), (9, 1));
    assert_eq!(file.script.position(5, 0), None);
    assert_eq!(
        file.script.position(3, 0).unwrap().to_string(),
        "t.script:6:3"
    );
    // A step made in code has no place, and places are not compared.
    let built = Script::new().resolve(1, Outcome::Accept);
    assert_eq!(built.position(0, 0), None);
    assert_eq!(parse("resolve 1 accept\n").script, built);
}

#[test]
fn chunks_expand_like_send_chunked() {
    let cases: [(&str, Script); 4] = [
        (
            "send server 1 \"abcde\" chunks 2",
            Script::new().send_chunked(Conn::Server(1), b"abcde", 2),
        ),
        (
            "send server 1 \"abc\" chunks 10",
            Script::new().send(Conn::Server(1), b"abc"),
        ),
        ("send server 1 \"\" chunks 3", Script::new()),
        (
            "send server 1 hex:0001 chunks 1",
            Script::new()
                .send(Conn::Server(1), &[0])
                .send(Conn::Server(1), &[1]),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(parse(text).script, expected, "{text}");
    }
    assert_eq!(
        parse("send server 1 \"abcde\" chunks 2")
            .script
            .steps()
            .len(),
        3
    );
}

#[test]
fn strings_and_hex() {
    let cases: [(&str, &[u8]); 8] = [
        (r#""""#, b""),
        (r#""a\r\n\t\\\"b""#, b"a\r\n\t\\\"b"),
        (r#""\x00\xFF\x7f""#, &[0, 255, 127]),
        (r#""tab	inside""#, b"tab\tinside"),
        (r##""# not a comment {}""##, b"# not a comment {}"),
        ("\"é\"", "é".as_bytes()),
        ("hex:", b""),
        ("hex:DEADbeef", &[0xde, 0xad, 0xbe, 0xef]),
    ];
    for (literal, bytes) in cases {
        let file = parse(&format!("send client 1 {literal}"));
        assert_eq!(
            file.script,
            Script::new().send(Conn::Client(1), bytes),
            "{literal}"
        );
    }
}

#[test]
fn the_printer_picks_string_or_hex() {
    let print = |bytes: &[u8]| print_script(&Script::new().send(Conn::Client(1), bytes).into());
    assert_eq!(print(b""), "send client 1 \"\"\n");
    assert_eq!(print(b"a \"q\" \\"), "send client 1 \"a \\\"q\\\" \\\\\"\n");
    assert_eq!(print(b"abc\x00"), "send client 1 \"abc\\x00\"\n");
    assert_eq!(print(b"ab\x00\x01"), "send client 1 hex:61620001\n");
    assert_eq!(print("é".as_bytes()), "send client 1 hex:c3a9\n");
}

#[test]
fn addresses_and_names_quoted_when_they_must_be() {
    let file = ScriptFile {
        script: Script::new()
            .with_implementation("a b")
            .accept(1, "")
            .accept(2, "[::1]:80")
            .accept(3, "host #1")
            .accept(4, "héllo:1\u{7}"),
        implementation: Some("a b".into()),
        seed: None,
        expect: None,
    };
    let text = print_script(&file);
    assert_eq!(
        text,
        "implementation \"a b\"\n\
         \n\
         accept 1 from \"\"\n\
         accept 2 from [::1]:80\n\
         accept 3 from \"host #1\"\n\
         accept 4 from \"héllo:1\\x07\"\n"
    );
    assert_eq!(parse(&text), file);
}

#[test]
fn durations() {
    let cases: [(&str, Duration); 10] = [
        ("1.5s", Duration::from_millis(1500)),
        ("2", Duration::from_secs(2)),
        ("0.25", Duration::from_millis(250)),
        ("1.000s", Duration::from_secs(1)),
        ("250ms", Duration::from_millis(250)),
        ("0.5ms", Duration::from_micros(500)),
        ("10us", Duration::from_micros(10)),
        ("7ns", Duration::from_nanos(7)),
        ("0.000000001s", Duration::from_nanos(1)),
        (
            "18446744073709551615.999999999",
            Duration::new(u64::MAX, 999_999_999),
        ),
    ];
    for (text, by) in cases {
        assert_eq!(
            parse(&format!("advance {text}")).script,
            Script::new().advance(by),
            "{text}"
        );
    }
    let print = |by| print_script(&Script::new().advance(by).into());
    assert_eq!(print(Duration::ZERO), "advance 0s\n");
    assert_eq!(print(Duration::from_secs(3)), "advance 3s\n");
    assert_eq!(print(Duration::from_millis(1500)), "advance 1500ms\n");
    assert_eq!(print(Duration::from_micros(1001)), "advance 1001us\n");
    assert_eq!(
        print(Duration::from_nanos(1_000_001)),
        "advance 1000001ns\n"
    );
}

#[test]
fn crlf_tabs_and_comments() {
    let file = parse("implementation x\r\n\tresolve 1 accept\t# go\r\n#\r\nshutdown#end\r\n");
    assert_eq!(
        file.script,
        Script::new()
            .with_implementation("x")
            .resolve(1, Outcome::Accept)
            .shutdown()
    );
}

#[test]
fn a_builder_script_converts_and_prints() {
    let file = ScriptFile::from(Script::new().with_implementation("line_client").shutdown());
    assert_eq!(file.implementation.as_deref(), Some("line_client"));
    assert_eq!(parse(&print_script(&file)), file);
}

// ------------------------------------------------------------------ errors

#[test]
fn error_display_and_trait() {
    let e = parse_script("\n\nsend clinet 1 \"x\"\n", "fixtures/scripts/x.script").unwrap_err();
    assert_eq!(
        e,
        ScriptError {
            file: "fixtures/scripts/x.script".into(),
            line: 3,
            column: 6,
            expected: "a connection (client N or server N)".into(),
            found: "\"clinet\"".into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "fixtures/scripts/x.script:3:6: expected a connection (client N or server N), found \"clinet\""
    );
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.source().is_none());
}

const STATEMENT: &str = "a statement (implementation, seed, resolve, send, expect, half_close, close, \
     reset, window, read_chunks, write_error, accept, stop_listening, fault, batch, advance, checkpoint or \
     shutdown)";
const EVENT_OR_CLOSE: &str = "an event (resolve, send, expect, half_close, close, reset, window, \
     read_chunks, write_error, accept, stop_listening, fault) or \"}\"";

#[test]
fn unknown_statements() {
    assert_eq!(
        error("resolve 1 accept\n  conect 1\n"),
        format!("2:3: expected {STATEMENT}, found \"conect\"")
    );
    assert_eq!(
        error("checkpoint now\n"),
        "1:12: expected end of line, found \"now\""
    );
    assert_eq!(
        error("Shutdown\n"),
        format!("1:1: expected {STATEMENT}, found \"Shutdown\"")
    );
    assert_eq!(
        error("\"send\" client 1\n"),
        format!("1:1: expected {STATEMENT}, found \"\"send\"\"")
    );
    assert_eq!(
        error("{\n"),
        format!("1:1: expected {STATEMENT}, found \"{{\"")
    );
}

#[test]
fn bad_connections() {
    assert_eq!(
        error("close clinet 1"),
        "1:7: expected a connection (client N or server N), found \"clinet\""
    );
    assert_eq!(
        error("close"),
        "1:6: expected a connection (client N or server N), found end of line"
    );
    assert_eq!(
        error("close client   # oops"),
        "1:13: expected a connection number (1 or more), found end of line"
    );
    assert_eq!(
        error("close client 0"),
        "1:14: expected a connection number (1 or more), found \"0\""
    );
    assert_eq!(
        error("reset server x1"),
        "1:14: expected a connection number (1 or more), found \"x1\""
    );
}

#[test]
fn bad_numbers() {
    assert_eq!(
        error("resolve -1 accept"),
        "1:9: expected an attempt number (1 or more), found \"-1\""
    );
    assert_eq!(
        error("resolve +1 accept"),
        "1:9: expected an attempt number (1 or more), found \"+1\""
    );
    assert_eq!(
        error("stop_listening 1.0"),
        "1:16: expected a port number (1 or more), found \"1.0\""
    );
    assert_eq!(
        error("resolve 99999999999999999999 accept"),
        format!(
            "1:9: expected a number no larger than {}, found \"99999999999999999999\"",
            usize::MAX
        )
    );
    assert_eq!(
        error("seed 18446744073709551616"),
        "1:6: expected a number no larger than 18446744073709551615, found \"18446744073709551616\""
    );
    assert_eq!(
        error("seed seven"),
        "1:6: expected a seed (a whole number), found \"seven\""
    );
    assert_eq!(
        error("window client 1 -5"),
        "1:17: expected a byte count or unlimited, found \"-5\""
    );
    assert_eq!(
        error("send client 1 \"ab\" chunks 0"),
        "1:27: expected a chunk size (1 or more), found \"0\""
    );
    assert_eq!(
        error("send client 1 \"ab\" chunks"),
        "1:26: expected a chunk size (1 or more), found end of line"
    );
}

#[test]
fn bad_words_in_place() {
    assert_eq!(
        error("resolve 1 accepted"),
        "1:11: expected an outcome (accept, refuse, dns_failure or fail), found \"accepted\""
    );
    assert_eq!(
        error("accept 1 127.0.0.1:80"),
        "1:10: expected from, found \"127.0.0.1:80\""
    );
    assert_eq!(
        error("accept 1 from"),
        "1:14: expected an address (host:port or a quoted string), found end of line"
    );
    assert_eq!(
        error("accept 1 from \"\\xff\""),
        "1:15: expected a string of valid UTF-8, found \"\"\\xff\"\""
    );
    assert_eq!(
        error("implementation {"),
        "1:16: expected an implementation name (a word or a quoted string), found \"{\""
    );
    assert_eq!(
        error("send client 1 hello"),
        "1:15: expected bytes (a quoted string or hex:HEXDIGITS), found \"hello\""
    );
    assert_eq!(
        error("send client 1 hex:abc"),
        "1:15: expected hex digits in pairs after hex:, found \"hex:abc\""
    );
    assert_eq!(
        error("send client 1 hex:zz"),
        "1:15: expected hex digits in pairs after hex:, found \"hex:zz\""
    );
}

#[test]
fn trailing_tokens() {
    assert_eq!(
        error("shutdown now"),
        "1:10: expected end of line, found \"now\""
    );
    assert_eq!(
        error("close client 1 \"x\""),
        "1:16: expected end of line, found \"\"x\"\""
    );
    assert_eq!(
        error("send client 1 \"ab\" chunk 2"),
        "1:20: expected end of line, found \"chunk\""
    );
}

#[test]
fn bad_strings() {
    assert_eq!(
        error("send client 1 \"hello\n"),
        "1:15: expected a closing \" to end the string, found end of line"
    );
    assert_eq!(
        error("shutdown\nsend client 1 \"a\\q\""),
        "2:17: expected an escape (\\r, \\n, \\t, \\\\, \\\" or \\xNN), found \"\\q\""
    );
    assert_eq!(
        error("send client 1 \"a\\"),
        "1:17: expected an escape (\\r, \\n, \\t, \\\\, \\\" or \\xNN), found end of line"
    );
    assert_eq!(
        error("send client 1 \"\\xg0\""),
        "1:16: expected two hex digits after \\x, found \"\\xg0\""
    );
    assert_eq!(
        error("send client 1 \"\\x4\""),
        "1:16: expected two hex digits after \\x, found \"\\x4\"\""
    );
    assert_eq!(
        error("send client 1 \"\\x"),
        "1:16: expected two hex digits after \\x, found \"\\x\""
    );
    assert_eq!(
        error("send client 1 \"a\u{7}\""),
        "1:17: expected a printable character or an escape, found \"\\u{7}\""
    );
    // A lexing error on a line is found before a later grammar error, and
    // after an earlier one.
    assert_eq!(
        error("sned client 1 \"abc"),
        format!("1:1: expected {STATEMENT}, found \"sned\"")
    );
}

#[test]
fn bad_durations() {
    const DURATION: &str = "a duration (such as 1.5s, 250ms, 20us, 100ns or plain seconds)";
    for bad in ["1.5x", ".5s", "1.s", "1..5s", "s", "-1s", "1e3", "1.5 s"] {
        let at = if bad == "1.5 s" { 13 } else { 9 };
        let found = if bad == "1.5 s" {
            "\"s\"".to_owned()
        } else {
            format!("\"{bad}\"")
        };
        let expected = if bad == "1.5 s" {
            "end of line"
        } else {
            DURATION
        };
        assert_eq!(
            error(&format!("advance {bad}")),
            format!("1:{at}: expected {expected}, found {found}"),
            "{bad}"
        );
    }
    assert_eq!(
        error("advance"),
        format!("1:8: expected {DURATION}, found end of line")
    );
    assert_eq!(
        error("advance 0.5ns"),
        "1:9: expected a duration in whole nanoseconds, found \"0.5ns\""
    );
    assert_eq!(
        error("advance 1.0000000001"),
        "1:9: expected a duration in whole nanoseconds, found \"1.0000000001\""
    );
    assert_eq!(
        error("advance 18446744073709551616s"),
        "1:9: expected a duration of at most 18446744073709551615s, found \"18446744073709551616s\""
    );
    assert_eq!(
        error("advance 999999999999999999999999999999999999999999ns"),
        "1:9: expected a duration of at most 18446744073709551615s, found \"9999999999999999999999999999999999999999...\""
    );
}

#[test]
fn unbalanced_braces() {
    assert_eq!(
        error("shutdown\n}\n"),
        "2:1: expected a statement (this \"}\" closes no batch), found \"}\""
    );
    assert_eq!(
        error("batch {\n  close client 1\n"),
        "3:1: expected \"}\" to close the batch opened on line 1, found end of file"
    );
    assert_eq!(
        error("batch {\n  close client 1"),
        "2:17: expected \"}\" to close the batch opened on line 1, found end of file"
    );
    assert_eq!(
        error("batch\n"),
        "1:6: expected \"{\" after batch, found end of line"
    );
    assert_eq!(
        error("batch close client 1\n"),
        "1:7: expected \"{\" after batch, found \"close\""
    );
    assert_eq!(
        error("batch { close client 1 }\n"),
        "1:9: expected end of line, found \"close\""
    );
    assert_eq!(
        error("batch {\n  close client 1 }\n"),
        "2:18: expected end of line, found \"}\""
    );
    assert_eq!(
        error("batch {\n  close client 1\n} shutdown\n"),
        "3:3: expected end of line, found \"shutdown\""
    );
}

#[test]
fn bad_batches() {
    assert_eq!(
        error("batch {\n  batch {\n  }\n}\n"),
        "2:3: expected an event or \"}\" (batches do not nest), found \"batch\""
    );
    assert_eq!(
        error("shutdown\nbatch {\n   }\n"),
        "3:4: expected at least one event in the batch, found \"}\""
    );
    assert_eq!(
        error("batch {\n  advance 1s\n}\n"),
        format!("2:3: expected {EVENT_OR_CLOSE}, found \"advance\"")
    );
    assert_eq!(
        error("batch {\n  shutdown\n}\n"),
        format!("2:3: expected {EVENT_OR_CLOSE}, found \"shutdown\"")
    );
    assert_eq!(
        error("batch {\n  checkpoint\n}\n"),
        format!("2:3: expected {EVENT_OR_CLOSE}, found \"checkpoint\"")
    );
    assert_eq!(
        error("batch {\n  {\n}\n"),
        format!("2:3: expected {EVENT_OR_CLOSE}, found \"{{\"")
    );
    assert_eq!(
        error("batch {\n  send client 1 \"abcd\" chunks 2\n}\n"),
        "2:24: expected end of line (chunks makes several steps, so a batch cannot hold it), found \"chunks\""
    );
}

#[test]
fn bad_headers() {
    assert_eq!(
        error("implementation a\nimplementation b\n"),
        "2:1: expected at most one implementation line (the first is on line 1), found \"implementation\""
    );
    assert_eq!(
        error("seed 1\n# x\n  seed 1\n"),
        "3:3: expected at most one seed line (the first is on line 1), found \"seed\""
    );
    assert_eq!(
        error("implementation a\n\nresolve 1 accept\nseed 3\n"),
        "4:1: expected a step (the header comes before the first step, on line 3), found \"seed\""
    );
    assert_eq!(
        error("batch {\n  accept 1 from a:1\n}\nimplementation a\n"),
        "4:1: expected a step (the header comes before the first step, on line 1), found \"implementation\""
    );
    // A send with chunks of nothing makes no step, but is one.
    assert_eq!(
        error("send client 1 \"\" chunks 2\nseed 3\n"),
        "2:1: expected a step (the header comes before the first step, on line 1), found \"seed\""
    );
    assert_eq!(
        error("batch {\n  seed 1\n}\n"),
        format!("2:3: expected {EVENT_OR_CLOSE}, found \"seed\"")
    );
    assert_eq!(
        error("implementation"),
        "1:15: expected an implementation name (a word or a quoted string), found end of line"
    );
    assert_eq!(
        error("implementation a b"),
        "1:18: expected end of line, found \"b\""
    );
}

#[test]
fn columns_count_characters() {
    assert_eq!(
        error("send client 1 \"ééé\" x"),
        "1:21: expected end of line, found \"x\""
    );
    assert_eq!(
        error("\tfoo"),
        format!("1:2: expected {STATEMENT}, found \"foo\"")
    );
}

// ---------------------------------------------------------------- fixtures

#[test]
fn every_fixture_parses_and_round_trips() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/scripts");
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/scripts")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.extension().and_then(|e| e.to_str()) != Some("script") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let name = path.display().to_string();
        let file = parse_script(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        let implementation = file
            .implementation
            .as_deref()
            .expect("names an implementation");
        assert!(
            [
                "echo_server",
                "line_client",
                "reconnecting_client",
                "half_close_server"
            ]
            .contains(&implementation),
            "{name}: {implementation}"
        );
        assert!(!file.script.steps().is_empty(), "{name}");
        assert_eq!(
            parse_script(&print_script(&file), &name),
            Ok(file),
            "{name}"
        );
        seen += 1;
    }
    assert!(seen >= 3, "only {seen} fixtures in {}", dir.display());
}

// -------------------------------------------------------------- generated

fn arb_conn() -> impl Strategy<Value = Conn> {
    prop_oneof![
        (1..5usize).prop_map(Conn::Client),
        (1..5usize).prop_map(Conn::Server),
        (1..=usize::MAX).prop_map(Conn::Client),
    ]
}

fn arb_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Accept),
        Just(Outcome::Refuse),
        Just(Outcome::DnsFailure),
        Just(Outcome::Fail),
    ]
}

fn arb_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        "[ -~\r\n\t]{0,24}".prop_map(String::into_bytes),
        ".{0,8}".prop_map(String::into_bytes),
    ]
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,12}",
        "[0-9.]{1,15}:[0-9]{1,5}",
        any::<String>(),
        "[ -~]{0,12}",
    ]
}

fn arb_event() -> impl Strategy<Value = WorldEvent> {
    let port = || prop_oneof![1..4usize, 1..=usize::MAX];
    prop_oneof![
        (port(), arb_outcome())
            .prop_map(|(attempt, outcome)| WorldEvent::Resolve { attempt, outcome }),
        (arb_conn(), arb_bytes()).prop_map(|(conn, bytes)| WorldEvent::Send {
            conn,
            bytes: bytes.into()
        }),
        (arb_conn(), arb_bytes()).prop_map(|(conn, bytes)| WorldEvent::Expect {
            conn,
            bytes: bytes.into()
        }),
        arb_conn().prop_map(|conn| WorldEvent::HalfClose { conn }),
        arb_conn().prop_map(|conn| WorldEvent::Close { conn }),
        arb_conn().prop_map(|conn| WorldEvent::Reset { conn }),
        (arb_conn(), proptest::option::of(any::<usize>()))
            .prop_map(|(conn, bytes)| WorldEvent::Window { conn, bytes }),
        arb_conn().prop_map(|conn| WorldEvent::WriteError { conn }),
        (arb_conn(), proptest::option::of(1..=usize::MAX))
            .prop_map(|(conn, bytes)| WorldEvent::ReadChunks { conn, bytes }),
        (port(), arb_text()).prop_map(|(port, peer)| WorldEvent::Accept {
            port,
            peer: Address::new(peer)
        }),
        port().prop_map(|port| WorldEvent::StopListening { port }),
        arb_fault(),
    ]
}

/// A fault on any callback fault injection accepts: one connection only for
/// a protocol's callbacks.
fn arb_fault() -> impl Strategy<Value = WorldEvent> {
    let callbacks: Vec<EventKind> = EventKind::ALL
        .iter()
        .copied()
        .filter(|k| callorder_harness::is_fault_target(*k))
        .collect();
    (
        proptest::sample::select(callbacks),
        proptest::option::of(arb_conn()),
    )
        .prop_map(|(callback, conn)| {
            let protocol = matches!(
                callback,
                EventKind::ConnectionMade
                    | EventKind::DataReceived
                    | EventKind::ReadConnectionLost
                    | EventKind::WriteConnectionLost
                    | EventKind::ConnectionLost
                    | EventKind::PauseProducing
                    | EventKind::ResumeProducing
                    | EventKind::StopProducing
            );
            WorldEvent::Fault {
                callback,
                conn: conn.filter(|_| protocol),
            }
        })
}

fn arb_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0..10u64).prop_map(Duration::from_secs),
        (0..10_000u64).prop_map(Duration::from_millis),
        (0..10_000u64).prop_map(Duration::from_micros),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => proptest::collection::vec(arb_event(), 1..5).prop_map(Step::Batch),
        2 => arb_duration().prop_map(Step::Advance),
        1 => Just(Step::Shutdown),
        1 => Just(Step::Checkpoint),
    ]
}

fn arb_file() -> impl Strategy<Value = ScriptFile> {
    (
        proptest::collection::vec(arb_step(), 0..12),
        proptest::option::of(arb_text()),
        proptest::option::of(any::<u64>()),
        proptest::option::of(arb_expectation()),
    )
        .prop_map(|(steps, implementation, seed, expect)| {
            let mut script = steps.into_iter().fold(Script::new(), Script::step);
            if let Some(name) = &implementation {
                script = script.with_implementation(name.clone());
            }
            ScriptFile {
                script,
                implementation,
                seed,
                expect,
            }
        })
}

fn arb_expectation() -> impl Strategy<Value = Expectation> {
    prop_oneof![
        Just(Expectation::Legal),
        Just(Expectation::Malformed),
        proptest::sample::select(Rule::TABLE).prop_map(Expectation::Illegal),
    ]
}

proptest! {
    #[test]
    fn generated_scripts_round_trip(file in arb_file()) {
        let text = print_script(&file);
        let back = parse_script(&text, "gen.script");
        prop_assert_eq!(back.as_ref(), Ok(&file), "{}", text);
        // The canonical text is a fixed point.
        prop_assert_eq!(print_script(&back.unwrap()), text);
    }

    #[test]
    fn any_text_gives_a_script_or_an_error(text in any::<String>()) {
        if let Err(e) = parse_script(&text, "any.script") {
            prop_assert!(e.line >= 1 && e.column >= 1);
            prop_assert!(e.line <= text.split('\n').count());
        }
    }

    #[test]
    fn damaged_scripts_give_an_error_or_a_script(
        file in arb_file(),
        cut in any::<prop::sample::Index>(),
        insert in prop_oneof![Just(""), Just("\""), Just("{"), Just("}"), Just("\\"), Just("\n"), Just(" x ")],
    ) {
        let text = print_script(&file);
        let chars: Vec<char> = text.chars().collect();
        let at = if chars.is_empty() { 0 } else { cut.index(chars.len()) };
        let damaged: String = chars[..at].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[at..].iter().skip(1)).collect();
        if let Err(e) = parse_script(&damaged, "damaged.script") {
            let line = damaged.split('\n').nth(e.line - 1).expect("the line exists");
            prop_assert!(e.column <= line.trim_end_matches('\r').chars().count() + 1, "{e}");
        }
    }
}

#[test]
fn expect_header_names_a_verdict_and_for_illegal_a_rule() {
    for (line, want) in [
        ("expect legal", Expectation::Legal),
        ("expect malformed", Expectation::Malformed),
        (
            "expect illegal P-AFTER-LOST",
            Expectation::Illegal(Rule::AfterLost),
        ),
    ] {
        let text = format!("implementation echo_server\n{line}\n\nshutdown\n");
        let file = parse(&text);
        assert_eq!(file.expect, Some(want), "{line}");
        // Printed after implementation and seed, and read back the same.
        assert_eq!(print_script(&file), text);
    }
    assert_eq!(parse("shutdown\n").expect, None);
}

#[test]
fn expect_header_errors_say_what_was_expected() {
    let err = |text: &str| parse_script(text, "e.script").unwrap_err().to_string();
    assert_eq!(
        err("expect illegal P-NOPE\n"),
        "e.script:1:16: expected a rule id (such as P-AFTER-LOST; `callorder rules` lists them), found \"P-NOPE\""
    );
    assert_eq!(
        err("expect illegal\n"),
        "e.script:1:15: expected a rule id (such as P-AFTER-LOST; `callorder rules` lists them), found end of line"
    );
    assert_eq!(
        err("expect legal\nexpect malformed\n"),
        "e.script:2:1: expected at most one expect line (the first is on line 1), found \"expect\""
    );
    assert_eq!(
        err("shutdown\nexpect legal\n"),
        "e.script:2:1: expected a step (the header comes before the first step, on line 1), found \"expect\""
    );
    assert_eq!(
        err("expect legal now\n"),
        "e.script:1:14: expected end of line, found \"now\""
    );
}

#[test]
fn the_header_is_read_even_when_a_step_is_malformed() {
    let text = "# a broken script\nexpect malformed\nseed 4\n\nsend clinet 1 \"x\"\n";
    assert!(parse_script(text, "b.script").is_err());
    let header = read_script_header(text, "b.script").unwrap();
    assert_eq!(
        (header.expect, header.seed),
        (Some(Expectation::Malformed), Some(4))
    );
    // A bad header line is still an error of the header.
    assert!(read_script_header("expect illegal X\n", "b.script").is_err());
}
