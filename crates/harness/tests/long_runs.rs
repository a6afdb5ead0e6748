//! Long runs: a reactor that keeps only the last records of the trace runs
//! exactly as one that keeps them all; only `Run::trace` is cut.

#![allow(clippy::arc_with_non_send_sync)]

mod support;

use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use callorder_trace::EventKind;
use support::*;

const ADDR: &str = "10.0.0.1:80";

/// Ten connections, with data, a failing callback and a retry among them:
/// errors and records completed after they began.
fn script() -> Script {
    let mut s = Script::new().fault(EventKind::DataReceived, Some(Conn::Client(3)));
    for i in 1..=10 {
        s = s
            .resolve(
                i,
                if i == 5 {
                    Outcome::Refuse
                } else {
                    Outcome::Accept
                },
            )
            .send(Conn::Client(i), b"ping")
            .close(Conn::Client(i));
    }
    s.shutdown()
}

fn run(reactor: MockReactor) -> Run {
    reactor.run(script(), |r| {
        for _ in 0..10 {
            client(
                r,
                ADDR,
                Behaviour {
                    write_on_made: Some(b"hello".to_vec()),
                    fail_on_lost: true,
                    ..Behaviour::default()
                },
            );
        }
    })
}

#[test]
fn keeping_the_last_records_cuts_the_trace_and_nothing_else() {
    let all = run(MockReactor::new());
    let last = run(MockReactor::new().keep_last(7));
    assert!(
        all.trace.len() > 50,
        "a run long enough to cut: {}",
        all.trace.len()
    );
    assert!(!all.errors.is_empty(), "the run has errors to compare");
    assert_eq!(last.trace.len(), 7);
    let tail = &all.trace[all.trace.len() - 7..];
    assert_eq!(last.trace, tail);
    assert_eq!(last.trace.last().unwrap().step.event.kind(), EventKind::End);
    assert_eq!(last.errors, all.errors);
    assert_eq!(last.injected, all.injected);
    assert_eq!(last.written, all.written);
    assert_eq!(last.violation, all.violation);
    assert_eq!(last.warnings, all.warnings);
}
