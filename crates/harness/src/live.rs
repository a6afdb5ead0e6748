//! The seam between the reactor core and a source of events that is not a
//! script: real sockets and the real clock.
//!
//! The core is what every callorder reactor shares with the mock: the
//! queue of deliveries, one callback at a time per object (even when it
//! awaits), actions that never re-enter (what they trigger comes after the
//! running callback returns), the checker judging every event as it is
//! recorded, the trace in format v1, what the reactor does when a callback
//! returns or fails (as Twisted does), the timers, the connect timeout, the
//! write buffer's count with its high-water mark, and the leak checks.
//!
//! What differs between reactors is only where events come from. Under the
//! [`MockReactor`] a script says what the world does,
//! on tokio's paused clock. A [`Backend`] says it instead for a
//! [`LiveReactor`]: the core asks it to dial, listen, write, close, and it
//! reports back, as [`WireEvent`]s, what the sockets did. Time is the
//! runtime's clock, so a live run records `t` in real seconds.
//!
//! ```
//! use std::task::{Context, Poll};
//! use callorder::live::{Backend, LiveReactor, WireEvent, WireId};
//! use callorder::{ActionError, Address, PortId};
//!
//! /// A world where nothing ever connects and nothing listens.
//! struct Nowhere;
//!
//! impl Backend for Nowhere {
//!     fn dial(&self, _: u64, _: &Address) {}
//!     fn cancel(&self, _: u64) {}
//!     fn listen(&self, _: PortId, _: &Address) -> Result<Address, ActionError> {
//!         Err(ActionError::AddressInUse)
//!     }
//!     fn stop_listening(&self, _: PortId) {}
//!     fn start_reading(&self, _: WireId) {}
//!     fn pause_reading(&self, _: WireId) {}
//!     fn resume_reading(&self, _: WireId) {}
//!     fn write(&self, _: WireId, _: callorder::Bytes) {}
//!     fn shutdown_write(&self, _: WireId) {}
//!     fn close(&self, _: WireId) {}
//!     fn abort(&self, _: WireId) {}
//!     fn poll_event(&self, _: &mut Context<'_>) -> Poll<WireEvent> {
//!         Poll::Pending
//!     }
//! }
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! let run = rt.block_on(LiveReactor::new(std::rc::Rc::new(Nowhere)).run(|_| {}));
//! run.assert_clean();
//! ```

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use callorder_checker::Profile;
use callorder_core::{ActionError, Address, Port, PortId, Reactor, Reason};

use crate::reactor::MockReactor;
pub use crate::reactor::Watch;
use crate::run::Run;

/// A connection of a [`Backend`], named by the backend (from 1, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WireId(pub u64);

/// What the world did, as a [`Backend`] reports it.
#[derive(Debug)]
pub enum WireEvent {
    /// Outgoing attempt `attempt` (as [`Backend::dial`] named it)
    /// connected, on the new connection `wire`, from the local address
    /// `local`.
    Connected {
        /// The attempt.
        attempt: u64,
        /// Its connection.
        wire: WireId,
        /// Our end of it.
        local: Address,
    },
    /// Outgoing attempt `attempt` failed: `reason` is a connect failure
    /// (`connection_refused`, `dns_lookup`, `connect_error`, ...).
    Failed {
        /// The attempt.
        attempt: u64,
        /// Why.
        reason: Reason,
    },
    /// A peer connected to `port`, on the new connection `wire`.
    Accepted {
        /// The port (as [`Backend::listen`] named it).
        port: PortId,
        /// The new connection.
        wire: WireId,
        /// The peer's address.
        peer: Address,
        /// Our end of it.
        local: Address,
    },
    /// Bytes arrived (never empty).
    Data {
        /// The connection.
        wire: WireId,
        /// What was read, in one read.
        bytes: Bytes,
    },
    /// The peer closed its writing side: end of file.
    Eof {
        /// The connection.
        wire: WireId,
    },
    /// The connection was reset, or failed.
    Reset {
        /// The connection.
        wire: WireId,
    },
    /// `bytes` of what was written left our buffer (the kernel took them).
    Drained {
        /// The connection.
        wire: WireId,
        /// How many.
        bytes: usize,
    },
}

