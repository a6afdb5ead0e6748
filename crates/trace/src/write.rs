//! The writer of trace format v1.

use std::io::{self, Write};

use crate::data::Data;
use crate::event::Event;
use crate::id::{ConnectorId, FactoryId, PortId, ProtocolId};
use crate::record::Record;

/// How a writer renders ids as names.
///
/// Ids read from a file are hashes of its names, so writing such records
/// back with their original names needs a `Names` that remembers them;
/// a reactor that numbers its objects can use [`NumberedNames`].
///
/// ```
/// use std::collections::HashMap;
/// use callorder_trace::{name_hash, ConnectorId, FactoryId, Names, PortId, ProtocolId};
///
/// /// Names seen in a file, by hash.
/// struct Remembered(HashMap<u64, String>);
///
/// impl Remembered {
///     fn get(&self, hash: u64) -> String {
///         self.0.get(&hash).cloned().unwrap_or_else(|| format!("#{hash:x}"))
///     }
/// }
///
/// impl Names for Remembered {
///     fn factory(&self, id: FactoryId) -> String { self.get(id.0) }
///     fn connector(&self, id: ConnectorId) -> String { self.get(id.0) }
///     fn port(&self, id: PortId) -> String { self.get(id.0) }
///     fn protocol(&self, id: ProtocolId) -> String { self.get(id.0) }
/// }
///
/// let names = Remembered(HashMap::from([(name_hash("server"), "server".to_owned())]));
/// assert_eq!(names.factory(FactoryId::from_name("server")), "server");
/// ```
pub trait Names {
    /// The name of a factory.
    fn factory(&self, id: FactoryId) -> String;
    /// The name of a connector.
    fn connector(&self, id: ConnectorId) -> String;
    /// The name of a listening port.
    fn port(&self, id: PortId) -> String;
    /// The name of a protocol.
    fn protocol(&self, id: ProtocolId) -> String;
}

/// Names for ids that are plain numbers, as callorder's reactors make them:
/// the kind's prefix then the number (`f1`, `c2`, `l1`, `p3`), so that their
/// traces read like those recorded from Twisted.
///
/// ```
/// use callorder_trace::{ConnectorId, FactoryId, Names, NumberedNames, PortId, ProtocolId};
/// assert_eq!(NumberedNames.factory(FactoryId(1)), "f1");
/// assert_eq!(NumberedNames.connector(ConnectorId(2)), "c2");
/// assert_eq!(NumberedNames.port(PortId(1)), "l1");
/// assert_eq!(NumberedNames.protocol(ProtocolId(12)), "p12");
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberedNames;

impl Names for NumberedNames {
    fn factory(&self, id: FactoryId) -> String {
        format!("{}{}", FactoryId::PREFIX, id.0)
    }
    fn connector(&self, id: ConnectorId) -> String {
        format!("{}{}", ConnectorId::PREFIX, id.0)
    }
    fn port(&self, id: PortId) -> String {
        format!("{}{}", PortId::PREFIX, id.0)
    }
    fn protocol(&self, id: ProtocolId) -> String {
        format!("{}{}", ProtocolId::PREFIX, id.0)
    }
}

/// Writes records as trace format v1: one compact JSON object per line,
/// fields in a fixed order, so that the same records always give the same
/// bytes.
///
/// The writer does not renumber: each line gets its record's `seq`. Each
/// record reaches the inner writer in a single `write_all`, so a line is
/// never left half written by a refused record; to write many records to a
/// file, give it a `BufWriter`.
///
/// ```
/// use callorder_trace::{Event, FactoryId, PortId, Record, Step, TraceWriter};
/// let mut writer = TraceWriter::new(Vec::new());
/// let listen = Event::ListenTcp { factory: FactoryId(1), port: PortId(1) };
/// let mut record = Record::new(Step::new(1, listen));
/// record.t = Some(0.0);
/// record.addr = Some("127.0.0.1:8000".into());
/// writer.write(&record)?;
/// writer.write(&Record::new(Step::new(2, Event::End)))?;
/// assert_eq!(
///     String::from_utf8(writer.into_inner()).unwrap(),
///     "{\"seq\":1,\"t\":0.0,\"event\":\"listen_tcp\",\"factory\":\"f1\",\"port\":\"l1\",\"addr\":\"127.0.0.1:8000\"}\n\
///      {\"seq\":2,\"event\":\"end\"}\n"
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct TraceWriter<W: Write, N: Names = NumberedNames> {
    inner: W,
    names: N,
    /// The line being formatted; reused, and written only once complete so
    /// that a refused record leaves nothing behind.
    line: Vec<u8>,
}

