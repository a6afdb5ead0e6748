//! Every rule of the table, as a specification: for each rule that forbids
//! something, a minimal trace that breaks it and is caught at exactly the
//! offending event; for each permission, a trace that uses it and is
//! accepted. Traces are written in the compact form of `support`.

mod support;

use callorder_checker::{Profile, Rule, RuleKind};
use support::*;

// ---------------------------------------------------------------- the trace

#[test]
fn nothing_may_follow_end() {
    breaks(
        Rule::AfterEnd,
        &trace(&[CLIENT_MADE, CLIENT_CLOSED, "0 end", "> 0 shutdown"]),
    );
}

#[test]
fn a_nested_event_needs_a_running_callback_at_the_depth_above() {
    breaks(
        Rule::Depth,
        "
        0 listen_tcp factory=f1 port=l1
        > 2 do_start factory=f1 port=l1
        ",
    );
}

#[test]
fn an_action_at_depth_one_after_the_callback_returned_is_misplaced() {
    breaks(
        Rule::Depth,
        &trace(&[CLIENT_MADE, "0 shutdown", "> 1 write protocol=p1 bytes=3"]),
    );
}

#[test]
fn within_must_name_an_earlier_callback_one_level_up() {
    breaks(
        Rule::Depth,
        &trace(&[CLIENT_MADE, "> 1 write protocol=p1 bytes=3 within=9"]),
    );
    breaks(
        Rule::Depth,
        &trace(&[CLIENT_MADE, "> 1 write protocol=p1 bytes=3 within=3"]),
    );
}

#[test]
fn within_must_name_a_callback_not_an_action() {
    breaks(
        Rule::Depth,
        &trace(&[
            SERVER_MADE,
            "
            0 data_received protocol=p1 bytes=1
            1 write protocol=p1 bytes=1
            0 data_received protocol=p1 bytes=1
            # seq 7 is the write, an action
            > 1 write protocol=p1 bytes=1 within=7
            ",
        ]),
    );
}

/// The checker remembers the last 1024 events, not the whole trace: a
/// `within` naming an older event cannot be verified, and is trusted.
#[test]
fn within_naming_an_event_older_than_the_checker_remembers_is_trusted() {
    let many = "0 data_received protocol=p1 bytes=1\n".repeat(1100);
    // seq 1 is listen_tcp, no callback: caught while remembered...
    breaks(
        Rule::Depth,
        &trace(&[SERVER_MADE, "> 1 write protocol=p1 bytes=1 within=1"]),
    );
    // ...and trusted once forgotten.
    accepted(&trace(&[
        SERVER_MADE,
        &many,
        "1 write protocol=p1 bytes=1 within=1",
    ]));
}

#[test]
fn within_lets_an_awaiting_callback_act_after_other_events() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 connect_tcp factory=f2 connector=c1
        0 do_start factory=f2 connector=c1
        1 start_factory factory=f2
        0 started_connecting factory=f2 connector=c1
        # p1's connection_made (seq 5) awaits; the reactor serves c1 meanwhile
        1 write protocol=p1 bytes=4 within=5
        1 lose_connection protocol=p1 within=5
        0 connection_lost protocol=p1 reason=connection_done
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 stop_connecting connector=c1
        0 client_connection_failed factory=f2 connector=c1 reason=user_cancelled
        0 do_stop factory=f2 connector=c1
        1 stop_factory factory=f2
        0 end
        ",
    ]));
}

#[test]
fn a_callback_nested_in_another_without_an_action_is_illegal() {
    breaks(
        Rule::Nested,
        &trace(&[
            CLIENT_MADE,
            "0 data_received protocol=p1 bytes=3",
            "> 1 data_received protocol=p1 bytes=3",
        ]),
    );
}

#[test]
fn connection_lost_is_not_delivered_inside_lose_connection_while_the_write_side_is_open() {
    breaks(
        Rule::Nested,
        &trace(&[
            CLIENT_MADE,
            "
            0 data_received protocol=p1 bytes=3
            1 lose_connection protocol=p1
            > 1 connection_lost protocol=p1 reason=connection_done
            ",
        ]),
    );
}

