//! Churn: membership changes through the admin API while traffic flows. Each change picks a
//! group, then a kind by the scenario's weights, then who.

use super::{Action, Timer, Workload};
use crate::dist::next_arrival;
use crate::history::FaultKind;
use crate::protocol::{AdminRequest, GroupId, Micros, UserId};
use crate::scenario::Churn;
use rand::RngExt;

/// A kind of membership change.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum ChurnKind {
    /// A user who is no member joins.
    Join,
    /// A member leaves.
    Leave,
    /// An admin removes a member.
    Kick,
    /// A user who left or was kicked joins again.
    Rejoin,
}

impl ChurnKind {
    /// The kinds in the order their weights are laid out for the draw; reordering it would
    /// change what every seed does.
    const DRAW_ORDER: [ChurnKind; 4] = [
        ChurnKind::Join,
        ChurnKind::Leave,
        ChurnKind::Kick,
        ChurnKind::Rejoin,
    ];

    fn weight(self, c: &Churn) -> f64 {
        match self {
            ChurnKind::Join => c.join,
            ChurnKind::Leave => c.leave,
            ChurnKind::Kick => c.kick,
            ChurnKind::Rejoin => c.rejoin,
        }
    }

    /// The kind whose share of the laid-out weights holds `x` (drawn below their sum);
    /// `Join` if rounding carries `x` past the last share.
    fn at(x: f64, weights: &[f64; 4]) -> ChurnKind {
        let mut x = x;
        for (kind, w) in Self::DRAW_ORDER.into_iter().zip(weights) {
            if x < *w {
                return kind;
            }
            x -= w;
        }
        ChurnKind::Join
    }

    fn adds(self) -> bool {
        matches!(self, ChurnKind::Join | ChurnKind::Rejoin)
    }

    fn fault(self) -> FaultKind {
        match self {
            ChurnKind::Join => FaultKind::Join,
            ChurnKind::Leave => FaultKind::Leave,
            ChurnKind::Kick => FaultKind::Kick,
            ChurnKind::Rejoin => FaultKind::Rejoin,
        }
    }
}

/// Leaves and kicks stop at this many members, so the group keeps an audience.
const MIN_MEMBERS: usize = 2;
/// Draws of a random user in search of one who is not a member, before giving up.
const JOIN_TRIES: usize = 8;
/// A joiner opens the group this long after joining.
const CATCH_UP_AFTER: Micros = 1_000_000;

impl Workload {
    /// Changes per second: the scenario's rate, split between shards by their groups.
    fn churn_rate(&self) -> f64 {
        let base = self.scenario.churn.per_minute / 60.0;
        if self.plan.all_conv_counts.is_empty() {
            base
        } else {
            base * self.plan.group_share()
        }
    }

    pub(super) fn start_churn(&mut self, out: &mut Vec<Action>) {
        if let Some(dt) = next_arrival(self.churn_rate(), &mut self.churn_rng) {
            self.timer(dt, Timer::Churn, out);
        }
    }

    /// One membership change, and the time of the next. Every draw comes from the churn
    /// stream in a fixed order: next time, group, kind, then who.
    pub(super) fn churn(&mut self, now: Micros, out: &mut Vec<Action>) {
        if let Some(dt) = next_arrival(self.churn_rate(), &mut self.churn_rng) {
            self.timer(now + dt, Timer::Churn, out);
        }
        // Only this shard's groups (all of them unsharded: the same draw as ever).
        let n = self.plan.shard_groups.len();
        if n == 0 {
            return;
        }
        let group = self.plan.shard_groups[self.churn_rng.random_range(0..n)];
        let weights = ChurnKind::DRAW_ORDER.map(|k| k.weight(&self.scenario.churn));
        let total: f64 = weights.iter().sum();
        let x = self
            .churn_rng
            .random_range(0.0..total.max(f64::MIN_POSITIVE));
        let mut kind = ChurnKind::at(x, &weights);
        if kind == ChurnKind::Rejoin && self.members.left(group).is_empty() {
            // Nobody to re-join: a plain join instead.
            kind = ChurnKind::Join;
        }
        let user = match kind {
            ChurnKind::Leave | ChurnKind::Kick => self.draw_member(group),
            ChurnKind::Rejoin => Some(self.draw_rejoiner(group)),
            ChurnKind::Join => self.draw_outsider(group),
        };
        let Some(user) = user else { return };
        if kind.adds() {
            self.add_member(now, group, user, kind, out);
        } else {
            self.members.remove(&self.plan, group, user);
            out.push(Action::Admin {
                req: AdminRequest::RemoveMember { group, user },
                kind: kind.fault(),
            });
        }
    }

