//! The cross-check: the oracle and the fast checker must agree on every trace
//! of the corpus and on systematic mutants of the legal and quirk traces.
//!
//! Mutants: delete one event; duplicate one event; swap two adjacent events;
//! move one event a level deeper or shallower; set or clear `failed` on one
//! event (seq renumbered 1..n after each); sampled compositions of up to three
//! also move an event elsewhere or give it a `within`. Shapes: the callorder shape (a
//! callback that an action delivered inside the enclosing callback is moved to
//! right after that callback returns, at its depth) and explicit `within`.
//!
//! On a disagreement the test fails, listing each one (trace, mutation, both
//! verdicts, the lines around the point); the full list is written to
//! `/tmp/oracle_disagreements.txt`.

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::OnceLock;

use callorder_checker::{Checker, Profile};
use callorder_oracle::{judge, Verdict};
use callorder_trace::{Event, Step};
use proptest::prelude::*;

// ------------------------------------------------------------------ verdicts

/// A verdict of either model, comparable.
#[derive(Clone, PartialEq, Eq, Debug)]
enum Outcome {
    Legal { warnings: usize },
    Illegal { seq: u64, rule: String },
    Panicked(String),
}

impl Outcome {
    /// Whether two verdicts agree: legal with the same warnings, or illegal at
    /// the same seq (the rule ids may differ: the spec orders checks only
    /// loosely within one event).
    fn agrees_with(&self, other: &Outcome) -> bool {
        match (self, other) {
            (Outcome::Legal { warnings: a }, Outcome::Legal { warnings: b }) => a == b,
            (Outcome::Illegal { seq: a, .. }, Outcome::Illegal { seq: b, .. }) => a == b,
            _ => false,
        }
    }

    fn seq(&self) -> Option<u64> {
        match self {
            Outcome::Illegal { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Legal { warnings } => write!(f, "legal, {warnings} warnings"),
            Outcome::Illegal { seq, rule } => write!(f, "illegal at seq {seq} ({rule})"),
            Outcome::Panicked(message) => write!(f, "panicked: {message}"),
        }
    }
}

fn oracle(steps: &[Step], twisted: bool) -> Outcome {
    match judge(steps, twisted) {
        Verdict::Legal { warnings } => Outcome::Legal { warnings },
        Verdict::Illegal { seq, rule } => Outcome::Illegal {
            seq,
            rule: rule.to_owned(),
        },
    }
}

fn checker(steps: &[Step], twisted: bool) -> Outcome {
    let profile = if twisted {
        Profile::Twisted
    } else {
        Profile::Strict
    };
    let run = panic::catch_unwind(AssertUnwindSafe(|| {
        let mut checker = Checker::new(profile);
        for step in steps {
            if let Err(err) = checker.step(step) {
                let rule = err
                    .violation()
                    .map_or_else(|| "?".to_owned(), |v| v.rule.id().to_owned());
                return Outcome::Illegal {
                    seq: err.seq(),
                    rule,
                };
            }
        }
        Outcome::Legal {
            warnings: checker.warnings().len(),
        }
    }));
    run.unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Outcome::Panicked(message)
    })
}

// ----------------------------------------------------------------- mutations

/// One single-event mutation.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Mutation {
    /// Delete the event at this index.
    Delete(usize),
    /// Insert a copy of the event right after it.
    Duplicate(usize),
    /// Swap the event with the next one.
    Swap(usize),
    /// One level deeper.
    Deeper(usize),
    /// One level shallower.
    Shallower(usize),
    /// Set or clear `failed`.
    ToggleFailed(usize),
    /// Mark a `do_start`/`do_stop` `hooks: false` (a forwarding factory's),
    /// or no longer.
    ToggleHooks(usize),
    /// Move the event at the first index to the second (compositions only).
    Move(usize, usize),
    /// Name the event at the second (earlier) index as the first's `within`
    /// (compositions only).
    Within(usize, usize),
}

impl Mutation {
    /// Every single-event mutation of a trace of `n` events.
    fn all(n: usize) -> Vec<Mutation> {
        let mut all = Vec::new();
        for i in 0..n {
            all.extend([
                Mutation::Delete(i),
                Mutation::Duplicate(i),
                Mutation::Deeper(i),
                Mutation::Shallower(i),
                Mutation::ToggleFailed(i),
                Mutation::ToggleHooks(i),
            ]);
            if i + 1 < n {
                all.push(Mutation::Swap(i));
            }
        }
        all
    }

