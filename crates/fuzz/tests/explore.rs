//! More reference set-ups under the fuzzer: half-close, wrapping, a client
//! and a server joined in memory, and the twisted profile.

use std::sync::Arc;

use callorder_checker::Profile;
use callorder_fuzz::{fuzz_server, fuzz_with};
use callorder_reference::{EchoFactory, HalfCloseFactory, LineClientFactory, WrappingFactory};

#[test]
fn half_close_server_passes() {
    fuzz_server(|| Arc::new(HalfCloseFactory::new(b"bye\n")))
        .name("half_close_server")
        .regressions(None)
        .check();
}

#[test]
fn wrapped_echo_passes() {
    fuzz_server(|| Arc::new(WrappingFactory::new(EchoFactory::new())))
        .name("wrapped_echo")
        .regressions(None)
        .check();
}

#[test]
fn joined_echo_and_line_client_pass() {
    fuzz_with(|reactor, set_up| {
        let _ = reactor.listen_tcp(callorder_fuzz::ADDRESS, Arc::new(EchoFactory::new()));
        reactor.connect_tcp(
            callorder_fuzz::ADDRESS,
            Arc::new(LineClientFactory::new(["hello", "world"]).close_after(2)),
            set_up.timeout,
        );
    })
    .name("echo_and_line_client")
    .regressions(None)
    .check();
}

#[test]
fn echo_passes_under_the_twisted_profile() {
    fuzz_server(|| Arc::new(EchoFactory::new()))
        .profile(Profile::Twisted)
        .regressions(None)
        .check();
}
