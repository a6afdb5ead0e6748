//! The streaming reader of trace format v1.
//!
//! The reader holds one line at a time, never more than
//! [`Limits::max_line_bytes`] of it, and checks everything the format calls
//! *malformed*; everything about order is left to the checker.

use std::fmt;
use std::io::{self, BufRead, Read};
use std::iter::FusedIterator;
use std::str;
use std::sync::Arc;

use serde::de::{
    self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};

use crate::caller::Caller;
use crate::data::{self, Data};
use crate::event::{Event, EventKind, Step};
use crate::id::{name_hash, numbered_id, ConnectorId, FactoryId, Holder, PortId, ProtocolId};
use crate::reason::Reason;
use crate::record::Record;
use crate::scope::Scope;

mod parallel;
mod scan;

pub use parallel::ParallelReader;

/// What a hostile file can make callorder hold (trace format v1, Limits).
///
/// ```
/// use callorder_trace::{Limits, TraceReader};
/// let limits = Limits { max_line_bytes: 64, ..Limits::default() };
/// assert_eq!(limits.max_live_objects, 1_000_000);
/// let long = format!("{{\"seq\":1,\"event\":\"end\",\"detail\":\"{}\"}}\n", "x".repeat(100));
/// let err = TraceReader::with_limits(long.as_bytes(), limits).next().unwrap().unwrap_err();
/// assert_eq!(err.to_string(), "1:65: line is longer than the 64-byte limit");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest line accepted, in bytes, not counting its newline.
    /// Default 1 MiB.
    pub max_line_bytes: usize,
    /// The most objects (factories, connectors, ports, protocols) alive at
    /// once. Default 1,000,000. The reader does not enforce it, since it does
    /// not track lifetimes; the checker does.
    pub max_live_objects: usize,
    /// The deepest `depth` a callback may run at, inside others that run
    /// (each a frame the checker keeps). Default 1,000 (Python's own
    /// recursion limit keeps Twisted far below it). The reader does not
    /// enforce it, since a deeper `depth` than the running callbacks allow
    /// is a violation of the order (T-DEPTH), not of the format; the
    /// checker does.
    pub max_depth: u32,
    /// The most distinct ids a trace may create: connectors, ports and
    /// protocols (each is remembered after its object ends, so that a late
    /// event can be told from an unknown id), and factories that leave idle
    /// connectors behind. Default 10,000,000. The checker enforces it.
    pub max_distinct_ids: usize,
}

impl Limits {
    /// The default of [`Limits::max_line_bytes`]: 1 MiB.
    pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
    /// The default of [`Limits::max_live_objects`].
    pub const DEFAULT_MAX_LIVE_OBJECTS: usize = 1_000_000;
    /// The default of [`Limits::max_depth`].
    pub const DEFAULT_MAX_DEPTH: u32 = 1_000;
    /// The default of [`Limits::max_distinct_ids`].
    pub const DEFAULT_MAX_DISTINCT_IDS: usize = 10_000_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: Self::DEFAULT_MAX_LINE_BYTES,
            max_live_objects: Self::DEFAULT_MAX_LIVE_OBJECTS,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_distinct_ids: Self::DEFAULT_MAX_DISTINCT_IDS,
        }
    }
}

/// What kind of problem a [`ReadError`] reports. All but [`Io`](Self::Io)
/// mean the file is malformed.
///
/// ```
/// use callorder_trace::{ReadErrorKind, TraceReader};
/// let err = TraceReader::new(&b"{\"seq\":2,\"event\":\"end\"}\n"[..]).next().unwrap().unwrap_err();
/// assert_eq!(err.kind, ReadErrorKind::Sequence);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReadErrorKind {
    /// The input could not be read at all.
    Io,
    /// The file has no lines.
    Empty,
    /// Not UTF-8, a byte-order mark, or a NUL byte.
    Encoding,
    /// The line is not one JSON object.
    Json,
    /// A required field is missing, a known field has the wrong type or
    /// appears twice, or an `event` or `reason` is unknown.
    Field,
    /// `seq` does not count 1, 2, 3…, or `t` decreases.
    Sequence,
    /// The line is longer than [`Limits::max_line_bytes`].
    LineTooLong,

    /// A blank line (only the file's last newline may end an empty line).
    BlankLine,
    /// The line ends inside its JSON object: the last line was cut short, or
    /// a line lost its end.
    Truncated,
}

