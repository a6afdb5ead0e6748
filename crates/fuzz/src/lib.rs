//! Fuzz a Factory/Protocol implementation in one call.
//!
//! `callorder-fuzz` generates what the world does to an implementation
//! (connections accepted, refused or timing out, bytes cut at any chunk
//! boundary, closes, resets, half-closes, write errors, small peer read
//! windows, ports stopped, time passing, the reactor shut down mid-way) as
//! proptest strategies ([`strategy`]), runs each case under the
//! deterministic mock reactor of `callorder-harness` with the callorder
//! checker on, and shrinks any failure to the smallest script that shows it.
//!
//! Each case draws its own mix of moves before its moves (swarm testing:
//! some cases are mostly slow readers, others mostly resets or
//! half-closes), so that deep states (a producer paused, then resumed; a
//! connection half-closed while another is refused) come within the first
//! few hundred cases; [`Fuzz::reach`] says which states of the spec a
//! campaign reaches, and when ([`states`]). Client set-ups share one
//! factory among their connectors, and server set-ups among their ports, as
//! real code does ([`Fuzz::separate_factories`] gives each its own).
//!
//! ```
//! use std::sync::Arc;
//! use callorder::reference::EchoFactory;
//!
//! // Inside #[test]: panics with the minimal script, the trace and the seed
//! // if any case fails.
//! callorder::fuzz_server(|| Arc::new(EchoFactory::new()))
//!     .name("echo_server")
//!     .cases(16)
//!     .regressions(None)
//!     .check();
//! ```
//!
//! # Checks
//!
//! On by default for every case:
//!
//! - **order**: no checker violation (strict profile unless
//!   [`Fuzz::profile`] says otherwise);
//! - **no panic, no implementation error**: `Run::errors` is empty
//!   (callbacks that returned errors, panicked or stalled; actions that are
//!   bugs, such as `connect` while connecting);
//! - **no leak**: `Run::leaks` is empty. Heap growth is checked only with
//!   [`Fuzz::heap_limit`] and the counting allocator installed; otherwise it
//!   is off, and the [`Report`] and [`Failure`] say so;
//! - **chunking invariance**: the case is run again with the incoming bytes
//!   all in one chunk and byte by byte; the bytes written on each connection
//!   and how each connection closed must not change
//!   ([`Fuzz::no_chunking_invariance`] turns it off);
//! - **write after close**: a `write` of a protocol after its own
//!   `abort_connection`, its `connection_lost`, or after it closed its
//!   writing side (`lose_write_connection`, `write_connection_lost`) is
//!   reported as a likely bug ([`Fuzz::allow_write_after_close`]);
//! - **retry storm**: more than [`DEFAULT_RETRY_LIMIT`] connection attempts
//!   of one connector with no virtual time passing ([`Fuzz::retry_limit`]);
//! - **determinism**: the case is run twice, and each object (connector,
//!   port, factory, protocol) must get the same history and each connection
//!   the same bytes ([`Fuzz::no_determinism_check`]); the order between
//!   connections may change (code relaying in a `HashMap`'s order is
//!   correct), unless [`Fuzz::determinism_across_connections`] asks for it;
//! - **inner boundary** (wrappers only, [`fuzz_wrapper_server`],
//!   [`fuzz_wrapper_client`]): the calls a wrapping factory makes into the
//!   factory it wraps, and into that factory's protocols, must follow the
//!   legal order too (a second checker, over the trace of a
//!   [`CheckedFactory`]; every made inner
//!   connection must be lost by the end). Reported before the other checks'
//!   findings of the same run, with the inner trace in the message.
//!
//! Off by default:
//!
//! - **reconnect policy**: with [`Fuzz::reconnect_policy`], every delay
//!   between a connector's outcome and its next `connect` must follow the
//!   declared exponential back-off, on the virtual clock
//!   ([`checks::ReconnectPolicy`]).
//!
//! Add your own with [`Fuzz::invariant`].
//!
//! # A protocol alone
//!
//! [`fuzz_protocol`] drives a protocol directly, with no reactor: legal
//! callback sequences generated from the checker's legal next steps, that
//! follow what the protocol does (see [`direct`]).
//!
//! # A client factory alone
//!
//! [`fuzz_client_factory`] drives a client factory directly, with no
//! reactor: the reactor's factory-side callbacks for one or more connectors
//! (`do_start`/`start_factory`, `started_connecting`, `build_protocol` and
//! the built protocols' callbacks, `client_connection_failed`/`_lost`,
//! `do_stop`/`stop_factory`) in legal orders generated from the checker's
//! legal next steps, following what the factory does on its connectors (see
//! [`direct_client`]).
//!
//! # A server factory alone
//!
//! [`fuzz_server_factory`] drives a server factory directly, with no
//! reactor: the reactor's factory-side callbacks for one or more ports
//! (`do_start`/`start_factory`, `build_protocol` for each accepted
//! connection and the built protocols' callbacks, `stop_listening` and
//! `do_stop`/`stop_factory`) in legal orders generated from the checker's
//! legal next steps (see [`direct_server`]).
//!
//! # Benchmarks
//!
//! `cargo bench -p callorder-fuzz --bench mutants` (how fast each mutant of
//! `tests/gallery` is found), `--bench states` (the case at which each
//! state of the spec is first reached, per reference implementation) and
//! `--bench throughput` (cases per second).
//!
//! # Seeds, case counts and regression files
//!
//! A campaign is deterministic: seed 0 unless [`Fuzz::seed`] says otherwise.
//! The environment overrides both: [`SEED_ENV`] (`CALLORDER_FUZZ_SEED`, a
//! number or `random`) and [`CASES_ENV`] (`CALLORDER_FUZZ_CASES`), and each
//! one that changes the builder's value says so on stderr
//! (`callorder-fuzz: CALLORDER_FUZZ_CASES=3 overrides the builder's 256
//! cases`); CI runs [`DEFAULT_CASES`]. A long campaign:
//!
//! ```text
//! CALLORDER_FUZZ_SEED=random CALLORDER_FUZZ_CASES=100000 cargo test --release -p my-crate fuzz_
//! ```
//!
//! Sharded over CI machines, a campaign splits by seed range:
//! `CALLORDER_FUZZ_SEED=START..END` runs one case per seed from `START` to
//! `END - 1` (case `s` is the first case of the campaign seeded `s`, so
//! `CALLORDER_FUZZ_SEED=s` replays it), and [`CASES_ENV`] does not apply.
//! Shards whose ranges tile `0..N` run exactly the cases of `0..N`, each
//! once; [`Report::seed_range`] says which ran. Machine `k` of 4, with
//! `N = 4000`:
//!
//! ```text
//! CALLORDER_FUZZ_SEED=$(( (k-1)*1000 ))..$(( k*1000 )) cargo test --release -p my-crate fuzz_
//! ```
//!
//! A failure's minimal script is the regression to keep: its message says
//! to save it under `tests/fuzz-regressions/` in the test's crate and to add
//! [`Fuzz::regression_scripts`] to the campaign, which then replays every
//! script there, strictly, in a fresh process each run, before its own
//! cases ([`Fuzz::replay_file`] replays one, [`Fuzz::replay`] one given as
//! text). The case also replays from its seed, as each case's mix comes
//! from its own random stream: proptest saves failing seeds next to the
//! test's source (a `.proptest-regressions` file, [`Fuzz::regressions`]) and
//! replays them first on the next run.
//!
//! # Steps that reach nothing
//!
//! A case is made before its run, and which attempts connect is the
//! implementation's choice, so a generated step can name an attempt or a
//! connection that never exists. Cases run in the mock reactor's lenient
//! mode ([`MockReactor::lenient`](callorder_harness::MockReactor::lenient)),
//! which skips such steps, and the last pass of shrinking removes them from
//! the minimal script: the script printed in a [`Failure`] runs the same
//! under the strict default of a test, where a step that reaches nothing
//! fails the run. [`Fuzz::replay`] runs strictly.
#![forbid(unsafe_code)]

