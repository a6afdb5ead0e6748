//! Per-kind storage of object state: live state in a compact slab, plus
//! what is known of every id ever seen, kept compactly where the ids allow.
//!
//! Ids come in two shapes. Callorder's own reactors number objects 1, 2, 3,
//! and so do Twisted's recorder and the trace reader with numbered ids
//! (`p17` is 17): those ids are small and handed out in order, and index a
//! window of a plain `Vec<u32>` (4 bytes per id in the window, and
//! cache-friendly, since objects are mostly touched in the order they were
//! made). Old ids leave the window from its front once their block of ids
//! holds few live objects, into runs of equal marks below a watermark
//! ([`Runs`]): a long trace whose objects end in about the order they were
//! made keeps a handful of runs, not a mark per id. Other ids (64-bit name
//! hashes) go through a hash map to their slot while live and into a set
//! of bare ids once ended (about 10 bytes each). Either way live states sit
//! in one slab whose slots are reused.

use std::marker::PhantomData;

use crate::idmap::{CompactSet, IdMap};
use crate::runs::Runs;

/// Never seen.
const UNKNOWN: u32 = u32::MAX;
/// Dense ids only: parked with a small tag (`PARKED + tag`), no live state.
const PARKED: u32 = 0xF000_0000;
/// Seen, and ended: its state is gone.
pub(crate) const ENDED: u32 = u32::MAX - 1;
/// Ids less than this above the window's first may use the dense index.
const DENSE_LIMIT: u64 = 1 << 26;
/// The window leaves in blocks of this many ids.
const BLOCK: usize = 1024;
/// A block leaves the window when it costs at most this many entries below
/// it: a hash-map entry per live or never seen id, a run per change of mark.
const BLOCK_STRAYS: usize = BLOCK / 32;

/// The first length the window grows to.
const FIRST_DENSE: usize = 64;

/// The window's length once it holds index `i`: doubling from
/// [`FIRST_DENSE`] up to a block, then whole blocks. A checker with a few
/// objects (the fuzzers' probes, which copy the checker for every event
/// they try) then copies a few hundred bytes per table, not a block.
fn dense_len_for(i: usize) -> usize {
    if i < BLOCK {
        (i + 1).next_power_of_two().max(FIRST_DENSE)
    } else {
        (i + 1).next_multiple_of(BLOCK)
    }
}

/// Whether every entry of a block is the same mark, the common case of an
/// old block (all ended, or all parked with one factory's tag): it then
/// leaves the window as one run, at a few instructions per id.
fn is_uniform(block: &[u32]) -> bool {
    let first = block[0];
    // A fold, not `all`: with no early exit it is vectorized (cachegrind:
    // the whole move below the watermark went from 24 instructions an id
    // to a few).
    first >= PARKED && first != UNKNOWN && block.iter().fold(0, |diff, &s| diff | (s ^ first)) == 0
}

/// Whether a block would cost little below the watermark: at most
/// `BLOCK_STRAYS` entries, one per live or unseen id and one per change of
/// mark between the others. Stops counting past that (a block of live
/// connections stops at once).
fn costs_little(block: &[u32]) -> bool {
    let mut cost = 0;
    let mut last = None;
    for &s in block {
        if s < PARKED || s == UNKNOWN {
            cost += 1;
        } else if last != Some(s) {
            cost += 1;
            last = Some(s);
        }
        if cost > BLOCK_STRAYS {
            return false;
        }
    }
    true
}

/// What the table knows of an id.
pub(crate) enum Entry<'a, V> {
    Live(&'a mut V),
    Ended,
    Unknown,
}

pub(crate) struct Table<K, V> {
    /// Ids from `base` on: slot, `ENDED`, `PARKED + tag` or `UNKNOWN`.
    dense: Vec<u32>,
    /// The first id of the window `dense`: every id below it was seen
    /// (but a few, which `sparse` or `below` say) and left the window.
    base: u64,
    /// The marks of the ids below `base`.
    below: Runs,
    /// How many of the window's first ids are known to be in blocks that
    /// may leave it (a multiple of `BLOCK`).
    leaving: usize,
    /// Other live ids: their slot. For an id below `base`, its slot or its
    /// mark when that differs from `below`'s.
    sparse: IdMap<u64, u32>,
    /// Other ended ids.
    ended: CompactSet,
    slab: Vec<(u64, V)>,
    free: Vec<u32>,
    live: usize,
    _key: PhantomData<K>,
}

