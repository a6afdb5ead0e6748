//! The mock reactor does what Twisted does, on every path: each test drives a
//! probe implementation through one scripted world and states the trace
//! Twisted's reactor would give (semantics ids in the test names), in
//! callorder's shape (what an action triggers comes after the callback).

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use callorder_harness::{Bytes, Conn, ImplErrorKind, MockReactor, Outcome, Script, WorldEvent};
use callorder_trace::EventKind;
use support::*;

fn run(script: Script, setup: impl FnOnce(&callorder_core::Reactor)) -> callorder_harness::Run {
    MockReactor::new().run(script, setup)
}

const CLIENT_UP: [&str; 6] = [
    "connect_tcp",
    "do_start",
    "start_factory",
    "started_connecting",
    "build_protocol",
    "connection_made",
];

fn with(up: &[&str], rest: &[&str]) -> Vec<String> {
    up.iter().chain(rest).map(|s| s.to_string()).collect()
}

#[test]
fn c3b_a_refused_connect_fails_and_stops_the_factory() {
    let r = run(Script::new().resolve(1, Outcome::Refuse).shutdown(), |r| {
        client(r, "10.0.0.1:80", Behaviour::default());
    });
    r.assert_clean();
    assert_eq!(
        events(&r),
        with(
            &CLIENT_UP[..4],
            &[
                "client_connection_failed(connection_refused)",
                "do_stop",
                "stop_factory",
                "shutdown",
                "end"
            ]
        )
    );
}

#[test]
fn c6_an_unanswered_connect_times_out_on_the_virtual_clock() {
    let r = run(
        Script::new().advance(Duration::from_secs(5)).shutdown(),
        |r| {
            r.connect_tcp(
                "10.0.0.1:80",
                ProbeFactory::new(Behaviour::default()),
                Some(Duration::from_millis(1500)),
            );
        },
    );
    r.assert_clean();
    assert_eq!(time_of(&r, EventKind::ClientConnectionFailed), Some(1.5));
    assert!(events(&r).contains(&"client_connection_failed(timeout)".to_string()));
}

#[test]
fn c4_a_name_that_does_not_resolve_fails_with_dns_lookup() {
    let r = run(
        Script::new().resolve(1, Outcome::DnsFailure).shutdown(),
        |r| {
            client(r, "no.such.host:80", Behaviour::default());
        },
    );
    r.assert_clean();
    assert!(events(&r).contains(&"client_connection_failed(dns_lookup)".to_string()));
}

#[test]
fn g7_stop_connecting_in_started_connecting_fails_the_attempt_after_it_returns() {
    let b = Behaviour {
        cancel_on_started: true,
        ..Behaviour::default()
    };
    let r = run(Script::new().shutdown(), |r| {
        client(r, "10.0.0.1:80", b);
    });
    r.assert_clean();
    assert_eq!(
        events(&r),
        with(
            &CLIENT_UP[..4],
            &[
                "stop_connecting",
                "client_connection_failed(user_cancelled)",
                "do_stop",
                "stop_factory",
                "shutdown",
                "end"
            ]
        )
    );
}

#[test]
fn the_seeds_success_path() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", Behaviour::default());
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r),
        with(
            &CLIENT_UP,
            &[
                "connection_lost(connection_done)",
                "client_connection_lost(connection_done)",
                "do_stop",
                "stop_factory",
                "shutdown",
                "end"
            ]
        )
    );
}

#[test]
fn the_seeds_failure_path_a_reset_travels_up_to_do_stop() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .reset(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", Behaviour::default());
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[6..9],
        [
            "connection_lost(connection_lost)",
            "client_connection_lost(connection_lost)",
            "do_stop"
        ]
    );
}

