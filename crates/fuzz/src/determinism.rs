//! The determinism self-check: a case run twice with the same script and
//! seed must give each object the same history, and each connection the
//! same bytes.
//!
//! It compares per object, not the whole trace: code that keeps its
//! connections in a `HashMap` and writes to them in its iteration order is
//! correct (every connection gets what it should, in its own order), but
//! each map has its own random hasher, so a second run may visit the
//! connections in another order and interleave the same per-connection
//! histories differently. Whether the interleaving itself is stable is a
//! separate question, asked only with
//! [`Fuzz::determinism_across_connections`](crate::Fuzz::determinism_across_connections).

use std::collections::BTreeMap;

use callorder_harness::Conn;
use callorder_trace::{Event, Record};

use crate::checks::first_difference;
use crate::greedy::trace_text;

/// What a run gave, as the check compares it: the trace and the bytes
/// written on each connection whose peer is the script.
pub(crate) struct Outputs<'a> {
    pub(crate) trace: &'a [Record],
    pub(crate) written: &'a [(Conn, Vec<u8>)],
}

/// An object of a trace, in an order that shows (factories, connectors,
/// ports, protocols, then the reactor's own events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Object {
    Factory(u64),
    Connector(u64),
    Port(u64),
    Protocol(u64),
    Reactor,
}

impl Object {
    fn name(self) -> String {
        match self {
            Object::Factory(n) => format!("factory f{n}"),
            Object::Connector(n) => format!("connector c{n}"),
            Object::Port(n) => format!("port l{n}"),
            Object::Protocol(n) => format!("protocol p{n}"),
            Object::Reactor => "the reactor (shutdown, end)".to_owned(),
        }
    }
}

/// What an object's history keeps of each event: all but its place in the
/// whole trace (`seq`), which the interleaving with other objects decides.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    event: Event,
    depth: u32,
    failed: bool,
    t: Option<f64>,
}

impl Entry {
    fn show(&self) -> String {
        let mut text = format!("{:?}", self.event);
        if self.depth > 0 {
            text.push_str(&format!(" at depth {}", self.depth));
        }
        if self.failed {
            text.push_str(" (failed)");
        }
        if let Some(t) = self.t {
            text.push_str(&format!(" at t={t}s"));
        }
        text
    }
}

/// Every object's events, in trace order; an event naming several objects
/// (a `build_protocol`: its factory, its connector or port, its protocol)
/// is in each of their histories.
fn histories(trace: &[Record]) -> BTreeMap<Object, Vec<Entry>> {
    let mut out: BTreeMap<Object, Vec<Entry>> = BTreeMap::new();
    for r in trace {
        let e = r.step.event;
        let entry = Entry {
            event: e,
            depth: r.step.depth,
            failed: r.step.failed,
            t: r.t,
        };
        for object in objects_of(&e) {
            out.entry(object).or_default().push(entry.clone());
        }
    }
    out
}

