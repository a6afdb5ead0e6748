//! A fuzz pass inside a test: a target run over many generated inputs,
//! split over threads (shards), each shard a proptest runner of its own
//! seeded from the pass's seed, so that a pass is the same inputs every
//! time. A failing input is shrunk by proptest and the test panics with it.
//!
//! CI runs each target's own count. A long run sets [`INPUTS_ENV`]: the
//! count for the targets whose CI count is [`REFERENCE`] (a million), the
//! others scaled in proportion; [`SEED_ENV`] picks other inputs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

/// The environment variable for a long run's count: inputs for a target
/// whose CI count is [`REFERENCE`], the others in proportion.
pub const INPUTS_ENV: &str = "CALLORDER_PARSER_INPUTS";

/// The environment variable for the seed: a whole number, or `random`.
pub const SEED_ENV: &str = "CALLORDER_PARSER_SEED";

/// The CI count that [`INPUTS_ENV`] stands for.
pub const REFERENCE: u64 = 1_000_000;

/// How a pass runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// How many inputs, in all shards together.
    pub inputs: u64,
    /// The seed the shards' seeds come from.
    pub seed: u64,
    /// How many threads share the inputs. The inputs depend on it, not on
    /// the machine: two, so a 2-core machine runs a pass in half the time.
    pub shards: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            inputs: 10_000,
            seed: 0,
            shards: 2,
        }
    }
}

impl Settings {
    /// `ci_inputs` inputs with seed 0, unless the environment says
    /// otherwise ([`INPUTS_ENV`], [`SEED_ENV`]); an override says so on
    /// stderr.
    ///
    /// # Panics
    ///
    /// When a variable is set to something it cannot mean.
    ///
    /// ```
    /// use callorder_parser_fuzz::pass::Settings;
    /// # if std::env::var_os(callorder_parser_fuzz::pass::INPUTS_ENV).is_none() {
    /// assert_eq!(Settings::from_env(1_000).inputs, 1_000);
    /// # }
    /// ```
    pub fn from_env(ci_inputs: u64) -> Settings {
        let inputs = std::env::var(INPUTS_ENV).ok();
        let seed = std::env::var(SEED_ENV).ok();
        let settings = Settings::from_values(ci_inputs, inputs.as_deref(), seed.as_deref())
            .unwrap_or_else(|e| panic!("{e}"));
        if inputs.is_some() || seed.is_some() {
            eprintln!(
                "callorder-parser-fuzz: {INPUTS_ENV}={} {SEED_ENV}={}: {} inputs, seed {}",
                inputs.as_deref().unwrap_or("(unset)"),
                seed.as_deref().unwrap_or("(unset)"),
                settings.inputs,
                settings.seed
            );
        }
        settings
    }

    /// [`from_env`](Self::from_env) with the variables' values given.
    ///
    /// # Errors
    ///
    /// A value that is not a whole number (or `random`, for the seed).
    ///
    /// ```
    /// use callorder_parser_fuzz::pass::Settings;
    /// // A target that CI runs 2,000 times runs 20,000 times when
    /// // the million-input targets run 10 million.
    /// let long = Settings::from_values(2_000, Some("10000000"), Some("7")).unwrap();
    /// assert_eq!((long.inputs, long.seed), (20_000, 7));
    /// assert!(Settings::from_values(2_000, Some("lots"), None).is_err());
    /// ```
    pub fn from_values(
        ci_inputs: u64,
        inputs: Option<&str>,
        seed: Option<&str>,
    ) -> Result<Settings, String> {
        let inputs = match inputs {
            None => ci_inputs,
            Some(v) => {
                let n: u64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{INPUTS_ENV}={v:?}: expected a whole number"))?;
                let scaled = u128::from(n) * u128::from(ci_inputs) / u128::from(REFERENCE);
                u64::try_from(scaled).unwrap_or(u64::MAX).max(1)
            }
        };
        let seed = match seed {
            None => 0,
            Some(v) if v.trim() == "random" => random_seed(),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("{SEED_ENV}={v:?}: expected a whole number or `random`"))?,
        };
        Ok(Settings {
            inputs,
            seed,
            ..Settings::default()
        })
    }
}

/// What a pass did.
#[derive(Clone, Debug)]
pub struct Report {
    /// How many inputs ran.
    pub inputs: u64,
    /// The pass's seed.
    pub seed: u64,
    /// How long the pass took (for the report line, never asserted).
    pub elapsed: Duration,
}

