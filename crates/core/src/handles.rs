//! Handles: how an implementation acts on the reactor.
//!
//! Each handle is a cheap clone of an id and a link to the reactor that made
//! it. Acting through one records the action in the trace at once and
//! changes the reactor's state at once; the callbacks it triggers come after
//! the running callback returns.

use std::any::Any;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use callorder_trace::{ConnectorId, PortId, ProtocolId};

use crate::error::ActionError;
use crate::{ClientFactory, Factory};

/// A socket address as the application names it: `host:port`, where host
/// may be a name that has to resolve.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(Arc<str>);

impl Address {
    /// The address `host:port`.
    ///
    /// ```
    /// use callorder::Address;
    /// assert_eq!(Address::new("127.0.0.1:8000").to_string(), "127.0.0.1:8000");
    /// ```
    pub fn new(addr: impl AsRef<str>) -> Self {
        // Shared text: an address is copied into every event and handle
        // that names it, and a copy should not allocate.
        Address(addr.as_ref().into())
    }

    /// The text of the address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text of the address, shared: as a trace [`Record`]'s `addr`
    /// holds it.
    ///
    /// [`Record`]: callorder_trace::Record
    pub fn shared(&self) -> Arc<str> {
        self.0.clone()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl From<&str> for Address {
    fn from(s: &str) -> Self {
        Address::new(s)
    }
}

/// What a write did to the transport's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteStatus {
    /// The buffer passed its high-water mark: a producer writing in a loop
    /// should stop now (`pause_producing` follows after the callback returns).
    pub buffer_full: bool,
}

/// The operations a reactor offers its handles. Reactors implement it;
/// implementations use the handles instead.
pub trait ReactorOps {
    /// `Transport::write`.
    fn write(&self, protocol: ProtocolId, data: &[u8]) -> Result<WriteStatus, ActionError>;
    /// `Transport::lose_connection`.
    fn lose_connection(&self, protocol: ProtocolId) -> Result<(), ActionError>;
    /// `Transport::lose_write_connection`.
    fn lose_write_connection(&self, protocol: ProtocolId) -> Result<(), ActionError>;
    /// `Transport::abort_connection`.
    fn abort_connection(&self, protocol: ProtocolId) -> Result<(), ActionError>;
    /// `Transport::register_producer`.
    fn register_producer(&self, protocol: ProtocolId, streaming: bool) -> Result<(), ActionError>;
    /// `Transport::unregister_producer`.
    fn unregister_producer(&self, protocol: ProtocolId) -> Result<(), ActionError>;
    /// `Transport::pause_reading`.
    fn pause_reading(&self, protocol: ProtocolId) -> Result<(), ActionError>;
    /// `Transport::resume_reading`.
    fn resume_reading(&self, protocol: ProtocolId) -> Result<(), ActionError>;
    /// `Transport::peer`.
    fn peer(&self, protocol: ProtocolId) -> Address;
    /// `Transport::host`.
    fn host(&self, protocol: ProtocolId) -> Address;
    /// `Connector::connect`.
    fn connect(&self, connector: ConnectorId) -> Result<(), ActionError>;
    /// `Connector::stop_connecting`.
    fn stop_connecting(&self, connector: ConnectorId) -> Result<(), ActionError>;
    /// `Connector::disconnect`.
    fn disconnect(&self, connector: ConnectorId) -> Result<(), ActionError>;
    /// The token that [`Connector`] handles of `connector` carry (see
    /// [`Connector::with_token`]); `None` (the default) when the reactor
    /// does not count handles.
    fn connector_token(&self, connector: ConnectorId) -> Option<Rc<dyn Any>> {
        let _ = connector;
        None
    }
    /// `Connector::destination`.
    fn destination(&self, connector: ConnectorId) -> Address;
    /// `Port::stop_listening`.
    fn stop_listening(&self, port: PortId) -> Result<(), ActionError>;
    /// `Reactor::connect_tcp`.
    fn connect_tcp(
        &self,
        addr: Address,
        factory: Arc<dyn ClientFactory>,
        timeout: Option<Duration>,
    ) -> ConnectorId;
    /// `Reactor::listen_tcp`.
    fn listen_tcp(&self, addr: Address, factory: Arc<dyn Factory>) -> Result<PortId, ActionError>;
    /// `Reactor::call_later`: returns a timer number.
    fn call_later(&self, delay: Duration, f: Box<dyn FnOnce()>) -> u64;
    /// `TimerHandle::cancel`: whether it was still pending.
    fn cancel_timer(&self, timer: u64) -> bool;
    /// `Reactor::random_u64`.
    fn random_u64(&self) -> u64;
    /// `Reactor::now`.
    fn now(&self) -> Duration;
}

/// The reactor, as seen from inside any callback.
///
/// Kept past the end of its run, it answers without acting: `connect_tcp`
/// gives a connector numbered 0 whose actions answer `Err(ReactorGone)`,
/// `listen_tcp` answers `Err(ReactorGone)`, a `call_later` never runs (its
/// `cancel` says it was not pending), `now` is zero and `random_u64` 0.
#[derive(Clone)]
pub struct Reactor {
    ops: Rc<dyn ReactorOps>,
}

impl Reactor {
    /// A handle on a reactor (for reactor implementations).
    pub fn new(ops: Rc<dyn ReactorOps>) -> Self {
        Reactor { ops }
    }

