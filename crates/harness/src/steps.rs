//! Steps made as the run reaches them: a script too long to build whole.

use std::fmt;
use std::sync::Arc;

use crate::script::{Origin, Script, Step};

/// The steps of a run, pulled one at a time as the run reaches each, so that
/// a script of any length runs in constant memory: a soak of a million life
/// cycles is a million small scripts made one after the other, where a
/// [`Script`] of them all, built before the run, would take half a
/// gigabyte on its own.
///
/// Steps are numbered as in one script made of them all, from 0: a
/// [`ScriptFailure`](crate::ScriptFailure) names the step's index in the
/// whole stream, and a step names attempts and connections as a script
/// does (attempt `n` of the run, whichever cycle made it).
///
/// ```
/// use callorder::reference::LineClientFactory;
/// use callorder::{Conn, MockReactor, Outcome, Script, Steps};
/// use std::sync::Arc;
///
/// // Each cycle connects once and is answered by its own steps.
/// let cycles = 1_000;
/// let steps = Steps::repeat(cycles, |n| {
///     Script::new().resolve(n, Outcome::Accept).close(Conn::Client(n))
/// })
/// .then(Script::new().shutdown());
/// let run = MockReactor::new().keep_last(16).keep_ended(4).run_steps(steps, |reactor| {
///     for _ in 0..cycles {
///         reactor.connect_tcp("example.org:80", Arc::new(LineClientFactory::new(["hi"])), None);
///     }
/// });
/// run.assert_clean();
/// assert_eq!(run.connections.len(), 4, "the last four ended connections are kept");
/// ```
pub struct Steps {
    iter: Box<dyn Iterator<Item = Step>>,
    /// Where the steps are in their file, for those of a parsed script.
    pub(crate) origin: Option<Arc<Origin>>,
    /// How many world events the steps hold, when known before the run.
    pub(crate) events: Option<usize>,
}

impl Steps {
    /// The steps an iterator makes, in order, each made when the run
    /// reaches it.
    ///
    /// ```
    /// use callorder::{MockReactor, Step, Steps};
    /// use std::time::Duration;
    /// let ticks = (0..3).map(|_| Step::Advance(Duration::from_secs(1)));
    /// let run = MockReactor::new().run_steps(Steps::new(ticks.chain([Step::Shutdown])), |_| {});
    /// run.assert_clean();
    /// assert_eq!(run.trace.last().unwrap().t, Some(3.0));
    /// ```
    pub fn new(steps: impl IntoIterator<Item = Step> + 'static) -> Self {
        Steps {
            iter: Box::new(steps.into_iter()),
            origin: None,
            events: None,
        }
    }

    /// The steps of `cycle(1)`, then of `cycle(2)`, ... then of
    /// `cycle(cycles)`: each cycle's script is made when the run reaches
    /// its first step, and dropped once its last step ran.
    pub fn repeat(cycles: usize, mut cycle: impl FnMut(usize) -> Script + 'static) -> Self {
        Steps::new((1..=cycles).flat_map(move |n| cycle(n).into_steps()))
    }

    /// These steps, then those of `script`.
    #[must_use]
    pub fn then(self, script: impl Into<Steps>) -> Self {
        let next = script.into();
        Steps {
            iter: Box::new(self.iter.chain(next.iter)),
            origin: None,
            events: None,
        }
    }

    /// The steps, as the run pulls them.
    pub(crate) fn into_iter(self) -> Box<dyn Iterator<Item = Step>> {
        self.iter
    }
}

impl From<Script> for Steps {
    fn from(script: Script) -> Self {
        let (steps, origin) = script.into_parts();
        let events = steps
            .iter()
            .map(|step| match step {
                Step::Batch(events) => events.len(),
                _ => 1,
            })
            .sum();
        Steps {
            iter: Box::new(steps.into_iter()),
            origin,
            events: Some(events),
        }
    }
}

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Steps").finish_non_exhaustive()
    }
}
