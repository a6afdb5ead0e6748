//! What a run gives back.

use std::fmt;

use callorder_checker::{Violation, Warning};
use callorder_trace::{EventKind, Record, TraceWriter};

use crate::leak::{HeapGrowth, Leak};

/// How the implementation misbehaved, short of breaking the order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImplErrorKind {
    /// A callback returned an error.
    Returned,
    /// A callback panicked.
    Panicked,
    /// An action that Twisted would raise on, and that is a bug
    /// ([`ActionError::is_bug`](callorder_core::ActionError::is_bug)).
    Action,
    /// A callback never finished: the run gave up waiting for it.
    Stalled,
}

/// An error of the implementation under test, with where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImplError {
    /// What kind of error.
    pub kind: ImplErrorKind,
    /// The seq of the callback or action in the trace (for a timer, the
    /// last event before it ran).
    pub seq: u64,
    /// The event's name; `None` for a `call_later` timer, which is not in
    /// the trace.
    pub event: Option<EventKind>,
    /// What it said.
    pub message: String,
}

impl fmt::Display for ImplError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ImplErrorKind::Returned => "returned an error",
            ImplErrorKind::Panicked => "panicked",
            ImplErrorKind::Action => "was a bug",
            ImplErrorKind::Stalled => "never finished (stall)",
        };
        match self.event {
            Some(event) => write!(f, "seq {}: {event} {what}: {}", self.seq, self.message),
            None => write!(
                f,
                "after seq {}: a call_later timer {what}: {}",
                self.seq, self.message
            ),
        }
    }
}

/// The result of running a script: the trace, and everything found.
#[derive(Clone, Debug)]
pub struct Run {
    /// The trace, in format v1 (`t` in virtual seconds).
    pub trace: Vec<Record>,
    /// The checker's verdict: the first violation, if any. The run stopped
    /// there.
    pub violation: Option<Violation>,
    /// Obligations left unmet at `end` (only under the `twisted` profile).
    pub warnings: Vec<Warning>,
    /// Errors of the implementation: callbacks that failed or stalled,
    /// actions that were bugs. The run went on after each.
    pub errors: Vec<ImplError>,
    /// Bytes the implementation wrote on each connection whose peer is the
    /// script (not another implementation), by connection: clients first in
    /// attempt order, then servers in accept order.
    pub written: Vec<(crate::Conn, Vec<u8>)>,
    /// Objects that outlived their end (see [`crate::leak`]).
    pub leaks: Vec<Leak>,
    /// The heap the implementation held at each checkpoint of the script
    /// (`None`: the counting allocator is not installed).
    pub heap_checkpoints: Option<Vec<i64>>,
    /// The seqs of the callbacks the script made fail on purpose
    /// ([`WorldEvent::Fault`](crate::WorldEvent::Fault)); they carry
    /// `error` in the trace and are not errors of the implementation.
    pub injected: Vec<u64>,
}

impl Run {
    /// Whether the order was legal, the implementation raised nothing and
    /// nothing leaked.
    pub fn is_clean(&self) -> bool {
        self.violation.is_none() && self.errors.is_empty() && self.leaks.is_empty()
    }

    /// The heap-growth leak check: bytes the implementation kept per cycle
    /// between the script's first and last checkpoint, `cycles` cycles apart.
    pub fn heap_growth(&self, cycles: usize) -> HeapGrowth {
        let Some(points) = &self.heap_checkpoints else {
            return HeapGrowth::Off(
                "the counting allocator is not installed (see callorder_harness::leak)".into(),
            );
        };
        match (points.first(), points.last()) {
            (Some(a), Some(b)) if points.len() >= 2 && cycles > 0 => HeapGrowth::Measured {
                cycles,
                bytes_per_cycle: (b - a) as f64 / cycles as f64,
            },
            _ => HeapGrowth::Off(
                "the script needs two checkpoints and at least one cycle between them".into(),
            ),
        }
    }

    /// The trace as JSON Lines (trace format v1), byte for byte the same for
    /// the same script and seed.
    pub fn trace_jsonl(&self) -> String {
        let mut w = TraceWriter::new(Vec::new());
        for r in &self.trace {
            w.write(r).expect("in-memory write of finite records");
        }
        String::from_utf8(w.into_inner()).expect("the writer writes UTF-8")
    }

    /// Panics with the trace if the run had a violation or an error: for
    /// tests.
    #[track_caller]
    pub fn assert_clean(&self) {
        if self.is_clean() {
            return;
        }
        let mut msg = String::new();
        if let Some(v) = &self.violation {
            msg.push_str(&format!("violation: {v}\n"));
        }
        for e in &self.errors {
            msg.push_str(&format!("error: {e}\n"));
        }
        for l in &self.leaks {
            msg.push_str(&format!("leak: {l}\n"));
        }
        panic!("{msg}trace so far:\n{}", self.trace_jsonl());
    }
}