    /// The mutant, or `None` if this mutation does not apply.
    fn apply(self, steps: &[Step]) -> Option<Vec<Step>> {
        let mut out = steps.to_vec();
        match self {
            Mutation::Delete(i) => {
                out.remove(i);
            }
            Mutation::Duplicate(i) => out.insert(i + 1, steps[i]),
            Mutation::Swap(i) => out.swap(i, i + 1),
            Mutation::Deeper(i) => out[i].depth += 1,
            Mutation::Shallower(i) => out[i].depth = out[i].depth.checked_sub(1)?,
            Mutation::ToggleFailed(i) => out[i].failed = !out[i].failed,
            Mutation::ToggleHooks(i) => match out[i].event {
                Event::DoStart { .. } | Event::DoStop { .. } => {
                    out[i].hooks = out[i].runs_factory_hooks().then_some(false);
                }
                _ => return None,
            },
            Mutation::Move(from, to) => {
                let step = out.remove(from);
                out.insert(to.min(out.len()), step);
            }
            Mutation::Within(i, target) => out[i].within = Some(steps.get(target)?.seq),
        }
        Some(renumber(out))
    }

    /// The index around which the mutant differs.
    fn position(self) -> usize {
        match self {
            Mutation::Delete(i)
            | Mutation::Duplicate(i)
            | Mutation::Swap(i)
            | Mutation::Deeper(i)
            | Mutation::Shallower(i)
            | Mutation::ToggleFailed(i)
            | Mutation::ToggleHooks(i)
            | Mutation::Move(i, _)
            | Mutation::Within(i, _) => i,
        }
    }
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Seqs of the original trace (1-based).
        match *self {
            Mutation::Delete(i) => write!(f, "delete seq {}", i + 1),
            Mutation::Duplicate(i) => write!(f, "duplicate seq {}", i + 1),
            Mutation::Swap(i) => write!(f, "swap seq {} and {}", i + 1, i + 2),
            Mutation::Deeper(i) => write!(f, "seq {} one deeper", i + 1),
            Mutation::Shallower(i) => write!(f, "seq {} one shallower", i + 1),
            Mutation::ToggleFailed(i) => write!(f, "toggle error on seq {}", i + 1),
            Mutation::ToggleHooks(i) => write!(f, "toggle hooks: false on seq {}", i + 1),
            Mutation::Move(from, to) => write!(f, "move seq {} to position {}", from + 1, to + 1),
            Mutation::Within(i, target) => write!(f, "within seq {} on seq {}", target + 1, i + 1),
        }
    }
}

/// Seq 1..n again; `within` follows the event it named (or is dropped when
/// that event is gone).
fn renumber(steps: Vec<Step>) -> Vec<Step> {
    let new_seq: BTreeMap<u64, u64> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.seq, i as u64 + 1))
        .collect();
    steps
        .into_iter()
        .enumerate()
        .map(|(i, mut step)| {
            step.seq = i as u64 + 1;
            step.within = step.within.and_then(|w| new_seq.get(&w).copied());
            step
        })
        .collect()
}

/// Whether the callback `child` is the hook of its caller `caller`.
fn is_hook(caller: &Event, child: &Event) -> bool {
    matches!(
        (caller, child),
        (Event::DoStart { factory: a, .. }, Event::StartFactory { factory: b })
            | (Event::DoStop { factory: a, .. }, Event::StopFactory { factory: b }) if a == b
    )
}

/// The end (exclusive) of the block of `steps[i]`: it and everything deeper
/// that follows it.
fn block_end(steps: &[Step], i: usize) -> usize {
    let depth = steps[i].depth;
    (i + 1..steps.len())
        .find(|&k| steps[k].depth <= depth)
        .unwrap_or(steps.len())
}

/// The callorder shape at one level: inside each callback at depth `level`,
/// the callbacks delivered at depth `level + 1` (not its hooks) are moved,
/// with everything inside them, to right after the callback returns, one level
/// shallower. `None` when nothing moves.
fn defer_deliveries(steps: &[Step], level: u32) -> Option<Vec<Step>> {
    let mut out = Vec::with_capacity(steps.len());
    let mut moved_any = false;
    let mut i = 0;
    while i < steps.len() {
        let caller = steps[i];
        let end = block_end(steps, i);
        if caller.depth != level || !caller.event.kind().is_callback() {
            out.push(caller);
            i += 1;
            continue;
        }
        let mut kept = vec![caller];
        let mut deferred = Vec::new();
        let mut k = i + 1;
        while k < end {
            let child = steps[k];
            let child_end = block_end(steps, k);
            let deliverable = child.depth == level + 1
                && child.event.kind().is_callback()
                && !is_hook(&caller.event, &child.event);
            if deliverable {
                deferred.extend(steps[k..child_end].iter().map(|s| Step {
                    depth: s.depth - 1,
                    ..*s
                }));
            } else {
                kept.extend_from_slice(&steps[k..child_end]);
            }
            k = child_end;
        }
        moved_any |= !deferred.is_empty();
        out.extend(kept);
        out.extend(deferred);
        i = end;
    }
    moved_any.then(|| renumber(out))
}

