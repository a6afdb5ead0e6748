//! The callorder harness: a deterministic mock reactor with scriptable
//! socket events that drives any Factory/Protocol implementation, checking
//! every delivery against the legal order as it goes.
//!
//! A [`Script`] says what the world does (connects accepted or refused,
//! bytes in chunks, closes, resets, time passing); the implementation decides
//! everything else. [`MockReactor::run`] gives a [`Run`]: the trace in format
//! v1, the first violation if any, and the implementation's errors. Every
//! step must reach what it names (a `send` to a connection that never
//! existed or has ended fails the run, [`Run::script_failures`]), and every
//! step must let the reactor go quiet within its [`StepBudget`].
//!
//! ```
//! use std::sync::Arc;
//! use callorder::async_trait;
//! use callorder::{Address, CallbackError, ClientFactory, Factory, Protocol, Transport, CallbackResult};
//! use callorder::{Conn, MockReactor, Outcome, Script};
//!
//! struct Hello;
//! #[async_trait(?Send)]
//! impl Protocol for Hello {
//!     async fn connection_made(&mut self, t: Transport) -> CallbackResult {
//!         t.write(b"hello")?;
//!         t.lose_connection()?;
//!         Ok(())
//!     }
//!     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
//! }
//!
//! struct HelloFactory;
//! #[async_trait(?Send)]
//! impl Factory for HelloFactory {
//!     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
//!         Ok(Some(Box::new(Hello)))
//!     }
//! }
//! #[async_trait(?Send)]
//! impl ClientFactory for HelloFactory {}
//!
//! let run = MockReactor::new().run(
//!     Script::new().resolve(1, Outcome::Accept).shutdown(),
//!     |reactor| { reactor.connect_tcp("example.org:80", Arc::new(HelloFactory), None); },
//! );
//! run.assert_clean();
//! assert_eq!(run.written, vec![(Conn::Client(1), b"hello".to_vec())]);
//! ```
#![forbid(unsafe_code)]

mod checked;
pub mod leak;
pub mod live;
mod reactor;
mod run;
mod script;
mod script_file;
mod steps;
pub mod stream;

pub use bytes::Bytes;
pub use checked::{CheckedFactory, InnerCheck, InnerRun};
pub use leak::{counting_allocator_installed, CountingAlloc, HeapGrowth, Leak, COUNTING_ALLOCATOR};
pub use reactor::{MockReactor, StepBudget};
pub use run::{ConnStats, ImplError, ImplErrorKind, Run, ScriptFailure, ScriptFailureKind};
pub use script::{is_fault_target, Conn, Outcome, Position, Script, Step, WorldEvent};
pub use script_file::{
    parse_script, print_script, read_script_header, Expectation, ScriptError, ScriptFile,
};
pub use steps::Steps;
