//! Each user's conversations, packed: one flat array of conversation codes (a group's id, or
//! the number of groups plus a pair's index) and one offset per user. A `Vec<ConvKey>` per
//! user cost ~90 bytes a user (header, 12-byte keys, growth slack); this is ~4 + 4 per
//! conversation, which at a million users is the difference between ~90 MB and ~18 MB.

use crate::protocol::{ConvKey, GroupId, UserId};

/// The conversations of every user, in the order they were listed.
#[derive(Clone, Debug, Default)]
pub struct UserConvs {
    /// User `u`'s codes are `codes[start[u]..start[u + 1]]`.
    start: Vec<u32>,
    codes: Vec<u32>,
    /// Codes below this are groups; the rest are pairs (code - groups).
    groups: u32,
    /// The pairs codes index, copied so a code decodes without the plan.
    pairs: Vec<(UserId, UserId)>,
}

impl UserConvs {
    /// Each user's groups in id order, then its pairs in the order drawn (the order draws
    /// index into).
    pub fn build<'a>(
        users: usize,
        groups: impl Iterator<Item = &'a [UserId]> + Clone,
        pairs: &[(UserId, UserId)],
    ) -> UserConvs {
        let mut count = vec![0u32; users + 1];
        let mut base = 0u32;
        for u in groups.clone().flatten() {
            count[u.0 as usize + 1] += 1;
        }
        for &(lo, hi) in pairs {
            count[lo.0 as usize + 1] += 1;
            count[hi.0 as usize + 1] += 1;
        }
        for i in 1..count.len() {
            count[i] += count[i - 1];
        }
        let start = count.clone();
        let mut next = count;
        let mut codes = vec![0u32; start[users] as usize];
        let mut put = |u: UserId, code: u32| {
            let at = &mut next[u.0 as usize];
            codes[*at as usize] = code;
            *at += 1;
        };
        for (g, members) in groups.enumerate() {
            for &u in members {
                put(u, g as u32);
            }
            base += 1;
        }
        for (i, &(lo, hi)) in pairs.iter().enumerate() {
            put(lo, base + i as u32);
            put(hi, base + i as u32);
        }
        UserConvs {
            start,
            codes,
            groups: base,
            pairs: pairs.to_vec(),
        }
    }

    fn codes(&self, u: UserId) -> &[u32] {
        let i = u.0 as usize;
        &self.codes[self.start[i] as usize..self.start[i + 1] as usize]
    }

    fn decode(&self, code: u32) -> ConvKey {
        match code.checked_sub(self.groups) {
            None => ConvKey::Group(GroupId(code)),
            Some(p) => {
                let (lo, hi) = self.pairs[p as usize];
                ConvKey::Pair(lo, hi)
            }
        }
    }

    /// How many conversations `u` is in.
    pub fn count(&self, u: UserId) -> usize {
        self.codes(u).len()
    }

    /// `u`'s `i`th conversation.
    pub fn get(&self, u: UserId, i: usize) -> ConvKey {
        self.decode(self.codes(u)[i])
    }

    /// `u`'s conversations, in order.
    pub fn of(&self, u: UserId) -> impl Iterator<Item = ConvKey> + '_ {
        self.codes(u).iter().map(|&c| self.decode(c))
    }

    /// Keeps only the conversations `keep` accepts, each user's in the same order.
    pub fn retain(&mut self, keep: impl Fn(ConvKey) -> bool) {
        let mut codes = Vec::with_capacity(self.codes.len());
        let mut start = Vec::with_capacity(self.start.len());
        start.push(0);
        for u in 0..self.start.len() - 1 {
            let user = UserId(u as u32);
            codes.extend(self.codes(user).iter().filter(|&&c| keep(self.decode(c))));
            start.push(codes.len() as u32);
        }
        codes.shrink_to_fit();
        self.codes = codes;
        self.start = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_groups_in_id_order_then_pairs_and_keeps_order_when_filtered() {
        let u = UserId;
        let groups: Vec<Vec<UserId>> = vec![vec![u(0), u(2)], vec![u(2)], vec![]];
        let pairs = vec![(u(1), u(2)), (u(0), u(2))];
        let mut c = UserConvs::build(4, groups.iter().map(Vec::as_slice), &pairs);
        let g = |n| ConvKey::Group(GroupId(n));
        let p = |a, b| ConvKey::Pair(u(a), u(b));
        assert_eq!(c.of(u(0)).collect::<Vec<_>>(), [g(0), p(0, 2)]);
        assert_eq!(
            c.of(u(2)).collect::<Vec<_>>(),
            [g(0), g(1), p(1, 2), p(0, 2)]
        );
        assert_eq!(c.count(u(3)), 0);
        assert_eq!(c.get(u(1), 0), p(1, 2));
        c.retain(|k| k != g(0));
        assert_eq!(c.of(u(2)).collect::<Vec<_>>(), [g(1), p(1, 2), p(0, 2)]);
        assert_eq!(c.of(u(0)).collect::<Vec<_>>(), [p(0, 2)]);
        assert_eq!(c.count(u(3)), 0);
    }
}
