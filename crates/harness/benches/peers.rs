//! callorder beside the peers a user would pick to test the same client.
//!
//! Run: `cargo bench -p callorder-harness --bench peers`. One life cycle,
//! the lifecycle bench's: the client connects, writes a 5-byte greeting,
//! reads 4 chunks (100, 1,000, 10 and 4,000 bytes) and the peer's close.
//! In the same run, each a median of 3 with the lines measured in turns:
//!
//! - `callorder_checked_sync` and `callorder_checked`: the mock reactor,
//!   every callback checked, with synchronous and async callbacks (as
//!   `lifecycles_per_s_checked_sync` and `lifecycles_per_s_checked` of the
//!   lifecycle bench);
//! - `tokio_test_builder`: the client as an async function over a stream,
//!   in a spawned task, against tokio-test's `io::Builder` mock (the
//!   greeting expected, the 4 chunks read, then end of file);
//! - `duplex_tasks`: the same client against a server task over a
//!   `tokio::io::duplex` pair (the server reads the greeting, writes the 4
//!   chunks and closes);
//! - `turmoil_zero_latency`: client and server over turmoil's simulated
//!   TCP, one simulation for every life cycle, its message latency zero;
//! - `turmoil_default_latency`: the same with turmoil's default latency
//!   (fewer life cycles: each takes simulated milliseconds, stepped tick by
//!   tick).
//!
//! None of the peers checks anything; each line says how many times
//! faster callorder is, with either kind of callbacks, beside the goals of
//! issue 17 (synchronous at least 2x tokio-test's and duplex's, at least
//! 10x turmoil's zero-latency run).
//!
//! Environment overrides: `CALLORDER_BENCH_LIFECYCLES` (default 100,000;
//! turmoil's default-latency line runs a hundredth of them).

#![allow(missing_docs, clippy::arc_with_non_send_sync)]

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

mod common;

use common::{lifecycles, SIZES};

const GREETING: &[u8] = b"hello";

/// Every byte the peer sends in a life cycle.
const TOTAL: usize = 100 + 1000 + 10 + 4000;

/// The client every peer runs: the greeting, then everything until the
/// peer closes, counted.
async fn client<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<usize> {
    stream.write_all(GREETING).await?;
    let mut buf = [0u8; 8192];
    let mut received = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(received);
        }
        received += n;
    }
}

/// The server the duplex and turmoil runs pair the client with: reads the
/// greeting, writes the 4 chunks, closes.
async fn server<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    chunks: Arc<Vec<Vec<u8>>>,
) -> io::Result<()> {
    let mut greeting = [0u8; GREETING.len()];
    stream.read_exact(&mut greeting).await?;
    for chunk in chunks.iter() {
        stream.write_all(chunk).await?;
    }
    stream.shutdown().await
}

fn chunks() -> Arc<Vec<Vec<u8>>> {
    Arc::new(SIZES.iter().map(|&n| vec![b'x'; n]).collect())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
}

/// `n` life cycles against tokio-test's mock, the client in a spawned task.
fn tokio_test_builder(n: usize) -> Duration {
    let rt = runtime();
    let chunks = chunks();
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            let mut mock = tokio_test::io::Builder::new();
            mock.write(GREETING);
            for chunk in chunks.iter() {
                mock.read(chunk);
            }
            let received = tokio::spawn(client(mock.build()))
                .await
                .expect("the client task")
                .expect("the mock's life cycle");
            assert_eq!(received, TOTAL);
        }
    });
    start.elapsed()
}

/// `n` life cycles over a duplex pair, client and server tasks.
fn duplex_tasks(n: usize) -> Duration {
    let rt = runtime();
    let chunks = chunks();
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            let (ours, theirs) = tokio::io::duplex(8192);
            let peer = tokio::spawn(server(theirs, chunks.clone()));
            let received = tokio::spawn(client(ours))
                .await
                .expect("the client task")
                .expect("the duplex life cycle");
            peer.await
                .expect("the server task")
                .expect("the server side");
            assert_eq!(received, TOTAL);
        }
    });
    start.elapsed()
}

/// `n` life cycles over turmoil's TCP, one simulation for all of them;
/// `zero_latency`: messages arrive in the tick they are sent.
fn turmoil_run(n: usize, zero_latency: bool) -> Duration {
    let mut builder = turmoil::Builder::new();
    // Long enough in simulated time for every life cycle, and seeded.
    builder
        .simulation_duration(Duration::from_secs(365 * 24 * 3600))
        .rng_seed(17);
    if zero_latency {
        builder
            .min_message_latency(Duration::ZERO)
            .max_message_latency(Duration::ZERO);
    }
    let mut sim = builder.build();
    let chunks = chunks();
    sim.host("server", move || {
        let chunks = chunks.clone();
        async move {
            let listener = turmoil::net::TcpListener::bind("0.0.0.0:80").await?;
            loop {
                let (stream, _) = listener.accept().await?;
                server(stream, chunks.clone()).await?;
            }
        }
    });
    sim.client("client", async move {
        for _ in 0..n {
            let stream = turmoil::net::TcpStream::connect("server:80").await?;
            let received = client(stream).await?;
            assert_eq!(received, TOTAL);
        }
        Ok(())
    });
    let start = Instant::now();
    sim.run().expect("the simulation");
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

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("peers bench: run with `cargo bench -p callorder-harness --bench peers`");
        return;
    }
    let n = env_usize("CALLORDER_BENCH_LIFECYCLES", 100_000);
    let slow = (n / 100).max(1);
    let mut runs: [Vec<Duration>; 6] = Default::default();
    for _ in 0..3 {
        runs[0].push(lifecycles(n, true, true, true));
        runs[1].push(lifecycles(n, true, true, false));
        runs[2].push(tokio_test_builder(n));
        runs[3].push(duplex_tasks(n));
        runs[4].push(turmoil_run(n, true));
        runs[5].push(turmoil_run(slow, false));
    }
    let [sync, asynchronous, builder, duplex, turmoil_zero, turmoil_default] = runs.map(median);
    let per_s = |d: Duration, n: usize| n as f64 / d.as_secs_f64();
    let (sync, asynchronous) = (per_s(sync, n), per_s(asynchronous, n));
    println!("callorder_checked_sync_lifecycles_per_s={sync:.0}");
    println!("callorder_checked_lifecycles_per_s={asynchronous:.0}");
    for (name, peer, goal) in [
        ("tokio_test_builder", per_s(builder, n), Some(2.0)),
        ("duplex_tasks", per_s(duplex, n), Some(2.0)),
        ("turmoil_zero_latency", per_s(turmoil_zero, n), Some(10.0)),
        (
            "turmoil_default_latency",
            per_s(turmoil_default, slow),
            None,
        ),
    ] {
        let goal = goal.map_or_else(String::new, |g| format!("; goal: sync >= {g}x"));
        println!(
            "{name}_lifecycles_per_s={peer:.0}  (callorder checked: sync {:.2}x, async {:.2}x{goal})",
            sync / peer,
            asynchronous / peer
        );
    }
}
