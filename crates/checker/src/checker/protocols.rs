//! Section 6 of `docs/spec.md`, Protocols (P-MADE, P-BEFORE-MADE,
//! P-AFTER-LOST, P-LOST-TWICE, P-RAISED, P-EMPTY-DATA, and T-REASON for
//! `connection_lost`): a protocol from its `build_protocol` to its
//! `connection_lost`, the checks every transport callback starts with
//! (`delivered_to`), and the transport actions that change the order.
//!
//! `build_protocol` also judges its holder: a connector's attempt
//! (C-OUTCOME-ORDER, C-ONE-OUTCOME, C-CANCEL; section 4) or a port's
//! (S-BUILD; section 5).
//!
//! Half-close (H-) is in `half_close.rs`, producers (PR-) in
//! `producers.rs`.

use callorder_trace::{EventKind, FactoryId, Holder, ProtocolId, Reason, Step};

use std::num::NonZeroU64;

use super::connectors::phase_name;
use super::ids::{action_target, connector_of};
use super::nesting::Parent;
use super::{fail, Check, Checker, Fail};
use crate::rules::Rule;
use crate::state::{ConnectorPhase, Producer, ProtocolState, Source};
use crate::table::Entry;
use crate::violation::Object;

impl Checker {
    /// A `build_protocol`: the holder's part first (a connector that is
    /// connecting, or a port between its do_start and do_stop), then the
    /// protocol it returned, if any (T-DUPLICATE-ID).
    pub(super) fn build_protocol(
        &mut self,
        step: &Step,
        factory: FactoryId,
        holder: Holder,
        protocol: Option<ProtocolId>,
    ) -> Check {
        let seq = step.seq;
        match holder {
            Holder::Connector(c) => {
                let conn = connector_of(&mut self.connectors, &mut self.coverage, c, factory)?;
                self.coverage.hit(Rule::OutcomeBeforeStarted);
                self.coverage.hit(Rule::OneOutcome);
                match conn.phase {
                    ConnectorPhase::Connecting if conn.cancelled => {
                        return Err(fail(
                            Rule::Cancel,
                            Some(Object::Connector(c)),
                            "build_protocol after the attempt was cancelled: it fails with user_cancelled first",
                        ));
                    }
                    ConnectorPhase::Connecting => {}
                    ConnectorPhase::AwaitDoStart | ConnectorPhase::AwaitStarted => {
                        return Err(fail(
                            Rule::OutcomeBeforeStarted,
                            Some(Object::Connector(c)),
                            "build_protocol before started_connecting",
                        ));
                    }
                    phase => {
                        return Err(fail(
                            Rule::OneOutcome,
                            Some(Object::Connector(c)),
                            format!(
                                "build_protocol, but the connector is {} (one per attempt)",
                                phase_name(phase)
                            ),
                        ));
                    }
                }
                let built = if step.failed { None } else { protocol };
                conn.phase = ConnectorPhase::Connected {
                    protocol: built,
                    build_raised: step.failed,
                };
            }
            Holder::Port(l) => {
                self.coverage.hit(Rule::BuildAfterStop);
                let Some(port) = self.ports.get(l) else {
                    if self.ports.is_ended(l) {
                        return Err(fail(
                            Rule::BuildAfterStop,
                            Some(Object::Port(l)),
                            "build_protocol on a port after its do_stop",
                        ));
                    }
                    return Err(self.unknown_port(l));
                };
                let expected = port.factory;
                self.factory_mismatch(Object::Port(l), expected, factory)?;
                let port = self.ports.get_mut(l).expect("present");
                if !port.started {
                    return Err(fail(
                        Rule::BuildAfterStop,
                        Some(Object::Port(l)),
                        if port.stuck {
                            "build_protocol on a port whose start_factory raised: it never listened"
                        } else {
                            "build_protocol on a port before its do_start"
                        },
                    ));
                }
                if port.stopping {
                    self.coverage.hit(Rule::BuildAfterStopListening);
                }
            }
        }
        let Some(p) = protocol else { return Ok(()) };
        if step.failed {
            return Ok(());
        }
        self.coverage.hit(Rule::DuplicateId);
        if self.protocols.is_live_or_ended(p) {
            return Err(fail(
                Rule::DuplicateId,
                Some(Object::Protocol(p)),
                "build_protocol returned a protocol id already used",
            ));
        }
        self.protocols.insert(p, ProtocolState::new(holder, seq));
        self.new_id();
        Ok(())
    }

    /// The live protocol a transport callback is delivered to. Callbacks
    /// after connection_lost, before connection_made or after a callback
    /// that raised are refused here.
    pub(super) fn delivered_to(
        &mut self,
        kind: EventKind,
        p: ProtocolId,
    ) -> Result<&mut ProtocolState, Fail> {
        self.coverage.hit(Rule::AfterLost);
        self.coverage.hit(Rule::BeforeMade);
        self.coverage.hit(Rule::UnknownId);
        let ps = match self.protocols.entry(p) {
            Entry::Live(ps) => ps,
            Entry::Ended if kind == EventKind::ConnectionLost => {
                self.coverage.hit(Rule::LostTwice);
                return Err(fail(
                    Rule::LostTwice,
                    Some(Object::Protocol(p)),
                    "a second connection_lost",
                ));
            }
            Entry::Ended => {
                return Err(fail(
                    Rule::AfterLost,
                    Some(Object::Protocol(p)),
                    format!("{kind} after connection_lost"),
                ))
            }
            Entry::Unknown => {
                return Err(fail(
                    Rule::UnknownId,
                    Some(Object::Protocol(p)),
                    format!("{kind} for a protocol no build_protocol returned"),
                ))
            }
        };
        if !ps.made {
            return Err(fail(
                Rule::BeforeMade,
                Some(Object::Protocol(p)),
                format!("{kind} before connection_made"),
            ));
        }
        if let Some(raised) = ps.must_lose {
            self.coverage.hit(Rule::Raised);
            if !matches!(kind, EventKind::ConnectionLost | EventKind::StopProducing) {
                return Err(fail(
                    Rule::Raised,
                    Some(Object::Protocol(p)),
                    format!("{kind}, but the callback at seq {raised} raised, so connection_lost comes next"),
                ));
            }
        }
        Ok(ps)
    }