/// Fully deferred: every delivered callback runs from the event loop, at depth 0.
fn flatten(steps: &[Step]) -> Option<Vec<Step>> {
    let mut current = defer_deliveries(steps, 0)?;
    while let Some(next) = defer_deliveries(&current, 0) {
        current = next;
    }
    Some(current)
}

/// `within` on every event at depth >= 1 whose enclosing callback (the nearest
/// earlier event one level up) is a callback. `None` when none gets one.
fn add_within(steps: &[Step]) -> Option<Vec<Step>> {
    let mut out = steps.to_vec();
    let mut added = false;
    for i in 0..out.len() {
        let depth = out[i].depth;
        if depth == 0 || out[i].within.is_some() {
            continue;
        }
        let enclosing = (0..i).rev().find(|&k| out[k].depth < depth);
        if let Some(k) = enclosing {
            if out[k].depth == depth - 1 && out[k].event.kind().is_callback() {
                out[i].within = Some(out[k].seq);
                added = true;
            }
        }
    }
    added.then_some(out)
}

/// A whole-trace transform.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Shape {
    /// Callbacks delivered at depth `level + 1` deferred to depth `level`.
    Defer(u32),
    /// Every delivered callback at depth 0.
    Flatten,
    /// Explicit `within`.
    Within,
    /// Every delivered callback at depth 0, then explicit `within`.
    FlattenWithin,
}

impl Shape {
    const ALL: [Shape; 6] = [
        Shape::Defer(0),
        Shape::Defer(1),
        Shape::Defer(2),
        Shape::Flatten,
        Shape::Within,
        Shape::FlattenWithin,
    ];

    fn apply(self, steps: &[Step]) -> Option<Vec<Step>> {
        match self {
            Shape::Defer(level) => defer_deliveries(steps, level),
            Shape::Flatten => flatten(steps),
            Shape::Within => add_within(steps),
            Shape::FlattenWithin => add_within(&flatten(steps)?),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Defer(level) => write!(f, "callorder shape at depth {level}"),
            Shape::Flatten => f.write_str("callorder shape, all deliveries at depth 0"),
            Shape::Within => f.write_str("explicit within"),
            Shape::FlattenWithin => f.write_str("all deliveries at depth 0, explicit within"),
        }
    }
}

// ------------------------------------------------------------ the comparison

/// The legal and quirk traces of the corpus, with their names.
struct Source {
    file: String,
    steps: Vec<Step>,
    names: common::FileNames,
}

fn sources() -> &'static [Source] {
    static SOURCES: OnceLock<Vec<Source>> = OnceLock::new();
    SOURCES.get_or_init(|| {
        common::manifest()
            .into_iter()
            .filter(|e| e.expect == "legal" || e.expect == "quirk")
            .map(|e| Source {
                steps: common::load(&e.file),
                names: common::FileNames::of(&e.file),
                file: e.file,
            })
            .collect()
    })
}

/// One disagreement between the models.
#[derive(Clone, Debug)]
struct Disagreement {
    file: String,
    mutation: String,
    profile: &'static str,
    oracle: Outcome,
    checker: Outcome,
    /// The mutated trace's lines around the point.
    excerpt: Vec<String>,
    /// The kind of the event where they first part.
    event: String,
}

