//! The one-call fuzzer: a builder over a set-up, proptest's runner, and the
//! checks of [`crate::checks`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use proptest::test_runner::{
    Config, FileFailurePersistence, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner,
};

use callorder_checker::Profile;
use callorder_core::{ClientFactory, Factory, Reactor};
use callorder_harness::{
    counting_allocator_installed, parse_script, print_script, CheckedFactory, Conn, InnerCheck,
    InnerRun, MockReactor, Run, Script, ScriptFile, Step, WorldEvent,
};
use callorder_trace::Record;

use crate::checks::{
    basic_findings, closes, inner_boundary_findings, reconnect_policy_findings, retry_storms,
    writes_after_close, CheckKind, Finding, ReconnectPolicy,
};
use crate::determinism;
use crate::progress::Progress;
use crate::states::{self, Reach};
use crate::strategy::{self, Case, ScriptConfig};

/// The environment variable that overrides the seed of a campaign: a whole
/// number, or `random` for a fresh one (printed on failure).
pub const SEED_ENV: &str = "CALLORDER_FUZZ_SEED";
/// The environment variable that overrides the number of cases.
pub const CASES_ENV: &str = "CALLORDER_FUZZ_CASES";
/// The number of cases by default: small enough for CI.
pub const DEFAULT_CASES: u32 = 256;
/// The connection attempts of one connector allowed with no time passing.
pub const DEFAULT_RETRY_LIMIT: usize = 10;
/// Where client set-ups connect, and server set-ups listen.
pub const ADDRESS: &str = "127.0.0.1:8000";
/// The connect timeout of client set-ups by default.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The comment that records a client case's set-up in a printed script.
const SETUP_TAG: &str = "# callorder-fuzz: connectors";
/// The same, for a server case: how many ports it listens on.
const PORTS_TAG: &str = "# callorder-fuzz: ports";
/// The most ports a server set-up listens on by default.
pub const DEFAULT_MAX_PORTS: usize = 2;

/// How a run treats a step of its script that reaches nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Steps {
    /// Skipped and counted: generated scripts cannot know which attempts
    /// the implementation makes and the world accepts.
    Lenient,
    /// A failure of the script, as in a test: for scripts a person gives.
    Strict,
}

/// A user invariant over the trace and the bytes written per connection.
type Invariant = Rc<dyn Fn(&[Record], &[(Conn, Vec<u8>)]) -> Result<(), String>>;

/// Sets up a run on the reactor, given the case's set-up.
type Setup = Rc<dyn Fn(&Reactor, &SetUp)>;

/// The inner checks of the wrappers the set-up of the current run made, one
/// per wrapper (wrapper campaigns only).
type InnerChecks = Rc<RefCell<Vec<InnerCheck>>>;

/// What a set-up closure is told about the case: for client set-ups, how
/// many connectors to make and with what timeout; for server set-ups, how
/// many ports to listen on; and whether they share one factory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetUp {
    /// How many connectors to make (from 1; generated, and shrunk).
    pub connectors: usize,
    /// How many ports to listen on (from 1; generated, and shrunk, for
    /// server set-ups; 1 for the others), at [`port_address`].
    pub ports: usize,
    /// Whether the connectors (or ports) share one factory (the default)
    /// or each gets its own ([`Fuzz::separate_factories`]).
    pub shared_factory: bool,
    /// The connect timeout ([`Fuzz::connect_timeout`]).
    pub timeout: Option<Duration>,
}

/// What the set-up drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Client,
    Server,
    Custom,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Client => "client",
            Kind::Server => "server",
            Kind::Custom => "custom",
        }
    }
}

/// A fuzzing campaign over one implementation: build it with
/// [`fuzz_client`](crate::fuzz_client), [`fuzz_server`](crate::fuzz_server),
/// [`fuzz_wrapper_server`](crate::fuzz_wrapper_server),
/// [`fuzz_wrapper_client`](crate::fuzz_wrapper_client) or
/// [`fuzz_with`](crate::fuzz_with), tune it, then [`check`](Fuzz::check).
///
/// Every case runs a generated script under a fresh [`MockReactor`] and
/// applies the checks on by default (see the crate documentation); proptest
/// shrinks a failing case to a minimal one.
#[must_use]
pub struct Fuzz {
    kind: Kind,
    setup: Setup,
    inner: Option<InnerChecks>,
    name: Option<String>,
    cases: u32,
    seed: u64,
    profile: Profile,
    config: ScriptConfig,
    timeout: Option<Duration>,
    chunking: bool,
    write_after_close: bool,
    retry_limit: Option<usize>,
    determinism: bool,
    determinism_across: bool,
    shared_factory: bool,
    heap_limit: Option<i64>,
    reconnect: Option<ReconnectPolicy>,
    reconnect_jitter: f64,
    invariants: Vec<(String, Invariant)>,
    persistence: Option<FileFailurePersistence>,
    /// Scripts replayed before the campaign ([`Fuzz::regression_scripts`]).
    regression_dir: Option<PathBuf>,
    source_file: &'static str,
    max_shrink_iters: u32,
}

impl fmt::Debug for Fuzz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fuzz")
            .field("kind", &self.kind)
            .field("wrapper", &self.inner.is_some())
            .field("name", &self.name)
            .field("cases", &self.cases)
            .field("seed", &self.seed)
            .field("profile", &self.profile)
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("chunking", &self.chunking)
            .field("write_after_close", &self.write_after_close)
            .field("retry_limit", &self.retry_limit)
            .field("determinism", &self.determinism)
            .field("determinism_across", &self.determinism_across)
            .field("shared_factory", &self.shared_factory)
            .field("heap_limit", &self.heap_limit)
            .field("reconnect", &self.reconnect)
            .field("invariants", &self.invariants.len())
            .field("persistence", &self.persistence)
            .field("regression_dir", &self.regression_dir)
            .finish_non_exhaustive()
    }
}

impl Fuzz {
    fn new(kind: Kind, setup: Setup, source_file: &'static str) -> Self {
        let config = ScriptConfig {
            clients: kind != Kind::Server,
            servers: kind != Kind::Client,
            // For a server set-up, a case's "connectors" are its ports.
            max_connectors: match kind {
                Kind::Client => 2,
                Kind::Server => DEFAULT_MAX_PORTS,
                Kind::Custom => 1,
            },
            max_ports: if kind == Kind::Server {
                DEFAULT_MAX_PORTS
            } else {
                1
            },
            ..ScriptConfig::default()
        };
        Fuzz {
            kind,
            setup,
            inner: None,
            name: None,
            cases: DEFAULT_CASES,
            seed: 0,
            profile: Profile::Strict,
            config: config.around(CONNECT_TIMEOUT),
            timeout: Some(CONNECT_TIMEOUT),
            chunking: true,
            write_after_close: true,
            retry_limit: Some(DEFAULT_RETRY_LIMIT),
            determinism: true,
            determinism_across: false,
            shared_factory: true,
            heap_limit: None,
            reconnect: None,
            reconnect_jitter: 0.0,
            invariants: Vec::new(),
            persistence: Some(FileFailurePersistence::WithSource("proptest-regressions")),
            regression_dir: None,
            source_file,
            max_shrink_iters: 4096,
        }
    }

    pub(crate) fn client<F: ClientFactory>(
        make: impl Fn() -> Arc<F> + 'static,
        source: &'static str,
    ) -> Self {
        let setup: Setup = Rc::new(move |reactor: &Reactor, set_up: &SetUp| {
            let mut shared: Option<Arc<dyn ClientFactory>> = None;
            for _ in 0..set_up.connectors.max(1) {
                let factory: Arc<dyn ClientFactory> = match &shared {
                    Some(f) if set_up.shared_factory => f.clone(),
                    _ => make(),
                };
                shared.get_or_insert_with(|| factory.clone());
                reactor.connect_tcp(ADDRESS, factory, set_up.timeout);
            }
        });
        Fuzz::new(Kind::Client, setup, source)
    }

