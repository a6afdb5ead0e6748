//! A download server: each connection gets a blob of bytes, written by a
//! streaming producer, one chunk per turn of the reactor, that the
//! transport pauses when the peer reads too slowly and resumes when it has
//! caught up; once the blob is written it unregisters and closes.
//!
//! This is Twisted's `IPushProducer` pattern (as `FileSender` and
//! `twisted.web.static` use it): the producer writes until paused, the
//! consumer (the transport) pauses it when its buffer passes 64 KiB and
//! resumes it when the buffer drains, and stops it if the connection goes
//! first.
//!
//! ```
//! use std::sync::Arc;
//! use callorder_harness::{Conn, MockReactor, Script};
//! use callorder_reference::StreamingFactory;
//!
//! let run = MockReactor::new().run(
//!     Script::new()
//!         .window(Conn::Server(1), Some(16))     // a slow reader: the producer pauses
//!         .accept(1, "10.0.0.2:5000")
//!         .window(Conn::Server(1), None)         // it catches up: resumed, then done
//!         .shutdown(),
//!     |reactor| {
//!         reactor.listen_tcp("0.0.0.0:80", Arc::new(StreamingFactory::new(200_000))).unwrap();
//!     },
//! );
//! run.assert_clean();
//! assert!(run.events_of_kind(callorder_trace::EventKind::PauseProducing).count() >= 1);
//! assert!(run.events_of_kind(callorder_trace::EventKind::ResumeProducing).count() >= 1);
//! assert_eq!(run.written[0].1.len(), 200_000);
//! ```

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, Factory, Protocol, Reason, Transport,
};

/// How much one turn writes.
const CHUNK: usize = 16 * 1024;

/// What a connection's producer keeps between turns.
struct Download {
    transport: Transport,
    /// Bytes still to write.
    left: usize,
    paused: bool,
    /// Stopped by the transport, or the connection is gone: write nothing
    /// more.
    stopped: bool,
    /// A turn is scheduled already.
    scheduled: bool,
}

type Shared = Rc<RefCell<Download>>;

/// Schedules the next turn of `download`, unless one is scheduled.
fn schedule(download: &Shared) {
    let mut d = download.borrow_mut();
    if d.scheduled || d.paused || d.stopped || d.left == 0 {
        return;
    }
    d.scheduled = true;
    let next = download.clone();
    d.transport
        .reactor()
        .call_later(Duration::ZERO, move || turn(&next));
}

/// One turn: a chunk, then the next turn, or the end of the download.
fn turn(download: &Shared) {
    let done = {
        let mut d = download.borrow_mut();
        d.scheduled = false;
        if d.paused || d.stopped || d.left == 0 {
            return;
        }
        let n = d.left.min(CHUNK);
        d.left -= n;
        // A failed write means the connection is going: connection_lost
        // (after stop_producing) follows.
        if d.transport.write(&vec![b'x'; n]).is_err() {
            d.stopped = true;
            return;
        }
        d.left == 0
    };
    if done {
        let d = download.borrow();
        let _ = d.transport.unregister_producer();
        let _ = d.transport.lose_connection();
    } else {
        schedule(download);
    }
}

/// The protocol of one download.
pub struct Streaming {
    size: usize,
    download: Option<Shared>,
}

impl Streaming {
    /// A download of `size` bytes, not connected yet.
    pub fn new(size: usize) -> Self {
        Streaming {
            size,
            download: None,
        }
    }

    fn download(&self) -> Result<&Shared, CallbackError> {
        self.download
            .as_ref()
            .ok_or_else(|| CallbackError::new("callback before connection_made"))
    }
}

#[async_trait(?Send)]
impl Protocol for Streaming {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        transport.register_producer(true)?;
        let download = Rc::new(RefCell::new(Download {
            transport,
            left: self.size,
            paused: false,
            stopped: false,
            scheduled: false,
        }));
        schedule(&download);
        self.download = Some(download);
        Ok(())
    }

    /// What the peer says is not read: the download is the same for all.
    async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
        Ok(())
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.download()?.borrow_mut().paused = true;
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        let download = self.download()?;
        download.borrow_mut().paused = false;
        schedule(download);
        Ok(())
    }

    async fn stop_producing(&mut self) -> CallbackResult {
        self.download()?.borrow_mut().stopped = true;
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if let Some(download) = &self.download {
            download.borrow_mut().stopped = true;
        }
        // Let go of the transport, and of the turns that hold it.
        self.download = None;
        Ok(())
    }
}

/// Builds a [`Streaming`] download of the same size for every connection.
#[derive(Debug)]
pub struct StreamingFactory {
    size: usize,
}

impl StreamingFactory {
    /// Downloads of `size` bytes.
    pub fn new(size: usize) -> Self {
        StreamingFactory { size }
    }
}

#[async_trait(?Send)]
impl Factory for StreamingFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Streaming::new(self.size))))
    }
}
