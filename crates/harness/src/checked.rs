//! A checked inner factory: the inner boundary of a wrapping factory.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use async_trait::async_trait;
use callorder_checker::{CheckError, Checker, Profile, Violation};
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Transport,
};
use callorder_trace::{
    ConnectorId, Event, EventKind, FactoryId, Holder, ProtocolId, Reason, Record, Step, TraceWriter,
};

use crate::reactor::building_for;

/// The inner factory's id in the inner trace.
const INNER: FactoryId = FactoryId(1);

/// The inner trace and its checker, shared by the factory and its protocols.
struct InnerLog {
    checker: Checker,
    records: Vec<Record>,
    violation: Option<Violation>,
    holders: BTreeSet<(u8, u64)>,
    next_protocol: u64,
    ended: bool,
    /// Armed faults ([`InnerCheck::fault`]), in the order they were armed.
    faults: Vec<EventKind>,
}

impl InnerLog {
    fn record(&mut self, event: Event, depth: u32, failed: bool) {
        self.record_error(event, depth, failed.then_some("raised"));
    }

    fn record_error(&mut self, event: Event, depth: u32, error: Option<&str>) {
        if self.ended {
            return;
        }
        let seq = self.records.len() as u64 + 1;
        let mut step = Step::new(seq, event).at_depth(depth);
        step.failed = error.is_some();
        let mut record = Record::new(step);
        if let Some(error) = error {
            record.error = Some(error.into());
        }
        if self.violation.is_none() {
            if let Err(CheckError::Violation(v)) = self.checker.step(&record.step) {
                self.violation = Some(*v);
            }
        }
        self.records.push(record);
    }

    /// Introduces a connector or port the first time the wrapper names it.
    fn introduce(&mut self, holder: Holder) {
        let key = match holder {
            Holder::Connector(c) => (0, c.0),
            Holder::Port(l) => (1, l.0),
        };
        if self.holders.insert(key) {
            let event = match holder {
                Holder::Connector(connector) => Event::ConnectTcp {
                    factory: INNER,
                    connector,
                },
                Holder::Port(port) => Event::ListenTcp {
                    factory: INNER,
                    port,
                },
            };
            self.record(event, 0, false);
        }
    }
}

/// What the second checker found at the inner boundary.
#[derive(Clone, Debug)]
pub struct InnerRun {
    /// The calls the wrapper made into the inner objects, as a trace.
    pub trace: Vec<Record>,
    /// The first call that broke the legal order, if any.
    pub violation: Option<Violation>,
}

impl InnerRun {
    /// The inner trace as JSON Lines.
    pub fn trace_jsonl(&self) -> String {
        let mut w = TraceWriter::new(Vec::new());
        for r in &self.trace {
            w.write(r).expect("in-memory write of finite records");
        }
        String::from_utf8(w.into_inner()).expect("UTF-8")
    }
}

/// The test's handle on a [`CheckedFactory`]'s inner trace.
#[derive(Clone)]
pub struct InnerCheck {
    log: Rc<RefCell<InnerLog>>,
}

impl InnerCheck {
    /// Fault injection at the inner boundary: the next call the wrapper
    /// makes to an inner callback of this kind runs, then fails as if it
    /// had returned an error (`injected fault`). Faults armed for the same
    /// kind fire one call each, in order; `do_start`/`do_stop` are the
    /// wrapper's forwarding, not callbacks, and never fail.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use callorder::async_trait;
    /// use callorder::{Address, CallbackError, CallbackResult, Factory, Protocol};
    /// use callorder::{CheckedFactory, Conn, MockReactor, Script};
    /// use callorder::EventKind;
    ///
    /// struct Quiet;
    /// #[async_trait(?Send)]
    /// impl Protocol for Quiet {
    ///     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
    /// }
    /// struct QuietFactory;
    /// #[async_trait(?Send)]
    /// impl Factory for QuietFactory {
    ///     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
    ///         Ok(Some(Box::new(Quiet)))
    ///     }
    /// }
    ///
    /// // The reactor is the "wrapper" here: the inner data_received fails,
    /// // the reactor's own is marked failed, and connection_lost follows.
    /// let (checked, inner) = CheckedFactory::new(QuietFactory);
    /// inner.fault(EventKind::DataReceived);
    /// let run = MockReactor::new().run(
    ///     Script::new().accept(1, "10.0.0.1:5000").send(Conn::Server(1), b"x").shutdown(),
    ///     |r| { r.listen_tcp("0.0.0.0:80", Arc::new(checked)).unwrap(); },
    /// );
    /// assert_eq!(run.errors[0].message, "injected fault");
    /// let inner = inner.finish();
    /// assert!(inner.violation.is_none(), "{:?}", inner.violation);
    /// assert!(inner.trace_jsonl().contains(r#""error":"injected fault""#));
    /// ```
    pub fn fault(&self, callback: EventKind) {
        self.log.borrow_mut().faults.push(callback);
    }

