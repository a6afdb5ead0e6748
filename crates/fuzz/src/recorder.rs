//! The recording reactor the direct drivers share: it keeps the trace,
//! feeds the checker, and plays the transports and timers of the handles it
//! gives out, so that [`direct`](crate::direct) and
//! [`direct_client`](crate::direct_client) only add the objects they drive.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use callorder_checker::{Checker, Profile};
use callorder_core::{
    ActionError, Address, CallbackError, ClientFactory, ConnectorId, Factory, PortId, Protocol,
    ProtocolId, ReactorOps, Reason, WriteStatus,
};
use callorder_trace::{Event, Record, Step};

use crate::checks::{CheckKind, Finding};

/// What one case gave.
pub(crate) struct Outcome {
    pub(crate) finding: Option<Finding>,
    pub(crate) trace: Vec<Record>,
    pub(crate) written: Vec<u8>,
    /// The same bytes, per protocol: what chunking invariance compares
    /// (the order between connections may rightly change with chunking).
    pub(crate) written_by: BTreeMap<ProtocolId, Vec<u8>>,
    pub(crate) log: Vec<String>,
    /// The indexes of the choices that delivered something.
    pub(crate) delivered: Vec<usize>,
    pub(crate) callbacks: usize,
}

/// What a protocol's transport has done, as the recording reactor saw it.
#[derive(Default)]
pub(crate) struct Conn {
    /// `connection_lost` was delivered: every action now fails.
    pub(crate) lost: bool,
    /// The protocol called `lose_connection`.
    pub(crate) losing: bool,
    /// The protocol called `abort_connection`.
    pub(crate) aborted: bool,
    pub(crate) producer: bool,
}

/// The most timers one `Advance` runs: a timer that re-arms itself with
/// zero delay would otherwise never let time pass.
pub(crate) const MAX_TIMERS_PER_ADVANCE: usize = 10_000;
/// How long a callback may await before it counts as stalled.
pub(crate) const STALL_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A running callback of the implementation, as the drivers poll it.
pub(crate) type Callback<'a, T> = Pin<Box<dyn Future<Output = Result<T, CallbackError>> + 'a>>;

/// Runs one callback of the implementation: recorded at `depth` (logged as
/// `line`), polled to completion on `rt` with its panics caught and a stall
/// cut off, then its failure written into the trace. Fed to the checker
/// with what it did unless `feed` is false (the driver feeds it once it
/// knows more, as after a build). Its value, unless it failed.
pub(crate) fn run_callback<'a, W, T>(
    state: &RefCell<Recorder<W>>,
    rt: &tokio::runtime::Runtime,
    (event, depth, line): (Event, u32, String),
    feed: bool,
    call: impl FnOnce() -> Callback<'a, T>,
) -> Option<T> {
    let (idx, outer) = state.borrow_mut().begin_callback(event, depth, line);
    let result = {
        let fut = CatchUnwind(call());
        rt.block_on(async { tokio::time::timeout(STALL_AFTER, fut).await })
    };
    state.borrow_mut().end_callback(idx, outer, result, feed)
}

/// Virtual time passes by `by`: the `call_later` timers due run in order,
/// each followed by `after_each`, which says whether the case is over (a
/// finding); then the clock is set.
pub(crate) fn advance_timers<W>(
    state: &RefCell<Recorder<W>>,
    by: Duration,
    mut after_each: impl FnMut() -> bool,
) {
    let until = state.borrow().now + by;
    state
        .borrow_mut()
        .log
        .push(format!("(time passes: {by:?})"));
    for _ in 0..MAX_TIMERS_PER_ADVANCE {
        let next = state.borrow_mut().next_due(until);
        let Some(f) = next else { break };
        if let Err(panic) = catch_unwind(AssertUnwindSafe(f)) {
            state.borrow_mut().timer_panicked(panic.as_ref());
        }
        if after_each() {
            return;
        }
    }
    state.borrow_mut().now = until;
}

/// A callback's result as the driver's `block_on` returns it: the stall
/// timeout around the panic catcher around the callback's own result.
pub(crate) type Delivered<T> =
    Result<Result<Result<T, CallbackError>, String>, tokio::time::error::Elapsed>;

