//! The trace as the run writes it.

use std::collections::VecDeque;

use callorder_trace::{Record, Step};

use super::few::Few;

/// How many let-go records wait before they are dropped together: a drain
/// drops them in place, where popping them one at a time moved each out.
const TRIM_BATCH: usize = 64;

/// The records of a run, addressed by index (seq - 1).
///
/// A callback's record is written when it begins and completed when it
/// returns (its `error`, the protocol a build made), and the checker judges
/// records in order once their outcome is known. So the records from the
/// first unjudged one on are always held; the judged ones before it are
/// held all (the default) or only the last few
/// ([`MockReactor::keep_last`](crate::MockReactor::keep_last)), so that a
/// long run's memory follows its live objects, not its length.
pub(super) struct Recording {
    records: VecDeque<Record>,
    /// The index of `records[0]`: how many records were dropped.
    first: usize,
    /// The index of the first record held, as far as anyone can tell: the
    /// ones before it (from `first` on) are let go of already, but dropped
    /// in batches ([`TRIM_BATCH`]), not one by one as each is judged.
    held_from: usize,
    /// Judged records to keep; `None`: all of them.
    keep: Option<usize>,
    /// Records of callbacks still running: their outcome is not known, so
    /// neither they nor anything after them can be judged yet.
    open: Few<usize>,
    /// How many records were judged (or passed over, with the checker off).
    judged: usize,
}

impl Recording {
    pub(super) fn new() -> Self {
        Recording {
            records: VecDeque::new(),
            first: 0,
            held_from: 0,
            keep: None,
            open: Few::default(),
            judged: 0,
        }
    }

    pub(super) fn keep_last(&mut self, n: usize) {
        self.keep = Some(n);
    }

    /// Room for `n` more records, when every record is kept (a run that
    /// keeps only a few reaches its size by itself).
    pub(super) fn reserve(&mut self, n: usize) {
        if self.keep.is_none() {
            self.records.reserve(n);
        }
    }

    /// How many records were written: the last seq.
    pub(super) fn len(&self) -> usize {
        self.first + self.records.len()
    }

    /// Appends a record; `open`: a callback whose outcome is not known yet.
    /// Its index.
    #[inline]
    pub(super) fn push(&mut self, record: Record, open: bool) -> usize {
        let idx = self.len();
        self.records.push_back(record);
        if open {
            self.open.insert(idx);
        }
        idx
    }

    /// The record at `idx`, if it is held. Records not judged yet always
    /// are.
    pub(super) fn get(&self, idx: usize) -> Option<&Record> {
        if idx < self.held_from {
            return None;
        }
        self.records.get(idx - self.first)
    }

    /// The record at `idx`, which must not be judged yet.
    pub(super) fn unjudged_mut(&mut self, idx: usize) -> &mut Record {
        debug_assert!(idx >= self.judged, "record {idx} was judged already");
        &mut self.records[idx - self.first]
    }

    /// The last record written, if it is held. It may have been judged:
    /// change only what the checker does not read (its `data`).
    pub(super) fn last_mut(&mut self) -> Option<&mut Record> {
        let idx = self.len().checked_sub(1)?;
        if idx < self.held_from {
            return None;
        }
        self.records.back_mut()
    }

    pub(super) fn is_open(&self, idx: usize) -> bool {
        self.open.contains(&idx)
    }

    /// The callback of record `idx` returned: its outcome is known.
    pub(super) fn close(&mut self, idx: usize) {
        self.open.remove(&idx);
    }

    /// The next record to judge: its outcome is known and every record
    /// before it was judged.
    pub(super) fn next_to_judge(&self) -> Option<&Step> {
        if self.judged < self.len() && !self.open.contains(&self.judged) {
            self.get(self.judged).map(|r| &r.step)
        } else {
            None
        }
    }

    /// The record from [`next_to_judge`](Self::next_to_judge) was judged.
    pub(super) fn judged_one(&mut self) {
        self.judged += 1;
        if let Some(keep) = self.keep {
            // Let go of the oldest records while more than `keep` are held,
            // judged ones only.
            let held_from = self.judged.min(self.len().saturating_sub(keep));
            if held_from > self.held_from {
                self.held_from = held_from;
                if self.held_from - self.first >= TRIM_BATCH {
                    self.trim();
                }
            }
        }
    }

    /// Drops the records let go of.
    fn trim(&mut self) {
        self.records.drain(..self.held_from - self.first);
        self.first = self.held_from;
    }

    /// The records held so far, in order (all of them unless only the
    /// last few are kept).
    pub(super) fn held(&self) -> impl Iterator<Item = &Record> {
        self.records.iter().skip(self.held_from - self.first)
    }

    /// The records held, in order.
    pub(super) fn into_records(mut self) -> Vec<Record> {
        self.trim();
        self.records.into()
    }
}

#[cfg(test)]
mod tests {
    use callorder_trace::{Event, FactoryId, Record, Step};

    use super::Recording;

    fn record(seq: u64) -> Record {
        Record::new(Step::new(
            seq,
            Event::StartFactory {
                factory: FactoryId(1),
            },
        ))
    }

    #[test]
    fn every_record_is_kept_by_default() {
        let mut r = Recording::new();
        for seq in 1..=5 {
            r.push(record(seq), false);
            assert!(r.next_to_judge().is_some());
            r.judged_one();
        }
        let seqs: Vec<u64> = r.into_records().iter().map(|r| r.step.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn keeping_the_last_few_lets_judged_records_go() {
        let mut r = Recording::new();
        r.keep_last(2);
        for seq in 1..=5 {
            r.push(record(seq), false);
            r.judged_one();
        }
        assert_eq!(r.len(), 5, "indices go on counting");
        assert!(r.get(2).is_none(), "let go of");
        let seqs: Vec<u64> = r.into_records().iter().map(|r| r.step.seq).collect();
        assert_eq!(seqs, [4, 5]);
    }

    #[test]
    fn an_open_record_and_everything_after_it_stay_until_judged() {
        let mut r = Recording::new();
        r.keep_last(0);
        let open = r.push(record(1), true);
        r.push(record(2), false);
        r.push(record(3), false);
        assert!(r.next_to_judge().is_none(), "the first is still running");
        r.unjudged_mut(open).step.failed = true;
        r.close(open);
        let mut judged = Vec::new();
        while let Some(step) = r.next_to_judge() {
            judged.push((step.seq, step.failed));
            r.judged_one();
        }
        assert_eq!(judged, [(1, true), (2, false), (3, false)]);
        assert!(r.into_records().is_empty());
    }
}
