//! Actions: what handles do. Each records its event at once (at the depth of
//! the callback making it), changes state at once, and queues what it
//! triggers for after that callback returns.

use super::*;

impl Ops {
    /// Runs an action on the reactor's state; `gone` is what the action
    /// gives when the handle outlived its reactor (the run is over), which
    /// is an answer, never a panic: an implementation may keep a handle
    /// after the run (in a `Drop`, say) and act through it.
    fn with<T>(&self, gone: T, f: impl FnOnce(&mut State) -> T) -> T {
        let Some(inner) = self.inner.upgrade() else {
            return gone;
        };
        let setting_up = {
            let s = inner.state.borrow();
            s.in_setup && s.frames.is_empty()
        };
        if setting_up {
            let ops = inner.ops.borrow().upgrade().expect("the reactor is alive");
            // The previous set-up action's consequences come first.
            MockReactor {
                inner: inner.clone(),
                ops,
            }
            .settle_now();
        }
        let mut s = inner.state.borrow_mut();
        // What the reactor allocates for the action (its trace, its queue)
        // is not the implementation's, though the implementation called it.
        let meter = s.heap.clone();
        let started = meter.start();
        let out = f(&mut s);
        meter.exclude(started);
        out
    }
}

impl State {
    fn conn_action(
        &mut self,
        p: ProtocolId,
        event: Event,
        f: impl FnOnce(&mut State) -> Result<(), ActionError>,
    ) -> Result<(), ActionError> {
        let result = match self.conns.get(&p) {
            Some(c) if !c.lost => f(self),
            _ => Err(ActionError::ConnectionGone),
        };
        self.record_action(event, result);
        result
    }
}

