//! Events waiting for the timeline: a bounded FIFO without duplicates.

use rustc_hash::FxHashSet;
use std::collections::VecDeque;
use std::hash::Hash;

#[derive(Debug)]
pub(super) struct Pending<T> {
    order: VecDeque<T>,
    /// The same items, so a replayed batch finds its duplicates without a scan.
    set: FxHashSet<T>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Pending {
            order: VecDeque::new(),
            set: FxHashSet::default(),
        }
    }
}

impl<T: Hash + Eq + Clone> Pending<T> {
    /// Keeps `item` unless it waits already; past `cap` items the oldest goes. Returns
    /// whether one was dropped.
    pub fn push(&mut self, item: T, cap: usize) -> bool {
        if self.set.contains(&item) {
            return false;
        }
        let mut dropped = false;
        if self.order.len() >= cap
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
            dropped = true;
        }
        self.set.insert(item.clone());
        self.order.push_back(item);
        dropped
    }

    /// Everything waiting, oldest first, leaving nothing.
    pub fn take(&mut self) -> VecDeque<T> {
        self.set.clear();
        std::mem::take(&mut self.order)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_drops_duplicates_and_the_oldest_past_the_cap() {
        let mut p = Pending::default();
        assert!(!p.push(1, 3));
        assert!(!p.push(2, 3));
        assert!(!p.push(1, 3));
        assert!(!p.push(3, 3));
        assert!(p.push(4, 3));
        assert_eq!(p.len(), 3);
        // 1 was dropped, so it may wait again.
        assert!(p.push(1, 3));
        assert_eq!(Vec::from(p.take()), [3, 4, 1]);
        assert_eq!(p.len(), 0);
        assert!(!p.push(3, 3));
    }
}
