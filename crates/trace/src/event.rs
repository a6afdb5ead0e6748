//! The events of trace format v1.

use std::fmt;
use std::str::FromStr;

use crate::caller::Caller;
use crate::id::{ConnectorId, FactoryId, Holder, PortId, ProtocolId};
use crate::reason::Reason;
use crate::scope::Scope;

/// Who caused an event: the application setting things up, the reactor
/// calling the implementation (a callback), the implementation calling the
/// reactor (an action), or the reactor marking its own life.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Category {
    /// `connect_tcp`, `listen_tcp`: the application asked for something.
    /// These are actions too: they do not add depth.
    SetUp,
    /// The reactor called the implementation.
    Callback,
    /// The implementation called the reactor.
    Action,
    /// `shutdown` and `end`.
    Marker,
}

macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident = $name:literal, $cat:ident;)*) => {
        /// The name of an event, without its fields: what the `event` field
        /// of a trace line holds.
        #[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        pub enum EventKind {
            $($(#[$doc])* $variant,)*
        }

        impl EventKind {
            /// Every kind, in the order of the format document.
            pub const ALL: &'static [EventKind] = &[$(EventKind::$variant,)*];

            /// The name used in trace files.
            ///
            /// ```
            /// use callorder_trace::EventKind;
            /// assert_eq!(EventKind::ClientConnectionLost.as_str(), "client_connection_lost");
            /// ```
            #[inline]
            pub const fn as_str(self) -> &'static str {
                match self { $(EventKind::$variant => $name,)* }
            }

            /// Who causes this event.
            #[inline]
            pub const fn category(self) -> Category {
                match self { $(EventKind::$variant => Category::$cat,)* }
            }
        }

        impl FromStr for EventKind {
            type Err = UnknownEvent;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($name => Ok(EventKind::$variant),)* _ => Err(UnknownEvent) }
            }
        }
    };
}

kinds! {
    /// The application asked for an outgoing connection; the connector is new.
    ConnectTcp = "connect_tcp", SetUp;
    /// The application asked to listen; the port is new.
    ListenTcp = "listen_tcp", SetUp;
    /// `Factory.doStart`, called by a connector or port.
    DoStart = "do_start", Callback;
    /// The user hook `startFactory`, inside `do_start` when the count goes 0 to 1.
    StartFactory = "start_factory", Callback;
    /// `ClientFactory.startedConnecting`, once per connection attempt.
    StartedConnecting = "started_connecting", Callback;
    /// `Factory.buildProtocol(addr)`.
    BuildProtocol = "build_protocol", Callback;
    /// `ClientFactory.clientConnectionFailed`: the attempt failed.
    ClientConnectionFailed = "client_connection_failed", Callback;
    /// `ClientFactory.clientConnectionLost`: the connection it made ended.
    ClientConnectionLost = "client_connection_lost", Callback;
    /// `Factory.doStop`.
    DoStop = "do_stop", Callback;
    /// The user hook `stopFactory`, inside `do_stop` when the count goes 1 to 0.
    StopFactory = "stop_factory", Callback;
    /// `Protocol.makeConnection` (and with it `connectionMade`).
    ConnectionMade = "connection_made", Callback;
    /// `Protocol.dataReceived`.
    DataReceived = "data_received", Callback;
    /// `IHalfCloseableProtocol.readConnectionLost`: the peer closed its writing side.
    ReadConnectionLost = "read_connection_lost", Callback;
    /// `IHalfCloseableProtocol.writeConnectionLost`: our writing side is closed.
    WriteConnectionLost = "write_connection_lost", Callback;
    /// `Protocol.connectionLost`.
    ConnectionLost = "connection_lost", Callback;
    /// `IPushProducer.pauseProducing`, on the producer registered with the protocol's transport.
    PauseProducing = "pause_producing", Callback;
    /// `IProducer.resumeProducing`.
    ResumeProducing = "resume_producing", Callback;
    /// `IProducer.stopProducing`.
    StopProducing = "stop_producing", Callback;
    /// `IConnector.connect`, for example to retry.
    Connect = "connect", Action;
    /// `IConnector.stopConnecting`.
    StopConnecting = "stop_connecting", Action;
    /// `IConnector.disconnect`.
    Disconnect = "disconnect", Action;
    /// `ITransport.write` on the protocol's transport.
    Write = "write", Action;
    /// `ITransport.loseConnection`.
    LoseConnection = "lose_connection", Action;
    /// `ITCPTransport.loseWriteConnection`.
    LoseWriteConnection = "lose_write_connection", Action;
    /// `ITCPTransport.abortConnection`.
    AbortConnection = "abort_connection", Action;
    /// `IConsumer.registerProducer` on the protocol's transport.
    RegisterProducer = "register_producer", Action;
    /// `IConsumer.unregisterProducer`.
    UnregisterProducer = "unregister_producer", Action;
    /// `IListeningPort.stopListening`.
    StopListening = "stop_listening", Action;
    /// The protocol paused its own transport's reading (`transport.pauseProducing()`).
    PauseReading = "pause_reading", Action;
    /// The protocol resumed its own transport's reading.
    ResumeReading = "resume_reading", Action;
    /// The reactor began shutting down; its teardown follows.
    Shutdown = "shutdown", Marker;
    /// The run is over; every obligation must be met.
    End = "end", Marker;
}

