//! The reactor's tables of objects, indexed by their ids.

use std::collections::VecDeque;
use std::ops::Index;

/// Objects by id. The reactor numbers each kind from 1, so slots indexed by
/// `id - 1` hold them: a lookup is an index, not a tree walk, on every
/// delivery.
///
/// The slots live in pages of [`PAGE`] rather than one vector: a long run
/// makes an object per connection, and one growing vector would move every
/// object it holds each time it doubles (a connection's state is ~200
/// bytes). The first page grows as a vector does, so a short run (a
/// fuzzer's) allocates no more than before. An object removed
/// ([`remove`](Dense::remove), in a long run that lets ended objects go)
/// frees its page once the page holds no other, and the oldest empty pages
/// leave the table, so memory follows the objects held, not the ids handed
/// out.
pub(super) struct Dense<K, V> {
    /// The pages from page `skipped` on.
    pages: VecDeque<Page<V>>,
    /// Pages let go from the front, every slot of them empty.
    skipped: usize,
    /// The number of ids handed out: the largest id inserted.
    len: usize,
    key: std::marker::PhantomData<K>,
}

struct Page<V> {
    slots: Vec<Option<V>>,
    /// How many of the slots hold an object.
    held: usize,
}

impl<V> Page<V> {
    fn new() -> Self {
        Page {
            slots: Vec::new(),
            held: 0,
        }
    }
}

/// Slots per page (a power of two).
const PAGE: usize = 512;

impl<K, V> Default for Dense<K, V> {
    fn default() -> Self {
        Dense {
            pages: VecDeque::new(),
            skipped: 0,
            len: 0,
            key: std::marker::PhantomData,
        }
    }
}

impl<K: Copy + Into<u64> + From<u64>, V> Dense<K, V> {
    #[inline]
    fn slot(key: K) -> Option<usize> {
        usize::try_from(key.into()).ok()?.checked_sub(1)
    }

    /// The number of ids handed out: the next id is `len() + 1`.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub(super) fn get(&self, key: &K) -> Option<&V> {
        let i = Self::slot(*key)?;
        let page = self.pages.get((i / PAGE).checked_sub(self.skipped)?)?;
        page.slots.get(i % PAGE)?.as_ref()
    }

    #[inline]
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = Self::slot(*key)?;
        let page = self.pages.get_mut((i / PAGE).checked_sub(self.skipped)?)?;
        page.slots.get_mut(i % PAGE)?.as_mut()
    }

    /// Puts `value` under `key`; ids are small, so the gap below it (if
    /// any) is filled with empty slots.
    pub(super) fn insert(&mut self, key: K, value: V) {
        let Some(i) = Self::slot(key) else {
            panic!("ids start at 1");
        };
        let (p, at) = (i / PAGE, i % PAGE);
        while p < self.skipped {
            // An id below the pages let go: they come back, empty.
            self.pages.push_front(Page::new());
            self.skipped -= 1;
        }
        let p = p - self.skipped;
        if p >= self.pages.len() {
            // The last page is no longer where new ids go: if its objects
            // are all gone already, it goes too.
            let was_last = self.pages.len().checked_sub(1);
            self.pages.resize_with(p + 1, Page::new);
            if let Some(was_last) = was_last {
                self.release(was_last);
            }
        }
        // Pages the release let go of moved the new one forward.
        let p = i / PAGE - self.skipped;
        let first = i / PAGE == 0;
        let page = &mut self.pages[p];
        if !first && page.slots.capacity() == 0 {
            page.slots.reserve_exact(PAGE);
        }
        if at >= page.slots.len() {
            page.slots.resize_with(at + 1, || None);
        }
        if page.slots[at].replace(value).is_none() {
            page.held += 1;
        }
        self.len = self.len.max(i + 1);
    }

    /// Takes the object under `key` out of the table; its id stays handed
    /// out. A page left empty is freed, unless it is the last one (the next
    /// ids go there).
    pub(super) fn remove(&mut self, key: &K) -> Option<V> {
        let i = Self::slot(*key)?;
        let p = (i / PAGE).checked_sub(self.skipped)?;
        let last = self.pages.len().checked_sub(1)?;
        let page = self.pages.get_mut(p)?;
        let value = page.slots.get_mut(i % PAGE)?.take()?;
        page.held -= 1;
        if p < last {
            self.release(p);
        }
        Some(value)
    }

    /// Frees page `p` (not the last) if it holds no object, and lets go of
    /// the empty pages at the front.
    fn release(&mut self, p: usize) {
        if self.pages[p].held > 0 {
            return;
        }
        self.pages[p].slots = Vec::new();
        while self.pages.len() > 1 && self.pages[0].held == 0 {
            self.pages.pop_front();
            self.skipped += 1;
        }
    }

    /// Every object, by id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        let skipped = self.skipped;
        self.pages.iter().enumerate().flat_map(move |(p, page)| {
            page.slots.iter().enumerate().filter_map(move |(at, v)| {
                Some((K::from(((p + skipped) * PAGE + at) as u64 + 1), v.as_ref()?))
            })
        })
    }

    /// Every object, by id order.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.pages
            .iter_mut()
            .flat_map(|page| page.slots.iter_mut().flatten())
    }

    /// How many pages the table holds (for its tests).
    #[cfg(test)]
    fn pages_held(&self) -> usize {
        self.pages.len()
    }
}

