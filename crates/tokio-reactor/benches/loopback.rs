//! Real loopback life cycles per second: the tokio reactor checked, plain
//! tokio (the ceiling: no reactor, no checker), and Twisted's epoll
//! reactor, against one peer.
//!
//! Run: `cargo bench -p callorder-tokio --bench loopback`. A life cycle:
//! connect to the peer, write a 5-byte greeting, read the 4 chunks the peer
//! sends (100, 1000, 10 and 4000 bytes, however the kernel cuts them), and
//! see the peer's close. The peer runs on a thread of its own, on its own
//! runtime, and is the same for every client. Each client runs them one at
//! a time, then 32 in flight, on one thread; each figure is the median of
//! 3 runs:
//!
//! - `tokio_reactor_checked_{seq,32}`: a `ClientFactory` whose connectors
//!   reconnect in `client_connection_lost` until their share is done, on
//!   `TokioReactor` with the checker on (the trace kept to its last 64
//!   records, as a long run keeps it);
//! - `plain_tokio_{seq,32}`: the same exchange with `TcpStream` alone;
//! - `twisted_epoll_{seq,32}`: `benches/twisted_epoll.py` with the Python of
//!   `CALLORDER_BENCH_PYTHON` (default `python3`) when it has Twisted 26.10,
//!   else `skipped` with the reason.
//!
//! Then the ratios the goals are about. Environment overrides:
//! `CALLORDER_BENCH_LOOPBACK_N` (life cycles per run, default 5,000),
//! `CALLORDER_BENCH_RUNS` (3).

#![allow(missing_docs, clippy::arc_with_non_send_sync)]

use std::cell::Cell;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use callorder_core::{
    Address, CallbackError, CallbackResult, ClientFactory, Connector, Factory, Protocol, Reason,
    Transport,
};
use callorder_tokio::TokioReactor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHUNKS: [usize; 4] = [100, 1000, 10, 4000];
const EXPECTED: usize = 100 + 1000 + 10 + 4000;
const GREETING: &[u8] = b"hello";

/// The peer: reads the greeting, sends the 4 chunks, closes. On a thread of
/// its own; the address it listens on.
fn start_peer() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(listener.local_addr().expect("bound").to_string())
                .expect("the bench waits");
            let chunks: Vec<Vec<u8>> = CHUNKS.iter().map(|n| vec![b'c'; *n]).collect();
            let chunks = Rc::new(chunks);
            let local = tokio::task::LocalSet::new();
            local
                .run_until(async move {
                    loop {
                        let Ok((mut stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let chunks = chunks.clone();
                        tokio::task::spawn_local(async move {
                            let _ = stream.set_nodelay(true);
                            let mut hello = [0u8; GREETING.len()];
                            if stream.read_exact(&mut hello).await.is_err() {
                                return;
                            }
                            for chunk in chunks.iter() {
                                if stream.write_all(chunk).await.is_err() {
                                    return;
                                }
                            }
                        });
                    }
                })
                .await;
        });
    });
    rx.recv().expect("the peer listens")
}

/// The life cycle's protocol: greets, counts what arrives.
struct Client {
    received: usize,
    bad: Rc<Cell<usize>>,
}

#[async_trait(?Send)]
impl Protocol for Client {
    async fn connection_made(&mut self, t: Transport) -> CallbackResult {
        t.write(GREETING)?;
        Ok(())
    }

    async fn data_received(&mut self, data: &[u8]) -> CallbackResult {
        self.received += data.len();
        Ok(())
    }

    async fn connection_lost(&mut self, _: Reason) -> CallbackResult {
        if self.received != EXPECTED {
            self.bad.set(self.bad.get() + 1);
        }
        Ok(())
    }
}

/// One factory for every connector: each reconnects until its share is
/// done.
struct Clients {
    per_connector: usize,
    done: Cell<usize>,
    bad: Rc<Cell<usize>>,
}

#[async_trait(?Send)]
impl Factory for Clients {
    async fn build_protocol(
        &self,
        _: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        Ok(Some(Box::new(Client {
            received: 0,
            bad: self.bad.clone(),
        })))
    }
}

#[async_trait(?Send)]
impl ClientFactory for Clients {
    async fn client_connection_lost(&self, _: &Connector, _: Reason) -> CallbackResult {
        self.done.set(self.done.get() + 1);
        Ok(())
    }

    async fn client_connection_failed(&self, _: &Connector, _: Reason) -> CallbackResult {
        self.bad.set(self.bad.get() + 1);
        Ok(())
    }
}

/// A connector's share, counted down on the connector's own losses.
struct Share {
    left: Cell<usize>,
    clients: Arc<Clients>,
}

#[async_trait(?Send)]
impl Factory for Share {
    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        self.clients.build_protocol(addr).await
    }
}

