//! The stream adapter over real sockets: the same plain tokio functions as
//! under the mock, as a client of a real peer and as a server of one.

mod support;

use std::io;

use callorder::stream::{stream_client, stream_server};
use callorder::Reason;
use callorder_tokio::TokioReactor;
use support::*;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

async fn line_client(stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream.write_all(b"HELO\r\n").await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    if line != "250 hi\r\n" {
        return Err(io::Error::other(format!("unexpected greeting {line:?}")));
    }
    Ok(())
}

async fn echo(stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let (mut r, mut w) = tokio::io::split(stream);
    tokio::io::copy(&mut r, &mut w).await.map(|_| ())
}

#[tokio::test]
async fn a_plain_tokio_line_client_talks_to_a_real_peer() {
    let (listener, addr) = listener().await;
    let peer = tokio::spawn(async move {
        let mut stream = accept(&listener).await;
        let mut helo = [0u8; 6];
        stream
            .read_exact(&mut helo)
            .await
            .expect("the client's line");
        // The greeting in two writes: the function reads it whole.
        send(&mut stream, b"250 ").await;
        send(&mut stream, b"hi\r\n").await;
        let (rest, end) = read_to_end(&mut stream).await;
        assert!(
            rest.is_empty() && end.is_ok(),
            "the stream's drop closes it"
        );
        helo
    });
    let client = stream_client(line_client);
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(addr.as_str(), client.clone(), None);
        })
        .await;
    run.assert_clean();
    assert_eq!(&peer.await.expect("the peer"), b"HELO\r\n");
    assert_eq!(client.results(), [Ok(())]);
}

#[tokio::test]
async fn a_refused_stream_client_never_runs() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    let client = stream_client(line_client);
    let run = TokioReactor::new()
        .run(|reactor| {
            reactor.connect_tcp(closed.as_str(), client.clone(), None);
        })
        .await;
    run.assert_clean();
    assert!(client.results().is_empty());
    assert_eq!(client.connect_failures(), [Reason::ConnectionRefused]);
}

#[tokio::test]
async fn a_plain_tokio_echo_server_serves_a_real_peer_that_half_closes() {
    let reactor = TokioReactor::new();
    let server = stream_server(echo);
    let port = reactor
        .handle()
        .listen_tcp("127.0.0.1:0", server.clone())
        .expect("listens");
    let addr = reactor.address(&port).expect("bound").to_string();
    let peer = async move {
        let mut stream = tokio::net::TcpStream::connect(addr.as_str())
            .await
            .expect("connects");
        stream.write_all(b"ping").await.expect("write");
        stream.shutdown().await.expect("our FIN");
        read_to_end(&mut stream).await
    };
    let (run, read) = reactor.run_with(|_| {}, peer).await;
    run.assert_clean();
    let (echoed, end) = read.expect("the peer finished");
    assert_eq!(echoed, b"ping");
    assert!(end.is_ok());
    assert_eq!(server.results(), [Ok(())]);
}
