//! Why a connection ended or an attempt failed.

use std::fmt;
use std::str::FromStr;

/// The reason carried by `connection_lost`, `client_connection_lost` and
/// `client_connection_failed` (trace format v1, section Reasons).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Reason {
    /// A clean close: the peer closed, or our `lose_connection` finished
    /// (Twisted's `ConnectionDone`).
    ConnectionDone,
    /// An unclean close: reset, broken pipe, an error on the socket, reactor
    /// shutdown (`ConnectionLost`).
    ConnectionLost,
    /// Our own `abort_connection` (`ConnectionAborted`).
    ConnectionAborted,
    /// The peer refused the connection (`ConnectionRefusedError`).
    ConnectionRefused,
    /// The connect timed out (`TimeoutError`, `TCPTimedOutError`).
    Timeout,
    /// The host name did not resolve (`DNSLookupError`, `UnknownHostError`).
    DnsLookup,
    /// `stop_connecting` or `disconnect` while still connecting (`UserError`).
    UserCancelled,
    /// Any other failure to connect (another `ConnectError`).
    ConnectError,
    /// Anything else, such as an exception raised by a callback.
    Other,
}

impl Reason {
    /// Every reason, in the order of the format document.
    pub const ALL: [Reason; 9] = [
        Reason::ConnectionDone,
        Reason::ConnectionLost,
        Reason::ConnectionAborted,
        Reason::ConnectionRefused,
        Reason::Timeout,
        Reason::DnsLookup,
        Reason::UserCancelled,
        Reason::ConnectError,
        Reason::Other,
    ];

    /// The name used in trace files.
    ///
    /// ```
    /// use callorder_trace::Reason;
    /// assert_eq!(Reason::UserCancelled.as_str(), "user_cancelled");
    /// assert_eq!("timeout".parse::<Reason>(), Ok(Reason::Timeout));
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::ConnectionDone => "connection_done",
            Reason::ConnectionLost => "connection_lost",
            Reason::ConnectionAborted => "connection_aborted",
            Reason::ConnectionRefused => "connection_refused",
            Reason::Timeout => "timeout",
            Reason::DnsLookup => "dns_lookup",
            Reason::UserCancelled => "user_cancelled",
            Reason::ConnectError => "connect_error",
            Reason::Other => "other",
        }
    }

    /// Whether `connection_lost` and `client_connection_lost` may carry this
    /// reason: a connection that existed ended.
    pub const fn is_loss(self) -> bool {
        matches!(
            self,
            Reason::ConnectionDone
                | Reason::ConnectionLost
                | Reason::ConnectionAborted
                | Reason::Other
        )
    }

    /// Whether `client_connection_failed` may carry this reason: an attempt
    /// that never connected.
    pub const fn is_failure(self) -> bool {
        matches!(
            self,
            Reason::ConnectionRefused
                | Reason::Timeout
                | Reason::DnsLookup
                | Reason::UserCancelled
                | Reason::ConnectError
                | Reason::Other
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of the reasons of trace format v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownReason;

impl FromStr for Reason {
    type Err = UnknownReason;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownReason)
    }
}
