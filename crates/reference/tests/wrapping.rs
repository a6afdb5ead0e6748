//! WrappingFactory: forwards everything, changes nothing in the order, and
//! counts the bytes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Factory, Protocol, Reason, Transport,
};
use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use callorder_reference::{
    ClientOutcome, EchoFactory, HalfCloseFactory, LineClientFactory, ReconnectingClientFactory,
    RetryPolicy, WrappingFactory,
};
use callorder_trace::EventKind;
use common::{count, reasons, times};

fn serve(factory: Arc<dyn Factory>, script: Script) -> Run {
    MockReactor::new().run(script, move |r| {
        r.listen_tcp("0.0.0.0:7", factory).unwrap();
    })
}

fn echo_script() -> Script {
    Script::new()
        .accept(1, "10.0.0.2:5000")
        .send_chunked(Conn::Server(1), b"hello", 1)
        .send(Conn::Server(1), b" world")
        .close(Conn::Server(1))
        .shutdown()
}

#[test]
fn a_wrapped_echo_server_counts_the_bytes_both_ways() {
    let factory = Arc::new(WrappingFactory::new(EchoFactory::new()));
    let counts = factory.counts();
    let run = serve(factory.clone(), echo_script());
    run.assert_clean();
    assert_eq!(
        run.written,
        vec![(Conn::Server(1), b"hello world".to_vec())]
    );
    assert_eq!(counts.received(), 11);
    assert_eq!(counts.sent(), 11);
    assert_eq!(counts.connections(), 1);
    assert_eq!(factory.inner().built(), 1);
}

#[test]
fn wrapping_an_echo_server_changes_nothing_in_the_trace() {
    let plain = serve(Arc::new(EchoFactory::new()), echo_script());
    let wrapped = serve(
        Arc::new(WrappingFactory::new(EchoFactory::new())),
        echo_script(),
    );
    wrapped.assert_clean();
    assert_eq!(plain.trace_jsonl(), wrapped.trace_jsonl());
}

#[test]
fn wrapping_a_half_closeable_protocol_keeps_it_half_closeable() {
    let script = || {
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send(Conn::Server(1), b"q")
            .half_close(Conn::Server(1))
            .shutdown()
    };
    let plain = serve(Arc::new(HalfCloseFactory::new(b"answer")), script());
    let factory = Arc::new(WrappingFactory::new(HalfCloseFactory::new(b"answer")));
    let counts = factory.counts();
    let wrapped = serve(factory, script());
    wrapped.assert_clean();
    assert_eq!(count(&wrapped, EventKind::ReadConnectionLost), 1);
    assert_eq!(count(&wrapped, EventKind::WriteConnectionLost), 1);
    assert_eq!(plain.trace_jsonl(), wrapped.trace_jsonl());
    assert_eq!((counts.received(), counts.sent()), (1, 6));
}

#[test]
fn a_wrapped_client_factory_hears_every_outcome() {
    let factory = Arc::new(WrappingFactory::new(
        LineClientFactory::new(["one", "two"]).close_after(1),
    ));
    let outcomes = factory.inner().outcomes();
    let lines = factory.inner().received();
    let counts = factory.counts();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .resolve(2, Outcome::DnsFailure)
            .resolve(3, Outcome::Accept)
            .send_chunked(Conn::Client(3), b"ok\r\n", 1)
            .shutdown(),
        move |r| {
            for _ in 0..3 {
                r.connect_tcp("example.org:7", f.clone(), None);
            }
            // A fourth attempt that nobody answers: failed at shutdown.
            r.connect_tcp("example.org:7", f, Some(Duration::from_secs(60)));
        },
    );
    run.assert_clean();
    assert_eq!(
        outcomes.all(),
        [
            ClientOutcome::Failed(Reason::ConnectionRefused),
            ClientOutcome::Failed(Reason::DnsLookup),
            ClientOutcome::Lost(Reason::ConnectionDone),
            ClientOutcome::Failed(Reason::ConnectError),
        ]
    );
    assert_eq!(lines.lines(), ["ok"]);
    assert_eq!(counts.sent(), 10);
    assert_eq!(counts.received(), 4);
}

