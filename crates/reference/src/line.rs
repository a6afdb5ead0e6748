//! A line-based client: sends configured lines, collects the lines it
//! receives, and closes after a number of them.
//!
//! Lines are sent terminated by `"\r\n"`; received lines may end in
//! `"\r\n"` or `"\n"` and may be cut anywhere across `data_received` calls
//! (a line split over several chunks, even between its `'\r'` and `'\n'`, is
//! reassembled).
//!
//! ```
//! use std::sync::Arc;
//! use callorder_harness::{Conn, MockReactor, Outcome, Script};
//! use callorder_reference::LineClientFactory;
//!
//! let factory = Arc::new(LineClientFactory::new(["HELO", "QUIT"]).close_after(2));
//! let lines = factory.received();
//! let run = MockReactor::new().run(
//!     Script::new()
//!         .resolve(1, Outcome::Accept)
//!         .send_chunked(Conn::Client(1), b"250 hi\r\n221 bye\n", 1)
//!         .shutdown(),
//!     |reactor| {
//!         reactor.connect_tcp("mail.example:25", factory.clone(), None);
//!     },
//! );
//! run.assert_clean();
//! assert_eq!(lines.lines(), ["250 hi", "221 bye"]);
//! assert_eq!(run.written, vec![(Conn::Client(1), b"HELO\r\nQUIT\r\n".to_vec())]);
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use callorder_core::{
    Address, CallbackError, CallbackResult, Connector, Protocol, Reason, SyncClientFactory,
    SyncFactory, SyncProtocol, Transport,
};

/// Locks a mutex, ignoring poisoning (the data are plain logs).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A shared log of received lines: clone it to keep a handle for asserting
/// after a run.
#[derive(Clone, Debug, Default)]
pub struct ReceivedLines(Arc<Mutex<Vec<String>>>);

impl ReceivedLines {
    /// An empty log.
    pub fn new() -> Self {
        ReceivedLines::default()
    }

    /// The lines received so far, in order, without their terminators.
    pub fn lines(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    /// How many lines were received.
    pub fn len(&self) -> usize {
        lock(&self.0).len()
    }

    /// Whether no line was received.
    pub fn is_empty(&self) -> bool {
        lock(&self.0).is_empty()
    }

    fn push(&self, line: String) {
        lock(&self.0).push(line);
    }
}

/// How one connection attempt of a client factory ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientOutcome {
    /// `client_connection_failed` with this reason.
    Failed(Reason),
    /// `client_connection_lost` with this reason.
    Lost(Reason),
}

/// A shared log of the outcomes a client factory heard, in order.
#[derive(Clone, Debug, Default)]
pub struct Outcomes(Arc<Mutex<Vec<ClientOutcome>>>);

impl Outcomes {
    /// An empty log.
    pub fn new() -> Self {
        Outcomes::default()
    }

    /// The outcomes so far.
    pub fn all(&self) -> Vec<ClientOutcome> {
        lock(&self.0).clone()
    }

    fn push(&self, outcome: ClientOutcome) {
        lock(&self.0).push(outcome);
    }
}

/// The line client protocol: writes its lines on `connection_made`, then
/// collects received lines and calls `lose_connection` after the
/// configured number of them.
pub struct LineClient {
    to_send: Arc<[String]>,
    close_after: Option<usize>,
    received: ReceivedLines,
    transport: Option<Transport>,
    buffer: Vec<u8>,
    /// How much of `buffer` is known to hold no `'\n'`.
    scanned: usize,
    count: usize,
    closing: bool,
}

impl LineClient {
    /// A client that sends `lines`, logs what it receives into `received`,
    /// and closes after `close_after` received lines (`None`: never;
    /// `Some(0)`: right after sending).
    pub fn new(
        lines: impl IntoIterator<Item = impl Into<String>>,
        close_after: Option<usize>,
        received: ReceivedLines,
    ) -> Self {
        LineClient {
            to_send: lines.into_iter().map(Into::into).collect(),
            close_after,
            received,
            transport: None,
            buffer: Vec::new(),
            scanned: 0,
            count: 0,
            closing: false,
        }
    }

