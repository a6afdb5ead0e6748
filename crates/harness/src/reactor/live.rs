//! A live run: the same core, with a [`Backend`] as the source of events
//! instead of a script, on the runtime's own clock (see `crate::live`).

use super::*;

impl State {
    /// Asks the live run's backend, if this is one.
    #[inline]
    pub(super) fn on_backend(&self, ask: impl FnOnce(&dyn Backend)) {
        if let Some(backend) = &self.backend {
            ask(&**backend);
        }
    }

    /// The connection of `p` ends: a live socket closes in order, or with a
    /// reset after an abort (tcp.py `_closeSocket(orderly)`: orderly unless
    /// the reason is `ConnectionAborted`).
    pub(super) fn close_wire(&self, p: ProtocolId, reason: Reason) {
        let Some(Peer::Wire(w)) = self.conns.get(&p).map(|c| c.peer) else {
            return;
        };
        if reason == Reason::ConnectionAborted {
            self.on_backend(|b| b.abort(w));
        } else {
            self.on_backend(|b| b.close(w));
        }
    }

    /// What the backend reported.
    pub(super) fn wire_event(&mut self, e: WireEvent) {
        match e {
            WireEvent::Connected {
                attempt,
                wire,
                local,
            } => {
                let live = (self.attempts.get((attempt as usize).wrapping_sub(1)))
                    .and_then(|c| Some((*c, self.connectors.get(c)?)))
                    .filter(|(_, cs)| cs.attempt == attempt as usize)
                    .filter(|(_, cs)| cs.phase == Phase::Connecting);
                let Some((c, _)) = live else {
                    // It timed out or was cancelled meanwhile.
                    self.on_backend(|b| b.close(wire));
                    return;
                };
                self.wire_hosts.insert(wire, local);
                let cs = self.connectors.get_mut(&c).expect("found");
                cs.phase = Phase::Connected(None);
                let addr = cs.addr.clone();
                self.queue.push_back(Call::Build(
                    Holder::Connector(c),
                    addr,
                    Some(Peer::Wire(wire)),
                ));
            }
            WireEvent::Failed { attempt, reason } => {
                let c = self
                    .attempts
                    .get((attempt as usize).wrapping_sub(1))
                    .copied();
                let connecting = c.and_then(|c| self.connectors.get(&c)).is_some_and(|cs| {
                    cs.attempt == attempt as usize && cs.phase == Phase::Connecting
                });
                if let (Some(c), true) = (c, connecting) {
                    self.fail_attempt(c, reason);
                }
            }
            WireEvent::Accepted {
                port,
                wire,
                peer,
                local,
            } => {
                let accepting = self
                    .ports
                    .get(&port)
                    .is_some_and(|ps| ps.started && !ps.stopping && !ps.stopped && !ps.stuck);
                if !accepting {
                    self.on_backend(|b| b.close(wire));
                    return;
                }
                self.wire_hosts.insert(wire, local);
                self.accept(port, peer, Peer::Wire(wire));
            }
            WireEvent::Data { wire, bytes } => {
                if let Some(&p) = self.wires.get(&wire) {
                    self.deliver_data(p, bytes);
                }
            }
            WireEvent::Eof { wire } => self.wire_end(wire, true),
            WireEvent::Reset { wire } => self.wire_end(wire, false),
            WireEvent::Drained { wire, bytes } => {
                if let Some(&p) = self.wires.get(&wire) {
                    self.wire_drained(p, bytes);
                }
            }
        }
    }

    /// The peer closed (`clean`) or reset the connection.
    fn wire_end(&mut self, wire: WireId, clean: bool) {
        let Some(&p) = self.wires.get(&wire) else {
            return;
        };
        if self.data_queued(p) {
            // Bytes read before the end are delivered first, as Twisted's
            // next doRead is the one that sees the end: the end waits for
            // the next turn.
            let end = if clean {
                WireEvent::Eof { wire }
            } else {
                WireEvent::Reset { wire }
            };
            self.io_next.push_back(Io::Wire(end));
            return;
        }
        self.peer_closed(p, clean);
    }

    /// Whether a `data_received` for `p` waits to be delivered.
    fn data_queued(&self, p: ProtocolId) -> bool {
        self.queue
            .iter()
            .any(|c| matches!(c, Call::DataReceived(q, _) if *q == p))
    }

