//! The reactor core's source of events over tokio TCP: a task per attempt,
//! per listening port and per connection, reporting to the reactor on one
//! channel, in the order things happened.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use callorder_core::{ActionError, Address, PortId, Reason};
use callorder_harness::live::{Backend, WireEvent, WireId};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::connection::{self, Command, Report};
use crate::resolver::{split_host_port, Resolver};

/// Real sockets on tokio, as a [`Backend`].
pub(crate) struct TokioBackend {
    resolver: Arc<dyn Resolver>,
    /// The tasks' side of the channel, cloned for each task.
    reports_tx: UnboundedSender<Report>,
    reports: RefCell<UnboundedReceiver<Report>>,
    /// Connection ids, handed out by the tasks that open connections.
    next_wire: Arc<AtomicU64>,
    /// Each connection's commands, by id (ordered maps: nothing here is
    /// iterated where order could show, but the habit costs nothing).
    wires: RefCell<BTreeMap<WireId, UnboundedSender<Command>>>,
    /// Attempts still connecting: cancelling one aborts its task.
    dials: RefCell<BTreeMap<u64, JoinHandle<()>>>,
    /// Ports listening: stopping one aborts its task, which closes it.
    listeners: RefCell<BTreeMap<PortId, JoinHandle<()>>>,
}

impl TokioBackend {
    pub(crate) fn new(resolver: Arc<dyn Resolver>) -> Self {
        let (reports_tx, reports) = unbounded_channel();
        TokioBackend {
            resolver,
            reports_tx,
            reports: RefCell::new(reports),
            next_wire: Arc::new(AtomicU64::new(1)),
            wires: RefCell::new(BTreeMap::new()),
            dials: RefCell::new(BTreeMap::new()),
            listeners: RefCell::new(BTreeMap::new()),
        }
    }

    fn command(&self, wire: WireId, command: Command) {
        if let Some(tx) = self.wires.borrow().get(&wire) {
            // A connection that ended (reset) takes no more commands.
            let _ = tx.send(command);
        }
    }
}

impl Drop for TokioBackend {
    fn drop(&mut self) {
        // The run is over: what still connects or listens stops. (Open
        // connections close in order as their command channels go.)
        for (_, task) in std::mem::take(self.dials.get_mut()) {
            task.abort();
        }
        for (_, task) in std::mem::take(self.listeners.get_mut()) {
            task.abort();
        }
    }
}

/// Opens a connection's task and says so, before `event` says what it is.
fn open(
    stream: TcpStream,
    next_wire: &AtomicU64,
    reports: &UnboundedSender<Report>,
    event: impl FnOnce(WireId, Address) -> WireEvent,
) -> Option<impl std::future::Future<Output = ()>> {
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().ok()?;
    let wire = WireId(next_wire.fetch_add(1, Ordering::Relaxed));
    let (tx, rx) = unbounded_channel();
    reports.send(Report::Opened(wire, tx)).ok()?;
    reports
        .send(Report::Event(event(wire, Address::new(local.to_string()))))
        .ok()?;
    Some(connection::run(wire, stream, rx, reports.clone()))
}

