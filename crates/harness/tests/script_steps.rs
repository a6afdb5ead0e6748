//! Every step of a script reaches what it names, or the run fails and says
//! which step and what existed: a test that passes without exercising the
//! code is worse than none. Lenient runs (for fuzzers) skip such steps and
//! count them instead.

mod support;

use callorder_harness::{
    parse_script, Conn, MockReactor, Outcome, Run, Script, ScriptFailureKind, WorldEvent,
};
use callorder_trace::EventKind;
use support::{client, events, Behaviour, OnData, ProbeFactory};

const ADDR: &str = "example.org:80";

fn failures(run: &Run) -> Vec<String> {
    run.script_failures.iter().map(|f| f.to_string()).collect()
}

fn echo() -> Behaviour {
    Behaviour {
        on_data: OnData::Echo,
        ..Behaviour::default()
    }
}

#[test]
fn steps_aimed_at_nothing_fail_the_run_and_say_what_existed() {
    // The script of issue 11, which used to pass assert_clean.
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(7), b"x\n")
            .resolve(9, Outcome::Accept)
            .close(Conn::Server(3))
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 2 (send client 7 \"x\\n\"): no connection client 7 (connections so far: \
             client 1; attempts: 1)",
            "step 3 (resolve 9 accept): no attempt 9 (attempts so far: 1; an attempt is counted \
             once its started_connecting returns)",
            "step 4 (close server 3): no connection server 3 (connections so far: none; \
             arrivals on ports: 0)",
        ]
    );
    assert!(run
        .script_failures
        .iter()
        .all(|f| f.kind == ScriptFailureKind::Unreached));
    assert!(!run.is_clean());
    assert!(run.violation.is_none() && run.errors.is_empty());
    let panic = std::panic::catch_unwind(|| run.assert_clean()).expect_err("not clean");
    let message = panic.downcast_ref::<String>().expect("a message");
    assert!(
        message.starts_with("script: step 2 (send client 7 \"x\\n\"): no connection client 7"),
        "{message}"
    );
}

#[test]
fn client_n_is_the_connection_of_attempt_n_so_a_refused_attempt_has_none() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .resolve(2, Outcome::Accept)
            .send(Conn::Client(1), b"to attempt 1")
            .send(Conn::Client(2), b"to attempt 2")
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 3 (send client 1 \"to attempt 1\"): no connection client 1: attempt 1 did not \
          connect (connections so far: client 2; attempts: 2)"
        ]
    );
    assert_eq!(run.written, [(Conn::Client(2), b"to attempt 2".to_vec())]);
}

#[test]
fn server_n_counts_every_arrival_also_one_whose_build_made_no_protocol() {
    let none = Behaviour {
        build: support::Build::None,
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.1:1")
            .accept(2, "10.0.0.2:2")
            .send(Conn::Server(2), b"to the second arrival")
            .send(Conn::Server(1), b"to the first")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:1", ProbeFactory::new(none)).unwrap();
            r.listen_tcp("0.0.0.0:2", ProbeFactory::new(echo()))
                .unwrap();
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 4 (send server 1 \"to the first\"): no connection server 1: the build_protocol \
          of arrival 1 made no protocol (connections so far: server 2; arrivals on ports: 2)"
        ]
    );
    assert_eq!(
        run.written,
        [(Conn::Server(2), b"to the second arrival".to_vec())]
    );
}

#[test]
fn a_connection_ends_at_its_connection_lost_not_at_lose_connection() {
    // The peer reads nothing, so after lose_connection the bytes wait and
    // the connection stays up: a send then reaches it (G1).
    let b = Behaviour {
        write_on_made: Some(b"hello".to_vec()),
        lose_on_made: true,
        on_data: OnData::Echo,
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .window(Conn::Client(1), Some(0))
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"after lose_connection")
            .window(Conn::Client(1), None)
            .send(Conn::Client(1), b"after connection_lost")
            .shutdown(),
        |r| {
            client(r, ADDR, b);
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 5 (send client 1 \"after connection_lost\"): connection client 1 has ended: its \
          connection_lost came before this step (connections so far: client 1 (ended); \
          attempts: 1)"
        ]
    );
    let evs = events(&run);
    let lost = evs
        .iter()
        .position(|e| e.starts_with("connection_lost"))
        .unwrap();
    let data = evs.iter().position(|e| e == "data_received").unwrap();
    assert!(data < lost, "{evs:?}");
}

