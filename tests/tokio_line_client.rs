//! The README's plain tokio line client, as a test: code that knows
//! nothing of callorder, run by the stream adapter under a scripted world.
//! The second test keeps the README's copy the same as this one.

use callorder::{stream::stream_client, Conn, MockReactor, Outcome, Script};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

async fn line_client(stream: impl AsyncRead + AsyncWrite + Unpin) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    stream.write_all(b"HELO\r\n").await?;
    let mut line = String::new();
    stream.read_line(&mut line).await?;
    Ok(())
}

#[test]
fn line_client_reads_a_greeting_cut_into_single_bytes() {
    let client = stream_client(line_client);
    let world = Script::new().resolve(1, Outcome::Accept);
    let world = world
        .send_chunked(Conn::Client(1), b"250 hi\r\n", 1)
        .shutdown();
    let run = MockReactor::new().run(world, |reactor| {
        reactor.connect_tcp("mail.example:25", client.clone(), None);
    });
    run.assert_clean();
    assert_eq!(client.results(), [Ok(())]);
}

#[test]
fn the_readme_shows_this_test_as_it_is() {
    let this = include_str!("tokio_line_client.rs");
    let readme = include_str!("../README.md");
    let start = this
        .find("use callorder::{stream")
        .expect("the example's first line");
    let end = this
        .find("#[test]\nfn the_readme")
        .expect("the example's end");
    let example = this[start..end].trim_end();
    assert!(
        readme.contains(example),
        "README.md must show tests/tokio_line_client.rs's example as it is:\n{example}"
    );
}