/// The recording reactor's state; `W` is what the driver adds (the
/// connectors a client driver plays, for one).
pub(crate) struct Recorder<W> {
    pub(crate) checker: Checker,
    pub(crate) trace: Vec<Record>,
    /// Records not fed to the checker yet: the running callback and the
    /// actions it made, fed once it returns, as only then is it known
    /// whether it raised (an `error` the checker must see on its record).
    pending: usize,
    pub(crate) seq: u64,
    /// The depth of the running callback.
    pub(crate) running: Option<u32>,
    pub(crate) now: Duration,
    pub(crate) timers: BTreeMap<(Duration, u64), Box<dyn FnOnce()>>,
    next_timer: u64,
    rng: u64,
    pub(crate) conns: BTreeMap<ProtocolId, Conn>,
    /// Every byte written, by any protocol.
    pub(crate) written: Vec<u8>,
    /// The same, per protocol.
    written_by: BTreeMap<ProtocolId, Vec<u8>>,
    /// The first thing found wrong; the case stops there.
    pub(crate) finding: Option<Finding>,
    /// What happened, for the failure report.
    pub(crate) log: Vec<String>,
    pub(crate) world: W,
}

impl<W> Recorder<W> {
    pub(crate) fn new(world: W) -> Self {
        Recorder {
            checker: Checker::new(Profile::Strict),
            trace: Vec::new(),
            pending: 0,
            seq: 0,
            running: None,
            now: Duration::ZERO,
            timers: BTreeMap::new(),
            next_timer: 1,
            rng: 0x5eed,
            conns: BTreeMap::new(),
            written: Vec::new(),
            written_by: BTreeMap::new(),
            finding: None,
            log: Vec::new(),
            world,
        }
    }

    /// Takes the case's results out (the implementation may still hold
    /// handles on the recorder).
    pub(crate) fn outcome(&mut self, delivered: Vec<usize>, callbacks: usize) -> Outcome {
        Outcome {
            finding: self.finding.take(),
            trace: std::mem::take(&mut self.trace),
            written: std::mem::take(&mut self.written),
            written_by: std::mem::take(&mut self.written_by),
            log: std::mem::take(&mut self.log),
            delivered,
            callbacks,
        }
    }

    /// Appends a record; its index in the trace.
    pub(crate) fn record(&mut self, event: Event, depth: u32, failed: Option<String>) -> usize {
        self.seq += 1;
        let mut r = Record::new(Step::new(self.seq, event).at_depth(depth));
        r.t = Some(self.now.as_secs_f64());
        if let Some(e) = failed {
            r = r.with_error(e);
        }
        self.trace.push(r);
        self.trace.len() - 1
    }

    /// Feeds the checker every record not fed yet.
    pub(crate) fn feed(&mut self) {
        while self.pending < self.trace.len() {
            let step = self.trace[self.pending].step;
            self.pending += 1;
            if self.finding.is_some() {
                continue;
            }
            if let Err(e) = self.checker.step(&step) {
                self.finding = Some(Finding {
                    check: CheckKind::Violation,
                    message: e.to_string(),
                    seq: Some(step.seq),
                });
            }
        }
    }

    /// Keeps the first finding.
    pub(crate) fn fail(&mut self, check: CheckKind, message: String, seq: Option<u64>) {
        if self.finding.is_none() {
            self.finding = Some(Finding {
                check,
                message,
                seq,
            });
        }
    }

    /// Records an action (inside a callback: fed when it returns).
    pub(crate) fn action(&mut self, event: Event, result: Result<(), ActionError>, what: String) {
        let depth = self.running.map_or(0, |d| d + 1);
        let idx = self.record(event, depth, result.err().map(|e| e.to_string()));
        let seq = self.trace[idx].step.seq;
        let mark = if result.is_err() { " (failed)" } else { "" };
        self.log.push(format!("    -> {what}{mark}"));
        if let Err(e) = result {
            if e.is_bug() {
                self.fail(
                    CheckKind::ImplError,
                    format!("seq {seq}: {} was a bug: {e}", event.kind()),
                    Some(seq),
                );
            }
        }
        if self.running.is_none() {
            self.feed();
        }
    }

    /// `Err(ConnectionGone)` unless `p` is connected.
    pub(crate) fn gone(&self, p: ProtocolId) -> Result<(), ActionError> {
        match self.conns.get(&p) {
            Some(c) if !c.lost => Ok(()),
            _ => Err(ActionError::ConnectionGone),
        }
    }

