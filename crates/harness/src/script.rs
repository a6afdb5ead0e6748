//! Scripts: what the world does, as data. The implementation decides
//! everything else.

use std::time::Duration;

use bytes::Bytes;
use callorder_core::Address;
use callorder_trace::EventKind;

/// How an outgoing connection attempt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The peer accepts: `build_protocol` follows.
    Accept,
    /// The peer refuses: `client_connection_failed(connection_refused)`.
    Refuse,
    /// The host name does not resolve: `client_connection_failed(dns_lookup)`.
    DnsFailure,
    /// Any other failure to connect: `client_connection_failed(connect_error)`.
    Fail,
}

/// A connection, as a script names it: the n-th outgoing attempt that
/// connected, or the n-th connection accepted on any port (both from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Conn {
    /// The connection made by the n-th outgoing attempt.
    Client(usize),
    /// The n-th accepted connection.
    Server(usize),
}

/// One thing the world does. Several make a batch: they are ready in the
/// same turn of the reactor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WorldEvent {
    /// The n-th outgoing attempt (counted from 1 over the run) resolves.
    /// Attempts the script never resolves stay unanswered until their
    /// timeout; attempts to an address this reactor listens on are accepted
    /// by the listener unless the script says otherwise.
    Resolve {
        /// Which attempt.
        attempt: usize,
        /// How it goes.
        outcome: Outcome,
    },
    /// The peer sends these bytes, as one chunk.
    Send {
        /// To whom.
        conn: Conn,
        /// The chunk ([`Bytes`]: scripts that send the same payload many
        /// times, or cut one into chunks, share it instead of copying).
        bytes: Bytes,
    },
    /// The peer closes its writing side (FIN).
    HalfClose {
        /// Which connection.
        conn: Conn,
    },
    /// The peer closes the connection cleanly.
    Close {
        /// Which connection.
        conn: Conn,
    },
    /// The peer resets the connection.
    Reset {
        /// Which connection.
        conn: Conn,
    },
    /// The peer will read only this many more bytes until the next
    /// `Window` (`None`: everything). A full window fills our write buffer,
    /// which pauses streaming producers.
    Window {
        /// Which connection.
        conn: Conn,
        /// How many bytes the peer reads.
        bytes: Option<usize>,
    },
    /// The implementation reads at most this many bytes at a time on
    /// `conn` (`None`: all that arrived): bytes from its peer (a joined
    /// implementation, or the script) come in chunks of that size, one per
    /// turn. This is how a script chooses the chunking between two joined
    /// implementations.
    ReadChunks {
        /// Which connection.
        conn: Conn,
        /// The largest chunk.
        bytes: Option<usize>,
    },
    /// Our next write to the socket fails (broken pipe).
    WriteError {
        /// Which connection.
        conn: Conn,
    },
    /// A peer connects to the n-th port listened on (from 1).
    Accept {
        /// Which port.
        port: usize,
        /// The peer's address.
        peer: Address,
    },
    /// The application stops the n-th port.
    StopListening {
        /// Which port.
        port: usize,
    },
    /// Fault injection: from this turn on, the next delivery of `callback`
    /// (to the protocol of `conn`, when given) runs as usual and then fails,
    /// as if it had returned an error. The reactor does what Twisted does
    /// when that callback raises (P7-P11, S3, C11), so a test can walk any
    /// failure path of what wraps the callback. The run lists the event in
    /// [`Run::injected`](crate::Run::injected), not as an error of the
    /// implementation. `callback` is one the implementation runs (see
    /// [`is_fault_target`]): `start_factory`/`stop_factory` fail the
    /// `do_start`/`do_stop` whose hook they are. `conn` applies to a
    /// protocol's callbacks only; a factory's callback fails at its next
    /// delivery, whichever factory.
    Fault {
        /// The callback that fails.
        callback: EventKind,
        /// Whose protocol (protocol callbacks only).
        conn: Option<Conn>,
    },
}

