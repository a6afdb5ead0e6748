//! The checker's throughput and memory on a large legal trace.
//!
//! Run: `cargo bench -p callorder-cli --bench checker`. Prints
//!
//! - `checker_steps_per_s`: the checker alone, over steps already parsed
//!   into memory with ids resolved to small integers per kind (1, 2, 3, in
//!   order of first use, as callorder's own reactors number objects), best
//!   of 3;
//! - `parse_check_events_per_s`: reading the JSON Lines file and checking
//!   it, as `callorder check` does, best of 3;
//! - `peak_rss_mib`: the peak resident memory of a child process that only
//!   checks the file (through the same code as `callorder check`).
//!
//! And for scale, after the first: `read_steps_per_s`, the same steps read
//! (the fields the checker reads first) and not checked.
//!
//! The workload is [`callorder_cli::workload::Workload`], written once to
//! `target/bench-data/`. Environment overrides: `CALLORDER_BENCH_EVENTS`
//! (default 10,000,000), `CALLORDER_BENCH_WAVE` (100,000),
//! `CALLORDER_BENCH_TRACE` (the file to use, generated there if missing),
//! `CALLORDER_BENCH_RUNS` (3).
//!
//! Modes used by the bench itself or by hand:
//! `checker --rss-child FILE` checks FILE and prints its peak RSS;
//! `checker --generate FILE` writes the workload to FILE;
//! `--steps-only` (after `cargo bench ... --`) prints only the first
//! figure, for quick comparisons while tuning the checker.
//!
//! `--big-traces` (after `cargo bench ... --`) checks three large traces
//! instead, each written to `CALLORDER_BENCH_DIR` (default: the system's
//! temporary directory), checked by a child process as `callorder check`
//! does, and deleted, one at a time (about 1 GB of disk at most):
//!
//! - `big_workload`: the workload above (10M events, about 1 GB);
//! - `big_sequential`: the same life cycles one at a time (waves of 1),
//!   10M events whose ids never repeat;
//! - `live_1m`: one wave of 400,000 connections, 1.2M objects alive at
//!   once: refused at the default live-object limit, then checked with the
//!   limit raised, in memory proportional to the live objects.
//!
//! For each, the peak RSS of the child and its events/s.

use std::env;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{self, Command};
use std::time::{Duration, Instant};

use callorder_checker::{Checker, Profile};
use callorder_cli::check::{check_path, CheckOptions};
use callorder_cli::report::Verdict;
use callorder_cli::workload::{DenseIds, Workload};
use callorder_trace::{Limits, Step, TraceReader};

const GOAL_STEPS_PER_S: f64 = 100e6;
const GOAL_EVENTS_PER_S: f64 = 2e6;
const GOAL_RSS_MIB: f64 = 64.0;

fn main() {
    let args: Vec<String> = env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(path) = value_of("--rss-child") {
        let max_live = value_of("--max-live-objects").map(|v| {
            v.parse()
                .unwrap_or_else(|_| die(&format!("--max-live-objects {v}: not a number")))
        });
        rss_child(Path::new(path), max_live);
        return;
    }
    if let Some(path) = value_of("--generate") {
        let workload = workload();
        write_workload(&workload, Path::new(path));
        return;
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary without it, and a minutes-long benchmark has no place there.
    if !args.iter().any(|a| a == "--bench") {
        println!("checker bench: run with `cargo bench -p callorder-cli --bench checker`");
        return;
    }
    if args.iter().any(|a| a == "--big-traces") {
        big_traces();
        return;
    }
    bench(args.iter().any(|a| a == "--steps-only"));
}

fn env_u64(name: &str, default: u64) -> u64 {
    match env::var(name) {
        Ok(v) => v
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| die(&format!("{name}={v}: not a number"))),
        Err(_) => default,
    }
}

fn die(message: &str) -> ! {
    eprintln!("checker bench: {message}");
    process::exit(1)
}

fn workload() -> Workload {
    let default = Workload::default();
    Workload {
        events: env_u64("CALLORDER_BENCH_EVENTS", default.events),
        wave: env_u64("CALLORDER_BENCH_WAVE", default.wave).max(1),
    }
}

/// Writes the workload to `path` through a temporary file, so that an
/// interrupted run never leaves a short trace that a later run would trust.
fn write_workload(workload: &Workload, path: &Path) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap_or_else(|e| die(&format!("{}: {e}", dir.display())));
    }
    let tmp = path.with_extension("jsonl.partial");
    let file = File::create(&tmp).unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
    let events = workload
        .write(BufWriter::with_capacity(1 << 20, file))
        .unwrap_or_else(|e| die(&format!("{}: {e}", tmp.display())));
    fs::rename(&tmp, path).unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
    eprintln!("wrote {events} events to {}", path.display());
}

