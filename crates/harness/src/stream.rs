//! Ordinary tokio stream code as a callorder protocol: an async function
//! that takes a [`Stream`] (`AsyncRead + AsyncWrite + Unpin`) runs under the
//! mock reactor, from a script, or under the tokio reactor, over a socket.
//!
//! The function runs as a task of the reactor (polled by its run loop,
//! outside every callback), and its stream is a transport seen through the
//! tokio traits:
//!
//! - reads give the bytes of `data_received`, in the chunks the script (or
//!   the socket) delivered them, never two chunks in one read;
//! - a read gives end of file once the peer closed or half-closed, and an
//!   error after a reset (`ConnectionReset`) or an abort
//!   (`ConnectionAborted`);
//! - a write is the transport's `write`; it is pending while the buffer is
//!   past its high-water mark (the protocol is a streaming producer,
//!   paused), and resumes once it drained;
//! - `poll_shutdown` is `lose_write_connection` (a half-close);
//! - dropping the stream loses the connection (`lose_connection`), and so
//!   does the function's return.
//!
//! So the scripted failure paths reach code that was never written for
//! callorder:
//!
//! ```
//! use callorder::stream::stream_client;
//! use callorder::{Conn, MockReactor, Outcome, Script};
//! use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
//!
//! // Plain tokio: says HELO, reads one line.
//! async fn helo(stream: callorder::stream::Stream) -> std::io::Result<()> {
//!     let mut stream = BufReader::new(stream);
//!     stream.write_all(b"HELO\r\n").await?;
//!     let mut line = String::new();
//!     stream.read_line(&mut line).await?;
//!     Ok(())
//! }
//!
//! let client = stream_client(helo);
//! let run = MockReactor::new().run(
//!     Script::new().resolve(1, Outcome::Accept).send_chunked(Conn::Client(1), b"250 hi\r\n", 1).shutdown(),
//!     |reactor| { reactor.connect_tcp("mail.example:25", client.clone(), None); },
//! );
//! run.assert_clean();
//! assert_eq!(client.results(), [Ok(())]);
//! assert_eq!(run.written, [(Conn::Client(1), b"HELO\r\n".to_vec())]);
//! ```

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use callorder_core::{
    Address, CallbackError, CallbackResult, Connector, Protocol, Reason, SyncClientFactory,
    SyncFactory, SyncProtocol, Transport,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::reactor::spawn_task;

/// What a connection's protocol and its stream share.
#[derive(Default)]
struct Pipe {
    transport: Option<Transport>,
    /// Bytes that arrived and were not read yet, in their chunks.
    inbound: VecDeque<Bytes>,
    /// The peer closed its writing side (or the whole connection cleanly).
    eof: bool,
    /// `connection_lost` came, with this reason.
    lost: Option<Reason>,
    /// The transport's buffer is past its high-water mark.
    full: bool,
    /// `poll_shutdown` closed our writing side.
    write_closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

impl Pipe {
    fn wake_reader(&mut self) {
        if let Some(w) = self.reader.take() {
            w.wake();
        }
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    /// The error a read or write gets once the connection ended this way.
    fn error(reason: Reason) -> io::Error {
        let kind = match reason {
            Reason::ConnectionLost => io::ErrorKind::ConnectionReset,
            Reason::ConnectionAborted => io::ErrorKind::ConnectionAborted,
            _ => io::ErrorKind::BrokenPipe,
        };
        io::Error::new(kind, format!("the connection ended: {reason}"))
    }
}

/// A connection, as ordinary tokio code sees it: `AsyncRead + AsyncWrite +
/// Unpin`. Made by the adapter ([`stream_client`], [`stream_server`]) for
/// the function it runs.
pub struct Stream {
    pipe: Rc<RefCell<Pipe>>,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut pipe = self.pipe.borrow_mut();
        if let Some(front) = pipe.inbound.front_mut() {
            // One chunk at most: a read sees the chunking the world made.
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front.split_to(n));
            if front.is_empty() {
                pipe.inbound.pop_front();
            }
            return Poll::Ready(Ok(()));
        }
        match pipe.lost {
            _ if pipe.eof => Poll::Ready(Ok(())),
            Some(Reason::ConnectionDone) => Poll::Ready(Ok(())),
            Some(reason) => Poll::Ready(Err(Pipe::error(reason))),
            None => {
                pipe.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut pipe = self.pipe.borrow_mut();
        if let Some(reason) = pipe.lost {
            return Poll::Ready(Err(Pipe::error(reason)));
        }
        if pipe.write_closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if pipe.full {
            // Backpressure: until the buffer drained (resume_producing).
            pipe.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let transport = pipe.transport.clone().expect("made before it runs");
        drop(pipe);
        match transport.write(buf) {
            Ok(status) => {
                self.pipe.borrow_mut().full = status.buffer_full;
                Poll::Ready(Ok(buf.len()))
            }
            Err(e) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                e.to_string(),
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // What was written is the transport's: as a socket's kernel buffer.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut pipe = self.pipe.borrow_mut();
        if pipe.write_closed || pipe.lost.is_some() {
            return Poll::Ready(Ok(()));
        }
        pipe.write_closed = true;
        let transport = pipe.transport.clone().expect("made before it runs");
        drop(pipe);
        // The FIN goes after what was written (H3).
        let _ = transport.lose_write_connection();
        Poll::Ready(Ok(()))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        let transport = {
            let pipe = self.pipe.borrow();
            if pipe.lost.is_some() {
                return;
            }
            pipe.transport.clone()
        };
        if let Some(t) = transport {
            // A paused producer holds a close back (PR4): unregistered first.
            let _ = t.unregister_producer();
            let _ = t.lose_connection();
        }
    }
}

/// The user's function, boxed.
type Start = Rc<dyn Fn(Stream) -> Pin<Box<dyn Future<Output = io::Result<()>>>>>;

/// How each run of the function ended, in the order they ended.
type Results = Arc<Mutex<Vec<Result<(), String>>>>;

/// The protocol of one connection: it feeds the stream and runs the
/// function as a task once the connection is made.
struct StreamProtocol {
    pipe: Rc<RefCell<Pipe>>,
    start: Start,
    results: Results,
}

impl SyncProtocol for StreamProtocol {
    fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        // A streaming producer: pause and resume are the stream's
        // backpressure.
        transport.register_producer(true)?;
        self.pipe.borrow_mut().transport = Some(transport);
        let stream = Stream {
            pipe: self.pipe.clone(),
        };
        let run = (self.start)(stream);
        let results = self.results.clone();
        let task = Box::pin(async move {
            let result = run.await.map_err(|e| e.to_string());
            results
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(result);
        });
        if spawn_task(task) {
            Ok(())
        } else {
            Err(CallbackError::new(
                "the stream adapter runs only under a callorder reactor (MockReactor, TokioReactor)",
            ))
        }
    }

    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let mut pipe = self.pipe.borrow_mut();
        pipe.inbound.push_back(Bytes::copy_from_slice(data));
        pipe.wake_reader();
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        // The peer's FIN is end of file, and the stream may still write.
        true
    }

    fn read_connection_lost(&mut self) -> CallbackResult {
        let mut pipe = self.pipe.borrow_mut();
        pipe.eof = true;
        pipe.wake_reader();
        Ok(())
    }

    fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        let mut pipe = self.pipe.borrow_mut();
        pipe.lost = Some(reason);
        pipe.wake_reader();
        pipe.wake_writer();
        Ok(())
    }

    fn pause_producing(&mut self) -> CallbackResult {
        self.pipe.borrow_mut().full = true;
        Ok(())
    }

    fn resume_producing(&mut self) -> CallbackResult {
        let mut pipe = self.pipe.borrow_mut();
        pipe.full = false;
        pipe.wake_writer();
        Ok(())
    }
}

/// A factory that runs an async function on each connection's [`Stream`]:
/// for outgoing connections ([`stream_client`]) or accepted ones
/// ([`stream_server`]); it is both a [`Factory`](callorder_core::Factory) and a
/// [`ClientFactory`](callorder_core::ClientFactory), of the synchronous kind.
pub struct StreamFactory {
    start: Start,
    results: Results,
    failures: Mutex<Vec<Reason>>,
}

impl StreamFactory {
    fn new<F, Fut>(f: F) -> Arc<StreamFactory>
    where
        F: Fn(Stream) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        let start: Start = Rc::new(move |stream| Box::pin(f(stream)));
        #[allow(clippy::arc_with_non_send_sync)]
        Arc::new(StreamFactory {
            start,
            results: Arc::default(),
            failures: Mutex::default(),
        })
    }

    /// How each run of the function ended (its error as text), in the
    /// order they ended. A run still going at the end of the reactor's run
    /// is not listed.
    pub fn results(&self) -> Vec<Result<(), String>> {
        self.results
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The reasons outgoing attempts failed: the function never ran for
    /// them.
    pub fn connect_failures(&self) -> Vec<Reason> {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl SyncFactory for StreamFactory {
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(StreamProtocol {
            pipe: Rc::default(),
            start: self.start.clone(),
            results: self.results.clone(),
        })))
    }
}

impl SyncClientFactory for StreamFactory {
    fn client_connection_failed(&self, _: &Connector, reason: Reason) -> CallbackResult {
        self.failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(reason);
        Ok(())
    }
}

/// The client-side form: connect with this factory (`connect_tcp`), and
/// `f` runs on the connection's stream once it is made.
pub fn stream_client<F, Fut>(f: F) -> Arc<StreamFactory>
where
    F: Fn(Stream) -> Fut + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    StreamFactory::new(f)
}

