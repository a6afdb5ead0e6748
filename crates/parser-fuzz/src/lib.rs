//! Stable-Rust fuzzing of callorder's parsers: proptest strategies that
//! damage real inputs a little (near-valid mutations reach the checks
//! behind the first parse error, which random bytes seldom do), and a pass
//! that runs a million of them in a test, across threads.
//!
//! - [`bytes`]: flip, insert, delete and copy bytes; cut the input short.
//! - [`json`]: drop, duplicate, retype and rename the fields of a JSON
//!   object, keeping their order.
//! - [`words`]: drop, duplicate, replace and swap the words of a line.
//! - [`lines`]: drop, duplicate, swap and cut the lines of a file.
//! - [`pass`]: runs a target over many inputs, the count and seed taken
//!   from the environment for a long run.
//!
//! ```
//! use callorder_parser_fuzz::{bytes, pass};
//! use proptest::prelude::*;
//!
//! let report = pass::run(
//!     "parse u8",
//!     &pass::Settings { inputs: 1_000, ..pass::Settings::default() },
//!     || (Just(b"42".to_vec()), bytes::edits(b"0123456789-", 3)),
//!     |(mut text, edits)| {
//!         bytes::apply_all(&mut text, &edits);
//!         // The target: never panics, whatever the bytes.
//!         let _ = std::str::from_utf8(&text).ok().and_then(|s| s.parse::<u8>().ok());
//!         Ok(())
//!     },
//! );
//! assert_eq!(report.inputs, 1_000);
//! ```
#![forbid(unsafe_code)]

pub mod bytes;
pub mod json;
pub mod lines;
pub mod pass;
pub mod words;