/// The trace file, generated if missing.
fn trace_file(workload: &Workload) -> PathBuf {
    let path = match env::var_os("CALLORDER_BENCH_TRACE") {
        Some(path) => PathBuf::from(path),
        None => {
            // CARGO_TARGET_TMPDIR is target/tmp; keep the data beside it.
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let target = tmp.parent().unwrap_or(tmp);
            target.join("bench-data").join(format!(
                "big_trace_e{}_w{}.jsonl",
                workload.events, workload.wave
            ))
        }
    };
    if !path.exists() {
        write_workload(workload, &path);
    }
    path
}

fn open(path: &Path) -> TraceReader<BufReader<File>> {
    let file = File::open(path).unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
    TraceReader::new(BufReader::with_capacity(1 << 20, file))
}

fn best_of(runs: u64, mut run: impl FnMut() -> Duration) -> Duration {
    (0..runs.max(1)).map(|_| run()).min().unwrap_or_default()
}

fn met(goal_met: bool) -> &'static str {
    if goal_met {
        "met"
    } else {
        "NOT met"
    }
}

fn bench(steps_only: bool) {
    let workload = workload();
    let runs = env_u64("CALLORDER_BENCH_RUNS", 3);
    let path = trace_file(&workload);
    let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);

    // (a) The checker alone: parse everything and resolve ids first, untimed.
    let mut ids = DenseIds::default();
    let steps: Vec<Step> = open(&path)
        .map(|r| {
            let step = r
                .unwrap_or_else(|e| die(&format!("{}: {e}", path.display())))
                .step;
            ids.number(step)
        })
        .collect();
    drop(ids);
    println!(
        "workload: {} ({} events, {:.0} MiB, events>={} wave={})",
        path.display(),
        steps.len(),
        size as f64 / (1 << 20) as f64,
        workload.events,
        workload.wave
    );
    let checker_time = best_of(runs, || {
        let mut checker = Checker::new(Profile::Strict);
        let start = Instant::now();
        for step in &steps {
            if let Err(e) = checker.step(step) {
                die(&format!("the workload is not legal: {e}"));
            }
        }
        let elapsed = start.elapsed();
        assert!(checker.is_complete());
        elapsed
    });
    // For scale: reading every field the checker reads first, and no more.
    let read_time = best_of(runs, || {
        let start = Instant::now();
        let mut sum = 0u64;
        for step in &steps {
            sum = sum.wrapping_add(step.seq ^ u64::from(step.depth) ^ u64::from(step.failed));
            sum = sum.wrapping_add(step.within.unwrap_or(0) ^ step.event.kind() as u64);
        }
        std::hint::black_box(sum);
        start.elapsed()
    });
    let n = steps.len() as f64;
    drop(steps);
    let steps_per_s = n / checker_time.as_secs_f64();
    let read_per_s = n / read_time.as_secs_f64();
    if steps_only {
        println!("checker_steps_per_s={steps_per_s:.0}");
        println!("read_steps_per_s={read_per_s:.0}  (the steps read, not checked: for scale)");
        return;
    }

    // (b) Parse and check, streaming from the file.
    let parse_time = best_of(runs, || {
        let start = Instant::now();
        let mut checker = Checker::new(Profile::Strict);
        for record in open(&path) {
            let record = record.unwrap_or_else(|e| die(&format!("{}: {e}", path.display())));
            if let Err(e) = checker.step(&record.step) {
                die(&format!("the workload is not legal: {e}"));
            }
        }
        start.elapsed()
    });
    let events_per_s = n / parse_time.as_secs_f64();

    // (c) Peak memory of a process that only checks the file.
    let child = run_child(&path, None);
    if let Some(report) = child.field("report") {
        die(&format!("the workload is not legal: {report}"));
    }
    let rss_mib = child.number("vmhwm_kib") / 1024.0;
    let cli_events_per_s = n / child.number("check_seconds");

    println!(
        "checker_steps_per_s={steps_per_s:.0}  (goal >= {GOAL_STEPS_PER_S:.0}: {})",
        met(steps_per_s >= GOAL_STEPS_PER_S)
    );
    println!("read_steps_per_s={read_per_s:.0}  (the steps read, not checked: for scale)");
    println!(
        "parse_check_events_per_s={events_per_s:.0}  (goal >= {GOAL_EVENTS_PER_S:.0}: {})",
        met(events_per_s >= GOAL_EVENTS_PER_S)
    );
    println!(
        "peak_rss_mib={rss_mib:.1}  (goal < {GOAL_RSS_MIB:.0}: {})",
        met(rss_mib < GOAL_RSS_MIB)
    );
    println!("cli_check_events_per_s={cli_events_per_s:.0}  (the child, one run, through callorder check's code)");
}

