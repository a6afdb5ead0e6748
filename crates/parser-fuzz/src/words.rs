//! Damage to a line of a word-based format (a script's statements): words
//! dropped, doubled, swapped, or replaced by a keyword from elsewhere or
//! by a word of the wrong kind. The line is split at white space, ignoring
//! quotes, as a careless edit would.

use proptest::prelude::*;
use proptest::sample::Index;

/// One change to a line's words.
#[derive(Clone, Debug)]
pub enum WordEdit {
    /// The word at the position goes.
    Drop(Index),
    /// The word at the position is written twice.
    Duplicate(Index),
    /// The word at the position becomes this one.
    Replace(Index, String),
    /// This word goes in before the position, or at the end.
    Insert(Index, String),
    /// The words at the two positions change places.
    Swap(Index, Index),
}

/// A word: one of `vocabulary` (the format's keywords and values) most of
/// the time, else a word of the wrong kind: numbers at the edges of `u64`
/// and `usize`, zero, signs, units, broken strings, escapes, hex and
/// braces.
pub fn word(vocabulary: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    const ODD: &[&str] = &[
        "0",
        "1",
        "-1",
        "+1",
        "1_000",
        "0x10",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999999999999",
        "1.5",
        "1.5x",
        ".5",
        "5.",
        "0.5ns",
        "1e3",
        "\"",
        "\"\"",
        "\"\\q\"",
        "\"\\x\"",
        "\"\\xg0\"",
        "\"\\x4",
        "\"\\",
        "hex:",
        "hex:abc",
        "hex:zz",
        "{",
        "}",
        "{}",
        "#",
        "\t",
        "\u{feff}",
        "\u{0}",
        "\u{1F600}",
    ];
    prop_oneof![
        4 => prop::sample::select(vocabulary).prop_map(str::to_owned),
        2 => prop::sample::select(ODD).prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => "[a-z0-9_:.\"\\\\{}#]{1,8}",
    ]
}

/// One to `max` edits, with words from [`word`]`(vocabulary)`.
pub fn edits(
    vocabulary: &'static [&'static str],
    max: usize,
) -> impl Strategy<Value = Vec<WordEdit>> {
    let edit = prop_oneof![
        2 => any::<Index>().prop_map(WordEdit::Drop),
        1 => any::<Index>().prop_map(WordEdit::Duplicate),
        4 => (any::<Index>(), word(vocabulary)).prop_map(|(i, w)| WordEdit::Replace(i, w)),
        2 => (any::<Index>(), word(vocabulary)).prop_map(|(i, w)| WordEdit::Insert(i, w)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| WordEdit::Swap(a, b)),
    ];
    prop::collection::vec(edit, 1..=max.max(1))
}

/// Applies `edits` to `line`, whose words are separated by white space,
/// and joins the words with single spaces.
///
/// ```
/// use callorder_parser_fuzz::words::{apply_all, edits};
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let edits = edits(&["client", "server"], 2).new_tree(&mut runner).unwrap().current();
/// let line = apply_all("close client 1", &edits);
/// assert!(!line.contains("  "));
/// ```
pub fn apply_all(line: &str, edits: &[WordEdit]) -> String {
    let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    for edit in edits {
        let len = words.len();
        match edit {
            WordEdit::Drop(i) if len > 0 => {
                words.remove(i.index(len));
            }
            WordEdit::Duplicate(i) if len > 0 => {
                let at = i.index(len);
                let copy = words[at].clone();
                words.insert(at + 1, copy);
            }
            WordEdit::Replace(i, w) if len > 0 => words[i.index(len)].clone_from(w),
            WordEdit::Insert(i, w) => words.insert(i.index(len + 1), w.clone()),
            WordEdit::Swap(a, b) if len > 0 => words.swap(a.index(len), b.index(len)),
            _ => {}
        }
    }
    words.join(" ")
}
