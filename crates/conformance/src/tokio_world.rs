//! The tokio reactor's world: real loopback peers driven by the plan.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callorder_core::Address;
use callorder_harness::Run;
use callorder_tokio::{Resolution, Resolver, TokioReactor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::world::{Answer, PeerStep, Plan, SetUp, Site, World};

/// How long a peer waits for the implementation before it calls it a
/// hang: only a hang reaches it.
const HANG: Duration = Duration::from_secs(60);

/// The tokio reactor under the suite, over 127.0.0.1: a closed port
/// refuses, a listener whose backlog is full never answers, a resolver
/// that knows no name fails it, and peers are tokio sockets that follow
/// their steps, each waiting for the one before it to take effect.
#[derive(Debug, Default)]
pub struct TokioWorld;

/// A resolver that knows no name.
struct NoNames;

impl Resolver for NoNames {
    fn resolve(&self, host: &str, _: u16) -> Resolution {
        let error = io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such name"));
        Box::pin(async move { Err(error) })
    }
}

/// A port of the loopback nobody listens on: bound, then let go.
fn closed_port() -> io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A listener that never accepts, its backlog filled: the kernel drops
/// the SYNs of further connects, which then never complete.
async fn full_backlog() -> io::Result<(SocketAddr, TcpListener, Vec<TcpStream>)> {
    let socket = TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse().expect("an address"))?;
    let listener = socket.listen(0)?;
    let addr = listener.local_addr()?;
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    Ok((addr, listener, fillers))
}

/// Plays a peer's steps; the stream, if the steps left it open.
async fn play(mut stream: TcpStream, steps: &[PeerStep]) -> Option<TcpStream> {
    let mut buf = vec![0u8; 64 << 10];
    for step in steps {
        match step {
            PeerStep::Send(bytes) => stream.write_all(bytes).await.ok()?,
            PeerStep::Read(n) => {
                let mut want = vec![0u8; *n];
                tokio::time::timeout(HANG, stream.read_exact(&mut want))
                    .await
                    .ok()?
                    .ok()?;
            }
            PeerStep::ReadToEnd => loop {
                match tokio::time::timeout(HANG, stream.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(_)) => {}
                }
            },
            PeerStep::HalfClose => stream.shutdown().await.ok()?,
            PeerStep::Close => return None,
            PeerStep::Reset => {
                let _ = stream.set_zero_linger();
                return None;
            }
        }
    }
    Some(stream)
}

impl World for TokioWorld {
    fn name(&self) -> &str {
        "tokio"
    }

    fn run(&mut self, plan: &Plan, setup: SetUp<'_>) -> Run {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        rt.block_on(run_case(plan, setup))
    }
}

async fn run_case(plan: &Plan, setup: SetUp<'_>) -> Run {
    let mut keep_listener = None;
    let mut keep_fillers = Vec::new();
    let mut client_peer = None;
    let mut reactor = TokioReactor::new();
    let connect_to = match &plan.client {
        None | Some(Answer::Refuse) => closed_port().expect("a free port").to_string(),
        Some(Answer::FailName) => {
            reactor = TokioReactor::with_resolver(Arc::new(NoNames));
            "nowhere.invalid:80".to_owned()
        }
        Some(Answer::NeverAnswer) => {
            let (addr, listener, fillers) = full_backlog().await.expect("a full listener");
            keep_listener = Some(listener);
            keep_fillers = fillers;
            addr.to_string()
        }
        Some(Answer::Accept(steps)) => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("bound").to_string();
            client_peer = Some((listener, steps.clone(), plan.attempts));
            addr
        }
    };
    let site = Site {
        connect_to: Address::new(connect_to),
        listen_on: Address::new("127.0.0.1:0"),
    };
    let port = setup(&reactor.handle(), &site);
    let listening = port.as_ref().and_then(|p| reactor.address(p));
    let stopper = reactor.stopper();
    let peers = plan.peers.clone();
    let shutdown_live = plan.shutdown_live;
    let world = async move {
        let mut open = Vec::new();
        if let Some((listener, steps, attempts)) = client_peer {
            for _ in 0..attempts {
                let accepted = tokio::time::timeout(HANG, listener.accept()).await;
                let Ok(Ok((stream, _))) = accepted else { break };
                open.extend(play(stream, &steps).await);
            }
        }
        if let Some(addr) = listening {
            for steps in &peers {
                let connect = TcpStream::connect(addr.as_str());
                if let Ok(Ok(stream)) = tokio::time::timeout(HANG, connect).await {
                    open.extend(play(stream, steps).await);
                }
            }
        }
        if shutdown_live {
            stopper.stop();
        }
        // Kept open until the run is over: a close now would race the
        // shutdown's teardown.
        open
    };
    let (run, open) = reactor.give_up_after(HANG).run_with(|_| {}, world).await;
    drop((open, keep_listener, keep_fillers));
    run
}
