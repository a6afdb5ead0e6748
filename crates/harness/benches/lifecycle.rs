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
//!   of 3, with async callbacks (`Protocol`, `ClientFactory`). Set up as a
//!   long run is: the reactor keeps the last 64 records of the trace
//!   ([`MockReactor::keep_last`]), and the script sends the same 4 payloads
//!   on every connection ([`Script::send_bytes`]), as Twisted's bench below
//!   does;
//! - `lifecycles_per_s_checked_sync` and `lifecycles_per_s_unchecked_sync`:
//!   the same with synchronous callbacks (`SyncProtocol`,
//!   `SyncClientFactory`), which the reactor calls directly;
//! - `lifecycles_per_s_checked_full_trace`: the same with every record
//!   kept and a copy of each payload per connection;
//! - `checker_overhead`: how much slower the checked run is;
//! - `twisted_fakes_lifecycles_per_s`: the same life cycle driven by
//!   Twisted's own fakes (`MemoryReactor`, `StringTransport`), run by
//!   `benches/twisted_fakes.py` with the Python of
//!   `CALLORDER_BENCH_PYTHON` when it has Twisted 26.10 (see README), else
//!   `skipped` with the reason;
//! - `concurrent_100k_peak_rss_mib`: the peak memory of a child process
//!   holding 100,000 connections open at once in one reactor;
//! - `floor_lifecycles_per_s`: what no reactor with these traits and this
//!   checker can beat: the same life cycle's 11 async-trait callbacks called
//!   and polled directly (no reactor, no transport, no write), plus the
//!   checker stepping its 14 events. Its parts are printed too;
//! - `floor_owned_lifecycles_per_s`: the same floor for a reactor whose
//!   callbacks may await, as this one's may: each callback's future must
//!   then own what it borrows (the protocol's `Rc<RefCell<..>>`, the
//!   factory's `Arc`, the data), so it is wrapped in a boxed future of its
//!   own;
//! - `floor_sync_lifecycles_per_s`: the floor of the synchronous line: the
//!   same life cycle's 11 callbacks of the synchronous traits, called
//!   directly through the trait objects (no reactor, no transport, no
//!   write), plus the checker.
//!
//! `--one LINE` (`checked`, `checked_sync`, `unchecked`, `unchecked_sync`)
//! runs only that line's life cycles, once, for a profiler.
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
    ActionError, Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory,
    Protocol, Reactor, ReactorOps, Reason, SyncClientFactory, SyncFactory, SyncProtocol, Transport,
    WriteStatus,
};
use callorder_harness::{Bytes, MockReactor, Outcome, Script};
use callorder_trace::{ConnectorId, PortId, ProtocolId};

mod common;

use common::{lifecycles, SIZES};

/// The floor's protocol: the life cycle's protocol without its write.
struct Bare {
    received: usize,
}

#[async_trait(?Send)]
impl Protocol for Bare {
    async fn connection_made(&mut self, _: Transport) -> CallbackResult {
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }
}

struct BareFactory;

#[async_trait(?Send)]
impl Factory for BareFactory {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Bare { received: 0 })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for BareFactory {}

fn ready<T>(fut: std::pin::Pin<Box<dyn std::future::Future<Output = T> + '_>>) -> T {
    let mut fut = fut;
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the floor's callbacks finish at once"),
    }
}

/// Handles for the floor's callbacks, which never act through them.
struct Nowhere;

