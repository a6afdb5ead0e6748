//! The generic checks run on every case, as functions over a [`Run`], so
//! they can also be used on runs of your own.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use callorder_harness::{ImplErrorKind, InnerRun, Run};
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
    /// A protocol wrote after its `abort_connection` or `connection_lost`,
    /// or after it closed its writing side (`lose_write_connection`,
    /// `write_connection_lost`).
    WriteAfterClose,
    /// Too many connection attempts of one connector with no time passing.
    RetryStorm,
    /// The same case and seed gave a different trace.
    Determinism,
    /// A connector's delay between an outcome and its next `connect` broke
    /// the declared [`ReconnectPolicy`].
    ReconnectPolicy,
    /// A wrapping factory broke the legal order of the calls it makes into
    /// the factory it wraps and that factory's protocols (the inner boundary,
    /// checked by a [`CheckedFactory`](callorder_harness::CheckedFactory);
    /// see [`fuzz_wrapper_server`](crate::fuzz_wrapper_server)).
    InnerBoundary,
    /// A step of the script reached nothing (in a strict run: a replayed
    /// script, [`Fuzz::replay`](crate::Fuzz::replay)), or an `expect` of the
    /// script did not match.
    Script,
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
            CheckKind::WriteAfterClose => f.write_str("write after close"),
            CheckKind::RetryStorm => f.write_str("retry storm"),
            CheckKind::Determinism => f.write_str("determinism"),
            CheckKind::ReconnectPolicy => f.write_str("reconnect policy"),
            CheckKind::InnerBoundary => f.write_str("inner boundary of the wrapper"),
            CheckKind::Script => f.write_str("every step of the script reaches what it names"),
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

/// The checker's violation, the implementation's errors and panics, leaks
/// and failed steps of the script of a run, in that order.
///
/// ```
/// use callorder::checks::{basic_findings, CheckKind};
/// use callorder::{Conn, MockReactor, Script};
/// let run = MockReactor::new().run(Script::new().shutdown(), |_| {});
/// assert!(basic_findings(&run).is_empty());
/// let run = MockReactor::new().run(Script::new().close(Conn::Client(1)).shutdown(), |_| {});
/// assert_eq!(basic_findings(&run)[0].check, CheckKind::Script);
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
    for f in &run.script_failures {
        out.push(Finding {
            check: CheckKind::Script,
            message: f.to_string(),
            seq: None,
        });
    }
    out
}

/// The violations of the inner boundary of wrapping factories: one finding
/// per [`InnerRun`] whose second checker found an illegal call (the first
/// one), with the inner trace up to it in the message. `inner` holds the
/// finished inner checks of one run, one per wrapper made, in the order the
/// wrappers were made.
///
/// ```
/// use std::sync::Arc;
/// use callorder::checks::inner_boundary_findings;
/// use callorder::{CheckedFactory, MockReactor, Script};
/// use callorder::reference::{EchoFactory, WrappingFactory};
///
/// let (checked, inner) = CheckedFactory::new(EchoFactory::new());
/// MockReactor::new().run(Script::new().accept(1, "10.0.0.1:5000").shutdown(), |r| {
///     r.listen_tcp("0.0.0.0:80", Arc::new(WrappingFactory::new(checked))).unwrap();
/// });
/// assert!(inner_boundary_findings(&[inner.finish()]).is_empty());
/// ```
pub fn inner_boundary_findings(inner: &[InnerRun]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, run) in inner.iter().enumerate() {
        let Some(v) = &run.violation else { continue };
        let which = if inner.len() > 1 {
            format!(" (wrapper {} of {})", i + 1, inner.len())
        } else {
            String::new()
        };
        let trace: String = run
            .trace_jsonl()
            .lines()
            .take(v.seq as usize)
            .map(|l| format!("    {l}\n"))
            .collect();
        out.push(Finding {
            check: CheckKind::InnerBoundary,
            message: format!(
                "the wrapper broke the legal order of its calls into the factory it wraps{which}: {v}\n\
                 inner trace (the calls the wrapper made) up to there:\n{trace}"
            ),
            seq: None,
        });
    }
    out
}

/// Writes of a protocol after it closed its writing side: after its own
/// `abort_connection`, its `connection_lost`, its own
/// `lose_write_connection` or its `write_connection_lost`. Likely bugs (the
/// bytes go nowhere: Twisted drops writes after an abort, P6, and once the
/// half-closed writing side is shut, H3, which `lose_write_connection`
/// asks for as soon as the buffer drains), one finding per protocol.
///
/// ```
/// use callorder::checks::writes_after_close;
/// use callorder::trace::{Event, ProtocolId, Record, Step};
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
///
/// // A half-close is a close of the writing side too.
/// let trace: Vec<Record> = [
///     Event::LoseWriteConnection { protocol: p },
///     Event::Write { protocol: p, bytes: 3 },
/// ]
/// .into_iter()
/// .enumerate()
/// .map(|(i, e)| Record::new(Step::new(i as u64 + 1, e)))
/// .collect();
/// assert!(writes_after_close(&trace)[0].message.contains("after its lose_write_connection"));
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
            // A half-close that failed (the connection was gone) closed
            // nothing of its own; the loss that made it fail is recorded.
            Event::LoseWriteConnection { protocol } if !r.step.failed => {
                closed
                    .entry(protocol)
                    .or_insert(("lose_write_connection", r.step.seq));
            }
            Event::WriteConnectionLost { protocol } => {
                closed
                    .entry(protocol)
                    .or_insert(("write_connection_lost", r.step.seq));
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
/// use callorder::checks::retry_storms;
/// use callorder::trace::{ConnectorId, Event, Record, Step};
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
/// use callorder::checks::first_difference;
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

/// A declared reconnect policy: exponential back-off from `initial`, times
/// `factor` per retry, capped at `cap`, optionally reset by a successful
/// connection. [`reconnect_policy_findings`] holds a trace to it.
///
/// The delays are measured on the virtual clock (`t`), from a connector's
/// outcome (`client_connection_failed` or `client_connection_lost`) to its
/// next successful `connect`. The first retry (and, with
/// `reset_after_success`, the first after a connection was made) must wait
/// `initial`; each next one the previous delay times `factor`, at most
/// `cap`, within a relative `jitter` tolerance (and 1 µs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReconnectPolicy {
    /// The first delay.
    pub initial: Duration,
    /// How each delay grows from the one before.
    pub factor: f64,
    /// The longest delay.
    pub cap: Duration,
    /// Whether a connection made (a `build_protocol` on the connector)
    /// resets the delay to `initial`.
    pub reset_after_success: bool,
    /// How far, relative to the expected delay, a delay may be off
    /// (default 0: jitter-free, exact within 1 µs). With jitter, each delay
    /// is expected around the previous actual delay times `factor`, as
    /// Twisted's `ReconnectingClientFactory` compounds it.
    pub jitter: f64,
}

