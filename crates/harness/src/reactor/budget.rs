//! The step budget: between two steps of a script the reactor runs until it
//! is quiet, and a run that never goes quiet (a producer that writes in
//! every `resume_producing` to a peer that reads everything, a reconnect
//! loop with no delay, a timer that schedules itself at zero delay) would
//! otherwise hang or grow until memory runs out. The budget stops it with an
//! error that names the step and what kept the reactor busy.

use std::collections::BTreeMap;

use super::reach::StepSummary;

use super::*;

/// How much work one step of a script may make before the run is stopped
/// as one that never goes quiet ([`ImplErrorKind::Busy`]). Counted afresh
/// for each step (the set-up's consequences and the shutdown with its
/// teardown are steps too).
///
/// ```
/// use callorder::{MockReactor, StepBudget};
/// let reactor = MockReactor::new().step_budget(StepBudget { turns: 10_000, ..StepBudget::DEFAULT });
/// # drop(reactor);
/// assert_eq!(StepBudget::default(), StepBudget::DEFAULT);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepBudget {
    /// Turns: callbacks delivered, batches of I/O and timers run.
    pub turns: u64,
    /// Bytes the implementation writes.
    pub bytes: u64,
}

impl StepBudget {
    /// A million turns and 1 GiB written per step: more than three times
    /// what the largest run of this workspace makes in a step (the harness
    /// bench's 100,000 connections opened in one batch: about 300,000 turns
    /// at their shutdown), and a trace short enough to keep in memory when
    /// the budget runs out (a record or so per turn).
    pub const DEFAULT: StepBudget = StepBudget {
        turns: 1_000_000,
        bytes: 1 << 30,
    };

    /// No budget: a run that never goes quiet hangs.
    pub const UNLIMITED: StepBudget = StepBudget {
        turns: u64::MAX,
        bytes: u64::MAX,
    };
}

impl Default for StepBudget {
    fn default() -> Self {
        StepBudget::DEFAULT
    }
}

/// What a step has used of its budget so far.
#[derive(Debug)]
pub(super) struct Spent {
    pub(super) turns: u64,
    pub(super) bytes: u64,
    pub(super) timers: u64,
    /// The step, as the error names it.
    pub(super) step: StepName,
}

/// The step a budget is counted for. Put in words only if the budget runs
/// out: naming every step of a script as it begins cost more than most
/// steps' work.
#[derive(Debug)]
pub(super) enum StepName {
    /// A step that is not the script's: the set-up, a turn of a live run.
    Fixed(&'static str),
    /// Step `index` of the script.
    Script(usize, StepSummary),
}

impl Spent {
    pub(super) fn new(step: StepName) -> Spent {
        Spent {
            turns: 0,
            bytes: 0,
            timers: 0,
            step,
        }
    }
}

/// How many of the last records the error looks at for what kept the
/// reactor busy.
const TAIL: usize = 1000;

/// How many of the busiest callbacks and actions the error names.
const BUSIEST: usize = 3;

impl State {
    /// A new step begins: its budget is whole again.
    pub(super) fn begin_step(&mut self, step: StepName) {
        self.spent = Spent::new(step);
    }

    /// One turn of work: a callback, a batch of I/O, a timer.
    #[inline]
    pub(super) fn tick(&mut self) {
        self.spent.turns += 1;
        if self.spent.turns > self.budget.turns {
            self.over_budget();
        }
    }

    /// The implementation wrote `n` bytes.
    #[inline]
    pub(super) fn moved(&mut self, n: usize) {
        self.spent.bytes += n as u64;
        if self.spent.bytes > self.budget.bytes {
            self.over_budget();
        }
    }

    /// A timer ran: a turn, and counted for the error.
    pub(super) fn timer_ran(&mut self) {
        self.spent.timers += 1;
        self.tick();
    }

