//! The mock reactor's speed and memory.
//!
//! Run: `cargo bench -p callorder-harness --bench lifecycle`. Prints, in one
//! run:
//!
//! - `lifecycles_per_s_checked` and `lifecycles_per_s_unchecked`: complete
//!   client life cycles (connect_tcp, do_start, start_factory,
//!   started_connecting, build_protocol, connection_made with one write, 4
//!   data chunks, connection_lost, client_connection_lost, do_stop,
//!   stop_factory), one factory reused, with the checker on and off, median
//!   of 3;
//! - `checker_overhead`: how much slower the checked run is;
//! - `twisted_fakes_lifecycles_per_s`: the same life cycle driven by
//!   Twisted's own fakes, from `shared/bench/twisted_fakes_bench.py
//!   --no-recorded` when Python with Twisted 26.10 is installed beside the
//!   project (see README), else `skipped`;
//! - `concurrent_100k_peak_rss_mib`: the peak memory of a child process
//!   holding 100,000 connections open at once in one reactor.
//!
//! Environment overrides: `CALLORDER_BENCH_LIFECYCLES` (default 100,000),
//! `CALLORDER_BENCH_CONCURRENT` (100,000), `CALLORDER_BENCH_PYTHON` (the
//! Python to run Twisted's bench with; default `python3`).

#![allow(missing_docs, clippy::arc_with_non_send_sync)]

use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reactor,
    Reason, Transport,
};
use callorder_harness::{Conn, MockReactor, Outcome, Script};

/// The life cycle's protocol: one write on connection_made, counts bytes.
struct Client {
    received: usize,
}

#[async_trait(?Send)]
impl Protocol for Client {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(b"hello")?;
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }
}

/// One factory for every life cycle; the next connect_tcp comes from the
/// application (a zero-delay timer), as the next iteration of a loop would.
struct Lifecycles {
    reactor: Reactor,
    left: Cell<usize>,
    this: std::cell::RefCell<Option<std::sync::Weak<Lifecycles>>>,
}

#[async_trait(?Send)]
impl Factory for Lifecycles {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Client { received: 0 })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Lifecycles {
    async fn client_connection_lost(&self, _: &Connector, _: Reason) -> CallbackResult {
        let left = self.left.get();
        if left > 0 {
            self.left.set(left - 1);
            let me = self
                .this
                .borrow()
                .as_ref()
                .and_then(|w| w.upgrade())
                .expect("alive");
            let reactor = self.reactor.clone();
            reactor.clone().call_later(Duration::ZERO, move || {
                reactor.connect_tcp("10.0.0.1:80", me, None);
            });
        }
        Ok(())
    }
}

fn script(n: usize) -> Script {
    let mut s = Script::new();
    for i in 1..=n {
        s = s.resolve(i, Outcome::Accept);
        for size in [100, 1000, 10, 4000] {
            s = s.send(Conn::Client(i), &vec![b'x'; size]);
        }
        s = s.close(Conn::Client(i));
    }
    s.shutdown()
}

