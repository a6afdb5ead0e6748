//! Damage to a JSON object, field by field: what a hand edit or another
//! program's writer does to a line of a JSON format. Fields keep their
//! order, and a field can be given twice, which a map cannot hold: an
//! object is a list of fields, each value kept as JSON text.

use std::fmt;

use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// A JSON object as its fields in order: names, and values as JSON text
/// (after an edit, not necessarily valid JSON).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fields(pub Vec<(String, String)>);

impl Fields {
    /// Reads a JSON object; `None` if `text` is not one.
    ///
    /// ```
    /// use callorder_parser_fuzz::json::Fields;
    /// let fields = Fields::parse(r#"{"seq":1,"event":"end"}"#).unwrap();
    /// assert_eq!(fields.0[1], ("event".to_owned(), "\"end\"".to_owned()));
    /// assert_eq!(fields.to_text(), r#"{"seq":1,"event":"end"}"#);
    /// assert!(Fields::parse("[1]").is_none());
    /// ```
    pub fn parse(text: &str) -> Option<Fields> {
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = de.deserialize_map(FieldsVisitor).ok()?;
        de.end().ok()?;
        Some(fields)
    }

    /// The object as JSON text, fields in order, duplicates kept.
    pub fn to_text(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::from(name.as_str()).to_string());
            out.push(':');
            out.push_str(value);
        }
        out.push('}');
        out
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Gives the first field called `name` this value (JSON text), or adds
    /// the field at the end.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value,
            None => self.0.push((name.to_owned(), value)),
        }
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, Value>()? {
            fields.push((name, value.to_string()));
        }
        Ok(Fields(fields))
    }
}

/// One change to an object's fields.
#[derive(Clone, Debug)]
pub enum FieldEdit {
    /// The field at the position goes.
    Drop(Index),
    /// The field at the position is given again, right after itself.
    Duplicate(Index),
    /// The field at the position gets this value (JSON text), most often of
    /// another type than its own.
    Retype(Index, String),
    /// The field at the position gets this name.
    Rename(Index, String),
    /// A field with this name and value goes in at the position.
    Add(Index, String, String),
    /// The fields at the two positions change places.
    Swap(Index, Index),
}

/// Values of every JSON type, with the awkward ones well represented:
/// numbers at and past the edges of `u64`, `i64` and `f64`, fractions,
/// negative zero, empty and deeply nested containers, escapes, lone
/// surrogates, long strings; and the strings in `words` (the format's
/// names: events, reasons, ids), quoted.
pub fn odd_value(words: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    const FIXED: &[&str] = &[
        "null",
        "true",
        "false",
        "0",
        "1",
        "-1",
        "-0",
        "-0.0",
        "0.5",
        "1e400",
        "-1e400",
        "1e-400",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "4294967295",
        "4294967296",
        "\"\"",
        "\"\\u0000\"",
        "\"\\ud800\"",
        "\"\\n\"",
        "[]",
        "{}",
        "[1,\"a\",null]",
        "{\"seq\":1}",
        "NaN",
        "01",
        "1.",
        "\"unterminated",
    ];
    prop_oneof![
        4 => prop::sample::select(FIXED).prop_map(str::to_owned),
        3 => prop::sample::select(words).prop_map(|w| Value::from(w).to_string()),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|x| x.to_string()),
        1 => ".{0,12}".prop_map(|s| Value::from(s).to_string()),
        1 => (1..300usize).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth))),
        1 => (1..5000usize).prop_map(|n| Value::from("x".repeat(n)).to_string()),
    ]
}

/// One edit, with field names from `names` and values from
/// [`odd_value`]`(words)`.
pub fn field_edit(
    names: &'static [&'static str],
    words: &'static [&'static str],
) -> impl Strategy<Value = FieldEdit> {
    let name = prop_oneof![
        4 => prop::sample::select(names).prop_map(str::to_owned),
        1 => "[a-z_]{0,8}",
        1 => ".{0,4}",
    ];
    prop_oneof![
        3 => any::<Index>().prop_map(FieldEdit::Drop),
        2 => any::<Index>().prop_map(FieldEdit::Duplicate),
        4 => (any::<Index>(), odd_value(words)).prop_map(|(i, v)| FieldEdit::Retype(i, v)),
        1 => (any::<Index>(), name.clone()).prop_map(|(i, n)| FieldEdit::Rename(i, n)),
        2 => (any::<Index>(), name, odd_value(words)).prop_map(|(i, n, v)| FieldEdit::Add(i, n, v)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| FieldEdit::Swap(a, b)),
    ]
}

/// One to `max` edits.
pub fn field_edits(
    names: &'static [&'static str],
    words: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<FieldEdit>> {
    prop::collection::vec(field_edit(names, words), 1..=max.max(1))
}

/// Applies `edit` to `fields`.
///
/// ```
/// use callorder_parser_fuzz::json::{apply_all, field_edits, Fields};
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let edits = field_edits(&["seq", "event"], &["end"], 3).new_tree(&mut runner).unwrap().current();
/// let mut fields = Fields::parse(r#"{"seq":1,"event":"end"}"#).unwrap();
/// apply_all(&mut fields, &edits);
/// assert!(fields.to_text().starts_with('{'));
/// ```
pub fn apply(fields: &mut Fields, edit: &FieldEdit) {
    let list = &mut fields.0;
    let len = list.len();
    match edit {
        FieldEdit::Drop(i) if len > 0 => {
            list.remove(i.index(len));
        }
        FieldEdit::Duplicate(i) if len > 0 => {
            let at = i.index(len);
            let copy = list[at].clone();
            list.insert(at + 1, copy);
        }
        FieldEdit::Retype(i, value) if len > 0 => list[i.index(len)].1.clone_from(value),
        FieldEdit::Rename(i, name) if len > 0 => list[i.index(len)].0.clone_from(name),
        FieldEdit::Add(i, name, value) => {
            list.insert(i.index(len + 1), (name.clone(), value.clone()))
        }
        FieldEdit::Swap(a, b) if len > 0 => list.swap(a.index(len), b.index(len)),
        _ => {}
    }
}

/// Applies every edit, in order.
pub fn apply_all(fields: &mut Fields, edits: &[FieldEdit]) {
    for edit in edits {
        apply(fields, edit);
    }
}
