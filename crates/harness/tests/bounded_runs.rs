//! Peers with bounded memory, and runs that must end: a script peer keeps a
//! bounded record of what it read, and a run that never goes quiet stops
//! at its step budget with an error naming what kept it busy.

// Factories are shared as `Arc` by the API; the mock reactor is
// single-threaded, so a test's factory may keep `Rc` state.
#![allow(clippy::arc_with_non_send_sync)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Reason, Transport,
};
use callorder_harness::{Conn, ImplErrorKind, MockReactor, Outcome, Run, Script, StepBudget};
use callorder_trace::EventKind;

/// A pull producer that writes `chunk` bytes each time it is asked for
/// more, without end: correct code, for a peer that reads what it wants and
/// then goes away.
struct Flood {
    chunk: usize,
    t: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for Flood {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.register_producer(false)?;
        self.t = Some(t);
        Ok(())
    }
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
    async fn resume_producing(&mut self) -> CallbackResult {
        let t = self.t.as_ref().expect("made");
        t.write(&vec![b'x'; self.chunk])?;
        Ok(())
    }
    async fn stop_producing(&mut self) -> CallbackResult {
        Ok(())
    }
}

/// Builds protocols from `make`; for a client, reconnects after every
/// outcome when `eager` (at once: no delay).
struct Maker<F> {
    make: F,
    eager: bool,
}

#[async_trait(?Send)]
impl<F: Fn() -> Option<Box<dyn Protocol>> + 'static> Factory for Maker<F> {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok((self.make)())
    }
}

#[async_trait(?Send)]
impl<F: Fn() -> Option<Box<dyn Protocol>> + 'static> ClientFactory for Maker<F> {
    async fn client_connection_lost(&self, c: &Connector, _: Reason) -> CallbackResult {
        if self.eager {
            c.connect()?;
        }
        Ok(())
    }
}

fn flood(chunk: usize) -> Arc<Maker<impl Fn() -> Option<Box<dyn Protocol>>>> {
    Arc::new(Maker {
        make: move || Some(Box::new(Flood { chunk, t: None }) as Box<dyn Protocol>),
        eager: false,
    })
}

/// A protocol that does nothing.
struct Quiet;