/// Whether fault injection can make `kind` fail: the callbacks an
/// implementation runs (not the reactor's `do_start`/`do_stop`
/// bookkeeping, whose hooks `start_factory`/`stop_factory` are the user's).
///
/// ```
/// use callorder::is_fault_target;
/// use callorder::EventKind;
/// assert!(is_fault_target(EventKind::DataReceived));
/// assert!(!is_fault_target(EventKind::DoStart));
/// assert!(!is_fault_target(EventKind::Write));
/// ```
pub fn is_fault_target(kind: EventKind) -> bool {
    kind.is_callback() && !matches!(kind, EventKind::DoStart | EventKind::DoStop)
}

/// Whether `kind` is a protocol's callback, the ones a fault can aim at one
/// connection.
pub(crate) fn is_protocol_callback(kind: EventKind) -> bool {
    use EventKind as K;
    matches!(
        kind,
        K::ConnectionMade
            | K::DataReceived
            | K::ReadConnectionLost
            | K::WriteConnectionLost
            | K::ConnectionLost
            | K::PauseProducing
            | K::ResumeProducing
            | K::StopProducing
    )
}

/// One step of a script.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// These events are ready together, in one turn.
    Batch(Vec<WorldEvent>),
    /// Virtual time passes (timers fire on the way).
    Advance(Duration),
    /// The application shuts the reactor down.
    Shutdown,
    /// Notes how much heap the implementation holds now, for the
    /// heap-growth leak check (see [`Run::heap_growth`](crate::Run::heap_growth)).
    Checkpoint,
}

/// What the world does, step by step. Build it with one method per step, in
/// the style of `tokio_test::io::Builder`.
///
/// Between steps the reactor runs until it is quiet: every delivery made,
/// every due timer run.
///
/// ```
/// use callorder::{Conn, Outcome, Script};
/// let script = Script::new()
///     .resolve(1, Outcome::Accept)
///     .send(Conn::Client(1), b"hello")
///     .close(Conn::Client(1))
///     .shutdown();
/// assert_eq!(script.steps().len(), 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    steps: Vec<Step>,
    name: Option<String>,
}

impl Script {
    /// An empty script: the world does nothing.
    pub fn new() -> Self {
        Script::default()
    }

    /// The steps, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The steps, taken out of the script.
    pub fn into_steps(self) -> Vec<Step> {
        self.steps
    }

