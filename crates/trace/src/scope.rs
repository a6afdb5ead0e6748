//! What an `end` ends: the reactor, or one test's recording.

use std::fmt;
use std::str::FromStr;

/// The `scope` of an `end` (trace format v1, optional).
///
/// Without the field, `end` is the reactor's end. Under pytest or trial one
/// reactor serves many tests, and a recorder ends each test's trace when
/// the test's cleanup is done while the reactor runs on: that `end` says
/// `"scope":"test"`. The obligations are judged there as at any end: what
/// the test left open is owed.
///
/// ```
/// use callorder_trace::{Event, Scope, Step};
/// assert_eq!("test".parse::<Scope>(), Ok(Scope::Test));
/// assert_eq!(Scope::Test.as_str(), "test");
/// assert!("reactor".parse::<Scope>().is_err()); // absent means the reactor's end
/// let end = Step::new(9, Event::End).scope(Scope::Test);
/// assert_eq!(end.scope, Some(Scope::Test));
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Scope {
    /// `"test"`: a test's recording is over (after its cleanup); the
    /// reactor runs on.
    Test,
}

impl Scope {
    /// Every scope the format defines.
    pub const ALL: [Scope; 1] = [Scope::Test];

    /// The name used in trace files.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::Test => "test",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not a `scope` of trace format v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScope;

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "test" => Ok(Scope::Test),
            _ => Err(UnknownScope),
        }
    }
}
