//! callorder: test network code written in the Factory/Protocol style and
//! prove that every object gets its callbacks in a legal order.
//!
//! This facade is the one dependency a test needs:
//!
//! ```toml
//! [dev-dependencies]
//! callorder = "0.1"
//! ```
//!
//! Everything a test names is here, at the top level:
//!
//! - the Factory/Protocol traits and the handles implementations act through
//!   ([`Protocol`], [`Factory`], [`ClientFactory`], [`Transport`],
//!   [`Connector`], [`Port`], [`Reactor`], [`Address`], [`Reason`], ...), and
//!   the [`async_trait`](macro@async_trait) attribute their impls need, as
//!   `#[async_trait(?Send)]`;
//! - the deterministic mock reactor and what the world does in it
//!   ([`MockReactor`], [`Script`], [`Step`], [`WorldEvent`], [`Conn`],
//!   [`Outcome`], [`Bytes`]), what a run gives back ([`Run`], [`ImplError`],
//!   [`Leak`], [`HeapGrowth`]) and the checked inner boundary of middleware
//!   ([`CheckedFactory`], [`InnerCheck`]);
//! - fuzzing in one call ([`fuzz_client`], [`fuzz_server`], [`fuzz_with`],
//!   [`fuzz_wrapper_server`], [`fuzz_wrapper_client`], [`fuzz_protocol`],
//!   [`fuzz_client_factory`], [`fuzz_server_factory`]), their builders
//!   ([`Fuzz`], [`DirectFuzz`], ...) and findings ([`Report`], [`Failure`],
//!   [`CheckKind`], [`Finding`]), and the [`strategy`] and [`checks`]
//!   modules;
//! - the names of the checker and of trace format v1 a test meets in a
//!   [`Run`]: [`Profile`], [`Violation`], [`Warning`], [`Rule`],
//!   [`Checker`], [`Record`], [`Event`], [`EventKind`], [`TraceReader`],
//!   [`TraceWriter`].
//!
//! The crates behind it stay reachable as modules, for what is rarely
//! needed: [`checker`], [`trace`], [`harness`], [`fuzz`], and
//! [`reference`](mod@reference) (an echo server, a line client, Twisted's
//! `ReconnectingClientFactory`, a half-close protocol and a wrapping
//! factory, as implementations to start from or to test against).
//!
//! # A scripted test
//!
//! The script says what the world does; the implementation decides the
//! rest, and every callback it gets is checked as it goes.
//!
//! ```
//! use std::sync::Arc;
//! use callorder::{async_trait, Address, CallbackError, CallbackResult, Conn, Factory, MockReactor, Protocol, Script, Transport};
//!
//! struct Echo(Option<Transport>);
//!
//! #[async_trait(?Send)]
//! impl Protocol for Echo {
//!     async fn connection_made(&mut self, t: Transport) -> CallbackResult {
//!         self.0 = Some(t);
//!         Ok(())
//!     }
//!     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
//!         self.0.as_ref().unwrap().write(data)?;
//!         Ok(())
//!     }
//! }
//!
//! struct EchoFactory;
//!
//! #[async_trait(?Send)]
//! impl Factory for EchoFactory {
//!     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
//!         Ok(Some(Box::new(Echo(None))))
//!     }
//! }
//!
//! let script = Script::new()
//!     .accept(1, "10.0.0.7:5000")
//!     .send(Conn::Server(1), b"ping")
//!     .close(Conn::Server(1))
//!     .shutdown();
//! let run = MockReactor::new().run(script, |reactor| {
//!     reactor.listen_tcp("0.0.0.0:80", Arc::new(EchoFactory)).unwrap();
//! });
//! run.assert_clean(); // legal order, no errors, no leaks
//! assert_eq!(run.written[0].1, b"ping");
//! ```
//!
//! # A fuzz test
//!
//! One call inside `#[test]` generates scripts, runs each under the checker
//! with the default checks, and on failure panics with the smallest script
//! that fails, printed in the script file format, and the seed:
//!
//! ```
//! use std::sync::Arc;
//! use callorder::reference::EchoFactory;
//!
//! let report = callorder::fuzz_server(|| Arc::new(EchoFactory::new()))
//!     .cases(16)
//!     .regressions(None)
//!     .check();
//! assert_eq!(report.cases, 16);
//! ```
//!
//! # The heap-growth leak check
//!
//! The weak-handle leak check is always on. The heap-growth check also needs
//! the counting allocator in the test binary: one line at the top of the
//! test file,
//!
//! ```
//! callorder::install_counting_allocator!();
//! # fn main() { assert!(callorder::counting_allocator_installed()); }
//! ```
//!
//! Without it, [`Run::heap_growth`] answers [`HeapGrowth::Off`], saying
//! why; it never passes silently. See [`install_counting_allocator!`].
//!
//! # Synchronous or async callbacks
//!
//! A type implements the synchronous traits ([`SyncProtocol`],
//! [`SyncFactory`], [`SyncClientFactory`]) when its callbacks never await,
//! and the reactor calls them directly; or the async ones when they await.
//! The two mix in one reactor: a synchronous type has the async trait too,
//! so everything that takes one takes the other. (The `callorder-core`
//! page, section *Which kind to implement*, says more.)
//!
//! # The async traits need `#[async_trait(?Send)]`
//!
//! Async callbacks run on one thread, so their futures are not `Send`.
//! Every impl of [`Protocol`], [`Factory`] and [`ClientFactory`] carries
//! `#[async_trait(?Send)]` ([`async_trait`](macro@async_trait) is
//! re-exported here, so the test needs no dependency of its own for it).
//! Each trait's page quotes the compile errors a wrong attribute gives.
#![forbid(unsafe_code)]