    pub(crate) fn server<F: Factory>(
        make: impl Fn() -> Arc<F> + 'static,
        source: &'static str,
    ) -> Self {
        let setup: Setup = Rc::new(move |reactor: &Reactor, set_up: &SetUp| {
            let mut shared: Option<Arc<dyn Factory>> = None;
            for port in 1..=set_up.ports.max(1) {
                let factory: Arc<dyn Factory> = match &shared {
                    Some(f) if set_up.shared_factory => f.clone(),
                    _ => make(),
                };
                shared.get_or_insert_with(|| factory.clone());
                // A fresh reactor listens on none of these: this cannot fail.
                let _ = reactor.listen_tcp(port_address(port).as_str(), factory);
            }
        });
        Fuzz::new(Kind::Server, setup, source)
    }

    pub(crate) fn wrapper_client<I: ClientFactory, W: ClientFactory>(
        wrap: impl Fn(CheckedFactory<I>) -> W + 'static,
        inner: impl Fn() -> I + 'static,
        source: &'static str,
    ) -> Self {
        let checks = InnerChecks::default();
        let made = checks.clone();
        let setup: Setup = Rc::new(move |reactor: &Reactor, set_up: &SetUp| {
            let mut shared: Option<Arc<dyn ClientFactory>> = None;
            for _ in 0..set_up.connectors.max(1) {
                let factory: Arc<dyn ClientFactory> = match &shared {
                    Some(f) if set_up.shared_factory => f.clone(),
                    _ => {
                        let (checked, check) = CheckedFactory::new(inner());
                        made.borrow_mut().push(check);
                        Arc::new(wrap(checked))
                    }
                };
                shared.get_or_insert_with(|| factory.clone());
                reactor.connect_tcp(ADDRESS, factory, set_up.timeout);
            }
        });
        let mut fuzz = Fuzz::new(Kind::Client, setup, source);
        fuzz.inner = Some(checks);
        fuzz
    }

    pub(crate) fn wrapper_server<I: Factory, W: Factory>(
        wrap: impl Fn(CheckedFactory<I>) -> W + 'static,
        inner: impl Fn() -> I + 'static,
        source: &'static str,
    ) -> Self {
        let checks = InnerChecks::default();
        let made = checks.clone();
        let setup: Setup = Rc::new(move |reactor: &Reactor, set_up: &SetUp| {
            let mut shared: Option<Arc<dyn Factory>> = None;
            for port in 1..=set_up.ports.max(1) {
                let factory: Arc<dyn Factory> = match &shared {
                    Some(f) if set_up.shared_factory => f.clone(),
                    _ => {
                        let (checked, check) = CheckedFactory::new(inner());
                        made.borrow_mut().push(check);
                        Arc::new(wrap(checked))
                    }
                };
                shared.get_or_insert_with(|| factory.clone());
                // A fresh reactor listens on none of these: this cannot fail.
                let _ = reactor.listen_tcp(port_address(port).as_str(), factory);
            }
        });
        let mut fuzz = Fuzz::new(Kind::Server, setup, source);
        fuzz.inner = Some(checks);
        fuzz
    }

    pub(crate) fn custom(setup: impl Fn(&Reactor, &SetUp) + 'static, source: &'static str) -> Self {
        Fuzz::new(Kind::Custom, Rc::new(setup), source)
    }

    /// How many passing cases make a pass (default [`DEFAULT_CASES`]);
    /// [`CASES_ENV`] overrides it.
    pub fn cases(mut self, n: u32) -> Self {
        self.cases = n;
        self
    }

    /// The campaign's seed (default 0): the same seed generates the same
    /// cases. [`SEED_ENV`] overrides it.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The checker's profile (default strict).
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The name printed as the script's `implementation` header.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Gives each connector (client set-ups) or port (server set-ups) a
    /// factory of its own from `make`, instead of one factory shared by all
    /// of them (the default: a factory serves many connections, and its
    /// bugs show only when it does: a start count, a registry of its
    /// connections, a shared buffer).
    pub fn separate_factories(mut self) -> Self {
        self.shared_factory = false;
        self
    }

    /// The most connectors a client set-up makes per case (default 2, at
    /// least 1; each case makes from 1 to this many, and shrinking lowers
    /// it).
    pub fn max_connectors(mut self, n: usize) -> Self {
        if self.kind != Kind::Server {
            self.config.max_connectors = n.max(1);
        }
        self
    }

    /// The most ports a server set-up listens on per case (default
    /// [`DEFAULT_MAX_PORTS`], at least 1; each case listens on from 1 to
    /// this many, at [`port_address`], and shrinking lowers it). Peers
    /// connect to, and the application stops, any of them.
    pub fn max_ports(mut self, n: usize) -> Self {
        if self.kind == Kind::Server {
            self.config.max_ports = n.max(1);
            self.config.max_connectors = n.max(1);
        }
        self
    }

