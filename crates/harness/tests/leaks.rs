//! Leak checks find an implementation that keeps memory for every finished
//! connection, and objects that outlive the run. This binary installs the
//! counting allocator, and runs its cases one after another in a single test
//! so that no other test's allocations blur the counts.

#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::sync::Arc;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason,
    Transport,
};
use callorder_harness::{Conn, CountingAlloc, MockReactor, Outcome, Script, COUNTING_ALLOCATOR};

#[global_allocator]
static ALLOC: &CountingAlloc = &COUNTING_ALLOCATOR;

thread_local! {
    /// Where a leaky protocol parks what it received: a registry never
    /// emptied.
    static REGISTRY: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    /// Where a leaky client parks the factory it makes for each reconnect.
    static FACTORIES: RefCell<Vec<Arc<Spawner>>> = const { RefCell::new(Vec::new()) };
}

/// Echoes; the leaky one also keeps a copy of everything in the registry.
struct Server {
    leaky: bool,
    t: Option<Transport>,
    scratch: Vec<u8>,
}

#[async_trait(?Send)]
impl Protocol for Server {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        self.t = Some(t);
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        // Per-connection state that is freed with the protocol: not a leak.
        self.scratch.extend_from_slice(data);
        if self.leaky {
            REGISTRY.with(|r| r.borrow_mut().push(data.to_vec()));
        }
        self.t.as_ref().expect("made").write(data)?;
        Ok(())
    }
}

struct ServerFactory {
    leaky: bool,
}

#[async_trait(?Send)]
impl Factory for ServerFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Server {
            leaky: self.leaky,
            t: None,
            scratch: Vec::with_capacity(64),
        })))
    }
}

/// `cycles` connections to port 1, each: accept, 512 bytes in, close.
fn cycles(script: Script, first: usize, cycles: usize) -> Script {
    let mut s = script;
    for n in first..first + cycles {
        s = s
            .accept(1, "10.0.0.9:4000")
            .send(Conn::Server(n), &[7u8; 512])
            .close(Conn::Server(n));
    }
    s
}

fn growth(leaky: bool) -> f64 {
    const WARMUP: usize = 20;
    const MEASURED: usize = 200;
    let script = cycles(Script::new(), 1, WARMUP).checkpoint();
    let script = cycles(script, WARMUP + 1, MEASURED).checkpoint().shutdown();
    let run = MockReactor::new().run(script, |r| {
        r.listen_tcp("0.0.0.0:80", Arc::new(ServerFactory { leaky }))
            .expect("listens");
    });
    run.assert_clean();
    match run.heap_growth(MEASURED) {
        callorder_harness::HeapGrowth::Measured {
            bytes_per_cycle, ..
        } => bytes_per_cycle,
        off => panic!("{off}"),
    }
}

/// A client factory that makes a fresh factory for every reconnect and
/// parks them all in a global: the seed's "the factory instance is never
/// deleted".
struct Spawner {
    left: RefCell<usize>,
}

#[async_trait(?Send)]
impl Factory for Spawner {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(None)
    }
}

#[async_trait(?Send)]
impl ClientFactory for Spawner {
    async fn client_connection_failed(&self, connector: &Connector, _: Reason) -> CallbackResult {
        let mut left = self.left.borrow_mut();
        if *left > 0 {
            *left -= 1;
            let fresh = Arc::new(Spawner {
                left: RefCell::new(*left),
            });
            FACTORIES.with(|f| f.borrow_mut().push(fresh.clone()));
            connector.reactor().connect_tcp("10.0.0.1:80", fresh, None);
        }
        Ok(())
    }
}

#[test]
fn leak_checks_catch_kept_memory_and_kept_factories_and_pass_clean_code() {
    assert!(callorder_harness::counting_allocator_installed());

    let clean = growth(false);
    assert!(
        clean.abs() < 64.0,
        "a clean echo server keeps nothing per connection: {clean} bytes/cycle"
    );

    let leaky = growth(true);
    assert!(
        leaky >= 512.0,
        "a registry that keeps every message is a leak: {leaky} bytes/cycle"
    );

    let run = MockReactor::new().run(
        Script::new()
            .resolve(1, Outcome::Refuse)
            .resolve(2, Outcome::Refuse)
            .resolve(3, Outcome::Refuse)
            .shutdown(),
        |r| {
            r.connect_tcp(
                "10.0.0.1:80",
                Arc::new(Spawner {
                    left: RefCell::new(2),
                }),
                None,
            );
        },
    );
    let leaked: Vec<String> = run.leaks.iter().map(|l| l.object.clone()).collect();
    assert_eq!(leaked, vec!["factory f2", "factory f3"], "{:?}", run.leaks);
    assert!(run
        .leaks
        .iter()
        .all(|l| l.kept_by.starts_with("the implementation")));
}
