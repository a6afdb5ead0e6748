//! The correct reference implementations pass the fuzzer with every check
//! on, under the mock reactor and, for protocols, driven directly.
//!
//! The long campaign (100,000 cases each, a fresh seed printed on failure):
//!
//! ```text
//! CALLORDER_FUZZ_SEED=random CALLORDER_FUZZ_CASES=100000 cargo test --release -p callorder-fuzz --test reference
//! ```

use std::sync::Arc;
use std::time::Duration;

use callorder_fuzz::{
    fuzz_client, fuzz_protocol, fuzz_server, fuzz_wrapper_client, fuzz_wrapper_server,
};
use callorder_reference::{
    Echo, EchoFactory, LineClient, LineClientFactory, ReceivedLines, ReconnectingClientFactory,
    RetryPolicy, StreamingFactory, WrappingFactory,
};

#[test]
fn echo_server_passes() {
    let report = fuzz_server(|| Arc::new(EchoFactory::new()))
        .name("echo_server")
        .regressions(None)
        .check();
    assert!(report.cases > 0);
}

#[test]
fn wrapped_echo_server_passes_at_both_boundaries() {
    let report = fuzz_wrapper_server(WrappingFactory::new, EchoFactory::new)
        .name("wrapped_echo_server")
        .regressions(None)
        .check();
    assert!(report.cases > 0);
}

#[test]
fn wrapped_line_client_passes_at_both_boundaries() {
    fuzz_wrapper_client(WrappingFactory::new, || {
        LineClientFactory::new(["hello", "world"]).close_after(2)
    })
    .name("wrapped_line_client")
    .regressions(None)
    .check();
}

#[test]
fn line_client_passes() {
    fuzz_client(|| Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2)))
        .name("line_client")
        .regressions(None)
        .check();
}

#[test]
fn reconnecting_client_passes() {
    fuzz_client(|| ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared())
        .name("reconnecting_client")
        .regressions(None)
        .check();
}

#[test]
fn reconnecting_client_follows_its_policy() {
    fuzz_client(|| {
        ReconnectingClientFactory::new(|_| Box::new(Echo::new()))
            .with_policy(RetryPolicy::default().with_jitter(0.0).with_max_delay(10.0))
            .shared()
    })
    .name("reconnecting_client_jitter_free")
    // Twisted's ReconnectingClientFactory keeps one delay per factory: it
    // serves one connector, and shared its delays compound.
    .separate_factories()
    .reconnect_policy(
        Duration::from_secs(1),
        std::f64::consts::E,
        Duration::from_secs(10),
        true,
    )
    .regressions(None)
    .check();
}

#[test]
fn reconnecting_client_with_jitter_follows_its_policy_within_tolerance() {
    // Twisted's jitter (sigma 12%): 6 sigma of tolerance.
    fuzz_client(|| ReconnectingClientFactory::new(|_| Box::new(Echo::new())).shared())
        .name("reconnecting_client")
        .separate_factories()
        .reconnect_policy(
            Duration::from_secs(1),
            std::f64::consts::E,
            Duration::from_secs(3600),
            true,
        )
        .reconnect_jitter(0.75)
        .regressions(None)
        .check();
}

#[test]
fn echo_protocol_passes_directly() {
    fuzz_protocol(|| Box::new(Echo::new())).check();
}

#[test]
fn line_client_protocol_passes_directly() {
    fuzz_protocol(|| {
        Box::new(LineClient::new(
            ["hello", "world"],
            Some(2),
            ReceivedLines::new(),
        ))
    })
    .check();
}

#[test]
fn streaming_server_passes() {
    fuzz_server(|| Arc::new(StreamingFactory::new(200_000)))
        .name("streaming_server")
        .regressions(None)
        .check();
}
