//! The mock reactor: deterministic, single-threaded, on tokio's paused clock.
//!
//! A turn, as in Twisted, has three steps: deliver one batch of ready I/O
//! events, run the timers that are due (zero-delay ones included; timers
//! scheduled during this step wait for the next turn), then start the next
//! turn. What an action triggers is delivered right after the callback that
//! made it returns, before anything else.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use callorder_checker::{CheckError, Checker, Profile};
use callorder_core::{
    ActionError, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory,
    Protocol, Reactor, ReactorOps, Transport, WriteStatus,
};
use callorder_trace::{
    ConnectorId, Event, EventKind, FactoryId, Holder, PortId, ProtocolId, Reason, Record,
    Step as TraceStep,
};
use tokio::time::Instant;

use crate::leak::{HeapMeter, Leak};
use crate::run::{ConnStats, ScriptFailure};
use crate::run::{ImplError, ImplErrorKind, Run};
use crate::script::{Conn, Origin, Outcome, Script, Step, WorldEvent};

mod budget;
mod dense;
mod few;
mod ops;
mod reach;
mod recording;
mod world;

use budget::Spent;
pub use budget::StepBudget;
use dense::Dense;
use few::Few;
use reach::{ArmedFault, At, Pending};
use recording::Recording;

/// The write buffer's high-water mark: a write that leaves more than this
/// buffered pauses a streaming producer (Twisted's `bufferSize`).
const HIGH_WATER: usize = 64 * 1024;

/// How many bytes of what the implementation wrote to a script peer a run
/// keeps per connection, unless [`MockReactor::written_limit`] says
/// otherwise.
const WRITTEN_LIMIT: usize = 1 << 20;

/// The error an injected fault puts on its event.
const INJECTED: &str = "injected fault";

/// How long (virtual time) a run waits for a callback that makes no progress
/// before reporting it as a stall.
const STALL_AFTER: Duration = Duration::from_secs(24 * 3600);

type CallFuture = Pin<Box<dyn Future<Output = Done>>>;

/// A protocol object, lent to its callbacks' futures one at a time.
type SharedProtocol = RefCell<Box<dyn Protocol>>;

/// What a finished callback gives back: usually nothing (it returned `Ok`
/// and built nothing), else its error, boxed, or the protocol it built,
/// already in the shared cell its connection keeps it in. So a poll's
/// result fits in two registers (a 40-byte one went through memory and was
/// read back right after the callee wrote it, a store-forwarding stall on
/// every callback), and a build allocates no box for its result beside the
/// protocol's own cell.
enum Done {
    Ok,
    Failed(Box<CallbackError>),
    Built(Rc<SharedProtocol>),
}

impl Done {
    fn of(result: CallbackResult) -> Done {
        match result {
            Ok(()) => Done::Ok,
            Err(e) => Done::Failed(Box::new(e)),
        }
    }

    fn built(built: Option<Box<dyn Protocol>>) -> Done {
        match built {
            None => Done::Ok,
            Some(p) => Done::Built(Rc::new(RefCell::new(p))),
        }
    }

    fn into_parts(self) -> (CallbackResult, Option<Rc<SharedProtocol>>) {
        match self {
            Done::Ok => (Ok(()), None),
            Done::Failed(e) => (Err(*e), None),
            Done::Built(p) => (Ok(()), Some(p)),
        }
    }
}

#[derive(Clone)]
enum FactoryObj {
    Client(Arc<dyn ClientFactory>),
    Server(Arc<dyn Factory>),
}

impl FactoryObj {
    fn factory(&self) -> Arc<dyn Factory> {
        match self {
            FactoryObj::Client(f) => f.clone(),
            FactoryObj::Server(f) => f.clone(),
        }
    }
}

impl FactoryObj {
    fn downgrade(&self) -> WeakFactoryObj {
        match self {
            FactoryObj::Client(f) => WeakFactoryObj::Client(Arc::downgrade(f)),
            FactoryObj::Server(f) => WeakFactoryObj::Server(Arc::downgrade(f)),
        }
    }
}

enum WeakFactoryObj {
    Client(std::sync::Weak<dyn ClientFactory>),
    Server(std::sync::Weak<dyn Factory>),
}

impl WeakFactoryObj {
    fn is_alive(&self) -> bool {
        match self {
            WeakFactoryObj::Client(f) => f.strong_count() > 0,
            WeakFactoryObj::Server(f) => f.strong_count() > 0,
        }
    }

    fn upgrade(&self) -> Option<FactoryObj> {
        match self {
            WeakFactoryObj::Client(f) => f.upgrade().map(FactoryObj::Client),
            WeakFactoryObj::Server(f) => f.upgrade().map(FactoryObj::Server),
        }
    }
}

struct FactorySt {
    /// The reactor's hold on the factory, while a connector or port of it is
    /// in use: Twisted's reactor holds a connector while it connects or is
    /// connected, and a port while it listens, and they hold their factory.
    /// Afterwards only `weak` (and whoever else keeps the factory: the
    /// application, a `Connector` handle) keeps it alive.
    obj: Option<FactoryObj>,
    weak: WeakFactoryObj,
    num_ports: u32,
    /// Its connectors that are not disconnected, and its ports that have
    /// not stopped.
    users: u32,
    /// Carried by every `Connector` handle of its connectors: while one
    /// lives, the factory may connect again, so the reactor keeps it.
    handles: Rc<()>,
    /// Unused, but kept for a handle: in `lingering`.
    lingering: bool,
}

impl FactorySt {
    fn obj(&self) -> Option<FactoryObj> {
        self.obj.clone().or_else(|| self.weak.upgrade())
    }

    /// The factory, for a delivery to it. The reactor lets a factory go only
    /// when nothing is owed to it, so a delivery finds it held.
    fn held(&self) -> Option<FactoryObj> {
        debug_assert!(
            self.obj.is_some(),
            "a delivery to a factory the reactor let go of"
        );
        self.obj()
    }

