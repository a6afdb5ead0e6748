//! The protocols and factories the recorder's scenarios are built from,
//! each doing in its callbacks what its Twisted counterpart does.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason,
    Transport,
};

/// Makes a protocol per connection.
pub(crate) type MakeProtocol = Box<dyn Fn() -> Option<Box<dyn Protocol>>>;

/// `Factory.forProtocol` / the recorder's `CF`: builds a protocol per
/// connection (or none, for the scenarios whose `buildProtocol` returns
/// `None`), and does nothing in its other callbacks.
pub(crate) struct SimpleFactory {
    make: MakeProtocol,
}

impl SimpleFactory {
    /// A factory building `make()` for every connection.
    pub(crate) fn new<P: Protocol>(make: impl Fn() -> P + 'static) -> Self {
        SimpleFactory {
            make: Box::new(move || Some(Box::new(make()) as Box<dyn Protocol>)),
        }
    }

    /// A factory whose `build_protocol` returns none.
    pub(crate) fn none() -> Self {
        SimpleFactory {
            make: Box::new(|| None),
        }
    }

    /// The factory, shared as reactors hold it.
    pub(crate) fn shared(self) -> Arc<Self> {
        share(self)
    }
}

/// `Arc::new`, for objects that hold single-threaded reactor handles.
#[allow(clippy::arc_with_non_send_sync)] // Reactor handles are single-threaded by design.
pub(crate) fn share<T>(value: T) -> Arc<T> {
    Arc::new(value)
}

#[async_trait(?Send)]
impl Factory for SimpleFactory {
    async fn build_protocol(
        &self,
        _addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok((self.make)())
    }
}

#[async_trait(?Send)]
impl ClientFactory for SimpleFactory {}

/// The transport, once `connection_made` gave it.
fn transport(t: &Option<Transport>) -> Result<&Transport, CallbackError> {
    t.as_ref()
        .ok_or_else(|| CallbackError::new("no transport before connection_made"))
}

/// Twisted's `Protocol` with no overrides: ignores everything (`Idle`,
/// `Discard`, the recorder's `Reader`).
#[derive(Default)]
pub(crate) struct Idle;

#[async_trait(?Send)]
impl Protocol for Idle {
    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }
}

/// Writes back what it receives. With `raise_in_made`, its
/// `connection_made` fails first (the recorder's `RaisingEcho`).
#[derive(Default)]
pub(crate) struct Echo {
    transport: Option<Transport>,
    raise_in_made: bool,
}

impl Echo {
    /// An echo whose `connection_made` fails.
    pub(crate) fn raising() -> Self {
        Echo {
            transport: None,
            raise_in_made: true,
        }
    }
}

#[async_trait(?Send)]
impl Protocol for Echo {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        if self.raise_in_made {
            return Err("server connectionMade failed on purpose".into());
        }
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        transport(&self.transport)?.write(data)?;
        Ok(())
    }
}

/// Server: says hello and closes.
#[derive(Default)]
pub(crate) struct Greeter;

#[async_trait(?Send)]
impl Protocol for Greeter {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.write(b"hello from server\r\n")?;
        transport.lose_connection()?;
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }
}

/// Sends a payload, closes when it has all come back.
#[derive(Default)]
pub(crate) struct EchoClient {
    transport: Option<Transport>,
    got: usize,
}

impl EchoClient {
    const PAYLOAD: &'static [u8] = b"hello world";
}

#[async_trait(?Send)]
impl Protocol for EchoClient {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.write(Self::PAYLOAD)?;
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.got += data.len();
        if self.got >= Self::PAYLOAD.len() {
            transport(&self.transport)?.lose_connection()?;
        }
        Ok(())
    }
}

/// Which of its callbacks a [`Raiser`] fails.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RaiseIn {
    ConnectionMade,
    DataReceived,
}

/// A client whose `connection_made` or `data_received` fails.
pub(crate) struct Raiser(pub(crate) RaiseIn);

#[async_trait(?Send)]
impl Protocol for Raiser {
    async fn connection_made(&mut self, _transport: Transport) -> CallbackResult {
        if self.0 == RaiseIn::ConnectionMade {
            return Err("connectionMade failed on purpose".into());
        }
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        if self.0 == RaiseIn::DataReceived {
            return Err("dataReceived failed on purpose".into());
        }
        Ok(())
    }
}

