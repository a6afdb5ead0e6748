//! callorder: test network code written in the Factory/Protocol style and
//! prove that every object gets its callbacks in a legal order.
//!
//! This facade re-exports the crates a user needs, so one dependency is
//! enough:
//!
//! - [`trace`]: the event vocabulary and trace format v1;
//! - [`checker`]: the legal order as an executable spec.
//!
//! ```
//! use callorder::checker::{Checker, Profile};
//! let checker = Checker::new(Profile::Strict);
//! assert!(!checker.is_complete());
//! ```
#![forbid(unsafe_code)]

pub use callorder_checker as checker;
pub use callorder_trace as trace;
