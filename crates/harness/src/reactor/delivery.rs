//! Delivering callbacks: the queue of calls, whom each is for (one
//! callback at a time per object, even when it awaits), the frames that
//! collect what a callback's actions trigger, and polling the callbacks
//! that await.

use super::*;

pub(super) type CallFuture = Pin<Box<dyn Future<Output = Done>>>;

/// A protocol object, lent to its callbacks' futures one at a time.
pub(super) type SharedProtocol = RefCell<Box<dyn Protocol>>;

/// What a finished callback gives back: usually nothing (it returned `Ok`
/// and built nothing), else its error, boxed, or the protocol it built,
/// already in the shared cell its connection keeps it in. So a poll's
/// result fits in two registers (a 40-byte one went through memory and was
/// read back right after the callee wrote it, a store-forwarding stall on
/// every callback), and a build allocates no box for its result beside the
/// protocol's own cell.
pub(super) enum Done {
    Ok,
    Failed(Box<CallbackError>),
    Built(Rc<SharedProtocol>),
}

impl Done {
    pub(super) fn of(result: CallbackResult) -> Done {
        match result {
            Ok(()) => Done::Ok,
            Err(e) => Done::Failed(Box::new(e)),
        }
    }

    pub(super) fn built(built: Option<Box<dyn Protocol>>) -> Done {
        match built {
            None => Done::Ok,
            Some(p) => Done::Built(Rc::new(RefCell::new(p))),
        }
    }

    pub(super) fn into_parts(self) -> (CallbackResult, Option<Rc<SharedProtocol>>) {
        match self {
            Done::Ok => (Ok(()), None),
            Done::Failed(e) => (Err(*e), None),
            Done::Built(p) => (Ok(()), Some(p)),
        }
    }
}

/// A callback to deliver.
#[derive(Debug)]
pub(super) enum Call {
    DoStart(FactoryId, Holder),
    StartedConnecting(ConnectorId),
    /// `build_protocol`; for a port, the peer of the accepted connection
    /// (`None`: the script).
    Build(Holder, Address, Option<Peer>),
    ConnectionMade(ProtocolId),
    DataReceived(ProtocolId, Bytes),
    ReadConnectionLost(ProtocolId),
    WriteConnectionLost(ProtocolId),
    ConnectionLost(ProtocolId, Reason),
    PauseProducing(ProtocolId),
    ResumeProducing(ProtocolId),
    StopProducing(ProtocolId),
    ConnectionFailed(ConnectorId, Reason),
    ClientConnectionLost(ConnectorId, Reason),
    DoStop(FactoryId, Holder),
}

/// Whom a callback is delivered to: nothing else reaches it while it runs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(super) enum Target {
    Factory(FactoryId),
    Protocol(ProtocolId),
}

/// A delivery that was recorded and called: what `complete` needs when
/// its callback returns.
pub(super) struct Delivery {
    pub(super) seq: u64,
    pub(super) record: usize,
    pub(super) target: Target,
    pub(super) call: Call,
}

/// A callback of an async implementation that awaits: its delivery and its
/// future, polled again by each sweep of the run loop.
pub(super) struct Running {
    pub(super) delivery: Delivery,
    pub(super) fut: CallFuture,
}

/// The frame of a running callback, for what its actions trigger.
pub(super) struct Frame {
    pub(super) seq: u64,
    pub(super) depth: u32,
    /// Deliveries its actions triggered: after it returns, first.
    pub(super) after: Vec<Call>,
}

thread_local! {
    /// The connector or port whose `build_protocol` is being polled.
    static BUILDING: std::cell::Cell<Option<Holder>> = const { std::cell::Cell::new(None) };
}

/// The connector or port whose `build_protocol` is running now, if one is:
/// for a checked inner factory, which is asked for a protocol with only the
/// address, as Twisted's `buildProtocol(addr)` is.
pub(crate) fn building_for() -> Option<Holder> {
    BUILDING.with(std::cell::Cell::get)
}

pub(super) fn holder_of_build(call: &Call) -> Option<Holder> {
    match call {
        Call::Build(holder, ..) => Some(*holder),
        _ => None,
    }
}