    /// The connect timeout of client set-ups (default 30 s; `None`: never);
    /// time advances are generated around it.
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        if let Some(t) = timeout {
            self.config = self.config.around(t);
        }
        self
    }

    /// Also generates time advances around `delay` (a retry delay, an idle
    /// timeout of the implementation).
    pub fn delay_around(mut self, delay: Duration) -> Self {
        self.config = self.config.around(delay);
        self
    }

    /// The bytes peers send (default: [`strategy::payload`]).
    pub fn payloads(
        mut self,
        payloads: impl proptest::strategy::Strategy<Value = Vec<u8>> + 'static,
    ) -> Self {
        self.config.payloads = Some(payloads.boxed());
        self
    }

    /// Changes the script generator's settings.
    pub fn script_config(mut self, f: impl FnOnce(&mut ScriptConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Turns the chunking-invariance check off (for protocols whose output
    /// rightly depends on how reads are cut).
    pub fn no_chunking_invariance(mut self) -> Self {
        self.chunking = false;
        self
    }

    /// Turns the write-after-abort/connection_lost check off.
    pub fn allow_write_after_close(mut self) -> Self {
        self.write_after_close = false;
        self
    }

    /// The connection attempts one connector may make with no time passing
    /// (default [`DEFAULT_RETRY_LIMIT`]; `None`: no limit).
    pub fn retry_limit(mut self, limit: Option<usize>) -> Self {
        self.retry_limit = limit;
        self
    }

    /// Turns the determinism self-check off (it doubles the runs).
    pub fn no_determinism_check(mut self) -> Self {
        self.determinism = false;
        self
    }

    /// Also holds the determinism self-check to the order *between*
    /// objects (off by default). By default a case run twice must give each
    /// object (connector, port, factory, protocol) the same history and
    /// each connection the same bytes, but connections may interleave
    /// otherwise: correct code that relays to its clients in a `HashMap`'s
    /// iteration order (a random order per map) writes to them in another
    /// order each run. With this, the whole trace must be the same, event
    /// for event: for code that promises a stable order across connections.
    pub fn determinism_across_connections(mut self) -> Self {
        self.determinism = true;
        self.determinism_across = true;
        self
    }

    /// Fails a case whose implementation holds more than `bytes` more heap
    /// just before shutdown than at its start. Needs the counting allocator
    /// (see `callorder_harness::leak`); without it the check is off, and the
    /// [`Report`] says so.
    pub fn heap_limit(mut self, bytes: i64) -> Self {
        self.heap_limit = Some(bytes);
        self
    }

    /// Turns the reconnect-policy check on (off by default): every delay
    /// between a connector's outcome (`client_connection_failed` or
    /// `client_connection_lost`) and its next `connect`, on the virtual
    /// clock, must follow exponential back-off from `initial` (the first
    /// retry), times `factor` each retry, at most `cap`; with
    /// `reset_after_success`, a connection made resets it to `initial`.
    /// Exact within 1 µs unless [`reconnect_jitter`](Fuzz::reconnect_jitter)
    /// allows more. Time advances around `initial` are generated. See
    /// [`ReconnectPolicy`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use callorder::fuzz_client;
    /// use callorder::reference::{Echo, ReconnectingClientFactory, RetryPolicy};
    ///
    /// fuzz_client(|| {
    ///     ReconnectingClientFactory::new(|_| Box::new(Echo::new()))
    ///         .with_policy(RetryPolicy::default().with_jitter(0.0))
    ///         .shared()
    /// })
    /// // Its delay is the factory's: one connector each.
    /// .separate_factories()
    /// .reconnect_policy(Duration::from_secs(1), std::f64::consts::E, Duration::from_secs(3600), true)
    /// .cases(16)
    /// .regressions(None)
    /// .check();
    /// ```
    pub fn reconnect_policy(
        mut self,
        initial: Duration,
        factor: f64,
        cap: Duration,
        reset_after_success: bool,
    ) -> Self {
        self.reconnect = Some(ReconnectPolicy::new(
            initial,
            factor,
            cap,
            reset_after_success,
        ));
        self.config = self.config.around(initial);
        // Retries show only as time passes.
        self.config.advance_weight = self.config.advance_weight.max(6);
        self
    }

    /// The reconnect-policy check's tolerance, relative to each expected
    /// delay (default 0: jitter-free); see [`ReconnectPolicy::jitter`].
    pub fn reconnect_jitter(mut self, jitter: f64) -> Self {
        self.reconnect_jitter = jitter;
        self
    }

    /// Adds a check of your own over the trace and the bytes written on each
    /// connection whose peer is the script; an `Err` fails the case.
    pub fn invariant(
        mut self,
        name: impl Into<String>,
        check: impl Fn(&[Record], &[(Conn, Vec<u8>)]) -> Result<(), String> + 'static,
    ) -> Self {
        self.invariants.push((name.into(), Rc::new(check)));
        self
    }

    /// Where proptest keeps the seeds of failing cases, replayed first on
    /// the next run (default: `WithSource("proptest-regressions")`, a file
    /// next to the test's source; `None`: nowhere).
    pub fn regressions(mut self, persistence: Option<FileFailurePersistence>) -> Self {
        self.persistence = persistence;
        self
    }

    /// The most shrinking steps (default 4096).
    pub fn max_shrink_iters(mut self, n: u32) -> Self {
        self.max_shrink_iters = n;
        self
    }

    fn heap_on(&self) -> bool {
        self.heap_limit.is_some() && counting_allocator_installed()
    }

    /// The seed and case count after the environment had its say.
    fn effective(&self) -> Result<(u64, u32), String> {
        effective(self.seed, self.cases)
    }

    /// Runs the campaign and panics with the [`Failure`] if a case fails:
    /// for `#[test]`.
    #[track_caller]
    pub fn check(self) -> Report {
        match self.run() {
            Ok(report) => report,
            Err(failure) => panic!("{failure}"),
        }
    }

    /// Runs the campaign: the report, or the minimal failing case.
    ///
    /// # Panics
    ///
    /// If [`SEED_ENV`] or [`CASES_ENV`] is set to something other than a
    /// whole number (or `random`, for the seed).
    ///
    /// # Errors
    ///
    /// The [`Failure`] of the minimal failing case proptest shrank to.
    pub fn run(self) -> Result<Report, Box<Failure>> {
        // A malformed variable is a mistake of whoever set it: say so loudly.
        let range =
            crate::seeds::range_from_env().unwrap_or_else(|e| panic!("callorder-fuzz: {e}"));
        let mut notes = self.notes();
        let regressions = self.replay_regressions(&mut notes)?;
        let (seed, cases, seed_range) = match range {
            Some(range) => (
                range.start,
                u32::try_from(range.end - range.start).unwrap_or(u32::MAX),
                Some(range),
            ),
            None => {
                let (seed, cases) = self
                    .effective()
                    .unwrap_or_else(|e| panic!("callorder-fuzz: {e}"));
                (seed, cases, None)
            }
        };
        let progress = RefCell::new(Progress::new(self.label(), u64::from(cases)));
        match &seed_range {
            Some(range) => {
                for seed in range.clone() {
                    self.run_seed(seed, 1, &progress)?;
                }
            }
            None => self.run_seed(seed, cases, &progress)?,
        }
        let elapsed = progress.borrow().elapsed();
        let report = Report {
            cases,
            seed,
            seed_range,
            notes,
            checks: self.checks(),
            regressions,
            elapsed,
            name: self.label(),
        };
        // Captured by the test harness: shown with --nocapture, on a pass
        // too.
        eprintln!("{report}");
        Ok(report)
    }

    /// What the campaign is called in progress and summaries: its `name`,
    /// or the kind of set-up.
    fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{} set-up", self.kind.as_str()))
    }

    /// The checks that run on every case, by name (those off are in the
    /// notes).
    fn checks(&self) -> Vec<String> {
        let mut out = vec![
            format!("order ({} profile)", self.profile),
            "no panic".to_owned(),
            "no implementation error".to_owned(),
            "no leak".to_owned(),
        ];
        if self.heap_on() {
            out.push("heap growth".to_owned());
        }
        if self.chunking {
            out.push("chunking invariance".to_owned());
        }
        if self.write_after_close {
            out.push("write after close".to_owned());
        }
        if let Some(limit) = self.retry_limit {
            out.push(format!("retry storm (limit {limit})"));
        }
        if self.determinism {
            out.push(if self.determinism_across {
                "determinism (across connections)".to_owned()
            } else {
                "determinism (per object)".to_owned()
            });
        }
        if self.reconnect.is_some() {
            out.push("reconnect policy".to_owned());
        }
        if self.inner.is_some() {
            out.push("inner boundary".to_owned());
        }
        out.extend(
            self.invariants
                .iter()
                .map(|(name, _)| format!("invariant {name:?}")),
        );
        out
    }

    /// Replays the scripts of [`Fuzz::regression_scripts`], in file name
    /// order; how many, or the failure of the first that fails.
    fn replay_regressions(&self, notes: &mut Vec<String>) -> Result<usize, Box<Failure>> {
        let Some(dir) = &self.regression_dir else {
            return Ok(0);
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                notes.push(format!(
                    "no regression scripts replayed: {} cannot be read ({e})",
                    dir.display()
                ));
                return Ok(0);
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "script"))
            .collect();
        files.sort();
        for file in &files {
            self.replay_file(file)?;
        }
        Ok(files.len())
    }

    /// The campaign of `cases` cases from `seed`.
    fn run_seed(
        &self,
        seed: u64,
        cases: u32,
        progress: &RefCell<Progress>,
    ) -> Result<(), Box<Failure>> {
        let mut runner = runner_for(
            seed,
            Config {
                cases,
                max_shrink_iters: self.max_shrink_iters,
                ..campaign_config(self.persistence, self.source_file)
            },
        );
        let strategy = strategy::case(&self.config);
        // Cases run until the first failure (shrinking runs more).
        let (runs, found_after) = (Cell::new(0u32), Cell::new(None));
        let outcome = runner.run(&strategy, |case| {
            runs.set(runs.get() + 1);
            if found_after.get().is_none() {
                progress.borrow_mut().case();
            }
            let script = self.with_heap_checkpoints(case.script());
            match self.check_script(&script, case.seed, case.connectors, seed, Steps::Lenient) {
                Ok(()) => Ok(()),
                Err(f) => {
                    if found_after.get().is_none() {
                        found_after.set(Some(runs.get()));
                    }
                    Err(TestCaseError::fail(f.finding.to_string()))
                }
            }
        });
        let found_after = found_after.get().unwrap_or(0);
        progress.borrow_mut().finish();
        match outcome {
            Ok(()) => Ok(()),
            Err(TestError::Fail(reason, case)) => {
                let script = self.with_heap_checkpoints(case.script());
                match self.check_script(&script, case.seed, case.connectors, seed, Steps::Lenient) {
                    Err(failure) => {
                        let (case, failure) = self.minimize(case, failure, seed);
                        let mut failure = self.without_skipped(&case, failure, seed);
                        failure.found_after = found_after;
                        Err(failure)
                    }
                    Ok(()) => {
                        // The evidence: this very script failed, then
                        // passed. Shown, with what failed.
                        let finding = Finding {
                            check: CheckKind::Determinism,
                            message: format!(
                                "this script failed a check under proptest ({reason}), then passed \
                                 every check when run again with the same seed: its outcome depends \
                                 on something besides the script and the seed"
                            ),
                            seq: None,
                        };
                        let mut failure = self.failure(
                            finding,
                            &script,
                            case.seed,
                            case.connectors,
                            None,
                            None,
                            seed,
                        );
                        failure.found_after = found_after;
                        Err(Box::new(failure))
                    }
                }
            }
            Err(TestError::Abort(why)) => Err(Box::new(
                self.failure_without_script(format!("proptest gave up: {why}"), seed),
            )),
        }
    }

    /// Greedy simplification after proptest's shrinking: takes any
    /// [`Case::simplifications`] that still fails the same check, until
    /// none does.
    fn minimize(
        &self,
        mut case: Case,
        mut failure: Box<Failure>,
        seed: u64,
    ) -> (Case, Box<Failure>) {
        // Bounded: each accepted step makes the case strictly simpler.
        for _ in 0..1000 {
            let simpler = case.simplifications().into_iter().find_map(|candidate| {
                let script = self.with_heap_checkpoints(candidate.script());
                let connectors = candidate.connectors;
                match self.check_script(&script, candidate.seed, connectors, seed, Steps::Lenient) {
                    Err(f) if f.finding.check == failure.finding.check => Some((candidate, f)),
                    _ => None,
                }
            });
            match simpler {
                Some((c, f)) => (case, failure) = (c, f),
                None => break,
            }
        }
        (case, failure)
    }

    /// The last pass of shrinking: the steps of the minimal script that
    /// reached nothing in its lenient run are removed, so that the script
    /// printed for a person runs under the strict default as it ran here
    /// (a skipped step changes nothing, so the run and its finding stay).
    /// Kept only if the same check still fails.
    fn without_skipped(&self, case: &Case, mut failure: Box<Failure>, seed: u64) -> Box<Failure> {
        let mut script = failure.script.script.clone();
        // A removed step can leave another one with nothing: a few rounds.
        for _ in 0..4 {
            let Ok((run, _)) =
                self.execute(script.clone(), case.seed, case.connectors, Steps::Lenient)
            else {
                break;
            };
            if run.skipped.is_empty() {
                break;
            }
            let pruned = script.without(&run.skipped);
            match self.check_script(&pruned, case.seed, case.connectors, seed, Steps::Lenient) {
                Err(f) if f.finding.check == failure.finding.check => {
                    script = pruned;
                    failure = f;
                }
                _ => break,
            }
        }
        failure
    }

    /// Runs the campaign's first `cases` cases (from its seed, as
    /// [`run`](Fuzz::run) generates them) once each, with no check and no
    /// shrinking, and says which case first reached each state of the spec
    /// (`docs/spec.md`, section States; [`states::reached`](crate::states::reached)):
    /// to see what a campaign exercises, and how soon.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use callorder::reference::EchoFactory;
    ///
    /// let reach = callorder::fuzz_server(|| Arc::new(EchoFactory::new())).reach(64);
    /// assert_eq!(reach.cases, 64);
    /// // The first case with a peer connecting made a protocol.
    /// assert!(reach.first["protocol: made"] <= 3);
    /// println!("{reach}"); // one line per state, slowest first
    /// ```
    pub fn reach(&self, cases: u32) -> Reach {
        let mut runner = runner_for(
            self.seed,
            Config {
                cases,
                ..campaign_config(None, self.source_file)
            },
        );
        let strategy = strategy::case(&self.config);
        let (reach, n) = (RefCell::new(Reach::default()), Cell::new(0u32));
        // Every case passes: nothing to shrink, and every case runs.
        let _ = runner.run(&strategy, |case| {
            n.set(n.get() + 1);
            let script = self.with_heap_checkpoints(case.script());
            if let Ok((run, _)) = self.execute(script, case.seed, case.connectors, Steps::Lenient) {
                reach.borrow_mut().add(n.get(), states::reached(&run.trace));
            }
            Ok(())
        });
        reach.into_inner()
    }

    /// Runs the checks on one script (as printed in a [`Failure`], with its
    /// `seed` line and set-up comment): to replay a failure, or to keep a
    /// found script as a regression test. The script runs strictly, as in a
    /// test: a step that reaches nothing is a failure of the
    /// [`CheckKind::Script`] check, reported before any other (a printed
    /// minimal script has none: the shrinker removes them).
    ///
    /// # Errors
    ///
    /// The [`Failure`], if a check fails; a script that does not parse is
    /// one too.
    pub fn replay(&self, text: &str) -> Result<(), Box<Failure>> {
        self.replay_named(text, "replayed.script")
    }

    /// [`replay`](Fuzz::replay) of a script file: a regression kept in the
    /// test's crate (a relative path is from the directory `cargo test`
    /// runs in, the crate's root). A file that cannot be read is a failure
    /// of the [`CheckKind::Script`] check naming it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use callorder::reference::EchoFactory;
    ///
    /// let dir = std::env::temp_dir().join("callorder-doc-replay-file");
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let file = dir.join("echo.script");
    /// std::fs::write(&file, "accept 1 from 10.0.0.1:5000\nsend server 1 \"hi\"\nshutdown\n").unwrap();
    /// let fuzz = callorder::fuzz_server(|| Arc::new(EchoFactory::new()));
    /// assert!(fuzz.replay_file(&file).is_ok());
    /// let missing = fuzz.replay_file(dir.join("missing.script")).unwrap_err();
    /// assert!(missing.finding.message.contains("missing.script"));
    /// ```
    ///
    /// # Errors
    ///
    /// The [`Failure`], if a check fails or the file cannot be read.
    pub fn replay_file(&self, path: impl AsRef<Path>) -> Result<(), Box<Failure>> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            let mut failure = self.failure_without_script(
                format!(
                    "the regression script {} cannot be read: {e}",
                    path.display()
                ),
                0,
            );
            failure.finding.check = CheckKind::Script;
            Box::new(failure)
        })?;
        let mut result = self.replay_named(&text, &path.display().to_string());
        if let Err(failure) = &mut result {
            failure.regression = Some(path.to_path_buf());
        }
        result
    }

    /// Before its own cases, a campaign replays every `*.script` file in
    /// `dir` (in name order, strictly, as [`replay_file`](Fuzz::replay_file)
    /// does): the shrunk scripts of past failures, kept as regressions in
    /// the test's crate, as a [`Failure`]'s message says. A directory that
    /// cannot be read replays nothing, and the [`Report`] notes it.
    pub fn regression_scripts(mut self, dir: impl Into<PathBuf>) -> Self {
        self.regression_dir = Some(dir.into());
        self
    }

    /// [`replay`](Fuzz::replay), with `file` naming the script in errors.
    fn replay_named(&self, text: &str, file: &str) -> Result<(), Box<Failure>> {
        let file = parse_script(text, file).map_err(|e| {
            Box::new(self.failure_without_script(format!("the script does not parse: {e}"), 0))
        })?;
        let connectors = text
            .lines()
            .find_map(|l| {
                let l = l.trim();
                l.strip_prefix(SETUP_TAG)
                    .or_else(|| l.strip_prefix(PORTS_TAG))
            })
            .and_then(|rest| rest.trim().parse().ok())
            .unwrap_or(1);
        self.check_script(
            &file.script,
            file.seed.unwrap_or(0),
            connectors,
            0,
            Steps::Strict,
        )
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        match (self.heap_limit, counting_allocator_installed()) {
            (None, _) => notes.push("heap-growth check OFF: no heap_limit set".to_owned()),
            (Some(_), false) => notes.push(
                "heap-growth check OFF: the counting allocator is not installed \
                 (see callorder_harness::leak)"
                    .to_owned(),
            ),
            (Some(limit), true) => notes.push(format!("heap-growth check on: limit {limit} bytes")),
        }
        if !self.chunking {
            notes.push("chunking-invariance check OFF".to_owned());
        }
        if !self.write_after_close {
            notes.push("write-after-close check OFF".to_owned());
        }
        if self.retry_limit.is_none() {
            notes.push("retry-storm check OFF".to_owned());
        }
        if !self.determinism {
            notes.push("determinism self-check OFF".to_owned());
        }
        notes
    }

    fn with_heap_checkpoints(&self, script: Script) -> Script {
        if !self.heap_on() {
            return script;
        }
        let mut out = Script::new().checkpoint();
        for step in script.steps() {
            if *step == Step::Shutdown {
                out = out.checkpoint();
            }
            out = out.step(step.clone());
        }
        out
    }

    /// Runs `script` once, with the finished inner checks of the wrappers it
    /// made (wrapper campaigns); a panic that escapes the reactor is an
    /// `Err`.
    fn execute(
        &self,
        script: Script,
        seed: u64,
        connectors: usize,
        steps: Steps,
    ) -> Result<(Run, Vec<InnerRun>), String> {
        if let Some(checks) = &self.inner {
            checks.borrow_mut().clear();
        }
        // A case's count is its connectors, or a server set-up's ports.
        let (connectors, ports) = match self.kind {
            Kind::Server => (1, connectors),
            _ => (connectors, 1),
        };
        let set_up = SetUp {
            connectors,
            ports,
            shared_factory: self.shared_factory,
            timeout: self.timeout,
        };
        let setup = self.setup.clone();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            RUNTIME.with(|rt| {
                let reactor = MockReactor::with_profile(self.profile, seed);
                let reactor = match steps {
                    Steps::Lenient => reactor.lenient(),
                    Steps::Strict => reactor,
                };
                reactor.run_on(rt, script, |reactor| setup(reactor, &set_up))
            })
        }))
        .map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".to_owned())
        });
        let inner = self.inner.as_ref().map_or_else(Vec::new, |checks| {
            let made: Vec<InnerCheck> = checks.borrow_mut().drain(..).collect();
            made.iter().map(InnerCheck::finish).collect()
        });
        outcome.map(|run| (run, inner))
    }

    /// The findings of one run: those of the inner boundary of wrappers
    /// first (a wrapper that breaks the inner order makes the inner objects
    /// misbehave in turn: the cause before its effects), then the others,
    /// earliest in the trace first (a retry storm before the unmet
    /// obligation it leaves at `end`), those with no place in the trace
    /// last.
    fn findings(&self, run: &Run, inner: &[InnerRun]) -> Vec<Finding> {
        let mut out = basic_findings(run);
        if self.write_after_close {
            out.extend(writes_after_close(&run.trace));
        }
        if let Some(limit) = self.retry_limit {
            out.extend(retry_storms(&run.trace, limit));
        }
        if let Some(policy) = &self.reconnect {
            let policy = policy.with_jitter(self.reconnect_jitter);
            out.extend(reconnect_policy_findings(&run.trace, &policy));
        }
        if let (Some(limit), Some(points)) = (self.heap_limit, &run.heap_checkpoints) {
            if let (Some(first), Some(last)) = (points.first(), points.last()) {
                if last - first > limit {
                    out.push(Finding {
                        check: CheckKind::HeapGrowth,
                        message: format!(
                            "the implementation holds {} more bytes before shutdown than at the start (limit {limit})",
                            last - first
                        ),
                        seq: None,
                    });
                }
            }
        }
        for (name, check) in &self.invariants {
            if let Err(message) = check(&run.trace, &run.written) {
                out.push(Finding {
                    check: CheckKind::Invariant(name.clone()),
                    message,
                    seq: None,
                });
            }
        }
        out.sort_by_key(|f| f.seq.unwrap_or(u64::MAX));
        let mut all = inner_boundary_findings(inner);
        all.extend(out);
        all
    }

    /// Every check on one script: `Ok`, or the failure with what shows it.
    fn check_script(
        &self,
        script: &Script,
        seed: u64,
        connectors: usize,
        campaign_seed: u64,
        steps: Steps,
    ) -> Result<(), Box<Failure>> {
        let fail =
            |finding: Finding, script: &Script, run: Option<&Run>, detail: Option<String>| {
                Box::new(self.failure(
                    finding,
                    script,
                    seed,
                    connectors,
                    run,
                    detail,
                    campaign_seed,
                ))
            };
        let (run, inner) = match self.execute(script.clone(), seed, connectors, steps) {
            Ok(done) => done,
            Err(message) => {
                let finding = Finding {
                    check: CheckKind::Panic,
                    message: format!("the run panicked outside any callback: {message}"),
                    seq: None,
                };
                return Err(fail(finding, script, None, None));
            }
        };
        // A given script that reaches nothing somewhere tests less than it
        // says: that comes first.
        if let (Steps::Strict, Some(f)) = (steps, run.script_failures.first()) {
            let finding = Finding {
                check: CheckKind::Script,
                message: f.to_string(),
                seq: None,
            };
            return Err(fail(finding, script, Some(&run), None));
        }
        if let Some(finding) = self.findings(&run, &inner).into_iter().next() {
            return Err(fail(finding, script, Some(&run), None));
        }
        if self.determinism {
            if let Some(finding) =
                self.determinism_finding(&run, &inner, script, seed, connectors, steps)
            {
                return Err(fail(finding, script, Some(&run), None));
            }
        }
        if self.chunking {
            // The re-chunked script moves into its run; a finding makes it
            // again to show it.
            type Rechunk = fn(&Script) -> Script;
            let rechunkings: [(&str, Rechunk); 2] = [
                ("all in one chunk", merge_sends),
                ("byte by byte", split_sends),
            ];
            for (label, rechunk) in rechunkings {
                let variant = rechunk(script);
                if variant == *script {
                    continue;
                }
                let (other, other_inner) = match self.execute(variant, seed, connectors, steps) {
                    Ok(done) => done,
                    Err(message) => {
                        let finding = Finding {
                            check: CheckKind::Panic,
                            message: format!(
                                "the run panicked outside any callback (incoming bytes re-chunked {label}): {message}"
                            ),
                            seq: None,
                        };
                        return Err(fail(finding, &rechunk(script), None, None));
                    }
                };
                if let Some(mut finding) = self.findings(&other, &other_inner).into_iter().next() {
                    finding.message = format!(
                        "{} (found with the incoming bytes re-chunked {label}; the script below is that re-chunking)",
                        finding.message
                    );
                    return Err(fail(finding, &rechunk(script), Some(&other), None));
                }
                // A write error ends its connection at the first write that
                // follows, which chunking moves: those connections are left
                // out, and closes are not compared at all then.
                let broken = write_error_conns(script);
                // Compared in place: a producer's connections hold
                // hundreds of KB, and copies of them were most of a case.
                let same_bytes = run
                    .written
                    .iter()
                    .filter(|(c, _)| !broken.contains(c))
                    .eq(other.written.iter().filter(|(c, _)| !broken.contains(c)));
                let (closes_a, closes_b) = if broken.is_empty() {
                    (closes(&run.trace), closes(&other.trace))
                } else {
                    Default::default()
                };
                if !same_bytes || closes_a != closes_b {
                    let finding = Finding {
                        check: CheckKind::ChunkingInvariance,
                        message: format!(
                            "the same incoming bytes, re-chunked {label}, gave {}",
                            if !same_bytes {
                                "other outgoing bytes"
                            } else {
                                "other closes"
                            }
                        ),
                        seq: None,
                    };
                    let detail = format!(
                        "as generated, wrote:\n{}  and closed: {closes_a:?}\n\
                         re-chunked {label}, wrote:\n{}  and closed: {closes_b:?}\n\
                         the re-chunked script:\n{}",
                        show_written(&run.written),
                        show_written(&other.written),
                        indent(&print_script(&ScriptFile::from(rechunk(script))))
                    );
                    return Err(fail(finding, script, Some(&run), Some(detail)));
                }
            }
        }
        Ok(())
    }

    /// The determinism self-check: the case run again must give every
    /// object the same history and every connection the same bytes (and,
    /// with [`Fuzz::determinism_across_connections`], the same trace), and
    /// so must the inner boundary of each wrapper.
    fn determinism_finding(
        &self,
        run: &Run,
        inner: &[InnerRun],
        script: &Script,
        seed: u64,
        connectors: usize,
        steps: Steps,
    ) -> Option<Finding> {
        let again = self.execute(script.clone(), seed, connectors, steps);
        let (other, other_inner) = match again {
            Ok(done) => done,
            Err(message) => {
                return Some(Finding {
                    check: CheckKind::Determinism,
                    message: format!(
                        "the case ran cleanly once, then panicked outside any callback when run again with the same script and seed: {message}"
                    ),
                    seq: None,
                })
            }
        };
        fn outputs(run: &Run) -> determinism::Outputs<'_> {
            determinism::Outputs {
                trace: &run.trace,
                written: &run.written,
            }
        }
        let across = self.determinism_across;
        if let Some((message, seq)) =
            determinism::difference(&outputs(run), &outputs(&other), across)
        {
            return Some(Finding {
                check: CheckKind::Determinism,
                message,
                seq: (seq > 0).then_some(seq),
            });
        }
        if inner.len() != other_inner.len() {
            return Some(Finding {
                check: CheckKind::Determinism,
                message: format!(
                    "the same script and seed made {} wrappers, then {}",
                    inner.len(),
                    other_inner.len()
                ),
                seq: None,
            });
        }
        for (k, (x, y)) in inner.iter().zip(&other_inner).enumerate() {
            let (x, y) = (
                determinism::Outputs {
                    trace: &x.trace,
                    written: &[],
                },
                determinism::Outputs {
                    trace: &y.trace,
                    written: &[],
                },
            );
            if let Some((message, _)) = determinism::difference(&x, &y, across) {
                return Some(Finding {
                    check: CheckKind::Determinism,
                    message: format!("at the inner boundary of wrapper {}: {message}", k + 1),
                    seq: None,
                });
            }
        }
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn failure(
        &self,
        finding: Finding,
        script: &Script,
        seed: u64,
        connectors: usize,
        run: Option<&Run>,
        detail: Option<String>,
        campaign_seed: u64,
    ) -> Failure {
        let mut file = ScriptFile::from(script.clone());
        file.seed = Some(seed);
        if let Some(name) = &self.name {
            file.implementation = Some(name.clone());
        }
        let mut text = String::new();
        match self.kind {
            Kind::Client => text.push_str(&format!("{SETUP_TAG} {connectors}\n")),
            Kind::Server => text.push_str(&format!("{PORTS_TAG} {connectors}\n")),
            Kind::Custom => {}
        }
        text.push_str(&print_script(&file));
        let trace = run.map(|run| {
            let jsonl = run.trace_jsonl();
            match finding.seq {
                Some(seq) => jsonl
                    .lines()
                    .take(seq as usize)
                    .map(|l| format!("{l}\n"))
                    .collect(),
                None => jsonl,
            }
        });
        Failure {
            finding,
            kind: self.kind.as_str(),
            script: file,
            script_text: text,
            steps: script.steps().len(),
            trace: trace.unwrap_or_default(),
            detail,
            campaign_seed,
            found_after: 0,
            notes: self.notes(),
            regression: None,
        }
    }

    fn failure_without_script(&self, message: String, campaign_seed: u64) -> Failure {
        Failure {
            finding: Finding {
                check: CheckKind::Determinism,
                message,
                seq: None,
            },
            kind: self.kind.as_str(),
            script: ScriptFile::default(),
            script_text: String::new(),
            steps: 0,
            trace: String::new(),
            detail: None,
            campaign_seed,
            found_after: 0,
            notes: self.notes(),
            regression: None,
        }
    }
}