    /// Asks for an outgoing connection to `addr`, failing with `timeout` if
    /// it is not made in time (`None`: never). `do_start`, `start_factory`
    /// and `started_connecting` follow.
    pub fn connect_tcp(
        &self,
        addr: impl Into<Address>,
        factory: Arc<dyn ClientFactory>,
        timeout: Option<Duration>,
    ) -> Connector {
        let id = self.ops.connect_tcp(addr.into(), factory, timeout);
        let connector = Connector::new(id, self.ops.clone());
        match self.ops.connector_token(id) {
            Some(token) => connector.with_token(token),
            None => connector,
        }
    }

    /// Listens on `addr`; `do_start` follows.
    pub fn listen_tcp(
        &self,
        addr: impl Into<Address>,
        factory: Arc<dyn Factory>,
    ) -> Result<Port, ActionError> {
        let id = self.ops.listen_tcp(addr.into(), factory)?;
        Ok(Port {
            id,
            ops: self.ops.clone(),
        })
    }

    /// Runs `f` after `delay` of (virtual) time, from the event loop.
    pub fn call_later(&self, delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
        let id = self.ops.call_later(delay, Box::new(f));
        TimerHandle {
            id,
            ops: self.ops.clone(),
        }
    }

    /// A random number from the run's seeded source (for retry jitter): the
    /// same seed gives the same numbers.
    pub fn random_u64(&self) -> u64 {
        self.ops.random_u64()
    }

