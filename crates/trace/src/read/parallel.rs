//! Reading one big file with its lines parsed on several threads, record
//! for record and error for error as [`TraceReader`] reads it.
//!
//! A thread cuts the input into blocks at line boundaries; worker threads
//! parse the blocks, each with a [`TraceReader`] that starts at the block's
//! first line; the caller's thread takes the parsed blocks in file order.
//! What one line's parse cannot know from its own block is the last `t`
//! before it, so the caller's thread checks `t` across blocks, and when a
//! block ends in an error (or `t` decreases at its start) it parses that
//! block again on its own, with the `t` the block started with, to get the
//! error the whole file's reader would have given.

use std::io::{self, Read};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{self, JoinHandle};

use super::{io_error, line_text, Limits, ReadError, TraceReader};
use crate::record::Record;

/// Reads a trace like [`TraceReader`], with the parsing of its lines spread
/// over worker threads.
///
/// The input is cut into blocks of about [`block_bytes`](Self::block_bytes)
/// at line boundaries and each block is parsed on one of
/// [`threads`](Self::threads) workers, while the records come out in file
/// order on the caller's thread. It yields exactly what a [`TraceReader`]
/// with the same settings yields over the same bytes: the same records,
/// then the same first error (file, line, column, message), with the same
/// [`line_number`](Self::line_number) and
/// [`current_line`](Self::current_line) after each item.
///
/// Memory is bounded: at most `3 * threads + 2` blocks are held at once
/// (one being cut; for each worker, one waiting for it, one it parses and
/// one it parsed; and the one being read), each about `block_bytes` of text plus
/// its records, and a block grows past `block_bytes` only to hold a whole
/// line, at most [`Limits::max_line_bytes`].
///
/// The threads start at the first [`next`](Iterator::next) and are joined
/// when the reader is dropped, also when it is dropped before the end.
///
/// ```
/// use callorder_trace::{ParallelReader, TraceReader};
/// let mut text = String::new();
/// for seq in 1..=100 {
///     text.push_str(&format!("{{\"seq\":{seq},\"event\":\"connection_made\",\"protocol\":\"p{seq}\"}}\n"));
/// }
/// text.push_str("{\"seq\":101,\"event\":\"nope\"}\n");
/// let parallel: Vec<_> = ParallelReader::new(std::io::Cursor::new(text.clone()))
///     .block_bytes(256)
///     .threads(2)
///     .with_name("t.jsonl")
///     .collect();
/// let sequential: Vec<_> = TraceReader::new(text.as_bytes()).with_name("t.jsonl").collect();
/// assert_eq!(parallel, sequential);
/// let err = parallel.last().unwrap().as_ref().unwrap_err();
/// assert_eq!(err.to_string(), "t.jsonl:101:25: field \"event\": unknown event \"nope\"");
/// ```
pub struct ParallelReader {
    limits: Limits,
    file: Option<String>,
    numbered: bool,
    threads: usize,
    block_bytes: usize,
    /// The input, until the threads start.
    input: Option<Box<dyn Read + Send>>,
    running: Option<Running>,
    /// The block being read, with where its next record is.
    block: Option<Block>,
    /// How many blocks came out of the workers.
    blocks: u64,
    /// The last `t` of the records yielded so far.
    last_t: Option<f64>,
    line_number: u64,
    line: Line,
    done: bool,
}

