//! Turning hashed ids back into the names a trace used.
//!
//! The reader hashes every id name (`"p1"`) to a `u64` so that the checker
//! holds no strings; reports are for people, so they map hashes back to the
//! names seen in the few lines a report shows. A name never seen falls back
//! to the id's `Debug` form (`p#5b050ef57e3b95bc`).

use std::borrow::Cow;
use std::collections::HashMap;

use callorder_checker::Object;
use callorder_trace::{
    name_hash, ConnectorId, Event, FactoryId, PortId, ProtocolId, HASHED_ID_BIT,
};
use serde::Deserialize;

/// The fields of a trace line that hold ids, borrowed from the line when
/// they have no escapes.
#[derive(Deserialize, Default)]
struct IdFields<'a> {
    #[serde(borrow, default)]
    factory: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    connector: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    port: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    protocol: Option<Cow<'a, str>>,
}

/// Names of ids, by hash, learnt from raw trace lines.
///
/// ```
/// use callorder_cli::names::NameMap;
/// use callorder_trace::ProtocolId;
/// let mut names = NameMap::default();
/// names.learn_line(r#"{"seq":1,"event":"connection_made","protocol":"p1"}"#);
/// assert_eq!(names.protocol(ProtocolId::from_name("p1")), "p1");
/// assert!(names.protocol(ProtocolId::from_name("p2")).starts_with("p#"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct NameMap {
    names: HashMap<u64, String>,
    /// Ids were read as numbered (`TraceReader::numbered_ids`).
    numbered: bool,
}

impl NameMap {
    /// A map for ids read as numbered ([`TraceReader::numbered_ids`]): a
    /// numbered id is named by its kind's prefix and its number (the very
    /// name the trace used, which has one spelling), any other by the name
    /// learnt for its marked hash.
    ///
    /// [`TraceReader::numbered_ids`]: callorder_trace::TraceReader::numbered_ids
    ///
    /// ```
    /// use callorder_cli::names::NameMap;
    /// use callorder_trace::{ConnectorId, ProtocolId};
    /// let mut names = NameMap::numbered();
    /// names.learn_line(r#"{"seq":1,"event":"connection_made","protocol":"server"}"#);
    /// assert_eq!(names.protocol(ProtocolId::from_numbered_name("server")), "server");
    /// assert_eq!(names.protocol(ProtocolId(17)), "p17");
    /// assert_eq!(names.connector(ConnectorId(17)), "c17");
    /// let message = format!("{:?} was lost twice", ProtocolId(17));
    /// assert_eq!(names.substitute(&message), "p17 was lost twice");
    /// ```
    pub fn numbered() -> Self {
        NameMap {
            names: HashMap::new(),
            numbered: true,
        }
    }

    /// The key a name is known by: the id a reader gives it when no kind's
    /// number is read from it.
    pub fn key(&self, name: &str) -> u64 {
        if self.numbered {
            name_hash(name) | HASHED_ID_BIT
        } else {
            name_hash(name)
        }
    }

    /// Whether `id` is numbered (named by its kind's prefix and number).
    fn is_number(&self, id: u64) -> bool {
        self.numbered && id < HASHED_ID_BIT
    }

    /// Learns the names of the ids on one trace line. Lines that are not a
    /// JSON object, or hold ids of the wrong type, teach nothing.
    pub fn learn_line(&mut self, line: &str) {
        for name in Self::ids_of(line) {
            self.learn(&name);
        }
    }

    /// Learns one name.
    pub fn learn(&mut self, name: &str) {
        self.names
            .entry(self.key(name))
            .or_insert_with(|| name.to_owned());
    }

