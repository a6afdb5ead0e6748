//! Running the cases on a reactor, and what the suite found.

use std::fmt;

use callorder_checker::{Checker, Coverage, Profile, Rule, RuleKind};
use callorder_core::{Port, Reactor};
use callorder_harness::Run;

use crate::cases::{self, Case, Role};
use crate::probe::ProbeFactory;
use crate::world::{Site, World};

/// One case's result on one reactor.
#[derive(Clone, Debug)]
pub struct CaseReport {
    /// The case's stable id.
    pub id: &'static str,
    /// The reactor's name.
    pub reactor: String,
    /// Whether the trace was legal, the run clean and the case's own
    /// expectation met.
    pub passed: bool,
    /// The rules the trace exercised, in the rule table's order.
    pub rules: Vec<Rule>,
    /// The checker's violation, if any.
    pub violation: Option<callorder_checker::Violation>,
    /// Why the case failed, `None` when it passed.
    pub failure: Option<String>,
    /// The run's trace.
    pub records: Vec<callorder_trace::Record>,
}

impl CaseReport {
    /// The run's trace as JSON Lines, format v1.
    pub fn trace_jsonl(&self) -> String {
        let mut w = callorder_trace::TraceWriter::new(Vec::new());
        for r in &self.records {
            w.write(r).expect("in-memory write of finite records");
        }
        String::from_utf8(w.into_inner()).expect("the writer writes UTF-8")
    }
}

/// The suite's result on one reactor.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    /// The reactor's name.
    pub reactor: String,
    /// Every case run, in the suite's order.
    pub cases: Vec<CaseReport>,
    /// The rules all the cases exercised together.
    pub coverage: Coverage,
}

impl SuiteReport {
    /// Whether at least one case ran and every case passed.
    pub fn passed(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.passed)
    }

    /// The breakable rules the suite exercised, and how many there are.
    pub fn rules_covered(&self) -> (usize, usize) {
        let breakable: Vec<Rule> = Rule::TABLE
            .iter()
            .copied()
            .filter(|r| r.kind() != RuleKind::Unbreakable)
            .collect();
        let covered = breakable
            .iter()
            .filter(|r| self.coverage.count(**r) > 0)
            .count();
        (covered, breakable.len())
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for case in &self.cases {
            let verdict = if case.passed { "ok" } else { "FAIL" };
            write!(f, "{verdict} {} [{}]", case.id, case.reactor)?;
            if let Some(why) = &case.failure {
                write!(f, ": {why}")?;
            }
            writeln!(f)?;
        }
        let passed = self.cases.iter().filter(|c| c.passed).count();
        let (covered, rules) = self.rules_covered();
        writeln!(
            f,
            "conformance {}: {passed}/{} cases passed; spec coverage: {covered}/{rules} rules exercised",
            self.reactor,
            self.cases.len()
        )?;
        let untouched: Vec<&str> = self.coverage.untouched().iter().map(|r| r.id()).collect();
        writeln!(f, "never exercised: {}", untouched.join(", "))?;
        writeln!(f, "recorded scenarios not in the suite:")?;
        for (scenario, why) in cases::NOT_IN_SUITE {
            writeln!(f, "  {scenario}: {why}")?;
        }
        Ok(())
    }
}

/// Runs every case on `world`.
pub fn run(world: &mut dyn World) -> SuiteReport {
    run_cases(world, &cases::all())
}

/// Runs `cases` on `world`.
pub fn run_cases(world: &mut dyn World, cases: &[Case]) -> SuiteReport {
    let mut coverage = Coverage::default();
    let reports = cases
        .iter()
        .map(|case| {
            let (report, case_coverage) = run_case(world, case);
            coverage.merge(&case_coverage);
            report
        })
        .collect();
    SuiteReport {
        reactor: world.name().to_owned(),
        cases: reports,
        coverage,
    }
}

fn run_case(world: &mut dyn World, case: &Case) -> (CaseReport, Coverage) {
    let factory = ProbeFactory::new(case.probe.clone());
    let clients = match case.role {
        Role::Client => 1,
        Role::Clients(n) => n,
        Role::Server => 0,
    };
    // One factory per client probe, the first the server's too.
    let mut factories = vec![factory.clone()];
    factories.extend((1..clients).map(|_| ProbeFactory::new(case.probe.clone())));
    let setup = |reactor: &Reactor, site: &Site| -> Option<Port> {
        match case.role {
            Role::Client | Role::Clients(_) => {
                let timeout = Some(case.plan.timeout);
                for factory in &factories {
                    reactor.connect_tcp(site.connect_to.clone(), factory.clone(), timeout);
                }
                None
            }
            Role::Server => {
                let port = reactor.listen_tcp(site.listen_on.clone(), factory.clone());
                let port = port.ok()?;
                factory.set_port(port.clone());
                Some(port)
            }
        }
    };
    let run = world.run(&case.plan, &setup);
    let coverage = judge_again(&run);
    let rules: Vec<Rule> = coverage
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, _)| r)
        .collect();
    let failure = failure(case, &run);
    let report = CaseReport {
        id: case.id,
        reactor: world.name().to_owned(),
        passed: failure.is_none(),
        rules,
        violation: run.violation.clone(),
        failure,
        records: run.trace,
    };
    (report, coverage)
}

/// What the whole trace exercised, from a checker of its own (the run's
/// checker judged it as it was written; this one counts).
fn judge_again(run: &Run) -> Coverage {
    let mut checker = Checker::new(Profile::Strict);
    for record in &run.trace {
        if checker.step(&record.step).is_err() {
            break;
        }
    }
    checker.coverage()
}

fn failure(case: &Case, run: &Run) -> Option<String> {
    if let Some(v) = &run.violation {
        return Some(format!("violation: {v}"));
    }
    // A probe that raises on purpose is no error of the reactor.
    let unexpected = run.errors.iter().find(|e| {
        !(e.kind == callorder_harness::ImplErrorKind::Returned
            && e.message.starts_with(crate::probe::RAISES))
    });
    if let Some(e) = unexpected {
        return Some(format!("error: {e}"));
    }
    if let Some(l) = run.leaks.first() {
        return Some(format!("leak: {l}"));
    }
    if let Some(f) = run.script_failures.first() {
        return Some(format!("script: {f}"));
    }
    let ended = run.trace.last().map(|r| r.step.event.kind());
    if ended != Some(callorder_trace::EventKind::End) {
        return Some("the run did not end".to_owned());
    }
    (case.expect)(run).err()
}
