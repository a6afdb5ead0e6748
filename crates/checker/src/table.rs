//! Per-kind storage of object state: live state in a compact slab, plus a
//! few bytes per id ever seen.
//!
//! Ids come in two shapes. Callorder's own reactors number objects 1, 2, 3,
//! so their ids are small and dense: those index a plain `Vec<u32>` (4 bytes
//! per id ever seen, and cache-friendly, since objects are mostly touched in
//! the order they were made). Trace files give 64-bit name hashes: live ones
//! go through a hash map to their slot, ended ones into a set of bare ids
//! (8 bytes each plus the set's slack). Either way live states sit in one
//! slab whose slots are reused, so memory follows live objects.

use std::marker::PhantomData;

use crate::idmap::{CompactSet, IdMap};

/// Never seen.
const UNKNOWN: u32 = u32::MAX;
/// Dense ids only: parked with a small tag (`PARKED + tag`), no live state.
const PARKED: u32 = 0xF000_0000;
/// Seen, and ended: its state is gone.
pub(crate) const ENDED: u32 = u32::MAX - 1;
/// Ids below this may use the dense index.
const DENSE_LIMIT: u64 = 1 << 26;

/// What the table knows of an id.
pub(crate) enum Entry<'a, V> {
    Live(&'a mut V),
    Ended,
    Unknown,
}

pub(crate) struct Table<K, V> {
    /// Small ids: slot, `ENDED` or `UNKNOWN`.
    dense: Vec<u32>,
    /// Other live ids: their slot.
    sparse: IdMap<u64, u32>,
    /// Other ended ids.
    ended: CompactSet,
    slab: Vec<(u64, V)>,
    free: Vec<u32>,
    live: usize,
    _key: PhantomData<K>,
}

/// The dense index shows only the ids it knows (it is grown ahead, by
/// 1,024 at a time).
impl<K, V: std::fmt::Debug> std::fmt::Debug for Table<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known: Vec<(usize, u32)> = self
            .dense
            .iter()
            .copied()
            .enumerate()
            .filter(|&(_, s)| s != UNKNOWN)
            .collect();
        f.debug_struct("Table")
            .field("dense", &known)
            .field("sparse", &self.sparse)
            .field("ended", &self.ended)
            .field("slab", &self.slab)
            .field("free", &self.free)
            .field("live", &self.live)
            .finish()
    }
}

impl<K, V: Clone> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        Table {
            dense: self.dense.clone(),
            sparse: self.sparse.clone(),
            ended: self.ended.clone(),
            slab: self.slab.clone(),
            free: self.free.clone(),
            live: self.live,
            _key: PhantomData,
        }
    }

    /// Reuses this table's allocations (for the checker's probes).
    fn clone_from(&mut self, source: &Self) {
        self.dense.clone_from(&source.dense);
        self.sparse.clone_from(&source.sparse);
        self.ended.clone_from(&source.ended);
        self.slab.clone_from(&source.slab);
        self.free.clone_from(&source.free);
        self.live = source.live;
    }
}

impl<K, V> Default for Table<K, V> {
    fn default() -> Self {
        Table {
            dense: Vec::new(),
            sparse: IdMap::default(),
            ended: CompactSet::default(),
            slab: Vec::new(),
            free: Vec::new(),
            live: 0,
            _key: PhantomData,
        }
    }
}

impl<K: Copy + Into<u64> + From<u64>, V> Table<K, V> {
    #[inline]
    fn is_dense(&self, id: u64) -> bool {
        (id as usize) < self.dense.len() && self.dense[id as usize] != UNKNOWN
    }

    #[inline(always)]
    fn slot(&self, id: u64) -> u32 {
        if let Some(&s) = self.dense.get(id as usize) {
            if s != UNKNOWN {
                return s;
            }
        }
        self.sparse_slot(id)
    }

    /// `slot` for ids the dense index does not know: kept out of line so
    /// that the dense lookup, which callorder's own reactors always hit,
    /// inlines into every caller.
    #[inline(never)]
    fn sparse_slot(&self, id: u64) -> u32 {
        if let Some(&s) = self.sparse.get(&id) {
            return s;
        }
        if self.ended.contains(id) {
            ENDED
        } else {
            UNKNOWN
        }
    }

