//! A callback returned (or failed): what the reactor does next, as
//! Twisted does at that point (P7-P11, C10, C11, S3, ...).

use super::*;

impl MockReactor {
    /// A callback returned (or failed): what the reactor does next, as
    /// Twisted does at that point.
    pub(super) fn complete(&self, r: Delivery, outcome: Result<Done, String>, frame: Frame) {
        let (mut result, built, panicked) = match outcome {
            Ok(done) => {
                let (result, built) = done.into_parts();
                (result.map_err(|e| e.message().to_owned()), built, false)
            }
            Err(msg) => (Err(msg), None, true),
        };
        let mut s = self.inner.state.borrow_mut();
        s.busy.remove(&r.target);
        // A hook's record follows its caller's.
        let hook = r.record + 1;
        let has_hook = matches!(r.call, Call::DoStart(..) | Call::DoStop(..))
            && s.trace.is_open(hook)
            && s.trace.get(hook).is_some_and(|h| {
                matches!(
                    h.step.event.kind(),
                    EventKind::StartFactory | EventKind::StopFactory
                )
            });
        let injected = result.is_ok() && s.take_fault(&r.call, has_hook);
        if injected {
            result = Err(INJECTED.to_owned());
            s.injected.push(r.seq);
        }
        let failed = result.is_err();
        if let Err(msg) = &mut result {
            if !injected {
                s.errors.push(ImplError {
                    kind: if panicked {
                        ImplErrorKind::Panicked
                    } else {
                        ImplErrorKind::Returned
                    },
                    seq: r.seq,
                    event: Some(kind_of(&r.call)),
                    message: msg.clone(),
                });
            }
            if panicked {
                // The trace has no kind beside the message: it says so.
                *msg = format!("panicked: {msg}");
            }
            let rec = s.trace.unjudged_mut(r.record);
            rec.step.failed = true;
            rec.error = Some(msg.clone());
        }
        if has_hook {
            if let Err(msg) = &result {
                let h = s.trace.unjudged_mut(hook);
                h.step.failed = true;
                h.error = Some(msg.clone());
            }
            s.trace.close(hook);
        }
        let mut next: Vec<Call> = s.spare_calls.pop().unwrap_or_default();
        match r.call {
            Call::DoStart(f, holder) => {
                if failed {
                    // start_factory raised: the count did not move and the
                    // connect or listen that asked raised (P11, S1).
                    if let Some(fs) = s.factories.get_mut(&f) {
                        fs.num_ports = fs.num_ports.saturating_sub(1);
                    }
                    match holder {
                        Holder::Connector(c) => {
                            if let Some(cs) = s.connectors.get_mut(&c) {
                                cs.phase = Phase::Stuck;
                                cs.holds = false;
                            }
                        }
                        Holder::Port(l) => {
                            if let Some(ps) = s.ports.get_mut(&l) {
                                ps.stuck = true;
                                let f = ps.factory;
                                s.unuse(f);
                            }
                        }
                    }
                } else {
                    match holder {
                        Holder::Connector(c) => {
                            if let Some(cs) = s.connectors.get_mut(&c) {
                                cs.holds = true;
                            }
                            next.push(Call::StartedConnecting(c));
                        }
                        Holder::Port(l) => {
                            if let Some(ps) = s.ports.get_mut(&l) {
                                ps.started = true;
                                if ps.stopping {
                                    s.schedule(Duration::ZERO, TimerKind::PortStopped(l));
                                }
                            }
                        }
                    }
                }
            }
            Call::StartedConnecting(c) => {
                if let Some(cs) = s.connectors.get_mut(&c) {
                    if cs.phase == Phase::Starting {
                        cs.phase = Phase::Connecting;
                        if cs.cancelled {
                            cs.phase = Phase::Outcome;
                            next.push(Call::ConnectionFailed(c, Reason::UserCancelled));
                        } else {
                            s.attempt_started(c);
                        }
                    }
                }
            }
            Call::Build(holder, ref addr, accept_peer) => {
                let protocol = if failed { None } else { built };
                let id = protocol.as_ref().map(|_| {
                    let id = ProtocolId(s.next_protocol);
                    s.next_protocol += 1;
                    id
                });
                if let Event::BuildProtocol { protocol: slot, .. } =
                    &mut s.trace.unjudged_mut(r.record).step.event
                {
                    *slot = id;
                }
                match holder {
                    Holder::Connector(c) => {
                        if failed {
                            // C11: the connection fails with ConnectError.
                            if let Some(cs) = s.connectors.get_mut(&c) {
                                cs.phase = Phase::Outcome;
                            }
                            next.push(Call::ConnectionFailed(c, Reason::ConnectError));
                            // And its socket closes in order (tcp.py
                            // failIfNotConnected, `_closeSocket(True)`): a
                            // joined server reads a clean close.
                            let attempt = s.connectors.get(&c).map(|cs| cs.attempt);
                            if let Some(&j) = attempt.and_then(|a| s.attempt_joins.get(&a)) {
                                s.joins[j].client_gone = true;
                                if let Some(server) = s.joins[j].server {
                                    s.io_next.push_back(Io::PeerClosed(server));
                                }
                            }
                            if let Some(Peer::Wire(w)) = accept_peer {
                                s.on_backend(|b| b.close(w));
                            }
                        } else {
                            let attempt = s.connectors[&c].attempt;
                            let peer = match (accept_peer, s.attempt_joins.get(&attempt)) {
                                (Some(wire @ Peer::Wire(_)), _) => wire,
                                (_, Some(&j)) => Peer::Joined(j, Side::Client),
                                (_, None) => Peer::Script(Conn::Client(attempt)),
                            };
                            match (id, protocol) {
                                (Some(p), Some(obj)) => {
                                    if let Peer::Joined(j, _) = peer {
                                        s.joins[j].client = Some(p);
                                    }
                                    s.new_conn(r.seq, p, Holder::Connector(c), obj, peer, None);
                                    if let Some(slot) = s.client_conns.get_mut(attempt - 1) {
                                        *slot = Some(p);
                                    }
                                    s.apply_pending(Conn::Client(attempt), p);
                                    if let Some(cs) = s.connectors.get_mut(&c) {
                                        cs.phase = Phase::Connected(Some(p));
                                    }
                                    next.push(Call::ConnectionMade(p));
                                    if let Peer::Joined(j, _) = peer {
                                        if s.joins[j].server_gone {
                                            // The server side closed before we were
                                            // built (it built no protocol): a clean
                                            // close reaches us next.
                                            s.io_next.push_back(Io::PeerClosed(p));
                                        }
                                    }
                                }
                                _ => {
                                    // C10: a dummy protocol, closed at once; the
                                    // factory hears of it in a later turn.
                                    s.io_next.push_back(Io::DummyClosed(c));
                                    if let Peer::Wire(w) = peer {
                                        s.on_backend(|b| b.close(w));
                                    }
                                    if let Peer::Joined(j, _) = peer {
                                        s.joins[j].client_gone = true;
                                        if let Some(server) = s.joins[j].server {
                                            s.io_next.push_back(Io::PeerClosed(server));
                                        }
                                    }
                                }
                            }
                        }
                    }
                    Holder::Port(l) => {
                        match (id, protocol) {
                            (Some(p), Some(obj)) => {
                                let peer = accept_peer.unwrap_or(Peer::Script(Conn::Server(
                                    s.server_conns.len() + 1,
                                )));
                                s.new_conn(
                                    r.seq,
                                    p,
                                    Holder::Port(l),
                                    obj,
                                    peer,
                                    Some(addr.clone()),
                                );
                                s.server_conns.push(Some(p));
                                let n = s.server_conns.len();
                                s.apply_pending(Conn::Server(n), p);
                                if let Peer::Joined(j, _) = peer {
                                    s.joins[j].server = Some(p);
                                }
                                next.push(Call::ConnectionMade(p));
                                if let Peer::Joined(j, _) = peer {
                                    if s.joins[j].client_gone {
                                        // The client side closed while this
                                        // build ran (its build failed or
                                        // returned none, or its
                                        // connection_made raised): the close
                                        // waits in the socket, read next.
                                        s.io_next.push_back(Io::PeerClosed(p));
                                    }
                                }
                            }
                            _ => {
                                // S2/S3: the socket is closed; a joined peer sees a clean close.
                                // The arrival is numbered all the same.
                                s.server_conns.push(None);
                                if let Some(Peer::Wire(w)) = accept_peer {
                                    s.on_backend(|b| b.close(w));
                                }
                                if let Some(Peer::Joined(j, _)) = accept_peer {
                                    s.joins[j].server_gone = true;
                                    if let Some(client) = s.joins[j].client {
                                        s.io_next.push_back(Io::PeerClosed(client));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            Call::ConnectionMade(p) => {
                s.made(p);
                if let Some(cs) = s.conns.get_mut(&p) {
                    cs.made = true;
                    if failed && matches!(cs.holder, Holder::Connector(_)) {
                        // P8: the client connection ends with the exception.
                        s.fail_connection(p, &mut next);
                    }
                }
            }
            Call::DataReceived(p, _)
            | Call::ReadConnectionLost(p)
            | Call::WriteConnectionLost(p) => {
                if failed {
                    // P7, H5: connection_lost with the exception, now.
                    s.fail_connection(p, &mut next);
                } else if matches!(r.call, Call::ReadConnectionLost(_)) {
                    if let Some(cs) = s.conns.get_mut(&p) {
                        cs.read_closed = true;
                    }
                }
            }
            Call::ConnectionLost(p, reason) => {
                let holder = s.conns.get(&p).map(|c| c.holder);
                if let Some(Holder::Connector(c)) = holder {
                    if failed {
                        // P9: no client_connection_lost, no do_stop, ever.
                        if let Some(cs) = s.connectors.get_mut(&c) {
                            cs.phase = Phase::Stuck;
                        }
                    } else {
                        if let Some(cs) = s.connectors.get_mut(&c) {
                            cs.phase = Phase::Outcome;
                        }
                        next.push(Call::ClientConnectionLost(c, reason));
                    }
                }
            }
            Call::PauseProducing(p) | Call::ResumeProducing(p) => {
                if failed {
                    // PR6: Twisted calls pauseProducing inside the write that
                    // filled the buffer, and resumeProducing inside
                    // registerProducer or the doWrite that drained it: the
                    // exception leaves the callback that wrote or registered
                    // (P7, P8), or doWrite, and the reactor ends the
                    // connection with it, the producer stopped first.
                    s.fail_connection(p, &mut next);
                }
            }
            Call::StopProducing(p) => {
                if failed {
                    s.stop_producing_raised(p);
                }
            }
            Call::ConnectionFailed(c, _) | Call::ClientConnectionLost(c, _) => {
                if let Some(cs) = s.connectors.get_mut(&c) {
                    let retried = std::mem::take(&mut cs.retried);
                    if failed {
                        // P10: the factory stays started.
                        if !retried {
                            cs.phase = Phase::Disconnected;
                            let f = cs.factory;
                            s.unuse(f);
                        }
                    } else if !retried && cs.phase == Phase::Outcome {
                        cs.phase = Phase::Disconnected;
                        let (f, holds) = (cs.factory, cs.holds);
                        if holds {
                            next.push(Call::DoStop(f, Holder::Connector(c)));
                        }
                        s.unuse(f);
                    }
                }
            }
            Call::DoStop(f, holder) => {
                match holder {
                    Holder::Connector(c) => {
                        if let Some(cs) = s.connectors.get_mut(&c) {
                            cs.holds = false;
                        }
                        s.connector_ended(c);
                    }
                    Holder::Port(l) => {
                        if let Some(ps) = s.ports.get_mut(&l) {
                            if !ps.stopped {
                                ps.stopped = true;
                                s.unuse(f);
                            }
                        }
                    }
                }
                s.release_if_unused(f);
            }
        }
        // Deliveries its actions triggered come first, then its own
        // consequences.
        let mut after = frame.after;
        while let Some(call) = next.pop() {
            s.queue.push_front(call);
        }
        while let Some(call) = after.pop() {
            s.queue.push_front(call);
        }
        s.spare_calls.push(next);
        s.spare_calls.push(after);
        s.trace.close(r.record);
        s.feed();
        // A protocol whose connection ended and that is owed nothing more is
        // let go now: memory follows live connections. It is dropped outside
        // the state's borrow, since its Drop may act on the reactor.
        let released = match r.call {
            Call::ConnectionLost(p, _) | Call::StopProducing(p) => {
                s.release_protocol(p).map(|obj| (p, obj))
            }
            _ => None,
        };
        if let Some((p, _)) = &released {
            s.conn_ended(*p);
        }
        if s.released_factories.is_empty() {
            drop(s);
        } else {
            let factories = std::mem::take(&mut s.released_factories);
            drop(s);
            self.drop_released(factories);
        }
        if let Some((p, protocol)) = released {
            let meter = self.inner.state.borrow().heap.clone();
            let started = meter.start();
            self.drop_guarded(
                || format!("protocol {}{}", ProtocolId::PREFIX, p.0),
                protocol,
            );
            meter.stop(started);
        }
    }
}
