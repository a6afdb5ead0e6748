//! Script files: a small, line-oriented text format for [`Script`]s, so that
//! what the world does can live in a fixture file a person writes and reads.
//!
//! One statement per line; a header (`implementation`, `seed`) first, then
//! the steps. `batch { ... }` puts several events in one turn. The full
//! grammar, with every statement and the [`Step`] or [`WorldEvent`] it
//! makes, is in `docs/script-format.md`.
//!
//! ```
//! use callorder::{parse_script, print_script, Conn, Outcome, Script};
//!
//! let text = "\
//! implementation line_client
//! seed 7
//!
//! resolve 1 accept
//! send client 1 \"hello\\r\\n\"
//! close client 1
//! shutdown
//! ";
//! let file = parse_script(text, "hello.script")?;
//! assert_eq!(file.implementation.as_deref(), Some("line_client"));
//! assert_eq!(file.seed, Some(7));
//! assert_eq!(
//!     file.script,
//!     Script::new()
//!         .with_implementation("line_client")
//!         .resolve(1, Outcome::Accept)
//!         .send(Conn::Client(1), b"hello\r\n")
//!         .close(Conn::Client(1))
//!         .shutdown()
//! );
//! // The printer gives the canonical text, and it reads back the same.
//! assert_eq!(print_script(&file), text);
//! # Ok::<(), callorder::ScriptError>(())
//! ```

use std::error::Error;
use std::fmt::{self, Write as _};
use std::time::Duration;

use callorder_checker::Rule;
use callorder_core::Address;

use callorder_trace::EventKind;

use crate::script::{
    is_fault_target, is_protocol_callback, Conn, Origin, Outcome, Script, Step, WorldEvent,
};

/// A script as a file holds it: the steps, and the header naming what the
/// script drives.
///
/// `implementation` and `script.implementation()` are the same name:
/// [`parse_script`] sets both, and [`print_script`] writes
/// `implementation`, or `script.implementation()` when that is `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScriptFile {
    /// The steps, with [`Script::with_implementation`] applied when the
    /// header names an implementation.
    pub script: Script,
    /// The bundled implementation the script drives (`implementation NAME`).
    pub implementation: Option<String>,
    /// The run's seed (`seed N`).
    pub seed: Option<u64>,
    /// What the script's run must give (`expect legal`, `expect illegal
    /// RULE-ID`, `expect malformed`), for `callorder suite`.
    pub expect: Option<Expectation>,
}

/// What a script's run must give, as its `expect` header line says:
/// `callorder suite` fails the script's case otherwise.
///
/// ```
/// use callorder::{parse_script, Expectation, Rule};
/// let file = parse_script("expect illegal P-AFTER-LOST\nshutdown\n", "x.script")?;
/// assert_eq!(file.expect, Some(Expectation::Illegal(Rule::AfterLost)));
/// assert_eq!(Expectation::Illegal(Rule::AfterLost).to_string(), "illegal P-AFTER-LOST");
/// # Ok::<(), callorder::ScriptError>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// The run breaks no rule.
    Legal,
    /// The run's first violation breaks this rule.
    Illegal(Rule),
    /// The script cannot run: it does not parse, names no bundled
    /// implementation, or a step of it is an error of the script.
    Malformed,
}

impl fmt::Display for Expectation {
    /// The words after `expect`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expectation::Legal => f.write_str("legal"),
            Expectation::Illegal(rule) => write!(f, "illegal {}", rule.id()),
            Expectation::Malformed => f.write_str("malformed"),
        }
    }
}

impl From<Script> for ScriptFile {
    /// A file holding `script`, its implementation taken from the script,
    /// and no seed.
    ///
    /// ```
    /// use callorder::{print_script, Script, ScriptFile};
    /// let file = ScriptFile::from(Script::new().with_implementation("echo_server").shutdown());
    /// assert_eq!(print_script(&file), "implementation echo_server\n\nshutdown\n");
    /// ```
    fn from(script: Script) -> Self {
        ScriptFile {
            implementation: script.implementation().map(str::to_owned),
            script,
            seed: None,
            expect: None,
        }
    }
}

impl fmt::Display for ScriptFile {
    /// The canonical text, as [`print_script`] gives it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_script(self))
    }
}

/// Why a script file could not be read: where, what the format expected
/// there, and what it found instead.
///
/// Lines and columns count from 1; a column counts characters (Unicode
/// scalar values), not bytes, and a tab is one column.
///
/// ```
/// use callorder::parse_script;
/// let err = parse_script("resolve 1 accept\nsend clinet 1 \"x\"\n", "x.script").unwrap_err();
/// assert_eq!((err.line, err.column), (2, 6));
/// assert_eq!(
///     err.to_string(),
///     "x.script:2:6: expected a connection (client N or server N), found \"clinet\"",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    /// The file name given to [`parse_script`].
    pub file: String,
    /// The line of the offending token, from 1.
    pub line: usize,
    /// The column of the offending token, from 1.
    pub column: usize,
    /// What the format allows there.
    pub expected: String,
    /// What the file has there: a token in double quotes, `end of line`,
    /// or `end of file`.
    pub found: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: expected {}, found {}",
            self.file, self.line, self.column, self.expected, self.found
        )
    }
}

