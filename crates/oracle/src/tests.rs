//! One tiny trace per rule of `docs/spec.md`, each breaking that rule.

use callorder_trace::TraceReader;

use crate::{judge, rules, Verdict};

/// Judges lines written without `seq` (numbered here, 1..n).
fn verdict(lines: &[&str], twisted: bool) -> Verdict {
    let text: String = lines
        .iter()
        .enumerate()
        .map(|(i, line)| format!("{{\"seq\":{},{}\n", i + 1, &line[1..]))
        .collect();
    let steps: Vec<_> = TraceReader::new(text.as_bytes())
        .map(|record| record.expect("test traces are well formed").step)
        .collect();
    judge(&steps, twisted)
}

/// Asserts the trace is illegal at its last line, under `strict`, by `rule`.
#[track_caller]
fn breaks(rule: &'static str, lines: &[&str]) {
    let seq = lines.len() as u64;
    assert_eq!(verdict(lines, false), Verdict::Illegal { seq, rule });
}

const CLIENT: &[&str] = &[
    r#"{"event":"connect_tcp","factory":"f","connector":"c"}"#,
    r#"{"event":"do_start","factory":"f","connector":"c"}"#,
    r#"{"depth":1,"event":"start_factory","factory":"f"}"#,
    r#"{"event":"started_connecting","factory":"f","connector":"c"}"#,
];

const SERVER: &[&str] = &[
    r#"{"event":"listen_tcp","factory":"g","port":"l"}"#,
    r#"{"event":"do_start","factory":"g","port":"l"}"#,
    r#"{"depth":1,"event":"start_factory","factory":"g"}"#,
];

const MADE: &[&str] = &[
    r#"{"event":"build_protocol","factory":"f","connector":"c","protocol":"p"}"#,
    r#"{"event":"connection_made","protocol":"p"}"#,
];