#[test]
fn p4_abort_delivers_connection_aborted_after_the_batch() {
    let b = Behaviour {
        on_data: OnData::Abort,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .batch(vec![
                WorldEvent::Send {
                    conn: Conn::Client(1),
                    bytes: Bytes::from_static(b"a"),
                },
                WorldEvent::Send {
                    conn: Conn::Client(1),
                    bytes: Bytes::from_static(b"b"),
                },
            ])
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    r.assert_clean();
    // Abort stops reading at once: the second chunk is not delivered.
    assert_eq!(
        events(&r)[6..10],
        [
            "data_received",
            "abort_connection",
            "connection_lost(connection_aborted)",
            "client_connection_lost(connection_aborted)"
        ]
    );
}

#[test]
fn g1_data_in_the_same_batch_still_arrives_after_lose_connection() {
    let b = Behaviour {
        on_data: OnData::Lose,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .batch(vec![
                WorldEvent::Send {
                    conn: Conn::Client(1),
                    bytes: Bytes::from_static(b"a"),
                },
                WorldEvent::Send {
                    conn: Conn::Client(1),
                    bytes: Bytes::from_static(b"b"),
                },
            ])
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[6..11],
        [
            "data_received",
            "lose_connection",
            "data_received",
            "lose_connection",
            "connection_lost(connection_done)"
        ]
    );
}

#[test]
fn p7_a_data_received_that_fails_ends_the_connection_with_other() {
    let b = Behaviour {
        on_data: OnData::Fail,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"x")
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert_eq!(
        events(&r)[6..10],
        [
            "data_received!",
            "connection_lost(other)",
            "client_connection_lost(other)",
            "do_stop"
        ]
    );
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        (r.errors[0].kind.clone(), r.errors[0].seq),
        (ImplErrorKind::Returned, 7)
    );
}

#[test]
fn a_panicking_callback_is_reported_and_the_run_goes_on() {
    let b = Behaviour {
        on_data: OnData::Panic,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"x")
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert_eq!(r.errors[0].kind, ImplErrorKind::Panicked);
    assert!(r.errors[0].message.contains("data_received panicked"));
    assert_eq!(events(&r).last().map(String::as_str), Some("end"));
}

#[test]
fn p9_a_connection_lost_that_fails_owes_nothing_more() {
    let b = Behaviour {
        fail_on_lost: true,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert_eq!(
        events(&r)[6..],
        ["connection_lost(connection_done)!", "shutdown", "end"]
    );
}

#[test]
fn p10_an_outcome_callback_that_fails_leaves_the_factory_started() {
    let b = Behaviour {
        on_outcome: OnOutcome::Fail,
        ..Behaviour::default()
    };
    let r = run(Script::new().resolve(1, Outcome::Refuse).shutdown(), |r| {
        client(r, "10.0.0.1:80", b);
    });
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert_eq!(
        events(&r)[4..],
        [
            "client_connection_failed(connection_refused)!",
            "shutdown",
            "end"
        ]
    );
}

#[test]
fn c11_a_client_build_protocol_that_fails_is_followed_by_client_connection_failed() {
    let b = Behaviour {
        build: Build::Fail,
        ..Behaviour::default()
    };
    let r = run(Script::new().resolve(1, Outcome::Accept).shutdown(), |r| {
        client(r, "10.0.0.1:80", b);
    });
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert_eq!(
        events(&r)[4..7],
        [
            "build_protocol!",
            "client_connection_failed(connect_error)",
            "do_stop"
        ]
    );
}

#[test]
fn c10_a_client_build_protocol_that_returns_none_closes_cleanly() {
    let b = Behaviour {
        build: Build::None,
        ..Behaviour::default()
    };
    let r = run(Script::new().resolve(1, Outcome::Accept).shutdown(), |r| {
        client(r, "10.0.0.1:80", b);
    });
    r.assert_clean();
    assert_eq!(
        events(&r)[4..7],
        [
            "build_protocol",
            "client_connection_lost(connection_done)",
            "do_stop"
        ]
    );
}

#[test]
fn s3_a_server_connection_made_that_fails_leaves_the_connection_open() {
    let b = Behaviour {
        fail_on_made: true,
        on_data: OnData::Echo,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .accept(1, "10.0.0.9:5000")
            .send(Conn::Server(1), b"hi")
            .close(Conn::Server(1))
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:80", ProbeFactory::new(b)).unwrap();
        },
    );
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert_eq!(r.written, vec![(Conn::Server(1), b"hi".to_vec())]);
}

