//! Group membership as this workload's churn changed it: the plan's lists until a group's
//! first change, then one record per changed group (who is a member, who of them is online,
//! who left), plus the groups each user joined. A million-user plan keeps its member lists
//! once, in the plan, instead of a second copy and a bitmap per group that churn never
//! touches.

use super::Plan;
use crate::protocol::{GroupId, UserId};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

/// The members of one group that churn changed.
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
/// (their catch-up covers those too). Reads take the plan: an unchanged group is its plan.
pub(super) struct Membership {
    /// Per group, its record once churn changed it (None: as planned).
    changed: Vec<Option<Box<GroupMembers>>>,
    joined: FxHashMap<UserId, Vec<GroupId>>,
}

impl Membership {
    /// Membership as planned, before any churn.
    pub(super) fn from_plan(plan: &Plan) -> Membership {
        Membership {
            changed: vec![None; plan.groups.len()],
            joined: FxHashMap::default(),
        }
    }

    fn changed(&self, g: GroupId) -> Option<&GroupMembers> {
        self.changed[g.0 as usize].as_deref()
    }

    pub(super) fn contains(&self, plan: &Plan, g: GroupId, user: UserId) -> bool {
        match self.changed(g) {
            Some(m) => m.set.contains(user.0),
            // Planned members are in ascending id order.
            None => plan.group(g).members.binary_search(&user).is_ok(),
        }
    }

    pub(super) fn all<'a>(&'a self, plan: &'a Plan, g: GroupId) -> &'a [UserId] {
        match self.changed(g) {
            Some(m) => &m.all,
            None => &plan.group(g).members,
        }
    }

    pub(super) fn online<'a>(&'a self, plan: &'a Plan, g: GroupId) -> &'a [UserId] {
        match self.changed(g) {
            Some(m) => &m.online,
            None => &plan.group(g).online_members,
        }
    }

    pub(super) fn left(&self, g: GroupId) -> &[UserId] {
        self.changed(g).map_or(&[], |m| &m.left)
    }

    /// Groups `user` joined during the run (while online), in join order.
    pub(super) fn joined(&self, user: UserId) -> &[GroupId] {
        self.joined.get(&user).map_or(&[], Vec::as_slice)
    }

    /// `g`'s record, copied from the plan at its first change.
    fn change(&mut self, plan: &Plan, g: GroupId) -> &mut GroupMembers {
        self.changed[g.0 as usize].get_or_insert_with(|| {
            let p = plan.group(g);
            Box::new(GroupMembers {
                set: p.members.iter().map(|u| u.0).collect(),
                all: p.members.clone(),
                online: p.online_members.clone(),
                left: Vec::new(),
            })
        })
    }

    /// `user` joins `g`. It is not taken off `left`: a user who left may join again by a
    /// plain join and later be drawn for a re-join, and is then listed twice in `all` (and
    /// `online`); the lists keep that as the workload always did, since draws index them.
    pub(super) fn add(&mut self, plan: &Plan, g: GroupId, user: UserId, online: bool) {
        let m = self.change(plan, g);
        m.set.insert(user.0);
        m.all.push(user);
        if online {
            m.online.push(user);
            self.joined.entry(user).or_default().push(g);
        }
    }

    /// `user` leaves `g` (or is kicked) and becomes a candidate for a re-join.
    pub(super) fn remove(&mut self, plan: &Plan, g: GroupId, user: UserId) {
        let m = self.change(plan, g);
        m.set.remove(user.0);
        m.all.retain(|&u| u != user);
        m.online.retain(|&u| u != user);
        m.left.push(user);
    }

    /// Takes the `i`th user of `g`'s left list, for a re-join (the last one fills the gap).
    /// Only a changed group has anyone on it.
    pub(super) fn take_left(&mut self, g: GroupId, i: usize) -> UserId {
        let m = self.changed[g.0 as usize]
            .as_deref_mut()
            .expect("a group with users who left has changed");
        m.left.swap_remove(i)
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
            assert_eq!(w.members.all(plan, g.id), g.members.as_slice());
            assert_eq!(w.members.online(plan, g.id), g.online_members.as_slice());
            assert!(w.members.left(g.id).is_empty());
            for m in &g.members {
                assert!(w.members.contains(plan, g.id, *m));
            }
        }
    }

    #[test]
    fn add_and_remove_keep_every_view_in_step() {
        let w = testkit::workload(testkit::SMALL, 1);
        let mut m = Membership::from_plan(w.plan());
        let g = GroupId(0);
        let before = m.all(w.plan(), g).len();
        let outsider = (0..w.plan().users)
            .map(UserId)
            .find(|&x| !m.contains(w.plan(), g, x))
            .unwrap();
        m.add(w.plan(), g, outsider, true);
        assert!(m.contains(w.plan(), g, outsider));
        assert_eq!(m.all(w.plan(), g).last(), Some(&outsider));
        assert_eq!(m.online(w.plan(), g).last(), Some(&outsider));
        assert_eq!(m.joined(outsider), &[g]);

        m.remove(w.plan(), g, outsider);
        assert!(!m.contains(w.plan(), g, outsider));
        assert_eq!(m.all(w.plan(), g).len(), before);
        assert!(!m.online(w.plan(), g).contains(&outsider));
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
            .find(|&x| !m.contains(w.plan(), g, x))
            .unwrap();
        m.add(w.plan(), g, x, false);
        assert!(m.contains(w.plan(), g, x));
        assert!(m.all(w.plan(), g).contains(&x));
        assert!(!m.online(w.plan(), g).contains(&x));
        assert!(m.joined(x).is_empty());
        assert!(m.joined(u(u32::MAX)).is_empty());
    }

    #[test]
    fn take_left_fills_the_gap_with_the_last() {
        let w = testkit::workload(testkit::SMALL, 1);
        let mut m = Membership::from_plan(w.plan());
        let g = GroupId(0);
        let all = m.all(w.plan(), g).to_vec();
        assert!(all.len() >= 3, "the small scenario has groups of 3 or more");
        for &x in &all[..3] {
            m.remove(w.plan(), g, x);
        }
        // swap_remove, as the re-join draw always used: later draws depend on this order.
        assert_eq!(m.take_left(g, 0), all[0]);
        assert_eq!(m.left(g), &[all[2], all[1]]);
    }
}
