//! `scope: "test"` on `end`: one test's recording is over and the reactor
//! runs on. Its obligations are judged exactly as at the reactor's end
//! (what the test left open is owed, as trial's dirty-reactor check also
//! says); only the messages say which end it was.

mod support;

use callorder_checker::{Profile, Rule};
use support::*;

const LEFT_OPEN: &str = "
    0 listen_tcp factory=f1 port=l1
    0 do_start factory=f1 port=l1
    1 start_factory factory=f1
    0 build_protocol factory=f1 port=l1 protocol=p1
    0 connection_made protocol=p1
";

#[test]
fn what_a_test_left_open_is_owed_at_the_end_of_its_recording() {
    let script = trace(&[LEFT_OPEN, "> 0 end scope=test"]);
    // The first obligation by creation is the port's; the message lists all.
    breaks_under(Profile::Strict, Rule::PortUnstopped, &script);
    let (_, _, message) = run(&script, Profile::Strict).unwrap_err();
    assert!(
        message.contains("at the end of the test's recording"),
        "{message}"
    );
    assert!(message.contains("protocol p#"), "{message}");
}

#[test]
fn the_reactors_end_keeps_its_own_message() {
    let (_, rule, message) = run(&trace(&[LEFT_OPEN, "0 end"]), Profile::Strict).unwrap_err();
    assert_eq!(rule, Rule::PortUnstopped);
    assert!(!message.contains("test's recording"), "{message}");
    assert!(
        message.contains("the trace ended with obligations unmet"),
        "{message}"
    );
}

#[test]
fn under_twisted_the_warnings_say_it_was_the_end_of_the_test() {
    let warnings = accepted_under(Profile::Twisted, &trace(&[LEFT_OPEN, "0 end scope=test"]));
    let rules: Vec<Rule> = warnings.iter().map(|w| w.rule).collect();
    assert_eq!(rules, [Rule::PortUnstopped, Rule::Unlost]);
    for w in &warnings {
        assert!(
            w.message.ends_with("at the end of the test's recording"),
            "{w:?}"
        );
    }
}

#[test]
fn a_test_that_closed_everything_ends_clean_and_nothing_may_follow() {
    let closed = trace(&[SERVER_MADE, SERVER_CLOSED, "0 end scope=test"]);
    accepted(&closed);
    breaks(Rule::AfterEnd, &trace(&[&closed, "> 0 shutdown"]));
}
