//! Damage to a file's lines: lines lost, doubled, swapped or moved, as a
//! bad merge or a concatenation of two recordings leaves them.

use proptest::prelude::*;
use proptest::sample::Index;

/// One change to a list of lines.
#[derive(Clone, Debug)]
pub enum LineEdit {
    /// The line at the position goes.
    Drop(Index),
    /// The line at the position is written twice.
    Duplicate(Index),
    /// The lines at the two positions change places.
    Swap(Index, Index),
    /// The line at the first position moves before the second.
    Move(Index, Index),
    /// The lines from the position on go.
    Truncate(Index),
}

/// One to `max` edits.
pub fn edits(max: usize) -> impl Strategy<Value = Vec<LineEdit>> {
    let edit = prop_oneof![
        3 => any::<Index>().prop_map(LineEdit::Drop),
        3 => any::<Index>().prop_map(LineEdit::Duplicate),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| LineEdit::Swap(a, b)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| LineEdit::Move(a, b)),
        1 => any::<Index>().prop_map(LineEdit::Truncate),
    ];
    prop::collection::vec(edit, 1..=max.max(1))
}

/// Applies every edit to `lines`, in order.
///
/// ```
/// use callorder_parser_fuzz::lines::{apply_all, edits};
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
///
/// let mut runner = TestRunner::deterministic();
/// let edits = edits(3).new_tree(&mut runner).unwrap().current();
/// let mut lines = vec!["a", "b", "c"];
/// apply_all(&mut lines, &edits);
/// assert!(lines.iter().all(|l| ["a", "b", "c"].contains(l)));
/// ```
pub fn apply_all<T: Clone>(lines: &mut Vec<T>, edits: &[LineEdit]) {
    for edit in edits {
        let len = lines.len();
        if len == 0 {
            return;
        }
        match edit {
            LineEdit::Drop(i) => {
                lines.remove(i.index(len));
            }
            LineEdit::Duplicate(i) => {
                let at = i.index(len);
                let copy = lines[at].clone();
                lines.insert(at + 1, copy);
            }
            LineEdit::Swap(a, b) => lines.swap(a.index(len), b.index(len)),
            LineEdit::Move(a, b) => {
                let line = lines.remove(a.index(len));
                let to = b.index(len);
                lines.insert(to, line);
            }
            LineEdit::Truncate(i) => lines.truncate(i.index(len + 1)),
        }
    }
}
