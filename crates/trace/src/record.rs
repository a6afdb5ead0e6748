//! A whole trace line: the step plus what only people read.

use std::sync::Arc;

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
        }
    }

    /// Marks the record as failed with this description.
    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.step.failed = true;
        self.error = Some(error.into());
        self
    }
}
