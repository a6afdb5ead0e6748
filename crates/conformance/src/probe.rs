//! Probe factories: small implementations whose every behaviour a case
//! chooses (greet, echo, close, half-close, abort, raise, produce, stop
//! listening), so a case drives the reactor down one path.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Port, Protocol,
    Transport,
};

/// What a probe does. Counts are of bytes received on its connection.
#[derive(Clone, Debug, Default)]
pub struct ProbePlan {
    /// Written in `connection_made`.
    pub greet: &'static [u8],
    /// Writes back what it receives.
    pub echo: bool,
    /// `lose_connection` once this many bytes arrived.
    pub close_after: Option<usize>,
    /// `lose_write_connection` once this many bytes arrived.
    pub half_close_after: Option<usize>,
    /// `abort_connection` once this many bytes arrived.
    pub abort_after: Option<usize>,
    /// Its connector's `disconnect` once this many bytes arrived.
    pub disconnect_after: Option<usize>,
    /// Handles half-close: the peer's FIN is `read_connection_lost`, and
    /// the probe then loses the connection.
    pub half_closeable: bool,
    /// `connection_made` raises (after its greeting).
    pub raise_in_made: bool,
    /// `data_received` raises.
    pub raise_in_data: bool,
    /// As a streaming producer, writes this many bytes in 64 KiB writes,
    /// pausing when told to, then unregisters and loses the connection.
    pub produce: Option<usize>,
    /// As a pull producer, writes a 64 KiB chunk each `resume_producing`,
    /// this many bytes in all, then unregisters and loses the connection.
    pub pull: Option<usize>,
    /// `abort_connection` in `pause_producing`.
    pub abort_in_pause: bool,
    /// On data: `abort_connection`, then raises.
    pub abort_then_raise: bool,
    /// `read_connection_lost` raises (half-closeable probes).
    pub raise_in_read_lost: bool,
    /// Registers a producer on its transport in `connection_lost`, when the
    /// connection is gone (Twisted stops it at once, PR1).
    pub register_after_lost: bool,
    /// Connects again in `client_connection_failed`, this many times.
    pub retry_on_failure: usize,
    /// Connects again in `client_connection_lost`, this many times.
    pub reconnects: usize,
    /// Its connector's `stop_connecting` in `started_connecting`.
    pub stop_connecting: bool,
    /// `build_protocol` returns no protocol.
    pub build_none: bool,
    /// The server stops listening while it builds its first protocol.
    pub stop_listening_in_build: bool,
}

/// How the message of a probe's raised error begins.
pub const RAISES: &str = "the probe raises";

/// The size of a producing probe's writes.
const CHUNK: usize = 64 << 10;

/// A probe factory, for clients and servers alike.
pub struct ProbeFactory {
    plan: ProbePlan,
    /// Retries and reconnects made so far.
    again: Cell<usize>,
    port: RefCell<Option<Port>>,
    connector: Rc<RefCell<Option<Connector>>>,
}

impl ProbeFactory {
    /// A factory whose protocols follow `plan`.
    #[allow(clippy::arc_with_non_send_sync)]
    pub fn new(plan: ProbePlan) -> Arc<ProbeFactory> {
        Arc::new(ProbeFactory {
            plan,
            again: Cell::new(0),
            port: RefCell::new(None),
            connector: Rc::default(),
        })
    }

    /// The port it listens on, for `stop_listening_in_build`.
    pub fn set_port(&self, port: Port) {
        *self.port.borrow_mut() = Some(port);
    }
}