impl Error for ScriptError {}

// ------------------------------------------------------------------ reading

/// The statements allowed outside a batch, for error messages.
const STATEMENT: &str = "a statement (implementation, seed, resolve, send, expect, half_close, \
     close, reset, window, read_chunks, write_error, accept, stop_listening, fault, batch, \
     advance, checkpoint or shutdown)";
/// The statements allowed inside a batch, for error messages.
const EVENT_OR_CLOSE: &str = "an event (resolve, send, expect, half_close, close, reset, window, \
     read_chunks, write_error, accept, stop_listening, fault) or \"}\"";
const FAULT_CALLBACK: &str = "a callback of the implementation (start_factory, stop_factory, \
     started_connecting, build_protocol, client_connection_failed, client_connection_lost, \
     connection_made, data_received, read_connection_lost, write_connection_lost, \
     connection_lost, pause_producing, resume_producing or stop_producing)";
const CONNECTION: &str = "a connection (client N or server N)";
const BYTES: &str = "bytes (a quoted string or hex:HEXDIGITS)";
const DURATION: &str = "a duration (such as 1.5s, 250ms, 20us, 100ns or plain seconds)";
const END: &str = "end of line";
const OUTCOME: &str = "an outcome (accept, refuse, dns_failure or fail)";
const WINDOW: &str = "a byte count or unlimited";
const READ_CHUNK: &str = "a chunk size (1 or more) or unlimited";

/// Reads a script file. `file` names it in errors.
///
/// Never panics: any text gives either the script or the first error, in
/// reading order, with its line and column. The format is described in
/// `docs/script-format.md`.
///
/// # Errors
///
/// A [`ScriptError`] at the first token that does not fit the format:
/// an unknown statement or keyword, a bad number, duration, string, escape
/// or hex, a token left over at the end of a line, an unbalanced or nested
/// or empty batch, a repeated header line, or a header line after a step.
///
/// ```
/// use std::time::Duration;
/// use callorder::{parse_script, Conn, Script, WorldEvent};
/// use callorder::Address;
///
/// let file = parse_script(
///     "implementation echo_server\n\
///      batch {\n\
///        accept 1 from 127.0.0.1:5001\n\
///        accept 1 from 127.0.0.1:5002\n\
///      }\n\
///      send server 2 \"ab\" chunks 1   # two steps\n\
///      advance 1.5s\n",
///     "doc.script",
/// )?;
/// let expected = Script::new()
///     .with_implementation("echo_server")
///     .batch(vec![
///         WorldEvent::Accept { port: 1, peer: Address::new("127.0.0.1:5001") },
///         WorldEvent::Accept { port: 1, peer: Address::new("127.0.0.1:5002") },
///     ])
///     .send(Conn::Server(2), b"a")
///     .send(Conn::Server(2), b"b")
///     .advance(Duration::from_millis(1500));
/// assert_eq!(file.script, expected);
///
/// let err = parse_script("batch {\n}\n", "doc.script").unwrap_err();
/// assert_eq!(err.to_string(), "doc.script:2:1: expected at least one event in the batch, found \"}\"");
/// # Ok::<(), callorder::ScriptError>(())
/// ```
pub fn parse_script(text: &str, file: &str) -> Result<ScriptFile, ScriptError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader {
        script: Script::new(),
        at: Vec::new(),
        implementation: None,
        seed: None,
        expect: None,
        first_step: None,
        batch: None,
    };
    let mut eof = (1, 1);
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let mut line = Line::new(file, index + 1, raw);
        eof = (index + 1, line.chars.len() + 1);
        reader.statement(&mut line)?;
    }
    if let Some((opened, _)) = reader.batch {
        return Err(ScriptError {
            file: file.to_owned(),
            line: eof.0,
            column: eof.1,
            expected: format!("\"}}\" to close the batch opened on line {opened}"),
            found: "end of file".to_owned(),
        });
    }
    let Reader {
        mut script,
        at,
        implementation,
        seed,
        expect,
        ..
    } = reader;
    if let Some((name, _)) = &implementation {
        script = script.with_implementation(name.clone());
    }
    let script = script.with_origin(Origin {
        file: file.into(),
        at,
    });
    Ok(ScriptFile {
        script,
        implementation: implementation.map(|(name, _)| name),
        seed: seed.map(|(seed, _)| seed),
        expect: expect.map(|(expect, _)| expect),
    })
}