#[async_trait(?Send)]
impl ClientFactory for Share {
    async fn client_connection_lost(&self, connector: &Connector, r: Reason) -> CallbackResult {
        self.clients.client_connection_lost(connector, r).await?;
        self.left.set(self.left.get() - 1);
        if self.left.get() > 0 {
            connector.connect()?;
        }
        Ok(())
    }

    async fn client_connection_failed(&self, c: &Connector, r: Reason) -> CallbackResult {
        self.clients.client_connection_failed(c, r).await
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The tokio reactor, checked: life cycles per second.
fn reactor_checked(peer: &str, n: usize, inflight: usize) -> f64 {
    let per = (n / inflight).max(1);
    let clients = Arc::new(Clients {
        per_connector: per,
        done: Cell::new(0),
        bad: Rc::default(),
    });
    let rt = runtime();
    let started = Instant::now();
    let run = rt.block_on(TokioReactor::new().keep_last(64).run(|reactor| {
        for _ in 0..inflight {
            let share = Arc::new(Share {
                left: Cell::new(clients.per_connector),
                clients: clients.clone(),
            });
            reactor.connect_tcp(peer, share, None);
        }
    }));
    let elapsed = started.elapsed().as_secs_f64();
    assert!(run.is_clean(), "the checked run: {:?}", run.violation);
    assert_eq!(clients.bad.get(), 0, "every life cycle got its bytes");
    assert_eq!(clients.done.get(), per * inflight);
    (per * inflight) as f64 / elapsed
}

/// Plain tokio, the ceiling: life cycles per second.
fn plain_tokio(peer: &str, n: usize, inflight: usize) -> f64 {
    let per = (n / inflight).max(1);
    let rt = runtime();
    let started = Instant::now();
    rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let tasks: Vec<_> = (0..inflight)
                    .map(|_| {
                        let peer = peer.to_owned();
                        tokio::task::spawn_local(async move {
                            let mut buf = vec![0u8; 64 << 10];
                            for _ in 0..per {
                                let mut stream =
                                    TcpStream::connect(peer.as_str()).await.expect("connect");
                                let _ = stream.set_nodelay(true);
                                stream.write_all(GREETING).await.expect("greet");
                                let mut got = 0;
                                loop {
                                    match stream.read(&mut buf).await.expect("read") {
                                        0 => break,
                                        k => got += k,
                                    }
                                }
                                assert_eq!(got, EXPECTED);
                            }
                        })
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("a client");
                }
            })
            .await;
    });
    (per * inflight) as f64 / started.elapsed().as_secs_f64()
}

fn twisted_epoll(peer: &str, n: usize, inflight: usize, runs: usize) -> Option<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/twisted_epoll.py");
    let python = std::env::var("CALLORDER_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(&script)
        .arg(peer)
        .args(["-n", &n.to_string()])
        .args(["--inflight", &inflight.to_string()])
        .args(["--runs", &runs.to_string()])
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("lifecycles_per_s="))
            .and_then(|v| v.trim().parse().ok()),
        Ok(out) => {
            let why = String::from_utf8_lossy(&out.stderr);
            println!(
                "twisted_epoll: skipped ({python} failed: {})",
                why.lines().last().unwrap_or("")
            );
            None
        }
        Err(e) => {
            println!("twisted_epoll: skipped ({python}: {e})");
            None
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("loopback bench: run with `cargo bench -p callorder-tokio --bench loopback`");
        return;
    }
    let n = env_usize("CALLORDER_BENCH_LOOPBACK_N", 5_000);
    let runs = env_usize("CALLORDER_BENCH_RUNS", 3).max(1);
    let peer = start_peer();
    for inflight in [1, 32] {
        let mode = if inflight == 1 { "seq" } else { "32" };
        let checked = median(
            (0..runs)
                .map(|_| reactor_checked(&peer, n, inflight))
                .collect(),
        );
        let plain = median((0..runs).map(|_| plain_tokio(&peer, n, inflight)).collect());
        println!("tokio_reactor_checked_{mode}={checked:.0}");
        println!("plain_tokio_{mode}={plain:.0}");
        println!(
            "checked_vs_plain_{mode}={:.0}%  (goal 60-75%)",
            100.0 * checked / plain
        );
        match twisted_epoll(&peer, n, inflight, runs) {
            Some(twisted) => {
                println!("twisted_epoll_{mode}={twisted:.0}");
                let goal = if inflight == 1 { "3x" } else { "2.5x" };
                println!(
                    "checked_vs_twisted_{mode}={:.2}x  (goal >= {goal})",
                    checked / twisted
                );
                println!("plain_vs_twisted_{mode}={:.2}x", plain / twisted);
            }
            None => println!("twisted_epoll_{mode}=skipped"),
        }
    }
}
