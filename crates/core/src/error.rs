//! What callbacks and actions return when they fail.

use std::fmt;

/// A callback failed: it returned this error (or panicked, which the reactor
/// turns into one). The reactor then does what Twisted does when a callback
/// raises (semantics P7-P11, S3, C11) and reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackError {
    message: String,
}

impl CallbackError {
    /// An error with this description.
    pub fn new(message: impl Into<String>) -> Self {
        CallbackError {
            message: message.into(),
        }
    }

    /// The description.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ActionError> for CallbackError {
    fn from(e: ActionError) -> Self {
        CallbackError::new(e.to_string())
    }
}

impl From<String> for CallbackError {
    fn from(message: String) -> Self {
        CallbackError { message }
    }
}

impl From<&str> for CallbackError {
    fn from(message: &str) -> Self {
        CallbackError::new(message)
    }
}

/// What every callback returns.
pub type CallbackResult = Result<(), CallbackError>;

/// An action was made in a state where it cannot work. It changed nothing
/// (the trace shows `error` on the action's event).
///
/// Some of these are bugs in the implementation and the harness reports them
/// as such ([`ActionError::is_bug`]); others callers may ignore, as Twisted's
/// own code does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionError {
    /// `connect` on a connector that is connecting or connected (Twisted
    /// raises `RuntimeError`, C9). A bug.
    AlreadyConnecting,
    /// `stop_connecting` on a connector that is not connecting
    /// (`NotConnectingError`); `ReconnectingClientFactory.stopTrying`
    /// swallows it. Not a bug.
    NotConnecting,
    /// `register_producer` while one is registered (Twisted raises). A bug.
    ProducerRegistered,
    /// A transport action after the connection is gone: a no-op in Twisted
    /// (P3). Not a bug.
    ConnectionGone,
    /// `stop_listening` on a port that already stopped. Not a bug.
    NotListening,
    /// `listen_tcp` on an address already in use (`CannotListenError`).
    AddressInUse,
    /// The handle outlived its reactor: the run it belongs to is over, and
    /// nothing it does can reach the world any more (Twisted's stopped
    /// reactor would accept the call and never run what it schedules). Not
    /// a bug.
    ReactorGone,
}

impl ActionError {
    /// Whether the harness reports this as an error of the implementation.
    pub const fn is_bug(self) -> bool {
        matches!(
            self,
            ActionError::AlreadyConnecting | ActionError::ProducerRegistered
        )
    }
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ActionError::AlreadyConnecting => {
                "can't connect in this state: the connector is connecting or connected"
            }
            ActionError::NotConnecting => "the connector is not connecting",
            ActionError::ProducerRegistered => "a producer is already registered on this transport",
            ActionError::ConnectionGone => "the connection is gone",
            ActionError::NotListening => "the port is not listening",
            ActionError::AddressInUse => "the address is already in use",
            ActionError::ReactorGone => "the reactor of this handle has ended: its run is over",
        })
    }
}

impl std::error::Error for ActionError {}