/// Reads only the header of a script file (`implementation`, `seed`,
/// `expect`), stopping at the first step: the expectation of a script
/// whose steps do not parse (`expect malformed`) is still known.
///
/// # Errors
///
/// The first error in the header lines, as [`parse_script`] reports it.
///
/// ```
/// use callorder::{parse_script, read_script_header, Expectation};
/// let text = "expect malformed\nimplementation echo_server\nsend clinet 1 \"x\"\n";
/// assert!(parse_script(text, "bad.script").is_err());
/// let header = read_script_header(text, "bad.script")?;
/// assert_eq!(header.expect, Some(Expectation::Malformed));
/// assert_eq!(header.implementation.as_deref(), Some("echo_server"));
/// # Ok::<(), callorder::ScriptError>(())
/// ```
pub fn read_script_header(text: &str, file: &str) -> Result<ScriptFile, ScriptError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader {
        script: Script::new(),
        at: Vec::new(),
        implementation: None,
        seed: None,
        expect: None,
        first_step: None,
        batch: None,
    };
    for (index, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let mut line = Line::new(file, index + 1, raw);
        let Some(token) = line.next()? else { continue };
        let keyword = match &token.kind {
            Kind::Word(w) => w.clone(),
            _ => break,
        };
        if !Reader::is_header(&keyword, &mut line)? {
            break;
        }
        reader.header(&mut line, &token, &keyword)?;
    }
    Ok(ScriptFile {
        implementation: reader.implementation.map(|(name, _)| name),
        seed: reader.seed.map(|(seed, _)| seed),
        expect: reader.expect.map(|(expect, _)| expect),
        script: Script::new(),
    })
}

/// What has been read so far.
struct Reader {
    script: Script,
    /// Where each step's events are.
    at: Vec<Vec<Place>>,
    /// The name and the line it was given on.
    implementation: Option<(String, usize)>,
    /// The seed and the line it was given on.
    seed: Option<(u64, usize)>,
    /// The expectation and the line it was given on.
    expect: Option<(Expectation, usize)>,
    /// The line of the first step, once there is one.
    first_step: Option<usize>,
    /// The open batch: the line of its `batch {`, and its events so far
    /// with where each is.
    batch: Option<(usize, Vec<(WorldEvent, Place)>)>,
}

/// A line and a column, from 1.
type Place = (usize, usize);

impl Reader {
    fn push(&mut self, step: Step, at: Vec<Place>) {
        self.script = std::mem::take(&mut self.script).step(step);
        self.at.push(at);
    }

    /// Reads one line.
    fn statement(&mut self, line: &mut Line<'_>) -> Result<(), ScriptError> {
        let Some(token) = line.next()? else {
            return Ok(());
        };
        if self.batch.is_some() {
            return self.in_batch(line, &token);
        }
        let at = (line.number, token.column);
        let keyword = match &token.kind {
            Kind::Word(w) => w.as_str(),
            Kind::Close => {
                return Err(line.error(
                    token.column,
                    "a statement (this \"}\" closes no batch)",
                    Some(&token),
                ))
            }
            _ => return Err(line.error(token.column, STATEMENT, Some(&token))),
        };
        if Self::is_header(keyword, line)? {
            return self.header(line, &token, keyword);
        }
        match keyword {
            "batch" => {
                self.first_step.get_or_insert(line.number);
                line.expect_open()?;
                line.end()?;
                self.batch = Some((line.number, Vec::new()));
                return Ok(());
            }
            "advance" => {
                let by = line.duration()?;
                line.end()?;
                self.push(Step::Advance(by), vec![at]);
            }
            "shutdown" => {
                line.end()?;
                self.push(Step::Shutdown, vec![at]);
            }
            "checkpoint" => {
                line.end()?;
                self.push(Step::Checkpoint, vec![at]);
            }
            _ => {
                let Some(event) = line.event(keyword)? else {
                    return Err(line.error(token.column, STATEMENT, Some(&token)));
                };
                let chunks = line.chunks(false)?;
                line.end()?;
                match (event, chunks) {
                    (WorldEvent::Send { conn, bytes }, Some(size)) => {
                        self.script =
                            std::mem::take(&mut self.script).send_chunked(conn, &bytes, size);
                        // Every chunk is a step of this line.
                        self.at.resize(self.script.steps().len(), vec![at]);
                    }
                    (event, _) => self.push(Step::Batch(vec![event]), vec![at]),
                }
            }
        }
        self.first_step.get_or_insert(line.number);
        Ok(())
    }

    /// Whether a line that starts with `keyword` is a header line. `expect`
    /// starts one only when a verdict follows it (`expect legal`, ...).
    fn is_header(keyword: &str, line: &mut Line<'_>) -> Result<bool, ScriptError> {
        Ok(match keyword {
            "implementation" | "seed" => true,
            "expect" => matches!(
                line.peek()?.map(|t| t.kind),
                Some(Kind::Word(w)) if matches!(w.as_str(), "legal" | "illegal" | "malformed")
            ),
            _ => false,
        })
    }

