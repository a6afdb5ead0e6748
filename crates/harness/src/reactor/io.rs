//! The world's side: ready I/O, delivered in one batch per turn, and the
//! reactor's timers.

use super::*;

/// Ready I/O, delivered in one batch per turn.
#[derive(Debug)]
pub(super) enum Io {
    World(WorldEvent, At),
    /// A joined attempt is answered by its listener.
    JoinedConnect(usize),
    /// Bytes written by the joined peer arrive.
    Data(ProtocolId, Bytes),
    /// The joined peer closed (FIN): as a peer close.
    PeerClosed(ProtocolId),
    /// The joined peer reset or aborted.
    PeerReset(ProtocolId),
    /// A client build_protocol returned none: its dummy transport closed.
    DummyClosed(ConnectorId),
    /// Our close finished flushing.
    Closed(ProtocolId),
    /// Our half-close finished flushing.
    WriteClosed(ProtocolId),
    /// The buffer drained: resume producers.
    Drained(ProtocolId),
    /// What a live run's backend reported.
    Wire(WireEvent),
}

pub(super) enum TimerKind {
    User(Box<dyn FnOnce()>),
    ConnectTimeout(ConnectorId, usize),
    Aborted(ProtocolId),
    PortStopped(PortId),
}

impl MockReactor {
    pub(super) fn io(&self, io: Io) {
        let mut s = self.inner.state.borrow_mut();
        match io {
            Io::World(e, at) => s.world(e, at),
            Io::JoinedConnect(attempt) => {
                // Unless the attempt was cancelled or timed out meanwhile.
                if let Ok(c) = s.reach_attempt(attempt) {
                    s.resolve(c, attempt, Outcome::Accept);
                }
            }
            Io::Data(p, bytes) => s.deliver_data(p, bytes),
            Io::PeerClosed(p) => s.peer_closed(p, true),
            Io::PeerReset(p) => s.peer_closed(p, false),
            Io::DummyClosed(c) => {
                if let Some(cs) = s.connectors.get_mut(&c) {
                    cs.phase = Phase::Outcome;
                }
                s.queue
                    .push_back(Call::ClientConnectionLost(c, Reason::ConnectionDone));
            }
            Io::Closed(p) => {
                let (aborted, failing) = s
                    .conns
                    .get(&p)
                    .map_or((true, true), |c| (c.aborted, c.failing));
                if !aborted && !failing {
                    s.lose(p, Reason::ConnectionDone);
                }
            }
            Io::WriteClosed(p) => {
                if let Some(c) = s.conns.get_mut(&p) {
                    if !c.lost && c.write_closing && !c.write_closed {
                        c.write_closed = true;
                        let peer = c.peer;
                        if c.half_closeable {
                            s.queue.push_back(Call::WriteConnectionLost(p));
                        }
                        if let Some(other) = s.joined_peer(p) {
                            s.io_next.push_back(Io::PeerClosed(other));
                        }
                        if let Peer::Wire(w) = peer {
                            s.on_backend(|b| b.shutdown_write(w));
                        }
                    }
                }
            }
            Io::Drained(p) => s.drained(p),
            Io::Wire(e) => s.wire_event(e),
        }
    }

    pub(super) fn fire(&self, timer: TimerKind) {
        match timer {
            TimerKind::User(f) => {
                // Application code at the top level: its actions have depth 0.
                let meter = self.inner.state.borrow().heap.clone();
                let started = meter.start();
                let outcome = catch_unwind(AssertUnwindSafe(f));
                meter.stop(started);
                if let Err(panic) = outcome {
                    // Twisted logs an exception from a callLater and goes on.
                    let mut s = self.inner.state.borrow_mut();
                    let seq = s.trace.len() as u64;
                    s.errors.push(ImplError {
                        kind: ImplErrorKind::Panicked,
                        seq,
                        event: None,
                        message: panic_message(panic),
                    });
                }
            }
            TimerKind::ConnectTimeout(c, attempt) => {
                let mut s = self.inner.state.borrow_mut();
                let live = s
                    .connectors
                    .get(&c)
                    .is_some_and(|cs| cs.attempt == attempt && cs.phase == Phase::Connecting);
                if live {
                    s.fail_attempt(c, Reason::Timeout);
                }
            }
            TimerKind::Aborted(p) => {
                let mut s = self.inner.state.borrow_mut();
                let failing = s.conns.get(&p).is_some_and(|c| c.failing);
                if !failing {
                    s.lose(p, Reason::ConnectionAborted);
                }
            }
            TimerKind::PortStopped(l) => {
                let mut s = self.inner.state.borrow_mut();
                if let Some(ps) = s.ports.get(&l) {
                    if ps.started && !ps.stopped {
                        let f = ps.factory;
                        s.listeners.retain(|_, v| *v != l);
                        s.queue.push_back(Call::DoStop(f, Holder::Port(l)));
                    }
                }
            }
        }
    }
}
