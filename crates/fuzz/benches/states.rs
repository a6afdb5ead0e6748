//! How soon the fuzzer reaches each state of the spec (`docs/spec.md`,
//! section States) on the reference implementations.
//!
//! Run: `cargo bench -p callorder-fuzz --bench states`. For each reference
//! set-up, runs `CALLORDER_BENCH_CASES` cases (default 100,000: a state is
//! *reachable* for an implementation when a campaign that long reaches it)
//! from seed `CALLORDER_BENCH_SEED` (default 0), once each, with
//! [`Fuzz::reach`], and prints one line per state reached, slowest first:
//! `IMPLEMENTATION CASE STATE`, CASE being the case that first reached it;
//! then a summary line per implementation: how many states it reached, the
//! slowest, and how many came after case 1,000 (the goal: none). Built
//! from two commits, the lines compare generators state by state.

#![allow(missing_docs, clippy::arc_with_non_send_sync)]

use std::sync::Arc;

use callorder_fuzz::{
    fuzz_client, fuzz_server, fuzz_with, fuzz_wrapper_client, fuzz_wrapper_server, Fuzz, ADDRESS,
};
use callorder_reference::{
    Echo, EchoFactory, HalfCloseFactory, LineClientFactory, ReconnectingClientFactory,
    StreamingFactory, WrappingFactory,
};

/// The reference set-ups, by name, as `tests/reference.rs` fuzzes them.
fn set_ups() -> Vec<(&'static str, Fuzz)> {
    vec![
        ("echo_server", fuzz_server(|| Arc::new(EchoFactory::new()))),
        (
            "half_close_server",
            fuzz_server(|| Arc::new(HalfCloseFactory::new(b"bye\n"))),
        ),
        (
            "streaming_server",
            fuzz_server(|| Arc::new(StreamingFactory::new(200_000))),
        ),
        (
            "wrapped_echo_server",
            fuzz_wrapper_server(WrappingFactory::new, EchoFactory::new),
        ),
        (
            "line_client",
            fuzz_client(|| Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2))),
        ),
        (
            "reconnecting_client",
            fuzz_client(|| ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared()),
        ),
        (
            "wrapped_line_client",
            fuzz_wrapper_client(WrappingFactory::new, || {
                LineClientFactory::new(["hello", "world"]).close_after(2)
            }),
        ),
        (
            "echo_and_line_client",
            fuzz_with(|reactor, set_up| {
                let _ = reactor.listen_tcp(ADDRESS, Arc::new(EchoFactory::new()));
                reactor.connect_tcp(
                    ADDRESS,
                    Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2)),
                    set_up.timeout,
                );
            }),
        ),
    ]
}

fn main() {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let cases = var("CALLORDER_BENCH_CASES", 100_000) as u32;
    let seed = var("CALLORDER_BENCH_SEED", 0);
    let only = std::env::var("CALLORDER_BENCH_ONLY").unwrap_or_default();
    let mut summaries = Vec::new();
    for (name, fuzz) in set_ups() {
        if !name.contains(&only) {
            continue;
        }
        let reach = fuzz.seed(seed).reach(cases);
        let mut states: Vec<(&String, &u32)> = reach.first.iter().collect();
        states.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (state, case) in &states {
            println!("{name} {case} {state}");
        }
        let late = states.iter().filter(|(_, case)| **case > 1_000).count();
        let (slowest, at) = reach.slowest().unwrap_or(("(none)", 0));
        summaries.push(format!(
            "{name}: states_reached={} slowest_case={at} ({slowest}) after_case_1000={late}",
            states.len()
        ));
    }
    for line in summaries {
        println!("{line}");
    }
}
