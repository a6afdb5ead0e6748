//! The `reconnecting_client_factory` scenario: Twisted's
//! `ReconnectingClientFactory` logic (back-off without jitter) with the
//! recorder's overrides. Refused three times; inside the third
//! `client_connection_failed` an echo server starts listening on the
//! target; the next retry connects, and the protocol then calls
//! `stopTrying()` and `connector.disconnect()`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason,
    TimerHandle, Transport,
};

use crate::parts::{share, Echo, SimpleFactory};

/// The retry state `ReconnectingClientFactory` keeps.
struct State {
    delay: f64,
    retries: u32,
    continue_trying: bool,
    connector: Option<Connector>,
    call: Option<TimerHandle>,
    fails: u32,
    /// Where the echo server listens, once the third failure came.
    target: String,
}

const INITIAL_DELAY: f64 = 0.05;
const FACTOR: f64 = 1.5;
const MAX_DELAY: f64 = 0.2;

impl State {
    fn reset_delay(&mut self) {
        self.delay = INITIAL_DELAY;
        self.retries = 0;
    }

    /// `stopTrying`: cancel the pending retry, and stop connecting
    /// (`NotConnectingError` swallowed, as Twisted does).
    fn stop_trying(&mut self) {
        if let Some(call) = self.call.take() {
            call.cancel();
        }
        self.continue_trying = false;
        if let Some(c) = &self.connector {
            let _ = c.stop_connecting();
        }
    }
}

/// Retries after a growing delay; shared with its protocols.
type Shared = Rc<RefCell<State>>;

fn retry(state: &Shared, connector: &Connector) {
    let mut s = state.borrow_mut();
    if !s.continue_trying {
        return;
    }
    s.retries += 1;
    s.delay = (s.delay * FACTOR).min(MAX_DELAY);
    let (c, st) = (connector.clone(), Rc::downgrade(state));
    let delay = Duration::from_secs_f64(s.delay);
    s.call = Some(connector.reactor().call_later(delay, move || {
        if let Some(st) = st.upgrade() {
            st.borrow_mut().call = None;
        }
        let _ = c.connect();
    }));
}

/// The factory.
pub(crate) struct Rcf {
    state: Shared,
    /// The driver stops the server's port at the end.
    listening: crate::Listening,
}

impl Rcf {
    /// A factory whose third failure makes an echo server listen on
    /// `target` (its port added to `listening`).
    pub(crate) fn new(target: &str, listening: crate::Listening) -> Self {
        Rcf {
            listening,
            state: Rc::new(RefCell::new(State {
                delay: INITIAL_DELAY,
                retries: 0,
                continue_trying: true,
                connector: None,
                call: None,
                fails: 0,
                target: target.to_owned(),
            })),
        }
    }
}

#[async_trait(?Send)]
impl Factory for Rcf {
    async fn build_protocol(
        &self,
        _addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Rc1 {
            state: Rc::downgrade(&self.state),
            transport: None,
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Rcf {
    async fn client_connection_failed(
        &self,
        connector: &Connector,
        _reason: Reason,
    ) -> CallbackResult {
        let (fails, target) = {
            let mut s = self.state.borrow_mut();
            s.fails += 1;
            (s.fails, s.target.clone())
        };
        if fails == 3 {
            let server = SimpleFactory::new(Echo::default).shared();
            let port = connector
                .reactor()
                .listen_tcp(Address::new(target), server)?;
            self.listening.borrow_mut().push(port);
        }
        self.state.borrow_mut().connector = Some(connector.clone());
        retry(&self.state, connector);
        Ok(())
    }

    async fn client_connection_lost(
        &self,
        connector: &Connector,
        _reason: Reason,
    ) -> CallbackResult {
        retry(&self.state, connector);
        Ok(())
    }
}

/// The recorder's `RC` protocol.
struct Rc1 {
    state: std::rc::Weak<RefCell<State>>,
    transport: Option<Transport>,
}

#[async_trait(?Send)]
impl Protocol for Rc1 {
    async fn connection_made(&mut self, transport: Transport) -> CallbackResult {
        if let Some(s) = self.state.upgrade() {
            s.borrow_mut().reset_delay();
        }
        transport.write(b"ping")?;
        self.transport = Some(transport);
        Ok(())
    }

    async fn data_received(&mut self, _data: &[u8]) -> CallbackResult {
        let Some(s) = self.state.upgrade() else {
            return Ok(());
        };
        s.borrow_mut().stop_trying();
        let connector = s.borrow().connector.clone();
        if let Some(c) = connector {
            c.disconnect()?;
        }
        Ok(())
    }
}

/// The shared factory.
pub(crate) fn factory(target: &str, listening: crate::Listening) -> std::sync::Arc<Rcf> {
    share(Rcf::new(target, listening))
}
