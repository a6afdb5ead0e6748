//! Whether each step of a script reaches what it names: an attempt, a
//! connection, a port, a fault's callback. A step that reaches nothing is a
//! failure of the script (or, in a lenient run, skipped and counted), never
//! silently dropped: a test that passes without exercising the code is worse
//! than none.

use std::fmt::Write as _;

use super::*;
use crate::run::{ScriptFailure, ScriptFailureKind};
use crate::script_file::{print_bytes, print_event, push_escaped_byte};

/// Where a world event is in its script: the step, and the event in its
/// batch (both from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct At {
    pub(super) step: usize,
    pub(super) event: usize,
}

/// A setting the script made for a connection not made yet: it holds from
/// the connection's start.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub(super) conn: Conn,
    pub(super) event: WorldEvent,
    pub(super) at: At,
}

/// A fault the script armed, waiting for the callback it makes fail.
#[derive(Clone, Debug)]
pub(super) struct ArmedFault {
    pub(super) callback: EventKind,
    pub(super) conn: Option<Conn>,
    pub(super) at: At,
}

/// Sends and expects longer than this show only their first bytes in a
/// failure's statement.
const SHOWN_BYTES: usize = 32;

/// How many connections a failure lists before it only counts them.
const LISTED: usize = 8;

/// An event as a failure names it: as a script file writes it, long bytes
/// cut short.
pub(super) fn statement(e: &WorldEvent) -> String {
    match e {
        WorldEvent::Send { conn, bytes } | WorldEvent::Expect { conn, bytes }
            if bytes.len() > SHOWN_BYTES =>
        {
            let keyword = if matches!(e, WorldEvent::Send { .. }) {
                "send"
            } else {
                "expect"
            };
            format!(
                "{keyword} {conn} {}... ({} bytes)",
                print_bytes(&bytes[..SHOWN_BYTES]),
                bytes.len()
            )
        }
        other => print_event(other),
    }
}

/// A step as a failure names it.
pub(super) fn step_statement(step: &Step) -> String {
    StepSummary::of(step).statement()
}

/// What a step is, enough to name it: made for every step (for the budget's
/// error), and put in words only when a step must be named. A step of one
/// world event keeps that event (its bytes shared, not copied).
#[derive(Debug)]
pub(super) enum StepSummary {
    One(WorldEvent),
    Batch(usize),
    Advance(Duration),
    Shutdown,
    Checkpoint,
}

impl StepSummary {
    pub(super) fn of(step: &Step) -> StepSummary {
        match step {
            Step::Batch(events) if events.len() == 1 => StepSummary::One(events[0].clone()),
            Step::Batch(events) => StepSummary::Batch(events.len()),
            Step::Advance(by) => StepSummary::Advance(*by),
            Step::Shutdown => StepSummary::Shutdown,
            Step::Checkpoint => StepSummary::Checkpoint,
        }
    }

    pub(super) fn statement(&self) -> String {
        match self {
            StepSummary::One(event) => statement(event),
            StepSummary::Batch(n) => format!("batch of {n} events"),
            StepSummary::Advance(by) => format!("advance {by:?}"),
            StepSummary::Shutdown => "shutdown".to_owned(),
            StepSummary::Checkpoint => "checkpoint".to_owned(),
        }
    }
}

impl State {
    /// Step `index` of the script as the budget's error names it.
    pub(super) fn step_name(&self, index: usize, step: &StepSummary) -> String {
        let statement = step.statement();
        match self.position(At {
            step: index,
            event: 0,
        }) {
            Some(at) => format!("the step at {at} ({statement})"),
            None => format!("step {} ({statement})", index + 1),
        }
    }

    /// Reports a step that failed: in a lenient run, one that reached
    /// nothing is skipped and counted instead.
    pub(super) fn step_failed(
        &mut self,
        at: At,
        statement: String,
        kind: ScriptFailureKind,
        message: String,
    ) {
        let failure = ScriptFailure {
            step: at.step,
            event: at.event,
            position: self.position(at),
            statement,
            kind,
            message,
        };
        if self.lenient && failure.kind == ScriptFailureKind::Unreached {
            self.skipped.push(failure);
        } else {
            self.script_failures.push(failure);
        }
    }

    /// Reports an event that reached nothing.
    pub(super) fn unreached(&mut self, at: At, e: &WorldEvent, message: String) {
        self.step_failed(at, statement(e), ScriptFailureKind::Unreached, message);
    }

    fn position(&self, at: At) -> Option<crate::script::Position> {
        let origin = self.origin.as_ref()?;
        let places = origin.at.get(at.step)?;
        let &(line, column) = places.get(at.event).or_else(|| places.first())?;
        Some(crate::script::Position {
            file: origin.file.clone(),
            line,
            column,
        })
    }

