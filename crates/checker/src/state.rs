//! The state the checker keeps per live object.
//!
//! Only live objects have an entry here. An object that ended leaves a few
//! bytes behind (see [`Checker`](crate::Checker)): its id in a set, so that
//! later events on it are judged as "after the end", not as "unknown".

use std::num::NonZeroU64;

use callorder_trace::{
    ConnectorId, Event, EventKind, FactoryId, Holder, PortId, ProtocolId, Reason,
};

use crate::violation::{Object, Past};

/// The last events of the trace: the history of the object a violation
/// names, and the callbacks a `within` may name. A fixed ring: memory does
/// not grow with the trace, and live objects carry no history of their own.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recent {
    /// Allocated at the first event, so that a checker that never steps
    /// (a probe of `legal_next`) does not pay for it. A fixed-size array
    /// indexed by the event's seq: a push is one store at a masked index,
    /// with no count of its own to load and store on every step.
    events: Option<Box<[Seen; Recent::LEN]>>,
}

/// An event of [`Recent`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    /// 0 in a slot never written.
    pub seq: u64,
    pub depth: u32,
    pub event: Event,
}

/// What [`Recent::find`] knows of a seq.
pub(crate) enum Found {
    /// The event with that seq.
    Event(Seen),
    /// Recent enough to be remembered, but no event has that seq.
    Nothing,
    /// Too old to be remembered.
    Forgotten,
}

impl Recent {
    const LEN: usize = 1024;
    /// How many past events of the object a violation shows.
    const SHOWN: usize = 8;

    #[inline]
    pub(crate) fn push(&mut self, seq: u64, depth: u32, event: Event) {
        let events = match &mut self.events {
            Some(events) => events,
            None => self.events.insert(Self::new_ring()),
        };
        events[seq as usize % Self::LEN] = Seen { seq, depth, event };
    }

    /// Whether the ring was allocated (at the first event).
    #[inline(always)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.events.is_some()
    }

    /// [`push`](Recent::push) once the ring is allocated (a no-op before):
    /// for the fast paths, which run only then, and so never call out to
    /// allocate it.
    #[inline(always)]
    pub(crate) fn push_allocated(&mut self, seq: u64, depth: u32, event: Event) {
        if let Some(events) = &mut self.events {
            events[seq as usize % Self::LEN] = Seen { seq, depth, event };
        }
    }

    /// Out of line and built on the heap: a 56 KiB array built inline made
    /// every step probe that much stack.
    #[cold]
    #[inline(never)]
    fn new_ring() -> Box<[Seen; Recent::LEN]> {
        let empty = Seen {
            seq: 0,
            depth: 0,
            event: Event::End,
        };
        vec![empty; Self::LEN]
            .into_boxed_slice()
            .try_into()
            .expect("LEN entries")
    }

    /// The seqs after this one are remembered, up to `last_seq`.
    fn oldest(last_seq: u64) -> u64 {
        last_seq.saturating_sub(Self::LEN as u64)
    }

    /// Every event remembered, by slot: for tests that compare two checkers.
    #[cfg(test)]
    pub(crate) fn of_all(&self) -> Vec<(u64, u32, Event)> {
        self.events
            .iter()
            .flat_map(|events| events.iter())
            .filter(|s| s.seq != 0)
            .map(|s| (s.seq, s.depth, s.event))
            .collect()
    }

    /// The event with `seq`, an earlier seq than `last_seq`'s or that one.
    pub(crate) fn find(&self, seq: u64, last_seq: u64) -> Found {
        if seq <= Self::oldest(last_seq) {
            return Found::Forgotten;
        }
        match &self.events {
            Some(events) if events[seq as usize % Self::LEN].seq == seq => {
                Found::Event(events[seq as usize % Self::LEN])
            }
            _ => Found::Nothing,
        }
    }

    /// The object's events among those of the last `LEN` seqs up to
    /// `last_seq`, oldest first.
    pub(crate) fn of(&self, object: Object, last_seq: u64) -> Vec<Past> {
        let involves = |e: &Event| match object {
            Object::Factory(f) => e.factory() == Some(f),
            Object::Connector(c) => e.connector() == Some(c),
            Object::Port(l) => e.port() == Some(l),
            Object::Protocol(p) => e.protocol() == Some(p),
        };
        let Some(events) = &self.events else {
            return Vec::new();
        };
        // A slot holds an older seq when the trace skipped seqs, and seq 0
        // when it was never written.
        let oldest = Self::oldest(last_seq);
        let mut past: Vec<Past> = events
            .iter()
            .filter(|seen| seen.seq > oldest && seen.seq <= last_seq && involves(&seen.event))
            .map(|seen| Past {
                seq: seen.seq,
                kind: seen.event.kind(),
            })
            .collect();
        past.sort_by_key(|p| p.seq);
        let skip = past.len().saturating_sub(Self::SHOWN);
        past.split_off(skip)
    }
}

