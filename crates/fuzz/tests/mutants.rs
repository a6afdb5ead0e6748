//! A gallery of deliberately broken implementations, each a realistic bug:
//! the fuzzer must find every one with its default checks and default case
//! count, and shrink it to a short script.
//!
//! Run with `--nocapture` to see each minimal script and trace.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason,
    Transport,
};
use callorder_fuzz::{fuzz_client, fuzz_server, CheckKind, Failure, Fuzz};
use callorder_reference::Echo;

/// The longest minimal script we accept (steps, the final shutdown included).
const SHORT: usize = 10;

/// Runs the campaign, which must fail the `expected` check with a short
/// script; prints the failure.
#[track_caller]
fn caught(fuzz: Fuzz, expected: CheckKind) -> Failure {
    let failure = *fuzz
        .regressions(None)
        .run()
        .expect_err("the fuzzer should find the bug");
    println!("{failure}");
    assert_eq!(failure.finding.check, expected, "{failure}");
    assert!(
        failure.steps <= SHORT,
        "the minimal script has {} steps:\n{failure}",
        failure.steps
    );
    failure
}

// ------------------------------------------------------------ 1: chunking

/// A command server that assumes each `data_received` is one whole command:
/// it answers every read, not every line.
#[derive(Default)]
struct OnePerRead {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for OnePerRead {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let command = String::from_utf8_lossy(data);
        let reply = format!("OK {}\r\n", command.trim_end());
        self.transport
            .as_ref()
            .ok_or("no transport")?
            .write(reply.as_bytes())?;
        Ok(())
    }
}

/// A server factory building `P::default()` per connection.
#[derive(Default)]
struct ServerOf<P>(std::marker::PhantomData<fn() -> P>);

#[async_trait(?Send)]
impl<P: Protocol + Default> Factory for ServerOf<P> {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(P::default())))
    }
}

#[test]
fn one_message_per_read_breaks_chunking_invariance() {
    caught(
        fuzz_server(|| Arc::new(ServerOf::<OnePerRead>::default())).name("one_per_read"),
        CheckKind::ChunkingInvariance,
    );
}

// ---------------------------------------------------- 2: connect twice

/// A client factory with a connect watchdog: each attempt arms a timer that
/// "retries if we are not connected after 5 s", without checking whether
/// the attempt is still connecting (or connected): `connect` while
/// connecting.
#[derive(Default)]
struct Watchdog;

#[async_trait(?Send)]
impl Factory for Watchdog {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Watchdog {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        let again = connector.clone();
        connector
            .reactor()
            .call_later(Duration::from_secs(5), move || {
                let _ = again.connect();
            });
        Ok(())
    }
}

#[test]
fn connecting_twice_is_an_implementation_error() {
    caught(
        fuzz_client(|| Arc::new(Watchdog)).name("watchdog"),
        CheckKind::ImplError,
    );
}

// ---------------------------------------------------------- 3: retry storm

/// A client factory that reconnects at once, with no delay, whatever
/// happened.
#[derive(Default)]
struct EagerRetry;

#[async_trait(?Send)]
impl Factory for EagerRetry {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for EagerRetry {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        connector.connect()?;
        Ok(())
    }

    async fn client_connection_lost(&self, connector: &Connector, _: Reason) -> CallbackResult {
        connector.connect()?;
        Ok(())
    }
}

#[test]
fn retrying_without_delay_is_a_retry_storm() {
    caught(
        fuzz_client(|| Arc::new(EagerRetry)).name("eager_retry"),
        CheckKind::RetryStorm,
    );
}

// ------------------------------------------------------- 4: one-byte panic

/// A length-prefixed server that reads the 2-byte length header straight
/// out of each read: a read of one byte panics.
#[derive(Default)]
struct LengthPrefixed {
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for LengthPrefixed {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let len = u16::from_be_bytes([data[0], data[1]]);
        self.transport
            .as_ref()
            .ok_or("no transport")?
            .write(&len.to_be_bytes())?;
        Ok(())
    }
}

#[test]
fn reading_a_header_from_one_byte_panics() {
    caught(
        fuzz_server(|| Arc::new(ServerOf::<LengthPrefixed>::default()))
            .name("length_prefixed")
            .no_chunking_invariance(),
        CheckKind::Panic,
    );
}

// --------------------------------------------------- 5: write after abort

/// A server that drops a client saying QUIT, then says goodbye: the
/// goodbye is written after `abort_connection` and goes nowhere.
#[derive(Default)]
struct AbortThenBye {
    transport: Option<Transport>,
    buffer: Vec<u8>,
}

#[async_trait(?Send)]
impl Protocol for AbortThenBye {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.buffer.extend_from_slice(data);
        let t = self.transport.as_ref().ok_or("no transport")?;
        while let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=at).collect();
            if line.starts_with(b"QUIT") {
                t.abort_connection()?;
                t.write(b"BYE\r\n")?;
                return Ok(());
            }
            t.write(&line)?;
        }
        Ok(())
    }
}

#[test]
fn writing_after_abort_is_reported() {
    caught(
        fuzz_server(|| Arc::new(ServerOf::<AbortThenBye>::default())).name("abort_then_bye"),
        CheckKind::WriteAfterClose,
    );
}

// ----------------------------------------------------------------- 6: leak

thread_local! {
    /// "Every factory we ever made, for the stats page": keeps them all.
    static REGISTRY: RefCell<Vec<Arc<dyn ClientFactory>>> = const { RefCell::new(Vec::new()) };
}

/// A client that reconnects by making a fresh factory (and connector) for
/// each new connection, and parks every factory in a global registry.
#[derive(Default)]
struct FactoryPerConnection;

#[async_trait(?Send)]
impl Factory for FactoryPerConnection {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Echo::new())))
    }
}

#[async_trait(?Send)]
impl ClientFactory for FactoryPerConnection {
    async fn client_connection_lost(&self, connector: &Connector, _: Reason) -> CallbackResult {
        let next: Arc<dyn ClientFactory> = Arc::new(FactoryPerConnection);
        REGISTRY.with(|r| r.borrow_mut().push(next.clone()));
        let destination = connector.destination();
        connector
            .reactor()
            .call_later(Duration::from_secs(1), move || {
                // The reactor is gone when this never fires: fine.
                let _ = destination;
            });
        connector.reactor().connect_tcp(
            connector.destination(),
            next,
            Some(Duration::from_secs(30)),
        );
        Ok(())
    }
}

#[test]
fn factories_parked_in_a_registry_leak() {
    caught(
        fuzz_client(|| Arc::new(FactoryPerConnection)).name("factory_per_connection"),
        CheckKind::Leak,
    );
}

// ------------------------------------------- 7: write after connection_lost

/// A protocol with a heartbeat that it never stops: after the connection
/// is lost, the timer keeps writing.
#[derive(Default)]
struct Heartbeat {
    transport: Option<Transport>,
}

fn beat(transport: Transport) {
    let reactor = transport.reactor();
    reactor.call_later(Duration::from_secs(1), move || {
        let _ = transport.write(b"PING\r\n");
        beat(transport);
    });
}

#[async_trait(?Send)]
impl Protocol for Heartbeat {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        beat(transport.clone());
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.transport.as_ref().ok_or("no transport")?.write(data)?;
        Ok(())
    }
}

#[test]
fn a_heartbeat_outliving_its_connection_is_reported() {
    caught(
        fuzz_server(|| Arc::new(ServerOf::<Heartbeat>::default())).name("heartbeat"),
        CheckKind::WriteAfterClose,
    );
}
