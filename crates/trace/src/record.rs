//! A whole trace line: the step plus what only people read.

use std::sync::Arc;

use crate::caller::Caller;
use crate::data::Data;
use crate::event::Step;

/// One line of a trace file: the [`Step`] the checker judges, plus the fields
/// the order does not depend on (time, addresses, free text).
///
/// Invariant: `step.failed == error.is_some()`.
#[derive(Clone, PartialEq, Debug)]
pub struct Record {
    /// The event and where it stands.
    pub step: Step,
    /// Seconds since the trace began (`t`); never decreases.
    pub t: Option<f64>,
    /// A socket address, `host:port` (`addr`).
    /// Shared text: a reactor names the same few addresses in event after
    /// event, and recording one should not allocate.
    pub addr: Option<Arc<str>>,
    /// Free text: an exception's repr, an error message (`detail`).
    pub detail: Option<String>,
    /// What the callback or action raised (`error`); present exactly when
    /// `step.failed`.
    pub error: Option<String>,
    /// The connect timeout in seconds, on `connect_tcp` (`timeout`).
    pub timeout: Option<f64>,
    /// The bytes of a `data_received` or `write` (`data`, `data_cut`),
    /// when the recorder keeps them. Read and written on those two events
    /// only; the writer refuses data that does not fit the event's `bytes`.
    pub data: Option<Data>,
    /// Where a callback's `caller` (`step.caller`) made it, such as
    /// `test_x.py:42` (`site`). Read and written on callbacks only.
    pub site: Option<Box<str>>,
}

impl Record {
    /// A record with no optional fields.
    pub fn new(step: Step) -> Self {
        let error = step.failed.then(|| String::from("error"));
        Record {
            step,
            t: None,
            addr: None,
            detail: None,
            error,
            timeout: None,
            data: None,
            site: None,
        }
    }

    /// Marks the record as failed with this description.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.step.failed = true;
        self.error = Some(error.into());
        self
    }

    /// Keeps the bytes of a `data_received` or `write`: the first
    /// [`Data::MAX_BYTES`], cut when there were more.
    ///
    /// ```
    /// use callorder_trace::{Event, ProtocolId, Record, Step};
    /// let write = Event::Write { protocol: ProtocolId(1), bytes: 4 };
    /// let record = Record::new(Step::new(1, write)).with_data(b"ping");
    /// assert_eq!(record.data.unwrap().bytes(), b"ping");
    /// ```
    #[must_use]
    pub fn with_data(mut self, bytes: &[u8]) -> Self {
        self.data = Some(Data::new(bytes));
        self
    }

    /// Marks a callback as made by `caller` (not the reactor), at `site`
    /// if known.
    ///
    /// ```
    /// use callorder_trace::{Caller, Event, ProtocolId, Reason, Record, Step};
    /// let lost = Event::ConnectionLost { protocol: ProtocolId(1), reason: Reason::ConnectionDone };
    /// let record = Record::new(Step::new(5, lost)).called_by(Caller::Application, Some("test_x.py:42"));
    /// assert_eq!(record.step.caller, Some(Caller::Application));
    /// assert_eq!(record.site.as_deref(), Some("test_x.py:42"));
    /// ```
    #[must_use]
    pub fn called_by(mut self, caller: Caller, site: Option<&str>) -> Self {
        self.step.caller = Some(caller);
        self.site = site.map(Box::from);
        self
    }
}