    /// The live connection `conn` names, or why there is none.
    pub(super) fn reach_conn(&self, conn: Conn) -> Result<ProtocolId, String> {
        match self.conn_of(conn) {
            Some(p) if self.conns.get(&p).is_some_and(|c| !c.lost) => Ok(p),
            Some(_) => Err(format!(
                "connection {conn} has ended: its connection_lost came before this step ({})",
                self.what_exists(conn)
            )),
            None if self.let_go(conn) == Some(true) => Err(format!(
                "connection {conn} has ended: its connection_lost came before this step, and the \
                 reactor let go of its record (MockReactor::keep_ended) ({})",
                self.what_exists(conn)
            )),
            None => Err(self.no_conn(conn)),
        }
    }

    /// Whether `conn` was made and has ended: a setting for it can never
    /// hold.
    pub(super) fn ended(&self, conn: Conn) -> bool {
        self.let_go(conn) == Some(true)
            || self
                .conn_of(conn)
                .is_some_and(|p| self.conns.get(&p).is_none_or(|c| c.lost))
    }

    /// Why `conn` names no connection, with what existed.
    pub(super) fn no_conn(&self, conn: Conn) -> String {
        format!(
            "no connection {conn}{} ({})",
            self.why_no_conn(conn),
            self.what_exists(conn)
        )
    }

    /// What became of the attempt or arrival of `conn`, when it came.
    fn why_no_conn(&self, conn: Conn) -> String {
        match (conn, self.let_go(conn)) {
            (Conn::Client(n), Some(false)) => return format!(": attempt {n} did not connect"),
            (Conn::Server(n), Some(false)) => {
                return format!(": the build_protocol of arrival {n} made no protocol")
            }
            (_, Some(true)) => {
                return ": it has ended, and the reactor let go of its record \
                        (MockReactor::keep_ended)"
                    .to_owned()
            }
            (_, None) => {}
        }
        match conn {
            Conn::Client(n) => match self.attempts.get(n.wrapping_sub(1)) {
                None => String::new(),
                Some(c) => match self.connectors.get(c) {
                    Some(cs) if cs.attempt == n && cs.phase == Phase::Connecting => {
                        format!(": attempt {n} is still connecting")
                    }
                    Some(cs) if cs.attempt == n && cs.phase == Phase::Connected(None) => format!(
                        ": attempt {n} was accepted, and its connection is made once its \
                         build_protocol returns"
                    ),
                    _ => format!(": attempt {n} did not connect"),
                },
            },
            Conn::Server(n) if n >= 1 && n <= self.server_conns.len() => {
                format!(": the build_protocol of arrival {n} made no protocol")
            }
            Conn::Server(_) => String::new(),
        }
    }

    /// The connections on `conn`'s side so far, and its attempts or
    /// arrivals.
    fn what_exists(&self, conn: Conn) -> String {
        let (made, count, what): (Vec<(Conn, ProtocolId)>, usize, &str) = match conn {
            Conn::Client(_) => (
                (self.client_conns.iter())
                    .filter_map(|(n, p)| Some((Conn::Client(n), (*p)?)))
                    .collect(),
                self.attempts.len(),
                "attempts",
            ),
            Conn::Server(_) => (
                (self.server_conns.iter())
                    .filter_map(|(n, p)| Some((Conn::Server(n), (*p)?)))
                    .collect(),
                self.server_conns.len(),
                "arrivals on ports",
            ),
        };
        let mut list = String::new();
        for (i, (c, p)) in made.iter().enumerate() {
            if i == LISTED {
                let _ = write!(list, ", ... ({} in all)", made.len());
                break;
            }
            if i > 0 {
                list.push_str(", ");
            }
            let _ = write!(list, "{c}");
            if self.conns.get(p).is_none_or(|cs| cs.lost) {
                list.push_str(" (ended)");
            }
        }
        if list.is_empty() {
            list.push_str("none");
        }
        format!("connections so far: {list}; {what}: {count}")
    }

