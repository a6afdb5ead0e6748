//! A second, independent model of the legal callback order of `docs/spec.md`.
//!
//! The fast checker (`callorder-checker`) runs one state machine per object,
//! updated event by event. This oracle is written from the spec alone, and
//! differently on purpose: it keeps the whole list of accepted events, and to
//! judge a new event it recomputes what it needs from that history:
//!
//! - the call stack, by walking back over the depths of earlier events
//!   (spec §1);
//! - the state of each connector, port, protocol and factory, by replaying
//!   that object's own events (and the returns of its callbacks) from the
//!   start through Twisted's state machine for it (spec §3–§6).
//!
//! It is slow (quadratic in the trace length) and meant for tests: when the
//! two models disagree on a trace, one of them (or the spec) has a bug.
//!
//! ```
//! use callorder_oracle::{judge, Verdict};
//! use callorder_trace::{ConnectorId, Event, FactoryId, Holder, Reason, Step};
//!
//! let (f, c) = (FactoryId(1), ConnectorId(1));
//! let mut steps = vec![
//!     Step::new(1, Event::ConnectTcp { factory: f, connector: c }),
//!     Step::new(2, Event::DoStart { factory: f, holder: Some(Holder::Connector(c)) }),
//!     Step::new(3, Event::StartFactory { factory: f }).at_depth(1),
//!     Step::new(4, Event::StartedConnecting { factory: f, connector: c }),
//!     Step::new(5, Event::ClientConnectionFailed {
//!         factory: f,
//!         connector: c,
//!         reason: Reason::ConnectionRefused,
//!     }),
//!     Step::new(6, Event::DoStop { factory: f, holder: Some(Holder::Connector(c)) }),
//!     Step::new(7, Event::StopFactory { factory: f }).at_depth(1),
//!     Step::new(8, Event::End),
//! ];
//! assert_eq!(judge(&steps, false), Verdict::Legal { warnings: 0 });
//!
//! // Without its do_stop the connector's obligation is unmet at `end`:
//! // a violation under `strict`, a warning under `twisted`.
//! steps.truncate(5);
//! steps.push(Step::new(6, Event::End));
//! assert_eq!(judge(&steps, false), Verdict::Illegal { seq: 6, rule: "F-UNSTOPPED" });
//! assert_eq!(judge(&steps, true), Verdict::Legal { warnings: 1 });
//! ```
#![forbid(unsafe_code)]

mod history;
mod judge;
pub mod rules;
mod views;

#[cfg(test)]
mod tests;

use callorder_trace::Step;

/// What the oracle decides about a trace.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Verdict {
    /// Every event is legal. Under the `twisted` profile, `warnings` counts
    /// the obligations left unmet at `end` (always 0 under `strict`).
    Legal {
        /// Obligations unmet at `end`, under `twisted`.
        warnings: usize,
    },
    /// The trace breaks a rule.
    Illegal {
        /// The seq of the first event that cannot be legal; for an obligation
        /// unmet at `end` under `strict`, the seq of the `end` line.
        seq: u64,
        /// The rule id of `docs/spec.md` (see [`rules`]).
        rule: &'static str,
    },
}

impl Verdict {
    /// Whether the trace is legal.
    pub fn is_legal(&self) -> bool {
        matches!(self, Verdict::Legal { .. })
    }
}

/// Judges a trace (or a prefix of one: without `end`, nothing is owed).
///
/// `twisted == false` is the `strict` profile; `twisted == true` accepts
/// Twisted's double stop (N2) and turns unmet obligations at `end` into
/// warnings. See the crate documentation for an example.
pub fn judge(steps: &[Step], twisted: bool) -> Verdict {
    let mut oracle = judge::Oracle::new(twisted);
    for step in steps {
        if let Err(rule) = oracle.step(step) {
            return Verdict::Illegal {
                seq: step.seq,
                rule,
            };
        }
    }
    Verdict::Legal {
        warnings: if twisted { oracle.unmet.len() } else { 0 },
    }
}
