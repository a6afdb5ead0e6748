//! Middleware: a factory that wraps another one, in the manner of Twisted's
//! `policies.WrappingFactory` / `ProtocolWrapper`.
//!
//! [`WrappingFactory`] forwards the factory hooks and `build_protocol` to
//! the factory it wraps (and the client callbacks, when that is a
//! [`ClientFactory`]), and wraps each protocol it builds in a
//! [`WrappingProtocol`], which forwards every callback. Its own job is to
//! count the bytes moved in both directions ([`ByteCounts`]): received
//! bytes as they pass through `data_received`, sent bytes through a
//! transport that it hands the inner protocol in place of the real one.
//!
//! ```
//! use std::sync::Arc;
//! use callorder_harness::{Conn, MockReactor, Script};
//! use callorder_reference::{EchoFactory, WrappingFactory};
//!
//! let factory = Arc::new(WrappingFactory::new(EchoFactory::new()));
//! let counts = factory.counts();
//! let run = MockReactor::new().run(
//!     Script::new()
//!         .accept(1, "10.0.0.2:5000")
//!         .send(Conn::Server(1), b"abc")
//!         .send(Conn::Server(1), b"de")
//!         .close(Conn::Server(1))
//!         .shutdown(),
//!     |reactor| {
//!         reactor.listen_tcp("0.0.0.0:7", factory.clone()).unwrap();
//!     },
//! );
//! run.assert_clean();
//! assert_eq!((counts.received(), counts.sent(), counts.connections()), (5, 5, 1));
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    ActionError, Address, CallbackError, CallbackResult, ClientFactory, Connector, ConnectorId,
    Factory, Holder, Port, PortId, Protocol, ProtocolId, Reactor, ReactorOps, Reason, TimerHandle,
    Transport, WriteStatus,
};

#[derive(Debug, Default)]
struct Counters {
    received: AtomicU64,
    sent: AtomicU64,
    connections: AtomicU64,
}

/// Byte counts shared by a [`WrappingFactory`] and its protocols: clone it
/// to keep a handle.
#[derive(Clone, Debug, Default)]
pub struct ByteCounts(Arc<Counters>);

impl ByteCounts {
    /// Bytes received, over all connections.
    pub fn received(&self) -> u64 {
        self.0.received.load(Ordering::Relaxed)
    }

    /// Bytes written (and accepted by the transport), over all connections.
    pub fn sent(&self) -> u64 {
        self.0.sent.load(Ordering::Relaxed)
    }

    /// Connections made.
    pub fn connections(&self) -> u64 {
        self.0.connections.load(Ordering::Relaxed)
    }

    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A factory that wraps `F`: see the [module documentation](self).
#[derive(Debug, Default)]
pub struct WrappingFactory<F> {
    inner: F,
    counts: ByteCounts,
}

impl<F> WrappingFactory<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> Self {
        WrappingFactory {
            inner,
            counts: ByteCounts::default(),
        }
    }

    /// The wrapped factory.
    pub fn inner(&self) -> &F {
        &self.inner
    }

    /// A handle on the byte counts of its protocols.
    pub fn counts(&self) -> ByteCounts {
        self.counts.clone()
    }
}

#[async_trait(?Send)]
impl<F: Factory> Factory for WrappingFactory<F> {
    // Twisted's WrappingFactory forwards doStart/doStop to the factory it
    // wraps (F5), so the inner factory sees its starts with our ids.
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
        let built = self.inner.build_protocol(addr).await?;
        Ok(built.map(|inner| {
            Box::new(WrappingProtocol::new(inner, self.counts.clone())) as Box<dyn Protocol>
        }))
    }
}

#[async_trait(?Send)]
impl<F: ClientFactory> ClientFactory for WrappingFactory<F> {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        self.inner.started_connecting(connector).await
    }

    async fn client_connection_failed(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        self.inner.client_connection_failed(connector, reason).await
    }

    async fn client_connection_lost(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        self.inner.client_connection_lost(connector, reason).await
    }
}

/// A protocol wrapped by a [`WrappingFactory`]: forwards every callback to
/// the inner protocol, counting bytes on the way.
pub struct WrappingProtocol {
    inner: Box<dyn Protocol>,
    counts: ByteCounts,
}

impl WrappingProtocol {
    /// Wraps `inner`, counting into `counts`.
    pub fn new(inner: Box<dyn Protocol>, counts: ByteCounts) -> Self {
        WrappingProtocol { inner, counts }
    }
}

