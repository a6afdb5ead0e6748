//! Calling a recorded delivery: a synchronous implementation directly, an
//! async one as a future polled once now (and again by the run loop while
//! it awaits).
//!
//! A delivery's record, frame and bookkeeping are made first, while the
//! reactor's state is borrowed (`prepare`); what it calls, and with what, is
//! a [`Callee`], called once the state is free, since the implementation's
//! code acts on the reactor.

use super::*;

/// What a prepared delivery calls, with its arguments.
pub(super) enum Callee {
    /// `do_start`, then `start_factory` when the start count went 0 to 1
    /// (`hook`).
    Start {
        factory: Arc<dyn Factory>,
        holder: Holder,
        hook: bool,
    },
    /// `do_stop`, then `stop_factory` when the start count went 1 to 0.
    Stop {
        factory: Arc<dyn Factory>,
        holder: Holder,
        hook: bool,
    },
    StartedConnecting(Arc<dyn ClientFactory>, Connector),
    Build(Arc<dyn Factory>, Address),
    ConnectionFailed(Arc<dyn ClientFactory>, Connector, Reason),
    ClientConnectionLost(Arc<dyn ClientFactory>, Connector, Reason),
    Protocol(Rc<SharedProtocol>, ProtocolCall),
}

/// A protocol callback and its argument.
pub(super) enum ProtocolCall {
    Made(Transport),
    Data(Bytes),
    ReadLost,
    WriteLost,
    Lost(Reason),
    Pause,
    Resume,
    Stop,
}

/// How a callee's first call went: it returned, or it awaits.
pub(super) enum Started {
    Returned(Done),
    Awaiting(CallFuture),
}

/// Runs `f`, the implementation's code, with its heap counted.
#[inline]
fn metered<T>(m: &HeapMeter, f: impl FnOnce() -> T) -> T {
    let started = m.start();
    let out = f();
    m.stop(started);
    out
}

