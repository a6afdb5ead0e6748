//! Who made a callback, when it was not the reactor.

use std::fmt;
use std::str::FromStr;

/// The `caller` of a callback (trace format v1, optional).
///
/// Without the field, the reactor made the callback. A recorder of a real
/// application marks the callbacks the application made itself: a test
/// calling `protocol.connectionLost(None)`, a protocol calling its
/// factory's `stopFactory()`. They are judged like any other event (they
/// really are calls in that order), and a report says who made the call,
/// and where (the record's `site`).
///
/// ```
/// use callorder_trace::Caller;
/// assert_eq!("application".parse::<Caller>(), Ok(Caller::Application));
/// assert_eq!(Caller::Application.to_string(), "application");
/// assert!("reactor".parse::<Caller>().is_err()); // absent means the reactor
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Caller {
    /// `"application"`: the application called the callback itself.
    Application,
}

impl Caller {
    /// Every caller the format defines.
    pub const ALL: [Caller; 1] = [Caller::Application];

    /// The name used in trace files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Caller::Application => "application",
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a `caller` of trace format v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCaller;

impl FromStr for Caller {
    type Err = UnknownCaller;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "application" => Ok(Caller::Application),
            _ => Err(UnknownCaller),
        }
    }
}
