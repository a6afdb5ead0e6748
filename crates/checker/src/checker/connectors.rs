//! Section 4 of `docs/spec.md`, Connectors (C-STARTED, C-OUTCOME-ORDER,
//! C-ONE-OUTCOME, C-CANCEL, C-BUILD-OUTCOME, C-LOST-ORDER, C-LOST-REASON,
//! C-RETRY, C-CONNECT-STATE, and T-REASON for the outcome callbacks): a
//! connector's phases from `connect_tcp` to its outcome callback, and what
//! that callback's return decides (`on_return`).
//!
//! A connector's `build_protocol` (C-OUTCOME-ORDER, C-ONE-OUTCOME,
//! C-CANCEL there) is judged in `protocols.rs`, with the protocol it
//! builds; the `do_start`/`do_stop` it holds on its factory are in
//! `factories.rs`.

use callorder_trace::{ConnectorId, EventKind, FactoryId, Reason, Step};

use std::num::NonZeroU64;

use super::ids::connector_of;
use super::nesting::Parent;
use super::{fail, Check, Checker};
use crate::profile::Profile;
use crate::rules::Rule;
use crate::state::{ConnectorPhase, ConnectorState, Frame, Source};
use crate::violation::Object;

impl Checker {
    pub(super) fn connect_tcp(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        factory: FactoryId,
        c: ConnectorId,
    ) -> Check {
        if step.failed {
            return Ok(()); // It raised before doStart: nothing was created (C1).
        }
        self.coverage.hit(Rule::DuplicateId);
        if self.connectors.is_live(c) {
            return Err(fail(
                Rule::DuplicateId,
                Some(Object::Connector(c)),
                "connect_tcp with a connector id already used",
            ));
        }
        self.connectors
            .insert(c, ConnectorState::new(factory, step.seq));
        self.new_id();
        self.set_source(
            parent,
            Source::new(EventKind::ConnectTcp, Some(c), None, None, true),
        );
        Ok(())
    }

    pub(super) fn started_connecting(&mut self, factory: FactoryId, c: ConnectorId) -> Check {
        let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
        self.coverage.hit(Rule::StartedConnecting);
        match conn.phase {
            ConnectorPhase::AwaitStarted => {
                conn.phase = ConnectorPhase::Connecting;
                Ok(())
            }
            ConnectorPhase::AwaitDoStart => Err(fail(
                Rule::StartedConnecting,
                Some(Object::Connector(c)),
                "started_connecting before the do_start its connect owes",
            )),
            phase => Err(fail(
                Rule::StartedConnecting,
                Some(Object::Connector(c)),
                format!(
                    "started_connecting, but the connector is {} (one per connect)",
                    phase_name(phase)
                ),
            )),
        }
    }

    pub(super) fn connect(&mut self, step: &Step, parent: Option<Parent>, c: ConnectorId) -> Check {
        self.coverage.hit(Rule::ConnectState);
        let strict = self.profile == Profile::Strict;
        let running = |seq: u64| {
            parent.is_some_and(|p| p.seq == seq) || self.stack.iter().any(|f| f.seq == seq)
        };
        let retry_frame = match self.connectors.get(c).map(|s| s.phase) {
            Some(ConnectorPhase::Outcome { frame }) if running(frame) => Some(frame),
            _ => None,
        };
        let conn = self.connector_mut(c)?;
        if step.failed {
            return Ok(()); // It raised: nothing changed (C9).
        }
        match conn.phase {
            ConnectorPhase::Disconnected => {
                conn.phase = if conn.holds {
                    ConnectorPhase::AwaitStarted
                } else {
                    ConnectorPhase::AwaitDoStart
                };
                conn.cancelled = false;
            }
            ConnectorPhase::AwaitDoStop { double: true, .. } if strict => {
                // Under strict, Twisted's second stop (N2) is not owed.
                conn.phase = ConnectorPhase::AwaitDoStart;
                conn.cancelled = false;
            }
            ConnectorPhase::Outcome { frame } if retry_frame == Some(frame) => {
                // A retry inside client_connection_*: no do_stop, no do_start (C5).
                conn.phase = if conn.holds {
                    ConnectorPhase::AwaitStarted
                } else {
                    ConnectorPhase::AwaitDoStart
                };
                conn.cancelled = false;
                conn.retry_inside = NonZeroU64::new(frame);
            }
            ConnectorPhase::AwaitDoStop {
                outcome,
                double: false,
            } if parent.is_some_and(|p| p.seq == outcome) => {
                // `within` names the outcome callback: it had not returned
                // (it awaited), so this is a retry inside it after all.
                conn.phase = if conn.holds {
                    ConnectorPhase::AwaitStarted
                } else {
                    ConnectorPhase::AwaitDoStart
                };
                conn.cancelled = false;
            }
            ConnectorPhase::AwaitDoStop { outcome, .. } => {
                self.coverage.hit(Rule::Retry);
                return Err(fail(
                    Rule::Retry,
                    Some(Object::Connector(c)),
                    format!("connect after the outcome callback at seq {outcome} returned, before the do_stop it owes"),
                ));
            }
            phase => {
                return Err(fail(
                    Rule::ConnectState,
                    Some(Object::Connector(c)),
                    format!(
                        "connect on a connector that is {}: Twisted raises (error expected on it)",
                        phase_name(phase)
                    ),
                ));
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::Connect, Some(c), None, None, true),
        );
        Ok(())
    }

