//! What the three reactor-free campaigns (a protocol, a client factory, a
//! server factory) share around their drivers: running proptest over the
//! cases, simplifying the failing one, and reporting it.

use std::cell::{Cell, RefCell};
use std::fmt;

use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError};

use crate::checks::{closes, CheckKind, Finding};
use crate::fuzz::{
    campaign_config, effective, paused_runtime, runner_for, DEFAULT_CASES, SEED_ENV,
};
use crate::greedy::{self, DirectInvariant, Simplify};
use crate::progress::Progress;
use crate::recorder::Outcome;
use crate::strategy::payload;

/// The settings every reactor-free campaign has, set by the builder methods
/// they share (`direct_campaign_settings!`).
pub(crate) struct Settings {
    pub(crate) cases: u32,
    pub(crate) seed: u64,
    pub(crate) max_choices: usize,
    pub(crate) payloads: Option<BoxedStrategy<Vec<u8>>>,
    pub(crate) write_after_close: bool,
    /// Run each passing case again with its data re-chunked, and compare.
    pub(crate) chunking: bool,
    pub(crate) invariants: Vec<(String, DirectInvariant)>,
    pub(crate) persistence: Option<FileFailurePersistence>,
    /// The test's source file, next to which proptest keeps regressions.
    pub(crate) source_file: &'static str,
}

impl Settings {
    /// The defaults, for a campaign started from `source_file`.
    pub(crate) fn new(source_file: &'static str) -> Self {
        Settings {
            cases: DEFAULT_CASES,
            seed: 0,
            max_choices: 16,
            payloads: None,
            write_after_close: true,
            chunking: true,
            invariants: Vec::new(),
            persistence: None,
            source_file,
        }
    }

    /// The chunks `data_received` gets.
    pub(crate) fn payloads(&self) -> BoxedStrategy<Vec<u8>> {
        self.payloads.clone().unwrap_or_else(payload)
    }

    /// The checks over a whole run, once a case ran.
    pub(crate) fn finish_checks(&self, outcome: &mut Outcome) {
        greedy::finish_checks(outcome, self.write_after_close, &self.invariants);
    }

    /// The checks that run on every case, by name.
    pub(crate) fn checks(&self) -> Vec<String> {
        let mut out = vec![
            "order (strict profile)".to_owned(),
            "no panic".to_owned(),
            "no implementation error".to_owned(),
        ];
        if self.chunking {
            out.push("chunking invariance".to_owned());
        }
        if self.write_after_close {
            out.push("write after close".to_owned());
        }
        out.extend(
            self.invariants
                .iter()
                .map(|(name, _)| format!("invariant {name:?}")),
        );
        out
    }

    /// Adds the settings to a builder's `Debug`.
    pub(crate) fn describe(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("cases", &self.cases)
            .field("seed", &self.seed)
            .field("max_choices", &self.max_choices)
            .field("write_after_close", &self.write_after_close)
            .field("chunking", &self.chunking)
            .field("invariants", &self.invariants.len());
    }
}

/// A direct campaign that passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectReport {
    /// The cases that passed.
    pub cases: u32,
    /// The campaign's seed (with a seed range, its start).
    pub seed: u64,
    /// With `CALLORDER_FUZZ_SEED=START..END`, the seeds run, one case
    /// each.
    pub seed_range: Option<std::ops::Range<u64>>,
    /// The checks that ran on every case, by name.
    pub checks: Vec<String>,
    /// How long the campaign ran (wall-clock time).
    pub elapsed: std::time::Duration,
    /// What the campaign fuzzed: `protocol`, `client factory`, `server
    /// factory`.
    pub subject: &'static str,
}

impl fmt::Display for DirectReport {
    /// The one-line summary a passing campaign prints on stderr (shown by
    /// `cargo test -- --nocapture`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seeds = match &self.seed_range {
            Some(r) => format!("seeds {}..{}", r.start, r.end),
            None => format!("seed {}", self.seed),
        };
        write!(
            f,
            "callorder-fuzz: the {} passed {} cases ({seeds}) in {:.1} s; checks: {}",
            self.subject,
            self.cases,
            self.elapsed.as_secs_f64(),
            self.checks.join(", ")
        )
    }
}

/// A case of a reactor-free campaign, as its failure report shows it.
///
/// ```
/// use callorder::direct::Choice;
/// use callorder::direct_client::ClientCase;
/// use callorder::DirectCase;
///
/// assert_eq!(<Vec<Choice>>::SUBJECT, "protocol");
/// assert_eq!(ClientCase::SUBJECT, "client factory");
/// assert_eq!(ClientCase::empty().objects(), Some((1, "connector")));
/// ```
pub trait DirectCase: Clone + fmt::Debug {
    /// What the campaign fuzzes: `protocol`, `client factory`, `server
    /// factory`.
    const SUBJECT: &'static str;