/// The child of figure (c): check the file as `callorder check --format
/// json` would, then report the peak RSS and the time taken.
fn rss_child(path: &Path, max_live: Option<usize>) {
    let mut options = CheckOptions::new(Profile::Strict);
    if let Some(max_live) = max_live {
        options.limits.max_live_objects = max_live;
    }
    let start = Instant::now();
    let report = check_path(path, &options);
    let seconds = start.elapsed().as_secs_f64();
    if report.verdict != Verdict::Legal {
        // The parent decides whether a refusal was expected.
        println!("report={}", report.to_json());
    }
    // VmHWM: the resident set's high-water mark, in kB, kept by Linux.
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| die("no VmHWM in /proc/self/status (not Linux?)"));
    println!("vmhwm_kib={hwm}");
    println!("check_seconds={seconds}");
    println!("events={}", report.events);
}

/// What the child of [`rss_child`] printed.
struct ChildRun {
    stdout: String,
}

impl ChildRun {
    fn field(&self, name: &str) -> Option<&str> {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::trim)
    }

    fn number(&self, name: &str) -> f64 {
        self.field(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| die(&format!("the child printed no {name}: {}", self.stdout)))
    }
}

/// Checks `path` in a child process of this binary (`--rss-child`).
fn run_child(path: &Path, max_live: Option<usize>) -> ChildRun {
    let exe =
        env::current_exe().unwrap_or_else(|e| die(&format!("cannot find the bench binary: {e}")));
    let mut command = Command::new(exe);
    command.arg("--rss-child").arg(path);
    if let Some(max_live) = max_live {
        command.arg("--max-live-objects").arg(max_live.to_string());
    }
    let output = command
        .output()
        .unwrap_or_else(|e| die(&format!("cannot run the child: {e}")));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        die(&format!(
            "the child failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    ChildRun { stdout }
}

/// `--big-traces`: each trace written, checked by a child, and deleted.
fn big_traces() {
    let dir = env::var_os("CALLORDER_BENCH_DIR").map_or_else(env::temp_dir, PathBuf::from);
    let events = env_u64("CALLORDER_BENCH_EVENTS", Workload::default().events);
    let cases = [
        ("big_workload", Workload::default().wave),
        ("big_sequential", 1),
    ];
    for (name, wave) in cases {
        let path = dir.join(format!("callorder-{name}.jsonl"));
        write_workload(&Workload { events, wave }, &path);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let run = run_child(&path, None);
        let _ = fs::remove_file(&path);
        if let Some(report) = run.field("report") {
            die(&format!("{name}: not legal: {report}"));
        }
        let rss_mib = run.number("vmhwm_kib") / 1024.0;
        let events_per_s = run.number("events") / run.number("check_seconds");
        println!(
            "{name}_peak_rss_mib={rss_mib:.1}  (goal < {GOAL_RSS_MIB:.0}: {}; {:.0} MiB, {} events, waves of {wave})",
            met(rss_mib < GOAL_RSS_MIB),
            size as f64 / f64::from(1 << 20),
            run.number("events"),
        );
        println!("{name}_events_per_s={events_per_s:.0}");
    }

    // 1.2M objects alive at once: 400,000 connectors and both ends of
    // each connection.
    let wave = 400_000;
    let live = 3 * wave as usize;
    let path = dir.join("callorder-live_1m.jsonl");
    // Past the 3 events of the set-up: one wave.
    write_workload(&Workload { events: 4, wave }, &path);
    let refused = run_child(&path, None);
    match refused.field("report") {
        Some(report) if report.contains("too_many_live_objects") => {
            let line = report
                .split("\"line\":")
                .nth(1)
                .and_then(|rest| rest.split([',', '}']).next())
                .unwrap_or("?");
            println!(
                "live_1m_default_limit=refused at line {line} (limit {}), peak_rss_mib={:.1}",
                Limits::DEFAULT_MAX_LIVE_OBJECTS,
                refused.number("vmhwm_kib") / 1024.0
            );
        }
        other => die(&format!(
            "live_1m: expected a refusal at the limit, got {other:?}"
        )),
    }
    let raised = run_child(&path, Some(live + 1_000));
    let _ = fs::remove_file(&path);
    if let Some(report) = raised.field("report") {
        die(&format!(
            "live_1m: not legal with the limit raised: {report}"
        ));
    }
    let rss_kib = raised.number("vmhwm_kib");
    println!(
        "live_1m_raised_limit_peak_rss_mib={:.1}  ({live} objects alive at once: {:.0} bytes each, all told)",
        rss_kib / 1024.0,
        rss_kib * 1024.0 / live as f64
    );
}