/// The most cases one proptest runner is given (its count is a `u32`); a
/// shard with more runs several runners, each seeded apart.
const ROUND: u64 = 1 << 30;

/// Runs `target` on `settings.inputs` inputs drawn from `strategy()` (made
/// once per shard), and prints one line to stderr: the count, the time and
/// the seed.
///
/// # Panics
///
/// With the input, shrunk, when `target` fails or panics on one, and the
/// seed to run the pass again.
pub fn run<S, F>(
    name: &str,
    settings: &Settings,
    strategy: impl Fn() -> S + Sync,
    target: F,
) -> Report
where
    S: Strategy,
    F: Fn(S::Value) -> Result<(), TestCaseError> + Sync,
{
    let started = Instant::now();
    let shards = settings.shards.max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..shards)
            .map(|shard| {
                let inputs = settings.inputs / shards + u64::from(shard < settings.inputs % shards);
                let (strategy, target) = (&strategy, &target);
                scope.spawn(move || {
                    run_shard(name, settings.seed, shard, inputs, strategy(), target)
                })
            })
            .collect();
        for worker in workers {
            if let Err(panic) = worker.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    let report = Report {
        inputs: settings.inputs,
        seed: settings.seed,
        elapsed: started.elapsed(),
    };
    let secs = report.elapsed.as_secs_f64();
    eprintln!(
        "fuzz {name}: {} inputs in {secs:.1} s ({:.0}/s, {shards} shards), seed {}",
        report.inputs,
        report.inputs as f64 / secs.max(1e-9),
        report.seed
    );
    report
}

fn run_shard<S, F>(name: &str, seed: u64, shard: u64, inputs: u64, strategy: S, target: &F)
where
    S: Strategy,
    F: Fn(S::Value) -> Result<(), TestCaseError>,
{
    let mut left = inputs;
    let mut round = 0u64;
    while left > 0 {
        let cases = left.min(ROUND);
        left -= cases;
        let config = Config {
            cases: u32::try_from(cases).unwrap_or(u32::MAX),
            failure_persistence: None,
            rng_algorithm: RngAlgorithm::XorShift,
            // A pass is about inputs, not about proptest's own checks.
            max_global_rejects: u32::MAX,
            ..Config::default()
        };
        let rng = rng_for(seed, shard, round);
        let mut runner = TestRunner::new_with_rng(config, rng);
        match runner.run(&strategy, target) {
            Ok(()) => {}
            Err(TestError::Fail(why, input)) => panic!(
                "fuzz {name}: the input below fails: {why}\n{input:#?}\n\
                 (seed {seed}, shard {shard}, round {round}; run again with \
                 {SEED_ENV}={seed})"
            ),
            Err(TestError::Abort(why)) => panic!("fuzz {name}: proptest gave up: {why}"),
        }
        round += 1;
    }
}

/// What a pass's inputs reached (the kinds of error, the inputs accepted),
/// counted across its shards: printed after the pass, and asserted, so that
/// a pass whose inputs stopped reaching a check fails instead of passing
/// while it tests less.
///
/// ```
/// use callorder_parser_fuzz::pass::Tally;
/// let tally = Tally::default();
/// tally.count("accepted");
/// tally.count("accepted");
/// tally.count("blank line");
/// assert_eq!(tally.get("accepted"), 2);
/// assert_eq!(tally.to_string(), "accepted 2, blank line 1");
/// ```
#[derive(Debug, Default)]
pub struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    /// Counts one input that reached `what`.
    pub fn count(&self, what: impl Into<String>) {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry(what.into()).or_default() += 1;
    }

    /// How many inputs reached `what`.
    pub fn get(&self, what: &str) -> u64 {
        let counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.get(what).copied().unwrap_or(0)
    }

    /// Every count, by what was reached.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (what, n)) in self.counts().iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{what} {n}")?;
        }
        Ok(())
    }
}

/// A shard's random source: XorShift (cheap, and the generation of inputs
/// is most of a pass's cost) seeded through SplitMix64.
fn rng_for(seed: u64, shard: u64, round: u64) -> TestRng {
    let mut x = seed ^ shard.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ round.rotate_left(32);
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::XorShift, &bytes)
}

/// A fresh seed for `random`, printed with the pass's report line.
fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ u64::from(std::process::id()).rotate_left(32)
}