    /// Whether a new id goes to the dense index: small, and near the ids
    /// seen so far (so one stray large number cannot grow the vector).
    fn wants_dense(&self, id: u64) -> bool {
        id < DENSE_LIMIT && (id as usize) <= self.dense.len().max(1024) * 2
    }

    fn set_dense(&mut self, id: u64, mark: u32) {
        let i = id as usize;
        if i >= self.dense.len() {
            // In steps of 1,024 ids (4 KiB), not one by one: ids come in
            // order, and the next ones then find their place already made
            // (the fast paths insert only there).
            self.dense.resize((i + 1).next_multiple_of(1024), UNKNOWN);
        }
        self.dense[i] = mark;
    }

    /// The dense index's answer for `id` when it is the whole answer:
    /// the slot (`UNKNOWN` for an id never seen), or `None` when only the
    /// sparse part could say. For the checker's fast paths, which take the
    /// ids callorder's own reactors give and leave the rest to the general
    /// path: they never call out to the sparse part, and so save no
    /// registers for it.
    #[inline(always)]
    pub(crate) fn dense_slot(&self, id: K) -> Option<u32> {
        match self.dense.get(id.into() as usize) {
            Some(&s) if s != UNKNOWN => Some(s),
            _ if self.sparse.is_empty() && self.ended.is_empty() => Some(UNKNOWN),
            _ => None,
        }
    }

    /// [`get`](Table::get) through the dense index alone: `None` also for
    /// a live id it does not hold.
    #[inline(always)]
    pub(crate) fn get_dense(&self, id: K) -> Option<&V> {
        let s = *self.dense.get(id.into() as usize)?;
        (s < PARKED).then(|| &self.slab[s as usize].1)
    }

    /// [`get_mut`](Table::get_mut) through the dense index alone.
    #[inline(always)]
    pub(crate) fn get_dense_mut(&mut self, id: K) -> Option<&mut V> {
        let s = *self.dense.get(id.into() as usize)?;
        if s < PARKED {
            Some(&mut self.slab[s as usize].1)
        } else {
            None
        }
    }

    /// Whether [`insert_dense`](Table::insert_dense) can make `id` live:
    /// the dense index has a place for it and never saw it, and the slab
    /// has a free slot or room for one more (no call to grow either).
    #[inline(always)]
    pub(crate) fn can_insert_dense(&self, id: K) -> bool {
        matches!(self.dense.get(id.into() as usize), Some(&UNKNOWN))
            && (!self.free.is_empty() || self.slab.len() < self.slab.capacity())
    }

