//! A scanner for the common shape of a trace line, beside serde_json.
//!
//! Almost every line a recorder writes is one flat JSON object whose
//! strings have no escapes and whose values are the types the format
//! expects. This scanner reads exactly those, borrowing from the line (no
//! deserializer, no visitor, the parsed line written in place rather than
//! moved through results), and gives up on anything else: an escape, a
//! nested value, a field given twice, a value of another type, a name the
//! format does not know, bad JSON. The reader then parses the line again
//! with serde_json, so that every error, its message and its column are
//! exactly what they were. Numbers that are not plain integers are handed
//! to serde_json itself, so that every float reads to the same bits.
//!
//! The tests below hold it to serde_json on every line of every fixture,
//! and on those lines cut, flipped and retyped.

use super::{Key, RawLine};
use crate::id::{name_hash, numbered_id, ConnectorId, FactoryId, PortId, ProtocolId};

/// The line's fields, or `None` when serde_json must read it.
pub(super) fn scan_line(text: &str, numbered: bool) -> Option<RawLine> {
    let mut s = Scanner {
        bytes: text.as_bytes(),
        text,
        at: 0,
    };
    let mut raw = RawLine::default();
    s.space();
    s.eat(b'{')?;
    s.space();
    if s.peek() == Some(b'}') {
        s.at += 1;
    } else {
        let mut seen = 0u32;
        loop {
            let name = s.string()?;
            s.space();
            s.eat(b':')?;
            s.space();
            match Key::from_name(name) {
                None => s.skip_simple_value()?,
                Some(key) => {
                    if seen & key.bit() != 0 {
                        return None;
                    }
                    seen |= key.bit();
                    s.field(key, &mut raw, numbered)?;
                }
            }
            s.space();
            match s.next()? {
                b',' => s.space(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.space();
    (s.at == s.bytes.len()).then_some(raw)
}

/// The powers of ten a double holds exactly.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A decimal like `0.000563` or `12.5` (digits, a point, digits; no sign
/// or exponent) whose digits make an integer below 2^53 and whose
/// fraction has at most 22 of them: the integer divided by an exact power
/// of ten. That one division of exact operands is what serde_json computes
/// for it (its significand, then its power of ten), and it is correctly
/// rounded, so the bits are the same; any other number is left to
/// serde_json.
fn short_decimal(token: &str) -> Option<f64> {
    let (whole, fraction) = token.split_once('.')?;
    let plain = |digits: &str| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !plain(whole) || !plain(fraction) || (whole.len() > 1 && whole.starts_with('0')) {
        return None;
    }
    let scale = *EXACT_POWERS_OF_TEN.get(fraction.len())?;
    let mut significand: u64 = 0;
    for d in whole.bytes().chain(fraction.bytes()) {
        significand = significand.checked_mul(10)? + u64::from(d - b'0');
    }
    if significand >= 1 << 53 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)] // below 2^53: exact
    Some(significand as f64 / scale)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    /// JSON's whitespace (the line has no newline).
    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    /// A string with no escape and no control character, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.next()? {
                b'"' => return Some(&self.text[start..self.at - 1]),
                b'\\' => return None,
                b if b < 0x20 => return None,
                _ => {}
            }
        }
    }

    /// `null`, `true` or `false`.
    fn word(&mut self, word: &[u8]) -> bool {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// `null`: the field is absent, as serde reads `Option`s.
    fn null(&mut self) -> bool {
        self.word(b"null")
    }

    /// A non-negative integer in plain JSON (no sign, no leading zero, no
    /// fraction or exponent), within u64.
    fn uint(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.bytes[start] == b'0';
        // A fraction or an exponent makes it a float, which the format
        // refuses here: serde_json says how.
        let more = matches!(self.peek(), Some(b'.' | b'e' | b'E'));
        (digits > 0 && !leading_zero && !more).then_some(n)
    }

    /// A JSON number read to the very f64 serde_json reads.
    fn number(&mut self) -> Option<f64> {
        let start = self.at;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.peek() {
            self.at += 1;
        }
        let token = &self.text[start..self.at];
        if token.is_empty() {
            return None;
        }
        // Plain integers are exact in both readings.
        if let Some(d) = token.bytes().next() {
            if token.bytes().all(|b| b.is_ascii_digit()) && (d != b'0' || token.len() == 1) {
                if let Ok(n) = token.parse::<u64>() {
                    #[allow(clippy::cast_precision_loss)] // as serde's visit_u64 does
                    return Some(n as f64);
                }
            }
        }
        short_decimal(token).or_else(|| serde_json::from_str::<f64>(token).ok())
    }

    fn flag(&mut self) -> Option<Option<bool>> {
        if self.word(b"true") {
            Some(Some(true))
        } else if self.word(b"false") {
            Some(Some(false))
        } else if self.null() {
            Some(None)
        } else {
            None
        }
    }

    /// A value the reader skips: a string, a number, a word. Anything
    /// nested goes to serde_json, which checks it.
    fn skip_simple_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'-' | b'0'..=b'9' => self.number().map(drop),
            _ if self.word(b"true") || self.word(b"false") || self.null() => Some(()),
            _ => None,
        }
    }

    /// An id: its hash, or its numbered id.
    fn id(&mut self, prefix: &str, numbered: bool) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        let name = self.string()?;
        Some(Some(if numbered {
            numbered_id(prefix.as_bytes()[0], name)
        } else {
            name_hash(name)
        }))
    }

    fn text_value(&mut self) -> Option<Option<String>> {
        if self.null() {
            return Some(None);
        }
        self.string().map(|s| Some(s.to_owned()))
    }

    /// A name the format knows, parsed with `FromStr`.
    fn named<T: std::str::FromStr>(&mut self) -> Option<Option<T>> {
        if self.null() {
            return Some(None);
        }
        self.string()?.parse().ok().map(Some)
    }

    fn uint_value(&mut self) -> Option<Option<u64>> {
        if self.null() {
            return Some(None);
        }
        self.uint().map(Some)
    }

    fn number_value(&mut self) -> Option<Option<f64>> {
        if self.null() {
            return Some(None);
        }
        self.number().map(Some)
    }

    /// Reads the value of a known field into `raw`.
    fn field(&mut self, key: Key, raw: &mut RawLine, numbered: bool) -> Option<()> {
        match key {
            Key::Seq => raw.seq = self.uint_value()?,
            Key::Event => raw.event = self.named()?,
            Key::T => raw.t = self.number_value()?,
            Key::Depth => raw.depth = self.uint_value()?,
            Key::Within => raw.within = self.uint_value()?,
            Key::Factory => raw.factory = self.id(FactoryId::PREFIX, numbered)?,
            Key::Connector => raw.connector = self.id(ConnectorId::PREFIX, numbered)?,
            Key::Port => raw.port = self.id(PortId::PREFIX, numbered)?,
            Key::Protocol => {
                raw.protocol_given = true;
                raw.protocol = self.id(ProtocolId::PREFIX, numbered)?;
            }
            Key::Addr => raw.addr = self.text_value()?,
            Key::Reason => raw.reason = self.named()?,
            Key::Detail => raw.detail = self.text_value()?,
            Key::Bytes => raw.bytes = self.uint_value()?,
            Key::Error => raw.error = self.text_value()?,
            Key::Timeout => raw.timeout = self.number_value()?,
            Key::Streaming => raw.streaming = self.flag()?,
            Key::Hooks => raw.hooks = self.flag()?,
            Key::Scope => raw.scope = self.named()?,
            Key::DataCut => raw.data_cut = self.flag()?,
            Key::Caller => raw.caller = self.named()?,
            // Few lines have them; serde_json decodes them.
            Key::Data | Key::Site => return None,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_line;
    use super::scan_line;
    use proptest::prelude::*;
    use std::path::PathBuf;

    /// Every line of every fixture trace.
    fn fixture_lines() -> Vec<String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/twisted");
        let mut lines = Vec::new();
        let mut dirs = vec![root];
        while let Some(dir) = dirs.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for path in entries {
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "jsonl") {
                    let bytes = std::fs::read(&path).unwrap();
                    let text = String::from_utf8_lossy(&bytes);
                    lines.extend(text.lines().map(str::to_owned));
                }
            }
        }
        lines
    }

    /// What the scanner gives, when it gives anything, is what serde_json
    /// gives.
    fn agrees(line: &str) -> bool {
        for numbered in [false, true] {
            if let Some(fast) = scan_line(line, numbered) {
                match parse_line(line, numbered) {
                    Ok(slow) if format!("{fast:?}") == format!("{slow:?}") => {}
                    other => {
                        eprintln!("{line:?}: scanned {fast:?}, serde_json {other:?}");
                        return false;
                    }
                }
            }
        }
        true
    }

    #[test]
    fn every_fixture_line_scans_as_serde_json_reads_it() {
        let lines = fixture_lines();
        assert!(lines.len() > 20_000, "{} lines", lines.len());
        let mut scanned = 0;
        for line in &lines {
            assert!(agrees(line));
            scanned += usize::from(scan_line(line, true).is_some());
        }
        // The common shape is nearly every line: the scanner is what reads
        // them (the rest are malformed fixtures, escapes, data and site).
        assert!(
            scanned * 100 > lines.len() * 95,
            "{scanned} of {}",
            lines.len()
        );
    }

    #[test]
    fn short_decimals_read_to_serde_jsons_bits() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let places = (x % 12) as usize;
            let value = (x >> 20) % 10_000_000_000;
            let token = format!(
                "{}.{:0places$}",
                value / 1000,
                value % 10u64.pow(places as u32)
            );
            let ours = super::short_decimal(&token);
            let theirs = serde_json::from_str::<f64>(&token).ok();
            if let Some(ours) = ours {
                assert_eq!(Some(ours.to_bits()), theirs.map(f64::to_bits), "{token}");
            }
        }
        assert_eq!(super::short_decimal("0.000563"), Some(0.000563));
        for token in [
            "1",
            "1.",
            ".5",
            "01.5",
            "1.5e3",
            "-1.5",
            "1.5.5",
            "9007199254740993.0",
        ] {
            assert_eq!(super::short_decimal(token), None, "{token}");
        }
    }

    #[test]
    fn unusual_values_are_left_to_serde_json() {
        for line in [
            r#"{"seq":1,"event":"end","detail":"a\"b"}"#,
            r#"{"seq":1,"seq":2,"event":"end"}"#,
            r#"{"seq":01,"event":"end"}"#,
            r#"{"seq":1.0,"event":"end"}"#,
            r#"{"seq":-1,"event":"end"}"#,
            r#"{"seq":1,"event":"end","x":{"y":1}}"#,
            r#"{"seq":1,"event":"end",}"#,
            r#"{"seq":1,"event":"end"} x"#,
            r#"{"seq":1,"event":"nope"}"#,
            r#"{"seq":1,"event":"end","t":1e400}"#,
            r#"{"seq":18446744073709551616,"event":"end"}"#,
            "{\"seq\":1,\"event\":\"end\",\"detail\":\"a\u{1}b\"}",
            r#"{"seq":1,"event":"write","protocol":"p1","bytes":1,"data":"YQ=="}"#,
        ] {
            assert!(scan_line(line, true).is_none(), "{line}");
        }
        let plain = r#" { "seq" : 1 , "t":0.1,"event":"end","x":[] } "#;
        assert!(scan_line(plain, true).is_none(), "an array is nested");
        let plain = r#" { "seq" : 1 , "t":0.1,"event":"end","x":null, "y":-2.5e-3 } "#;
        assert!(scan_line(plain, true).is_some() && agrees(plain));
    }

    fn mutated() -> impl Strategy<Value = String> {
        let lines = fixture_lines();
        let n = lines.len();
        (0..n, any::<u64>(), 0..6u8, any::<u8>()).prop_map(move |(i, at, how, byte)| {
            let mut bytes = lines[i].clone().into_bytes();
            if bytes.is_empty() {
                return String::new();
            }
            let at = (at % bytes.len() as u64) as usize;
            match how {
                0 => bytes[at] = byte,
                1 => bytes.truncate(at),
                2 => {
                    bytes.remove(at);
                }
                3 => bytes.insert(at, byte),
                4 => bytes.insert(at, b"\"0,:{}[]-.e1 "[usize::from(byte) % 13]),
                _ => bytes[at] = b"\"0,:{}[]-.e1 "[usize::from(byte) % 13],
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Lines cut, flipped and retyped: whatever the scanner accepts,
        /// serde_json reads the same.
        #[test]
        fn mutated_lines_scan_as_serde_json_reads_them(line in mutated()) {
            prop_assert!(agrees(&line));
        }
    }
}
