//! One socket's task: it reads while the reactor wants it to, writes what
//! the reactor sent in order (saying how much the kernel took), and closes
//! as told: in order, half, or with a reset.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;

use bytes::Bytes;
use callorder_harness::live::{WireEvent, WireId};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// What the reactor asks of a connection.
#[derive(Debug)]
pub(crate) enum Command {
    Write(Bytes),
    /// Read (or stop reading).
    Read(bool),
    ShutdownWrite,
    Close,
    Abort,
}

/// What a task tells the backend: a new connection's command channel comes
/// before anything is said of the connection.
#[derive(Debug)]
pub(crate) enum Report {
    Opened(WireId, UnboundedSender<Command>),
    Event(WireEvent),
}

/// How much one read takes at most.
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    /// The buffer reads land in before they are copied out, one per thread
    /// rather than one per connection: a connection's own would be 64 KiB
    /// to allocate and zero for every life cycle, most of which read a few
    /// KiB in all. A read never awaits while it holds it.
    static READ_BUF: RefCell<Box<[u8]>> = RefCell::new(vec![0u8; READ_SIZE].into_boxed_slice());
}

/// One read of what is ready, copied out of the thread's buffer.
fn try_read(stream: &TcpStream) -> io::Result<Option<Bytes>> {
    READ_BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        match stream.try_read(&mut buf)? {
            0 => Ok(None),
            n => Ok(Some(Bytes::copy_from_slice(&buf[..n]))),
        }
    })
}

/// Runs the connection until it is closed, aborted or broken.
pub(crate) async fn run(
    wire: WireId,
    mut stream: TcpStream,
    mut commands: UnboundedReceiver<Command>,
    reports: UnboundedSender<Report>,
) {
    let say = |e: WireEvent| {
        // The reactor may have finished: nobody is left to tell.
        let _ = reports.send(Report::Event(e));
    };
    let mut reading = false;
    let mut eof = false;
    let mut unsent: VecDeque<Bytes> = VecDeque::new();
    let (mut shutdown_wanted, mut shut) = (false, false);
    let mut close_wanted = false;
    loop {
        if unsent.is_empty() {
            if (shutdown_wanted || close_wanted) && !shut {
                // The FIN goes after what was written.
                shut = true;
                if stream.shutdown().await.is_err() && !close_wanted {
                    say(WireEvent::Reset { wire });
                    return;
                }
            }
            if close_wanted {
                return; // Dropping the stream closes it.
            }
        }
        tokio::select! {
            biased;
            command = commands.recv(), if !close_wanted => match command {
                Some(Command::Write(bytes)) => unsent.push_back(bytes),
                Some(Command::Read(on)) => reading = on,
                Some(Command::ShutdownWrite) => shutdown_wanted = true,
                // The reactor let go of it: as a close.
                Some(Command::Close) | None => close_wanted = true,
                Some(Command::Abort) => {
                    // SO_LINGER 0: the close sends a reset, and what is
                    // unsent is thrown away (tcp.py `_closeSocket(False)`).
                    let _ = stream.set_zero_linger();
                    return;
                }
            },
            ready = stream.writable(), if !unsent.is_empty() => {
                if ready.is_err() {
                    say(WireEvent::Reset { wire });
                    return;
                }
                let front = unsent.front_mut().expect("not empty");
                match stream.try_write(front) {
                    Ok(n) => {
                        let _ = front.split_to(n);
                        if front.is_empty() {
                            unsent.pop_front();
                        }
                        say(WireEvent::Drained { wire, bytes: n });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        say(WireEvent::Reset { wire });
                        return;
                    }
                }
            },
            ready = stream.readable(), if reading && !eof => {
                if ready.is_err() {
                    say(WireEvent::Reset { wire });
                    return;
                }
                match try_read(&stream) {
                    Ok(None) => {
                        eof = true;
                        say(WireEvent::Eof { wire });
                    }
                    Ok(Some(bytes)) => say(WireEvent::Data { wire, bytes }),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        say(WireEvent::Reset { wire });
                        return;
                    }
                }
            },
        }
    }
}