    pub(super) fn stop_connecting(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        c: ConnectorId,
    ) -> Check {
        self.coverage.hit(Rule::ConnectState);
        let conn = self.connector_mut(c)?;
        if step.failed {
            return Ok(()); // NotConnectingError: nothing changed.
        }
        match conn.phase {
            ConnectorPhase::AwaitDoStart
            | ConnectorPhase::AwaitStarted
            | ConnectorPhase::Connecting => {
                conn.cancelled = true;
            }
            phase => {
                return Err(fail(
                    Rule::ConnectState,
                    Some(Object::Connector(c)),
                    format!(
                        "stop_connecting on a connector that is {}: Twisted raises NotConnectingError (error expected on it)",
                        phase_name(phase)
                    ),
                ));
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::StopConnecting, Some(c), None, None, true),
        );
        Ok(())
    }

    pub(super) fn disconnect(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        c: ConnectorId,
    ) -> Check {
        let conn = self.connector_mut(c)?;
        if step.failed {
            return Ok(());
        }
        let source = match conn.phase {
            ConnectorPhase::AwaitDoStart
            | ConnectorPhase::AwaitStarted
            | ConnectorPhase::Connecting => {
                conn.cancelled = true;
                Source::new(EventKind::Disconnect, Some(c), None, None, true)
            }
            ConnectorPhase::Connected {
                protocol: Some(p),
                build_raised: false,
            } => {
                // `transport.loseConnection()` (C8): the same as lose_connection.
                let delivers = match self.protocols.get_mut(p) {
                    Some(ps) => {
                        ps.losing = true;
                        ps.write_closed
                    }
                    None => false,
                };
                Source::new(EventKind::Disconnect, Some(c), None, Some(p), delivers)
            }
            _ => Source::new(EventKind::Disconnect, Some(c), None, None, false),
        };
        self.set_source(parent, source);
        Ok(())
    }

    pub(super) fn connection_failed(
        &mut self,
        seq: u64,
        factory: FactoryId,
        c: ConnectorId,
        reason: Reason,
    ) -> Check {
        let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
        self.coverage.hit(Rule::Reason);
        if !reason.is_failure() {
            return Err(fail(
                Rule::Reason,
                Some(Object::Connector(c)),
                format!(
                    "client_connection_failed with reason {reason}, which is not a connect failure"
                ),
            ));
        }
        self.coverage.hit(Rule::OneOutcome);
        self.coverage.hit(Rule::OutcomeBeforeStarted);
        match conn.phase {
            ConnectorPhase::Connecting => {
                if conn.cancelled && reason != Reason::UserCancelled {
                    return Err(fail(
                        Rule::Cancel,
                        Some(Object::Connector(c)),
                        format!("the attempt was cancelled (stop_connecting or disconnect), so it fails with user_cancelled, not {reason}"),
                    ));
                }
            }
            ConnectorPhase::Connected {
                build_raised: true, ..
            } => {
                self.coverage.hit(Rule::FailedAfterBuildRaised);
                self.coverage.hit(Rule::BuildOutcome);
            }
            ConnectorPhase::AwaitDoStart | ConnectorPhase::AwaitStarted => {
                return Err(fail(
                    Rule::OutcomeBeforeStarted,
                    Some(Object::Connector(c)),
                    "client_connection_failed before started_connecting",
                ));
            }
            ConnectorPhase::Connected { .. } | ConnectorPhase::Lost { .. } => {
                return Err(fail(
                    Rule::OneOutcome,
                    Some(Object::Connector(c)),
                    "client_connection_failed after a build_protocol that did not raise: the attempt connected",
                ));
            }
            phase => {
                return Err(fail(
                    Rule::OneOutcome,
                    Some(Object::Connector(c)),
                    format!(
                        "client_connection_failed, but the connector is {}",
                        phase_name(phase)
                    ),
                ));
            }
        }
        conn.phase = ConnectorPhase::Outcome { frame: seq };
        conn.cancelled = false;
        Ok(())
    }