    fn transport(&self) -> Result<&Transport, CallbackError> {
        self.transport
            .as_ref()
            .ok_or_else(|| CallbackError::new("callback before connection_made"))
    }

    /// Closes the connection if the configured number of lines is reached.
    fn maybe_close(&mut self) -> CallbackResult {
        if !self.closing && self.close_after == Some(self.count) {
            self.closing = true;
            self.transport()?.lose_connection()?;
        }
        Ok(())
    }

    /// Takes the next complete line out of the buffer, if there is one.
    fn next_line(&mut self) -> Option<Vec<u8>> {
        let at = self.buffer[self.scanned..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + self.scanned);
        let Some(at) = at else {
            self.scanned = self.buffer.len();
            return None;
        };
        let mut line: Vec<u8> = self.buffer.drain(..=at).collect();
        self.scanned = 0;
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }
}

impl SyncProtocol for LineClient {
    fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        for line in self.to_send.iter() {
            let mut bytes = Vec::with_capacity(line.len() + 2);
            bytes.extend_from_slice(line.as_bytes());
            bytes.extend_from_slice(b"\r\n");
            transport.write(&bytes)?;
        }
        self.transport = Some(transport);
        self.maybe_close()
    }

    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        if self.closing {
            // Data may still arrive after lose_connection (Twisted P5).
            return Ok(());
        }
        self.buffer.extend_from_slice(data);
        while let Some(line) = self.next_line() {
            self.received
                .push(String::from_utf8_lossy(&line).into_owned());
            self.count += 1;
            self.maybe_close()?;
            if self.closing {
                break;
            }
        }
        Ok(())
    }
}

/// A client factory that builds a [`LineClient`] per connection. All its
/// connections log into the same [`ReceivedLines`], and it logs the outcome
/// of every attempt into [`Outcomes`].
#[derive(Debug)]
pub struct LineClientFactory {
    lines: Arc<[String]>,
    close_after: Option<usize>,
    received: ReceivedLines,
    outcomes: Outcomes,
}

impl LineClientFactory {
    /// A factory whose clients send `lines` and never close on their own.
    pub fn new(lines: impl IntoIterator<Item = impl Into<String>>) -> Self {
        LineClientFactory {
            lines: lines.into_iter().map(Into::into).collect(),
            close_after: None,
            received: ReceivedLines::new(),
            outcomes: Outcomes::new(),
        }
    }

    /// Its clients close the connection after receiving `n` lines
    /// (`0`: right after sending theirs).
    #[must_use]
    pub fn close_after(mut self, n: usize) -> Self {
        self.close_after = Some(n);
        self
    }

    /// A handle on the lines its clients received.
    pub fn received(&self) -> ReceivedLines {
        self.received.clone()
    }

    /// A handle on the outcomes of its attempts.
    pub fn outcomes(&self) -> Outcomes {
        self.outcomes.clone()
    }

    /// A fresh protocol, as `build_protocol` returns it.
    pub fn protocol(&self) -> LineClient {
        LineClient::new(
            self.lines.iter().cloned(),
            self.close_after,
            self.received.clone(),
        )
    }
}

impl SyncFactory for LineClientFactory {
    fn build_protocol(&self, _addr: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(self.protocol())))
    }
}

impl SyncClientFactory for LineClientFactory {
    fn client_connection_failed(&self, _connector: &Connector, reason: Reason) -> CallbackResult {
        self.outcomes.push(ClientOutcome::Failed(reason));
        Ok(())
    }

    fn client_connection_lost(&self, _connector: &Connector, reason: Reason) -> CallbackResult {
        self.outcomes.push(ClientOutcome::Lost(reason));
        Ok(())
    }
}
