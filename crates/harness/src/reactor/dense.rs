//! The reactor's tables of objects, indexed by their ids.

use std::ops::Index;

/// Objects by id. The reactor numbers each kind from 1 and never forgets an
/// object during a run, so a vector indexed by `id - 1` holds them: a
/// lookup is an index, not a tree walk, on every delivery.
pub(super) struct Dense<K, V> {
    slots: Vec<Option<V>>,
    key: std::marker::PhantomData<K>,
}

impl<K, V> Default for Dense<K, V> {
    fn default() -> Self {
        Dense {
            slots: Vec::new(),
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
        self.slots.len()
    }

    #[inline]
    pub(super) fn get(&self, key: &K) -> Option<&V> {
        self.slots.get(Self::slot(*key)?)?.as_ref()
    }

    #[inline]
    pub(super) fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.slots.get_mut(Self::slot(*key)?)?.as_mut()
    }

    /// Puts `value` under `key`; ids are small, so the gap below it (if
    /// any) is filled with empty slots.
    pub(super) fn insert(&mut self, key: K, value: V) {
        let Some(i) = Self::slot(key) else {
            panic!("ids start at 1");
        };
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(value);
    }

    /// Every object, by id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, v)| Some((K::from(i as u64 + 1), v.as_ref()?)))
    }

    /// Every object, by id order.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().flatten()
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
}