    /// Ends the inner trace (`end`: every obligation is due) and gives what
    /// the second checker found. Call it after the run.
    pub fn finish(&self) -> InnerRun {
        let mut log = self.log.borrow_mut();
        log.record(Event::End, 0, false);
        log.ended = true;
        InnerRun {
            trace: log.records.clone(),
            violation: log.violation.clone(),
        }
    }
}

/// A factory wrapped so that the calls made into it, and into the protocols
/// it builds, are checked as a trace of their own: the inner boundary of a
/// wrapping factory.
///
/// A wrapping (middleware) factory calls the factory it wraps as a reactor
/// would: `do_start`, `build_protocol`, then the protocol's callbacks. Give
/// the wrapper a [`CheckedFactory`] around its inner factory, and every call
/// the wrapper makes into the inner objects is written to a trace of its own
/// and judged by a second checker, with the outer connector and port ids (the
/// wrapper forwards `do_start`/`do_stop` with them, as Twisted's
/// `WrappingFactory` does, F5). A wrapper that forwards `data_received` after
/// `connection_lost`, swallows `connection_lost`, or makes the inner
/// connection before the inner `build_protocol` breaks the legal order there.
///
/// The inner trace records callbacks only (what the wrapper did), not the
/// inner protocols' actions.
///
/// Fault injection at the inner boundary tests what wraps the inner factory:
/// [`InnerCheck::fault`] makes the next inner callback of a kind fail after
/// it ran, as if it had returned an error, so the test sees how the wrapper
/// handles an error of the code it wraps. A wrapper that propagates it lets
/// the reactor end the connection (and the inner side gets its
/// `connection_lost(other)`); one that swallows it and goes on forwarding
/// breaks the inner order (P-RAISED), and the second checker says so.
///
/// ```
/// use std::sync::Arc;
/// use callorder::async_trait;
/// use callorder::{Address, CallbackError, Factory, Protocol, CallbackResult};
/// use callorder::{CheckedFactory, Conn, MockReactor, Script};
///
/// struct Quiet;
/// #[async_trait(?Send)]
/// impl Protocol for Quiet {
///     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
/// }
/// struct QuietFactory;
/// #[async_trait(?Send)]
/// impl Factory for QuietFactory {
///     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(Some(Box::new(Quiet)))
///     }
/// }
///
/// // Here the reactor itself is the "wrapper": the inner trace is then the
/// // outer one, seen from the factory.
/// let (checked, inner) = CheckedFactory::new(QuietFactory);
/// let run = MockReactor::new().run(
///     Script::new().accept(1, "10.0.0.1:5000").close(Conn::Server(1)).shutdown(),
///     |r| { r.listen_tcp("0.0.0.0:80", Arc::new(checked)).unwrap(); },
/// );
/// run.assert_clean();
/// let inner = inner.finish();
/// assert!(inner.violation.is_none(), "{:?}", inner.violation);
/// ```
pub struct CheckedFactory<F> {
    inner: F,
    log: Rc<RefCell<InnerLog>>,
}

impl<F> CheckedFactory<F> {
    /// Wraps `inner`; the [`InnerCheck`] reads the verdict after the run.
    pub fn new(inner: F) -> (Self, InnerCheck) {
        let log = Rc::new(RefCell::new(InnerLog {
            checker: Checker::new(Profile::Strict),
            records: Vec::new(),
            violation: None,
            holders: BTreeSet::new(),
            next_protocol: 1,
            ended: false,
            faults: Vec::new(),
        }));
        (
            CheckedFactory {
                inner,
                log: log.clone(),
            },
            InnerCheck { log },
        )
    }

    /// Records a callback that returned, after the armed fault of its kind,
    /// if any, made it fail.
    fn record_result<T>(
        &self,
        event: Event,
        depth: u32,
        result: Result<T, CallbackError>,
    ) -> Result<T, CallbackError> {
        record_result(&self.log, event, depth, result)
    }
}

/// The result a wrapped callback gives back: a fault armed for its kind
/// turns a success into the injected error. Records it in the inner trace.
fn record_result<T>(
    log: &RefCell<InnerLog>,
    event: Event,
    depth: u32,
    result: Result<T, CallbackError>,
) -> Result<T, CallbackError> {
    let mut log = log.borrow_mut();
    let kind = event.kind();
    let fault = result.is_ok()
        && log
            .faults
            .iter()
            .position(|k| *k == kind)
            .map(|i| log.faults.remove(i))
            .is_some();
    let result = if fault {
        Err(CallbackError::from(INJECTED))
    } else {
        result
    };
    let error = match &result {
        Ok(_) => None,
        Err(_) if fault => Some(INJECTED),
        Err(_) => Some("raised"),
    };
    log.record_error(event, depth, error);
    result
}

/// The error an injected fault gives.
const INJECTED: &str = "injected fault";

#[async_trait(?Send)]
impl<F: Factory> Factory for CheckedFactory<F> {
    fn do_start(&self, holder: Holder) {
        {
            let mut log = self.log.borrow_mut();
            log.introduce(holder);
            log.record(
                Event::DoStart {
                    factory: INNER,
                    holder: Some(holder),
                },
                0,
                false,
            );
        }
        self.inner.do_start(holder);
    }

