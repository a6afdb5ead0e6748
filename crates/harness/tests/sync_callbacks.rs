//! Synchronous implementations (`SyncProtocol`, `SyncFactory`,
//! `SyncClientFactory`) under the mock reactor: called directly, with the
//! same trace, checks, faults and errors as async ones, and mixed with
//! async ones in one reactor. (Their heap and leak checks: `sync_heap.rs`.)

#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use callorder::{
    async_trait, Address, CallbackError, CallbackResult, CheckedFactory, ClientFactory, Conn,
    Connector, EventKind, Factory, ImplErrorKind, MockReactor, Outcome, Protocol, Reactor, Reason,
    Script, SyncClientFactory, SyncFactory, SyncProtocol, Transport,
};

/// What both kinds of protocol do, callback by callback, so that their
/// traces must be the same: a pull producer that writes a greeting, echoes,
/// raises on `raise`, closes on `bye`, and half-closes after the peer did.
#[derive(Default)]
struct Behaviour {
    transport: Option<Transport>,
    resumed: usize,
}

impl Behaviour {
    fn made(&mut self, t: Transport) -> CallbackResult {
        t.register_producer(false)?;
        t.write(b"hello")?;
        self.transport = Some(t);
        Ok(())
    }

    fn data(&mut self, data: &[u8]) -> CallbackResult {
        let t = self.transport.as_ref().ok_or("no transport")?;
        match data {
            b"raise" => Err("asked to raise".into()),
            b"bye" => {
                t.unregister_producer()?;
                t.lose_connection()?;
                Ok(())
            }
            _ => {
                t.write(data)?;
                Ok(())
            }
        }
    }

    fn resume(&mut self) -> CallbackResult {
        self.resumed += 1;
        if self.resumed == 1 {
            self.transport
                .as_ref()
                .ok_or("no transport")?
                .write(b"more")?;
        }
        Ok(())
    }

    fn read_lost(&mut self) -> CallbackResult {
        let t = self.transport.as_ref().ok_or("no transport")?;
        t.unregister_producer()?;
        t.lose_write_connection()?;
        Ok(())
    }

    fn write_lost(&mut self) -> CallbackResult {
        self.transport
            .as_ref()
            .ok_or("no transport")?
            .lose_connection()?;
        Ok(())
    }
}

#[derive(Default)]
struct SyncP(Behaviour);

impl SyncProtocol for SyncP {
    fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.0.made(t)
    }
    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.0.data(data)
    }
    fn half_closeable(&self) -> bool {
        true
    }
    fn read_connection_lost(&mut self) -> CallbackResult {
        self.0.read_lost()
    }
    fn write_connection_lost(&mut self) -> CallbackResult {
        self.0.write_lost()
    }
    fn resume_producing(&mut self) -> CallbackResult {
        self.0.resume()
    }
}

#[derive(Default)]
struct AsyncP(Behaviour);

#[async_trait(?Send)]
impl Protocol for AsyncP {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.0.made(t)
    }
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.0.data(data)
    }
    fn half_closeable(&self) -> bool {
        true
    }
    async fn read_connection_lost(&mut self) -> CallbackResult {
        self.0.read_lost()
    }
    async fn write_connection_lost(&mut self) -> CallbackResult {
        self.0.write_lost()
    }
    async fn resume_producing(&mut self) -> CallbackResult {
        self.0.resume()
    }
}

/// Which kind of protocol a factory builds.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Sync,
    Async,
}

fn protocol(kind: Kind) -> Box<dyn Protocol> {
    match kind {
        Kind::Sync => Box::new(SyncP::default()),
        Kind::Async => Box::new(AsyncP::default()),
    }
}

/// What both kinds of factory do: a retry after the first failed attempt,
/// a timer set in start_factory, the `refuse`th build refused (0: none).
#[derive(Default)]
struct FactoryBehaviour {
    refuse: usize,
    builds: RefCell<usize>,
    failures: RefCell<usize>,
}

impl FactoryBehaviour {
    fn start(&self, reactor: &Reactor) -> CallbackResult {
        reactor.call_later(Duration::from_secs(1), || {});
        Ok(())
    }