    /// A random number in `[0, 1)` from the run's seeded source.
    pub fn random_f64(&self) -> f64 {
        (self.ops.random_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Time since the run began (virtual under the mock reactor).
    pub fn now(&self) -> Duration {
        self.ops.now()
    }
}

/// A pending `call_later`.
pub struct TimerHandle {
    id: u64,
    ops: Rc<dyn ReactorOps>,
}

impl TimerHandle {
    /// Cancels the timer; whether it was still pending.
    pub fn cancel(&self) -> bool {
        self.ops.cancel_timer(self.id)
    }
}

/// A connection's transport, as its protocol sees it.
///
/// # After the end
///
/// A transport may be kept past its connection's `connection_lost`, and
/// past the end of the run. Acting through it then changes nothing and
/// never panics; callorder's reactors answer:
///
/// | method | after `connection_lost` | after the run is over |
/// |---|---|---|
/// | `write`, `lose_connection`, `lose_write_connection`, `abort_connection`, `unregister_producer`, `pause_reading`, `resume_reading` | `Err(ConnectionGone)` | `Err(ReactorGone)` |
/// | `register_producer` | `Err(ConnectionGone)` once the protocol is let go (Twisted calls the producer's `stopProducing` at once, PR1, which the mock does while it still holds the protocol) | `Err(ReactorGone)` |
/// | `peer`, `host` | the connection's addresses | `"?"` |
///
/// Twisted ignores these silently (`abstract.py`: `write` returns when
/// the transport is not connected, P3); the mock reactor records each such
/// action in the trace with its error, and `ConnectionGone` and
/// `ReactorGone` are not bugs ([`ActionError::is_bug`]), so a run stays
/// clean.
#[derive(Clone)]
pub struct Transport {
    id: ProtocolId,
    ops: Rc<dyn ReactorOps>,
}

impl Transport {
    /// A transport handle (for reactor implementations).
    pub fn new(id: ProtocolId, ops: Rc<dyn ReactorOps>) -> Self {
        Transport { id, ops }
    }

    /// The protocol this transport belongs to.
    pub fn protocol(&self) -> ProtocolId {
        self.id
    }

    /// Queues bytes for the peer. After the connection is gone this is a
    /// no-op that returns [`ActionError::ConnectionGone`] (after the run,
    /// [`ActionError::ReactorGone`]); see [After the end](Transport#after-the-end).
    pub fn write(&self, data: &[u8]) -> Result<WriteStatus, ActionError> {
        self.ops.write(self.id, data)
    }

    /// Closes the connection once the buffer is written;
    /// `connection_lost(connection_done)` follows.
    pub fn lose_connection(&self) -> Result<(), ActionError> {
        self.ops.lose_connection(self.id)
    }

    /// Closes our writing side once the buffer is written (half-close).
    pub fn lose_write_connection(&self) -> Result<(), ActionError> {
        self.ops.lose_write_connection(self.id)
    }

    /// Drops the connection now, discarding the buffer;
    /// `connection_lost(connection_aborted)` follows.
    pub fn abort_connection(&self) -> Result<(), ActionError> {
        self.ops.abort_connection(self.id)
    }

    /// Registers the protocol as the producer of this transport: a
    /// streaming producer gets `pause_producing`/`resume_producing` as the
    /// buffer fills and drains, a pull producer `resume_producing` each time
    /// it drains.
    pub fn register_producer(&self, streaming: bool) -> Result<(), ActionError> {
        self.ops.register_producer(self.id, streaming)
    }

    /// Unregisters the producer.
    pub fn unregister_producer(&self) -> Result<(), ActionError> {
        self.ops.unregister_producer(self.id)
    }

    /// Stops reading from the peer (Twisted's `transport.pauseProducing()`).
    pub fn pause_reading(&self) -> Result<(), ActionError> {
        self.ops.pause_reading(self.id)
    }

    /// Resumes reading from the peer.
    pub fn resume_reading(&self) -> Result<(), ActionError> {
        self.ops.resume_reading(self.id)
    }

    /// The peer's address.
    pub fn peer(&self) -> Address {
        self.ops.peer(self.id)
    }

    /// Our own address.
    pub fn host(&self) -> Address {
        self.ops.host(self.id)
    }

    /// The reactor.
    pub fn reactor(&self) -> Reactor {
        Reactor::new(self.ops.clone())
    }
}

/// An outgoing connection request, which may connect several times.
///
/// # After the end
///
/// A connector whose attempt ended (after its outcome and `do_stop`) is
/// disconnected, as Twisted's is: `connect` starts a new attempt,
/// `stop_connecting` answers `Err(NotConnecting)`, `disconnect` does
/// nothing (`Ok`), `destination` still names where it connects. After the
/// run is over every action answers `Err(ReactorGone)` and `destination`
/// is `"?"`.
#[derive(Clone)]
pub struct Connector {
    id: ConnectorId,
    ops: Rc<dyn ReactorOps>,
    /// The reactor's token for handles of this connector's factory: while a
    /// handle lives, the factory may be asked to connect again, so a reactor
    /// that counts the token keeps the factory (as Twisted's connector keeps
    /// `connector.factory`), without the handle owning the factory (a
    /// factory that stores its connector would then own itself).
    token: Option<Rc<dyn Any>>,
}

impl Connector {
    /// A connector handle (for reactor implementations).
    pub fn new(id: ConnectorId, ops: Rc<dyn ReactorOps>) -> Self {
        Connector {
            id,
            ops,
            token: None,
        }
    }

    /// The handle carries `token`, which its reactor counts to know whether
    /// handles of the connector's factory are still alive (for reactor
    /// implementations that let go of factories nothing uses).
    pub fn with_token(mut self, token: Rc<dyn Any>) -> Self {
        self.token = Some(token);
        self
    }

    /// Its id.
    pub fn id(&self) -> ConnectorId {
        self.id
    }

    /// Connects again (to retry): legal when disconnected, or inside
    /// `client_connection_failed`/`client_connection_lost`.
    pub fn connect(&self) -> Result<(), ActionError> {
        self.ops.connect(self.id)
    }

    /// Gives up the attempt in progress: `client_connection_failed(user_cancelled)` follows.
    pub fn stop_connecting(&self) -> Result<(), ActionError> {
        self.ops.stop_connecting(self.id)
    }

    /// Stops connecting, or closes the connection it made.
    pub fn disconnect(&self) -> Result<(), ActionError> {
        self.ops.disconnect(self.id)
    }

    /// Where it connects to.
    pub fn destination(&self) -> Address {
        self.ops.destination(self.id)
    }

    /// The reactor.
    pub fn reactor(&self) -> Reactor {
        Reactor::new(self.ops.clone())
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Connector({:?})", self.id)
    }
}

/// A listening port.
///
/// # After the end
///
/// Once the port stopped (or stops), `stop_listening` answers
/// `Err(NotListening)`; after the run is over, `Err(ReactorGone)`.
#[derive(Clone)]
pub struct Port {
    id: PortId,
    ops: Rc<dyn ReactorOps>,
}

impl Port {
    /// A port handle (for reactor implementations).
    pub fn new(id: PortId, ops: Rc<dyn ReactorOps>) -> Self {
        Port { id, ops }
    }

    /// Its id.
    pub fn id(&self) -> PortId {
        self.id
    }

    /// Stops accepting; the factory's `do_stop` follows from the event loop.
    pub fn stop_listening(&self) -> Result<(), ActionError> {
        self.ops.stop_listening(self.id)
    }
}

impl fmt::Debug for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Port({:?})", self.id)
    }
}
