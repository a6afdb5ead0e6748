//! The heap mutant of the gallery, in a test binary of its own: the
//! counting allocator is installed, so the heap-growth check is on.

mod gallery;

use std::sync::Arc;

use callorder_fuzz::fuzz_server;
use callorder_reference::EchoFactory;

#[global_allocator]
static A: &callorder_harness::CountingAlloc = &callorder_harness::COUNTING_ALLOCATOR;

// One test at a time: the counters are global. Both checks live in this one
// test so that the binary never runs two campaigns at once.
#[test]
fn an_archive_of_finished_sessions_grows_the_heap_and_echo_does_not() {
    let report = fuzz_server(|| Arc::new(EchoFactory::new()))
        .name("echo_server")
        .heap_limit(gallery::HEAP_LIMIT)
        .regressions(None)
        .check();
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("heap-growth check on")),
        "{:?}",
        report.notes
    );
    let failure = gallery::session_archive().catch(0);
    println!("{failure}");
}
