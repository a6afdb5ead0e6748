//! The Factory/Protocol traits of callorder, and the handles an
//! implementation acts through.
//!
//! This is the model of Twisted's reactor, in Rust:
//!
//! - a [`Factory`] is shared by many connections (`Arc`, methods on `&self`)
//!   and builds one [`Protocol`] per connection; a [`ClientFactory`] also
//!   hears how each outgoing attempt went;
//! - a [`Protocol`] is owned by its connection (`&mut self`);
//! - callbacks are `async`: a callback may await (a timer, say), and the
//!   reactor serves other objects meanwhile;
//! - implementations act on the world through handles: [`Transport`],
//!   [`Connector`], [`Port`] and [`Reactor`].
//!
//! **Actions never re-enter.** What an action triggers (the
//! `started_connecting` after a `connect`, the `client_connection_failed`
//! after a `stop_connecting`, ...) is delivered after the running callback
//! returns, in the order the actions were made. This is the one deliberate
//! difference from Twisted, which delivers some of these inside the action; a
//! Rust callback holding `&mut self` cannot be re-entered. Both shapes are
//! legal trace format v1 (section Nesting).
//!
//! ```
//! use async_trait::async_trait;
//! use callorder_core::{CallbackResult, Protocol, Transport};
//!
//! /// Echoes every byte back.
//! #[derive(Default)]
//! struct Echo {
//!     transport: Option<Transport>,
//! }
//!
//! #[async_trait(?Send)]
//! impl Protocol for Echo {
//!     async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
//!         self.transport = Some(transport);
//!         Ok(())
//!     }
//!
//!     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
//!         if let Some(t) = &self.transport {
//!             t.write(data)?;
//!         }
//!         Ok(())
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

mod error;
mod handles;

use std::sync::Arc;

use async_trait::async_trait;

pub use callorder_trace::{ConnectorId, FactoryId, Holder, PortId, ProtocolId, Reason};
pub use error::{ActionError, CallbackError, CallbackResult};
pub use handles::{
    Address, Connector, Port, Reactor, ReactorOps, TimerHandle, Transport, WriteStatus,
};

/// A protocol: the object that lives for exactly one connection.
///
/// Every method has a default that does nothing, except
/// [`data_received`](Protocol::data_received).
#[async_trait(?Send)]
pub trait Protocol: 'static {
    /// The connection is made; `transport` is how the protocol writes and
    /// closes (Twisted's `makeConnection` / `connectionMade`).
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        let _ = transport;
        Ok(())
    }

    /// Bytes arrived: never empty, chunked arbitrarily.
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult;

    /// The connection ended. The last callback the protocol gets from its
    /// transport.
    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        let _ = reason;
        Ok(())
    }

    /// Whether the protocol handles half-close (Twisted's
    /// `IHalfCloseableProtocol`): then the peer's EOF gives
    /// [`read_connection_lost`](Protocol::read_connection_lost) instead of
    /// ending the connection.
    fn half_closeable(&self) -> bool {
        false
    }

    /// The peer closed its writing side (half-closeable protocols only).
    async fn read_connection_lost(&mut self) -> CallbackResult {
        Ok(())
    }

    /// Our writing side is closed, after `lose_write_connection`
    /// (half-closeable protocols only).
    async fn write_connection_lost(&mut self) -> CallbackResult {
        Ok(())
    }

    /// As the registered streaming producer of its transport: the write
    /// buffer is full, stop writing.
    async fn pause_producing(&mut self) -> CallbackResult {
        Ok(())
    }

    /// As the registered producer: write more (pull producers are asked
    /// each time the buffer drains; paused streaming producers when it did).
    async fn resume_producing(&mut self) -> CallbackResult {
        Ok(())
    }

    /// As the registered producer: the connection is going away; stop for
    /// good.
    async fn stop_producing(&mut self) -> CallbackResult {
        Ok(())
    }
}

/// A factory: builds a protocol per connection, and is started and stopped
/// by the connectors and ports that use it (the reactor counts the starts,
/// as Twisted's `Factory.doStart`/`doStop` do, and calls the hooks when the
/// count goes 0 to 1 and 1 to 0).
#[async_trait(?Send)]
pub trait Factory: 'static {
    /// Twisted's `doStart`: called for every start, with who started it,
    /// before `start_factory` (which only runs when the count goes 0 to 1).
    /// The reactor does the counting, so the default does nothing. A
    /// wrapping factory forwards it to the factory it wraps, as Twisted's
    /// `WrappingFactory` does (F5), so the wrapped factory sees its starts
    /// with the outer connector and port ids.
    fn do_start(&self, holder: Holder) {
        let _ = holder;
    }

    /// Twisted's `doStop`: called for every stop, before `stop_factory`
    /// (which only runs when the count goes 1 to 0). See
    /// [`do_start`](Factory::do_start).
    fn do_stop(&self, holder: Holder) {
        let _ = holder;
    }

    /// The user hook run when the factory's start count goes 0 to 1.
    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        let _ = reactor;
        Ok(())
    }

    /// The user hook run when the start count goes 1 to 0.
    async fn stop_factory(&self) -> CallbackResult {
        Ok(())
    }

    /// A protocol for a new connection with the peer at `addr`, or `None` to
    /// refuse it (the connection is then closed).
    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError>;
}

/// A factory for outgoing connections: it also hears how each attempt went.
#[async_trait(?Send)]
pub trait ClientFactory: Factory {
    /// An attempt began (once per `connect`).
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        let _ = connector;
        Ok(())
    }

    /// The attempt failed. Calling `connector.connect()` in here retries
    /// without stopping the factory.
    async fn client_connection_failed(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        let _ = (connector, reason);
        Ok(())
    }

    /// The connection the attempt made ended (after the protocol's
    /// `connection_lost`, with the same reason). Calling `connector.connect()`
    /// in here retries without stopping the factory.
    async fn client_connection_lost(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        let _ = (connector, reason);
        Ok(())
    }
}

/// A shared factory, as reactors hold it.
pub type SharedFactory = Arc<dyn Factory>;
/// A shared client factory, as reactors hold it.
pub type SharedClientFactory = Arc<dyn ClientFactory>;
