//! The life cycle both benches drive through the mock reactor (connect,
//! a 5-byte greeting, 4 chunks in, the peer's close), with either kind of
//! callbacks: `lifecycle.rs` beside its floors and Twisted's fakes,
//! `peers.rs` beside the tools that check nothing.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Reason, SyncClientFactory, SyncFactory, SyncProtocol, Transport,
};
use callorder_harness::{Bytes, Conn, MockReactor, Outcome, Script};

use async_trait::async_trait;

/// The life cycle's protocol: one write on connection_made, counts bytes.
struct Client {
    received: usize,
}

#[async_trait(?Send)]
impl Protocol for Client {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(b"hello")?;
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }
}

/// [`Client`], synchronous.
struct SyncClient {
    received: usize,
}

impl SyncProtocol for SyncClient {
    fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(b"hello")?;
        Ok(())
    }

    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }
}

/// The loop both kinds of factory run: the next connect_tcp comes from the
/// application (a zero-delay timer), as the next iteration of a loop would.
struct Loop {
    reactor: Reactor,
    server: Address,
    left: Cell<usize>,
    this: std::sync::Weak<dyn ClientFactory>,
}

impl Loop {
    fn next(&self) {
        let left = self.left.get();
        if left > 0 {
            self.left.set(left - 1);
            let me = self.this.upgrade().expect("alive");
            let reactor = self.reactor.clone();
            let server = self.server.clone();
            reactor.clone().call_later(Duration::ZERO, move || {
                reactor.connect_tcp(server, me, None);
            });
        }
    }
}

/// One factory for every life cycle, async.
struct Lifecycles(Loop);

#[async_trait(?Send)]
impl Factory for Lifecycles {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Client { received: 0 })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Lifecycles {
    async fn client_connection_lost(&self, _: &Connector, _: Reason) -> CallbackResult {
        self.0.next();
        Ok(())
    }
}

/// [`Lifecycles`], synchronous.
struct SyncLifecycles(Loop);

impl SyncFactory for SyncLifecycles {
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(SyncClient { received: 0 })))
    }
}

impl SyncClientFactory for SyncLifecycles {
    fn client_connection_lost(&self, _: &Connector, _: Reason) -> CallbackResult {
        self.0.next();
        Ok(())
    }
}

/// The sizes of the 4 chunks the peer sends.
pub const SIZES: [usize; 4] = [100, 1000, 10, 4000];

fn script(n: usize, long_run: bool) -> Script {
    let payloads: Vec<Bytes> = SIZES.iter().map(|&size| vec![b'x'; size].into()).collect();
    let mut s = Script::new();
    for i in 1..=n {
        s = s.resolve(i, Outcome::Accept);
        for (payload, size) in payloads.iter().zip(SIZES) {
            s = if long_run {
                s.send_bytes(Conn::Client(i), payload.clone())
            } else {
                s.send(Conn::Client(i), &vec![b'x'; size])
            };
        }
        s = s.close(Conn::Client(i));
    }
    s.shutdown()
}

/// `n` life cycles; `long_run`: set up as a long run (see the top);
/// `synchronous`: with the synchronous kind of callbacks.
pub fn lifecycles(n: usize, checked: bool, long_run: bool, synchronous: bool) -> Duration {
    let script = script(n, long_run);
    let mut reactor = MockReactor::new();
    if !checked {
        reactor = reactor.without_checker();
    }
    if long_run {
        reactor = reactor.keep_last(64);
    }
    let start = Instant::now();
    let run = reactor.run(script, |r| {
        let lifecycle = |this: std::sync::Weak<dyn ClientFactory>| Loop {
            reactor: r.clone(),
            server: Address::new("10.0.0.1:80"),
            left: Cell::new(n - 1),
            this,
        };
        let f: Arc<dyn ClientFactory> = if synchronous {
            Arc::new_cyclic(|me: &std::sync::Weak<SyncLifecycles>| {
                SyncLifecycles(lifecycle(me.clone()))
            })
        } else {
            Arc::new_cyclic(|me: &std::sync::Weak<Lifecycles>| Lifecycles(lifecycle(me.clone())))
        };
        r.connect_tcp("10.0.0.1:80", f, None);
    });
    let elapsed = start.elapsed();
    assert!(
        run.is_clean(),
        "the life cycles are legal: {:?}",
        run.violation
    );
    // Every life cycle ran: the last one's do_stop is the n-th.
    let last_stop = run
        .trace
        .iter()
        .rev()
        .find(|r| r.step.event.kind() == callorder_trace::EventKind::DoStop)
        .map(|r| r.step.event);
    assert!(
        matches!(last_stop, Some(callorder_trace::Event::DoStop { holder: Some(callorder_trace::Holder::Connector(c)), .. }) if c.0 == n as u64),
        "{last_stop:?}"
    );
    elapsed
}
