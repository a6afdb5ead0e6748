//! Reconnect storms: an implementation that starts again, with no delay,
//! every time something ends. Actions never re-enter, so a storm is a loop
//! of deliveries, not a growing stack: the step budget stops each one with
//! an error that names the callback and the object that kept the reactor
//! busy, and the action it made there. One test per retry path.

// Factories are shared as `Arc` by the API; the mock reactor is
// single-threaded, so a factory may keep `Rc` state.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Port, Protocol,
    Reactor, Reason,
};
use callorder_harness::{ImplErrorKind, MockReactor, Run, Script, StepBudget};
use callorder_trace::EventKind;

/// A budget small enough for a storm to spend in a moment.
const BUDGET: StepBudget = StepBudget {
    turns: 3_000,
    ..StepBudget::DEFAULT
};

/// How the storm's client starts again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// `connect` inside every `client_connection_failed`.
    OnFailed,
    /// `connect` inside every `client_connection_lost`.
    OnLost,
    /// `stop_connecting` inside every `started_connecting`, and `connect`
    /// inside the `client_connection_failed(user_cancelled)` that follows.
    StopConnectingLoop,
    /// `disconnect` inside every `started_connecting` (as stop_connecting,
    /// while connecting: C8), and `connect` inside the failure that follows.
    DisconnectLoop,
    /// `connect` from a zero-delay timer that every
    /// `client_connection_failed` schedules.
    LaterOnFailed,
}

struct Stormy {
    retry: Retry,
}

/// A protocol that does nothing.
struct Quiet;

#[async_trait(?Send)]
impl Protocol for Quiet {
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

#[async_trait(?Send)]
impl Factory for Stormy {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Quiet)))
    }
}

/// A server factory that builds no protocol: every connection it accepts
/// closes at once, cleanly.
struct ClosesAll;

