//! What the checker keeps of a connector that is disconnected and holds no
//! start: its factory alone, until it `connect`s again, so that memory
//! follows live connectors rather than connectors ever made (see the
//! `Checker` doc). Every event naming a connector first `revive`s it.

use callorder_trace::{ConnectorId, FactoryId, Holder};

use super::Checker;
use crate::idmap::CompactSet;
use crate::state::{ConnectorPhase, ConnectorState};

/// Connectors that are disconnected and hold no start, by factory: a bare
/// id each (factories are few, so finding one's factory scans them).
#[derive(Debug, Default)]
pub(super) struct IdleConnectors {
    by_factory: Vec<(FactoryId, CompactSet)>,
}

impl Clone for IdleConnectors {
    fn clone(&self) -> Self {
        IdleConnectors {
            by_factory: self.by_factory.clone(),
        }
    }

    #[inline]
    fn clone_from(&mut self, source: &Self) {
        self.by_factory.clone_from(&source.by_factory);
    }
}

impl IdleConnectors {
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.by_factory.iter().all(|(_, set)| set.is_empty())
    }

    /// The small number a parked connector keeps for its factory.
    pub(super) fn tag(&mut self, factory: FactoryId) -> u32 {
        match self.by_factory.iter().position(|(f, _)| *f == factory) {
            Some(i) => i as u32,
            None => {
                self.by_factory.push((factory, CompactSet::default()));
                (self.by_factory.len() - 1) as u32
            }
        }
    }

    /// The factory of a tag.
    pub(super) fn factory(&self, tag: u32) -> Option<FactoryId> {
        self.by_factory.get(tag as usize).map(|(f, _)| *f)
    }

    /// Keeps `c` as an idle connector of `factory`.
    ///
    /// `#[inline]`: part of `make_idle`, which the fast path of `do_stop`
    /// calls; as a call of its own it cost that path a store a step
    /// (cachegrind, docs/performance.md).
    #[inline]
    pub(super) fn insert(&mut self, c: ConnectorId, factory: FactoryId) {
        match self.by_factory.iter_mut().find(|(f, _)| *f == factory) {
            Some((_, set)) => {
                set.insert(c.0);
            }
            None => {
                let mut set = CompactSet::default();
                set.insert(c.0);
                self.by_factory.push((factory, set));
            }
        }
    }

    /// Removes an idle connector; its factory.
    pub(super) fn take(&mut self, c: ConnectorId) -> Option<FactoryId> {
        self.by_factory
            .iter_mut()
            .find_map(|(f, set)| set.remove(c.0).then_some(*f))
    }

    pub(super) fn ids(&self) -> Vec<ConnectorId> {
        self.by_factory
            .iter()
            .flat_map(|(_, set)| set.iter().map(ConnectorId))
            .collect()
    }
}

impl Checker {
    #[inline]
    pub(super) fn revive_holder(&mut self, holder: Option<Holder>) {
        if let Some(Holder::Connector(c)) = holder {
            self.revive(c);
        }
    }

    /// Brings an idle connector back to full state.
    #[inline]
    pub(super) fn revive(&mut self, c: ConnectorId) {
        if !self.connectors.is_live(c) {
            self.revive_idle(c);
        }
    }

    /// [`revive`](Checker::revive) for a connector that is not live: out of
    /// line, so that the common case (it is live) stays small in every
    /// handler.
    #[inline(never)]
    fn revive_idle(&mut self, c: ConnectorId) {
        let factory = match self.connectors.parked(c) {
            Some(tag) => self.idle_connectors.factory(tag),
            None if self.idle_connectors.is_empty() => None,
            None => self.idle_connectors.take(c),
        };
        if let Some(factory) = factory {
            self.connectors.insert(
                c,
                ConnectorState {
                    factory,
                    phase: ConnectorPhase::Disconnected,
                    holds: false,
                    cancelled: false,
                    retry_inside: None,
                    born: 0,
                },
            );
        }
    }

    /// Keeps only the factory of a connector that is disconnected and holds
    /// nothing, so memory follows live connectors, not connectors ever made.
    pub(super) fn make_idle(&mut self, c: ConnectorId) {
        if let Some(conn) = self.connectors.get(c) {
            // A retry inside a running outcome callback is still pending (N2).
            if conn.phase == ConnectorPhase::Disconnected
                && !conn.holds
                && conn.retry_inside.is_none()
            {
                let factory = conn.factory;
                let tag = self.idle_connectors.tag(factory);
                if !self.connectors.park(c, tag) {
                    self.connectors.forget(c);
                    self.idle_connectors.insert(c, factory);
                }
            }
        }
    }
}
