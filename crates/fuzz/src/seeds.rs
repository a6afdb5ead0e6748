//! Sharding a campaign over CI machines by seed range:
//! `CALLORDER_FUZZ_SEED=START..END` runs one case per seed in `START..END`
//! (END excluded), case `s` being the first case of the campaign seeded
//! `s`. Shards with disjoint ranges run disjoint cases, and ranges that
//! tile `0..N` run exactly the cases of `0..N`, whichever way they are cut.
//! `CALLORDER_FUZZ_CASES` does not apply: the range says how many.
//!
//! A failure at seed `s` replays with `CALLORDER_FUZZ_SEED=s..s+1` (or
//! `CALLORDER_FUZZ_SEED=s`, whose campaign starts with the same case).

use std::ops::Range;

use crate::fuzz::SEED_ENV;

/// The seed range [`SEED_ENV`] holds, if it holds one.
///
/// # Errors
///
/// A value with `..` that is not `START..END` with `START < END`.
pub(crate) fn range_from_env() -> Result<Option<Range<u64>>, String> {
    match std::env::var(SEED_ENV) {
        Ok(value) => parse_range(&value),
        Err(_) => Ok(None),
    }
}

/// `START..END` as a range; `None` for a value without `..` (a seed, or
/// `random`).
///
/// # Errors
///
/// A value with `..` that is not two whole numbers with `START < END`.
pub(crate) fn parse_range(value: &str) -> Result<Option<Range<u64>>, String> {
    let Some((start, end)) = value.trim().split_once("..") else {
        return Ok(None);
    };
    let bad =
        || format!("{SEED_ENV}={value:?}: expected START..END, two whole numbers with START < END");
    let start: u64 = start.parse().map_err(|_| bad())?;
    let end: u64 = end.parse().map_err(|_| bad())?;
    if start >= end {
        return Err(bad());
    }
    Ok(Some(start..end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_and_seeds_do_not() {
        assert_eq!(parse_range("10..20"), Ok(Some(10..20)));
        assert_eq!(parse_range(" 0..1 "), Ok(Some(0..1)));
        assert_eq!(parse_range("7"), Ok(None));
        assert_eq!(parse_range("random"), Ok(None));
        for bad in ["5..5", "9..3", "a..3", "1..", "..4", "1..=4"] {
            assert!(
                parse_range(bad)
                    .unwrap_err()
                    .contains("expected START..END"),
                "{bad}"
            );
        }
    }
}