    /// The names of the ids on one line (not yet learnt).
    pub(crate) fn ids_of(line: &str) -> Vec<Cow<'_, str>> {
        let Ok(fields) = serde_json::from_str::<IdFields<'_>>(line) else {
            return Vec::new();
        };
        [
            fields.factory,
            fields.connector,
            fields.port,
            fields.protocol,
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The name of a hash, if it was learnt.
    pub fn get(&self, hash: u64) -> Option<&str> {
        self.names.get(&hash).map(String::as_str)
    }

    /// Whether the name of this hash is known.
    pub fn knows(&self, hash: u64) -> bool {
        self.is_number(hash) || self.names.contains_key(&hash)
    }

    fn or_debug(&self, prefix: &str, hash: u64, debug: impl std::fmt::Debug) -> String {
        if self.is_number(hash) {
            return format!("{prefix}{hash}");
        }
        self.get(hash)
            .map_or_else(|| format!("{debug:?}"), str::to_owned)
    }

    /// A factory's name.
    pub fn factory(&self, id: FactoryId) -> String {
        self.or_debug(FactoryId::PREFIX, id.0, id)
    }

    /// A connector's name.
    pub fn connector(&self, id: ConnectorId) -> String {
        self.or_debug(ConnectorId::PREFIX, id.0, id)
    }

    /// A port's name.
    pub fn port(&self, id: PortId) -> String {
        self.or_debug(PortId::PREFIX, id.0, id)
    }

    /// A protocol's name.
    pub fn protocol(&self, id: ProtocolId) -> String {
        self.or_debug(ProtocolId::PREFIX, id.0, id)
    }

    /// An object with its kind: `protocol p1`.
    pub fn object(&self, object: &Object) -> String {
        match *object {
            Object::Factory(id) => format!("factory {}", self.factory(id)),
            Object::Connector(id) => format!("connector {}", self.connector(id)),
            Object::Port(id) => format!("port {}", self.port(id)),
            Object::Protocol(id) => format!("protocol {}", self.protocol(id)),
        }
    }

    /// An event with the fields the order depends on, ids by name:
    /// `client_connection_lost(factory=f1, connector=c1, reason=connection_done)`.
    pub fn event(&self, event: &Event) -> String {
        self.render(event, false)
    }

    /// Like [`event`](Self::event), for an event the checker proposes: a
    /// `build_protocol` there carries a made-up id for the protocol it would
    /// create, shown as `<new>`.
    pub fn proposed_event(&self, event: &Event) -> String {
        self.render(event, true)
    }

    fn render(&self, event: &Event, proposed: bool) -> String {
        let mut fields: Vec<String> = Vec::new();
        if let Some(id) = event.factory() {
            fields.push(format!("factory={}", self.factory(id)));
        }
        if let Some(id) = event.connector() {
            fields.push(format!("connector={}", self.connector(id)));
        }
        if let Some(id) = event.port() {
            fields.push(format!("port={}", self.port(id)));
        }
        match (event, event.protocol()) {
            (Event::BuildProtocol { .. }, None) => fields.push("protocol=null".into()),
            (Event::BuildProtocol { .. }, Some(id)) if proposed && !self.knows(id.0) => {
                fields.push("protocol=<new>".into());
            }
            (_, Some(id)) => fields.push(format!("protocol={}", self.protocol(id))),
            (_, None) => {}
        }
        if let Some(reason) = event.reason() {
            fields.push(format!("reason={reason}"));
        }
        match *event {
            Event::DataReceived { bytes, .. } | Event::Write { bytes, .. } => {
                fields.push(format!("bytes={bytes}"));
            }
            Event::RegisterProducer { streaming, .. } => {
                fields.push(format!("streaming={streaming}"))
            }
            _ => {}
        }
        let kind = event.kind().as_str();
        if fields.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}({})", fields.join(", "))
        }
    }

    /// Replaces the `Debug` forms of known ids in a checker message
    /// (`p#5b050ef57e3b95bc`) with their names.
    ///
    /// ```
    /// use callorder_cli::names::NameMap;
    /// use callorder_trace::ProtocolId;
    /// let mut names = NameMap::default();
    /// names.learn("p1");
    /// let message = format!("{:?} was lost twice; {:?} is unknown", ProtocolId::from_name("p1"), ProtocolId(7));
    /// assert_eq!(names.substitute(&message), "p1 was lost twice; p#7 is unknown");
    /// ```
    pub fn substitute(&self, message: &str) -> String {
        let mut out = String::with_capacity(message.len());
        let mut rest = message;
        while let Some((start, end, hash)) = next_debug_id(rest) {
            out.push_str(&rest[..start]);
            match self.get(hash) {
                _ if self.is_number(hash) => {
                    // The Debug form starts with the kind's prefix.
                    out.push_str(&rest[start..start + 1]);
                    out.push_str(&hash.to_string());
                }
                Some(name) => out.push_str(name),
                None => out.push_str(&rest[start..end]),
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }

    /// The hashes of every id `Debug` form in a message.
    pub fn debug_ids(message: &str) -> Vec<u64> {
        let mut out = Vec::new();
        let mut rest = message;
        while let Some((_, end, hash)) = next_debug_id(rest) {
            out.push(hash);
            rest = &rest[end..];
        }
        out
    }
}

/// Finds the next `X#hex` with `X` one of the id prefixes, not preceded by a
/// word character: its byte range and the hash.
fn next_debug_id(text: &str) -> Option<(usize, usize, u64)> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find('#').map(|i| i + from) {
        from = at + 1;
        let Some(start) = at.checked_sub(1) else {
            continue;
        };
        let prefix_ok = [
            FactoryId::PREFIX,
            ConnectorId::PREFIX,
            PortId::PREFIX,
            ProtocolId::PREFIX,
        ]
        .iter()
        .any(|p| p.as_bytes() == [bytes[start]]);
        let boundary_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let digits = bytes[at + 1..]
            .iter()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if !prefix_ok || !boundary_ok || digits == 0 || digits > 16 {
            continue;
        }
        let end = at + 1 + digits;
        // The Debug form is lowercase hex; anything followed by more word
        // characters is some other token.
        if bytes
            .get(end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            continue;
        }
        if let Ok(hash) = u64::from_str_radix(&text[at + 1..end], 16) {
            return Some((start, end, hash));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use callorder_trace::{Holder, Reason};

    #[test]
    fn events_render_with_names() {
        let mut names = NameMap::default();
        names.learn_line(
            r#"{"seq":5,"event":"build_protocol","factory":"f1","connector":"c1","protocol":"p1"}"#,
        );
        let (f, c) = (FactoryId::from_name("f1"), ConnectorId::from_name("c1"));
        let lost = Event::ClientConnectionLost {
            factory: f,
            connector: c,
            reason: Reason::ConnectionDone,
        };
        assert_eq!(
            names.event(&lost),
            "client_connection_lost(factory=f1, connector=c1, reason=connection_done)"
        );
        let build = Event::BuildProtocol {
            factory: f,
            holder: Holder::Connector(c),
            protocol: Some(ProtocolId(99)),
        };
        assert_eq!(
            names.proposed_event(&build),
            "build_protocol(factory=f1, connector=c1, protocol=<new>)"
        );
        assert_eq!(names.event(&Event::End), "end");
    }

    #[test]
    fn numbered_ids_name_themselves_and_made_up_ones_are_new() {
        let names = NameMap::numbered();
        let (f, l) = (FactoryId(1), PortId(2));
        let build = |p| Event::BuildProtocol {
            factory: f,
            holder: Holder::Port(l),
            protocol: Some(ProtocolId(p)),
        };
        // The checker's made-up ids carry the hashed bit, as no number does.
        assert_eq!(
            names.proposed_event(&build(0x9e37 | HASHED_ID_BIT)),
            "build_protocol(factory=f1, port=l2, protocol=<new>)"
        );
        assert_eq!(
            names.event(&build(3)),
            "build_protocol(factory=f1, port=l2, protocol=p3)"
        );
        assert!(names.knows(3) && !names.knows(3 | HASHED_ID_BIT));
    }

    #[test]
    fn escaped_names_and_junk_lines() {
        let mut names = NameMap::default();
        names.learn_line(r#"{"protocol":"p\u0031"}"#);
        names.learn_line("not json");
        names.learn_line(r#"{"protocol":7}"#);
        assert_eq!(names.get(name_hash("p1")), Some("p1"));
    }

    #[test]
    fn substitute_leaves_other_hashes_alone() {
        let names = NameMap::default();
        for text in ["issue #12", "x#ff", "p#", "p#zz", "#", "c#1g"] {
            assert_eq!(names.substitute(text), text);
        }
        assert_eq!(NameMap::debug_ids("f#a and l#b"), vec![0xa, 0xb]);
    }
}
