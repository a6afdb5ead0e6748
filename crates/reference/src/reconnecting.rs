//! Twisted's `ReconnectingClientFactory`: a client factory that reconnects
//! with exponential back-off (semantics RC1-RC5, from
//! `twisted/internet/protocol.py`).
//!
//! The policy is Twisted's exactly:
//!
//! - after each failed attempt or lost connection, while trying, it
//!   counts a retry; past `max_retries` it gives up (RC2);
//! - otherwise, with jitter, it draws the delay from a normal distribution
//!   around the current delay (`normalvariate(delay, delay * jitter)`),
//!   schedules `connector.connect()` after that delay, and multiplies the
//!   delay by `factor`, capped at `max_delay`;
//! - [`reset_delay`](ReconnectingClientFactory::reset_delay) goes back to
//!   the initial delay (RC4). By default the factory calls it in
//!   `build_protocol`, as Twisted's client howto does;
//! - [`stop_trying`](ReconnectingClientFactory::stop_trying) cancels the
//!   pending retry and stops the attempt in progress (RC5).
//!
//! With jitter 0 the scheduled delays are 1, e, e², ... capped at 3600 s:
//!
//! ```
//! use std::time::Duration;
//! use callorder_harness::{MockReactor, Outcome, Script};
//! use callorder_reference::{Echo, ReconnectingClientFactory, RetryPolicy};
//!
//! let factory = ReconnectingClientFactory::new(|_addr| Box::new(Echo::new()))
//!     .with_policy(RetryPolicy::default().with_jitter(0.0))
//!     .shared();
//! let run = MockReactor::new().run(
//!     Script::new()
//!         .resolve(1, Outcome::Refuse)
//!         .advance(Duration::from_secs(1))
//!         .resolve(2, Outcome::Refuse)
//!         .advance(Duration::from_secs(3))
//!         .resolve(3, Outcome::Accept)
//!         .shutdown(),
//!     |reactor| {
//!         reactor.connect_tcp("example.org:80", factory.clone(), None);
//!     },
//! );
//! run.assert_clean();
//! // Refused twice, connected, then lost at shutdown: a third retry, from
//! // the initial delay again since the connect reset it.
//! assert_eq!(factory.scheduled_delays(), [1.0, std::f64::consts::E, 1.0]);
//! ```

use std::cell::RefCell;
use std::f64::consts::PI;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use callorder_core::{
    ActionError, Address, CallbackError, CallbackResult, Connector, Protocol, Reactor, Reason,
    SyncClientFactory, SyncFactory, TimerHandle,
};

/// When and how often a [`ReconnectingClientFactory`] retries (RC1).
/// The default is Twisted's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// The longest delay between attempts, in seconds (`maxDelay`, 3600).
    pub max_delay: f64,
    /// The delay before the first retry, in seconds (`initialDelay`, 1.0).
    pub initial_delay: f64,
    /// How the delay grows after each retry (`factor`, e).
    pub factor: f64,
    /// The standard deviation of the delay, relative to it (`jitter`,
    /// 0.119626565582); 0 turns jitter off.
    pub jitter: f64,
    /// How many retries in a row before giving up (`maxRetries`, `None`:
    /// never give up).
    pub max_retries: Option<u32>,
}

impl RetryPolicy {
    /// Twisted's policy (RC1).
    pub const TWISTED: RetryPolicy = RetryPolicy {
        max_delay: 3600.0,
        initial_delay: 1.0,
        // Twisted writes 2.7182818284590451: math.e, this very f64.
        factor: std::f64::consts::E,
        jitter: 0.119_626_565_582,
        max_retries: None,
    };

    /// This policy with another jitter (0: none).
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// This policy, giving up after `n` retries in a row.
    #[must_use]
    pub fn with_max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// This policy with another cap on the delay.
    #[must_use]
    pub fn with_max_delay(mut self, seconds: f64) -> Self {
        self.max_delay = seconds;
        self
    }

