//! Sharding a suite over CI machines: `--partition K/N` keeps the cases
//! whose index, in id order, is `K - 1` modulo `N`, the meaning
//! cargo-nextest gives `--partition count:K/N`. Every case is in exactly
//! one of the `N` shards, and shards differ in size by at most one case.

use std::fmt;
use std::str::FromStr;

/// Shard `shard` of `total`, both from 1.
///
/// ```
/// use callorder_cli::partition::Partition;
/// let p: Partition = "2/3".parse().unwrap();
/// let ids = ["a", "b", "c", "d", "e"];
/// let kept: Vec<&str> = p.select(ids.to_vec());
/// assert_eq!(kept, ["b", "e"]);
/// // `count:` is accepted too, as nextest writes it.
/// assert_eq!("count:2/3".parse::<Partition>(), Ok(p));
/// assert!("0/3".parse::<Partition>().is_err());
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// This shard, from 1.
    pub shard: usize,
    /// How many shards there are.
    pub total: usize,
}

impl Partition {
    /// Whether the case at `index` (from 0, in id order) is in this shard.
    pub fn contains(self, index: usize) -> bool {
        index % self.total == self.shard - 1
    }

    /// The items (sorted by the caller) in this shard, in order.
    pub fn select<T>(self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(i, _)| self.contains(*i))
            .map(|(_, item)| item)
            .collect()
    }
}

impl FromStr for Partition {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?}: expected K/N with 1 <= K <= N, such as 1/4");
        let body = text.strip_prefix("count:").unwrap_or(text);
        let (k, n) = body.split_once('/').ok_or_else(bad)?;
        let shard: usize = k.parse().map_err(|_| bad())?;
        let total: usize = n.parse().map_err(|_| bad())?;
        if shard == 0 || shard > total {
            return Err(bad());
        }
        Ok(Partition { shard, total })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.shard, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_case_once() {
        for total in 1..6 {
            let mut seen = vec![0; 23];
            for shard in 1..=total {
                for i in (Partition { shard, total }).select((0..23).collect()) {
                    seen[i] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{total}: {seen:?}");
        }
    }

    #[test]
    fn malformed_partitions_say_what_is_expected() {
        for bad in ["", "1", "a/2", "3/2", "1/0", "hash:1/2"] {
            let err = bad.parse::<Partition>().unwrap_err();
            assert!(err.contains("expected K/N"), "{bad}: {err}");
        }
    }
}
