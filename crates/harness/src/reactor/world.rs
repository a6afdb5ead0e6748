//! The reactor's state machine: recording, feeding the checker, and what
//! the world's events and the implementation's actions do to connections.

use super::*;

impl State {
    /// Moves the reactor's view of the virtual clock to `now`.
    pub(super) fn set_now(&mut self, now: Instant) {
        self.now = now;
        self.now_secs = (now - self.start).as_secs_f64();
    }

    /// Appends an event to the trace. `open`: a callback whose outcome is
    /// not known yet, so the checker waits for it.
    pub(super) fn record(
        &mut self,
        event: Event,
        depth: u32,
        within: Option<u64>,
        open: bool,
    ) -> (usize, u64) {
        let seq = self.trace.len() as u64 + 1;
        let t = self.now_secs;
        let mut rec = Record::new(TraceStep {
            depth,
            within,
            ..TraceStep::new(seq, event)
        });
        rec.t = Some(t);
        let idx = self.trace.push(rec, open);
        (idx, seq)
    }

    /// Records an action made now: inside the callback being polled, or by
    /// the application at the top level.
    pub(super) fn record_action(&mut self, event: Event, result: Result<(), ActionError>) {
        self.emit(Emission {
            event,
            result,
            addr: None,
            timeout: None,
        });
    }

    /// Records an action with its address and timeout, made now: inside the
    /// callback being polled, or by the application at the top level.
    pub(super) fn emit(&mut self, emission: Emission) {
        let Emission {
            event,
            result,
            addr,
            timeout,
        } = emission;
        let (depth, within) = match self.frames.last() {
            Some(frame) => {
                let within = (self.last_context != Some(frame.seq)).then_some(frame.seq);
                self.last_context = Some(frame.seq);
                (frame.depth + 1, within)
            }
            None => {
                self.last_context = None;
                (0, None)
            }
        };
        let (idx, seq) = self.record(event, depth, within, false);
        let rec = self.trace.unjudged_mut(idx);
        rec.addr = addr;
        rec.timeout = timeout;
        if let Err(e) = result {
            rec.step.failed = true;
            rec.error = Some(e.to_string());
            if e.is_bug() {
                self.errors.push(ImplError {
                    kind: ImplErrorKind::Action,
                    seq,
                    event: Some(event.kind()),
                    message: e.to_string(),
                });
            }
        }
        self.feed();
    }

    /// Feeds the checker every record whose outcome is known, in order.
    pub(super) fn feed(&mut self) {
        while self.violation.is_none() {
            let Some(step) = self.trace.next_to_judge() else {
                break;
            };
            if self.checking {
                match self.checker.step(step) {
                    Ok(()) => {}
                    Err(CheckError::Violation(v)) => self.violation = Some(*v),
                    Err(e @ CheckError::TooManyLiveObjects { .. }) => {
                        self.errors.push(ImplError {
                            kind: ImplErrorKind::Action,
                            seq: e.seq(),
                            event: Some(step.event.kind()),
                            message: e.to_string(),
                        });
                    }
                }
            }
            self.trace.judged_one();
        }
    }

    /// A delivery an action triggered: after the running callback returns,
    /// or next, for an action of the application.
    pub(super) fn after(&mut self, call: Call) {
        match self.frames.last_mut() {
            Some(frame) => frame.after.push(call),
            None => self.queue.push_back(call),
        }
    }