/// The threads, once started.
struct Running {
    /// Each worker's parsed blocks; block `i` comes from worker `i % n`.
    parsed: Vec<Receiver<Parsed>>,
    /// Which worker gives the next block.
    next: usize,
    cutter: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// What the cutting thread gives a worker.
enum Job {
    /// The lines of a block, `lines_before` lines into the file, with how
    /// many newlines it has (to size its records once).
    Lines {
        lines_before: u64,
        newlines: usize,
        bytes: Vec<u8>,
    },
    /// The input failed after the blocks before.
    Failed(io::Error),
}

/// A block as a worker parsed it.
struct Parsed {
    lines_before: u64,
    bytes: Vec<u8>,
    records: Vec<Record>,
    /// Where each record's line ends in `bytes` (newline included); each
    /// line starts where the one before ends.
    ends: Vec<usize>,
    /// What stopped the block short of its end.
    failure: Option<Failure>,
}

enum Failure {
    /// A line was malformed: the error, the line as the reader showed it,
    /// and its number.
    Malformed(ReadError, String, u64),
    /// The input failed.
    Io(io::Error),
}

/// A parsed block being read.
struct Block {
    parsed: Parsed,
    records: std::vec::IntoIter<Record>,
    /// The index of the next record.
    next: usize,
    /// The last `t` before the block's first line.
    last_t_before: Option<f64>,
}

/// The text [`ParallelReader::current_line`] shows.
enum Line {
    /// A line of the current block, from..to in its bytes.
    InBlock(usize, usize),
    Owned(String),
}

impl ParallelReader {
    /// The default of [`block_bytes`](Self::block_bytes): 128 KiB, about
    /// 1,300 lines of a typical trace. Smaller blocks hold less: on the
    /// 10M-event trace, `callorder check` peaked at 44 MiB with these and
    /// at 56-58 MiB with blocks of 512 KiB, in no less time.
    pub const DEFAULT_BLOCK_BYTES: usize = 1 << 17;

    /// A reader of `input` with the default [`Limits`], blocks of
    /// [`DEFAULT_BLOCK_BYTES`](Self::DEFAULT_BLOCK_BYTES) and two workers.
    ///
    /// ```
    /// use callorder_trace::ParallelReader;
    /// let file = std::io::Cursor::new(b"{\"seq\":1,\"event\":\"end\"}\n".to_vec()); // or a File
    /// assert_eq!(ParallelReader::new(file).count(), 1);
    /// ```
    pub fn new(input: impl Read + Send + 'static) -> Self {
        ParallelReader {
            limits: Limits::default(),
            file: None,
            numbered: false,
            threads: 2,
            block_bytes: Self::DEFAULT_BLOCK_BYTES,
            input: Some(Box::new(input)),
            running: None,
            block: None,
            blocks: 0,
            last_t: None,
            line_number: 0,
            line: Line::Owned(String::new()),
            done: false,
        }
    }

    /// Enforces `limits`, as [`TraceReader::with_limits`] does.
    ///
    /// ```
    /// use callorder_trace::{Limits, ParallelReader};
    /// let limits = Limits { max_line_bytes: 8, ..Limits::default() };
    /// let input = std::io::Cursor::new(b"{\"seq\":1,\"event\":\"end\"}\n".to_vec());
    /// let err = ParallelReader::new(input).with_limits(limits).next().unwrap().unwrap_err();
    /// assert_eq!(err.to_string(), "1:9: line is longer than the 8-byte limit");
    /// ```
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Reads ids as numbered, as [`TraceReader::numbered_ids`] does.
    ///
    /// ```
    /// use callorder_trace::{Event, ParallelReader, ProtocolId};
    /// let line = b"{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p17\"}\n".to_vec();
    /// let record = ParallelReader::new(std::io::Cursor::new(line)).numbered_ids().next().unwrap()?;
    /// assert_eq!(record.step.event, Event::ConnectionMade { protocol: ProtocolId(17) });
    /// # Ok::<(), callorder_trace::ReadError>(())
    /// ```
    #[must_use]
    pub fn numbered_ids(mut self) -> Self {
        self.numbered = true;
        self
    }

