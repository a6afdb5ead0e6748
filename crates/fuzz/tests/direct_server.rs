//! Fuzzing server factories alone, from the checker's legal next steps.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, Factory, Holder, Protocol, Reason, Transport,
};
use callorder_fuzz::direct_server::ServerChoice;
use callorder_fuzz::{fuzz_server_factory, CheckKind};
use callorder_reference::{Echo, EchoFactory, HalfCloseFactory, WrappingFactory};
use callorder_trace::{Event, EventKind, Record};

#[test]
fn the_echo_factory_passes() {
    // CALLORDER_FUZZ_CASES overrides the 256 (`just fuzz` runs 100,000).
    let report = fuzz_server_factory(|| Arc::new(EchoFactory::new()))
        .cases(256)
        .check();
    assert!(report.cases > 0);
}

#[test]
fn the_wrapping_factory_around_the_echo_factory_passes() {
    fuzz_server_factory(|| Arc::new(WrappingFactory::new(EchoFactory::new()))).check();
}

#[test]
fn the_half_close_factory_passes() {
    fuzz_server_factory(|| Arc::new(HalfCloseFactory::new(b"bye\r\n"))).check();
}

/// The order of the set-up, of a stop and of the shutdown, as the trace
/// format and the Twisted recordings have it.
fn server_shape(trace: &[Record]) -> Result<(), String> {
    let kinds: Vec<(EventKind, u32)> = trace
        .iter()
        .map(|r| (r.step.event.kind(), r.step.depth))
        .collect();
    let first = [
        (EventKind::ListenTcp, 0),
        (EventKind::DoStart, 0),
        (EventKind::StartFactory, 1),
    ];
    if kinds.len() < 3 || kinds[..3] != first {
        return Err(format!(
            "the trace begins with {:?}",
            &kinds[..3.min(kinds.len())]
        ));
    }
    for (i, r) in trace.iter().enumerate() {
        match r.step.event {
            Event::StopListening { port } if r.step.depth == 0 => {
                let next = trace.get(i + 1).map(|n| n.step.event);
                let stopped = Event::DoStop {
                    factory: callorder_fuzz::direct_server::FACTORY,
                    holder: Some(Holder::Port(port)),
                };
                if next != Some(stopped) {
                    return Err(format!(
                        "stop_listening at seq {} not followed by its do_stop",
                        r.step.seq
                    ));
                }
            }
            Event::BuildProtocol { .. } if r.addr.is_none() => {
                return Err(format!(
                    "build_protocol at seq {} has no peer address",
                    r.step.seq
                ));
            }
            _ => {}
        }
    }
    let mut started = 0i64;
    for r in trace {
        match r.step.event.kind() {
            EventKind::StartFactory => started += 1,
            EventKind::StopFactory => started -= 1,
            _ => {}
        }
        if !(0..=1).contains(&started) {
            return Err(format!("start count {started} at seq {}", r.step.seq));
        }
    }
    match trace.last().map(|r| r.step.event.kind()) {
        Some(EventKind::End) if started == 0 => Ok(()),
        last => Err(format!("the trace ends with {last:?}, started {started}")),
    }
}

#[test]
fn ports_listen_start_and_stop_in_the_recorded_order_and_the_echo_factory_passes() {
    // Three ports over one factory: start_factory once, at the first
    // do_start; stop_factory once, at the last do_stop.
    fuzz_server_factory(|| Arc::new(EchoFactory::new()))
        .max_ports(3)
        .invariant("server trace shape", |trace, _| server_shape(trace))
        .check();
}

#[test]
fn the_echo_factory_echoes_every_byte_and_passes() {
    fuzz_server_factory(|| Arc::new(EchoFactory::new()))
        .invariant("echo", |trace, written| {
            let received: u64 = trace
                .iter()
                .filter_map(|r| match r.step.event {
                    Event::DataReceived { bytes, .. } => Some(bytes),
                    _ => None,
                })
                .sum();
            if received == written.len() as u64 {
                Ok(())
            } else {
                Err(format!("{received} bytes in, {} out", written.len()))
            }
        })
        .check();
}

/// `build_protocol` returning none is legal: the port closes the
/// connection, and nothing more is owed.
struct BuildsNone;

#[async_trait(?Send)]
impl Factory for BuildsNone {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[test]
fn a_factory_that_builds_none_passes() {
    fuzz_server_factory(|| Arc::new(BuildsNone))
        .invariant("no protocol callbacks", |trace, _| {
            match trace.iter().find(|r| r.step.event.protocol().is_some()) {
                Some(r) => Err(format!("{} at seq {}", r.step.event.kind(), r.step.seq)),
                None => Ok(()),
            }
        })
        .check();
}

/// A factory whose `stop_factory` fails (a file it cannot flush, say).
struct FailsToStop;

#[async_trait(?Send)]
impl Factory for FailsToStop {
    async fn stop_factory(&self) -> CallbackResult {
        Err("cannot flush the log".into())
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[test]
fn an_error_in_stop_factory_is_found_and_shrunk_to_one_idle_port() {
    let failure = *fuzz_server_factory(|| Arc::new(FailsToStop))
        .run()
        .unwrap_err();
    println!("{failure}");
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(
        failure.finding.message.contains("stop_factory"),
        "{failure}"
    );
    // One port, nothing happening: do_start, start_factory, and at the
    // shutdown do_stop, stop_factory.
    assert_eq!(failure.case.ports, 1, "{failure}");
    assert!(failure.case.choices.is_empty(), "{failure}");
    assert_eq!(failure.callbacks, 4, "{failure}");
}

/// A protocol that sends a keep-alive a second after it connects, from a
/// timer it never cancels: when the connection ended first, it writes to a
/// transport that is gone.
#[derive(Default)]
struct KeepAlive;

#[async_trait(?Send)]
impl Protocol for KeepAlive {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        let later = t.clone();
        t.reactor().call_later(Duration::from_secs(1), move || {
            let _ = later.write(b"PING\r\n");
        });
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

struct KeepAliveFactory;

#[async_trait(?Send)]
impl Factory for KeepAliveFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(KeepAlive)))
    }
}