/// The server-side form: listen with this factory (`listen_tcp`), and `f`
/// runs on each accepted connection's stream.
///
/// ```
/// use callorder::stream::{stream_server, Stream};
/// use callorder::{Conn, MockReactor, Script};
///
/// // Plain tokio: echoes until the peer's end of file.
/// async fn echo(stream: Stream) -> std::io::Result<()> {
///     let (mut r, mut w) = tokio::io::split(stream);
///     tokio::io::copy(&mut r, &mut w).await.map(|_| ())
/// }
///
/// let server = stream_server(echo);
/// let run = MockReactor::new().run(
///     Script::new().accept(1, "10.0.0.2:4000").send(Conn::Server(1), b"ping").half_close(Conn::Server(1)).shutdown(),
///     |reactor| { reactor.listen_tcp("0.0.0.0:7", server.clone()).unwrap(); },
/// );
/// run.assert_clean();
/// assert_eq!(run.written, [(Conn::Server(1), b"ping".to_vec())]);
/// assert_eq!(server.results(), [Ok(())]);
/// ```
pub fn stream_server<F, Fut>(f: F) -> Arc<StreamFactory>
where
    F: Fn(Stream) -> Fut + 'static,
    Fut: Future<Output = io::Result<()>> + 'static,
{
    StreamFactory::new(f)
}