    pub(super) fn schedule(&mut self, delay: Duration, kind: TimerKind) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        let key = (self.now + delay, id);
        let at = self.timers.partition_point(|(k, _)| *k < key);
        self.timers.insert(at, (key, kind));
        id
    }

    pub(super) fn factory_id(&mut self, key: usize, obj: FactoryObj) -> FactoryId {
        if let Some(&id) = self.factory_keys.get(&key) {
            let fs = self.factories.get_mut(&id).expect("a named factory");
            // An address names a factory only while it lives: one freed and
            // another made at the same address is another factory.
            if fs.weak.is_alive() {
                match obj {
                    // A factory that connects is held as a client factory
                    // from then on, even if it listened first: its client
                    // callbacks need that view of it. (A live client view
                    // at this address is this factory's already.)
                    FactoryObj::Client(_) => {
                        if !matches!(fs.weak, WeakFactoryObj::Client(_)) {
                            fs.weak = obj.downgrade();
                        }
                        fs.obj = Some(obj);
                    }
                    FactoryObj::Server(_) => {
                        if fs.obj.is_none() {
                            fs.obj = fs.weak.upgrade();
                        }
                    }
                }
                return id;
            }
        }
        let id = FactoryId(self.factories.len() as u64 + 1);
        self.factory_keys.insert(key, id);
        if !self.in_setup {
            // Made by the implementation during the run: it must not outlive it.
            let named_at = self.trace.len() as u64 + 1;
            self.weak_factories
                .push((id, named_at, Arc::downgrade(&obj.factory())));
        }
        self.factories.insert(
            id,
            FactorySt {
                weak: obj.downgrade(),
                obj: Some(obj),
                num_ports: 0,
                users: 0,
                handles: Rc::new(()),
                lingering: false,
            },
        );
        id
    }

    /// A connector of `f` disconnected, or a port of it stopped.
    pub(super) fn unuse(&mut self, f: FactoryId) {
        if let Some(fs) = self.factories.get_mut(&f) {
            fs.users = fs.users.saturating_sub(1);
        }
        self.release_if_unused(f);
    }

    /// Lets go of `f` once no connector or port of it is in use and it is
    /// stopped: memory follows live objects, and a factory made per
    /// connection is freed as in Twisted, unless the implementation keeps it.
    pub(super) fn release_if_unused(&mut self, f: FactoryId) {
        let Some(fs) = self.factories.get_mut(&f) else {
            return;
        };
        if fs.users > 0 || fs.num_ports > 0 || fs.obj.is_none() {
            return;
        }
        if Rc::strong_count(&fs.handles) > 1 {
            // A handle may still call `connect`: look again later.
            if !fs.lingering {
                fs.lingering = true;
                self.lingering.push(f);
            }
            return;
        }
        if let Some(obj) = fs.obj.take() {
            self.released_factories.push(obj);
        }
    }

    /// started_connecting returned: the attempt is out in the world.
    pub(super) fn attempt_started(&mut self, c: ConnectorId) {
        self.attempts.push(c);
        let attempt = self.attempts.len();
        let cs = self.connectors.get_mut(&c).expect("known connector");
        cs.attempt = attempt;
        let (timeout, addr) = (cs.timeout, cs.addr.clone());
        if let Some(t) = timeout {
            self.schedule(t, TimerKind::ConnectTimeout(c, attempt));
        }
        if let Some(backend) = &self.backend {
            // Live: the world is real, even for an address listened on here.
            backend.dial(attempt as u64, &addr);
            return;
        }
        if self.listeners.contains_key(&addr) {
            let j = self.joins.len();
            self.joins.push(Join::default());
            self.attempt_joins.insert(attempt, j);
            self.io_next.push_back(Io::JoinedConnect(attempt));
        }
    }

    /// The world answers an attempt that is waiting for it.
    pub(super) fn resolve(&mut self, c: ConnectorId, attempt: usize, outcome: Outcome) {
        let cs = self.connectors.get(&c).expect("a reached attempt");
        match outcome {
            Outcome::Accept => {
                if let Some(&j) = self.attempt_joins.get(&attempt) {
                    let Some(&l) = self.listeners.get(&cs.addr) else {
                        // The listener went away: refused.
                        self.fail_attempt(c, Reason::ConnectionRefused);
                        return;
                    };
                    // The listener accepts first, in its own read (as in the
                    // recorded traces); the client's connect completes next.
                    let client_addr = Address::new(format!("127.0.0.1:{}", 40000 + attempt));
                    self.accept(l, client_addr, Peer::Joined(j, Side::Server));
                }
                let cs = self.connectors.get_mut(&c).expect("known");
                cs.phase = Phase::Connected(None);
                let addr = cs.addr.clone();
                self.queue
                    .push_back(Call::Build(Holder::Connector(c), addr, None));
            }
            Outcome::Refuse => self.fail_attempt(c, Reason::ConnectionRefused),
            Outcome::DnsFailure => self.fail_attempt(c, Reason::DnsLookup),
            Outcome::Fail => self.fail_attempt(c, Reason::ConnectError),
        }
    }

    /// A connecting attempt fails with `reason`.
    pub(super) fn fail_attempt(&mut self, c: ConnectorId, reason: Reason) {
        if let Some(cs) = self.connectors.get_mut(&c) {
            cs.phase = Phase::Outcome;
            let attempt = cs.attempt as u64;
            self.queue.push_back(Call::ConnectionFailed(c, reason));
            // A live attempt that timed out or is torn down goes no further.
            self.on_backend(|b| b.cancel(attempt));
        }
    }

    /// A connection arrives on a port.
    pub(super) fn accept(&mut self, l: PortId, peer_addr: Address, peer: Peer) {
        let Some(ps) = self.ports.get(&l) else { return };
        if !ps.started || ps.stopped || ps.stuck {
            return;
        }
        let peer = match peer {
            Peer::Script(_) => None,
            joined => Some(joined),
        };
        self.queue
            .push_back(Call::Build(Holder::Port(l), peer_addr, peer));
    }

    pub(super) fn new_conn(
        &mut self,
        built_at: u64,
        p: ProtocolId,
        holder: Holder,
        obj: Rc<SharedProtocol>,
        peer: Peer,
        peer_addr: Option<Address>,
    ) {
        let half_closeable = obj.borrow().half_closeable();
        if let Peer::Wire(w) = peer {
            self.wires.insert(w, p);
        }
        self.live_conns += 1;
        self.weak_protocols.push((p, built_at, Rc::downgrade(&obj)));
        if self.weak_protocols.len() >= self.prune_protocols_at {
            // A freed protocol cannot come back to leak: forget it, so that
            // memory follows live connections. Pruning when the list has
            // doubled keeps the cost per connection constant.
            self.weak_protocols.retain(|(_, _, w)| w.strong_count() > 0);
            self.prune_protocols_at = (2 * self.weak_protocols.len()).max(64);
        }
        self.conns.insert(
            p,
            ConnSt {
                holder,
                protocol: Some(obj),
                peer,
                peer_addr,
                half_closeable,
                made: false,
                lost: false,
                losing: false,
                aborted: false,
                write_closing: false,
                write_closed: false,
                read_closed: false,
                reading_paused: false,
                buffered: 0,
                window: None,
                write_error: None,
                producer: Producer::None,
                written: Vec::new(),
                bytes_written: 0,
                bytes_received: 0,
                expected_upto: 0,
                outbox: VecDeque::new(),
                held: Vec::new(),
                read_chunk: None,
                failing: false,
            },
        );
    }

    /// The protocol's `connection_made` returned: bytes its joined peer
    /// wrote before can arrive now.
    pub(super) fn made(&mut self, p: ProtocolId) {
        let Some(c) = self.conns.get(&p) else { return };
        if let Peer::Wire(w) = c.peer {
            // As Twisted's transport starts reading once the protocol is made.
            if !c.lost {
                self.on_backend(|b| b.start_reading(w));
            }
            return;
        }
        if let Peer::Joined(j, side) = c.peer {
            let pending = match side {
                Side::Client => std::mem::take(&mut self.joins[j].to_client),
                Side::Server => std::mem::take(&mut self.joins[j].to_server),
            };
            for bytes in pending {
                self.io_next.push_back(Io::Data(p, bytes));
            }
        }
    }

    /// A callback of the protocol raised: `connection_lost(other)` now
    /// (P7, P8, H5), the producer stopped first.
    pub(super) fn fail_connection(&mut self, p: ProtocolId, next: &mut Vec<Call>) {
        let Some(c) = self.conns.get_mut(&p) else {
            return;
        };
        if c.lost {
            return;
        }
        c.failing = true;
        c.lost = true;
        self.live_conns -= 1;
        if c.producer != Producer::None {
            c.producer = Producer::None;
            next.push(Call::StopProducing(p));
        }
        next.push(Call::ConnectionLost(p, Reason::Other));
        self.notify_peer(p, true);
        self.close_wire(p, Reason::Other);
    }

    /// The connection ends with `reason`: the producer is stopped, then
    /// `connection_lost` (and for a client, `client_connection_lost` and
    /// `do_stop` when it returns).
    pub(super) fn lose(&mut self, p: ProtocolId, reason: Reason) {
        for call in self.lose_calls(p, reason).into_iter().flatten() {
            self.queue.push_back(call);
        }
    }

    /// The calls that end a connection, for the caller to queue.
    pub(super) fn lose_calls(&mut self, p: ProtocolId, reason: Reason) -> [Option<Call>; 2] {
        let Some(c) = self.conns.get_mut(&p) else {
            return [None, None];
        };
        if c.lost {
            return [None, None];
        }
        c.lost = true;
        self.live_conns -= 1;
        let stop = (c.producer != Producer::None).then(|| {
            c.producer = Producer::None;
            Call::StopProducing(p)
        });
        let clean = reason == Reason::ConnectionDone;
        self.notify_peer(p, clean);
        self.close_wire(p, reason);
        [stop, Some(Call::ConnectionLost(p, reason))]
    }

    /// A joined peer hears that this side went away.
    fn notify_peer(&mut self, p: ProtocolId, clean: bool) {
        let Some(Peer::Joined(j, side)) = self.conns.get(&p).map(|c| c.peer) else {
            return;
        };
        let other = match side {
            Side::Client => {
                self.joins[j].client_gone = true;
                self.joins[j].server
            }
            Side::Server => {
                self.joins[j].server_gone = true;
                self.joins[j].client
            }
        };
        if let Some(other) = other {
            if !self.shutting_down {
                self.io_next.push_back(if clean {
                    Io::PeerClosed(other)
                } else {
                    Io::PeerReset(other)
                });
            }
        }
    }

    /// Takes the protocol object of an ended connection that is owed no more
    /// deliveries, for the caller to drop.
    pub(super) fn release_protocol(
        &mut self,
        p: ProtocolId,
    ) -> Option<Rc<RefCell<Box<dyn Protocol>>>> {
        let pending = self
            .queue
            .iter()
            .any(|c| matches!(target_of(self, c), Target::Protocol(q) if q == p));
        let c = self.conns.get_mut(&p)?;
        if !c.lost || pending {
            return None;
        }
        c.held.clear();
        c.protocol.take()
    }

    /// The address of the peer of `c`: its connector's destination, or
    /// where the accepted connection came from.
    pub(super) fn peer_addr(&self, c: &ConnSt) -> Address {
        match (&c.peer_addr, c.holder) {
            (Some(addr), _) => addr.clone(),
            (None, Holder::Connector(k)) => self
                .connectors
                .get(&k)
                .map_or_else(|| Address::new("?"), |cs| cs.addr.clone()),
            (None, Holder::Port(_)) => Address::new("?"),
        }
    }

    /// The local address of `c`: the client connections' one, or its
    /// port's.
    pub(super) fn host_addr(&self, c: &ConnSt) -> Address {
        if let Peer::Wire(w) = c.peer {
            if let Some(local) = self.wire_hosts.get(&w) {
                return local.clone();
            }
        }
        match c.holder {
            Holder::Connector(_) => self.client_host.clone(),
            Holder::Port(l) => self
                .ports
                .get(&l)
                .map_or_else(|| Address::new("?"), |ps| ps.addr.clone()),
        }
    }

    /// The other side of a joined connection, once it exists.
    pub(super) fn joined_peer(&self, p: ProtocolId) -> Option<ProtocolId> {
        match self.conns.get(&p)?.peer {
            Peer::Joined(j, Side::Client) => self.joins[j].server,
            Peer::Joined(j, Side::Server) => self.joins[j].client,
            Peer::Script(_) | Peer::Wire(_) => None,
        }
    }

    /// The peer sent bytes.
    pub(super) fn deliver_data(&mut self, p: ProtocolId, bytes: Bytes) {
        let Some(c) = self.conns.get_mut(&p) else {
            return;
        };
        if c.lost || c.read_closed || bytes.is_empty() {
            return;
        }
        if c.reading_paused {
            c.held.push(bytes);
            return;
        }
        let mut bytes = bytes;
        if let Some(n) = c.read_chunk.filter(|n| *n > 0 && bytes.len() > *n) {
            // One read per turn, of at most n bytes; the rest waits.
            let rest = bytes.split_off(n);
            self.io_next.push_back(Io::Data(p, rest));
        }
        self.queue.push_back(Call::DataReceived(p, bytes));
    }

    /// The peer closed: cleanly (FIN) or not (reset).
    pub(super) fn peer_closed(&mut self, p: ProtocolId, clean: bool) {
        let Some(c) = self.conns.get_mut(&p) else {
            return;
        };
        if c.lost {
            return;
        }
        if clean && c.half_closeable {
            if !c.read_closed {
                c.read_closed = true;
                self.queue.push_back(Call::ReadConnectionLost(p));
            }
            return;
        }
        self.lose(
            p,
            if clean {
                Reason::ConnectionDone
            } else {
                Reason::ConnectionLost
            },
        );
    }

    /// The peer read what it will of our buffer.
    pub(super) fn drained(&mut self, p: ProtocolId) {
        let Some(c) = self.conns.get_mut(&p) else {
            return;
        };
        if c.lost || c.buffered == 0 {
            return;
        }
        if c.write_error.take().is_some() {
            self.lose(p, Reason::ConnectionLost);
            return;
        }
        let take = c.window.map_or(c.buffered, |w| w.min(c.buffered));
        c.buffered -= take;
        if let Some(w) = &mut c.window {
            *w -= take;
        }
        // The bytes the peer reads leave the buffer now, in order. The
        // script's are in `written` already: less buffered is all it takes.
        if let Peer::Script(_) = c.peer {
            return self.after_drain(p);
        }
        let mut sent = Vec::new();
        let mut left = take;
        while left > 0 {
            let Some(front) = c.outbox.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                sent.push(c.outbox.pop_front().expect("front"));
            } else {
                let rest = front.split_off(left);
                sent.push(std::mem::replace(front, rest));
                left = 0;
            }
        }
        self.send_to_joined(p, sent);
        self.after_drain(p);
    }

    /// What follows a drain: the write side closes, producers resume, the
    /// connection closes, once nothing is left buffered.
    pub(super) fn after_drain(&mut self, p: ProtocolId) {
        let c = self.conns.get_mut(&p).expect("live");
        if c.buffered > 0 {
            return; // Waits for the peer's window to open.
        }
        if c.write_closing && !c.write_closed {
            self.io_next.push_back(Io::WriteClosed(p));
        }
        match c.producer {
            Producer::Streaming { paused: true } => {
                c.producer = Producer::Streaming { paused: false };
                self.queue.push_back(Call::ResumeProducing(p));
            }
            Producer::Pull => self.queue.push_back(Call::ResumeProducing(p)),
            _ => {}
        }
        self.maybe_close(p);
    }

    /// Bytes a joined peer read: to that implementation, at once if it is
    /// made, when it is if not yet.
    fn send_to_joined(&mut self, p: ProtocolId, chunks: Vec<Bytes>) {
        let Some(Peer::Joined(j, side)) = self.conns.get(&p).map(|c| c.peer) else {
            return;
        };
        let (other, gone) = match side {
            Side::Client => (self.joins[j].server, self.joins[j].server_gone),
            Side::Server => (self.joins[j].client, self.joins[j].client_gone),
        };
        if gone {
            return;
        }
        let made = other.and_then(|o| self.conns.get(&o).map(|oc| (o, oc.made)));
        for chunk in chunks {
            match made {
                Some((o, true)) => self.deliver_data(o, chunk),
                _ => match side {
                    Side::Client => self.joins[j].to_server.push(chunk),
                    Side::Server => self.joins[j].to_client.push(chunk),
                },
            }
        }
    }

    /// After lose_connection, the connection closes once the buffer is
    /// empty, unless a pull or paused streaming producer holds it (PR4).
    pub(super) fn maybe_close(&mut self, p: ProtocolId) {
        let Some(c) = self.conns.get(&p) else { return };
        let held = matches!(
            c.producer,
            Producer::Pull | Producer::Streaming { paused: true }
        );
        if c.losing && !c.lost && c.buffered == 0 && !held && !c.aborted {
            self.io_next.push_back(Io::Closed(p));
        }
    }

    /// Takes the first armed fault that aims at `call`, if one does.
    /// `has_hook`: a do_start/do_stop that ran its start_factory/stop_factory.
    pub(super) fn take_fault(&mut self, call: &Call, has_hook: bool) -> bool {
        if self.faults.is_empty() {
            return false;
        }
        let kind = match call {
            Call::DoStart(..) if has_hook => EventKind::StartFactory,
            Call::DoStop(..) if has_hook => EventKind::StopFactory,
            Call::DoStart(..) | Call::DoStop(..) => return false,
            other => kind_of(other),
        };
        let protocol = match target_of(self, call) {
            Target::Protocol(p) => Some(p),
            Target::Factory(_) => None,
        };
        let hit = self.faults.iter().position(|fault| {
            fault.callback == kind
                && (fault.conn).is_none_or(|c| protocol.is_some() && self.conn_of(c) == protocol)
        });
        match hit {
            Some(i) => {
                self.faults.remove(i);
                true
            }
            None => false,
        }
    }

    /// What the world does. An event that reaches nothing is a failure of
    /// the script (see `reach`).
    pub(super) fn world(&mut self, e: WorldEvent, at: At) {
        match e {
            WorldEvent::Fault { callback, conn } => match conn {
                Some(conn) if self.ended(conn) => {
                    let why = self.reach_conn(conn).err().unwrap_or_default();
                    self.unreached(at, &e, why);
                }
                _ => self.faults.push(ArmedFault { callback, conn, at }),
            },
            WorldEvent::Resolve { attempt, outcome } => match self.reach_attempt(attempt) {
                Ok(c) => self.resolve(c, attempt, outcome),
                Err(why) => self.unreached(at, &e, why),
            },
            WorldEvent::Accept { port, ref peer } => match self.reach_port(port, true) {
                Ok(l) => self.accept(l, peer.clone(), Peer::Script(Conn::Server(0))),
                Err(why) => self.unreached(at, &e, why),
            },
            WorldEvent::StopListening { port } => match self.reach_port(port, false) {
                Ok(l) => {
                    let result = self.stop_listening(l);
                    self.record_action(Event::StopListening { port: l }, result);
                }
                Err(why) => self.unreached(at, &e, why),
            },
            WorldEvent::ReadChunks { conn, .. } | WorldEvent::Window { conn, .. } => {
                self.setting(conn, e, at);
            }
            // What a connection received is known after it ended too.
            WorldEvent::Expect { conn, ref bytes } => match self.conn_of(conn) {
                Some(p) => {
                    let expected = bytes.clone();
                    self.expect(p, &e, &expected, at);
                }
                None => {
                    let why = self.no_conn(conn);
                    self.unreached(at, &e, why);
                }
            },
            WorldEvent::Send { conn, .. }
            | WorldEvent::HalfClose { conn }
            | WorldEvent::Close { conn }
            | WorldEvent::Reset { conn }
            | WorldEvent::WriteError { conn } => match self.reach_conn(conn) {
                Ok(p) => self.on_conn(p, e, at),
                Err(why) => self.unreached(at, &e, why),
            },
        }
    }

    /// A peer's event on a live connection.
    fn on_conn(&mut self, p: ProtocolId, e: WorldEvent, at: At) {
        let read_closed = self.conns.get(&p).is_some_and(|c| c.read_closed);
        if read_closed && matches!(e, WorldEvent::Send { .. } | WorldEvent::HalfClose { .. }) {
            let why = "its peer closed its writing side already (half_close)".to_owned();
            return self.unreached(at, &e, why);
        }
        match e {
            WorldEvent::Send { ref bytes, .. } if bytes.is_empty() => {
                // Twisted never delivers empty data: nothing would arrive.
                let why = "no bytes: an empty send delivers nothing".to_owned();
                self.unreached(at, &e, why);
            }
            WorldEvent::Send { bytes, .. } => self.deliver_data(p, bytes),
            WorldEvent::HalfClose { .. } => self.peer_closed(p, true),
            WorldEvent::Close { .. } => self.lose(p, Reason::ConnectionDone),
            WorldEvent::Reset { .. } => self.lose(p, Reason::ConnectionLost),
            WorldEvent::WriteError { .. } => {
                let c = self.conns.get_mut(&p).expect("a reached connection");
                if c.write_error.is_some() {
                    let why = "a write error is armed on it already: the next write fails once"
                        .to_owned();
                    return self.unreached(at, &e, why);
                }
                c.write_error = Some(at);
            }
            _ => unreachable!("events on a connection"),
        }
    }

    pub(super) fn conn_of(&self, conn: Conn) -> Option<ProtocolId> {
        match conn {
            Conn::Client(n) => self.client_conns.get(n.wrapping_sub(1)).copied().flatten(),
            Conn::Server(n) => self.server_conns.get(n.wrapping_sub(1)).copied().flatten(),
        }
    }

    /// `stop_listening`'s effect; its do_stop comes from a zero-delay timer.
    pub(super) fn stop_listening(&mut self, l: PortId) -> Result<(), ActionError> {
        let Some(ps) = self.ports.get_mut(&l) else {
            return Err(ActionError::NotListening);
        };
        if ps.stopping || ps.stopped || ps.stuck {
            return Err(ActionError::NotListening);
        }
        ps.stopping = true;
        let (started, addr) = (ps.started, ps.addr.clone());
        self.listeners.remove(&addr);
        self.on_backend(|b| b.stop_listening(l));
        if started {
            self.schedule(Duration::ZERO, TimerKind::PortStopped(l));
        }
        Ok(())
    }

    /// A protocol wrote: the bytes go to the peer, the buffer fills.
    pub(super) fn write(&mut self, p: ProtocolId, data: &[u8]) -> Result<WriteStatus, ActionError> {
        let limit = self.written_limit;
        let Some(c) = self.conns.get_mut(&p) else {
            return Err(ActionError::ConnectionGone);
        };
        if c.lost {
            return Err(ActionError::ConnectionGone);
        }
        if c.aborted || c.write_closed {
            // Dropped, as Twisted drops writes after abort or half-close (P6, H3).
            return Ok(WriteStatus { buffer_full: false });
        }
        if data.is_empty() {
            return Ok(WriteStatus {
                buffer_full: c.buffered > HIGH_WATER,
            });
        }
        let was_empty = c.buffered == 0;
        c.buffered += data.len();
        c.bytes_written += data.len() as u64;
        let full = c.buffered > HIGH_WATER;
        // The bytes wait in the buffer until the peer reads them (drained);
        // an abort throws away what is still there.
        match c.peer {
            Peer::Script(_) => {
                // The record of a script peer is bounded: a producer that
                // writes without end must not grow the run without end.
                let room = limit.map_or(data.len(), |limit| limit.saturating_sub(c.written.len()));
                c.written.extend_from_slice(&data[..room.min(data.len())]);
            }
            Peer::Joined(..) => c.outbox.push_back(Bytes::copy_from_slice(data)),
            Peer::Wire(w) => {
                // The backend says when the kernel took them (`Drained`).
                if let Some(backend) = &self.backend {
                    backend.write(w, Bytes::copy_from_slice(data));
                }
            }
        }
        self.moved(data.len());
        let c = self.conns.get_mut(&p).expect("checked");
        let wire = matches!(c.peer, Peer::Wire(_));
        if full {
            if let Producer::Streaming { paused: false } = c.producer {
                c.producer = Producer::Streaming { paused: true };
                self.after(Call::PauseProducing(p));
            }
        }
        if was_empty && !wire {
            self.io_next.push_back(Io::Drained(p));
        }
        Ok(WriteStatus { buffer_full: full })
    }
}
