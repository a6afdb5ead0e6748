//! No false alarm: every fixed twin of the mutant gallery and every
//! reference implementation passes every default check, campaign after
//! campaign. CI runs it short (the default case count, one seed); the long
//! run is `just no-false-alarm` (100,000 cases from each of 5 seeds, in
//! release):
//!
//! ```text
//! CALLORDER_FUZZ_CASES=100000 CALLORDER_NO_FALSE_ALARM_SEEDS=5 cargo test --release -p callorder-fuzz --test no_false_alarm -- --nocapture
//! ```
//!
//! Each campaign prints its one-line summary (with `--nocapture`).

mod gallery;

use std::sync::Arc;

use callorder_fuzz::{
    fuzz_client, fuzz_client_factory, fuzz_protocol, fuzz_server, fuzz_server_factory, fuzz_with,
    fuzz_wrapper_client, fuzz_wrapper_server, Fuzz, ADDRESS,
};
use callorder_reference::{
    Echo, EchoFactory, HalfCloseFactory, LineClientFactory, ReconnectingClientFactory, Streaming,
    StreamingFactory, WrappingFactory,
};

/// How many campaign seeds (from 0) each implementation runs.
fn seeds() -> u64 {
    std::env::var("CALLORDER_NO_FALSE_ALARM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// The reference implementations under the reactor, as `tests/reference.rs`
/// and `benches/states.rs` set them up.
fn references() -> Vec<Fuzz> {
    vec![
        fuzz_server(|| Arc::new(EchoFactory::new())).name("echo_server"),
        fuzz_server(|| Arc::new(HalfCloseFactory::new(b"bye\n"))).name("half_close_server"),
        fuzz_server(|| Arc::new(StreamingFactory::new(200_000))).name("streaming_server"),
        fuzz_wrapper_server(WrappingFactory::new, EchoFactory::new).name("wrapped_echo_server"),
        fuzz_client(|| Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2)))
            .name("line_client"),
        fuzz_client(|| ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared())
            .name("reconnecting_client"),
        fuzz_wrapper_client(WrappingFactory::new, || {
            LineClientFactory::new(["hello", "world"]).close_after(2)
        })
        .name("wrapped_line_client"),
        fuzz_with(|reactor, set_up| {
            let _ = reactor.listen_tcp(ADDRESS, Arc::new(EchoFactory::new()));
            reactor.connect_tcp(
                ADDRESS,
                Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2)),
                set_up.timeout,
            );
        })
        .name("echo_and_line_client"),
    ]
}

#[test]
fn every_reference_implementation_passes_every_seed() {
    for seed in 0..seeds() {
        for fuzz in references() {
            fuzz.seed(seed).regressions(None).check();
        }
    }
}

#[test]
fn every_fixed_twin_passes_every_seed() {
    for seed in 0..seeds() {
        for mutant in gallery::all() {
            if let Some(twin) = mutant.twin {
                twin().seed(seed).regressions(None).check();
            }
        }
    }
}

#[test]
fn the_reference_protocols_and_factories_pass_driven_directly_every_seed() {
    for seed in 0..seeds() {
        fuzz_protocol(|| Box::new(Echo::new())).seed(seed).check();
        fuzz_protocol(|| Box::new(Streaming::new(200_000)))
            .seed(seed)
            .check();
        fuzz_client_factory(|| ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared())
            .seed(seed)
            .check();
        fuzz_client_factory(|| Arc::new(LineClientFactory::new(["hello"]).close_after(1)))
            .seed(seed)
            .check();
        fuzz_server_factory(|| Arc::new(EchoFactory::new()))
            .seed(seed)
            .check();
    }
}
