//! callorder: test network code written in the Factory/Protocol style and
//! prove that every object gets its callbacks in a legal order.
//!
//! This facade re-exports the crates a user needs, so one dependency is
//! enough:
//!
//! - the Factory/Protocol traits and handles, at the top level
//!   ([`Protocol`], [`Factory`], [`ClientFactory`], [`Transport`], ...);
//! - [`harness`]: the deterministic mock reactor ([`MockReactor`]) and its
//!   [`Script`]s;
//! - [`checker`]: the legal order as an executable spec;
//! - [`trace`]: the event vocabulary and trace format v1.
//!
//! ```
//! use std::sync::Arc;
//! use callorder::{async_trait, Address, CallbackError, CallbackResult, Factory, MockReactor, Protocol, Script, Transport};
//!
//! struct Echo(Option<Transport>);
//!
//! #[async_trait(?Send)]
//! impl Protocol for Echo {
//!     async fn connection_made(&mut self, t: Transport) -> CallbackResult {
//!         self.0 = Some(t);
//!         Ok(())
//!     }
//!     async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
//!         self.0.as_ref().unwrap().write(data)?;
//!         Ok(())
//!     }
//! }
//!
//! struct EchoFactory;
//!
//! #[async_trait(?Send)]
//! impl Factory for EchoFactory {
//!     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
//!         Ok(Some(Box::new(Echo(None))))
//!     }
//! }
//!
//! let script = Script::new()
//!     .accept(1, "10.0.0.7:5000")
//!     .send(callorder::Conn::Server(1), b"ping")
//!     .close(callorder::Conn::Server(1))
//!     .shutdown();
//! let run = MockReactor::new().run(script, |reactor| {
//!     reactor.listen_tcp("0.0.0.0:80", Arc::new(EchoFactory)).unwrap();
//! });
//! run.assert_clean(); // legal order, no errors, no leaks
//! assert_eq!(run.written[0].1, b"ping");
//! ```
#![forbid(unsafe_code)]

pub use async_trait::async_trait;
pub use callorder_checker as checker;
pub use callorder_core::*;
pub use callorder_harness as harness;
pub use callorder_harness::{Conn, MockReactor, Outcome, Run, Script};
pub use callorder_trace as trace;