#[test]
fn a_window_and_read_chunks_wait_for_their_connection_and_hold_from_its_start() {
    let b = Behaviour {
        write_on_made: Some(b"0123456789".to_vec()),
        on_data: OnData::Echo,
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            // For attempt 2, not made yet: both wait for it.
            .window(Conn::Client(2), Some(4))
            .read_chunks(Conn::Client(2), Some(2))
            .resolve(2, Outcome::Accept)
            .expect(Conn::Client(1), b"0123456789")
            .expect(Conn::Client(2), b"0123")
            .send(Conn::Client(2), b"abcd")
            .window(Conn::Client(2), None)
            .shutdown(),
        |r| {
            client(r, ADDR, b.clone());
            client(r, ADDR, b.clone());
        },
    );
    run.assert_clean();
    // The peer read 4 bytes, then the rest; the implementation read "abcd"
    // two bytes at a time.
    assert_eq!(
        run.written[1],
        (Conn::Client(2), b"0123456789abcd".to_vec())
    );
    let p2 = run.protocol(Conn::Client(2)).unwrap();
    let chunks: Vec<u64> = run
        .events_of(callorder_checker::Object::Protocol(p2))
        .filter_map(|r| match r.step.event {
            callorder_trace::Event::DataReceived { bytes, .. } => Some(bytes),
            _ => None,
        })
        .collect();
    assert_eq!(chunks, [2, 2]);
}

#[test]
fn a_setting_no_connection_ever_takes_reached_nothing() {
    let run = MockReactor::new().run(
        Script::new()
            .read_chunks(Conn::Server(1), Some(1))
            .resolve(1, Outcome::Refuse)
            .window(Conn::Client(1), Some(0))
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 1 (read_chunks server 1 1): it waited for connection server 1, which the run \
             never made (connections so far: none; arrivals on ports: 0)",
            "step 3 (window client 1 0): it waited for connection client 1, which the run never \
             made: attempt 1 did not connect (connections so far: none; attempts: 1)",
        ]
    );
}

#[test]
fn a_setting_for_a_connection_that_ended_fails_at_once() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .reset(Conn::Client(1))
            .read_chunks(Conn::Client(1), Some(1))
            .fault(EventKind::DataReceived, Some(Conn::Client(1)))
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    let f = failures(&run);
    assert_eq!(f.len(), 2, "{f:?}");
    assert!(f[0].starts_with("step 3 (read_chunks client 1 1): connection client 1 has ended"));
    assert!(
        f[1].starts_with("step 4 (fault data_received client 1): connection client 1 has ended")
    );
}

#[test]
fn a_fault_at_the_head_waits_for_its_connection() {
    let run = MockReactor::new().run(
        Script::new()
            .fault(EventKind::DataReceived, Some(Conn::Client(1)))
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"x")
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    run.assert_clean();
    assert_eq!(run.injected.len(), 1);
}

#[test]
fn an_attempt_is_answered_once() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .resolve(1, Outcome::Refuse)
            .resolve(2, Outcome::Refuse)
            .resolve(2, Outcome::Refuse)
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 2 (resolve 1 refuse): attempt 1 connected already",
            "step 4 (resolve 2 refuse): attempt 2 has had its outcome already (attempts so far: 2)",
        ]
    );
}

#[test]
fn an_attempt_to_a_port_of_the_reactor_is_answered_by_it() {
    let run = MockReactor::new().run(Script::new().resolve(1, Outcome::Refuse).shutdown(), |r| {
        r.listen_tcp("127.0.0.1:80", ProbeFactory::new(echo()))
            .unwrap();
        client(r, "127.0.0.1:80", echo());
    });
    assert_eq!(
        failures(&run),
        [
            "step 1 (resolve 1 refuse): attempt 1 was answered already: it goes to a port of this \
          reactor, which accepted it"
        ]
    );
}

#[test]
fn ports_that_do_not_exist_or_stopped_take_no_peer_and_stop_once() {
    let run = MockReactor::new().run(
        Script::new()
            .accept(2, "10.0.0.1:1")
            .stop_listening(1)
            .stop_listening(1)
            .accept(1, "10.0.0.1:2")
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:1", ProbeFactory::new(echo()))
                .unwrap();
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 1 (accept 2 from 10.0.0.1:1): no port 2 (ports so far: 1)",
            "step 3 (stop_listening 1): port 1 has stopped listening",
            "step 4 (accept 1 from 10.0.0.1:2): port 1 has stopped listening",
        ]
    );
    // The second stop_listening is not recorded as an action of its own.
    assert_eq!(run.events_of_kind(EventKind::StopListening).count(), 1);
}

