//! The soak, short: sequential life cycles of one shared factory in one
//! mock reactor under the checker, set up as a long run (`keep_last`,
//! `keep_ended`, steps made as the run reaches them), keep the heap flat:
//! measured with the counting allocator between two cycles of the same
//! run, so the figure is exact and the same on every machine, not timed.
//! The long soak, with peak memory at 10k, 100k and 1M cycles, is the
//! benchmark `benches/soak.rs`.
//!
//! A test binary of its own: the counting allocator counts every thread's
//! allocations, and this file runs one test at a time.

#[global_allocator]
static ALLOCATOR: &callorder_harness::CountingAlloc = &callorder_harness::COUNTING_ALLOCATOR;

#[path = "support/soak.rs"]
mod soak;

use std::cell::RefCell;
use std::rc::Rc;

use soak::{soak, Keep};

/// Live heap bytes at cycle `from` and at cycle `to` of a soak of `cycles`.
fn heap_between(cycles: usize, from: usize, to: usize, keep: Keep) -> (i64, i64) {
    let seen: Rc<RefCell<Vec<i64>>> = Rc::default();
    let at = seen.clone();
    soak(cycles, keep, move |n| {
        if n == from || n == to {
            at.borrow_mut()
                .push(callorder_harness::leak::live_heap_bytes().expect("the counting allocator"));
        }
    });
    let seen = seen.borrow();
    (seen[0], seen[1])
}

/// The measured cycles start and end at the same place in every page and
/// block the tables allocate (512 objects, 1,024 ids, 64 records), so the
/// difference is what the cycles between them kept, not where an
/// allocation happened to fall.
const FROM: usize = 4 * 4096 + 17;
const TO: usize = 8 * 4096 + 17;

#[test]
fn a_long_run_keeps_the_heap_flat_over_sixteen_thousand_life_cycles() {
    let (from, to) = heap_between(TO + 10, FROM, TO, Keep::Little);
    let per_cycle = (to - from) as f64 / (TO - FROM) as f64;
    eprintln!(
        "long run: {} bytes over {} cycles, {per_cycle:.3} per cycle",
        to - from,
        TO - FROM
    );
    assert!(
        per_cycle <= 1.0,
        "the heap grew by {} bytes over {} cycles: {per_cycle:.2} bytes per cycle",
        to - from,
        TO - FROM
    );
    // And it would grow without the long run's settings: the measure can
    // tell.
    let (from, to) = heap_between(TO + 10, FROM, TO, Keep::Everything);
    let kept = (to - from) as f64 / (TO - FROM) as f64;
    eprintln!("every record kept: {kept:.1} bytes per cycle");
    assert!(
        kept > 100.0,
        "a run that keeps every record keeps {kept:.1} bytes per cycle"
    );
}