    /// The callback `event` starts at `depth`: recorded, logged as `line`.
    /// Returns its index and the depth that was running before it.
    pub(crate) fn begin_callback(
        &mut self,
        event: Event,
        depth: u32,
        line: String,
    ) -> (usize, Option<u32>) {
        let idx = self.record(event, depth, None);
        self.log.push(line);
        if let Event::StopProducing { protocol } = event {
            // A stopped producer is gone (docs/spec.md, producers): the
            // protocol may register another, as the checker knows.
            if let Some(c) = self.conns.get_mut(&protocol) {
                c.producer = false;
            }
        }
        (idx, self.running.replace(depth))
    }

    /// The callback at `idx` returned `result`: a failure is written into
    /// its record and becomes the finding. Fed to the checker unless `feed`
    /// is false (the driver feeds it later). Its value, unless it failed.
    pub(crate) fn end_callback<T>(
        &mut self,
        idx: usize,
        outer: Option<u32>,
        result: Delivered<T>,
        feed: bool,
    ) -> Option<T> {
        self.running = outer;
        let step = self.trace[idx].step;
        let (value, failure) = match result {
            Ok(Ok(Ok(v))) => (Some(v), None),
            Ok(Ok(Err(e))) => (
                None,
                Some((CheckKind::ImplError, format!("returned an error: {e}"))),
            ),
            Ok(Err(panic)) => (None, Some((CheckKind::Panic, format!("panicked: {panic}")))),
            Err(_) => (
                None,
                Some((CheckKind::ImplError, "never finished (stall)".to_owned())),
            ),
        };
        if let Some((check, message)) = failure {
            self.trace[idx] = self.trace[idx].clone().with_error(message.clone());
            self.log.push(format!("    !! {message}"));
            self.feed();
            let (seq, kind) = (step.seq, step.event.kind());
            self.fail(check, format!("seq {seq}: {kind} {message}"), Some(seq));
        } else if feed {
            self.feed();
        }
        value
    }

    /// Takes the first timer due by `until` and moves the clock to it.
    pub(crate) fn next_due(&mut self, until: Duration) -> Option<Box<dyn FnOnce()>> {
        let (&(at, id), _) = self.timers.first_key_value()?;
        if at > until {
            return None;
        }
        let f = self.timers.remove(&(at, id)).expect("present");
        self.now = at;
        self.log
            .push(format!("(timer at t={:.3}s)", at.as_secs_f64()));
        Some(f)
    }

    /// A `call_later` timer panicked.
    pub(crate) fn timer_panicked(&mut self, panic: &(dyn std::any::Any + Send)) {
        let seq = self.seq;
        self.fail(
            CheckKind::Panic,
            format!(
                "after seq {seq}: a call_later timer panicked: {}",
                panic_message(panic)
            ),
            None,
        );
    }

    // ------------------------------------------------ the handles' reactor

    /// An action of `protocol` that only needs it connected.
    pub(crate) fn conn_action(
        &mut self,
        event: Event,
        protocol: ProtocolId,
    ) -> Result<(), ActionError> {
        let result = self.gone(protocol);
        self.action(event, result, event.kind().to_string());
        result
    }

    /// Sets a flag of `protocol`'s connection if `result` is `Ok`.
    fn mark(
        &mut self,
        protocol: ProtocolId,
        result: Result<(), ActionError>,
        set: impl FnOnce(&mut Conn),
    ) -> Result<(), ActionError> {
        if result.is_ok() {
            if let Some(c) = self.conns.get_mut(&protocol) {
                set(c);
            }
        }
        result
    }

    pub(crate) fn write(
        &mut self,
        protocol: ProtocolId,
        data: &[u8],
    ) -> Result<WriteStatus, ActionError> {
        let result = self.gone(protocol);
        if result.is_ok() {
            self.written.extend_from_slice(data);
            self.written_by
                .entry(protocol)
                .or_default()
                .extend_from_slice(data);
        }
        self.action(
            Event::Write {
                protocol,
                bytes: data.len() as u64,
            },
            result,
            format!("write {}", show_bytes(data)),
        );
        result.map(|()| WriteStatus { buffer_full: false })
    }

