//! The Factory/Protocol traits of callorder, and the handles an
//! implementation acts through.
//!
//! This is the model of Twisted's reactor, in Rust:
//!
//! - a [`Factory`] is shared by many connections (`Arc`, methods on `&self`)
//!   and builds one [`Protocol`] per connection; a [`ClientFactory`] also
//!   hears how each outgoing attempt went;
//! - a [`Protocol`] is owned by its connection (`&mut self`);
//! - callbacks come in two kinds, which mix freely (see [Which kind to
//!   implement](#which-kind-to-implement));
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
//! use callorder::async_trait;
//! use callorder::{CallbackResult, Protocol, Transport};
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
//!
//! # Which kind to implement
//!
//! Each role has two traits: [`SyncProtocol`], [`SyncFactory`] and
//! [`SyncClientFactory`], whose callbacks are plain functions, and
//! [`Protocol`], [`Factory`] and [`ClientFactory`], whose callbacks are
//! `async` (with `#[async_trait(?Send)]` on the impl).
//!
//! - **A callback never awaits** (it reads its state, writes, closes,
//!   schedules a timer with `call_later`): implement the `Sync` trait. The
//!   reactor calls it directly, with no future to allocate and poll; most
//!   Twisted-style code is of this kind.
//! - **A callback awaits** (a tokio timer, a channel, another task's
//!   answer): implement the async trait. The reactor serves other objects
//!   while it waits, and delivers nothing else to the same object until it
//!   returns.
//!
//! The kind is per type, not per callback, and the two mix in one reactor:
//! a `Sync` type has the async trait too (a blanket impl), so a sync
//! factory may build an async protocol and the other way round, and
//! everything that takes a `Box<dyn Protocol>` or an `Arc<dyn Factory>` (a
//! wrapping factory, `CheckedFactory`, the fuzzers, both reactors) takes
//! either. The same echo protocol, synchronous:
//!
//! ```
//! use callorder::{CallbackResult, SyncProtocol, Transport};
//!
//! #[derive(Default)]
//! struct Echo {
//!     transport: Option<Transport>,
//! }
//!
//! impl SyncProtocol for Echo {
//!     fn connection_made(&mut self, transport: Transport) -> CallbackResult {
//!         self.transport = Some(transport);
//!         Ok(())
//!     }
//!
//!     fn data_received(&mut self, data: &[u8]) -> CallbackResult {
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
mod synchronous;

use std::sync::Arc;

use async_trait::async_trait;

pub use callorder_trace::{ConnectorId, FactoryId, Holder, PortId, ProtocolId, Reason};
pub use error::{ActionError, CallbackError, CallbackResult};
pub use handles::{
    Address, Connector, Port, Reactor, ReactorOps, TimerHandle, Transport, WriteStatus,
};
pub use synchronous::{SyncClientFactory, SyncFactory, SyncProtocol};

/// A protocol: the object that lives for exactly one connection.
///
/// Every method has a default that does nothing, except
/// [`data_received`](Protocol::data_received).
///
/// # Implementing it: `#[async_trait(?Send)]`
///
/// The callbacks are `async` and run on the reactor's one thread, so their
/// futures need not be `Send` (a protocol may hold an `Rc` across an
/// `await`). Put `#[async_trait(?Send)]` on the impl, with the attribute the
/// facade re-exports (`callorder::async_trait`):
///
/// ```
/// use callorder::{async_trait, CallbackResult, Protocol};
///
/// /// Counts the bytes it receives.
/// struct Counter(usize);
///
/// #[async_trait(?Send)]
/// impl Protocol for Counter {
///     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
///         self.0 += data.len();
///         Ok(())
///     }
/// }
/// ```
///
/// Plain `#[async_trait]` makes every future `Send`, which the trait does
/// not declare:
///
/// ```compile_fail,E0053
/// # use callorder::{async_trait, CallbackResult, Protocol};
/// # struct Counter(usize);
/// #[async_trait]
/// impl Protocol for Counter {
///     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
///         self.0 += data.len();
///         Ok(())
///     }
/// }
/// ```
///
/// ```text
/// error[E0053]: method `data_received` has an incompatible type for trait
///   | #[async_trait]
///   | ^^^^^^^^^^^^^^ expected trait `Future<Output = Result<(), CallbackError>>`,
///   |                found trait `Future<Output = Result<(), CallbackError>> + Send`
/// ```
///
/// With no attribute, the `async fn` of the impl is not the boxed future the
/// trait declares:
///
/// ```compile_fail,E0195
/// # use callorder::{CallbackResult, Protocol};
/// # struct Counter(usize);
/// impl Protocol for Counter {
///     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
///         self.0 += data.len();
///         Ok(())
///     }
/// }
/// ```
///
/// ```text
/// error[E0195]: lifetime parameters or bounds on method `data_received` do not match the trait declaration
///   |     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
///   |                           ^ lifetimes do not match method in trait
/// ```
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

    /// The protocol as a [`SyncProtocol`], when it is one: a reactor then
    /// calls its callbacks directly, with no future. The blanket impl for
    /// every `SyncProtocol` says `Some(self)`; an async implementation
    /// keeps the default, `None`.
    ///
    /// ```
    /// use callorder::{async_trait, CallbackResult, Protocol, SyncProtocol};
    ///
    /// struct Direct;
    /// impl SyncProtocol for Direct {
    ///     fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
    /// }
    /// struct Awaiting;
    /// #[async_trait(?Send)]
    /// impl Protocol for Awaiting {
    ///     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
    /// }
    ///
    /// let (mut a, mut b): (Box<dyn Protocol>, Box<dyn Protocol>) = (Box::new(Direct), Box::new(Awaiting));
    /// assert!(a.sync_protocol().is_some());
    /// assert!(b.sync_protocol().is_none());
    /// ```
    fn sync_protocol(&mut self) -> Option<&mut dyn SyncProtocol> {
        None
    }
}