    /// The kernel took `n` of the bytes buffered for `p`.
    fn wire_drained(&mut self, p: ProtocolId, n: usize) {
        let Some(c) = self.conns.get_mut(&p) else {
            return;
        };
        if c.lost || c.aborted || c.buffered == 0 {
            return;
        }
        c.buffered = c.buffered.saturating_sub(n);
        self.after_drain(p);
    }

    /// Whether a live run has nothing left to do: no attempt or connection
    /// under way, no delivery or timer pending. Ports that only listen do
    /// not keep it going.
    fn idle(&self) -> bool {
        let timers = self.timers.iter().any(|(_, t)| match t {
            // A connect timeout stays queued after its attempt ended.
            TimerKind::ConnectTimeout(c, attempt) => self
                .connectors
                .get(c)
                .is_some_and(|cs| cs.attempt == *attempt && cs.phase == Phase::Connecting),
            _ => true,
        });
        !timers
            && self.queue.is_empty()
            && self.io_next.is_empty()
            && (self.connectors.iter())
                .all(|(_, cs)| matches!(cs.phase, Phase::Disconnected | Phase::Stuck))
            && self.live_conns == 0
    }
}

/// What the test's own part of a live run's world (the future of
/// [`LiveReactor::run_with`](crate::live::LiveReactor::run_with)) can see of
/// the run while it goes on, so that it waits for events instead of
/// sleeping: how many events of a kind were recorded, and whether the run
/// has nothing left to do but wait for the world. It holds the run weakly:
/// once the run is over, nothing was recorded and the run is quiet.
///
/// ```
/// use std::task::{Context, Poll};
/// use callorder::live::{Backend, LiveReactor, WireEvent, WireId};
/// use callorder::{ActionError, Address, EventKind, PortId};
///
/// struct Nowhere;
/// impl Backend for Nowhere {
///     fn dial(&self, _: u64, _: &Address) {}
///     fn cancel(&self, _: u64) {}
///     fn listen(&self, _: PortId, _: &Address) -> Result<Address, ActionError> {
///         Err(ActionError::AddressInUse)
///     }
///     fn stop_listening(&self, _: PortId) {}
///     fn start_reading(&self, _: WireId) {}
///     fn pause_reading(&self, _: WireId) {}
///     fn resume_reading(&self, _: WireId) {}
///     fn write(&self, _: WireId, _: callorder::Bytes) {}
///     fn shutdown_write(&self, _: WireId) {}
///     fn close(&self, _: WireId) {}
///     fn abort(&self, _: WireId) {}
///     fn poll_event(&self, _: &mut Context<'_>) -> Poll<WireEvent> {
///         Poll::Pending
///     }
/// }
///
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// let reactor = LiveReactor::new(std::rc::Rc::new(Nowhere));
/// let watch = reactor.watch();
/// let world = async move {
///     // Nothing to do but wait for this future: the run is quiet.
///     (watch.quiet(), watch.recorded(EventKind::Shutdown))
/// };
/// let (run, seen) = rt.block_on(reactor.run_with(|_| {}, world));
/// run.assert_clean();
/// assert_eq!(seen, Some((true, 0)));
/// ```
#[derive(Clone)]
pub struct Watch(Weak<Inner>);

impl Watch {
    /// How many events of `kind` were recorded so far (of those held: all
    /// of them, unless the run keeps only the last few).
    pub fn recorded(&self, kind: EventKind) -> usize {
        self.0.upgrade().map_or(0, |inner| {
            let s = inner.state.borrow();
            s.trace
                .held()
                .filter(|r| r.step.event.kind() == kind)
                .count()
        })
    }

    /// Whether the run has nothing left to do but wait for the world: no
    /// attempt or connection under way, no delivery, timer, running
    /// callback or task pending (ports that only listen do not count).
    pub fn quiet(&self) -> bool {
        self.0.upgrade().is_none_or(|inner| {
            inner.running.borrow().is_empty()
                && inner.tasks.borrow().is_empty()
                && inner.state.borrow().idle()
        })
    }
}

impl MockReactor {
    /// What the world of a live run can see of it (see [`Watch`]).
    pub(crate) fn watch(&self) -> Watch {
        Watch(Rc::downgrade(&self.inner))
    }