    pub(crate) fn lose_connection(&mut self, protocol: ProtocolId) -> Result<(), ActionError> {
        let result = self.conn_action(Event::LoseConnection { protocol }, protocol);
        self.mark(protocol, result, |c| c.losing = true)
    }

    pub(crate) fn abort_connection(&mut self, protocol: ProtocolId) -> Result<(), ActionError> {
        let result = self.conn_action(Event::AbortConnection { protocol }, protocol);
        self.mark(protocol, result, |c| c.aborted = true)
    }

    pub(crate) fn register_producer(
        &mut self,
        protocol: ProtocolId,
        streaming: bool,
    ) -> Result<(), ActionError> {
        let result = self.gone(protocol).and_then(|()| {
            let c = self.conns.get_mut(&protocol).expect("connected");
            if c.producer {
                Err(ActionError::ProducerRegistered)
            } else {
                c.producer = true;
                Ok(())
            }
        });
        self.action(
            Event::RegisterProducer {
                protocol,
                streaming,
            },
            result,
            format!("register_producer(streaming: {streaming})"),
        );
        result
    }

    pub(crate) fn unregister_producer(&mut self, protocol: ProtocolId) -> Result<(), ActionError> {
        let result = self.conn_action(Event::UnregisterProducer { protocol }, protocol);
        self.mark(protocol, result, |c| c.producer = false)
    }

    pub(crate) fn call_later(&mut self, delay: Duration, f: Box<dyn FnOnce()>) -> u64 {
        let id = self.next_timer;
        self.next_timer += 1;
        self.timers.insert((self.now + delay, id), f);
        id
    }

    /// Takes the timer out, for `cancel_timer`: the caller drops it once it
    /// no longer borrows the recorder, as dropping it may drop handles.
    pub(crate) fn take_timer(&mut self, timer: u64) -> Option<Box<dyn FnOnce()>> {
        let key = self.timers.keys().find(|(_, id)| *id == timer).copied();
        key.and_then(|k| self.timers.remove(&k))
    }

    pub(crate) fn random_u64(&mut self) -> u64 {
        crate::fuzz::splitmix64(&mut self.rng)
    }
}

/// A future that turns a panic in any of its polls into an `Err`.
pub(crate) struct CatchUnwind<F>(pub(crate) F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match catch_unwind(AssertUnwindSafe(|| Pin::new(&mut self.0).poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic_message(panic.as_ref()))),
        }
    }
}

