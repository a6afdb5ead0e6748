//! What the three reactor-free campaigns (a protocol, a client factory, a
//! server factory) share around their drivers: running proptest over the
//! cases, simplifying the failing one, and reporting it.

use std::fmt;

use proptest::strategy::{BoxedStrategy, Strategy};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestError};

use crate::checks::{CheckKind, Finding};
use crate::fuzz::{
    campaign_config, effective, paused_runtime, runner_for, DEFAULT_CASES, SEED_ENV,
};
use crate::greedy::{self, DirectInvariant, Simplify};
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

    /// Adds the settings to a builder's `Debug`.
    pub(crate) fn describe(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("cases", &self.cases)
            .field("seed", &self.seed)
            .field("max_choices", &self.max_choices)
            .field("write_after_close", &self.write_after_close)
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
}

impl<C: DirectCase> DirectFailure<C> {
    /// The report of `case`, whose run gave `outcome`.
    fn new(outcome: Outcome, case: C, campaign_seed: u64) -> Self {
        DirectFailure {
            finding: outcome.finding.unwrap_or_else(|| Finding {
                check: CheckKind::Determinism,
                message: format!(
                    "the failing case passed when run again: the {} keeps state between runs (a global?)",
                    C::SUBJECT
                ),
                seq: None,
            }),
            case,
            sequence: outcome.log.join("\n"),
            callbacks: outcome.callbacks,
            trace: greedy::trace_text(&outcome.trace),
            campaign_seed,
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
            "\nseed: {0} (replay the campaign with {SEED_ENV}={0})",
            self.campaign_seed
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
    if let Some(range) = range {
        for seed in range.clone() {
            run_seed(settings, strategy, &drive, seed, 1)?;
        }
        return Ok(DirectReport {
            cases: u32::try_from(range.end - range.start).unwrap_or(u32::MAX),
            seed: range.start,
            seed_range: Some(range),
        });
    }
    let (seed, cases) =
        effective(settings.seed, settings.cases).unwrap_or_else(|e| panic!("callorder-fuzz: {e}"));
    run_seed(settings, strategy, &drive, seed, cases)
}

/// The campaign of `cases` cases from `seed`.
fn run_seed<C: DirectCase + Simplify>(
    settings: &Settings,
    strategy: &impl Strategy<Value = C>,
    drive: &impl Fn(&tokio::runtime::Runtime, &C) -> Outcome,
    seed: u64,
    cases: u32,
) -> Result<DirectReport, Box<DirectFailure<C>>> {
    let config = Config {
        cases,
        ..campaign_config(settings.persistence, settings.source_file)
    };
    let rt = paused_runtime();
    let mut runner = runner_for(seed, config);
    let outcome = runner.run(strategy, |case| match drive(&rt, &case).finding {
        None => Ok(()),
        Some(f) => Err(TestCaseError::fail(f.to_string())),
    });
    match outcome {
        Ok(()) => Ok(DirectReport {
            cases,
            seed,
            seed_range: None,
        }),
        Err(TestError::Fail(_, case)) => {
            let (case, outcome) = greedy::minimize(case, |c| drive(&rt, c));
            Err(Box::new(DirectFailure::new(outcome, case, seed)))
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
        })),
    }
}
