//! Leak checks: objects the reactor should have let go, and memory the
//! implementation keeps for every finished connection.
//!
//! Two checks, both on by default in every run:
//!
//! - **Weak handles.** The reactor keeps a weak handle to every protocol it
//!   built and every factory the implementation created during the run (a
//!   factory per connection, the seed's story). After the run, any of them
//!   still alive is a [`Leak`], named with where it was built. (Factories the
//!   test set up are the test's to keep.)
//! - **Heap growth.** With the counting allocator installed, the reactor
//!   counts the bytes the implementation allocates and frees: inside its
//!   callbacks and timers, and when the reactor drops its objects. Memory it
//!   keeps grows with every finished connection when it parks state in a
//!   registry. [`Run::heap_growth`](crate::Run::heap_growth) gives the growth
//!   per cycle between the script's first and last
//!   [`checkpoint`](crate::Script::checkpoint). The test binary installs the
//!   allocator in one line, at the top level of the test file:
//!
//! ```
//! callorder::install_counting_allocator!();
//! # fn main() { assert!(callorder::counting_allocator_installed()); }
//! ```
//!
//! (The macro is the facade's; it expands to
//! `#[global_allocator] static CALLORDER_COUNTING_ALLOCATOR: &callorder::CountingAlloc = &callorder::COUNTING_ALLOCATOR;`.)
//!
//! Without it the heap check is off, and says so: [`HeapGrowth::Off`]. The
//! counters are global, so allocations by other threads blur the figure: run
//! heap-growth tests in a binary of their own, or with `--test-threads=1`.

use std::alloc::System;
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

pub use stats_alloc::INSTRUMENTED_SYSTEM as COUNTING_ALLOCATOR;

/// The counting allocator's type, for the `#[global_allocator]` line.
pub type CountingAlloc = stats_alloc::StatsAlloc<System>;

/// Bytes live on the heap now, if the counting allocator is installed.
pub fn live_heap_bytes() -> Option<i64> {
    if !counting_allocator_installed() {
        return None;
    }
    Some(live())
}

fn live() -> i64 {
    // Reallocations are already in these two (growth as allocated, shrinking
    // as deallocated); `bytes_reallocated` repeats them.
    let s = COUNTING_ALLOCATOR.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64
}

/// Whether the test binary installed [`COUNTING_ALLOCATOR`] as its global
/// allocator.
pub fn counting_allocator_installed() -> bool {
    let before = COUNTING_ALLOCATOR.stats().allocations;
    let probe = std::hint::black_box(Box::new([0u8; 32]));
    drop(probe);
    COUNTING_ALLOCATOR.stats().allocations != before
}

/// Measures the implementation's share of the heap: the bytes allocated
/// minus the bytes freed while its code runs (or its objects are dropped),
/// less what the reactor itself allocates when the implementation calls it.
///
/// Off (no counting allocator), it holds nothing: every callback's future
/// carries a meter, and an off one costs no reference count to make or drop.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeapMeter {
    /// The count, when on.
    held: Option<Rc<Cell<i64>>>,
}

impl HeapMeter {
    pub(crate) fn new() -> Self {
        HeapMeter {
            held: counting_allocator_installed().then(Rc::default),
        }
    }

    pub(crate) fn is_on(&self) -> bool {
        self.held.is_some()
    }

    /// Net bytes the implementation holds, as counted so far.
    pub(crate) fn held(&self) -> i64 {
        self.held.as_ref().map_or(0, |h| h.get())
    }

    /// The live-bytes reading to start a measured stretch with.
    #[inline]
    pub(crate) fn start(&self) -> i64 {
        if self.held.is_some() {
            live()
        } else {
            0
        }
    }

    /// Counts a stretch of the implementation's code begun with `start`.
    #[inline]
    pub(crate) fn stop(&self, started: i64) {
        if let Some(held) = &self.held {
            held.set(held.get() + live() - started);
        }
    }

    /// Takes back a stretch of the reactor's own code (an action the
    /// implementation called) begun with `start`.
    #[inline]
    pub(crate) fn exclude(&self, started: i64) {
        if let Some(held) = &self.held {
            held.set(held.get() - (live() - started));
        }
    }

    /// Wraps one of the implementation's callback futures so that each of
    /// its polls is counted.
    pub(crate) fn meter<F: Future + Unpin>(self, inner: F) -> Metered<F> {
        Metered { inner, meter: self }
    }
}

/// A callback future whose polls count towards the implementation's heap.
pub(crate) struct Metered<F> {
    inner: F,
    meter: HeapMeter,
}

impl<F: Future + Unpin> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let started = self.meter.start();
        let out = Pin::new(&mut self.inner).poll(cx);
        self.meter.stop(started);
        out
    }
}

/// An object that outlived its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leak {
    /// What leaked, by its trace name: `protocol p3`, `factory f7`.
    pub object: String,
    /// Where it was built: the seq of its `build_protocol`, or of the first
    /// event that named the factory.
    pub built_at: u64,
    /// Who keeps it: the reactor (a bug of callorder) or the implementation.
    pub kept_by: &'static str,
}

impl fmt::Display for Leak {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (built at seq {}) is still alive after the run: kept by {}",
            self.object, self.built_at, self.kept_by
        )
    }
}

/// What the heap-growth check found.
#[derive(Clone, Debug, PartialEq)]
pub enum HeapGrowth {
    /// The check could not run; says why (loudly: it never passes silently).
    Off(String),
    /// The implementation's heap grew by this many bytes per cycle between
    /// the first and last checkpoint.
    Measured {
        /// Cycles between the checkpoints, as the caller said.
        cycles: usize,
        /// Net bytes kept per cycle.
        bytes_per_cycle: f64,
    },
}

impl HeapGrowth {
    /// Whether the implementation keeps more than `threshold` bytes per
    /// cycle. `Off` is not a pass: this returns an error for it.
    pub fn leaks_more_than(&self, threshold: f64) -> Result<bool, String> {
        match self {
            HeapGrowth::Off(why) => Err(format!("heap-growth leak check is OFF: {why}")),
            HeapGrowth::Measured {
                bytes_per_cycle, ..
            } => Ok(*bytes_per_cycle > threshold),
        }
    }
}

impl fmt::Display for HeapGrowth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeapGrowth::Off(why) => write!(f, "heap-growth leak check OFF: {why}"),
            HeapGrowth::Measured {
                cycles,
                bytes_per_cycle,
            } => {
                write!(f, "the implementation kept {bytes_per_cycle:.1} bytes per cycle over {cycles} cycles")
            }
        }
    }
}