#[test]
fn ids_are_introduced_before_use() {
    breaks(
        Rule::UnknownId,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        > 0 started_connecting factory=f1 connector=c2
        ",
    );
    breaks(
        Rule::UnknownId,
        &trace(&[CLIENT_MADE, "> 0 data_received protocol=p9 bytes=1"]),
    );
}

#[test]
fn new_objects_get_new_ids() {
    breaks(
        Rule::DuplicateId,
        &trace(&[CLIENT_MADE, "> 0 connect_tcp factory=f1 connector=c1"]),
    );
    breaks(
        Rule::DuplicateId,
        &trace(&[
            SERVER_MADE,
            "> 0 build_protocol factory=f1 port=l1 protocol=p1",
        ]),
    );
}

#[test]
fn a_port_talks_to_its_own_factory() {
    breaks(
        Rule::FactoryMismatch,
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        > 0 build_protocol factory=f2 port=l1 protocol=p1
        ",
    );
}

#[test]
fn each_callback_carries_a_reason_of_its_own_set() {
    breaks(
        Rule::Reason,
        &trace(&[
            CLIENT_MADE,
            "> 0 connection_lost protocol=p1 reason=connection_refused",
        ]),
    );
    breaks(
        Rule::Reason,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        > 0 client_connection_failed factory=f1 connector=c1 reason=connection_done
        ",
    );
}

// ---------------------------------------------------------------- factories

#[test]
fn start_factory_runs_once_inside_the_first_do_start() {
    breaks(
        Rule::StartHook,
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        > 1 start_factory factory=f1
        ",
    );
}

#[test]
fn a_do_start_at_count_zero_must_run_start_factory() {
    breaks(
        Rule::StartHook,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        > 0 started_connecting factory=f1 connector=c1
        ",
    );
}

#[test]
fn start_factory_without_do_start_is_illegal() {
    breaks(
        Rule::StartHook,
        "
        0 listen_tcp factory=f1 port=l1
        > 1 start_factory factory=f1
        ",
    );
}

#[test]
fn stop_factory_runs_only_inside_the_last_do_stop() {
    breaks(
        Rule::StopHook,
        &trace(&[SERVER_MADE, "> 0 stop_factory factory=f1"]),
    );
    breaks(
        Rule::StopHook,
        &trace(&[
            SERVER_MADE,
            "
            0 connection_lost protocol=p1 reason=connection_done
            0 stop_listening port=l1
            0 do_stop factory=f1 port=l1
            > 0 shutdown
            ",
        ]),
    );
}

#[test]
fn a_shared_factory_starts_once_and_stops_once() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1
        ",
        SERVER_CLOSED,
        "0 end",
    ]));
}

#[test]
fn do_start_comes_once_per_connect() {
    breaks(
        Rule::DoStart,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        > 0 do_start factory=f1 connector=c1
        ",
    );
}

#[test]
fn do_stop_matches_a_start_its_holder_holds() {
    breaks(
        Rule::DoStop,
        &trace(&[
            CLIENT_MADE,
            CLIENT_CLOSED,
            "> 0 do_stop factory=f1 connector=c1",
        ]),
    );
}

#[test]
fn a_port_is_stopped_only_after_stop_listening_or_shutdown() {
    breaks(
        Rule::DoStop,
        &trace(&[SERVER_MADE, "> 0 do_stop factory=f1 port=l1"]),
    );
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 shutdown
        0 connection_lost protocol=p1 reason=connection_lost
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 end
        ",
    ]));
}

#[test]
fn do_stop_waits_for_the_outcome_callback_to_return() {
    breaks(
        Rule::Nested,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=timeout
        > 1 do_stop factory=f1 connector=c1
        ",
    );
}