#[async_trait(?Send)]
impl Protocol for WrappingProtocol {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        ByteCounts::add(&self.counts.0.connections, 1);
        let id = transport.protocol();
        let ops = Rc::new(CountingOps {
            reactor: transport.reactor(),
            transport,
            counts: self.counts.clone(),
            connectors: RefCell::default(),
            ports: RefCell::default(),
            timers: RefCell::default(),
            next_timer: Cell::new(1),
        });
        self.inner.connection_made(Transport::new(id, ops)).await
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        ByteCounts::add(&self.counts.0.received, data.len());
        self.inner.data_received(data).await
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        self.inner.connection_lost(reason).await
    }

    fn half_closeable(&self) -> bool {
        self.inner.half_closeable()
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        self.inner.read_connection_lost().await
    }

    async fn write_connection_lost(&mut self) -> CallbackResult {
        self.inner.write_connection_lost().await
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.inner.pause_producing().await
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        self.inner.resume_producing().await
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        self.inner.stop_producing().await
    }
}

/// The reactor as the wrapped protocol sees it: everything goes to the
/// real transport and reactor, writes are counted.
///
/// The only handles carrying these ops are the wrapped transport and what
/// was made through it (connectors, ports and timers from its reactor), so
/// every id that comes back here is one this forwarded and remembered.
struct CountingOps {
    transport: Transport,
    reactor: Reactor,
    counts: ByteCounts,
    connectors: RefCell<BTreeMap<ConnectorId, Connector>>,
    ports: RefCell<BTreeMap<PortId, Port>>,
    timers: RefCell<BTreeMap<u64, TimerHandle>>,
    next_timer: Cell<u64>,
}

impl CountingOps {
    fn connector(&self, id: ConnectorId) -> Option<Connector> {
        self.connectors.borrow().get(&id).cloned()
    }
}

impl ReactorOps for CountingOps {
    fn write(&self, protocol: ProtocolId, data: &[u8]) -> Result<WriteStatus, ActionError> {
        debug_assert_eq!(protocol, self.transport.protocol());
        let status = self.transport.write(data)?;
        ByteCounts::add(&self.counts.0.sent, data.len());
        Ok(status)
    }

    fn lose_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
        self.transport.lose_connection()
    }

    fn lose_write_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
        self.transport.lose_write_connection()
    }

    fn abort_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
        self.transport.abort_connection()
    }

    fn register_producer(&self, _: ProtocolId, streaming: bool) -> Result<(), ActionError> {
        self.transport.register_producer(streaming)
    }

    fn unregister_producer(&self, _: ProtocolId) -> Result<(), ActionError> {
        self.transport.unregister_producer()
    }

    fn pause_reading(&self, _: ProtocolId) -> Result<(), ActionError> {
        self.transport.pause_reading()
    }

    fn resume_reading(&self, _: ProtocolId) -> Result<(), ActionError> {
        self.transport.resume_reading()
    }

    fn peer(&self, _: ProtocolId) -> Address {
        self.transport.peer()
    }

    fn host(&self, _: ProtocolId) -> Address {
        self.transport.host()
    }

    fn connect(&self, connector: ConnectorId) -> Result<(), ActionError> {
        self.connector(connector)
            .map_or(Err(ActionError::NotConnecting), |c| c.connect())
    }

    fn stop_connecting(&self, connector: ConnectorId) -> Result<(), ActionError> {
        self.connector(connector)
            .map_or(Err(ActionError::NotConnecting), |c| c.stop_connecting())
    }

    fn disconnect(&self, connector: ConnectorId) -> Result<(), ActionError> {
        self.connector(connector)
            .map_or(Err(ActionError::NotConnecting), |c| c.disconnect())
    }

    fn destination(&self, connector: ConnectorId) -> Address {
        self.connector(connector)
            .map_or_else(|| Address::new(""), |c| c.destination())
    }

    fn stop_listening(&self, port: PortId) -> Result<(), ActionError> {
        let port = self.ports.borrow().get(&port).cloned();
        port.map_or(Err(ActionError::NotListening), |p| p.stop_listening())
    }

    fn connect_tcp(
        &self,
        addr: Address,
        factory: Arc<dyn ClientFactory>,
        timeout: Option<Duration>,
    ) -> ConnectorId {
        let connector = self.reactor.connect_tcp(addr, factory, timeout);
        let id = connector.id();
        self.connectors.borrow_mut().insert(id, connector);
        id
    }

    fn listen_tcp(&self, addr: Address, factory: Arc<dyn Factory>) -> Result<PortId, ActionError> {
        let port = self.reactor.listen_tcp(addr, factory)?;
        let id = port.id();
        self.ports.borrow_mut().insert(id, port);
        Ok(id)
    }

    fn call_later(&self, delay: Duration, f: Box<dyn FnOnce()>) -> u64 {
        let id = self.next_timer.get();
        self.next_timer.set(id + 1);
        let timer = self.reactor.call_later(delay, f);
        self.timers.borrow_mut().insert(id, timer);
        id
    }

    fn cancel_timer(&self, timer: u64) -> bool {
        let timer = self.timers.borrow_mut().remove(&timer);
        timer.is_some_and(|t| t.cancel())
    }

    fn random_u64(&self) -> u64 {
        self.reactor.random_u64()
    }

    fn now(&self) -> Duration {
        self.reactor.now()
    }
}