/// Why a trace could not be read: where, and what was expected.
///
/// Displayed as `file:line:column: message`, leaving out what is unknown.
///
/// ```
/// use callorder_trace::TraceReader;
/// let text = "{\"seq\":1,\"event\":\"connection_lost\",\"protocol\":\"p1\"}\n";
/// let err = TraceReader::new(text.as_bytes()).with_name("t.jsonl").next().unwrap().unwrap_err();
/// assert_eq!(err.line, Some(1));
/// assert_eq!(err.to_string(), "t.jsonl:1:1: expected field \"reason\" on connection_lost");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The file's name, when the reader was given one ([`TraceReader::with_name`]).
    pub file: Option<String>,
    /// The 1-based number of the first bad line; `None` only for an empty
    /// file (it has no line) or an I/O error.
    pub line: Option<u64>,
    /// The 1-based byte column within the line: every error on a line has
    /// one (for a line too long, the first byte over the limit).
    pub column: Option<u64>,
    /// What kind of problem this is.
    pub kind: ReadErrorKind,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut located = false;
        if let Some(file) = &self.file {
            f.write_str(file)?;
            located = true;
        }
        if let Some(line) = self.line {
            if located {
                f.write_str(":")?;
            }
            write!(f, "{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
            located = true;
        }
        if located {
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReadError {}

/// Reads a trace, one [`Record`] per line, checking that it is well formed.
///
/// Yields `Ok` for each good line, then either ends or yields one `Err` for
/// the first bad line and ends there. It holds one line at a time, and never
/// more than [`Limits::max_line_bytes`] of it.
///
/// ```
/// use callorder_trace::{Event, Reason, TraceReader};
/// let text = r#"{"seq":1,"t":0.5,"event":"connection_lost","protocol":"p1","reason":"connection_done","detail":"ConnectionDone()"}"#;
/// let records: Vec<_> = TraceReader::new(text.as_bytes()).collect::<Result<_, _>>()?;
/// assert_eq!(records[0].t, Some(0.5));
/// assert_eq!(records[0].step.event.reason(), Some(Reason::ConnectionDone));
/// assert_eq!(records[0].detail.as_deref(), Some("ConnectionDone()"));
/// # Ok::<(), callorder_trace::ReadError>(())
/// ```
pub struct TraceReader<R: BufRead> {
    inner: R,
    limits: Limits,
    file: Option<String>,
    /// The current line as read, newline included; reused for every line.
    line: Vec<u8>,
    line_number: u64,
    last_t: Option<f64>,
    done: bool,
    /// Ids are read as [`numbered_id`]s rather than bare hashes.
    numbered: bool,
}

impl<R: BufRead> TraceReader<R> {
    /// A reader with the default [`Limits`].
    ///
    /// ```
    /// use std::io::BufReader;
    /// use callorder_trace::TraceReader;
    /// let file = BufReader::new(&b"{\"seq\":1,\"event\":\"end\"}\n"[..]); // or a File
    /// assert_eq!(TraceReader::new(file).count(), 1);
    /// ```
    pub fn new(inner: R) -> Self {
        Self::with_limits(inner, Limits::default())
    }

    /// A reader with other limits.
    ///
    /// ```
    /// use callorder_trace::{Limits, TraceReader};
    /// let limits = Limits { max_line_bytes: 1 << 16, ..Limits::default() };
    /// let reader = TraceReader::with_limits(&b""[..], limits);
    /// assert_eq!(reader.limits().max_line_bytes, 65536);
    /// ```
    pub fn with_limits(inner: R, limits: Limits) -> Self {
        TraceReader {
            inner,
            limits,
            file: None,
            line: Vec::new(),
            line_number: 0,
            last_t: None,
            done: false,
            numbered: false,
        }
    }

    /// Reads ids as numbered: a name that is its kind's prefix and a plain
    /// decimal number (`"p17"`) is that number, any other name its hash
    /// with [`HASHED_ID_BIT`](crate::HASHED_ID_BIT) set ([`numbered_id`]).
    /// Without it every id is its bare [`name_hash`].
    ///
    /// Checking is the same either way; numbered ids handed out in order,
    /// as Twisted's recorder and callorder's reactors do, let the checker
    /// keep the ids of ended objects as ranges, so that its memory follows
    /// the live objects rather than every id ever seen.
    ///
    /// ```
    /// use callorder_trace::{Event, ProtocolId, TraceReader};
    /// let line = "{\"seq\":1,\"event\":\"connection_made\",\"protocol\":\"p17\"}\n";
    /// let record = TraceReader::new(line.as_bytes()).numbered_ids().next().unwrap()?;
    /// assert_eq!(record.step.event, Event::ConnectionMade { protocol: ProtocolId(17) });
    /// let record = TraceReader::new(line.as_bytes()).next().unwrap()?;
    /// assert_eq!(record.step.event, Event::ConnectionMade { protocol: ProtocolId::from_name("p17") });
    /// # Ok::<(), callorder_trace::ReadError>(())
    /// ```
    #[must_use]
    pub fn numbered_ids(mut self) -> Self {
        self.numbered = true;
        self
    }

    /// Names the file in errors.
    ///
    /// ```
    /// use callorder_trace::TraceReader;
    /// let err = TraceReader::new(&b""[..]).with_name("run.jsonl").next().unwrap().unwrap_err();
    /// assert_eq!(err.to_string(), "run.jsonl: the file is empty; expected at least one event");
    /// ```
    #[must_use]
    pub fn with_name(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    /// The limits this reader enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The text of the last line read, without its newline (nor a `\r`
    /// before it); empty before the first line.
    ///
    /// After an error it is the bad line, cut at its first invalid UTF-8
    /// byte, and at [`Limits::max_line_bytes`] (plus one) for a line that is
    /// too long.
    ///
    /// ```
    /// use callorder_trace::TraceReader;
    /// let mut reader = TraceReader::new(&b"{\"seq\":1,\"event\":\"end\"}\nnot json\n"[..]);
    /// assert_eq!(reader.current_line(), "");
    /// assert!(reader.next().unwrap().is_ok());
    /// assert!(reader.next().unwrap().is_err());
    /// assert_eq!(reader.current_line(), "not json");
    /// assert_eq!(reader.line_number(), 2);
    /// ```
    pub fn current_line(&self) -> &str {
        line_text(&self.line)
    }

    /// A reader that goes on where another stopped: `lines_before` lines
    /// were read, the last `t` among them was `last_t`. Used to parse a
    /// block of a file cut at a line boundary exactly as the whole file's
    /// reader would parse those lines.
    fn resume(
        inner: R,
        limits: Limits,
        numbered: bool,
        lines_before: u64,
        last_t: Option<f64>,
    ) -> Self {
        TraceReader {
            line_number: lines_before,
            last_t,
            numbered,
            ..Self::with_limits(inner, limits)
        }
    }

    /// The 1-based number of the last line read; 0 before the first.
    ///
    /// ```
    /// use callorder_trace::TraceReader;
    /// let mut reader = TraceReader::new(&b"{\"seq\":1,\"event\":\"end\"}\n"[..]);
    /// reader.next();
    /// assert_eq!(reader.line_number(), 1);
    /// ```
    pub fn line_number(&self) -> u64 {
        self.line_number
    }

    /// The next record, `Ok(None)` at the end of the input.
    fn read_record(&mut self) -> Result<Option<Record>, ReadError> {
        // Peek before clearing, so that `current_line` still shows the last
        // line once the input is over.
        let at_end = loop {
            match self.inner.fill_buf() {
                Ok(buf) => break buf.is_empty(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(&e)),
            }
        };
        if at_end {
            if self.line_number == 0 {
                return Err(ReadError {
                    file: self.file.clone(),
                    line: None,
                    column: None,
                    kind: ReadErrorKind::Empty,
                    message: "the file is empty; expected at least one event".into(),
                });
            }
            return Ok(None);
        }

        self.line.clear();
        // One byte over the limit is enough to know the line is too long;
        // `Take` stops there, so a long line is never held whole.
        let cap = u64::try_from(self.limits.max_line_bytes)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        let read = (&mut self.inner)
            .take(cap)
            .read_until(b'\n', &mut self.line);
        if let Err(e) = read {
            return Err(self.io_error(&e));
        }
        if self.line.is_empty() {
            return Ok(None);
        }
        self.line_number += 1;

        let has_newline = self.line.last() == Some(&b'\n');
        if !has_newline && self.line.len() as u64 == cap {
            let message = format!(
                "line is longer than the {}-byte limit",
                self.limits.max_line_bytes
            );
            // At the first byte over the limit.
            let column = self.limits.max_line_bytes.saturating_add(1);
            return Err(self.error(ReadErrorKind::LineTooLong, Some(column), message));
        }

        let bytes = &self.line[..self.line.len() - usize::from(has_newline)];
        // `contains` is a memchr; the position is needed only on error.
        if bytes.contains(&0) {
            let at = bytes.iter().position(|&b| b == 0).unwrap_or(0);
            let message = "NUL byte; expected UTF-8 JSON text".to_owned();
            return Err(self.error(ReadErrorKind::Encoding, Some(at + 1), message));
        }
        if self.line_number == 1 && bytes.starts_with(b"\xEF\xBB\xBF") {
            let message = "the file starts with a UTF-8 byte-order mark; expected `{`".to_owned();
            return Err(self.error(ReadErrorKind::Encoding, Some(1), message));
        }
        let text = match str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let at = e.valid_up_to();
                let message = format!("expected UTF-8, found byte 0x{:02x}", bytes[at]);
                return Err(self.error(ReadErrorKind::Encoding, Some(at + 1), message));
            }
        };
        match text
            .bytes()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r'))
        {
            None => {
                let message =
                    "blank line; expected a JSON object (only the file's last line may end empty)";
                return Err(self.error(ReadErrorKind::BlankLine, Some(1), message.to_owned()));
            }
            Some(at) if text.as_bytes()[at] != b'{' => {
                let found = text[at..].chars().next().unwrap_or(' ');
                let message = format!("expected a JSON object, found `{found}`");
                return Err(self.error(ReadErrorKind::Json, Some(at + 1), message));
            }
            Some(_) => {}
        }

        // The common shape of a line is scanned; any other is parsed by
        // serde_json, which also words every error.
        let raw = match scan::scan_line(text, self.numbered) {
            Some(raw) => raw,
            None => parse_line(text, self.numbered)
                .map_err(|(e, key)| self.json_error(&e, key, has_newline))?,
        };
        self.record(raw).map(Some)
    }

    /// Checks a parsed line against the format and builds its record.
    fn record(&mut self, raw: RawLine) -> Result<Record, ReadError> {
        let seq = raw.seq.ok_or_else(|| self.missing(Key::Seq, None))?;
        let kind = raw.event.ok_or_else(|| self.missing(Key::Event, None))?;
        if seq != self.line_number {
            let message = format!("expected seq {}, found {seq}", self.line_number);
            return Err(self.field_error(ReadErrorKind::Sequence, Key::Seq, message));
        }
        if let Some(t) = raw.t {
            if t < 0.0 {
                let message = format!("expected a non-negative \"t\", found {t}");
                return Err(self.field_error(ReadErrorKind::Field, Key::T, message));
            }
            if let Some(last) = self.last_t.filter(|&last| t < last) {
                let message = format!("\"t\" decreases: expected at least {last}, found {t}");
                return Err(self.field_error(ReadErrorKind::Sequence, Key::T, message));
            }
            self.last_t = Some(t);
        }
        let depth = match raw.depth.map(u32::try_from) {
            None => 0,
            Some(Ok(depth)) => depth,
            Some(Err(_)) => {
                let message = format!("field \"depth\": expected at most {}", u32::MAX);
                return Err(self.field_error(ReadErrorKind::Field, Key::Depth, message));
            }
        };

        let event = self.event(kind, &raw)?;
        let RareFields { data, site } = raw.rare.map(|rare| *rare).unwrap_or_default();
        let data = self.data(event, data, raw.data_cut)?;
        // The optional fields are kept on the events they are defined for,
        // and ignored elsewhere, as every field an event does not use is.
        let hooks = raw
            .hooks
            .filter(|_| matches!(kind, EventKind::DoStart | EventKind::DoStop));
        let scope = raw.scope.filter(|_| kind == EventKind::End);
        let caller = raw.caller.filter(|_| kind.is_callback());
        let site = site.filter(|_| kind.is_callback());
        Ok(Record {
            step: Step {
                seq,
                depth,
                within: raw.within,
                failed: raw.error.is_some(),
                event,
                hooks,
                scope,
                caller,
            },
            t: raw.t,
            addr: raw.addr.map(Arc::from),
            detail: raw.detail,
            error: raw.error,
            timeout: raw.timeout,
            data,
            site,
        })
    }

    /// The `data` of a `data_received` or `write`, once it is known to hold
    /// the event's `bytes`: all of them, or fewer with `data_cut`.
    fn data(
        &self,
        event: Event,
        data: Option<Box<[u8]>>,
        cut: Option<bool>,
    ) -> Result<Option<Data>, ReadError> {
        let (Event::DataReceived { bytes, .. } | Event::Write { bytes, .. }) = event else {
            return Ok(None);
        };
        let cut_given = cut.unwrap_or(false);
        let Some(data) = data else {
            if cut_given {
                let message = format!(
                    "\"data_cut\" is true on {}, but there is no \"data\"; expected both or neither",
                    event.kind()
                );
                return Err(self.field_error(ReadErrorKind::Field, Key::DataCut, message));
            }
            return Ok(None);
        };
        let kept = data.len();
        // `decode` keeps at most Data::MAX_BYTES.
        let data = Data::from_parts(data.into_vec(), cut_given).expect("decode bounds the length");
        if data.fits(bytes) {
            return Ok(Some(data));
        }
        let message = if cut_given {
            format!(
                "field \"data\": holds {kept} bytes with \"data_cut\": true, but \"bytes\" is {bytes}; expected fewer than {bytes} (or no \"data_cut\")"
            )
        } else {
            format!(
                "field \"data\": holds {kept} bytes, but \"bytes\" is {bytes}; expected all {bytes} (or \"data_cut\": true for only the first ones)"
            )
        };
        Err(self.field_error(ReadErrorKind::Field, Key::Data, message))
    }

    /// The typed event, once the fields `kind` requires are all there.
    fn event(&self, kind: EventKind, raw: &RawLine) -> Result<Event, ReadError> {
        let need = |value: Option<u64>, key| value.ok_or_else(|| self.missing(key, Some(kind)));
        let factory = || need(raw.factory, Key::Factory).map(FactoryId);
        let connector = || need(raw.connector, Key::Connector).map(ConnectorId);
        let port = || need(raw.port, Key::Port).map(PortId);
        let protocol = || need(raw.protocol, Key::Protocol).map(ProtocolId);
        let reason = || {
            raw.reason
                .ok_or_else(|| self.missing(Key::Reason, Some(kind)))
        };
        let bytes = || need(raw.bytes, Key::Bytes);
        let holder = || match (raw.connector, raw.port) {
            (Some(c), None) => Ok(Some(Holder::Connector(ConnectorId(c)))),
            (None, Some(p)) => Ok(Some(Holder::Port(PortId(p)))),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => {
                let message =
                    format!("expected one of \"connector\" or \"port\" on {kind}, found both");
                Err(self.field_error(ReadErrorKind::Field, Key::Port, message))
            }
        };

        Ok(match kind {
            EventKind::ConnectTcp => Event::ConnectTcp {
                factory: factory()?,
                connector: connector()?,
            },
            EventKind::ListenTcp => Event::ListenTcp {
                factory: factory()?,
                port: port()?,
            },
            EventKind::DoStart => Event::DoStart {
                factory: factory()?,
                holder: holder()?,
            },
            EventKind::StartFactory => Event::StartFactory {
                factory: factory()?,
            },
            EventKind::StartedConnecting => Event::StartedConnecting {
                factory: factory()?,
                connector: connector()?,
            },
            EventKind::BuildProtocol => {
                let factory = factory()?;
                let holder = holder()?.ok_or_else(|| {
                    let message = format!("expected field \"connector\" or \"port\" on {kind}");
                    self.error(ReadErrorKind::Field, Some(1), message)
                })?;
                if !raw.protocol_given {
                    let message = format!(
                        "expected field \"protocol\" on {kind} (null when it returned none)"
                    );
                    return Err(self.error(ReadErrorKind::Field, Some(1), message));
                }
                Event::BuildProtocol {
                    factory,
                    holder,
                    protocol: raw.protocol.map(ProtocolId),
                }
            }
            EventKind::ClientConnectionFailed => Event::ClientConnectionFailed {
                factory: factory()?,
                connector: connector()?,
                reason: reason()?,
            },
            EventKind::ClientConnectionLost => Event::ClientConnectionLost {
                factory: factory()?,
                connector: connector()?,
                reason: reason()?,
            },
            EventKind::DoStop => Event::DoStop {
                factory: factory()?,
                holder: holder()?,
            },
            EventKind::StopFactory => Event::StopFactory {
                factory: factory()?,
            },
            EventKind::ConnectionMade => Event::ConnectionMade {
                protocol: protocol()?,
            },
            EventKind::DataReceived => Event::DataReceived {
                protocol: protocol()?,
                bytes: bytes()?,
            },
            EventKind::ReadConnectionLost => Event::ReadConnectionLost {
                protocol: protocol()?,
            },
            EventKind::WriteConnectionLost => Event::WriteConnectionLost {
                protocol: protocol()?,
            },
            EventKind::ConnectionLost => Event::ConnectionLost {
                protocol: protocol()?,
                reason: reason()?,
            },
            EventKind::PauseProducing => Event::PauseProducing {
                protocol: protocol()?,
            },
            EventKind::ResumeProducing => Event::ResumeProducing {
                protocol: protocol()?,
            },
            EventKind::StopProducing => Event::StopProducing {
                protocol: protocol()?,
            },
            EventKind::Connect => Event::Connect {
                connector: connector()?,
            },
            EventKind::StopConnecting => Event::StopConnecting {
                connector: connector()?,
            },
            EventKind::Disconnect => Event::Disconnect {
                connector: connector()?,
            },
            EventKind::Write => Event::Write {
                protocol: protocol()?,
                bytes: bytes()?,
            },
            EventKind::LoseConnection => Event::LoseConnection {
                protocol: protocol()?,
            },
            EventKind::LoseWriteConnection => Event::LoseWriteConnection {
                protocol: protocol()?,
            },
            EventKind::AbortConnection => Event::AbortConnection {
                protocol: protocol()?,
            },
            EventKind::RegisterProducer => Event::RegisterProducer {
                protocol: protocol()?,
                streaming: raw
                    .streaming
                    .ok_or_else(|| self.missing(Key::Streaming, Some(kind)))?,
            },
            EventKind::UnregisterProducer => Event::UnregisterProducer {
                protocol: protocol()?,
            },
            EventKind::StopListening => Event::StopListening { port: port()? },
            EventKind::PauseReading => Event::PauseReading {
                protocol: protocol()?,
            },
            EventKind::ResumeReading => Event::ResumeReading {
                protocol: protocol()?,
            },
            EventKind::Shutdown => Event::Shutdown,
            EventKind::End => Event::End,
        })
    }

    /// An error on the current line.
    fn error(&self, kind: ReadErrorKind, column: Option<usize>, message: String) -> ReadError {
        ReadError {
            file: self.file.clone(),
            line: Some(self.line_number),
            column: column.map(|c| c as u64),
            kind,
            message,
        }
    }

    /// An error about the value of `key` on the current line, pointing at
    /// that value.
    fn field_error(&self, kind: ReadErrorKind, key: Key, message: String) -> ReadError {
        let column = value_column(self.current_line(), key.name()).unwrap_or(1);
        self.error(kind, Some(column), message)
    }

    /// `key` is required (by `on`, when it is not required on every line)
    /// and missing.
    fn missing(&self, key: Key, on: Option<EventKind>) -> ReadError {
        let message = match on {
            Some(kind) => format!("expected field \"{}\" on {kind}", key.name()),
            None => format!("expected field \"{}\"", key.name()),
        };
        self.error(ReadErrorKind::Field, Some(1), message)
    }

    /// What serde_json refused, in the format's words.
    fn json_error(&self, e: &serde_json::Error, key: Option<Key>, has_newline: bool) -> ReadError {
        let detail = bare_message(e);
        let (kind, message) = match (e.classify(), key) {
            (serde_json::error::Category::Data, Some(key)) => (
                ReadErrorKind::Field,
                format!("field \"{}\": {detail}", key.name()),
            ),
            (serde_json::error::Category::Data, None) => (ReadErrorKind::Field, detail),
            (serde_json::error::Category::Eof, _) if has_newline => (
                ReadErrorKind::Truncated,
                format!("the line ends inside its JSON object ({detail})"),
            ),
            (serde_json::error::Category::Eof, _) => (
                ReadErrorKind::Truncated,
                format!("the last line is cut short ({detail})"),
            ),
            (_, Some(key)) => (
                ReadErrorKind::Json,
                format!("invalid JSON in field \"{}\": {detail}", key.name()),
            ),
            (_, None) => (ReadErrorKind::Json, format!("invalid JSON: {detail}")),
        };
        let column = e.column().max(1);
        self.error(kind, Some(column), message)
    }

    fn io_error(&self, e: &io::Error) -> ReadError {
        io_error(self.file.clone(), e)
    }
}

/// The input failed: no line to point at.
fn io_error(file: Option<String>, e: &io::Error) -> ReadError {
    ReadError {
        file,
        line: None,
        column: None,
        kind: ReadErrorKind::Io,
        message: format!("cannot read the trace: {e}"),
    }
}

/// A line as [`TraceReader::current_line`] shows it: without its newline
/// (nor a `\r` before it), cut at its first invalid UTF-8 byte.
fn line_text(mut bytes: &[u8]) -> &str {
    if let Some(rest) = bytes.strip_suffix(b"\n") {
        bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
    }
    match str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

// By hand: the line buffer can be a megabyte, and `R` need not be `Debug`.
impl<R: BufRead> fmt::Debug for TraceReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceReader")
            .field("file", &self.file)
            .field("line_number", &self.line_number)
            .field("limits", &self.limits)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Record, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_record() {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<R: BufRead> FusedIterator for TraceReader<R> {}

/// serde_json's message without the position it appends: the line is always
/// 1 here, and the column is reported on its own.
fn bare_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&position) {
        Some(bare) => bare.to_owned(),
        None => full,
    }
}

/// The 1-based column where the value of the top-level `key` starts in a
/// line already known to be a JSON object. Used only to point errors; a key
/// spelt with escapes is not found, and the caller falls back to column 1.
fn value_column(line: &str, key: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let skip_space = |mut i: usize| {
        while bytes
            .get(i)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            i += 1;
        }
        i
    };
    let mut nesting = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i = start;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                let end = i.min(bytes.len());
                i += 1;
                if nesting == 1 && &bytes[start..end] == key.as_bytes() {
                    let colon = skip_space(i);
                    if bytes.get(colon) == Some(&b':') {
                        return Some(skip_space(colon + 1) + 1);
                    }
                }
                continue;
            }
            b'{' | b'[' => nesting += 1,
            b'}' | b']' => nesting = nesting.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The known fields of a line.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