/// N2: a retry inside client_connection_failed fails synchronously and stops
/// the factory; Twisted then stops it again (experiment double_dostop).
const DOUBLE_STOP: &str = "
    0 connect_tcp factory=f1 connector=c1
    0 do_start factory=f1 connector=c1
    1 start_factory factory=f1
    0 started_connecting factory=f1 connector=c1
    0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
    1 connect connector=c1
    1 started_connecting factory=f1 connector=c1
    2 stop_connecting connector=c1
    2 client_connection_failed factory=f1 connector=c1 reason=user_cancelled
    2 do_stop factory=f1 connector=c1
    3 stop_factory factory=f1
";

#[test]
fn strict_rejects_twisteds_double_stop() {
    breaks_under(
        Profile::Strict,
        Rule::DoubleStop,
        &trace(&[DOUBLE_STOP, "> 0 do_stop factory=f1 connector=c1"]),
    );
}

#[test]
fn strict_accepts_the_same_run_without_the_second_stop() {
    accepted_under(Profile::Strict, &trace(&[DOUBLE_STOP, "0 end"]));
}

#[test]
fn g10_twisted_accepts_the_double_stop_silently_at_count_zero() {
    let w = accepted_under(
        Profile::Twisted,
        &trace(&[DOUBLE_STOP, "0 do_stop factory=f1 connector=c1", "0 end"]),
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn g10_twisted_double_stop_with_a_shared_port_runs_stop_factory_early() {
    let w = accepted_under(
        Profile::Twisted,
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        1 connect connector=c1
        1 started_connecting factory=f1 connector=c1
        2 stop_connecting connector=c1
        2 client_connection_failed factory=f1 connector=c1 reason=user_cancelled
        2 do_stop factory=f1 connector=c1
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 shutdown
        0 do_stop factory=f1 port=l1
        0 end
        ",
    );
    assert!(w.is_empty(), "{w:?}");
}

#[test]
fn a_start_held_at_the_end_is_owed_a_stop() {
    let script = trace(&["
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=dns_lookup
        > 0 end
        "]);
    breaks_under(Profile::Strict, Rule::Unstopped, &script);
    let w = accepted_under(Profile::Twisted, &script);
    assert_eq!(
        w.iter().map(|w| w.rule).collect::<Vec<_>>(),
        vec![Rule::Unstopped]
    );
}

// ---------------------------------------------------------------- connectors

#[test]
fn started_connecting_comes_once_per_connect_after_do_start() {
    breaks(
        Rule::StartedConnecting,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        > 0 started_connecting factory=f1 connector=c1
        ",
    );
    breaks(
        Rule::StartedConnecting,
        "
        0 connect_tcp factory=f1 connector=c1
        > 0 started_connecting factory=f1 connector=c1
        ",
    );
}

#[test]
fn no_outcome_before_started_connecting() {
    breaks(
        Rule::OutcomeBeforeStarted,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        > 0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        ",
    );
    breaks(
        Rule::OutcomeBeforeStarted,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        > 0 build_protocol factory=f1 connector=c1 protocol=p1
        ",
    );
}

#[test]
fn an_attempt_that_connected_does_not_also_fail() {
    breaks(
        Rule::OneOutcome,
        &trace(&[
            CLIENT_MADE,
            "> 0 client_connection_failed factory=f1 connector=c1 reason=connection_refused",
        ]),
    );
}

#[test]
fn client_connection_lost_follows_the_protocols_connection_lost() {
    breaks(
        Rule::LostOrder,
        &trace(&[
            CLIENT_MADE,
            "> 0 client_connection_lost factory=f1 connector=c1 reason=connection_done",
        ]),
    );
}

#[test]
fn p9_a_connection_lost_that_raised_owes_nothing_more() {
    let raised = trace(&[
        CLIENT_MADE,
        "0 connection_lost protocol=p1 reason=connection_done !error",
    ]);
    accepted(&trace(&[&raised, "0 end"]));
    breaks(
        Rule::LostOrder,
        &trace(&[
            &raised,
            "> 0 client_connection_lost factory=f1 connector=c1 reason=connection_done",
        ]),
    );
}

#[test]
fn the_factory_hears_the_reason_the_protocol_heard() {
    breaks(
        Rule::LostReason,
        &trace(&[
            CLIENT_MADE,
            "
            0 connection_lost protocol=p1 reason=connection_aborted
            > 0 client_connection_lost factory=f1 connector=c1 reason=connection_lost
            ",
        ]),
    );
}

#[test]
fn a_cancelled_attempt_fails_as_cancelled() {
    breaks(
        Rule::Cancel,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 stop_connecting connector=c1
        > 0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        ",
    );
}

#[test]
fn connect_while_connecting_must_have_raised() {
    let connecting = "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
    ";
    breaks(
        Rule::ConnectState,
        &trace(&[connecting, "> 0 connect connector=c1"]),
    );
    accepted(&trace(&[
        connecting,
        "
        0 connect connector=c1 !error
        0 client_connection_failed factory=f1 connector=c1 reason=timeout
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    ]));
}

#[test]
fn stop_connecting_on_a_connected_connector_must_have_raised() {
    breaks(
        Rule::ConnectState,
        &trace(&[CLIENT_MADE, "> 0 stop_connecting connector=c1"]),
    );
    accepted(&trace(&[
        CLIENT_MADE,
        "0 stop_connecting connector=c1 !error",
        CLIENT_CLOSED,
        "0 end",
    ]));
}

#[test]
fn a_retry_after_the_outcome_returned_waits_for_do_stop() {
    breaks(
        Rule::Retry,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        > 0 connect connector=c1
        ",
    );
}

#[test]
fn a_retry_after_do_stop_starts_the_factory_again() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 connect connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=timeout
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    );
}

#[test]
fn p10_an_outcome_callback_that_raised_leaves_the_factory_started() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused !error
        0 connect connector=c1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    );
    breaks(
        Rule::DoStop,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused !error
        > 0 do_stop factory=f1 connector=c1
        ",
    );
}