/// A source of events for the reactor core: what a [`LiveReactor`] asks of
/// the world, and how the world answers. Every method but
/// [`poll_event`](Backend::poll_event) only asks, and must not block; the
/// answers come from `poll_event`, in the order they happened.
///
/// Connections are a backend's [`WireId`]s. The core counts the bytes it
/// has written and not seen [`WireEvent::Drained`] yet: that count is the
/// transport's buffer, which pauses a streaming producer past its
/// high-water mark and resumes it once empty. The core closes a connection
/// only once its buffer is empty (after `lose_connection`), and
/// half-closes it likewise (after `lose_write_connection`).
pub trait Backend {
    /// Connects outgoing attempt `attempt` to `addr`; answered by
    /// [`WireEvent::Connected`] or [`WireEvent::Failed`]. The core keeps
    /// the attempt's timeout and cancels it when it fires.
    fn dial(&self, attempt: u64, addr: &Address);
    /// Gives up attempt `attempt` (it timed out or was cancelled): nothing
    /// more is reported for it (a connection it makes anyway is closed).
    fn cancel(&self, attempt: u64);
    /// Listens on `addr` now, as port `port`; the address bound (a port 0
    /// is the one the system chose). Peers are reported by
    /// [`WireEvent::Accepted`].
    fn listen(&self, port: PortId, addr: &Address) -> Result<Address, ActionError>;
    /// Stops listening on `port`: no more accepts.
    fn stop_listening(&self, port: PortId);
    /// The connection's protocol is made: reading begins (what arrives is
    /// reported by [`WireEvent::Data`], then [`WireEvent::Eof`] or
    /// [`WireEvent::Reset`]).
    fn start_reading(&self, wire: WireId);
    /// Stops reading (the protocol paused its transport).
    fn pause_reading(&self, wire: WireId);
    /// Reads again.
    fn resume_reading(&self, wire: WireId);
    /// Sends bytes, after those sent before; [`WireEvent::Drained`] says
    /// when they left the buffer.
    fn write(&self, wire: WireId, data: Bytes);
    /// Closes the writing side (a FIN), after what was written.
    fn shutdown_write(&self, wire: WireId);
    /// Closes the connection in order, after what was written.
    fn close(&self, wire: WireId);
    /// Drops the connection now, with a reset: the peer sees a reset.
    fn abort(&self, wire: WireId);
    /// The next event, when there is one; registers `cx`'s waker
    /// otherwise.
    fn poll_event(&self, cx: &mut Context<'_>) -> Poll<WireEvent>;
}

/// Stops a [`LiveReactor`]'s run: `shutdown` follows, with what is still
/// live torn down, then `end`. Any callback may hold one.
#[derive(Clone, Debug, Default)]
pub struct Stopper(Rc<Cell<bool>>);

impl Stopper {
    /// Asks the run to stop after the current turn.
    pub fn stop(&self) {
        self.0.set(true);
    }

    /// Whether stop was asked.
    pub fn is_stopped(&self) -> bool {
        self.0.get()
    }
}

/// The reactor core, driven by a [`Backend`] instead of a script: what a
/// reactor over real sockets is built on (`callorder-tokio` is one).
///
/// A run goes on until it is *idle* (no connector connecting or connected,
/// no live connection, no delivery or timer pending: listening ports alone
/// do not keep it going), until a [`Stopper`] says to stop, or until its
/// time runs out ([`give_up_after`](LiveReactor::give_up_after)); then the
/// shutdown tears down what is left, as under the mock.
pub struct LiveReactor {
    core: MockReactor,
    stopper: Stopper,
    give_up_after: Duration,
}

impl LiveReactor {
    /// How long a run may last before it gives up, unless
    /// [`give_up_after`](LiveReactor::give_up_after) says otherwise: long
    /// enough that only a hang reaches it.
    pub const GIVE_UP_AFTER: Duration = Duration::from_secs(120);

    /// A reactor whose events come from `backend`, checked under `strict`.
    pub fn new(backend: Rc<dyn Backend>) -> Self {
        LiveReactor::with_profile(backend, Profile::Strict, 0)
    }

    /// A reactor checked under `profile`, its random source seeded with
    /// `seed`.
    pub fn with_profile(backend: Rc<dyn Backend>, profile: Profile, seed: u64) -> Self {
        LiveReactor {
            core: MockReactor::with_profile(profile, seed).with_backend(backend),
            stopper: Stopper::default(),
            give_up_after: Self::GIVE_UP_AFTER,
        }
    }

    /// Gives up a run that has not ended after `limit` (it is then shut
    /// down, and the run reports a stall).
    #[must_use]
    pub fn give_up_after(mut self, limit: Duration) -> Self {
        self.give_up_after = limit;
        self
    }

    /// Keeps only the last `n` records of the trace, as
    /// [`MockReactor::keep_last`] does.
    #[must_use]
    pub fn keep_last(mut self, n: usize) -> Self {
        self.core = self.core.keep_last(n);
        self
    }

    /// Turns the checker off, to measure what it costs.
    #[must_use]
    pub fn without_checker(mut self) -> Self {
        self.core = self.core.without_checker();
        self
    }

    /// The reactor as implementations see it.
    pub fn handle(&self) -> Reactor {
        self.core.handle()
    }

    /// What stops the run.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// What the test's part of the world sees of the run as it goes on
    /// (see [`Watch`]).
    pub fn watch(&self) -> Watch {
        self.core.watch()
    }

    /// The address `port` is bound to (with the port the system chose for
    /// a port 0).
    pub fn address(&self, port: &Port) -> Option<Address> {
        self.core.port_address(port.id())
    }

    /// Runs, after `setup` made the first connections and ports, until the
    /// run is idle or stopped; then shuts down. Needs a tokio runtime with
    /// time enabled, whose clock is not paused (and what the backend needs,
    /// I/O for sockets).
    pub async fn run(self, setup: impl FnOnce(&Reactor)) -> Run {
        let LiveReactor {
            core,
            stopper,
            give_up_after,
        } = self;
        core.run_live(setup, None, stopper, give_up_after).await
    }

    /// [`run`](LiveReactor::run), with the test's own part of the world
    /// (peers that connect to its ports, say) polled beside the reactor on
    /// the same task: the run is not idle before `world` is done, and gives
    /// back what it returned (`None` if the run ended first: stopped, a
    /// violation, or given up).
    pub async fn run_with<T: 'static>(
        self,
        setup: impl FnOnce(&Reactor),
        world: impl Future<Output = T> + 'static,
    ) -> (Run, Option<T>) {
        let LiveReactor {
            core,
            stopper,
            give_up_after,
        } = self;
        let out = Rc::new(Cell::new(None));
        let slot = out.clone();
        let world: Pin<Box<dyn Future<Output = ()>>> = Box::pin(async move {
            slot.set(Some(world.await));
        });
        let run = core
            .run_live(setup, Some(world), stopper, give_up_after)
            .await;
        (run, out.take())
    }
}