    /// How many objects of which kind the case shares the factory among:
    /// `Some((2, "connector"))`; `None` for a protocol alone.
    fn objects(&self) -> Option<(usize, &'static str)>;

    /// The choices the case made, in order.
    fn choices(&self) -> &dyn fmt::Debug;

    /// A case with one object and no choices: the case of a campaign that
    /// proptest gave up on before any failed.
    fn empty() -> Self;
}

/// The minimal failing case of a reactor-free campaign. Its `Display` is
/// the panic message of the campaign's `check`.
#[derive(Clone, Debug)]
pub struct DirectFailure<C = Vec<crate::direct::Choice>> {
    /// What the check found.
    pub finding: Finding,
    /// The minimal case.
    pub case: C,
    /// The callback sequence it gave, one line per callback, with the
    /// actions each made indented under it.
    pub sequence: String,
    /// How many callbacks the fuzzed objects got.
    pub callbacks: usize,
    /// The whole trace, in JSON Lines (trace format v1).
    pub trace: String,
    /// The campaign's seed ([`SEED_ENV`] replays it).
    pub campaign_seed: u64,
    /// Which case first failed, from 1, before shrinking (as
    /// [`Failure::found_after`](crate::Failure::found_after)).
    pub found_after: u32,
}

impl<C: DirectCase> DirectFailure<C> {
    /// The report of `case`, whose run gave `outcome`.
    fn new(outcome: Outcome, case: C, campaign_seed: u64, found_after: u32) -> Self {
        DirectFailure {
            finding: outcome.finding.unwrap_or_else(|| Finding {
                check: CheckKind::Determinism,
                message: format!(
                    "this case failed a check under proptest, then passed every check when run \
                     again: what the {} does depends on something besides the case",
                    C::SUBJECT
                ),
                seq: None,
            }),
            case,
            sequence: outcome.log.join("\n"),
            callbacks: outcome.callbacks,
            trace: greedy::trace_text(&outcome.trace),
            campaign_seed,
            found_after,
        }
    }
}

impl<C: DirectCase> fmt::Display for DirectFailure<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        writeln!(
            f,
            "callorder-fuzz: the {} failed a check: {}",
            C::SUBJECT,
            self.finding
        )?;
        let objects = match self.case.objects() {
            Some((n, kind)) => format!("{n} {kind}{}, ", plural(n)),
            None => String::new(),
        };
        writeln!(
            f,
            "\nminimal callback sequence ({objects}{} callback{}):\n---8<---\n{}\n---8<---",
            self.callbacks,
            plural(self.callbacks),
            self.sequence
        )?;
        writeln!(f, "\nchoices: {:?}", self.case.choices())?;
        writeln!(f, "\ntrace:\n---8<---\n{}---8<---", self.trace)?;
        writeln!(
            f,
            "\nfound after {found} case{s} (before shrinking); seed: {seed} (replay the campaign with {SEED_ENV}={seed})",
            found = self.found_after,
            s = plural(self.found_after as usize),
            seed = self.campaign_seed,
        )
    }
}

/// Runs a campaign: `strategy`'s cases through `drive` (a fresh object
/// each time) until `settings.cases` pass or one fails, then proptest's
/// shrinking and the greedy pass make the failing case minimal. The
/// environment overrides the seed and the number of cases.
///
/// # Panics
///
/// If [`SEED_ENV`] or [`CASES_ENV`](crate::CASES_ENV) is malformed.
pub(crate) fn run<C: DirectCase + Simplify>(
    settings: &Settings,
    strategy: &impl Strategy<Value = C>,
    drive: impl Fn(&tokio::runtime::Runtime, &C) -> Outcome,
) -> Result<DirectReport, Box<DirectFailure<C>>> {
    let range = crate::seeds::range_from_env().unwrap_or_else(|e| panic!("callorder-fuzz: {e}"));
    let (seed, cases, seed_range) = match range {
        Some(range) => (
            range.start,
            u32::try_from(range.end - range.start).unwrap_or(u32::MAX),
            Some(range),
        ),
        None => {
            let (seed, cases) = effective(settings.seed, settings.cases)
                .unwrap_or_else(|e| panic!("callorder-fuzz: {e}"));
            (seed, cases, None)
        }
    };
    let progress = RefCell::new(Progress::new(C::SUBJECT, u64::from(cases)));
    match &seed_range {
        Some(range) => {
            for seed in range.clone() {
                run_seed(settings, strategy, &drive, seed, 1, &progress)?;
            }
        }
        None => run_seed(settings, strategy, &drive, seed, cases, &progress)?,
    }
    let report = DirectReport {
        cases,
        seed,
        seed_range,
        checks: settings.checks(),
        elapsed: progress.borrow().elapsed(),
        subject: C::SUBJECT,
    };
    // Captured by the test harness: shown with --nocapture, on a pass too.
    eprintln!("{report}");
    Ok(report)
}

