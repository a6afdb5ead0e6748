//! The synchronous kind of the traits: callbacks that never await.
//!
//! A type implements [`SyncProtocol`] (or [`SyncFactory`],
//! [`SyncClientFactory`]) instead of the async trait of the same role, and
//! gets that async trait by the blanket impls below, so it goes wherever a
//! `Box<dyn Protocol>` or an `Arc<dyn Factory>` goes. Reactors that know
//! the kind ask for it ([`Protocol::sync_protocol`],
//! [`Factory::sync_factory`], [`ClientFactory::sync_client_factory`]) and
//! call the callback directly: no future, no box. Code that only knows the
//! async traits (a wrapping factory, a fuzz driver) calls the async methods,
//! whose futures the blanket impls make ready at once.

use async_trait::async_trait;
use callorder_trace::{Holder, Reason};

use crate::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Transport,
};

/// A protocol whose callbacks return at once: [`Protocol`] without
/// `async`. Every method has a default that does nothing, except
/// [`data_received`](SyncProtocol::data_received).
///
/// Implementing it gives the type [`Protocol`] too (a blanket impl), so a
/// factory returns it as a `Box<dyn Protocol>` as any other, and a
/// reactor that asks ([`Protocol::sync_protocol`]) calls it directly. No
/// attribute is needed.
///
/// ```
/// use callorder::{CallbackResult, SyncProtocol, Transport};
///
/// /// Echoes every byte back.
/// #[derive(Default)]
/// struct Echo {
///     transport: Option<Transport>,
/// }
///
/// impl SyncProtocol for Echo {
///     fn connection_made(&mut self, transport: Transport) -> CallbackResult {
///         self.transport = Some(transport);
///         Ok(())
///     }
///
///     fn data_received(&mut self, data: &[u8]) -> CallbackResult {
///         if let Some(t) = &self.transport {
///             t.write(data)?;
///         }
///         Ok(())
///     }
/// }
///
/// let boxed: Box<dyn callorder::Protocol> = Box::new(Echo::default());
/// # drop(boxed);
/// ```
pub trait SyncProtocol: 'static {
    /// The connection is made ([`Protocol::connection_made`]).
    fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        let _ = transport;
        Ok(())
    }

    /// Bytes arrived ([`Protocol::data_received`]).
    fn data_received(&mut self, data: &[u8]) -> CallbackResult;

    /// The connection ended ([`Protocol::connection_lost`]).
    fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        let _ = reason;
        Ok(())
    }

    /// Whether the protocol handles half-close
    /// ([`Protocol::half_closeable`]).
    fn half_closeable(&self) -> bool {
        false
    }

    /// The peer closed its writing side
    /// ([`Protocol::read_connection_lost`]).
    fn read_connection_lost(&mut self) -> CallbackResult {
        Ok(())
    }

    /// Our writing side is closed ([`Protocol::write_connection_lost`]).
    fn write_connection_lost(&mut self) -> CallbackResult {
        Ok(())
    }

    /// Stop writing ([`Protocol::pause_producing`]).
    fn pause_producing(&mut self) -> CallbackResult {
        Ok(())
    }

    /// Write more ([`Protocol::resume_producing`]).
    fn resume_producing(&mut self) -> CallbackResult {
        Ok(())
    }

    /// Stop for good ([`Protocol::stop_producing`]).
    fn stop_producing(&mut self) -> CallbackResult {
        Ok(())
    }
}

/// A factory whose callbacks return at once: [`Factory`] without `async`.
///
/// Implementing it gives the type [`Factory`] too (a blanket impl). What it
/// builds is any `Box<dyn Protocol>`, of either kind.
///
/// ```
/// use callorder::{Address, CallbackError, CallbackResult, Protocol, SyncFactory, SyncProtocol};
///
/// struct Quiet;
///
/// impl SyncProtocol for Quiet {
///     fn data_received(&mut self, _: &[u8]) -> CallbackResult {
///         Ok(())
///     }
/// }
///
/// struct QuietFactory;
///
/// impl SyncFactory for QuietFactory {
///     fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(Some(Box::new(Quiet)))
///     }
/// }
///
/// let shared: std::sync::Arc<dyn callorder::Factory> = std::sync::Arc::new(QuietFactory);
/// # drop(shared);
/// ```
pub trait SyncFactory: 'static {
    /// Twisted's `doStart` ([`Factory::do_start`]).
    fn do_start(&self, holder: Holder) {
        let _ = holder;
    }

    /// Twisted's `doStop` ([`Factory::do_stop`]).
    fn do_stop(&self, holder: Holder) {
        let _ = holder;
    }

    /// The hook run when the start count goes 0 to 1
    /// ([`Factory::start_factory`]).
    fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        let _ = reactor;
        Ok(())
    }

    /// The hook run when the start count goes 1 to 0
    /// ([`Factory::stop_factory`]).
    fn stop_factory(&self) -> CallbackResult {
        Ok(())
    }

    /// A protocol for a new connection, or `None` to refuse it
    /// ([`Factory::build_protocol`]).
    fn build_protocol(&self, addr: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError>;
}