impl ReactorOps for Nowhere {
    fn write(&self, _: ProtocolId, _: &[u8]) -> Result<WriteStatus, ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn lose_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn lose_write_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn abort_connection(&self, _: ProtocolId) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn register_producer(&self, _: ProtocolId, _: bool) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn unregister_producer(&self, _: ProtocolId) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn pause_reading(&self, _: ProtocolId) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn resume_reading(&self, _: ProtocolId) -> Result<(), ActionError> {
        Err(ActionError::ConnectionGone)
    }
    fn peer(&self, _: ProtocolId) -> Address {
        Address::new("?")
    }
    fn host(&self, _: ProtocolId) -> Address {
        Address::new("?")
    }
    fn connect(&self, _: ConnectorId) -> Result<(), ActionError> {
        Err(ActionError::AlreadyConnecting)
    }
    fn stop_connecting(&self, _: ConnectorId) -> Result<(), ActionError> {
        Err(ActionError::NotConnecting)
    }
    fn disconnect(&self, _: ConnectorId) -> Result<(), ActionError> {
        Err(ActionError::NotConnecting)
    }
    fn destination(&self, _: ConnectorId) -> Address {
        Address::new("?")
    }
    fn stop_listening(&self, _: PortId) -> Result<(), ActionError> {
        Err(ActionError::NotListening)
    }
    fn connect_tcp(
        &self,
        _: Address,
        _: Arc<dyn ClientFactory>,
        _: Option<Duration>,
    ) -> ConnectorId {
        ConnectorId(1)
    }
    fn listen_tcp(&self, _: Address, _: Arc<dyn Factory>) -> Result<PortId, ActionError> {
        Err(ActionError::AddressInUse)
    }
    fn call_later(&self, _: Duration, _: Box<dyn FnOnce()>) -> u64 {
        0
    }
    fn cancel_timer(&self, _: u64) -> bool {
        false
    }
    fn random_u64(&self) -> u64 {
        4
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

/// What the floors call the life cycle's callbacks with: handles on a
/// reactor that does nothing, a factory that builds bare protocols, and the
/// address it builds them for.
fn handles() -> (
    Reactor,
    Connector,
    Transport,
    Arc<dyn ClientFactory>,
    Address,
) {
    let ops: Rc<dyn ReactorOps> = Rc::new(Nowhere);
    (
        Reactor::new(ops.clone()),
        Connector::new(ConnectorId(1), ops.clone()),
        Transport::new(ProtocolId(1), ops),
        Arc::new(BareFactory),
        Address::new("10.0.0.1:80"),
    )
}

/// The life cycle's callbacks, called through the traits as a reactor calls
/// them: one boxed future each (async-trait), polled once.
fn floor_callbacks(n: usize) -> Duration {
    let (reactor, connector, transport, factory, addr) = handles();
    let chunks: Vec<Vec<u8>> = [100, 1000, 10, 4000]
        .iter()
        .map(|n| vec![b'x'; *n])
        .collect();
    let holder = callorder_trace::Holder::Connector(connector.id());
    let start = Instant::now();
    for _ in 0..n {
        factory.do_start(holder);
        ready(factory.start_factory(&reactor)).unwrap();
        ready(factory.started_connecting(&connector)).unwrap();
        let mut p = ready(factory.build_protocol(&addr)).unwrap().unwrap();
        ready(p.connection_made(transport.clone())).unwrap();
        for c in &chunks {
            ready(p.data_received(c)).unwrap();
        }
        ready(p.connection_lost(Reason::ConnectionDone)).unwrap();
        drop(std::hint::black_box(p));
        ready(factory.client_connection_lost(&connector, Reason::ConnectionDone)).unwrap();
        factory.do_stop(holder);
        ready(factory.stop_factory()).unwrap();
    }
    start.elapsed()
}

/// The synchronous floor's protocol: [`Bare`], synchronous.
struct SyncBare {
    received: usize,
}

impl SyncProtocol for SyncBare {
    fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }
}

struct SyncBareFactory;

impl SyncFactory for SyncBareFactory {
    fn build_protocol(&self, _: &Address) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(SyncBare { received: 0 })))
    }
}

impl SyncClientFactory for SyncBareFactory {}

/// The life cycle's callbacks of the synchronous kind, called as the
/// reactor calls them: through the trait objects' synchronous views, with
/// no future.
fn floor_sync_callbacks(n: usize) -> Duration {
    let (reactor, connector, transport, _, addr) = handles();
    let factory: Arc<dyn ClientFactory> = Arc::new(SyncBareFactory);
    let chunks: Vec<Bytes> = SIZES.iter().map(|&n| vec![b'x'; n].into()).collect();
    let holder = callorder_trace::Holder::Connector(connector.id());
    let start = Instant::now();
    for _ in 0..n {
        let f = factory.sync_client_factory().expect("synchronous");
        f.do_start(holder);
        f.start_factory(&reactor).unwrap();
        f.started_connecting(&connector).unwrap();
        let mut p = f.build_protocol(&addr).unwrap().unwrap();
        let q = p.sync_protocol().expect("synchronous");
        q.connection_made(transport.clone()).unwrap();
        for c in &chunks {
            p.sync_protocol()
                .expect("synchronous")
                .data_received(c)
                .unwrap();
        }
        p.sync_protocol()
            .expect("synchronous")
            .connection_lost(Reason::ConnectionDone)
            .unwrap();
        drop(std::hint::black_box(p));
        f.client_connection_lost(&connector, Reason::ConnectionDone)
            .unwrap();
        f.do_stop(holder);
        f.stop_factory().unwrap();
    }
    start.elapsed()
}

/// A callback's future that owns what it borrows, as a reactor must box it
/// to keep it across awaits.
type Owned = std::pin::Pin<Box<dyn std::future::Future<Output = CallbackResult>>>;