    /// A member to remove; None (and no draw) if the group is already at its minimum.
    fn draw_member(&mut self, group: GroupId) -> Option<UserId> {
        let all = self.members.all(&self.plan, group);
        if all.len() <= MIN_MEMBERS {
            return None;
        }
        Some(all[self.churn_rng.random_range(0..all.len())])
    }

    /// A user who left `group` (the caller made sure there is one), taken off the list.
    fn draw_rejoiner(&mut self, group: GroupId) -> UserId {
        let i = self
            .churn_rng
            .random_range(0..self.members.left(group).len());
        self.members.take_left(group, i)
    }

    /// A random user who is not a member of `group`, if one turns up in a few draws.
    fn draw_outsider(&mut self, group: GroupId) -> Option<UserId> {
        // Only users this shard provisioned (all of them unsharded: the same draw as ever).
        let users = self.plan.shard_users.len() as u32;
        for _ in 0..JOIN_TRIES {
            let u = self.plan.shard_users[self.churn_rng.random_range(0..users) as usize];
            if !self.members.contains(&self.plan, group, u) {
                return Some(u);
            }
        }
        None
    }

    fn add_member(
        &mut self,
        now: Micros,
        group: GroupId,
        user: UserId,
        kind: ChurnKind,
        out: &mut Vec<Action>,
    ) {
        let online = self.plan.is_online(user);
        self.members.add(&self.plan, group, user, online);
        if online {
            // A joiner opens the group a moment later and catches up on its history.
            out.push(Action::Timer {
                at: now + CATCH_UP_AFTER,
                timer: Timer::CatchUp { user, group },
            });
        }
        out.push(Action::Admin {
            req: AdminRequest::AddMember { group, user },
            kind: kind.fault(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::testkit;

    #[test]
    fn kinds_follow_the_weight_layout() {
        let w = [1.0, 2.0, 0.5, 0.25];
        assert_eq!(ChurnKind::at(0.0, &w), ChurnKind::Join);
        assert_eq!(ChurnKind::at(0.999, &w), ChurnKind::Join);
        assert_eq!(ChurnKind::at(1.0, &w), ChurnKind::Leave);
        assert_eq!(ChurnKind::at(2.999, &w), ChurnKind::Leave);
        assert_eq!(ChurnKind::at(3.0, &w), ChurnKind::Kick);
        assert_eq!(ChurnKind::at(3.4, &w), ChurnKind::Kick);
        assert_eq!(ChurnKind::at(3.5, &w), ChurnKind::Rejoin);
        // Past the end (rounding): a join.
        assert_eq!(ChurnKind::at(3.75, &w), ChurnKind::Join);
        // A zero weight is never drawn.
        assert_eq!(ChurnKind::at(1.0, &[1.0, 0.0, 1.0, 0.0]), ChurnKind::Kick);
    }

    /// Runs `n` churn timers on a workload whose churn has only the given weights.
    fn churned(weights: [f64; 4], n: usize) -> (crate::workload::Workload, Vec<Action>) {
        let [join, leave, kick, rejoin] = weights;
        let text = format!(
            "{}\n[churn]\nper_minute = 60.0\njoin = {join:?}\nleave = {leave:?}\nkick = {kick:?}\nrejoin = {rejoin:?}\n",
            testkit::SMALL
        );
        let mut w = testkit::workload(&text, 5);
        let mut out = Vec::new();
        for i in 0..n {
            w.churn(1_000 + i as Micros, &mut out);
        }
        (w, out)
    }

    fn admins(out: &[Action]) -> Vec<(AdminRequest, FaultKind)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Admin { req, kind } => Some((req.clone(), *kind)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn kicks_remove_members_down_to_the_floor() {
        let (w, out) = churned([0.0, 0.0, 1.0, 0.0], 400);
        let changes = admins(&out);
        assert!(!changes.is_empty());
        for (req, kind) in &changes {
            assert_eq!(*kind, FaultKind::Kick);
            let AdminRequest::RemoveMember { group, user } = req else {
                panic!("a kick removes: {req:?}");
            };
            assert!(!w.members.contains(&w.plan, *group, *user));
            assert!(w.members.left(*group).contains(user));
        }
        // Enough kicks to empty every group, yet each keeps its floor.
        for g in &w.plan().groups {
            let left = w.members.all(&w.plan, g.id).len();
            assert_eq!(left, g.members.len().min(MIN_MEMBERS), "group {:?}", g.id);
        }
    }

    #[test]
    fn rejoin_with_nobody_gone_is_a_join_and_catches_up() {
        let (w, out) = churned([0.0, 0.0, 0.0, 1.0], 20);
        let changes = admins(&out);
        assert!(!changes.is_empty());
        for (req, kind) in &changes {
            assert_eq!(*kind, FaultKind::Join, "nobody left, so no re-join");
            let AdminRequest::AddMember { group, user } = req else {
                panic!("a join adds: {req:?}");
            };
            assert!(w.members.contains(&w.plan, *group, *user));
            let catch_up = out.iter().any(|a| {
                matches!(a, Action::Timer { timer: Timer::CatchUp { user: u, group: g }, .. }
                    if u == user && g == group)
            });
            assert_eq!(catch_up, w.plan().is_online(*user), "{user:?}");
            if w.plan().is_online(*user) {
                assert!(w.members.joined(*user).contains(group));
            }
        }
    }

    #[test]
    fn leavers_come_back_as_rejoins() {
        let (mut w, mut out) = churned([0.0, 1.0, 0.0, 0.0], 30);
        let gone: Vec<(GroupId, UserId)> = admins(&out)
            .into_iter()
            .map(|(req, _)| match req {
                AdminRequest::RemoveMember { group, user } => (group, user),
                r => panic!("{r:?}"),
            })
            .collect();
        w.scenario.churn.leave = 0.0;
        w.scenario.churn.rejoin = 1.0;
        out.clear();
        for i in 0..30 {
            w.churn(100_000 + i, &mut out);
        }
        let back = admins(&out);
        let rejoins: Vec<_> = back
            .iter()
            .filter(|(_, k)| *k == FaultKind::Rejoin)
            .collect();
        assert!(!rejoins.is_empty());
        for (req, _) in rejoins {
            let AdminRequest::AddMember { group, user } = req else {
                panic!("{req:?}");
            };
            assert!(gone.contains(&(*group, *user)), "only leavers re-join");
            assert!(w.members.contains(&w.plan, *group, *user));
        }
    }

    #[test]
    fn next_churn_stops_at_the_end_of_traffic() {
        let (mut w, _) = churned([1.0, 0.0, 0.0, 0.0], 0);
        let mut out = Vec::new();
        let end = w.traffic_end;
        w.churn(end - 1, &mut out);
        assert!(
            !out.iter().any(|a| matches!(
                a,
                Action::Timer {
                    timer: Timer::Churn,
                    ..
                }
            )),
            "a churn timer at or after the end of traffic: {out:?}"
        );
    }
}