#[async_trait(?Send)]
impl Factory for ClosesAll {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[async_trait(?Send)]
impl ClientFactory for Stormy {
    async fn started_connecting(&self, c: &Connector) -> CallbackResult {
        match self.retry {
            Retry::StopConnectingLoop => c.stop_connecting()?,
            Retry::DisconnectLoop => c.disconnect()?,
            _ => {}
        }
        Ok(())
    }
    async fn client_connection_failed(&self, c: &Connector, _: Reason) -> CallbackResult {
        if matches!(
            self.retry,
            Retry::OnFailed | Retry::StopConnectingLoop | Retry::DisconnectLoop
        ) {
            c.connect()?;
        }
        if self.retry == Retry::LaterOnFailed {
            let c = c.clone();
            c.reactor().call_later(Duration::ZERO, move || {
                let _ = c.connect();
            });
        }
        Ok(())
    }
    async fn client_connection_lost(&self, c: &Connector, _: Reason) -> CallbackResult {
        if self.retry == Retry::OnLost {
            c.connect()?;
        }
        Ok(())
    }
}

/// The run's one error, which must be the budget's.
fn busy(run: &Run) -> &str {
    let [error] = &run.errors[..] else {
        panic!("expected one error, got {:?}", run.errors);
    };
    assert_eq!(error.kind, ImplErrorKind::Busy, "{error}");
    assert!(!run.is_clean());
    // The run stopped where the budget ran out: no shutdown, no end.
    assert_eq!(run.events_of_kind(EventKind::End).count(), 0);
    &error.message
}

fn storm(retry: Retry, timeout: Option<Duration>, listen: bool) -> Run {
    MockReactor::new()
        .step_budget(BUDGET)
        .run(Script::new().shutdown(), |r| {
            if listen {
                r.listen_tcp("127.0.0.1:80", Arc::new(ClosesAll)).unwrap();
            }
            r.connect_tcp("127.0.0.1:80", Arc::new(Stormy { retry }), timeout);
        })
}

#[test]
fn a_connect_in_every_client_connection_failed_with_no_delay_is_stopped_naming_both() {
    // A timeout of zero fails every attempt in the turn after it starts.
    let run = storm(Retry::OnFailed, Some(Duration::ZERO), false);
    let message = busy(&run);
    assert!(
        message.starts_with(
            "the run never went quiet: the set-up took more than 3000 turns (callbacks, I/O \
             batches and timers), the budget of MockReactor::step_budget; the run stopped there"
        ),
        "{message}"
    );
    assert!(
        message.contains(
            "; the busiest action: connect of c1, made in client_connection_failed of c1 ("
        ),
        "{message}"
    );
}

#[test]
fn a_connect_in_every_client_connection_lost_is_stopped_naming_both() {
    // A port of the same reactor accepts every attempt and closes it at
    // once.
    let run = storm(Retry::OnLost, None, true);
    let message = busy(&run);
    assert!(
        message.contains(
            "; the busiest action: connect of c1, made in client_connection_lost of c1 ("
        ),
        "{message}"
    );
}

#[test]
fn a_stop_connecting_loop_is_stopped_naming_the_callbacks() {
    let run = storm(Retry::StopConnectingLoop, None, false);
    let message = busy(&run);
    // The loop has two halves, as busy as each other: the busiest is one,
    // and the other is among the busiest events.
    let halves = [
        (
            "connect of c1, made in client_connection_failed of c1 (",
            "stop_connecting of c1",
        ),
        (
            "stop_connecting of c1, made in started_connecting of c1 (",
            "connect of c1",
        ),
    ];
    assert!(
        halves.iter().any(|(busiest, other)| {
            message.contains(&format!("; the busiest action: {busiest}")) && message.contains(other)
        }),
        "{message}"
    );
}

#[test]
fn a_disconnect_loop_is_stopped_naming_the_callbacks() {
    let run = storm(Retry::DisconnectLoop, None, false);
    let message = busy(&run);
    let halves = [
        (
            "connect of c1, made in client_connection_failed of c1 (",
            "disconnect of c1",
        ),
        (
            "disconnect of c1, made in started_connecting of c1 (",
            "connect of c1",
        ),
    ];
    assert!(
        halves.iter().any(|(busiest, other)| {
            message.contains(&format!("; the busiest action: {busiest}")) && message.contains(other)
        }),
        "{message}"
    );
}

#[test]
fn a_connect_from_a_zero_delay_timer_after_every_failure_is_stopped_naming_the_timer() {
    let run = storm(Retry::LaterOnFailed, Some(Duration::ZERO), false);
    let message = busy(&run);
    assert!(
        message.contains(
            "; the busiest action: connect of c1, made at the top level (a call_later timer or \
             the set-up) ("
        ),
        "{message}"
    );
    assert!(
        message.contains("client_connection_failed of c1"),
        "{message}"
    );
    assert!(message.contains("timers ran in this step"), "{message}");
}

/// A server factory that listens again whenever it stops, and stops the
/// new port as soon as it starts.
struct Relisten {
    reactor: Reactor,
    this: RefCell<std::sync::Weak<Relisten>>,
    port: RefCell<Option<Port>>,
}

#[async_trait(?Send)]
impl Factory for Relisten {
    async fn start_factory(&self, _: &Reactor) -> CallbackResult {
        if let Some(port) = self.port.borrow_mut().take() {
            port.stop_listening()?;
        }
        Ok(())
    }
    async fn stop_factory(&self) -> CallbackResult {
        let me = self
            .this
            .borrow()
            .upgrade()
            .expect("the port's factory is alive");
        let port = self.reactor.listen_tcp("127.0.0.1:80", me)?;
        *self.port.borrow_mut() = Some(port);
        Ok(())
    }
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[test]
fn a_listen_and_stop_loop_is_stopped_naming_the_callback_that_listens() {
    let run = MockReactor::new()
        .step_budget(BUDGET)
        .run(Script::new().shutdown(), |r| {
            let factory = Arc::new(Relisten {
                reactor: r.clone(),
                this: RefCell::default(),
                port: RefCell::new(None),
            });
            *factory.this.borrow_mut() = Arc::downgrade(&factory);
            let port = r.listen_tcp("127.0.0.1:80", factory.clone()).unwrap();
            *factory.port.borrow_mut() = Some(port);
        });
    let message = busy(&run);
    assert!(
        message.contains("; the busiest action: listen_tcp of l"),
        "{message}"
    );
    assert!(
        message.contains(", made in stop_factory of f1 ("),
        "{message}"
    );
    assert!(message.contains("timers ran in this step"), "{message}");
}
