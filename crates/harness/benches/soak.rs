//! The soak: one mock reactor runs sequential life cycles of one shared
//! factory under the checker, set up as a long run (the last 64 records of
//! the trace, the last 8 ended connections, steps made as the run reaches
//! them: `MockReactor::keep_last`, `MockReactor::keep_ended`, `Steps`).
//!
//! Run: `cargo bench -p callorder-harness --bench soak`. For each soak
//! length (10,000, 100,000 and 1,000,000 life cycles; override with
//! `CALLORDER_BENCH_SOAK`, a comma-separated list) a child process of this
//! bench runs one soak and reports its peak resident memory (`VmHWM`); the
//! bench prints
//!
//! - `soak_N_peak_rss_mib`: the child's peak memory, for `N` cycles;
//! - `soak_bytes_per_cycle`: how much more the longest soak took than the
//!   shortest, per cycle between them (goal <= 16).
//!
//! The same workload, short, is the test `tests/soak.rs`, which counts the
//! heap with the counting allocator instead.

#![allow(missing_docs, clippy::arc_with_non_send_sync)]

#[path = "../tests/support/soak.rs"]
mod soak;

use std::process::Command;
use std::time::Instant;

use soak::{soak, Keep};

/// The child: one soak of `cycles`; prints its peak memory and time.
fn child(cycles: usize) {
    let start = Instant::now();
    soak(cycles, Keep::Little, |_| {});
    let seconds = start.elapsed().as_secs_f64();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    println!("vmhwm_kib={hwm} seconds={seconds:.2}");
}

fn field(text: &str, name: &str) -> Option<f64> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--soak-child") {
        child(
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(10_000),
        );
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("soak bench: run with `cargo bench -p callorder-harness --bench soak`");
        return;
    }
    let lengths: Vec<usize> = std::env::var("CALLORDER_BENCH_SOAK")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let exe = std::env::current_exe().expect("the bench binary");
    let mut peaks: Vec<(usize, f64)> = Vec::new();
    for &cycles in &lengths {
        let out = Command::new(&exe)
            .arg("--soak-child")
            .arg(cycles.to_string())
            .output()
            .expect("the child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the soak of {cycles} failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        let kib = field(&text, "vmhwm_kib").unwrap_or(f64::NAN);
        let seconds = field(&text, "seconds").unwrap_or(f64::NAN);
        println!(
            "soak_{cycles}_peak_rss_mib={:.1}  ({:.0} life cycles/s)",
            kib / 1024.0,
            cycles as f64 / seconds
        );
        peaks.push((cycles, kib));
    }
    let (Some(&(few, low)), Some(&(many, high))) = (peaks.first(), peaks.last()) else {
        return;
    };
    if many > few {
        println!(
            "soak_bytes_per_cycle={:.2}  (from {few} to {many} cycles; goal <= 16)",
            (high - low) * 1024.0 / (many - few) as f64
        );
    }
}