#[test]
fn c11_a_build_protocol_that_raised_is_followed_by_client_connection_failed() {
    let built = "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 build_protocol factory=f1 connector=c1 protocol=null !error
    ";
    breaks(
        Rule::BuildOutcome,
        &trace(&[
            built,
            "> 0 client_connection_lost factory=f1 connector=c1 reason=connection_done",
        ]),
    );
}

#[test]
fn an_attempt_left_unresolved_at_the_end_is_reported() {
    let script = "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        > 0 end
    ";
    breaks_under(Profile::Strict, Rule::Unresolved, script);
    assert_eq!(accepted_under(Profile::Twisted, script).len(), 1);
}

// -------------------------------------------------------------------- ports

#[test]
fn no_build_protocol_on_a_port_after_its_do_stop() {
    breaks(
        Rule::BuildAfterStop,
        &trace(&[
            SERVER_MADE,
            SERVER_CLOSED,
            "> 0 build_protocol factory=f1 port=l1 protocol=p2",
        ]),
    );
}

#[test]
fn a_port_left_listening_at_the_end_is_reported() {
    let script = trace(&[
        SERVER_MADE,
        "0 connection_lost protocol=p1 reason=connection_done",
        "> 0 end",
    ]);
    breaks_under(Profile::Strict, Rule::PortUnstopped, &script);
    assert_eq!(accepted_under(Profile::Twisted, &script).len(), 1);
}

#[test]
fn s7_stopping_a_port_twice_is_harmless() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 connection_lost protocol=p1 reason=connection_done
        0 stop_listening port=l1
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 stop_listening port=l1
        0 end
        ",
    ]));
}

// ---------------------------------------------------------------- protocols

#[test]
fn connection_made_comes_once_after_build_protocol() {
    breaks(
        Rule::Made,
        &trace(&[CLIENT_MADE, "> 0 connection_made protocol=p1"]),
    );
    breaks(
        Rule::Made,
        &trace(&[SERVER_MADE, "> 0 connection_made protocol=p2"]),
    );
}

