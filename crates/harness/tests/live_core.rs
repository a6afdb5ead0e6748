//! The live seam with a backend of the test's own: what the core asks of
//! its backend (dial, start reading, write, close after the buffer drained,
//! a half-close, a reset after an abort) and what it makes of the events
//! the backend reports, deterministically, with no socket.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use callorder::live::{Backend, LiveReactor, WireEvent, WireId};
use callorder::{
    async_trait, ActionError, Address, Bytes, CallbackError, CallbackResult, ClientFactory,
    EventKind, Factory, PortId, Protocol, Reason, Run, Transport,
};

/// How the fake world answers.
#[derive(Clone, Default)]
struct Answers {
    /// Refuse every attempt instead of connecting it.
    refuse: bool,
    /// What a connection's peer sends once reading starts, then its end
    /// (all reported together, in one batch).
    sends: Vec<&'static [u8]>,
    /// How the peer ends: `Some(true)` a close, `Some(false)` a reset.
    end: Option<bool>,
}

/// A backend that logs what the core asks and answers at once.
struct Fake {
    answers: Answers,
    calls: RefCell<Vec<String>>,
    events: RefCell<VecDeque<WireEvent>>,
    waker: RefCell<Option<Waker>>,
}

impl Fake {
    fn new(answers: Answers) -> Rc<Fake> {
        Rc::new(Fake {
            answers,
            calls: RefCell::default(),
            events: RefCell::default(),
            waker: RefCell::default(),
        })
    }

    fn log(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }

    fn report(&self, event: WireEvent) {
        self.events.borrow_mut().push_back(event);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

impl Backend for Fake {
    fn dial(&self, attempt: u64, addr: &Address) {
        self.log(format!("dial {attempt} {addr}"));
        self.report(if self.answers.refuse {
            WireEvent::Failed {
                attempt,
                reason: Reason::ConnectionRefused,
            }
        } else {
            WireEvent::Connected {
                attempt,
                wire: WireId(attempt),
                local: Address::new("127.0.0.1:50000"),
            }
        });
    }
    fn cancel(&self, attempt: u64) {
        self.log(format!("cancel {attempt}"));
    }
    fn listen(&self, port: PortId, addr: &Address) -> Result<Address, ActionError> {
        self.log(format!("listen {} {addr}", port.0));
        Ok(addr.clone())
    }
    fn stop_listening(&self, port: PortId) {
        self.log(format!("stop_listening {}", port.0));
    }
    fn start_reading(&self, wire: WireId) {
        self.log(format!("start_reading {}", wire.0));
        for bytes in &self.answers.sends {
            self.report(WireEvent::Data {
                wire,
                bytes: Bytes::from_static(bytes),
            });
        }
        match self.answers.end {
            Some(true) => self.report(WireEvent::Eof { wire }),
            Some(false) => self.report(WireEvent::Reset { wire }),
            None => {}
        }
    }
    fn pause_reading(&self, wire: WireId) {
        self.log(format!("pause_reading {}", wire.0));
    }
    fn resume_reading(&self, wire: WireId) {
        self.log(format!("resume_reading {}", wire.0));
    }
    fn write(&self, wire: WireId, data: Bytes) {
        self.log(format!("write {} {}", wire.0, data.len()));
        // The kernel takes everything at once.
        self.report(WireEvent::Drained {
            wire,
            bytes: data.len(),
        });
    }
    fn shutdown_write(&self, wire: WireId) {
        self.log(format!("shutdown_write {}", wire.0));
    }
    fn close(&self, wire: WireId) {
        self.log(format!("close {}", wire.0));
    }
    fn abort(&self, wire: WireId) {
        self.log(format!("abort {}", wire.0));
    }
    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<WireEvent> {
        match self.events.borrow_mut().pop_front() {
            Some(e) => Poll::Ready(e),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// What the probe does once made.
#[derive(Clone, Copy)]
enum Then {
    /// Writes a greeting and loses the connection.
    GreetAndClose,
    /// Writes a greeting and half-closes (it handles half-close).
    GreetAndHalfClose,
    /// Aborts.
    Abort,
    /// Waits for the peer.
    Wait,
}

struct Probe {
    then: Then,
    log: Rc<RefCell<Vec<String>>>,
    transport: Option<Transport>,
}

impl Probe {
    fn transport(&self) -> Result<&Transport, CallbackError> {
        self.transport.as_ref().ok_or_else(|| "not made".into())
    }
}

#[async_trait(?Send)]
impl Protocol for Probe {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        match self.then {
            Then::GreetAndClose => {
                t.write(b"hello")?;
                t.lose_connection()?;
            }
            Then::GreetAndHalfClose => {
                t.write(b"hello")?;
                t.lose_write_connection()?;
            }
            Then::Abort => t.abort_connection()?,
            Then::Wait => {}
        }
        self.transport = Some(t);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let text = String::from_utf8_lossy(data);
        self.log.borrow_mut().push(format!("data {text}"));
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        matches!(self.then, Then::GreetAndHalfClose)
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        self.log.borrow_mut().push("read_connection_lost".into());
        self.transport()?.lose_connection()?;
        Ok(())
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        self.log
            .borrow_mut()
            .push(format!("connection_lost {reason}"));
        Ok(())
    }
}

struct Probes {
    then: Then,
    log: Rc<RefCell<Vec<String>>>,
}

#[async_trait(?Send)]
impl Factory for Probes {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Probe {
            then: self.then,
            log: self.log.clone(),
            transport: None,
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Probes {}

/// One client run: the run, what the core asked of the backend, and what
/// the probe saw.
fn client(answers: Answers, then: Then) -> (Run, Vec<String>, Vec<String>) {
    let fake = Fake::new(answers);
    let log = Rc::new(RefCell::new(Vec::new()));
    #[allow(clippy::arc_with_non_send_sync)]
    let probes = std::sync::Arc::new(Probes {
        then,
        log: log.clone(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    // Only a hang reaches the limit: every run here ends by itself.
    let reactor = LiveReactor::new(fake.clone()).give_up_after(std::time::Duration::from_secs(30));
    let run = rt.block_on(reactor.run(|reactor| {
        reactor.connect_tcp("svc.example:1", probes.clone(), None);
    }));
    let calls = fake.calls.borrow().clone();
    let seen = log.borrow().clone();
    (run, calls, seen)
}

#[test]
fn a_close_waits_for_the_buffer_to_drain_and_is_an_orderly_close() {
    let (run, calls, seen) = client(Answers::default(), Then::GreetAndClose);
    run.assert_clean();
    assert_eq!(
        calls,
        // The greeting is written in connection_made; reading starts once
        // it returned; the close waits for the write to drain.
        [
            "dial 1 svc.example:1",
            "write 1 5",
            "start_reading 1",
            "close 1"
        ]
    );
    assert_eq!(seen, ["connection_lost connection_done"]);
}

#[test]
fn a_half_close_shuts_the_write_side_after_what_was_written() {
    let answers = Answers {
        sends: vec![b"bye"],
        end: Some(true),
        ..Answers::default()
    };
    let (run, calls, seen) = client(answers, Then::GreetAndHalfClose);
    run.assert_clean();
    let at = |call: &str| calls.iter().position(|c| c == call).expect(call);
    assert!(at("write 1 5") < at("shutdown_write 1"), "{calls:?}");
    assert_eq!(
        seen,
        [
            "data bye",
            "read_connection_lost",
            "connection_lost connection_done"
        ]
    );
    assert!(run.events_of_kind(EventKind::WriteConnectionLost).count() == 1);
}

#[test]
fn an_abort_resets_the_connection_instead_of_closing_it() {
    let (run, calls, seen) = client(Answers::default(), Then::Abort);
    run.assert_clean();
    assert_eq!(calls.last().map(String::as_str), Some("abort 1"));
    assert!(!calls.iter().any(|c| c == "close 1"), "{calls:?}");
    assert_eq!(seen, ["connection_lost connection_aborted"]);
}

#[test]
fn bytes_reported_with_the_end_in_one_batch_come_before_the_loss() {
    for (end, reason) in [(true, "connection_done"), (false, "connection_lost")] {
        let answers = Answers {
            sends: vec![b"one", b"two"],
            end: Some(end),
            ..Answers::default()
        };
        let (run, _, seen) = client(answers, Then::Wait);
        run.assert_clean();
        assert_eq!(
            seen,
            [
                "data one".to_owned(),
                "data two".to_owned(),
                format!("connection_lost {reason}")
            ]
        );
    }
}

#[test]
fn a_refusal_fails_the_attempt_and_nothing_is_read() {
    let answers = Answers {
        refuse: true,
        ..Answers::default()
    };
    let (run, calls, seen) = client(answers, Then::Wait);
    run.assert_clean();
    let failed = run
        .events_of_kind(EventKind::ClientConnectionFailed)
        .find_map(|r| r.step.event.reason());
    assert_eq!(failed, Some(Reason::ConnectionRefused));
    assert!(seen.is_empty());
    assert!(
        !calls.iter().any(|c| c.starts_with("start_reading")),
        "{calls:?}"
    );
}