    /// The delays this policy schedules without jitter, from the first
    /// retry on: `initial_delay`, then times `factor` each time, capped at
    /// `max_delay` (RC2). Endless.
    ///
    /// ```
    /// use callorder_reference::RetryPolicy;
    /// let d: Vec<f64> = RetryPolicy::default().jitter_free_delays().take(3).collect();
    /// assert_eq!(d, [1.0, std::f64::consts::E, std::f64::consts::E * std::f64::consts::E]);
    /// ```
    pub fn jitter_free_delays(&self) -> impl Iterator<Item = f64> {
        let (factor, max) = (self.factor, self.max_delay);
        std::iter::successors(Some(self.initial_delay), move |d| {
            Some((d * factor).min(max))
        })
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::TWISTED
    }
}

/// A sample of the normal distribution with mean `mu` and standard
/// deviation `sigma`, from the reactor's seeded random source (Box-Muller):
/// the same seed gives the same samples.
pub fn normal_variate(reactor: &Reactor, mu: f64, sigma: f64) -> f64 {
    // 1 - [0, 1) is (0, 1]: the logarithm stays finite.
    let u1 = 1.0 - reactor.random_f64();
    let u2 = reactor.random_f64();
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos();
    mu + sigma * z
}

/// What builds the factory's protocols.
type BuildFn = dyn Fn(&Address) -> Box<dyn Protocol>;

/// The mutable state of Twisted's factory.
struct RetryState {
    delay: f64,
    retries: u32,
    continue_trying: bool,
    /// Set in `client_connection_*` only, as in Twisted (RC5).
    connector: Option<Connector>,
    /// The pending reconnect (`_callID`).
    pending: Option<TimerHandle>,
    /// Every delay scheduled, in seconds.
    scheduled: Vec<f64>,
}

/// A client factory that reconnects with exponential back-off, as
/// Twisted's `ReconnectingClientFactory` does. Its protocols come from a
/// closure.
///
/// It holds reactor handles, which are single-threaded: share it as
/// [`shared`](ReconnectingClientFactory::shared) makes it, on the reactor's
/// thread.
pub struct ReconnectingClientFactory {
    policy: RetryPolicy,
    reset_on_build: bool,
    build: Box<BuildFn>,
    state: Rc<RefCell<RetryState>>,
}

impl std::fmt::Debug for ReconnectingClientFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("ReconnectingClientFactory")
            .field("policy", &self.policy)
            .field("reset_on_build", &self.reset_on_build)
            .field("delay", &s.delay)
            .field("retries", &s.retries)
            .field("continue_trying", &s.continue_trying)
            .field("connector", &s.connector)
            .field("pending", &s.pending.is_some())
            .field("scheduled", &s.scheduled)
            .finish_non_exhaustive()
    }
}

impl ReconnectingClientFactory {
    /// A factory with Twisted's policy whose protocols `build` makes, which
    /// resets the delay in `build_protocol`.
    pub fn new(build: impl Fn(&Address) -> Box<dyn Protocol> + 'static) -> Self {
        let policy = RetryPolicy::default();
        ReconnectingClientFactory {
            policy,
            reset_on_build: true,
            build: Box::new(build),
            state: Rc::new(RefCell::new(RetryState {
                delay: policy.initial_delay,
                retries: 0,
                continue_trying: true,
                connector: None,
                pending: None,
                scheduled: Vec::new(),
            })),
        }
    }

