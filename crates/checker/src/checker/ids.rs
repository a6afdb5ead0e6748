//! Section 2 of `docs/spec.md`, Ids (T-UNKNOWN-ID, T-FACTORY): the
//! lookups every handler starts with, each failing with the rule an
//! unknown id or a wrong factory breaks.
//!
//! T-DUPLICATE-ID is checked where an id is introduced: `connect_tcp`
//! (`connectors.rs`), `listen_tcp` (`ports.rs`) and `build_protocol`
//! (`protocols.rs`).

use callorder_trace::{ConnectorId, FactoryId, PortId, ProtocolId};

use super::{fail, Check, Checker, Fail};
use crate::coverage::Coverage;
use crate::rules::Rule;
use crate::state::{ConnectorState, ProtocolState};
use crate::table::{Entry, Table};
use crate::violation::Object;

/// T-FACTORY, as a function of the coverage alone, so that a handler can
/// hold its object's state (one table lookup) across the check.
#[inline]
fn same_factory(
    coverage: &mut Coverage,
    object: Object,
    expected: FactoryId,
    named: FactoryId,
) -> Check {
    coverage.hit(Rule::FactoryMismatch);
    if expected == named {
        Ok(())
    } else {
        Err(fail(
            Rule::FactoryMismatch,
            Some(object),
            format!("names factory {named:?}, but {object:?} belongs to factory {expected:?}"),
        ))
    }
}

/// The state of connector `c`, which an event names with `factory`: one
/// lookup, after T-UNKNOWN-ID and T-FACTORY, so that a handler can keep the
/// state across the checks that follow.
#[inline]
pub(super) fn connector_of<'a>(
    connectors: &'a mut Table<ConnectorId, ConnectorState>,
    coverage: &mut Coverage,
    c: ConnectorId,
    factory: FactoryId,
) -> Result<&'a mut ConnectorState, Fail> {
    let Some(conn) = connectors.get_mut(c) else {
        return Err(unknown_connector(c));
    };
    same_factory(coverage, Object::Connector(c), conn.factory, factory)?;
    Ok(conn)
}

/// T-UNKNOWN-ID for a connector.
fn unknown_connector(c: ConnectorId) -> Fail {
    fail(
        Rule::UnknownId,
        Some(Object::Connector(c)),
        "a connector no connect_tcp created",
    )
}

/// The protocol a transport action names: its state if live, `None` if it
/// ended (the action is a no-op, P3), T-UNKNOWN-ID if never built. One
/// lookup where `known_protocol` then `get` took three.
#[inline]
pub(super) fn action_target(
    protocols: &mut Table<ProtocolId, ProtocolState>,
    p: ProtocolId,
) -> Result<Option<&mut ProtocolState>, Fail> {
    match protocols.entry(p) {
        Entry::Live(ps) => Ok(Some(ps)),
        Entry::Ended => Ok(None),
        Entry::Unknown => Err(fail(
            Rule::UnknownId,
            Some(Object::Protocol(p)),
            "a protocol no build_protocol returned",
        )),
    }
}

impl Checker {
    pub(super) fn factory_mismatch(
        &mut self,
        object: Object,
        expected: FactoryId,
        named: FactoryId,
    ) -> Check {
        same_factory(&mut self.coverage, object, expected, named)
    }

    pub(super) fn unknown_port(&self, l: PortId) -> Fail {
        fail(
            Rule::UnknownId,
            Some(Object::Port(l)),
            "a port no listen_tcp created",
        )
    }

    pub(super) fn connector_mut(&mut self, c: ConnectorId) -> Result<&mut ConnectorState, Fail> {
        match self.connectors.get_mut(c) {
            Some(s) => Ok(s),
            None => Err(fail(
                Rule::UnknownId,
                Some(Object::Connector(c)),
                "a connector no connect_tcp created",
            )),
        }
    }

    pub(super) fn known_protocol(&self, p: ProtocolId) -> Check {
        if self.protocols.is_live_or_ended(p) {
            Ok(())
        } else {
            Err(fail(
                Rule::UnknownId,
                Some(Object::Protocol(p)),
                "a protocol no build_protocol returned",
            ))
        }
    }
}
