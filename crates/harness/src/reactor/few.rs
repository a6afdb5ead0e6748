//! A set for the handful of items the reactor keeps in flight.

/// A set of a few items, kept in a vector: the callbacks running at once and
/// the records still open are a handful, so a scan beats a tree, and the
/// vector keeps its capacity from one callback to the next.
#[derive(Debug)]
pub(super) struct Few<T>(Vec<T>);

impl<T> Default for Few<T> {
    fn default() -> Self {
        Few(Vec::new())
    }
}

impl<T: PartialEq + Copy> Few<T> {
    pub(super) fn insert(&mut self, item: T) {
        if !self.contains(&item) {
            self.0.push(item);
        }
    }

    pub(super) fn remove(&mut self, item: &T) {
        if let Some(i) = self.0.iter().position(|x| x == item) {
            self.0.swap_remove(i);
        }
    }

    #[inline]
    pub(super) fn contains(&self, item: &T) -> bool {
        self.0.contains(item)
    }

    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::Few;

    #[test]
    fn an_item_is_in_the_set_once_until_removed() {
        let mut few = Few::default();
        few.insert(3);
        few.insert(3);
        few.insert(5);
        assert!(few.contains(&3) && few.contains(&5));
        few.remove(&3);
        assert!(!few.contains(&3) && few.contains(&5));
        few.remove(&3);
        few.remove(&5);
        assert!(few.is_empty());
    }
}