impl ReactorOps for Ops {
    fn write(&self, p: ProtocolId, data: &[u8]) -> Result<WriteStatus, ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let result = s.write(p, data);
            s.record_action(
                Event::Write {
                    protocol: p,
                    bytes: data.len() as u64,
                },
                result.map(|_| ()),
            );
            if s.record_data {
                // Judged already, maybe: the checker does not read data.
                if let Some(record) = s.trace.last_mut() {
                    record.data = Some(callorder_trace::Data::new(data));
                }
            }
            result
        })
    }

    fn lose_connection(&self, p: ProtocolId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            s.conn_action(p, Event::LoseConnection { protocol: p }, |s| {
                s.lose_connection(p)
            })
        })
    }

    fn lose_write_connection(&self, p: ProtocolId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            s.conn_action(p, Event::LoseWriteConnection { protocol: p }, |s| {
                let c = s.conns.get_mut(&p).expect("live");
                if !c.write_closing {
                    // The write side closes once the buffer is flushed (H3).
                    c.write_closing = true;
                    if c.buffered == 0 {
                        s.io_next.push_back(Io::WriteClosed(p));
                    }
                }
                Ok(())
            })
        })
    }

    fn abort_connection(&self, p: ProtocolId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            s.conn_action(p, Event::AbortConnection { protocol: p }, |s| {
                let c = s.conns.get_mut(&p).expect("live");
                if !c.aborted {
                    // Reading and writing stop now; connection_lost comes
                    // from a zero-delay timer (P4).
                    c.aborted = true;
                    // What the peer had not read is thrown away: never
                    // written, as far as it can tell.
                    c.bytes_written -= c.buffered as u64;
                    if let Peer::Script(_) = c.peer {
                        let kept = c.written.len().min(c.bytes_written as usize);
                        c.written.truncate(kept);
                    }
                    c.buffered = 0;
                    c.outbox.clear();
                    s.schedule(Duration::ZERO, TimerKind::Aborted(p));
                }
                Ok(())
            })
        })
    }

    fn register_producer(&self, p: ProtocolId, streaming: bool) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let event = Event::RegisterProducer {
                protocol: p,
                streaming,
            };
            let result = match s.conns.get_mut(&p) {
                None => Err(ActionError::ConnectionGone),
                Some(c) if c.lost && c.protocol.is_some() => {
                    // PR1: the producer is stopped at once.
                    s.after(Call::StopProducing(p));
                    Ok(())
                }
                // The protocol was let go at its end: there is no producer
                // left to stop (the one difference this makes from Twisted,
                // where the object lives on as long as anyone holds it).
                Some(c) if c.lost => Err(ActionError::ConnectionGone),
                Some(c) if c.producer != Producer::None => Err(ActionError::ProducerRegistered),
                Some(c) => {
                    c.producer = if streaming {
                        Producer::Streaming { paused: false }
                    } else {
                        Producer::Pull
                    };
                    if !streaming {
                        s.after(Call::ResumeProducing(p));
                    }
                    Ok(())
                }
            };
            s.record_action(event, result);
            result
        })
    }

    fn unregister_producer(&self, p: ProtocolId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            s.conn_action(p, Event::UnregisterProducer { protocol: p }, |s| {
                s.conns.get_mut(&p).expect("live").producer = Producer::None;
                s.maybe_close(p);
                Ok(())
            })
        })
    }

    fn pause_reading(&self, p: ProtocolId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            s.conn_action(p, Event::PauseReading { protocol: p }, |s| {
                let c = s.conns.get_mut(&p).expect("live");
                c.reading_paused = true;
                if let Peer::Wire(w) = c.peer {
                    s.on_backend(|b| b.pause_reading(w));
                }
                Ok(())
            })
        })
    }

    fn resume_reading(&self, p: ProtocolId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            s.conn_action(p, Event::ResumeReading { protocol: p }, |s| {
                let c = s.conns.get_mut(&p).expect("live");
                c.reading_paused = false;
                if let Peer::Wire(w) = c.peer {
                    if let Some(backend) = &s.backend {
                        backend.resume_reading(w);
                    }
                }
                for bytes in std::mem::take(&mut c.held) {
                    s.io_next.push_back(Io::Data(p, bytes));
                }
                Ok(())
            })
        })
    }

    fn peer(&self, p: ProtocolId) -> Address {
        self.with(Address::new("?"), |s| {
            s.conns
                .get(&p)
                .map_or_else(|| Address::new("?"), |c| s.peer_addr(c))
        })
    }

    fn host(&self, p: ProtocolId) -> Address {
        self.with(Address::new("?"), |s| {
            s.conns
                .get(&p)
                .map_or_else(|| Address::new("?"), |c| s.host_addr(c))
        })
    }

    fn connector_token(&self, c: ConnectorId) -> Option<Rc<dyn std::any::Any>> {
        // A query, not an action: it does not settle the set-up's deliveries.
        let inner = self.inner.upgrade()?;
        let mut s = inner.state.borrow_mut();
        s.connector_token(c)
    }

    fn connect(&self, c: ConnectorId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let result = match s.connectors.get_mut(&c) {
                None => Err(ActionError::NotConnecting),
                Some(cs) => match cs.phase {
                    Phase::Disconnected | Phase::Outcome => {
                        if cs.phase == Phase::Outcome {
                            // A retry inside the outcome callback: no do_stop (C5).
                            cs.retried = true;
                        }
                        let again = cs.phase == Phase::Disconnected;
                        cs.phase = Phase::Starting;
                        cs.cancelled = false;
                        let (f, holds) = (cs.factory, cs.holds);
                        if again {
                            // In use again: the reactor holds the factory
                            // (the handle that called kept it alive).
                            let fs = s.factories.get_mut(&f).expect("named");
                            fs.users += 1;
                            if fs.obj.is_none() {
                                fs.obj = fs.weak.upgrade();
                            }
                        }
                        s.after(if holds {
                            Call::StartedConnecting(c)
                        } else {
                            Call::DoStart(f, Holder::Connector(c))
                        });
                        Ok(())
                    }
                    _ => Err(ActionError::AlreadyConnecting),
                },
            };
            s.record_action(Event::Connect { connector: c }, result);
            result
        })
    }

    fn stop_connecting(&self, c: ConnectorId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let result = s.cancel(c);
            s.record_action(Event::StopConnecting { connector: c }, result);
            result
        })
    }

    fn disconnect(&self, c: ConnectorId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let phase = s.connectors.get(&c).map(|cs| cs.phase);
            let result = match phase {
                Some(Phase::Starting | Phase::Connecting) => s.cancel(c),
                Some(Phase::Connected(Some(p))) => match s.conns.get(&p) {
                    Some(conn) if !conn.lost => s.lose_connection(p),
                    _ => Ok(()),
                },
                _ => Ok(()),
            };
            s.record_action(Event::Disconnect { connector: c }, result);
            result
        })
    }

    fn destination(&self, c: ConnectorId) -> Address {
        self.with(Address::new("?"), |s| {
            s.connectors
                .get(&c)
                .map_or_else(|| Address::new("?"), |cs| cs.addr.clone())
        })
    }

    fn stop_listening(&self, l: PortId) -> Result<(), ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let result = s.stop_listening(l);
            s.record_action(Event::StopListening { port: l }, result);
            result
        })
    }

    fn connect_tcp(
        &self,
        addr: Address,
        factory: Arc<dyn ClientFactory>,
        timeout: Option<Duration>,
    ) -> ConnectorId {
        // No reactor hands out connector 0: every action on it answers
        // ReactorGone.
        self.with(ConnectorId(0), |s| {
            let key = Arc::as_ptr(&factory) as *const () as usize;
            let f = s.factory_id(key, FactoryObj::Client(factory));
            s.factories.get_mut(&f).expect("named").users += 1;
            let c = ConnectorId(s.connectors.len() as u64 + 1);
            let shared = addr.shared();
            s.connectors.insert(
                c,
                ConnectorSt {
                    factory: f,
                    addr,
                    timeout,
                    phase: Phase::Starting,
                    holds: false,
                    cancelled: false,
                    attempt: 0,
                    retried: false,
                    token: Weak::new(),
                },
            );
            s.emit(Emission {
                event: Event::ConnectTcp {
                    factory: f,
                    connector: c,
                },
                result: Ok(()),
                addr: Some(shared),
                timeout: timeout.map(|t| t.as_secs_f64()),
            });
            s.after(Call::DoStart(f, Holder::Connector(c)));
            c
        })
    }

    fn listen_tcp(&self, addr: Address, factory: Arc<dyn Factory>) -> Result<PortId, ActionError> {
        self.with(Err(ActionError::ReactorGone), |s| {
            let key = Arc::as_ptr(&factory) as *const () as usize;
            let f = s.factory_id(key, FactoryObj::Server(factory));
            let l = PortId(s.ports.len() as u64 + 1);
            let in_use = s.listeners.contains_key(&addr);
            // Live, the port is bound now, and known by the address bound.
            let (result, addr) = match s.backend.clone() {
                Some(backend) => match backend.listen(l, &addr) {
                    Ok(bound) => (Ok(()), bound),
                    Err(e) => (Err(e), addr),
                },
                None if in_use => (Err(ActionError::AddressInUse), addr),
                None => (Ok(()), addr),
            };
            s.emit(Emission {
                event: Event::ListenTcp {
                    factory: f,
                    port: l,
                },
                result,
                addr: Some(addr.shared()),
                timeout: None,
            });
            if result.is_err() {
                s.release_if_unused(f);
            }
            result?;
            s.factories.get_mut(&f).expect("named").users += 1;
            s.ports.insert(
                l,
                PortSt {
                    factory: f,
                    tearing_down: false,
                    addr: addr.clone(),
                    started: false,
                    stopping: false,
                    stopped: false,
                    stuck: false,
                },
            );
            s.port_order.push(l);
            s.listeners.insert(addr, l);
            s.after(Call::DoStart(f, Holder::Port(l)));
            Ok(l)
        })
    }

    fn call_later(&self, delay: Duration, f: Box<dyn FnOnce()>) -> u64 {
        // Timer 0 is no timer: cancelling it says it was not pending.
        self.with(0, |s| s.schedule(delay, TimerKind::User(f)))
    }

    fn cancel_timer(&self, timer: u64) -> bool {
        self.with(false, |s| {
            let at = s.timers.iter().position(|((_, id), _)| *id == timer);
            at.is_some_and(|i| s.timers.remove(i).is_some())
        })
    }

    fn random_u64(&self) -> u64 {
        self.with(0, |s| {
            // SplitMix64: small, fast and good enough for jitter.
            s.rng = s.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }

    fn now(&self) -> Duration {
        self.with(Duration::ZERO, |s| s.now - s.start)
    }
}

impl State {
    /// stop_connecting (or disconnect) while connecting.
    fn cancel(&mut self, c: ConnectorId) -> Result<(), ActionError> {
        let Some(cs) = self.connectors.get_mut(&c) else {
            return Err(ActionError::NotConnecting);
        };
        match cs.phase {
            Phase::Starting => {
                // started_connecting has not come yet: it fails right after.
                cs.cancelled = true;
                Ok(())
            }
            Phase::Connecting => {
                cs.phase = Phase::Outcome;
                let attempt = cs.attempt as u64;
                self.after(Call::ConnectionFailed(c, Reason::UserCancelled));
                self.on_backend(|b| b.cancel(attempt));
                Ok(())
            }
            _ => Err(ActionError::NotConnecting),
        }
    }

    /// lose_connection's effect (also disconnect on a connected connector).
    pub(super) fn lose_connection(&mut self, p: ProtocolId) -> Result<(), ActionError> {
        let c = self.conns.get_mut(&p).expect("live");
        if c.losing {
            return Ok(());
        }
        c.losing = true;
        if c.write_closed {
            // H4: with the write side closed the connection ends at once,
            // delivered after the callback returns.
            for call in self
                .lose_calls(p, Reason::ConnectionDone)
                .into_iter()
                .flatten()
            {
                self.after(call);
            }
            return Ok(());
        }
        self.maybe_close(p);
        Ok(())
    }
}
