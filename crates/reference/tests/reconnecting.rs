//! ReconnectingClientFactory under the mock reactor: Twisted's policy
//! (semantics RC1-RC5), checked against the virtual clock.

mod common;

use std::f64::consts::E;
use std::sync::Arc;
use std::time::Duration;

use callorder_checker::Profile;
use callorder_core::{Protocol, Reason};
use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
use callorder_reference::{
    Echo, LineClient, ReceivedLines, ReconnectingClientFactory, RetryPolicy,
};
use callorder_trace::EventKind;
use common::{assert_times, count, names, reasons, times};

const ADDR: &str = "example.org:80";

fn echo(_: &callorder_core::Address) -> Box<dyn Protocol> {
    Box::new(Echo::new())
}

fn jitter_free() -> RetryPolicy {
    RetryPolicy::default().with_jitter(0.0)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Runs `script` with one RCF connecting to [`ADDR`] from the start.
fn run_rcf(factory: &Arc<ReconnectingClientFactory>, reactor: MockReactor, script: Script) -> Run {
    let f = factory.clone();
    reactor.run(script, move |r| {
        r.connect_tcp(ADDR, f, None);
    })
}

/// A script where the first `n` attempts are refused, each followed by
/// waiting `wait(k)` for the reconnect, then attempt `n + 1` is accepted.
fn refused_then_accepted(n: usize, wait: impl Fn(usize) -> f64) -> Script {
    let mut script = Script::new();
    for k in 1..=n {
        script = script.resolve(k, Outcome::Refuse).advance(secs(wait(k)));
    }
    script.resolve(n + 1, Outcome::Accept)
}

/// Where the reconnects must land: attempt k+1 starts `delays[k-1]` after
/// attempt k was refused, at the sum of the waits before it.
fn expected_connect_times(delays: &[f64], wait: impl Fn(usize) -> f64) -> Vec<f64> {
    let mut refused_at = 0.0;
    delays
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let at = refused_at + d;
            refused_at += wait(i + 1);
            at
        })
        .collect()
}

#[test]
fn without_jitter_the_delays_are_one_e_e_squared_and_the_reconnects_happen_at_those_times() {
    let policy = jitter_free();
    let expected: Vec<f64> = policy.jitter_free_delays().take(5).collect();
    // Whole seconds: the script's own steps land exactly on the clock.
    let wait = |k: usize| expected[k - 1].ceil();
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(policy)
        .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        refused_then_accepted(5, wait).shutdown(),
    );
    run.assert_clean();
    assert_eq!(expected, [1.0, E, E * E, E.powi(3), E.powi(4)]);
    // Five refusals, then the connection lost at shutdown: a sixth retry,
    // from the initial delay since the connect reset it.
    assert_eq!(factory.scheduled_delays()[..5], expected);
    assert_eq!(factory.scheduled_delays()[5..], [1.0]);
    assert_eq!(times(&run, EventKind::ConnectTcp), [0.0]);
    assert_times(
        &times(&run, EventKind::Connect),
        &expected_connect_times(&expected, wait),
    );
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionFailed),
        [Reason::ConnectionRefused; 5]
    );
}

#[test]
fn without_jitter_the_delays_are_capped_at_max_delay() {
    let policy = jitter_free();
    let expected: Vec<f64> = policy.jitter_free_delays().take(12).collect();
    let wait = |k: usize| expected[k - 1].ceil();
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(policy)
        .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        refused_then_accepted(12, wait).shutdown(),
    );
    run.assert_clean();
    let delays = factory.scheduled_delays();
    assert_eq!(delays[..12], expected);
    assert!((delays[8] - E.powi(8)).abs() < 1e-9, "{delays:?}");
    assert_eq!(delays[9..], [3600.0, 3600.0, 3600.0, 1.0]);
    assert_times(
        &times(&run, EventKind::Connect),
        &expected_connect_times(&expected, wait),
    );
}

#[test]
fn a_configured_max_delay_caps_the_delays_too() {
    let policy = jitter_free().with_max_delay(10.0);
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(policy)
        .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        refused_then_accepted(5, |_| 10.0).shutdown(),
    );
    run.assert_clean();
    assert_eq!(factory.scheduled_delays(), [1.0, E, E * E, 10.0, 10.0, 1.0]);
}

/// The scheduled delays and the trace of a jittered run with this seed.
fn jittered_run(seed: u64) -> (Vec<f64>, Run) {
    let factory = ReconnectingClientFactory::new(echo).shared();
    // Twice the jitter-free delay is eight standard deviations of jitter.
    let wait = |k: usize| (2.0 * E.powi(k as i32 - 1)).ceil();
    let run = run_rcf(
        &factory,
        MockReactor::with_profile(Profile::Strict, seed),
        refused_then_accepted(6, wait).shutdown(),
    );
    run.assert_clean();
    let delays = factory.scheduled_delays();
    // The last retry, after the loss at shutdown, never fires.
    assert_times(
        &times(&run, EventKind::Connect),
        &expected_connect_times(&delays[..6], wait),
    );
    (delays, run)
}