/// A client factory whose callbacks return at once: [`ClientFactory`]
/// without `async`.
///
/// Implementing it (and [`SyncFactory`]) gives the type [`ClientFactory`]
/// too, so it is what `connect_tcp` takes.
///
/// ```
/// use callorder::{Address, CallbackError, CallbackResult, Connector, Protocol, Reason};
/// use callorder::{SyncClientFactory, SyncFactory};
///
/// struct Dialer;
///
/// impl SyncFactory for Dialer {
///     fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(None)
///     }
/// }
///
/// impl SyncClientFactory for Dialer {
///     fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
///         connector.connect()?; // retry at once, without stopping the factory
///         Ok(())
///     }
/// }
///
/// let shared: std::sync::Arc<dyn callorder::ClientFactory> = std::sync::Arc::new(Dialer);
/// # drop(shared);
/// ```
pub trait SyncClientFactory: SyncFactory {
    /// An attempt began ([`ClientFactory::started_connecting`]).
    fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        let _ = connector;
        Ok(())
    }

    /// The attempt failed ([`ClientFactory::client_connection_failed`]).
    fn client_connection_failed(&self, connector: &Connector, reason: Reason) -> CallbackResult {
        let _ = (connector, reason);
        Ok(())
    }

    /// The connection the attempt made ended
    /// ([`ClientFactory::client_connection_lost`]).
    fn client_connection_lost(&self, connector: &Connector, reason: Reason) -> CallbackResult {
        let _ = (connector, reason);
        Ok(())
    }
}

// The async views: each future is ready on its first poll, for callers that
// only know the async traits. Reactors take the synchronous view instead.

#[async_trait(?Send)]
impl<T: SyncProtocol> Protocol for T {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        SyncProtocol::connection_made(self, transport)
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        SyncProtocol::data_received(self, data)
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        SyncProtocol::connection_lost(self, reason)
    }

    fn half_closeable(&self) -> bool {
        SyncProtocol::half_closeable(self)
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        SyncProtocol::read_connection_lost(self)
    }

    async fn write_connection_lost(&mut self) -> CallbackResult {
        SyncProtocol::write_connection_lost(self)
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        SyncProtocol::pause_producing(self)
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        SyncProtocol::resume_producing(self)
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        SyncProtocol::stop_producing(self)
    }

    fn sync_protocol(&mut self) -> Option<&mut dyn SyncProtocol> {
        Some(self)
    }
}

#[async_trait(?Send)]
impl<T: SyncFactory> Factory for T {
    fn do_start(&self, holder: Holder) {
        SyncFactory::do_start(self, holder);
    }

    fn do_stop(&self, holder: Holder) {
        SyncFactory::do_stop(self, holder);
    }

    async fn start_factory(&self, reactor: &Reactor) -> CallbackResult {
        SyncFactory::start_factory(self, reactor)
    }

    async fn stop_factory(&self) -> CallbackResult {
        SyncFactory::stop_factory(self)
    }

    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        SyncFactory::build_protocol(self, addr)
    }

    fn sync_factory(&self) -> Option<&dyn SyncFactory> {
        Some(self)
    }
}

#[async_trait(?Send)]
impl<T: SyncClientFactory> ClientFactory for T {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        SyncClientFactory::started_connecting(self, connector)
    }

    async fn client_connection_failed(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        SyncClientFactory::client_connection_failed(self, connector, reason)
    }

    async fn client_connection_lost(
        &self,
        connector: &Connector,
        reason: Reason,
    ) -> CallbackResult {
        SyncClientFactory::client_connection_lost(self, connector, reason)
    }

    fn sync_client_factory(&self) -> Option<&dyn SyncClientFactory> {
        Some(self)
    }
}
