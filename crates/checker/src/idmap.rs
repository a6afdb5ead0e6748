//! Hash maps keyed by object ids.
//!
//! Ids are already well-mixed 64-bit hashes (from trace files) or small
//! sequential numbers (from callorder's reactors). Either way one folded
//! multiply spreads them over the table; SipHash would cost more than the rest
//! of a checker step.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for one `u64` key: a folded 128-bit multiply.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys that are not plain u64 newtypes; fold them in.
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(buf));
        }
    }

    fn write_u64(&mut self, x: u64) {
        let full = u128::from(self.0 ^ x).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        self.0 = (full as u64) ^ ((full >> 64) as u64);
    }
}

/// A map keyed by an id type.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// A set of 64-bit ids, as small as an exact set can be: open addressing
/// with linear probing over a plain `Vec<u64>`, filled up to 90% and grown
/// by half, so it costs about 10 bytes per id (a `HashSet` costs 9 to 18,
/// and twice that while it doubles). For the ids of ended objects, which a
/// long trace accumulates by the million.
#[derive(Debug, Default)]
pub struct CompactSet {
    slots: Vec<u64>,
    len: usize,
    /// Whether 0 is in the set: 0 marks an empty slot.
    zero: bool,
}

impl Clone for CompactSet {
    fn clone(&self) -> Self {
        CompactSet {
            slots: self.slots.clone(),
            len: self.len,
            zero: self.zero,
        }
    }

    /// Reuses this set's allocation (for the checker's probes).
    fn clone_from(&mut self, source: &Self) {
        self.slots.clone_from(&source.slots);
        self.len = source.len;
        self.zero = source.zero;
    }
}

impl CompactSet {
    #[inline]
    fn home(&self, key: u64) -> usize {
        // Multiply-shift onto any capacity, not just powers of two.
        let mixed = IdHasher::default().mix(key);
        ((u128::from(mixed) * self.slots.len() as u128) >> 64) as usize
    }

    /// Whether `key` is in the set.
    #[inline]
    pub fn contains(&self, key: u64) -> bool {
        if key == 0 {
            return self.zero;
        }
        if self.slots.is_empty() {
            return false;
        }
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => return false,
                k if k == key => return true,
                _ => i = if i + 1 == self.slots.len() { 0 } else { i + 1 },
            }
        }
    }

    /// Adds `key`; whether it was new.
    pub fn insert(&mut self, key: u64) -> bool {
        if key == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        if (self.len + 1) * 10 > self.slots.len() * 9 {
            self.grow();
        }
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = key;
                    self.len += 1;
                    return true;
                }
                k if k == key => return false,
                _ => i = if i + 1 == self.slots.len() { 0 } else { i + 1 },
            }
        }
    }

    /// Removes `key`; whether it was there.
    pub fn remove(&mut self, key: u64) -> bool {
        if key == 0 {
            return std::mem::replace(&mut self.zero, false);
        }
        if self.slots.is_empty() {
            return false;
        }
        let n = self.slots.len();
        let mut i = self.home(key);
        loop {
            match self.slots[i] {
                0 => return false,
                k if k == key => break,
                _ => i = if i + 1 == n { 0 } else { i + 1 },
            }
        }
        // Backward-shift deletion keeps every probe chain unbroken.
        self.slots[i] = 0;
        self.len -= 1;
        let mut hole = i;
        let mut j = if i + 1 == n { 0 } else { i + 1 };
        while self.slots[j] != 0 {
            let home = self.home(self.slots[j]);
            // Move the entry into the hole if its home is not in (hole, j].
            let between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !between {
                self.slots[hole] = self.slots[j];
                self.slots[j] = 0;
                hole = j;
            }
            j = if j + 1 == n { 0 } else { j + 1 };
        }
        true
    }

    /// How many ids are in the set.
    pub fn len(&self) -> usize {
        self.len + usize::from(self.zero)
    }

    /// The ids, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.zero
            .then_some(0)
            .into_iter()
            .chain(self.slots.iter().copied().filter(|&k| k != 0))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 3 / 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.len = 0;
        for key in old.into_iter().filter(|&k| k != 0) {
            self.insert(key);
        }
    }
}

impl IdHasher {
    #[inline]
    fn mix(mut self, x: u64) -> u64 {
        self.write_u64(x);
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::CompactSet;
    use std::collections::HashSet;

    #[test]
    fn compact_set_agrees_with_a_hash_set_under_churn() {
        let mut ours = CompactSet::default();
        let mut theirs = HashSet::new();
        let mut x: u64 = 0x1234_5678;
        for step in 0..200_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = if step % 7 == 0 { x % 64 } else { x >> 20 };
            if step % 3 == 0 {
                assert_eq!(ours.remove(key), theirs.remove(&key), "remove {key}");
            } else {
                assert_eq!(ours.insert(key), theirs.insert(key), "insert {key}");
            }
            if step % 1000 == 0 {
                for k in theirs.iter().take(50) {
                    assert!(ours.contains(*k));
                }
                assert_eq!(ours.len(), theirs.len());
            }
        }
    }
}
