//! Group membership as this workload's churn changed it: one record per group (who is a
//! member, who of them is online, who left), plus the groups each user joined.

use super::Plan;
use crate::protocol::{GroupId, UserId};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

/// The members of one group.
#[derive(Clone, Debug, Default)]
struct GroupMembers {
    /// Who is a member now, for fast tests.
    set: RoaringBitmap,
    /// Every member: planned ones in id order, then joiners in join order. Draws index into
    /// it, so its order is part of what a seed does.
    all: Vec<UserId>,
    /// The online members, in the same order; senders are drawn from them.
    online: Vec<UserId>,
    /// Users who left or were kicked, for re-joins (draws index into it too).
    left: Vec<UserId>,
}

/// Current membership of every group, and the groups each online user joined during the run
/// (their catch-up covers those too).
pub(super) struct Membership {
    groups: Vec<GroupMembers>,
    joined: FxHashMap<UserId, Vec<GroupId>>,
}

impl Membership {
    /// Membership as planned, before any churn.
    pub(super) fn from_plan(plan: &Plan) -> Membership {
        let groups = plan
            .groups
            .iter()
            .map(|g| GroupMembers {
                set: g.members.iter().map(|u| u.0).collect(),
                all: g.members.clone(),
                online: g.online_members.clone(),
                left: Vec::new(),
            })
            .collect();
        Membership {
            groups,
            joined: FxHashMap::default(),
        }
    }

    fn group(&self, g: GroupId) -> &GroupMembers {
        &self.groups[g.0 as usize]
    }

    pub(super) fn contains(&self, g: GroupId, user: UserId) -> bool {
        self.group(g).set.contains(user.0)
    }

    pub(super) fn all(&self, g: GroupId) -> &[UserId] {
        &self.group(g).all
    }

    pub(super) fn online(&self, g: GroupId) -> &[UserId] {
        &self.group(g).online
    }

    pub(super) fn left(&self, g: GroupId) -> &[UserId] {
        &self.group(g).left
    }

    /// Groups `user` joined during the run (while online), in join order.
    pub(super) fn joined(&self, user: UserId) -> &[GroupId] {
        self.joined.get(&user).map_or(&[], Vec::as_slice)
    }

    /// `user` joins `g`. It is not taken off `left`: a user who left may join again by a
    /// plain join and later be drawn for a re-join, and is then listed twice in `all` (and
    /// `online`); the lists keep that as the workload always did, since draws index them.
    pub(super) fn add(&mut self, g: GroupId, user: UserId, online: bool) {
        let m = &mut self.groups[g.0 as usize];
        m.set.insert(user.0);
        m.all.push(user);
        if online {
            m.online.push(user);
            self.joined.entry(user).or_default().push(g);
        }
    }

    /// `user` leaves `g` (or is kicked) and becomes a candidate for a re-join.
    pub(super) fn remove(&mut self, g: GroupId, user: UserId) {
        let m = &mut self.groups[g.0 as usize];
        m.set.remove(user.0);
        m.all.retain(|&u| u != user);
        m.online.retain(|&u| u != user);
        m.left.push(user);
    }

    /// Takes the `i`th user of `g`'s left list, for a re-join (the last one fills the gap).
    pub(super) fn take_left(&mut self, g: GroupId, i: usize) -> UserId {
        self.groups[g.0 as usize].left.swap_remove(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::testkit;

    fn u(n: u32) -> UserId {
        UserId(n)
    }

    #[test]
    fn starts_as_planned() {
        let w = testkit::workload(testkit::SMALL, 1);
        let plan = w.plan();
        for g in &plan.groups {
            assert_eq!(w.members.all(g.id), g.members.as_slice());
            assert_eq!(w.members.online(g.id), g.online_members.as_slice());
            assert!(w.members.left(g.id).is_empty());
            for m in &g.members {
                assert!(w.members.contains(g.id, *m));
            }
        }
    }

    #[test]
    fn add_and_remove_keep_every_view_in_step() {
        let w = testkit::workload(testkit::SMALL, 1);
        let mut m = Membership::from_plan(w.plan());
        let g = GroupId(0);
        let before = m.all(g).len();
        let outsider = (0..w.plan().users)
            .map(UserId)
            .find(|&x| !m.contains(g, x))
            .unwrap();
        m.add(g, outsider, true);
        assert!(m.contains(g, outsider));
        assert_eq!(m.all(g).last(), Some(&outsider));
        assert_eq!(m.online(g).last(), Some(&outsider));
        assert_eq!(m.joined(outsider), &[g]);

        m.remove(g, outsider);
        assert!(!m.contains(g, outsider));
        assert_eq!(m.all(g).len(), before);
        assert!(!m.online(g).contains(&outsider));
        assert_eq!(m.left(g), &[outsider]);
        assert_eq!(m.take_left(g, 0), outsider);
        assert!(m.left(g).is_empty());
    }

    #[test]
    fn offline_joiner_is_a_member_but_neither_online_nor_joined() {
        let w = testkit::workload(testkit::SMALL, 1);
        let mut m = Membership::from_plan(w.plan());
        let g = GroupId(0);
        let x = (0..w.plan().users)
            .map(UserId)
            .find(|&x| !m.contains(g, x))
            .unwrap();
        m.add(g, x, false);
        assert!(m.contains(g, x));
        assert!(m.all(g).contains(&x));
        assert!(!m.online(g).contains(&x));
        assert!(m.joined(x).is_empty());
        assert!(m.joined(u(u32::MAX)).is_empty());
    }

    #[test]
    fn take_left_fills_the_gap_with_the_last() {
        let w = testkit::workload(testkit::SMALL, 1);
        let mut m = Membership::from_plan(w.plan());
        let g = GroupId(0);
        let all = m.all(g).to_vec();
        assert!(all.len() >= 3, "the small scenario has groups of 3 or more");
        for &x in &all[..3] {
            m.remove(g, x);
        }
        // swap_remove, as the re-join draw always used: later draws depend on this order.
        assert_eq!(m.take_left(g, 0), all[0]);
        assert_eq!(m.left(g), &[all[2], all[1]]);
    }
}
