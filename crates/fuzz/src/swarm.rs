//! Swarm testing: each case draws its own weights over the kinds of world
//! action, from its own random stream, before it draws its actions.
//!
//! With one fixed mix, every case looks alike: mostly sends, a window now
//! and then, a reset now and then. A deep state needs several rare moves in
//! one case (a small read window to fill the write buffer and pause a
//! producer, then an unlimited one to drain it and resume it), and under a
//! fixed mix that takes thousands of cases. Under a swarm some cases are
//! mostly windows, others mostly resets or half-closes, others have no
//! shutdown until the end: each deep state is common in some part of the
//! swarm (Groce et al., "Swarm Testing", ISSTA 2012).
//!
//! The weights come from the case's own random stream, so a case still
//! replays from its seed alone; the fuzzer's regression is its printed
//! script anyway, which holds the actions themselves.
//!
//! A [`Choice`](crate::choice::Choice) whose options are tagged with a
//! [`Kind`] reads the current case's swarm while the case is generated (a
//! thread-local, set only for the length of one case's generation), so the
//! strategies keep their shape and their shrinking.

use std::cell::Cell;

use proptest::prelude::Rng;
use proptest::strategy::{BoxedStrategy, NewTree, Strategy, ValueTree};
use proptest::test_runner::{TestRng, TestRunner};

/// The kinds of world action a swarm weighs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// An answer to an outgoing attempt, or a peer connecting: what opens
    /// connections, never left out.
    Open,
    /// One event of the kinds below, not in a batch: weighs what it
    /// always weighs, as its own choice follows the swarm.
    Event,
    Send,
    Close,
    HalfClose,
    Reset,
    Window,
    WriteError,
    StopListening,
    Advance,
    Batch,
    Shutdown,
}

impl Kind {
    /// Every kind, in declaration order (`kind as usize` is its index).
    const ALL: [Kind; 12] = [
        Kind::Open,
        Kind::Event,
        Kind::Send,
        Kind::Close,
        Kind::HalfClose,
        Kind::Reset,
        Kind::Window,
        Kind::WriteError,
        Kind::StopListening,
        Kind::Advance,
        Kind::Batch,
        Kind::Shutdown,
    ];
}

/// One case's multipliers of the base weights, by [`Kind`]: 0 leaves a
/// kind out of the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Swarm {
    times: [u8; Kind::ALL.len()],
}

impl Swarm {
    /// A swarm drawn from `rng`. Connections opened weigh 2 or 4 times
    /// their base weight (every other kind acts on one), data sent and
    /// time passing 1 or 2 times; a shutdown mid-way is left out of half
    /// the cases (it ends the case: never more often than usual); each
    /// other kind is left out of a sixth of the cases, and weighs 1, 4, 8
    /// or 16 (a third of the cases) times its base weight in the others:
    /// the rare moves deep states need (a base weight of 1 against a
    /// send's 10) are as common as sends in some cases.
    /// Tuned on the mutant gallery and the states the reference
    /// implementations reach (`benches/states.rs`).
    fn draw(rng: &mut TestRng) -> Self {
        let mut times = [1u8; Kind::ALL.len()];
        let mut bits = rng.next_u64();
        for (i, kind) in Kind::ALL.iter().enumerate() {
            let roll = (bits % 6) as u8;
            bits /= 6;
            let r = usize::from(roll);
            times[i] = match kind {
                Kind::Event => 1,
                // What most bugs need: never left out, weighed otherwise.
                // Connections most of all: what every other kind acts on.
                Kind::Open => [2, 4][r % 2],
                Kind::Send | Kind::Advance => [1, 2][r % 2],
                // A shutdown ends the case: never more often than usual.
                Kind::Shutdown => [0, 1][r % 2],
                _ => [0, 1, 4, 8, 16, 16][r],
            };
        }
        Swarm { times }
    }

    /// The multiplier of `kind`.
    #[inline]
    pub(crate) fn times(self, kind: Kind) -> u32 {
        u32::from(self.times[kind as usize])
    }
}

thread_local! {
    /// The swarm of the case being generated on this thread, if any.
    static CURRENT: Cell<Option<Swarm>> = const { Cell::new(None) };
}

/// The swarm of the case being generated now, if any.
pub(crate) fn current() -> Option<Swarm> {
    CURRENT.with(Cell::get)
}

/// A strategy that draws a [`Swarm`] for each value, then the value under
/// it.
#[derive(Debug)]
pub(crate) struct Swarmed<T> {
    inner: BoxedStrategy<T>,
}

impl<T> Swarmed<T> {
    pub(crate) fn new(inner: BoxedStrategy<T>) -> Self {
        Swarmed { inner }
    }
}

impl<T: std::fmt::Debug + 'static> Strategy for Swarmed<T> {
    type Tree = Box<dyn ValueTree<Value = T>>;
    type Value = T;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let swarm = Swarm::draw(runner.rng());
        /// Puts the previous swarm back even if generation panics.
        struct Restore(Option<Swarm>);
        impl Drop for Restore {
            fn drop(&mut self) {
                CURRENT.with(|c| c.set(self.0));
            }
        }
        let _restore = Restore(CURRENT.with(|c| c.replace(Some(swarm))));
        self.inner.new_tree(runner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng};

    #[test]
    fn swarms_leave_kinds_out_and_weigh_the_rest_but_always_open_send_and_wait() {
        let mut rng = TestRng::from_seed(RngAlgorithm::XorShift, &[3; 16]);
        let swarms: Vec<Swarm> = (0..300).map(|_| Swarm::draw(&mut rng)).collect();
        for kind in [Kind::Open, Kind::Send, Kind::Advance] {
            assert!(swarms.iter().all(|s| s.times(kind) > 0), "{kind:?}");
        }
        let off = swarms.iter().filter(|s| s.times(Kind::Window) == 0).count();
        assert!((25..80).contains(&off), "about a sixth: {off}");
        let heavy = swarms.iter().filter(|s| s.times(Kind::Window) >= 8).count();
        assert!((110..190).contains(&heavy), "about a half: {heavy}");
        let shutdowns = swarms
            .iter()
            .filter(|s| s.times(Kind::Shutdown) == 0)
            .count();
        assert!((110..190).contains(&shutdowns), "about a half: {shutdowns}");
        assert!(swarms.iter().all(|s| s.times(Kind::Shutdown) <= 1));
    }

    #[test]
    fn the_swarm_is_set_only_while_a_value_is_generated() {
        // Evaluated while the tree is made, as the choices are.
        let seen = proptest::strategy::Just(())
            .prop_flat_map(|()| proptest::strategy::Just(current()))
            .boxed();
        let strategy = Swarmed::new(seen);
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::XorShift, &[5; 16]),
        );
        let tree = strategy.new_tree(&mut runner).unwrap();
        assert!(tree.current().is_some());
        assert_eq!(current(), None);
    }
}