    fn build(&self, kind: Kind) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        *self.builds.borrow_mut() += 1;
        Ok((*self.builds.borrow() != self.refuse).then(|| protocol(kind)))
    }

    fn failed(&self, connector: &Connector) -> CallbackResult {
        *self.failures.borrow_mut() += 1;
        if *self.failures.borrow() == 1 {
            connector.connect()?;
        }
        Ok(())
    }
}

/// A synchronous factory, building protocols of `builds` kind.
struct SyncF(FactoryBehaviour, Kind);

impl SyncFactory for SyncF {
    fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        self.0.start(reactor)
    }
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        self.0.build(self.1)
    }
}

impl SyncClientFactory for SyncF {
    fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        self.0.failed(connector)
    }
}

/// An async factory, building protocols of `builds` kind.
struct AsyncF(FactoryBehaviour, Kind);

#[async_trait(?Send)]
impl Factory for AsyncF {
    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        self.0.start(reactor)
    }
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        self.0.build(self.1)
    }
}

#[async_trait(?Send)]
impl ClientFactory for AsyncF {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        self.0.failed(connector)
    }
}

fn factory(kind: Kind, builds: Kind, refuse: usize) -> Arc<dyn ClientFactory> {
    let behaviour = FactoryBehaviour {
        refuse,
        ..FactoryBehaviour::default()
    };
    match kind {
        Kind::Sync => Arc::new(SyncF(behaviour, builds)),
        Kind::Async => Arc::new(AsyncF(behaviour, builds)),
    }
}

/// A world that walks most paths: a refused attempt and its retry, a
/// connection that echoes and raises, one whose connection_made gets a
/// fault; on the server side, a half-close, a connection refused by its
/// build and a peer that says bye.
fn script() -> Script {
    Script::new()
        .fault(EventKind::ConnectionMade, Some(Conn::Client(3)))
        .resolve(1, Outcome::Refuse)
        .resolve(2, Outcome::Accept)
        .send(Conn::Client(2), b"ping")
        .send(Conn::Client(2), b"raise")
        .resolve(3, Outcome::Accept)
        .accept(1, "10.0.0.9:5000")
        .send(Conn::Server(1), b"abc")
        .half_close(Conn::Server(1))
        .accept(1, "10.0.0.9:5001")
        .accept(1, "10.0.0.9:5002")
        .send(Conn::Server(3), b"bye")
        .advance(Duration::from_secs(2))
        .shutdown()
}

/// The run of [`script`] with a client factory of `client` kind building
/// protocols of `client_builds` kind, and a server factory likewise.
fn run(client: (Kind, Kind), server: (Kind, Kind)) -> callorder::Run {
    MockReactor::new().lenient().run(script(), |r| {
        r.listen_tcp("0.0.0.0:80", factory(server.0, server.1, 2))
            .unwrap();
        let client = factory(client.0, client.1, 0);
        for _ in 0..2 {
            r.connect_tcp("10.0.0.1:80", client.clone(), None);
        }
    })
}

#[test]
fn a_synchronous_implementation_gives_the_trace_of_its_async_twin() {
    let asynchronous = run((Kind::Async, Kind::Async), (Kind::Async, Kind::Async));
    let synchronous = run((Kind::Sync, Kind::Sync), (Kind::Sync, Kind::Sync));
    // The world reached what it named: the comparison is of real paths.
    assert!(
        asynchronous.violation.is_none(),
        "{:?}",
        asynchronous.violation
    );
    assert!(
        asynchronous.skipped.is_empty(),
        "{:?}",
        asynchronous.skipped
    );
    let kinds: Vec<String> = asynchronous
        .trace
        .iter()
        .map(|r| r.step.event.kind().to_string())
        .collect();
    for kind in [
        "client_connection_failed",
        "read_connection_lost",
        "write_connection_lost",
        "resume_producing",
        "start_factory",
        "stop_factory",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    assert_eq!(asynchronous.errors.len(), 1, "{:?}", asynchronous.errors);
    assert_eq!(asynchronous.injected.len(), 1);
    assert_eq!(synchronous.trace_jsonl(), asynchronous.trace_jsonl());
    assert_eq!(synchronous.errors, asynchronous.errors);
    assert_eq!(synchronous.injected, asynchronous.injected);
    assert_eq!(synchronous.written, asynchronous.written);
    assert!(synchronous.leaks.is_empty(), "{:?}", synchronous.leaks);
}

#[test]
fn both_kinds_mix_in_one_reactor() {
    let asynchronous = run((Kind::Async, Kind::Async), (Kind::Async, Kind::Async)).trace_jsonl();
    for (client, server) in [
        ((Kind::Sync, Kind::Async), (Kind::Async, Kind::Sync)),
        ((Kind::Async, Kind::Sync), (Kind::Sync, Kind::Async)),
        ((Kind::Sync, Kind::Sync), (Kind::Async, Kind::Async)),
    ] {
        let mixed = run(client, server);
        assert!(mixed.violation.is_none(), "{:?}", mixed.violation);
        assert_eq!(mixed.trace_jsonl(), asynchronous, "{client:?} {server:?}");
    }
}

/// Panics in the data it is given says `panic`.
struct Panicky;

impl SyncProtocol for Panicky {
    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        assert_ne!(data, b"panic", "told to panic");
        Ok(())
    }
}