    /// Names the file in errors, as [`TraceReader::with_name`] does.
    ///
    /// ```
    /// use callorder_trace::ParallelReader;
    /// let err = ParallelReader::new(std::io::empty()).with_name("run.jsonl").next().unwrap().unwrap_err();
    /// assert_eq!(err.to_string(), "run.jsonl: the file is empty; expected at least one event");
    /// ```
    #[must_use]
    pub fn with_name(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// Parses on `threads` worker threads (at least one), beside the thread
    /// that cuts the blocks and the caller's.
    ///
    /// ```
    /// use callorder_trace::ParallelReader;
    /// let input = std::io::Cursor::new(b"{\"seq\":1,\"event\":\"end\"}\n".to_vec());
    /// assert_eq!(ParallelReader::new(input).threads(4).count(), 1);
    /// ```
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Cuts blocks of about `bytes` (at least one byte; a block always
    /// holds whole lines).
    ///
    /// ```
    /// use callorder_trace::ParallelReader;
    /// let text = "{\"seq\":1,\"event\":\"shutdown\"}\n{\"seq\":2,\"event\":\"end\"}\n";
    /// let input = std::io::Cursor::new(text.as_bytes().to_vec());
    /// assert_eq!(ParallelReader::new(input).block_bytes(1).count(), 2);
    /// ```
    #[must_use]
    pub fn block_bytes(mut self, bytes: usize) -> Self {
        self.block_bytes = bytes.max(1);
        self
    }

    /// The text of the last line read, as [`TraceReader::current_line`]
    /// shows it.
    ///
    /// ```
    /// use callorder_trace::ParallelReader;
    /// let input = std::io::Cursor::new(b"{\"seq\":1,\"event\":\"end\"}\nnot json\n".to_vec());
    /// let mut reader = ParallelReader::new(input);
    /// assert_eq!(reader.current_line(), "");
    /// assert!(reader.next().unwrap().is_ok());
    /// assert_eq!(reader.current_line(), "{\"seq\":1,\"event\":\"end\"}");
    /// assert!(reader.next().unwrap().is_err());
    /// assert_eq!((reader.line_number(), reader.current_line()), (2, "not json"));
    /// ```
    pub fn current_line(&self) -> &str {
        match (&self.line, &self.block) {
            (Line::InBlock(from, to), Some(block)) => line_text(&block.parsed.bytes[*from..*to]),
            (Line::Owned(text), _) => text,
            (Line::InBlock(..), None) => "",
        }
    }

    /// The 1-based number of the last line read; 0 before the first.
    ///
    /// ```
    /// use callorder_trace::ParallelReader;
    /// let mut reader = ParallelReader::new(std::io::Cursor::new(b"{\"seq\":1,\"event\":\"end\"}\n".to_vec()));
    /// reader.next();
    /// assert_eq!(reader.line_number(), 1);
    /// ```
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    fn start(&mut self) -> &mut Running {
        if self.running.is_none() {
            let input = self.input.take().unwrap_or_else(|| Box::new(io::empty()));
            let cap = self.limits.max_line_bytes.saturating_add(1);
            let (mut jobs, mut parsed, mut workers) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..self.threads {
                // One block waits for each worker, and one parsed block
                // for the caller's thread: on a loaded machine, handing
                // each block over in lock step left the threads waiting on
                // each other's wake-ups.
                let (job_tx, job_rx) = mpsc::sync_channel(1);
                let (parsed_tx, parsed_rx) = mpsc::sync_channel(1);
                let (limits, numbered, file) = (self.limits, self.numbered, self.file.clone());
                workers.push(thread::spawn(move || {
                    parse_blocks(&job_rx, &parsed_tx, limits, numbered, file.as_deref());
                }));
                jobs.push(job_tx);
                parsed.push(parsed_rx);
            }
            let block_bytes = self.block_bytes;
            let cutter = thread::spawn(move || cut_blocks(input, &jobs, block_bytes, cap));
            self.running = Some(Running {
                parsed,
                next: 0,
                cutter: Some(cutter),
                workers,
            });
        }
        self.running.as_mut().expect("started above")
    }

    /// The next parsed block in file order, `None` after the last.
    fn next_block(&mut self) -> Option<Parsed> {
        let running = self.start();
        let n = running.parsed.len();
        let block = running.parsed[running.next % n].recv().ok();
        running.next += 1;
        if block.is_none() {
            // The end, or a thread that died: a panic there must not pass
            // for the end of the file.
            self.join();
        }
        block
    }

    /// Stops the threads and waits for them; a thread's panic goes on here.
    fn join(&mut self) {
        let Some(mut running) = self.running.take() else {
            return;
        };
        // Without anyone to take their blocks, the workers stop, and then
        // the cutter, whose next hand-over fails.
        running.parsed.clear();
        let handles = running.workers.drain(..).chain(running.cutter.take());
        let panics: Vec<_> = handles.filter_map(|h| h.join().err()).collect();
        if let Some(panic) = panics.into_iter().next() {
            if !thread::panicking() {
                std::panic::resume_unwind(panic);
            }
        }
    }

    /// Ends the reading with `error`, at the line `text` numbered `line`.
    fn fail(
        &mut self,
        error: ReadError,
        text: String,
        line: u64,
    ) -> Option<Result<Record, ReadError>> {
        self.line = Line::Owned(text);
        self.line_number = line;
        self.done = true;
        Some(Err(error))
    }

    /// Parses the current block again on this thread, from its start, with
    /// the `t` it started with, and gives the first error, which is the
    /// whole file's reader's.
    fn reread_block(&self) -> Option<(ReadError, String, u64)> {
        let block = self.block.as_ref()?;
        let parsed = &block.parsed;
        let mut reader = TraceReader::resume(
            &parsed.bytes[..],
            self.limits,
            self.numbered,
            parsed.lines_before,
            block.last_t_before,
        );
        reader.file.clone_from(&self.file);
        let error = reader.by_ref().find_map(Result::err)?;
        Some((
            error,
            reader.current_line().to_owned(),
            reader.line_number(),
        ))
    }

    fn read(&mut self) -> Option<Result<Record, ReadError>> {
        loop {
            if let Some(block) = &mut self.block {
                if let Some(record) = block.records.next() {
                    let index = block.next;
                    block.next += 1;
                    let from = index.checked_sub(1).map_or(0, |i| block.parsed.ends[i]);
                    self.line = Line::InBlock(from, block.parsed.ends[index]);
                    self.line_number = block.parsed.lines_before + index as u64 + 1;
                    if let Some(t) = record.t {
                        // The worker checked `t` within the block; only
                        // its first `t` can fall below the blocks before.
                        if self.last_t.is_some_and(|last| t < last) {
                            if let Some((error, text, line)) = self.reread_block() {
                                return self.fail(error, text, line);
                            }
                        }
                        self.last_t = Some(t);
                    }
                    return Some(Ok(record));
                }
                match block.parsed.failure.take() {
                    Some(Failure::Io(e)) => {
                        let error = io_error(self.file.clone(), &e);
                        self.done = true;
                        return Some(Err(error));
                    }
                    Some(Failure::Malformed(error, text, line)) => {
                        // The worker did not know the `t` before the block,
                        // which can change which error comes first.
                        let reread = block
                            .last_t_before
                            .is_some()
                            .then(|| self.reread_block())
                            .flatten();
                        let (error, text, line) = reread.unwrap_or((error, text, line));
                        return self.fail(error, text, line);
                    }
                    None => {}
                }
                // Keep the last line shown past its block.
                self.line = Line::Owned(self.current_line().to_owned());
                self.block = None;
            }
            let Some(parsed) = self.next_block() else {
                self.done = true;
                if self.blocks == 0 {
                    // Nothing came: the file is empty, in the reader's words.
                    let mut empty = TraceReader::new(&b""[..]);
                    empty.file.clone_from(&self.file);
                    return empty.next();
                }
                return None;
            };
            self.blocks += 1;
            let mut parsed = parsed;
            self.block = Some(Block {
                records: std::mem::take(&mut parsed.records).into_iter(),
                parsed,
                next: 0,
                last_t_before: self.last_t,
            });
        }
    }
}

impl Iterator for ParallelReader {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.read()
    }
}

impl std::iter::FusedIterator for ParallelReader {}

impl Drop for ParallelReader {
    fn drop(&mut self) {
        self.join();
    }
}

// By hand: the input need not be `Debug`, and the blocks are large.
impl std::fmt::Debug for ParallelReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParallelReader")
            .field("file", &self.file)
            .field("line_number", &self.line_number)
            .field("limits", &self.limits)
            .field("threads", &self.threads)
            .field("block_bytes", &self.block_bytes)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The cutting thread: reads `input` into blocks of about `block_bytes`
/// that end at a newline, and hands block `i` to worker `i % n`. A line
/// with no newline within `cap` bytes (the line limit plus one) ends the
/// blocks: the worker's reader reports it as too long, as the whole file's
/// reader would, and nothing after it matters.
fn cut_blocks(
    mut input: Box<dyn Read + Send>,
    jobs: &[SyncSender<Job>],
    block_bytes: usize,
    cap: usize,
) {
    let mut handed = 0usize;
    let mut hand = |job: Job| {
        let sent = jobs[handed % jobs.len()].send(job).is_ok();
        handed += 1;
        sent
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut lines_before = 0u64;
    let mut eof = false;
    let mut too_long = false;
    while !(eof && buf.is_empty()) {
        let mut want = block_bytes;
        // What is carried over holds no newline, so only new bytes are
        // searched for one.
        let mut searched = buf.len();
        let cut = loop {
            if !eof && buf.len() < want {
                let asked = want - buf.len();
                match (&mut input).take(asked as u64).read_to_end(&mut buf) {
                    Ok(got) => eof = got < asked,
                    Err(e) => {
                        // The whole lines read so far, then the failure.
                        if let Some(end) = buf.iter().rposition(|&b| b == b'\n') {
                            buf.truncate(end + 1);
                            let newlines = buf.iter().filter(|&&b| b == b'\n').count();
                            if !hand(Job::Lines {
                                lines_before,
                                newlines,
                                bytes: buf,
                            }) {
                                return;
                            }
                        }
                        hand(Job::Failed(e));
                        return;
                    }
                }
            }
            let from = std::mem::replace(&mut searched, buf.len());
            match buf[from..].iter().rposition(|&b| b == b'\n') {
                Some(end) => break from + end + 1,
                None if eof => break buf.len(),
                None if buf.len() >= cap => {
                    too_long = true;
                    break buf.len();
                }
                // Part of one long line: read on until it ends, in
                // growing steps (a line of n bytes costs O(n), not O(n²)
                // in reads of `block_bytes`).
                None => {
                    want = buf
                        .len()
                        .saturating_add(block_bytes.max(buf.len()))
                        .min(cap)
                }
            }
        };
        let mut rest = Vec::with_capacity(block_bytes.min(cap) + 1);
        rest.extend_from_slice(&buf[cut..]);
        buf.truncate(cut);
        let block = std::mem::replace(&mut buf, rest);
        let newlines = block.iter().filter(|&&b| b == b'\n').count();
        if !hand(Job::Lines {
            lines_before,
            newlines,
            bytes: block,
        }) {
            return;
        }
        lines_before += newlines as u64;
        if too_long {
            return;
        }
    }
}

/// A worker: parses each block it is given with a reader that starts at the
/// block's first line, up to its end or its first error.
fn parse_blocks(
    jobs: &Receiver<Job>,
    parsed: &SyncSender<Parsed>,
    limits: Limits,
    numbered: bool,
    file: Option<&str>,
) {
    while let Ok(job) = jobs.recv() {
        let block = match job {
            Job::Failed(e) => Parsed {
                lines_before: 0,
                bytes: Vec::new(),
                records: Vec::new(),
                ends: Vec::new(),
                failure: Some(Failure::Io(e)),
            },
            Job::Lines {
                lines_before,
                newlines,
                bytes,
            } => parse_block(lines_before, newlines, bytes, limits, numbered, file),
        };
        if parsed.send(block).is_err() {
            return;
        }
    }
}

fn parse_block(
    lines_before: u64,
    newlines: usize,
    bytes: Vec<u8>,
    limits: Limits,
    numbered: bool,
    file: Option<&str>,
) -> Parsed {
    // Sized once: grown by doubling, the records were copied twice over.
    let lines = newlines + 1;
    let mut records = Vec::with_capacity(lines);
    let mut ends = Vec::with_capacity(lines);
    let mut failure = None;
    {
        let mut reader = TraceReader::resume(&bytes[..], limits, numbered, lines_before, None);
        reader.file = file.map(str::to_owned);
        while let Some(item) = reader.next() {
            match item {
                Ok(record) => {
                    records.push(record);
                    ends.push(bytes.len() - reader.inner.len());
                }
                Err(e) => {
                    let text = reader.current_line().to_owned();
                    failure = Some(Failure::Malformed(e, text, reader.line_number()));
                    break;
                }
            }
        }
    }
    Parsed {
        lines_before,
        bytes,
        records,
        ends,
        failure,
    }
}