/// The callbacks `checker` allows next at the top level (depth 0): what a
/// reactor-free driver may deliver now.
pub(crate) fn top_level_callbacks(checker: &Checker) -> impl Iterator<Item = Event> {
    checker
        .legal_next()
        .into_iter()
        .filter(|s| s.depth == 0 && s.event.kind().is_callback())
        .map(|s| s.event)
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Bytes for people: text quoted, with their length.
pub(crate) fn show_bytes(data: &[u8]) -> String {
    format!("{:?} ({} bytes)", String::from_utf8_lossy(data), data.len())
}

/// What a driver adds to the recording reactor: the parts of the handles'
/// reactor that differ between a protocol alone, a client factory's
/// connectors and a server factory's ports. A connector or port call the
/// driver does not model fails the case (`use fuzz_with`).
pub(crate) trait World: Sized {
    /// The function that starts the driver's campaigns, for the report of a
    /// call it does not model: `fuzz_protocol`.
    const CAMPAIGN: &'static str;
    /// What the driver fuzzes, for that report: `protocol`, `factory`.
    const FUZZED: &'static str;

    /// `Transport::peer`.
    fn peer(s: &Recorder<Self>, p: ProtocolId) -> Address;

    /// `Transport::host`.
    fn host(s: &Recorder<Self>, p: ProtocolId) -> Address;

    /// `Connector::destination`.
    fn destination(_: &Recorder<Self>, _: ConnectorId) -> Address {
        Address::new(crate::ADDRESS)
    }

    /// `Connector::connect`.
    fn connect(s: &mut Recorder<Self>, _: ConnectorId) -> Result<(), ActionError> {
        s.unsupported("connect");
        Err(ActionError::NotConnecting)
    }

    /// `Connector::stop_connecting`.
    fn stop_connecting(s: &mut Recorder<Self>, _: ConnectorId) -> Result<(), ActionError> {
        s.unsupported("stop_connecting");
        Err(ActionError::NotConnecting)
    }

    /// `Connector::disconnect`.
    fn disconnect(s: &mut Recorder<Self>, _: ConnectorId) -> Result<(), ActionError> {
        s.unsupported("disconnect");
        Err(ActionError::NotConnecting)
    }

    /// `Port::stop_listening`.
    fn stop_listening(s: &mut Recorder<Self>, _: PortId) -> Result<(), ActionError> {
        s.unsupported("stop_listening");
        Err(ActionError::NotListening)
    }
}

impl<W: World> Recorder<W> {
    /// The implementation called something the driver does not model: the
    /// case fails, pointing to a campaign that does.
    fn unsupported(&mut self, what: &str) {
        let (campaign, fuzzed, seq) = (W::CAMPAIGN, W::FUZZED, self.seq);
        self.log
            .push(format!("    -> {what} (not supported by {campaign})"));
        self.fail(
            CheckKind::ImplError,
            format!("after seq {seq}: the {fuzzed} called {what}, which {campaign} does not model: use fuzz_with"),
            None,
        );
    }
}

/// The handles' reactor of a direct driver: records every action into the
/// trace. Transports and timers are the recording reactor's own; connectors
/// and ports are the driver's [`World`].
pub(crate) struct Ops<W>(pub(crate) Rc<RefCell<Recorder<W>>>);

impl<W: World> ReactorOps for Ops<W> {
    fn write(&self, protocol: ProtocolId, data: &[u8]) -> Result<WriteStatus, ActionError> {
        self.0.borrow_mut().write(protocol, data)
    }

    fn lose_connection(&self, protocol: ProtocolId) -> Result<(), ActionError> {
        self.0.borrow_mut().lose_connection(protocol)
    }

    fn lose_write_connection(&self, protocol: ProtocolId) -> Result<(), ActionError> {
        let event = Event::LoseWriteConnection { protocol };
        self.0.borrow_mut().conn_action(event, protocol)
    }

    fn abort_connection(&self, protocol: ProtocolId) -> Result<(), ActionError> {
        self.0.borrow_mut().abort_connection(protocol)
    }

    fn register_producer(&self, protocol: ProtocolId, streaming: bool) -> Result<(), ActionError> {
        self.0.borrow_mut().register_producer(protocol, streaming)
    }

    fn unregister_producer(&self, protocol: ProtocolId) -> Result<(), ActionError> {
        self.0.borrow_mut().unregister_producer(protocol)
    }

    fn pause_reading(&self, protocol: ProtocolId) -> Result<(), ActionError> {
        let event = Event::PauseReading { protocol };
        self.0.borrow_mut().conn_action(event, protocol)
    }

    fn resume_reading(&self, protocol: ProtocolId) -> Result<(), ActionError> {
        let event = Event::ResumeReading { protocol };
        self.0.borrow_mut().conn_action(event, protocol)
    }

    fn peer(&self, protocol: ProtocolId) -> Address {
        W::peer(&self.0.borrow(), protocol)
    }

    fn host(&self, protocol: ProtocolId) -> Address {
        W::host(&self.0.borrow(), protocol)
    }

    fn connect(&self, c: ConnectorId) -> Result<(), ActionError> {
        W::connect(&mut self.0.borrow_mut(), c)
    }

    fn stop_connecting(&self, c: ConnectorId) -> Result<(), ActionError> {
        W::stop_connecting(&mut self.0.borrow_mut(), c)
    }

    fn disconnect(&self, c: ConnectorId) -> Result<(), ActionError> {
        W::disconnect(&mut self.0.borrow_mut(), c)
    }

    fn destination(&self, c: ConnectorId) -> Address {
        W::destination(&self.0.borrow(), c)
    }

    fn stop_listening(&self, port: PortId) -> Result<(), ActionError> {
        W::stop_listening(&mut self.0.borrow_mut(), port)
    }

    fn connect_tcp(
        &self,
        _: Address,
        _: Arc<dyn ClientFactory>,
        _: Option<Duration>,
    ) -> ConnectorId {
        self.0.borrow_mut().unsupported("connect_tcp");
        ConnectorId(u64::MAX)
    }

    fn listen_tcp(&self, _: Address, _: Arc<dyn Factory>) -> Result<PortId, ActionError> {
        self.0.borrow_mut().unsupported("listen_tcp");
        Err(ActionError::AddressInUse)
    }

    fn call_later(&self, delay: Duration, f: Box<dyn FnOnce()>) -> u64 {
        self.0.borrow_mut().call_later(delay, f)
    }

    fn cancel_timer(&self, timer: u64) -> bool {
        let timer = self.0.borrow_mut().take_timer(timer);
        timer.is_some()
    }

    fn random_u64(&self) -> u64 {
        self.0.borrow_mut().random_u64()
    }

    fn now(&self) -> Duration {
        self.0.borrow().now
    }
}

/// What a factory driver works with besides its factory: the recording
/// reactor with the driver's world, the handles' reactor over it, the
/// protocols the factory built, and the runtime that polls callbacks.
pub(crate) struct Stage<'rt, W> {
    pub(crate) state: Rc<RefCell<Recorder<W>>>,
    pub(crate) ops: Rc<dyn ReactorOps>,
    /// The built protocols; one is taken out while its callback runs.
    pub(crate) protocols: BTreeMap<ProtocolId, Box<dyn Protocol>>,
    next_protocol: u64,
    pub(crate) rt: &'rt tokio::runtime::Runtime,
    pub(crate) callbacks: usize,
}

