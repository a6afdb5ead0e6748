//! Fuzzing client factories alone, from the checker's legal next steps.

use std::cell::Cell;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason,
};
use callorder_fuzz::{fuzz_client_factory, CheckKind};
use callorder_reference::{Echo, LineClientFactory, ReconnectingClientFactory, RetryPolicy};

#[test]
fn the_reconnecting_client_factory_passes() {
    fuzz_client_factory(|| ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared())
        .check();
}

#[test]
fn the_reconnecting_client_factory_with_few_retries_passes() {
    fuzz_client_factory(|| {
        ReconnectingClientFactory::new(|_| Box::new(Echo::new()))
            .with_policy(RetryPolicy::default().with_jitter(0.0).with_max_retries(2))
            .shared()
    })
    .max_connectors(1)
    .check();
}

#[test]
fn the_line_client_factory_passes() {
    fuzz_client_factory(|| Arc::new(LineClientFactory::new(["HELO", "QUIT"]).close_after(1)))
        .check();
    fuzz_client_factory(|| Arc::new(LineClientFactory::new(["hello"]))).check();
}

#[test]
fn callbacks_come_in_legal_orders_and_the_factory_starts_once() {
    // Two connectors over one factory: start_factory once, stop_factory once
    // per time the start count falls to 0, and every attempt gets exactly
    // one outcome.
    fuzz_client_factory(|| Arc::new(LineClientFactory::new(["hi"])))
        .max_connectors(2)
        .invariant("starts and stops pair up", |trace, _| {
            let mut started = 0i64;
            for r in trace {
                match r.step.event.kind().to_string().as_str() {
                    "start_factory" => started += 1,
                    "stop_factory" => started -= 1,
                    _ => {}
                }
                if !(0..=1).contains(&started) {
                    return Err(format!("start count {started} at seq {}", r.step.seq));
                }
            }
            if started == 0 {
                Ok(())
            } else {
                Err("started at the end".into())
            }
        })
        .check();
}

/// A client factory that retries at once on a failed attempt, and calls
/// `connect` twice to be sure: the second raises (the connector is
/// connecting again), an implementation error.
struct RetriesTwice;

#[async_trait(?Send)]
impl Factory for RetriesTwice {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for RetriesTwice {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        let _ = connector.connect();
        let _ = connector.connect();
        Ok(())
    }
}

#[test]
fn connect_twice_in_client_connection_failed_is_found_and_shrunk() {
    let failure = *fuzz_client_factory(|| Arc::new(RetriesTwice))
        .run()
        .unwrap_err();
    println!("{failure}");
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(
        failure.finding.message.contains("connect was a bug"),
        "{failure}"
    );
    // One connector, one failed attempt (the shutdown fails it when no
    // choice does): do_start, start_factory, started_connecting,
    // client_connection_failed.
    assert_eq!(failure.case.connectors, 1, "{failure}");
    assert!(failure.case.choices.len() <= 1, "{failure}");
    assert_eq!(failure.callbacks, 4, "{failure}");
    assert!(
        failure.sequence.contains("-> connect (failed)"),
        "{failure}"
    );
}

/// A client factory that forgets its `connect` already retried: it retries
/// from a timer too, so the timer's `connect` raises.
struct RetriesFromTimerToo {
    armed: Cell<bool>,
}

