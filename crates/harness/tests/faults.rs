//! Fault injection: a script makes a chosen callback of the implementation
//! fail, and the reactor does what Twisted does when that callback raises.
//! The implementation is correct code; the failure is the script's, so the
//! run stays clean and lists the failed event in `Run::injected`.

#![allow(clippy::arc_with_non_send_sync)]

mod support;

use callorder_harness::{parse_script, print_script, Conn, MockReactor, Outcome, Script};
use callorder_trace::EventKind;
use support::*;

const ADDR: &str = "10.0.0.1:80";

fn run(script: Script, setup: impl FnOnce(&callorder_core::Reactor)) -> callorder_harness::Run {
    MockReactor::new().run(script, setup)
}

fn seq_of(run: &callorder_harness::Run, kind: EventKind) -> Vec<u64> {
    run.trace
        .iter()
        .filter(|r| r.step.event.kind() == kind)
        .map(|r| r.step.seq)
        .collect()
}

#[test]
fn p7_a_fault_in_data_received_ends_the_connection_with_other() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .fault(EventKind::DataReceived, Some(Conn::Client(1)))
            .send(Conn::Client(1), b"x")
            .shutdown(),
        |r| {
            client(r, ADDR, Behaviour::default());
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[6..11],
        [
            "data_received!",
            "connection_lost(other)",
            "client_connection_lost(other)",
            "do_stop",
            "stop_factory"
        ]
    );
    assert_eq!(r.injected, seq_of(&r, EventKind::DataReceived));
    let failed = &r.trace[r.injected[0] as usize - 1];
    assert_eq!(failed.error.as_deref(), Some("injected fault"));
}

#[test]
fn c11_a_fault_in_build_protocol_fails_the_connection_attempt() {
    let r = run(
        Script::new()
            .fault(EventKind::BuildProtocol, None)
            .resolve(1, Outcome::Accept)
            .shutdown(),
        |r| {
            client(r, ADDR, Behaviour::default());
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[4..7],
        [
            "build_protocol!",
            "client_connection_failed(connect_error)",
            "do_stop"
        ]
    );
    assert!(
        !kinds(&r).contains(&EventKind::ConnectionMade),
        "the protocol built is dropped"
    );
}

#[test]
fn p11_a_fault_in_start_factory_at_the_head_of_the_script_reaches_the_set_up() {
    let r = run(
        // No attempt follows, so the script resolves none.
        Script::new()
            .fault(EventKind::StartFactory, None)
            .shutdown(),
        |r| {
            client(r, ADDR, Behaviour::default());
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[..4],
        ["connect_tcp", "do_start!", "start_factory!", "shutdown"],
        "the connect raised: the connector goes no further"
    );
}

#[test]
fn s3_a_fault_in_a_server_connection_made_leaves_the_connection_open() {
    let r = run(
        Script::new()
            .fault(EventKind::ConnectionMade, Some(Conn::Server(1)))
            .accept(1, "10.9.9.9:5000")
            .send(Conn::Server(1), b"still here")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", ProbeFactory::new(Behaviour::default()))
                .unwrap();
        },
    );
    r.assert_clean();
    let names = events(&r);
    let made = names.iter().position(|e| e == "connection_made!").unwrap();
    assert_eq!(names[made + 1], "data_received", "{names:?}");
}

#[test]
fn a_fault_aimed_at_one_connection_spares_the_others() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .resolve(2, Outcome::Accept)
            .fault(EventKind::DataReceived, Some(Conn::Client(2)))
            .send(Conn::Client(1), b"one")
            .send(Conn::Client(2), b"two")
            .shutdown(),
        |r| {
            client(r, ADDR, Behaviour::default());
            client(r, ADDR, Behaviour::default());
        },
    );
    r.assert_clean();
    let data: Vec<_> = r
        .trace
        .iter()
        .filter(|x| x.step.event.kind() == EventKind::DataReceived)
        .map(|x| x.step.failed)
        .collect();
    assert_eq!(data, [false, true], "only the second client's fails");
}

