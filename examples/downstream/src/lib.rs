//! A small line protocol, tested with callorder as any downstream crate
//! would test its own: see `tests/`.

use std::sync::Arc;

use callorder::{
    async_trait, Address, CallbackError, CallbackResult, Factory, Protocol, Reactor, Transport,
};

/// Answers each line (ended by `\n`) in capitals, and closes the connection
/// when the line is `bye`.
#[derive(Default)]
pub struct Shout {
    transport: Option<Transport>,
    line: Vec<u8>,
}

#[async_trait(?Send)]
impl Protocol for Shout {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let transport = self
            .transport
            .as_ref()
            .ok_or("data before connection_made")?;
        for &byte in data {
            if byte != b'\n' {
                self.line.push(byte);
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line == b"bye" {
                transport.lose_connection()?;
            } else {
                line.make_ascii_uppercase();
                line.push(b'\n');
                transport.write(&line)?;
            }
        }
        Ok(())
    }
}

/// Builds a [`Shout`] for every connection.
pub struct ShoutFactory;

#[async_trait(?Send)]
impl Factory for ShoutFactory {
    async fn build_protocol(
        &self,
        _peer: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Shout::default())))
    }
}

/// Listens on `addr` with a [`ShoutFactory`]: the set-up of the tests.
///
/// Panics if the reactor refuses to listen; in a test, that is the failure
/// to report.
pub fn listen(reactor: &Reactor, addr: &str) {
    if let Err(e) = reactor.listen_tcp(addr, Arc::new(ShoutFactory)) {
        panic!("listen_tcp({addr}) failed: {e}");
    }
}
