//! A run answers questions about its trace without string matching: the
//! events of a kind or of an object, and the bytes each way per connection.

mod support;

use callorder_checker::Object;
use callorder_harness::{Conn, MockReactor, Outcome, Script};
use callorder_trace::{ConnectorId, Event, EventKind, ProtocolId};
use support::{client, Behaviour, OnData, ProbeFactory};

#[test]
fn events_of_a_kind_of_an_object_and_bytes_per_connection() {
    let echo = Behaviour {
        on_data: OnData::Echo,
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .accept(1, "10.0.0.1:5000")
            .send(Conn::Client(1), b"abc")
            .send(Conn::Server(1), b"hello")
            .send(Conn::Server(1), b"!")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", ProbeFactory::new(echo.clone()))
                .unwrap();
            client(r, "example.org:80", echo.clone());
        },
    );
    run.assert_clean();
    assert_eq!(run.events_of_kind(EventKind::DataReceived).count(), 3);
    assert_eq!(run.events_of_kind(EventKind::ConnectionMade).count(), 2);

    let client_p = run.protocol(Conn::Client(1)).unwrap();
    let server_p = run.protocol(Conn::Server(1)).unwrap();
    assert_ne!(client_p, server_p);
    let kinds = |p: ProtocolId| -> Vec<EventKind> {
        run.events_of(Object::Protocol(p))
            .map(|r| r.step.event.kind())
            .collect()
    };
    assert_eq!(
        kinds(server_p),
        [
            EventKind::BuildProtocol,
            EventKind::ConnectionMade,
            EventKind::DataReceived,
            EventKind::Write,
            EventKind::DataReceived,
            EventKind::Write,
            EventKind::ConnectionLost,
        ]
    );
    assert_eq!(
        run.events_of_conn(Conn::Server(1)).count(),
        kinds(server_p).len()
    );
    assert_eq!(run.events_of_conn(Conn::Server(2)).count(), 0);
    // A connector's events: its own and its do_start/do_stop.
    let connector: Vec<EventKind> = run
        .events_of(Object::Connector(ConnectorId(1)))
        .map(|r| r.step.event.kind())
        .collect();
    assert_eq!(connector.first(), Some(&EventKind::ConnectTcp));
    assert_eq!(connector.last(), Some(&EventKind::DoStop));
    assert!(run
        .events_of(Object::Connector(ConnectorId(1)))
        .all(|r| r.step.event.connector() == Some(ConnectorId(1))));

    assert_eq!(run.bytes_received(Conn::Client(1)), Some(3));
    assert_eq!(run.bytes_written(Conn::Client(1)), Some(3));
    assert_eq!(run.bytes_received(Conn::Server(1)), Some(6));
    assert_eq!(run.bytes_written(Conn::Server(1)), Some(6));
    assert_eq!(run.bytes_received(Conn::Client(2)), None);
    let received: u64 = run
        .events_of_kind(EventKind::DataReceived)
        .map(|r| match r.step.event {
            Event::DataReceived { bytes, .. } => bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(received, 9);
    assert_eq!(run.connections.len(), 2);
}
