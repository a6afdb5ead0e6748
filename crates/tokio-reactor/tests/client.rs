//! Outgoing connections over real loopback TCP: connected, refused, timed
//! out, names that do not resolve, a half-close, an abort the peer sees as
//! a reset, a peer's reset, and a producer held back by a slow reader.

mod support;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use callorder::reference::LineClientFactory;
use callorder::{Event, EventKind, Reason};
use callorder_tokio::{Resolution, Resolver, TokioReactor};
use support::*;
use tokio::io::AsyncReadExt;

fn failure_reason(run: &callorder::Run) -> Option<Reason> {
    run.events_of_kind(EventKind::ClientConnectionFailed)
        .find_map(|r| r.step.event.reason())
}

#[tokio::test]
async fn a_line_client_talks_to_a_real_peer_and_the_trace_has_real_seconds() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        let mut hello = [0u8; 6];
        stream
            .read_exact(&mut hello)
            .await
            .expect("the client's line");
        send(&mut stream, b"250 hi\r\n").await;
        let (rest, closed) = read_to_end(&mut stream).await;
        assert!(closed.is_ok(), "the client closes in order");
        (hello, rest)
    });
    let factory = Arc::new(LineClientFactory::new(["HELO"]).close_after(1));
    let lines = factory.received();
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    let (hello, rest) = peer.await.expect("the peer");
    assert_eq!(&hello, b"HELO\r\n");
    assert!(rest.is_empty());
    assert_eq!(lines.lines(), ["250 hi"]);
    assert_eq!(
        protocol_story(&run, 1),
        [
            "build_protocol",
            "connection_made",
            "write",
            "data_received",
            "lose_connection",
            "connection_lost(connection_done)"
        ]
    );
    // `t` is the real clock: the peer's round trip took some of it.
    let t = |kind| {
        run.events_of_kind(kind)
            .next()
            .and_then(|r| r.t)
            .expect("a time")
    };
    assert!(t(EventKind::End) > t(EventKind::ConnectTcp));
}

#[tokio::test]
async fn a_closed_port_refuses() {
    // Bound and let go: nothing listens there now.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let factory = ProbeFactory::new(Plan::default());
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(closed.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    assert_eq!(failure_reason(&run), Some(Reason::ConnectionRefused));
    assert_eq!(run.events_of_kind(EventKind::BuildProtocol).count(), 0);
}

#[tokio::test]
async fn a_listener_whose_backlog_is_full_makes_the_connect_time_out() {
    // A listener that never accepts, with the smallest backlog; the kernel
    // drops the SYNs of connections past it, so a connect never completes.
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind");
    let full = socket.listen(0).expect("listen");
    let addr = full.local_addr().expect("bound");
    // Fill the queue: connects that complete while there is room.
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    assert!(!fillers.is_empty(), "the backlog takes at least one");
    let factory = ProbeFactory::new(Plan::default());
    let run = TokioReactor::new()
        .run(|reactor| {
            let timeout = Some(Duration::from_millis(300));
            reactor.connect_tcp(addr.to_string().as_str(), factory.clone(), timeout);
        })
        .await;
    run.assert_clean();
    assert_eq!(failure_reason(&run), Some(Reason::Timeout));
    drop((full, fillers));
}

/// A resolver a test controls: knows one name, fails every other one,
/// and never asks the network.
struct Names {
    known: Option<(String, SocketAddr)>,
}

impl Resolver for Names {
    fn resolve(&self, host: &str, _port: u16) -> Resolution {
        let found = self
            .known
            .as_ref()
            .filter(|(name, _)| name == host)
            .map(|(_, addr)| vec![*addr]);
        let host = host.to_owned();
        Box::pin(async move {
            found.ok_or_else(|| {
                io::Error::new(io::ErrorKind::NotFound, format!("{host}: no such name"))
            })
        })
    }
}

#[tokio::test]
async fn a_name_that_does_not_resolve_fails_with_dns_lookup() {
    let factory = ProbeFactory::new(Plan::default());
    let run = TokioReactor::with_resolver(Arc::new(Names { known: None }))
        .run(|reactor| {
            reactor.connect_tcp("nowhere.invalid:80", factory.clone(), None);
        })
        .await;
    run.assert_clean();
    assert_eq!(failure_reason(&run), Some(Reason::DnsLookup));
}

#[tokio::test]
async fn a_name_the_resolver_knows_connects_to_its_address() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        read_to_end(&mut stream).await.0
    });
    let resolver = Names {
        known: Some(("service.test".into(), addr.parse().expect("an address"))),
    };
    let port = addr.rsplit_once(':').expect("a port").1.to_owned();
    let factory = ProbeFactory::new(Plan {
        greet: b"ping".to_vec(),
        half_close: true,
        half_closeable: true,
        ..Plan::default()
    });
    let run = TokioReactor::with_resolver(Arc::new(resolver))
        .run(|reactor| {
            reactor.connect_tcp(
                format!("service.test:{port}").as_str(),
                factory.clone(),
                None,
            );
        })
        .await;
    run.assert_clean();
    assert_eq!(peer.await.expect("the peer"), b"ping");
}