    /// The budget ran out: the run stops, with an error naming the step and
    /// the callbacks and actions that filled the end of the trace.
    #[cold]
    fn over_budget(&mut self) {
        if self.exhausted {
            return;
        }
        self.exhausted = true;
        let what = if self.spent.bytes > self.budget.bytes {
            format!(
                "had the implementation write more than {} bytes",
                self.budget.bytes
            )
        } else {
            format!(
                "took more than {} turns (callbacks, I/O batches and timers)",
                self.budget.turns
            )
        };
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let len = self.trace.len();
        let from = len.saturating_sub(TAIL);
        let mut looked = 0;
        for idx in from..len {
            if let Some(r) = self.trace.get(idx) {
                looked += 1;
                *counts.entry(object_event(&r.step.event)).or_default() += 1;
            }
        }
        let mut busiest: Vec<(String, u64)> = counts.into_iter().collect();
        // Most first; the name breaks ties, so the message is the same run
        // after run.
        busiest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let step = match &self.spent.step {
            StepName::Fixed(name) => (*name).to_owned(),
            StepName::Script(index, summary) => self.step_name(*index, summary),
        };
        let mut message = format!(
            "the run never went quiet: {step} {what}, the budget of MockReactor::step_budget; \
             the run stopped there"
        );
        if !busiest.is_empty() {
            let named: Vec<String> = busiest
                .iter()
                .take(BUSIEST)
                .map(|(what, n)| format!("{what} ({n})"))
                .collect();
            message.push_str(&format!(
                "; busiest in its last {looked} events: {}",
                named.join(", ")
            ));
        }
        if let Some(action) = self.busiest_action(from, len) {
            message.push_str(&format!("; the busiest action: {action}"));
        }
        if self.spent.timers > 0 {
            message.push_str(&format!("; {} timers ran in this step", self.spent.timers));
        }
        self.errors.push(ImplError {
            kind: ImplErrorKind::Busy,
            seq: len as u64,
            event: None,
            message,
        });
    }
}

impl State {
    /// The action made most often among records `from..len`, with the
    /// callback that made it (or the top level: a `call_later` timer, or
    /// the set-up), counted by the kinds of both (a loop that makes a new
    /// port each time is one loop), and named by its last occurrence: what
    /// keeps a storm going, as `connect of c1, made in
    /// client_connection_failed of c1 (250 times in its last 1000 events)`.
    fn busiest_action(&self, from: usize, len: usize) -> Option<String> {
        // The callback running at each depth, as the records go by.
        let mut running: Vec<&Event> = Vec::new();
        let mut counts: BTreeMap<(EventKind, Option<EventKind>), (u64, String)> = BTreeMap::new();
        for idx in from..len {
            let Some(r) = self.trace.get(idx) else {
                continue;
            };
            let (e, depth) = (&r.step.event, r.step.depth as usize);
            if e.kind().is_callback() {
                running.truncate(depth);
                running.push(e);
                continue;
            }
            if !e.kind().is_action() {
                continue;
            }
            let (caller, named) = match depth.checked_sub(1) {
                None => (
                    None,
                    format!(
                        "{}, made at the top level (a call_later timer or the set-up)",
                        object_event(e)
                    ),
                ),
                Some(d) => match running.get(d) {
                    Some(caller) => (
                        Some(caller.kind()),
                        format!("{}, made in {}", object_event(e), object_event(caller)),
                    ),
                    // Its callback began before the records looked at.
                    None => continue,
                },
            };
            let entry = counts
                .entry((e.kind(), caller))
                .or_insert((0, String::new()));
            entry.0 += 1;
            entry.1 = named;
        }
        // Most first; the kinds' names break ties, so the message is the
        // same run after run.
        let name = |k: &(EventKind, Option<EventKind>)| (k.0.as_str(), k.1.map(EventKind::as_str));
        let (_, (n, named)) = counts.into_iter().max_by(|a, b| {
            (a.1 .0)
                .cmp(&b.1 .0)
                .then_with(|| name(&b.0).cmp(&name(&a.0)))
        })?;
        Some(format!(
            "{named} ({n} times in its last {} events)",
            len - from
        ))
    }
}

/// An event as the busy error counts it: its kind and whom it concerns.
fn object_event(e: &Event) -> String {
    let kind = e.kind();
    if let Some(p) = e.protocol() {
        format!("{kind} of {}{}", ProtocolId::PREFIX, p.0)
    } else if let Some(c) = e.connector() {
        format!("{kind} of {}{}", ConnectorId::PREFIX, c.0)
    } else if let Some(l) = e.port() {
        format!("{kind} of {}{}", PortId::PREFIX, l.0)
    } else if let Some(f) = e.factory() {
        format!("{kind} of {}{}", FactoryId::PREFIX, f.0)
    } else {
        kind.to_string()
    }
}
