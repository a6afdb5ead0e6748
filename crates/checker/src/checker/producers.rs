//! Section 6 of `docs/spec.md`, producers (PR-REGISTER, PR-CALLBACK;
//! PR-STOP-FIRST is checked by `connection_lost` in `protocols.rs`):
//! `register_producer`/`unregister_producer` and the producer callbacks
//! the transport makes.

use callorder_trace::{EventKind, ProtocolId, Step};

use super::ids::action_target;
use super::nesting::Parent;
use super::{fail, Check, Checker, Fail};
use crate::rules::Rule;
use crate::state::{Producer, Source};
use crate::violation::Object;

impl Checker {
    fn producer_callback(&mut self, kind: EventKind, p: ProtocolId) -> Result<(), Fail> {
        self.coverage.hit(Rule::ProducerCallback);
        if kind == EventKind::StopProducing && self.take_late_producer(p) {
            return Ok(()); // register_producer after connection_lost (PR1).
        }
        let ps = self.delivered_to(kind, p)?;
        let producer = ps.producer;
        let next = match (kind, producer) {
            (EventKind::PauseProducing, Producer::Streaming { .. }) => {
                Producer::Streaming { paused: true }
            }
            (EventKind::ResumeProducing, Producer::Streaming { paused: true }) => {
                Producer::Streaming { paused: false }
            }
            (EventKind::ResumeProducing, Producer::Pull) => Producer::Pull,
            (EventKind::StopProducing, Producer::Streaming { .. } | Producer::Pull) => {
                Producer::None
            }
            (_, producer) => {
                let state = match producer {
                    Producer::None => "no producer is registered",
                    Producer::Pull => "the producer is a pull producer",
                    Producer::Streaming { paused: false } => "the streaming producer is not paused",
                    Producer::Streaming { paused: true } => "the streaming producer is paused",
                };
                return Err(fail(
                    Rule::ProducerCallback,
                    Some(Object::Protocol(p)),
                    format!("{kind}, but {state}"),
                ));
            }
        };
        ps.producer = next;
        Ok(())
    }

    /// One stop_producing owed by a register_producer after connection_lost.
    fn take_late_producer(&mut self, p: ProtocolId) -> bool {
        match self.late_producers.get_mut(&p) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.late_producers.remove(&p);
                true
            }
            None => false,
        }
    }

    pub(super) fn pause_producing(&mut self, p: ProtocolId) -> Check {
        self.producer_callback(EventKind::PauseProducing, p)
    }

    pub(super) fn resume_producing(&mut self, p: ProtocolId) -> Check {
        self.producer_callback(EventKind::ResumeProducing, p)
    }

    pub(super) fn stop_producing(&mut self, p: ProtocolId) -> Check {
        self.producer_callback(EventKind::StopProducing, p)
    }

    pub(super) fn register_producer(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
        streaming: bool,
    ) -> Check {
        self.known_protocol(p)?;
        self.coverage.hit(Rule::Register);
        if !step.failed {
            match self.protocols.get_mut(p) {
                Some(ps) => {
                    if ps.producer != Producer::None {
                        return Err(fail(
                            Rule::Register,
                            Some(Object::Protocol(p)),
                            "register_producer while a producer is registered: Twisted raises (error expected on it)",
                        ));
                    }
                    ps.producer = if streaming {
                        Producer::Streaming { paused: false }
                    } else {
                        Producer::Pull
                    };
                }
                None => {
                    *self.late_producers.entry(p).or_default() += 1;
                }
            }
        }
        self.set_source(
            parent,
            Source::new(
                EventKind::RegisterProducer,
                None,
                None,
                Some(p),
                !step.failed,
            ),
        );
        Ok(())
    }

    pub(super) fn unregister_producer(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
    ) -> Check {
        if let Some(ps) = action_target(&mut self.protocols, p)? {
            if !step.failed {
                ps.producer = Producer::None;
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::UnregisterProducer, None, None, Some(p), false),
        );
        Ok(())
    }
}
