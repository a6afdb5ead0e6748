//! Trace format v1 of callorder: the one event vocabulary every crate uses.
//!
//! A trace is the ordered record of what happened between a reactor and the
//! Factory/Protocol objects it drives. This crate defines its parts (object
//! ids, [`Event`]s, [`Reason`]s), and reads and writes the JSON Lines format
//! described in `docs/trace-format.md`:
//!
//! - [`TraceReader`] streams [`Record`]s from any `BufRead`, with errors that
//!   name the line, the column and what was expected, and with limits that a
//!   hostile file cannot get round;
//! - [`ParallelReader`] reads a file the same way, record for record and
//!   error for error, with its lines parsed on several threads;
//! - [`TraceWriter`] writes them back, byte for byte deterministic.
//!
//! ```
//! use callorder_trace::{Event, TraceReader};
//! let text = r#"{"seq":1,"event":"listen_tcp","factory":"f1","port":"l1"}
//! {"seq":2,"event":"end"}
//! "#;
//! let mut reader = TraceReader::new(text.as_bytes());
//! let first = reader.next().unwrap().unwrap();
//! assert!(matches!(first.step.event, Event::ListenTcp { .. }));
//! assert_eq!(reader.next().unwrap().unwrap().step.event, Event::End);
//! assert!(reader.next().is_none());
//! ```
#![forbid(unsafe_code)]

mod caller;
mod data;
mod event;
mod id;
mod read;
mod reason;
mod record;
mod scope;
mod write;

pub use caller::{Caller, UnknownCaller};
pub use data::Data;
pub use event::{Category, Event, EventKind, IdKind, Step, UnknownEvent};
pub use id::{
    name_hash, numbered_id, ConnectorId, FactoryId, Holder, PortId, ProtocolId, HASHED_ID_BIT,
};
pub use read::{Limits, ParallelReader, ReadError, ReadErrorKind, TraceReader};
pub use reason::{Reason, UnknownReason};
pub use record::Record;
pub use scope::{Scope, UnknownScope};
pub use write::{Names, NumberedNames, TraceWriter};
