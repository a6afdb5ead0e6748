//! A failure's shrunk script, kept as a file in the test's crate (as the
//! failure message says), replays in a fresh process: this test binary
//! reads the scripts stored in `tests/fuzz-regressions/`, written by the
//! campaigns of two gallery mutants, and the campaign fails at the
//! regression before it runs a single case of its own. The fixed twins
//! replay the same files clean.

mod gallery;

use callorder_fuzz::CheckKind;
use gallery::Mutant;

/// The directory of `mutant`'s kept regressions.
fn dir(mutant: &Mutant) -> String {
    format!("tests/fuzz-regressions/{}", mutant.name)
}

#[track_caller]
fn replays(mutant: Mutant, check: CheckKind) {
    let failure = *(mutant.fuzz)()
        .regression_scripts(dir(&mutant))
        .cases(0)
        .regressions(None)
        .run()
        .expect_err("the kept script fails again");
    assert_eq!(failure.finding.check, check, "{failure}");
    let file = failure.regression.clone().expect("it names the file");
    assert!(file.starts_with(dir(&mutant)), "{}", file.display());
    assert!(
        failure
            .to_string()
            .contains("(replayed from the regression script"),
        "{failure}"
    );
    // The fixed implementation passes its regressions, and then its cases.
    let report = (mutant.twin.expect("a twin"))()
        .regression_scripts(dir(&mutant))
        .regressions(None)
        .check();
    assert_eq!(report.regressions, 1);
    assert!(
        report.to_string().contains("after 1 regression scripts"),
        "{report}"
    );
}

#[test]
fn a_kept_script_of_a_shared_client_factory_replays_in_a_fresh_process() {
    replays(gallery::one_connection_at_a_time(), CheckKind::Panic);
}

#[test]
fn a_kept_script_of_a_paused_and_resumed_producer_replays_in_a_fresh_process() {
    replays(gallery::reregisters_on_resume(), CheckKind::ImplError);
}

#[test]
fn a_directory_that_cannot_be_read_is_noted_not_passed_over_silently() {
    let report = (gallery::one_connection_at_a_time().twin.unwrap())()
        .regression_scripts("tests/fuzz-regressions/no-such-directory")
        .cases(4)
        .regressions(None)
        .check();
    assert_eq!(report.regressions, 0);
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.starts_with("no regression scripts replayed: tests/fuzz-regressions/no-such-directory cannot be read")),
        "{:?}",
        report.notes
    );
}
