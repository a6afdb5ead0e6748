//! What `end` owes under the twisted profile, beyond the warnings: the
//! coverage it counts. G12 (a transport left open at shutdown, which
//! Twisted's `disconnectAll` lets pass) is used only when a protocol was
//! left open, not for every obligation left unmet.

mod support;

use callorder_checker::{Checker, Profile, Rule};
use callorder_trace::TraceReader;
use support::*;

/// The checker under the twisted profile after every event of the script,
/// which it must accept.
fn twisted(script: &str) -> Checker {
    let (jsonl, _) = to_jsonl(script);
    let mut checker = Checker::new(Profile::Twisted);
    for record in TraceReader::new(jsonl.as_bytes()) {
        let record = record.expect("test traces are well formed");
        checker.step(&record.step).expect("the script is legal");
    }
    checker
}

#[test]
fn g12_is_used_when_end_finds_a_protocol_left_open() {
    let checker = twisted(&trace(&[
        SERVER_MADE,
        "
        0 stop_listening port=l1
        0 do_stop factory=f1 port=l1
        1 stop_factory factory=f1
        0 shutdown
        0 end
        ",
    ]));
    assert_eq!(checker.coverage().count(Rule::PausedAtShutdown), 1);
    assert_eq!(
        checker
            .warnings()
            .iter()
            .map(|w| w.rule)
            .collect::<Vec<_>>(),
        [Rule::Unlost]
    );
}

#[test]
fn g12_is_not_used_for_a_connector_left_without_its_outcome() {
    let checker = twisted(
        "
        0 connect_tcp factory=f1 connector=c1
        0 do_start factory=f1 connector=c1
        1 start_factory factory=f1
        0 started_connecting factory=f1 connector=c1
        0 end
        ",
    );
    assert_eq!(
        checker
            .warnings()
            .iter()
            .map(|w| w.rule)
            .collect::<Vec<_>>(),
        [Rule::Unresolved]
    );
    assert_eq!(checker.coverage().count(Rule::PausedAtShutdown), 0);
}

#[test]
fn only_a_port_that_started_owes_its_do_stop_at_end() {
    // No do_start yet, or a start_factory that raised (it never listened,
    // S1): nothing to stop.
    accepted("0 listen_tcp factory=f1 port=l1\n0 end");
    accepted(
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1 !error
        0 end
        ",
    );
    breaks_under(
        Profile::Strict,
        Rule::PortUnstopped,
        "
        0 listen_tcp factory=f1 port=l1
        0 do_start factory=f1 port=l1
        1 start_factory factory=f1
        > 0 end
        ",
    );
}
