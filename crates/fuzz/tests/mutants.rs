//! The mutant gallery (`tests/gallery`): the fuzzer must find every
//! mutant with its default checks and default case count, catch it with the
//! expected check, and shrink it to a short script. The heap mutant runs in
//! `tests/heap_mutants.rs`, which installs the counting allocator.
//!
//! Run with `--nocapture` to see each minimal script and trace.

mod gallery;

use gallery::Mutant;

#[track_caller]
fn caught(mutant: Mutant) {
    let failure = mutant.catch(0);
    println!("{failure}");
}

#[test]
fn one_message_per_read_breaks_chunking_invariance() {
    caught(gallery::one_per_read());
}

#[test]
fn connecting_twice_is_an_implementation_error() {
    caught(gallery::watchdog());
}

#[test]
fn retrying_without_delay_is_a_retry_storm() {
    caught(gallery::eager_retry());
}

#[test]
fn reading_a_header_from_one_byte_panics() {
    caught(gallery::length_prefixed());
}

#[test]
fn writing_after_abort_is_reported() {
    caught(gallery::abort_then_bye());
}

#[test]
fn factories_parked_in_a_registry_leak() {
    caught(gallery::factory_per_connection());
}

#[test]
fn a_heartbeat_outliving_its_connection_is_reported() {
    caught(gallery::heartbeat());
}

#[test]
fn a_backoff_that_never_resets_breaks_the_reconnect_policy() {
    caught(gallery::backoff_never_resets());
}

#[test]
fn asserting_no_build_after_stop_listening_panics() {
    caught(gallery::stop_listening_in_build());
}

#[test]
fn assuming_a_clean_close_panics() {
    caught(gallery::assumes_clean_close());
}

#[test]
fn reconnecting_twice_is_an_implementation_error() {
    caught(gallery::double_reconnect());
}

#[test]
fn a_goodbye_in_connection_lost_is_reported() {
    caught(gallery::bye_in_connection_lost());
}

#[test]
fn a_wrapper_forwarding_data_after_connection_lost_breaks_the_inner_boundary() {
    let failure = gallery::data_after_lost().catch(0);
    assert!(
        failure.finding.message.contains("P-AFTER-LOST"),
        "{failure}"
    );
    println!("{failure}");
}

#[test]
fn a_wrapper_swallowing_connection_lost_breaks_the_inner_boundary() {
    let failure = gallery::swallows_lost().catch(0);
    assert!(failure.finding.message.contains("P-UNLOST"), "{failure}");
    println!("{failure}");
}

#[test]
fn a_pooling_wrapper_reusing_inner_protocols_breaks_the_inner_boundary() {
    let failure = gallery::pooling().catch(0);
    assert!(failure.finding.message.contains("P-MADE"), "{failure}");
    println!("{failure}");
}

#[test]
fn a_producer_registering_again_on_resume_is_an_implementation_error() {
    caught(gallery::reregisters_on_resume());
}

#[test]
fn a_producer_assuming_every_download_completes_panics_when_stopped() {
    caught(gallery::assumes_downloads_complete());
}

#[test]
fn a_goodbye_after_lose_write_connection_is_reported() {
    caught(gallery::bye_after_half_close());
}

#[test]
fn a_client_factory_assuming_one_connection_fails_when_shared() {
    caught(gallery::one_connection_at_a_time());
    // One factory per connector hides it: why sharing is the default.
    (gallery::one_connection_at_a_time().fuzz)()
        .separate_factories()
        .regressions(None)
        .check();
}

#[test]
fn a_server_factory_minding_one_port_fails_over_two() {
    caught(gallery::remembers_its_port());
    (gallery::remembers_its_port().fuzz)()
        .max_ports(1)
        .regressions(None)
        .check();
}

#[test]
fn a_stats_timer_writing_to_lost_connections_is_reported() {
    caught(gallery::stats_timer());
}

#[test]
fn every_fixed_twin_passes() {
    for mutant in gallery::all() {
        if let Some(twin) = mutant.twin {
            twin().regressions(None).check();
        }
    }
}

#[test]
fn the_gallery_has_22_mutants_and_each_new_one_a_twin() {
    let all = gallery::all();
    assert_eq!(all.len(), 22);
    assert!(all[16..].iter().all(|m| m.twin.is_some()));
}

#[test]
fn a_shrunk_inner_boundary_failure_replays_to_the_same_check() {
    let mutant = gallery::pooling();
    let failure = mutant.catch(0);
    let again = (mutant.fuzz)()
        .replay(&failure.script_text)
        .expect_err("the minimal script fails again");
    assert_eq!(
        again.finding.check,
        callorder_fuzz::CheckKind::InnerBoundary
    );
    assert_eq!(again.finding.message, failure.finding.message);
}

#[test]
fn every_shrunk_script_replays_strictly_to_the_same_check() {
    // Replays run as tests do: a step that reaches nothing would be a
    // failure of the script itself, reported first. The shrinker removed
    // the steps its lenient runs skipped, so none is left.
    // The heap mutant needs the counting allocator: heap_mutants.rs.
    for mutant in gallery::all().into_iter().filter(|m| !m.heap) {
        let failure = mutant.catch(0);
        let again = (mutant.fuzz)()
            .replay(&failure.script_text)
            .expect_err("the minimal script fails again");
        assert_eq!(
            again.finding.check, failure.finding.check,
            "{}: {again}",
            mutant.name
        );
    }
}