/// A factory's start count, as Twisted keeps it (`Factory.numPorts`).
#[derive(Clone, Debug, Default)]
pub(crate) struct FactoryState {
    /// `numPorts`: up on each do_start, down on each do_stop while above 0.
    pub num_ports: u32,
}

/// Where a connector is in its life cycle (`BaseConnector.state`, refined).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ConnectorPhase {
    /// `connect` was called; its do_start has not come yet.
    AwaitDoStart,
    /// Started (or holding a start already); started_connecting has not come.
    AwaitStarted,
    /// started_connecting came; waiting for an outcome.
    Connecting,
    /// build_protocol came (Twisted's state "connected").
    Connected {
        /// The protocol built, or `None` when build_protocol returned none.
        protocol: Option<ProtocolId>,
        /// build_protocol raised: client_connection_failed follows (C11).
        build_raised: bool,
    },
    /// The protocol's connection_lost came; client_connection_lost follows.
    Lost {
        /// The reason it carried (client_connection_lost must carry the same).
        reason: Reason,
    },
    /// An outcome callback (client_connection_*) is running: the frame seq.
    Outcome { frame: u64 },
    /// The outcome callback returned without a retry: do_stop is owed.
    AwaitDoStop {
        /// The outcome callback's seq, for messages.
        outcome: u64,
        /// This do_stop is Twisted's second stop of N2: the connector holds
        /// no start any more.
        double: bool,
    },
    /// Idle: it can `connect` again.
    Disconnected,
    /// A callback raised where Twisted then never finishes the connector
    /// (connection_lost raised, P9; start_factory raised inside connect,
    /// P11): nothing more is owed, and nothing more is expected.
    Stuck,
}

/// A connector's state.
#[derive(Clone, Debug)]
pub(crate) struct ConnectorState {
    pub factory: FactoryId,
    pub phase: ConnectorPhase,
    /// `factoryStarted`: this connector holds one start on its factory.
    pub holds: bool,
    /// stop_connecting/disconnect while connecting: the attempt must fail
    /// with user_cancelled.
    pub cancelled: bool,
    /// The outcome callback (seq) inside which `connect` retried, while it
    /// runs: if the retry fails inside it, Twisted stops the factory twice.
    pub retry_inside: Option<NonZeroU64>,
    /// When it was created, to report in a stable order.
    pub born: u64,
}

impl ConnectorState {
    /// The connector a `connect_tcp` at seq `born` just made.
    pub(crate) fn new(factory: FactoryId, born: u64) -> Self {
        ConnectorState {
            factory,
            phase: ConnectorPhase::AwaitDoStart,
            holds: false,
            cancelled: false,
            retry_inside: None,
            born,
        }
    }
}

/// A port's state.
#[derive(Clone, Debug)]
pub(crate) struct PortState {
    pub factory: FactoryId,
    /// do_start came.
    pub started: bool,
    /// stop_listening was called.
    pub stopping: bool,
    /// start_factory raised inside its do_start: Twisted's listen_tcp raised
    /// and the port is never stopped.
    pub stuck: bool,
    pub born: u64,
}

/// The producer registered with a protocol's transport.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Producer {
    None,
    Streaming { paused: bool },
    Pull,
}

/// A protocol's state, from build_protocol to connection_lost.
#[derive(Clone, Debug)]
pub(crate) struct ProtocolState {
    pub owner: Holder,
    /// connection_made came.
    pub made: bool,
    /// lose_connection (or a disconnect of its connector) was called.
    pub losing: bool,
    pub read_closed: bool,
    pub write_closing: bool,
    pub write_closed: bool,
    /// A callback raised: connection_lost must come next (P7, P8, H5).
    pub must_lose: Option<NonZeroU64>,
    pub producer: Producer,
    pub born: u64,
}

impl ProtocolState {
    /// A protocol `build_protocol` just returned for `owner`.
    pub(crate) fn new(owner: Holder, born: u64) -> Self {
        ProtocolState {
            owner,
            made: false,
            losing: false,
            read_closed: false,
            write_closing: false,
            write_closed: false,
            must_lose: None,
            producer: Producer::None,
            born,
        }
    }
}

/// A running callback.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub seq: u64,
    pub depth: u32,
    pub kind: EventKind,
    pub failed: bool,
    /// The connector of an outcome callback, for what its return decides
    /// (0 for other callbacks: an option would make the frame 32 bytes).
    pub connector: ConnectorId,
}