/// Where the `n`-th port of a server set-up listens (from 1): [`ADDRESS`]
/// for the first, the ports after it for the others.
///
/// ```
/// assert_eq!(callorder::port_address(1), callorder::ADDRESS);
/// assert_eq!(callorder::port_address(2), "127.0.0.1:8001");
/// ```
pub fn port_address(n: usize) -> String {
    if n <= 1 {
        ADDRESS.to_owned()
    } else {
        format!("127.0.0.1:{}", 8000 + n - 1)
    }
}

/// The seed and case count after the environment ([`SEED_ENV`],
/// [`CASES_ENV`]) had its say over the builder's. Each variable that
/// changes what the builder set says so on stderr, so that a run with a
/// forgotten variable in its environment does not pass for the builder's.
pub(crate) fn effective(seed: u64, cases: u32) -> Result<(u64, u32), String> {
    let env_seed = std::env::var(SEED_ENV).ok();
    let env_cases = std::env::var(CASES_ENV).ok();
    let chosen = overridden(
        (seed, cases),
        env_seed.as_deref(),
        env_cases.as_deref(),
        random_seed,
    )?;
    for note in &chosen.notes {
        eprintln!("callorder-fuzz: {note}");
    }
    Ok((chosen.seed, chosen.cases))
}

/// A campaign's seed and case count, and what the environment changed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Chosen {
    pub(crate) seed: u64,
    pub(crate) cases: u32,
    /// One line for each variable that overrode the builder's value.
    pub(crate) notes: Vec<String>,
}

