//! How a long campaign shows it is alive: on stderr, a bar on a terminal
//! (indicatif), a line every few seconds otherwise (a CI log), once the
//! campaign has run for a couple of seconds; a short one shows nothing.
//!
//! This is wall-clock time in the fuzzer's own loop, never in the mock
//! reactor, whose clock is virtual: progress changes what stderr shows,
//! never what a case does.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A campaign shorter than this shows no progress.
const QUIET_FOR: Duration = Duration::from_secs(2);
/// How often a log line comes when stderr is not a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// The progress of one campaign of `total` cases.
pub(crate) struct Progress {
    name: String,
    total: u64,
    done: u64,
    start: Instant,
    /// When the last log line was written (not on a terminal).
    last_line: Option<Instant>,
    /// The bar, once shown (on a terminal).
    bar: Option<ProgressBar>,
    terminal: bool,
}

impl Progress {
    /// A campaign called `name` (its implementation, or the kind of
    /// set-up) of `total` cases starts now.
    pub(crate) fn new(name: impl Into<String>, total: u64) -> Self {
        Progress {
            name: name.into(),
            total,
            done: 0,
            start: Instant::now(),
            last_line: None,
            bar: None,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// One more case ran.
    pub(crate) fn case(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            return;
        }
        // Checking the clock every case costs a few tens of nanoseconds
        // against tens of microseconds for the case.
        let now = Instant::now();
        let elapsed = now.duration_since(self.start);
        if elapsed < QUIET_FOR {
            return;
        }
        if self.terminal {
            let bar = ProgressBar::with_draw_target(Some(self.total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "callorder-fuzz {msg}: {bar:30} {pos}/{len} cases, {per_sec}, {eta} left",
            ) {
                bar.set_style(style);
            }
            bar.set_message(self.name.clone());
            bar.set_position(self.done);
            self.bar = Some(bar);
        } else if self
            .last_line
            .is_none_or(|at| now.duration_since(at) >= LINE_EVERY)
        {
            self.last_line = Some(now);
            eprintln!("{}", self.line(elapsed));
        }
    }

    /// The log line for now.
    fn line(&self, elapsed: Duration) -> String {
        format!(
            "callorder-fuzz {}: {}/{} cases, {:.1} s",
            self.name,
            self.done,
            self.total,
            elapsed.as_secs_f64()
        )
    }

    /// How long the campaign has run.
    pub(crate) fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The campaign is over (passed, or found a failure to shrink): the
    /// bar goes.
    pub(crate) fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_campaign_shows_nothing_and_a_line_says_where_it_is() {
        let mut p = Progress::new("echo_server", 10);
        p.terminal = false;
        for _ in 0..3 {
            p.case();
        }
        assert!(p.bar.is_none() && p.last_line.is_none(), "quiet at first");
        assert_eq!(
            p.line(Duration::from_millis(2500)),
            "callorder-fuzz echo_server: 3/10 cases, 2.5 s"
        );
        // Past the quiet time, a line is due, and then not again at once.
        p.start -= QUIET_FOR;
        p.case();
        let first = p.last_line.expect("a line was written");
        p.case();
        assert_eq!(p.last_line, Some(first));
    }
}