/// An action that can deliver callbacks synchronously (trace format,
/// Nesting: the reentrancy points of Twisted).
///
/// Its ids are packed (no action names both a connector and a port) into 24
/// bytes instead of three 16-byte options: a source is written for every
/// action inside a callback, and copied again when that callback returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub action: EventKind,
    /// Whether this action, in the state it was made in, delivers anything
    /// synchronously (lose_connection only does once the write side closed).
    pub delivers: bool,
    /// Which of `holder_id` and `protocol_id` hold an id (the flags below).
    ids: u8,
    /// The connector or the port, as `ids` says; 0 if neither.
    holder_id: u64,
    /// The protocol if `ids` says so; 0 if none.
    protocol_id: u64,
}

impl Source {
    const CONNECTOR: u8 = 1;
    const PORT: u8 = 2;
    const PROTOCOL: u8 = 4;

    #[inline]
    pub(crate) fn new(
        action: EventKind,
        connector: Option<ConnectorId>,
        port: Option<PortId>,
        protocol: Option<ProtocolId>,
        delivers: bool,
    ) -> Source {
        debug_assert!(connector.is_none() || port.is_none());
        let (holder, holder_id) = match (connector, port) {
            (Some(c), _) => (Self::CONNECTOR, c.0),
            (None, Some(l)) => (Self::PORT, l.0),
            (None, None) => (0, 0),
        };
        Source {
            action,
            delivers,
            ids: holder
                | if protocol.is_some() {
                    Self::PROTOCOL
                } else {
                    0
                },
            holder_id,
            protocol_id: protocol.map_or(0, |p| p.0),
        }
    }

    #[inline]
    pub(crate) fn connector(&self) -> Option<ConnectorId> {
        (self.ids & Self::CONNECTOR != 0).then_some(ConnectorId(self.holder_id))
    }

    #[inline]
    pub(crate) fn port(&self) -> Option<PortId> {
        (self.ids & Self::PORT != 0).then_some(PortId(self.holder_id))
    }

    #[inline]
    pub(crate) fn protocol(&self) -> Option<ProtocolId> {
        (self.ids & Self::PROTOCOL != 0).then_some(ProtocolId(self.protocol_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checker's memory goal (under 64 MiB on the benchmark's 300k live
    /// objects) leaves these sizes little room to grow; a field added here
    /// must be paid for elsewhere.
    #[test]
    fn live_state_stays_small() {
        use std::mem::size_of;
        assert!(size_of::<ProtocolState>() <= 40);
        assert!(size_of::<ConnectorState>() <= 56);
        assert!(size_of::<PortState>() <= 24);
        assert!(size_of::<Frame>() <= 24);
    }

    fn data(seq: u64, p: u64) -> (u64, Event) {
        let protocol = ProtocolId(p);
        (seq, Event::DataReceived { protocol, bytes: 1 })
    }

    #[test]
    fn recent_events_are_found_by_seq_until_they_are_forgotten() {
        let mut recent = Recent::default();
        assert!(matches!(recent.find(1, 1), Found::Nothing));
        for seq in 1..=2000 {
            let (seq, event) = data(seq, 1);
            recent.push(seq, 0, event);
        }
        assert!(matches!(recent.find(2000, 2000), Found::Event(s) if s.seq == 2000));
        let oldest_kept = 2000 - Recent::LEN as u64 + 1;
        assert!(matches!(recent.find(oldest_kept, 2000), Found::Event(s) if s.seq == oldest_kept));
        assert!(matches!(
            recent.find(oldest_kept - 1, 2000),
            Found::Forgotten
        ));
    }

    #[test]
    fn a_seq_the_trace_skipped_names_nothing_and_is_not_in_any_history() {
        let mut recent = Recent::default();
        for (seq, p) in [(1, 1), (3, 2), (4, 1)] {
            let (seq, event) = data(seq, p);
            recent.push(seq, 0, event);
        }
        assert!(matches!(recent.find(2, 4), Found::Nothing));
        let seqs = |p| -> Vec<u64> {
            recent
                .of(Object::Protocol(ProtocolId(p)), 4)
                .iter()
                .map(|past| past.seq)
                .collect()
        };
        assert_eq!(seqs(1), [1, 4]);
        assert_eq!(seqs(2), [3]);
    }

    #[test]
    fn a_history_shows_only_the_last_events_of_its_object() {
        let mut recent = Recent::default();
        for seq in 1..=3000 {
            let (seq, event) = data(seq, seq % 2);
            recent.push(seq, 0, event);
        }
        let past = recent.of(Object::Protocol(ProtocolId(0)), 3000);
        let seqs: Vec<u64> = past.iter().map(|p| p.seq).collect();
        assert_eq!(seqs, [2986, 2988, 2990, 2992, 2994, 2996, 2998, 3000]);
    }
}