impl EventKind {
    /// Whether the reactor calls the implementation for this event.
    #[inline]
    pub const fn is_callback(self) -> bool {
        matches!(self.category(), Category::Callback)
    }

    /// Whether this is an action (set-up included): a call into the reactor,
    /// which does not add depth.
    #[inline]
    pub const fn is_action(self) -> bool {
        matches!(self.category(), Category::Action | Category::SetUp)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the events of trace format v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent;

/// One event with the fields the order depends on. Addresses, times and
/// free text live in [`Record`](crate::Record).
///
/// Each variant holds exactly the fields the format requires for it, so an
/// `Event` is always well formed.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[allow(missing_docs)] // fields are the format's, documented there
pub enum Event {
    /// See [`EventKind::ConnectTcp`].
    ConnectTcp {
        factory: FactoryId,
        connector: ConnectorId,
    },
    /// See [`EventKind::ListenTcp`].
    ListenTcp { factory: FactoryId, port: PortId },
    /// See [`EventKind::DoStart`]; `holder` is who started it, where known.
    DoStart {
        factory: FactoryId,
        holder: Option<Holder>,
    },
    /// See [`EventKind::StartFactory`].
    StartFactory { factory: FactoryId },
    /// See [`EventKind::StartedConnecting`].
    StartedConnecting {
        factory: FactoryId,
        connector: ConnectorId,
    },
    /// See [`EventKind::BuildProtocol`]; `protocol` is `None` when it returned none.
    BuildProtocol {
        factory: FactoryId,
        holder: Holder,
        protocol: Option<ProtocolId>,
    },
    /// See [`EventKind::ClientConnectionFailed`].
    ClientConnectionFailed {
        factory: FactoryId,
        connector: ConnectorId,
        reason: Reason,
    },
    /// See [`EventKind::ClientConnectionLost`].
    ClientConnectionLost {
        factory: FactoryId,
        connector: ConnectorId,
        reason: Reason,
    },
    /// See [`EventKind::DoStop`].
    DoStop {
        factory: FactoryId,
        holder: Option<Holder>,
    },
    /// See [`EventKind::StopFactory`].
    StopFactory { factory: FactoryId },
    /// See [`EventKind::ConnectionMade`].
    ConnectionMade { protocol: ProtocolId },
    /// See [`EventKind::DataReceived`].
    DataReceived { protocol: ProtocolId, bytes: u64 },
    /// See [`EventKind::ReadConnectionLost`].
    ReadConnectionLost { protocol: ProtocolId },
    /// See [`EventKind::WriteConnectionLost`].
    WriteConnectionLost { protocol: ProtocolId },
    /// See [`EventKind::ConnectionLost`].
    ConnectionLost {
        protocol: ProtocolId,
        reason: Reason,
    },
    /// See [`EventKind::PauseProducing`].
    PauseProducing { protocol: ProtocolId },
    /// See [`EventKind::ResumeProducing`].
    ResumeProducing { protocol: ProtocolId },
    /// See [`EventKind::StopProducing`].
    StopProducing { protocol: ProtocolId },
    /// See [`EventKind::Connect`].
    Connect { connector: ConnectorId },
    /// See [`EventKind::StopConnecting`].
    StopConnecting { connector: ConnectorId },
    /// See [`EventKind::Disconnect`].
    Disconnect { connector: ConnectorId },
    /// See [`EventKind::Write`].
    Write { protocol: ProtocolId, bytes: u64 },
    /// See [`EventKind::LoseConnection`].
    LoseConnection { protocol: ProtocolId },
    /// See [`EventKind::LoseWriteConnection`].
    LoseWriteConnection { protocol: ProtocolId },
    /// See [`EventKind::AbortConnection`].
    AbortConnection { protocol: ProtocolId },
    /// See [`EventKind::RegisterProducer`].
    RegisterProducer {
        protocol: ProtocolId,
        streaming: bool,
    },
    /// See [`EventKind::UnregisterProducer`].
    UnregisterProducer { protocol: ProtocolId },
    /// See [`EventKind::StopListening`].
    StopListening { port: PortId },
    /// See [`EventKind::PauseReading`].
    PauseReading { protocol: ProtocolId },
    /// See [`EventKind::ResumeReading`].
    ResumeReading { protocol: ProtocolId },
    /// See [`EventKind::Shutdown`].
    Shutdown,
    /// See [`EventKind::End`].
    End,
}

impl Event {
    /// The event's name.
    #[inline]
    pub const fn kind(&self) -> EventKind {
        match self {
            Event::ConnectTcp { .. } => EventKind::ConnectTcp,
            Event::ListenTcp { .. } => EventKind::ListenTcp,
            Event::DoStart { .. } => EventKind::DoStart,
            Event::StartFactory { .. } => EventKind::StartFactory,
            Event::StartedConnecting { .. } => EventKind::StartedConnecting,
            Event::BuildProtocol { .. } => EventKind::BuildProtocol,
            Event::ClientConnectionFailed { .. } => EventKind::ClientConnectionFailed,
            Event::ClientConnectionLost { .. } => EventKind::ClientConnectionLost,
            Event::DoStop { .. } => EventKind::DoStop,
            Event::StopFactory { .. } => EventKind::StopFactory,
            Event::ConnectionMade { .. } => EventKind::ConnectionMade,
            Event::DataReceived { .. } => EventKind::DataReceived,
            Event::ReadConnectionLost { .. } => EventKind::ReadConnectionLost,
            Event::WriteConnectionLost { .. } => EventKind::WriteConnectionLost,
            Event::ConnectionLost { .. } => EventKind::ConnectionLost,
            Event::PauseProducing { .. } => EventKind::PauseProducing,
            Event::ResumeProducing { .. } => EventKind::ResumeProducing,
            Event::StopProducing { .. } => EventKind::StopProducing,
            Event::Connect { .. } => EventKind::Connect,
            Event::StopConnecting { .. } => EventKind::StopConnecting,
            Event::Disconnect { .. } => EventKind::Disconnect,
            Event::Write { .. } => EventKind::Write,
            Event::LoseConnection { .. } => EventKind::LoseConnection,
            Event::LoseWriteConnection { .. } => EventKind::LoseWriteConnection,
            Event::AbortConnection { .. } => EventKind::AbortConnection,
            Event::RegisterProducer { .. } => EventKind::RegisterProducer,
            Event::UnregisterProducer { .. } => EventKind::UnregisterProducer,
            Event::StopListening { .. } => EventKind::StopListening,
            Event::PauseReading { .. } => EventKind::PauseReading,
            Event::ResumeReading { .. } => EventKind::ResumeReading,
            Event::Shutdown => EventKind::Shutdown,
            Event::End => EventKind::End,
        }
    }

    /// The protocol this event concerns, if any (the built one for
    /// `build_protocol`).
    #[inline]
    pub fn protocol(&self) -> Option<ProtocolId> {
        match *self {
            Event::BuildProtocol { protocol, .. } => protocol,
            mut other => other.protocol_field().copied(),
        }
    }

    /// The protocol field of the events that act on or reach one protocol
    /// (not `build_protocol`, whose protocol is optional).
    #[inline]
    fn protocol_field(&mut self) -> Option<&mut ProtocolId> {
        match self {
            Event::ConnectionMade { protocol }
            | Event::DataReceived { protocol, .. }
            | Event::ReadConnectionLost { protocol }
            | Event::WriteConnectionLost { protocol }
            | Event::ConnectionLost { protocol, .. }
            | Event::PauseProducing { protocol }
            | Event::ResumeProducing { protocol }
            | Event::StopProducing { protocol }
            | Event::Write { protocol, .. }
            | Event::LoseConnection { protocol }
            | Event::LoseWriteConnection { protocol }
            | Event::AbortConnection { protocol }
            | Event::RegisterProducer { protocol, .. }
            | Event::UnregisterProducer { protocol }
            | Event::PauseReading { protocol }
            | Event::ResumeReading { protocol } => Some(protocol),
            _ => None,
        }
    }

    /// The factory this event concerns, if any.
    #[inline]
    pub const fn factory(&self) -> Option<FactoryId> {
        match *self {
            Event::ConnectTcp { factory, .. }
            | Event::ListenTcp { factory, .. }
            | Event::DoStart { factory, .. }
            | Event::StartFactory { factory }
            | Event::StartedConnecting { factory, .. }
            | Event::BuildProtocol { factory, .. }
            | Event::ClientConnectionFailed { factory, .. }
            | Event::ClientConnectionLost { factory, .. }
            | Event::DoStop { factory, .. }
            | Event::StopFactory { factory } => Some(factory),
            _ => None,
        }
    }

    /// The connector this event concerns, if any.
    #[inline]
    pub const fn connector(&self) -> Option<ConnectorId> {
        match *self {
            Event::ConnectTcp { connector, .. }
            | Event::StartedConnecting { connector, .. }
            | Event::ClientConnectionFailed { connector, .. }
            | Event::ClientConnectionLost { connector, .. }
            | Event::Connect { connector }
            | Event::StopConnecting { connector }
            | Event::Disconnect { connector } => Some(connector),
            Event::DoStart {
                holder: Some(Holder::Connector(connector)),
                ..
            }
            | Event::DoStop {
                holder: Some(Holder::Connector(connector)),
                ..
            }
            | Event::BuildProtocol {
                holder: Holder::Connector(connector),
                ..
            } => Some(connector),
            _ => None,
        }
    }

    /// The port this event concerns, if any.
    #[inline]
    pub const fn port(&self) -> Option<PortId> {
        match *self {
            Event::ListenTcp { port, .. } | Event::StopListening { port } => Some(port),
            Event::DoStart {
                holder: Some(Holder::Port(port)),
                ..
            }
            | Event::DoStop {
                holder: Some(Holder::Port(port)),
                ..
            }
            | Event::BuildProtocol {
                holder: Holder::Port(port),
                ..
            } => Some(port),
            _ => None,
        }
    }

    /// The reason this event carries, if any.
    #[inline]
    pub const fn reason(&self) -> Option<Reason> {
        match *self {
            Event::ClientConnectionFailed { reason, .. }
            | Event::ClientConnectionLost { reason, .. }
            | Event::ConnectionLost { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// The kind of object an id names.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum IdKind {
    /// A [`FactoryId`].
    Factory,
    /// A [`ConnectorId`].
    Connector,
    /// A [`PortId`].
    Port,
    /// A [`ProtocolId`].
    Protocol,
}

impl Event {
    /// The same event with every id passed through `f`, for relabelling ids
    /// (for example, from name hashes to the small numbers a reactor uses).
    ///
    /// ```
    /// use callorder_trace::{Event, IdKind, ProtocolId};
    /// let e = Event::ConnectionMade { protocol: ProtocolId(0xabcdef) };
    /// let renamed = e.map_ids(&mut |kind, _| if kind == IdKind::Protocol { 1 } else { 0 });
    /// assert_eq!(renamed, Event::ConnectionMade { protocol: ProtocolId(1) });
    /// ```
    #[must_use]
    pub fn map_ids(self, f: &mut impl FnMut(IdKind, u64) -> u64) -> Event {
        let mut fa = |x: FactoryId| FactoryId(f(IdKind::Factory, x.0));
        let mut e = self;
        match &mut e {
            Event::ConnectTcp { factory, .. }
            | Event::ListenTcp { factory, .. }
            | Event::DoStart { factory, .. }
            | Event::StartFactory { factory }
            | Event::StartedConnecting { factory, .. }
            | Event::BuildProtocol { factory, .. }
            | Event::ClientConnectionFailed { factory, .. }
            | Event::ClientConnectionLost { factory, .. }
            | Event::DoStop { factory, .. }
            | Event::StopFactory { factory } => *factory = fa(*factory),
            _ => {}
        }
        let holder = |h: Holder, f: &mut dyn FnMut(IdKind, u64) -> u64| match h {
            Holder::Connector(c) => Holder::Connector(ConnectorId(f(IdKind::Connector, c.0))),
            Holder::Port(l) => Holder::Port(PortId(f(IdKind::Port, l.0))),
        };
        match &mut e {
            Event::ConnectTcp { connector, .. }
            | Event::StartedConnecting { connector, .. }
            | Event::ClientConnectionFailed { connector, .. }
            | Event::ClientConnectionLost { connector, .. }
            | Event::Connect { connector }
            | Event::StopConnecting { connector }
            | Event::Disconnect { connector } => {
                *connector = ConnectorId(f(IdKind::Connector, connector.0))
            }
            Event::ListenTcp { port, .. } | Event::StopListening { port } => {
                *port = PortId(f(IdKind::Port, port.0))
            }
            Event::DoStart {
                holder: Some(h), ..
            }
            | Event::DoStop {
                holder: Some(h), ..
            } => *h = holder(*h, f),
            Event::BuildProtocol {
                holder: h,
                protocol,
                ..
            } => {
                *h = holder(*h, f);
                if let Some(p) = protocol {
                    *p = ProtocolId(f(IdKind::Protocol, p.0));
                }
            }
            _ => {}
        }
        if let Some(p) = e.protocol_field() {
            *p = ProtocolId(f(IdKind::Protocol, p.0));
        }
        e
    }
}

/// An event as the checker sees it: the event and where it stands.
///
/// ```
/// use callorder_trace::{Event, FactoryId, Step};
/// let step = Step::new(3, Event::StartFactory { factory: FactoryId(1) }).at_depth(1);
/// assert_eq!(step.depth, 1);
/// assert!(!step.failed);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Step {
    /// 1 on the first event of a trace, then +1 each event.
    pub seq: u64,
    /// How many implementation callbacks enclose this event on its call stack.
    pub depth: u32,
    /// The seq of the callback this event runs inside, when events of other
    /// objects came in between (a callback that awaited).
    pub within: Option<u64>,
    /// The callback raised or returned an error, or the action raised
    /// (the format's `error` field was present).
    pub failed: bool,
    /// What happened.
    pub event: Event,
    /// The optional `hooks` of a `do_start` or `do_stop`: `Some(false)`
    /// when the factory's `doStart`/`doStop` is not `Factory`'s own (a
    /// forwarding factory such as Twisted's `endpoints._WrappingFactory`,
    /// or an `IProtocolFactory` that is no `Factory`), so that no
    /// `start_factory`/`stop_factory` comes with it. `None` (absent) and
    /// `Some(true)` mean `Factory`'s own. Read and written on those two
    /// events only.
    pub hooks: Option<bool>,
    /// The optional `scope` of an `end`: `Some(Scope::Test)` when one
    /// test's recording is over and the reactor runs on; `None` for the
    /// reactor's end. Read and written on `end` only.
    pub scope: Option<Scope>,
    /// The optional `caller` of a callback: `Some(Caller::Application)`
    /// when the application made the call itself, not the reactor. It is
    /// judged like any other; a report says who made it (and where: the
    /// record's `site`). Read and written on callbacks only.
    pub caller: Option<Caller>,
}

impl Step {
    /// An event at depth 0 that did not fail.
    pub const fn new(seq: u64, event: Event) -> Self {
        Step {
            seq,
            depth: 0,
            within: None,
            failed: false,
            event,
            hooks: None,
            scope: None,
            caller: None,
        }
    }

    /// The same step at another depth.
    #[must_use]
    pub const fn at_depth(mut self, depth: u32) -> Self {
        self.depth = depth;
        self
    }

    /// The same step, running inside the callback with seq `within`.
    #[must_use]
    pub const fn within(mut self, within: u64) -> Self {
        self.within = Some(within);
        self
    }

    /// The same step, marked as failed (it raised).
    #[must_use]
    pub const fn failed(mut self) -> Self {
        self.failed = true;
        self
    }

    /// The same step with `hooks` set (for a `do_start` or `do_stop`):
    /// `false` when the factory's `doStart`/`doStop` is not `Factory`'s own.
    ///
    /// ```
    /// use callorder_trace::{ConnectorId, Event, FactoryId, Holder, Step};
    /// let start = Event::DoStart { factory: FactoryId(1), holder: Some(Holder::Connector(ConnectorId(1))) };
    /// let step = Step::new(2, start).hooks(false);
    /// assert_eq!(step.hooks, Some(false));
    /// assert!(!step.runs_factory_hooks());
    /// assert!(Step::new(2, start).runs_factory_hooks());
    /// ```
    #[must_use]
    pub const fn hooks(mut self, hooks: bool) -> Self {
        self.hooks = Some(hooks);
        self
    }

    /// The same step with `scope` set (for an `end`).
    #[must_use]
    pub const fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// The same step with `caller` set (for a callback).
    ///
    /// ```
    /// use callorder_trace::{Caller, Event, ProtocolId, Reason, Step};
    /// let lost = Event::ConnectionLost { protocol: ProtocolId(1), reason: Reason::ConnectionDone };
    /// let step = Step::new(7, lost).caller(Caller::Application);
    /// assert_eq!(step.caller, Some(Caller::Application));
    /// ```
    #[must_use]
    pub const fn caller(mut self, caller: Caller) -> Self {
        self.caller = Some(caller);
        self
    }

    /// Whether this `do_start`/`do_stop` is `Factory`'s own, which moves
    /// the start count and calls `startFactory`/`stopFactory` at 0: true
    /// unless `hooks` is `false`.
    #[inline]
    pub const fn runs_factory_hooks(&self) -> bool {
        !matches!(self.hooks, Some(false))
    }
}