/// [`effective`] with the variables' values given (`None`: unset) and the
/// source of a `random` seed.
pub(crate) fn overridden(
    (seed, cases): (u64, u32),
    env_seed: Option<&str>,
    env_cases: Option<&str>,
    random: impl FnOnce() -> u64,
) -> Result<Chosen, String> {
    let mut notes = Vec::new();
    let chosen_seed = match env_seed {
        Some(v) if v.trim() == "random" => {
            let chosen = random();
            notes.push(format!(
                "{SEED_ENV}={v} overrides the builder's seed {seed}: seed {chosen}"
            ));
            chosen
        }
        // A seed range (crate::seeds) is run seed by seed by the caller.
        Some(v) if v.contains("..") => seed,
        Some(v) => {
            let chosen = v
                .trim()
                .parse()
                .map_err(|_| format!("{SEED_ENV}={v:?}: expected a whole number or `random`"))?;
            if chosen != seed {
                notes.push(format!(
                    "{SEED_ENV}={v} overrides the builder's seed {seed}"
                ));
            }
            chosen
        }
        None => seed,
    };
    let chosen_cases = match env_cases {
        Some(v) => {
            let chosen = v
                .trim()
                .parse()
                .map_err(|_| format!("{CASES_ENV}={v:?}: expected a whole number"))?;
            if chosen != cases {
                notes.push(format!(
                    "{CASES_ENV}={v} overrides the builder's {cases} cases"
                ));
            }
            chosen
        }
        None => cases,
    };
    Ok(Chosen {
        seed: chosen_seed,
        cases: chosen_cases,
        notes,
    })
}

