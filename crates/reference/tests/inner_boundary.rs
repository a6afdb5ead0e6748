//! The inner boundary of a wrapping factory: handed a checked inner
//! factory, the calls the wrapper makes into the factory it wraps and into
//! its protocols are judged by a second checker, with the outer connector
//! and port ids (the wrapper forwards do_start/do_stop, F5). The reference
//! wrapper passes; wrappers with realistic bugs are caught there.

#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_checker::Rule;
use callorder_core::{
    Address, CallbackError, CallbackResult, Factory, Holder, Protocol, Reactor, Reason, Transport,
};
use callorder_harness::{CheckedFactory, Conn, InnerRun, MockReactor, Outcome, Script};
use callorder_reference::echo::EchoFactory;
use callorder_reference::line::LineClientFactory;
use callorder_reference::wrapping::WrappingFactory;

fn server_script() -> Script {
    Script::new()
        .accept(1, "10.0.0.1:5000")
        .send(Conn::Server(1), b"ping")
        .close(Conn::Server(1))
        .stop_listening(1)
        .shutdown()
}

fn run_server<W: Factory>(
    wrap: impl FnOnce(CheckedFactory<EchoFactory>) -> W,
) -> (callorder_harness::Run, InnerRun) {
    let (checked, inner) = CheckedFactory::new(EchoFactory::new());
    let wrapper = wrap(checked);
    let run = MockReactor::new().run(server_script(), |r| {
        r.listen_tcp("0.0.0.0:80", Arc::new(wrapper)).unwrap();
    });
    (run, inner.finish())
}

#[test]
fn the_reference_wrapper_keeps_the_inner_order_legal_with_the_outer_ids() {
    let (run, inner) = run_server(WrappingFactory::new);
    run.assert_clean();
    assert!(
        inner.violation.is_none(),
        "{:?}\n{}",
        inner.violation,
        inner.trace_jsonl()
    );
    let jsonl = inner.trace_jsonl();
    assert!(
        jsonl.contains(r#""event":"do_start","factory":"f1","port":"l1""#),
        "{jsonl}"
    );
    assert!(
        jsonl.contains(r#""event":"data_received","protocol":"p1","bytes":4"#),
        "{jsonl}"
    );
}

#[test]
fn a_wrapped_client_sees_its_connector_and_outcome() {
    let (checked, inner) = CheckedFactory::new(LineClientFactory::new(["hi"]).close_after(1));
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"yo\r\n")
            .shutdown(),
        |r| {
            r.connect_tcp(
                "example.org:80",
                Arc::new(WrappingFactory::new(checked)),
                None,
            );
        },
    );
    run.assert_clean();
    let inner = inner.finish();
    assert!(
        inner.violation.is_none(),
        "{:?}\n{}",
        inner.violation,
        inner.trace_jsonl()
    );
    assert!(inner
        .trace_jsonl()
        .contains(r#""event":"client_connection_lost""#));
}

/// A wrapper with a bug in how it forwards protocol callbacks.
struct Buggy<F> {
    inner: F,
    bug: Bug,
}

#[derive(Clone, Copy)]
enum Bug {
    /// Forwards one more data_received after connection_lost.
    DataAfterLost,
    /// Never forwards connection_lost.
    SwallowsLost,
    /// Ignores an error of the inner data_received and goes on.
    SwallowsErrors,
}

#[async_trait(?Send)]
impl<F: Factory> Factory for Buggy<F> {
    fn do_start(&self, holder: Holder) {
        self.inner.do_start(holder);
    }
    fn do_stop(&self, holder: Holder) {
        self.inner.do_stop(holder);
    }
    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        self.inner.start_factory(reactor).await
    }
    async fn stop_factory(&self) -> CallbackResult {
        self.inner.stop_factory().await
    }
    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(self.inner.build_protocol(addr).await?.map(|inner| {
            Box::new(BuggyProtocol {
                inner,
                bug: self.bug,
            }) as Box<dyn Protocol>
        }))
    }
}

struct BuggyProtocol {
    inner: Box<dyn Protocol>,
    bug: Bug,
}

#[async_trait(?Send)]
impl Protocol for BuggyProtocol {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.inner.connection_made(t).await
    }
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let result = self.inner.data_received(data).await;
        match self.bug {
            Bug::SwallowsErrors => Ok(()),
            _ => result,
        }
    }
    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        match self.bug {
            Bug::SwallowsLost => Ok(()),
            Bug::SwallowsErrors => self.inner.connection_lost(reason).await,
            Bug::DataAfterLost => {
                self.inner.connection_lost(reason).await?;
                self.inner.data_received(b"late").await
            }
        }
    }
}

/// A pooling wrapper: it keeps the inner protocol of a finished connection
/// and makes the next connection on it, without asking the inner factory:
/// the inner side sees a connection_made for which no build_protocol came.
struct Pooling<F> {
    inner: F,
    pool: Rc<RefCell<Vec<Box<dyn Protocol>>>>,
}