#[test]
fn the_peer_sends_nothing_after_its_own_half_close() {
    let b = Behaviour {
        half_closeable: true,
        ..echo()
    };
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .half_close(Conn::Client(1))
            .send(Conn::Client(1), b"late")
            .half_close(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, ADDR, b);
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 3 (send client 1 \"late\"): its peer closed its writing side already \
             (half_close)",
            "step 4 (half_close client 1): its peer closed its writing side already (half_close)",
        ]
    );
}

#[test]
fn steps_after_the_shutdown_reached_nothing() {
    let run = MockReactor::new().run(
        Script::new()
            .shutdown()
            .advance(std::time::Duration::from_secs(1))
            .shutdown(),
        |_| {},
    );
    assert_eq!(
        failures(&run),
        [
            "step 2 (advance 1s): the run has ended: it shut down at step 1",
            "step 3 (shutdown): the run has ended: it shut down at step 1",
        ]
    );
}

#[test]
fn a_lenient_run_skips_and_counts_what_a_strict_run_fails_on() {
    let script = Script::new()
        .resolve(1, Outcome::Refuse)
        .send(Conn::Client(1), b"x")
        .window(Conn::Client(3), Some(1))
        .shutdown();
    let strict = MockReactor::new().run(script.clone(), |r| {
        client(r, ADDR, echo());
    });
    let lenient = MockReactor::new().lenient().run(script, |r| {
        client(r, ADDR, echo());
    });
    assert_eq!(strict.script_failures.len(), 2);
    assert!(strict.skipped.is_empty());
    lenient.assert_clean();
    assert_eq!(lenient.skipped, strict.script_failures);
    assert_eq!(lenient.trace, strict.trace);
}

#[test]
fn a_mismatched_expect_fails_even_a_lenient_run() {
    let b = Behaviour {
        write_on_made: Some(b"hello".to_vec()),
        ..Behaviour::default()
    };
    let run = MockReactor::new().lenient().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .expect(Conn::Client(1), b"help")
            .shutdown(),
        |r| {
            client(r, ADDR, b);
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 2 (expect client 1 \"help\"): the peer received other bytes\n    \
          expected: \"help\" (4 bytes)\n    actual:   \"hello\" (5 bytes)\n    \
          first difference at byte 3: expected \"p\" (0x70), actual \"l\" (0x6c)"
        ]
    );
    assert_eq!(run.script_failures[0].kind, ScriptFailureKind::Mismatch);
    assert!(!run.is_clean());
}

#[test]
fn each_expect_takes_what_came_since_the_one_before() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .expect(Conn::Client(1), b"")
            .send(Conn::Client(1), b"one ")
            .send(Conn::Client(1), b"two ")
            .expect(Conn::Client(1), b"one two ")
            .send(Conn::Client(1), b"three")
            .expect(Conn::Client(1), b"three")
            .expect(Conn::Client(1), b"")
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    run.assert_clean();
}

#[test]
fn bytes_the_peer_has_not_read_are_not_received_yet() {
    let b = Behaviour {
        write_on_made: Some(b"abcdef".to_vec()),
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .window(Conn::Client(1), Some(2))
            .resolve(1, Outcome::Accept)
            .expect(Conn::Client(1), b"ab")
            .window(Conn::Client(1), None)
            .expect(Conn::Client(1), b"cdef")
            .shutdown(),
        |r| {
            client(r, ADDR, b);
        },
    );
    run.assert_clean();
    assert_eq!(run.bytes_written(Conn::Client(1)), Some(6));
}

#[test]
fn an_expect_on_a_connection_between_two_implementations_reached_nothing() {
    let run = MockReactor::new().run(Script::new().expect(Conn::Client(1), b"").shutdown(), |r| {
        r.listen_tcp("127.0.0.1:80", ProbeFactory::new(echo()))
            .unwrap();
        client(r, "127.0.0.1:80", echo());
    });
    assert_eq!(
        failures(&run),
        ["step 1 (expect client 1 \"\"): its peer is an implementation of this reactor, not the \
          script: nothing reads its bytes for an expect"]
    );
}