/// A fresh seed for `random`: the time and the process, printed with the
/// override and on failure, so the campaign can be replayed.
fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}

/// The proptest configuration every campaign shares: where failing seeds
/// persist, which test file they belong to, and the fast generator that
/// [`rng_for`] seeds.
pub(crate) fn campaign_config(
    persistence: Option<FileFailurePersistence>,
    source_file: &'static str,
) -> Config {
    Config {
        failure_persistence: persistence
            .map(|p| Box::new(p) as Box<dyn proptest::test_runner::FailurePersistence>),
        source_file: Some(source_file),
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    }
}

/// A proptest runner whose cases come from the campaign's seed alone.
pub(crate) fn runner_for(seed: u64, config: Config) -> TestRunner {
    TestRunner::new_with_rng(config, rng_for(seed))
}

/// The runtime the direct drivers poll callbacks on: one thread, with
/// tokio's clock paused so timers in user code run on virtual time.
pub(crate) fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

/// The campaign's random source, from its seed.
pub(crate) fn rng_for(seed: u64) -> TestRng {
    // SplitMix64 spreads the seed over the 16 bytes XorShift wants (XorShift:
    // generating cases is a large share of a case's cost).
    let mut x = seed;
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut x).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::XorShift, &bytes)
}

/// The next SplitMix64 output from `state`: small, fast and good enough for
/// seeds and for the jitter of the direct drivers' `random_u64`.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The script with each run of sends on one connection, with nothing in
/// between, merged into one chunk.
fn merge_sends(script: &Script) -> Script {
    let mut steps: Vec<Step> = Vec::new();
    for step in script.steps() {
        let step = match step {
            Step::Batch(events) => Step::Batch(merge_events(events)),
            other => other.clone(),
        };
        if let (Some(Step::Batch(prev)), Step::Batch(now)) = (steps.last_mut(), &step) {
            if let (
                [WorldEvent::Send { conn: a, bytes }],
                [WorldEvent::Send {
                    conn: b,
                    bytes: more,
                }],
            ) = (prev.as_mut_slice(), now.as_slice())
            {
                if a == b {
                    *bytes = [&bytes[..], &more[..]].concat().into();
                    continue;
                }
            }
        }
        steps.push(step);
    }
    rebuild(script, steps)
}