#[test]
fn with_jitter_the_delays_differ_from_the_jitter_free_ones() {
    let (delays, _) = jittered_run(7);
    let free: Vec<f64> = RetryPolicy::default()
        .jitter_free_delays()
        .take(6)
        .collect();
    assert_eq!(delays.len(), 7, "six refusals and the loss at shutdown");
    for (d, f) in delays.iter().zip(&free) {
        assert_ne!(d, f);
        // A random walk around the jitter-free delays, not far from them.
        assert!(*d > 0.5 * f && *d < 1.5 * f, "{delays:?}");
    }
}

#[test]
fn with_jitter_the_same_seed_gives_the_same_delays_and_trace() {
    let (a, run_a) = jittered_run(42);
    let (b, run_b) = jittered_run(42);
    assert_eq!(a, b);
    assert_eq!(run_a.trace_jsonl(), run_b.trace_jsonl());
    let (c, _) = jittered_run(43);
    assert_ne!(a, c);
}

#[test]
fn max_retries_three_makes_exactly_three_reconnects_then_gives_up() {
    let policy = jitter_free().with_max_retries(3);
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(policy)
        .shared();
    let mut script = Script::new();
    for k in 1..=4 {
        script = script.resolve(k, Outcome::Refuse).advance(secs(100.0));
    }
    let run = run_rcf(&factory, MockReactor::new(), script.shutdown());
    run.assert_clean();
    assert_eq!(count(&run, EventKind::Connect), 3);
    assert_eq!(count(&run, EventKind::ClientConnectionFailed), 4);
    assert_eq!(factory.scheduled_delays(), [1.0, E, E * E]);
    assert_eq!(factory.retries(), 4, "the abandoned round still counts");
    assert!(!factory.has_pending_retry());
    // Each round stops the factory and the next restarts it (RC3).
    assert_eq!(count(&run, EventKind::StartFactory), 4);
    assert_eq!(count(&run, EventKind::StopFactory), 4);
}

#[test]
fn stop_trying_while_connecting_fails_the_attempt_as_user_cancelled_and_never_retries() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(secs(5.0))
            .advance(secs(1000.0))
            .shutdown(),
        move |r| {
            r.connect_tcp(ADDR, f.clone(), None);
            // Attempt 2 starts at t=1 and hangs; stop trying at t=3.
            r.call_later(secs(3.0), move || {
                f.stop_trying().expect("swallows NotConnecting")
            });
        },
    );
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionFailed),
        [Reason::ConnectionRefused, Reason::UserCancelled]
    );
    assert_eq!(count(&run, EventKind::Connect), 1);
    assert_eq!(times(&run, EventKind::StopConnecting), [3.0]);
    assert_eq!(factory.scheduled_delays(), [1.0]);
    assert!(!factory.is_trying());
    let tail = names(&run);
    let i = tail
        .iter()
        .rposition(|n| *n == "client_connection_failed")
        .unwrap();
    assert_eq!(
        tail[i + 1..],
        ["do_stop", "stop_factory", "shutdown", "end"]
    );
}

#[test]
fn stop_trying_cancels_the_pending_reconnect() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(secs(1000.0))
            .shutdown(),
        move |r| {
            r.connect_tcp(ADDR, f.clone(), None);
            r.call_later(secs(0.5), move || {
                f.stop_trying().expect("swallows NotConnecting")
            });
        },
    );
    run.assert_clean();
    assert_eq!(count(&run, EventKind::Connect), 0);
    assert_eq!(factory.scheduled_delays(), [1.0]);
    assert!(!factory.has_pending_retry());
    // The connector was known and not connecting: NotConnecting, swallowed.
    assert_eq!(count(&run, EventKind::StopConnecting), 1);
}

#[test]
fn stop_trying_before_the_first_failure_does_not_cancel_the_first_attempt_but_prevents_the_retry() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .advance(secs(100.0))
            .shutdown(),
        move |r| {
            r.connect_tcp(ADDR, f.clone(), None);
            f.stop_trying().expect("no connector known yet");
        },
    );
    run.assert_clean();
    assert_eq!(count(&run, EventKind::StopConnecting), 0);
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionFailed),
        [Reason::ConnectionRefused]
    );
    assert_eq!(count(&run, EventKind::Connect), 0);
    assert!(factory.scheduled_delays().is_empty());
}

#[test]
fn a_successful_connect_resets_the_delay_by_default() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        refused_then_accepted(2, |_| 3.0)
            .reset(Conn::Client(3))
            .advance(secs(3.0))
            .resolve(4, Outcome::Accept)
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(factory.scheduled_delays(), [1.0, E, 1.0, 1.0]);
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionLost),
        [Reason::ConnectionLost, Reason::ConnectionLost]
    );
    assert_times(&times(&run, EventKind::Connect), &[1.0, 3.0 + E, 7.0]);
}