#[test]
fn a_parsed_script_names_the_place_of_the_failing_step() {
    let file = parse_script(
        "resolve 1 accept\n\
         batch {\n\
         \x20 send client 1 \"ok\"\n\
         \x20 send client 2 \"lost\"\n\
         }\n\
         expect client 1 \"no\"\n\
         shutdown\n",
        "two.script",
    )
    .unwrap();
    let run = MockReactor::new().run(file.script, |r| {
        client(r, ADDR, echo());
    });
    assert_eq!(
        failures(&run),
        [
            "two.script:4:3: send client 2 \"lost\": no connection client 2 (connections so far: \
             client 1; attempts: 1)",
            "two.script:6:1: expect client 1 \"no\": the peer received other bytes\n    \
             expected: \"no\" (2 bytes)\n    actual:   \"ok\" (2 bytes)\n    first difference \
             at byte 0: expected \"n\" (0x6e), actual \"o\" (0x6f)",
        ]
    );
    let f = &run.script_failures[0];
    assert_eq!((f.step, f.event), (1, 1));
}

#[test]
fn a_batch_event_that_names_a_connection_its_own_resolve_makes_is_too_early() {
    // The connection of a resolve is made after its turn: a send in the same
    // batch finds none.
    let run = MockReactor::new().run(
        Script::new()
            .batch(vec![
                WorldEvent::Resolve {
                    attempt: 1,
                    outcome: Outcome::Accept,
                },
                WorldEvent::Send {
                    conn: Conn::Client(1),
                    bytes: "x".into(),
                },
            ])
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 1 (send client 1 \"x\"): no connection client 1: attempt 1 was accepted, and \
          its connection is made once its build_protocol returns (connections so far: none; \
          attempts: 1)"
        ]
    );
    assert_eq!(run.script_failures[0].event, 1);
}

#[test]
fn a_write_error_that_never_meets_a_write_reached_nothing() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .write_error(Conn::Client(1))
            .write_error(Conn::Client(1))
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 2 (write_error client 1): it never fired: no write of the implementation on \
             client 1 reached the socket after it",
            "step 3 (write_error client 1): a write error is armed on it already: the next \
             write fails once",
        ]
    );
    // Met by a write, it breaks the connection and reached something.
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .write_error(Conn::Client(1))
            .send(Conn::Client(1), b"echoed")
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    run.assert_clean();
    assert!(events(&run).contains(&"connection_lost(connection_lost)".to_owned()));
}

#[test]
fn an_expect_after_the_connection_ended_checks_what_it_received() {
    let b = Behaviour {
        write_on_made: Some(b"bye".to_vec()),
        lose_on_made: true,
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .expect(Conn::Client(1), b"bye")
            .expect(Conn::Client(2), b"")
            .shutdown(),
        |r| {
            client(r, ADDR, b);
        },
    );
    assert_eq!(
        failures(&run),
        [
            "step 3 (expect client 2 \"\"): no connection client 2 (connections so far: client 1 \
          (ended); attempts: 1)"
        ]
    );
}

#[test]
fn a_window_at_the_head_holds_for_a_connection_the_set_up_makes() {
    // A client and a server of the same reactor: they connect during the
    // set-up, before the first step. The window at the head is there first,
    // so the server reads nothing of the client's greeting until it opens.
    let greeter = Behaviour {
        write_on_made: Some(b"hello".to_vec()),
        ..Behaviour::default()
    };
    let run = MockReactor::new().run(
        Script::new()
            .window(Conn::Client(1), Some(0))
            .advance(std::time::Duration::from_secs(1))
            .window(Conn::Client(1), None)
            .shutdown(),
        |r| {
            r.listen_tcp("127.0.0.1:80", ProbeFactory::new(echo()))
                .unwrap();
            client(r, "127.0.0.1:80", greeter);
        },
    );
    run.assert_clean();
    let server = run.protocol(Conn::Server(1)).unwrap();
    let received: Vec<f64> = run
        .events_of(callorder_checker::Object::Protocol(server))
        .filter(|r| r.step.event.kind() == EventKind::DataReceived)
        .filter_map(|r| r.t)
        .collect();
    assert_eq!(received, [1.0]);
}

#[test]
fn an_empty_send_delivers_nothing_and_says_so() {
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"")
            .shutdown(),
        |r| {
            client(r, ADDR, echo());
        },
    );
    assert_eq!(
        failures(&run),
        ["step 2 (send client 1 \"\"): no bytes: an empty send delivers nothing"]
    );
    assert_eq!(run.events_of_kind(EventKind::DataReceived).count(), 0);
}
