//! Probes of the harness that the fuzzer relies on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{Address, CallbackError, CallbackResult, Factory, Protocol, Transport};
use callorder_harness::{MockReactor, Script};

struct TimerPanics;

#[async_trait(?Send)]
impl Protocol for TimerPanics {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.reactor()
            .call_later(Duration::from_secs(1), || panic!("boom in a timer"));
        Ok(())
    }
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

struct TimerPanicsFactory;

#[async_trait(?Send)]
impl Factory for TimerPanicsFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(TimerPanics)))
    }
}

// Found while fuzzing (fixed): a panic inside a `call_later` closure used
// to unwind out of `MockReactor::run`. Twisted logs an exception raised by a
// `callLater` function and goes on; so does the mock, reporting it as an
// implementation error (`ImplErrorKind::Panicked`, with no event: timers
// are not in the trace).
#[test]
fn a_panicking_timer_is_an_implementation_error() {
    let run = MockReactor::new().run(
        Script::new()
            .accept(1, "10.0.0.1:1")
            .advance(Duration::from_secs(2))
            .shutdown(),
        |r| {
            r.listen_tcp("127.0.0.1:8000", Arc::new(TimerPanicsFactory))
                .unwrap();
        },
    );
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
}

#[test]
fn the_fuzzer_reports_a_panicking_timer_anyway() {
    let failure = *callorder_fuzz::fuzz_server(|| Arc::new(TimerPanicsFactory))
        .regressions(None)
        .run()
        .unwrap_err();
    assert_eq!(
        failure.finding.check,
        callorder_fuzz::CheckKind::Panic,
        "{failure}"
    );
    assert!(
        failure.finding.message.contains("boom in a timer"),
        "{failure}"
    );
    assert!(failure.steps <= 4, "{failure}");
}