#[cfg(test)]
mod tests {
    //! The stream's side of the pipe, polled by hand (tokio-test): what a
    //! read, a write, a shutdown and a drop do as the protocol's callbacks
    //! come.

    use std::cell::{Cell, RefCell};
    use std::rc::Rc;
    use std::sync::Arc;
    use std::time::Duration;

    use callorder_core::{
        ActionError, Address, ClientFactory, ConnectorId, Factory, PortId, ProtocolId, ReactorOps,
        Transport, WriteStatus,
    };
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_test::{assert_pending, assert_ready, assert_ready_ok, task};

    use super::*;

    /// A transport that logs the actions made on it and says the buffer is
    /// full when told to.
    #[derive(Default)]
    struct Log {
        actions: RefCell<Vec<String>>,
        full: Cell<bool>,
    }

    impl ReactorOps for Log {
        fn write(&self, _: ProtocolId, data: &[u8]) -> Result<WriteStatus, ActionError> {
            self.actions
                .borrow_mut()
                .push(format!("write {}", data.len()));
            Ok(WriteStatus {
                buffer_full: self.full.get(),
            })
        }
        fn lose_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
            self.actions.borrow_mut().push("lose_connection".into());
            Ok(())
        }
        fn lose_write_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
            self.actions
                .borrow_mut()
                .push("lose_write_connection".into());
            Ok(())
        }
        fn abort_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
            self.actions.borrow_mut().push("abort_connection".into());
            Ok(())
        }
        fn register_producer(&self, _: ProtocolId, _: bool) -> Result<(), ActionError> {
            self.actions.borrow_mut().push("register_producer".into());
            Ok(())
        }
        fn unregister_producer(&self, _: ProtocolId) -> Result<(), ActionError> {
            self.actions.borrow_mut().push("unregister_producer".into());
            Ok(())
        }
        fn pause_reading(&self, _: ProtocolId) -> Result<(), ActionError> {
            Ok(())
        }
        fn resume_reading(&self, _: ProtocolId) -> Result<(), ActionError> {
            Ok(())
        }
        fn peer(&self, _: ProtocolId) -> Address {
            Address::new("peer:1")
        }
        fn host(&self, _: ProtocolId) -> Address {
            Address::new("host:1")
        }
        fn connect(&self, _: ConnectorId) -> Result<(), ActionError> {
            Err(ActionError::NotConnecting)
        }
        fn stop_connecting(&self, _: ConnectorId) -> Result<(), ActionError> {
            Err(ActionError::NotConnecting)
        }
        fn disconnect(&self, _: ConnectorId) -> Result<(), ActionError> {
            Err(ActionError::NotConnecting)
        }
        fn destination(&self, _: ConnectorId) -> Address {
            Address::new("peer:1")
        }
        fn stop_listening(&self, _: PortId) -> Result<(), ActionError> {
            Err(ActionError::NotListening)
        }
        fn connect_tcp(
            &self,
            _: Address,
            _: Arc<dyn ClientFactory>,
            _: Option<Duration>,
        ) -> ConnectorId {
            ConnectorId(1)
        }
        fn listen_tcp(&self, _: Address, _: Arc<dyn Factory>) -> Result<PortId, ActionError> {
            Err(ActionError::AddressInUse)
        }
        fn call_later(&self, _: Duration, _: Box<dyn FnOnce()>) -> u64 {
            0
        }
        fn cancel_timer(&self, _: u64) -> bool {
            false
        }
        fn random_u64(&self) -> u64 {
            4
        }
        fn now(&self) -> Duration {
            Duration::ZERO
        }
    }

    /// A made connection's protocol and its stream, over a logging
    /// transport.
    fn made() -> (StreamProtocol, Stream, Rc<Log>) {
        let log = Rc::new(Log::default());
        let ops: Rc<dyn ReactorOps> = log.clone();
        let pipe = Rc::new(RefCell::new(Pipe {
            transport: Some(Transport::new(ProtocolId(1), ops)),
            ..Pipe::default()
        }));
        let start: Start = Rc::new(|_| Box::pin(async { Ok(()) }));
        let protocol = StreamProtocol {
            pipe: pipe.clone(),
            start,
            results: Results::default(),
        };
        (protocol, Stream { pipe }, log)
    }

    #[test]
    fn a_read_waits_for_data_received_and_takes_one_chunk() {
        let (mut protocol, mut stream, _) = made();
        let mut buf = [0u8; 16];
        let mut read = task::spawn(stream.read(&mut buf));
        assert_pending!(read.poll());
        SyncProtocol::data_received(&mut protocol, b"ab").unwrap();
        SyncProtocol::data_received(&mut protocol, b"cd").unwrap();
        assert!(read.is_woken(), "the bytes wake the reader");
        assert_eq!(assert_ready_ok!(read.poll()), 2, "one chunk per read");
        drop(read);
        assert_eq!(&buf[..2], b"ab");
        let mut read = task::spawn(stream.read(&mut buf));
        assert_eq!(assert_ready_ok!(read.poll()), 2);
    }

    #[test]
    fn a_half_close_is_end_of_file_and_a_reset_an_error() {
        let (mut protocol, mut stream, _) = made();
        let mut buf = [0u8; 4];
        SyncProtocol::read_connection_lost(&mut protocol).unwrap();
        let mut read = task::spawn(stream.read(&mut buf));
        assert_eq!(assert_ready_ok!(read.poll()), 0);
        drop(read);

        let (mut protocol, mut stream, _) = made();
        let mut read = task::spawn(stream.read(&mut buf));
        assert_pending!(read.poll());
        SyncProtocol::connection_lost(&mut protocol, Reason::ConnectionLost).unwrap();
        assert!(read.is_woken());
        let error = assert_ready!(read.poll()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn a_write_waits_while_the_buffer_is_full_and_goes_on_when_it_drained() {
        let (mut protocol, mut stream, log) = made();
        log.full.set(true);
        {
            let mut write = task::spawn(stream.write(b"first"));
            assert_eq!(assert_ready_ok!(write.poll()), 5, "taken, past the mark");
        }
        let mut write = task::spawn(stream.write(b"second"));
        assert_pending!(write.poll());
        log.full.set(false);
        SyncProtocol::resume_producing(&mut protocol).unwrap();
        assert!(write.is_woken(), "the drain wakes the writer");
        assert_eq!(assert_ready_ok!(write.poll()), 6);
        assert_eq!(*log.actions.borrow(), ["write 5", "write 6"]);
    }

    #[test]
    fn shutdown_is_lose_write_connection_and_dropping_loses_the_connection() {
        let (_protocol, mut stream, log) = made();
        let mut shutdown = task::spawn(stream.shutdown());
        assert_ready_ok!(shutdown.poll());
        drop(shutdown);
        drop(stream);
        assert_eq!(
            *log.actions.borrow(),
            [
                "lose_write_connection",
                "unregister_producer",
                "lose_connection"
            ]
        );
    }

    #[test]
    fn a_stream_dropped_after_its_connection_ended_does_nothing() {
        let (mut protocol, stream, log) = made();
        SyncProtocol::connection_lost(&mut protocol, Reason::ConnectionDone).unwrap();
        drop(stream);
        assert!(log.actions.borrow().is_empty());
    }

    #[test]
    fn outside_a_reactor_connection_made_says_where_it_runs() {
        let (mut protocol, _stream, log) = made();
        let transport = Transport::new(ProtocolId(1), log.clone() as Rc<dyn ReactorOps>);
        let error = SyncProtocol::connection_made(&mut protocol, transport).unwrap_err();
        assert!(error.message().contains("only under a callorder reactor"));
    }
}
