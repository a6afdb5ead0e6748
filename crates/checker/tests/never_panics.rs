//! The checker judges anything it is fed: arbitrary well-formed events, at
//! any depth, with any `within`, over a small set of ids (so that events
//! often land on objects that exist) never make it panic, and what it
//! lists as legal next is accepted.

use callorder_checker::{Checker, Profile};
use callorder_trace::{ConnectorId, Event, FactoryId, Holder, PortId, ProtocolId, Reason, Step};
use proptest::prelude::*;

fn factory() -> impl Strategy<Value = FactoryId> {
    (1..3u64).prop_map(FactoryId)
}
fn connector() -> impl Strategy<Value = ConnectorId> {
    (1..4u64).prop_map(ConnectorId)
}
fn port() -> impl Strategy<Value = PortId> {
    (1..3u64).prop_map(PortId)
}
fn protocol() -> impl Strategy<Value = ProtocolId> {
    (1..5u64).prop_map(ProtocolId)
}
fn reason() -> impl Strategy<Value = Reason> {
    proptest::sample::select(Reason::ALL.to_vec())
}
fn holder() -> impl Strategy<Value = Holder> {
    prop_oneof![
        connector().prop_map(Holder::Connector),
        port().prop_map(Holder::Port)
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (factory(), connector())
            .prop_map(|(factory, connector)| Event::ConnectTcp { factory, connector }),
        (factory(), port()).prop_map(|(factory, port)| Event::ListenTcp { factory, port }),
        (factory(), proptest::option::of(holder()))
            .prop_map(|(factory, holder)| Event::DoStart { factory, holder }),
        factory().prop_map(|factory| Event::StartFactory { factory }),
        (factory(), connector())
            .prop_map(|(factory, connector)| Event::StartedConnecting { factory, connector }),
        (factory(), holder(), proptest::option::of(protocol())).prop_map(
            |(factory, holder, protocol)| Event::BuildProtocol {
                factory,
                holder,
                protocol
            }
        ),
        (factory(), connector(), reason()).prop_map(|(factory, connector, reason)| {
            Event::ClientConnectionFailed {
                factory,
                connector,
                reason,
            }
        }),
        (factory(), connector(), reason()).prop_map(|(factory, connector, reason)| {
            Event::ClientConnectionLost {
                factory,
                connector,
                reason,
            }
        }),
        (factory(), proptest::option::of(holder()))
            .prop_map(|(factory, holder)| Event::DoStop { factory, holder }),
        factory().prop_map(|factory| Event::StopFactory { factory }),
        protocol().prop_map(|protocol| Event::ConnectionMade { protocol }),
        (protocol(), 0..3u64).prop_map(|(protocol, bytes)| Event::DataReceived { protocol, bytes }),
        protocol().prop_map(|protocol| Event::ReadConnectionLost { protocol }),
        protocol().prop_map(|protocol| Event::WriteConnectionLost { protocol }),
        (protocol(), reason())
            .prop_map(|(protocol, reason)| Event::ConnectionLost { protocol, reason }),
        protocol().prop_map(|protocol| Event::PauseProducing { protocol }),
        protocol().prop_map(|protocol| Event::ResumeProducing { protocol }),
        protocol().prop_map(|protocol| Event::StopProducing { protocol }),
        connector().prop_map(|connector| Event::Connect { connector }),
        connector().prop_map(|connector| Event::StopConnecting { connector }),
        connector().prop_map(|connector| Event::Disconnect { connector }),
        (protocol(), 0..3u64).prop_map(|(protocol, bytes)| Event::Write { protocol, bytes }),
        protocol().prop_map(|protocol| Event::LoseConnection { protocol }),
        protocol().prop_map(|protocol| Event::LoseWriteConnection { protocol }),
        protocol().prop_map(|protocol| Event::AbortConnection { protocol }),
        (protocol(), any::<bool>()).prop_map(|(protocol, streaming)| Event::RegisterProducer {
            protocol,
            streaming
        }),
        protocol().prop_map(|protocol| Event::UnregisterProducer { protocol }),
        port().prop_map(|port| Event::StopListening { port }),
        protocol().prop_map(|protocol| Event::PauseReading { protocol }),
        protocol().prop_map(|protocol| Event::ResumeReading { protocol }),
        Just(Event::Shutdown),
        Just(Event::End),
    ]
}

/// An event with where it stands: mostly at depth 0 or 1, sometimes
/// failed, sometimes naming an earlier event as `within`.
fn placed() -> impl Strategy<Value = (Event, u32, Option<u64>, bool)> {
    (
        event(),
        prop_oneof![4 => Just(0u32), 3 => Just(1), 1 => 2..4u32],
        proptest::option::weighted(0.1, 1..40u64),
        proptest::bool::weighted(0.1),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_events_never_make_the_checker_panic(events in proptest::collection::vec(placed(), 1..40), twisted in any::<bool>()) {
        let profile = if twisted { Profile::Twisted } else { Profile::Strict };
        let mut checker = Checker::new(profile);
        for (i, (event, depth, within, failed)) in events.into_iter().enumerate() {
            let seq = i as u64 + 1;
            let mut step = Step::new(seq, event).at_depth(depth);
            step.within = within;
            step.failed = failed;
            if checker.step(&step).is_err() {
                break;
            }
        }
    }

    #[test]
    fn what_legal_next_lists_is_accepted(choices in proptest::collection::vec(any::<proptest::sample::Index>(), 1..25)) {
        let mut checker = Checker::new(Profile::Strict);
        for choice in choices {
            let next = checker.legal_next();
            if next.is_empty() {
                break;
            }
            let step = *choice.get(&next);
            prop_assert!(checker.step(&step).is_ok(), "legal_next listed {:?}, which the checker refused", step);
        }
    }
}
