//! What a run gives back.

use std::fmt;

use callorder_checker::{Object, Violation, Warning};
use callorder_trace::{EventKind, ProtocolId, Record, TraceWriter};

use crate::leak::{HeapGrowth, Leak};
use crate::script::{Conn, Position};

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
    /// The run never went quiet: one step of the script used up its budget
    /// ([`MockReactor::step_budget`](crate::MockReactor::step_budget)), and
    /// the run stopped there. The message names the step and what kept the
    /// reactor busy.
    Busy,
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
            ImplErrorKind::Busy => {
                return write!(f, "after seq {}: {}", self.seq, self.message);
            }
        };
        // Errors of no event that are not a timer's say what they are of:
        // a live run given up, a reactor task (the stream adapter's).
        let named = self.kind == ImplErrorKind::Stalled
            || self.message.starts_with("a task ")
            || self.message.starts_with("the drop of ");
        if self.event.is_none() && named {
            return write!(f, "after seq {}: {}", self.seq, self.message);
        }
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
    /// script (not another implementation), and the peer read, by
    /// connection: clients first in attempt order, then servers in arrival
    /// order (the numbering of [`Conn`]). At most [`MockReactor::written_limit`](crate::MockReactor::written_limit)
    /// bytes per connection (1 MiB unless set): the first ones; the
    /// connections whose record was cut are in [`Run::written_cut`].
    pub written: Vec<(Conn, Vec<u8>)>,
    /// The connections whose record in [`Run::written`] was cut at the
    /// limit, with how many bytes their peer read in all.
    pub written_cut: Vec<(Conn, u64)>,
    /// Every connection the run made, in the order of [`Run::written`]
    /// (clients by attempt, then servers by arrival), with its protocol and the bytes
    /// that went each way; see [`Run::bytes_written`].
    pub connections: Vec<ConnStats>,
    /// Steps of the script that failed: steps that reached nothing (an
    /// attempt, connection or port that did not exist or had ended when the
    /// step was due; a setting or a fault still waiting for its target at
    /// the end of the run; a step after the run ended), and `expect`s that
    /// did not match. They make the run unclean. With
    /// [`MockReactor::lenient`](crate::MockReactor::lenient) the steps that
    /// reached nothing are in [`Run::skipped`] instead.
    pub script_failures: Vec<ScriptFailure>,
    /// In a lenient run, the steps that reached nothing and were skipped
    /// (always empty otherwise). They do not make the run unclean.
    pub skipped: Vec<ScriptFailure>,
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
    /// Whether the order was legal, the implementation raised nothing,
    /// nothing leaked and every step of the script reached what it named
    /// (and every `expect` matched).
    pub fn is_clean(&self) -> bool {
        self.violation.is_none()
            && self.errors.is_empty()
            && self.leaks.is_empty()
            && self.script_failures.is_empty()
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

    /// Panics with the trace if the run had a violation, an error, a leak or
    /// a failed step of the script: for tests.
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
        for f in &self.script_failures {
            msg.push_str(&format!("script: {f}\n"));
        }
        for l in &self.leaks {
            msg.push_str(&format!("leak: {l}\n"));
        }
        panic!("{msg}trace so far:\n{}", self.trace_jsonl());
    }
}