#[async_trait(?Send)]
impl Factory for ProbeFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if self.plan.stop_listening_in_build {
            if let Some(port) = self.port.borrow_mut().take() {
                port.stop_listening()?;
            }
        }
        if self.plan.build_none {
            return Ok(None);
        }
        Ok(Some(Box::new(Probe {
            plan: self.plan.clone(),
            transport: None,
            connector: self.connector.clone(),
            received: 0,
            produced: 0,
            paused: Cell::new(false),
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for ProbeFactory {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        if self.plan.stop_connecting {
            connector.stop_connecting()?;
            return Ok(());
        }
        *self.connector.borrow_mut() = Some(connector.clone());
        Ok(())
    }

    async fn client_connection_lost(
        &self,
        connector: &Connector,
        _: callorder_core::Reason,
    ) -> CallbackResult {
        if self.again.get() < self.plan.reconnects {
            self.again.set(self.again.get() + 1);
            return Ok(connector.connect()?);
        }
        // The connector is done with: the factory must not keep it (and
        // so itself) alive past the run.
        self.connector.borrow_mut().take();
        Ok(())
    }

    async fn client_connection_failed(
        &self,
        connector: &Connector,
        _: callorder_core::Reason,
    ) -> CallbackResult {
        if self.again.get() < self.plan.retry_on_failure {
            self.again.set(self.again.get() + 1);
            return Ok(connector.connect()?);
        }
        self.connector.borrow_mut().take();
        Ok(())
    }
}

/// A probe protocol.
struct Probe {
    plan: ProbePlan,
    transport: Option<Transport>,
    connector: Rc<RefCell<Option<Connector>>>,
    received: usize,
    produced: usize,
    paused: Cell<bool>,
}

impl Probe {
    fn transport(&self) -> Result<&Transport, CallbackError> {
        self.transport
            .as_ref()
            .ok_or_else(|| CallbackError::new("a callback before connection_made"))
    }

    /// One pull producer's chunk, or the end.
    fn pull(&mut self) -> CallbackResult {
        let Some(total) = self.plan.pull else {
            return Ok(());
        };
        if self.produced < total {
            let n = CHUNK.min(total - self.produced);
            self.produced += n;
            self.transport()?.write(&vec![b'q'; n])?;
        } else {
            self.transport()?.unregister_producer()?;
            self.transport()?.lose_connection()?;
        }
        Ok(())
    }

    fn produce(&mut self) -> CallbackResult {
        let Some(total) = self.plan.produce else {
            return Ok(());
        };
        while !self.paused.get() && self.produced < total {
            let n = CHUNK.min(total - self.produced);
            self.produced += n;
            if self.transport()?.write(&vec![b'p'; n])?.buffer_full {
                break; // pause_producing follows.
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
            transport.write(self.plan.greet)?;
        }
        if self.plan.raise_in_made {
            // After its greeting: a peer that read it knows the
            // connection was made.
            return Err(CallbackError::new(format!("{RAISES} in connection_made")));
        }
        if self.plan.produce.is_some() {
            transport.register_producer(true)?;
        }
        if self.plan.pull.is_some() {
            transport.register_producer(false)?;
        }
        self.transport = Some(transport);
        self.produce()
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        if self.plan.raise_in_data {
            return Err(CallbackError::new(format!("{RAISES} in data_received")));
        }
        if self.plan.abort_then_raise {
            self.transport()?.abort_connection()?;
            return Err(CallbackError::new(format!("{RAISES} after its abort")));
        }
        self.received += data.len();
        let reached = |n: Option<usize>| n.is_some_and(|n| self.received >= n);
        let (close, half, abort, disconnect) = (
            reached(self.plan.close_after),
            reached(self.plan.half_close_after),
            reached(self.plan.abort_after),
            reached(self.plan.disconnect_after),
        );
        let t = self.transport()?;
        if self.plan.echo {
            t.write(data)?;
        }
        if close {
            t.lose_connection()?;
        }
        if half {
            t.lose_write_connection()?;
        }
        if abort {
            t.abort_connection()?;
        }
        if disconnect {
            if let Some(c) = self.connector.borrow().as_ref() {
                c.disconnect()?;
            }
        }
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        self.plan.half_closeable
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        if self.plan.raise_in_read_lost {
            return Err(CallbackError::new(format!(
                "{RAISES} in read_connection_lost"
            )));
        }
        self.transport()?.lose_connection()?;
        Ok(())
    }

    async fn connection_lost(&mut self, _: callorder_core::Reason) -> CallbackResult {
        if self.plan.register_after_lost {
            self.transport()?.register_producer(true)?;
        }
        Ok(())
    }

    async fn pause_producing(&mut self) -> CallbackResult {
        self.paused.set(true);
        if self.plan.abort_in_pause {
            self.transport()?.abort_connection()?;
        }
        Ok(())
    }

    async fn resume_producing(&mut self) -> CallbackResult {
        if self.plan.pull.is_some() {
            return self.pull();
        }
        self.paused.set(false);
        self.produce()
    }
}