    /// The core with `backend` as its source of events.
    pub(crate) fn with_backend(self, backend: Rc<dyn Backend>) -> Self {
        {
            let mut s = self.inner.state.borrow_mut();
            s.backend = Some(backend);
            // Until the run begins, actions are the test's set-up.
            s.in_setup = true;
        }
        self
    }

    /// The address port `l` is bound to.
    pub(crate) fn port_address(&self, l: PortId) -> Option<Address> {
        let s = self.inner.state.borrow();
        s.ports.get(&l).map(|ps| ps.addr.clone())
    }

    /// Moves what the backend has ready into the next I/O batch, without
    /// waiting.
    pub(super) fn pull_wire_events(&self) {
        let Some(backend) = self.inner.state.borrow().backend.clone() else {
            return;
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        while let Poll::Ready(e) = backend.poll_event(&mut cx) {
            self.inner.state.borrow_mut().io_next.push_back(Io::Wire(e));
        }
    }

    /// Runs until idle (and `world` done), stopped or `give_up_after`;
    /// then shuts down.
    pub(crate) async fn run_live(
        self,
        setup: impl FnOnce(&Reactor),
        mut world: Option<Pin<Box<dyn Future<Output = ()>>>>,
        stopper: Stopper,
        give_up_after: Duration,
    ) -> Run {
        let _current = Current::enter(&self.inner);
        let give_up = Instant::now() + give_up_after;
        {
            let mut s = self.inner.state.borrow_mut();
            s.give_up = Some(give_up);
            s.set_now(Instant::now());
        }
        setup(&self.handle());
        self.inner.state.borrow_mut().in_setup = false;
        let mut gave_up = false;
        loop {
            // Each wake of the world is a step of the budget: a run that
            // never goes quiet between two of them still stops.
            self.inner
                .state
                .borrow_mut()
                .begin_step(StepName::Fixed("a turn of the live run"));
            self.run_until(None).await;
            let idle = world.is_none() && !self.tasks_alive() && self.inner.state.borrow().idle();
            if self.stopped() || stopper.is_stopped() || idle {
                break;
            }
            if !self.wait_world(give_up, &mut world).await {
                gave_up = true;
                break;
            }
        }
        if gave_up {
            let mut s = self.inner.state.borrow_mut();
            let seq = s.trace.len() as u64;
            s.errors.push(ImplError {
                kind: ImplErrorKind::Stalled,
                seq,
                event: None,
                message: format!(
                    "the live run was still busy after {give_up_after:?} (LiveReactor::give_up_after): \
                     it was shut down"
                ),
            });
        }
        if !self.stopped() {
            self.inner
                .state
                .borrow_mut()
                .begin_step(StepName::Fixed("shutdown"));
            self.shutdown().await;
        }
        self.finish()
    }

    /// Waits for the world: an event of the backend, the next timer, a
    /// callback that awaits, or the end of the test's own part of the world
    /// (`world`, set to `None` once it is done). False once `give_up` came.
    async fn wait_world(
        &self,
        give_up: Instant,
        world: &mut Option<Pin<Box<dyn Future<Output = ()>>>>,
    ) -> bool {
        let (backend, next_timer) = {
            let s = self.inner.state.borrow();
            let next = s.timers.front().map(|((at, _), _)| *at);
            (s.backend.clone().expect("a live run"), next)
        };
        let until = next_timer.map_or(give_up, |t| t.min(give_up));
        let sleep = tokio::time::sleep_until(until);
        tokio::pin!(sleep);
        std::future::poll_fn(|cx| {
            self.inner.wakes.run_loop_waits(cx.waker());
            if self.inner.wakes.any_woken() {
                return Poll::Ready(());
            }
            if !self.inner.running.borrow().is_empty() && self.poll_all(cx) {
                return Poll::Ready(());
            }
            if let Poll::Ready(e) = backend.poll_event(cx) {
                self.inner.state.borrow_mut().io_next.push_back(Io::Wire(e));
                return Poll::Ready(());
            }
            if let Some(Poll::Ready(())) = world.as_mut().map(|w| w.as_mut().poll(cx)) {
                *world = None;
                return Poll::Ready(());
            }
            sleep.as_mut().poll(cx)
        })
        .await;
        self.inner.state.borrow_mut().set_now(Instant::now());
        Instant::now() < give_up
    }
}
