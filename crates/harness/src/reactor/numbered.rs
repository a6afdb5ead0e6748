//! Tables numbered as a script numbers things: attempts and arrivals, from
//! 1, in the order they come.

use std::collections::VecDeque;

/// Entries numbered from 1 in the order they were pushed, as a `Vec` is
/// indexed from 0 (`get(n - 1)` is entry `n`), that can let go of their
/// oldest entries once nothing will ask for them again: a long run
/// ([`MockReactor::keep_ended`](crate::MockReactor::keep_ended)) keeps a
/// window of the recent ones, so its memory follows the span from the
/// oldest entry still in use, not its length.
///
/// Of each entry let go, one bit is kept: whether it made a connection, so
/// that a step naming it can still say whether that connection ended or
/// never was.
pub(super) struct Numbered<T> {
    /// The entries from number `base + 1` on.
    window: VecDeque<T>,
    /// How many entries were let go: numbers `1..=base`.
    base: usize,
    /// For each number let go, whether it made a connection: bit `n - 1`.
    connected: Vec<u64>,
}

impl<T> Default for Numbered<T> {
    fn default() -> Self {
        Numbered {
            window: VecDeque::new(),
            base: 0,
            connected: Vec::new(),
        }
    }
}

impl<T> Numbered<T> {
    /// How many numbers were handed out: the last one.
    pub(super) fn len(&self) -> usize {
        self.base + self.window.len()
    }

    /// Appends an entry; its number is the new `len()`.
    pub(super) fn push(&mut self, entry: T) {
        self.window.push_back(entry);
    }

    /// Entry `index + 1`, unless it was let go or never was.
    #[inline]
    pub(super) fn get(&self, index: usize) -> Option<&T> {
        self.window.get(index.checked_sub(self.base)?)
    }

    /// Entry `index + 1`, to change, unless it was let go or never was.
    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        self.window.get_mut(index.checked_sub(self.base)?)
    }

    /// For entry `n` let go, whether it made a connection; `None` for an
    /// entry still held or never handed out.
    pub(super) fn let_go(&self, n: usize) -> Option<bool> {
        let i = n.checked_sub(1).filter(|&i| i < self.base)?;
        Some(self.connected[i / 64] >> (i % 64) & 1 == 1)
    }

    /// The entries held, with their numbers.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        let base = self.base;
        self.window
            .iter()
            .enumerate()
            .map(move |(i, entry)| (base + i + 1, entry))
    }

    /// The number of the oldest entry held, if any.
    pub(super) fn front(&self) -> Option<(usize, &T)> {
        Some((self.base + 1, self.window.front()?))
    }

    /// Lets go of the oldest entry, noting whether it made a connection.
    pub(super) fn pop_front(&mut self, had_connection: bool) {
        if self.window.pop_front().is_none() {
            return;
        }
        let i = self.base;
        if i / 64 >= self.connected.len() {
            self.connected.push(0);
        }
        if had_connection {
            self.connected[i / 64] |= 1 << (i % 64);
        }
        self.base += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Numbered;

    #[test]
    fn entries_are_numbered_from_one_and_indexed_from_zero() {
        let mut table = Numbered::default();
        table.push('a');
        table.push('b');
        assert_eq!(table.len(), 2);
        assert_eq!(table.get(0), Some(&'a'));
        assert_eq!(table.get(1), Some(&'b'));
        assert_eq!(table.get(2), None);
        assert_eq!(table.iter().collect::<Vec<_>>(), [(1, &'a'), (2, &'b')]);
        assert_eq!(table.let_go(1), None, "held, not let go");
    }

    #[test]
    fn entries_let_go_keep_their_numbers_and_one_bit_each() {
        let mut table = Numbered::default();
        for n in 1..=200usize {
            table.push(n);
        }
        for n in 1..=130usize {
            assert_eq!(table.front(), Some((n, &n)));
            table.pop_front(n % 3 == 0);
        }
        assert_eq!(table.len(), 200, "numbers go on counting");
        assert_eq!(table.get(129), None, "entry 130 was let go");
        assert_eq!(table.get(130), Some(&131));
        *table.get_mut(130).unwrap() = 0;
        assert_eq!(table.iter().next(), Some((131, &0)));
        assert_eq!(table.let_go(3), Some(true));
        assert_eq!(table.let_go(4), Some(false));
        assert_eq!(table.let_go(129), Some(true));
        assert_eq!(table.let_go(130), Some(false));
        assert_eq!(table.let_go(131), None);
        assert_eq!(table.let_go(0), None);
        assert_eq!(table.connected.len(), 3, "one bit per entry let go");
    }
}
