//! Both reactors pass the conformance suite, the case ids are stable, and
//! a reactor whose world does something else fails the case that sees it.

use callorder_conformance::{
    cases, run, run_cases, Answer, MockWorld, Plan, SetUp, TokioWorld, World,
};

#[test]
fn the_mock_reactor_passes_every_case() {
    let suite = run(&mut MockWorld);
    assert!(suite.passed(), "{suite}");
}

#[test]
fn the_tokio_reactor_passes_every_case() {
    let suite = run(&mut TokioWorld);
    assert!(suite.passed(), "{suite}");
}

#[test]
fn the_case_ids_are_stable() {
    let ids: Vec<&str> = cases::all().iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "client.echo_client_closes",
            "client.server_closes",
            "client.refused",
            "client.connect_timeout",
            "client.dns_lookup_failure",
            "client.peer_reset",
            "client.abort_connection",
            "client.half_close",
            "client.build_protocol_none",
            "client.connection_made_raises",
            "client.data_received_raises",
            "client.connector_disconnect_while_connected",
            "client.streaming_producer_slow_reader",
            "client.reactor_shutdown_while_connecting",
            "client.stop_connecting_immediately",
            "client.abort_then_raise_in_data_received",
            "client.abort_in_pause_producing",
            "client.pull_producer",
            "client.register_producer_after_disconnect",
            "client.half_close_read_connection_lost_raises",
            "client.reconnect_in_client_connection_failed",
            "client.factory_reused_20_connections",
            "client.many_factories_each_once",
            "server.echo_peer_closes",
            "server.peer_reset",
            "server.build_protocol_none",
            "server.connection_made_raises",
            "server.stop_listening_in_build_protocol",
            "server.stop_listening_with_live_connections",
            "server.reactor_shutdown_with_live_connections",
            "server.peer_half_close",
        ]
    );
}

#[test]
fn every_case_names_a_recorded_scenario_and_the_rest_are_listed_with_a_reason() {
    let recorded = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/scripts/twisted"
    ))
    .expect("the recorded scenarios")
    .map(|e| e.expect("an entry").path())
    .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
    .collect::<std::collections::BTreeSet<_>>();
    let in_suite: std::collections::BTreeSet<String> =
        cases::all().iter().map(|c| c.scenario.to_owned()).collect();
    let listed: std::collections::BTreeSet<String> = cases::NOT_IN_SUITE
        .iter()
        .map(|(s, _)| (*s).to_owned())
        .collect();
    for scenario in &in_suite {
        assert!(
            recorded.contains(scenario),
            "{scenario} is not a recorded scenario"
        );
    }
    for scenario in &recorded {
        assert!(
            in_suite.contains(scenario) != listed.contains(scenario),
            "{scenario}: in the suite or listed with a reason, not both, not neither"
        );
    }
}

/// The mock, except that a refusal is never answered.
struct Deaf;

impl World for Deaf {
    fn name(&self) -> &str {
        "deaf"
    }

    fn run(&mut self, plan: &Plan, setup: SetUp<'_>) -> callorder::Run {
        let mut plan = plan.clone();
        if plan.client == Some(Answer::Refuse) {
            plan.client = Some(Answer::NeverAnswer);
        }
        MockWorld.run(&plan, setup)
    }
}

#[test]
fn a_reactor_that_times_out_instead_of_refusing_fails_client_refused() {
    let refused: Vec<_> = cases::all()
        .into_iter()
        .filter(|c| c.id == "client.refused")
        .collect();
    let suite = run_cases(&mut Deaf, &refused);
    assert!(!suite.passed());
    let failure = suite.cases[0].failure.as_deref().expect("a failure");
    assert!(failure.contains("Timeout"), "{failure}");
}

#[test]
fn a_suite_that_ran_no_case_did_not_pass() {
    assert!(!run_cases(&mut MockWorld, &[]).passed());
}

#[test]
fn the_suite_says_which_rules_it_exercised() {
    let suite = run(&mut MockWorld);
    let (covered, all) = suite.rules_covered();
    assert!(covered > 0 && covered <= all);
    let text = suite.to_string();
    assert!(
        text.contains(&format!("spec coverage: {covered}/{all} rules exercised")),
        "{text}"
    );
    // A rule every connection exercises.
    assert!(
        suite.cases[0].rules.iter().any(|r| r.id() == "P-MADE"),
        "{:?}",
        suite.cases[0].rules
    );
}