#[macro_use]
mod builder;
mod campaign;
pub mod checks;
mod choice;
mod determinism;
pub mod direct;
pub mod direct_client;
pub mod direct_server;
mod fuzz;
mod greedy;
mod progress;
mod recorder;
mod seeds;
pub mod states;
pub mod strategy;
mod swarm;

use std::panic::Location;
use std::sync::Arc;

use callorder_core::{ClientFactory, Factory, Protocol, Reactor};
use callorder_harness::CheckedFactory;

pub use campaign::{DirectCase, DirectFailure, DirectReport};
pub use direct::DirectFuzz;
pub use direct_client::{ClientFailure, DirectClientFuzz};
pub use direct_server::{DirectServerFuzz, ServerFailure};

pub use checks::{CheckKind, Finding};
pub use fuzz::{
    port_address, Failure, Fuzz, Report, SetUp, ADDRESS, CASES_ENV, CONNECT_TIMEOUT, DEFAULT_CASES,
    DEFAULT_MAX_PORTS, DEFAULT_RETRY_LIMIT, SEED_ENV,
};

/// Fuzzes a client factory: each case makes one to two connectors to
/// [`ADDRESS`] (30 s connect timeout), all over one fresh factory from
/// `make` (each with its own with [`Fuzz::separate_factories`]), and the
/// script answers their attempts (one refused while another is connected,
/// say) and plays the servers.
///
/// ```
/// use std::sync::Arc;
/// use callorder::reference::LineClientFactory;
///
/// let report = callorder::fuzz_client(|| Arc::new(LineClientFactory::new(["hello"]).close_after(1)))
///     .cases(16)
///     .regressions(None)
///     .check();
/// assert_eq!(report.cases, 16);
/// ```
#[track_caller]
pub fn fuzz_client<F: ClientFactory>(make: impl Fn() -> Arc<F> + 'static) -> Fuzz {
    Fuzz::client(make, Location::caller().file())
}

