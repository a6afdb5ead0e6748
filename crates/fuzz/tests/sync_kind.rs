//! Every fuzz driver fuzzes implementations of the synchronous kind
//! (`SyncProtocol`, `SyncFactory`, `SyncClientFactory`) as it does async
//! ones: the same bug, written synchronously, is found by each. (The
//! reference implementations fuzzed in `reference.rs` are synchronous too,
//! and pass; the gallery's mutants are async.)

#![allow(clippy::arc_with_non_send_sync)]

use std::sync::Arc;

use callorder::{
    fuzz_client, fuzz_client_factory, fuzz_protocol, fuzz_server, fuzz_server_factory, Address,
    CallbackError, CallbackResult, CheckKind, Protocol, Reason, SyncClientFactory, SyncFactory,
    SyncProtocol, Transport,
};

/// Says goodbye in `connection_lost`: a write after the connection is
/// gone, which Twisted drops without a word.
#[derive(Default)]
struct ByeOnLost {
    transport: Option<Transport>,
}

impl SyncProtocol for ByeOnLost {
    fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.transport = Some(t);
        Ok(())
    }

    fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }

    fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if let Some(t) = &self.transport {
            let _ = t.write(b"bye\r\n");
        }
        Ok(())
    }
}

/// Builds a [`ByeOnLost`] for every connection, either side.
struct ByeFactory;

impl SyncFactory for ByeFactory {
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(ByeOnLost::default())))
    }
}

impl SyncClientFactory for ByeFactory {}

#[test]
fn the_protocol_fuzzer_finds_a_synchronous_protocols_bug() {
    let failure = *fuzz_protocol(|| Box::new(ByeOnLost::default()))
        .regressions(None)
        .run()
        .unwrap_err();
    assert_eq!(
        failure.finding.check,
        CheckKind::WriteAfterClose,
        "{failure:?}"
    );
}

#[test]
fn the_factory_fuzzers_find_a_synchronous_factorys_bug() {
    let server = *fuzz_server_factory(|| Arc::new(ByeFactory))
        .regressions(None)
        .run()
        .unwrap_err();
    assert_eq!(
        server.finding.check,
        CheckKind::WriteAfterClose,
        "{server:?}"
    );
    let client = *fuzz_client_factory(|| Arc::new(ByeFactory))
        .regressions(None)
        .run()
        .unwrap_err();
    assert_eq!(
        client.finding.check,
        CheckKind::WriteAfterClose,
        "{client:?}"
    );
}

#[test]
fn the_reactor_fuzzers_find_a_synchronous_implementations_bug() {
    let server = *fuzz_server(|| Arc::new(ByeFactory))
        .regressions(None)
        .run()
        .unwrap_err();
    assert_eq!(
        server.finding.check,
        CheckKind::WriteAfterClose,
        "{server:?}"
    );
    let client = *fuzz_client(|| Arc::new(ByeFactory))
        .regressions(None)
        .run()
        .unwrap_err();
    assert_eq!(
        client.finding.check,
        CheckKind::WriteAfterClose,
        "{client:?}"
    );
}
