//! Reference Factory/Protocol implementations for callorder.
//!
//! Each module is a small, idiomatic implementation of a classic Twisted
//! pattern, written against the traits of [`callorder_core`] and proven to
//! get its callbacks in a legal order by the tests of this crate, which run
//! every one of them under the mock reactor of `callorder-harness`:
//!
//! - [`echo`]: an echo server ([`EchoFactory`]);
//! - [`line`](mod@line): a line-based client ([`LineClientFactory`]) that sends lines
//!   and collects the lines it receives;
//! - [`reconnecting`]: Twisted's `ReconnectingClientFactory`
//!   ([`ReconnectingClientFactory`]), with its exact back-off policy;
//! - [`half_close`]: a half-close-aware protocol ([`HalfCloseFactory`]);
//! - [`wrapping`]: a middleware factory ([`WrappingFactory`]) that wraps any
//!   factory and counts the bytes its protocols move;
//! - [`streaming`]: a download server ([`StreamingFactory`]) whose streaming
//!   producer the transport pauses and resumes.
//!
//! ```
//! use std::sync::Arc;
//! use callorder_harness::{MockReactor, Script};
//! use callorder_reference::{EchoFactory, LineClientFactory};
//!
//! let client = Arc::new(LineClientFactory::new(["hello"]).close_after(1));
//! let lines = client.received();
//! let run = MockReactor::new().run(Script::new().shutdown(), |reactor| {
//!     reactor.listen_tcp("127.0.0.1:7", Arc::new(EchoFactory::new())).unwrap();
//!     reactor.connect_tcp("127.0.0.1:7", client.clone(), None);
//! });
//! run.assert_clean();
//! assert_eq!(lines.lines(), ["hello"]);
//! ```
#![forbid(unsafe_code)]

pub mod bundled;
pub mod echo;
pub mod half_close;
pub mod line;
pub mod reconnecting;
pub mod streaming;
pub mod wrapping;

pub use echo::{Echo, EchoFactory};
pub use half_close::{HalfClose, HalfCloseFactory};
pub use line::{ClientOutcome, LineClient, LineClientFactory, Outcomes, ReceivedLines};
pub use reconnecting::{ReconnectingClientFactory, RetryPolicy};
pub use streaming::{Streaming, StreamingFactory};
pub use wrapping::{ByteCounts, WrappingFactory, WrappingProtocol};
