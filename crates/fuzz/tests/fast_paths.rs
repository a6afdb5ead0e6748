//! The checker's fast paths judge what the mock reactor records exactly as
//! its general path does.
//!
//! Generated scripts drive a reconnecting client, a line client and an echo
//! server in one reactor; two checkers, one with fast paths and one
//! without, step every recorded event (ids as the reactor numbers them,
//! which the fast paths take) and must give the same verdicts, the same
//! live objects after each event, and the same coverage and warnings. The
//! checker's own tests compare the whole state on the fixtures and their
//! mutants; these runs add the shapes a reactor produces (retries, timers,
//! half-closes, several connections interleaved).

use std::sync::Arc;

use callorder_checker::{Checker, Profile};
use callorder_core::{ClientFactory, Factory};
use callorder_fuzz::strategy::{script, ScriptConfig};
use callorder_fuzz::ADDRESS;
use callorder_harness::MockReactor;
use callorder_reference::{Echo, EchoFactory, LineClientFactory, ReconnectingClientFactory};
use proptest::prelude::*;

/// Where the clients connect: a peer the script plays.
const PEER: &str = "10.0.0.1:80";

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_fast_paths_judge_generated_runs_as_the_general_path_does(
        script in script(&ScriptConfig { max_actions: 48, ..ScriptConfig::default() })
    ) {
        let run = MockReactor::new().run(script, |reactor| {
            let server: Arc<dyn Factory> = Arc::new(EchoFactory::new());
            let _ = reactor.listen_tcp(ADDRESS, server);
            let reconnecting: Arc<dyn ClientFactory> =
                ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared();
            // Not the server's address: two echoes connected to each other
            // would echo forever. The script answers these attempts.
            reactor.connect_tcp(PEER, reconnecting, None);
            let lines: Arc<dyn ClientFactory> =
                Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2));
            reactor.connect_tcp(PEER, lines, None);
        });
        prop_assume!(run.trace.len() > 3);
        for profile in [Profile::Strict, Profile::Twisted] {
            let mut fast = Checker::new(profile);
            let mut general = Checker::new(profile).with_fast_paths(false);
            for record in &run.trace {
                let step = &record.step;
                let (a, b) = (fast.step(step), general.step(step));
                prop_assert_eq!(format!("{a:?}"), format!("{b:?}"), "{} at seq {}", profile, step.seq);
                if a.is_err() {
                    break;
                }
                prop_assert_eq!(fast.live_objects(), general.live_objects(), "seq {}", step.seq);
            }
            prop_assert_eq!(fast.coverage(), general.coverage());
            prop_assert_eq!(fast.warnings(), general.warnings());
        }
    }
}