/// Fuzzes ordinary tokio client code: `f` takes a connected stream
/// (`AsyncRead + AsyncWrite + Unpin`, see
/// [`callorder_harness::stream`]), and each case runs it as
/// [`fuzz_client`] runs a client factory, through refusals, chunkings,
/// resets, half-closes, slow readers and time passing, with the same
/// checks. A panic of `f` is an error of the implementation; what `f`
/// returns is its own business (a read that fails after a reset is
/// expected), so it is not checked.
///
/// ```
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// callorder::fuzz_stream_client(|mut stream| async move {
///     stream.write_all(b"hello\r\n").await?;
///     let mut reply = Vec::new();
///     stream.read_to_end(&mut reply).await?;
///     Ok(())
/// })
/// .cases(16)
/// .regressions(None)
/// .check();
/// ```
#[track_caller]
pub fn fuzz_stream_client<F, Fut>(f: F) -> Fuzz
where
    F: Fn(callorder_harness::stream::Stream) -> Fut + 'static,
    Fut: std::future::Future<Output = std::io::Result<()>> + 'static,
{
    let f = std::rc::Rc::new(f);
    Fuzz::client(
        move || {
            let f = f.clone();
            callorder_harness::stream::stream_client(move |stream| f(stream))
        },
        Location::caller().file(),
    )
}

/// Fuzzes a server factory: each case listens on one to
/// [`DEFAULT_MAX_PORTS`] ports ([`Fuzz::max_ports`]; the first at
/// [`ADDRESS`], port 1 of the script), all over one fresh factory from
/// `make` (each with its own with [`Fuzz::separate_factories`]), and the
/// script plays the peers that connect and stops ports.
///
/// ```
/// use std::sync::Arc;
/// use callorder::reference::EchoFactory;
///
/// callorder::fuzz_server(|| Arc::new(EchoFactory::new())).cases(16).regressions(None).check();
/// ```
#[track_caller]
pub fn fuzz_server<F: Factory>(make: impl Fn() -> Arc<F> + 'static) -> Fuzz {
    Fuzz::server(make, Location::caller().file())
}

/// Fuzzes a wrapping (middleware) server factory at both of its
/// boundaries: each case listens on [`ADDRESS`] with the wrapper `wrap`
/// makes around a [`CheckedFactory`] of a fresh inner factory from `inner`,
/// and the script plays the peers that connect, as for [`fuzz_server`].
/// Write `wrap` as `|inner| MyWrapper::new(inner)` (or just
/// `MyWrapper::new`): the wrapper is put in an `Arc` for you (it cannot be
/// `Send` or `Sync`, as the checked inner factory is not).
///
/// Every check of [`fuzz_server`] applies to the wrapper as the reactor
/// sees it; on top, the **inner boundary** check judges the calls the
/// wrapper made into the inner factory and its protocols (each run, re-runs
/// of the other checks included, gets a fresh inner factory and checker):
/// forwarding `data_received` after `connection_lost`, swallowing
/// `connection_lost`, making an inner connection the inner factory never
/// built, ... fail it ([`CheckKind::InnerBoundary`], the inner trace in the
/// message), and the failing case is shrunk as any other.
///
/// ```
/// use callorder::reference::{EchoFactory, WrappingFactory};
///
/// let report = callorder::fuzz_wrapper_server(|inner| WrappingFactory::new(inner), || EchoFactory::new())
///     .name("wrapped_echo")
///     .cases(16)
///     .regressions(None)
///     .check();
/// assert_eq!(report.cases, 16);
/// ```
#[track_caller]
pub fn fuzz_wrapper_server<I: Factory, W: Factory>(
    wrap: impl Fn(CheckedFactory<I>) -> W + 'static,
    inner: impl Fn() -> I + 'static,
) -> Fuzz {
    Fuzz::wrapper_server(wrap, inner, Location::caller().file())
}