#[test]
fn nothing_reaches_a_protocol_before_connection_made() {
    breaks(
        Rule::BeforeMade,
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        0 build_protocol factory=f1 port=l1 protocol=p1
        > 0 data_received protocol=p1 bytes=5
        ",
    );
}

#[test]
fn nothing_reaches_a_protocol_after_connection_lost() {
    breaks(
        Rule::AfterLost,
        &trace(&[
            SERVER_MADE,
            "0 connection_lost protocol=p1 reason=connection_done",
            "> 0 data_received protocol=p1 bytes=5",
        ]),
    );
}

#[test]
fn connection_lost_comes_once() {
    breaks(
        Rule::LostTwice,
        &trace(&[
            SERVER_MADE,
            "0 connection_lost protocol=p1 reason=connection_done",
            "> 0 connection_lost protocol=p1 reason=connection_done",
        ]),
    );
}

#[test]
fn data_received_carries_at_least_one_byte() {
    breaks(
        Rule::EmptyData,
        &trace(&[SERVER_MADE, "> 0 data_received protocol=p1 bytes=0"]),
    );
}

#[test]
fn p7_a_data_received_that_raised_ends_the_connection_next() {
    breaks(
        Rule::Raised,
        &trace(&[
            SERVER_MADE,
            "0 data_received protocol=p1 bytes=3 !error",
            "> 0 data_received protocol=p1 bytes=3",
        ]),
    );
    accepted(&trace(&[
        CLIENT_MADE,
        "
        0 data_received protocol=p1 bytes=3 !error
        0 connection_lost protocol=p1 reason=other
        0 client_connection_lost factory=f1 connector=c1 reason=other
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    ]));
}

#[test]
fn a_connection_made_and_never_lost_is_reported() {
    let script = trace(&[
        SERVER_MADE,
        "0 stop_listening port=l1",
        "0 do_stop factory=f1 port=l1",
        "1 stop_factory factory=f1",
        "> 0 end",
    ]);
    breaks_under(Profile::Strict, Rule::Unlost, &script);
    assert_eq!(accepted_under(Profile::Twisted, &script).len(), 1);
}

#[test]
fn nothing_is_read_after_the_peers_eof() {
    breaks(
        Rule::ReadClosed,
        &trace(&[
            SERVER_MADE,
            "0 read_connection_lost protocol=p1",
            "> 0 data_received protocol=p1 bytes=1",
        ]),
    );
}

#[test]
fn write_connection_lost_answers_lose_write_connection() {
    breaks(
        Rule::WriteClosed,
        &trace(&[SERVER_MADE, "> 0 write_connection_lost protocol=p1"]),
    );
}

#[test]
fn one_producer_at_a_time() {
    breaks(
        Rule::Register,
        &trace(&[
            SERVER_MADE,
            "
            0 data_received protocol=p1 bytes=1
            1 register_producer protocol=p1 streaming=true
            > 1 register_producer protocol=p1 streaming=true
            ",
        ]),
    );
}

#[test]
fn producer_callbacks_need_a_producer_in_the_right_state() {
    breaks(
        Rule::ProducerCallback,
        &trace(&[SERVER_MADE, "> 0 pause_producing protocol=p1"]),
    );
    breaks(
        Rule::ProducerCallback,
        &trace(&[
            SERVER_MADE,
            "0 data_received protocol=p1 bytes=1",
            "1 register_producer protocol=p1 streaming=true",
            "> 0 resume_producing protocol=p1",
        ]),
    );
}

#[test]
fn the_producer_is_stopped_before_connection_lost() {
    breaks(
        Rule::StopFirst,
        &trace(&[
            SERVER_MADE,
            "0 data_received protocol=p1 bytes=1",
            "1 register_producer protocol=p1 streaming=true",
            "> 0 connection_lost protocol=p1 reason=connection_lost",
        ]),
    );
}

#[test]
fn a_producer_registered_after_the_connection_was_lost_is_stopped() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 connection_lost protocol=p1 reason=connection_done
        0 register_producer protocol=p1 streaming=true
        0 stop_producing protocol=p1
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 end
        ",
    ]));
}

