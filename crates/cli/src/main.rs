//! `callorder`: check that Factory/Protocol code got its callbacks in a
//! legal order, as a CI gate.
//!
//! Exit codes: 0 every file legal, 1 some file illegal, 2 some file
//! malformed, unreadable or over a limit (and for usage errors); with
//! several files, the highest wins.
#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anstream::{AutoStream, ColorChoice};
use callorder_checker::{Profile, Rule};
use callorder_cli::corpus;
use callorder_cli::human;
use callorder_cli::{check_path, CheckOptions, Verdict};
use callorder_trace::Limits;
use clap::{Parser, Subcommand, ValueEnum};
use rayon::prelude::*;

/// Check traces of Twisted-style Factory/Protocol code against the legal
/// callback order.
#[derive(Debug, Parser)]
#[command(name = "callorder", version, about, long_about = None)]
struct Cli {
    /// When to colour human output.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, global = true)]
    color: ColorWhen,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check trace files; exit 0 if all are legal, 1 if one is illegal, 2 if
    /// one is malformed.
    Check(CheckArgs),
    /// Print the rule table: each rule's id, kind, text and citations.
    Rules {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run fixture scripts against the bundled implementations their
    /// headers name and print each run's trace; exit 0 if all runs were
    /// legal, 1 on a violation, 2 for a malformed script.
    Run {
        /// Which order to check the runs against.
        #[arg(long, value_enum, default_value_t = ProfileArg::Strict)]
        profile: ProfileArg,
        /// Write the trace here instead of standard output; with several
        /// scripts, a directory that gets one `NAME.jsonl` per script.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Script files (docs/script-format.md).
        #[arg(required = true, value_name = "SCRIPT")]
        scripts: Vec<PathBuf>,
    },
    /// Run suites of scripts and manifests, each case against its
    /// expectation (no path: the default suite built in); exit 0 iff every
    /// case passed and at least one ran.
    Suite(SuiteArgs),
    /// Draw a trace as a sequence diagram, in the terminal or as HTML.
    Diagram(DiagramArgs),
    /// Run the reactor conformance suite on a reactor; exit 0 iff every
    /// case passed, 1 on a failure, 2 when no case ran.
    Conformance {
        /// The reactor under test.
        #[arg(long, value_enum)]
        reactor: ReactorArg,
        /// Output format: for people, or one case-result object per line
        /// (the shape of `callorder suite --json`).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Judge every trace of a manifest under both profiles; exit 0 iff all
    /// pass.
    Corpus {
        /// The manifest, a JSON array of {file, expect, expect_twisted?,
        /// first_bad_seq, ...}.
        manifest: PathBuf,
        /// The directory the manifest's paths are relative to (default: the
        /// manifest's own).
        #[arg(long)]
        root: Option<PathBuf>,
        /// Also print how often each rule was exercised.
        #[arg(long)]
        coverage: bool,
    },
}

#[derive(Debug, clap::Args)]
struct SuiteArgs {
    /// Scripts (.script), manifests (.json) and directories searched for
    /// both; none: the default suite built into callorder.
    #[arg(value_name = "PATH", conflicts_with = "merge")]
    paths: Vec<PathBuf>,
    /// Write JUnit XML here (with --merge: the merged file).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write every case's result here, one JSON object per line.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Print failures for people, or as GitHub Actions annotations.
    #[arg(long, value_enum, default_value_t = SuiteFormat::Human)]
    format: SuiteFormat,
    /// Run only shard K of N (cases in id order, the K-th of every N, as
    /// cargo-nextest's --partition count:K/N).
    #[arg(long, value_name = "K/N")]
    partition: Option<callorder_cli::partition::Partition>,
    /// Merge the JUnit files of a suite's shards into --junit FILE instead
    /// of running cases.
    #[arg(long, value_name = "JUNIT", num_args = 1..)]
    merge: Vec<PathBuf>,
    /// Also fail when a rule of the spec was never exercised or broken.
    #[arg(long)]
    require_coverage: bool,
    /// Write a diagram (HTML and text) of each failing case's trace here.
    #[arg(long, value_name = "DIR")]
    diagrams: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum SuiteFormat {
    /// For people: a FAIL line per failing case, then the summary table.
    Human,
    /// A GitHub Actions annotation per failing case, then the summary table.
    Github,
}

#[derive(Debug, clap::Args)]
struct DiagramArgs {
    /// The trace (JSON Lines, trace format v1); `-` reads standard input.
    trace: PathBuf,
    /// Write a self-contained HTML page with the diagram as SVG here,
    /// instead of drawing it in the terminal.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Only the events of this object (a name of the trace: p1, c1, f1, l1)
    /// and the objects it talks to.
    #[arg(long, value_name = "ID")]
    object: Option<String>,
    /// Only the events within --context of this seq.
    #[arg(long, value_name = "SEQ")]
    around: Option<u64>,
    /// How many events before and after --around to keep.
    #[arg(long, value_name = "N", default_value_t = 10)]
    context: u64,
    /// Draw every data_received and write, instead of collapsing runs.
    #[arg(long)]
    no_collapse: bool,
    /// The profile to check the trace under, for the highlighted violation.
    #[arg(long, value_enum, default_value_t = ProfileArg::Strict)]
    profile: ProfileArg,
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// Which order to hold the traces to.
    #[arg(long, value_enum, default_value_t = ProfileArg::Strict)]
    profile: ProfileArg,
    /// Output format: human-readable, one JSON object per file per line, or
    /// GitHub Actions annotations.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    format: CheckFormat,
    /// Write a diagram (HTML and text) of each illegal or malformed trace
    /// here (a malformed one is drawn up to its first bad line).
    #[arg(long, value_name = "DIR")]
    diagrams: Option<PathBuf>,
    /// Refuse lines longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
    /// Refuse traces with more objects alive at once.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_LIVE_OBJECTS)]
    max_live_objects: usize,
    /// Refuse lines whose `depth` (callbacks running inside one another)
    /// is greater.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_DEPTH)]
    max_depth: u32,
    /// Refuse traces that create more distinct ids of connectors, ports
    /// and protocols (numbered ids ended in order cost next to nothing;
    /// other names about 10 bytes each).
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_DISTINCT_IDS)]
    max_distinct_ids: usize,
    /// A trace without `end` (a truncated recording) is malformed, not a
    /// legal prefix.
    #[arg(long)]
    require_complete: bool,
    /// Check this many files at once (0: one per core); fewer big files
    /// than that (2 MiB or more) have their lines parsed on the workers
    /// left over (`--jobs 1`: one thread reads and checks). The output is
    /// in argument order, and the same, either way.
    #[arg(long, value_name = "N", default_value_t = 0)]
    jobs: usize,
    /// Trace files (JSON Lines, trace format v1); `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ProfileArg {
    /// The clean order.
    Strict,
    /// The clean order plus what Twisted's reactor really does.
    Twisted,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Strict => Profile::Strict,
            ProfileArg::Twisted => Profile::Twisted,
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ReactorArg {
    /// The mock reactor, from scripts.
    Mock,
    /// The tokio reactor, over real loopback sockets.
    Tokio,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// For people.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CheckFormat {
    /// For people.
    Human,
    /// One JSON object per line.
    Json,
    /// GitHub Actions annotations (`::error file=...,line=...::RULE-ID: message`).
    Github,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    /// Colour when stdout is a terminal (and NO_COLOR is unset).
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl From<ColorWhen> for ColorChoice {
    fn from(c: ColorWhen) -> Self {
        match c {
            ColorWhen::Auto => ColorChoice::Auto,
            ColorWhen::Always => ColorChoice::Always,
            ColorWhen::Never => ColorChoice::Never,
        }
    }
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2.
    let cli = Cli::parse();
    let mut out = AutoStream::new(io::stdout().lock(), cli.color.into());
    let result = match cli.command {
        Command::Check(args) => check(&args, &mut out),
        Command::Rules { format } => rules(format, &mut out).map(|()| 0),
        Command::Suite(args) => suite(args, &mut out),
        Command::Diagram(args) => diagram(&args, &mut out),
        Command::Conformance { reactor, format } => conformance(reactor, format, &mut out),
        Command::Corpus {
            manifest,
            root,
            coverage,
        } => run_corpus(&manifest, root.as_deref(), coverage, &mut out),
        Command::Run {
            profile,
            out: path,
            scripts,
        } => run_scripts(&scripts, profile.into(), path.as_deref(), &mut out),
    };
    match result.and_then(|code| out.flush().map(|()| code)) {
        Ok(code) => ExitCode::from(code),
        // Output cut off by a closed pipe: nobody is left to tell.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(2),
        Err(e) => {
            let _ = writeln!(io::stderr(), "callorder: {e}");
            ExitCode::from(2)
        }
    }
}

/// `callorder check`: one report per file, in argument order, each printed
/// as soon as it is ready; the exit code is the worst verdict's.
fn check(args: &CheckArgs, out: &mut impl Write) -> io::Result<u8> {
    if let Err(message) = callorder_cli::check::usable_paths(&args.files) {
        let _ = writeln!(io::stderr(), "callorder check: {message}");
        return Ok(2);
    }
    let options = CheckOptions {
        profile: args.profile.into(),
        limits: Limits {
            max_line_bytes: args.max_line_bytes,
            max_live_objects: args.max_live_objects,
            max_depth: args.max_depth,
            max_distinct_ids: args.max_distinct_ids,
        },
        // Only a violation or warnings cost a second pass; both formats
        // then show ids by name.
        reread: true,
        ..CheckOptions::default()
    };
    let mut worst = Verdict::Legal;
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(args.files.len());
    let pool = workers(args.jobs)?;
    // Workers no file takes parse a big file's blocks.
    let options = CheckOptions {
        parse_threads: (pool.current_num_threads() / args.files.len().max(1)).max(1),
        ..options
    };
    // Files are checked on every worker, a batch at a time, and reported
    // in argument order: memory holds a batch of reports, and a file at a
    // time per worker.
    for batch in args.files.chunks(CHECK_BATCH) {
        let reports: Vec<_> = pool.install(|| {
            batch
                .par_iter()
                .map(|path| {
                    let mut report = check_path(path, &options);
                    if args.require_complete {
                        callorder_cli::check::require_complete(&mut report);
                    }
                    report
                })
                .collect()
        });
        for (path, report) in batch.iter().zip(reports) {
            print_report(args, path, &report, out)?;
            worst = worst.max(report.verdict);
            verdicts.push(report.verdict);
        }
    }
    if args.format == CheckFormat::Human && verdicts.len() > 1 {
        out.write_all(human::summary(&verdicts).as_bytes())?;
    }
    Ok(worst.exit_code())
}

/// How many files `check` has in flight at once, at most.
const CHECK_BATCH: usize = 64;

/// A pool of `jobs` workers (0: one per core).
fn workers(jobs: usize) -> io::Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(io::Error::other)
}

/// Prints one file's report in the chosen format, and writes its diagram
/// when asked.
fn print_report(
    args: &CheckArgs,
    path: &std::path::Path,
    report: &callorder_cli::report::FileReport,
    out: &mut impl Write,
) -> io::Result<()> {
    match args.format {
        CheckFormat::Json => writeln!(out, "{}", report.to_json())?,
        CheckFormat::Human => out.write_all(human::render(report).as_bytes())?,
        CheckFormat::Github => {
            for line in callorder_cli::annotations::for_report(report) {
                writeln!(out, "{line}")?;
            }
        }
    }
    let failed = report.verdict != Verdict::Legal;
    if let Some(dir) = args.diagrams.as_ref().filter(|_| failed) {
        if let Ok(trace) = std::fs::read_to_string(path) {
            std::fs::create_dir_all(dir)?;
            callorder_cli::diagram::write_case_diagram(dir, &report.file, &trace)?;
        }
    }
    out.flush()
}

/// `callorder suite`: see `callorder_cli::suite::command`.
fn suite(args: SuiteArgs, out: &mut impl Write) -> io::Result<u8> {
    use std::io::IsTerminal;
    let options = callorder_cli::suite::command::Options {
        paths: args.paths,
        junit: args.junit,
        json: args.json,
        github: args.format == SuiteFormat::Github,
        partition: args.partition,
        merge: args.merge,
        require_coverage: args.require_coverage,
        diagrams: args.diagrams,
        progress: io::stderr().is_terminal(),
    };
    callorder_cli::suite::command::run(&options, out)
}

/// `callorder conformance`: the suite on one reactor, for people or as case
/// results.
fn conformance(reactor: ReactorArg, format: Format, out: &mut impl Write) -> io::Result<u8> {
    use callorder_cli::conformance::{case_result, exit_code};
    let suite = match reactor {
        ReactorArg::Mock => callorder_conformance::run(&mut callorder_conformance::MockWorld),
        ReactorArg::Tokio => callorder_conformance::run(&mut callorder_conformance::TokioWorld),
    };
    match format {
        Format::Human => write!(out, "{suite}")?,
        Format::Json => {
            for case in &suite.cases {
                let line = serde_json::to_string(&case_result(case)).map_err(io::Error::other)?;
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(exit_code(&suite))
}

/// `callorder diagram`: the diagram in the terminal, or as an HTML file.
fn diagram(args: &DiagramArgs, out: &mut impl Write) -> io::Result<u8> {
    use callorder_cli::diagram::{svg, text, Diagram, Options};
    if let Err(message) = callorder_cli::check::usable_paths(std::slice::from_ref(&args.trace)) {
        let _ = writeln!(io::stderr(), "callorder diagram: {message}");
        return Ok(2);
    }
    let read = if args.trace == std::path::Path::new("-") {
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut io::stdin().lock(), &mut bytes).map(|_| bytes)
    } else {
        std::fs::read(&args.trace)
    };
    let trace = match read {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => {
            let _ = writeln!(
                io::stderr(),
                "callorder diagram: {}: {e}",
                args.trace.display()
            );
            return Ok(2);
        }
    };
    let options = Options {
        object: args.object.clone(),
        around: args.around,
        context: args.context,
        collapse: !args.no_collapse,
        profile: args.profile.into(),
    };
    let drawn = Diagram::new(&args.trace.to_string_lossy(), &trace, &options);
    match &args.html {
        Some(path) => {
            std::fs::write(path, svg::html(&drawn))?;
            writeln!(out, "wrote {}", path.display())?;
        }
        None => out.write_all(text::render(&drawn).as_bytes())?,
    }
    Ok(drawn.verdict.exit_code())
}

fn rules(format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Human => out.write_all(human::rules_table().as_bytes()),
        Format::Json => {
            for r in Rule::TABLE {
                let line = serde_json::json!({
                    "id": r.id(),
                    "kind": human::kind_name(r.kind()),
                    "text": r.text(),
                    "cites": r.cites(),
                    "semantics": r.semantics(),
                });
                writeln!(out, "{line}")?;
            }
            Ok(())
        }
    }
}

fn run_corpus(
    manifest: &std::path::Path,
    root: Option<&std::path::Path>,
    coverage: bool,
    out: &mut impl Write,
) -> io::Result<u8> {
    let run = match corpus::run(manifest, root) {
        Ok(run) => run,
        Err(message) => {
            let _ = writeln!(io::stderr(), "callorder: {message}");
            return Ok(2);
        }
    };
    for failure in &run.failures {
        writeln!(out, "FAIL {failure}")?;
    }
    let name = manifest
        .file_name()
        .map_or_else(|| manifest.to_string_lossy(), |n| n.to_string_lossy());
    writeln!(out, "{}", run.summary(&name))?;
    writeln!(out, "{}", run.coverage_summary())?;
    writeln!(out, "{}", run.violation_summary())?;
    if coverage {
        for (rule, count) in run.coverage.iter() {
            writeln!(out, "{:>10}  {}", count, rule.id())?;
        }
    }
    Ok(if run.passed() { 0 } else { 1 })
}

/// `callorder run`: each script's trace to stdout (or files), notes to
/// stderr; the exit code is the worst verdict's.
fn run_scripts(
    scripts: &[PathBuf],
    profile: Profile,
    out_path: Option<&std::path::Path>,
    out: &mut impl Write,
) -> io::Result<u8> {
    if let Some(path) = out_path.filter(|p| scripts.len() > 1 && p.exists() && !p.is_dir()) {
        let _ = writeln!(
            io::stderr(),
            "callorder run: --out {}: is a file, and {} scripts need a directory to get one NAME.jsonl each (give a directory, or one script)",
            path.display(),
            scripts.len()
        );
        return Ok(2);
    }
    let mut worst = Verdict::Legal;
    for script in scripts {
        let run = callorder_cli::run::run_script_file(script, profile);
        worst = worst.max(run.verdict);
        for note in &run.notes {
            let _ = writeln!(io::stderr(), "{note}");
        }
        let Some(trace) = run.trace else { continue };
        match out_path {
            None => out.write_all(trace.as_bytes())?,
            Some(path) if scripts.len() == 1 => std::fs::write(path, trace)?,
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let stem = script
                    .file_stem()
                    .map_or_else(|| "trace".into(), |s| s.to_string_lossy());
                std::fs::write(dir.join(format!("{stem}.jsonl")), trace)?;
            }
        }
    }
    Ok(worst.exit_code())
}
