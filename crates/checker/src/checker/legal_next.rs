//! What would have been legal instead of an event: each candidate event
//! tried on a copy of the checker. Violation reports list it
//! (`Violation::expected`), and `Checker::legal_next` offers it to
//! generators of callback sequences. Slow by design, and off the hot path.

use callorder_trace::{ConnectorId, Event, FactoryId, Holder, PortId, ProtocolId, Reason, Step};

use super::Checker;
use crate::state::Recent;
use crate::violation::Object;

impl Checker {
    /// Events on `object` that would be legal instead of `step`, at its depth.
    /// A copy to try one event on: everything that judges it, without the
    /// ring of recent events (up to 1,024 of them), which only a violation
    /// report reads and which was most of the cost of a copy.
    fn probe(&self) -> Checker {
        let mut probe = Checker {
            profile: self.profile,
            max_live: self.max_live,
            max_ids: self.max_ids,
            ids_left: self.ids_left,
            over_ids: self.over_ids,
            max_depth: self.max_depth,
            factories: self.factories.clone(),
            connectors: self.connectors.clone(),
            ports: self.ports.clone(),
            protocols: self.protocols.clone(),
            idle_connectors: self.idle_connectors.clone(),
            late_producers: self.late_producers.clone(),
            stack: self.stack.clone(),
            sources: self.sources.clone(),
            returned_sources: self.returned_sources.clone(),
            returned_sources_next: self.returned_sources_next,
            hook: self.hook,
            hookless: self.hookless,
            shutdown: self.shutdown,
            ended: self.ended,
            last_seq: self.last_seq,
            warnings: Vec::new(),
            coverage: self.coverage.clone(),
            recent: Recent::default(),
            fast: self.fast.clone(),
        };
        probe.refresh_ready();
        probe
    }

    /// Makes `probe` a copy of this checker as [`probe`](Checker::probe)
    /// does, reusing its allocations: trying many events costs copies, not
    /// allocations.
    fn reset_probe(&self, probe: &mut Checker) {
        probe.profile = self.profile;
        probe.max_live = self.max_live;
        probe.max_ids = self.max_ids;
        probe.ids_left = self.ids_left;
        probe.over_ids = self.over_ids;
        probe.max_depth = self.max_depth;
        probe.factories.clone_from(&self.factories);
        probe.connectors.clone_from(&self.connectors);
        probe.ports.clone_from(&self.ports);
        probe.protocols.clone_from(&self.protocols);
        probe.idle_connectors.clone_from(&self.idle_connectors);
        probe.late_producers.clone_from(&self.late_producers);
        probe.stack.clone_from(&self.stack);
        probe.sources.clone_from(&self.sources);
        probe.returned_sources.clone_from(&self.returned_sources);
        probe.returned_sources_next = self.returned_sources_next;
        probe.hook = self.hook;
        probe.hookless = self.hookless;
        probe.shutdown = self.shutdown;
        probe.ended = self.ended;
        probe.last_seq = self.last_seq;
        probe.warnings.clear();
        probe.coverage.clone_from(&self.coverage);
        probe.fast.clone_from(&self.fast);
        probe.refresh_ready();
    }

    pub(super) fn legal_for(&self, object: Object, step: &Step) -> Vec<Event> {
        let mut out = Vec::new();
        let mut probe = self.probe();
        // The trials keep the step's `within`, which may name a callback
        // that returned: they need the recent events that remember it.
        probe.recent = self.recent.clone();
        for event in self.candidates(object) {
            self.reset_probe(&mut probe);
            let trial = Step {
                depth: step.depth,
                within: step.within,
                ..Step::new(step.seq, event)
            };
            if probe.step_inner(&trial).is_ok() && !out.contains(&event) {
                out.push(event);
            }
        }
        out
    }