impl Disagreement {
    /// Which model rejects first, with which rule, at which event.
    fn category(&self) -> String {
        let first = match (&self.oracle, &self.checker) {
            (_, Outcome::Panicked(_)) => "checker panicked".to_owned(),
            (Outcome::Legal { warnings: a }, Outcome::Legal { warnings: b }) => {
                format!("warnings differ (oracle {a}, checker {b})")
            }
            (
                Outcome::Illegal { seq: a, rule: ours },
                Outcome::Illegal {
                    seq: b,
                    rule: theirs,
                },
            ) => {
                if a < b {
                    format!("oracle rejects earlier: {ours}")
                } else {
                    format!("checker rejects earlier: {theirs}")
                }
            }
            (Outcome::Illegal { rule, .. }, _) => format!("only the oracle rejects: {rule}"),
            (_, Outcome::Illegal { rule, .. }) => format!("only the checker rejects: {rule}"),
            _ => "?".to_owned(),
        };
        format!("{first} at {}", self.event)
    }
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} | {} | {}", self.file, self.mutation, self.profile)?;
        writeln!(f, "  oracle:  {}", self.oracle)?;
        writeln!(f, "  checker: {}", self.checker)?;
        for line in &self.excerpt {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// Runs both models under both profiles; the disagreements.
fn compare(source: &Source, mutation: &str, steps: &[Step], around: usize) -> Vec<Disagreement> {
    let mut found = Vec::new();
    for (profile, twisted) in [("strict", false), ("twisted", true)] {
        let ours = oracle(steps, twisted);
        let theirs = checker(steps, twisted);
        if ours.agrees_with(&theirs) {
            continue;
        }
        let point = match (ours.seq(), theirs.seq()) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => steps.len() as u64,
        };
        let point_index = (point as usize)
            .saturating_sub(1)
            .min(steps.len().saturating_sub(1));
        let from = around.min(point_index).saturating_sub(3);
        let to = (around.max(point_index) + 3).min(steps.len().saturating_sub(1));
        let excerpt = if steps.is_empty() {
            Vec::new()
        } else {
            source.names.render(&steps[from..=to])
        };
        let event = steps
            .get(point_index)
            .map_or_else(String::new, |s| s.event.kind().to_string());
        found.push(Disagreement {
            file: source.file.clone(),
            mutation: mutation.to_owned(),
            profile,
            oracle: ours,
            checker: theirs,
            excerpt,
            event,
        });
    }
    found
}

/// Writes the list to /tmp and fails listing one example per category.
fn report(what: &str, total: usize, disagreements: &[Disagreement]) {
    if disagreements.is_empty() {
        return;
    }
    let mut categories: BTreeMap<String, Vec<&Disagreement>> = BTreeMap::new();
    for d in disagreements {
        categories.entry(d.category()).or_default().push(d);
    }
    let mut text = format!(
        "{} disagreements in {} categories over {total} {what}\n\n",
        disagreements.len(),
        categories.len()
    );
    for (category, list) in &categories {
        let strict = list.iter().filter(|d| d.profile == "strict").count();
        let _ = writeln!(
            text,
            "== {category}: {} cases ({strict} strict, {} twisted); first:\n{}",
            list.len(),
            list.len() - strict,
            list[0]
        );
    }
    let mut full = text.clone();
    full.push_str("\n================ every disagreement ================\n\n");
    for d in disagreements {
        let _ = writeln!(full, "{d}");
    }
    // The exhaustive list is the main one; the others go beside it.
    let path = if what == "single-event mutants" {
        "/tmp/oracle_disagreements.txt".to_owned()
    } else {
        format!("/tmp/oracle_disagreements_{}.txt", what.replace(' ', "_"))
    };
    let _ = std::fs::write(&path, full);
    panic!("{text}(full list in {path})");
}

/// The mutants checked exhaustively per trace: all of them for traces up to
/// this length, an evenly spread deterministic sample for longer ones.
const EXHAUSTIVE_UP_TO: usize = 5_000;

#[test]
fn the_models_agree_on_the_corpus() {
    let mut disagreements = Vec::new();
    let mut total = 0;
    for entry in common::manifest() {
        if entry.expect == "malformed" {
            continue;
        }
        let source = Source {
            steps: common::load(&entry.file),
            names: common::FileNames::of(&entry.file),
            file: entry.file,
        };
        total += 1;
        disagreements.extend(compare(&source, "original", &source.steps, 0));
    }
    report("corpus traces", total, &disagreements);
}

#[test]
fn the_models_agree_on_every_single_event_mutant() {
    let mut disagreements = Vec::new();
    let mut total = 0;
    for source in sources() {
        let n = source.steps.len();
        let all = Mutation::all(n);
        let stride = all.len().div_ceil(EXHAUSTIVE_UP_TO).max(1);
        for mutation in all.into_iter().step_by(stride) {
            let Some(mutant) = mutation.apply(&source.steps) else {
                continue;
            };
            total += 1;
            disagreements.extend(compare(
                source,
                &mutation.to_string(),
                &mutant,
                mutation.position(),
            ));
        }
    }
    report("single-event mutants", total, &disagreements);
}