#[tokio::test]
async fn our_half_close_is_a_fin_after_what_was_written_and_the_peer_may_still_answer() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        let (got, eof) = read_to_end(&mut stream).await;
        assert!(eof.is_ok(), "a FIN, not a reset");
        // Our side only stopped writing: it still reads.
        send(&mut stream, b"bye").await;
        got
    });
    let factory = ProbeFactory::new(Plan {
        greet: b"last words".to_vec(),
        half_close: true,
        half_closeable: true,
        ..Plan::default()
    });
    let log = factory.log.clone();
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    assert_eq!(peer.await.expect("the peer"), b"last words");
    assert_eq!(log.borrow().received, b"bye");
    assert_eq!(
        protocol_story(&run, 1),
        [
            "build_protocol",
            "connection_made",
            "write",
            "lose_write_connection",
            "write_connection_lost",
            "data_received",
            "read_connection_lost",
            "lose_connection",
            "connection_lost(connection_done)"
        ]
    );
}

#[tokio::test]
async fn an_abort_is_a_reset_the_peer_sees() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        read_to_end(&mut stream).await.1
    });
    let factory = ProbeFactory::new(Plan {
        abort: true,
        ..Plan::default()
    });
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    let read = peer.await.expect("the peer");
    assert_eq!(
        read.map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionReset)
    );
    assert_eq!(
        protocol_story(&run, 1),
        [
            "build_protocol",
            "connection_made",
            "abort_connection",
            "connection_lost(connection_aborted)"
        ]
    );
}

#[tokio::test]
async fn a_peer_that_resets_is_a_connection_lost() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        // Wait for the client's greeting, so that it is made, then reset.
        let mut hi = [0u8; 2];
        stream.read_exact(&mut hi).await.expect("the greeting");
        stream.set_zero_linger().expect("SO_LINGER 0");
        drop(stream);
    });
    let factory = ProbeFactory::new(Plan {
        greet: b"hi".to_vec(),
        ..Plan::default()
    });
    let log = factory.log.clone();
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    peer.await.expect("the peer");
    assert_eq!(log.borrow().lost, [Reason::ConnectionLost]);
    let lost = run
        .events_of_kind(EventKind::ClientConnectionLost)
        .find_map(|r| r.step.event.reason());
    assert_eq!(lost, Some(Reason::ConnectionLost));
}

#[tokio::test]
async fn a_streaming_producer_is_paused_by_a_slow_reader_and_resumed_when_it_drained() {
    let (listener, addr) = listener().await;
    let paused = Arc::new(tokio::sync::Notify::new());
    let total = 16 << 20;
    let peer = {
        let paused = paused.clone();
        tokio::spawn(async move {
            let mut stream = accept(&listener).await;
            // Reads nothing until the producer was told to pause: the
            // kernel's buffers fill, then the transport's.
            tokio::time::timeout(HANG, paused.notified())
                .await
                .expect("the producer is paused");
            read_to_end(&mut stream).await.0.len()
        })
    };
    let factory = ProbeFactory::new(Plan {
        produce: Some((64 << 10, total)),
        paused: Some(paused),
        ..Plan::default()
    });
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    assert_eq!(peer.await.expect("the peer"), total);
    let story = protocol_story(&run, 1);
    let first = |kind: &str| story.iter().position(|e| e == kind);
    let (pause, resume) = (first("pause_producing"), first("resume_producing"));
    assert!(
        pause.is_some() && pause < resume,
        "paused, then resumed: {story:?}"
    );
    assert_eq!(
        story.last().map(String::as_str),
        Some("connection_lost(connection_done)")
    );
    let written: u64 = run
        .events_of_kind(EventKind::Write)
        .map(|r| match r.step.event {
            Event::Write { bytes, .. } => bytes,
            _ => 0,
        })
        .sum();
    assert_eq!(written, total as u64);
}

#[tokio::test]
async fn a_run_that_never_goes_idle_is_given_up_and_shut_down() {
    let (listener, addr) = listener().await;
    // A peer that keeps the connection open and says nothing, until it
    // reads our side's close.
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        read_to_end(&mut stream).await
    });
    let factory = ProbeFactory::new(Plan::default());
    let log = factory.log.clone();
    let run = TokioReactor::new()
        .give_up_after(Duration::from_millis(300))
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    assert!(run.violation.is_none(), "{run:?}");
    assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
    assert_eq!(run.errors[0].kind, callorder::ImplErrorKind::Stalled);
    assert!(run.errors[0].message.contains("give_up_after"));
    // The shutdown tore the connection down, in order.
    assert_eq!(log.borrow().lost, [Reason::ConnectionLost]);
    let (bytes, end) = peer.await.expect("the peer");
    assert!(bytes.is_empty() && end.is_ok());
}

#[tokio::test]
async fn bytes_that_arrive_with_the_peer_s_close_are_delivered_before_the_loss() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        let mut hello = [0u8; 5];
        stream.read_exact(&mut hello).await.expect("the greeting");
        // The bytes and the FIN leave together: one read may see both.
        send(&mut stream, b"bye").await;
    });
    let factory = ProbeFactory::new(Plan {
        greet: b"hello".to_vec(),
        ..Plan::default()
    });
    let log = factory.log.clone();
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), factory.clone(), None);
        })
        .await;
    run.assert_clean();
    peer.await.expect("the peer");
    assert_eq!(log.borrow().received, b"bye");
    assert_eq!(log.borrow().lost, [Reason::ConnectionDone]);
}