/// The attempt's task: look the name up, connect, then be the connection.
async fn dial(
    attempt: u64,
    addr: Address,
    resolver: Arc<dyn Resolver>,
    next_wire: Arc<AtomicU64>,
    reports: UnboundedSender<Report>,
) {
    let failed = |reason: Reason| {
        let _ = reports.send(Report::Event(WireEvent::Failed { attempt, reason }));
    };
    let Some((host, port)) = split_host_port(addr.as_str()) else {
        return failed(Reason::ConnectError);
    };
    let targets: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match resolver.resolve(host, port).await {
            Ok(found) if !found.is_empty() => found,
            _ => return failed(Reason::DnsLookup),
        },
    };
    // The first address, as Twisted's TCP client uses the one address its
    // resolver gives.
    match TcpStream::connect(targets[0]).await {
        Ok(stream) => {
            let event = move |wire, local| WireEvent::Connected {
                attempt,
                wire,
                local,
            };
            if let Some(connection) = open(stream, &next_wire, &reports, event) {
                connection.await;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => failed(Reason::ConnectionRefused),
        Err(_) => failed(Reason::ConnectError),
    }
}

/// The port's task: every peer that connects is a connection of its own.
async fn accept(
    port: PortId,
    listener: TcpListener,
    next_wire: Arc<AtomicU64>,
    reports: UnboundedSender<Report>,
) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            // A failed accept (out of descriptors, say) loses that peer
            // only, as in Twisted's doRead.
            tokio::task::yield_now().await;
            continue;
        };
        let event = move |wire, local| WireEvent::Accepted {
            port,
            wire,
            peer: Address::new(peer.to_string()),
            local,
        };
        if let Some(connection) = open(stream, &next_wire, &reports, event) {
            tokio::spawn(connection);
        }
    }
}

impl Backend for TokioBackend {
    fn dial(&self, attempt: u64, addr: &Address) {
        let task = tokio::spawn(dial(
            attempt,
            addr.clone(),
            self.resolver.clone(),
            self.next_wire.clone(),
            self.reports_tx.clone(),
        ));
        self.dials.borrow_mut().insert(attempt, task);
    }

    fn cancel(&self, attempt: u64) {
        if let Some(task) = self.dials.borrow_mut().remove(&attempt) {
            task.abort();
        }
    }

    fn listen(&self, port: PortId, addr: &Address) -> Result<Address, ActionError> {
        // Bound now, as Twisted's listenTCP binds before it returns; any
        // failure to bind is its CannotListenError, `AddressInUse` here.
        let listener = std::net::TcpListener::bind(addr.as_str())
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(|_| ActionError::AddressInUse)?;
        let bound = listener
            .local_addr()
            .map_err(|_| ActionError::AddressInUse)?;
        let task = tokio::spawn(accept(
            port,
            listener,
            self.next_wire.clone(),
            self.reports_tx.clone(),
        ));
        self.listeners.borrow_mut().insert(port, task);
        Ok(Address::new(bound.to_string()))
    }

    fn stop_listening(&self, port: PortId) {
        if let Some(task) = self.listeners.borrow_mut().remove(&port) {
            task.abort();
        }
    }

    fn start_reading(&self, wire: WireId) {
        self.command(wire, Command::Read(true));
    }

    fn pause_reading(&self, wire: WireId) {
        self.command(wire, Command::Read(false));
    }

    fn resume_reading(&self, wire: WireId) {
        self.command(wire, Command::Read(true));
    }

    fn write(&self, wire: WireId, data: Bytes) {
        self.command(wire, Command::Write(data));
    }

    fn shutdown_write(&self, wire: WireId) {
        self.command(wire, Command::ShutdownWrite);
    }

    fn close(&self, wire: WireId) {
        self.command(wire, Command::Close);
        self.wires.borrow_mut().remove(&wire);
    }

    fn abort(&self, wire: WireId) {
        self.command(wire, Command::Abort);
        self.wires.borrow_mut().remove(&wire);
    }

    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<WireEvent> {
        let mut reports = self.reports.borrow_mut();
        loop {
            match reports.poll_recv(cx) {
                Poll::Ready(Some(Report::Opened(wire, tx))) => {
                    self.wires.borrow_mut().insert(wire, tx);
                }
                Poll::Ready(Some(Report::Event(e))) => {
                    if let WireEvent::Connected { attempt, .. }
                    | WireEvent::Failed { attempt, .. } = e
                    {
                        // Its task is the connection now, or done.
                        self.dials.borrow_mut().remove(&attempt);
                    }
                    return Poll::Ready(e);
                }
                // The backend holds a sender itself: the channel stays open.
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }
}
