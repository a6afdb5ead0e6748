//! Handles kept past their end: an implementation that holds a `Transport`
//! after its `connection_lost`, a `Connector` after its `do_stop`, a `Port`
//! after its own `do_stop`, or any of them after the run is over, and acts
//! through it, gets the documented answer of every handle method (see the
//! handles' docs in `callorder_core`), never a panic of the reactor.
//!
//! Twisted ignores a write after the end silently (`abstract.py`
//! `FileDescriptor.write` returns when the transport is not connected, P3);
//! the mock reactor records the action and answers `ConnectionGone`, which
//! is not a bug of the implementation, so the run stays clean.

// Factories are shared as `Arc` by the API; the mock reactor is
// single-threaded, so a factory may keep `Rc` state.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    ActionError, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Port,
    Protocol, Reactor, Transport,
};
use callorder_harness::{Conn, MockReactor, Outcome, Script};
use callorder_trace::EventKind;

/// What the implementation kept: every transport and connector it was
/// given.
#[derive(Default)]
struct Kept {
    transports: RefCell<Vec<Transport>>,
    connectors: RefCell<Vec<Connector>>,
}

struct Keeper(Rc<Kept>);

#[async_trait(?Send)]
impl Protocol for Keeper {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.0.transports.borrow_mut().push(t);
        Ok(())
    }
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

#[async_trait(?Send)]
impl Factory for Keeper {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Keeper(self.0.clone()))))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Keeper {
    async fn started_connecting(&self, c: &Connector) -> CallbackResult {
        self.0.connectors.borrow_mut().push(c.clone());
        Ok(())
    }
}

type Answers = Rc<RefCell<Vec<(&'static str, String)>>>;

/// Calls every method of a transport, and says what each answered.
fn every_transport_method(t: &Transport) -> Vec<(&'static str, String)> {
    let status = |r: Result<(), ActionError>| format!("{r:?}");
    vec![
        ("write", format!("{:?}", t.write(b"late"))),
        ("lose_connection", status(t.lose_connection())),
        ("lose_write_connection", status(t.lose_write_connection())),
        ("abort_connection", status(t.abort_connection())),
        ("register_producer", status(t.register_producer(true))),
        ("unregister_producer", status(t.unregister_producer())),
        ("pause_reading", status(t.pause_reading())),
        ("resume_reading", status(t.resume_reading())),
        ("peer", t.peer().to_string()),
        ("host", t.host().to_string()),
        ("reactor().now", format!("{:?}", t.reactor().now())),
    ]
}

/// Calls every method of a connector but `connect`, and says what each
/// answered.
fn every_connector_method(c: &Connector) -> Vec<(&'static str, String)> {
    vec![
        ("stop_connecting", format!("{:?}", c.stop_connecting())),
        ("disconnect", format!("{:?}", c.disconnect())),
        ("destination", c.destination().to_string()),
    ]
}

fn pairs(expected: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    expected.iter().map(|(m, a)| (*m, a.to_string())).collect()
}

const GONE: &str = "Err(ConnectionGone)";

#[test]
fn every_transport_method_after_connection_lost_answers_connection_gone_and_the_run_stays_clean() {
    let kept = Rc::new(Kept::default());
    let answers: Answers = Rc::default();
    let (k, a) = (kept.clone(), answers.clone());
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .advance(Duration::from_secs(2))
            .shutdown(),
        move |r| {
            r.connect_tcp("10.0.0.1:80", Arc::new(Keeper(k.clone())), None);
            // Long after the connection ended, the application acts through
            // the transport it kept.
            r.call_later(Duration::from_secs(1), move || {
                let t = k.transports.borrow()[0].clone();
                a.borrow_mut().extend(every_transport_method(&t));
            });
        },
    );
    run.assert_clean();
    assert_eq!(
        *answers.borrow(),
        pairs(&[
            ("write", GONE),
            ("lose_connection", GONE),
            ("lose_write_connection", GONE),
            ("abort_connection", GONE),
            // The protocol was let go at its end: no producer is left to
            // stop (Twisted would call its stopProducing, PR1).
            ("register_producer", GONE),
            ("unregister_producer", GONE),
            ("pause_reading", GONE),
            ("resume_reading", GONE),
            // What the connection was is still known.
            ("peer", "10.0.0.1:80"),
            ("host", "127.0.0.1:40000"),
            ("reactor().now", "1s"),
        ])
    );
    // Each action is in the trace, after connection_lost, with its error.
    let lost = run
        .events_of_kind(EventKind::ConnectionLost)
        .next()
        .unwrap()
        .step
        .seq;
    let late: Vec<(String, Option<&str>)> = run
        .trace
        .iter()
        .filter(|r| r.step.seq > lost && r.step.event.kind().is_action())
        .map(|r| (r.step.event.kind().to_string(), r.error.as_deref()))
        .collect();
    let expected: Vec<(String, Option<&str>)> = [
        "write",
        "lose_connection",
        "lose_write_connection",
        "abort_connection",
        "register_producer",
        "unregister_producer",
        "pause_reading",
        "resume_reading",
    ]
    .iter()
    .map(|k| (k.to_string(), Some("the connection is gone")))
    .collect();
    assert_eq!(late, expected);
}