/// What a [`Writer`] does when data arrives.
#[derive(Clone)]
pub(crate) enum OnData {
    /// `abortConnection()`.
    Abort,
    /// `abortConnection()`, then fail.
    AbortThenRaise,
    /// `connector.disconnect()` from a timer 20 ms later.
    DisconnectLater(Rc<RefCell<Option<Connector>>>),
    /// Nothing (the recorder counts, to stop the reactor: the script does).
    Nothing,
}

/// Writes a greeting in `connection_made`, then acts on the first data.
pub(crate) struct Writer {
    greeting: &'static [u8],
    on_data: OnData,
    transport: Option<Transport>,
}

impl Writer {
    /// Writes `greeting`, then does `on_data`.
    pub(crate) fn new(greeting: &'static [u8], on_data: OnData) -> Self {
        Writer {
            greeting,
            on_data,
            transport: None,
        }
    }
}

#[async_trait(?Send)]
impl Protocol for Writer {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.write(self.greeting)?;
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        let t = transport(&self.transport)?;
        match &self.on_data {
            OnData::Abort => t.abort_connection()?,
            OnData::AbortThenRaise => {
                t.abort_connection()?;
                return Err("ZeroDivisionError: division by zero".into());
            }
            OnData::DisconnectLater(connector) => {
                let connector = connector.clone();
                t.reactor()
                    .call_later(std::time::Duration::from_millis(20), move || {
                        if let Some(c) = connector.borrow().as_ref() {
                            let _ = c.disconnect();
                        }
                    });
            }
            OnData::Nothing => {}
        }
        Ok(())
    }
}

/// Writes, then shuts down its writing side.
#[derive(Default)]
pub(crate) struct HalfServer;

#[async_trait(?Send)]
impl Protocol for HalfServer {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.write(b"server-data")?;
        transport.lose_write_connection()?;
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }
}

/// A half-closeable client: on the peer's EOF it writes, closes its own
/// writing side, and closes the connection when that is done.
#[derive(Default)]
pub(crate) struct HalfClient {
    transport: Option<Transport>,
    raise_in_read: bool,
}

impl HalfClient {
    /// A client whose `read_connection_lost` fails.
    pub(crate) fn raising() -> Self {
        HalfClient {
            transport: None,
            raise_in_read: true,
        }
    }
}

#[async_trait(?Send)]
impl Protocol for HalfClient {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        true
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        if self.raise_in_read {
            return Err("readConnectionLost failed on purpose".into());
        }
        let t = transport(&self.transport)?;
        t.write(b"client-data")?;
        t.lose_write_connection()?;
        Ok(())
    }

    async fn write_connection_lost(&mut self) -> CallbackResult {
        transport(&self.transport)?.lose_connection()?;
        Ok(())
    }
}

/// What a [`Streamer`] does when it is paused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnPause {
    /// Waits to be resumed.
    Wait,
    /// `abortConnection()`.
    Abort,
}

/// A streaming producer writing `total` bytes in `chunk`-byte writes for
/// as long as it is not paused; when all is written it unregisters and
/// closes. In Twisted `pause_producing` arrives inside the `write` that
/// filled the buffer; here it arrives after the callback, so the loop stops
/// when a write reports the buffer full.
pub(crate) struct Streamer {
    transport: Option<Transport>,
    remaining: u64,
    chunk: u64,
    paused: bool,
    finished: bool,
    on_pause: OnPause,
}

impl Streamer {
    /// Writes `total` bytes in `chunk`-byte writes.
    pub(crate) fn new(total: u64, chunk: u64, on_pause: OnPause) -> Self {
        Streamer {
            transport: None,
            remaining: total,
            chunk,
            paused: false,
            finished: false,
            on_pause,
        }
    }