#[test]
fn a_fault_is_spent_by_the_first_callback_it_hits() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .resolve(2, Outcome::Accept)
            .fault(EventKind::DataReceived, None)
            .send(Conn::Client(1), b"one")
            .send(Conn::Client(2), b"two")
            .shutdown(),
        |r| {
            client(r, ADDR, Behaviour::default());
            client(r, ADDR, Behaviour::default());
        },
    );
    r.assert_clean();
    assert_eq!(r.injected.len(), 1);
    assert_eq!(r.injected[0], seq_of(&r, EventKind::DataReceived)[0]);
}

#[test]
fn a_fault_that_never_meets_its_callback_fails_the_script_and_changes_nothing_else() {
    let script = |fault: bool| {
        let s = Script::new().resolve(1, Outcome::Refuse);
        let s = if fault {
            s.fault(EventKind::ConnectionLost, Some(Conn::Client(1)))
        } else {
            s
        };
        s.shutdown()
    };
    let setup = |r: &callorder_core::Reactor| {
        client(r, ADDR, Behaviour::default());
    };
    let with = run(script(true), setup);
    let without = run(script(false), setup);
    without.assert_clean();
    assert!(with.injected.is_empty());
    assert_eq!(events(&with), events(&without));
    // The refused attempt made no connection: the fault tested nothing.
    let failures: Vec<String> = with.script_failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        failures,
        [
            "step 2 (fault connection_lost client 1): it never fired: no connection_lost to the \
          protocol of client 1 came after it was armed"
        ]
    );
    assert!(!with.is_clean());
}

#[test]
fn a_callback_that_fails_by_itself_is_still_an_error_of_the_implementation() {
    let b = Behaviour {
        on_data: OnData::Fail,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .fault(EventKind::DataReceived, None)
            .send(Conn::Client(1), b"x")
            .shutdown(),
        |r| {
            client(r, ADDR, b);
        },
    );
    assert_eq!(r.errors.len(), 1, "its own error is reported");
    assert!(r.injected.is_empty(), "the fault had nothing to add");
}

#[test]
fn faults_read_and_print_in_the_script_format() {
    let text = "fault start_factory\nresolve 1 accept\nfault data_received client 1\nbatch {\n  fault connection_lost server 2\n  close client 1\n}\nshutdown\n";
    let file = parse_script(text, "faults.script").expect("a valid script");
    assert_eq!(
        file.script.steps()[2],
        callorder_harness::Step::Batch(vec![callorder_harness::WorldEvent::Fault {
            callback: EventKind::DataReceived,
            conn: Some(Conn::Client(1)),
        }])
    );
    assert_eq!(print_script(&file), text);
}

#[test]
fn a_fault_on_anything_but_an_implementation_callback_is_a_script_error() {
    for (text, col, expected) in [
        ("fault do_start\n", 7, "a callback of the implementation"),
        ("fault write\n", 7, "a callback of the implementation"),
        (
            "fault datareceived\n",
            7,
            "a callback of the implementation",
        ),
        (
            "fault build_protocol client 1\n",
            22,
            "a connection names a protocol",
        ),
    ] {
        let e = parse_script(text, "bad.script").expect_err(text);
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("bad.script:1:{col}:")),
            "{text:?}: {shown}"
        );
        assert!(shown.contains(expected), "{text:?}: {shown}");
    }
}

#[test]
fn an_inner_build_protocol_fault_drops_the_protocol_it_built() {
    // The reactor is the wrapper here: a CheckedFactory straight under it.
    let (checked, inner) = callorder_harness::CheckedFactory::new(ProbeFactory {
        b: Behaviour::default(),
        retries: std::cell::RefCell::new(0),
    });
    inner.fault(EventKind::BuildProtocol);
    let r = run(
        Script::new()
            .accept(1, "10.9.9.9:5000")
            .accept(1, "10.9.9.9:5001")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", std::sync::Arc::new(checked))
                .unwrap();
        },
    );
    let inner = inner.finish();
    assert!(inner.violation.is_none(), "{}", inner.trace_jsonl());
    let builds: Vec<_> = inner
        .trace
        .iter()
        .filter(|x| x.step.event.kind() == EventKind::BuildProtocol)
        .map(|x| (x.step.failed, x.step.event.protocol().is_some()))
        .collect();
    assert_eq!(
        builds,
        [(true, false), (false, true)],
        "the first build failed and made no protocol; the second is whole"
    );
    assert_eq!(
        kinds(&r)
            .iter()
            .filter(|k| **k == EventKind::ConnectionMade)
            .count(),
        1
    );
}