enum Key {
    Seq,
    Event,
    T,
    Depth,
    Within,
    Factory,
    Connector,
    Port,
    Protocol,
    Addr,
    Reason,
    Detail,
    Bytes,
    Error,
    Timeout,
    Streaming,
    Hooks,
    Scope,
    Data,
    DataCut,
    Caller,
    Site,
}

impl Key {
    const fn name(self) -> &'static str {
        match self {
            Key::Seq => "seq",
            Key::Event => "event",
            Key::T => "t",
            Key::Depth => "depth",
            Key::Within => "within",
            Key::Factory => "factory",
            Key::Connector => "connector",
            Key::Port => "port",
            Key::Protocol => "protocol",
            Key::Addr => "addr",
            Key::Reason => "reason",
            Key::Detail => "detail",
            Key::Bytes => "bytes",
            Key::Error => "error",
            Key::Timeout => "timeout",
            Key::Streaming => "streaming",
            Key::Hooks => "hooks",
            Key::Scope => "scope",
            Key::Data => "data",
            Key::DataCut => "data_cut",
            Key::Caller => "caller",
            Key::Site => "site",
        }
    }

    fn from_name(name: &str) -> Option<Key> {
        Some(match name {
            "seq" => Key::Seq,
            "event" => Key::Event,
            "t" => Key::T,
            "depth" => Key::Depth,
            "within" => Key::Within,
            "factory" => Key::Factory,
            "connector" => Key::Connector,
            "port" => Key::Port,
            "protocol" => Key::Protocol,
            "addr" => Key::Addr,
            "reason" => Key::Reason,
            "detail" => Key::Detail,
            "bytes" => Key::Bytes,
            "error" => Key::Error,
            "timeout" => Key::Timeout,
            "streaming" => Key::Streaming,
            "hooks" => Key::Hooks,
            "scope" => Key::Scope,
            "data" => Key::Data,
            "data_cut" => Key::DataCut,
            "caller" => Key::Caller,
            "site" => Key::Site,
            _ => return None,
        })
    }

    const fn bit(self) -> u32 {
        1 << self as u32
    }
}