    pub(super) fn client_connection_lost(
        &mut self,
        seq: u64,
        factory: FactoryId,
        c: ConnectorId,
        reason: Reason,
    ) -> Check {
        let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
        self.coverage.hit(Rule::Reason);
        if !reason.is_loss() {
            return Err(fail(
                Rule::Reason,
                Some(Object::Connector(c)),
                format!(
                    "client_connection_lost with reason {reason}, which is not a connection loss"
                ),
            ));
        }
        self.coverage.hit(Rule::LostOrder);
        self.coverage.hit(Rule::LostReason);
        match conn.phase {
            ConnectorPhase::Lost { reason: lost } => {
                if lost != reason {
                    return Err(fail(
                        Rule::LostReason,
                        Some(Object::Connector(c)),
                        format!("client_connection_lost with reason {reason}, but the protocol's connection_lost said {lost}"),
                    ));
                }
            }
            ConnectorPhase::Connected {
                protocol: None,
                build_raised: false,
            } => {
                self.coverage.hit(Rule::LostWithoutProtocol);
                self.coverage.hit(Rule::BuildOutcome);
                if reason != Reason::ConnectionDone {
                    return Err(fail(
                        Rule::LostReason,
                        Some(Object::Connector(c)),
                        format!("build_protocol returned none, so the connection closes with connection_done, not {reason}"),
                    ));
                }
            }
            ConnectorPhase::Connected {
                protocol: Some(p),
                build_raised: false,
            } => {
                return Err(fail(
                    Rule::LostOrder,
                    Some(Object::Connector(c)),
                    format!(
                        "client_connection_lost before the connection_lost of its protocol {p:?}"
                    ),
                ));
            }
            ConnectorPhase::Connected {
                build_raised: true, ..
            } => {
                return Err(fail(
                    Rule::BuildOutcome,
                    Some(Object::Connector(c)),
                    "build_protocol raised, so client_connection_failed follows, not client_connection_lost",
                ));
            }
            ConnectorPhase::Stuck => {
                return Err(fail(
                    Rule::LostOrder,
                    Some(Object::Connector(c)),
                    "client_connection_lost after a connection_lost that raised: Twisted never calls it (P9)",
                ));
            }
            ConnectorPhase::AwaitDoStart
            | ConnectorPhase::AwaitStarted
            | ConnectorPhase::Connecting => {
                return Err(fail(
                    Rule::OutcomeBeforeStarted,
                    Some(Object::Connector(c)),
                    "client_connection_lost, but the attempt never connected",
                ));
            }
            phase => {
                return Err(fail(
                    Rule::OneOutcome,
                    Some(Object::Connector(c)),
                    format!(
                        "client_connection_lost, but the connector is {}",
                        phase_name(phase)
                    ),
                ));
            }
        }
        conn.phase = ConnectorPhase::Outcome { frame: seq };
        Ok(())
    }

    /// An outcome callback (`client_connection_*`) returned: what Twisted
    /// decides at that point. No other return decides anything.
    #[inline(never)]
    pub(super) fn on_return(&mut self, frame: &Frame) {
        debug_assert!(matches!(
            frame.kind,
            EventKind::ClientConnectionFailed | EventKind::ClientConnectionLost
        ));
        let c = frame.connector;
        let Some(conn) = self.connectors.get_mut(c) else {
            return;
        };
        let retried_inside = conn.retry_inside.map(NonZeroU64::get) == Some(frame.seq);
        if retried_inside {
            conn.retry_inside = None;
        }
        match conn.phase {
            ConnectorPhase::Outcome { frame: seq } if seq == frame.seq => {
                // `if self.state == "disconnected": doStop()`, unless the
                // callback raised (P10): then the factory stays started.
                conn.phase = if frame.failed || !conn.holds {
                    ConnectorPhase::Disconnected
                } else {
                    ConnectorPhase::AwaitDoStop {
                        outcome: frame.seq,
                        double: false,
                    }
                };
            }
            ConnectorPhase::Disconnected if retried_inside && !frame.failed => {
                // N2: the retry made inside this callback failed and stopped
                // the factory inside it; Twisted stops it again now.
                conn.phase = ConnectorPhase::AwaitDoStop {
                    outcome: frame.seq,
                    double: true,
                };
            }
            _ => {}
        }
    }
}

/// A connector's phase, as violation messages name it.
pub(super) fn phase_name(phase: ConnectorPhase) -> String {
    match phase {
        ConnectorPhase::AwaitDoStart => "waiting for its do_start".into(),
        ConnectorPhase::AwaitStarted => "connecting, before started_connecting".into(),
        ConnectorPhase::Connecting => "connecting".into(),
        ConnectorPhase::Connected {
            protocol: Some(_),
            build_raised: false,
        } => "connected".into(),
        ConnectorPhase::Connected {
            protocol: None,
            build_raised: false,
        } => "connected with no protocol (build_protocol returned none)".into(),
        ConnectorPhase::Connected {
            build_raised: true, ..
        } => "connected, after a build_protocol that raised".into(),
        ConnectorPhase::Lost { .. } => "connected, after its protocol's connection_lost".into(),
        ConnectorPhase::Outcome { frame } => format!("in its outcome callback (seq {frame})"),
        ConnectorPhase::AwaitDoStop { outcome, .. } => {
            format!("disconnected, owing the do_stop of the outcome at seq {outcome}")
        }
        ConnectorPhase::Disconnected => "disconnected".into(),
        ConnectorPhase::Stuck => "stuck after a callback raised".into(),
    }
}
