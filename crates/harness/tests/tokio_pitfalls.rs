//! Mistakes a user makes with tokio around the mock reactor, each met with
//! a message that says what to do, at the call that made it; and a
//! callback's panic reported in plain words.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{Address, CallbackError, CallbackResult, Factory, Protocol, Transport};
use callorder_harness::{ImplErrorKind, MockReactor, Script};
use callorder_trace::EventKind;

/// What a panic said, for the asserts.
fn message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(s) => *s,
        Err(panic) => panic.downcast_ref::<&str>().map_or_else(
            || "a panic without a message".to_owned(),
            |s| (*s).to_owned(),
        ),
    }
}

#[tokio::test(start_paused = true)]
async fn run_inside_a_tokio_runtime_says_to_use_run_script() {
    let panic = catch_unwind(AssertUnwindSafe(|| {
        MockReactor::new().run(Script::new().shutdown(), |_| {});
    }))
    .expect_err("no runtime can start inside another");
    let said = message(panic);
    assert!(
        said.contains("MockReactor::run was called inside a tokio runtime"),
        "{said}"
    );
    assert!(said.contains("run_script(script).await"), "{said}");
    assert!(!said.contains("Cannot start a runtime"), "{said}");
}

#[tokio::test(start_paused = true)]
async fn run_on_inside_a_tokio_runtime_says_so_too() {
    let rt = MockReactor::runtime();
    let panic = catch_unwind(AssertUnwindSafe(|| {
        MockReactor::new().run_on(&rt, Script::new().shutdown(), |_| {});
    }))
    .expect_err("no runtime can start inside another");
    assert!(message(panic).contains("run_script(script).await"));
    // A runtime may not be dropped inside another either.
    std::mem::forget(rt);
}

#[tokio::test(start_paused = true)]
async fn run_script_works_where_the_clock_is_paused() {
    let run = MockReactor::new()
        .run_script(Script::new().advance(Duration::from_secs(3)).shutdown())
        .await;
    run.assert_clean();
    assert_eq!(run.trace.last().and_then(|r| r.t), Some(3.0));
}

/// Runs `script` with `run_script` on a runtime whose clock follows the
/// wall, and returns what the panic said.
fn run_script_unpaused(script: Script) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let panic = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(MockReactor::new().run_script(script));
    }))
    .expect_err("the clock is not paused");
    message(panic)
}

#[test]
fn run_script_on_a_clock_that_is_not_paused_says_so_before_tokio_does() {
    // Without the check, tokio panics at the advance: "time is not frozen".
    let said = run_script_unpaused(Script::new().advance(Duration::from_secs(1)).shutdown());
    assert!(said.contains("whose clock is paused"), "{said}");
    assert!(said.contains("start_paused = true"), "{said}");
    assert!(!said.contains("not frozen"), "{said}");
}

#[test]
fn run_script_on_a_clock_that_is_not_paused_fails_at_once() {
    // A script that never moves time would run, and the next one that does
    // would fail: it fails before the first step instead.
    let said = run_script_unpaused(Script::new().shutdown());
    assert!(said.contains("whose clock is paused"), "{said}");
}

struct Panics;

#[async_trait(?Send)]
impl Protocol for Panics {
    async fn connection_made(&mut self, _: Transport) -> CallbackResult {
        panic!("boom in connection_made")
    }
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

struct PanicsFactory;

#[async_trait(?Send)]
impl Factory for PanicsFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Panics)))
    }
}

#[test]
fn a_callbacks_panic_is_reported_once() {
    let run = MockReactor::new().run(Script::new().accept(1, "10.0.0.1:1").shutdown(), |r| {
        r.listen_tcp("127.0.0.1:8000", Arc::new(PanicsFactory))
            .expect("listens");
    });
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    let error = &run.errors[0];
    assert_eq!(error.kind, ImplErrorKind::Panicked);
    assert_eq!(error.message, "boom in connection_made");
    assert_eq!(
        error.to_string(),
        format!(
            "seq {}: connection_made panicked: boom in connection_made",
            error.seq
        )
    );
    // The trace has only its `error` text to say it was a panic.
    let made = run
        .trace
        .iter()
        .find(|r| r.step.event.kind() == EventKind::ConnectionMade)
        .expect("made");
    assert_eq!(
        made.error.as_deref(),
        Some("panicked: boom in connection_made")
    );
}

#[test]
fn a_timers_panic_is_reported_once() {
    let run = MockReactor::new().run(
        Script::new().advance(Duration::from_secs(1)).shutdown(),
        |r| {
            r.call_later(Duration::from_millis(10), || panic!("boom in a timer"));
        },
    );
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(
        run.errors[0].to_string(),
        format!(
            "after seq {}: a call_later timer panicked: boom in a timer",
            run.errors[0].seq
        )
    );
}
