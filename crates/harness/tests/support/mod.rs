//! A configurable implementation for reactor tests: each test says how its
//! probe behaves, and the reactor's trace shows what Twisted would do.

#![allow(dead_code)]
// Factories are shared as `Arc` by the API; the mock reactor is
// single-threaded, so a probe may keep `RefCell` state.
#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Reason, Transport,
};
use callorder_harness::Run;
use callorder_trace::{EventKind, Record};

/// What a probe protocol does when data arrives.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum OnData {
    /// Nothing.
    #[default]
    Nothing,
    /// Writes the bytes back.
    Echo,
    /// Calls lose_connection.
    Lose,
    /// Calls abort_connection.
    Abort,
    /// Writes the bytes back; then, if they are these, calls
    /// abort_connection.
    EchoThenAbortOn(Vec<u8>),
    /// Returns an error.
    Fail,
    /// Panics.
    Panic,
    /// Sleeps (virtual time), then writes the bytes back.
    SleepThenEcho(Duration),
    /// Never returns.
    Stall,
    /// Writes this many bytes (to fill the buffer).
    WriteBulk(usize),
}

/// How a probe behaves.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    pub write_on_made: Option<Vec<u8>>,
    pub lose_on_made: bool,
    pub fail_on_made: bool,
    pub on_data: OnData,
    pub half_closeable: bool,
    /// On read_connection_lost: write these bytes, then lose_connection.
    pub reply_on_eof: Option<Vec<u8>>,
    pub fail_on_lost: bool,
    /// register_producer(streaming) in connection_made.
    pub producer: Option<bool>,
    /// What build_protocol does: a protocol, none, or an error.
    pub build: Build,
    /// What client_connection_failed / _lost do.
    pub on_outcome: OnOutcome,
    /// stop_connecting inside started_connecting.
    pub cancel_on_started: bool,
    /// stop_listening inside build_protocol (server).
    pub stop_listening_on_build: Option<Rc<RefCell<Option<callorder_core::Port>>>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Build {
    #[default]
    Protocol,
    None,
    Fail,
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum OnOutcome {
    #[default]
    Nothing,
    /// connector.connect() inside the callback, up to n times in all.
    Retry(usize),
    Fail,
    /// connector.connect() twice, once (a bug: the second raises).
    ConnectTwice,
}

pub struct Probe {
    b: Behaviour,
    t: Option<Transport>,
}

impl Probe {
    pub fn new(b: Behaviour) -> Self {
        Probe { b, t: None }
    }
}

#[async_trait(?Send)]
impl Protocol for Probe {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        if let Some(bytes) = &self.b.write_on_made {
            t.write(bytes)?;
        }
        if let Some(streaming) = self.b.producer {
            t.register_producer(streaming)?;
        }
        if self.b.lose_on_made {
            t.lose_connection()?;
        }
        self.t = Some(t);
        if self.b.fail_on_made {
            return Err("connection_made failed".into());
        }
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        let t = self.t.clone().expect("made");
        match &self.b.on_data {
            OnData::Nothing => {}
            OnData::Echo => {
                let _ = t.write(data);
            }
            OnData::Lose => {
                let _ = t.lose_connection();
            }
            OnData::Abort => {
                let _ = t.abort_connection();
            }
            OnData::EchoThenAbortOn(last) => {
                let _ = t.write(data);
                if data == &last[..] {
                    let _ = t.abort_connection();
                }
            }
            OnData::Fail => return Err("data_received failed".into()),
            OnData::Panic => panic!("data_received panicked"),
            OnData::SleepThenEcho(d) => {
                tokio::time::sleep(*d).await;
                let _ = t.write(data);
            }
            OnData::Stall => std::future::pending::<()>().await,
            OnData::WriteBulk(n) => {
                let _ = t.write(&vec![b'x'; *n]);
            }
        }
        Ok(())
    }

    async fn connection_lost(&mut self, _reason: Reason) -> CallbackResult {
        if self.b.fail_on_lost {
            return Err("connection_lost failed".into());
        }
        Ok(())
    }

    fn half_closeable(&self) -> bool {
        self.b.half_closeable
    }

    async fn read_connection_lost(&mut self) -> CallbackResult {
        let t = self.t.clone().expect("made");
        if let Some(reply) = &self.b.reply_on_eof {
            t.write(reply)?;
            t.lose_connection()?;
        }
        Ok(())
    }
}

/// A factory of probes, client and server.
pub struct ProbeFactory {
    pub b: Behaviour,
    pub retries: RefCell<usize>,
}

impl ProbeFactory {
    pub fn new(b: Behaviour) -> Arc<Self> {
        Arc::new(ProbeFactory {
            b,
            retries: RefCell::new(0),
        })
    }

    fn outcome(&self, connector: &Connector) -> CallbackResult {
        match self.b.on_outcome {
            OnOutcome::Nothing => Ok(()),
            OnOutcome::Retry(n) => {
                let mut r = self.retries.borrow_mut();
                if *r < n {
                    *r += 1;
                    connector.connect()?;
                }
                Ok(())
            }
            OnOutcome::Fail => Err("outcome callback failed".into()),
            OnOutcome::ConnectTwice => {
                let mut r = self.retries.borrow_mut();
                if *r == 0 {
                    *r += 1;
                    connector.connect()?;
                    let _ = connector.connect();
                }
                Ok(())
            }
        }
    }
}

#[async_trait(?Send)]
impl Factory for ProbeFactory {
    async fn build_protocol(
        &self,
        _addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if let Some(port) = &self.b.stop_listening_on_build {
            if let Some(p) = port.borrow().as_ref() {
                let _ = p.stop_listening();
            }
        }
        match self.b.build {
            Build::Protocol => Ok(Some(Box::new(Probe {
                b: self.b.clone(),
                t: None,
            }))),
            Build::None => Ok(None),
            Build::Fail => Err("build_protocol failed".into()),
        }
    }
}

#[async_trait(?Send)]
impl ClientFactory for ProbeFactory {
    async fn started_connecting(&self, connector: &Connector) -> CallbackResult {
        if self.b.cancel_on_started {
            connector.stop_connecting()?;
        }
        Ok(())
    }

    async fn client_connection_failed(
        &self,
        connector: &Connector,
        _reason: Reason,
    ) -> CallbackResult {
        self.outcome(connector)
    }

    async fn client_connection_lost(
        &self,
        connector: &Connector,
        _reason: Reason,
    ) -> CallbackResult {
        self.outcome(connector)
    }
}

/// Connects a probe client with `b` to `addr`.
pub fn client(r: &Reactor, addr: &str, b: Behaviour) -> Connector {
    r.connect_tcp(addr, ProbeFactory::new(b), None)
}

/// The events of the run, as `name(object)` strings, for compact asserts.
pub fn events(run: &Run) -> Vec<String> {
    run.trace.iter().map(describe).collect()
}

fn describe(r: &Record) -> String {
    let e = &r.step.event;
    let mut s = e.kind().to_string();
    if let Some(reason) = e.reason() {
        s.push_str(&format!("({reason})"));
    }
    if r.step.failed {
        s.push('!');
    }
    s
}

/// The kinds in trace order.
pub fn kinds(run: &Run) -> Vec<EventKind> {
    run.trace.iter().map(|r| r.step.event.kind()).collect()
}

/// The virtual time of the first event of `kind`.
pub fn time_of(run: &Run, kind: EventKind) -> Option<f64> {
    run.trace
        .iter()
        .find(|r| r.step.event.kind() == kind)
        .and_then(|r| r.t)
}