    /// Reads `implementation NAME`, `seed N` or `expect VERDICT`.
    fn header(
        &mut self,
        line: &mut Line<'_>,
        token: &Token,
        keyword: &str,
    ) -> Result<(), ScriptError> {
        if let Some(first) = self.first_step {
            return Err(line.error(
                token.column,
                format!("a step (the header comes before the first step, on line {first})"),
                Some(token),
            ));
        }
        let given = match keyword {
            "seed" => self.seed.as_ref().map(|(_, at)| *at),
            "expect" => self.expect.as_ref().map(|(_, at)| *at),
            _ => self.implementation.as_ref().map(|(_, at)| *at),
        };
        if let Some(at) = given {
            return Err(line.error(
                token.column,
                format!("at most one {keyword} line (the first is on line {at})"),
                Some(token),
            ));
        }
        if keyword == "seed" {
            let seed = line.number::<u64>("a seed (a whole number)", 0)?;
            line.end()?;
            self.seed = Some((seed, line.number));
        } else if keyword == "expect" {
            let (verdict, _) = line.word("legal, illegal RULE-ID or malformed")?;
            let expect = match verdict.as_str() {
                "legal" => Expectation::Legal,
                "malformed" => Expectation::Malformed,
                _ => {
                    const RULE: &str =
                        "a rule id (such as P-AFTER-LOST; `callorder rules` lists them)";
                    let (id, t) = line.word(RULE)?;
                    Expectation::Illegal(
                        Rule::from_id(&id).ok_or_else(|| line.error_at(Some(&t), RULE))?,
                    )
                }
            };
            line.end()?;
            self.expect = Some((expect, line.number));
        } else {
            let name = line.text("an implementation name (a word or a quoted string)")?;
            line.end()?;
            self.implementation = Some((name, line.number));
        }
        Ok(())
    }

    /// Reads a line inside `batch { ... }`.
    fn in_batch(&mut self, line: &mut Line<'_>, token: &Token) -> Result<(), ScriptError> {
        match &token.kind {
            Kind::Close => {
                line.end()?;
                let (_, events) = self.batch.take().unwrap_or_default();
                if events.is_empty() {
                    return Err(line.error(
                        token.column,
                        "at least one event in the batch",
                        Some(token),
                    ));
                }
                let (events, at) = events.into_iter().unzip();
                self.push(Step::Batch(events), at);
                Ok(())
            }
            Kind::Word(w) if w == "batch" => Err(line.error(
                token.column,
                "an event or \"}\" (batches do not nest)",
                Some(token),
            )),
            Kind::Word(w) => {
                let Some(event) = line.event(w)? else {
                    return Err(line.error(token.column, EVENT_OR_CLOSE, Some(token)));
                };
                line.chunks(true)?;
                line.end()?;
                if let Some((_, events)) = &mut self.batch {
                    events.push((event, (line.number, token.column)));
                }
                Ok(())
            }
            _ => Err(line.error(token.column, EVENT_OR_CLOSE, Some(token))),
        }
    }
}

/// A token's kind.
#[derive(Clone, Debug, PartialEq)]
enum Kind {
    /// A run of characters other than white space, `"`, `#`, `{` and `}`.
    Word(String),
    /// A quoted string, its escapes decoded.
    Str(Vec<u8>),
    /// `{`
    Open,
    /// `}`
    Close,
}

/// A token of one line.
#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    /// Its first column, from 1.
    column: usize,
    /// Its text as written.
    text: String,
}

/// One line, read token by token (so the first error in reading order is
/// the one reported).
struct Line<'a> {
    file: &'a str,
    number: usize,
    chars: Vec<char>,
    /// The next character to read.
    pos: usize,
    /// Just after the last token read: where `end of line` is reported.
    last_end: usize,
}

impl<'a> Line<'a> {
    fn new(file: &'a str, number: usize, text: &str) -> Self {
        Line {
            file,
            number,
            chars: text.chars().collect(),
            pos: 0,
            last_end: 0,
        }
    }

    /// An error at `column`, having found `found` (`None`: end of line).
    fn error(
        &self,
        column: usize,
        expected: impl Into<String>,
        found: Option<&Token>,
    ) -> ScriptError {
        ScriptError {
            file: self.file.to_owned(),
            line: self.number,
            column,
            expected: expected.into(),
            found: found.map_or_else(|| END.to_owned(), |t| quote_found(&t.text)),
        }
    }

    /// An error at the token, or at the end of the line when there is none.
    fn error_at(&self, token: Option<&Token>, expected: impl Into<String>) -> ScriptError {
        let column = token.map_or(self.last_end + 1, |t| t.column);
        self.error(column, expected, token)
    }

