//! The objects the reactor keeps for the implementation: its factories
//! (and how long the reactor holds each), connectors, ports and
//! connections, with their states.

use super::*;

#[derive(Clone)]
pub(super) enum FactoryObj {
    Client(Arc<dyn ClientFactory>),
    Server(Arc<dyn Factory>),
}

impl FactoryObj {
    pub(super) fn factory(&self) -> Arc<dyn Factory> {
        match self {
            FactoryObj::Client(f) => f.clone(),
            FactoryObj::Server(f) => f.clone(),
        }
    }
}

impl FactoryObj {
    pub(super) fn downgrade(&self) -> WeakFactoryObj {
        match self {
            FactoryObj::Client(f) => WeakFactoryObj::Client(Arc::downgrade(f)),
            FactoryObj::Server(f) => WeakFactoryObj::Server(Arc::downgrade(f)),
        }
    }
}

pub(super) enum WeakFactoryObj {
    Client(std::sync::Weak<dyn ClientFactory>),
    Server(std::sync::Weak<dyn Factory>),
}

impl WeakFactoryObj {
    pub(super) fn is_alive(&self) -> bool {
        match self {
            WeakFactoryObj::Client(f) => f.strong_count() > 0,
            WeakFactoryObj::Server(f) => f.strong_count() > 0,
        }
    }

    pub(super) fn upgrade(&self) -> Option<FactoryObj> {
        match self {
            WeakFactoryObj::Client(f) => f.upgrade().map(FactoryObj::Client),
            WeakFactoryObj::Server(f) => f.upgrade().map(FactoryObj::Server),
        }
    }
}

pub(super) struct FactorySt {
    /// The reactor's hold on the factory, while a connector or port of it is
    /// in use: Twisted's reactor holds a connector while it connects or is
    /// connected, and a port while it listens, and they hold their factory.
    /// Afterwards only `weak` (and whoever else keeps the factory: the
    /// application, a `Connector` handle) keeps it alive.
    pub(super) obj: Option<FactoryObj>,
    pub(super) weak: WeakFactoryObj,
    pub(super) num_ports: u32,
    /// Its connectors that are not disconnected, and its ports that have
    /// not stopped.
    pub(super) users: u32,
    /// Carried by every `Connector` handle of its connectors: while one
    /// lives, the factory may connect again, so the reactor keeps it.
    pub(super) handles: Rc<()>,
    /// Unused, but kept for a handle: in `lingering`.
    pub(super) lingering: bool,
}

impl FactorySt {
    pub(super) fn obj(&self) -> Option<FactoryObj> {
        self.obj.clone().or_else(|| self.weak.upgrade())
    }

    /// The factory, for a delivery to it. The reactor lets a factory go only
    /// when nothing is owed to it, so a delivery finds it held.
    pub(super) fn held(&self) -> Option<FactoryObj> {
        debug_assert!(
            self.obj.is_some(),
            "a delivery to a factory the reactor let go of"
        );
        self.obj()
    }

    /// [`held`](Self::held), as a plain factory: one reference count
    /// taken, not a second for the view (each is an atomic operation).
    pub(super) fn held_factory(&self) -> Option<Arc<dyn Factory>> {
        debug_assert!(
            self.obj.is_some(),
            "a delivery to a factory the reactor let go of"
        );
        match &self.obj {
            Some(FactoryObj::Client(f)) => Some(f.clone()),
            Some(FactoryObj::Server(f)) => Some(f.clone()),
            None => self.weak.upgrade().map(|obj| obj.factory()),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    /// connect was called; do_start / started_connecting pending.
    Starting,
    /// Waiting for the world.
    Connecting,
    /// A protocol (or none) was built.
    Connected(Option<ProtocolId>),
    /// An outcome callback is delivered or running.
    Outcome,
    Disconnected,
    /// A callback raised where Twisted never finishes the connector.
    Stuck,
}

pub(super) struct ConnectorSt {
    pub(super) factory: FactoryId,
    pub(super) addr: Address,
    pub(super) timeout: Option<Duration>,
    pub(super) phase: Phase,
    pub(super) holds: bool,
    /// stop_connecting/disconnect while connecting: fails as cancelled.
    pub(super) cancelled: bool,
    /// The attempt number (from 1) of the current attempt.
    pub(super) attempt: usize,
    /// A retry was made inside the running outcome callback.
    pub(super) retried: bool,
    /// What its `Connector` handles carry, while one lives.
    pub(super) token: Weak<ConnectorToken>,
}

pub(super) struct PortSt {
    pub(super) factory: FactoryId,
    /// Its do_stop is queued by shutdown.
    pub(super) tearing_down: bool,
    pub(super) addr: Address,
    pub(super) started: bool,
    pub(super) stopping: bool,
    pub(super) stopped: bool,
    pub(super) stuck: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Producer {
    None,
    Streaming { paused: bool },
    Pull,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Client,
    Server,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Peer {
    /// The script plays the peer.
    Script(Conn),
    /// Another implementation in this reactor: the join's other side.
    Joined(usize, Side),
    /// A real socket of a live run's backend.
    Wire(WireId),
}

/// A client and a server of this reactor joined in memory.
#[derive(Default, Debug)]
pub(crate) struct Join {
    pub client: Option<ProtocolId>,
    pub server: Option<ProtocolId>,
    pub client_gone: bool,
    pub server_gone: bool,
    /// Bytes written before the other side was made.
    pub to_client: Vec<Bytes>,
    pub to_server: Vec<Bytes>,
}

pub(super) struct ConnSt {
    /// How the script names it.
    pub(super) conn: Conn,
    pub(super) holder: Holder,
    pub(super) protocol: Option<Rc<RefCell<Box<dyn Protocol>>>>,
    pub(super) peer: Peer,
    /// The peer's address, for an accepted connection; a client's is its
    /// connector's destination, looked up when asked for (not cloned for
    /// every connection: each clone is an atomic count, made and undone).
    pub(super) peer_addr: Option<Address>,
    pub(super) half_closeable: bool,
    pub(super) made: bool,
    pub(super) lost: bool,
    pub(super) losing: bool,
    pub(super) aborted: bool,
    pub(super) write_closing: bool,
    pub(super) write_closed: bool,
    pub(super) read_closed: bool,
    pub(super) reading_paused: bool,
    /// Bytes written and not yet read by the peer.
    pub(super) buffered: usize,
    pub(super) window: Option<usize>,
    /// A write error the script armed (`WorldEvent::WriteError`), and
    /// where: the next write to the socket fails.
    pub(super) write_error: Option<At>,
    pub(super) producer: Producer,
    /// With the script as peer, the first bytes written, up to the run's
    /// limit: the script only needs them in order, so they are not kept
    /// twice. The last `buffered` of `bytes_written` are not read yet.
    pub(super) written: Vec<u8>,
    /// Every byte the implementation wrote on the connection, counted.
    pub(super) bytes_written: u64,
    /// Every byte delivered to it in `data_received`, counted.
    pub(super) bytes_received: u64,
    /// Of `bytes_written`, those the script's `expect`s have looked at.
    pub(super) expected_upto: u64,
    /// With a joined peer, the bytes it has not read yet, in order.
    pub(super) outbox: VecDeque<Bytes>,
    /// Bytes that arrived while reading was paused.
    pub(super) held: Vec<Bytes>,
    /// The largest chunk one read delivers (`WorldEvent::ReadChunks`).
    pub(super) read_chunk: Option<usize>,
    /// A callback raised: connection_lost(other) is queued; ignore the rest.
    pub(super) failing: bool,
}