pub use async_trait::async_trait;

pub use callorder_core::{
    ActionError, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Port,
    Protocol, Reactor, ReactorOps, SharedClientFactory, SharedFactory, SyncClientFactory,
    SyncFactory, SyncProtocol, TimerHandle, Transport, WriteStatus,
};
pub use callorder_fuzz::*;
pub use callorder_harness::*;

// The checker's and the trace format's own pages say what these are; their
// examples there are about the checker and the format alone.
#[doc(no_inline)]
pub use callorder_checker::{
    CheckError, Checker, Coverage, Object, Past, Profile, Rule, RuleKind, Violation, Warning,
};
#[doc(no_inline)]
pub use callorder_trace::{
    Category, ConnectorId, Event, EventKind, FactoryId, Holder, IdKind, Limits, PortId, ProtocolId,
    ReadError, ReadErrorKind, Reason, Record, TraceReader, TraceWriter,
};

pub use callorder_checker as checker;
pub use callorder_fuzz as fuzz;
pub use callorder_harness as harness;
pub use callorder_reference as reference;
pub use callorder_trace as trace;

/// Installs callorder's counting allocator as the test binary's global
/// allocator, so that [`Run::heap_growth`] can measure the heap an
/// implementation keeps per cycle (between the script's
/// [`checkpoint`](Script::checkpoint) steps).
///
/// Write it once, at the top level of the test file (an integration test is
/// a binary of its own, so each file that measures heap growth needs it):
///
/// ```
/// callorder::install_counting_allocator!();
///
/// fn main() {
///     assert!(callorder::counting_allocator_installed());
/// }
/// ```
///
/// It expands to
/// `#[global_allocator] static CALLORDER_COUNTING_ALLOCATOR: &callorder::CountingAlloc = &callorder::COUNTING_ALLOCATOR;`.
/// The counters are global: allocations of other test threads blur the
/// figure, so run heap-growth tests in a binary of their own or with
/// `--test-threads=1`.
#[macro_export]
macro_rules! install_counting_allocator {
    () => {
        #[global_allocator]
        static CALLORDER_COUNTING_ALLOCATOR: &$crate::CountingAlloc = &$crate::COUNTING_ALLOCATOR;
    };
}