#[test]
fn s6_accepts_in_the_batch_still_build_after_stop_listening_then_do_stop() {
    let port = Rc::new(RefCell::new(None));
    let b = Behaviour {
        stop_listening_on_build: Some(port.clone()),
        ..Behaviour::default()
    };
    let accept = |n: u16| WorldEvent::Accept {
        port: 1,
        peer: format!("10.0.0.9:{n}").as_str().into(),
    };
    let r = run(
        Script::new()
            .batch(vec![accept(1), accept(2), accept(3)])
            .shutdown(),
        |r| {
            *port.borrow_mut() = Some(r.listen_tcp("0.0.0.0:80", ProbeFactory::new(b)).unwrap());
        },
    );
    r.assert_clean();
    let k = kinds(&r);
    let builds = k.iter().filter(|e| **e == EventKind::BuildProtocol).count();
    let do_stop = k.iter().position(|e| *e == EventKind::DoStop).unwrap();
    let last_build = k
        .iter()
        .rposition(|e| *e == EventKind::BuildProtocol)
        .unwrap();
    assert_eq!(builds, 3);
    assert!(last_build < do_stop);
}

#[test]
fn g6_a_retry_inside_client_connection_failed_needs_no_stop_and_no_start() {
    let b = Behaviour {
        on_outcome: OnOutcome::Retry(1),
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .resolve(2, Outcome::Refuse)
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[4..],
        [
            "client_connection_failed(connection_refused)",
            "connect",
            "started_connecting",
            "client_connection_failed(connection_refused)",
            "do_stop",
            "stop_factory",
            "shutdown",
            "end"
        ]
    );
}

#[test]
fn c9_connect_while_connecting_is_an_error_of_the_implementation() {
    let b = Behaviour {
        on_outcome: OnOutcome::ConnectTwice,
        ..Behaviour::default()
    };
    let r = run(Script::new().resolve(1, Outcome::Refuse).shutdown(), |r| {
        client(r, "10.0.0.1:80", b);
    });
    assert!(r.violation.is_none(), "{:?}", r.violation);
    assert!(!r.errors.is_empty());
    assert!(r
        .errors
        .iter()
        .all(|e| e.kind == ImplErrorKind::Action && e.event == Some(EventKind::Connect)));
    let failed_connect = r
        .trace
        .iter()
        .find(|rec| rec.step.event.kind() == EventKind::Connect && rec.step.failed);
    assert!(
        failed_connect.is_some(),
        "the second connect carries error in the trace"
    );
}

