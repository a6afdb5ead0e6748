//! The tokio reactor: the callorder core with real sockets as its world.

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use callorder_core::{Address, Port, Reactor};
use callorder_harness::live::{LiveReactor, Stopper, Watch};
use callorder_harness::Run;

use crate::backend::TokioBackend;
use crate::resolver::{Resolver, SystemResolver};

/// Runs callorder's `Factory`/`ClientFactory`/`Protocol` implementations
/// over real TCP with tokio, checking every delivery as the mock reactor
/// does: the same delivery order (actions never re-enter; one callback at a
/// time per object, even when it awaits), the same checker, a trace in
/// format v1 with `t` in real seconds, and the same leak checks.
///
/// Runs need a tokio runtime with I/O and time enabled and a clock that is
/// not paused (`#[tokio::test]`); the reactor's own work runs on the task
/// that awaits [`run`](TokioReactor::run), so a current-thread runtime is
/// enough, and peers a test spawns run beside it.
///
/// ```
/// use callorder_tokio::TokioReactor;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let reactor = TokioReactor::new();
/// let run = reactor.run(|_reactor| {}).await;
/// run.assert_clean();
/// assert!(run.trace_jsonl().ends_with("\"event\":\"end\"}\n"));
/// # }
/// ```
pub struct TokioReactor {
    live: LiveReactor,
}

impl Default for TokioReactor {
    fn default() -> Self {
        TokioReactor::new()
    }
}

impl TokioReactor {
    /// A reactor with tokio's resolver, checked under `strict`.
    pub fn new() -> Self {
        TokioReactor::with_resolver(Arc::new(SystemResolver))
    }

    /// A reactor that looks host names up with `resolver`: a test injects
    /// one that fails (or knows its names) and never touches the network.
    pub fn with_resolver(resolver: Arc<dyn Resolver>) -> Self {
        TokioReactor::with_profile(resolver, callorder_checker::Profile::Strict, 0)
    }

    /// A reactor checked under `profile`, its random source seeded with
    /// `seed`.
    pub fn with_profile(
        resolver: Arc<dyn Resolver>,
        profile: callorder_checker::Profile,
        seed: u64,
    ) -> Self {
        let backend = Rc::new(TokioBackend::new(resolver));
        TokioReactor {
            live: LiveReactor::with_profile(backend, profile, seed),
        }
    }

    /// Gives up a run still busy after `limit` (default
    /// [`LiveReactor::GIVE_UP_AFTER`]): it is shut down and reports a
    /// stall. Only a hang should reach it.
    #[must_use]
    pub fn give_up_after(mut self, limit: Duration) -> Self {
        self.live = self.live.give_up_after(limit);
        self
    }

    /// Keeps only the last `n` records of the trace (a long run).
    #[must_use]
    pub fn keep_last(mut self, n: usize) -> Self {
        self.live = self.live.keep_last(n);
        self
    }

    /// Turns the checker off, to measure what it costs.
    #[must_use]
    pub fn without_checker(mut self) -> Self {
        self.live = self.live.without_checker();
        self
    }

    /// The reactor as implementations see it: what is done through it
    /// before [`run`](TokioReactor::run) is the test's set-up.
    pub fn handle(&self) -> Reactor {
        self.live.handle()
    }

    /// What stops the run early (its shutdown then tears down live
    /// connections, as Twisted's `reactor.stop()` does).
    pub fn stopper(&self) -> Stopper {
        self.live.stopper()
    }

    /// What the peers of [`run_with`](TokioReactor::run_with) see of the
    /// run as it goes on, to wait for events rather than sleep (see
    /// [`Watch`]).
    ///
    /// ```
    /// use callorder::EventKind;
    /// use callorder_tokio::TokioReactor;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let reactor = TokioReactor::new();
    /// let watch = reactor.watch();
    /// let (run, quiet) = reactor.run_with(|_| {}, async move { watch.quiet() }).await;
    /// run.assert_clean();
    /// assert_eq!(quiet, Some(true));
    /// assert_eq!(run.events_of_kind(EventKind::Shutdown).count(), 1);
    /// # }
    /// ```
    pub fn watch(&self) -> Watch {
        self.live.watch()
    }

    /// The address `port` is bound to: with a port 0, the one the system
    /// chose.
    pub fn address(&self, port: &Port) -> Option<Address> {
        self.live.address(port)
    }

    /// Runs, after `setup`, until nothing is connecting or connected and
    /// nothing is pending (ports that only listen do not count), or until
    /// stopped; then shuts down: `shutdown`, the teardown of what is left,
    /// `end`.
    pub async fn run(self, setup: impl FnOnce(&Reactor)) -> Run {
        self.live.run(setup).await
    }

    /// [`run`](TokioReactor::run), with the test's peers as a future polled
    /// beside the reactor: the run is not idle before `world` is done, and
    /// gives back its output (`None` if the run ended first).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use callorder::reference::EchoFactory;
    /// use callorder_tokio::TokioReactor;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let reactor = TokioReactor::new();
    /// let port = reactor.handle().listen_tcp("127.0.0.1:0", Arc::new(EchoFactory::new())).unwrap();
    /// let addr = reactor.address(&port).unwrap();
    /// let peer = async move {
    ///     let mut stream = tokio::net::TcpStream::connect(addr.as_str()).await.unwrap();
    ///     stream.write_all(b"ping").await.unwrap();
    ///     let mut echo = [0u8; 4];
    ///     stream.read_exact(&mut echo).await.unwrap();
    ///     echo
    /// };
    /// let (run, echoed) = reactor.run_with(|_| {}, peer).await;
    /// run.assert_clean();
    /// assert_eq!(&echoed.unwrap(), b"ping");
    /// # }
    /// ```
    pub async fn run_with<T: 'static>(
        self,
        setup: impl FnOnce(&Reactor),
        world: impl Future<Output = T> + 'static,
    ) -> (Run, Option<T>) {
        self.live.run_with(setup, world).await
    }
}