struct Pooled {
    inner: Option<Box<dyn Protocol>>,
    pool: Rc<RefCell<Vec<Box<dyn Protocol>>>>,
}

#[async_trait(?Send)]
impl Protocol for Pooled {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.inner.as_mut().expect("held").connection_made(t).await
    }
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.inner.as_mut().expect("held").data_received(data).await
    }
    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        let mut inner = self.inner.take().expect("held");
        let result = inner.connection_lost(reason).await;
        self.pool.borrow_mut().push(inner);
        result
    }
}

#[async_trait(?Send)]
impl<F: Factory> Factory for Pooling<F> {
    fn do_start(&self, holder: Holder) {
        self.inner.do_start(holder);
    }
    fn do_stop(&self, holder: Holder) {
        self.inner.do_stop(holder);
    }
    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        self.inner.start_factory(reactor).await
    }
    async fn stop_factory(&self) -> CallbackResult {
        self.inner.stop_factory().await
    }
    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        let reused = self.pool.borrow_mut().pop();
        let inner = match reused {
            Some(inner) => Some(inner),
            None => self.inner.build_protocol(addr).await?,
        };
        Ok(inner.map(|inner| {
            Box::new(Pooled {
                inner: Some(inner),
                pool: self.pool.clone(),
            }) as Box<dyn Protocol>
        }))
    }
}

fn inner_rule(inner: &InnerRun) -> Rule {
    inner
        .violation
        .as_ref()
        .map(|v| v.rule)
        .unwrap_or_else(|| panic!("not caught:\n{}", inner.trace_jsonl()))
}

#[test]
fn a_wrapper_that_forwards_data_after_connection_lost_is_caught_at_the_inner_boundary() {
    let (_, inner) = run_server(|inner| Buggy {
        inner,
        bug: Bug::DataAfterLost,
    });
    assert_eq!(inner_rule(&inner), Rule::AfterLost);
}

#[test]
fn a_wrapper_that_swallows_connection_lost_is_caught_at_the_inner_boundary() {
    let (_, inner) = run_server(|inner| Buggy {
        inner,
        bug: Bug::SwallowsLost,
    });
    assert_eq!(inner_rule(&inner), Rule::Unlost);
}

#[test]
fn a_wrapper_that_makes_a_connection_the_inner_factory_never_built_is_caught() {
    let (checked, inner) = CheckedFactory::new(EchoFactory::new());
    let wrapper = Pooling {
        inner: checked,
        pool: Rc::default(),
    };
    MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.1:5000")
            .close(Conn::Server(1))
            .accept(1, "10.0.0.2:5000")
            .close(Conn::Server(2))
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", Arc::new(wrapper)).unwrap();
        },
    );
    // The second connection_made goes to the first connection's inner
    // protocol, which was already made and lost.
    assert_eq!(inner_rule(&inner.finish()), Rule::Made);
}

// ---------------------------------------------------------------- faults

/// Two messages in, then the peer closes; the inner data_received fails on
/// the first (fault injection at the inner boundary).
fn run_with_inner_fault<W: Factory>(
    wrap: impl FnOnce(CheckedFactory<EchoFactory>) -> W,
) -> (callorder_harness::Run, InnerRun) {
    let (checked, inner) = CheckedFactory::new(EchoFactory::new());
    inner.fault(callorder_trace::EventKind::DataReceived);
    let wrapper = wrap(checked);
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.1:5000")
            .send(Conn::Server(1), b"ping")
            .send(Conn::Server(1), b"pong")
            .close(Conn::Server(1))
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", Arc::new(wrapper)).unwrap();
        },
    );
    (run, inner.finish())
}

#[test]
fn the_reference_wrapper_passes_an_inner_failure_on_and_the_inner_order_stays_legal() {
    let (run, inner) = run_with_inner_fault(WrappingFactory::new);
    assert!(inner.violation.is_none(), "{}", inner.trace_jsonl());
    // The wrapper's own data_received failed with the inner error, so the
    // reactor ended the connection (P7) and the inner side heard of it.
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].message, "injected fault");
    let jsonl = inner.trace_jsonl();
    assert!(
        jsonl.contains(
            r#""event":"data_received","protocol":"p1","bytes":4,"error":"injected fault""#
        ),
        "{jsonl}"
    );
    assert!(
        jsonl.contains(r#""event":"connection_lost","protocol":"p1","reason":"other""#),
        "{jsonl}"
    );
}

#[test]
fn a_wrapper_that_swallows_an_inner_error_is_caught_at_the_inner_boundary() {
    let (run, inner) = run_with_inner_fault(|inner| Buggy {
        inner,
        bug: Bug::SwallowsErrors,
    });
    assert!(run.errors.is_empty(), "the outer side saw nothing wrong");
    assert_eq!(inner_rule(&inner), Rule::Raised);
}