    fn produce(&mut self) -> CallbackResult {
        let t = transport(&self.transport)?.clone();
        while !self.paused && self.remaining > 0 {
            let n = self.chunk.min(self.remaining);
            self.remaining -= n;
            let buf = vec![b'x'; usize::try_from(n).map_err(|e| e.to_string())?];
            if t.write(&buf)?.buffer_full {
                break;
            }
        }
        if self.remaining == 0 && !self.finished {
            self.finished = true;
            t.unregister_producer()?;
            t.lose_connection()?;
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl Protocol for Streamer {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.register_producer(true)?;
        self.transport = Some(transport);
        self.produce()
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.paused = true;
        if self.on_pause == OnPause::Abort {
            transport(&self.transport)?.abort_connection()?;
        }
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        self.paused = false;
        self.produce()
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        self.paused = true;
        self.remaining = 0;
        self.finished = true;
        Ok(())
    }
}

/// A pull producer: each `resume_producing` writes 50000 bytes, eight times;
/// the ninth unregisters and closes.
pub(crate) struct Puller {
    transport: Option<Transport>,
    left: u32,
}

impl Default for Puller {
    fn default() -> Self {
        Puller {
            transport: None,
            left: 8,
        }
    }
}

#[async_trait(?Send)]
impl Protocol for Puller {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.register_producer(false)?;
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        let t = transport(&self.transport)?;
        if self.left > 0 {
            self.left -= 1;
            t.write(&[b'y'; 50_000])?;
        } else {
            t.unregister_producer()?;
            t.lose_connection()?;
        }
        Ok(())
    }
}

/// After `connection_lost`, registers itself as a producer on its dead
/// transport from a 10 ms timer; Twisted stops it at once.
#[derive(Default)]
pub(crate) struct LateProducer {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for LateProducer {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }

    async fn connection_lost(&mut self, _reason: Reason) -> CallbackResult {
        let t = transport(&self.transport)?.clone();
        t.reactor()
            .call_later(std::time::Duration::from_millis(10), move || {
                // The recorder's `late`: Twisted answers with stop_producing.
                let _ = t.register_producer(true);
            });
        Ok(())
    }
}

/// The server of `server_stop_listening_with_live_connections`: welcomes.
#[derive(Default)]
pub(crate) struct Welcome;

#[async_trait(?Send)]
impl Protocol for Welcome {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.write(b"welcome")?;
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }
}

/// A counter shared by the protocols of one scenario.
pub(crate) type Shared<T> = Rc<RefCell<T>>;

/// A client of `server_stop_listening_with_live_connections`: the third to
/// hear the welcome stops the port 20 ms later; 20 ms after that every
/// client closes.
pub(crate) struct Listener {
    pub(crate) transport: Option<Transport>,
    pub(crate) heard: Cell<bool>,
    pub(crate) clients: Shared<Vec<Transport>>,
    pub(crate) port: Shared<Option<callorder_core::Port>>,
}

#[async_trait(?Send)]
impl Protocol for Listener {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        if self.heard.replace(true) {
            return Ok(());
        }
        let t = transport(&self.transport)?.clone();
        let reactor = t.reactor();
        self.clients.borrow_mut().push(t);
        if self.clients.borrow().len() == 3 {
            let (clients, port) = (self.clients.clone(), self.port.clone());
            let r = reactor.clone();
            reactor.call_later(std::time::Duration::from_millis(20), move || {
                if let Some(p) = port.borrow().as_ref() {
                    let _ = p.stop_listening();
                }
                // Twisted: 20 ms after stop_listening's Deferred fired,
                // which is right after do_stop (the next zero-delay turn).
                r.call_later(std::time::Duration::from_millis(20), move || {
                    for c in clients.borrow().iter() {
                        let _ = c.lose_connection();
                    }
                });
            });
        }
        Ok(())
    }
}

/// A protocol that closes as soon as it is made.
#[derive(Default)]
pub(crate) struct Closing;

#[async_trait(?Send)]
impl Protocol for Closing {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.lose_connection()?;
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        Ok(())
    }
}

/// Twisted's test_tcp `ClosingFactory`: stops its own port inside
/// `build_protocol`.
#[derive(Default)]
pub(crate) struct ClosingFactory {
    pub(crate) port: Shared<Option<callorder_core::Port>>,
}

#[async_trait(?Send)]
impl Factory for ClosingFactory {
    async fn build_protocol(
        &self,
        _addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if let Some(p) = self.port.borrow().as_ref() {
            p.stop_listening()?;
        }
        Ok(Some(Box::new(Closing)))
    }
}

/// A client factory that retries at once inside
/// `client_connection_failed`, three times.
#[derive(Default)]
pub(crate) struct RetryAtOnce {
    failures: Cell<u32>,
}

#[async_trait(?Send)]
impl Factory for RetryAtOnce {
    async fn build_protocol(
        &self,
        _addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Idle)))
    }
}

#[async_trait(?Send)]
impl ClientFactory for RetryAtOnce {
    async fn client_connection_failed(
        &self,
        connector: &Connector,
        _reason: Reason,
    ) -> CallbackResult {
        let n = self.failures.get() + 1;
        self.failures.set(n);
        if n < 4 {
            connector.connect()?;
        }
        Ok(())
    }
}