/// One line's known fields, typed but not yet checked against its event.
/// Ids are already hashed, so nothing here borrows the line.
#[derive(Default, Debug)]
struct RawLine {
    seq: Option<u64>,
    event: Option<EventKind>,
    t: Option<f64>,
    depth: Option<u64>,
    within: Option<u64>,
    factory: Option<u64>,
    connector: Option<u64>,
    port: Option<u64>,
    protocol: Option<u64>,
    /// The `protocol` key was there, even if `null`: `build_protocol`
    /// requires the key.
    protocol_given: bool,
    addr: Option<String>,
    reason: Option<Reason>,
    detail: Option<String>,
    bytes: Option<u64>,
    error: Option<String>,
    timeout: Option<f64>,
    streaming: Option<bool>,
    hooks: Option<bool>,
    scope: Option<Scope>,
    data_cut: Option<bool>,
    caller: Option<Caller>,
    /// `data` and `site`, which few lines have, boxed: a line is moved by
    /// value through the parser, and past 256 bytes each move cost twice
    /// (the reader was 4% slower with them inline).
    rare: Option<Box<RareFields>>,
}

/// The fields of a line that carry bytes or text only some recorders write.
#[derive(Default, Debug)]
struct RareFields {
    /// Decoded (and so at most `Data::MAX_BYTES`) as it is parsed.
    data: Option<Box<[u8]>>,
    site: Option<Box<str>>,
}

