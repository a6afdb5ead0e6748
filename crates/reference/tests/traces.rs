//! Snapshots of whole traces (trace format v1, JSON Lines): reviewed by eye
//! once, then any change in order, timing or ids shows up as a diff.

use std::sync::Arc;
use std::time::Duration;

use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use callorder_reference::{
    Echo, EchoFactory, HalfCloseFactory, LineClientFactory, ReconnectingClientFactory, RetryPolicy,
};

#[track_caller]
fn clean(run: Run) -> String {
    run.assert_clean();
    run.trace_jsonl()
}

#[test]
fn the_echo_server_and_the_line_client_exchange_two_lines() {
    let client = Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2));
    let lines = client.received();
    let run = MockReactor::new().run(Script::new().stop_listening(1).shutdown(), move |r| {
        r.listen_tcp("127.0.0.1:7", Arc::new(EchoFactory::new()))
            .unwrap();
        r.connect_tcp("127.0.0.1:7", client, Some(Duration::from_secs(30)));
    });
    insta::assert_snapshot!("echo_and_line_client", clean(run));
    assert_eq!(lines.lines(), ["hello", "world"]);
}

#[test]
fn the_reconnecting_factory_is_refused_twice_then_connects() {
    let factory = ReconnectingClientFactory::new(|_| Box::new(Echo::new()))
        .with_policy(RetryPolicy::default().with_jitter(0.0))
        .shared();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(1))
            .resolve(2, Outcome::Refuse)
            .advance(Duration::from_secs(3))
            .resolve(3, Outcome::Accept)
            .send(Conn::Client(3), b"ping")
            .close(Conn::Client(3))
            .shutdown(),
        move |r| {
            r.connect_tcp("example.org:80", f, Some(Duration::from_secs(30)));
        },
    );
    insta::assert_snapshot!("rcf_refused_twice_then_connected", clean(run));
    assert_eq!(factory.scheduled_delays(), [1.0, std::f64::consts::E, 1.0]);
}

#[test]
fn the_reconnecting_factory_stops_trying_while_connecting() {
    let factory = ReconnectingClientFactory::new(|_| Box::new(Echo::new()))
        .with_policy(RetryPolicy::default().with_jitter(0.0))
        .shared();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(Duration::from_secs(5))
            .shutdown(),
        move |r| {
            r.connect_tcp("example.org:80", f.clone(), None);
            r.call_later(Duration::from_secs(3), move || {
                f.stop_trying().expect("swallows NotConnecting");
            });
        },
    );
    insta::assert_snapshot!("rcf_stop_trying_while_connecting", clean(run));
}

#[test]
fn the_half_closeable_server_replies_after_the_peers_eof() {
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.2:5000")
            .send(Conn::Server(1), b"request")
            .half_close(Conn::Server(1))
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:9", Arc::new(HalfCloseFactory::new(b"reply")))
                .unwrap();
        },
    );
    insta::assert_snapshot!("half_close", clean(run));
}
