//! The record of everything accepted so far.
//!
//! The oracle keeps no running state machine. It keeps the whole list of
//! accepted events ([`Entry`]), and beside it the list of *happenings*: each
//! accepted event, and each moment a callback returned (spec §1: "events at
//! depth `d` close every running callback at depth `>= d`"). Every question
//! about an object is answered by replaying that object's happenings from the
//! start (see `views.rs`); every question about the call stack is answered by
//! walking back over the depths of earlier events.

use std::collections::BTreeMap;

use callorder_trace::{ConnectorId, Event, FactoryId, Holder, PortId, ProtocolId, Step};

/// An object a happening concerns, used to find an object's own history.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Obj {
    /// The reactor itself: `shutdown` and `end`.
    Reactor,
    /// A factory.
    Factory(FactoryId),
    /// A connector.
    Connector(ConnectorId),
    /// A listening port.
    Port(PortId),
    /// A protocol.
    Protocol(ProtocolId),
}

impl From<Holder> for Obj {
    fn from(holder: Holder) -> Self {
        match holder {
            Holder::Connector(c) => Obj::Connector(c),
            Holder::Port(l) => Obj::Port(l),
        }
    }
}

/// One accepted event, with what was decided about it when it was accepted.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The event as read.
    pub step: Step,
    /// The index (in [`History::entries`]) of the callback it ran inside.
    pub parent: Option<usize>,
    /// For `do_start`/`do_stop`: the holder, as named or as attributed
    /// (spec §3, last paragraph); for `build_protocol`: its holder.
    pub holder: Option<Holder>,
    /// This `do_start` (`do_stop`) moved the factory's count from 0 to 1
    /// (1 to 0): the very next event must be its hook (spec §3).
    pub needs_hook: bool,
}

/// Something that happened, in order.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub(crate) enum Happening {
    /// The entry with this index was accepted.
    Event(usize),
    /// The callback entry with this index returned.
    Return(usize),
}

/// Everything accepted so far.
#[derive(Default, Debug)]
pub(crate) struct History {
    /// Accepted events, in order.
    pub entries: Vec<Entry>,
    /// Accepted events and callback returns, in order.
    pub happenings: Vec<Happening>,
    /// For each object, the indices (in `happenings`) of what concerns it.
    by_object: BTreeMap<Obj, Vec<usize>>,
}

impl History {
    /// The happenings (indices) that concern `obj`, oldest first.
    pub fn of(&self, obj: Obj) -> &[usize] {
        self.by_object.get(&obj).map_or(&[], Vec::as_slice)
    }

    /// Every object that has a history, in order.
    pub fn objects(&self) -> impl Iterator<Item = Obj> + '_ {
        self.by_object.keys().copied()
    }

    /// The callbacks running now, oldest (shallowest) first.
    ///
    /// Recomputed from the depths of earlier events: a callback is running
    /// when every event after it is deeper than it (spec §1). The walk stops at
    /// the last depth-0 event, which closed everything before it.
    pub fn running(&self) -> Vec<usize> {
        let mut running = Vec::new();
        let mut shallowest_after = u32::MAX;
        for (index, entry) in self.entries.iter().enumerate().rev() {
            let depth = entry.step.depth;
            if entry.step.event.kind().is_callback() && depth < shallowest_after {
                running.push(index);
            }
            shallowest_after = shallowest_after.min(depth);
            if shallowest_after == 0 {
                break;
            }
        }
        running.reverse();
        running
    }

    /// The happening index at which the entry `index` was accepted.
    pub fn when_accepted(&self, index: usize) -> usize {
        self.happenings
            .iter()
            .rposition(|h| *h == Happening::Event(index))
            .expect("every entry has a happening")
    }

    /// Records that the callback `index` returned.
    pub fn push_return(&mut self, index: usize) {
        let objects = self.objects_of(index);
        self.push(Happening::Return(index), objects);
    }

    /// Records an accepted event.
    pub fn push_entry(&mut self, entry: Entry) {
        self.entries.push(entry);
        let index = self.entries.len() - 1;
        let objects = self.objects_of(index);
        self.push(Happening::Event(index), objects);
    }

    fn push(&mut self, happening: Happening, objects: Vec<Obj>) {
        let at = self.happenings.len();
        self.happenings.push(happening);
        for obj in objects {
            let list = self.by_object.entry(obj).or_default();
            if list.last() != Some(&at) {
                list.push(at);
            }
        }
    }

    /// The objects whose history the entry `index` belongs to.
    fn objects_of(&self, index: usize) -> Vec<Obj> {
        let entry = &self.entries[index];
        let event = entry.step.event;
        let mut objects = Vec::new();
        objects.extend(event.factory().map(Obj::Factory));
        objects.extend(event.connector().map(Obj::Connector));
        objects.extend(event.port().map(Obj::Port));
        objects.extend(event.protocol().map(Obj::Protocol));
        objects.extend(entry.holder.map(Obj::from));
        match event {
            // A client connection's end is also its connector's business.
            Event::ConnectionLost { protocol, .. } => {
                if let Some(Holder::Connector(c)) = self.owner_of(protocol) {
                    objects.push(Obj::Connector(c));
                }
            }
            // A hook that raised undoes its holder's start.
            Event::StartFactory { .. } | Event::StopFactory { .. } => {
                if let Some(holder) = entry.parent.and_then(|p| self.entries[p].holder) {
                    objects.push(Obj::from(holder));
                }
            }
            Event::Shutdown | Event::End => objects.push(Obj::Reactor),
            _ => {}
        }
        objects.sort();
        objects.dedup();
        objects
    }

    /// Who built the protocol `p` (the holder of its `build_protocol`).
    pub fn owner_of(&self, p: ProtocolId) -> Option<Holder> {
        self.of(Obj::Protocol(p))
            .iter()
            .find_map(|&h| match self.happenings[h] {
                Happening::Event(i) => match self.entries[i].step {
                    Step {
                        failed: false,
                        event:
                            Event::BuildProtocol {
                                holder,
                                protocol: Some(q),
                                ..
                            },
                        ..
                    } if q == p => Some(holder),
                    _ => None,
                },
                Happening::Return(_) => None,
            })
    }
}
