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
struct CheckArgs {
    /// Which order to hold the traces to.
    #[arg(long, value_enum, default_value_t = ProfileArg::Strict)]
    profile: ProfileArg,
    /// Output format: human-readable, or one JSON object per file per line.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Refuse lines longer than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::DEFAULT_MAX_LINE_BYTES)]
    max_line_bytes: usize,
    /// Refuse traces with more objects alive at once.
    #[arg(long, value_name = "N", default_value_t = Limits::DEFAULT_MAX_LIVE_OBJECTS)]
    max_live_objects: usize,
    /// A trace without `end` (a truncated recording) is malformed, not a
    /// legal prefix.
    #[arg(long)]
    require_complete: bool,
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
enum Format {
    /// For people.
    Human,
    /// One JSON object per line.
    Json,
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
        },
        // Only a violation or warnings cost a second pass; both formats
        // then show ids by name.
        reread: true,
        ..CheckOptions::default()
    };
    let mut worst = Verdict::Legal;
    let mut verdicts: Vec<Verdict> = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let mut report = check_path(path, &options);
        if args.require_complete {
            callorder_cli::check::require_complete(&mut report);
        }
        worst = worst.max(report.verdict);
        match args.format {
            Format::Json => writeln!(out, "{}", report.to_json())?,
            Format::Human => out.write_all(human::render(&report).as_bytes())?,
        }
        out.flush()?;
        verdicts.push(report.verdict);
    }
    if args.format == Format::Human && verdicts.len() > 1 {
        out.write_all(human::summary(&verdicts).as_bytes())?;
    }
    Ok(worst.exit_code())
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
