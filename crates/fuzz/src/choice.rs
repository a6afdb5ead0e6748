//! A weighted choice between strategies that shrinks as proptest's `Union`
//! does, for a fraction of the cost of generating a value.
//!
//! Proptest's `Union` gives every alternative before the one it picks a
//! lazily built value tree, and each of those carries its own test runner
//! (a copy of the configuration and a freshly seeded random source). A case
//! of 20 world actions picks from nested unions about 60 times, and those
//! runners were close to half the cost of generating a case. A `Choice`
//! keeps one seed instead and builds an earlier alternative's tree only when
//! shrinking asks for it.

use std::fmt;
use std::sync::Arc;

use proptest::prelude::Rng;
use proptest::strategy::{BoxedStrategy, NewTree, Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use crate::swarm::{Kind, Swarm};

/// Picks one of `options` with probability proportional to its weight.
///
/// Shrinking first simplifies the picked value, then moves to earlier
/// alternatives one at a time (so list the simplest first), as
/// `proptest::strategy::Union` does.
pub(crate) struct Choice<T> {
    options: Arc<[(u32, BoxedStrategy<T>)]>,
    total: u64,
    /// The swarm kind of each option, when the choice follows the case's
    /// swarm ([`crate::swarm`]).
    kinds: Option<Arc<[Kind]>>,
}

impl<T> Choice<T> {
    /// A choice between `options`; weights of zero are never picked.
    ///
    /// # Panics
    ///
    /// If no option has a weight above zero.
    pub(crate) fn new(options: Vec<(u32, BoxedStrategy<T>)>) -> Self {
        let options: Vec<_> = options.into_iter().filter(|(w, _)| *w > 0).collect();
        let total = options.iter().map(|(w, _)| u64::from(*w)).sum();
        assert!(total > 0, "a choice needs an option with a weight");
        Choice {
            options: options.into(),
            total,
            kinds: None,
        }
    }

    /// A choice whose weights the swarm of the case being generated
    /// multiplies, kind by kind ([`crate::swarm`]); with no swarm, or one
    /// that leaves every option out, the weights as given.
    ///
    /// # Panics
    ///
    /// If no option has a weight above zero.
    pub(crate) fn swarmed(options: Vec<(Kind, u32, BoxedStrategy<T>)>) -> Self {
        let options: Vec<_> = options.into_iter().filter(|(_, w, _)| *w > 0).collect();
        let kinds: Vec<Kind> = options.iter().map(|(k, _, _)| *k).collect();
        let mut choice = Choice::new(options.into_iter().map(|(_, w, s)| (w, s)).collect());
        choice.kinds = Some(kinds.into());
        choice
    }

    /// The weight of option `i` under `swarm` (the base weight without).
    fn weight(&self, i: usize, swarm: Option<(&[Kind], Swarm)>) -> u64 {
        let base = u64::from(self.options[i].0);
        match swarm {
            Some((kinds, swarm)) => base * u64::from(swarm.times(kinds[i])),
            None => base,
        }
    }
}

impl<T> fmt::Debug for Choice<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Choice")
            .field("options", &self.options.len())
            .finish()
    }
}

impl<T: fmt::Debug + 'static> Strategy for Choice<T> {
    type Tree = ChoiceTree<T>;
    type Value = T;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        // The case's swarm, if this choice follows one and it leaves some
        // option in; else the weights as given.
        let mut swarm = match (&self.kinds, crate::swarm::current()) {
            (Some(kinds), Some(s)) => Some((&kinds[..], s)),
            _ => None,
        };
        let mut total = self.total;
        if swarm.is_some() {
            total = (0..self.options.len()).map(|i| self.weight(i, swarm)).sum();
            if total == 0 {
                (swarm, total) = (None, self.total);
            }
        }
        let mut roll = runner.rng().next_u64() % total;
        let mut pick = 0;
        for i in 0..self.options.len() {
            let w = self.weight(i, swarm);
            if roll < w {
                pick = i;
                break;
            }
            roll -= w;
        }
        let mut seed = [0u8; 16];
        runner.rng().fill_bytes(&mut seed);
        let current = self.options[pick].1.new_tree(runner)?;
        Ok(ChoiceTree {
            options: Arc::clone(&self.options),
            seed,
            current,
            pick,
            min_pick: 0,
            prev: None,
        })
    }
}

