//! Per-kind storage of object state: live state in a compact slab, plus a
//! few bytes per id ever seen.
//!
//! Ids come in two shapes. Callorder's own reactors number objects 1, 2, 3,
//! so their ids are small and dense: those index a plain `Vec<u32>` (4 bytes
//! per id ever seen, and cache-friendly, since objects are mostly touched in
//! the order they were made). Trace files give 64-bit name hashes: those go
//! through a hash map. Either index points into one slab of live states whose
//! slots are reused, so memory follows live objects, not trace length.

use std::marker::PhantomData;

use crate::idmap::IdMap;

/// Never seen.
const UNKNOWN: u32 = u32::MAX;
/// Seen, and ended: its state is gone.
const ENDED: u32 = u32::MAX - 1;
/// Ids below this may use the dense index.
const DENSE_LIMIT: u64 = 1 << 26;

/// What the table knows of an id.
pub(crate) enum Entry<'a, V> {
    Live(&'a mut V),
    Ended,
    Unknown,
}

#[derive(Clone, Debug)]
pub(crate) struct Table<K, V> {
    dense: Vec<u32>,
    sparse: IdMap<u64, u32>,
    slab: Vec<(u64, V)>,
    free: Vec<u32>,
    live: usize,
    _key: PhantomData<K>,
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { dense: Vec::new(), sparse: IdMap::default(), slab: Vec::new(), free: Vec::new(), live: 0, _key: PhantomData }
    }
}

impl<K: Copy + Into<u64> + From<u64>, V> Table<K, V> {
    #[inline]
    fn slot(&self, id: u64) -> u32 {
        if let Some(&s) = self.dense.get(id as usize) {
            if s != UNKNOWN {
                return s;
            }
        }
        if self.sparse.is_empty() {
            return UNKNOWN;
        }
        self.sparse.get(&id).copied().unwrap_or(UNKNOWN)
    }

    /// Where `id` lives: the dense index when it is small and near the ids
    /// seen so far, else the hash map. An id stays where it was first put.
    fn set_slot(&mut self, id: u64, slot: u32) {
        let i = id as usize;
        let in_dense = self.dense.get(i).is_some_and(|&s| s != UNKNOWN);
        if in_dense {
            self.dense[i] = slot;
            return;
        }
        if let Some(s) = self.sparse.get_mut(&id) {
            *s = slot;
            return;
        }
        if id < DENSE_LIMIT && i <= self.dense.len().max(1024) * 2 {
            if i >= self.dense.len() {
                self.dense.resize(i + 1, UNKNOWN);
            }
            self.dense[i] = slot;
        } else {
            self.sparse.insert(id, slot);
        }
    }

    /// The state of a live object.
    #[inline]
    pub(crate) fn get(&self, id: K) -> Option<&V> {
        let s = self.slot(id.into());
        if s >= ENDED {
            None
        } else {
            Some(&self.slab[s as usize].1)
        }
    }

    /// The state of a live object, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: K) -> Option<&mut V> {
        let s = self.slot(id.into());
        if s >= ENDED {
            None
        } else {
            Some(&mut self.slab[s as usize].1)
        }
    }

    /// Everything known of `id`.
    #[inline]
    pub(crate) fn entry(&mut self, id: K) -> Entry<'_, V> {
        match self.slot(id.into()) {
            UNKNOWN => Entry::Unknown,
            ENDED => Entry::Ended,
            s => Entry::Live(&mut self.slab[s as usize].1),
        }
    }

    pub(crate) fn is_live(&self, id: K) -> bool {
        self.slot(id.into()) < ENDED
    }

    pub(crate) fn is_ended(&self, id: K) -> bool {
        self.slot(id.into()) == ENDED
    }

    /// Whether the id was ever seen (live or ended).
    pub(crate) fn is_known(&self, id: K) -> bool {
        self.slot(id.into()) != UNKNOWN
    }

    /// Makes `id` live with `state` (it must not be live).
    pub(crate) fn insert(&mut self, id: K, state: V) {
        let key = id.into();
        debug_assert!(!self.is_live(id));
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = (key, state);
                s
            }
            None => {
                self.slab.push((key, state));
                (self.slab.len() - 1) as u32
            }
        };
        self.set_slot(key, slot);
        self.live += 1;
    }

    /// Ends a live object: its state goes, the id is remembered as ended.
    pub(crate) fn end(&mut self, id: K) {
        self.release(id, ENDED);
    }

    /// Forgets a live object entirely, as if never seen.
    pub(crate) fn forget(&mut self, id: K) {
        self.release(id, UNKNOWN);
    }

    fn release(&mut self, id: K, mark: u32) {
        let key = id.into();
        let s = self.slot(key);
        if s < ENDED {
            self.free.push(s);
            self.live -= 1;
        }
        if mark == UNKNOWN {
            if let Some(d) = self.dense.get_mut(key as usize) {
                *d = UNKNOWN;
            }
            self.sparse.remove(&key);
        } else {
            self.set_slot(key, mark);
        }
    }

    /// Marks an id never seen as ended.
    pub(crate) fn mark_ended(&mut self, id: K) {
        if !self.is_known(id) {
            self.set_slot(id.into(), ENDED);
        }
    }

    /// How many objects are live.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The live objects, in no particular order (callers sort).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        let free: std::collections::BTreeSet<u32> = self.free.iter().copied().collect();
        self.slab
            .iter()
            .enumerate()
            .filter(move |(i, _)| !free.contains(&(*i as u32)))
            .map(|(_, (k, v))| (K::from(*k), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use callorder_trace::ProtocolId;

    #[test]
    fn dense_and_sparse_ids_live_end_and_are_remembered() {
        let mut t: Table<ProtocolId, u8> = Table::default();
        for id in [1u64, 2, 3, 0xdead_beef_0000_0001, 40_000_000_000] {
            let p = ProtocolId(id);
            assert!(!t.is_known(p));
            t.insert(p, 7);
            assert_eq!(t.get(p), Some(&7));
            t.end(p);
            assert!(t.is_ended(p) && t.get(p).is_none());
        }
        assert_eq!(t.len(), 0);
        t.insert(ProtocolId(9), 1);
        t.insert(ProtocolId(10), 2);
        assert_eq!(t.slab.len(), 2, "slots are reused");
        let mut live: Vec<_> = t.iter().map(|(k, v)| (k.0, *v)).collect();
        live.sort_unstable();
        assert_eq!(live, vec![(9, 1), (10, 2)]);
    }
}