    /// The connector whose attempt `attempt` is waiting for the world, or
    /// why there is none.
    pub(super) fn reach_attempt(&self, attempt: usize) -> Result<ConnectorId, String> {
        let so_far = self.attempts.len();
        let Some(&c) = self.attempts.get(attempt.wrapping_sub(1)) else {
            if self.attempts.let_go(attempt).is_some() {
                return Err(format!(
                    "attempt {attempt} is over, and the reactor let go of it \
                     (MockReactor::keep_ended; attempts so far: {so_far})"
                ));
            }
            return Err(format!(
                "no attempt {attempt} (attempts so far: {so_far}; an attempt is counted once \
                 its started_connecting returns)"
            ));
        };
        let Some(cs) = self.connectors.get(&c) else {
            return Err(format!("attempt {attempt} is over"));
        };
        if cs.attempt != attempt {
            return Err(format!(
                "attempt {attempt} is over: its connector has made attempt {} since",
                cs.attempt
            ));
        }
        match cs.phase {
            Phase::Connecting => Ok(c),
            _ if self.attempt_joins.contains_key(&attempt) => Err(format!(
                "attempt {attempt} was answered already: it goes to a port of this reactor, \
                 which accepted it"
            )),
            Phase::Connected(_) => Err(format!("attempt {attempt} connected already")),
            _ => Err(format!(
                "attempt {attempt} has had its outcome already (attempts so far: {so_far})"
            )),
        }
    }

    /// The listening port `port` names, or why there is none. A port being
    /// stopped still takes a peer that arrives in the same turn
    /// (`accepting`), but cannot be stopped again.
    pub(super) fn reach_port(&self, port: usize, accepting: bool) -> Result<PortId, String> {
        let Some(&l) = self.port_order.get(port.wrapping_sub(1)) else {
            return Err(format!(
                "no port {port} (ports so far: {})",
                self.port_order.len()
            ));
        };
        let ps = self.ports.get(&l).expect("a port in port_order");
        if ps.stuck {
            Err(format!(
                "port {port} never started: its start_factory failed"
            ))
        } else if ps.stopped {
            Err(format!("port {port} has stopped listening"))
        } else if ps.stopping && !accepting {
            Err(format!("port {port} is stopping already"))
        } else if !ps.started {
            Err(format!("port {port} has not started yet"))
        } else {
            Ok(l)
        }
    }

    /// A setting for a connection: applied now, kept for a connection not
    /// made yet, or a failure for one that has ended.
    pub(super) fn setting(&mut self, conn: Conn, e: WorldEvent, at: At) {
        match self.reach_conn(conn) {
            Ok(p) => self.apply_setting(p, &e),
            Err(_) if !self.ended(conn) => self.pending.push(Pending { conn, event: e, at }),
            Err(why) => self.unreached(at, &e, why),
        }
    }

    fn apply_setting(&mut self, p: ProtocolId, e: &WorldEvent) {
        match *e {
            WorldEvent::ReadChunks { bytes, .. } => {
                if let Some(c) = self.conns.get_mut(&p) {
                    c.read_chunk = bytes;
                }
            }
            WorldEvent::Window { bytes, .. } => {
                if let Some(c) = self.conns.get_mut(&p) {
                    c.window = bytes;
                }
                self.drained(p);
            }
            _ => unreachable!("settings are read_chunks and window"),
        }
    }

    /// Settings the script made for `conn` before it existed, in the order
    /// it made them.
    pub(super) fn apply_pending(&mut self, conn: Conn, p: ProtocolId) {
        if self.pending.is_empty() {
            return;
        }
        let (now, later): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|s| s.conn == conn);
        self.pending = later;
        for setting in now {
            self.apply_setting(p, &setting.event);
        }
    }

    /// What the peer of `conn` received since it was made or since the
    /// previous `expect` on it, against `expected`: a failure on a mismatch.
    pub(super) fn expect(&mut self, p: ProtocolId, e: &WorldEvent, expected: &[u8], at: At) {
        let Some(c) = self.conns.get_mut(&p) else {
            let message = "it has ended, and the reactor let go of its record \
                           (MockReactor::keep_ended): what its peer received is no longer known"
                .to_owned();
            return self.unreached(at, e, message);
        };
        if let Peer::Joined(..) = c.peer {
            let message = "its peer is an implementation of this reactor, not the script: \
                           nothing reads its bytes for an expect"
                .to_owned();
            return self.unreached(at, e, message);
        }
        let read = c.bytes_written - c.buffered as u64;
        let from = std::mem::replace(&mut c.expected_upto, read);
        let kept = c.written.len() as u64;
        if read > kept {
            let message = format!(
                "the record of what its peer read was cut at {kept} bytes \
                 (MockReactor::written_limit), and this expect needs bytes {from}..{read}"
            );
            return self.step_failed(at, statement(e), ScriptFailureKind::Mismatch, message);
        }
        let actual = &c.written[from as usize..read as usize];
        if actual != expected {
            let message = mismatch(expected, actual);
            self.step_failed(at, statement(e), ScriptFailureKind::Mismatch, message);
        }
    }

    /// At the end of a run that finished: settings no connection took, and
    /// faults and write errors that never fired, reached nothing.
    pub(super) fn unreached_at_end(&mut self) {
        for setting in std::mem::take(&mut self.pending) {
            let conn = setting.conn;
            let why = format!(
                "it waited for connection {conn}, which the run never made{} ({})",
                self.why_no_conn(conn),
                self.what_exists(conn)
            );
            self.unreached(setting.at, &setting.event, why);
        }
        let armed: Vec<(At, Conn)> = (self.client_conns.iter())
            .filter_map(|(n, p)| Some((Conn::Client(n), (*p)?)))
            .chain((self.server_conns.iter()).filter_map(|(n, p)| Some((Conn::Server(n), (*p)?))))
            .filter_map(|(conn, p)| Some((self.conns.get(&p)?.write_error?, conn)))
            .collect();
        for (at, conn) in armed {
            let why = format!(
                "it never fired: no write of the implementation on {conn} reached the socket after it"
            );
            self.unreached(at, &WorldEvent::WriteError { conn }, why);
        }
        for fault in std::mem::take(&mut self.faults) {
            let e = WorldEvent::Fault {
                callback: fault.callback,
                conn: fault.conn,
            };
            let whose = match fault.conn {
                Some(conn) => format!(" to the protocol of {conn}"),
                None => String::new(),
            };
            let why = format!(
                "it never fired: no {}{whose} came after it was armed",
                fault.callback
            );
            self.unreached(fault.at, &e, why);
        }
    }
}

