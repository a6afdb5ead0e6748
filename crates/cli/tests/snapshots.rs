//! Snapshots of what `callorder check` prints for a few illegal traces, in
//! both formats, so that a change to the reports is seen in review.
//!
//! To accept changed output: `INSTA_UPDATE=always cargo test -p
//! callorder-cli --test snapshots`, then review the `.snap` files (or use
//! `cargo insta review` where cargo-insta is installed). Under `CI=true` a
//! missing or different snapshot fails.

use std::path::Path;

use callorder_checker::Profile;
use callorder_cli::check::{check_path, CheckOptions};
use callorder_cli::human;

/// Relative to the crate (the tests' working directory), so that the paths
/// in the snapshots do not depend on where the repository is.
const ILLEGAL: &str = "../../fixtures/twisted/illegal";

fn options(profile: Profile, reread: bool) -> CheckOptions {
    CheckOptions {
        reread,
        ..CheckOptions::new(profile)
    }
}

fn human_output(name: &str) -> String {
    let report = check_path(
        &Path::new(ILLEGAL).join(name),
        &options(Profile::Strict, true),
    );
    human::plain(&human::render(&report))
}

fn json_output(name: &str) -> String {
    let report = check_path(
        &Path::new(ILLEGAL).join(name),
        &options(Profile::Strict, false),
    );
    serde_json::to_string_pretty(&report).unwrap()
}

const REASON_MISMATCH: &str =
    "client_echo_client_closes__client_connection_lost_reason_mismatch.jsonl";
const DATA_AFTER_LOST: &str =
    "client_echo_client_closes__data_received_after_connection_lost.jsonl";
const NO_FINAL_DO_STOP: &str = "client_echo_client_closes__drop_final_do_stop_keep_end.jsonl";

#[test]
fn reason_mismatch_human() {
    insta::assert_snapshot!(human_output(REASON_MISMATCH));
}

#[test]
fn reason_mismatch_json() {
    insta::assert_snapshot!(json_output(REASON_MISMATCH));
}

#[test]
fn data_after_lost_human() {
    insta::assert_snapshot!(human_output(DATA_AFTER_LOST));
}

#[test]
fn data_after_lost_json() {
    insta::assert_snapshot!(json_output(DATA_AFTER_LOST));
}

#[test]
fn unmet_obligation_human() {
    insta::assert_snapshot!(human_output(NO_FINAL_DO_STOP));
}

#[test]
fn unmet_obligation_json() {
    insta::assert_snapshot!(json_output(NO_FINAL_DO_STOP));
}

/// The same trace under `twisted`: legal, with the obligation as a warning.
#[test]
fn unmet_obligation_twisted_human() {
    let report = check_path(
        &Path::new(ILLEGAL).join(NO_FINAL_DO_STOP),
        &options(Profile::Twisted, true),
    );
    insta::assert_snapshot!(human::plain(&human::render(&report)));
}
