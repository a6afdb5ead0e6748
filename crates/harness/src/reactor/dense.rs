//! The reactor's tables of objects, indexed by their ids.

use std::ops::Index;

/// Objects by id. The reactor numbers each kind from 1 and never forgets an
/// object during a run, so slots indexed by `id - 1` hold them: a lookup is
/// an index, not a tree walk, on every delivery.
///
/// The slots live in pages of [`PAGE`] rather than one vector: a long run
/// makes an object per connection, and one growing vector would move every
/// object it holds each time it doubles (a connection's state is ~200
/// bytes). The first page grows as a vector does, so a short run (a
/// fuzzer's) allocates no more than before.
pub(super) struct Dense<K, V> {
    pages: Vec<Vec<Option<V>>>,
    /// The number of ids handed out: the largest id inserted.
    len: usize,
    key: std::marker::PhantomData<K>,
}

/// Slots per page (a power of two).
const PAGE: usize = 512;

impl<K, V> Default for Dense<K, V> {
    fn default() -> Self {
        Dense {
            pages: Vec::new(),
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
        self.pages.get(i / PAGE)?.get(i % PAGE)?.as_ref()
    }

    #[inline]
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let i = Self::slot(*key)?;
        self.pages.get_mut(i / PAGE)?.get_mut(i % PAGE)?.as_mut()
    }

    /// Puts `value` under `key`; ids are small, so the gap below it (if
    /// any) is filled with empty slots.
    pub(super) fn insert(&mut self, key: K, value: V) {
        let Some(i) = Self::slot(key) else {
            panic!("ids start at 1");
        };
        let (p, at) = (i / PAGE, i % PAGE);
        if p >= self.pages.len() {
            self.pages.resize_with(p + 1, Vec::new);
        }
        let page = &mut self.pages[p];
        if p > 0 && page.capacity() == 0 {
            page.reserve_exact(PAGE);
        }
        if at >= page.len() {
            page.resize_with(at + 1, || None);
        }
        page[at] = Some(value);
        self.len = self.len.max(i + 1);
    }

    /// Every object, by id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.pages.iter().enumerate().flat_map(|(p, page)| {
            page.iter()
                .enumerate()
                .filter_map(move |(at, v)| Some((K::from((p * PAGE + at) as u64 + 1), v.as_ref()?)))
        })
    }

    /// Every object, by id order.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.pages.iter_mut().flatten().flatten()
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
}
