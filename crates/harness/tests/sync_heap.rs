//! The heap of synchronous callbacks: the reactor calls them with no
//! future and no box, and still counts what they keep. This binary installs
//! the counting allocator and runs its cases one after another in a single
//! test, so that no other test's allocations blur the counts.

use std::cell::RefCell;
use std::sync::Arc;

use callorder::{
    async_trait, Address, Bytes, CallbackError, CallbackResult, Conn, MockReactor, Protocol,
    Script, SyncFactory, SyncProtocol, COUNTING_ALLOCATOR,
};

callorder::install_counting_allocator!();

thread_local! {
    /// Where the leaky protocol parks what it received: never emptied.
    static REGISTRY: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Counts bytes; the leaky one also parks a copy of each chunk.
struct Counter {
    leaky: bool,
    received: usize,
}

impl SyncProtocol for Counter {
    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        if self.leaky {
            REGISTRY.with(|r| r.borrow_mut().push(data.to_vec()));
        }
        Ok(())
    }
}

/// The same counter, async.
struct AsyncCounter {
    received: usize,
}

#[async_trait(?Send)]
impl Protocol for AsyncCounter {
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }
}

struct Counters {
    synchronous: bool,
    leaky: bool,
}

impl SyncFactory for Counters {
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(if self.synchronous {
            Box::new(Counter {
                leaky: self.leaky,
                received: 0,
            })
        } else {
            Box::new(AsyncCounter { received: 0 })
        }))
    }
}

/// Allocations made by a run of one connection that receives `chunks`
/// chunks of one shared payload.
fn allocations(synchronous: bool, chunks: usize) -> i64 {
    let payload = Bytes::from_static(b"0123456789");
    let mut script = Script::new().accept(1, "10.0.0.9:5000");
    for _ in 0..chunks {
        script = script.send_bytes(Conn::Server(1), payload.clone());
    }
    let script = script.close(Conn::Server(1)).shutdown();
    let factory = Arc::new(Counters {
        synchronous,
        leaky: false,
    });
    let before = COUNTING_ALLOCATOR.stats().allocations;
    let run = MockReactor::new().keep_last(16).run(script, |r| {
        r.listen_tcp("0.0.0.0:80", factory).unwrap();
    });
    let made = COUNTING_ALLOCATOR.stats().allocations - before;
    run.assert_clean();
    made as i64
}

/// Heap growth per cycle of `cycles` connections to a counter.
fn growth(leaky: bool) -> f64 {
    let cycles = 50;
    let mut script = Script::new();
    for n in 1..=cycles + 5 {
        if n == 6 {
            script = script.checkpoint();
        }
        script = script
            .accept(1, "10.0.0.9:4000")
            .send(Conn::Server(n), &[7u8; 256])
            .close(Conn::Server(n));
    }
    let run = MockReactor::new().run(script.checkpoint().shutdown(), |r| {
        r.listen_tcp(
            "0.0.0.0:80",
            Arc::new(Counters {
                synchronous: true,
                leaky,
            }),
        )
        .unwrap();
    });
    run.assert_clean();
    match run.heap_growth(cycles) {
        callorder::HeapGrowth::Measured {
            bytes_per_cycle, ..
        } => bytes_per_cycle,
        off => panic!("{off}"),
    }
}

#[test]
fn synchronous_callbacks_allocate_nothing_and_their_heap_is_counted() {
    // In a long run (the last records kept, one payload shared) the
    // reactor allocates nothing per data_received, and a synchronous one
    // costs nothing more; an async one costs its futures (the reactor's
    // owning box and the trait's).
    let extra = 400;
    let per_chunk = |synchronous| {
        let base = allocations(synchronous, 100);
        (allocations(synchronous, 100 + extra) - base) as f64 / extra as f64
    };
    let (synchronous, asynchronous) = (per_chunk(true), per_chunk(false));
    assert!(
        asynchronous - synchronous >= 2.0,
        "allocations per data_received: {synchronous} synchronous, {asynchronous} async"
    );
    assert!(
        synchronous.abs() < 0.1,
        "a synchronous data_received allocates {synchronous} times"
    );

    // What a synchronous callback keeps is still the implementation's heap.
    let kept = growth(true);
    assert!(
        kept >= 256.0,
        "the leaky counter keeps {kept} bytes a cycle"
    );
    let clean = growth(false);
    assert!(
        clean < 64.0,
        "the clean counter keeps {clean} bytes a cycle"
    );
}
