//! The soak's workload, shared by its test (`tests/soak.rs`) and its
//! benchmark (`benches/soak.rs`): sequential life cycles of one shared
//! factory in one mock reactor, under the checker, set up as a long run.

// The bench runs only the long run. Factories are shared as `Arc` by the
// API; the mock reactor is single-threaded, so a factory may keep `Cell`s.
#![allow(dead_code, clippy::arc_with_non_send_sync)]

use std::cell::{Cell, RefCell};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Reason, Transport,
};
use callorder_harness::{Bytes, Conn, MockReactor, Outcome, Run, Script, Steps};

/// The life cycle's protocol: one write on connection_made.
struct Client;

#[async_trait(?Send)]
impl Protocol for Client {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(b"hello")?;
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

/// The one factory of every life cycle: when a connection ends, the
/// application connects again from a zero-delay timer, as the next
/// iteration of a loop would, with a new connector each time.
struct Cycles {
    reactor: Reactor,
    left: Cell<usize>,
    this: RefCell<Weak<Cycles>>,
}

const SERVER: &str = "10.0.0.1:80";

#[async_trait(?Send)]
impl Factory for Cycles {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Client)))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Cycles {
    async fn client_connection_lost(&self, _: &Connector, _: Reason) -> CallbackResult {
        let left = self.left.get();
        if left > 0 {
            self.left.set(left - 1);
            let me = self.this.borrow().upgrade().expect("the test holds it");
            let reactor = self.reactor.clone();
            self.reactor.call_later(Duration::ZERO, move || {
                reactor.connect_tcp(SERVER, me, None);
            });
        }
        Ok(())
    }
}

/// How a soak keeps its records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// As a long run: the last records of the trace, the last ended
    /// connections, steps made as the run reaches them.
    Little,
    /// Every record and every ended connection (the default of a run),
    /// steps still made as the run reaches them.
    Everything,
}

/// Runs `cycles` sequential life cycles (connect_tcp, do_start,
/// start_factory, started_connecting, build_protocol, connection_made with
/// a write, data_received, connection_lost, client_connection_lost,
/// do_stop, stop_factory) of one factory. `at_cycle(n)` runs as the run
/// reaches cycle `n`'s first step, between two cycles.
pub fn soak(cycles: usize, keep: Keep, mut at_cycle: impl FnMut(usize) + 'static) -> Run {
    let payload = Bytes::from_static(b"a reply the peer sends on every connection");
    let steps = Steps::repeat(cycles, move |n| {
        at_cycle(n);
        Script::new()
            .resolve(n, Outcome::Accept)
            .send_bytes(Conn::Client(n), payload.clone())
            .close(Conn::Client(n))
    })
    .then(Script::new().shutdown());
    let reactor = match keep {
        Keep::Little => MockReactor::new().keep_last(64).keep_ended(8),
        Keep::Everything => MockReactor::new(),
    };
    let run = reactor.run_steps(steps, |r| {
        let f = Arc::new(Cycles {
            reactor: r.clone(),
            left: Cell::new(cycles - 1),
            this: RefCell::new(Weak::new()),
        });
        *f.this.borrow_mut() = Arc::downgrade(&f);
        r.connect_tcp(SERVER, f, None);
    });
    run.assert_clean();
    // Every life cycle ran: the last one's connector is the n-th.
    let last_stop = run
        .events_of_kind(callorder_trace::EventKind::DoStop)
        .last()
        .and_then(|r| r.step.event.connector());
    assert_eq!(last_stop.map(|c| c.0), Some(cycles as u64));
    run
}
