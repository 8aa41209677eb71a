//! Sets of user ids kept per message and per group: the checker's readers of a message
//! (`invoked`, `acked`), and a group's members in the model and the checker. Most hold a few
//! dozen users. Over a large population a RoaringBitmap spends a container (~50 bytes) per
//! sparse user id (a 16-member set over a million ids: ~720 heap bytes, against 88 in a
//! vector), so small sets are a sorted vector and only large ones a bitmap.

use roaring::RoaringBitmap;

/// Members up to this many live in the sorted vector; past it, in a bitmap.
const SMALL_MAX: usize = 32;

/// A set of user ids, sorted vector while small, bitmap once large.
#[derive(Clone, Debug, PartialEq)]
pub enum UserSet {
    Small(Vec<u32>),
    Large(RoaringBitmap),
}

impl Default for UserSet {
    fn default() -> Self {
        UserSet::Small(Vec::new())
    }
}

impl UserSet {
    pub fn contains(&self, u: u32) -> bool {
        match self {
            UserSet::Small(v) => v.binary_search(&u).is_ok(),
            UserSet::Large(b) => b.contains(u),
        }
    }

    /// Removes `u`; false if it was not there.
    pub fn remove(&mut self, u: u32) -> bool {
        match self {
            UserSet::Large(b) => b.remove(u),
            UserSet::Small(v) => match v.binary_search(&u) {
                Ok(at) => {
                    v.remove(at);
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// Adds `u`; false if it was there already.
    pub fn insert(&mut self, u: u32) -> bool {
        match self {
            UserSet::Large(b) => b.insert(u),
            UserSet::Small(v) => match v.binary_search(&u) {
                Ok(_) => false,
                Err(at) if v.len() < SMALL_MAX => {
                    v.insert(at, u);
                    true
                }
                Err(_) => {
                    let mut b: RoaringBitmap = v.iter().copied().collect();
                    b.insert(u);
                    *self = UserSet::Large(b);
                    true
                }
            },
        }
    }

    pub fn len(&self) -> u64 {
        match self {
            UserSet::Small(v) => v.len() as u64,
            UserSet::Large(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            UserSet::Small(v) => Iter::Small(v.iter()),
            UserSet::Large(b) => Iter::Large(b.iter()),
        }
    }

    /// The members from `from` on, in ascending order.
    pub fn iter_from(&self, from: u32) -> Iter<'_> {
        match self {
            UserSet::Small(v) => Iter::Small(v[v.partition_point(|&u| u < from)..].iter()),
            UserSet::Large(b) => Iter::Large(b.range(from..)),
        }
    }

    /// The same members as a bitmap, for set algebra (pagings, final checks: not per event).
    pub fn to_bitmap(&self) -> RoaringBitmap {
        match self {
            UserSet::Small(v) => v.iter().copied().collect(),
            UserSet::Large(b) => b.clone(),
        }
    }
}

/// The members of a [`UserSet`], ascending.
pub enum Iter<'a> {
    Small(std::slice::Iter<'a, u32>),
    Large(roaring::bitmap::Iter<'a>),
}

impl Iterator for Iter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        match self {
            Iter::Small(i) => i.next().copied(),
            Iter::Large(i) => i.next(),
        }
    }
}

impl FromIterator<u32> for UserSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> Self {
        let mut set = UserSet::default();
        set.extend(iter);
        set
    }
}

impl Extend<u32> for UserSet {
    fn extend<I: IntoIterator<Item = u32>>(&mut self, iter: I) {
        for u in iter {
            self.insert(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Whatever is inserted and removed, the set answers as an ordered set would, across
        /// the switch from vector to bitmap.
        #[test]
        fn answers_as_an_ordered_set(ids in proptest::collection::vec(0u32..2_000_000, 0..120)) {
            let mut set = UserSet::default();
            let mut model = BTreeSet::new();
            for &u in &ids {
                prop_assert_eq!(set.insert(u), model.insert(u));
                prop_assert_eq!(set.len(), model.len() as u64);
            }
            prop_assert_eq!(matches!(set, UserSet::Large(_)), model.len() > SMALL_MAX);
            for &u in &ids {
                prop_assert!(set.contains(u));
                prop_assert!(!set.contains(u ^ 1) || model.contains(&(u ^ 1)));
            }
            let listed: Vec<u32> = set.iter().collect();
            prop_assert_eq!(&listed, &model.iter().copied().collect::<Vec<_>>());
            let bitmap: Vec<u32> = set.to_bitmap().iter().collect();
            prop_assert_eq!(bitmap, listed);
            for &u in ids.iter().step_by(3) {
                let from: Vec<u32> = set.iter_from(u).collect();
                prop_assert_eq!(from, model.range(u..).copied().collect::<Vec<_>>());
                prop_assert_eq!(set.remove(u), model.remove(&u));
                prop_assert!(!set.contains(u));
                prop_assert_eq!(set.len(), model.len() as u64);
            }
            let rebuilt: UserSet = model.iter().copied().collect();
            prop_assert_eq!(rebuilt.iter().collect::<Vec<_>>(), set.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_small_set_stays_a_vector_until_it_passes_the_limit() {
        let mut set = UserSet::default();
        set.extend((0..SMALL_MAX as u32).map(|i| i * 65_537));
        assert!(matches!(&set, UserSet::Small(v) if v.len() == SMALL_MAX));
        assert!(!set.insert(0), "a repeat changes nothing");
        assert!(matches!(set, UserSet::Small(_)));
        assert!(set.insert(7));
        assert!(matches!(&set, UserSet::Large(b) if b.len() == SMALL_MAX as u64 + 1));
    }
}