/// The value tree of a [`Choice`].
pub(crate) struct ChoiceTree<T> {
    options: Arc<[(u32, BoxedStrategy<T>)]>,
    /// Seeds the runner that builds earlier alternatives while shrinking.
    seed: [u8; 16],
    current: Box<dyn ValueTree<Value = T>>,
    pick: usize,
    /// Shrinking never goes below this alternative again (set when moving
    /// down proved too simple).
    min_pick: usize,
    /// The alternative (and its tree) before the last move down, to go back
    /// to if that move made the case pass.
    prev: Option<(usize, Box<dyn ValueTree<Value = T>>)>,
}

impl<T: fmt::Debug> fmt::Debug for ChoiceTree<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChoiceTree")
            .field("pick", &self.pick)
            .field("current", &self.current.current())
            .finish()
    }
}

impl<T: fmt::Debug> ValueTree for ChoiceTree<T> {
    type Value = T;

    fn current(&self) -> T {
        self.current.current()
    }

    fn simplify(&mut self) -> bool {
        if self.current.simplify() {
            self.prev = None;
            return true;
        }
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::XorShift, &self.seed),
        );
        let mut next = self.pick;
        while next > self.min_pick {
            next -= 1;
            // An alternative that cannot make a value is skipped, as a lazy
            // tree that fails to initialise is in `Union`.
            if let Ok(tree) = self.options[next].1.new_tree(&mut runner) {
                let old = std::mem::replace(&mut self.current, tree);
                self.prev = Some((self.pick, old));
                self.pick = next;
                return true;
            }
        }
        false
    }

    fn complicate(&mut self) -> bool {
        match self.prev.take() {
            Some((pick, tree)) => {
                self.pick = pick;
                self.min_pick = pick;
                self.current = tree;
                true
            }
            None => self.current.complicate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn numbers() -> Choice<u32> {
        Choice::new(vec![
            (1, Just(0u32).boxed()),
            (0, Just(99u32).boxed()),
            (3, (10u32..20).boxed()),
        ])
    }

    #[test]
    fn picks_follow_the_weights_and_a_zero_weight_is_never_picked() {
        let mut runner = TestRunner::deterministic();
        let strategy = numbers();
        let mut zeros = 0;
        for _ in 0..4000 {
            let v = strategy.new_tree(&mut runner).unwrap().current();
            assert_ne!(v, 99);
            if v == 0 {
                zeros += 1;
            }
        }
        assert!((800..1200).contains(&zeros), "about a quarter: {zeros}");
    }

    #[test]
    fn shrinking_simplifies_the_pick_then_moves_to_earlier_alternatives() {
        let mut runner = TestRunner::deterministic();
        let strategy = numbers();
        let mut tree = loop {
            let t = strategy.new_tree(&mut runner).unwrap();
            if t.current() >= 15 {
                break t;
            }
        };
        // Simplify while the "failure" (any value) persists: it ends at the
        // first alternative.
        while tree.simplify() {}
        assert_eq!(tree.current(), 0);
    }

    #[test]
    fn complicating_after_a_move_down_goes_back_and_stays_there() {
        let mut runner = TestRunner::deterministic();
        let strategy = numbers();
        let mut tree = loop {
            let t = strategy.new_tree(&mut runner).unwrap();
            if t.current() >= 10 {
                break t;
            }
        };
        // Simplify the range value to its minimum, then move down.
        while tree.current() != 10 {
            assert!(tree.simplify());
        }
        assert!(tree.simplify(), "moves to the earlier alternative");
        assert_eq!(tree.current(), 0);
        assert!(tree.complicate(), "that passed: go back");
        assert_eq!(tree.current(), 10);
        assert!(!tree.simplify(), "nothing simpler is left to try");
    }

    #[test]
    fn the_same_seed_makes_the_same_values() {
        let values = |seed: u8| {
            let mut runner = TestRunner::new_with_rng(
                Config::default(),
                TestRng::from_seed(RngAlgorithm::XorShift, &[seed; 16]),
            );
            (0..50)
                .map(|_| numbers().new_tree(&mut runner).unwrap().current())
                .collect::<Vec<_>>()
        };
        assert_eq!(values(3), values(3));
    }
}