#[async_trait(?Send)]
impl Protocol for Quiet {
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

fn quiet() -> Arc<Maker<impl Fn() -> Option<Box<dyn Protocol>>>> {
    Arc::new(Maker {
        make: || Some(Box::new(Quiet) as Box<dyn Protocol>),
        eager: false,
    })
}

fn busy(run: &Run) -> Vec<&str> {
    run.errors
        .iter()
        .filter(|e| e.kind == ImplErrorKind::Busy)
        .map(|e| e.message.as_str())
        .collect()
}

#[test]
fn a_producer_without_end_and_a_peer_that_reads_200_kb_then_resets_is_a_clean_run() {
    let run = MockReactor::new().run(
        Script::new()
            .window(Conn::Client(1), Some(200_000))
            .resolve(1, Outcome::Accept)
            .expect(Conn::Client(1), &[b'x'; 200_000])
            .reset(Conn::Client(1))
            .shutdown(),
        |r| {
            r.connect_tcp("example.org:80", flood(64 * 1024), None);
        },
    );
    run.assert_clean();
    assert_eq!(run.written[0].1.len(), 200_000);
    assert!(run.written_cut.is_empty());
    // Four chunks went out; the peer read the first 200,000 bytes.
    assert_eq!(run.bytes_written(Conn::Client(1)), Some(4 * 64 * 1024));
}

#[test]
fn a_producer_to_a_peer_that_reads_everything_stops_at_the_byte_budget_with_a_bounded_record() {
    let run = MockReactor::new().run(Script::new().resolve(1, Outcome::Accept).shutdown(), |r| {
        r.connect_tcp("example.org:80", flood(1 << 20), None);
    });
    assert_eq!(
        busy(&run),
        [
            "the run never went quiet: step 1 (resolve 1 accept) had the implementation write \
          more than 1073741824 bytes, the budget of MockReactor::step_budget; the run stopped \
          there; busiest in its last 1000 events: resume_producing of p1 (500), write of p1 \
          (500); the busiest action: write of p1, made in resume_producing of p1 (499 times in \
          its last 1000 events)"
        ]
    );
    assert!(!run.is_clean());
    // The run stopped: no shutdown, no end.
    assert_eq!(run.events_of_kind(EventKind::Shutdown).count(), 0);
    // What the peer read is kept up to 1 MiB, and counted on.
    assert_eq!(run.written[0].1.len(), 1 << 20);
    let (conn, read) = run.written_cut[0];
    assert_eq!(conn, Conn::Client(1));
    assert!(read >= 1 << 30, "{read}");
    // The last chunk was written, and not read yet.
    assert_eq!(run.bytes_written(Conn::Client(1)), Some(read + (1 << 20)));
}

#[test]
fn a_reconnect_loop_with_no_delay_stops_at_the_turn_budget() {
    // A port of the same reactor that builds no protocol closes every
    // connection at once, and the client connects again at once.
    let run = MockReactor::new()
        .step_budget(StepBudget {
            turns: 2_000,
            ..StepBudget::DEFAULT
        })
        .run(Script::new().shutdown(), |r| {
            let none = || {
                Arc::new(Maker {
                    make: || None,
                    eager: true,
                })
            };
            r.listen_tcp("127.0.0.1:80", none()).unwrap();
            r.connect_tcp("127.0.0.1:80", none(), None);
        });
    let messages = busy(&run);
    assert_eq!(messages.len(), 1, "{:?}", run.errors);
    assert!(
        messages[0].starts_with(
            "the run never went quiet: the set-up took more than 2000 turns (callbacks, I/O \
             batches and timers), the budget of MockReactor::step_budget; the run stopped there; \
             busiest in its last 1000 events: "
        ),
        "{}",
        messages[0]
    );
    assert!(
        messages[0].contains("client_connection_lost of c1"),
        "{}",
        messages[0]
    );
}

#[test]
fn a_timer_that_schedules_itself_at_zero_delay_stops_at_the_turn_budget() {
    fn again(r: Reactor) {
        r.clone().call_later(Duration::ZERO, move || again(r));
    }
    let run = MockReactor::new()
        .step_budget(StepBudget {
            turns: 500,
            ..StepBudget::DEFAULT
        })
        .run(
            Script::new().advance(Duration::from_secs(1)).shutdown(),
            |r| {
                r.clone().call_later(Duration::from_millis(10), {
                    let r = r.clone();
                    move || again(r)
                });
            },
        );
    assert_eq!(
        busy(&run),
        [
            "the run never went quiet: step 1 (advance 1s) took more than 500 turns (callbacks, \
          I/O batches and timers), the budget of MockReactor::step_budget; the run stopped \
          there; 501 timers ran in this step"
        ]
    );
}

#[test]
fn the_budget_is_counted_afresh_for_each_step() {
    let budget = StepBudget {
        turns: 20,
        ..StepBudget::DEFAULT
    };
    let setup = |r: &Reactor| {
        for _ in 0..10 {
            r.connect_tcp("example.org:80", quiet(), None);
        }
    };
    // Ten life cycles, a few turns a step, fit a budget of 20 turns a step.
    let one_by_one = (1..=10).fold(Script::new(), |s, n| {
        s.resolve(n, Outcome::Accept).close(Conn::Client(n))
    });
    let run = MockReactor::new()
        .step_budget(budget)
        .run(one_by_one.shutdown(), setup);
    run.assert_clean();
    // All in one step, they do not.
    let resolves = (1..=10)
        .map(|attempt| callorder_harness::WorldEvent::Resolve {
            attempt,
            outcome: Outcome::Accept,
        })
        .collect();
    let run = MockReactor::new()
        .step_budget(budget)
        .run(Script::new().batch(resolves).shutdown(), setup);
    assert_eq!(busy(&run).len(), 1);
}

#[test]
fn the_record_of_what_a_peer_read_keeps_what_the_limit_says() {
    let script = || {
        Script::new()
            .window(Conn::Client(1), Some(3 << 20))
            .resolve(1, Outcome::Accept)
            .reset(Conn::Client(1))
            .shutdown()
    };
    let setup = |r: &Reactor| {
        r.connect_tcp("example.org:80", flood(1 << 20), None);
    };
    // The default, 1 MiB.
    let run = MockReactor::new().run(script(), setup);
    run.assert_clean();
    assert_eq!(run.written[0].1.len(), 1 << 20);
    assert_eq!(run.written_cut, [(Conn::Client(1), 3 << 20)]);
    // A small limit.
    let run = MockReactor::new()
        .written_limit(Some(10))
        .run(script(), setup);
    assert_eq!(run.written[0].1, b"xxxxxxxxxx");
    assert_eq!(run.written_cut, [(Conn::Client(1), 3 << 20)]);
    // Everything.
    let run = MockReactor::new().written_limit(None).run(script(), setup);
    assert_eq!(run.written[0].1.len(), 3 << 20);
    assert!(run.written_cut.is_empty());
}

#[test]
fn an_expect_past_a_cut_record_says_so() {
    let run = MockReactor::new().written_limit(Some(4)).run(
        Script::new()
            .window(Conn::Client(1), Some(6))
            .resolve(1, Outcome::Accept)
            .expect(Conn::Client(1), b"xxxxxx")
            .reset(Conn::Client(1))
            .shutdown(),
        |r| {
            r.connect_tcp("example.org:80", flood(8), None);
        },
    );
    let failures: Vec<String> = run.script_failures.iter().map(|f| f.to_string()).collect();
    assert_eq!(
        failures,
        [
            "step 3 (expect client 1 \"xxxxxx\"): the record of what its peer read was cut at 4 \
          bytes (MockReactor::written_limit), and this expect needs bytes 0..6"
        ]
    );
}