    /// [`insert`](Table::insert) where
    /// [`can_insert_dense`](Table::can_insert_dense) said it can: the
    /// same slot, the same marks.
    #[inline(always)]
    pub(crate) fn insert_dense(&mut self, id: K, state: V) {
        let key = id.into();
        debug_assert!(self.can_insert_dense(id));
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = (key, state);
                s
            }
            None if self.slab.len() < self.slab.capacity() => {
                self.slab.push((key, state));
                (self.slab.len() - 1) as u32
            }
            None => return self.insert(id, state),
        };
        self.dense[key as usize] = slot;
        self.live += 1;
    }

    /// Whether [`end_dense`](Table::end_dense) can end `id`: live in the
    /// dense index, and the free list has room for its slot.
    #[inline(always)]
    pub(crate) fn can_end_dense(&self, id: K) -> bool {
        matches!(self.dense.get(id.into() as usize), Some(&s) if s < PARKED)
            && self.free.len() < self.free.capacity()
    }

    /// [`end`](Table::end) where [`can_end_dense`](Table::can_end_dense)
    /// said it can.
    #[inline(always)]
    pub(crate) fn end_dense(&mut self, id: K) {
        let key = id.into() as usize;
        debug_assert!(self.can_end_dense(id));
        let slot = self.dense[key];
        if self.free.len() < self.free.capacity() {
            self.free.push(slot);
        } else {
            return self.end(id);
        }
        self.live -= 1;
        self.dense[key] = ENDED;
    }

    /// The state of a live object.
    #[inline(always)]
    pub(crate) fn get(&self, id: K) -> Option<&V> {
        let s = self.slot(id.into());
        (s < PARKED).then(|| &self.slab[s as usize].1)
    }

    /// The state of a live object, mutably.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, id: K) -> Option<&mut V> {
        let s = self.slot(id.into());
        if s < PARKED {
            Some(&mut self.slab[s as usize].1)
        } else {
            None
        }
    }

    /// Everything known of `id`, in one lookup.
    #[inline]
    pub(crate) fn entry(&mut self, id: K) -> Entry<'_, V> {
        match self.slot(id.into()) {
            UNKNOWN => Entry::Unknown,
            s if s >= PARKED => Entry::Ended,
            s => Entry::Live(&mut self.slab[s as usize].1),
        }
    }

    pub(crate) fn is_live(&self, id: K) -> bool {
        self.slot(id.into()) < PARKED
    }

    /// `is_live(id) || is_ended(id)`, in one lookup.
    #[inline]
    pub(crate) fn is_live_or_ended(&self, id: K) -> bool {
        let s = self.slot(id.into());
        s < PARKED || s == ENDED
    }

    pub(crate) fn is_ended(&self, id: K) -> bool {
        self.slot(id.into()) == ENDED
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
                if self.slab.len() == self.slab.capacity() {
                    // Grow by half, not double: the slab is the largest
                    // live structure, and a doubling holds both copies.
                    self.slab.reserve_exact((self.slab.len() / 2).max(64));
                }
                self.slab.push((key, state));
                (self.slab.len() - 1) as u32
            }
        };
        if self.is_dense(key) || self.wants_dense(key) {
            self.set_dense(key, slot);
        } else {
            self.ended.remove(key);
            self.sparse.insert(key, slot);
        }
        self.live += 1;
    }

    /// Ends a live object: its state goes, the id is remembered as ended.
    pub(crate) fn end(&mut self, id: K) {
        self.release(id.into(), true);
    }

    /// Forgets a live object entirely, as if never seen.
    pub(crate) fn forget(&mut self, id: K) {
        self.release(id.into(), false);
    }

    fn release(&mut self, key: u64, remember: bool) {
        let s = self.slot(key);
        if s < PARKED {
            self.free.push(s);
            self.live -= 1;
        }
        if self.is_dense(key) {
            self.set_dense(key, if remember { ENDED } else { UNKNOWN });
        } else {
            self.sparse.remove(&key);
            if remember {
                self.ended.insert(key);
            } else {
                self.ended.remove(key);
            }
        }
    }

    /// Parks a live object with a dense id: its state goes, and the id
    /// keeps only `tag` (below 2^27), in the 4 bytes it already has. False
    /// (and nothing done) for other ids.
    pub(crate) fn park(&mut self, id: K, tag: u32) -> bool {
        let key = id.into();
        if !self.is_dense(key) || tag >= ENDED - PARKED {
            return false;
        }
        self.release(key, false);
        self.set_dense(key, PARKED + tag);
        true
    }

    /// The tag of a parked id.
    pub(crate) fn parked(&self, id: K) -> Option<u32> {
        let s = *self.dense.get(id.into() as usize)?;
        (PARKED..ENDED).contains(&s).then(|| s - PARKED)
    }

    /// Every parked id, in id order.
    pub(crate) fn parked_ids(&self) -> Vec<K> {
        (0..self.dense.len() as u64)
            .filter(|&i| (PARKED..ENDED).contains(&self.dense[i as usize]))
            .map(K::from)
            .collect()
    }

    /// How many objects are live.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// The live objects, in no particular order (callers sort).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        // A flag per slot, not a set of the free ones: at `end` of a long
        // trace the free list holds every slot the peak ever used.
        let mut free = vec![false; self.slab.len()];
        for &s in &self.free {
            free[s as usize] = true;
        }
        self.slab
            .iter()
            .zip(free)
            .filter(|(_, free)| !free)
            .map(|((k, v), _)| (K::from(*k), v))
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
            assert!(matches!(t.entry(p), Entry::Unknown));
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

    #[test]
    fn a_forgotten_id_is_unknown_again() {
        let mut t: Table<ProtocolId, u8> = Table::default();
        for id in [5u64, u64::MAX - 3] {
            t.insert(ProtocolId(id), 1);
            t.forget(ProtocolId(id));
            assert!(matches!(t.entry(ProtocolId(id)), Entry::Unknown));
        }
    }
}
