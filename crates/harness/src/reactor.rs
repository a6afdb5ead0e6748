//! The mock reactor: deterministic, single-threaded, on tokio's paused clock.
//!
//! A turn, as in Twisted, has three steps: deliver one batch of ready I/O
//! events, run the timers that are due (zero-delay ones included; timers
//! scheduled during this step wait for the next turn), then start the next
//! turn. What an action triggers is delivered right after the callback that
//! made it returns, before anything else.
//!
//! The files, by concept: the core every run shares is `delivery` (the
//! queue of calls, one callback at a time per object even when it awaits,
//! the frames that hold what actions trigger until their callback returns),
//! `completion` (what the reactor does when a callback returns, as
//! Twisted does), `state` and `objects` (what a run keeps), `ops`
//! (the handles' actions: recorded at once, never re-entering), `turns`
//! (the run loop), `teardown` and `finish` (the end of a run, its leak
//! checks). The trace is written by `recording` and judged as it is
//! written (`State::feed` in `world`). The source of events is the
//! script: `io` holds the world's ready I/O and the timers, `world`
//! what each world event does, `reach` whether each step reaches what it
//! names, and `budget` bounds a step's work. `dense` and `numbered` are the
//! tables, by id and by the script's numbers, and `ended` what a long run
//! lets go of. In a live run (`live`, the
//! seam `crate::live` describes) a backend's sockets are the source
//! instead, on the runtime's clock. `tasks` holds the futures the reactor
//! itself polls (the stream adapter's), at the top level, in both.

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
use crate::live::{Backend, Stopper, WireEvent, WireId};
use crate::run::{ConnStats, ScriptFailure};
use crate::run::{ImplError, ImplErrorKind, Run};
use crate::script::{Conn, Origin, Outcome, Script, Step, WorldEvent};
use crate::steps::Steps;

mod budget;
mod callee;
mod completion;
mod delivery;
mod dense;
mod ended;
mod few;
mod finish;
mod io;
mod live;
mod numbered;
mod objects;
mod ops;
mod reach;
mod recording;
mod state;
mod tasks;
mod teardown;
mod turns;
mod world;

