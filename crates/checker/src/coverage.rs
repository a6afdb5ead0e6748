//! Spec coverage: how often each rule was exercised.

use crate::rules::{Rule, RuleKind};

/// How often each rule of [`Rule::TABLE`] was exercised: a forbidding rule
/// each time an event was checked against it, an obligation each time it was
/// checked at `end`, a permission each time a trace used it.
///
/// Coverage adds up across checkers with [`Coverage::merge`], so a test suite
/// can report which parts of the spec it never touched.
///
/// ```
/// use callorder_checker::{Checker, Rule};
/// use callorder_trace::{Event, FactoryId, PortId, Step};
///
/// let mut checker = Checker::default();
/// checker.step(&Step::new(1, Event::ListenTcp { factory: FactoryId(1), port: PortId(1) })).unwrap();
/// assert!(checker.coverage().count(Rule::DuplicateId) > 0);
/// assert_eq!(checker.coverage().count(Rule::StopHook), 0);
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Coverage {
    counts: [u64; Rule::COUNT],
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage {
            counts: [0; Rule::COUNT],
        }
    }
}

impl Coverage {
    /// Counts one use of `rule`.
    #[inline]
    pub fn hit(&mut self, rule: Rule) {
        self.counts[rule.index()] += 1;
    }

    /// Counts `n` uses of `rule`.
    pub(crate) fn add(&mut self, rule: Rule, n: u64) {
        self.counts[rule.index()] += n;
    }

    /// How often `rule` was exercised.
    pub fn count(&self, rule: Rule) -> u64 {
        self.counts[rule.index()]
    }

    /// Adds another checker's counts to these.
    pub fn merge(&mut self, other: &Coverage) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
    }

    /// Rules that can be exercised by some trace but never were.
    pub fn untouched(&self) -> Vec<Rule> {
        Rule::TABLE
            .iter()
            .copied()
            .filter(|r| r.kind() != RuleKind::Unbreakable && self.count(*r) == 0)
            .collect()
    }

    /// Every rule with its count, in table order.
    pub fn iter(&self) -> impl Iterator<Item = (Rule, u64)> + '_ {
        Rule::TABLE.iter().map(|r| (*r, self.count(*r)))
    }
}