#[test]
fn without_reset_the_delay_keeps_growing_and_lost_sessions_count_toward_max_retries() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free().with_max_retries(2))
        .reset_delay_on_build(false)
        .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        Script::new()
            .resolve(1, Outcome::Accept)
            .close(Conn::Client(1))
            .advance(secs(10.0))
            .resolve(2, Outcome::Accept)
            .close(Conn::Client(2))
            .advance(secs(10.0))
            .resolve(3, Outcome::Accept)
            .close(Conn::Client(3))
            .advance(secs(100.0))
            .shutdown(),
    );
    run.assert_clean();
    // Abandoned after two successful sessions ([X rcf_lost]).
    assert_eq!(factory.scheduled_delays(), [1.0, E]);
    assert_eq!(count(&run, EventKind::Connect), 2);
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionLost),
        [Reason::ConnectionDone; 3]
    );
}

#[test]
fn timeouts_dns_failures_and_connect_errors_are_retried_like_refusals() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let f = factory.clone();
    let run = MockReactor::new().run(
        Script::new()
            .advance(secs(30.0))
            .advance(secs(1.0))
            .resolve(2, Outcome::DnsFailure)
            .advance(secs(3.0))
            .resolve(3, Outcome::Fail)
            .advance(secs(8.0))
            .resolve(4, Outcome::Accept)
            .shutdown(),
        move |r| {
            r.connect_tcp(ADDR, f, Some(secs(30.0)));
        },
    );
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionFailed),
        [Reason::Timeout, Reason::DnsLookup, Reason::ConnectError]
    );
    assert_eq!(times(&run, EventKind::ClientConnectionFailed)[0], 30.0);
    assert_times(
        &times(&run, EventKind::Connect),
        &[31.0, 31.0 + E, 34.0 + E * E],
    );
}

#[test]
fn shutdown_mid_connection_loses_the_connection_and_the_reconnect_never_fires() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        Script::new()
            .resolve(1, Outcome::Accept)
            .send(Conn::Client(1), b"ping")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Client(1), b"ping".to_vec())]);
    assert_eq!(
        reasons(&run, EventKind::ConnectionLost),
        [Reason::ConnectionLost]
    );
    assert_eq!(count(&run, EventKind::Connect), 0);
    assert_eq!(factory.scheduled_delays(), [1.0]);
}

#[test]
fn shutdown_while_connecting_fails_the_attempt() {
    let factory = ReconnectingClientFactory::new(echo)
        .with_policy(jitter_free())
        .shared();
    let run = run_rcf(&factory, MockReactor::new(), Script::new().shutdown());
    run.assert_clean();
    assert_eq!(
        reasons(&run, EventKind::ClientConnectionFailed),
        [Reason::ConnectError]
    );
    assert_eq!(count(&run, EventKind::Connect), 0);
}

#[test]
fn a_line_client_reconnects_and_collects_lines_from_every_session() {
    let lines = ReceivedLines::new();
    let log = lines.clone();
    let factory = ReconnectingClientFactory::new(move |_| {
        Box::new(LineClient::new(["hi"], Some(1), log.clone()))
    })
    .with_policy(jitter_free())
    .shared();
    let run = run_rcf(
        &factory,
        MockReactor::new(),
        Script::new()
            .resolve(1, Outcome::Accept)
            .send_chunked(Conn::Client(1), b"one\r\n", 1)
            .advance(secs(1.0))
            .resolve(2, Outcome::Refuse)
            .advance(secs(3.0))
            .resolve(3, Outcome::Accept)
            .send(Conn::Client(3), b"two\n")
            .shutdown(),
    );
    run.assert_clean();
    assert_eq!(lines.lines(), ["one", "two"]);
    assert_eq!(
        run.written,
        vec![
            (Conn::Client(1), b"hi\r\n".to_vec()),
            (Conn::Client(3), b"hi\r\n".to_vec()),
        ]
    );
    // Lost (our close), refused, lost (our close): the delay restarts
    // after each connect.
    assert_eq!(factory.scheduled_delays(), [1.0, E, 1.0]);
    assert_times(&times(&run, EventKind::Connect), &[1.0, 1.0 + E]);
}

#[test]
fn the_same_script_twice_gives_byte_identical_traces() {
    let trace = || {
        let factory = ReconnectingClientFactory::new(echo).shared();
        run_rcf(
            &factory,
            MockReactor::new(),
            refused_then_accepted(3, |k| 3.0 * k as f64)
                .send(Conn::Client(4), b"x")
                .shutdown(),
        )
        .trace_jsonl()
    };
    assert_eq!(trace(), trace());
}

// The mock clock is exact to the nanosecond (Duration's resolution): a
// timer fires at its due time, not rounded up to tokio's millisecond wheel.
#[test]
fn a_timer_fires_at_exactly_its_virtual_due_time() {
    let run = MockReactor::new().run(Script::new().advance(secs(3.0)).shutdown(), |r| {
        let r2 = r.clone();
        r.call_later(secs(E), move || {
            r2.connect_tcp(ADDR, ReconnectingClientFactory::new(echo).shared(), None);
        });
    });
    run.assert_clean();
    let t = times(&run, EventKind::ConnectTcp);
    assert_eq!(t.len(), 1);
    assert!(
        (t[0] - E).abs() < 1e-9,
        "connect_tcp at {} instead of {E}",
        t[0]
    );
}