impl<'rt, W: World + 'static> Stage<'rt, W> {
    pub(crate) fn new(world: W, rt: &'rt tokio::runtime::Runtime) -> Self {
        let state = Rc::new(RefCell::new(Recorder::new(world)));
        let ops: Rc<dyn ReactorOps> = Rc::new(Ops(state.clone()));
        Stage {
            state,
            ops,
            protocols: BTreeMap::new(),
            next_protocol: 1,
            rt,
            callbacks: 0,
        }
    }

    /// Whether the case has its finding.
    pub(crate) fn done(&self) -> bool {
        self.state.borrow().finding.is_some()
    }

    /// A fresh protocol id.
    pub(crate) fn next_protocol_id(&mut self) -> ProtocolId {
        let p = ProtocolId(self.next_protocol);
        self.next_protocol += 1;
        p
    }

    /// The callbacks the checker allows next at the top level: what the
    /// reactor may deliver now.
    pub(crate) fn legal(&self) -> Vec<Event> {
        top_level_callbacks(&self.state.borrow().checker).collect()
    }

    /// The reasons the checker allows for `p`'s `connection_lost` now.
    pub(crate) fn lost_reasons(&self, p: ProtocolId) -> Vec<Reason> {
        self.legal()
            .iter()
            .filter_map(|e| match e {
                Event::ConnectionLost { protocol, reason } if *protocol == p => Some(*reason),
                _ => None,
            })
            .collect()
    }

    /// The reason `p`'s connection ends with at shutdown: aborted if its
    /// protocol aborted, done if it was closing, else lost; if the checker
    /// allows another reason only (a connection already half-closed, say),
    /// the first of those.
    pub(crate) fn shutdown_reason(&self, p: ProtocolId) -> Reason {
        let (aborted, losing) = {
            let s = self.state.borrow();
            let c = s.conns.get(&p);
            (c.is_some_and(|c| c.aborted), c.is_some_and(|c| c.losing))
        };
        let legal = self.lost_reasons(p);
        reason_at_shutdown(aborted, losing, |r| legal.contains(&r))
    }

    /// Ends the trace with `end`, unless the case already found something.
    pub(crate) fn end_trace(&mut self) {
        if self.done() {
            return;
        }
        let mut s = self.state.borrow_mut();
        s.record(Event::End, 0, None);
        s.feed();
    }

    /// The connection of `p` ends with `reason`: `stop_producing` first if
    /// its producer is owed it, then `connection_lost`. False if the case
    /// found something before `connection_lost` (nothing more is
    /// delivered).
    pub(crate) fn end_connection(&mut self, p: ProtocolId, reason: Reason) -> bool {
        let owes_stop = self
            .state
            .borrow()
            .conns
            .get(&p)
            .is_some_and(|c| c.producer)
            && self
                .legal()
                .iter()
                .any(|e| matches!(e, Event::StopProducing { protocol } if *protocol == p));
        if owes_stop {
            self.deliver_protocol(p, Event::StopProducing { protocol: p }, None, |proto| {
                proto.stop_producing()
            });
            if self.done() {
                return false;
            }
        }
        {
            let mut s = self.state.borrow_mut();
            if let Some(c) = s.conns.get_mut(&p) {
                c.lost = true;
                c.producer = false;
            }
        }
        self.deliver_protocol(
            p,
            Event::ConnectionLost {
                protocol: p,
                reason,
            },
            Some(reason.to_string()),
            move |proto| proto.connection_lost(reason),
        );
        true
    }

    /// Drops the timers still armed (their closures may hold handles).
    pub(crate) fn clear_timers(&mut self) {
        let timers = std::mem::take(&mut self.state.borrow_mut().timers);
        drop(timers);
    }

    /// A callback of protocol `p`.
    pub(crate) fn deliver_protocol(
        &mut self,
        p: ProtocolId,
        event: Event,
        what: Option<String>,
        call: impl for<'a> FnOnce(&'a mut dyn Protocol) -> Callback<'a, ()>,
    ) {
        let Some(mut protocol) = self.protocols.remove(&p) else {
            return;
        };
        self.deliver(event, 0, what, || call(protocol.as_mut()));
        self.protocols.insert(p, protocol);
    }

    /// Records the callback `event` at `depth`, runs it to completion, then
    /// feeds the checker the callback and the actions it made. Its value,
    /// unless it failed (then the case has its finding).
    pub(crate) fn deliver<'a, T>(
        &mut self,
        event: Event,
        depth: u32,
        what: Option<String>,
        call: impl FnOnce() -> Callback<'a, T>,
    ) -> Option<T> {
        let indent = "    ".repeat(depth as usize);
        let line = match what {
            Some(w) => format!("{indent}{} ({}) {w}", event.kind(), who(&event)),
            None => format!("{indent}{} ({})", event.kind(), who(&event)),
        };
        self.callbacks += 1;
        // A build is fed once its result is known.
        let feed = !matches!(event, Event::BuildProtocol { .. });
        run_callback(&self.state, self.rt, (event, depth, line), feed, call)
    }
}