// -------------------------------------------------------------- permissions

#[test]
fn g1_data_may_arrive_after_lose_connection() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 data_received protocol=p1 bytes=1
        1 lose_connection protocol=p1
        0 data_received protocol=p1 bytes=1
        ",
        SERVER_CLOSED,
        "0 end",
    ]));
}

#[test]
fn g2_server_protocols_outlive_their_port() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 data_received protocol=p1 bytes=1
        0 connection_lost protocol=p1 reason=connection_done
        0 end
        ",
    ]));
}

#[test]
fn g3_build_protocol_may_follow_stop_listening_until_do_stop() {
    accepted(&trace(&[
        SERVER_MADE,
        "
        1 stop_listening port=l1
        0 build_protocol factory=f1 port=l1 protocol=p2
        0 connection_made protocol=p2
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 connection_lost protocol=p1 reason=connection_done
        0 connection_lost protocol=p2 reason=connection_done
        0 end
        ",
    ]));
}

#[test]
fn g4_client_connection_failed_follows_a_build_protocol_that_raised() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 build_protocol factory=f1 connector=c1 protocol=null !error
        0 client_connection_failed factory=f1 connector=c1 reason=connect_error
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    );
}

#[test]
fn g5_client_connection_lost_with_no_protocol_callbacks() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 build_protocol factory=f1 connector=c1 protocol=null
        0 client_connection_lost factory=f1 connector=c1 reason=connection_done
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    );
}

#[test]
fn g6_a_retry_nested_in_client_connection_lost_has_no_stop_and_no_start() {
    accepted(&trace(&[
        CLIENT_MADE,
        "
        0 connection_lost protocol=p1 reason=connection_lost
        0 client_connection_lost factory=f1 connector=c1 reason=connection_lost
        1 connect connector=c1
        1 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    ]));
}

#[test]
fn g6_the_same_retry_delivered_after_the_callback_returns() {
    accepted(&trace(&[
        CLIENT_MADE,
        "
        0 connection_lost protocol=p1 reason=connection_lost
        0 client_connection_lost factory=f1 connector=c1 reason=connection_lost
        1 connect connector=c1
        0 started_connecting factory=f1 connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    ]));
}

#[test]
fn g7_client_connection_failed_nested_in_started_connecting() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        1 stop_connecting connector=c1
        1 client_connection_failed factory=f1 connector=c1 reason=user_cancelled
        1 do_stop factory=f1 connector=c1
        2 stop_factory factory=f1
        0 end
        ",
    );
}

#[test]
fn g7_and_the_same_failure_delivered_after_started_connecting_returns() {
    accepted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        1 stop_connecting connector=c1
        0 client_connection_failed factory=f1 connector=c1 reason=user_cancelled
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 end
        ",
    );
}

/// A half-closeable client: the peer's EOF, our half-close, then
/// lose_connection inside write_connection_lost delivers the rest nested.
const HALF_CLOSE: &str = "
    0 read_connection_lost protocol=p1
    1 write protocol=p1 bytes=3
    1 lose_write_connection protocol=p1
    0 write_connection_lost protocol=p1
";

#[test]
fn g8_connection_lost_nested_in_lose_connection_after_a_half_close() {
    accepted(&trace(&[
        CLIENT_MADE,
        HALF_CLOSE,
        "
        1 lose_connection protocol=p1
        1 connection_lost protocol=p1 reason=connection_done
        1 client_connection_lost factory=f1 connector=c1 reason=connection_done
        1 do_stop factory=f1 connector=c1
        2 stop_factory factory=f1
        0 end
        ",
    ]));
}

#[test]
fn g9_half_close_then_writes_then_connection_lost() {
    accepted(&trace(&[
        CLIENT_MADE,
        HALF_CLOSE,
        "1 lose_connection protocol=p1",
        CLIENT_CLOSED,
        "0 end",
    ]));
}