impl Callee {
    /// Calls the callee: a synchronous implementation returns here; an
    /// async one's future is polled once, with a waker that does nothing
    /// (one that awaits is polled again by the run loop's next sweep, with
    /// the loop's own waker, before the loop sleeps).
    pub(super) fn start(self, reactor: &MockReactor, m: HeapMeter) -> Started {
        let fut = match self.call_sync(reactor, &m) {
            Ok(done) => return Started::Returned(done),
            Err(callee) => callee.into_future(reactor, m),
        };
        let mut fut = fut;
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(done) => Started::Returned(done),
            Poll::Pending => Started::Awaiting(fut),
        }
    }

    /// Calls a synchronous implementation directly; gives the callee back
    /// when it is an async one.
    fn call_sync(self, reactor: &MockReactor, m: &HeapMeter) -> Result<Done, Callee> {
        match self {
            Callee::Protocol(proto, call) => {
                let mut guard = proto.borrow_mut();
                let Some(p) = guard.sync_protocol() else {
                    drop(guard);
                    return Err(Callee::Protocol(proto, call));
                };
                let result = match call {
                    ProtocolCall::Made(transport) => metered(m, || p.connection_made(transport)),
                    ProtocolCall::Data(data) => {
                        // The bytes are the reactor's: freed after the
                        // callback, outside what it is counted for.
                        let result = metered(m, || p.data_received(&data));
                        drop(data);
                        result
                    }
                    ProtocolCall::ReadLost => metered(m, || p.read_connection_lost()),
                    ProtocolCall::WriteLost => metered(m, || p.write_connection_lost()),
                    ProtocolCall::Lost(reason) => metered(m, || p.connection_lost(reason)),
                    ProtocolCall::Pause => metered(m, || p.pause_producing()),
                    ProtocolCall::Resume => metered(m, || p.resume_producing()),
                    ProtocolCall::Stop => metered(m, || p.stop_producing()),
                };
                Ok(Done::of(result))
            }
            Callee::Start {
                ref factory,
                holder,
                hook,
            } => {
                let Some(f) = factory.sync_factory() else {
                    return Err(self);
                };
                f.do_start(holder);
                let result = if hook {
                    metered(m, || f.start_factory(&reactor.handle()))
                } else {
                    Ok(())
                };
                Ok(Done::of(result))
            }
            Callee::Stop {
                ref factory,
                holder,
                hook,
            } => {
                let Some(f) = factory.sync_factory() else {
                    return Err(self);
                };
                f.do_stop(holder);
                let result = if hook {
                    metered(m, || f.stop_factory())
                } else {
                    Ok(())
                };
                Ok(Done::of(result))
            }
            Callee::Build(ref factory, ref addr) => {
                let Some(f) = factory.sync_factory() else {
                    return Err(self);
                };
                Ok(match metered(m, || f.build_protocol(addr)) {
                    Ok(built) => Done::built(built),
                    Err(e) => Done::of(Err(e)),
                })
            }
            Callee::StartedConnecting(ref factory, ref connector) => {
                let Some(f) = factory.sync_client_factory() else {
                    return Err(self);
                };
                Ok(Done::of(metered(m, || f.started_connecting(connector))))
            }
            Callee::ConnectionFailed(ref factory, ref connector, reason) => {
                let Some(f) = factory.sync_client_factory() else {
                    return Err(self);
                };
                Ok(Done::of(metered(m, || {
                    f.client_connection_failed(connector, reason)
                })))
            }
            Callee::ClientConnectionLost(ref factory, ref connector, reason) => {
                let Some(f) = factory.sync_client_factory() else {
                    return Err(self);
                };
                Ok(Done::of(metered(m, || {
                    f.client_connection_lost(connector, reason)
                })))
            }
        }
    }

    /// The callback of an async implementation as a future that owns what
    /// it borrows, so that it can await.
    ///
    /// A protocol's future holds the `RefCell` borrow of its protocol
    /// across awaits on purpose: nothing else is delivered to a protocol
    /// while its callback runs (the `busy` set), and if the callback panics
    /// the borrow is released while unwinding, so the protocol survives to
    /// get its `connection_lost`, as Twisted's does after an exception.
    fn into_future(self, reactor: &MockReactor, m: HeapMeter) -> CallFuture {
        match self {
            Callee::Start {
                factory,
                holder,
                hook,
            } => {
                let reactor = reactor.handle();
                Box::pin(async move {
                    factory.do_start(holder);
                    let result = if hook {
                        m.meter(factory.start_factory(&reactor)).await
                    } else {
                        Ok(())
                    };
                    Done::of(result)
                })
            }
            Callee::Stop {
                factory,
                holder,
                hook,
            } => Box::pin(async move {
                factory.do_stop(holder);
                let result = if hook {
                    m.meter(factory.stop_factory()).await
                } else {
                    Ok(())
                };
                Done::of(result)
            }),
            Callee::StartedConnecting(factory, connector) => {
                Box::pin(
                    async move { Done::of(m.meter(factory.started_connecting(&connector)).await) },
                )
            }
            Callee::Build(factory, addr) => Box::pin(async move {
                match m.meter(factory.build_protocol(&addr)).await {
                    Ok(built) => Done::built(built),
                    Err(e) => Done::of(Err(e)),
                }
            }),
            Callee::ConnectionFailed(factory, connector, reason) => Box::pin(async move {
                Done::of(
                    m.meter(factory.client_connection_failed(&connector, reason))
                        .await,
                )
            }),
            Callee::ClientConnectionLost(factory, connector, reason) => Box::pin(async move {
                Done::of(
                    m.meter(factory.client_connection_lost(&connector, reason))
                        .await,
                )
            }),
            #[allow(clippy::await_holding_refcell_ref)]
            Callee::Protocol(proto, call) => Box::pin(async move {
                let mut g = proto.borrow_mut();
                let result = match call {
                    ProtocolCall::Made(transport) => m.meter(g.connection_made(transport)).await,
                    // The bytes live in the future, so the callback can
                    // borrow them across its awaits.
                    ProtocolCall::Data(data) => m.meter(g.data_received(&data)).await,
                    ProtocolCall::ReadLost => m.meter(g.read_connection_lost()).await,
                    ProtocolCall::WriteLost => m.meter(g.write_connection_lost()).await,
                    ProtocolCall::Lost(reason) => m.meter(g.connection_lost(reason)).await,
                    ProtocolCall::Pause => m.meter(g.pause_producing()).await,
                    ProtocolCall::Resume => m.meter(g.resume_producing()).await,
                    ProtocolCall::Stop => m.meter(g.stop_producing()).await,
                };
                Done::of(result)
            }),
        }
    }
}