#[test]
fn the_models_agree_on_both_shapes() {
    let mut disagreements = Vec::new();
    let mut total = 0;
    for source in sources() {
        for shape in Shape::ALL {
            let Some(shaped) = shape.apply(&source.steps) else {
                continue;
            };
            total += 1;
            let found = compare(source, &shape.to_string(), &shaped, 0);
            disagreements.extend(found);
            // Explicit `within` names what the depths already say: same verdict.
            if let Some(explicit) = add_within(&shaped) {
                for twisted in [false, true] {
                    let (plain, with) = (oracle(&shaped, twisted), oracle(&explicit, twisted));
                    assert_eq!(
                        plain, with,
                        "{}: {shape} then within changed the oracle's verdict",
                        source.file
                    );
                }
            }
        }
    }
    report("reshaped traces", total, &disagreements);
}

/// A deterministic pseudo-random number generator (SplitMix64), so that the
/// sampled compositions are the same on every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Applies a composition: mutations given as (kind, position), then maybe a
/// shape. Returns the mutant, its description, and the last position touched.
fn compose(
    steps: &[Step],
    mutations: &[(u8, usize)],
    shape: Option<Shape>,
) -> (Vec<Step>, String, usize) {
    let mut steps = steps.to_vec();
    let mut described = Vec::new();
    let mut around = 0;
    for &(kind, position) in mutations {
        if steps.len() < 2 {
            break;
        }
        let i = position % (steps.len() - 1);
        let other = (position / 7919) % steps.len();
        let mutation = match kind % MUTATION_KINDS {
            0 => Mutation::Delete(i),
            1 => Mutation::Duplicate(i),
            2 => Mutation::Swap(i),
            3 => Mutation::Deeper(i),
            4 => Mutation::Shallower(i),
            5 => Mutation::ToggleFailed(i),
            6 => Mutation::Move(i, other),
            7 => Mutation::ToggleHooks(i),
            _ => Mutation::Within(i, other.min(i.saturating_sub(1))),
        };
        if let Some(mutant) = mutation.apply(&steps) {
            steps = mutant;
            described.push(mutation.to_string());
            around = i;
        }
    }
    if let Some(shape) = shape {
        if let Some(shaped) = shape.apply(&steps) {
            steps = shaped;
            described.push(shape.to_string());
        }
    }
    (steps, described.join(", then "), around)
}

/// How many kinds of mutation compositions draw from.
const MUTATION_KINDS: u8 = 9;

/// Compositions sampled per trace by [`the_models_agree_on_sampled_compositions`].
const COMPOSITIONS_PER_TRACE: usize = 400;

#[test]
fn the_models_agree_on_sampled_compositions() {
    let mut rng = SplitMix(0x0c0f_fee0_0ca1_10de);
    let mut disagreements = Vec::new();
    let mut total = 0;
    for source in sources() {
        for _ in 0..COMPOSITIONS_PER_TRACE {
            let count = 1 + rng.below(3);
            let mutations: Vec<(u8, usize)> = (0..count)
                .map(|_| {
                    (
                        rng.below(MUTATION_KINDS.into()) as u8,
                        rng.below(usize::MAX),
                    )
                })
                .collect();
            let shape = (rng.below(3) == 0).then(|| Shape::ALL[rng.below(Shape::ALL.len())]);
            let (mutant, described, around) = compose(&source.steps, &mutations, shape);
            total += 1;
            disagreements.extend(compare(source, &described, &mutant, around));
        }
    }
    report("sampled compositions", total, &disagreements);
}

/// A random composition: up to three mutations, then maybe a shape.
fn mutant_strategy() -> impl Strategy<Value = (usize, Vec<(u8, usize)>, Option<usize>)> {
    let traces = sources().len();
    (
        0..traces,
        proptest::collection::vec((0u8..MUTATION_KINDS, any::<usize>()), 1..=3),
        proptest::option::of(0..Shape::ALL.len()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_models_agree_on_sampled_mutants((trace, mutations, shape) in mutant_strategy()) {
        let source = &sources()[trace];
        let (steps, described, around) = compose(&source.steps, &mutations, shape.map(|s| Shape::ALL[s]));
        let found = compare(source, &described, &steps, around);
        if !found.is_empty() {
            report("sampled mutants", 1, &found);
        }
    }
}