/// Parses one line. On failure, also says which known field was being read,
/// so that the error can name it.
fn parse_line(text: &str, numbered: bool) -> Result<RawLine, (serde_json::Error, Option<Key>)> {
    let mut key = None;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = de.deserialize_map(LineVisitor {
        key: &mut key,
        numbered,
    });
    match parsed.and_then(|raw| de.end().map(|()| raw)) {
        Ok(raw) => Ok(raw),
        Err(e) => Err((e, key)),
    }
}

struct LineVisitor<'k> {
    /// The known field whose value is being read, if any.
    key: &'k mut Option<Key>,
    /// Ids are read as [`numbered_id`]s.
    numbered: bool,
}

impl<'de> Visitor<'de> for LineVisitor<'_> {
    type Value = RawLine;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawLine, A::Error> {
        fn value<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
            map: &mut A,
        ) -> Result<Option<T>, A::Error> {
            map.next_value::<Option<T>>()
        }

        // An id field's value: its hash, or its numbered id.
        fn id<'de, const PREFIX: u8, A: MapAccess<'de>>(
            map: &mut A,
            numbered: bool,
        ) -> Result<Option<u64>, A::Error> {
            if numbered {
                Ok(value::<NumberedName<PREFIX>, _>(map)?.map(|v| v.0))
            } else {
                Ok(value::<Name, _>(map)?.map(|v| v.0))
            }
        }

        let numbered = self.numbered;
        let mut raw = RawLine::default();
        let mut seen = 0u32;
        loop {
            *self.key = None;
            let Some(FieldName(key)) = map.next_key()? else {
                break;
            };
            let Some(key) = key else {
                map.next_value::<Skip>()?;
                continue;
            };
            *self.key = Some(key);
            if seen & key.bit() != 0 {
                return Err(de::Error::custom("given twice; expected each field once"));
            }
            seen |= key.bit();
            match key {
                Key::Seq => raw.seq = value::<UInt, _>(&mut map)?.map(|v| v.0),
                Key::Event => raw.event = value::<EventName, _>(&mut map)?.map(|v| v.0),
                Key::T => raw.t = value::<Num, _>(&mut map)?.map(|v| v.0),
                Key::Depth => raw.depth = value::<UInt, _>(&mut map)?.map(|v| v.0),
                Key::Within => raw.within = value::<UInt, _>(&mut map)?.map(|v| v.0),
                Key::Factory => {
                    raw.factory = id::<{ FactoryId::PREFIX.as_bytes()[0] }, _>(&mut map, numbered)?
                }
                Key::Connector => {
                    raw.connector =
                        id::<{ ConnectorId::PREFIX.as_bytes()[0] }, _>(&mut map, numbered)?
                }
                Key::Port => {
                    raw.port = id::<{ PortId::PREFIX.as_bytes()[0] }, _>(&mut map, numbered)?
                }
                Key::Protocol => {
                    raw.protocol_given = true;
                    raw.protocol =
                        id::<{ ProtocolId::PREFIX.as_bytes()[0] }, _>(&mut map, numbered)?;
                }
                Key::Addr => raw.addr = value::<String, _>(&mut map)?,
                Key::Reason => raw.reason = value::<ReasonName, _>(&mut map)?.map(|v| v.0),
                Key::Detail => raw.detail = value::<String, _>(&mut map)?,
                Key::Bytes => raw.bytes = value::<UInt, _>(&mut map)?.map(|v| v.0),
                Key::Error => raw.error = value::<String, _>(&mut map)?,
                Key::Timeout => raw.timeout = value::<Num, _>(&mut map)?.map(|v| v.0),
                Key::Streaming => raw.streaming = value::<Flag, _>(&mut map)?.map(|v| v.0),
                Key::Hooks => raw.hooks = value::<Flag, _>(&mut map)?.map(|v| v.0),
                Key::Scope => raw.scope = value::<ScopeName, _>(&mut map)?.map(|v| v.0),
                Key::Data => {
                    raw.rare.get_or_insert_default().data =
                        value::<Base64, _>(&mut map)?.map(|v| v.0);
                }
                Key::DataCut => raw.data_cut = value::<Flag, _>(&mut map)?.map(|v| v.0),
                Key::Caller => raw.caller = value::<CallerName, _>(&mut map)?.map(|v| v.0),
                Key::Site => {
                    raw.rare.get_or_insert_default().site =
                        value::<String, _>(&mut map)?.map(String::into_boxed_str);
                }
            }
        }
        Ok(raw)
    }
}