/// A factory: builds a protocol per connection, and is started and stopped
/// by the connectors and ports that use it (the reactor counts the starts,
/// as Twisted's `Factory.doStart`/`doStop` do, and calls the hooks when the
/// count goes 0 to 1 and 1 to 0).
///
/// # Implementing it: `#[async_trait(?Send)]`
///
/// As for [`Protocol`], the impl carries `#[async_trait(?Send)]`
/// (`callorder::async_trait`):
///
/// ```
/// use callorder::{async_trait, Address, CallbackError, CallbackResult, Factory, Protocol};
///
/// struct Quiet;
///
/// #[async_trait(?Send)]
/// impl Protocol for Quiet {
///     async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
///         Ok(())
///     }
/// }
///
/// struct QuietFactory;
///
/// #[async_trait(?Send)]
/// impl Factory for QuietFactory {
///     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(Some(Box::new(Quiet)))
///     }
/// }
/// ```
///
/// Plain `#[async_trait]` fails with E0053 (the impl's future is `Send`, the
/// trait's is not):
///
/// ```compile_fail,E0053
/// # use callorder::{async_trait, Address, CallbackError, Factory, Protocol};
/// # struct QuietFactory;
/// #[async_trait]
/// impl Factory for QuietFactory {
///     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(None)
///     }
/// }
/// ```
///
/// ```text
/// error[E0053]: method `build_protocol` has an incompatible type for trait
///   | #[async_trait]
///   | ^^^^^^^^^^^^^^ expected trait `Future<Output = Result<Option<Box<(dyn Protocol + 'static)>>, CallbackError>>`,
///   |                found trait `Future<Output = Result<Option<Box<(dyn Protocol + 'static)>>, CallbackError>> + Send`
/// ```
///
/// No attribute fails with E0195:
///
/// ```compile_fail,E0195
/// # use callorder::{Address, CallbackError, Factory, Protocol};
/// # struct QuietFactory;
/// impl Factory for QuietFactory {
///     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(None)
///     }
/// }
/// ```
///
/// ```text
/// error[E0195]: lifetime parameters or bounds on method `build_protocol` do not match the trait declaration
///   |     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///   |                            ^ lifetimes do not match method in trait
/// ```
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

    /// The factory as a [`SyncFactory`], when it is one: a reactor then
    /// calls its callbacks directly. The blanket impl for every
    /// `SyncFactory` says `Some(self)`; an async implementation keeps the
    /// default, `None`.
    fn sync_factory(&self) -> Option<&dyn SyncFactory> {
        None
    }
}

/// A factory for outgoing connections: it also hears how each attempt went.
///
/// # Implementing it: `#[async_trait(?Send)]`
///
/// Both impls, [`Factory`] and `ClientFactory`, carry
/// `#[async_trait(?Send)]` (`callorder::async_trait`), even an empty one:
///
/// ```
/// use callorder::{async_trait, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason};
///
/// struct Dialer;
///
/// #[async_trait(?Send)]
/// impl Factory for Dialer {
///     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
///         Ok(None)
///     }
/// }
///
/// #[async_trait(?Send)]
/// impl ClientFactory for Dialer {
///     async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
///         connector.connect()?; // retry at once, without stopping the factory
///         Ok(())
///     }
/// }
/// ```
///
/// Plain `#[async_trait]` fails with E0053 on every callback the impl
/// defines:
///
/// ```compile_fail,E0053
/// # use callorder::{async_trait, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol};
/// # struct Dialer;
/// # #[async_trait(?Send)]
/// # impl Factory for Dialer {
/// #     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> { Ok(None) }
/// # }
/// #[async_trait]
/// impl ClientFactory for Dialer {
///     async fn started_connecting(&self, _: &Connector) -> CallbackResult {
///         Ok(())
///     }
/// }
/// ```
///
/// ```text
/// error[E0053]: method `started_connecting` has an incompatible type for trait
///   | #[async_trait]
///   | ^^^^^^^^^^^^^^ expected trait `Future<Output = Result<(), CallbackError>>`,
///   |                found trait `Future<Output = Result<(), CallbackError>> + Send`
/// ```
///
/// No attribute fails with E0195:
///
/// ```compile_fail,E0195
/// # use callorder::{async_trait, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol};
/// # struct Dialer;
/// # #[async_trait(?Send)]
/// # impl Factory for Dialer {
/// #     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> { Ok(None) }
/// # }
/// impl ClientFactory for Dialer {
///     async fn started_connecting(&self, _: &Connector) -> CallbackResult {
///         Ok(())
///     }
/// }
/// ```
///
/// ```text
/// error[E0195]: lifetime parameters or bounds on method `started_connecting` do not match the trait declaration
///   |     async fn started_connecting(&self, _: &Connector) -> CallbackResult {
///   |                                ^ lifetimes do not match method in trait
/// ```
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

    /// The factory as a [`SyncClientFactory`], when it is one (see
    /// [`Factory::sync_factory`]).
    fn sync_client_factory(&self) -> Option<&dyn SyncClientFactory> {
        None
    }
}

/// A shared factory, as reactors hold it.
pub type SharedFactory = Arc<dyn Factory>;
/// A shared client factory, as reactors hold it.
pub type SharedClientFactory = Arc<dyn ClientFactory>;
