//! Damage at the level of bytes: what a flipped bit on a disk, a bad copy
//! and paste or a cut download do to a file.

use proptest::prelude::*;
use proptest::sample::Index;

/// One change to a byte string. Positions are proptest [`Index`]es, so an
/// edit applies to a string of any length (an edit that needs a byte is a
/// no-op on an empty string).
#[derive(Clone, Debug)]
pub enum ByteEdit {
    /// The byte at the position becomes this one.
    Replace(Index, u8),
    /// One bit (0 to 7) of the byte at the position flips.
    Flip(Index, u8),
    /// This byte goes in before the position, or at the end.
    Insert(Index, u8),
    /// The byte at the position goes.
    Delete(Index),
    /// A copy of up to `len` bytes from `from` goes in before `to`.
    Copy {
        /// Where the copied bytes start.
        from: Index,
        /// How many bytes, at most.
        len: u8,
        /// Where the copy goes.
        to: Index,
    },
    /// Everything from the position on goes.
    Truncate(Index),
}

/// Any byte, with the bytes in `special` (those the format gives a meaning)
/// as likely as all the others together.
pub fn byte(special: &'static [u8]) -> impl Strategy<Value = u8> + Clone {
    prop_oneof![any::<u8>(), prop::sample::select(special)]
}

/// One edit.
pub fn edit(special: &'static [u8]) -> impl Strategy<Value = ByteEdit> {
    prop_oneof![
        3 => (any::<Index>(), byte(special)).prop_map(|(i, b)| ByteEdit::Replace(i, b)),
        2 => (any::<Index>(), 0..8u8).prop_map(|(i, bit)| ByteEdit::Flip(i, bit)),
        3 => (any::<Index>(), byte(special)).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        3 => any::<Index>().prop_map(ByteEdit::Delete),
        1 => (any::<Index>(), any::<u8>(), any::<Index>())
            .prop_map(|(from, len, to)| ByteEdit::Copy { from, len, to }),
        1 => any::<Index>().prop_map(ByteEdit::Truncate),
    ]
}

/// One to `max` edits.
pub fn edits(special: &'static [u8], max: usize) -> impl Strategy<Value = Vec<ByteEdit>> {
    prop::collection::vec(edit(special), 1..=max.max(1))
}

/// Up to `max_len` bytes of anything, `special` bytes well represented.
pub fn any_bytes(special: &'static [u8], max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(byte(special), 0..=max_len)
}

/// Applies `edit` to `text`.
///
/// ```
/// use callorder_parser_fuzz::bytes::{apply_all, edits};
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let edits = edits(b"{}\":,", 4).new_tree(&mut runner).unwrap().current();
/// let mut text = br#"{"seq":1}"#.to_vec();
/// apply_all(&mut text, &edits);
/// // Each edit adds at most one copy of 255 bytes.
/// assert!(text.len() <= 9 + 4 * 255);
/// ```
pub fn apply(text: &mut Vec<u8>, edit: &ByteEdit) {
    let len = text.len();
    match edit {
        ByteEdit::Replace(i, b) if len > 0 => text[i.index(len)] = *b,
        ByteEdit::Flip(i, bit) if len > 0 => text[i.index(len)] ^= 1 << (bit % 8),
        ByteEdit::Insert(i, b) => text.insert(i.index(len + 1), *b),
        ByteEdit::Delete(i) if len > 0 => {
            text.remove(i.index(len));
        }
        ByteEdit::Copy { from, len: n, to } if len > 0 => {
            let start = from.index(len);
            let end = (start + usize::from(*n)).min(len);
            let copy = text[start..end].to_vec();
            let at = to.index(len + 1);
            text.splice(at..at, copy);
        }
        ByteEdit::Truncate(i) => text.truncate(i.index(len + 1)),
        _ => {}
    }
}

/// Applies every edit, in order.
pub fn apply_all(text: &mut Vec<u8>, edits: &[ByteEdit]) {
    for edit in edits {
        apply(text, edit);
    }
}