pub(super) fn kind_of(call: &Call) -> EventKind {
    match call {
        Call::DoStart(..) => EventKind::DoStart,
        Call::StartedConnecting(_) => EventKind::StartedConnecting,
        Call::Build(..) => EventKind::BuildProtocol,
        Call::ConnectionMade(_) => EventKind::ConnectionMade,
        Call::DataReceived(..) => EventKind::DataReceived,
        Call::ReadConnectionLost(_) => EventKind::ReadConnectionLost,
        Call::WriteConnectionLost(_) => EventKind::WriteConnectionLost,
        Call::ConnectionLost(..) => EventKind::ConnectionLost,
        Call::PauseProducing(_) => EventKind::PauseProducing,
        Call::ResumeProducing(_) => EventKind::ResumeProducing,
        Call::StopProducing(_) => EventKind::StopProducing,
        Call::ConnectionFailed(..) => EventKind::ClientConnectionFailed,
        Call::ClientConnectionLost(..) => EventKind::ClientConnectionLost,
        Call::DoStop(..) => EventKind::DoStop,
    }
}

#[inline]
pub(super) fn target_of(s: &State, call: &Call) -> Target {
    match *call {
        Call::DoStart(f, _) | Call::DoStop(f, _) => Target::Factory(f),
        Call::StartedConnecting(c)
        | Call::ConnectionFailed(c, _)
        | Call::ClientConnectionLost(c, _) => {
            Target::Factory(s.connectors.get(&c).map_or(FactoryId(0), |cs| cs.factory))
        }
        Call::Build(holder, _, _) => Target::Factory(match holder {
            Holder::Connector(c) => s.connectors.get(&c).map_or(FactoryId(0), |cs| cs.factory),
            Holder::Port(l) => s.ports.get(&l).map_or(FactoryId(0), |ps| ps.factory),
        }),
        Call::ConnectionMade(p)
        | Call::DataReceived(p, _)
        | Call::ReadConnectionLost(p)
        | Call::WriteConnectionLost(p)
        | Call::ConnectionLost(p, _)
        | Call::PauseProducing(p)
        | Call::ResumeProducing(p)
        | Call::StopProducing(p) => Target::Protocol(p),
    }
}

/// What a panic said: its message alone, since the error that reports it
/// says that it panicked ([`ImplErrorKind::Panicked`]).
pub(super) fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_owned()
    }
}

impl MockReactor {
    /// Polls every running callback once. Whether any finished.
    pub(super) async fn poll_running(&self) -> bool {
        if self.inner.running.borrow().is_empty() {
            return false;
        }
        std::future::poll_fn(|cx| Poll::Ready(self.poll_all(cx))).await
    }

    pub(super) fn poll_all(&self, cx: &mut Context<'_>) -> bool {
        // Awaiting callbacks wake when time has moved: read the clock once
        // per sweep, before their actions are recorded.
        self.inner.state.borrow_mut().set_now(Instant::now());
        let mut running = std::mem::take(&mut *self.inner.running.borrow_mut());
        let mut finished = Vec::new();
        let mut i = 0;
        while i < running.len() {
            let seq = running[i].delivery.seq;
            self.resume_frame(seq);
            BUILDING.with(|b| b.set(holder_of_build(&running[i].delivery.call)));
            let polled = catch_unwind(AssertUnwindSafe(|| running[i].fut.as_mut().poll(cx)));
            BUILDING.with(|b| b.set(None));
            let frame = self.suspend_frame();
            match polled {
                Ok(Poll::Pending) => {
                    self.inner.state.borrow_mut().parked.insert(seq, frame);
                    i += 1;
                }
                Ok(Poll::Ready(done)) => {
                    let r = running.remove(i);
                    finished.push((r, Ok(done), frame));
                }
                Err(panic) => {
                    let r = running.remove(i);
                    finished.push((r, Err(panic_message(panic)), frame));
                }
            }
        }
        {
            let mut slot = self.inner.running.borrow_mut();
            running.append(&mut slot);
            *slot = running;
        }
        let any = !finished.is_empty();
        for (r, outcome, frame) in finished {
            // The finished future is the reactor's box; it also holds a
            // handle on the protocol, which must go before the protocol can.
            drop(r.fut);
            self.complete(r.delivery, outcome, frame);
        }
        any
    }

    pub(super) fn resume_frame(&self, seq: u64) {
        let mut s = self.inner.state.borrow_mut();
        let frame = s
            .parked
            .remove(&seq)
            .expect("a running callback has a frame");
        s.frames.push(frame);
    }

    pub(super) fn suspend_frame(&self) -> Frame {
        self.inner
            .state
            .borrow_mut()
            .frames
            .pop()
            .expect("pushed by resume_frame")
    }