pub use budget::StepBudget;
use budget::{Spent, StepName};
use callee::{Callee, ProtocolCall, Started};
pub(crate) use delivery::building_for;
use delivery::*;
use dense::Dense;
use ended::ConnectorToken;
use few::Few;
use io::*;
pub use live::Watch;
use numbered::Numbered;
use objects::*;
use reach::{ArmedFault, At, Pending};
use recording::Recording;
use state::*;
pub(crate) use tasks::spawn_task;
use tasks::{Current, Task, Wakes};

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
            spent: Spent::new(StepName::Fixed("the set-up")),
            exhausted: false,
            written_limit: Some(WRITTEN_LIMIT),
            weak_protocols: Vec::new(),
            prune_protocols_at: 64,
            weak_factories: Vec::new(),
            checker: Checker::new(profile),
            trace: Recording::new(),
            record_data: false,
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
            attempts: Numbered::default(),
            client_conns: Numbered::default(),
            server_conns: Numbered::default(),
            keep_ended: None,
            ended_conns: VecDeque::new(),
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
            backend: None,
            live_conns: 0,
            wires: BTreeMap::new(),
            wire_hosts: BTreeMap::new(),
            give_up: None,
        };
        let inner = Rc::new(Inner {
            state: RefCell::new(state),
            settling: std::cell::Cell::new(false),
            running: RefCell::new(Vec::new()),
            ops: RefCell::new(Weak::new()),
            tasks: RefCell::new(Vec::new()),
            next_task: std::cell::Cell::new(1),
            wakes: Arc::default(),
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

    /// Whether the trace's `data_received` and `write` records keep their
    /// bytes (the format's optional `data`, base64, with `data_cut` past
    /// 64 KiB), so that a golden trace changes when the content changes,
    /// not only when the count does. Off by default: traces stay small.
    ///
    /// ```
    /// use callorder::reference::LineClientFactory;
    /// use callorder::{Conn, MockReactor, Outcome, Script};
    /// use std::sync::Arc;
    ///
    /// let script = Script::new().resolve(1, Outcome::Accept).send(Conn::Client(1), b"hi\r\n").close(Conn::Client(1)).shutdown();
    /// let run = MockReactor::new().record_data(true).run(script, |reactor| {
    ///     reactor.connect_tcp("example.org:80", Arc::new(LineClientFactory::new(["hello"])), None);
    /// });
    /// run.assert_clean();
    /// let received = run.trace.iter().find(|r| r.step.event.kind().as_str() == "data_received").unwrap();
    /// assert_eq!(received.data.as_ref().unwrap().bytes(), b"hi\r\n");
    /// assert!(run.trace_jsonl().contains(r#""data":"aGkNCg==""#));
    /// ```
    #[must_use]
    pub fn record_data(self, on: bool) -> Self {
        self.inner.state.borrow_mut().record_data = on;
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

    /// Keeps the records of only the last `n` connections that ended, for a
    /// long run (a soak test, a benchmark) whose memory should follow its
    /// live objects rather than its length: an older ended connection is let
    /// go of with its state, what its peer read and its place in the
    /// numbered tables (one bit each is kept, whether it made a
    /// connection), and a connector that is done with (disconnected, owed
    /// nothing, no [`Connector`] handle of it alive) with it. Steps still
    /// number attempts and connections as before: one naming a connection
    /// let go fails, saying that it ended. [`Run::written`] and
    /// [`Run::connections`] list only the connections kept (those still
    /// open at the end, and the last `n` that ended), and an `expect` on a
    /// connection let go fails, since what its peer read is no longer known.
    /// By default every record is kept.
    ///
    /// A connection still open, or an attempt still waiting for the world,
    /// holds the numbered tables open behind it (a few bytes per attempt
    /// made since). Not let go yet: the small record each connection joined
    /// to a port of the same reactor keeps (about 100 bytes), and the
    /// reactor's record of each factory the implementation makes during the
    /// run (a factory per connection).
    ///
    /// ```
    /// use callorder::{Conn, MockReactor, Outcome, Script};
    /// # use callorder::reference::LineClientFactory;
    /// # use std::sync::Arc;
    /// let script = Script::new()
    ///     .resolve(1, Outcome::Accept)
    ///     .close(Conn::Client(1))
    ///     .send(Conn::Client(1), b"late")
    ///     .shutdown();
    /// let run = MockReactor::new().keep_ended(0).run(script, |reactor| {
    ///     reactor.connect_tcp("example.org:80", Arc::new(LineClientFactory::new(["hi"])), None);
    /// });
    /// assert!(run.connections.is_empty(), "let go at its end");
    /// assert!(run.script_failures[0].message.starts_with(
    ///     "connection client 1 has ended: its connection_lost came before this step, and the \
    ///      reactor let go of its record (MockReactor::keep_ended)"
    /// ));
    /// ```
    #[must_use]
    pub fn keep_ended(self, n: usize) -> Self {
        self.inner.state.borrow_mut().keep_ended = Some(n);
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
        self.run_steps_on(&MockReactor::runtime(), script.into(), setup)
    }

    /// [`run`](MockReactor::run) with steps made as the run reaches them
    /// ([`Steps`]), so that a script of any length runs in constant memory.
    ///
    /// # Panics
    ///
    /// As [`run`](MockReactor::run), inside a tokio runtime.
    #[track_caller]
    pub fn run_steps(self, steps: Steps, setup: impl FnOnce(&Reactor)) -> Run {
        refuse_nested_runtime("run_steps");
        self.run_steps_on(&MockReactor::runtime(), steps, setup)
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
        self.run_steps_on(rt, script.into(), setup)
    }

    /// [`run_steps`](MockReactor::run_steps) on a runtime from
    /// [`runtime`](MockReactor::runtime), reused across runs.
    ///
    /// # Panics
    ///
    /// As [`run`](MockReactor::run), inside a tokio runtime.
    #[track_caller]
    pub fn run_steps_on(
        self,
        rt: &tokio::runtime::Runtime,
        steps: Steps,
        setup: impl FnOnce(&Reactor),
    ) -> Run {
        refuse_nested_runtime("run_steps_on");
        rt.block_on(async move {
            let _current = Current::enter(&self.inner);
            self.inner.state.borrow_mut().start = Instant::now();
            self.inner.state.borrow_mut().set_now(Instant::now());
            // What the script's head sets holds for the set-up's actions too.
            let (head, steps) = self.apply_head(steps);
            self.inner.state.borrow_mut().in_setup = true;
            setup(&self.handle());
            self.inner.state.borrow_mut().in_setup = false;
            self.drive(head, steps).await
        })
    }

    /// Applies the batches at the head of the script that only set things
    /// up (read-chunk and window settings, faults), and returns how many
    /// there were and the rest.
    fn apply_head(&self, steps: Steps) -> (usize, HeadedSteps) {
        let setting = |step: &Step| {
            matches!(step, Step::Batch(events) if events.iter().all(|e| {
                matches!(
                    e,
                    WorldEvent::ReadChunks { .. }
                        | WorldEvent::Window { .. }
                        | WorldEvent::Fault { .. }
                )
            }))
        };
        let mut s = self.inner.state.borrow_mut();
        s.origin = steps.origin.clone();
        let events = steps.events;
        let mut steps = steps.into_iter().peekable();
        let mut head = 0;
        while let Some(Step::Batch(events)) = steps.next_if(setting) {
            for (event, e) in events.into_iter().enumerate() {
                s.world(e, At { step: head, event });
            }
            head += 1;
        }
        (head, HeadedSteps { steps, events })
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
        let (head, steps) = self.apply_head(script.into());
        self.drive(head, steps).await
    }

    /// Runs the steps of a script whose first `head` steps were applied.
    async fn drive(self, head: usize, steps: HeadedSteps) -> Run {
        let _current = Current::enter(&self.inner);
        let HeadedSteps { steps, events } = steps;
        if let Some(events) = events {
            // Room for the trace the script is likely to make (a few records
            // per world event), so the trace does not move as it grows;
            // pages the run never writes cost nothing.
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
                    if events.is_none() {
                        // Steps made as they are pulled may never end: the
                        // first one after the end says it all.
                        break;
                    }
                    continue;
                }
                break;
            }
            self.inner
                .state
                .borrow_mut()
                .begin_step(StepName::Script(index, reach::StepSummary::of(&step)));
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
}

/// The steps of a run after its head (the settings applied before the
/// set-up), and how many world events they hold, when known.
struct HeadedSteps {
    steps: std::iter::Peekable<Box<dyn Iterator<Item = Step>>>,
    events: Option<usize>,
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
