//! A script the fuzzer prints runs under the strict default as it ran in
//! the fuzzer's lenient mode: the steps a lenient run skipped changed
//! nothing, so the script without them (what the shrinker prints) gives the
//! same trace, and reaches everything it names.

use std::cell::Cell;
use std::sync::Arc;

use callorder_core::{ClientFactory, Factory, Reactor};
use callorder_fuzz::strategy::{case, ScriptConfig};
use callorder_fuzz::ADDRESS;
use callorder_harness::MockReactor;
use callorder_reference::{Echo, EchoFactory, LineClientFactory, ReconnectingClientFactory};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Where the clients connect: a peer the script plays.
const PEER: &str = "10.0.0.1:80";

/// A server, a reconnecting client and a line client in one reactor: retries,
/// connections that end by themselves, and accepted ones, so that generated
/// steps miss in every way.
fn set_up(reactor: &Reactor, connectors: usize) {
    let server: Arc<dyn Factory> = Arc::new(EchoFactory::new());
    let _ = reactor.listen_tcp(ADDRESS, server);
    for _ in 0..connectors {
        let reconnecting: Arc<dyn ClientFactory> =
            ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared();
        reactor.connect_tcp(PEER, reconnecting, None);
    }
    let lines: Arc<dyn ClientFactory> =
        Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2));
    reactor.connect_tcp(PEER, lines, None);
}

#[test]
fn a_lenient_script_without_its_skipped_steps_runs_strictly_to_the_same_trace() {
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let (cases, with_skipped) = (Cell::new(0), Cell::new(0));
    runner
        .run(&case(&ScriptConfig::default()), |case| {
            let script = case.script();
            let connectors = case.connectors;
            let lenient = MockReactor::new()
                .lenient()
                .run(script.clone(), |r| set_up(r, connectors));
            cases.set(cases.get() + 1);
            if !lenient.skipped.is_empty() {
                with_skipped.set(with_skipped.get() + 1);
            }
            let pruned = script.without(&lenient.skipped);
            let strict = MockReactor::new().run(pruned.clone(), |r| set_up(r, connectors));
            if !strict.script_failures.is_empty() {
                return Err(TestCaseError::fail(format!(
                    "the pruned script still fails: {:?}\n{}",
                    strict.script_failures,
                    callorder_harness::print_script(&pruned.into())
                )));
            }
            if strict.trace != lenient.trace {
                return Err(TestCaseError::fail("the pruned script ran otherwise"));
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Not vacuous: generated scripts do miss, and often.
    assert!(
        with_skipped.get() * 4 > cases.get(),
        "{} of {} cases skipped a step",
        with_skipped.get(),
        cases.get()
    );
}
