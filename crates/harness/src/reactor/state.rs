//! The reactor's state: everything a run keeps, and the records of actions.

use super::*;

/// An action's record: the event, how it went, and its address and timeout.
#[derive(Debug)]
pub(super) struct Emission {
    pub(super) event: Event,
    pub(super) result: Result<(), ActionError>,
    pub(super) addr: Option<Arc<str>>,
    pub(super) timeout: Option<f64>,
}

pub(crate) struct State {
    pub(super) checker: Checker,
    pub(super) trace: Recording,
    /// Whether the records of data_received and write keep their bytes
    /// (`MockReactor::record_data`).
    pub(super) record_data: bool,
    pub(super) violation: Option<callorder_checker::Violation>,
    pub(super) errors: Vec<ImplError>,
    pub(super) start: Instant,
    /// The virtual time now, read from tokio's paused clock after each wait
    /// (time moves only then), so recording an event need not read it.
    pub(super) now: Instant,
    /// `now - start` in seconds, the records' `t`: computed when the clock
    /// is read, not for each of the many records made at the same instant.
    pub(super) now_secs: f64,
    pub(super) rng: u64,
    pub(super) factories: Dense<FactoryId, FactorySt>,
    /// Factory id by the factory's address, for factories alive now.
    pub(super) factory_keys: BTreeMap<usize, FactoryId>,
    /// Factories the reactor let go of, dropped once its state is free.
    pub(super) released_factories: Vec<FactoryObj>,
    /// Factories no connector or port uses, kept while a `Connector` handle
    /// of theirs lives; looked at again as turns go by.
    pub(super) lingering: Vec<FactoryId>,
    /// Turns since `lingering` was last looked at.
    pub(super) turns_since_sweep: usize,
    pub(super) connectors: Dense<ConnectorId, ConnectorSt>,
    pub(super) ports: Dense<PortId, PortSt>,
    pub(super) conns: Dense<ProtocolId, ConnSt>,
    pub(super) attempts: Vec<ConnectorId>,
    /// The connection each outgoing attempt made, by attempt number - 1:
    /// attempts are numbered densely, and a script names connections by
    /// them at every step.
    pub(super) client_conns: Vec<Option<ProtocolId>>,
    /// The connection each peer that arrived on a port made, by arrival
    /// number - 1 (`None`: its build made no protocol).
    pub(super) server_conns: Vec<Option<ProtocolId>>,
    pub(super) listeners: BTreeMap<Address, PortId>,
    pub(super) joins: Vec<Join>,
    /// Attempt number -> join, for attempts to an address listened on here.
    pub(super) attempt_joins: BTreeMap<usize, usize>,

    pub(super) port_order: Vec<PortId>,
    pub(super) next_protocol: u64,
    /// Timers by (deadline, id), in that order: a short list whose new
    /// entries nearly always go at its end (deadlines and ids grow), so a
    /// sorted deque beats a tree for the one or two timers a turn has.
    pub(super) timers: VecDeque<((Instant, u64), TimerKind)>,
    /// The emptied list of the last due timers, kept for its capacity.
    pub(super) due_timers: Vec<TimerKind>,
    pub(super) next_timer: u64,
    pub(super) io_next: VecDeque<Io>,
    /// The emptied queue of the last batch, kept for its capacity.
    pub(super) io_spare: VecDeque<Io>,
    pub(super) queue: VecDeque<Call>,
    /// Emptied call lists (frames' `after`, a completion's own
    /// consequences), kept for their capacity.
    pub(super) spare_calls: Vec<Vec<Call>>,
    pub(super) busy: Few<Target>,
    /// Frames of callbacks being polled, innermost last.
    pub(super) frames: Vec<Frame>,
    /// Callbacks that returned Pending: their frames.
    pub(super) parked: BTreeMap<u64, Frame>,
    /// The callback seq the last record ran inside (or was).
    pub(super) last_context: Option<u64>,
    pub(super) shutting_down: bool,
    /// Whether deliveries go through the checker (off only to measure it).
    pub(super) checking: bool,
    /// An I/O batch was delivered since the timers last ran.
    pub(super) after_io: bool,
    /// The implementation's share of the heap.
    pub(super) heap: HeapMeter,
    pub(super) heap_checkpoints: Vec<i64>,
    /// The local address of client connections.
    pub(super) client_host: Address,
    /// Armed faults (`WorldEvent::Fault`), in the order they were armed.
    pub(super) faults: Vec<ArmedFault>,
    /// The seqs of the callbacks a fault made fail.
    pub(super) injected: Vec<u64>,
    /// The test's set-up is running: factories seen now are the test's.
    pub(super) in_setup: bool,
    /// Settings (read chunks, windows) for connections not made yet, in
    /// the order the script made them.
    pub(super) pending: Vec<Pending>,
    /// Steps that reach nothing are skipped and counted, not failures.
    pub(super) lenient: bool,
    /// Failed steps of the script.
    pub(super) script_failures: Vec<ScriptFailure>,
    /// Skipped steps of a lenient run.
    pub(super) skipped: Vec<ScriptFailure>,
    /// Where the script's steps are in their file, if it was parsed.
    pub(super) origin: Option<Arc<Origin>>,
    /// The step budget, and what the current step has spent of it.
    pub(super) budget: StepBudget,
    pub(super) spent: Spent,
    /// The budget ran out: the run stopped.
    pub(super) exhausted: bool,
    /// At most this many written bytes are kept per script peer.
    pub(super) written_limit: Option<usize>,
    /// Weak handles to every protocol built, with its build_protocol seq.
    /// Those already freed are pruned now and then (see `new_conn`).
    pub(super) weak_protocols: Vec<(ProtocolId, u64, Weak<SharedProtocol>)>,
    /// The length of `weak_protocols` at which it is pruned next.
    pub(super) prune_protocols_at: usize,
    /// Weak handles to factories the implementation made during the run.
    pub(super) weak_factories: Vec<(FactoryId, u64, std::sync::Weak<dyn Factory>)>,
    pub(super) ended: bool,
    /// The source of events of a live run (real sockets), if this is one.
    pub(super) backend: Option<Rc<dyn Backend>>,
    /// Connections not lost yet.
    pub(super) live_conns: usize,
    /// A live run's connections, by the backend's id.
    pub(super) wires: BTreeMap<WireId, ProtocolId>,
    /// A live run's local addresses, by connection.
    pub(super) wire_hosts: BTreeMap<WireId, Address>,
    /// When a live run gives up waiting: a callback still running then is
    /// a stall.
    pub(super) give_up: Option<Instant>,
}

pub(super) struct Inner {
    pub(super) state: RefCell<State>,
    /// The set-up's pending deliveries are being made (see `settle_now`).
    pub(super) settling: std::cell::Cell<bool>,
    pub(super) running: RefCell<Vec<Running>>,
    pub(super) ops: RefCell<Weak<Ops>>,
    /// Reactor-owned tasks (see `tasks`), by id.
    pub(super) tasks: RefCell<Vec<Task>>,
    pub(super) next_task: std::cell::Cell<u64>,
    pub(super) wakes: Arc<Wakes>,
}

/// The handles' link to the reactor; weak, so handles kept by factories do
/// not keep the reactor alive.
pub(super) struct Ops {
    pub(super) inner: Weak<Inner>,
}
