//! The fuzzer's speed: cases per second on one core.
//!
//! Run: `cargo bench -p callorder-fuzz --bench throughput`. Fuzzes the
//! reference echo server with a fixed-size strategy (exactly 20 world
//! actions per case) and every default check on (order, errors, leaks,
//! write after close, retry storm, determinism, chunking invariance: up to
//! 4 runs per case), and prints `fuzz_cases_per_s=...` (median of 3
//! campaigns of `CALLORDER_BENCH_CASES`, default 20,000), then the same
//! without the determinism and chunking re-runs, and the direct protocol
//! fuzzer's rate (`direct_cases_per_s`). The goal: at least 20,000 cases/s.
//! First it prints `generation_cases_per_s`: how fast the strategy alone
//! makes (and lowers to scripts) the same cases, the share of a case's cost
//! that is proptest's.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Instant;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use callorder_fuzz::strategy::{case, lower, ScriptConfig};
use callorder_fuzz::Fuzz;
use callorder_reference::{Echo, EchoFactory};

fn echo(cases: u32) -> Fuzz {
    callorder_fuzz::fuzz_server(|| Arc::new(EchoFactory::new()))
        .cases(cases)
        .regressions(None)
        .script_config(|c| {
            c.min_actions = 20;
            c.max_actions = 20;
        })
}

fn rate(cases: u32, mut f: impl FnMut()) -> f64 {
    let mut rates: Vec<f64> = (0..3)
        .map(|_| {
            let start = Instant::now();
            f();
            f64::from(cases) / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[1]
}

fn main() {
    let cases: u32 = std::env::var("CALLORDER_BENCH_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let config = ScriptConfig {
        clients: false,
        servers: true,
        min_actions: 20,
        max_actions: 20,
        ..ScriptConfig::default()
    };
    let strategy = case(&config);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::XorShift, &[7; 16]),
    );
    let generation = rate(cases, || {
        for _ in 0..cases {
            let tree = strategy.new_tree(&mut runner).expect("a case");
            std::hint::black_box(lower(&tree.current().actions));
        }
    });
    println!("generation_cases_per_s={generation:.0}");
    let all = rate(cases, || {
        echo(cases).check();
    });
    println!("fuzz_cases_per_s={all:.0}");
    let single = rate(cases, || {
        echo(cases)
            .no_determinism_check()
            .no_chunking_invariance()
            .check();
    });
    println!("fuzz_cases_per_s_single_run={single:.0}");
    let direct = rate(cases, || {
        callorder_fuzz::fuzz_protocol(|| Box::new(Echo::new()))
            .cases(cases)
            .max_choices(20)
            .check();
    });
    println!("direct_cases_per_s={direct:.0}");
}
