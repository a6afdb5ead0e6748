//! Minimal reproductions of the mock reactor's departures from Twisted that
//! the fidelity test found (see `docs/fidelity.md`), kept as regression
//! tests now that they are fixed; each asserts what Twisted does, except
//! the one marked as a deliberate difference.

use std::time::Duration;

use callorder_harness::{MockReactor, Outcome, Run, Script};
use callorder_scenarios::set_up;
use callorder_trace::{Event, EventKind, Holder, Reason};

fn run(name: &str, script: Script) -> Run {
    MockReactor::new().run(script, |r| set_up(name, r).expect("a known scenario"))
}

fn position(run: &Run, what: impl Fn(&Event) -> bool) -> Option<usize> {
    run.trace.iter().position(|r| what(&r.step.event))
}

fn kind(run: &Run, k: EventKind) -> Option<usize> {
    position(run, |e| e.kind() == k)
}

// Found by the fidelity test (fixed): a server factory's build_protocol returns none for a joined
// connection: the server side is closed before the client side is built,
// and the client, once made, never hears of it (its connection stays open
// until the teardown, where it is lost with connection_lost). Twisted: the
// client gets connection_lost(connection_done) in the next turn (S2).
#[test]

fn a_client_whose_server_built_no_protocol_sees_a_clean_close() {
    let run = run("server_build_protocol_none", Script::new().shutdown());
    let lost = position(&run, |e| {
        matches!(
            e,
            Event::ConnectionLost {
                reason: Reason::ConnectionDone,
                ..
            }
        )
    });
    let shutdown = kind(&run, EventKind::Shutdown);
    assert!(lost.is_some() && lost < shutdown, "{}", run.trace_jsonl());
}

// Found by the fidelity test (fixed): zero-delay timers wait until no I/O is ready at all. A turn
// delivers one I/O batch and returns without running the due timers when
// more I/O is already pending, so a port's do_stop (a zero-delay timer
// after stop_listening) comes only after the next batches (here: after the
// client's whole loss chain). Twisted runs due timers at the start of every
// iteration, before the next poll (`runUntilCurrent`): do_stop comes before
// the client's connection_lost.
#[test]

fn a_zero_delay_timer_runs_before_the_next_io_batch() {
    let run = run(
        "server_stop_listening_in_build_protocol",
        Script::new().shutdown(),
    );
    let port_stop = position(&run, |e| {
        matches!(
            e,
            Event::DoStop {
                holder: Some(Holder::Port(_)),
                ..
            }
        )
    });
    let client_lost = kind(&run, EventKind::ClientConnectionLost);
    assert!(
        port_stop.is_some() && port_stop < client_lost,
        "{}",
        run.trace_jsonl()
    );
}

// Found by the fidelity test (fixed): bytes a protocol wrote and then discarded with
// abort_connection (before any flush) still reach the joined peer as
// data_received. Twisted: abortConnection drops the write buffer; a peer
// that never got the bytes sees only connection_lost.
#[test]

fn bytes_discarded_by_an_abort_never_reach_the_peer() {
    let run = run(
        "abort_in_pause_producing",
        Script::new().stop_listening(1).shutdown(),
    );
    assert_eq!(
        kind(&run, EventKind::DataReceived),
        None,
        "{}",
        run.trace_jsonl()
    );
}

// A deliberate difference, not a bug: the mock lets a protocol object go at
// its connection_lost, so that it cannot leak. A register_producer made on
// its transport later (here from a timer) finds no producer to stop: it
// fails with ConnectionGone, recorded as `error` on the action, and no
// stop_producing follows. Twisted calls stopProducing on the object, which
// lives on as long as anything holds it (P3, PR1). Both are legal.
#[test]
fn a_producer_registered_after_the_protocol_was_let_go_fails_cleanly() {
    let run = run(
        "register_producer_after_disconnect",
        Script::new()
            .advance(Duration::from_millis(10))
            .stop_listening(1)
            .shutdown(),
    );
    run.assert_clean();
    let registered = kind(&run, EventKind::RegisterProducer).expect("registered");
    assert!(run.trace[registered].step.failed, "{}", run.trace_jsonl());
    assert_eq!(kind(&run, EventKind::StopProducing), None);
}

// Found by the fidelity test (fixed): a set-up action's record is queued behind what earlier
// set-up actions trigger, but its effect is immediate, so its own
// consequences can come out before it: connect_tcp then stop_connecting in
// the set-up gives do_start, started_connecting, client_connection_failed,
// do_stop and only then stop_connecting, which the checker rejects (a
// stop_connecting on a disconnected connector must have failed). Twisted:
// stop_connecting after started_connecting, then client_connection_failed.
#[test]

fn a_set_up_stop_connecting_comes_before_its_failure() {
    let run = run("stop_connecting_immediately", Script::new().shutdown());
    assert!(run.violation.is_none(), "{:?}", run.violation);
    let stop = kind(&run, EventKind::StopConnecting);
    let failed = kind(&run, EventKind::ClientConnectionFailed);
    assert!(stop.is_some() && stop < failed, "{}", run.trace_jsonl());
}

// Found by the fidelity test (fixed): a write that fills the buffer queues pause_producing for
// after the callback; if the same callback then unregisters the producer,
// the harness still delivers pause_producing, and its own checker rejects
// the trace (PR-CALLBACK: no producer is registered), ending the run. The
// action changes state when it is made, so the pause is no longer owed.
#[test]

fn no_pause_after_the_producer_unregistered() {
    let run = run(
        "streaming_producer_slow_reader",
        Script::new().resolve(1, Outcome::Accept).shutdown(),
    );
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert_eq!(
        run.trace.last().map(|r| r.step.event.kind()),
        Some(EventKind::End)
    );
}