    /// Begins the first queued delivery whose target is free.
    pub(super) fn begin_next(&self) -> bool {
        let call = {
            let mut s = self.inner.state.borrow_mut();
            // Nothing is running (the usual case): the first call is free.
            if s.busy.is_empty() {
                match s.queue.pop_front() {
                    Some(call) => {
                        drop(s);
                        self.begin(call);
                        return true;
                    }
                    None => return false,
                }
            }
            let pos = (0..s.queue.len()).find(|&i| {
                let t = target_of(&s, &s.queue[i]);
                !s.busy.contains(&t)
            });
            match pos {
                Some(i) => s.queue.remove(i).expect("found"),
                None => return false,
            }
        };
        self.begin(call);
        true
    }

    /// Records a callback and calls it: a synchronous implementation
    /// returns at once; an async one's future is polled once, and kept
    /// running if it awaits.
    pub(super) fn begin(&self, call: Call) {
        let Some((callee, delivery, m)) = self.prepare(call) else {
            return;
        };
        BUILDING.with(|b| b.set(holder_of_build(&delivery.call)));
        let started = catch_unwind(AssertUnwindSafe(|| callee.start(self, m)));
        BUILDING.with(|b| b.set(None));
        // (`prepare` pushed its frame.)
        let frame = self.suspend_frame();
        match started {
            Ok(Started::Returned(done)) => self.complete(delivery, Ok(done), frame),
            Err(panic) => self.complete(delivery, Err(panic_message(panic)), frame),
            Ok(Started::Awaiting(fut)) => {
                self.inner
                    .state
                    .borrow_mut()
                    .parked
                    .insert(delivery.seq, frame);
                self.inner
                    .running
                    .borrow_mut()
                    .push(Running { delivery, fut });
            }
        }
    }