    fn do_stop(&self, holder: Holder) {
        {
            let mut log = self.log.borrow_mut();
            if let Holder::Port(port) = holder {
                // The inner factory does not see the application's
                // stop_listening; its port's do_stop says it happened.
                log.record(Event::StopListening { port }, 0, false);
            }
            log.record(
                Event::DoStop {
                    factory: INNER,
                    holder: Some(holder),
                },
                0,
                false,
            );
        }
        self.inner.do_stop(holder);
    }

    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        let result = self.inner.start_factory(reactor).await;
        self.record_result(Event::StartFactory { factory: INNER }, 1, result)
    }

    async fn stop_factory(&self) -> CallbackResult {
        let result = self.inner.stop_factory().await;
        self.record_result(Event::StopFactory { factory: INNER }, 1, result)
    }

    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        // Asked outside any build_protocol of the reactor, the holder is
        // unknown: the first connector or port the wrapper introduced.
        let holder = building_for().unwrap_or_else(|| {
            let log = self.log.borrow();
            match log.holders.iter().next() {
                Some((0, c)) => Holder::Connector(ConnectorId(*c)),
                Some((_, l)) => Holder::Port(callorder_trace::PortId(*l)),
                None => Holder::Port(callorder_trace::PortId(0)),
            }
        });
        let built = self.inner.build_protocol(addr).await;
        let faulted = built.is_ok() && {
            let log = self.log.borrow();
            log.faults.contains(&EventKind::BuildProtocol)
        };
        let id = match &built {
            Ok(Some(_)) if !faulted => {
                let mut log = self.log.borrow_mut();
                let id = ProtocolId(log.next_protocol);
                log.next_protocol += 1;
                Some(id)
            }
            _ => None,
        };
        // A fault drops the protocol built, as a build_protocol that raised
        // gives none.
        let built = self.record_result(
            Event::BuildProtocol {
                factory: INNER,
                holder,
                protocol: id,
            },
            0,
            built,
        );
        Ok(match (built?, id) {
            (Some(inner), Some(id)) => Some(Box::new(CheckedProtocol {
                id,
                inner,
                log: self.log.clone(),
            }) as Box<dyn Protocol>),
            _ => None,
        })
    }
}

#[async_trait(?Send)]
impl<F: ClientFactory> ClientFactory for CheckedFactory<F> {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        let result = self.inner.started_connecting(connector).await;
        self.record_result(
            Event::StartedConnecting {
                factory: INNER,
                connector: connector.id(),
            },
            0,
            result,
        )
    }

    async fn client_connection_failed(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        let event = Event::ClientConnectionFailed {
            factory: INNER,
            connector: connector.id(),
            reason,
        };
        let result = self.inner.client_connection_failed(connector, reason).await;
        self.record_result(event, 0, result)
    }

    async fn client_connection_lost(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        let event = Event::ClientConnectionLost {
            factory: INNER,
            connector: connector.id(),
            reason,
        };
        let result = self.inner.client_connection_lost(connector, reason).await;
        self.record_result(event, 0, result)
    }
}

/// An inner protocol whose callbacks are recorded in the inner trace.
struct CheckedProtocol {
    id: ProtocolId,
    inner: Box<dyn Protocol>,
    log: Rc<RefCell<InnerLog>>,
}

impl CheckedProtocol {
    /// Records the callback once it returned, marked failed if it raised
    /// (or a fault made it fail).
    fn record(&self, event: Event, result: CallbackResult) -> CallbackResult {
        record_result(&self.log, event, 0, result)
    }
}

#[async_trait(?Send)]
impl Protocol for CheckedProtocol {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        let result = self.inner.connection_made(transport).await;
        self.record(Event::ConnectionMade { protocol: self.id }, result)
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let event = Event::DataReceived {
            protocol: self.id,
            bytes: data.len() as u64,
        };
        let result = self.inner.data_received(data).await;
        self.record(event, result)
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        let result = self.inner.connection_lost(reason).await;
        self.record(
            Event::ConnectionLost {
                protocol: self.id,
                reason,
            },
            result,
        )
    }

    fn half_closeable(&self) -> bool {
        self.inner.half_closeable()
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        let result = self.inner.read_connection_lost().await;
        self.record(Event::ReadConnectionLost { protocol: self.id }, result)
    }

    async fn write_connection_lost(&mut self) -> CallbackResult {
        let result = self.inner.write_connection_lost().await;
        self.record(Event::WriteConnectionLost { protocol: self.id }, result)
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        let result = self.inner.pause_producing().await;
        self.record(Event::PauseProducing { protocol: self.id }, result)
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        let result = self.inner.resume_producing().await;
        self.record(Event::ResumeProducing { protocol: self.id }, result)
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        let result = self.inner.stop_producing().await;
        self.record(Event::StopProducing { protocol: self.id }, result)
    }
}
