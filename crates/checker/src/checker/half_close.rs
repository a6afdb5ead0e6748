//! Section 6 of `docs/spec.md`, half-close (H-READ-CLOSED,
//! H-WRITE-CLOSED): the peer's EOF (`read_connection_lost`) and the
//! protocol's own `lose_write_connection` with the `write_connection_lost`
//! it brings.

use callorder_trace::{EventKind, ProtocolId, Step};

use std::num::NonZeroU64;

use super::ids::action_target;
use super::nesting::Parent;
use super::{fail, Check, Checker};
use crate::rules::Rule;
use crate::state::Source;
use crate::violation::Object;

impl Checker {
    pub(super) fn read_connection_lost(&mut self, seq: u64, failed: bool, p: ProtocolId) -> Check {
        let ps = self.delivered_to(EventKind::ReadConnectionLost, p)?;
        let was = ps.read_closed;
        ps.read_closed = true;
        if failed {
            ps.must_lose = NonZeroU64::new(seq);
        }
        self.coverage.hit(Rule::ReadClosed);
        self.coverage.hit(Rule::HalfClose);
        if was {
            return Err(fail(
                Rule::ReadClosed,
                Some(Object::Protocol(p)),
                "a second read_connection_lost",
            ));
        }
        Ok(())
    }

    pub(super) fn write_connection_lost(&mut self, seq: u64, failed: bool, p: ProtocolId) -> Check {
        let ps = self.delivered_to(EventKind::WriteConnectionLost, p)?;
        let (closing, closed) = (ps.write_closing, ps.write_closed);
        ps.write_closed = true;
        if failed {
            ps.must_lose = NonZeroU64::new(seq);
        }
        self.coverage.hit(Rule::WriteClosed);
        if !closing {
            return Err(fail(
                Rule::WriteClosed,
                Some(Object::Protocol(p)),
                "write_connection_lost without lose_write_connection",
            ));
        }
        if closed {
            return Err(fail(
                Rule::WriteClosed,
                Some(Object::Protocol(p)),
                "a second write_connection_lost",
            ));
        }
        self.coverage.hit(Rule::HalfClose);
        Ok(())
    }

    pub(super) fn lose_write_connection(
        &mut self,
        step: &Step,
        parent: Option<Parent>,
        p: ProtocolId,
    ) -> Check {
        if let Some(ps) = action_target(&mut self.protocols, p)? {
            if !step.failed {
                ps.write_closing = true;
            }
        }
        self.set_source(
            parent,
            Source::new(EventKind::LoseWriteConnection, None, None, Some(p), false),
        );
        Ok(())
    }
}
