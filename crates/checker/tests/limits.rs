//! The limits the checker enforces: distinct ids and live objects, refused
//! at the very event that crosses them, with the fast paths on or off.

use callorder_checker::{CheckError, Checker, Profile};
use callorder_trace::{Event, FactoryId, Holder, PortId, ProtocolId, Reason, Step};

/// A server's life cycles, one after another: `listen_tcp` (an id), then
/// per connection a new protocol (an id each), made, fed and lost.
fn server_cycles(cycles: u64) -> Vec<Step> {
    let (f, l) = (FactoryId(1), PortId(1));
    let mut events = vec![
        (
            0,
            Event::ListenTcp {
                factory: f,
                port: l,
            },
        ),
        (
            0,
            Event::DoStart {
                factory: f,
                holder: Some(Holder::Port(l)),
            },
        ),
        (1, Event::StartFactory { factory: f }),
    ];
    for i in 1..=cycles {
        let p = ProtocolId(i);
        events.extend([
            (
                0,
                Event::BuildProtocol {
                    factory: f,
                    holder: Holder::Port(l),
                    protocol: Some(p),
                },
            ),
            (0, Event::ConnectionMade { protocol: p }),
            (
                0,
                Event::DataReceived {
                    protocol: p,
                    bytes: 5,
                },
            ),
            (
                0,
                Event::ConnectionLost {
                    protocol: p,
                    reason: Reason::ConnectionDone,
                },
            ),
        ]);
    }
    events
        .into_iter()
        .enumerate()
        .map(|(i, (depth, e))| Step::new(i as u64 + 1, e).at_depth(depth))
        .collect()
}

/// The error of the first refused step, if any.
fn first_error(mut checker: Checker, steps: &[Step]) -> Option<CheckError> {
    steps.iter().find_map(|s| checker.step(s).err())
}

#[test]
fn the_id_past_the_limit_is_refused_at_its_event() {
    let steps = server_cycles(3_000);
    for fast in [true, false] {
        // The port and 1,999 protocols fit; the 2,000th protocol, built at
        // seq 3 + 4 * 1,999 + 1, does not.
        let checker = Checker::new(Profile::Strict)
            .with_fast_paths(fast)
            .with_max_distinct_ids(2_000);
        match first_error(checker, &steps) {
            Some(CheckError::TooManyIds { seq, limit }) => {
                assert_eq!(
                    (seq, limit),
                    (3 + 4 * 1_999 + 1, 2_000),
                    "fast paths {fast}"
                );
                assert!(matches!(
                    steps[seq as usize - 1].event,
                    Event::BuildProtocol { .. }
                ));
            }
            other => panic!("fast paths {fast}: {other:?}"),
        }
        let roomy = Checker::new(Profile::Strict)
            .with_fast_paths(fast)
            .with_max_distinct_ids(3_001);
        assert!(first_error(roomy, &steps).is_none(), "fast paths {fast}");
    }
}

#[test]
fn ids_count_once_however_long_their_objects_live() {
    // Live objects stay few (one at a time), ids grow: only the id limit
    // is crossed.
    let steps = server_cycles(500);
    let checker = Checker::new(Profile::Strict)
        .with_max_live(3)
        .with_max_distinct_ids(100);
    assert!(matches!(
        first_error(checker, &steps),
        Some(CheckError::TooManyIds { limit: 100, .. })
    ));
    let error = CheckError::TooManyIds { seq: 7, limit: 100 };
    assert_eq!(
        error.to_string(),
        "seq 7: more than 100 distinct ids of connectors, ports and protocols (the distinct-id limit)"
    );
}

/// A connector that fails, connects again inside its
/// `client_connection_failed`, and stops connecting inside the
/// `started_connecting` that delivers, whose failure comes inside that:
/// each retry runs two levels deeper, as Twisted delivers them.
fn nested_retries(levels: u32) -> Vec<Step> {
    use callorder_trace::ConnectorId;
    let (f, c) = (FactoryId(1), ConnectorId(1));
    let mut steps = Vec::new();
    let mut push = |depth: u32, event: Event| {
        let seq = steps.len() as u64 + 1;
        steps.push(Step::new(seq, event).at_depth(depth));
    };
    push(
        0,
        Event::ConnectTcp {
            factory: f,
            connector: c,
        },
    );
    push(
        0,
        Event::DoStart {
            factory: f,
            holder: Some(Holder::Connector(c)),
        },
    );
    push(1, Event::StartFactory { factory: f });
    push(
        0,
        Event::StartedConnecting {
            factory: f,
            connector: c,
        },
    );
    for level in 0..levels {
        let d = 2 * level;
        // The first is refused by the peer; the others are cancelled.
        let reason = if level == 0 {
            Reason::ConnectionRefused
        } else {
            Reason::UserCancelled
        };
        let failed = Event::ClientConnectionFailed {
            factory: f,
            connector: c,
            reason,
        };
        push(d, failed);
        push(d + 1, Event::Connect { connector: c });
        push(
            d + 1,
            Event::StartedConnecting {
                factory: f,
                connector: c,
            },
        );
        push(d + 2, Event::StopConnecting { connector: c });
    }
    steps
}

#[test]
fn a_callback_past_the_depth_limit_is_refused_at_its_event() {
    let steps = nested_retries(20);
    let mut unlimited = Checker::new(Profile::Strict);
    for s in &steps {
        unlimited
            .step(s)
            .unwrap_or_else(|e| panic!("the nesting is legal: {e}"));
    }
    for fast in [true, false] {
        let checker = Checker::new(Profile::Strict)
            .with_fast_paths(fast)
            .with_max_depth(30);
        match first_error(checker, &steps) {
            Some(CheckError::TooDeep { seq, limit: 30 }) => {
                let step = &steps[seq as usize - 1];
                assert_eq!(step.depth, 31, "fast paths {fast}: {step:?}");
                assert!(step.event.kind().is_callback());
                assert!(steps[..seq as usize - 1].iter().all(|s| s.depth <= 31));
            }
            other => panic!("fast paths {fast}: {other:?}"),
        }
    }
}