/// The campaign of `cases` cases from `seed`.
fn run_seed<C: DirectCase + Simplify>(
    settings: &Settings,
    strategy: &impl Strategy<Value = C>,
    drive: &impl Fn(&tokio::runtime::Runtime, &C) -> Outcome,
    seed: u64,
    cases: u32,
    progress: &RefCell<Progress>,
) -> Result<(), Box<DirectFailure<C>>> {
    let config = Config {
        cases,
        ..campaign_config(settings.persistence, settings.source_file)
    };
    let rt = paused_runtime();
    let mut runner = runner_for(seed, config);
    let checked = |c: &C| with_chunking(settings, c, |c| drive(&rt, c));
    // Cases run until the first failure (shrinking runs more).
    let (runs, found_after) = (Cell::new(0u32), Cell::new(None));
    let outcome = runner.run(strategy, |case| {
        runs.set(runs.get() + 1);
        if found_after.get().is_none() {
            progress.borrow_mut().case();
        }
        match checked(&case).finding {
            None => Ok(()),
            Some(f) => {
                if found_after.get().is_none() {
                    found_after.set(Some(runs.get()));
                }
                Err(TestCaseError::fail(f.to_string()))
            }
        }
    });
    let found_after = found_after.get().unwrap_or(0);
    progress.borrow_mut().finish();
    match outcome {
        Ok(()) => Ok(()),
        Err(TestError::Fail(_, case)) => {
            let (case, outcome) = greedy::minimize(case, checked);
            Err(Box::new(DirectFailure::new(
                outcome,
                case,
                seed,
                found_after,
            )))
        }
        Err(TestError::Abort(why)) => Err(Box::new(DirectFailure {
            finding: Finding {
                check: CheckKind::Determinism,
                message: format!("proptest gave up: {why}"),
                seq: None,
            },
            case: C::empty(),
            sequence: String::new(),
            callbacks: 0,
            trace: String::new(),
            campaign_seed: seed,
            found_after,
        })),
    }
}

/// How a case's data is re-chunked for the chunking-invariance check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rechunk {
    /// Each run of data choices on one connection, with nothing between
    /// them, joined into one.
    Whole,
    /// Every chunk cut into single bytes.
    Bytes,
}

impl Rechunk {
    fn label(self) -> &'static str {
        match self {
            Rechunk::Whole => "all in one chunk",
            Rechunk::Bytes => "byte by byte",
        }
    }
}

/// The data choices of `choices` re-chunked: `data` gives a choice's
/// connection and bytes (`None` for other choices), `make` the choice back.
pub(crate) fn rechunked<T: Clone>(
    choices: &[T],
    how: Rechunk,
    data: impl for<'a> Fn(&'a T) -> Option<(usize, &'a [u8])>,
    make: impl Fn(usize, Vec<u8>) -> T,
) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(choices.len());
    // The connection and bytes of the last choice pushed, if it was data.
    let mut last: Option<(usize, Vec<u8>)> = None;
    for choice in choices {
        match (how, data(choice)) {
            (Rechunk::Whole, Some((conn, bytes))) => match &mut last {
                Some((c, joined)) if *c == conn => {
                    joined.extend_from_slice(bytes);
                    out.pop();
                    out.push(make(conn, joined.clone()));
                }
                _ => {
                    last = Some((conn, bytes.to_vec()));
                    out.push(choice.clone());
                }
            },
            (Rechunk::Bytes, Some((conn, bytes))) => {
                out.extend(bytes.iter().map(|&b| make(conn, vec![b])));
            }
            (_, None) => {
                last = None;
                out.push(choice.clone());
            }
        }
    }
    out
}

/// Runs `case` through `drive` and, if it passed and the check is on, runs
/// it again with its data re-chunked both ways: the bytes each protocol
/// wrote and how each connection closed must not change, and the
/// re-chunked runs must pass every check too.
fn with_chunking<C: Simplify + fmt::Debug>(
    settings: &Settings,
    case: &C,
    drive: impl Fn(&C) -> Outcome,
) -> Outcome {
    let mut outcome = drive(case);
    if outcome.finding.is_some() || !settings.chunking {
        return outcome;
    }
    for how in [Rechunk::Whole, Rechunk::Bytes] {
        let Some(variant) = case.rechunked(how) else {
            continue;
        };
        let other = drive(&variant);
        if let Some(mut finding) = other.finding {
            finding.message = format!(
                "{} (found with the data re-chunked {}: {:?})",
                finding.message,
                how.label(),
                variant
            );
            outcome.finding = Some(finding);
            return outcome;
        }
        let (closes_a, closes_b) = (closes(&outcome.trace), closes(&other.trace));
        if outcome.written_by != other.written_by || closes_a != closes_b {
            let show = |o: &Outcome| -> String {
                o.written_by
                    .iter()
                    .map(|(p, b)| format!("p{}: {:?}", p.0, String::from_utf8_lossy(b)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let what = if outcome.written_by != other.written_by {
                "other outgoing bytes"
            } else {
                "other closes"
            };
            outcome.finding = Some(Finding {
                check: CheckKind::ChunkingInvariance,
                message: format!(
                    "the same incoming bytes, re-chunked {}, gave {what}: as generated, wrote [{}] and \
                     closed {closes_a:?}; re-chunked ({variant:?}), wrote [{}] and closed {closes_b:?}",
                    how.label(),
                    show(&outcome),
                    show(&other),
                ),
                seq: None,
            });
            return outcome;
        }
    }
    outcome
}