impl<K: Copy + Into<u64> + From<u64> + std::fmt::Debug, V> Index<&K> for Dense<K, V> {
    type Output = V;

    fn index(&self, key: &K) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no object {key:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Dense;
    use callorder_trace::ProtocolId;

    #[test]
    fn objects_are_found_by_id_and_listed_in_id_order() {
        let mut table: Dense<ProtocolId, &str> = Dense::default();
        table.insert(ProtocolId(1), "first");
        table.insert(ProtocolId(3), "third");
        assert_eq!(table.len(), 3);
        assert_eq!(table.get(&ProtocolId(1)), Some(&"first"));
        assert_eq!(table.get(&ProtocolId(2)), None);
        assert_eq!(table.get(&ProtocolId(0)), None);
        assert_eq!(table.get(&ProtocolId(9)), None);
        *table.get_mut(&ProtocolId(3)).unwrap() = "last";
        let listed: Vec<_> = table.iter().collect();
        assert_eq!(
            listed,
            [(ProtocolId(1), &"first"), (ProtocolId(3), &"last")]
        );
        assert_eq!(table[&ProtocolId(1)], "first");
    }

    #[test]
    fn ids_past_the_first_page_are_found_and_listed_in_order() {
        let mut table: Dense<ProtocolId, u64> = Dense::default();
        for id in [1, 2, 3 * super::PAGE as u64 + 7, super::PAGE as u64 + 1] {
            table.insert(ProtocolId(id), id);
        }
        assert_eq!(table.len(), 3 * super::PAGE + 7);
        assert_eq!(
            table.get(&ProtocolId(super::PAGE as u64 + 1)),
            Some(&(super::PAGE as u64 + 1))
        );
        assert_eq!(table.get(&ProtocolId(2 * super::PAGE as u64)), None);
        let ids: Vec<u64> = table.iter().map(|(k, _)| k.0).collect();
        assert_eq!(
            ids,
            [1, 2, super::PAGE as u64 + 1, 3 * super::PAGE as u64 + 7]
        );
        assert_eq!(table.values_mut().count(), 4);
    }

    #[test]
    fn objects_removed_free_their_pages_and_ids_stay_handed_out() {
        let mut table: Dense<ProtocolId, u64> = Dense::default();
        let ids = 5 * super::PAGE as u64;
        for id in 1..=ids {
            table.insert(ProtocolId(id), id);
            // Each object ends soon after it is made, one long-lived
            // object (id 7) aside.
            if id > 2 && id - 2 != 7 {
                assert_eq!(table.remove(&ProtocolId(id - 2)), Some(id - 2));
            }
        }
        assert_eq!(table.len(), ids as usize, "ids are never handed out again");
        assert_eq!(
            table.get(&ProtocolId(7)),
            Some(&7),
            "the long-lived one stays"
        );
        assert_eq!(table.get(&ProtocolId(8)), None);
        assert_eq!(table.remove(&ProtocolId(8)), None, "removed once");
        let held: Vec<u64> = table.iter().map(|(k, _)| k.0).collect();
        assert_eq!(held, [7, ids - 1, ids]);
        // The first page holds id 7; the three between are freed; the last
        // is where new ids go.
        assert_eq!(table.pages_held(), 5);
        table.remove(&ProtocolId(7));
        assert_eq!(table.pages_held(), 1, "the empty pages at the front leave");
        assert_eq!(
            table.iter().map(|(k, _)| k.0).collect::<Vec<_>>(),
            [ids - 1, ids]
        );
        table.insert(ProtocolId(ids + 1), 0);
        assert_eq!(table.get(&ProtocolId(ids + 1)), Some(&0));
        table.insert(ProtocolId(3), 3);
        assert_eq!(
            table.get(&ProtocolId(3)),
            Some(&3),
            "an old id can come back"
        );
        assert_eq!(table.iter().next(), Some((ProtocolId(3), &3)));
    }

    #[test]
    fn a_page_whose_objects_all_ended_before_the_next_page_began_is_freed() {
        let mut table: Dense<ProtocolId, u64> = Dense::default();
        // Each object ends before the next is made.
        for id in 1..=4 * super::PAGE as u64 {
            table.insert(ProtocolId(id), id);
            table.remove(&ProtocolId(id));
        }
        assert_eq!(table.pages_held(), 1, "only the page where new ids go");
        assert_eq!(table.len(), 4 * super::PAGE);
    }
}
