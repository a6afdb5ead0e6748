//! fuzz_stream_client puts plain tokio client code through the generated
//! worlds: a careful client passes, one that unwraps its reads is caught
//! panicking when its connection is lost under it, and shrunk to the
//! smallest script that shows it.

use std::io;

use callorder::{fuzz_stream_client, CheckKind};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Says hello, reads what comes back until the end; every error is
/// handed back.
async fn careful(stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream.write_all(b"hello\r\n").await?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await?;
    Ok(())
}

/// The same, sure that nothing fails.
async fn unwrapping(stream: impl AsyncRead + AsyncWrite + Unpin) -> io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream.write_all(b"hello\r\n").await.unwrap();
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    Ok(())
}

#[test]
fn a_client_that_hands_its_errors_back_passes() {
    let report = fuzz_stream_client(careful)
        .cases(64)
        .regressions(None)
        .check();
    assert_eq!(report.cases, 64);
}

#[test]
fn a_client_that_unwraps_its_reads_panics_when_its_connection_is_lost() {
    let failure = fuzz_stream_client(unwrapping)
        .cases(256)
        .regressions(None)
        .run()
        .expect_err("a lost connection makes the read fail");
    assert_eq!(failure.finding.check, CheckKind::Panic);
    assert!(
        failure.finding.message.contains("a task panicked"),
        "{}",
        failure.finding.message
    );
    // The smallest world: it connects, and the shutdown tears the
    // connection down while the read waits for a line.
    let steps: Vec<&str> = failure
        .script_text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("seed") && !l.is_empty())
        .collect();
    assert_eq!(
        steps,
        ["resolve 1 accept", "shutdown"],
        "{}",
        failure.script_text
    );
}