    /// The factory with another policy.
    #[must_use]
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self.state.borrow_mut().delay = policy.initial_delay;
        self
    }

    /// Whether `build_protocol` calls [`reset_delay`](Self::reset_delay)
    /// first (default: yes, as Twisted's howto does). Without it the delay
    /// keeps growing across successful sessions, and each lost session
    /// counts toward `max_retries` (RC4).
    #[must_use]
    pub fn reset_delay_on_build(mut self, reset: bool) -> Self {
        self.reset_on_build = reset;
        self
    }

    /// The factory, shared as reactors hold it.
    #[allow(clippy::arc_with_non_send_sync)] // Reactor handles are single-threaded by design.
    pub fn shared(self) -> Arc<Self> {
        Arc::new(self)
    }

    /// Its policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Every delay it scheduled a reconnect after, in seconds, in order.
    pub fn scheduled_delays(&self) -> Vec<f64> {
        self.state.borrow().scheduled.clone()
    }

    /// The retries counted since the last reset.
    pub fn retries(&self) -> u32 {
        self.state.borrow().retries
    }

    /// The delay the next retry is based on, in seconds.
    pub fn delay(&self) -> f64 {
        self.state.borrow().delay
    }

    /// Whether it still retries (`continueTrying`).
    pub fn is_trying(&self) -> bool {
        self.state.borrow().continue_trying
    }

    /// Whether a reconnect is scheduled and has not run yet (as far as the
    /// factory knows: [`reset_delay`](Self::reset_delay) forgets it).
    pub fn has_pending_retry(&self) -> bool {
        self.state.borrow().pending.is_some()
    }

    /// Schedules `connector.connect()` after the current delay, unless it
    /// stopped trying or gave up (Twisted's `retry`, RC2).
    pub fn retry(&self, connector: &Connector) {
        let policy = self.policy;
        let mut s = self.state.borrow_mut();
        if !s.continue_trying {
            return;
        }
        s.retries += 1;
        if policy.max_retries.is_some_and(|max| s.retries > max) {
            // Abandoned: Twisted only logs.
            return;
        }
        let reactor = connector.reactor();
        if policy.jitter != 0.0 {
            s.delay = normal_variate(&reactor, s.delay, s.delay * policy.jitter);
        }
        let delay = s.delay;
        s.scheduled.push(delay);
        let connector = connector.clone();
        let state: Weak<RefCell<RetryState>> = Rc::downgrade(&self.state);
        let timer = reactor.call_later(as_duration(delay), move || {
            // Twisted's `reconnector`: forget the call, then connect.
            if let Some(state) = state.upgrade() {
                state.borrow_mut().pending = None;
            }
            let _ = connector.connect();
        });
        s.pending = Some(timer);
        s.delay = (s.delay * policy.factor).min(policy.max_delay);
    }

    /// Stops retrying: cancels the pending reconnect and stops the attempt
    /// in progress, if the factory knows its connector (RC5). A connector
    /// that is not connecting is fine (Twisted swallows
    /// `NotConnectingError`); any other error of `stop_connecting` is
    /// returned.
    pub fn stop_trying(&self) -> Result<(), ActionError> {
        let (pending, connector) = {
            let mut s = self.state.borrow_mut();
            s.continue_trying = false;
            (s.pending.take(), s.connector.clone())
        };
        if let Some(timer) = pending {
            timer.cancel();
        }
        match connector.map(|c| c.stop_connecting()) {
            None | Some(Ok(())) | Some(Err(ActionError::NotConnecting)) => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    /// Back to the initial delay, with no retries counted, trying again
    /// (RC4). A pending reconnect is forgotten, not cancelled, exactly as in
    /// Twisted: it still runs, and `stop_trying` can no longer cancel it.
    pub fn reset_delay(&self) {
        let mut s = self.state.borrow_mut();
        s.delay = self.policy.initial_delay;
        s.retries = 0;
        s.pending = None;
        s.continue_trying = true;
    }

    /// Twisted's `clientConnectionFailed`/`clientConnectionLost`.
    fn lost_or_failed(&self, connector: &Connector) {
        {
            let mut s = self.state.borrow_mut();
            if !s.continue_trying {
                return;
            }
            s.connector = Some(connector.clone());
        }
        self.retry(connector);
    }
}

/// A delay in seconds as a duration: negative (possible with jitter) is 0.
fn as_duration(seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
}

impl SyncFactory for ReconnectingClientFactory {
    fn build_protocol(&self, addr: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if self.reset_on_build {
            self.reset_delay();
        }
        Ok(Some((self.build)(addr)))
    }
}

impl SyncClientFactory for ReconnectingClientFactory {
    fn client_connection_failed(&self, connector: &Connector, _reason: Reason) -> CallbackResult {
        self.lost_or_failed(connector);
        Ok(())
    }

    fn client_connection_lost(&self, connector: &Connector, _reason: Reason) -> CallbackResult {
        self.lost_or_failed(connector);
        Ok(())
    }
}
