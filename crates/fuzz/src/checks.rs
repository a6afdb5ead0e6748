//! The generic checks run on every case, as functions over a [`Run`], so
//! they can also be used on runs of your own.

use std::collections::BTreeMap;
use std::fmt;

use callorder_harness::{ImplErrorKind, Run};
use callorder_trace::{ConnectorId, Event, ProtocolId, Reason, Record};

/// Which check found a problem.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CheckKind {
    /// The checker found an illegal callback order.
    Violation,
    /// A callback panicked (or code the reactor ran for the implementation,
    /// such as a timer).
    Panic,
    /// A callback returned an error or stalled, or an action was a bug
    /// (`connect` while connecting, ...).
    ImplError,
    /// An object outlived the run.
    Leak,
    /// The implementation kept heap past the limit (only with the counting
    /// allocator installed).
    HeapGrowth,
    /// The same incoming bytes, chunked differently, gave different outgoing
    /// bytes or closes.
    ChunkingInvariance,
    /// A protocol wrote after its `abort_connection` or `connection_lost`.
    WriteAfterClose,
    /// Too many connection attempts of one connector with no time passing.
    RetryStorm,
    /// The same case and seed gave a different trace.
    Determinism,
    /// A user invariant, by its name, failed.
    Invariant(String),
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckKind::Violation => f.write_str("checker violation"),
            CheckKind::Panic => f.write_str("no panic"),
            CheckKind::ImplError => f.write_str("no implementation error"),
            CheckKind::Leak => f.write_str("no leak"),
            CheckKind::HeapGrowth => f.write_str("heap growth"),
            CheckKind::ChunkingInvariance => f.write_str("chunking invariance"),
            CheckKind::WriteAfterClose => f.write_str("write after abort/connection_lost"),
            CheckKind::RetryStorm => f.write_str("retry storm"),
            CheckKind::Determinism => f.write_str("determinism"),
            CheckKind::Invariant(name) => write!(f, "invariant {name:?}"),
        }
    }
}

/// A problem a check found in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Which check.
    pub check: CheckKind,
    /// What it found, for people.
    pub message: String,
    /// The seq of the event where it shows, if one does: the trace is shown
    /// up to there.
    pub seq: Option<u64>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.check, self.message)
    }
}

/// The checker's violation, the implementation's errors and panics, and
/// leaks of a run, in that order.
///
/// ```
/// use callorder_fuzz::checks::basic_findings;
/// use callorder_harness::{MockReactor, Script};
/// let run = MockReactor::new().run(Script::new().shutdown(), |_| {});
/// assert!(basic_findings(&run).is_empty());
/// ```
pub fn basic_findings(run: &Run) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(v) = &run.violation {
        out.push(Finding {
            check: CheckKind::Violation,
            message: v.to_string(),
            seq: Some(v.seq),
        });
    }
    for e in &run.errors {
        let check = if e.kind == ImplErrorKind::Panicked {
            CheckKind::Panic
        } else {
            CheckKind::ImplError
        };
        out.push(Finding {
            check,
            message: e.to_string(),
            seq: Some(e.seq),
        });
    }
    for l in &run.leaks {
        out.push(Finding {
            check: CheckKind::Leak,
            message: l.to_string(),
            seq: None,
        });
    }
    out
}

