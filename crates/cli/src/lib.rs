//! The library behind the `callorder` command line.
//!
//! The binary is a thin shell over these modules, so that tests and tools
//! can do what it does without spawning it:
//!
//! - [`check`]: check one trace (a file, standard input or any `BufRead`)
//!   into a [`FileReport`], streaming and in bounded memory;
//! - [`report`]: the report and its verdict, serialisable as the JSON of
//!   `callorder check --format json`;
//! - [`human`]: the human rendering of a report, and the rule table;
//! - [`corpus`]: judge a manifest of traces under both profiles;
//! - [`names`]: map hashed ids back to the names a trace used;
//! - [`run`]: run fixture scripts against the bundled implementations;
//! - [`suite`]: run suites of scripts and manifests, each case against its
//!   expectation ([`case`]: the result of one, as JSON); [`default_suite`]:
//!   the suite embedded in the binary; [`partition`]: shards; [`junit`]:
//!   JUnit XML, and merging the shards'; [`annotations`]: GitHub Actions
//!   annotations;
//! - [`diagram`]: a trace as a sequence diagram, for a terminal or as HTML;
//! - [`workload`]: the benchmark's large legal trace.
//!
//! ```
//! use callorder_cli::{check_reader, CheckOptions, Verdict};
//! let trace = "{\"seq\":1,\"event\":\"end\"}\n";
//! let report = check_reader("-", trace.as_bytes(), &CheckOptions::default());
//! assert_eq!(report.verdict, Verdict::Legal);
//! assert!(report.complete);
//! ```
#![forbid(unsafe_code)]

pub mod annotations;
pub mod case;
pub mod check;
pub mod conformance;
pub mod corpus;
pub mod default_suite;
pub mod diagram;
pub mod human;
pub mod junit;
pub mod names;
pub mod partition;
pub mod report;
pub mod run;
pub mod suite;
pub mod workload;

pub use check::{check_path, check_reader, CheckOptions};
pub use report::{FileReport, Verdict};