/// The dense index shows only the ids it knows (it is grown ahead of
/// them).
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
            .field("base", &self.base)
            .field("below", &self.below)
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
            base: self.base,
            below: self.below.clone(),
            leaving: self.leaving,
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
        self.base = source.base;
        self.below.clone_from(&source.below);
        self.leaving = source.leaving;
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
            base: 0,
            below: Runs::default(),
            leaving: 0,
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
    /// Where `id` is in the window; past its end (`usize::MAX` or so) for
    /// an id below it, so that one bounds check covers both sides.
    #[inline(always)]
    fn index(&self, id: u64) -> usize {
        id.wrapping_sub(self.base) as usize
    }

    #[inline]
    fn is_dense(&self, id: u64) -> bool {
        matches!(self.dense.get(self.index(id)), Some(&s) if s != UNKNOWN)
    }

    #[inline(always)]
    fn slot(&self, id: u64) -> u32 {
        if let Some(&s) = self.dense.get(self.index(id)) {
            if s != UNKNOWN {
                return s;
            }
        }
        self.sparse_slot(id)
    }

    /// `slot` for ids the window does not know: kept out of line so
    /// that the window's lookup, which callorder's own reactors almost
    /// always hit, inlines into every caller.
    #[inline(never)]
    fn sparse_slot(&self, id: u64) -> u32 {
        if let Some(&s) = self.sparse.get(&id) {
            return s;
        }
        if id < self.base {
            self.below.mark(id)
        } else if self.ended.contains(id) {
            ENDED
        } else {
            UNKNOWN
        }
    }

    /// Whether a new id goes to the window: small, and near the ids seen
    /// so far (so one stray large number cannot grow the vector).
    fn wants_dense(&self, id: u64) -> bool {
        let i = id.wrapping_sub(self.base);
        id >= self.base && i < DENSE_LIMIT && (i as usize) <= self.dense.len().max(BLOCK) * 2
    }

    fn set_dense(&mut self, id: u64, mark: u32) {
        let i = self.index(id);
        if i >= self.dense.len() {
            // Ahead of need (doubling, then 1,024 ids, 4 KiB, at a time),
            // not one by one: ids come in order, and the next ones then
            // find their place already made (the fast paths insert only
            // there). Old blocks may leave first, which moves the window.
            self.leave_window();
            let i = self.index(id);
            self.dense.resize(dense_len_for(i), UNKNOWN);
            self.dense[i] = mark;
            return;
        }
        self.dense[i] = mark;
    }

    /// Moves the window's first blocks below the watermark while each holds
    /// few live or unseen ids, once they are at least half the window (so
    /// that each id is moved a bounded number of times). Called only as
    /// the window grows, every 1,024 new ids: each call looks at one block
    /// more than it keeps, so the work per id stays constant.
    fn leave_window(&mut self) {
        while self.leaving + BLOCK <= self.dense.len() {
            let block = &self.dense[self.leaving..self.leaving + BLOCK];
            if !(is_uniform(block) || costs_little(block)) {
                break;
            }
            self.leaving += BLOCK;
        }
        if self.leaving == 0 || self.leaving * 2 < self.dense.len() {
            return;
        }
        for start in (0..self.leaving).step_by(BLOCK) {
            let block = start..start + BLOCK;
            if is_uniform(&self.dense[block.clone()]) {
                self.below
                    .push_range(self.base + start as u64, BLOCK as u64, self.dense[start]);
            } else {
                self.leave_block(block);
            }
        }
        self.dense.drain(..self.leaving);
        self.base += self.leaving as u64;
        self.leaving = 0;
    }

    /// Moves one block of the window below the watermark, id by id.
    ///
    /// A live id keeps its slot in `sparse`, and in the runs the mark of
    /// the ids after it, which it most likely gets when it ends (so that
    /// its entry can go then); so does an id the window never saw but the
    /// sparse part knows, from before the window reached it.
    fn leave_block(&mut self, block: std::ops::Range<usize>) {
        let mut marks: Vec<Option<u32>> = Vec::with_capacity(block.len());
        for i in block.clone() {
            let id = self.base + i as u64;
            marks.push(match self.dense[i] {
                s if s < PARKED => {
                    self.sparse.insert(id, s);
                    None
                }
                UNKNOWN if self.sparse.contains_key(&id) => None,
                UNKNOWN if self.ended.remove(id) => Some(ENDED),
                mark => Some(mark),
            });
        }
        let mut following = self.below.last_mark_or(ENDED);
        for mark in marks.iter_mut().rev() {
            match mark {
                Some(m) => following = *m,
                None => *mark = Some(following),
            }
        }
        for (i, mark) in block.zip(marks) {
            self.below.push(self.base + i as u64, mark.unwrap_or(ENDED));
        }
    }

    /// Sets the mark of an id below the watermark that is not live.
    fn set_below(&mut self, id: u64, mark: u32) {
        if self.below.mark(id) == mark {
            self.sparse.remove(&id);
        } else {
            self.sparse.insert(id, mark);
        }
    }

    /// The dense index's answer for `id` when it is the whole answer:
    /// the slot (`UNKNOWN` for an id never seen), or `None` when only the
    /// sparse part could say. For the checker's fast paths, which take the
    /// ids callorder's own reactors give and leave the rest to the general
    /// path: they never call out to the sparse part, and so save no
    /// registers for it.
    #[inline(always)]
    pub(crate) fn dense_slot(&self, id: K) -> Option<u32> {
        match self.dense.get(self.index(id.into())) {
            Some(&s) if s != UNKNOWN => Some(s),
            _ if self.sparse.is_empty() && self.ended.is_empty() && self.base == 0 => Some(UNKNOWN),
            _ => None,
        }
    }

    /// [`get`](Table::get) through the dense index alone: `None` also for
    /// a live id it does not hold.
    #[inline(always)]
    pub(crate) fn get_dense(&self, id: K) -> Option<&V> {
        let s = *self.dense.get(self.index(id.into()))?;
        (s < PARKED).then(|| &self.slab[s as usize].1)
    }

    /// [`get_mut`](Table::get_mut) through the dense index alone.
    #[inline(always)]
    pub(crate) fn get_dense_mut(&mut self, id: K) -> Option<&mut V> {
        let s = *self.dense.get(self.index(id.into()))?;
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
        matches!(self.dense.get(self.index(id.into())), Some(&UNKNOWN))
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
        let i = self.index(key);
        self.dense[i] = slot;
        self.live += 1;
    }

    /// Whether [`end_dense`](Table::end_dense) can end `id`: live in the
    /// dense index, and the free list has room for its slot.
    #[inline(always)]
    pub(crate) fn can_end_dense(&self, id: K) -> bool {
        matches!(self.dense.get(self.index(id.into())), Some(&s) if s < PARKED)
            && self.free.len() < self.free.capacity()
    }

    /// [`end`](Table::end) where [`can_end_dense`](Table::can_end_dense)
    /// said it can.
    #[inline(always)]
    pub(crate) fn end_dense(&mut self, id: K) {
        let key = self.index(id.into());
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
            if key >= self.base {
                self.ended.remove(key);
            }
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
        } else if key < self.base {
            self.set_below(key, if remember { ENDED } else { UNKNOWN });
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
        let below = key < self.base;
        if !(below || self.is_dense(key)) || tag >= ENDED - PARKED {
            return false;
        }
        self.release(key, false);
        if below {
            self.set_below(key, PARKED + tag);
        } else {
            self.set_dense(key, PARKED + tag);
        }
        true
    }

    /// The tag of a parked id.
    pub(crate) fn parked(&self, id: K) -> Option<u32> {
        let key = id.into();
        let s = match self.dense.get(self.index(key)) {
            Some(&s) => s,
            None if key < self.base => self.sparse_slot(key),
            None => return None,
        };
        (PARKED..ENDED).contains(&s).then(|| s - PARKED)
    }

    /// Every parked id, in id order.
    pub(crate) fn parked_ids(&self) -> Vec<K> {
        let is_parked = |s: u32| (PARKED..ENDED).contains(&s);
        let mut ids: Vec<u64> = self
            .below
            .ids_where(is_parked)
            .filter(|id| !self.sparse.contains_key(id))
            .chain(
                self.sparse
                    .iter()
                    .filter(|&(&id, &s)| id < self.base && is_parked(s))
                    .map(|(&id, _)| id),
            )
            .collect();
        ids.sort_unstable();
        ids.extend(
            (0..self.dense.len())
                .filter(|&i| is_parked(self.dense[i]))
                .map(|i| self.base + i as u64),
        );
        ids.into_iter().map(K::from).collect()
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
    use proptest::prelude::*;
    use std::collections::BTreeMap;

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

    /// What a table must say of an id, kept the plain way.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Known {
        Live(u32),
        Ended,
        Parked(u32),
    }

    fn said(t: &Table<ProtocolId, u32>, id: u64) -> Option<Known> {
        let p = ProtocolId(id);
        let answer = match t.parked(p) {
            Some(tag) => Some(Known::Parked(tag)),
            None => match t.get(p) {
                Some(&v) => Some(Known::Live(v)),
                None if t.is_ended(p) => Some(Known::Ended),
                None => None,
            },
        };
        // The other ways of asking agree.
        assert_eq!(
            t.is_live(p),
            matches!(answer, Some(Known::Live(_))),
            "is_live {id}"
        );
        assert_eq!(
            t.is_live_or_ended(p),
            matches!(answer, Some(Known::Live(_) | Known::Ended)),
            "is_live_or_ended {id}"
        );
        match (t.entry_of(p), answer) {
            (EntryKind::Live, Some(Known::Live(_)))
            | (EntryKind::Ended, Some(Known::Ended | Known::Parked(_)))
            | (EntryKind::Unknown, None) => {}
            (e, a) => panic!("entry {id}: {e:?}, but {a:?}"),
        }
        answer
    }

    #[derive(Debug)]
    enum EntryKind {
        Live,
        Ended,
        Unknown,
    }

    impl Table<ProtocolId, u32> {
        fn entry_of(&self, p: ProtocolId) -> EntryKind {
            let mut copy = self.clone();
            let kind = match copy.entry(p) {
                Entry::Live(_) => EntryKind::Live,
                Entry::Ended => EntryKind::Ended,
                Entry::Unknown => EntryKind::Unknown,
            };
            kind
        }
    }

    /// One step of a run of table operations: `pick` chooses among the
    /// ids seen so far, the newest most often, as life cycles do.
    #[derive(Clone, Debug)]
    enum Op {
        /// The next id in order (or one more after a gap).
        New {
            gap: bool,
        },
        /// A far id, as a hashed name gives.
        Far(u64),
        /// Ends an id, or parks it with tag 0 in a run that parks (as
        /// connectors are).
        End(usize),
        Forget(usize),
        Park(usize, u32),
        /// Makes a known id that is not live live again.
        Again(usize),
    }

    /// Weighted so that most blocks of ids end in order and leave the
    /// window, and each of the rarer shapes still comes up.
    fn op() -> impl Strategy<Value = Op> {
        let tag = prop_oneof![8 => Just(0u32), 1 => 1..3u32];
        prop_oneof![
            200 => Just(Op::New { gap: false }),
            1 => Just(Op::New { gap: true }),
            1 => any::<u64>().prop_map(|x| Op::Far(x | 1 << 40)),
            190 => any::<usize>().prop_map(Op::End),
            1 => any::<usize>().prop_map(Op::Forget),
            1 => (any::<usize>(), tag).prop_map(|(k, t)| Op::Park(k, t)),
            1 => any::<usize>().prop_map(Op::Again),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// The table (window, runs below the watermark, hash map and set
        /// beside them) says of every id what a plain map says, through
        /// thousands of ids made and ended in about the order they come.
        #[test]
        fn the_table_agrees_with_a_plain_map(ops in prop::collection::vec(op(), 4_000..15_000), lag in 1usize..300, parking: bool) {
            let mut t: Table<ProtocolId, u32> = Table::default();
            let mut model: BTreeMap<u64, Known> = BTreeMap::new();
            let mut seen: Vec<u64> = Vec::new();
            // Live ids, oldest first: they end in about that order.
            let mut live: Vec<u64> = Vec::new();
            let mut next = 1u64;
            let mut value = 0u32;
            for op in ops {
                // An id made again is among the `lag` newest; one that
                // ends among the `lag` oldest alive.
                let pick = |k: usize, seen: &[u64]| {
                    let window = seen.len().min(lag);
                    (window > 0).then(|| seen[seen.len() - 1 - k % window])
                };
                let oldest = |k: usize, live: &[u64]| {
                    let window = live.len().min(lag);
                    (window > 0).then(|| live[k % window])
                };
                let touched = match op {
                    Op::New { gap } => {
                        next += u64::from(gap);
                        let id = next;
                        next += 1;
                        Some((id, true))
                    }
                    Op::Far(id) => Some((id, true)),
                    Op::Again(k) => pick(k, &seen).map(|id| (id, true)),
                    Op::End(k) | Op::Forget(k) | Op::Park(k, _) => oldest(k, &live).map(|id| (id, false)),
                };
                let Some((id, make)) = touched else { continue };
                let now = model.get(&id).copied();
                if make {
                    if matches!(now, Some(Known::Live(_))) {
                        continue;
                    }
                    value += 1;
                    t.insert(ProtocolId(id), value);
                    model.insert(id, Known::Live(value));
                    live.push(id);
                    if now.is_none() {
                        seen.push(id);
                    }
                } else if let Some(Known::Live(_)) = now {
                    live.retain(|&l| l != id);
                    match op {
                        Op::End(_) if !parking => {
                            t.end(ProtocolId(id));
                            model.insert(id, Known::Ended);
                        }
                        Op::Forget(_) => {
                            t.forget(ProtocolId(id));
                            model.remove(&id);
                        }
                        Op::End(_) | Op::Park(..) => {
                            let tag = if let Op::Park(_, tag) = op { tag } else { 0 };
                            // As the checker does with a connector the
                            // table cannot park: it forgets it.
                            if t.park(ProtocolId(id), tag) {
                                model.insert(id, Known::Parked(tag));
                            } else {
                                t.forget(ProtocolId(id));
                                model.remove(&id);
                            }
                        }
                        _ => unreachable!(),
                    }
                }
                prop_assert_eq!(said(&t, id), model.get(&id).copied(), "id {}", id);
            }
            for (&id, &known) in &model {
                prop_assert_eq!(said(&t, id), Some(known), "id {}", id);
            }
            for id in 0..next + 10 {
                prop_assert_eq!(said(&t, id), model.get(&id).copied(), "id {}", id);
            }
            let live = model.values().filter(|k| matches!(k, Known::Live(_))).count();
            prop_assert_eq!(t.len(), live);
            let mut listed: Vec<(u64, u32)> = t.iter().map(|(p, &v)| (p.0, v)).collect();
            listed.sort_unstable();
            let wanted: Vec<(u64, u32)> = model
                .iter()
                .filter_map(|(&id, &k)| match k { Known::Live(v) => Some((id, v)), _ => None })
                .collect();
            prop_assert_eq!(listed, wanted);
            let parked: Vec<u64> = t.parked_ids().into_iter().map(|p| p.0).collect();
            let wanted: Vec<u64> = model
                .iter()
                .filter(|(_, k)| matches!(k, Known::Parked(_)))
                .map(|(&id, _)| id)
                .collect();
            prop_assert_eq!(parked, wanted);
        }
    }

    #[test]
    fn ids_ended_in_order_leave_the_window_as_one_run() {
        let mut t: Table<ProtocolId, u8> = Table::default();
        // Ten at a time alive, a million in all.
        for id in 1..=1_000_000u64 {
            t.insert(ProtocolId(id), 1);
            if id > 10 {
                t.end(ProtocolId(id - 10));
            }
        }
        assert!(t.is_ended(ProtocolId(1)) && t.is_ended(ProtocolId(999_990)));
        assert!(t.is_live(ProtocolId(999_991)));
        assert!(matches!(t.entry(ProtocolId(1_000_001)), Entry::Unknown));
        assert!(matches!(t.entry(ProtocolId(0)), Entry::Unknown));
        // Id 0 was never seen: a run of its own, then the ended ones.
        assert!(t.below.len() <= 2, "{} runs", t.below.len());
        assert!(
            t.dense.len() <= 4 * BLOCK,
            "a window of {} ids",
            t.dense.len()
        );
        assert!(t.sparse.is_empty() && t.ended.is_empty());
    }

    #[test]
    fn a_long_lived_id_does_not_hold_the_window_back() {
        let mut t: Table<ProtocolId, u8> = Table::default();
        t.insert(ProtocolId(1), 9);
        for id in 2..=100_000u64 {
            t.insert(ProtocolId(id), 1);
            t.end(ProtocolId(id));
        }
        assert_eq!(t.get(ProtocolId(1)), Some(&9));
        assert!(
            t.dense.len() <= 4 * BLOCK,
            "a window of {} ids",
            t.dense.len()
        );
        assert_eq!(t.sparse.len(), 1, "the live one, below the watermark");
        t.end(ProtocolId(1));
        assert!(t.is_ended(ProtocolId(1)));
        assert!(t.sparse.is_empty(), "its mark is its run's");
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