#[test]
fn pr2_a_full_buffer_pauses_a_streaming_producer_until_the_peer_reads() {
    let b = Behaviour {
        producer: Some(true),
        on_data: OnData::WriteBulk(100_000),
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .window(Conn::Client(1), Some(0))
            .send(Conn::Client(1), b"go")
            .window(Conn::Client(1), None)
            .close(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    r.assert_clean();
    let e = events(&r);
    let pause = e
        .iter()
        .position(|s| s == "pause_producing")
        .expect("paused");
    let resume = e
        .iter()
        .position(|s| s == "resume_producing")
        .expect("resumed");
    assert!(pause < resume);
    assert_eq!(e[pause - 1], "write");
}

#[test]
fn h1_a_half_closeable_protocol_hears_the_peers_eof_and_finishes_writing() {
    let b = Behaviour {
        half_closeable: true,
        reply_on_eof: Some(b"bye".to_vec()),
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .half_close(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    r.assert_clean();
    assert_eq!(
        events(&r)[6..10],
        [
            "read_connection_lost",
            "write",
            "lose_connection",
            "connection_lost(connection_done)"
        ]
    );
    assert_eq!(r.written, vec![(Conn::Client(1), b"bye".to_vec())]);
}

#[test]
fn p12_shutdown_tears_down_live_connections_ports_and_attempts() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .accept(1, "10.0.0.9:1")
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", Behaviour::default());
            client(r, "10.0.0.2:80", Behaviour::default());
            r.listen_tcp("0.0.0.0:80", ProbeFactory::new(Behaviour::default()))
                .unwrap();
        },
    );
    r.assert_clean();
    let e = events(&r);
    let shutdown = e.iter().position(|s| s == "shutdown").unwrap();
    let teardown = &e[shutdown..];
    assert_eq!(
        teardown
            .iter()
            .filter(|s| *s == "connection_lost(connection_lost)")
            .count(),
        2
    );
    assert!(teardown.contains(&"client_connection_failed(connect_error)".to_string()));
    assert_eq!(teardown.iter().filter(|s| *s == "do_stop").count(), 3);
}

#[test]
fn an_awaiting_callback_lets_others_run_and_time_move_on() {
    let slow = Behaviour {
        on_data: OnData::SleepThenEcho(Duration::from_secs(5)),
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .resolve(2, Outcome::Accept)
            .batch(vec![
                WorldEvent::Send {
                    conn: Conn::Client(1),
                    bytes: Bytes::from_static(b"slow"),
                },
                WorldEvent::Send {
                    conn: Conn::Client(2),
                    bytes: Bytes::from_static(b"fast"),
                },
            ])
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", slow);
            client(
                r,
                "10.0.0.2:80",
                Behaviour {
                    on_data: OnData::Echo,
                    ..Behaviour::default()
                },
            );
        },
    );
    r.assert_clean();
    let late_write = r
        .trace
        .iter()
        .find(|rec| rec.step.event.kind() == EventKind::Write && rec.step.within.is_some())
        .expect("the slow callback's write names it with within");
    assert_eq!(late_write.t, Some(5.0));
    assert_eq!(
        r.written,
        vec![
            (Conn::Client(1), b"slow".to_vec()),
            (Conn::Client(2), b"fast".to_vec())
        ]
    );
}

#[test]
fn a_callback_that_never_returns_is_reported_as_a_stall() {
    let b = Behaviour {
        on_data: OnData::Stall,
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"x")
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", b);
        },
    );
    assert!(r
        .errors
        .iter()
        .any(|e| e.kind == ImplErrorKind::Stalled && e.event == Some(EventKind::DataReceived)));
}

#[test]
fn the_same_script_gives_the_same_trace_byte_for_byte() {
    let script = Script::new()
        .resolve(1, Outcome::Accept)
        .send_chunked(Conn::Client(1), b"hello world", 3)
        .advance(Duration::from_millis(250))
        .reset(Conn::Client(1))
        .shutdown();
    let once = || {
        run(script.clone(), |r| {
            client(
                r,
                "10.0.0.1:80",
                Behaviour {
                    on_data: OnData::Echo,
                    ..Behaviour::default()
                },
            );
        })
        .trace_jsonl()
    };
    assert_eq!(once(), once());
}

#[test]
fn without_the_counting_allocator_the_heap_check_is_off_and_says_so() {
    let r = run(Script::new().checkpoint().checkpoint().shutdown(), |_| {});
    let growth = r.heap_growth(1);
    assert!(matches!(growth, callorder_harness::HeapGrowth::Off(_)));
    let err = growth.leaks_more_than(0.0).unwrap_err();
    assert!(
        err.contains("OFF") && err.contains("counting allocator"),
        "{err}"
    );
}

#[test]
fn the_reactor_lets_go_of_every_protocol_it_built() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .resolve(2, Outcome::Accept)
            .shutdown(),
        |r| {
            client(r, "10.0.0.1:80", Behaviour::default());
            client(r, "10.0.0.2:80", Behaviour::default());
        },
    );
    r.assert_clean();
    assert!(r.leaks.is_empty());
}