/// The objects an event names; the reactor for those that name none.
fn objects_of(e: &Event) -> Vec<Object> {
    let objects: Vec<Object> = [
        e.factory().map(|f| Object::Factory(f.0)),
        e.connector().map(|c| Object::Connector(c.0)),
        e.port().map(|l| Object::Port(l.0)),
        e.protocol().map(|p| Object::Protocol(p.0)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if objects.is_empty() {
        vec![Object::Reactor]
    } else {
        objects
    }
}

/// What differed between two runs of the same case, for people: `None`
/// when every object has the same history and every connection got the
/// same bytes. With `across` set, the whole traces must also be the same
/// (the order between objects too).
pub(crate) fn difference(
    first: &Outputs<'_>,
    second: &Outputs<'_>,
    across: bool,
) -> Option<(String, u64)> {
    if first.trace == second.trace && first.written == second.written {
        return None;
    }
    let (a, b) = (histories(first.trace), histories(second.trace));
    let objects: Vec<Object> = {
        let mut all: Vec<Object> = a.keys().chain(b.keys()).copied().collect();
        all.sort_unstable();
        all.dedup();
        all
    };
    for object in objects {
        let (x, y) = (
            a.get(&object).map_or(&[][..], Vec::as_slice),
            b.get(&object).map_or(&[][..], Vec::as_slice),
        );
        if x == y {
            continue;
        }
        let at = x.iter().zip(y).take_while(|(p, q)| p == q).count();
        let show = |h: &[Entry]| h.get(at).map_or("(no more events)".to_owned(), Entry::show);
        // Where the first run's history went another way, in its trace.
        let seq = first
            .trace
            .iter()
            .filter(|r| objects_of(&r.step.event).contains(&object))
            .nth(at)
            .map_or(0, |r| r.step.seq);
        return Some((
            format!(
                "the same script and seed gave {} another history: its event {} was\n  first run:  {}\n  second run: {}",
                object.name(),
                at + 1,
                show(x),
                show(y)
            ),
            seq,
        ));
    }
    let bytes =
        |run: &Outputs<'_>| -> BTreeMap<Conn, Vec<u8>> { run.written.iter().cloned().collect() };
    let (wa, wb) = (bytes(first), bytes(second));
    if wa != wb {
        let conn = wa
            .keys()
            .chain(wb.keys())
            .find(|c| wa.get(c) != wb.get(c))
            .copied()?;
        let show = |w: &BTreeMap<Conn, Vec<u8>>, c: Conn| {
            w.get(&c).map_or("(nothing)".to_owned(), |b| {
                format!("{:?}", String::from_utf8_lossy(b))
            })
        };
        return Some((
            format!(
                "the same script and seed wrote other bytes on {conn:?}:\n  first run:  {}\n  second run: {}",
                show(&wa, conn),
                show(&wb, conn)
            ),
            0,
        ));
    }
    if !across {
        return None;
    }
    let (ta, tb) = (trace_text(first.trace), trace_text(second.trace));
    let (line, x, y) = first_difference(&ta, &tb)?;
    Some((
        format!(
            "every object had the same history, but the same script and seed interleaved them \
             otherwise (checked with determinism_across_connections); first difference at event {line}:\n  \
             first run:  {}\n  second run: {}",
            x.unwrap_or("(trace ended)"),
            y.unwrap_or("(trace ended)")
        ),
        line as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use callorder_trace::{ProtocolId, Step};

    fn trace(events: &[Event]) -> Vec<Record> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| Record::new(Step::new(i as u64 + 1, *e)))
            .collect()
    }

    fn outputs<'a>(trace: &'a [Record], written: &'a [(Conn, Vec<u8>)]) -> Outputs<'a> {
        Outputs { trace, written }
    }

    fn write(p: u64, bytes: u64) -> Event {
        Event::Write {
            protocol: ProtocolId(p),
            bytes,
        }
    }

    #[test]
    fn the_same_histories_interleaved_otherwise_differ_only_across_connections() {
        let (a, b) = (
            trace(&[write(1, 1), write(2, 2), Event::End]),
            trace(&[write(2, 2), write(1, 1), Event::End]),
        );
        let (a, b) = (outputs(&a, &[]), outputs(&b, &[]));
        assert_eq!(difference(&a, &b, false), None);
        let (message, seq) = difference(&a, &b, true).expect("the order differs");
        assert!(message.contains("interleaved them otherwise"), "{message}");
        assert_eq!(seq, 1);
    }

    #[test]
    fn another_history_of_one_object_names_it_and_the_event() {
        let (a, b) = (
            trace(&[write(1, 1), write(2, 2), Event::End]),
            trace(&[write(1, 1), write(2, 3), Event::End]),
        );
        let (a, b) = (outputs(&a, &[]), outputs(&b, &[]));
        let (message, seq) = difference(&a, &b, false).expect("p2 differs");
        assert!(
            message.contains("protocol p2 another history: its event 1"),
            "{message}"
        );
        assert!(message.contains("bytes: 2"), "{message}");
        assert_eq!(seq, 2);
    }

    #[test]
    fn other_bytes_on_a_connection_differ() {
        let end = trace(&[Event::End]);
        let (x, y) = (
            [(Conn::Server(1), b"ab".to_vec())],
            [(Conn::Server(1), b"ba".to_vec())],
        );
        let (a, b) = (outputs(&end, &x), outputs(&end, &y));
        let (message, _) = difference(&a, &b, false).expect("the bytes differ");
        assert!(message.contains("other bytes on Server(1)"), "{message}");
    }
}