impl<W: Write> TraceWriter<W> {
    /// A writer that names ids with [`NumberedNames`].
    pub fn new(inner: W) -> Self {
        Self::with_names(inner, NumberedNames)
    }
}

impl<W: Write, N: Names> TraceWriter<W, N> {
    /// A writer that names ids with `names`.
    ///
    /// ```
    /// use callorder_trace::{Event, Names, NumberedNames, ProtocolId, Record, Step, TraceWriter};
    /// # use callorder_trace::{ConnectorId, FactoryId, PortId};
    /// struct Upper;
    /// impl Names for Upper {
    ///     fn factory(&self, id: FactoryId) -> String { format!("F{}", id.0) }
    ///     fn connector(&self, id: ConnectorId) -> String { format!("C{}", id.0) }
    ///     fn port(&self, id: PortId) -> String { format!("L{}", id.0) }
    ///     fn protocol(&self, id: ProtocolId) -> String { format!("P{}", id.0) }
    /// }
    /// let mut writer = TraceWriter::with_names(Vec::new(), Upper);
    /// let made = Event::ConnectionMade { protocol: ProtocolId(7) };
    /// writer.write(&Record::new(Step::new(1, made).at_depth(1)))?;
    /// assert_eq!(
    ///     writer.into_inner(),
    ///     b"{\"seq\":1,\"depth\":1,\"event\":\"connection_made\",\"protocol\":\"P7\"}\n"
    /// );
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_names(inner: W, names: N) -> Self {
        TraceWriter {
            inner,
            names,
            line: Vec::new(),
        }
    }

    /// Writes one record as one line.
    ///
    /// Fails with [`io::ErrorKind::InvalidInput`], writing nothing, when `t`
    /// or `timeout` is not finite (JSON has no NaN nor infinity), or when
    /// `data` does not fit the event's `bytes` (all of them, or fewer when
    /// cut), as the reader would refuse it. The optional fields defined
    /// for some events only (`hooks`, `scope`, `data`, `caller`, `site`)
    /// are written on those events, as the reader reads them. A record
    /// that has `step.failed` but no `error` gets `"error":"error"`, so that
    /// it reads back failed.
    ///
    /// ```
    /// use callorder_trace::{Event, Record, Step, TraceWriter};
    /// let mut writer = TraceWriter::new(Vec::new());
    /// let mut record = Record::new(Step::new(1, Event::End));
    /// record.t = Some(f64::NAN);
    /// let err = writer.write(&record).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// assert!(writer.into_inner().is_empty());
    /// ```
    pub fn write(&mut self, rec: &Record) -> io::Result<()> {
        self.line.clear();
        format_line(&mut self.line, rec, &self.names)?;
        self.inner.write_all(&self.line)
    }