    /// [`held`](Self::held), as a plain factory: one reference count
    /// taken, not a second for the view (each is an atomic operation).
    fn held_factory(&self) -> Option<Arc<dyn Factory>> {
        debug_assert!(
            self.obj.is_some(),
            "a delivery to a factory the reactor let go of"
        );
        match &self.obj {
            Some(FactoryObj::Client(f)) => Some(f.clone()),
            Some(FactoryObj::Server(f)) => Some(f.clone()),
            None => self.weak.upgrade().map(|obj| obj.factory()),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// connect was called; do_start / started_connecting pending.
    Starting,
    /// Waiting for the world.
    Connecting,
    /// A protocol (or none) was built.
    Connected(Option<ProtocolId>),
    /// An outcome callback is delivered or running.
    Outcome,
    Disconnected,
    /// A callback raised where Twisted never finishes the connector.
    Stuck,
}

struct ConnectorSt {
    factory: FactoryId,
    addr: Address,
    timeout: Option<Duration>,
    phase: Phase,
    holds: bool,
    /// stop_connecting/disconnect while connecting: fails as cancelled.
    cancelled: bool,
    /// The attempt number (from 1) of the current attempt.
    attempt: usize,
    /// A retry was made inside the running outcome callback.
    retried: bool,
}

struct PortSt {
    factory: FactoryId,
    /// Its do_stop is queued by shutdown.
    tearing_down: bool,
    addr: Address,
    started: bool,
    stopping: bool,
    stopped: bool,
    stuck: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Producer {
    None,
    Streaming { paused: bool },
    Pull,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Side {
    Client,
    Server,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Peer {
    /// The script plays the peer.
    Script(Conn),
    /// Another implementation in this reactor: the join's other side.
    Joined(usize, Side),
}

/// A client and a server of this reactor joined in memory.
#[derive(Default, Debug)]
pub(crate) struct Join {
    pub client: Option<ProtocolId>,
    pub server: Option<ProtocolId>,
    pub client_gone: bool,
    pub server_gone: bool,
    /// Bytes written before the other side was made.
    pub to_client: Vec<Bytes>,
    pub to_server: Vec<Bytes>,
}

struct ConnSt {
    holder: Holder,
    protocol: Option<Rc<RefCell<Box<dyn Protocol>>>>,
    peer: Peer,
    /// The peer's address, for an accepted connection; a client's is its
    /// connector's destination, looked up when asked for (not cloned for
    /// every connection: each clone is an atomic count, made and undone).
    peer_addr: Option<Address>,
    half_closeable: bool,
    made: bool,
    lost: bool,
    losing: bool,
    aborted: bool,
    write_closing: bool,
    write_closed: bool,
    read_closed: bool,
    reading_paused: bool,
    /// Bytes written and not yet read by the peer.
    buffered: usize,
    window: Option<usize>,
    /// A write error the script armed (`WorldEvent::WriteError`), and
    /// where: the next write to the socket fails.
    write_error: Option<At>,
    producer: Producer,
    /// With the script as peer, the first bytes written, up to the run's
    /// limit: the script only needs them in order, so they are not kept
    /// twice. The last `buffered` of `bytes_written` are not read yet.
    written: Vec<u8>,
    /// Every byte the implementation wrote on the connection, counted.
    bytes_written: u64,
    /// Every byte delivered to it in `data_received`, counted.
    bytes_received: u64,
    /// Of `bytes_written`, those the script's `expect`s have looked at.
    expected_upto: u64,
    /// With a joined peer, the bytes it has not read yet, in order.
    outbox: VecDeque<Bytes>,
    /// Bytes that arrived while reading was paused.
    held: Vec<Bytes>,
    /// The largest chunk one read delivers (`WorldEvent::ReadChunks`).
    read_chunk: Option<usize>,
    /// A callback raised: connection_lost(other) is queued; ignore the rest.
    failing: bool,
}

/// A callback to deliver.
#[derive(Debug)]
enum Call {
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

/// An action's record: the event, how it went, and its address and timeout.
#[derive(Debug)]
struct Emission {
    event: Event,
    result: Result<(), ActionError>,
    addr: Option<Arc<str>>,
    timeout: Option<f64>,
}

/// Whom a callback is delivered to: nothing else reaches it while it runs.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Target {
    Factory(FactoryId),
    Protocol(ProtocolId),
}

/// Ready I/O, delivered in one batch per turn.
#[derive(Debug)]
enum Io {
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
}

enum TimerKind {
    User(Box<dyn FnOnce()>),
    ConnectTimeout(ConnectorId, usize),
    Aborted(ProtocolId),
    PortStopped(PortId),
}

struct Running {
    seq: u64,
    record: usize,
    target: Target,
    call: Call,
    fut: CallFuture,
}

/// The frame of a running callback, for what its actions trigger.
struct Frame {
    seq: u64,
    depth: u32,
    /// Deliveries its actions triggered: after it returns, first.
    after: Vec<Call>,
}

pub(crate) struct State {
    checker: Checker,
    trace: Recording,
    violation: Option<callorder_checker::Violation>,
    errors: Vec<ImplError>,
    start: Instant,
    /// The virtual time now, read from tokio's paused clock after each wait
    /// (time moves only then), so recording an event need not read it.
    now: Instant,
    /// `now - start` in seconds, the records' `t`: computed when the clock
    /// is read, not for each of the many records made at the same instant.
    now_secs: f64,
    rng: u64,
    factories: Dense<FactoryId, FactorySt>,
    /// Factory id by the factory's address, for factories alive now.
    factory_keys: BTreeMap<usize, FactoryId>,
    /// Factories the reactor let go of, dropped once its state is free.
    released_factories: Vec<FactoryObj>,
    /// Factories no connector or port uses, kept while a `Connector` handle
    /// of theirs lives; looked at again as turns go by.
    lingering: Vec<FactoryId>,
    /// Turns since `lingering` was last looked at.
    turns_since_sweep: usize,
    connectors: Dense<ConnectorId, ConnectorSt>,
    ports: Dense<PortId, PortSt>,
    conns: Dense<ProtocolId, ConnSt>,
    attempts: Vec<ConnectorId>,
    /// The connection each outgoing attempt made, by attempt number - 1:
    /// attempts are numbered densely, and a script names connections by
    /// them at every step.
    client_conns: Vec<Option<ProtocolId>>,
    /// The connection each peer that arrived on a port made, by arrival
    /// number - 1 (`None`: its build made no protocol).
    server_conns: Vec<Option<ProtocolId>>,
    listeners: BTreeMap<Address, PortId>,
    joins: Vec<Join>,
    /// Attempt number -> join, for attempts to an address listened on here.
    attempt_joins: BTreeMap<usize, usize>,

    port_order: Vec<PortId>,
    next_protocol: u64,
    /// Timers by (deadline, id), in that order: a short list whose new
    /// entries nearly always go at its end (deadlines and ids grow), so a
    /// sorted deque beats a tree for the one or two timers a turn has.
    timers: VecDeque<((Instant, u64), TimerKind)>,
    /// The emptied list of the last due timers, kept for its capacity.
    due_timers: Vec<TimerKind>,
    next_timer: u64,
    io_next: VecDeque<Io>,
    /// The emptied queue of the last batch, kept for its capacity.
    io_spare: VecDeque<Io>,
    queue: VecDeque<Call>,
    /// Emptied call lists (frames' `after`, a completion's own
    /// consequences), kept for their capacity.
    spare_calls: Vec<Vec<Call>>,
    busy: Few<Target>,
    /// Frames of callbacks being polled, innermost last.
    frames: Vec<Frame>,
    /// Callbacks that returned Pending: their frames.
    parked: BTreeMap<u64, Frame>,
    /// The callback seq the last record ran inside (or was).
    last_context: Option<u64>,
    shutting_down: bool,
    /// Whether deliveries go through the checker (off only to measure it).
    checking: bool,
    /// An I/O batch was delivered since the timers last ran.
    after_io: bool,
    /// The implementation's share of the heap.
    heap: HeapMeter,
    heap_checkpoints: Vec<i64>,
    /// The local address of client connections.
    client_host: Address,
    /// Armed faults (`WorldEvent::Fault`), in the order they were armed.
    faults: Vec<ArmedFault>,
    /// The seqs of the callbacks a fault made fail.
    injected: Vec<u64>,
    /// The test's set-up is running: factories seen now are the test's.
    in_setup: bool,
    /// Settings (read chunks, windows) for connections not made yet, in
    /// the order the script made them.
    pending: Vec<Pending>,
    /// Steps that reach nothing are skipped and counted, not failures.
    lenient: bool,
    /// Failed steps of the script.
    script_failures: Vec<ScriptFailure>,
    /// Skipped steps of a lenient run.
    skipped: Vec<ScriptFailure>,
    /// Where the script's steps are in their file, if it was parsed.
    origin: Option<Arc<Origin>>,
    /// The step budget, and what the current step has spent of it.
    budget: StepBudget,
    spent: Spent,
    /// The budget ran out: the run stopped.
    exhausted: bool,
    /// At most this many written bytes are kept per script peer.
    written_limit: Option<usize>,
    /// Weak handles to every protocol built, with its build_protocol seq.
    /// Those already freed are pruned now and then (see `new_conn`).
    weak_protocols: Vec<(ProtocolId, u64, Weak<SharedProtocol>)>,
    /// The length of `weak_protocols` at which it is pruned next.
    prune_protocols_at: usize,
    /// Weak handles to factories the implementation made during the run.
    weak_factories: Vec<(FactoryId, u64, std::sync::Weak<dyn Factory>)>,
    ended: bool,
}

struct Inner {
    state: RefCell<State>,
    /// The set-up's pending deliveries are being made (see `settle_now`).
    settling: std::cell::Cell<bool>,
    running: RefCell<Vec<Running>>,
    ops: RefCell<Weak<Ops>>,
}

/// The handles' link to the reactor; weak, so handles kept by factories do
/// not keep the reactor alive.
struct Ops {
    inner: Weak<Inner>,
}

/// A deterministic mock reactor that drives Factory/Protocol
/// implementations through scripted socket events, checking every delivery.
///
/// Runs need a tokio runtime with a paused clock; [`MockReactor::run`] makes
/// one.
///
/// ```
/// use callorder::{MockReactor, Script};
/// let run = MockReactor::new().run(Script::new().shutdown(), |_reactor| {});
/// run.assert_clean();
/// assert!(run.trace_jsonl().ends_with("\"event\":\"end\"}\n"));
/// ```
pub struct MockReactor {
    inner: Rc<Inner>,
    ops: Rc<Ops>,
}

impl Default for MockReactor {
    fn default() -> Self {
        MockReactor::new()
    }
}

impl MockReactor {
    /// A reactor checked under the `strict` profile, seeded with 0.
    pub fn new() -> Self {
        MockReactor::with_profile(Profile::Strict, 0)
    }

    /// A reactor checked under `profile`, its random source seeded with `seed`.
    pub fn with_profile(profile: Profile, seed: u64) -> Self {
        let start = Instant::now();
        let now = Instant::now();
        let state = State {
            checking: true,
            after_io: false,
            heap: HeapMeter::new(),
            heap_checkpoints: Vec::new(),
            client_host: Address::new("127.0.0.1:40000"),
            faults: Vec::new(),
            injected: Vec::new(),
            in_setup: false,
            pending: Vec::new(),
            lenient: false,
            script_failures: Vec::new(),
            skipped: Vec::new(),
            origin: None,
            budget: StepBudget::DEFAULT,
            spent: Spent {
                step: "the set-up".to_owned(),
                ..Spent::default()
            },
            exhausted: false,
            written_limit: Some(WRITTEN_LIMIT),
            weak_protocols: Vec::new(),
            prune_protocols_at: 64,
            weak_factories: Vec::new(),
            checker: Checker::new(profile),
            trace: Recording::new(),
            violation: None,
            errors: Vec::new(),
            start,
            now,
            now_secs: (now - start).as_secs_f64(),
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
            factories: Dense::default(),
            factory_keys: BTreeMap::new(),
            released_factories: Vec::new(),
            lingering: Vec::new(),
            turns_since_sweep: 0,
            connectors: Dense::default(),
            ports: Dense::default(),
            conns: Dense::default(),
            attempts: Vec::new(),
            client_conns: Vec::new(),
            server_conns: Vec::new(),
            listeners: BTreeMap::new(),
            joins: Vec::new(),
            attempt_joins: BTreeMap::new(),

            port_order: Vec::new(),
            next_protocol: 1,
            timers: VecDeque::new(),
            due_timers: Vec::new(),
            next_timer: 1,
            io_next: VecDeque::new(),
            io_spare: VecDeque::new(),
            queue: VecDeque::new(),
            spare_calls: Vec::new(),
            busy: Few::default(),
            frames: Vec::new(),
            parked: BTreeMap::new(),
            last_context: None,
            shutting_down: false,
            ended: false,
        };
        let inner = Rc::new(Inner {
            state: RefCell::new(state),
            settling: std::cell::Cell::new(false),
            running: RefCell::new(Vec::new()),
            ops: RefCell::new(Weak::new()),
        });
        let ops = Rc::new(Ops {
            inner: Rc::downgrade(&inner),
        });
        *inner.ops.borrow_mut() = Rc::downgrade(&ops);
        MockReactor { inner, ops }
    }

    /// The same reactor with the checker off: the trace is still written,
    /// but nothing judges it. Only for measuring what the checker costs.
    #[must_use]
    pub fn without_checker(self) -> Self {
        self.inner.state.borrow_mut().checking = false;
        self
    }

    /// Keeps only the last `n` records of the trace in the [`Run`], for a
    /// long run (a soak test, a benchmark) whose memory should follow its
    /// live objects rather than its length. The checker still judges every
    /// event, and a violation still shows the object's recent history; only
    /// [`Run::trace`] is cut, to the records just before the run ended.
    ///
    /// ```
    /// use callorder::{MockReactor, Script};
    /// let run = MockReactor::new()
    ///     .keep_last(1)
    ///     .run(Script::new().advance(std::time::Duration::from_secs(1)).shutdown(), |_| {});
    /// run.assert_clean();
    /// assert_eq!(run.trace.len(), 1);
    /// assert_eq!(run.trace[0].step.event.kind().to_string(), "end");
    /// ```
    #[must_use]
    pub fn keep_last(self, n: usize) -> Self {
        self.inner.state.borrow_mut().trace.keep_last(n);
        self
    }

    /// A lenient reactor: a step of the script that reaches nothing (an
    /// attempt, connection or port that does not exist or has ended when it
    /// is due, a setting or fault still waiting at the end) is skipped and
    /// listed in [`Run::skipped`], instead of failing the run. For scripts
    /// made before the run, such as a fuzzer's, whose steps cannot know
    /// which attempts the implementation will make and the world accept; a
    /// script written for a test should reach everything it names, as the
    /// strict default requires.
    ///
    /// ```
    /// use callorder::{Conn, MockReactor, Script};
    /// let script = Script::new().close(Conn::Client(1)).shutdown();
    /// let strict = MockReactor::new().run(script.clone(), |_| {});
    /// assert_eq!(strict.script_failures.len(), 1);
    /// assert!(!strict.is_clean());
    /// let lenient = MockReactor::new().lenient().run(script, |_| {});
    /// assert_eq!(lenient.skipped.len(), 1);
    /// lenient.assert_clean();
    /// ```
    #[must_use]
    pub fn lenient(self) -> Self {
        self.inner.state.borrow_mut().lenient = true;
        self
    }

    /// Sets the budget of work each step of the script may make before the
    /// run is stopped as one that never goes quiet (default
    /// [`StepBudget::DEFAULT`]).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use callorder::{ImplErrorKind, MockReactor, Script, StepBudget};
    /// # use async_trait::async_trait;
    /// # use callorder_core::{Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason};
    /// # struct Nothing;
    /// # #[async_trait(?Send)]
    /// # impl Protocol for Nothing {
    /// #     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
    /// # }
    /// /// Retries at once, forever, to a port of the same reactor that
    /// /// closes every connection: the run never goes quiet.
    /// struct Eager;
    /// # #[async_trait(?Send)]
    /// # impl Factory for Eager {
    /// #     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
    /// #         Ok(None)
    /// #     }
    /// # }
    /// #[async_trait(?Send)]
    /// impl ClientFactory for Eager {
    ///     async fn client_connection_lost(&self, c: &Connector, _: Reason) -> CallbackResult {
    ///         c.connect()?;
    ///         Ok(())
    ///     }
    /// }
    /// let run = MockReactor::new()
    ///     .step_budget(StepBudget { turns: 5_000, ..StepBudget::DEFAULT })
    ///     .run(Script::new().shutdown(), |r| {
    ///         r.listen_tcp("127.0.0.1:80", Arc::new(Eager)).unwrap();
    ///         r.connect_tcp("127.0.0.1:80", Arc::new(Eager), None);
    ///     });
    /// assert_eq!(run.errors.len(), 1);
    /// assert_eq!(run.errors[0].kind, ImplErrorKind::Busy);
    /// assert!(run.errors[0].message.starts_with("the run never went quiet: the set-up took more than 5000 turns"));
    /// ```
    #[must_use]
    pub fn step_budget(self, budget: StepBudget) -> Self {
        self.inner.state.borrow_mut().budget = budget;
        self
    }

    /// Keeps at most `limit` bytes of what the implementation writes to each
    /// script peer in [`Run::written`] (`None`: all of them; default 1
    /// MiB), so that a producer writing without end keeps the run's memory
    /// bounded. The bytes are still counted ([`Run::bytes_written`]), and a
    /// cut record is listed in [`Run::written_cut`].
    ///
    /// ```
    /// use callorder::MockReactor;
    /// let keep_everything = MockReactor::new().written_limit(None);
    /// # drop(keep_everything);
    /// ```
    #[must_use]
    pub fn written_limit(self, limit: Option<usize>) -> Self {
        self.inner.state.borrow_mut().written_limit = limit;
        self
    }

    /// The reactor as implementations see it, for setting up a run.
    pub fn handle(&self) -> Reactor {
        Reactor::new(self.ops.clone())
    }

    /// Runs `script` on a fresh current-thread tokio runtime with a paused
    /// clock, after `setup` made the first connections and ports.
    ///
    /// # Panics
    ///
    /// When called inside a tokio runtime (a `#[tokio::test]`, say), where
    /// no runtime can start: the message says to use
    /// [`run_script`](MockReactor::run_script) there.
    #[track_caller]
    pub fn run(self, script: Script, setup: impl FnOnce(&Reactor)) -> Run {
        refuse_nested_runtime("run");
        self.run_on(&MockReactor::runtime(), script, setup)
    }

    /// A current-thread tokio runtime with a paused clock, for
    /// [`run_on`](MockReactor::run_on): building one costs more than a
    /// short run, so a caller making many runs (a fuzzer) keeps one.
    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a current-thread runtime")
    }

    /// [`run`](MockReactor::run) on a runtime from
    /// [`runtime`](MockReactor::runtime), reused across runs.
    ///
    /// ```
    /// use callorder::{MockReactor, Script};
    /// let rt = MockReactor::runtime();
    /// for _ in 0..3 {
    ///     MockReactor::new().run_on(&rt, Script::new().shutdown(), |_| {}).assert_clean();
    /// }
    /// ```
    ///
    /// # Panics
    ///
    /// As [`run`](MockReactor::run), inside a tokio runtime.
    #[track_caller]
    pub fn run_on(
        self,
        rt: &tokio::runtime::Runtime,
        script: Script,
        setup: impl FnOnce(&Reactor),
    ) -> Run {
        refuse_nested_runtime("run_on");
        rt.block_on(async move {
            self.inner.state.borrow_mut().start = Instant::now();
            self.inner.state.borrow_mut().set_now(Instant::now());
            // What the script's head sets holds for the set-up's actions too.
            let (head, steps) = self.apply_head(script);
            self.inner.state.borrow_mut().in_setup = true;
            setup(&self.handle());
            self.inner.state.borrow_mut().in_setup = false;
            self.run_steps(head, steps).await
        })
    }

    /// Applies the batches at the head of the script that only set things
    /// up (read-chunk and window settings, faults), and returns how many
    /// there were and the rest.
    fn apply_head(&self, script: Script) -> (usize, Vec<Step>) {
        let (mut steps, origin) = script.into_parts();
        let head = steps
            .iter()
            .take_while(|step| {
                matches!(step, Step::Batch(events) if events.iter().all(|e| {
                    matches!(
                        e,
                        WorldEvent::ReadChunks { .. }
                            | WorldEvent::Window { .. }
                            | WorldEvent::Fault { .. }
                    )
                }))
            })
            .count();
        let mut s = self.inner.state.borrow_mut();
        s.origin = origin;
        for (step, events) in steps.drain(..head).enumerate() {
            if let Step::Batch(events) = events {
                for (event, e) in events.into_iter().enumerate() {
                    s.world(e, At { step, event });
                }
            }
        }
        (head, steps)
    }

    /// Runs `script` inside the caller's tokio runtime, which must have a
    /// paused clock (`#[tokio::test(start_paused = true)]`).
    ///
    /// ```
    /// use callorder::{MockReactor, Script};
    /// # let rt = MockReactor::runtime();
    /// # rt.block_on(async {
    /// // In a #[tokio::test(start_paused = true)] async fn:
    /// let reactor = MockReactor::new();
    /// let run = reactor.run_script(Script::new().shutdown()).await;
    /// run.assert_clean();
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// At once, when the clock is not paused (or there is no tokio
    /// runtime): the mock reactor moves virtual time itself, and tokio
    /// refuses that on a clock that follows the wall.
    pub async fn run_script(self, script: Script) -> Run {
        require_paused_clock();
        let (head, steps) = self.apply_head(script);
        self.run_steps(head, steps).await
    }

    /// Runs the steps of a script whose first `head` steps were applied.
    async fn run_steps(self, head: usize, steps: Vec<Step>) -> Run {
        {
            // Room for the trace the script is likely to make (a few records
            // per world event), so the trace does not move as it grows;
            // pages the run never writes cost nothing.
            let events: usize = steps
                .iter()
                .map(|step| match step {
                    Step::Batch(events) => events.len(),
                    _ => 1,
                })
                .sum();
            let mut s = self.inner.state.borrow_mut();
            let wanted = events.saturating_mul(4).saturating_add(64);
            let len = s.trace.len();
            s.trace.reserve(wanted.saturating_sub(len));
        }
        self.run_until(None).await;
        let mut ended_at = None;
        for (index, step) in steps.into_iter().enumerate() {
            let index = head + index;
            if self.stopped() {
                let mut s = self.inner.state.borrow_mut();
                // A run stopped by a violation or its budget has that to
                // say; one that shut down was given steps after its end.
                if s.ended && s.violation.is_none() {
                    let at = At {
                        step: index,
                        event: 0,
                    };
                    let message = match ended_at {
                        Some(n) => format!("the run has ended: it shut down at step {}", n + 1),
                        None => "the run has ended".to_owned(),
                    };
                    let statement = reach::step_statement(&step);
                    s.step_failed(
                        at,
                        statement,
                        crate::run::ScriptFailureKind::Unreached,
                        message,
                    );
                    continue;
                }
                break;
            }
            let name = self.inner.state.borrow().step_name(index, &step);
            self.inner.state.borrow_mut().begin_step(name);
            match step {
                Step::Batch(events) => {
                    {
                        let mut s = self.inner.state.borrow_mut();
                        for (event, e) in events.into_iter().enumerate() {
                            s.io_next.push_back(Io::World(e, At { step: index, event }));
                        }
                    }
                    self.run_until(None).await;
                }
                Step::Advance(by) => {
                    let deadline = Instant::now() + by;
                    self.run_until(Some(deadline)).await;
                    tokio::time::advance(deadline.saturating_duration_since(Instant::now())).await;
                    self.inner.state.borrow_mut().set_now(Instant::now());
                }
                Step::Shutdown => {
                    ended_at = Some(index);
                    self.shutdown().await;
                }
                Step::Checkpoint => {
                    self.run_until(None).await;
                    let mut s = self.inner.state.borrow_mut();
                    let held = s.heap.held();
                    s.heap_checkpoints.push(held);
                }
            }
        }
        if !self.stopped() {
            self.run_until(None).await;
        }
        self.finish()
    }

    #[inline]
    fn stopped(&self) -> bool {
        let s = self.inner.state.borrow();
        s.violation.is_some() || s.ended || s.exhausted
    }

    fn finish(self) -> Run {
        // Let go of everything the run holds of the implementation, then see
        // what is still alive.
        let stuck_futures = std::mem::take(&mut *self.inner.running.borrow_mut());
        let (timers, factories, protocols) = {
            let mut s = self.inner.state.borrow_mut();
            s.queue.clear();
            let timers = std::mem::take(&mut s.timers);
            let factories = (
                std::mem::take(&mut s.factories),
                std::mem::take(&mut s.released_factories),
            );
            let protocols: Vec<_> = s
                .conns
                .values_mut()
                .filter_map(|c| c.protocol.take())
                .collect();
            (timers, factories, protocols)
        };
        drop((stuck_futures, timers, factories, protocols));
        let mut s = self.inner.state.borrow_mut();
        let mut leaks = Vec::new();
        for (p, built_at, weak) in &s.weak_protocols {
            if weak.strong_count() > 0 {
                leaks.push(Leak {
                    object: format!("protocol p{}", p.0),
                    built_at: *built_at,
                    kept_by: "the reactor",
                });
            }
        }
        for (f, named_at, weak) in &s.weak_factories {
            if weak.strong_count() > 0 {
                leaks.push(Leak {
                    object: format!("factory f{}", f.0),
                    built_at: *named_at,
                    kept_by: "the implementation (a factory it made during the run)",
                });
            }
        }
        if s.violation.is_none() && !s.exhausted {
            s.unreached_at_end();
        }
        // In the order of the script, those found at the end among them.
        s.script_failures.sort_by_key(|f| (f.step, f.event));
        s.skipped.sort_by_key(|f| (f.step, f.event));
        let mut written = Vec::new();
        let mut written_cut = Vec::new();
        let mut connections = Vec::new();
        let State {
            client_conns,
            server_conns,
            conns,
            ..
        } = &mut *s;
        let clients = (client_conns.iter().enumerate())
            .filter_map(|(i, p)| Some((Conn::Client(i + 1), p.as_ref()?)));
        let servers = (server_conns.iter().enumerate())
            .filter_map(|(i, p)| Some((Conn::Server(i + 1), p.as_ref()?)));
        for (conn, p) in clients.chain(servers) {
            if let Some(c) = conns.get_mut(p) {
                connections.push(ConnStats {
                    conn,
                    protocol: *p,
                    bytes_written: c.bytes_written,
                    bytes_received: c.bytes_received,
                });
                if let Peer::Script(_) = c.peer {
                    let read = c.bytes_written - c.buffered as u64;
                    let mut bytes = std::mem::take(&mut c.written);
                    if read > bytes.len() as u64 {
                        written_cut.push((conn, read));
                    } else {
                        bytes.truncate(read as usize);
                    }
                    written.push((conn, bytes));
                }
            }
        }
        let warnings = s.checker.warnings().to_vec();
        let heap_checkpoints = s
            .heap
            .is_on()
            .then(|| std::mem::take(&mut s.heap_checkpoints));
        Run {
            injected: std::mem::take(&mut s.injected),
            trace: std::mem::replace(&mut s.trace, Recording::new()).into_records(),
            violation: s.violation.take(),
            warnings,
            errors: std::mem::take(&mut s.errors),
            written,
            written_cut,
            connections,
            script_failures: std::mem::take(&mut s.script_failures),
            skipped: std::mem::take(&mut s.skipped),
            leaks,
            heap_checkpoints,
        }
    }

    // ------------------------------------------------------------ the loop

    /// Runs turns until nothing is left to do now (or, with a deadline,
    /// until then).
    async fn run_until(&self, deadline: Option<Instant>) {
        loop {
            if self.stopped() {
                return;
            }
            if !self.inner.running.borrow().is_empty() && self.poll_running().await {
                continue;
            }
            if self.begin_next() {
                continue;
            }
            if !self.inner.running.borrow().is_empty() && self.all_blocked() {
                // Deliveries wait for running callbacks: let time pass.
                if !self.wait(deadline).await {
                    return;
                }
                continue;
            }
            if self.turn() {
                continue;
            }
            if deadline.is_none() && self.inner.running.borrow().is_empty() {
                // Quiet, and no deadline to move time to: `wait` would say
                // so without waiting; the usual end of a script step.
                return;
            }
            if !self.wait(deadline).await {
                return;
            }
        }
    }

    /// Makes every delivery that is ready now, without waiting: used during
    /// the test's set-up, before each of its actions, so that each action's
    /// consequences come before the next action, as when Twisted runs
    /// `listenTCP` and `connectTCP` one after the other. A callback that
    /// awaits stays running, for the run loop to finish.
    fn settle_now(&self) {
        if self.inner.settling.replace(true) {
            return;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            let running = !self.inner.running.borrow().is_empty();
            if running && self.poll_all(&mut cx) {
                continue;
            }
            if self.stopped() || !self.begin_next() {
                break;
            }
        }
        self.inner.settling.set(false);
    }

    fn all_blocked(&self) -> bool {
        let s = self.inner.state.borrow();
        s.queue.iter().all(|c| s.busy.contains(&target_of(&s, c)))
    }

    /// One turn's I/O batch and due timers. Whether anything happened.
    fn turn(&self) -> bool {
        // As Twisted's loop: after a batch of I/O (and all it delivered),
        // the due timers run before the next batch is read.
        let (after_io, lingering) = {
            let mut s = self.inner.state.borrow_mut();
            (std::mem::take(&mut s.after_io), !s.lingering.is_empty())
        };
        if lingering {
            self.sweep_lingering();
        }
        if after_io && self.run_due_timers() {
            return true;
        }
        // The batch is what is ready now; I/O it causes waits for the next
        // one. The two queues swap, so neither allocates turn after turn.
        let mut batch = {
            let mut s = self.inner.state.borrow_mut();
            if s.io_next.is_empty() {
                drop(s);
                return self.run_due_timers();
            }
            let spare = std::mem::take(&mut s.io_spare);
            std::mem::replace(&mut s.io_next, spare)
        };
        while let Some(io) = batch.pop_front() {
            self.io(io);
        }
        let mut s = self.inner.state.borrow_mut();
        s.io_spare = batch;
        s.after_io = true;
        s.tick();
        true
    }

    /// Lets go of lingering factories whose handles are all gone. A sweep
    /// costs one look per lingering factory, so with many it waits as many
    /// turns: the cost per turn stays constant.
    fn sweep_lingering(&self) {
        let released = {
            let mut s = self.inner.state.borrow_mut();
            if s.lingering.is_empty() {
                return;
            }
            s.turns_since_sweep += 1;
            if s.lingering.len() > 64 && s.turns_since_sweep < s.lingering.len() {
                return;
            }
            s.turns_since_sweep = 0;
            let lingering = std::mem::take(&mut s.lingering);
            for f in lingering {
                if let Some(fs) = s.factories.get_mut(&f) {
                    fs.lingering = false;
                }
                s.release_if_unused(f);
            }
            std::mem::take(&mut s.released_factories)
        };
        self.drop_released(released);
    }

    /// Drops the factories the reactor let go of, outside the state's
    /// borrow (a factory's Drop may act on the reactor), and keeps the
    /// emptied list for its capacity.
    fn drop_released(&self, mut released: Vec<FactoryObj>) {
        released.clear();
        let mut s = self.inner.state.borrow_mut();
        if s.released_factories.is_empty() {
            s.released_factories = released;
        }
    }

    /// Runs the timers that are due. Whether any did.
    #[inline]
    fn run_due_timers(&self) -> bool {
        // Most turns have no timer at all: that is decided here, inline.
        if self.inner.state.borrow().timers.is_empty() {
            return false;
        }
        self.run_due_timers_now()
    }

    fn run_due_timers_now(&self) -> bool {
        // Timers the due ones schedule as they fire wait for the next turn:
        // the due ones are taken out first.
        let mut due = {
            let mut s = self.inner.state.borrow_mut();
            let Some(&((first, _), _)) = s.timers.front() else {
                return false;
            };
            let now = Instant::now();
            if first > now {
                return false;
            }
            let mut due = std::mem::take(&mut s.due_timers);
            while s.timers.front().is_some_and(|((at, _), _)| *at <= now) {
                let (_, timer) = s.timers.pop_front().expect("a front");
                due.push(timer);
            }
            due
        };
        let any = !due.is_empty();
        for timer in due.drain(..) {
            self.inner.state.borrow_mut().timer_ran();
            self.fire(timer);
        }
        self.inner.state.borrow_mut().due_timers = due;
        any
    }

    /// Waits for a running callback to make progress or the next timer.
    /// False when there is nothing to wait for (quiet) or the deadline came.
    async fn wait(&self, deadline: Option<Instant>) -> bool {
        let next_timer = self
            .inner
            .state
            .borrow()
            .timers
            .front()
            .map(|((at, _), _)| *at);
        let running = !self.inner.running.borrow().is_empty();
        let until = match (next_timer, deadline) {
            (Some(t), Some(d)) => Some(t.min(d)),
            (t, d) => t.or(d),
        };
        if !running {
            // Quiet: time moves only when the script says so (Advance).
            let (Some(d), Some(t)) = (deadline, next_timer) else {
                return false;
            };
            if t > d {
                return false;
            }
            // Jump the paused clock exactly; a sleep would round up to the
            // timer wheel's millisecond.
            tokio::time::advance(t.saturating_duration_since(Instant::now())).await;
            self.inner.state.borrow_mut().set_now(Instant::now());
            return true;
        }
        let stall_at = Instant::now() + STALL_AFTER;
        let until = until.map_or(stall_at, |u| u.min(stall_at));
        let sleep = tokio::time::sleep_until(until);
        tokio::pin!(sleep);
        let woke = std::future::poll_fn(|cx| {
            if self.poll_all(cx) {
                return Poll::Ready(true);
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        self.inner.state.borrow_mut().set_now(Instant::now());
        if !woke && Instant::now() >= stall_at {
            self.stall();
        }
        if let Some(d) = deadline {
            if Instant::now() >= d && self.inner.running.borrow().is_empty() {
                return false;
            }
        }
        true
    }

    fn stall(&self) {
        let stalled: Vec<Running> = std::mem::take(&mut *self.inner.running.borrow_mut());
        let mut s = self.inner.state.borrow_mut();
        for r in stalled {
            s.errors.push(ImplError {
                kind: ImplErrorKind::Stalled,
                seq: r.seq,
                event: Some(kind_of(&r.call)),
                message: format!("{} never returned", kind_of(&r.call)),
            });
            s.busy.remove(&r.target);
            s.trace.close(r.record);
            s.parked.remove(&r.seq);
        }
        s.feed();
    }

    /// Polls every running callback once. Whether any finished.
    async fn poll_running(&self) -> bool {
        if self.inner.running.borrow().is_empty() {
            return false;
        }
        std::future::poll_fn(|cx| Poll::Ready(self.poll_all(cx))).await
    }

    fn poll_all(&self, cx: &mut Context<'_>) -> bool {
        // Awaiting callbacks wake when time has moved: read the clock once
        // per sweep, before their actions are recorded.
        self.inner.state.borrow_mut().set_now(Instant::now());
        let mut running = std::mem::take(&mut *self.inner.running.borrow_mut());
        let mut finished = Vec::new();
        let mut i = 0;
        while i < running.len() {
            let seq = running[i].seq;
            self.resume_frame(seq);
            BUILDING.with(|b| b.set(holder_of_build(&running[i].call)));
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
            self.complete(r, outcome, frame);
        }
        any
    }

    fn resume_frame(&self, seq: u64) {
        let mut s = self.inner.state.borrow_mut();
        let frame = s
            .parked
            .remove(&seq)
            .expect("a running callback has a frame");
        s.frames.push(frame);
    }

    fn suspend_frame(&self) -> Frame {
        self.inner
            .state
            .borrow_mut()
            .frames
            .pop()
            .expect("pushed by resume_frame")
    }

    /// Begins the first queued delivery whose target is free.
    fn begin_next(&self) -> bool {
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

    // ---------------------------------------------------------- delivering

    /// Records a callback, starts it and polls it once.
    fn begin(&self, mut call: Call) {
        let Some((fut, target, record, seq)) = self.prepare(&mut call) else {
            return;
        };
        let mut ran = Running {
            seq,
            record,
            target,
            call,
            fut,
        };
        // Most callbacks finish on their first poll: poll now. One that
        // awaits is polled again by the next sweep with the loop's own
        // waker, before the loop sleeps, so the no-op waker here is never
        // the one that has to wake it. (`prepare` pushed its frame.)
        let mut cx = Context::from_waker(std::task::Waker::noop());
        BUILDING.with(|b| b.set(holder_of_build(&ran.call)));
        let polled = catch_unwind(AssertUnwindSafe(|| ran.fut.as_mut().poll(&mut cx)));
        BUILDING.with(|b| b.set(None));
        let frame = self.suspend_frame();
        match polled {
            Ok(Poll::Ready(done)) => self.complete(ran, Ok(done), frame),
            Err(panic) => self.complete(ran, Err(panic_message(panic)), frame),
            Ok(Poll::Pending) => {
                self.inner.state.borrow_mut().parked.insert(seq, frame);
                self.inner.running.borrow_mut().push(ran);
            }
        }
    }

    /// Decides whether `call` can still be delivered, records it, builds
    /// its future and pushes its frame.
    ///
    /// A protocol's future holds the `RefCell` borrow of its protocol across
    /// awaits on purpose: nothing else is delivered to a protocol while its
    /// callback runs (the `busy` set), and if the callback panics the borrow
    /// is released while unwinding, so the protocol survives to get its
    /// `connection_lost`, as Twisted's does after an exception.
    #[allow(clippy::await_holding_refcell_ref)]
    fn prepare(&self, call: &mut Call) -> Option<(CallFuture, Target, usize, u64)> {
        let mut s = self.inner.state.borrow_mut();
        // Each future counts the implementation's heap through `m`.
        let m = s.heap.clone();
        let target = target_of(&s, call);
        let depth = 0;
        let (event, fut): (Event, CallFuture) = match *call {
            Call::DoStart(f, holder) => {
                // The reactor's own bookkeeping; the hook is the user's code.
                let fs = s.factories.get_mut(&f).expect("known factory");
                let factory = fs.held_factory()?;
                let at_zero = fs.num_ports == 0;
                fs.num_ports += 1;
                let ev = Event::DoStart {
                    factory: f,
                    holder: Some(holder),
                };
                let reactor = self.handle();
                let fut: CallFuture = Box::pin(async move {
                    factory.do_start(holder);
                    let result = if at_zero {
                        m.meter(factory.start_factory(&reactor)).await
                    } else {
                        Ok(())
                    };
                    Done::of(result)
                });
                (ev, fut)
            }
            Call::StartedConnecting(c) => {
                let cs = s.connectors.get(&c)?;
                let f = cs.factory;
                let FactoryObj::Client(factory) = s.factories[&f].held()? else {
                    return None;
                };
                let connector =
                    Connector::new(c, self.ops.clone()).with_token(s.factories[&f].handles.clone());
                (
                    Event::StartedConnecting {
                        factory: f,
                        connector: c,
                    },
                    Box::pin(async move {
                        let result = m.meter(factory.started_connecting(&connector)).await;
                        Done::of(result)
                    }),
                )
            }
            Call::Build(holder, ref addr, _) => {
                let f = match holder {
                    Holder::Connector(c) => s.connectors.get(&c)?.factory,
                    Holder::Port(l) => s.ports.get(&l)?.factory,
                };
                let factory = s.factories[&f].held_factory()?;
                let addr = addr.clone();
                (
                    Event::BuildProtocol {
                        factory: f,
                        holder,
                        protocol: None,
                    },
                    Box::pin(async move {
                        match m.meter(factory.build_protocol(&addr)).await {
                            Ok(built) => Done::built(built),
                            Err(e) => Done::of(Err(e)),
                        }
                    }),
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
                let (ev, fut): (Event, CallFuture) = match call {
                    Call::ConnectionMade(_) => {
                        let transport = Transport::new(p, self.ops.clone());
                        let fut = on_protocol(proto, m, move |g| g.connection_made(transport));
                        (Event::ConnectionMade { protocol: p }, fut)
                    }
                    Call::DataReceived(_, data) => {
                        // The bytes move into the future: the call keeps
                        // only what `complete` needs.
                        let data = std::mem::take(data);
                        let bytes = data.len() as u64;
                        if let Some(c) = s.conns.get_mut(&p) {
                            c.bytes_received += bytes;
                        }
                        // The bytes live in the future, so the callback can
                        // borrow them across its awaits.
                        let fut: CallFuture = Box::pin(async move {
                            let mut g = proto.borrow_mut();
                            Done::of(m.meter(g.data_received(&data)).await)
                        });
                        (Event::DataReceived { protocol: p, bytes }, fut)
                    }
                    Call::ReadConnectionLost(_) => (
                        Event::ReadConnectionLost { protocol: p },
                        on_protocol(proto, m, |g| g.read_connection_lost()),
                    ),
                    Call::WriteConnectionLost(_) => (
                        Event::WriteConnectionLost { protocol: p },
                        on_protocol(proto, m, |g| g.write_connection_lost()),
                    ),
                    Call::ConnectionLost(_, reason) => {
                        let reason = *reason;
                        (
                            Event::ConnectionLost {
                                protocol: p,
                                reason,
                            },
                            on_protocol(proto, m, move |g| g.connection_lost(reason)),
                        )
                    }
                    Call::PauseProducing(_) => (
                        Event::PauseProducing { protocol: p },
                        on_protocol(proto, m, |g| g.pause_producing()),
                    ),
                    Call::ResumeProducing(_) => (
                        Event::ResumeProducing { protocol: p },
                        on_protocol(proto, m, |g| g.resume_producing()),
                    ),
                    Call::StopProducing(_) => (
                        Event::StopProducing { protocol: p },
                        on_protocol(proto, m, |g| g.stop_producing()),
                    ),
                    _ => unreachable!("protocol calls only"),
                };
                (ev, fut)
            }
            Call::ConnectionFailed(c, reason) | Call::ClientConnectionLost(c, reason) => {
                let f = s.connectors.get(&c)?.factory;
                let FactoryObj::Client(factory) = s.factories[&f].held()? else {
                    return None;
                };
                let connector =
                    Connector::new(c, self.ops.clone()).with_token(s.factories[&f].handles.clone());
                let failed = matches!(call, Call::ConnectionFailed(..));
                let ev = if failed {
                    Event::ClientConnectionFailed {
                        factory: f,
                        connector: c,
                        reason,
                    }
                } else {
                    Event::ClientConnectionLost {
                        factory: f,
                        connector: c,
                        reason,
                    }
                };
                (
                    ev,
                    Box::pin(async move {
                        let result = if failed {
                            m.meter(factory.client_connection_failed(&connector, reason))
                                .await
                        } else {
                            m.meter(factory.client_connection_lost(&connector, reason))
                                .await
                        };
                        Done::of(result)
                    }),
                )
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
                let at_zero = fs.num_ports == 0;
                let fut: CallFuture = Box::pin(async move {
                    factory.do_stop(holder);
                    let result = if at_zero {
                        m.meter(factory.stop_factory()).await
                    } else {
                        Ok(())
                    };
                    Done::of(result)
                });
                (ev, fut)
            }
        };
        let (record, seq) = s.record(event, depth, None, true);
        s.tick();
        if let Call::Build(_, addr, _) = call {
            s.trace.unjudged_mut(record).addr = Some(addr.shared());
        }
        let mut frame = Frame {
            seq,
            depth,
            after: s.spare_calls.pop().unwrap_or_default(),
        };
        // The start_factory/stop_factory hooks run inside their caller; the
        // user's code is the hook, so its actions nest inside the hook.
        let hook = match *call {
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
        Some((fut, target, record, seq))
    }

    /// A callback returned (or failed): what the reactor does next, as
    /// Twisted does at that point.
    fn complete(&self, r: Running, outcome: Result<Done, String>, frame: Frame) {
        let (mut result, built, panicked) = match outcome {
            Ok(done) => {
                let (result, built) = done.into_parts();
                (result.map_err(|e| e.message().to_owned()), built, false)
            }
            Err(msg) => (Err(msg), None, true),
        };
        // The finished future is the reactor's box; it also holds a handle
        // on the protocol, which must go before the protocol can.
        drop(r.fut);
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
                        } else {
                            let attempt = s.connectors[&c].attempt;
                            let peer = match s.attempt_joins.get(&attempt) {
                                Some(&j) => Peer::Joined(j, Side::Client),
                                None => Peer::Script(Conn::Client(attempt)),
                            };
                            match (id, protocol) {
                                (Some(p), Some(obj)) => {
                                    if let Peer::Joined(j, _) = peer {
                                        s.joins[j].client = Some(p);
                                    }
                                    s.new_conn(r.seq, p, Holder::Connector(c), obj, peer, None);
                                    if s.client_conns.len() < attempt {
                                        s.client_conns.resize(attempt, None);
                                    }
                                    s.client_conns[attempt - 1] = Some(p);
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
                                        // build ran (its build or
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
            Call::PauseProducing(_) | Call::ResumeProducing(_) | Call::StopProducing(_) => {}
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
            Call::ConnectionLost(p, _) | Call::StopProducing(p) => s.release_protocol(p),
            _ => None,
        };
        if s.released_factories.is_empty() {
            drop(s);
        } else {
            let factories = std::mem::take(&mut s.released_factories);
            drop(s);
            self.drop_released(factories);
        }
        if let Some(protocol) = released {
            let meter = self.inner.state.borrow().heap.clone();
            let started = meter.start();
            drop(protocol);
            meter.stop(started);
        }
    }

    // ----------------------------------------------------------------- I/O

    fn io(&self, io: Io) {
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
                        if c.half_closeable {
                            s.queue.push_back(Call::WriteConnectionLost(p));
                        }
                        if let Some(other) = s.joined_peer(p) {
                            s.io_next.push_back(Io::PeerClosed(other));
                        }
                    }
                }
            }
            Io::Drained(p) => s.drained(p),
        }
    }

    fn fire(&self, timer: TimerKind) {
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

    // ------------------------------------------------------------ shutdown

    async fn shutdown(&self) {
        self.run_until(None).await;
        if self.stopped() {
            return;
        }
        {
            let mut s = self.inner.state.borrow_mut();
            s.shutting_down = true;
            s.record(Event::Shutdown, 0, None, false);
            s.feed();
            s.timers.clear();
            s.io_next.clear();
        }
        // Teardown (O2: any order in Twisted; creation order here). What the
        // implementation starts during teardown (a retry in
        // client_connection_failed) is torn down in the next round: Twisted
        // would leave it hanging, which strict rejects.
        for _ in 0..Self::TEARDOWN_ROUNDS {
            if !self.inner.state.borrow_mut().teardown() {
                break;
            }
            self.run_until(None).await;
            if self.stopped() {
                return;
            }
            let mut s = self.inner.state.borrow_mut();
            s.timers.clear();
            s.io_next.clear();
        }
        let mut s = self.inner.state.borrow_mut();
        s.record(Event::End, 0, None, false);
        s.ended = true;
        s.feed();
    }

    /// How many times shutdown tears down what the implementation keeps
    /// starting before it gives up (and the checker reports what is left).
    const TEARDOWN_ROUNDS: usize = 16;
}

impl State {
    /// Ends every live connection, port and attempt. Whether there was any.
    fn teardown(&mut self) -> bool {
        let conns: Vec<ProtocolId> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.lost)
            .map(|(p, _)| p)
            .collect();
        let ports: Vec<PortId> = self
            .ports
            .iter()
            .filter(|(_, p)| p.started && !p.stopped && !p.stuck && !p.tearing_down)
            .map(|(l, _)| l)
            .collect();
        let connecting: Vec<ConnectorId> = self
            .connectors
            .iter()
            .filter(|(_, c)| c.phase == Phase::Connecting)
            .map(|(c, _)| c)
            .collect();
        let any = !(conns.is_empty() && ports.is_empty() && connecting.is_empty());
        for p in conns {
            self.lose(p, Reason::ConnectionLost);
        }
        for l in ports {
            let ps = self.ports.get_mut(&l).expect("listed");
            ps.stopping = true;
            ps.tearing_down = true;
            let f = ps.factory;
            self.queue.push_back(Call::DoStop(f, Holder::Port(l)));
        }
        for c in connecting {
            self.fail_attempt(c, Reason::ConnectError);
        }
        any
    }
}

/// A protocol callback as a future that holds the protocol's borrow across
/// its awaits (see `prepare`) and meters the implementation's heap.
fn on_protocol<F>(proto: Rc<SharedProtocol>, m: HeapMeter, call: F) -> CallFuture
where
    F: for<'a> FnOnce(
            &'a mut Box<dyn Protocol>,
        ) -> Pin<Box<dyn Future<Output = CallbackResult> + 'a>>
        + 'static,
{
    #[allow(clippy::await_holding_refcell_ref)]
    Box::pin(async move {
        let mut g = proto.borrow_mut();
        Done::of(m.meter(call(&mut g)).await)
    })
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

fn holder_of_build(call: &Call) -> Option<Holder> {
    match call {
        Call::Build(holder, ..) => Some(*holder),
        _ => None,
    }
}

fn kind_of(call: &Call) -> EventKind {
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
fn target_of(s: &State, call: &Call) -> Target {
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
fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_owned()
    }
}

/// `run` blocks on a runtime of its own, which tokio cannot start inside
/// another one: say what to do instead, before tokio says only that.
#[track_caller]
fn refuse_nested_runtime(method: &str) {
    if tokio::runtime::Handle::try_current().is_ok() {
        panic!(
            "MockReactor::{method} was called inside a tokio runtime, where no runtime can \
             start: in async code (a #[tokio::test]) use \
             `MockReactor::run_script(script).await` on a runtime whose clock is paused \
             (#[tokio::test(start_paused = true)]), or call `{method}` from a plain #[test]"
        );
    }
}

/// A run moves tokio's clock by hand (`tokio::time::advance`), which tokio
/// allows only on a paused clock, and panics on deep inside the run
/// otherwise. Tokio does not say whether its clock is paused, but a paused
/// clock stands still until someone advances it: it is read twice, with a
/// microsecond of the wall clock between the reads (the wall is read only
/// to wait, never for the run), and a clock that moved is not paused.
fn require_paused_clock() {
    let before = Instant::now();
    let wall = std::time::Instant::now();
    while wall.elapsed() < Duration::from_micros(1) {
        std::hint::spin_loop();
    }
    if Instant::now() != before {
        panic!(
            "MockReactor::run_script needs a current-thread tokio runtime whose clock is \
             paused, with time enabled: #[tokio::test(start_paused = true)], or a runtime \
             built with .enable_time().start_paused(true) (MockReactor::runtime() is one); \
             this one's clock follows the wall"
        );
    }
}