/// Fuzzes a wrapping (middleware) client factory at both of its
/// boundaries: as [`fuzz_client`], each connector with the wrapper `wrap`
/// makes around a [`CheckedFactory`] of a fresh inner factory from `inner`;
/// the inner boundary of every wrapper is checked as for
/// [`fuzz_wrapper_server`].
///
/// ```
/// use callorder::reference::{LineClientFactory, WrappingFactory};
///
/// callorder::fuzz_wrapper_client(
///     WrappingFactory::new,
///     || LineClientFactory::new(["hello"]).close_after(1),
/// )
/// .cases(16)
/// .regressions(None)
/// .check();
/// ```
#[track_caller]
pub fn fuzz_wrapper_client<I: ClientFactory, W: ClientFactory>(
    wrap: impl Fn(CheckedFactory<I>) -> W + 'static,
    inner: impl Fn() -> I + 'static,
) -> Fuzz {
    Fuzz::wrapper_client(wrap, inner, Location::caller().file())
}

/// Fuzzes any set-up: `setup` makes the connections and ports on the
/// reactor (it is told the case's [`SetUp`]), and the script generates both
/// client and server moves.
///
/// ```
/// use std::sync::Arc;
/// use callorder::reference::{EchoFactory, LineClientFactory};
///
/// callorder::fuzz_with(|reactor, _| {
///     reactor.listen_tcp("127.0.0.1:7", Arc::new(EchoFactory::new())).unwrap();
///     reactor.connect_tcp("127.0.0.1:9", Arc::new(LineClientFactory::new(["hi"])), None);
/// })
/// .cases(16)
/// .regressions(None)
/// .check();
/// ```
#[track_caller]
pub fn fuzz_with(setup: impl Fn(&Reactor, &SetUp) + 'static) -> Fuzz {
    Fuzz::custom(setup, Location::caller().file())
}

/// Fuzzes a protocol alone, with no reactor: each case drives a fresh
/// protocol from `make` through a legal callback sequence generated from the
/// checker's legal next steps, following what the protocol does (see
/// [`direct`]).
///
/// ```
/// use callorder::reference::Echo;
///
/// callorder::fuzz_protocol(|| Box::new(Echo::new())).cases(16).check();
/// ```
#[track_caller]
pub fn fuzz_protocol(make: impl Fn() -> Box<dyn Protocol> + 'static) -> DirectFuzz {
    DirectFuzz::new(std::rc::Rc::new(make), Location::caller().file())
}

/// Fuzzes a client factory alone, with no reactor: each case drives a fresh
/// factory from `make`, shared by one or more connectors, through the
/// reactor's factory-side callbacks in a legal order generated from the
/// checker's legal next steps, following what the factory does on its
/// connectors (a retry in `client_connection_failed` changes what is due;
/// see [`direct_client`]).
///
/// ```
/// use callorder::reference::{Echo, ReconnectingClientFactory};
///
/// let report = callorder::fuzz_client_factory(|| {
///     ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared()
/// })
/// .cases(16)
/// .check();
/// assert_eq!(report.cases, 16);
/// ```
#[track_caller]
pub fn fuzz_client_factory<F: ClientFactory>(
    make: impl Fn() -> Arc<F> + 'static,
) -> DirectClientFuzz {
    DirectClientFuzz::new(
        std::rc::Rc::new(move || make() as Arc<dyn ClientFactory>),
        Location::caller().file(),
    )
}

/// Fuzzes a server factory alone, with no reactor: each case drives a fresh
/// factory from `make`, shared by one or more ports, through the reactor's
/// factory-side callbacks in a legal order generated from the checker's
/// legal next steps: connections accepted on any port that still listens
/// (`build_protocol`, then the protocol's callbacks), ports that stop
/// listening (`do_stop`, and `stop_factory` when the last one stops), time
/// passing, and the shutdown (see [`direct_server`]).
///
/// ```
/// use std::sync::Arc;
/// use callorder::reference::EchoFactory;
///
/// let report = callorder::fuzz_server_factory(|| Arc::new(EchoFactory::new()))
///     .max_ports(2)
///     .cases(16)
///     .check();
/// assert_eq!(report.cases, 16);
/// ```
#[track_caller]
pub fn fuzz_server_factory<F: Factory>(make: impl Fn() -> Arc<F> + 'static) -> DirectServerFuzz {
    DirectServerFuzz::new(
        std::rc::Rc::new(move || make() as Arc<dyn Factory>),
        Location::caller().file(),
    )
}