    /// Flushes the inner writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, to write to it directly.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Gives the inner writer back (not flushed).
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Appends `rec` as one line, newline included, to `out`.
fn format_line(out: &mut Vec<u8>, rec: &Record, names: &impl Names) -> io::Result<()> {
    let step = &rec.step;
    let event = &step.event;
    write!(out, "{{\"seq\":{}", step.seq)?;
    if let Some(t) = rec.t {
        number(out, "t", t)?;
    }
    if step.depth != 0 {
        write!(out, ",\"depth\":{}", step.depth)?;
    }
    if let Some(within) = step.within {
        write!(out, ",\"within\":{within}")?;
    }
    write!(out, ",\"event\":\"{}\"", event.kind().as_str())?;
    if let Some(factory) = event.factory() {
        string(out, "factory", &names.factory(factory))?;
    }
    if let Some(connector) = event.connector() {
        string(out, "connector", &names.connector(connector))?;
    }
    if let Some(port) = event.port() {
        string(out, "port", &names.port(port))?;
    }
    if let Some(addr) = &rec.addr {
        string(out, "addr", addr)?;
    }
    match (event, event.protocol()) {
        (_, Some(protocol)) => string(out, "protocol", &names.protocol(protocol))?,
        // The format requires the key here: null says no protocol was built.
        (Event::BuildProtocol { .. }, None) => out.extend_from_slice(b",\"protocol\":null"),
        _ => {}
    }
    if let Some(reason) = event.reason() {
        write!(out, ",\"reason\":\"{}\"", reason.as_str())?;
    }
    match *event {
        Event::DataReceived { bytes, .. } | Event::Write { bytes, .. } => {
            write!(out, ",\"bytes\":{bytes}")?;
            if let Some(data) = &rec.data {
                data_field(out, data, bytes)?;
            }
        }
        Event::RegisterProducer { streaming, .. } => write!(out, ",\"streaming\":{streaming}")?,
        Event::DoStart { .. } | Event::DoStop { .. } => {
            if let Some(hooks) = step.hooks {
                write!(out, ",\"hooks\":{hooks}")?;
            }
        }
        Event::End => {
            if let Some(scope) = step.scope {
                write!(out, ",\"scope\":\"{}\"", scope.as_str())?;
            }
        }
        _ => {}
    }
    if event.kind().is_callback() {
        if let Some(caller) = step.caller {
            write!(out, ",\"caller\":\"{}\"", caller.as_str())?;
        }
        if let Some(site) = &rec.site {
            string(out, "site", site)?;
        }
    }
    if let Some(timeout) = rec.timeout {
        number(out, "timeout", timeout)?;
    }
    if let Some(detail) = &rec.detail {
        string(out, "detail", detail)?;
    }
    match (&rec.error, step.failed) {
        (Some(error), _) => string(out, "error", error)?,
        (None, true) => string(out, "error", "error")?,
        (None, false) => {}
    }
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// Appends `,"data":"…"` (and `,"data_cut":true`) for an event of `bytes`
/// bytes, or refuses data the reader would refuse (all of the bytes, or
/// fewer when cut).
fn data_field(out: &mut Vec<u8>, data: &Data, bytes: u64) -> io::Result<()> {
    if !data.fits(bytes) {
        let expected = if data.is_cut() { "fewer" } else { "exactly" };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "\"data\" holds {} bytes of an event of {bytes} (cut: {}); expected {expected} {bytes}",
                data.bytes().len(),
                data.is_cut()
            ),
        ));
    }
    // Base64 needs no JSON escapes.
    write!(out, ",\"data\":\"{}\"", data.to_base64())?;
    if data.is_cut() {
        out.extend_from_slice(b",\"data_cut\":true");
    }
    Ok(())
}

/// Appends `,"field":"value"`, the value JSON-escaped.
fn string(out: &mut Vec<u8>, field: &str, value: &str) -> io::Result<()> {
    write!(out, ",\"{field}\":")?;
    serde_json::to_writer(&mut *out, value).map_err(io::Error::from)
}

/// Appends `,"field":value` for a finite number, in Rust's shortest form
/// that reads back as the same `f64` (`0.0`, `0.001`, `1e-7`): `{:?}`, which
/// unlike `{}` always has a `.` or an exponent and never spells out 300
/// zeros.
fn number(out: &mut Vec<u8>, field: &str, value: f64) -> io::Result<()> {
    if !value.is_finite() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("\"{field}\" is {value}, which JSON cannot represent"),
        ));
    }
    write!(out, ",\"{field}\":{value:?}")
}
