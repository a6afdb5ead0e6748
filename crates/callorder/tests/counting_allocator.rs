//! The facade's one line installs the counting allocator, and the
//! heap-growth check then measures what an implementation keeps per
//! connection. A binary of its own: the counters are global.

#![allow(clippy::arc_with_non_send_sync)]

use std::cell::RefCell;
use std::sync::Arc;

use callorder::{
    async_trait, Address, CallbackError, CallbackResult, Conn, Factory, HeapGrowth, MockReactor,
    Protocol, Script,
};

callorder::install_counting_allocator!();

thread_local! {
    /// Where the hoarder parks what it received: never emptied.
    static HOARD: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Keeps a copy of every chunk it receives, after its connection is gone.
struct Hoarder;

#[async_trait(?Send)]
impl Protocol for Hoarder {
    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        HOARD.with(|h| h.borrow_mut().push(data.to_vec()));
        Ok(())
    }
}

struct HoarderFactory;

#[async_trait(?Send)]
impl Factory for HoarderFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Hoarder)))
    }
}

#[test]
fn one_line_turns_the_heap_growth_check_on() {
    assert!(callorder::counting_allocator_installed());
    let cycles = 20;
    let mut script = Script::new().checkpoint();
    for n in 1..=cycles {
        script = script
            .accept(1, "10.0.0.2:4000")
            .send(Conn::Server(n), &[1u8; 1024])
            .close(Conn::Server(n));
    }
    let run = MockReactor::new().run(script.checkpoint().shutdown(), |r| {
        r.listen_tcp("0.0.0.0:7", Arc::new(HoarderFactory)).unwrap();
    });
    run.assert_clean();
    let growth = run.heap_growth(cycles);
    let HeapGrowth::Measured {
        bytes_per_cycle, ..
    } = growth
    else {
        panic!("the check must be on with the allocator installed: {growth}");
    };
    assert!(bytes_per_cycle >= 1024.0, "{growth}");
}
