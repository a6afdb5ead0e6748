//! `MockReactor::keep_ended`: a long run lets go of ended connections
//! beyond the last few, and of the attempts and connectors done with, while
//! every step still numbers attempts and connections as before and still
//! hears what became of the one it names.

#![allow(clippy::arc_with_non_send_sync)]

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use callorder_core::Connector;
use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use support::*;

const ADDR: &str = "10.0.0.1:80";

/// `n` clients, each accepted and closed in turn.
fn cycles(n: usize) -> Script {
    (1..=n).fold(Script::new(), |s, i| {
        s.resolve(i, Outcome::Accept).close(Conn::Client(i))
    })
}

fn failures(run: &Run) -> Vec<String> {
    run.script_failures.iter().map(|f| f.to_string()).collect()
}

fn clients(r: &callorder_core::Reactor, n: usize) {
    for _ in 0..n {
        client(r, ADDR, Behaviour::default());
    }
}

#[test]
fn only_the_last_ended_connections_are_kept_and_the_run_is_the_same_otherwise() {
    let run = |reactor: MockReactor| reactor.run(cycles(20).shutdown(), |r| clients(r, 20));
    let all = run(MockReactor::new());
    let few = run(MockReactor::new().keep_ended(3));
    all.assert_clean();
    few.assert_clean();
    assert_eq!(few.trace, all.trace, "the same run");
    let kept: Vec<Conn> = few.connections.iter().map(|c| c.conn).collect();
    assert_eq!(kept, [Conn::Client(18), Conn::Client(19), Conn::Client(20)]);
    assert_eq!(all.connections.len(), 20);
}

#[test]
fn a_step_naming_a_connection_let_go_fails_saying_it_ended() {
    let script = cycles(5)
        .send(Conn::Client(2), b"late")
        .expect(Conn::Client(1), b"")
        .resolve(2, Outcome::Accept)
        .shutdown();
    let run = MockReactor::new()
        .keep_ended(1)
        .run(script, |r| clients(r, 5));
    assert_eq!(
        failures(&run),
        [
            "step 11 (send client 2 \"late\"): connection client 2 has ended: its \
             connection_lost came before this step, and the reactor let go of its record \
             (MockReactor::keep_ended) (connections so far: client 5 (ended); attempts: 5)",
            "step 12 (expect client 1 \"\"): no connection client 1: it has ended, and the \
             reactor let go of its record (MockReactor::keep_ended) (connections so far: client \
             5 (ended); attempts: 5)",
            "step 13 (resolve 2 accept): attempt 2 is over, and the reactor let go of it \
             (MockReactor::keep_ended; attempts so far: 5)",
        ]
    );
}

#[test]
fn an_attempt_let_go_that_never_connected_still_says_so() {
    // Attempt 1 is refused; attempts 2 and 3 connect and end, which lets
    // attempt 1 go with them.
    let script = Script::new()
        .resolve(1, Outcome::Refuse)
        .resolve(2, Outcome::Accept)
        .close(Conn::Client(2))
        .resolve(3, Outcome::Accept)
        .close(Conn::Client(3))
        .close(Conn::Client(1))
        .shutdown();
    let run = MockReactor::new()
        .keep_ended(0)
        .run(script, |r| clients(r, 3));
    assert_eq!(
        failures(&run),
        [
            "step 6 (close client 1): no connection client 1: attempt 1 did not connect \
          (connections so far: none; attempts: 3)"
        ]
    );
}

#[test]
fn a_connection_still_open_holds_the_tables_open_and_stays_reachable() {
    // Client 1 stays open while nine others come and go.
    let mut s = Script::new().resolve(1, Outcome::Accept);
    for i in 2..=10 {
        s = s.resolve(i, Outcome::Accept).close(Conn::Client(i));
    }
    let s = s
        .send(Conn::Client(1), b"still here")
        .close(Conn::Client(1))
        .shutdown();
    let run = MockReactor::new().keep_ended(0).run(s, |r| clients(r, 10));
    run.assert_clean();
    assert_eq!(
        run.bytes_received(Conn::Client(1)),
        None,
        "let go once it ended"
    );
    assert_eq!(
        run.events_of_kind(callorder_trace::EventKind::DataReceived)
            .count(),
        1
    );
}

#[test]
fn a_write_error_that_never_fired_on_a_connection_let_go_is_reported() {
    let script = Script::new()
        .resolve(1, Outcome::Accept)
        .write_error(Conn::Client(1))
        .close(Conn::Client(1))
        .shutdown();
    let run = MockReactor::new()
        .keep_ended(0)
        .run(script, |r| clients(r, 1));
    assert_eq!(
        failures(&run),
        [
            "step 2 (write_error client 1): it never fired: no write of the implementation on \
          client 1 reached the socket after it"
        ]
    );
}

#[test]
fn a_connector_whose_handle_is_kept_is_not_let_go_and_may_connect_again() {
    let kept: Rc<RefCell<Option<Connector>>> = Rc::default();
    let again = kept.clone();
    let run = MockReactor::new().keep_ended(0).run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .advance(Duration::from_secs(2))
            .resolve(2, Outcome::Accept)
            .close(Conn::Client(2))
            .shutdown(),
        move |r| {
            *kept.borrow_mut() = Some(client(r, ADDR, Behaviour::default()));
            r.call_later(Duration::from_secs(1), move || {
                let c = again.borrow_mut().take().expect("kept");
                c.connect()
                    .expect("a disconnected connector connects again");
            });
        },
    );
    run.assert_clean();
    assert_eq!(
        run.events_of_kind(callorder_trace::EventKind::ConnectionMade)
            .count(),
        2
    );
}