    pub(super) fn connection_made(&mut self, seq: u64, failed: bool, p: ProtocolId) -> Check {
        self.coverage.hit(Rule::Made);
        let Some(ps) = self.protocols.get_mut(p) else {
            return Err(if self.protocols.is_ended(p) {
                fail(
                    Rule::Made,
                    Some(Object::Protocol(p)),
                    "connection_made after connection_lost",
                )
            } else {
                fail(
                    Rule::Made,
                    Some(Object::Protocol(p)),
                    "connection_made for a protocol no build_protocol returned",
                )
            });
        };
        if ps.made {
            return Err(fail(
                Rule::Made,
                Some(Object::Protocol(p)),
                "a second connection_made",
            ));
        }
        ps.made = true;
        if failed {
            match ps.owner {
                // The client's connection ends with the exception (P8).
                Holder::Connector(_) => ps.must_lose = NonZeroU64::new(seq),
                // The server's stays open (S3, #5614).
                Holder::Port(_) => self.coverage.hit(Rule::OpenAfterMadeRaised),
            }
        }
        Ok(())
    }

    pub(super) fn data_received(
        &mut self,
        seq: u64,
        failed: bool,
        p: ProtocolId,
        bytes: u64,
    ) -> Check {
        let ps = self.delivered_to(EventKind::DataReceived, p)?;
        let (read_closed, losing) = (ps.read_closed, ps.losing);
        if failed {
            ps.must_lose = NonZeroU64::new(seq);
        }
        self.coverage.hit(Rule::EmptyData);
        if bytes == 0 {
            return Err(fail(
                Rule::EmptyData,
                Some(Object::Protocol(p)),
                "data_received with 0 bytes (an empty read is EOF)",
            ));
        }
        self.coverage.hit(Rule::ReadClosed);
        if read_closed {
            return Err(fail(
                Rule::ReadClosed,
                Some(Object::Protocol(p)),
                "data_received after read_connection_lost (the peer's EOF)",
            ));
        }
        if losing {
            self.coverage.hit(Rule::DataAfterLose);
        }
        Ok(())
    }

    pub(super) fn connection_lost(&mut self, failed: bool, p: ProtocolId, reason: Reason) -> Check {
        self.coverage.hit(Rule::LostTwice);
        let ps = self.delivered_to(EventKind::ConnectionLost, p)?;
        let (owner, producer) = (ps.owner, ps.producer);
        self.coverage.hit(Rule::Reason);
        if !reason.is_loss() {
            return Err(fail(
                Rule::Reason,
                Some(Object::Protocol(p)),
                format!("connection_lost with reason {reason}, which is not a connection loss"),
            ));
        }
        self.coverage.hit(Rule::StopFirst);
        if producer != Producer::None {
            return Err(fail(
                Rule::StopFirst,
                Some(Object::Protocol(p)),
                "connection_lost while a producer is registered: stop_producing comes first",
            ));
        }
        self.protocols.end(p);
        match owner {
            Holder::Connector(c) => {
                if let Some(conn) = self.connectors.get_mut(c) {
                    if matches!(conn.phase, ConnectorPhase::Connected { protocol: Some(q), .. } if q == p)
                    {
                        // P9: a connection_lost that raised ends the connector's story.
                        conn.phase = if failed {
                            ConnectorPhase::Stuck
                        } else {
                            ConnectorPhase::Lost { reason }
                        };
                    }
                }
            }
            Holder::Port(l) => {
                if self.ports.is_ended(l) {
                    self.coverage.hit(Rule::ProtocolOutlivesPort);
                }
            }
        }
        Ok(())
    }

    /// A transport action that changes nothing the order depends on; on a
    /// lost connection it is a no-op (P3).
    pub(super) fn transport_action(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
    ) -> Check {
        let live_streaming = matches!(action_target(&mut self.protocols, p)?, Some(ps) if matches!(ps.producer, Producer::Streaming { .. }));
        let delivers = step.event.kind() == EventKind::Write && live_streaming && !step.failed;
        self.set_source(
            parent,
            Source::new(step.event.kind(), None, None, Some(p), delivers),
        );
        Ok(())
    }

    pub(super) fn lose_connection(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
    ) -> Check {
        let (delivers, connector) = match action_target(&mut self.protocols, p)? {
            Some(ps) => {
                if !step.failed {
                    ps.losing = true;
                }
                let connector = match ps.owner {
                    Holder::Connector(c) => Some(c),
                    Holder::Port(_) => None,
                };
                // Only once the write side is closed does loseConnection
                // deliver connection_lost synchronously (H4).
                (ps.write_closed && !step.failed, connector)
            }
            None => (false, None),
        };
        self.set_source(
            parent,
            Source::new(
                EventKind::LoseConnection,
                connector,
                None,
                Some(p),
                delivers,
            ),
        );
        Ok(())
    }
}