#[test]
fn a_write_from_a_timer_after_connection_lost_is_found_and_shrunk() {
    let failure = *fuzz_server_factory(|| Arc::new(KeepAliveFactory))
        .run()
        .unwrap_err();
    println!("{failure}");
    assert_eq!(
        failure.finding.check,
        CheckKind::WriteAfterClose,
        "{failure}"
    );
    // Accept, lose, let the timer fire.
    assert_eq!(failure.case.ports, 1, "{failure}");
    assert_eq!(failure.case.choices.len(), 3, "{failure}");
    assert!(
        matches!(failure.case.choices[0], ServerChoice::Accept(_)),
        "{failure}"
    );
    assert!(
        matches!(failure.case.choices[1], ServerChoice::Lost(..)),
        "{failure}"
    );
    assert!(
        matches!(failure.case.choices[2], ServerChoice::Advance(d) if d >= Duration::from_secs(1)),
        "{failure}"
    );
    assert!(failure.sequence.contains("(timer at"), "{failure}");
}

/// A factory that tears its state down at the first port's `do_stop`, as
/// if it had only one port: the other port's next accept finds nothing.
#[derive(Default)]
struct AssumesOnePort {
    stopped: Cell<bool>,
}

#[async_trait(?Send)]
impl Factory for AssumesOnePort {
    fn do_stop(&self, _: Holder) {
        self.stopped.set(true);
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        assert!(
            !self.stopped.get(),
            "build_protocol after the factory shut down"
        );
        Ok(Some(Box::new(Echo::new())))
    }
}

#[test]
fn a_panic_in_build_protocol_after_another_port_stopped_is_found_and_shrunk() {
    #[allow(clippy::arc_with_non_send_sync)]
    let failure = *fuzz_server_factory(|| Arc::new(AssumesOnePort::default()))
        .run()
        .unwrap_err();
    println!("{failure}");
    assert_eq!(failure.finding.check, CheckKind::Panic, "{failure}");
    assert!(
        failure.finding.message.contains("build_protocol"),
        "{failure}"
    );
    // Two ports: one stops, the other accepts.
    assert_eq!(failure.case.ports, 2, "{failure}");
    assert_eq!(failure.case.choices.len(), 2, "{failure}");
    assert!(
        matches!(failure.case.choices[0], ServerChoice::StopListening(_)),
        "{failure}"
    );
    assert!(
        matches!(failure.case.choices[1], ServerChoice::Accept(_)),
        "{failure}"
    );
    assert!(failure.sequence.contains("stop_listening (l"), "{failure}");
}

/// A protocol that registers a producer twice: the second raises, a bug.
struct RegistersTwice;

#[async_trait(?Send)]
impl Protocol for RegistersTwice {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.register_producer(true)?;
        let _ = t.register_producer(true);
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        Ok(())
    }
}

struct RegistersTwiceFactory;

#[async_trait(?Send)]
impl Factory for RegistersTwiceFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(RegistersTwice)))
    }
}

#[test]
fn a_second_register_producer_is_found_at_the_first_accept() {
    let failure = *fuzz_server_factory(|| Arc::new(RegistersTwiceFactory))
        .run()
        .unwrap_err();
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(
        failure
            .finding
            .message
            .contains("register_producer was a bug"),
        "{failure}"
    );
    assert_eq!(failure.case.ports, 1, "{failure}");
    assert_eq!(failure.case.choices.len(), 1, "{failure}");
    // do_start, start_factory, build_protocol, connection_made.
    assert_eq!(failure.callbacks, 4, "{failure}");
}

#[test]
fn the_same_seed_gives_the_same_report() {
    let run = || {
        fuzz_server_factory(|| Arc::new(KeepAliveFactory))
            .seed(7)
            .run()
            .unwrap_err()
            .to_string()
    };
    let first = run();
    assert_eq!(first, run());
    assert!(first.contains("seed: 7"), "{first}");
    let pass = || {
        fuzz_server_factory(|| Arc::new(EchoFactory::new()))
            .seed(7)
            .cases(32)
            .run()
            .expect("the echo factory passes")
    };
    // All but the wall-clock time it took.
    let same = |r: callorder_fuzz::DirectReport| (r.cases, r.seed, r.seed_range, r.checks);
    assert_eq!(same(pass()), same(pass()));
}

/// A server factory that dials out, from its start hook.
struct AlsoDials;

#[async_trait(?Send)]
impl Factory for AlsoDials {
    async fn start_factory(&self, reactor: &callorder_core::Reactor) -> CallbackResult {
        let client = Arc::new(callorder_reference::LineClientFactory::new(["hi"]));
        reactor.connect_tcp("10.9.9.9:25", client, None);
        Ok(())
    }

    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[test]
fn a_call_the_server_driver_does_not_model_fails_the_case_and_names_fuzz_with() {
    let failure = *fuzz_server_factory(|| Arc::new(AlsoDials))
        .run()
        .unwrap_err();
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
    assert!(
        failure.finding.message.contains(
            "the factory called connect_tcp, which fuzz_server_factory does not model: use fuzz_with"
        ),
        "{failure}"
    );
    assert!(failure.case.choices.is_empty(), "{failure}");
}