impl Run {
    /// The records of events of `kind`, in trace order.
    ///
    /// ```
    /// use callorder::{EventKind, MockReactor, Script};
    /// let run = MockReactor::new().run(Script::new().shutdown(), |_| {});
    /// assert_eq!(run.events_of_kind(EventKind::Shutdown).count(), 1);
    /// assert_eq!(run.events_of_kind(EventKind::DataReceived).count(), 0);
    /// ```
    pub fn events_of_kind(&self, kind: EventKind) -> impl Iterator<Item = &Record> + '_ {
        self.trace
            .iter()
            .filter(move |r| r.step.event.kind() == kind)
    }

    /// The records of events that concern `object` (the checker's
    /// [`Object`]: a factory, connector, port or protocol), in trace order:
    /// for a protocol, its `build_protocol`, its callbacks and its actions;
    /// for a connector or a port, its events and its `do_start`/`do_stop`;
    /// for a factory, every event that names it.
    ///
    /// ```
    /// use callorder::{EventKind, FactoryId, MockReactor, Object, Script};
    /// let run = MockReactor::new().run(Script::new().shutdown(), |_| {});
    /// assert_eq!(run.events_of(Object::Factory(FactoryId(1))).count(), 0);
    /// ```
    pub fn events_of(&self, object: Object) -> impl Iterator<Item = &Record> + '_ {
        self.trace.iter().filter(move |r| {
            let e = &r.step.event;
            match object {
                Object::Factory(f) => e.factory() == Some(f),
                Object::Connector(c) => e.connector() == Some(c),
                Object::Port(l) => e.port() == Some(l),
                Object::Protocol(p) => e.protocol() == Some(p),
            }
        })
    }

    /// The records of the events of the protocol of `conn`; none if the run
    /// made no such connection.
    pub fn events_of_conn(&self, conn: Conn) -> impl Iterator<Item = &Record> + '_ {
        let protocol = self.protocol(conn);
        self.trace
            .iter()
            .filter(move |r| protocol.is_some() && r.step.event.protocol() == protocol)
    }

    /// The protocol of `conn`, if the run made that connection.
    pub fn protocol(&self, conn: Conn) -> Option<ProtocolId> {
        self.stats(conn).map(|s| s.protocol)
    }

    /// How many bytes the implementation wrote on `conn` (all of them,
    /// whoever the peer and whether it read them); `None` if the run made no
    /// such connection.
    ///
    /// ```
    /// use callorder::{Conn, MockReactor, Script};
    /// let run = MockReactor::new().run(Script::new().shutdown(), |_| {});
    /// assert_eq!(run.bytes_written(Conn::Client(1)), None);
    /// ```
    pub fn bytes_written(&self, conn: Conn) -> Option<u64> {
        self.stats(conn).map(|s| s.bytes_written)
    }

    /// How many bytes the implementation received on `conn` (in its
    /// `data_received` calls); `None` if the run made no such connection.
    pub fn bytes_received(&self, conn: Conn) -> Option<u64> {
        self.stats(conn).map(|s| s.bytes_received)
    }

    fn stats(&self, conn: Conn) -> Option<&ConnStats> {
        self.connections.iter().find(|s| s.conn == conn)
    }
}

/// One connection of a run: who it is and the bytes that went each way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnStats {
    /// How the script names it.
    pub conn: Conn,
    /// Its protocol, as the trace names it.
    pub protocol: ProtocolId,
    /// The bytes the implementation wrote on it.
    pub bytes_written: u64,
    /// The bytes the implementation received on it (`data_received`).
    pub bytes_received: u64,
}

/// How a step of the script failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptFailureKind {
    /// The step reached nothing: what it named did not exist or had ended
    /// when it was due, it was still waiting for its target at the end of
    /// the run, or it came after the run ended.
    Unreached,
    /// An `expect` found other bytes than it expected.
    Mismatch,
}

/// A step of the script that failed: which, where it came from, and why.
///
/// Its `Display` is `FILE:LINE:COL: STEP: MESSAGE` for a step of a parsed
/// script file, and `step N (STEP): MESSAGE` for one made in code (`N`
/// counting from 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptFailure {
    /// The index of the step in [`Script::steps`](crate::Script::steps), from 0.
    pub step: usize,
    /// The index of the event in its batch, from 0 (0 for a step that is not
    /// a batch).
    pub event: usize,
    /// Where the step is in its file, when it came from one.
    pub position: Option<Position>,
    /// The step as a script file writes it (long bytes cut short).
    pub statement: String,
    /// How it failed.
    pub kind: ScriptFailureKind,
    /// Why, with what existed at that moment.
    pub message: String,
}

impl fmt::Display for ScriptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.position {
            Some(at) => write!(f, "{at}: {}: {}", self.statement, self.message),
            None => write!(
                f,
                "step {} ({}): {}",
                self.step + 1,
                self.statement,
                self.message
            ),
        }
    }
}
