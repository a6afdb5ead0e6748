//! Listening over real loopback TCP: accepted peers, a half-closing peer,
//! `stop_listening` while connections live on, and the shutdown with live
//! connections.

#![allow(clippy::arc_with_non_send_sync)]

mod support;

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use callorder::reference::{EchoFactory, HalfCloseFactory};
use callorder::{async_trait, Address, CallbackError, EventKind, Factory, Port, Protocol, Reason};
use callorder_tokio::TokioReactor;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

async fn connect(addr: &str) -> TcpStream {
    tokio::time::timeout(HANG, TcpStream::connect(addr))
        .await
        .expect("connects in time")
        .expect("connects")
}

#[tokio::test]
async fn an_echo_server_echoes_each_peer_and_each_close_is_a_clean_loss() {
    let reactor = TokioReactor::new();
    let port = reactor
        .handle()
        .listen_tcp("127.0.0.1:0", Arc::new(EchoFactory::new()))
        .expect("listens");
    let addr = reactor.address(&port).expect("bound").to_string();
    let peers = async move {
        let mut echoed = Vec::new();
        for word in [&b"one"[..], b"two"] {
            let mut stream = connect(&addr).await;
            stream.write_all(word).await.expect("write");
            let mut back = vec![0u8; word.len()];
            stream.read_exact(&mut back).await.expect("the echo");
            echoed.push(back);
        }
        echoed
    };
    let (run, echoed) = reactor.run_with(|_| {}, peers).await;
    run.assert_clean();
    assert_eq!(echoed.expect("the peers finished"), [b"one", b"two"]);
    for p in [1, 2] {
        assert_eq!(
            protocol_story(&run, p),
            [
                "build_protocol",
                "connection_made",
                "data_received",
                "write",
                "connection_lost(connection_done)"
            ]
        );
    }
    // Listening only does not keep the run going: the shutdown stops the
    // port once the peers are done.
    let kinds: Vec<_> = run.trace.iter().map(|r| r.step.event.kind()).collect();
    let tail = &kinds[kinds.len() - 4..];
    assert_eq!(
        tail,
        [
            EventKind::Shutdown,
            EventKind::DoStop,
            EventKind::StopFactory,
            EventKind::End
        ]
    );
}

#[tokio::test]
async fn a_half_closing_peer_gets_its_reply_and_then_our_fin() {
    let reactor = TokioReactor::new();
    let factory = Arc::new(HalfCloseFactory::new(b"pong"));
    let port = reactor
        .handle()
        .listen_tcp("127.0.0.1:0", factory.clone())
        .expect("listens");
    let addr = reactor.address(&port).expect("bound").to_string();
    let peer = async move {
        let mut stream = connect(&addr).await;
        stream.write_all(b"ping").await.expect("write");
        stream.shutdown().await.expect("our FIN");
        read_to_end(&mut stream).await
    };
    let (run, read) = reactor.run_with(|_| {}, peer).await;
    run.assert_clean();
    let (reply, end) = read.expect("the peer finished");
    assert_eq!(reply, b"pong");
    assert!(end.is_ok(), "an orderly close");
    assert_eq!(factory.received(), b"ping");
    assert_eq!(
        protocol_story(&run, 1),
        [
            "build_protocol",
            "connection_made",
            "data_received",
            "read_connection_lost",
            "write",
            "lose_write_connection",
            "write_connection_lost",
            "lose_connection",
            "connection_lost(connection_done)"
        ]
    );
}

/// Stops listening as it builds its first protocol: the connection lives
/// on, later peers are refused.
struct StopsAtFirst {
    port: RefCell<Option<Port>>,
    inner: Arc<ProbeFactory>,
}

#[async_trait(?Send)]
impl Factory for StopsAtFirst {
    async fn build_protocol(
        &self,
        addr: &Address,
    ) -> Result<Option<Box<dyn Protocol>>, CallbackError> {
        if let Some(port) = self.port.borrow_mut().take() {
            port.stop_listening()?;
        }
        self.inner.build_protocol(addr).await
    }
}

#[tokio::test]
async fn a_connection_lives_on_after_stop_listening_and_later_peers_are_refused() {
    let reactor = TokioReactor::new();
    let received = Arc::new(Notify::new());
    let factory = Arc::new(StopsAtFirst {
        port: RefCell::new(None),
        inner: ProbeFactory::new(Plan {
            received: Some(received.clone()),
            ..Plan::default()
        }),
    });
    let port = reactor
        .handle()
        .listen_tcp("127.0.0.1:0", factory.clone())
        .expect("listens");
    let addr = reactor.address(&port).expect("bound").to_string();
    *factory.port.borrow_mut() = Some(port);
    let log = factory.inner.log.clone();
    let peers = async move {
        let mut first = connect(&addr).await;
        first.write_all(b"still here").await.expect("write");
        tokio::time::timeout(HANG, received.notified())
            .await
            .expect("the server read it");
        // The port is closed by now: its do_stop came from the event loop.
        let second = TcpStream::connect(&addr).await.map(|_| ());
        drop(first);
        second.map_err(|e| e.kind())
    };
    let (run, second) = reactor.run_with(|_| {}, peers).await;
    run.assert_clean();
    assert_eq!(
        second.expect("the peers finished"),
        Err(io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(log.borrow().received, b"still here");
    let kinds: Vec<_> = run.trace.iter().map(|r| r.step.event.kind()).collect();
    let at = |kind| kinds.iter().position(|k| *k == kind).expect("in the trace");
    // G2: the protocol outlives its port's do_stop.
    assert!(at(EventKind::StopListening) < at(EventKind::DoStop));
    assert!(at(EventKind::DoStop) < at(EventKind::DataReceived));
    assert_eq!(log.borrow().lost, [Reason::ConnectionDone]);
}

#[tokio::test]
async fn the_shutdown_tears_down_live_connections_and_the_peers_read_a_clean_close() {
    let reactor = TokioReactor::new();
    let received = Arc::new(Notify::new());
    let factory = ProbeFactory::new(Plan {
        received: Some(received.clone()),
        ..Plan::default()
    });
    let port = reactor
        .handle()
        .listen_tcp("127.0.0.1:0", factory.clone())
        .expect("listens");
    let addr = reactor.address(&port).expect("bound").to_string();
    let stopper = reactor.stopper();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let peers = async move {
        let mut streams = Vec::new();
        for _ in 0..2 {
            let mut stream = connect(&addr).await;
            stream.write_all(b"x").await.expect("write");
            tokio::time::timeout(HANG, received.notified())
                .await
                .expect("the server read it");
            streams.push(stream);
        }
        // Both are live: the application stops the reactor.
        stopper.stop();
        // The peers read on after the run, on a task of their own.
        let readers = tokio::spawn(async move {
            let mut ends = Vec::new();
            for mut stream in streams {
                ends.push(read_to_end(&mut stream).await);
            }
            ends
        });
        let _ = tx.send(readers);
    };
    let (run, _) = reactor.run_with(|_| {}, peers).await;
    run.assert_clean();
    let ends = rx
        .await
        .expect("the peers stopped the run")
        .await
        .expect("readers");
    for (bytes, end) in ends {
        assert!(bytes.is_empty() && end.is_ok(), "a clean close: {end:?}");
    }
    assert_eq!(
        factory.log.borrow().lost,
        [Reason::ConnectionLost, Reason::ConnectionLost]
    );
    let shutdown = run
        .events_of_kind(EventKind::Shutdown)
        .next()
        .expect("a shutdown")
        .step
        .seq;
    assert!(run
        .events_of_kind(EventKind::ConnectionLost)
        .all(|r| r.step.seq > shutdown));
}