#[test]
fn a_connector_after_its_do_stop_answers_as_a_disconnected_one_and_may_connect_again() {
    let kept = Rc::new(Kept::default());
    let answers: Answers = Rc::default();
    let (k, a) = (kept.clone(), answers.clone());
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(2))
            .resolve(2, Outcome::Refuse)
            .shutdown(),
        move |r| {
            r.connect_tcp("10.0.0.1:80", Arc::new(Keeper(k.clone())), None);
            r.call_later(Duration::from_secs(1), move || {
                let c = k.connectors.borrow()[0].clone();
                a.borrow_mut().extend(every_connector_method(&c));
                // Twisted's connector may connect again once disconnected.
                a.borrow_mut()
                    .push(("connect", format!("{:?}", c.connect())));
            });
        },
    );
    run.assert_clean();
    assert_eq!(
        *answers.borrow(),
        pairs(&[
            ("stop_connecting", "Err(NotConnecting)"),
            ("disconnect", "Ok(())"),
            ("destination", "10.0.0.1:80"),
            ("connect", "Ok(())"),
        ])
    );
    // The second connect made attempt 2, which the script refused: a
    // second whole failure of the same connector.
    assert_eq!(
        run.events_of_kind(EventKind::ClientConnectionFailed)
            .count(),
        2
    );
    assert_eq!(run.events_of_kind(EventKind::DoStop).count(), 2);
}

#[test]
fn a_port_after_its_do_stop_answers_not_listening() {
    let answers: Answers = Rc::default();
    let a = answers.clone();
    let run = MockReactor::new().run(
        Script::new()
            .stop_listening(1)
            .advance(Duration::from_secs(2))
            .shutdown(),
        move |r| {
            let port = r
                .listen_tcp("0.0.0.0:80", Arc::new(Keeper(Rc::default())))
                .unwrap();
            r.call_later(Duration::from_secs(1), move || {
                a.borrow_mut()
                    .push(("stop_listening", format!("{:?}", port.stop_listening())));
            });
        },
    );
    run.assert_clean();
    assert_eq!(
        *answers.borrow(),
        pairs(&[("stop_listening", "Err(NotListening)")])
    );
}

#[test]
fn every_handle_method_after_the_run_is_over_answers_reactor_gone() {
    let kept = Rc::new(Kept::default());
    let port: Rc<RefCell<Option<Port>>> = Rc::default();
    let reactor: Rc<RefCell<Option<Reactor>>> = Rc::default();
    let (k, p, re) = (kept.clone(), port.clone(), reactor.clone());
    let run = MockReactor::new().run(
        Script::new().resolve(1, Outcome::Accept).shutdown(),
        move |r| {
            r.connect_tcp("10.0.0.1:80", Arc::new(Keeper(k)), None);
            *p.borrow_mut() = Some(
                r.listen_tcp("0.0.0.0:80", Arc::new(Keeper(Rc::default())))
                    .unwrap(),
            );
            *re.borrow_mut() = Some(r.clone());
        },
    );
    run.assert_clean();
    // The run, its reactor and its runtime are gone; the handles are not.
    let t = kept.transports.borrow()[0].clone();
    const REACTOR_GONE: &str = "Err(ReactorGone)";
    assert_eq!(
        every_transport_method(&t),
        pairs(&[
            ("write", REACTOR_GONE),
            ("lose_connection", REACTOR_GONE),
            ("lose_write_connection", REACTOR_GONE),
            ("abort_connection", REACTOR_GONE),
            ("register_producer", REACTOR_GONE),
            ("unregister_producer", REACTOR_GONE),
            ("pause_reading", REACTOR_GONE),
            ("resume_reading", REACTOR_GONE),
            ("peer", "?"),
            ("host", "?"),
            ("reactor().now", "0ns"),
        ])
    );
    let c = kept.connectors.borrow()[0].clone();
    let mut answers = every_connector_method(&c);
    answers.push(("connect", format!("{:?}", c.connect())));
    assert_eq!(
        answers,
        pairs(&[
            ("stop_connecting", REACTOR_GONE),
            ("disconnect", REACTOR_GONE),
            ("destination", "?"),
            ("connect", REACTOR_GONE),
        ])
    );
    let port = port.borrow_mut().take().unwrap();
    assert_eq!(format!("{:?}", port.stop_listening()), REACTOR_GONE);
    let r = reactor.borrow_mut().take().unwrap();
    let late = r.connect_tcp("10.0.0.1:80", Arc::new(Keeper(Rc::default())), None);
    assert_eq!(late.id().0, 0, "no reactor hands out connector 0");
    assert_eq!(format!("{:?}", late.connect()), REACTOR_GONE);
    assert!(matches!(
        r.listen_tcp("0.0.0.0:81", Arc::new(Keeper(Rc::default()))),
        Err(ActionError::ReactorGone)
    ));
    let timer = r.call_later(Duration::ZERO, || unreachable!("no reactor runs it"));
    assert!(!timer.cancel(), "a timer of no reactor was never pending");
    assert_eq!(r.now(), Duration::ZERO);
    assert_eq!(r.random_u64(), 0);
}