/// The value of an unknown field, which later versions of the format may
/// add: checked to be JSON and dropped.
///
/// Not `IgnoredAny`: serde_json skips that without counting nesting, while
/// going through `deserialize_any` keeps its recursion limit (128), so a
/// value nested deeper is refused here as it is in known fields, and as
/// recursive parsers elsewhere would refuse it.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<IgnoredAny, Skip>()?.is_some() {}
        Ok(Skip)
    }
}

/// A field name: a known [`Key`], or `None` for one to ignore.
struct FieldName(Option<Key>);

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldName, E> {
                Ok(FieldName(Key::from_name(v)))
            }
        }
        d.deserialize_identifier(V)
    }
}

/// Defines a one-field wrapper whose visitor accepts exactly one JSON type,
/// so that errors say what the format expects rather than a Rust type.
macro_rules! value_type {
    ($name:ident($ty:ty), $deserialize:ident, $expecting:literal; $($visit:tt)*) => {
        struct $name($ty);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    $($visit)*
                }
                d.$deserialize(V)
            }
        }
    };
}

// Brace-delimited so that rustfmt leaves the items alone.
value_type! {
    UInt(u64), deserialize_u64, "a non-negative integer";
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<UInt, E> {
        Ok(UInt(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<UInt, E> {
        u64::try_from(v).map(UInt).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
    }
}

value_type! {
    Num(f64), deserialize_f64, "a number";
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(Num(v))
    }
    #[allow(clippy::cast_precision_loss)] // JSON numbers are doubles
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num(v as f64))
    }
}