fn merge_events(events: &[WorldEvent]) -> Vec<WorldEvent> {
    let mut out: Vec<WorldEvent> = Vec::new();
    for e in events {
        if let (
            Some(WorldEvent::Send { conn: a, bytes }),
            WorldEvent::Send {
                conn: b,
                bytes: more,
            },
        ) = (out.last_mut(), e)
        {
            if a == b {
                *bytes = [&bytes[..], &more[..]].concat().into();
                continue;
            }
        }
        out.push(e.clone());
    }
    out
}

/// The script with every send cut into single bytes: a step each for sends
/// alone in their step, events of the same batch otherwise.
fn split_sends(script: &Script) -> Script {
    let mut steps = Vec::new();
    for step in script.steps() {
        match step {
            Step::Batch(events) if events.len() == 1 => match &events[0] {
                WorldEvent::Send { conn, bytes } => {
                    for i in 0..bytes.len() {
                        steps.push(Step::Batch(vec![WorldEvent::Send {
                            conn: *conn,
                            bytes: bytes.slice(i..=i),
                        }]));
                    }
                }
                _ => steps.push(step.clone()),
            },
            Step::Batch(events) => {
                let mut out = Vec::new();
                for e in events {
                    match e {
                        WorldEvent::Send { conn, bytes } => {
                            out.extend((0..bytes.len()).map(|i| WorldEvent::Send {
                                conn: *conn,
                                bytes: bytes.slice(i..=i),
                            }));
                        }
                        other => out.push(other.clone()),
                    }
                }
                steps.push(Step::Batch(out));
            }
            other => steps.push(other.clone()),
        }
    }
    rebuild(script, steps)
}

/// The connections the script injects a write error on.
fn write_error_conns(script: &Script) -> Vec<Conn> {
    script
        .steps()
        .iter()
        .filter_map(|s| match s {
            Step::Batch(events) => Some(events),
            _ => None,
        })
        .flatten()
        .filter_map(|e| match e {
            WorldEvent::WriteError { conn } => Some(*conn),
            _ => None,
        })
        .collect()
}

fn rebuild(like: &Script, steps: Vec<Step>) -> Script {
    let mut out = Script::new();
    if let Some(name) = like.implementation() {
        out = out.with_implementation(name);
    }
    steps.into_iter().fold(out, Script::step)
}

fn show_written(written: &[(Conn, Vec<u8>)]) -> String {
    if written.is_empty() {
        return "    (no connection to the script)\n".to_owned();
    }
    written
        .iter()
        .map(|(conn, bytes)| format!("    {conn:?}: {:?}\n", String::from_utf8_lossy(bytes)))
        .collect()
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("    {l}\n")).collect()
}

/// A campaign that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The cases that passed.
    pub cases: u32,
    /// The campaign's seed (with a seed range, its start).
    pub seed: u64,
    /// With `CALLORDER_FUZZ_SEED=START..END`, the seeds run, one case
    /// each (the crate's documentation says how a campaign is sharded).
    pub seed_range: Option<std::ops::Range<u64>>,
    /// Checks that were off, and why.
    pub notes: Vec<String>,
    /// The checks that ran on every case, by name.
    pub checks: Vec<String>,
    /// How many regression scripts replayed first
    /// ([`Fuzz::regression_scripts`]).
    pub regressions: usize,
    /// How long the campaign ran (wall-clock time).
    pub elapsed: Duration,
    /// What the campaign is called: its [`Fuzz::name`], or its set-up.
    pub name: String,
}

impl fmt::Display for Report {
    /// The one-line summary a passing campaign prints on stderr (shown by
    /// `cargo test -- --nocapture`): cases, seed, time, the checks that
    /// ran, and those that were off.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seeds = match &self.seed_range {
            Some(r) => format!("seeds {}..{}", r.start, r.end),
            None => format!("seed {}", self.seed),
        };
        write!(
            f,
            "callorder-fuzz: {} passed {} cases ({seeds}) in {:.1} s",
            self.name,
            self.cases,
            self.elapsed.as_secs_f64()
        )?;
        if self.regressions > 0 {
            write!(f, " after {} regression scripts", self.regressions)?;
        }
        write!(f, "; checks: {}", self.checks.join(", "))?;
        if !self.notes.is_empty() {
            write!(f, "; {}", self.notes.join("; "))?;
        }
        Ok(())
    }
}

