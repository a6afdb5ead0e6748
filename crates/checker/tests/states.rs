//! `Checker::states`, the spec's state names of every live object, as a
//! specification: each phase and fact is named when it holds, and only
//! then.

mod support;

use callorder_checker::{Checker, Object, Profile};
use callorder_trace::TraceReader;
use support::*;

/// The checker after every event of the script (which must be legal).
fn checked(script: &str) -> Checker {
    let (jsonl, _) = to_jsonl(script);
    let mut checker = Checker::new(Profile::Strict);
    for record in TraceReader::new(jsonl.as_bytes()) {
        let record = record.expect("test traces are well formed");
        checker.step(&record.step).expect("the script is legal");
    }
    checker
}

/// The phase and facts of every live object of one kind, in id order.
fn states_of(script: &str, kind: fn(&Object) -> bool) -> Vec<(&'static str, Vec<&'static str>)> {
    checked(script)
        .states()
        .into_iter()
        .filter(|s| kind(&s.object))
        .map(|s| (s.phase, s.facts))
        .collect()
}

fn port(o: &Object) -> bool {
    matches!(o, Object::Port(_))
}

fn factory(o: &Object) -> bool {
    matches!(o, Object::Factory(_))
}

fn protocol(o: &Object) -> bool {
    matches!(o, Object::Protocol(_))
}

const LISTEN: &str = "
    0 listen_tcp factory=f1 port=l1
    0 do_start factory=f1 port=l1
    1 start_factory factory=f1
";

#[test]
fn a_factory_is_named_by_its_start_count() {
    // start_factory raised: the count stayed at 0, and the factory is
    // still known (its port is stuck).
    let raised = "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1 !error
    ";
    assert_eq!(states_of(raised, factory), [("count 0", vec![])]);
    assert_eq!(states_of(LISTEN, factory), [("count 1", vec![])]);
    let two = trace(&[
        LISTEN,
        "
        0 listen_tcp factory=f1 port=l2
        0 do_start factory=f1 port=l2
        ",
    ]);
    assert_eq!(states_of(&two, factory), [("count many", vec![])]);
}

#[test]
fn a_port_is_awaiting_do_start_then_listening_then_stopping() {
    assert_eq!(
        states_of("0 listen_tcp factory=f1 port=l1", port),
        [("awaiting do_start", vec![])]
    );
    assert_eq!(states_of(LISTEN, port), [("listening", vec![])]);
    assert_eq!(
        states_of(&trace(&[LISTEN, "0 stop_listening port=l1"]), port),
        [("stopping", vec![])]
    );
}

#[test]
fn only_a_started_port_is_shutting_down_after_shutdown() {
    assert_eq!(
        states_of(&trace(&[LISTEN, "0 shutdown"]), port),
        [("listening", vec!["shutting down"])]
    );
    assert_eq!(
        states_of("0 listen_tcp factory=f1 port=l1\n0 shutdown", port),
        [("awaiting do_start", vec![])]
    );
}

#[test]
fn a_protocol_is_built_then_made_then_half_closed_one_way_at_a_time() {
    let built = trace(&[LISTEN, "0 build_protocol factory=f1 port=l1 protocol=p1"]);
    assert_eq!(states_of(&built, protocol), [("built", vec![])]);
    assert_eq!(states_of(SERVER_MADE, protocol), [("made", vec![])]);
    let read_closed = trace(&[SERVER_MADE, "0 read_connection_lost protocol=p1"]);
    assert_eq!(
        states_of(&read_closed, protocol),
        [("made", vec!["half-closed (read)"])]
    );
    let closing = trace(&[
        SERVER_MADE,
        "
        0 data_received protocol=p1 bytes=1
        1 lose_write_connection protocol=p1
        ",
    ]);
    assert_eq!(
        states_of(&closing, protocol),
        [("made", vec!["half-closing (write)"])]
    );
    let closed = trace(&[&closing, "0 write_connection_lost protocol=p1"]);
    assert_eq!(
        states_of(&closed, protocol),
        [("made", vec!["half-closed (write)"])]
    );
}