    /// Every event the trace could legally continue with now, at every depth
    /// that fits, for the objects the checker knows, plus events that create
    /// new objects (with fresh ids).
    ///
    /// This is slow (it tries each candidate on a copy of the checker): it is
    /// meant for generating callback sequences, not for the hot path.
    ///
    /// ```
    /// use callorder_checker::Checker;
    /// use callorder_trace::{Event, EventKind};
    /// let checker = Checker::default();
    /// let next = checker.legal_next();
    /// assert!(next.iter().any(|s| s.event.kind() == EventKind::ConnectTcp));
    /// assert!(next.iter().all(|s| s.event.kind() != EventKind::DataReceived));
    /// ```
    pub fn legal_next(&self) -> Vec<Step> {
        let seq = self.last_seq + 1;
        let mut objects: Vec<(u64, Object)> = Vec::new();
        objects.extend(
            self.connectors
                .iter()
                .map(|(c, s)| (s.born, Object::Connector(c))),
        );
        objects.extend(self.ports.iter().map(|(l, s)| (s.born, Object::Port(l))));
        objects.extend(
            self.protocols
                .iter()
                .map(|(p, s)| (s.born, Object::Protocol(p))),
        );
        objects.sort_by_key(|(born, o)| (*born, format!("{o:?}")));
        let mut events: Vec<Event> = Vec::new();
        for (_, o) in &objects {
            for e in self.candidates(*o) {
                if !events.contains(&e) {
                    events.push(e);
                }
            }
        }
        let mut idle: Vec<ConnectorId> = self.idle_connectors.ids();
        idle.extend(self.connectors.parked_ids());
        idle.sort_unstable();
        events.extend(
            idle.into_iter()
                .map(|connector| Event::Connect { connector }),
        );
        let factory = self
            .factories
            .iter()
            .map(|(f, _)| f)
            .min()
            .unwrap_or(FactoryId(1));
        let fresh = |n: u64| n.wrapping_add(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        events.push(Event::ConnectTcp {
            factory,
            connector: ConnectorId(fresh(1)),
        });
        events.push(Event::ListenTcp {
            factory,
            port: PortId(fresh(2)),
        });
        events.push(Event::Shutdown);
        events.push(Event::End);
        let mut out = Vec::new();
        let depths: Vec<u32> = (0..=self.stack.len() as u32).collect();
        let mut probe = self.probe();
        for event in events {
            for &depth in &depths {
                let trial = Step::new(seq, event).at_depth(depth);
                self.reset_probe(&mut probe);
                if probe.step_inner(&trial).is_ok() {
                    out.push(trial);
                }
            }
        }
        out
    }

    /// Candidate events on one object: every kind with every reason, for
    /// [`legal_next`](Checker::legal_next) and violation reports.
    fn candidates(&self, object: Object) -> Vec<Event> {
        let mut out = Vec::new();
        let fresh_protocol =
            ProtocolId((self.last_seq + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        match object {
            Object::Connector(c) => {
                let Some(cs) = self.connectors.get(c) else {
                    return out;
                };
                let (f, h) = (cs.factory, Some(Holder::Connector(c)));
                out.push(Event::DoStart {
                    factory: f,
                    holder: h,
                });
                out.push(Event::StartedConnecting {
                    factory: f,
                    connector: c,
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Connector(c),
                    protocol: Some(fresh_protocol),
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Connector(c),
                    protocol: None,
                });
                for reason in Reason::ALL {
                    out.push(Event::ClientConnectionFailed {
                        factory: f,
                        connector: c,
                        reason,
                    });
                    out.push(Event::ClientConnectionLost {
                        factory: f,
                        connector: c,
                        reason,
                    });
                }
                out.push(Event::DoStop {
                    factory: f,
                    holder: h,
                });
                out.push(Event::Connect { connector: c });
                out.push(Event::StopConnecting { connector: c });
                out.push(Event::Disconnect { connector: c });
            }
            Object::Port(l) => {
                let Some(ls) = self.ports.get(l) else {
                    return out;
                };
                let f = ls.factory;
                out.push(Event::DoStart {
                    factory: f,
                    holder: Some(Holder::Port(l)),
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Port(l),
                    protocol: Some(fresh_protocol),
                });
                out.push(Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Port(l),
                    protocol: None,
                });
                out.push(Event::StopListening { port: l });
                out.push(Event::DoStop {
                    factory: f,
                    holder: Some(Holder::Port(l)),
                });
            }
            Object::Protocol(p) => {
                out.push(Event::ConnectionMade { protocol: p });
                out.push(Event::DataReceived {
                    protocol: p,
                    bytes: 1,
                });
                out.push(Event::ReadConnectionLost { protocol: p });
                out.push(Event::WriteConnectionLost { protocol: p });
                for reason in Reason::ALL {
                    out.push(Event::ConnectionLost {
                        protocol: p,
                        reason,
                    });
                }
                out.push(Event::PauseProducing { protocol: p });
                out.push(Event::ResumeProducing { protocol: p });
                out.push(Event::StopProducing { protocol: p });
                out.push(Event::Write {
                    protocol: p,
                    bytes: 1,
                });
                out.push(Event::LoseConnection { protocol: p });
                out.push(Event::LoseWriteConnection { protocol: p });
                out.push(Event::AbortConnection { protocol: p });
                out.push(Event::RegisterProducer {
                    protocol: p,
                    streaming: true,
                });
                out.push(Event::RegisterProducer {
                    protocol: p,
                    streaming: false,
                });
                out.push(Event::UnregisterProducer { protocol: p });
                if let Some(ps) = self.protocols.get(p) {
                    if let Holder::Connector(c) = ps.owner {
                        out.extend(self.candidates(Object::Connector(c)));
                    }
                }
            }
            Object::Factory(f) => {
                out.push(Event::StartFactory { factory: f });
                out.push(Event::StopFactory { factory: f });
            }
        }
        out
    }
}
