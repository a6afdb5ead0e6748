//! `hooks: false` on `do_start`/`do_stop` (F-START-HOOK, F-STOP-HOOK): a
//! factory whose `doStart`/`doStop` is not `Factory`'s own runs no
//! `startFactory`/`stopFactory` there. Twisted's
//! `endpoints._WrappingFactory.doStart` passes the call to the factory it
//! wraps, and `interfaces.py`'s `IProtocolFactory` asks for `doStart` and
//! `doStop` only, with no `Factory` base. Without the field, today's rule:
//! the `do_start` that finds the count at 0 runs `start_factory`.

mod support;

use callorder_checker::{Profile, Rule};
use support::*;

/// A client through an endpoint: the reactor sees only the forwarding
/// factory f1, whose doStart/doStop say `hooks: false`.
const FORWARDED: &str = "
    0 connect_tcp factory=f1 connector=c1
    0 do_start factory=f1 connector=c1 hooks=false
    0 started_connecting factory=f1 connector=c1
    0 build_protocol factory=f1 connector=c1 protocol=p1
    0 connection_made protocol=p1
    0 connection_lost protocol=p1 reason=connection_done
    0 client_connection_lost factory=f1 connector=c1 reason=connection_done
    0 do_stop factory=f1 connector=c1 hooks=false
";

#[test]
fn a_forwarding_factory_owes_no_start_factory_nor_stop_factory() {
    accepted(&trace(&[FORWARDED, "0 end"]));
}

#[test]
fn without_the_field_the_first_do_start_owes_start_factory() {
    let todays = FORWARDED.replace(" hooks=false", "");
    let script = todays.replacen("0 started_connecting", "> 0 started_connecting", 1);
    breaks(Rule::StartHook, &script);
    // hooks: true is Factory's own, as no field is.
    breaks(
        Rule::StartHook,
        &script.replace("connector=c1\n    > ", "connector=c1 hooks=true\n    > "),
    );
}

#[test]
fn a_start_factory_nested_in_a_hookless_do_start_is_illegal_and_says_why() {
    let script = "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1 hooks=false
        > 1 start_factory factory=f1
        ";
    breaks(Rule::StartHook, script);
    let (_, _, message) = run(script, Profile::Strict).unwrap_err();
    assert!(
        message.contains("start_factory inside the do_start at seq 2, which says hooks: false"),
        "{message}"
    );
    assert!(message.contains("_WrappingFactory"), "{message}");
}

#[test]
fn a_stop_factory_nested_in_a_hookless_do_stop_is_illegal_and_says_why() {
    let script = trace(&[FORWARDED, "> 1 stop_factory factory=f1"]);
    breaks(Rule::StopHook, &script);
    let (_, _, message) = run(&script, Profile::Strict).unwrap_err();
    assert!(
        message.contains("stop_factory inside the do_stop at seq 8, which says hooks: false"),
        "{message}"
    );
}

#[test]
fn a_stray_hook_elsewhere_keeps_its_old_message() {
    let script = trace(&[FORWARDED, "> 0 stop_factory factory=f1"]);
    let (_, rule, message) = run(&script, Profile::Strict).unwrap_err();
    assert_eq!(rule, Rule::StopHook);
    assert!(
        message.contains("outside a do_stop that brought the start count to 0"),
        "{message}"
    );
}

#[test]
fn a_hookless_do_start_still_comes_only_where_a_start_is_owed() {
    breaks(
        Rule::DoStart,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1 hooks=false
        > 0 do_start factory=f1 connector=c1 hooks=false
        ",
    );
    breaks(
        Rule::DoStop,
        &trace(&[FORWARDED, "> 0 do_stop factory=f1 connector=c1 hooks=false"]),
    );
}

#[test]
fn a_hookless_start_is_still_owed_its_stop_at_the_end() {
    let script = "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1 hooks=false
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        > 0 end
        ";
    breaks_under(Profile::Strict, Rule::Unstopped, script);
}

/// The count is `Factory.doStart`'s: a hookless start does not move it, so
/// a later `do_start` of the same factory that is `Factory`'s own still
/// finds it at 0 and owes `start_factory`.
#[test]
fn a_hookless_start_does_not_move_the_start_count() {
    accepted(&trace(&["
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1 hooks=false
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1 hooks=false
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 end
        "]));
}

#[test]
fn a_hookless_do_start_that_raised_leaves_its_connector_stuck() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1 hooks=false !error
        0 end
        ",
    );
}