/// How an `expect` differs: both sides escaped as the script format writes
/// bytes, and the first offset where they differ.
fn mismatch(expected: &[u8], actual: &[u8]) -> String {
    let at = expected
        .iter()
        .zip(actual)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(actual.len()));
    format!(
        "the peer received other bytes\n    expected: {} ({} bytes)\n    actual:   {} ({} bytes)\n    first difference at byte {at}: expected {}, actual {}",
        shown(expected, at),
        expected.len(),
        shown(actual, at),
        actual.len(),
        byte_at(expected, at),
        byte_at(actual, at),
    )
}

/// How many bytes around the first difference a mismatch shows.
const CONTEXT: usize = 48;

/// `bytes` escaped, cut to a window around `at` when long.
fn shown(bytes: &[u8], at: usize) -> String {
    let from = at.saturating_sub(CONTEXT / 2).min(bytes.len());
    let to = (from + CONTEXT).min(bytes.len());
    let mut out = String::new();
    if from > 0 {
        out.push_str("...");
    }
    out.push('"');
    for &b in &bytes[from..to] {
        push_escaped_byte(&mut out, b);
    }
    out.push('"');
    if to < bytes.len() {
        out.push_str("...");
    }
    out
}

fn byte_at(bytes: &[u8], at: usize) -> String {
    match bytes.get(at) {
        Some(&b) => {
            let mut out = String::from("\"");
            push_escaped_byte(&mut out, b);
            let _ = write!(out, "\" (0x{b:02x})");
            out
        }
        None => "the end".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_shows_both_sides_escaped_and_the_first_differing_byte() {
        assert_eq!(
            mismatch(b"hello\r\n", b"help\r\n"),
            "the peer received other bytes\n    expected: \"hello\\r\\n\" (7 bytes)\n    \
             actual:   \"help\\r\\n\" (6 bytes)\n    first difference at byte 3: expected \"l\" \
             (0x6c), actual \"p\" (0x70)"
        );
    }

    #[test]
    fn a_mismatch_of_a_prefix_names_the_end() {
        let m = mismatch(b"ab", b"abc");
        assert!(
            m.ends_with("first difference at byte 2: expected the end, actual \"c\" (0x63)"),
            "{m}"
        );
    }

    #[test]
    fn long_bytes_show_a_window_around_the_difference() {
        let expected = vec![b'a'; 1000];
        let mut actual = expected.clone();
        actual[500] = b'b';
        let m = mismatch(&expected, &actual);
        let expected_line = format!("expected: ...\"{}\"... (1000 bytes)", "a".repeat(CONTEXT));
        assert!(m.contains(&expected_line), "{m}");
        assert!(m.contains("first difference at byte 500"), "{m}");
    }

    #[test]
    fn long_sends_are_named_by_their_first_bytes() {
        let e = WorldEvent::Send {
            conn: Conn::Client(1),
            bytes: vec![b'x'; 100].into(),
        };
        assert_eq!(
            statement(&e),
            format!(
                "send client 1 \"{}\"... (100 bytes)",
                "x".repeat(SHOWN_BYTES)
            )
        );
    }
}