fn lifecycles(n: usize, checked: bool) -> Duration {
    let script = script(n);
    let reactor = if checked {
        MockReactor::new()
    } else {
        MockReactor::new().without_checker()
    };
    let start = Instant::now();
    let run = reactor.run(script, |r| {
        let f = Arc::new(Lifecycles {
            reactor: r.clone(),
            left: Cell::new(n - 1),
            this: std::cell::RefCell::new(None),
        });
        *f.this.borrow_mut() = Some(Arc::downgrade(&f));
        r.connect_tcp("10.0.0.1:80", f, None);
    });
    let elapsed = start.elapsed();
    assert!(
        run.is_clean(),
        "the life cycles are legal: {:?}",
        run.violation
    );
    assert_eq!(
        run.trace
            .iter()
            .filter(|r| r.step.event.kind() == callorder_trace::EventKind::DoStop)
            .count(),
        n
    );
    elapsed
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The child: `n` connections open at once in one reactor; prints VmHWM.
fn concurrent_child(n: usize) {
    let mut s = Script::new();
    let batch = (1..=n)
        .map(|i| callorder_harness::WorldEvent::Resolve {
            attempt: i,
            outcome: Outcome::Accept,
        })
        .collect();
    s = s.batch(batch);
    let open = Rc::new(Cell::new(0usize));
    struct Hold(Rc<Cell<usize>>);
    #[async_trait(?Send)]
    impl Protocol for Hold {
        async fn connection_made(&mut self, _: Transport) -> CallbackResult {
            self.0.set(self.0.get() + 1);
            Ok(())
        }
        async fn data_received(&mut self, _: &[u8]) -> CallbackResult {
            Ok(())
        }
    }
    struct HoldFactory(Rc<Cell<usize>>);
    #[async_trait(?Send)]
    impl Factory for HoldFactory {
        async fn build_protocol(
            &self,
            _: &Address,
        ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
            Ok(Some(Box::new(Hold(self.0.clone()))))
        }
    }
    #[async_trait(?Send)]
    impl ClientFactory for HoldFactory {}
    let counter = open.clone();
    let run = MockReactor::new().run(s.shutdown(), move |r| {
        let f = Arc::new(HoldFactory(counter));
        for _ in 0..n {
            r.connect_tcp("10.0.0.1:80", f.clone(), None);
        }
    });
    assert!(run.is_clean(), "{:?}", run.violation);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap_or("0 kB")
        .trim()
        .to_owned();
    println!("open={} vmhwm={hwm}", open.get());
}

fn twisted_fakes() -> String {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/bench/twisted_fakes_bench.py");
    if !script.exists() {
        return "skipped (shared/bench/twisted_fakes_bench.py not found)".into();
    }
    let python = std::env::var("CALLORDER_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python)
        .arg(&script)
        .arg("--no-recorded")
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("lifecycles_per_s="))
            .map_or_else(
                || "skipped (no lifecycles_per_s line)".into(),
                |v| v.trim().to_owned(),
            ),
        Ok(out) => format!(
            "skipped ({python} failed: {})",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => format!("skipped ({python}: {e})"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--concurrent-child") {
        concurrent_child(
            args.get(i + 1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(100_000),
        );
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("lifecycle bench: run with `cargo bench -p callorder-harness --bench lifecycle`");
        return;
    }
    let n = env_usize("CALLORDER_BENCH_LIFECYCLES", 100_000);
    let checked = median((0..3).map(|_| lifecycles(n, true)).collect());
    let unchecked = median((0..3).map(|_| lifecycles(n, false)).collect());
    let on = n as f64 / checked.as_secs_f64();
    let off = n as f64 / unchecked.as_secs_f64();
    println!("lifecycles_per_s_checked={on:.0}");
    println!("lifecycles_per_s_unchecked={off:.0}");
    println!(
        "checker_overhead={:.1}%  (goal <= 25%)",
        (checked.as_secs_f64() / unchecked.as_secs_f64() - 1.0) * 100.0
    );
    let twisted = twisted_fakes();
    println!("twisted_fakes_lifecycles_per_s={twisted}");
    if let Ok(t) = twisted.parse::<f64>() {
        println!("checked_vs_twisted_fakes={:.2}x  (goal >= 3x)", on / t);
    }
    let concurrent = env_usize("CALLORDER_BENCH_CONCURRENT", 100_000);
    let exe = std::env::current_exe().expect("the bench binary");
    let out = Command::new(exe)
        .arg("--concurrent-child")
        .arg(concurrent.to_string())
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: f64 = text
        .split("vmhwm=")
        .nth(1)
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    println!(
        "concurrent_{concurrent}_peak_rss_mib={:.1}  (goal < 1024; child said: {})",
        kib / 1024.0,
        text.trim()
    );
}