/// `CLIENT`, then `more`.
fn client(more: &[&'static str]) -> Vec<&'static str> {
    CLIENT.iter().chain(more).copied().collect()
}

/// `CLIENT`, `MADE`, then `more`.
fn made(more: &[&'static str]) -> Vec<&'static str> {
    CLIENT.iter().chain(MADE).chain(more).copied().collect()
}

/// `SERVER`, then `more`.
fn server(more: &[&'static str]) -> Vec<&'static str> {
    SERVER.iter().chain(more).copied().collect()
}

const END: &str = r#"{"event":"end"}"#;

#[test]
fn a_full_client_run_is_legal() {
    let lines = made(&[
        r#"{"depth":1,"event":"write","protocol":"p","bytes":3}"#,
        r#"{"event":"data_received","protocol":"p","bytes":3}"#,
        r#"{"event":"connection_lost","protocol":"p","reason":"connection_done"}"#,
        r#"{"event":"client_connection_lost","factory":"f","connector":"c","reason":"connection_done"}"#,
        r#"{"event":"do_stop","factory":"f","connector":"c"}"#,
        r#"{"depth":1,"event":"stop_factory","factory":"f"}"#,
        END,
    ]);
    assert_eq!(verdict(&lines, false), Verdict::Legal { warnings: 0 });
    assert_eq!(verdict(&lines, true), Verdict::Legal { warnings: 0 });
}

// §1 nesting

#[test]
fn t_depth() {
    breaks(
        rules::T_DEPTH,
        &[r#"{"depth":1,"event":"connect_tcp","factory":"f","connector":"c"}"#],
    );
    // `within` must name an earlier callback one level up.
    breaks(
        rules::T_DEPTH,
        &made(&[r#"{"depth":1,"within":1,"event":"write","protocol":"p","bytes":1}"#]),
    );
}

#[test]
fn t_nested() {
    breaks(
        rules::T_NESTED,
        &made(&[r#"{"depth":1,"event":"data_received","protocol":"p","bytes":1}"#]),
    );
}

#[test]
fn a_callback_delivered_by_the_last_action_is_legal_in_both_shapes() {
    // Twisted's shape: the retry's started_connecting inside the connect.
    let nested = client(&[
        r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
        r#"{"depth":1,"event":"connect","connector":"c"}"#,
        r#"{"depth":1,"event":"started_connecting","factory":"f","connector":"c"}"#,
    ]);
    assert!(verdict(&nested, false).is_legal());
    // callorder's shape: delivered after the callback returns.
    let after = client(&[
        r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
        r#"{"depth":1,"event":"connect","connector":"c"}"#,
        r#"{"event":"started_connecting","factory":"f","connector":"c"}"#,
    ]);
    assert!(verdict(&after, false).is_legal());
}

// §2 ids

#[test]
fn t_unknown_id() {
    breaks(
        rules::T_UNKNOWN_ID,
        &[r#"{"event":"started_connecting","factory":"f","connector":"c"}"#],
    );
}

#[test]
fn t_duplicate_id() {
    breaks(
        rules::T_DUPLICATE_ID,
        &client(&[r#"{"event":"connect_tcp","factory":"f","connector":"c"}"#]),
    );
}

#[test]
fn t_factory() {
    breaks(
        rules::T_FACTORY,
        &client(&[r#"{"event":"build_protocol","factory":"g","connector":"c","protocol":"p"}"#]),
    );
}

#[test]
fn t_reason() {
    breaks(
        rules::T_REASON,
        &client(&[
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"connection_done"}"#,
        ]),
    );
}

#[test]
fn t_after_end() {
    breaks(rules::T_AFTER_END, &[END, r#"{"event":"shutdown"}"#]);
}

// §3 factories

#[test]
fn f_do_start() {
    breaks(
        rules::F_DO_START,
        &client(&[r#"{"event":"do_start","factory":"f","connector":"c"}"#]),
    );
}

#[test]
fn f_start_hook() {
    breaks(
        rules::F_START_HOOK,
        &[
            r#"{"event":"connect_tcp","factory":"f","connector":"c"}"#,
            r#"{"event":"do_start","factory":"f","connector":"c"}"#,
            r#"{"event":"started_connecting","factory":"f","connector":"c"}"#,
        ],
    );
    breaks(
        rules::F_START_HOOK,
        &[r#"{"event":"start_factory","factory":"f"}"#],
    );
}

#[test]
fn f_do_stop() {
    breaks(
        rules::F_DO_STOP,
        &client(&[r#"{"event":"do_stop","factory":"f","connector":"c"}"#]),
    );
}

#[test]
fn f_stop_hook() {
    breaks(
        rules::F_STOP_HOOK,
        &client(&[
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
            r#"{"event":"do_stop","factory":"f","connector":"c"}"#,
            END,
        ]),
    );
}

/// The N2 shape: a retry inside client_connection_failed fails at once.
fn double_stop() -> Vec<&'static str> {
    client(&[
        r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"connection_refused"}"#,
        r#"{"depth":1,"event":"connect","connector":"c"}"#,
        r#"{"depth":1,"event":"started_connecting","factory":"f","connector":"c"}"#,
        r#"{"depth":2,"event":"stop_connecting","connector":"c"}"#,
        r#"{"depth":2,"event":"client_connection_failed","factory":"f","connector":"c","reason":"user_cancelled"}"#,
        r#"{"depth":2,"event":"do_stop","factory":"f","connector":"c"}"#,
        r#"{"depth":3,"event":"stop_factory","factory":"f"}"#,
        r#"{"event":"do_stop","factory":"f","connector":"c"}"#,
    ])
}

#[test]
fn f_double_stop() {
    breaks(rules::F_DOUBLE_STOP, &double_stop());
    let mut lines = double_stop();
    lines.push(END);
    assert_eq!(verdict(&lines, true), Verdict::Legal { warnings: 0 });
    // Without the second do_stop Twisted would owe it: a warning.
    lines.remove(lines.len() - 2);
    assert_eq!(verdict(&lines, true), Verdict::Legal { warnings: 1 });
}

#[test]
fn f_unstopped() {
    breaks(
        rules::F_UNSTOPPED,
        &client(&[
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
            END,
        ]),
    );
}

// §4 connectors

#[test]
fn c_started() {
    breaks(
        rules::C_STARTED,
        &client(&[r#"{"event":"started_connecting","factory":"f","connector":"c"}"#]),
    );
}

#[test]
fn c_outcome_order() {
    breaks(
        rules::C_OUTCOME_ORDER,
        &[
            r#"{"event":"connect_tcp","factory":"f","connector":"c"}"#,
            r#"{"event":"do_start","factory":"f","connector":"c"}"#,
            r#"{"depth":1,"event":"start_factory","factory":"f"}"#,
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
        ],
    );
}

#[test]
fn c_one_outcome() {
    breaks(
        rules::C_ONE_OUTCOME,
        &made(&[
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
        ]),
    );
}

#[test]
fn c_cancel() {
    breaks(
        rules::C_CANCEL,
        &client(&[
            r#"{"event":"stop_connecting","connector":"c"}"#,
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
        ]),
    );
}

#[test]
fn c_lost_reason() {
    breaks(
        rules::C_LOST_REASON,
        &made(&[
            r#"{"event":"connection_lost","protocol":"p","reason":"connection_done"}"#,
            r#"{"event":"client_connection_lost","factory":"f","connector":"c","reason":"connection_lost"}"#,
        ]),
    );
}

#[test]
fn c_build_outcome() {
    breaks(
        rules::C_BUILD_OUTCOME,
        &client(&[
            r#"{"event":"build_protocol","factory":"f","connector":"c","protocol":null,"error":"boom"}"#,
            r#"{"event":"client_connection_lost","factory":"f","connector":"c","reason":"connection_done"}"#,
        ]),
    );
}

#[test]
fn c_lost_order() {
    breaks(
        rules::C_LOST_ORDER,
        &made(&[
            r#"{"event":"client_connection_lost","factory":"f","connector":"c","reason":"connection_done"}"#,
        ]),
    );
}

#[test]
fn c_retry() {
    breaks(
        rules::C_RETRY,
        &client(&[
            r#"{"event":"client_connection_failed","factory":"f","connector":"c","reason":"timeout"}"#,
            r#"{"event":"connect","connector":"c"}"#,
        ]),
    );
}

#[test]
fn c_connect_state() {
    breaks(
        rules::C_CONNECT_STATE,
        &client(&[r#"{"event":"connect","connector":"c"}"#]),
    );
}

#[test]
fn c_unresolved() {
    breaks(rules::C_UNRESOLVED, &client(&[END]));
}

// §5 ports

#[test]
fn s_build() {
    breaks(
        rules::S_BUILD,
        &[
            r#"{"event":"listen_tcp","factory":"g","port":"l"}"#,
            r#"{"event":"build_protocol","factory":"g","port":"l","protocol":"q"}"#,
        ],
    );
}

#[test]
fn s_unstopped() {
    breaks(rules::S_UNSTOPPED, &server(&[END]));
    // Under `twisted` an unmet obligation is a warning.
    assert_eq!(
        verdict(&server(&[END]), true),
        Verdict::Legal { warnings: 1 }
    );
}

// §6 protocols

#[test]
fn p_made() {
    breaks(
        rules::P_MADE,
        &made(&[r#"{"event":"connection_made","protocol":"p"}"#]),
    );
}

#[test]
fn p_raised() {
    breaks(
        rules::P_RAISED,
        &made(&[
            r#"{"event":"data_received","protocol":"p","bytes":1,"error":"boom"}"#,
            r#"{"event":"data_received","protocol":"p","bytes":1}"#,
        ]),
    );
}

#[test]
fn p_after_lost() {
    breaks(
        rules::P_AFTER_LOST,
        &made(&[
            r#"{"event":"connection_lost","protocol":"p","reason":"connection_done"}"#,
            r#"{"event":"data_received","protocol":"p","bytes":1}"#,
        ]),
    );
}

#[test]
fn p_lost_twice() {
    breaks(
        rules::P_LOST_TWICE,
        &made(&[
            r#"{"event":"connection_lost","protocol":"p","reason":"connection_done"}"#,
            r#"{"event":"connection_lost","protocol":"p","reason":"connection_done"}"#,
        ]),
    );
}

#[test]
fn p_before_made() {
    breaks(
        rules::P_BEFORE_MADE,
        &client(&[
            r#"{"event":"build_protocol","factory":"f","connector":"c","protocol":"p"}"#,
            r#"{"event":"data_received","protocol":"p","bytes":1}"#,
        ]),
    );
}

#[test]
fn p_empty_data() {
    breaks(
        rules::P_EMPTY_DATA,
        &made(&[r#"{"event":"data_received","protocol":"p","bytes":0}"#]),
    );
}

#[test]
fn p_unlost() {
    breaks(
        rules::P_UNLOST,
        &server(&[
            r#"{"event":"build_protocol","factory":"g","port":"l","protocol":"q"}"#,
            r#"{"event":"connection_made","protocol":"q"}"#,
            r#"{"event":"stop_listening","port":"l"}"#,
            r#"{"event":"do_stop","factory":"g","port":"l"}"#,
            r#"{"depth":1,"event":"stop_factory","factory":"g"}"#,
            END,
        ]),
    );
}

#[test]
fn h_read_closed() {
    breaks(
        rules::H_READ_CLOSED,
        &made(&[
            r#"{"event":"read_connection_lost","protocol":"p"}"#,
            r#"{"event":"data_received","protocol":"p","bytes":1}"#,
        ]),
    );
}

#[test]
fn h_write_closed() {
    breaks(
        rules::H_WRITE_CLOSED,
        &made(&[r#"{"event":"write_connection_lost","protocol":"p"}"#]),
    );
}

#[test]
fn pr_stop_first() {
    breaks(
        rules::PR_STOP_FIRST,
        &made(&[
            r#"{"depth":1,"event":"register_producer","protocol":"p","streaming":true}"#,
            r#"{"event":"connection_lost","protocol":"p","reason":"connection_done"}"#,
        ]),
    );
}

#[test]
fn pr_register() {
    breaks(
        rules::PR_REGISTER,
        &made(&[
            r#"{"depth":1,"event":"register_producer","protocol":"p","streaming":true}"#,
            r#"{"depth":1,"event":"register_producer","protocol":"p","streaming":false}"#,
        ]),
    );
}

#[test]
fn pr_callback() {
    breaks(
        rules::PR_CALLBACK,
        &made(&[r#"{"event":"pause_producing","protocol":"p"}"#]),
    );
}

#[test]
fn the_rule_ids_are_those_of_the_spec() {
    let mut ids = rules::ALL.to_vec();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 37, "37 distinct rule ids, as in docs/spec.md");
}
