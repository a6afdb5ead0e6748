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

/// The share of a case's actions (batches counted by their events) that
/// are read windows.
fn window_share(case: &callorder_fuzz::strategy::Case) -> f64 {
    use callorder_fuzz::strategy::WorldAction;
    fn flat(actions: &[WorldAction]) -> Vec<&WorldAction> {
        actions
            .iter()
            .flat_map(|a| match a {
                WorldAction::Batch(inner) => flat(inner),
                other => vec![other],
            })
            .collect()
    }
    let all = flat(&case.actions);
    let windows = all
        .iter()
        .filter(|a| matches!(a, WorldAction::Window { .. }))
        .count();
    windows as f64 / all.len().max(1) as f64
}

#[test]
fn swarm_testing_gives_cases_mixes_of_their_own() {
    use callorder_fuzz::strategy::case;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let shares = |swarm: bool| -> Vec<f64> {
        let config = ScriptConfig {
            swarm,
            min_actions: 24,
            ..ScriptConfig::default()
        };
        let strategy = case(&config);
        let mut runner = TestRunner::deterministic();
        (0..400)
            .map(|_| window_share(&strategy.new_tree(&mut runner).unwrap().current()))
            .collect()
    };
    let (fixed, swarmed) = (shares(false), shares(true));
    let none = |v: &[f64]| v.iter().filter(|&&s| s == 0.0).count();
    let heavy = |v: &[f64]| v.iter().filter(|&&s| s >= 0.15).count();
    let spread = |v: &[f64]| {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    // Kinds weighed up: many cases are heavy in windows (2 of 400 under
    // the fixed mix, 37 under the swarm), and the shares spread wider (a
    // standard deviation of 0.032 against 0.060)...
    assert!(heavy(&swarmed) >= 10 * heavy(&fixed));
    assert!(spread(&swarmed) > 1.5 * spread(&fixed));
    // ...while others leave windows out (a sixth of the swarm), as a
    // short case without one does under either.
    assert!(none(&swarmed) > 100);
}

/// Per run of the campaign: how many connectors (or ports) it made, and
/// over how many factories.
fn holders_and_factories(fuzz: callorder_fuzz::Fuzz) -> Vec<(usize, usize)> {
    use callorder_trace::Event;
    use std::cell::RefCell;
    use std::collections::BTreeSet;
    let seen = Rc::new(RefCell::new(Vec::new()));
    let into = seen.clone();
    fuzz.cases(64)
        .regressions(None)
        .invariant("counted", move |trace, _| {
            let (mut holders, mut factories) = (0, BTreeSet::new());
            for r in trace {
                if let Event::ConnectTcp { factory, .. } | Event::ListenTcp { factory, .. } =
                    r.step.event
                {
                    holders += 1;
                    factories.insert(factory);
                }
            }
            into.borrow_mut().push((holders, factories.len()));
            Ok(())
        })
        .check();
    let out = seen.borrow().clone();
    out
}

#[test]
fn connectors_and_ports_share_one_factory_unless_told_otherwise() {
    use callorder_fuzz::fuzz_client;
    use callorder_reference::LineClientFactory;
    let client = || fuzz_client(|| Arc::new(LineClientFactory::new(["hi"])));
    let server = || fuzz_server(|| Arc::new(EchoFactory::new()));
    for (shared, separate) in [
        (client(), client().separate_factories()),
        (server(), server().separate_factories()),
    ] {
        let shared = holders_and_factories(shared);
        assert!(
            shared.iter().any(|&(holders, _)| holders == 2),
            "{shared:?}"
        );
        assert!(
            shared.iter().all(|&(_, factories)| factories == 1),
            "{shared:?}"
        );
        let separate = holders_and_factories(separate);
        assert!(separate.iter().any(|&(holders, _)| holders == 2));
        assert!(separate
            .iter()
            .all(|&(holders, factories)| holders == factories));
    }
}
