//! What the checker says when an order is not legal.

use std::fmt;

use callorder_trace::{Caller, ConnectorId, Event, EventKind, FactoryId, PortId, ProtocolId};

use crate::rules::Rule;

/// An object of a trace, by kind and id.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Object {
    /// A factory.
    Factory(FactoryId),
    /// A connector.
    Connector(ConnectorId),
    /// A listening port.
    Port(PortId),
    /// A protocol.
    Protocol(ProtocolId),
}

/// One past event of an object: its seq and name.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct Past {
    /// The event's seq.
    pub seq: u64,
    /// The event's name.
    pub kind: EventKind,
}

/// An event that cannot be legal, and why.
///
/// ```
/// use callorder_checker::{Checker, Rule};
/// use callorder_trace::{Event, ProtocolId, Step};
///
/// let mut checker = Checker::default();
/// let err = checker
///     .step(&Step::new(1, Event::ConnectionMade { protocol: ProtocolId(7) }))
///     .unwrap_err();
/// let violation = err.violation().unwrap();
/// assert_eq!(violation.rule, Rule::Made);
/// assert_eq!(violation.seq, 1);
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct Violation {
    /// The rule broken.
    pub rule: Rule,
    /// The seq of the offending event (the `end` line for an unmet obligation).
    pub seq: u64,
    /// The offending event's name.
    pub kind: EventKind,
    /// What happened, in words.
    pub message: String,
    /// The object the rule is about, when there is one.
    pub object: Option<Object>,
    /// That object's most recent events, oldest first.
    pub history: Vec<Past>,
    /// Events that would have been legal for that object at that point
    /// (`expected one of ... / actual ...`).
    pub expected: Vec<Event>,
    /// Who made the offending call when it was not the reactor (the step's
    /// `caller`): the application called the callback itself, and that
    /// call broke the order. It is judged like any other.
    ///
    /// ```
    /// use callorder_checker::{Checker, Rule};
    /// use callorder_trace::{Caller, Event, ProtocolId, Reason, Step};
    ///
    /// let lost = Event::ConnectionLost { protocol: ProtocolId(1), reason: Reason::ConnectionDone };
    /// let err = Checker::default().step(&Step::new(1, lost).caller(Caller::Application)).unwrap_err();
    /// let violation = err.violation().unwrap();
    /// assert_eq!(violation.caller, Some(Caller::Application));
    /// assert!(violation.to_string().ends_with("(called by the application, not the reactor)"));
    /// ```
    pub caller: Option<Caller>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seq {}: {} [{}]: {}",
            self.seq,
            self.kind,
            self.rule.id(),
            self.message
        )?;
        if let Some(caller) = self.caller {
            write!(f, " (called by the {caller}, not the reactor)")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// An obligation left unmet at `end` under the `twisted` profile, where
/// Twisted itself leaves such obligations unmet (P12, S4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Warning {
    /// The obligation.
    pub rule: Rule,
    /// The seq of the `end` line.
    pub seq: u64,
    /// What is owed, in words.
    pub message: String,
    /// The object that owes it.
    pub object: Option<Object>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seq {}: [{}] {}", self.seq, self.rule.id(), self.message)
    }
}

/// Why [`Checker::step`](crate::Checker::step) refused an event.
#[derive(Clone, PartialEq, Debug)]
pub enum CheckError {
    /// The event breaks a rule.
    Violation(Box<Violation>),
    /// More objects are alive at once than the limit allows (the format's
    /// 1,000,000 by default). Like a malformed file, this says nothing about
    /// the order.
    TooManyLiveObjects {
        /// The seq of the event that crossed the limit.
        seq: u64,
        /// The limit.
        limit: usize,
    },
    /// The trace created more distinct ids (connectors, ports and protocols)
    /// than the limit allows (10,000,000 by default). Like a malformed file,
    /// this says nothing about the order.
    TooManyIds {
        /// The seq of the event that crossed the limit.
        seq: u64,
        /// The limit.
        limit: usize,
    },
    /// A callback ran deeper inside others than the limit allows (1,000 by
    /// default). Like a malformed file, this says nothing about the order.
    TooDeep {
        /// The seq of the callback.
        seq: u64,
        /// The limit.
        limit: u32,
    },
}

impl CheckError {
    /// The violation, if this is one.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            CheckError::Violation(v) => Some(v),
            CheckError::TooManyLiveObjects { .. }
            | CheckError::TooManyIds { .. }
            | CheckError::TooDeep { .. } => None,
        }
    }

    /// The seq of the event that was refused.
    pub fn seq(&self) -> u64 {
        match self {
            CheckError::Violation(v) => v.seq,
            CheckError::TooManyLiveObjects { seq, .. }
            | CheckError::TooManyIds { seq, .. }
            | CheckError::TooDeep { seq, .. } => *seq,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Violation(v) => v.fmt(f),
            CheckError::TooManyLiveObjects { seq, limit } => {
                write!(
                    f,
                    "seq {seq}: more than {limit} objects alive at once (the live-object limit)"
                )
            }
            CheckError::TooManyIds { seq, limit } => {
                write!(
                    f,
                    "seq {seq}: more than {limit} distinct ids of connectors, ports and protocols (the distinct-id limit)"
                )
            }
            CheckError::TooDeep { seq, limit } => {
                write!(
                    f,
                    "seq {seq}: a callback nested deeper than {limit} (the nesting-depth limit)"
                )
            }
        }
    }
}

impl std::error::Error for CheckError {}

impl From<Violation> for CheckError {
    fn from(v: Violation) -> Self {
        CheckError::Violation(Box::new(v))
    }
}
