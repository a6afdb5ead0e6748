//! The correct reference implementations pass the fuzzer with every check on.

use std::sync::Arc;

use callorder_fuzz::{fuzz_client, fuzz_server};
use callorder_reference::{Echo, EchoFactory, LineClientFactory, ReconnectingClientFactory};

#[test]
fn echo_server_passes() {
    let report = fuzz_server(|| Arc::new(EchoFactory::new()))
        .name("echo_server")
        .regressions(None)
        .check();
    assert!(report.cases > 0);
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
