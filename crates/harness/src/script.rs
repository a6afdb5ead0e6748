//! Scripts: what the world does, as data. The implementation decides
//! everything else.

use std::fmt;
use std::sync::Arc;
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

/// A connection, as a script names it. Both sides are numbered by the event
/// that could make the connection, counted from 1 over the run, whether or
/// not it made one:
///
/// - `Client(n)` is the connection of the n-th outgoing attempt, the same
///   `n` that [`WorldEvent::Resolve`] answers. After `resolve 1 refuse` and
///   `resolve 2 accept`, the connection is `Client(2)`, and there is no
///   `Client(1)`.
/// - `Server(n)` is the connection of the n-th peer that arrived on a port
///   of this reactor (any port, an [`WorldEvent::Accept`] of the script or a
///   client of the same reactor), once its `build_protocol` ran. When that
///   build made no protocol (it returned none or failed), there is no
///   `Server(n)`, and the next arrival is `Server(n + 1)`.
///
/// A step on a connection that does not exist, or whose `connection_lost`
/// came, reaches nothing: the run reports it ([`Run::script_failures`](crate::Run::script_failures)).
///
/// ```
/// use std::sync::Arc;
/// use callorder::{Conn, MockReactor, Outcome, Script};
/// # use async_trait::async_trait;
/// # use callorder_core::{Address, CallbackError, CallbackResult, ClientFactory, Factory, Protocol, Transport};
/// # struct Quiet;
/// # #[async_trait(?Send)]
/// # impl Protocol for Quiet {
/// #     async fn connection_made(&mut self, _: Transport) -> CallbackResult { Ok(()) }
/// #     async fn data_received(&mut self, _: &[u8]) -> CallbackResult { Ok(()) }
/// # }
/// # struct QuietFactory;
/// # #[async_trait(?Send)]
/// # impl Factory for QuietFactory {
/// #     async fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
/// #         Ok(Some(Box::new(Quiet)))
/// #     }
/// # }
/// # #[async_trait(?Send)]
/// # impl ClientFactory for QuietFactory {}
///
/// let run = MockReactor::new().run(
///     Script::new()
///         .resolve(1, Outcome::Refuse)
///         .resolve(2, Outcome::Accept)
///         .send(Conn::Client(2), b"reaches attempt 2's connection")
///         .send(Conn::Client(1), b"reaches nothing")
///         .shutdown(),
///     |r| {
///         // Two connectors: two attempts.
///         r.connect_tcp("example.org:80", Arc::new(QuietFactory), None);
///         r.connect_tcp("example.org:81", Arc::new(QuietFactory), None);
///     },
/// );
/// // Attempt 1 was refused, so there is no connection client 1.
/// assert_eq!(run.script_failures.len(), 1);
/// assert_eq!(
///     run.script_failures[0].to_string(),
///     "step 4 (send client 1 \"reaches nothing\"): no connection client 1: attempt 1 did not \
///      connect (connections so far: client 2; attempts: 2)",
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Conn {
    /// The connection of the n-th outgoing attempt.
    Client(usize),
    /// The connection of the n-th peer that arrived on a port.
    Server(usize),
}