    /// Decides whether `call` can still be delivered, records it, makes
    /// what it calls and pushes its frame. Each callee counts the
    /// implementation's heap through the meter given with it.
    pub(super) fn prepare(&self, mut call: Call) -> Option<(Callee, Delivery, HeapMeter)> {
        let mut s = self.inner.state.borrow_mut();
        let target = target_of(&s, &call);
        let depth = 0;
        // The bytes of a data_received, for its record (`record_data`): a
        // reference count, the bytes themselves go to the callee.
        let kept = match &call {
            Call::DataReceived(_, data) if s.record_data => Some(data.clone()),
            _ => None,
        };
        let (event, callee): (Event, Callee) = match call {
            Call::DoStart(f, holder) => {
                // The reactor's own bookkeeping; the hook is the user's code.
                let fs = s.factories.get_mut(&f).expect("known factory");
                let factory = fs.held_factory()?;
                let hook = fs.num_ports == 0;
                fs.num_ports += 1;
                let ev = Event::DoStart {
                    factory: f,
                    holder: Some(holder),
                };
                (
                    ev,
                    Callee::Start {
                        factory,
                        holder,
                        hook,
                    },
                )
            }
            Call::StartedConnecting(c) => {
                let cs = s.connectors.get(&c)?;
                let f = cs.factory;
                let FactoryObj::Client(factory) = s.factories[&f].held()? else {
                    return None;
                };
                let connector =
                    Connector::new(c, self.ops.clone()).with_token(s.connector_token(c)?);
                (
                    Event::StartedConnecting {
                        factory: f,
                        connector: c,
                    },
                    Callee::StartedConnecting(factory, connector),
                )
            }
            Call::Build(holder, ref addr, _) => {
                let f = match holder {
                    Holder::Connector(c) => s.connectors.get(&c)?.factory,
                    Holder::Port(l) => s.ports.get(&l)?.factory,
                };
                let factory = s.factories[&f].held_factory()?;
                (
                    Event::BuildProtocol {
                        factory: f,
                        holder,
                        protocol: None,
                    },
                    Callee::Build(factory, addr.clone()),
                )
            }
            Call::ConnectionMade(p)
            | Call::DataReceived(p, _)
            | Call::ReadConnectionLost(p)
            | Call::WriteConnectionLost(p)
            | Call::ConnectionLost(p, _)
            | Call::PauseProducing(p)
            | Call::ResumeProducing(p)
            | Call::StopProducing(p) => {
                let conn = s.conns.get(&p)?;
                // Once the connection is ending only its last calls go out;
                // after an abort, reading stopped too (the socket left the
                // reactor, so even this batch's reads are dropped).
                let ending = conn.lost
                    || (conn.aborted
                        && matches!(call, Call::DataReceived(..) | Call::ReadConnectionLost(_)));
                if ending && !matches!(call, Call::StopProducing(_) | Call::ConnectionLost(..)) {
                    return None;
                }
                // A pause or resume queued by a write or a drain is moot once
                // the producer is unregistered in the meantime (Twisted would
                // have delivered it inside the write, before).
                let moot = match call {
                    Call::PauseProducing(_) => {
                        conn.producer != Producer::Streaming { paused: true }
                    }
                    Call::ResumeProducing(_) => conn.producer == Producer::None,
                    _ => false,
                };
                if moot {
                    return None;
                }
                let proto = conn.protocol.clone()?;
                let (ev, what) = match &mut call {
                    Call::ConnectionMade(_) => (
                        Event::ConnectionMade { protocol: p },
                        ProtocolCall::Made(Transport::new(p, self.ops.clone())),
                    ),
                    Call::DataReceived(_, data) => {
                        // The bytes go to the callee: the call keeps only
                        // what `complete` needs.
                        let data = std::mem::take(data);
                        let bytes = data.len() as u64;
                        if let Some(c) = s.conns.get_mut(&p) {
                            c.bytes_received += bytes;
                        }
                        (
                            Event::DataReceived { protocol: p, bytes },
                            ProtocolCall::Data(data),
                        )
                    }
                    Call::ReadConnectionLost(_) => (
                        Event::ReadConnectionLost { protocol: p },
                        ProtocolCall::ReadLost,
                    ),
                    Call::WriteConnectionLost(_) => (
                        Event::WriteConnectionLost { protocol: p },
                        ProtocolCall::WriteLost,
                    ),
                    Call::ConnectionLost(_, reason) => (
                        Event::ConnectionLost {
                            protocol: p,
                            reason: *reason,
                        },
                        ProtocolCall::Lost(*reason),
                    ),
                    Call::PauseProducing(_) => {
                        (Event::PauseProducing { protocol: p }, ProtocolCall::Pause)
                    }
                    Call::ResumeProducing(_) => {
                        (Event::ResumeProducing { protocol: p }, ProtocolCall::Resume)
                    }
                    Call::StopProducing(_) => {
                        (Event::StopProducing { protocol: p }, ProtocolCall::Stop)
                    }
                    _ => unreachable!("protocol calls only"),
                };
                (ev, Callee::Protocol(proto, what))
            }
            Call::ConnectionFailed(c, reason) | Call::ClientConnectionLost(c, reason) => {
                let f = s.connectors.get(&c)?.factory;
                let FactoryObj::Client(factory) = s.factories[&f].held()? else {
                    return None;
                };
                let connector =
                    Connector::new(c, self.ops.clone()).with_token(s.connector_token(c)?);
                if matches!(call, Call::ConnectionFailed(..)) {
                    (
                        Event::ClientConnectionFailed {
                            factory: f,
                            connector: c,
                            reason,
                        },
                        Callee::ConnectionFailed(factory, connector, reason),
                    )
                } else {
                    (
                        Event::ClientConnectionLost {
                            factory: f,
                            connector: c,
                            reason,
                        },
                        Callee::ClientConnectionLost(factory, connector, reason),
                    )
                }
            }
            Call::DoStop(f, holder) => {
                let fs = s.factories.get_mut(&f).expect("known factory");
                let factory = fs.held_factory()?;
                let ev = Event::DoStop {
                    factory: f,
                    holder: Some(holder),
                };
                if fs.num_ports > 0 {
                    fs.num_ports -= 1;
                }
                let hook = fs.num_ports == 0;
                (
                    ev,
                    Callee::Stop {
                        factory,
                        holder,
                        hook,
                    },
                )
            }
        };
        let (record, seq) = s.record(event, depth, None, true);
        s.tick();
        if let Some(data) = kept {
            s.trace.unjudged_mut(record).data = Some(callorder_trace::Data::new(&data));
        }
        if let Call::Build(_, addr, _) = &call {
            s.trace.unjudged_mut(record).addr = Some(addr.shared());
        }
        let mut frame = Frame {
            seq,
            depth,
            after: s.spare_calls.pop().unwrap_or_default(),
        };
        // The start_factory/stop_factory hooks run inside their caller; the
        // user's code is the hook, so its actions nest inside the hook.
        let hook = match call {
            Call::DoStart(f, _) if s.factories[&f].num_ports == 1 => {
                Some(Event::StartFactory { factory: f })
            }
            Call::DoStop(f, _) if s.factories[&f].num_ports == 0 => {
                Some(Event::StopFactory { factory: f })
            }
            _ => None,
        };
        if let Some(hook) = hook {
            let (_, hook_seq) = s.record(hook, depth + 1, None, true);
            frame.seq = hook_seq;
            frame.depth = depth + 1;
        }
        s.busy.insert(target);
        s.last_context = Some(frame.seq);
        s.frames.push(frame);
        let m = s.heap.clone();
        Some((
            callee,
            Delivery {
                seq,
                record,
                target,
                call,
            },
            m,
        ))
    }
}
