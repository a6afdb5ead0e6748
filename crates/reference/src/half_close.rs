//! A half-close-aware protocol, after Twisted's half-close experiment
//! (semantics H1-H4).
//!
//! [`HalfClose`] is half-closeable: when the peer closes its writing side
//! it gets `read_connection_lost` (not `connection_lost`), writes its reply,
//! and closes its own writing side with `lose_write_connection`; once that
//! is done (`write_connection_lost`) it closes the connection.
//!
//! ```
//! use std::sync::Arc;
//! use callorder_harness::{Conn, MockReactor, Script};
//! use callorder_reference::HalfCloseFactory;
//!
//! let factory = Arc::new(HalfCloseFactory::new(b"got it"));
//! let run = MockReactor::new().run(
//!     Script::new()
//!         .accept(1, "10.0.0.2:5000")
//!         .send(Conn::Server(1), b"request")
//!         .half_close(Conn::Server(1))
//!         .shutdown(),
//!     |reactor| {
//!         reactor.listen_tcp("0.0.0.0:9", factory.clone()).unwrap();
//!     },
//! );
//! run.assert_clean();
//! assert_eq!(run.written, vec![(Conn::Server(1), b"got it".to_vec())]);
//! assert_eq!(factory.received(), b"request");
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use callorder_core::{
    Address, CallbackError, CallbackResult, Protocol, SyncClientFactory, SyncFactory, SyncProtocol,
    Transport,
};

/// A shared byte log.
type Bytes = Arc<Mutex<Vec<u8>>>;

/// The half-close-aware protocol: replies when the peer is done writing,
/// then closes its writing side, then the connection.
pub struct HalfClose {
    reply: Arc<[u8]>,
    received: Bytes,
    transport: Option<Transport>,
}

impl HalfClose {
    fn transport(&self) -> Result<&Transport, CallbackError> {
        self.transport
            .as_ref()
            .ok_or_else(|| CallbackError::new("callback before connection_made"))
    }
}

impl SyncProtocol for HalfClose {
    fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        self.transport = Some(transport);
        Ok(())
    }

    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(data);
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        true
    }

    fn read_connection_lost(&mut self) -> CallbackResult {
        let transport = self.transport()?;
        if !self.reply.is_empty() {
            transport.write(&self.reply)?;
        }
        transport.lose_write_connection()?;
        Ok(())
    }

    fn write_connection_lost(&mut self) -> CallbackResult {
        self.transport()?.lose_connection()?;
        Ok(())
    }
}

/// Builds a [`HalfClose`] per connection, server or client side; all of
/// them log what they receive into one shared buffer.
#[derive(Debug)]
pub struct HalfCloseFactory {
    reply: Arc<[u8]>,
    received: Bytes,
}

impl HalfCloseFactory {
    /// A factory whose protocols reply `reply` (may be empty) when the
    /// peer closes its writing side.
    pub fn new(reply: &[u8]) -> Self {
        HalfCloseFactory {
            reply: reply.into(),
            received: Bytes::default(),
        }
    }

    /// Every byte its protocols received, in order.
    pub fn received(&self) -> Vec<u8> {
        self.received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl SyncFactory for HalfCloseFactory {
    fn build_protocol(&self, _addr: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(HalfClose {
            reply: self.reply.clone(),
            received: self.received.clone(),
            transport: None,
        })))
    }
}

impl SyncClientFactory for HalfCloseFactory {}