/// The reason a connection ends with at shutdown: aborted if its protocol
/// aborted, done if it was closing, else lost; if `allowed` refuses that
/// reason, the first of the others it allows.
pub(crate) fn reason_at_shutdown(
    aborted: bool,
    losing: bool,
    allowed: impl Fn(Reason) -> bool,
) -> Reason {
    let due = if aborted {
        Reason::ConnectionAborted
    } else if losing {
        Reason::ConnectionDone
    } else {
        Reason::ConnectionLost
    };
    std::iter::once(due)
        .chain(Reason::ALL)
        .find(|&r| allowed(r))
        .unwrap_or(due)
}

/// The connector, port or protocol an event is about, for the log: `c1`,
/// `l1`, `p2`; `factory` for the factory's own.
pub(crate) fn who(event: &Event) -> String {
    if let Some(c) = event.connector() {
        format!("c{}", c.0)
    } else if let Some(l) = event.port() {
        format!("l{}", l.0)
    } else if let Some(p) = event.protocol() {
        format!("p{}", p.0)
    } else {
        "factory".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_test::{assert_pending, assert_ready, task};

    /// Pending on its first poll, then panics.
    struct PanicsWhenPolledAgain(bool);

    impl Future for PanicsWhenPolledAgain {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.0 {
                panic!("second poll");
            }
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }

    #[test]
    fn a_panic_after_the_callback_awaited_is_caught_as_an_error() {
        let mut callback = task::spawn(CatchUnwind(PanicsWhenPolledAgain(false)));
        assert_pending!(callback.poll());
        assert!(callback.is_woken());
        let result = assert_ready!(callback.poll());
        assert_eq!(result, Err("second poll".to_owned()));
    }

    #[test]
    fn a_callback_that_returns_passes_its_value_through() {
        let mut callback = task::spawn(CatchUnwind(std::future::ready(7)));
        assert_eq!(assert_ready!(callback.poll()), Ok(7));
    }

    #[test]
    fn a_panic_with_a_formatted_message_keeps_the_message() {
        let panic = catch_unwind(|| panic!("seq {}", 3)).expect_err("it panicked");
        assert_eq!(panic_message(panic.as_ref()), "seq 3");
        let opaque = catch_unwind(|| std::panic::panic_any(5u8)).expect_err("it panicked");
        assert_eq!(panic_message(opaque.as_ref()), "a panic");
    }
}