/// The minimal failing case: what failed, the script that shows it (in the
/// fixture format, ready to paste into `fixtures/`), the trace up to the
/// failure, and the seed to replay the campaign. Its `Display` is the panic
/// message of [`Fuzz::check`].
#[derive(Clone, Debug)]
pub struct Failure {
    /// What the check found.
    pub finding: Finding,
    /// `client`, `server` or `custom`: the set-up.
    pub kind: &'static str,
    /// The minimal script, with its seed.
    pub script: ScriptFile,
    /// The script as printed: a set-up comment line (client set-ups), then
    /// [`print_script`] of [`Failure::script`].
    pub script_text: String,
    /// How many steps the script has.
    pub steps: usize,
    /// The trace up to the failure, in JSON Lines (trace format v1).
    pub trace: String,
    /// More evidence, for some checks (chunking invariance: both outputs).
    pub detail: Option<String>,
    /// The campaign's seed ([`SEED_ENV`] replays it).
    pub campaign_seed: u64,
    /// Which case first failed, from 1, before shrinking (0: not from a
    /// campaign, as for [`Fuzz::replay`]).
    pub found_after: u32,
    /// Checks that were off.
    pub notes: Vec<String>,
    /// The regression script this failure replayed, if it came from one
    /// ([`Fuzz::replay_file`], [`Fuzz::regression_scripts`]).
    pub regression: Option<PathBuf>,
}

impl Failure {
    /// A file name for the script kept as a regression: the campaign's
    /// name and the check, `echo_server-chunking-invariance.script`.
    pub fn regression_file_name(&self) -> String {
        let name = self.script.implementation.as_deref().unwrap_or(self.kind);
        let check: String = self
            .finding
            .check
            .to_string()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        let check = check
            .split('-')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        format!("{name}-{check}.script")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "callorder-fuzz: the {} implementation failed a check: {}",
            self.kind, self.finding
        )?;
        if let Some(detail) = &self.detail {
            writeln!(f, "\n{detail}")?;
        }
        if let Some(file) = &self.regression {
            writeln!(
                f,
                "\n(replayed from the regression script {})",
                file.display()
            )?;
        }
        if !self.script_text.is_empty() {
            writeln!(
                f,
                "\nminimal script ({} step{}; replay with Fuzz::replay):\n\
                 ---8<---\n{}---8<---",
                self.steps,
                if self.steps == 1 { "" } else { "s" },
                self.script_text
            )?;
            if self.regression.is_none() {
                let file = self.regression_file_name();
                writeln!(
                    f,
                    "\nto keep it as a regression test in your crate: save the script between \
                     the ---8<--- lines as tests/fuzz-regressions/{file} and add \
                     .regression_scripts(\"tests/fuzz-regressions\") to this campaign; every \
                     script there is replayed, strictly, before its own cases (one alone: \
                     .replay_file(\"tests/fuzz-regressions/{file}\")). Commit the file."
                )?;
            }
        }
        if !self.trace.is_empty() {
            writeln!(
                f,
                "\ntrace up to the failure:\n---8<---\n{}---8<---",
                self.trace
            )?;
        }
        writeln!(
            f,
            "\nfound after {} case{} (before shrinking); seed: {seed} (replay the campaign with \
             {SEED_ENV}={seed}; the script's `seed` line is the reactor's)",
            self.found_after,
            if self.found_after == 1 { "" } else { "s" },
            seed = self.campaign_seed
        )?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        Ok(())
    }
}

thread_local! {
    /// One paused-clock runtime per fuzzing thread: building one costs more
    /// than a short run.
    static RUNTIME: tokio::runtime::Runtime = MockReactor::runtime();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use callorder_harness::{Outcome, WorldEvent};
    use callorder_reference::LineClientFactory;

    use super::*;
    use crate::strategy::WorldAction;

    fn chosen(env_seed: Option<&str>, env_cases: Option<&str>) -> Result<Chosen, String> {
        overridden((7, 256), env_seed, env_cases, || 99)
    }

    #[test]
    fn without_the_environment_the_builder_decides_silently() {
        let c = chosen(None, None).unwrap();
        assert_eq!((c.seed, c.cases), (7, 256));
        assert!(c.notes.is_empty());
    }

    #[test]
    fn an_overriding_variable_says_what_it_replaced() {
        let c = chosen(Some("3"), Some("10")).unwrap();
        assert_eq!((c.seed, c.cases), (3, 10));
        assert_eq!(
            c.notes,
            [
                "CALLORDER_FUZZ_SEED=3 overrides the builder's seed 7",
                "CALLORDER_FUZZ_CASES=10 overrides the builder's 256 cases",
            ]
        );
    }

    #[test]
    fn a_random_seed_is_said_with_its_value() {
        let c = chosen(Some("random"), None).unwrap();
        assert_eq!(c.seed, 99);
        assert_eq!(
            c.notes,
            ["CALLORDER_FUZZ_SEED=random overrides the builder's seed 7: seed 99"]
        );
    }

    #[test]
    fn a_variable_that_agrees_with_the_builder_overrides_nothing() {
        let c = chosen(Some("7"), Some(" 256 ")).unwrap();
        assert_eq!((c.seed, c.cases), (7, 256));
        assert!(c.notes.is_empty(), "{:?}", c.notes);
    }

    #[test]
    fn a_malformed_variable_is_an_error_naming_it() {
        assert_eq!(
            chosen(Some("seven"), None).unwrap_err(),
            "CALLORDER_FUZZ_SEED=\"seven\": expected a whole number or `random`"
        );
        assert_eq!(
            chosen(None, Some("-1")).unwrap_err(),
            "CALLORDER_FUZZ_CASES=\"-1\": expected a whole number"
        );
    }

    /// A campaign whose every case fails one invariant: any case is a
    /// failing case, to shrink.
    fn always_failing() -> Fuzz {
        crate::fuzz_client(|| Arc::new(LineClientFactory::new(["hi"])))
            .regressions(None)
            .invariant("never", |_, _| Err("fails".to_owned()))
    }

    #[test]
    fn the_last_pass_of_shrinking_removes_the_steps_a_lenient_run_skipped() {
        let fuzz = always_failing();
        // One connector, which does not retry: attempt 2 never comes, so
        // its resolve is skipped. As an action it cannot be removed without
        // renumbering the attempts after it; as a step it can.
        let case = Case {
            seed: 0,
            connectors: 1,
            actions: vec![
                WorldAction::Resolve(Outcome::Accept),
                WorldAction::Resolve(Outcome::Refuse),
                WorldAction::Shutdown,
            ],
        };
        let failure = fuzz
            .check_script(&case.script(), 0, 1, 0, Steps::Lenient)
            .unwrap_err();
        assert_eq!(failure.script.script.steps().len(), 3);
        let failure = fuzz.without_skipped(&case, failure, 0);
        assert_eq!(
            failure.script.script,
            Script::new().resolve(1, Outcome::Accept).shutdown()
        );
        assert_eq!(failure.finding.check, CheckKind::Invariant("never".into()));
        // Replayed as a test runs it, strictly, it fails as it did.
        let again = fuzz.replay(&failure.script_text).unwrap_err();
        assert_eq!(again.finding.check, failure.finding.check);
    }

    #[test]
    fn a_replayed_script_with_a_step_that_reaches_nothing_fails_that_check_first() {
        let text = "# callorder-fuzz: connectors 1\nresolve 1 accept\nresolve 2 refuse\nshutdown\n";
        let failure = always_failing().replay(text).unwrap_err();
        assert_eq!(failure.finding.check, CheckKind::Script);
        assert!(
            failure
                .finding
                .message
                .starts_with("replayed.script:3:1: resolve 2 refuse: no attempt 2"),
            "{}",
            failure.finding.message
        );
        // In a campaign, generated steps that miss are skipped instead.
        let script = Script::new().batch(vec![WorldEvent::Resolve {
            attempt: 2,
            outcome: Outcome::Refuse,
        }]);
        let (run, _) = always_failing()
            .execute(script, 0, 1, Steps::Lenient)
            .unwrap();
        assert_eq!(run.skipped.len(), 1);
        assert!(run.script_failures.is_empty());
    }
}