/// The life cycle's callbacks as [`floor_callbacks`] calls them, each
/// wrapped in a boxed future that owns its handles, as the mock reactor
/// wraps them (holding the protocol's borrow across the await, as the
/// reactor does on purpose).
#[allow(clippy::await_holding_refcell_ref)]
fn floor_owned_callbacks(n: usize) -> Duration {
    let (reactor, connector, transport, factory, addr) = handles();
    let chunks: Vec<Bytes> = SIZES.iter().map(|&n| vec![b'x'; n].into()).collect();
    let holder = callorder_trace::Holder::Connector(connector.id());
    let start = Instant::now();
    for _ in 0..n {
        factory.do_start(holder);
        let (f, r) = (factory.clone(), reactor.clone());
        ready::<CallbackResult>(Box::pin(async move { f.start_factory(&r).await }) as Owned)
            .unwrap();
        let (f, c) = (factory.clone(), connector.clone());
        ready::<CallbackResult>(Box::pin(async move { f.started_connecting(&c).await }) as Owned)
            .unwrap();
        let (f, a) = (factory.clone(), addr.clone());
        let built = ready(Box::pin(async move { f.build_protocol(&a).await }));
        let p = Rc::new(std::cell::RefCell::new(built.unwrap().unwrap()));
        let (q, t) = (p.clone(), transport.clone());
        ready::<CallbackResult>(
            Box::pin(async move { q.borrow_mut().connection_made(t).await }) as Owned,
        )
        .unwrap();
        for c in &chunks {
            let (q, c) = (p.clone(), c.clone());
            ready::<CallbackResult>(
                Box::pin(async move { q.borrow_mut().data_received(&c).await }) as Owned,
            )
            .unwrap();
        }
        let q = p.clone();
        ready::<CallbackResult>(Box::pin(async move {
            q.borrow_mut().connection_lost(Reason::ConnectionDone).await
        }) as Owned)
        .unwrap();
        drop(std::hint::black_box(p));
        let (f, c) = (factory.clone(), connector.clone());
        ready::<CallbackResult>(Box::pin(async move {
            f.client_connection_lost(&c, Reason::ConnectionDone).await
        }) as Owned)
        .unwrap();
        factory.do_stop(holder);
        let f = factory.clone();
        ready::<CallbackResult>(Box::pin(async move { f.stop_factory().await }) as Owned).unwrap();
    }
    start.elapsed()
}

