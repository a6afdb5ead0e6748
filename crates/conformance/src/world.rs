//! The suite's contract with a reactor under test: the world side.
//!
//! A case says what the world does, as data ([`Plan`]): what the probe
//! client's one attempt meets ([`Answer`]: refused, never answered, a name
//! that does not resolve, or a peer that accepts), the peers that connect
//! to the probe server's port, each a list of [`PeerStep`]s (send, read,
//! half-close, close, reset), and whether the application shuts the
//! reactor down with connections still live. The reactor under test makes
//! that happen, through whatever its world is: the mock reactor from a
//! script, the tokio reactor with real loopback peers (a closed port for a
//! refusal, a listener whose backlog is full for a connect timeout, a peer
//! that resets with `SO_LINGER` 0).
//!
//! What a [`World`] must guarantee, so that every reactor gives the same
//! callbacks for the same plan:
//!
//! - peers act in the plan's order, one peer after the other, each step
//!   after the one before it took effect: a [`PeerStep::Read`] waits until
//!   that many bytes of the implementation arrived, so a reset that follows
//!   comes after they were delivered;
//! - a refusal, a timeout and a failed name are failures of the attempt
//!   with `connection_refused`, `timeout` and `dns_lookup`;
//! - the run ends when the plan is done and nothing is live (then the
//!   shutdown and `end`), or, with [`Plan::shutdown_live`], by a shutdown
//!   once the peers' steps are done;
//! - every delivery is judged by the checker, and the [`Run`] comes back
//!   whole (its trace, violation, errors and leaks).
//!
//! And what a case must do for every world to give the same callbacks: a
//! peer's steps end its connection or wait for the implementation to end
//! it (else only a shutdown ends the run), and a peer reads something of
//! the implementation before it closes or resets (over real sockets,
//! nothing else tells the peer that the reactor has seen its connection;
//! and a close with unread bytes is a reset).

use std::time::Duration;

use callorder_core::{Address, Port, Reactor};
use callorder_harness::Run;

/// What the probe client's attempt meets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Nothing listens: the connection is refused.
    Refuse,
    /// The attempt is never answered: it times out.
    NeverAnswer,
    /// The host name does not resolve.
    FailName,
    /// A peer accepts, then takes these steps.
    Accept(Vec<PeerStep>),
}

/// One step of a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerStep {
    /// Sends these bytes.
    Send(&'static [u8]),
    /// Waits until this many more bytes from the implementation arrived.
    Read(usize),
    /// Waits until the implementation closed the connection (or reset it).
    ReadToEnd,
    /// Closes its writing side (a FIN).
    HalfClose,
    /// Closes the connection in order.
    Close,
    /// Resets the connection.
    Reset,
}

/// What the world does in one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// What the probe client's attempt meets (`None`: no client).
    pub client: Option<Answer>,
    /// How many outgoing attempts the world answers as `client` says, one
    /// after the other (a probe that retries or reconnects, or several
    /// probe clients): all refused, all failing their names, or each
    /// accepted by a peer that takes the same steps.
    pub attempts: usize,
    /// The probe client's connect timeout.
    pub timeout: Duration,
    /// Peers that connect, one after the other, to the probe server's port.
    pub peers: Vec<Vec<PeerStep>>,
    /// Once the peers' steps are done, the application shuts the reactor
    /// down, with what is still live.
    pub shutdown_live: bool,
}

/// Where the probes connect and listen: the world decides.
#[derive(Clone, Debug)]
pub struct Site {
    /// The address the probe client connects to.
    pub connect_to: Address,
    /// The address the probe server listens on.
    pub listen_on: Address,
}

/// The set-up of a case: it makes the probe's connection or port, through
/// the reactor's handle, at the world's `Site`, and gives back the port it
/// listens on, if it listens.
pub type SetUp<'a> = &'a dyn Fn(&Reactor, &Site) -> Option<Port>;

/// A reactor under test, as the suite sees it: it runs one case's plan
/// with the case's set-up, and gives back the checked run. See the module
/// for what it must guarantee.
pub trait World {
    /// The reactor's name in reports (`mock`, `tokio`).
    fn name(&self) -> &str;

    /// Runs `plan` after `setup`.
    fn run(&mut self, plan: &Plan, setup: SetUp<'_>) -> Run;
}