impl fmt::Display for Conn {
    /// As a script file writes it: `client 2`, `server 1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conn::Client(n) => write!(f, "client {n}"),
            Conn::Server(n) => write!(f, "server {n}"),
        }
    }
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
    /// which pauses streaming producers. For a connection not made yet, the
    /// window is kept and holds from the connection's start (at the head of
    /// a script, before any other step, also for connections the set-up
    /// makes); one that no connection ever takes is reported at the end of
    /// the run.
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
    /// implementations. For a connection not made yet the setting is kept
    /// and holds from its start, as for [`WorldEvent::Window`].
    ReadChunks {
        /// Which connection.
        conn: Conn,
        /// The largest chunk.
        bytes: Option<usize>,
    },
    /// Our next write to the socket fails (broken pipe). One that no write
    /// meets by the end of the run reached nothing, and the run reports it.
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
    /// The peer checks what it received: the bytes the implementation wrote
    /// on `conn` and the peer read, since the connection was made or since
    /// the previous `Expect` on it, are exactly `bytes`. A mismatch is a
    /// failure of the run ([`Run::script_failures`](crate::Run::script_failures))
    /// that shows both, escaped, and the first offset where they differ.
    /// Bytes still in the write buffer (the peer's [`WorldEvent::Window`] is
    /// full) are not received yet. It also checks a connection that has
    /// ended: what it received stays known.
    Expect {
        /// Which connection (its peer must be the script).
        conn: Conn,
        /// What the peer must have received.
        bytes: Bytes,
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
    /// delivery, whichever factory. A fault that never fires by the end of
    /// the run reached nothing, and the run reports it.
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
///
/// Two scripts are equal when their steps and implementation are: where a
/// parsed script's steps came from ([`Script::position`]) is not compared.
#[derive(Clone, Debug, Default)]
pub struct Script {
    steps: Vec<Step>,
    name: Option<String>,
    origin: Option<Arc<Origin>>,
}

impl PartialEq for Script {
    fn eq(&self, other: &Self) -> bool {
        self.steps == other.steps && self.name == other.name
    }
}

/// Where the steps of a parsed script are in their file.
#[derive(Debug, Default)]
pub(crate) struct Origin {
    pub(crate) file: Arc<str>,
    /// For each step, the line and column of each of its events (one entry
    /// for a step that is not a batch).
    pub(crate) at: Vec<Vec<(usize, usize)>>,
}

/// Where a step of a script file is: `file:line:column`, as a parse error
/// names it.
///
/// ```
/// use callorder::parse_script;
/// let file = parse_script("resolve 1 accept\nbatch {\n  close client 1\n}\n", "x.script")?;
/// assert_eq!(file.script.position(1, 0).unwrap().to_string(), "x.script:3:3");
/// # Ok::<(), callorder_harness::ScriptError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The file name given to [`parse_script`](crate::parse_script).
    pub file: Arc<str>,
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1, in characters.
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
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

    /// Where event `event` of step `step` (both from 0; 0 for a step that
    /// is not a batch) is in the file the script was parsed from; `None` for
    /// a step made in code.
    pub fn position(&self, step: usize, event: usize) -> Option<Position> {
        let origin = self.origin.as_ref()?;
        let at = origin.at.get(step)?;
        let &(line, column) = at.get(event).or_else(|| at.first())?;
        Some(Position {
            file: origin.file.clone(),
            line,
            column,
        })
    }

    /// The script without the events `failures` name (a lenient run's
    /// [`Run::skipped`](crate::Run::skipped)), and without the steps that
    /// leaves empty: what a fuzzer prints after shrinking, so that the
    /// script runs under the strict default as it ran leniently (a skipped
    /// step changed nothing). Where the steps came from is not kept.
    ///
    /// ```
    /// use callorder::{Conn, MockReactor, Script};
    /// let script = Script::new().close(Conn::Client(1)).shutdown();
    /// let lenient = MockReactor::new().lenient().run(script.clone(), |_| {});
    /// let pruned = script.without(&lenient.skipped);
    /// assert_eq!(pruned, Script::new().shutdown());
    /// MockReactor::new().run(pruned, |_| {}).assert_clean();
    /// ```
    #[must_use]
    pub fn without(&self, failures: &[crate::ScriptFailure]) -> Script {
        let gone = |step: usize, event: usize| {
            failures.iter().any(|f| {
                f.step == step && (f.event == event || !matches!(self.steps[step], Step::Batch(_)))
            })
        };
        let mut steps = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                Step::Batch(events) => {
                    let kept: Vec<WorldEvent> = (events.iter().enumerate())
                        .filter(|&(j, _)| !gone(i, j))
                        .map(|(_, e)| e.clone())
                        .collect();
                    if !kept.is_empty() {
                        steps.push(Step::Batch(kept));
                    }
                }
                other if !gone(i, 0) => steps.push(other.clone()),
                _ => {}
            }
        }
        Script {
            steps,
            name: self.name.clone(),
            origin: None,
        }
    }

    /// The script with the steps' places in their file, from the parser.
    pub(crate) fn with_origin(mut self, origin: Origin) -> Self {
        self.origin = Some(Arc::new(origin));
        self
    }

    /// The steps and where they came from, for a run.
    pub(crate) fn into_parts(self) -> (Vec<Step>, Option<Arc<Origin>>) {
        (self.steps, self.origin)
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

    /// The peer of `conn` reads `bytes` more (`None`: all). For a
    /// connection not made yet it holds from its start, as
    /// [`read_chunks`](Script::read_chunks) does.
    #[must_use]
    pub fn window(self, conn: Conn, bytes: Option<usize>) -> Self {
        self.one(WorldEvent::Window { conn, bytes })
    }

    /// `conn` reads at most `bytes` at a time (`None`: everything at once).
    /// For a connection not made yet it holds from its start; at the head of
    /// a script, before any other step, also for a connection the set-up
    /// makes.
    #[must_use]
    pub fn read_chunks(self, conn: Conn, bytes: Option<usize>) -> Self {
        self.one(WorldEvent::ReadChunks { conn, bytes })
    }

    /// The peer of `conn` checks that it received exactly `bytes` since the
    /// connection was made or since the previous `expect` on it (see
    /// [`WorldEvent::Expect`]).
    ///
    /// ```
    /// use callorder::{Conn, Outcome, Script, Step, WorldEvent};
    /// let script = Script::new()
    ///     .resolve(1, Outcome::Accept)
    ///     .send(Conn::Client(1), b"ping\n")
    ///     .expect(Conn::Client(1), b"pong\n");
    /// assert_eq!(
    ///     script.steps()[2],
    ///     Step::Batch(vec![WorldEvent::Expect { conn: Conn::Client(1), bytes: "pong\n".into() }])
    /// );
    /// ```
    #[must_use]
    pub fn expect(self, conn: Conn, bytes: &[u8]) -> Self {
        self.one(WorldEvent::Expect {
            conn,
            bytes: Bytes::copy_from_slice(bytes),
        })
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