/// The checker stepping the life cycle's 14 events, `n` times over.
fn floor_checker(n: usize) -> Duration {
    use callorder_checker::{Checker, Profile};
    use callorder_trace::{ConnectorId, Event, FactoryId, Holder, ProtocolId, Step};
    let f = FactoryId(1);
    let steps: Vec<Step> = (1..=n as u64)
        .flat_map(|i| {
            let (c, p) = (ConnectorId(i), ProtocolId(i));
            let holder = Some(Holder::Connector(c));
            let events = [
                (
                    0,
                    Event::ConnectTcp {
                        factory: f,
                        connector: c,
                    },
                ),
                (0, Event::DoStart { factory: f, holder }),
                (1, Event::StartFactory { factory: f }),
                (
                    0,
                    Event::StartedConnecting {
                        factory: f,
                        connector: c,
                    },
                ),
                (
                    0,
                    Event::BuildProtocol {
                        factory: f,
                        holder: Holder::Connector(c),
                        protocol: Some(p),
                    },
                ),
                (0, Event::ConnectionMade { protocol: p }),
                (
                    1,
                    Event::Write {
                        protocol: p,
                        bytes: 5,
                    },
                ),
                (
                    0,
                    Event::DataReceived {
                        protocol: p,
                        bytes: 100,
                    },
                ),
                (
                    0,
                    Event::DataReceived {
                        protocol: p,
                        bytes: 1000,
                    },
                ),
                (
                    0,
                    Event::DataReceived {
                        protocol: p,
                        bytes: 10,
                    },
                ),
                (
                    0,
                    Event::DataReceived {
                        protocol: p,
                        bytes: 4000,
                    },
                ),
                (
                    0,
                    Event::ConnectionLost {
                        protocol: p,
                        reason: Reason::ConnectionDone,
                    },
                ),
                (
                    0,
                    Event::ClientConnectionLost {
                        factory: f,
                        connector: c,
                        reason: Reason::ConnectionDone,
                    },
                ),
                (0, Event::DoStop { factory: f, holder }),
                (1, Event::StopFactory { factory: f }),
            ];
            events.into_iter().collect::<Vec<_>>()
        })
        .enumerate()
        .map(|(k, (depth, event))| Step::new(k as u64 + 1, event).at_depth(depth))
        .collect();
    let mut checker = Checker::new(Profile::Strict);
    let start = Instant::now();
    for step in &steps {
        checker
            .step(step)
            .expect("the floor's life cycles are legal");
    }
    start.elapsed()
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
    // About three turns per connection in one step: CALLORDER_BENCH_CONCURRENT
    // may ask for more than the default step budget allows.
    let reactor = MockReactor::new().step_budget(callorder_harness::StepBudget::UNLIMITED);
    let run = reactor.run(s.shutdown(), move |r| {
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/twisted_fakes.py");
    let python = std::env::var("CALLORDER_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&python).arg(&script).output() {
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
    if let Some(i) = args.iter().position(|a| a == "--one") {
        // One line, once, for a profiler or cachegrind (see
        // docs/performance.md): `--one checked_sync`, say.
        let n = env_usize("CALLORDER_BENCH_LIFECYCLES", 100_000);
        let (checked, synchronous) = match args.get(i + 1).map(String::as_str) {
            Some("checked") => (true, false),
            Some("checked_sync") => (true, true),
            Some("unchecked") => (false, false),
            Some("unchecked_sync") => (false, true),
            other => {
                eprintln!(
                    "--one takes checked, checked_sync, unchecked or unchecked_sync, not {other:?}"
                );
                std::process::exit(2);
            }
        };
        let took = lifecycles(n, checked, true, synchronous);
        println!("lifecycles_per_s={:.0}", n as f64 / took.as_secs_f64());
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("lifecycle bench: run with `cargo bench -p callorder-harness --bench lifecycle`");
        return;
    }
    let n = env_usize("CALLORDER_BENCH_LIFECYCLES", 100_000);
    // The lines compared are measured in turns, so that a change of load
    // on a shared machine falls on all of them alike.
    let mut runs: [Vec<Duration>; 5] = Default::default();
    for _ in 0..3 {
        runs[0].push(lifecycles(n, true, true, false));
        runs[1].push(lifecycles(n, true, true, true));
        runs[2].push(lifecycles(n, false, true, false));
        runs[3].push(lifecycles(n, false, true, true));
        runs[4].push(lifecycles(n, true, false, false));
    }
    let [checked, checked_sync, unchecked, unchecked_sync, full] = runs.map(median);
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    let (on, on_sync) = (per_s(checked), per_s(checked_sync));
    println!("lifecycles_per_s_checked={on:.0}");
    println!("lifecycles_per_s_unchecked={:.0}", per_s(unchecked));
    println!("lifecycles_per_s_checked_sync={on_sync:.0}");
    println!(
        "lifecycles_per_s_unchecked_sync={:.0}",
        per_s(unchecked_sync)
    );
    println!("lifecycles_per_s_checked_full_trace={:.0}", per_s(full));
    println!(
        "checker_overhead={:.1}%  (goal <= 25%)",
        (checked.as_secs_f64() / unchecked.as_secs_f64() - 1.0) * 100.0
    );
    let mut floors: [Vec<Duration>; 4] = Default::default();
    for _ in 0..3 {
        floors[0].push(floor_callbacks(n));
        floors[1].push(floor_owned_callbacks(n));
        floors[2].push(floor_sync_callbacks(n));
        floors[3].push(floor_checker(n));
    }
    let [callbacks, owned, sync_callbacks, checking] = floors.map(median);
    let floor = per_s(callbacks + checking);
    let floor_owned = per_s(owned + checking);
    let floor_sync = per_s(sync_callbacks + checking);
    println!(
        "floor_lifecycles_per_s={floor:.0}  (callbacks alone {:.0}/s, checker alone {:.0}/s)",
        per_s(callbacks),
        per_s(checking)
    );
    println!(
        "floor_owned_lifecycles_per_s={floor_owned:.0}  (owned callbacks alone {:.0}/s)",
        per_s(owned)
    );
    println!(
        "floor_sync_lifecycles_per_s={floor_sync:.0}  (sync callbacks alone {:.0}/s)",
        per_s(sync_callbacks)
    );
    let twisted = twisted_fakes();
    println!("twisted_fakes_lifecycles_per_s={twisted}");
    if let Ok(t) = twisted.parse::<f64>() {
        println!(
            "checked_sync_vs_twisted_fakes={:.2}x  (goal >= 3x; its floor {:.2}x)",
            on_sync / t,
            floor_sync / t
        );
        println!(
            "checked_vs_twisted_fakes={:.2}x  (goal >= 1.5x; its floor {:.2}x)",
            on / t,
            floor_owned / t
        );
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