value_type! {
    Flag(bool), deserialize_bool, "true or false";
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
        Ok(Flag(v))
    }
}

// Ids are hashed straight from the parser's buffer: no allocation, and
// escaped names work like any other.
value_type! {
    Name(u64), deserialize_str, "an id (a string)";
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
        Ok(Name(name_hash(v)))
    }
}

/// An id read as numbered: [`numbered_id`] with the kind's prefix.
struct NumberedName<const PREFIX: u8>(u64);

impl<'de, const PREFIX: u8> Deserialize<'de> for NumberedName<PREFIX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const P: u8>;
        impl<const P: u8> Visitor<'_> for V<P> {
            type Value = NumberedName<P>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an id (a string)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberedName<P>, E> {
                Ok(NumberedName(numbered_id(P, v)))
            }
        }
        d.deserialize_str(V::<PREFIX>)
    }
}

value_type! {
    EventName(EventKind), deserialize_str, "an event name of trace format v1";
    fn visit_str<E: de::Error>(self, v: &str) -> Result<EventName, E> {
        v.parse().map(EventName).map_err(|_| E::custom(format_args!("unknown event {v:?}")))
    }
}

value_type! {
    ReasonName(Reason), deserialize_str, "a reason of trace format v1";
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ReasonName, E> {
        v.parse().map(ReasonName).map_err(|_| E::custom(format_args!("unknown reason {v:?}")))
    }
}

