//! Section 5 of `docs/spec.md`, Ports: `listen_tcp` and `stop_listening`.
//!
//! A port's `build_protocol` (S-BUILD) is judged in `protocols.rs`, with
//! the protocol it builds (one function for both holders, as the general
//! path has always compiled it); its `do_start`/`do_stop` are in
//! `factories.rs`, and S-UNSTOPPED in `end.rs`.

use callorder_trace::{EventKind, FactoryId, PortId, Step};

use super::nesting::Parent;
use super::{fail, Check, Checker};
use crate::rules::Rule;
use crate::state::{PortState, Source};
use crate::violation::Object;

impl Checker {
    pub(super) fn listen_tcp(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        factory: FactoryId,
        l: PortId,
    ) -> Check {
        if step.failed {
            return Ok(()); // CannotListenError: no port, no do_start (S1).
        }
        self.coverage.hit(Rule::DuplicateId);
        if self.ports.is_live(l) || self.ports.is_ended(l) {
            return Err(fail(
                Rule::DuplicateId,
                Some(Object::Port(l)),
                "listen_tcp with a port id already used",
            ));
        }
        self.ports.insert(
            l,
            PortState {
                factory,
                started: false,
                stopping: false,
                stuck: false,
                born: step.seq,
            },
        );
        self.new_id();
        self.set_source(
            parent,
            Source::new(EventKind::ListenTcp, None, Some(l), None, true),
        );
        Ok(())
    }

    pub(super) fn stop_listening(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        l: PortId,
    ) -> Check {
        if let Some(port) = self.ports.get_mut(l) {
            if !step.failed {
                port.stopping = true;
            }
        } else if !self.ports.is_ended(l) {
            return Err(self.unknown_port(l));
        }
        // Its do_stop comes from the event loop, never nested (S4).
        self.set_source(
            parent,
            Source::new(EventKind::StopListening, None, Some(l), None, false),
        );
        Ok(())
    }
}