    /// The name of the bundled implementation the script drives, if its
    /// header named one.
    pub fn implementation(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Names the bundled implementation the script drives.
    #[must_use]
    pub fn with_implementation(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Appends a raw step.
    #[must_use]
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    fn one(self, e: WorldEvent) -> Self {
        self.step(Step::Batch(vec![e]))
    }

    /// The n-th outgoing attempt resolves with `outcome`.
    #[must_use]
    pub fn resolve(self, attempt: usize, outcome: Outcome) -> Self {
        self.one(WorldEvent::Resolve { attempt, outcome })
    }

    /// The peer of `conn` sends `bytes` as one chunk.
    #[must_use]
    pub fn send(self, conn: Conn, bytes: &[u8]) -> Self {
        self.send_bytes(conn, Bytes::copy_from_slice(bytes))
    }

    /// The peer of `conn` sends `bytes` as one chunk, without copying them:
    /// a payload sent on many connections is held once, which keeps a long
    /// script small.
    ///
    /// ```
    /// use callorder::{Bytes, Conn, Script};
    /// let payload = Bytes::from(vec![b'x'; 4096]);
    /// let script = (1..=1000).fold(Script::new(), |s, n| s.send_bytes(Conn::Client(n), payload.clone()));
    /// assert_eq!(script.steps().len(), 1000);
    /// ```
    #[must_use]
    pub fn send_bytes(self, conn: Conn, bytes: Bytes) -> Self {
        self.one(WorldEvent::Send { conn, bytes })
    }

    /// The peer of `conn` sends `bytes` cut into chunks of `size` (the last
    /// may be shorter), one turn each.
    #[must_use]
    pub fn send_chunked(mut self, conn: Conn, bytes: &[u8], size: usize) -> Self {
        let bytes = Bytes::copy_from_slice(bytes);
        let size = size.max(1);
        for start in (0..bytes.len()).step_by(size) {
            let end = (start + size).min(bytes.len());
            self = self.send_bytes(conn, bytes.slice(start..end));
        }
        self
    }

    /// The peer of `conn` closes its writing side.
    #[must_use]
    pub fn half_close(self, conn: Conn) -> Self {
        self.one(WorldEvent::HalfClose { conn })
    }

    /// The peer of `conn` closes cleanly.
    #[must_use]
    pub fn close(self, conn: Conn) -> Self {
        self.one(WorldEvent::Close { conn })
    }

    /// The peer of `conn` resets the connection.
    #[must_use]
    pub fn reset(self, conn: Conn) -> Self {
        self.one(WorldEvent::Reset { conn })
    }

    /// The peer of `conn` reads `bytes` more (`None`: all).
    #[must_use]
    pub fn window(self, conn: Conn, bytes: Option<usize>) -> Self {
        self.one(WorldEvent::Window { conn, bytes })
    }

    /// `conn` reads at most `bytes` at a time (`None`: everything at once).
    /// At the head of a script, before any other step, it holds from the
    /// start for a connection the set-up is about to make.
    #[must_use]
    pub fn read_chunks(self, conn: Conn, bytes: Option<usize>) -> Self {
        self.one(WorldEvent::ReadChunks { conn, bytes })
    }

    /// The next write to the socket of `conn` fails.
    #[must_use]
    pub fn write_error(self, conn: Conn) -> Self {
        self.one(WorldEvent::WriteError { conn })
    }

    /// A peer at `peer` connects to the n-th port.
    #[must_use]
    pub fn accept(self, port: usize, peer: &str) -> Self {
        self.one(WorldEvent::Accept {
            port,
            peer: Address::new(peer),
        })
    }

    /// The application stops the n-th port.
    #[must_use]
    pub fn stop_listening(self, port: usize) -> Self {
        self.one(WorldEvent::StopListening { port })
    }

    /// From this turn on, the next `callback` of the implementation (to
    /// the protocol of `conn`, when given) fails after it runs: fault
    /// injection (see [`WorldEvent::Fault`]).
    ///
    /// ```
    /// use callorder::{Conn, Outcome, Script, Step, WorldEvent};
    /// use callorder::EventKind;
    /// // The first client's data_received fails once the bytes arrive: its
    /// // connection_lost, client_connection_lost and do_stop follow (P7).
    /// let script = Script::new()
    ///     .resolve(1, Outcome::Accept)
    ///     .fault(EventKind::DataReceived, Some(Conn::Client(1)))
    ///     .send(Conn::Client(1), b"hello\n")
    ///     .shutdown();
    /// assert_eq!(
    ///     script.steps()[1],
    ///     Step::Batch(vec![WorldEvent::Fault {
    ///         callback: EventKind::DataReceived,
    ///         conn: Some(Conn::Client(1)),
    ///     }])
    /// );
    /// ```
    #[must_use]
    pub fn fault(self, callback: EventKind, conn: Option<Conn>) -> Self {
        self.one(WorldEvent::Fault { callback, conn })
    }

    /// Several events ready in the same turn.
    #[must_use]
    pub fn batch(self, events: Vec<WorldEvent>) -> Self {
        self.step(Step::Batch(events))
    }

    /// Virtual time passes.
    #[must_use]
    pub fn advance(self, by: Duration) -> Self {
        self.step(Step::Advance(by))
    }

    /// Notes the heap the implementation holds, for the leak check: put one
    /// after some warm-up cycles and one after the measured cycles.
    #[must_use]
    pub fn checkpoint(self) -> Self {
        self.step(Step::Checkpoint)
    }

    /// The application shuts the reactor down; `shutdown`, the teardown and
    /// `end` follow.
    #[must_use]
    pub fn shutdown(self) -> Self {
        self.step(Step::Shutdown)
    }
}
