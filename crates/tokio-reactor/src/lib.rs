//! A callorder reactor over real tokio TCP.
//!
//! [`TokioReactor`] runs the same `Factory`/`ClientFactory`/`Protocol`
//! implementations as the mock reactor, unchanged, over real sockets: it is
//! the mock's core (delivery order, checker, trace, leak checks) with a
//! different source of events (`callorder_harness::live`). What the world
//! does is what the sockets do:
//!
//! - an attempt connects, is refused (`connection_refused`), times out
//!   (`timeout`, the core's timer on the real clock), or its name does not
//!   resolve (`dns_lookup`, through a [`Resolver`]);
//! - `lose_write_connection` shuts the write side down (a FIN), after what
//!   was written;
//! - `abort_connection` closes with `SO_LINGER` 0: the peer sees a reset;
//! - a peer's reset is `connection_lost(connection_lost)`, its close
//!   `connection_done` (or `read_connection_lost` for a half-closeable
//!   protocol);
//! - the transport's buffer is what the kernel has not taken yet: a
//!   streaming producer is paused past 64 KiB and resumed once it drained;
//! - `stop_listening` closes the listening socket; the shutdown tears down
//!   live connections.
//!
//! ```
//! use std::sync::Arc;
//! use callorder::{async_trait, Address, CallbackError, CallbackResult, ClientFactory, Factory, Protocol, Reason};
//! use callorder_tokio::TokioReactor;
//!
//! struct Quiet;
//! #[async_trait(?Send)]
//! impl Protocol for Quiet {
//!     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
//! }
//! struct Dialer;
//! #[async_trait(?Send)]
//! impl Factory for Dialer {
//!     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
//!         Ok(Some(Box::new(Quiet)))
//!     }
//! }
//! #[async_trait(?Send)]
//! impl ClientFactory for Dialer {}
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // A port nobody listens on: bound, then let go.
//! let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
//! let run = TokioReactor::new()
//!     .run(|reactor| { reactor.connect_tcp(closed.to_string().as_str(), Arc::new(Dialer), None); })
//!     .await;
//! run.assert_clean();
//! let failed = run.events_of_kind(callorder::EventKind::ClientConnectionFailed).next().unwrap();
//! assert!(matches!(
//!     failed.step.event,
//!     callorder::Event::ClientConnectionFailed { reason: Reason::ConnectionRefused, .. }
//! ));
//! # }
//! ```
#![forbid(unsafe_code)]

mod backend;
mod connection;
mod reactor;
mod resolver;

pub use reactor::TokioReactor;
pub use resolver::{Resolution, Resolver, SystemResolver};
