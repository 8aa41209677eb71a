//! A message's readers in the model: commit order, and a fast membership test.

use crate::protocol::UserId;
use roaring::RoaringBitmap;

/// Readers up to this many are looked up by scanning `Readers::order`; past it a bitmap
/// answers. Over a million user ids a small reader set is sparse, and a RoaringBitmap costs
/// ~50 bytes per sparse reader (a container each) against 4 in the vector.
const READERS_SCAN_MAX: usize = 32;

#[derive(Clone, Debug, Default)]
pub(super) struct Readers {
    /// Readers in the order their receipts were committed: the read list's stable order.
    pub(super) order: Vec<UserId>,
    /// The same readers, once there are more than [`READERS_SCAN_MAX`].
    set: Option<RoaringBitmap>,
}

impl Readers {
    pub(super) fn contains(&self, u: UserId) -> bool {
        match &self.set {
            Some(set) => set.contains(u.0),
            None => self.order.contains(&u),
        }
    }

    /// Adds `u`; false if it had read already.
    pub(super) fn insert(&mut self, u: UserId) -> bool {
        if self.contains(u) {
            return false;
        }
        self.order.push(u);
        match &mut self.set {
            Some(set) => {
                set.insert(u.0);
            }
            None if self.order.len() > READERS_SCAN_MAX => {
                self.set = Some(self.order.iter().map(|r| r.0).collect());
            }
            None => {}
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_scan_limit_the_bitmap_answers_the_same() {
        let mut r = Readers::default();
        let ids: Vec<u32> = (0..100).map(|i| (i * 7919) % 1_000_003).collect();
        for (n, &u) in ids.iter().enumerate() {
            assert!(r.insert(UserId(u)), "reader {n} is new");
            assert!(!r.insert(UserId(u)), "reader {n} twice");
            assert_eq!(r.set.is_some(), n + 1 > READERS_SCAN_MAX);
        }
        assert!(ids.iter().all(|&u| r.contains(UserId(u))));
        assert!(!r.contains(UserId(5)));
        let order: Vec<u32> = r.order.iter().map(|u| u.0).collect();
        assert_eq!(order, ids, "commit order kept");
    }
}
