//! Profiles: how much of Twisted's own misbehaviour to accept.

use std::fmt;
use std::str::FromStr;

/// Which order the checker holds an implementation to.
///
/// ```
/// use callorder_checker::Profile;
/// assert_eq!("twisted".parse::<Profile>(), Ok(Profile::Twisted));
/// assert_eq!(Profile::default(), Profile::Strict);
/// ```
#[derive(Copy, Clone, PartialEq, Eq, Debug, Default, Hash)]
pub enum Profile {
    /// The clean order. Callorder's own reactors always produce it.
    #[default]
    Strict,
    /// The clean order plus what Twisted's reactor really does that breaks
    /// it: the double stop of N2 (rule `F-DOUBLE-STOP`), and obligations left
    /// unmet at `end` (P12, S4), which become warnings.
    Twisted,
}

impl Profile {
    /// The name used on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Profile::Strict => "strict",
            Profile::Twisted => "twisted",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is neither `strict` nor `twisted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownProfile(pub String);

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown profile {:?}: expected strict or twisted",
            self.0
        )
    }
}

impl std::error::Error for UnknownProfile {}

impl FromStr for Profile {
    type Err = UnknownProfile;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Profile::Strict),
            "twisted" => Ok(Profile::Twisted),
            other => Err(UnknownProfile(other.to_owned())),
        }
    }
}
