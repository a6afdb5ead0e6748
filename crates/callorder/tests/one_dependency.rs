//! A downstream test depends on `callorder` alone: every name it needs is a
//! `callorder::` path. Each test here uses one group of names the way a test
//! of the user's own code does; none of them names another callorder crate.

#![allow(clippy::arc_with_non_send_sync)]

use std::sync::Arc;
use std::time::Duration;

use callorder::reference::{EchoFactory, WrappingFactory};
use callorder::{
    async_trait, Address, Bytes, CallbackError, CallbackResult, CheckError, CheckKind,
    CheckedFactory, Checker, Conn, EventKind, Factory, Failure, HeapGrowth, MockReactor, Profile,
    Protocol, Record, Rule, Run, Script, Step, TraceReader, Transport, Violation, WorldEvent,
};

/// Answers `pong` to anything, then closes.
struct Pong(Option<Transport>);

#[async_trait(?Send)]
impl Protocol for Pong {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.0 = Some(t);
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        let t = self.0.as_ref().expect("made");
        t.write(b"pong")?;
        t.lose_connection()?;
        Ok(())
    }
}

struct PongFactory;

#[async_trait(?Send)]
impl Factory for PongFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Pong(None))))
    }
}

fn serve(reactor: MockReactor, script: Script) -> Run {
    reactor.run(script, |r| {
        r.listen_tcp("0.0.0.0:7", Arc::new(PongFactory)).unwrap();
    })
}

#[test]
fn a_script_is_built_from_steps_and_world_events_and_shared_bytes() {
    let ping = Bytes::from_static(b"ping");
    let script = Script::new()
        .step(Step::Batch(vec![WorldEvent::Accept {
            port: 1,
            peer: Address::new("10.0.0.1:4000"),
        }]))
        .step(Step::Batch(vec![WorldEvent::Send {
            conn: Conn::Server(1),
            bytes: ping,
        }]))
        .step(Step::Advance(Duration::from_secs(1)))
        .step(Step::Shutdown);
    let run = serve(MockReactor::with_profile(Profile::Twisted, 7), script);
    run.assert_clean();
    assert_eq!(run.written, vec![(Conn::Server(1), b"pong".to_vec())]);
    let kinds: Vec<EventKind> = run.trace.iter().map(|r| r.step.event.kind()).collect();
    assert!(kinds.contains(&EventKind::DataReceived), "{kinds:?}");
}

#[test]
fn a_recorded_trace_is_read_and_judged_with_facade_names() {
    let trace = concat!(
        r#"{"seq":1,"event":"listen_tcp","factory":"f1","port":"l1"}"#,
        "\n",
        r#"{"seq":2,"event":"do_start","factory":"f1","port":"l1"}"#,
        "\n",
        r#"{"seq":3,"depth":1,"event":"start_factory","factory":"f1"}"#,
        "\n",
        r#"{"seq":4,"event":"build_protocol","factory":"f1","port":"l1","protocol":"p1"}"#,
        "\n",
        r#"{"seq":5,"event":"data_received","protocol":"p1","bytes":4}"#,
        "\n",
    );
    let records: Vec<Record> = TraceReader::new(trace.as_bytes())
        .collect::<Result<_, _>>()
        .expect("well formed");
    let mut checker = Checker::new(Profile::Strict);
    let verdict = records.iter().try_for_each(|r| checker.step(&r.step));
    let Err(CheckError::Violation(v)) = verdict else {
        panic!("data before connection_made must be illegal, got {verdict:?}");
    };
    let v: Violation = *v;
    assert_eq!((v.rule, v.seq), (Rule::BeforeMade, 5));
}

#[test]
fn the_inner_boundary_of_a_wrapper_is_checked_with_facade_names() {
    let (checked, inner) = CheckedFactory::new(EchoFactory::new());
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.1:4000")
            .send(Conn::Server(1), b"hi")
            .close(Conn::Server(1))
            .shutdown(),
        |r| {
            r.listen_tcp("0.0.0.0:7", Arc::new(WrappingFactory::new(checked)))
                .unwrap();
        },
    );
    run.assert_clean();
    let inner = inner.finish();
    assert!(inner.violation.is_none(), "{:?}", inner.violation);
    assert_eq!(run.written, vec![(Conn::Server(1), b"hi".to_vec())]);
}

/// Refuses every byte: its `data_received` returns an error.
struct Grumpy;

#[async_trait(?Send)]
impl Protocol for Grumpy {
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Err(CallbackError::new("no, thank you"))
    }
}

struct GrumpyFactory;

#[async_trait(?Send)]
impl Factory for GrumpyFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Grumpy)))
    }
}

#[test]
fn fuzzing_reports_a_failure_with_facade_types() {
    let failure: Box<Failure> = callorder::fuzz_server(|| Arc::new(GrumpyFactory))
        .cases(64)
        .regressions(None)
        .run()
        .expect_err("a data_received that returns an error is reported");
    assert_eq!(failure.finding.check, CheckKind::ImplError, "{failure}");
}

#[test]
fn without_the_counting_allocator_the_heap_check_says_it_is_off() {
    let run = serve(
        MockReactor::new(),
        Script::new().checkpoint().checkpoint().shutdown(),
    );
    assert!(matches!(run.heap_growth(1), HeapGrowth::Off(_)));
    assert!(!callorder::counting_allocator_installed());
}
