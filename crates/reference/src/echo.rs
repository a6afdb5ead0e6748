//! An echo server: every byte received is written back.
//!
//! ```
//! use std::sync::Arc;
//! use callorder_harness::{Conn, MockReactor, Script};
//! use callorder_reference::EchoFactory;
//!
//! let factory = Arc::new(EchoFactory::new());
//! let run = MockReactor::new().run(
//!     Script::new()
//!         .accept(1, "10.0.0.2:5000")
//!         .send(Conn::Server(1), b"ping")
//!         .close(Conn::Server(1))
//!         .shutdown(),
//!     |reactor| {
//!         reactor.listen_tcp("0.0.0.0:7", factory.clone()).unwrap();
//!     },
//! );
//! run.assert_clean();
//! assert_eq!(run.written, vec![(Conn::Server(1), b"ping".to_vec())]);
//! assert_eq!(factory.built(), 1);
//! ```

use std::sync::atomic::{AtomicUsize, Ordering};

use callorder_core::{
    Address, CallbackError, CallbackResult, Protocol, SyncFactory, SyncProtocol, Transport,
};

/// The echo protocol: writes back whatever it receives.
#[derive(Default)]
pub struct Echo {
    transport: Option<Transport>,
}

impl Echo {
    /// A protocol not connected yet.
    pub fn new() -> Self {
        Echo::default()
    }
}

impl SyncProtocol for Echo {
    fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let transport = self
            .transport
            .as_ref()
            .ok_or("data_received before connection_made")?;
        transport.write(data)?;
        Ok(())
    }
}

/// Builds an [`Echo`] for every accepted connection, and counts them.
#[derive(Debug, Default)]
pub struct EchoFactory {
    built: AtomicUsize,
}

impl EchoFactory {
    /// A factory that has built nothing yet.
    pub fn new() -> Self {
        EchoFactory::default()
    }

    /// How many protocols it built.
    pub fn built(&self) -> usize {
        self.built.load(Ordering::Relaxed)
    }
}

impl SyncFactory for EchoFactory {
    fn build_protocol(&self, _addr: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        self.built.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Box::new(Echo::new())))
    }
}