/// Writes of a protocol after its own `abort_connection` or after its
/// `connection_lost`: likely bugs (the bytes go nowhere), one finding per
/// protocol.
///
/// ```
/// use callorder_fuzz::checks::writes_after_close;
/// use callorder_trace::{Event, ProtocolId, Record, Step};
/// let p = ProtocolId(1);
/// let trace: Vec<Record> = [
///     Event::AbortConnection { protocol: p },
///     Event::Write { protocol: p, bytes: 3 },
/// ]
/// .into_iter()
/// .enumerate()
/// .map(|(i, e)| Record::new(Step::new(i as u64 + 1, e)))
/// .collect();
/// assert_eq!(writes_after_close(&trace).len(), 1);
/// ```
pub fn writes_after_close(trace: &[Record]) -> Vec<Finding> {
    let mut closed: BTreeMap<ProtocolId, (&'static str, u64)> = BTreeMap::new();
    let mut reported: BTreeMap<ProtocolId, ()> = BTreeMap::new();
    let mut out = Vec::new();
    for r in trace {
        match r.step.event {
            Event::AbortConnection { protocol } => {
                closed
                    .entry(protocol)
                    .or_insert(("abort_connection", r.step.seq));
            }
            Event::ConnectionLost { protocol, .. } => {
                closed
                    .entry(protocol)
                    .or_insert(("connection_lost", r.step.seq));
            }
            Event::Write { protocol, bytes } => {
                if let Some((what, at)) = closed.get(&protocol) {
                    if reported.insert(protocol, ()).is_none() {
                        out.push(Finding {
                            check: CheckKind::WriteAfterClose,
                            message: format!(
                                "protocol p{} wrote {bytes} bytes at seq {} after its {what} at seq {at}: the bytes go nowhere",
                                protocol.0, r.step.seq
                            ),
                            seq: Some(r.step.seq),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Connectors that made more than `limit` connection attempts
/// (`connect_tcp` and successful `connect` events) with no virtual time
/// passing in between.
///
/// ```
/// use callorder_fuzz::checks::retry_storms;
/// use callorder_trace::{ConnectorId, Event, Record, Step};
/// let c = ConnectorId(1);
/// let trace: Vec<Record> = (1..=12)
///     .map(|seq| {
///         let mut r = Record::new(Step::new(seq, Event::Connect { connector: c }));
///         r.t = Some(5.0);
///         r
///     })
///     .collect();
/// assert_eq!(retry_storms(&trace, 10).len(), 1);
/// assert!(retry_storms(&trace, 12).is_empty());
/// ```
pub fn retry_storms(trace: &[Record], limit: usize) -> Vec<Finding> {
    // Per connector: the time of the current run of attempts, and its length.
    let mut runs: BTreeMap<ConnectorId, (u64, usize)> = BTreeMap::new();
    let mut out = Vec::new();
    for r in trace {
        let connector = match r.step.event {
            Event::ConnectTcp { connector, .. } => connector,
            Event::Connect { connector } if !r.step.failed => connector,
            _ => continue,
        };
        let t = r.t.unwrap_or(0.0).to_bits();
        let entry = runs.entry(connector).or_insert((t, 0));
        if entry.0 != t {
            *entry = (t, 0);
        }
        entry.1 += 1;
        if entry.1 == limit + 1 {
            out.push(Finding {
                check: CheckKind::RetryStorm,
                message: format!(
                    "connector c{} made {} connection attempts at t={}s with no time passing (limit {limit}): \
                     a retry loop without a delay",
                    connector.0,
                    limit + 1,
                    r.t.unwrap_or(0.0)
                ),
                seq: Some(r.step.seq),
            });
        }
    }
    out
}

/// How each connection ended: for each protocol, in id order, the closing
/// actions it made (`lose_connection`, `lose_write_connection`,
/// `abort_connection`, each once) and the reason of its `connection_lost`.
/// What chunking invariance compares, with the bytes written.
pub fn closes(trace: &[Record]) -> BTreeMap<ProtocolId, (Vec<&'static str>, Option<Reason>)> {
    let mut out: BTreeMap<ProtocolId, (Vec<&'static str>, Option<Reason>)> = BTreeMap::new();
    for r in trace {
        let e = r.step.event;
        let action = match e {
            Event::LoseConnection { protocol }
            | Event::LoseWriteConnection { protocol }
            | Event::AbortConnection { protocol } => Some((protocol, e.kind().as_str())),
            _ => None,
        };
        if let Some((p, name)) = action {
            let entry = out.entry(p).or_default();
            if !entry.0.contains(&name) {
                entry.0.push(name);
            }
        }
        if let Event::ConnectionLost { protocol, reason } = e {
            out.entry(protocol).or_default().1 = Some(reason);
        }
    }
    out
}

/// The first line where two traces in JSON Lines differ: its number (from
/// 1) and both lines (`None`: that trace ended).
///
/// ```
/// use callorder_fuzz::checks::first_difference;
/// assert_eq!(first_difference("a\nb\n", "a\nb\n"), None);
/// assert_eq!(first_difference("a\nb\n", "a\nc\n"), Some((2, Some("b"), Some("c"))));
/// ```
pub fn first_difference<'a>(
    a: &'a str,
    b: &'a str,
) -> Option<(usize, Option<&'a str>, Option<&'a str>)> {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 0;
    loop {
        n += 1;
        match (la.next(), lb.next()) {
            (None, None) => return None,
            (x, y) if x == y => {}
            (x, y) => return Some((n, x, y)),
        }
    }
}
