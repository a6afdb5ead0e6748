//! The marks of every id below a watermark, as runs of equal marks.
//!
//! A table's window of ids moves on as a trace goes (`table.rs`); the ids it
//! leaves behind were mostly ended, or parked with one factory's tag, one
//! after another. Kept as runs, a million ids ended in order cost one run of
//! 12 bytes, not a million marks.

/// The marks of the ids `0..end`, run by run (the tests below show it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Runs {
    /// The first id of each run, ascending; the first is 0.
    starts: Vec<u64>,
    /// Each run's mark; no two neighbours are equal.
    marks: Vec<u32>,
    /// One past the last id.
    end: u64,
}

impl Runs {
    /// Adds the next id, `end`, with its mark.
    pub(crate) fn push(&mut self, id: u64, mark: u32) {
        debug_assert_eq!(id, self.end, "ids are added in order");
        if self.marks.last() != Some(&mark) {
            self.starts.push(id);
            self.marks.push(mark);
        }
        self.end = id + 1;
    }

    /// The mark of an id below `end`.
    pub(crate) fn mark(&self, id: u64) -> u32 {
        debug_assert!(id < self.end, "id {id} is below the watermark {}", self.end);
        let run = self.starts.partition_point(|&start| start <= id);
        self.marks[run - 1]
    }

    /// The mark of the last id, or `otherwise` when there is none.
    pub(crate) fn last_mark_or(&self, otherwise: u32) -> u32 {
        self.marks.last().copied().unwrap_or(otherwise)
    }

    /// How many runs there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.marks.len()
    }

    /// Every id whose mark passes `pred`, in order.
    pub(crate) fn ids_where<'a>(
        &'a self,
        pred: impl Fn(u32) -> bool + 'a,
    ) -> impl Iterator<Item = u64> + 'a {
        let ends = self.starts.iter().skip(1).copied().chain([self.end]);
        self.starts
            .iter()
            .zip(ends)
            .zip(&self.marks)
            .filter(move |(_, &mark)| pred(mark))
            .flat_map(|((&start, end), _)| start..end)
    }
}

#[cfg(test)]
mod tests {
    use super::Runs;

    #[test]
    fn equal_neighbours_share_a_run() {
        let mut runs = Runs::default();
        let marks = [7, 7, 9, 7, 7, 7, 3];
        for (id, &mark) in marks.iter().enumerate() {
            runs.push(id as u64, mark);
        }
        assert_eq!(runs.len(), 4);
        for (id, &mark) in marks.iter().enumerate() {
            assert_eq!(runs.mark(id as u64), mark, "id {id}");
        }
        assert_eq!(
            runs.ids_where(|m| m == 7).collect::<Vec<_>>(),
            [0, 1, 3, 4, 5]
        );
        assert_eq!(runs.last_mark_or(0), 3);
        assert_eq!(Runs::default().last_mark_or(5), 5);
    }
}