#[test]
fn a_wrapped_reconnecting_factory_keeps_its_back_off() {
    #[allow(clippy::arc_with_non_send_sync)] // Reactor handles are single-threaded.
    let factory = Arc::new(WrappingFactory::new(
        ReconnectingClientFactory::new(|_| Box::new(callorder_reference::Echo::new()))
            .with_policy(RetryPolicy::default().with_jitter(0.0)),
    ));
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(1))
            .resolve(2, Outcome::Refuse)
            .advance(Duration::from_secs(3))
            .resolve(3, Outcome::Accept)
            .shutdown(),
        move |r| {
            r.connect_tcp("example.org:7", f, None);
        },
    );
    run.assert_clean();
    assert_eq!(
        factory.inner().scheduled_delays(),
        [1.0, std::f64::consts::E, 1.0]
    );
    assert_eq!(count(&run, EventKind::Connect), 2);
}

/// A factory whose `build_protocol` refuses every connection.
struct Refusing;

#[async_trait(?Send)]
impl Factory for Refusing {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[test]
fn a_refusal_by_the_inner_factory_is_passed_on() {
    let factory = Arc::new(WrappingFactory::new(Refusing));
    let counts = factory.counts();
    let run = serve(factory, Script::new().accept(1, "10.0.0.2:5000").shutdown());
    run.assert_clean();
    assert_eq!(count(&run, EventKind::ConnectionMade), 0);
    assert_eq!(counts.connections(), 0);
}

/// Calls seen by [`Busy`], shared with the test.
type Log = Arc<Mutex<Vec<String>>>;

/// A protocol that acts through everything its transport offers: timers,
/// a cancelled timer, an outgoing connection it stops, a streaming
/// producer, and `peer`/`host`.
struct Busy {
    log: Log,
    transport: Option<Transport>,
}

impl Busy {
    fn note(&self, what: impl Into<String>) {
        self.log.lock().unwrap().push(what.into());
    }
}

#[async_trait(?Send)]
impl Protocol for Busy {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.note(format!("made from {}", t.peer()));
        let reactor = t.reactor();
        let cancelled = reactor.call_later(Duration::from_secs(1), || panic!("cancelled"));
        assert!(cancelled.cancel());
        assert!(!cancelled.cancel());
        let t2 = t.clone();
        reactor.call_later(Duration::from_secs(2), move || {
            t2.write(b"tick").unwrap();
        });
        let connector = reactor.connect_tcp("elsewhere:1", Arc::new(EchoClient), None);
        assert_eq!(connector.destination().as_str(), "elsewhere:1");
        connector.stop_connecting()?;
        t.register_producer(true)?;
        self.transport = Some(t);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.note(format!("data {}", data.len()));
        // Fill the buffer: the peer reads nothing yet.
        self.transport
            .as_ref()
            .unwrap()
            .write(&vec![b'x'; 70 * 1024])?;
        Ok(())
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.note("pause");
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        self.note("resume");
        let t = self.transport.as_ref().unwrap();
        t.unregister_producer()?;
        t.lose_connection()?;
        Ok(())
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        self.note("stop");
        Ok(())
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        self.note(format!("lost {reason:?}"));
        Ok(())
    }
}

/// A client factory for [`Busy`]'s outgoing attempt.
struct EchoClient;

#[async_trait(?Send)]
impl Factory for EchoClient {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(callorder_reference::Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for EchoClient {}

struct BusyFactory(Log);

#[async_trait(?Send)]
impl Factory for BusyFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Busy {
            log: self.0.clone(),
            transport: None,
        })))
    }
}

#[test]
fn the_wrapped_transport_forwards_timers_connections_and_producer_callbacks() {
    let log = Log::default();
    let factory = Arc::new(WrappingFactory::new(BusyFactory(log.clone())));
    let counts = factory.counts();
    let run = serve(
        factory,
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .window(Conn::Server(1), Some(0))
            .send(Conn::Server(1), b"hi")
            .advance(Duration::from_secs(3))
            .window(Conn::Server(1), None)
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(
        *log.lock().unwrap(),
        [
            "made from 10.0.0.2:5000",
            "data 2",
            "pause",
            "resume",
            "lost ConnectionDone"
        ]
    );
    assert_eq!(counts.sent(), 70 * 1024 + 4);
    assert_eq!(counts.received(), 2);
    assert_eq!(times(&run, EventKind::Write)[1], 2.0);
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionFailed),
        [Reason::UserCancelled]
    );
}
