//! What the socket tests share: a probe protocol whose behaviour each test
//! sets, its factory, and loopback peers that wait for events (never for
//! time).

#![allow(dead_code)]
// The traits take `Arc`s of factories that need not be `Send`.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use callorder::{
    async_trait, Address, CallbackError, CallbackResult, ClientFactory, Event, Factory, Protocol,
    Reason, Run, Transport,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// How long a test waits for an event before it calls it a hang: only a
/// hang reaches it, on any machine.
pub const HANG: Duration = Duration::from_secs(60);

/// What a probe does.
#[derive(Clone, Default)]
pub struct Plan {
    /// Written in `connection_made`.
    pub greet: Vec<u8>,
    /// After the greeting: `lose_write_connection`.
    pub half_close: bool,
    /// After the greeting: `abort_connection`.
    pub abort: bool,
    /// `lose_connection` once this many bytes arrived.
    pub close_after: Option<usize>,
    /// Whether it handles half-close.
    pub half_closeable: bool,
    /// Registers as a streaming producer and writes chunks of this size
    /// while not paused, this many bytes in all, then loses the
    /// connection.
    pub produce: Option<(usize, usize)>,
    /// Told when the probe is paused.
    pub paused: Option<Arc<Notify>>,
    /// Told each time bytes arrive.
    pub received: Option<Arc<Notify>>,
}

/// A protocol that does what its plan says and logs what it received.
pub struct Probe {
    plan: Plan,
    transport: Option<Transport>,
    log: Rc<RefCell<Log>>,
    produced: usize,
    paused: bool,
}

/// What the probes of a factory received.
#[derive(Default, Debug)]
pub struct Log {
    pub received: Vec<u8>,
    pub lost: Vec<Reason>,
}

impl Probe {
    fn transport(&self) -> Result<&Transport, CallbackError> {
        self.transport
            .as_ref()
            .ok_or_else(|| CallbackError::new("no transport"))
    }

    /// Writes chunks until paused or done.
    fn produce(&mut self) -> CallbackResult {
        let Some((chunk, total)) = self.plan.produce else {
            return Ok(());
        };
        while !self.paused && self.produced < total {
            let n = chunk.min(total - self.produced);
            self.produced += n;
            let status = self.transport()?.write(&vec![b'x'; n])?;
            if status.buffer_full {
                // pause_producing follows after this callback returns.
                break;
            }
        }
        if self.produced >= total {
            self.transport()?.unregister_producer()?;
            self.transport()?.lose_connection()?;
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl Protocol for Probe {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        if !self.plan.greet.is_empty() {
            transport.write(&self.plan.greet)?;
        }
        if self.plan.half_close {
            transport.lose_write_connection()?;
        }
        if self.plan.abort {
            transport.abort_connection()?;
        }
        if self.plan.produce.is_some() {
            transport.register_producer(true)?;
        }
        self.transport = Some(transport);
        self.produce()
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let received = {
            let mut log = self.log.borrow_mut();
            log.received.extend_from_slice(data);
            log.received.len()
        };
        if let Some(told) = &self.plan.received {
            told.notify_one();
        }
        if self.plan.close_after.is_some_and(|n| received >= n) {
            self.transport()?.lose_connection()?;
        }
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        self.plan.half_closeable
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        self.transport()?.lose_connection()?;
        Ok(())
    }

    async fn connection_lost(&mut self, reason: Reason) -> CallbackResult {
        self.log.borrow_mut().lost.push(reason);
        Ok(())
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.paused = true;
        if let Some(paused) = &self.plan.paused {
            paused.notify_one();
        }
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        self.paused = false;
        self.produce()
    }
}

/// Builds a probe per connection, for clients and servers alike.
pub struct ProbeFactory {
    pub plan: Plan,
    pub log: Rc<RefCell<Log>>,
}

impl ProbeFactory {
    pub fn new(plan: Plan) -> Arc<Self> {
        Arc::new(ProbeFactory {
            plan,
            log: Rc::default(),
        })
    }
}

#[async_trait(?Send)]
impl Factory for ProbeFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Probe {
            plan: self.plan.clone(),
            transport: None,
            log: self.log.clone(),
            produced: 0,
            paused: false,
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for ProbeFactory {}

/// A listener on a port of the loopback the system chose.
pub async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("bound").to_string();
    (listener, addr)
}

/// Accepts one peer.
pub async fn accept(listener: &TcpListener) -> TcpStream {
    let (stream, _) = tokio::time::timeout(HANG, listener.accept())
        .await
        .expect("a peer connects")
        .expect("accept");
    stream
}

/// Reads until the peer's end of file, or an error.
pub async fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG, stream.read(&mut buf))
            .await
            .expect("the peer reads to its end")
        {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// Writes and flushes.
pub async fn send(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.expect("write");
}

/// Each event of the run as `kind` or `kind(reason)`, in order, for the
/// objects `keep` selects.
pub fn story(run: &Run, keep: impl Fn(&Event) -> bool) -> Vec<String> {
    run.trace
        .iter()
        .map(|r| &r.step.event)
        .filter(|e| keep(e))
        .map(|e| match e.reason() {
            Some(reason) => format!("{}({reason})", e.kind()),
            None => e.kind().to_string(),
        })
        .collect()
}

/// The events of protocol p`n`.
pub fn protocol_story(run: &Run, n: u64) -> Vec<String> {
    story(run, |e| e.protocol().is_some_and(|p| p.0 == n))
}