    /// The next token, or `None` at the end of the line or a comment.
    fn next(&mut self) -> Result<Option<Token>, ScriptError> {
        while self.pos < self.chars.len() && self.chars[self.pos].is_whitespace() {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&c) = self.chars.get(start) else {
            return Ok(None);
        };
        let kind = match c {
            '#' => return Ok(None),
            '{' => {
                self.pos += 1;
                Kind::Open
            }
            '}' => {
                self.pos += 1;
                Kind::Close
            }
            '"' => Kind::Str(self.string()?),
            _ => {
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|&c| !c.is_whitespace() && !matches!(c, '"' | '#' | '{' | '}'))
                {
                    self.pos += 1;
                }
                Kind::Word(self.chars[start..self.pos].iter().collect())
            }
        };
        self.last_end = self.pos;
        Ok(Some(Token {
            kind,
            column: start + 1,
            text: self.chars[start..self.pos].iter().collect(),
        }))
    }

    /// The next token, left unread.
    fn peek(&mut self) -> Result<Option<Token>, ScriptError> {
        let (pos, last_end) = (self.pos, self.last_end);
        let token = self.next();
        (self.pos, self.last_end) = (pos, last_end);
        token
    }

    /// Reads a quoted string starting at `self.pos` (the opening quote).
    fn string(&mut self) -> Result<Vec<u8>, ScriptError> {
        let open = self.pos;
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                return Err(self.lex_error(open, "a closing \" to end the string", None));
            };
            match c {
                '"' => {
                    self.pos += 1;
                    return Ok(bytes);
                }
                '\\' => {
                    let at = self.pos;
                    let escape = self.chars.get(at + 1).copied();
                    let byte = match escape {
                        Some('r') => b'\r',
                        Some('n') => b'\n',
                        Some('t') => b'\t',
                        Some('\\') => b'\\',
                        Some('"') => b'"',
                        Some('x') => {
                            let digits = &self.chars[at + 2..self.chars.len().min(at + 4)];
                            let value = match digits {
                                [high, low] => high.to_digit(16).zip(low.to_digit(16)),
                                _ => None,
                            };
                            let Some((high, low)) = value else {
                                let text = self.chars[at..at + 2 + digits.len()].iter().collect();
                                return Err(self.lex_error(
                                    at,
                                    "two hex digits after \\x",
                                    Some(text),
                                ));
                            };
                            self.pos += 2;
                            // Two hex digits make at most 255.
                            (high * 16 + low) as u8
                        }
                        Some(other) => {
                            return Err(self.lex_error(
                                at,
                                "an escape (\\r, \\n, \\t, \\\\, \\\" or \\xNN)",
                                Some(format!("\\{other}")),
                            ))
                        }
                        None => {
                            return Err(self.lex_error(
                                at,
                                "an escape (\\r, \\n, \\t, \\\\, \\\" or \\xNN)",
                                None,
                            ))
                        }
                    };
                    self.pos += 2;
                    bytes.push(byte);
                }
                c if c.is_control() && c != '\t' => {
                    return Err(self.lex_error(
                        self.pos,
                        "a printable character or an escape",
                        Some(c.to_string()),
                    ));
                }
                c => {
                    let mut buf = [0; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    self.pos += 1;
                }
            }
        }
    }

    /// An error met while reading a token, at the character index `at`.
    fn lex_error(&self, at: usize, expected: &str, found: Option<String>) -> ScriptError {
        ScriptError {
            file: self.file.to_owned(),
            line: self.number,
            column: at + 1,
            expected: expected.to_owned(),
            found: found.map_or_else(|| END.to_owned(), |t| quote_found(&t)),
        }
    }

    /// Requires the end of the line (or a comment).
    fn end(&mut self) -> Result<(), ScriptError> {
        match self.next()? {
            None => Ok(()),
            Some(t) => Err(self.error(t.column, END, Some(&t))),
        }
    }

    /// Requires `{`.
    fn expect_open(&mut self) -> Result<(), ScriptError> {
        match self.next()? {
            Some(Token {
                kind: Kind::Open, ..
            }) => Ok(()),
            t => Err(self.error_at(t.as_ref(), "\"{\" after batch")),
        }
    }

    /// A word, with its token.
    fn word(&mut self, expected: &str) -> Result<(String, Token), ScriptError> {
        match self.next()? {
            Some(t) => match &t.kind {
                Kind::Word(w) => Ok((w.clone(), t)),
                _ => Err(self.error_at(Some(&t), expected)),
            },
            None => Err(self.error_at(None, expected)),
        }
    }

    /// A whole number in decimal, at least `min`.
    fn number<N>(&mut self, expected: &str, min: N) -> Result<N, ScriptError>
    where
        N: std::str::FromStr + PartialOrd + fmt::Display + Bounded + Copy,
    {
        let (w, t) = self.word(expected)?;
        if w.is_empty() || !w.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error_at(Some(&t), expected));
        }
        match w.parse::<N>() {
            Ok(n) if n >= min => Ok(n),
            Ok(_) => Err(self.error_at(Some(&t), expected)),
            Err(_) => Err(self.error_at(Some(&t), format!("a number no larger than {}", N::MAX))),
        }
    }

    /// `client N` or `server N`.
    fn conn(&mut self) -> Result<Conn, ScriptError> {
        let (w, t) = self.word(CONNECTION)?;
        let side: fn(usize) -> Conn = match w.as_str() {
            "client" => Conn::Client,
            "server" => Conn::Server,
            _ => return Err(self.error_at(Some(&t), CONNECTION)),
        };
        Ok(side(self.number("a connection number (1 or more)", 1)?))
    }

    /// A quoted string or `hex:...`.
    fn bytes(&mut self) -> Result<Vec<u8>, ScriptError> {
        let t = self.next()?;
        match t.as_ref().map(|t| &t.kind) {
            Some(Kind::Str(bytes)) => Ok(bytes.clone()),
            Some(Kind::Word(w)) if w.starts_with("hex:") => {
                let digits = &w.as_bytes()[4..];
                let decoded: Option<Vec<u8>> = (digits.len() % 2 == 0)
                    .then(|| {
                        digits
                            .chunks(2)
                            .map(|pair| Some(hex_value(pair[0])? * 16 + hex_value(pair[1])?))
                            .collect()
                    })
                    .flatten();
                decoded.ok_or_else(|| self.error_at(t.as_ref(), "hex digits in pairs after hex:"))
            }
            _ => Err(self.error_at(t.as_ref(), BYTES)),
        }
    }

    /// A word or a quoted string holding UTF-8 text.
    fn text(&mut self, expected: &str) -> Result<String, ScriptError> {
        let t = self.next()?;
        match t.as_ref().map(|t| &t.kind) {
            Some(Kind::Word(w)) => Ok(w.clone()),
            Some(Kind::Str(bytes)) => String::from_utf8(bytes.clone())
                .map_err(|_| self.error_at(t.as_ref(), "a string of valid UTF-8")),
            _ => Err(self.error_at(t.as_ref(), expected)),
        }
    }

    /// A duration: a decimal number and a unit (`s`, `ms`, `us`, `ns`, or
    /// none for seconds).
    fn duration(&mut self) -> Result<Duration, ScriptError> {
        let (w, t) = self.word(DURATION)?;
        let split = w
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(w.len());
        let (number, unit) = w.split_at(split);
        let unit_nanos: u128 = match unit {
            "" | "s" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" => 1_000,
            "ns" => 1,
            _ => return Err(self.error_at(Some(&t), DURATION)),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        let well_formed = !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
            && !(number.contains('.') && fraction.is_empty());
        if !well_formed {
            return Err(self.error_at(Some(&t), DURATION));
        }
        let too_long = || self.error_at(Some(&t), format!("a duration of at most {}s", u64::MAX));
        let whole_nanos = whole
            .parse::<u128>()
            .ok()
            .and_then(|n| n.checked_mul(unit_nanos))
            .ok_or_else(too_long)?;
        let fraction = fraction.trim_end_matches('0');
        let fraction_nanos = if fraction.is_empty() {
            0
        } else {
            // At most 9 significant decimals can be whole nanoseconds.
            let scale = u32::try_from(fraction.len())
                .ok()
                .filter(|&n| n <= 9)
                .map(|n| 10u128.pow(n));
            let value = fraction.parse::<u128>().ok();
            match (scale, value) {
                (Some(scale), Some(value)) if (value * unit_nanos) % scale == 0 => {
                    value * unit_nanos / scale
                }
                _ => return Err(self.error_at(Some(&t), "a duration in whole nanoseconds")),
            }
        };
        let nanos = whole_nanos
            .checked_add(fraction_nanos)
            .ok_or_else(too_long)?;
        let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
        // The remainder is below 10^9, so it fits.
        Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
    }

    /// The event named by `keyword`, its arguments read; `None` when the
    /// keyword names no event.
    fn event(&mut self, keyword: &str) -> Result<Option<WorldEvent>, ScriptError> {
        let event = match keyword {
            "resolve" => {
                let attempt = self.number("an attempt number (1 or more)", 1)?;
                let (w, t) = self.word(OUTCOME)?;
                let outcome = match w.as_str() {
                    "accept" => Outcome::Accept,
                    "refuse" => Outcome::Refuse,
                    "dns_failure" => Outcome::DnsFailure,
                    "fail" => Outcome::Fail,
                    _ => return Err(self.error_at(Some(&t), OUTCOME)),
                };
                WorldEvent::Resolve { attempt, outcome }
            }
            "send" => {
                let conn = self.conn()?;
                let bytes = self.bytes()?;
                WorldEvent::Send {
                    conn,
                    bytes: bytes.into(),
                }
            }
            "expect" => {
                let conn = self.conn()?;
                let bytes = self.bytes()?;
                WorldEvent::Expect {
                    conn,
                    bytes: bytes.into(),
                }
            }
            "half_close" => WorldEvent::HalfClose { conn: self.conn()? },
            "close" => WorldEvent::Close { conn: self.conn()? },
            "reset" => WorldEvent::Reset { conn: self.conn()? },
            "write_error" => WorldEvent::WriteError { conn: self.conn()? },
            "window" => {
                let conn = self.conn()?;
                let bytes = match self.peek()? {
                    Some(Token {
                        kind: Kind::Word(w),
                        ..
                    }) if w == "unlimited" => {
                        self.next()?;
                        None
                    }
                    _ => Some(self.number(WINDOW, 0)?),
                };
                WorldEvent::Window { conn, bytes }
            }
            "read_chunks" => {
                let conn = self.conn()?;
                let bytes = match self.peek()? {
                    Some(Token {
                        kind: Kind::Word(w),
                        ..
                    }) if w == "unlimited" => {
                        self.next()?;
                        None
                    }
                    _ => Some(self.number(READ_CHUNK, 1)?),
                };
                WorldEvent::ReadChunks { conn, bytes }
            }
            "accept" => {
                let port = self.number("a port number (1 or more)", 1)?;
                let (w, t) = self.word("from")?;
                if w != "from" {
                    return Err(self.error_at(Some(&t), "from"));
                }
                let peer = self.text("an address (host:port or a quoted string)")?;
                WorldEvent::Accept {
                    port,
                    peer: Address::new(peer),
                }
            }
            "stop_listening" => WorldEvent::StopListening {
                port: self.number("a port number (1 or more)", 1)?,
            },
            "fault" => {
                let (w, t) = self.word(FAULT_CALLBACK)?;
                let callback = w
                    .parse::<EventKind>()
                    .ok()
                    .filter(|&k| is_fault_target(k))
                    .ok_or_else(|| self.error_at(Some(&t), FAULT_CALLBACK))?;
                let conn = match self.peek()? {
                    Some(Token {
                        kind: Kind::Word(w),
                        ..
                    }) if w == "client" || w == "server" => {
                        if !is_protocol_callback(callback) {
                            let t = self.next()?;
                            return Err(self.error_at(
                                t.as_ref(),
                                format!(
                                    "{END}: a connection names a protocol, and {callback} is a \
                                     factory's callback"
                                ),
                            ));
                        }
                        Some(self.conn()?)
                    }
                    _ => None,
                };
                WorldEvent::Fault { callback, conn }
            }
            _ => return Ok(None),
        };
        Ok(Some(event))
    }

    /// An optional `chunks N` after a send: the chunk size.
    fn chunks(&mut self, in_batch: bool) -> Result<Option<usize>, ScriptError> {
        match self.peek()? {
            Some(
                t @ Token {
                    kind: Kind::Word(_),
                    ..
                },
            ) if t.text == "chunks" => {
                self.next()?;
                if in_batch {
                    return Err(self.error_at(
                        Some(&t),
                        "end of line (chunks makes several steps, so a batch cannot hold it)",
                    ));
                }
                Ok(Some(self.number("a chunk size (1 or more)", 1)?))
            }
            _ => Ok(None),
        }
    }
}

