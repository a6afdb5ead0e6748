//! A read-only view of the checker's state, by the names of `docs/spec.md`
//! (section States): for measuring how much of the spec a test campaign
//! reaches. Nothing here runs while the checker steps.

use callorder_trace::ProtocolId;

use super::Checker;
use crate::state::{ConnectorPhase, Producer};
use crate::violation::Object;

/// One live object's state: its phase and the facts that hold of it, by
/// the names `docs/spec.md` lists (section States).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectState {
    /// The object.
    pub object: Object,
    /// Where it is in its life cycle: one name per kind (a connector's
    /// `connecting`, a port's `listening`, a factory's `count 1`).
    pub phase: &'static str,
    /// What else holds of it now (a protocol's `paused`, `half-closed
    /// (read)`; a connector's `cancelled`), in a fixed order.
    pub facts: Vec<&'static str>,
}

impl Checker {
    /// The state of every live object, by kind (factories, connectors,
    /// ports, protocols) and id: a read-only query, for measuring which
    /// states of the spec a run reaches (it costs a pass over the live
    /// objects; the checker's steps never call it). An object that is not
    /// live is in its kind's end state: a factory whose count is back at 0
    /// (`count 0`), a connector that is disconnected and holds no start
    /// (`disconnected`), a stopped port, an ended protocol.
    ///
    /// ```
    /// use callorder_checker::{Checker, Object, Profile};
    /// use callorder_trace::{Event, FactoryId, Holder, PortId, ProtocolId, Step};
    ///
    /// let (f, l, p) = (FactoryId(1), PortId(1), ProtocolId(1));
    /// let mut checker = Checker::new(Profile::Strict);
    /// for (i, (depth, event)) in [
    ///     (0, Event::ListenTcp { factory: f, port: l }),
    ///     (0, Event::DoStart { factory: f, holder: Some(Holder::Port(l)) }),
    ///     (1, Event::StartFactory { factory: f }),
    ///     (0, Event::BuildProtocol { factory: f, holder: Holder::Port(l), protocol: Some(p) }),
    ///     (0, Event::ConnectionMade { protocol: p }),
    ///     (0, Event::ReadConnectionLost { protocol: p }),
    /// ]
    /// .into_iter()
    /// .enumerate()
    /// {
    ///     checker.step(&Step::new(i as u64 + 1, event).at_depth(depth)).unwrap();
    /// }
    /// let states = checker.states();
    /// let of = |o: Object| states.iter().find(|s| s.object == o).unwrap();
    /// assert_eq!(of(Object::Factory(f)).phase, "count 1");
    /// assert_eq!(of(Object::Port(l)).phase, "listening");
    /// assert_eq!(of(Object::Protocol(p)).phase, "made");
    /// assert_eq!(of(Object::Protocol(p)).facts, ["half-closed (read)"]);
    /// ```
    pub fn states(&self) -> Vec<ObjectState> {
        let mut out = Vec::new();
        let mut factories: Vec<_> = self.factories.iter().collect();
        factories.sort_by_key(|(f, _)| f.0);
        for (f, state) in factories {
            let phase = match state.num_ports {
                0 => "count 0",
                1 => "count 1",
                _ => "count many",
            };
            out.push(ObjectState {
                object: Object::Factory(f),
                phase,
                facts: Vec::new(),
            });
        }
        let mut connectors: Vec<_> = self.connectors.iter().collect();
        connectors.sort_by_key(|(c, _)| c.0);
        for (c, state) in connectors {
            let phase = match state.phase {
                ConnectorPhase::AwaitDoStart => "awaiting do_start",
                ConnectorPhase::AwaitStarted => "awaiting started_connecting",
                ConnectorPhase::Connecting => "connecting",
                ConnectorPhase::Connected {
                    build_raised: true, ..
                } => "connected (build raised)",
                ConnectorPhase::Connected { protocol: None, .. } => "connected (no protocol)",
                ConnectorPhase::Connected { .. } => "connected",
                ConnectorPhase::Lost { .. } => "lost",
                ConnectorPhase::Outcome { .. } => "in outcome",
                ConnectorPhase::AwaitDoStop { double: true, .. } => "owes a second do_stop",
                ConnectorPhase::AwaitDoStop { .. } => "owes do_stop",
                ConnectorPhase::Disconnected => "disconnected (holds its start)",
                ConnectorPhase::Stuck => "stuck",
            };
            let mut facts = Vec::new();
            if state.cancelled {
                facts.push("cancelled");
            }
            if state.retry_inside.is_some() {
                facts.push("retried in its outcome");
            }
            out.push(ObjectState {
                object: Object::Connector(c),
                phase,
                facts,
            });
        }
        let mut ports: Vec<_> = self.ports.iter().collect();
        ports.sort_by_key(|(l, _)| l.0);
        for (l, state) in ports {
            let phase = if state.stuck {
                "stuck"
            } else if !state.started {
                "awaiting do_start"
            } else if state.stopping {
                "stopping"
            } else {
                "listening"
            };
            let facts = if self.shutdown && state.started {
                vec!["shutting down"]
            } else {
                Vec::new()
            };
            out.push(ObjectState {
                object: Object::Port(l),
                phase,
                facts,
            });
        }
        let mut protocols: Vec<(ProtocolId, _)> = self.protocols.iter().collect();
        protocols.sort_by_key(|(p, _)| p.0);
        for (p, state) in protocols {
            let phase = if !state.made {
                "built"
            } else if state.losing {
                "closing"
            } else {
                "made"
            };
            let mut facts = Vec::new();
            if state.read_closed {
                facts.push("half-closed (read)");
            }
            if state.write_closing && !state.write_closed {
                facts.push("half-closing (write)");
            }
            if state.write_closed {
                facts.push("half-closed (write)");
            }
            match state.producer {
                Producer::None => {}
                Producer::Streaming { paused: false } => facts.push("streaming producer"),
                Producer::Streaming { paused: true } => {
                    facts.push("streaming producer");
                    facts.push("paused");
                }
                Producer::Pull => facts.push("pull producer"),
            }
            if state.must_lose.is_some() {
                facts.push("raised (connection_lost owed)");
            }
            out.push(ObjectState {
                object: Object::Protocol(p),
                phase,
                facts,
            });
        }
        out
    }
}
