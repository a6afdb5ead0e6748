//! The builder's options, replay, and the strategies' scripts.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{Address, CallbackError, CallbackResult, Factory, Protocol, Transport};
use callorder_fuzz::strategy::{script, ScriptConfig};
use callorder_fuzz::{fuzz_server, CheckKind};
use callorder_harness::{parse_script, print_script, ScriptFile};
use callorder_reference::EchoFactory;
use proptest::prelude::*;

#[test]
fn every_case_runs_and_user_invariants_see_it() {
    let calls = Rc::new(Cell::new(0u32));
    let seen = calls.clone();
    let report = fuzz_server(|| Arc::new(EchoFactory::new()))
        .cases(40)
        .no_chunking_invariance()
        .no_determinism_check()
        .regressions(None)
        .invariant("counted", move |trace, _| {
            seen.set(seen.get() + 1);
            assert!(!trace.is_empty());
            Ok(())
        })
        .check();
    assert_eq!(report.cases, 40);
    assert!(calls.get() >= 40, "{} runs", calls.get());
    assert!(report
        .notes
        .iter()
        .any(|n| n.contains("heap-growth check OFF")));
}

#[test]
fn a_failing_invariant_is_reported_by_name_and_shrunk() {
    // "The server never echoes a 'Q'": false as soon as a peer sends one.
    let failure = *fuzz_server(|| Arc::new(EchoFactory::new()))
        .regressions(None)
        .invariant("no Q", |_, written| {
            match written.iter().any(|(_, bytes)| bytes.contains(&b'Q')) {
                true => Err("a Q was written".to_owned()),
                false => Ok(()),
            }
        })
        .run()
        .unwrap_err();
    assert_eq!(failure.finding.check, CheckKind::Invariant("no Q".into()));
    assert!(failure.steps <= 3, "{failure}");
    assert!(failure.script_text.contains("accept 1 from"), "{failure}");
}

/// A protocol that greets each connection with a number from a global
/// counter: runs of the same script differ.
#[derive(Default)]
struct Numbered;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

#[async_trait(?Send)]
impl Protocol for Numbered {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        t.write(&vec![b'x'; n % 3 + 1])?;
        Ok(())
    }

    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }
}

struct NumberedFactory;

#[async_trait(?Send)]
impl Factory for NumberedFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Numbered)))
    }
}

#[test]
fn nondeterminism_is_caught() {
    let failure = *fuzz_server(|| Arc::new(NumberedFactory))
        .no_chunking_invariance()
        .regressions(None)
        .invariant("writes are stable", |trace, _| {
            let _ = trace;
            Ok(())
        })
        .run()
        .unwrap_err();
    // Either the determinism check itself, or proptest's replay of the
    // minimal case, finds that runs differ.
    assert_eq!(failure.finding.check, CheckKind::Determinism, "{failure}");
    println!("{failure}");
}

#[test]
fn a_printed_failure_replays() {
    let failure = *fuzz_server(|| Arc::new(EchoFactory::new()))
        .regressions(None)
        .invariant("silent", |_, written| {
            match written.iter().all(|(_, b)| b.is_empty()) {
                true => Ok(()),
                false => Err("wrote".to_owned()),
            }
        })
        .run()
        .unwrap_err();
    let fuzz =
        fuzz_server(|| Arc::new(EchoFactory::new())).invariant(
            "silent",
            |_, written| match written.iter().all(|(_, b)| b.is_empty()) {
                true => Ok(()),
                false => Err("wrote".to_owned()),
            },
        );
    let again = fuzz.replay(&failure.script_text).unwrap_err();
    assert_eq!(again.finding, failure.finding);
    assert!(fuzz
        .replay("accept 1 from 10.0.0.1:1\nclose server 1\nshutdown\n")
        .is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Generated scripts print in the fixture format and read back the same.
    #[test]
    fn generated_scripts_round_trip(s in script(&ScriptConfig::default())) {
        let text = print_script(&ScriptFile::from(s.clone()));
        let back = parse_script(&text, "generated.script").map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.script, s);
    }
}