value_type! {
    ScopeName(Scope), deserialize_str, "a scope of trace format v1 (\"test\")";
    fn visit_str<E: de::Error>(self, v: &str) -> Result<ScopeName, E> {
        v.parse().map(ScopeName).map_err(|_| {
            E::custom(format_args!("unknown scope {v:?}; expected \"test\" (no scope: the reactor's end)"))
        })
    }
}

value_type! {
    CallerName(Caller), deserialize_str, "a caller of trace format v1 (\"application\")";
    fn visit_str<E: de::Error>(self, v: &str) -> Result<CallerName, E> {
        v.parse().map(CallerName).map_err(|_| {
            E::custom(format_args!("unknown caller {v:?}; expected \"application\" (no caller: the reactor)"))
        })
    }
}

// Decoded straight from the parser's buffer, bounded before decoding.
value_type! {
    Base64(Box<[u8]>), deserialize_str, "standard base64 (a string)";
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Base64, E> {
        data::decode(v).map(Base64).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_column_finds_top_level_keys_only() {
        let line = r#"{"detail":"\"seq\": 3","x":{"seq":1}, "seq" : 12}"#;
        let col = value_column(line, "seq").unwrap();
        assert_eq!(&line[col - 1..col + 1], "12");
        assert_eq!(value_column(line, "t"), None);
    }

    #[test]
    fn every_key_round_trips_its_name() {
        let keys = [
            Key::Seq,
            Key::Event,
            Key::T,
            Key::Depth,
            Key::Within,
            Key::Factory,
            Key::Connector,
            Key::Port,
            Key::Protocol,
            Key::Addr,
            Key::Reason,
            Key::Detail,
            Key::Bytes,
            Key::Error,
            Key::Timeout,
            Key::Streaming,
            Key::Hooks,
            Key::Scope,
            Key::Data,
            Key::DataCut,
            Key::Caller,
            Key::Site,
        ];
        for key in keys {
            assert_eq!(Key::from_name(key.name()), Some(key));
        }
    }
}
