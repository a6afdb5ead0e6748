//! Which states of the spec a campaign reaches, and how soon: the measure
//! of a generator (`docs/spec.md`, section States, lists the states).
//!
//! A trace reaches a state when, after some event, a live object is in it
//! ([`Checker::states`]: each object's phase and the facts that hold of
//! it), or an object's phase changes (a transition, including to its
//! kind's end state when it is no longer live); what is live when the
//! reactor shuts down or a port stops listening counts too (a shutdown in
//! every phase), and so does every rule the checker exercised
//! ([`Checker::coverage`]). [`Fuzz::reach`](crate::Fuzz::reach) runs a
//! campaign's cases and says which case first reached each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use callorder_checker::{Checker, Object, Profile};
use callorder_trace::{Event, Record};

/// The kind of an object, as the state names say it.
fn kind(object: Object) -> &'static str {
    match object {
        Object::Factory(_) => "factory",
        Object::Connector(_) => "connector",
        Object::Port(_) => "port",
        Object::Protocol(_) => "protocol",
    }
}

/// The phase an object of `kind` is in once it is no longer live.
fn end_phase(kind: &str) -> &'static str {
    match kind {
        "factory" => "count 0",
        "connector" => "disconnected",
        "port" => "stopped",
        _ => "ended",
    }
}

/// A sortable key for an object.
fn key(object: Object) -> (u8, u64) {
    match object {
        Object::Factory(f) => (0, f.0),
        Object::Connector(c) => (1, c.0),
        Object::Port(l) => (2, l.0),
        Object::Protocol(p) => (3, p.0),
    }
}

/// Every state, transition and rule a trace reaches, by name:
/// `protocol: paused`, `connector: connecting -> connected`,
/// `protocol: made at shutdown`, `rule P-AFTER-LOST`. A trace with a
/// violation counts up to it.
///
/// ```
/// use std::sync::Arc;
/// use callorder::states::reached;
/// use callorder::{Conn, MockReactor, Script};
/// use callorder::reference::EchoFactory;
///
/// let run = MockReactor::new().run(
///     Script::new().accept(1, "10.0.0.1:5000").half_close(Conn::Server(1)).shutdown(),
///     |r| { r.listen_tcp("127.0.0.1:8000", Arc::new(EchoFactory::new())).unwrap(); },
/// );
/// let states = reached(&run.trace);
/// assert!(states.contains("protocol: made"));
/// assert!(states.contains("protocol: built -> made"));
/// assert!(states.contains("port: listening at shutdown"));
/// assert!(states.contains("factory: count 1 -> count 0"));
/// ```
pub fn reached(trace: &[Record]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // The general path alone: a measurement, not a hot path.
    let mut checker = Checker::new(Profile::Strict).with_fast_paths(false);
    let mut phases: BTreeMap<(u8, u64), (&'static str, &'static str)> = BTreeMap::new();
    let mut facts: BTreeMap<(u8, u64), Vec<&'static str>> = BTreeMap::new();
    for r in trace {
        let before: Vec<_> = match r.step.event {
            Event::Shutdown | Event::StopListening { .. } => checker.states(),
            _ => Vec::new(),
        };
        if checker.step(&r.step).is_err() {
            break;
        }
        match r.step.event {
            Event::Shutdown => {
                for s in &before {
                    out.insert(format!("{}: {} at shutdown", kind(s.object), s.phase));
                    for fact in &s.facts {
                        out.insert(format!("{}: {fact} at shutdown", kind(s.object)));
                    }
                }
            }
            Event::StopListening { .. }
                if before
                    .iter()
                    .any(|s| matches!(s.object, Object::Protocol(_))) =>
            {
                out.insert("port: stop_listening with live connections".to_owned());
            }
            _ => {}
        }
        let now = checker.states();
        let mut live = BTreeSet::new();
        for s in &now {
            let (k, name) = (key(s.object), kind(s.object));
            live.insert(k);
            out.insert(format!("{name}: {}", s.phase));
            for fact in &s.facts {
                out.insert(format!("{name}: {fact}"));
            }
            match phases.insert(k, (name, s.phase)) {
                Some((_, was)) if was != s.phase => {
                    out.insert(format!("{name}: {was} -> {}", s.phase));
                }
                _ => {}
            }
            // A fact that stopped holding while the object lives (a paused
            // producer resumed, a registered one unregistered).
            if let Some(before) = facts.insert(k, s.facts.clone()) {
                for fact in before.iter().filter(|f| !s.facts.contains(f)) {
                    out.insert(format!("{name}: {fact} ended"));
                    // Unpaused with the producer still registered: the
                    // transport resumed it (a stop would remove it).
                    if *fact == "paused" && s.facts.contains(&"streaming producer") {
                        out.insert(format!("{name}: resumed"));
                    }
                }
            }
        }
        let gone: Vec<_> = phases
            .keys()
            .filter(|k| !live.contains(*k))
            .copied()
            .collect();
        for k in gone {
            let (name, was) = phases.remove(&k).expect("present");
            facts.remove(&k);
            let end = end_phase(name);
            out.insert(format!("{name}: {end}"));
            out.insert(format!("{name}: {was} -> {end}"));
        }
    }
    for (rule, count) in checker.coverage().iter() {
        if count > 0 {
            out.insert(format!("rule {}", rule.id()));
        }
    }
    out
}

/// Which case of a campaign first reached each state (from 1), over how
/// many cases: what [`Fuzz::reach`](crate::Fuzz::reach) gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// The cases run.
    pub cases: u32,
    /// Each state reached, by name ([`reached`]), with the case that first
    /// reached it.
    pub first: BTreeMap<String, u32>,
}

impl Reach {
    /// Adds the states case number `case` reached.
    pub fn add(&mut self, case: u32, states: BTreeSet<String>) {
        self.cases = self.cases.max(case);
        for state in states {
            self.first.entry(state).or_insert(case);
        }
    }

    /// The state reached last, and at which case: the campaign's slowest.
    pub fn slowest(&self) -> Option<(&str, u32)> {
        self.first
            .iter()
            .max_by_key(|(name, case)| (**case, std::cmp::Reverse(name.as_str())))
            .map(|(name, case)| (name.as_str(), *case))
    }
}

impl fmt::Display for Reach {
    /// One line per state, slowest first: the case that first reached it
    /// and its name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut all: Vec<(&String, &u32)> = self.first.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        for (name, case) in all {
            writeln!(f, "{case:>8}  {name}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reach_keeps_the_first_case_of_each_state_and_says_the_slowest() {
        let mut reach = Reach::default();
        let states = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect();
        reach.add(1, states(&["a", "b"]));
        reach.add(2, states(&["b", "c"]));
        reach.add(3, states(&["a"]));
        assert_eq!(reach.first["a"], 1);
        assert_eq!(reach.first["c"], 2);
        assert_eq!(reach.cases, 3);
        assert_eq!(reach.slowest(), Some(("c", 2)));
        assert_eq!(reach.to_string(), "       2  c\n       1  a\n       1  b\n");
    }
}