struct PanickyFactory;

impl SyncFactory for PanickyFactory {
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Panicky)))
    }
}

#[test]
fn a_panic_in_a_synchronous_callback_is_reported_and_the_connection_ends() {
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.9:5000")
            .send(Conn::Server(1), b"panic")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", Arc::new(PanickyFactory))
                .unwrap();
        },
    );
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, ImplErrorKind::Panicked);
    assert_eq!(run.errors[0].event, Some(EventKind::DataReceived));
    assert!(run.errors[0].message.contains("told to panic"));
    let lost = run
        .trace
        .iter()
        .find(|r| r.step.event.kind() == EventKind::ConnectionLost)
        .expect("connection_lost after the panic");
    assert_eq!(lost.step.event.reason(), Some(Reason::Other));
}

#[test]
fn a_synchronous_factory_is_checked_at_the_inner_boundary() {
    let (checked, inner) = CheckedFactory::new(callorder::reference::EchoFactory::new());
    inner.fault(EventKind::DataReceived);
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.9:5000")
            .send(Conn::Server(1), b"x")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", Arc::new(checked)).unwrap();
        },
    );
    assert!(run.violation.is_none(), "{:?}", run.violation);
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].message, "injected fault");
    let inner = inner.finish();
    assert!(inner.violation.is_none(), "{:?}", inner.violation);
    let kinds: Vec<String> = inner
        .trace
        .iter()
        .map(|r| r.step.event.kind().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "listen_tcp",
            "do_start",
            "start_factory",
            "build_protocol",
            "connection_made",
            "data_received",
            "connection_lost",
            "stop_listening",
            "do_stop",
            "stop_factory",
            "end"
        ]
    );
}

/// An echo server of the async kind, for [`Echo`](callorder::reference::Echo)'s
/// synchronous one to be compared with.
struct AsyncEcho(Option<Transport>);

#[async_trait(?Send)]
impl Protocol for AsyncEcho {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.0 = Some(t);
        Ok(())
    }
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.0.as_ref().ok_or("no transport")?.write(data)?;
        Ok(())
    }
}

struct AsyncEchoFactory;

#[async_trait(?Send)]
impl Factory for AsyncEchoFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(AsyncEcho(None))))
    }
}

#[test]
fn the_stream_adapter_talks_to_either_kind_in_one_reactor() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let run_with = |server: Arc<dyn Factory>| {
        let client = callorder::stream::stream_client(|mut stream| async move {
            stream.write_all(b"ping").await?;
            let mut echoed = [0u8; 4];
            stream.read_exact(&mut echoed).await?;
            assert_eq!(&echoed, b"ping");
            Ok(())
        });
        let run = MockReactor::new().run(Script::new().shutdown(), |r| {
            r.listen_tcp("127.0.0.1:7", server).unwrap();
            r.connect_tcp("127.0.0.1:7", client.clone(), None);
        });
        run.assert_clean();
        assert_eq!(client.results(), [Ok(())]);
        run.trace_jsonl()
    };
    let synchronous = run_with(Arc::new(callorder::reference::EchoFactory::new()));
    let asynchronous = run_with(Arc::new(AsyncEchoFactory));
    assert_eq!(synchronous, asynchronous);
}