#[test]
fn a_script_sets_the_chunks_one_joined_implementation_reads_from_another() {
    let b = Behaviour {
        write_on_made: Some(b"hello world".to_vec()),
        ..Behaviour::default()
    };
    let r = run(
        Script::new()
            .read_chunks(Conn::Server(1), Some(4))
            .shutdown(),
        |r| {
            r.listen_tcp("127.0.0.1:80", ProbeFactory::new(Behaviour::default()))
                .unwrap();
            client(r, "127.0.0.1:80", b);
        },
    );
    r.assert_clean();
    let sizes: Vec<u64> = r
        .trace
        .iter()
        .filter_map(|rec| match rec.step.event {
            callorder_trace::Event::DataReceived { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![4, 4, 3]);
}

/// Reconnects from client_connection_lost after awaiting a back-off, while
/// the reactor serves others.
struct SleepyRetry {
    retried: std::cell::Cell<bool>,
}

#[async_trait::async_trait(?Send)]
impl callorder_core::Factory for SleepyRetry {
    async fn build_protocol(
        &self,
        _: &callorder_core::Address,
    ) -> Result<Option<Box<dyn callorder_core::Protocol>>, callorder_core::CallbackError> {
        Ok(Some(Box::new(support::Probe::new(Behaviour::default()))))
    }
}

#[async_trait::async_trait(?Send)]
impl callorder_core::ClientFactory for SleepyRetry {
    async fn client_connection_lost(
        &self,
        connector: &callorder_core::Connector,
        _: callorder_core::Reason,
    ) -> callorder_core::CallbackResult {
        if !self.retried.replace(true) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            connector.connect()?;
        }
        Ok(())
    }
}

#[test]
fn a_client_connection_lost_that_awaits_and_then_retries_needs_no_stop() {
    #[allow(clippy::arc_with_non_send_sync)]
    let factory = std::sync::Arc::new(SleepyRetry {
        retried: std::cell::Cell::new(false),
    });
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .batch(vec![
                WorldEvent::Reset {
                    conn: Conn::Client(1),
                },
                WorldEvent::Resolve {
                    attempt: 2,
                    outcome: Outcome::Accept,
                },
            ])
            .advance(Duration::from_secs(3))
            .resolve(3, Outcome::Refuse)
            .shutdown(),
        move |r| {
            r.connect_tcp("10.0.0.1:80", factory, None);
            client(r, "10.0.0.2:80", Behaviour::default());
        },
    );
    r.assert_clean();
    let connect = r
        .trace
        .iter()
        .find(|rec| rec.step.event.kind() == EventKind::Connect)
        .expect("the retry");
    assert!(connect.step.within.is_some(), "{}", r.trace_jsonl());
    assert_eq!(connect.t, Some(2.0));
}

#[test]
fn written_holds_only_what_the_peer_read() {
    // The peer reads 3 of the 5 bytes echoed and the run ends: the other 2
    // are still in our buffer, not written.
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .window(Conn::Client(1), Some(3))
            .send(Conn::Client(1), b"hello")
            .shutdown(),
        |r| {
            client(
                r,
                "10.0.0.1:80",
                Behaviour {
                    on_data: OnData::Echo,
                    ..Behaviour::default()
                },
            );
        },
    );
    r.assert_clean();
    assert_eq!(r.written, vec![(Conn::Client(1), b"hel".to_vec())]);
}

#[test]
fn p4_an_abort_throws_away_what_the_peer_had_not_read() {
    let r = run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .window(Conn::Client(1), Some(3))
            .send(Conn::Client(1), b"hello")
            .window(Conn::Client(1), Some(0))
            .send(Conn::Client(1), b"abort")
            .shutdown(),
        |r| {
            client(
                r,
                "10.0.0.1:80",
                Behaviour {
                    on_data: OnData::EchoThenAbortOn(b"abort".to_vec()),
                    ..Behaviour::default()
                },
            );
        },
    );
    r.assert_clean();
    assert!(kinds(&r).contains(&EventKind::AbortConnection));
    // "hel" was read; "lo" and the echoed "abort" were still buffered.
    assert_eq!(r.written, vec![(Conn::Client(1), b"hel".to_vec())]);
}