#[test]
fn g12_twisted_warns_about_a_paused_transport_left_open_at_shutdown() {
    let script = trace(&[
        SERVER_MADE,
        "
        1 pause_reading protocol=p1
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 shutdown
        > 0 end
        ",
    ]);
    let w = accepted_under(Profile::Twisted, &script);
    assert_eq!(
        w.iter().map(|w| w.rule).collect::<Vec<_>>(),
        vec![Rule::Unlost]
    );
    breaks_under(Profile::Strict, Rule::Unlost, &script);
}

#[test]
fn g13_a_server_connection_stays_open_after_connection_made_raised() {
    accepted(
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        0 build_protocol factory=f1 port=l1 protocol=p1
        0 connection_made protocol=p1 !error
        0 data_received protocol=p1 bytes=4
        0 connection_lost protocol=p1 reason=connection_done
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 end
        ",
    );
}

#[test]
fn p8_a_client_connection_made_that_raised_ends_the_connection() {
    breaks(
        Rule::Raised,
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 build_protocol factory=f1 connector=c1 protocol=p1
        0 connection_made protocol=p1 !error
        > 0 data_received protocol=p1 bytes=4
        ",
    );
}

// ------------------------------------------------------------- the table

#[test]
fn every_forbidding_rule_and_permission_is_exercised_by_these_specs() {
    // The tests above are the spec; this checks the table has no rule they
    // forgot, by listing the rules this file names. Keep it in sync.
    let source = include_str!("rules.rs");
    for rule in Rule::TABLE {
        if rule.kind() == RuleKind::Unbreakable || rule.kind() == RuleKind::Permits {
            continue;
        }
        let name = format!("Rule::{rule:?}");
        assert!(
            source.contains(&name),
            "no spec test names {name} ({})",
            rule.id()
        );
    }
}

/// An awaiting callback's action still delivers nested callbacks after
/// other callbacks acted in between (and took its place as the last to act
/// at its depth).
#[test]
fn an_action_of_an_awaiting_callback_delivers_after_others_acted() {
    let awaiting = |retry: &str| {
        trace(&[
            CLIENT_MADE,
            &format!(
                "
                0 connection_lost protocol=p1 reason=connection_lost
                0 client_connection_lost factory=f1 connector=c1 reason=connection_lost
                {retry}
                # the callback (seq 8) awaits; a server's protocol acts meanwhile
                0 listen_tcp factory=f2 port=l1
                0 do_start factory=f2 port=l1
                1 start_factory factory=f2
                0 build_protocol factory=f2 port=l1 protocol=p2
                0 connection_made protocol=p2
                1 write protocol=p2 bytes=1
                > 1 started_connecting factory=f1 connector=c1 within=8
                "
            ),
        ])
    };
    // The retry made before awaiting delivers started_connecting...
    let retried = awaiting("1 connect connector=c1");
    accepted(&retried.replace("> 1 started", "1 started"));
    // ...and nothing delivers it without one.
    breaks(Rule::Nested, &awaiting(""));
}

#[test]
fn a_connect_within_an_outcome_callback_that_awaited_is_a_retry() {
    accepted(&trace(&[
        CLIENT_MADE,
        "
        0 connection_lost protocol=p1 reason=connection_lost
        0 client_connection_lost factory=f1 connector=c1 reason=connection_lost
        # the callback (seq 8) awaits; another object's event comes meanwhile
        0 connect_tcp factory=f2 connector=c2
        0 do_start factory=f2 connector=c2
        1 start_factory factory=f2
        1 connect connector=c1 within=8
        0 started_connecting factory=f1 connector=c1
        0 started_connecting factory=f2 connector=c2
        0 client_connection_failed factory=f1 connector=c1 reason=connection_refused
        0 do_stop factory=f1 connector=c1
        1 stop_factory factory=f1
        0 client_connection_failed factory=f2 connector=c2 reason=connection_refused
        0 do_stop factory=f2 connector=c2
        1 stop_factory factory=f2
        0 end
        ",
    ]));
}