#[async_trait(?Send)]
impl Factory for RetriesFromTimerToo {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for RetriesFromTimerToo {
    async fn client_connection_lost(&self, connector: &Connector, _: Reason) -> CallbackResult {
        connector.connect()?;
        if !self.armed.replace(true) {
            let again = connector.clone();
            connector
                .reactor()
                .call_later(std::time::Duration::from_secs(1), move || {
                    let _ = again.connect();
                });
        }
        Ok(())
    }
}

#[test]
fn a_stale_retry_timer_is_found() {
    #[allow(clippy::arc_with_non_send_sync)]
    let failure = *fuzz_client_factory(|| {
        Arc::new(RetriesFromTimerToo {
            armed: Cell::new(false),
        })
    })
    .run()
    .unwrap_err();
    println!("{failure}");
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(failure.sequence.contains("(timer at"), "{failure}");
}

/// Errors from the factory's callbacks are findings, with the callback named.
struct FailsToStart;

#[async_trait(?Send)]
impl Factory for FailsToStart {
    async fn start_factory(&self, _: &callorder_core::Reactor) -> CallbackResult {
        Err("no config".into())
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[async_trait(?Send)]
impl ClientFactory for FailsToStart {}

#[test]
fn an_error_in_start_factory_is_found() {
    let failure = *fuzz_client_factory(|| Arc::new(FailsToStart))
        .run()
        .unwrap_err();
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(
        failure.finding.message.contains("start_factory"),
        "{failure}"
    );
    assert_eq!(failure.callbacks, 2, "{failure}");
}

/// `build_protocol` returning none is legal: the attempt is lost at once.
struct BuildsNone;

#[async_trait(?Send)]
impl Factory for BuildsNone {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[async_trait(?Send)]
impl ClientFactory for BuildsNone {}

#[test]
fn a_factory_that_builds_none_passes() {
    fuzz_client_factory(|| Arc::new(BuildsNone))
        .cases(64)
        .check();
}

/// A client factory that retries at once, inside `client_connection_failed`
/// and `client_connection_lost`, up to three times: legal (no `do_stop`
/// between the attempts), and the driver follows it.
struct RetriesAtOnce {
    left: Cell<u32>,
}

#[async_trait(?Send)]
impl Factory for RetriesAtOnce {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for RetriesAtOnce {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        if self.left.get() > 0 {
            self.left.set(self.left.get() - 1);
            connector.connect()?;
        }
        Ok(())
    }

    async fn client_connection_lost(&self, connector: &Connector, r: Reason) -> CallbackResult {
        self.client_connection_failed(connector, r).await
    }
}

#[test]
fn a_retry_inside_the_outcome_callback_passes() {
    #[allow(clippy::arc_with_non_send_sync)]
    fuzz_client_factory(|| Arc::new(RetriesAtOnce { left: Cell::new(3) }))
        .invariant("a retry holds the start", |trace, _| {
            // After a connect inside an outcome, the next callback of that
            // connector is started_connecting, not do_stop.
            let kinds: Vec<String> = trace
                .iter()
                .map(|r| format!("{}@{}", r.step.event.kind(), r.step.depth))
                .collect();
            for w in kinds.windows(2) {
                if w[0] == "connect@1" && w[1] != "started_connecting@0" {
                    return Err(format!("{} after a retry", w[1]));
                }
            }
            Ok(())
        })
        .check();
}

/// A client factory that cancels every other attempt from
/// `started_connecting` and calls `disconnect` while building (a no-op
/// then): the cancelled attempts fail with `user_cancelled`.
struct Cancels {
    n: Cell<u32>,
    connector: std::cell::RefCell<Option<Connector>>,
}

#[async_trait(?Send)]
impl Factory for Cancels {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if let Some(c) = self.connector.borrow().as_ref() {
            c.disconnect()?;
        }
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Cancels {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        *self.connector.borrow_mut() = Some(connector.clone());
        self.n.set(self.n.get() + 1);
        if self.n.get() % 2 == 0 {
            connector.stop_connecting()?;
        }
        Ok(())
    }

    async fn client_connection_failed(&self, connector: &Connector, r: Reason) -> CallbackResult {
        if r == Reason::UserCancelled {
            // Try again, once more.
            connector.connect()?;
        }
        Ok(())
    }
}

#[test]
fn cancelling_and_disconnecting_pass() {
    #[allow(clippy::arc_with_non_send_sync)]
    fuzz_client_factory(|| {
        Arc::new(Cancels {
            n: Cell::new(0),
            connector: std::cell::RefCell::new(None),
        })
    })
    .max_connectors(1)
    .invariant("cancelled attempts fail with user_cancelled", |trace, _| {
        let cancelled = trace
            .iter()
            .filter(|r| r.step.event.kind().to_string() == "stop_connecting" && !r.step.failed)
            .count();
        let failed = trace
            .iter()
            .filter(|r| {
                matches!(
                    r.step.event,
                    callorder_trace::Event::ClientConnectionFailed {
                        reason: Reason::UserCancelled,
                        ..
                    }
                )
            })
            .count();
        // The world may fail an attempt with user_cancelled too (the
        // checker allows it).
        if failed >= cancelled {
            Ok(())
        } else {
            Err(format!("{cancelled} cancelled, {failed} failed"))
        }
    })
    .check();
}

/// A client factory that also listens, from its start hook.
struct AlsoListens;

#[async_trait(?Send)]
impl Factory for AlsoListens {
    async fn start_factory(&self, reactor: &callorder_core::Reactor) -> CallbackResult {
        let _ = reactor.listen_tcp(
            "0.0.0.0:8080",
            Arc::new(callorder_reference::EchoFactory::new()),
        );
        Ok(())
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for AlsoListens {}

#[test]
fn a_call_the_client_driver_does_not_model_fails_the_case_and_names_fuzz_with() {
    let failure = *fuzz_client_factory(|| Arc::new(AlsoListens))
        .run()
        .unwrap_err();
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(
        failure.finding.message.contains(
            "the factory called listen_tcp, which fuzz_client_factory does not model: use fuzz_with"
        ),
        "{failure}"
    );
}