impl ReconnectPolicy {
    /// A jitter-free policy.
    pub fn new(initial: Duration, factor: f64, cap: Duration, reset_after_success: bool) -> Self {
        ReconnectPolicy {
            initial,
            factor,
            cap,
            reset_after_success,
            jitter: 0.0,
        }
    }

    /// The same policy with a relative jitter tolerance (0.25: each delay
    /// may be 25% off).
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }
}

/// Delays from a connector's outcome to its next `connect` that break
/// `policy`, one finding per connector.
///
/// ```
/// use std::time::Duration;
/// use callorder::checks::{reconnect_policy_findings, ReconnectPolicy};
/// use callorder::trace::{ConnectorId, Event, FactoryId, Reason, Record, Step};
///
/// let (f, c) = (FactoryId(1), ConnectorId(1));
/// let at = |seq: u64, t: f64, event: Event| {
///     let mut r = Record::new(Step::new(seq, event));
///     r.t = Some(t);
///     r
/// };
/// let failed = Event::ClientConnectionFailed { factory: f, connector: c, reason: Reason::ConnectionRefused };
/// let connect = Event::Connect { connector: c };
/// let trace = [at(1, 0.0, failed), at(2, 1.0, connect), at(3, 1.5, failed), at(4, 3.5, connect)];
/// let policy = ReconnectPolicy::new(Duration::from_secs(1), 2.0, Duration::from_secs(60), true);
/// assert!(reconnect_policy_findings(&trace, &policy).is_empty());
/// let slower = ReconnectPolicy::new(Duration::from_secs(1), 3.0, Duration::from_secs(60), true);
/// assert_eq!(reconnect_policy_findings(&trace, &slower).len(), 1);
/// ```
pub fn reconnect_policy_findings(trace: &[Record], policy: &ReconnectPolicy) -> Vec<Finding> {
    #[derive(Default)]
    struct Retrying {
        /// The pending outcome: its time and seq.
        outcome: Option<(f64, u64)>,
        /// The last delay, if any since the start (or the last reset).
        last: Option<f64>,
        /// A connection was made since the last retry.
        connected: bool,
        reported: bool,
    }
    let (initial, cap) = (policy.initial.as_secs_f64(), policy.cap.as_secs_f64());
    let mut connectors: BTreeMap<ConnectorId, Retrying> = BTreeMap::new();
    let mut out = Vec::new();
    for r in trace {
        let t = r.t.unwrap_or(0.0);
        match r.step.event {
            Event::ClientConnectionFailed { connector, .. }
            | Event::ClientConnectionLost { connector, .. } => {
                connectors.entry(connector).or_default().outcome = Some((t, r.step.seq));
            }
            Event::BuildProtocol {
                holder: callorder_trace::Holder::Connector(connector),
                protocol: Some(_),
                ..
            } => connectors.entry(connector).or_default().connected = true,
            Event::Connect { connector } if !r.step.failed => {
                let st = connectors.entry(connector).or_default();
                let Some((since, outcome_seq)) = st.outcome.take() else {
                    continue;
                };
                let delay = t - since;
                let (expected, why) = match st.last {
                    None => (
                        initial,
                        "the first retry waits the initial delay".to_owned(),
                    ),
                    Some(_) if st.connected && policy.reset_after_success => (
                        initial,
                        "a connection was made since the last retry: the delay resets".to_owned(),
                    ),
                    Some(prev) => (
                        (prev * policy.factor).min(cap),
                        format!(
                            "the previous delay was {prev:.6} s; times {} (at most {cap} s)",
                            policy.factor
                        ),
                    ),
                };
                let tolerance = 1e-6 + policy.jitter * expected;
                if (delay - expected).abs() > tolerance && !st.reported {
                    st.reported = true;
                    out.push(Finding {
                        check: CheckKind::ReconnectPolicy,
                        message: format!(
                            "connector c{} reconnected {delay:.6} s after its outcome at seq {outcome_seq}, \
                             expected {expected:.6} s (+/- {tolerance:.6}): {why}",
                            connector.0
                        ),
                        seq: Some(r.step.seq),
                    });
                }
                st.last = Some(delay);
                st.connected = false;
            }
            _ => {}
        }
    }
    out
}