/// The largest value of a number type, for error messages.
trait Bounded {
    const MAX: Self;
}
impl Bounded for usize {
    const MAX: Self = usize::MAX;
}
impl Bounded for u64 {
    const MAX: Self = u64::MAX;
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit).to_digit(16).map(|d| d as u8)
}

/// A token as an error message shows it: in double quotes, cut short when
/// long, control characters escaped.
fn quote_found(text: &str) -> String {
    const LIMIT: usize = 40;
    let mut out = String::from("\"");
    for (i, c) in text.chars().enumerate() {
        if i == LIMIT {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

// ----------------------------------------------------------------- printing

/// The canonical text of a script file: the header (`implementation`, then
/// `seed`), a blank line, then one line per step; a batch of one event is
/// written as the bare event, a larger batch as `batch { ... }` with its
/// events indented by two spaces. Sends are written as quoted strings, or as
/// `hex:` when more than a quarter of the bytes would need `\xNN`; durations
/// in the largest unit that keeps them whole.
///
/// `parse_script(&print_script(x), _) == Ok(x)` for every `x` the format can
/// express, which is every `x` whose numbered things (attempts, connections,
/// ports) are at least 1 and whose batches are not empty, and whose
/// `implementation` agrees with `script.implementation()`.
///
/// ```
/// use std::time::Duration;
/// use callorder::{print_script, Conn, Outcome, Script, ScriptFile};
///
/// let file = ScriptFile {
///     script: Script::new()
///         .resolve(1, Outcome::Refuse)
///         .send(Conn::Server(1), &[0, 1, 2, 255])
///         .window(Conn::Server(1), None)
///         .advance(Duration::from_millis(1500))
///         .shutdown(),
///     implementation: None,
///     seed: Some(3),
///     expect: None,
/// };
/// assert_eq!(
///     print_script(&file),
///     "seed 3\n\
///      \n\
///      resolve 1 refuse\n\
///      send server 1 hex:000102ff\n\
///      window server 1 unlimited\n\
///      advance 1500ms\n\
///      shutdown\n",
/// );
/// ```
#[must_use]
pub fn print_script(file: &ScriptFile) -> String {
    let mut out = String::new();
    let implementation = file
        .implementation
        .as_deref()
        .or_else(|| file.script.implementation());
    if let Some(name) = implementation {
        out.push_str("implementation ");
        out.push_str(&print_text(name));
        out.push('\n');
    }
    if let Some(seed) = file.seed {
        let _ = writeln!(out, "seed {seed}");
    }
    if let Some(expect) = file.expect {
        let _ = writeln!(out, "expect {expect}");
    }
    if !out.is_empty() && !file.script.steps().is_empty() {
        out.push('\n');
    }
    for step in file.script.steps() {
        match step {
            Step::Batch(events) if events.len() == 1 => {
                out.push_str(&print_event(&events[0]));
                out.push('\n');
            }
            Step::Batch(events) => {
                out.push_str("batch {\n");
                for event in events {
                    out.push_str("  ");
                    out.push_str(&print_event(event));
                    out.push('\n');
                }
                out.push_str("}\n");
            }
            Step::Advance(by) => {
                out.push_str("advance ");
                out.push_str(&print_duration(*by));
                out.push('\n');
            }
            Step::Shutdown => out.push_str("shutdown\n"),
            Step::Checkpoint => out.push_str("checkpoint\n"),
        }
    }
    out
}

fn print_conn(conn: Conn) -> String {
    match conn {
        Conn::Client(n) => format!("client {n}"),
        Conn::Server(n) => format!("server {n}"),
    }
}

/// One event as a script file writes it.
pub(crate) fn print_event(event: &WorldEvent) -> String {
    match event {
        WorldEvent::Resolve { attempt, outcome } => {
            let outcome = match outcome {
                Outcome::Accept => "accept",
                Outcome::Refuse => "refuse",
                Outcome::DnsFailure => "dns_failure",
                Outcome::Fail => "fail",
            };
            format!("resolve {attempt} {outcome}")
        }
        WorldEvent::Send { conn, bytes } => {
            format!("send {} {}", print_conn(*conn), print_bytes(bytes))
        }
        WorldEvent::Expect { conn, bytes } => {
            format!("expect {} {}", print_conn(*conn), print_bytes(bytes))
        }
        WorldEvent::HalfClose { conn } => format!("half_close {}", print_conn(*conn)),
        WorldEvent::Close { conn } => format!("close {}", print_conn(*conn)),
        WorldEvent::Reset { conn } => format!("reset {}", print_conn(*conn)),
        WorldEvent::ReadChunks { conn, bytes } => match bytes {
            Some(n) => format!("read_chunks {} {n}", print_conn(*conn)),
            None => format!("read_chunks {} unlimited", print_conn(*conn)),
        },
        WorldEvent::Window { conn, bytes } => match bytes {
            Some(n) => format!("window {} {n}", print_conn(*conn)),
            None => format!("window {} unlimited", print_conn(*conn)),
        },
        WorldEvent::WriteError { conn } => format!("write_error {}", print_conn(*conn)),
        WorldEvent::Accept { port, peer } => {
            format!("accept {port} from {}", print_text(peer.as_str()))
        }
        WorldEvent::StopListening { port } => format!("stop_listening {port}"),
        WorldEvent::Fault { callback, conn } => match conn {
            Some(conn) => format!("fault {callback} {}", print_conn(*conn)),
            None => format!("fault {callback}"),
        },
    }
}

/// Bytes as a quoted string, or as `hex:` when more than a quarter of them
/// would need `\xNN`.
pub(crate) fn print_bytes(bytes: &[u8]) -> String {
    let opaque = bytes
        .iter()
        .filter(|&&b| !(b.is_ascii_graphic() || matches!(b, b' ' | b'\r' | b'\n' | b'\t')))
        .count();
    if opaque * 4 > bytes.len() {
        let mut out = String::from("hex:");
        for b in bytes {
            let _ = write!(out, "{b:02x}");
        }
        return out;
    }
    let mut out = String::from("\"");
    for &b in bytes {
        push_escaped_byte(&mut out, b);
    }
    out.push('"');
    out
}

pub(crate) fn push_escaped_byte(out: &mut String, b: u8) {
    match b {
        b'"' => out.push_str("\\\""),
        b'\\' => out.push_str("\\\\"),
        b'\r' => out.push_str("\\r"),
        b'\n' => out.push_str("\\n"),
        b'\t' => out.push_str("\\t"),
        b' ' => out.push(' '),
        b if b.is_ascii_graphic() => out.push(char::from(b)),
        b => {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// Text as a bare word when it can be one, else as a quoted string (other
/// characters kept, control characters escaped).
fn print_text(text: &str) -> String {
    let bare = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'#' | b'{' | b'}' | b'\\'));
    if bare {
        return text.to_owned();
    }
    let mut out = String::from("\"");
    for c in text.chars() {
        if c.is_ascii() || c.is_control() {
            let mut buf = [0; 4];
            for &b in c.encode_utf8(&mut buf).as_bytes() {
                push_escaped_byte(&mut out, b);
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// A duration in the largest of s, ms, us, ns that keeps it whole.
fn print_duration(by: Duration) -> String {
    let nanos = by.as_nanos();
    for (unit, size) in [("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)] {
        if nanos % size == 0 {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}
