//! The world as the checker rebuilds it from history: users, groups, the receipt config,
//! connections, and membership changes with their completion times.

use crate::protocol::{
    AdminRequest, GroupId, GroupType, Micros, Profile, ReceiptConfig, Response, UserId,
};
use crate::user_set::UserSet;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use std::sync::Arc;

pub(super) struct GroupInfo {
    pub group_type: GroupType,
    /// Shared copy-on-write with the audiences snapshotted from it.
    pub members: Arc<UserSet>,
}

/// One user's connection as history showed it.
#[derive(Clone, Copy, Default)]
struct Conn {
    epoch: u32,
    up: bool,
    since: Micros,
}

#[derive(Default)]
pub(super) struct World {
    /// The rules the target is held to (docs/semantics.md or docs/matrix.md).
    pub profile: Profile,
    pub receipt_config: ReceiptConfig,
    pub users: RoaringBitmap,
    pub groups: FxHashMap<GroupId, GroupInfo>,
    /// Per user (index = id; grown on a user's first connect): connection epoch (0: never
    /// connected), whether it is connected now, and when its current connection opened
    /// (pushes reach only connections that were open when the server produced them). Dense,
    /// as user ids are: a hash map of a million users cost ~4x this.
    conn: Vec<Conn>,
    /// Completed membership changes per group: (completion time, user), in time order.
    changes: FxHashMap<GroupId, Vec<(Micros, UserId)>>,
    /// Membership changes sent but not completed, per (group, user) and per group.
    changing: FxHashMap<(GroupId, UserId), u32>,
    changing_groups: FxHashMap<GroupId, u32>,
    /// Matrix profile only: the invoke time of each user's latest successful leave per group
    /// (the user was a member at least until then: MX4 lets it send receipts for messages
    /// committed before).
    left: FxHashMap<(GroupId, UserId), Micros>,
}

fn membership_target(req: &AdminRequest) -> Option<(GroupId, UserId)> {
    match *req {
        AdminRequest::AddMember { group, user } | AdminRequest::RemoveMember { group, user } => {
            Some((group, user))
        }
        _ => None,
    }
}

/// Decrements a count of changes in flight, forgetting it at zero.
fn end_one<K: std::hash::Hash + Eq>(map: &mut FxHashMap<K, u32>, k: K) -> bool {
    let Some(c) = map.get_mut(&k) else {
        return false;
    };
    *c -= 1;
    if *c == 0 {
        map.remove(&k);
    }
    true
}

impl World {
    // ---- connections -----------------------------------------------------------------

    pub fn connect(&mut self, t: Micros, u: UserId) {
        let i = u.0 as usize;
        if self.conn.len() <= i {
            self.conn.resize(i + 1, Conn::default());
        }
        let c = &mut self.conn[i];
        c.epoch += 1;
        c.up = true;
        c.since = t;
    }

    pub fn disconnect(&mut self, u: UserId) {
        if let Some(c) = self.conn.get_mut(u.0 as usize) {
            c.up = false;
        }
    }

    /// `u`'s connection epoch if connected now.
    pub fn online(&self, u: UserId) -> Option<u32> {
        match self.conn.get(u.0 as usize) {
            Some(c) if c.up => Some(c.epoch),
            _ => None,
        }
    }

    pub fn still_online(&self, u: UserId, epoch: u32) -> bool {
        self.online(u) == Some(epoch)
    }

    /// `u`'s connection epoch if it has been connected since at least `since`: only then was
    /// it surely connected when an operation invoked at `since` took effect, and owed its push.
    pub fn online_throughout(&self, u: UserId, since: Micros) -> Option<u32> {
        self.online(u)
            .filter(|_| self.conn[u.0 as usize].since <= since)
    }

    // ---- administration --------------------------------------------------------------

    pub fn on_admin_invoke(&mut self, req: &AdminRequest) {
        if let Some((g, u)) = membership_target(req) {
            *self.changing.entry((g, u)).or_insert(0) += 1;
            *self.changing_groups.entry(g).or_insert(0) += 1;
        }
    }

    pub fn on_admin(&mut self, t: Micros, req: &AdminRequest, resp: &Response) {
        if let Some((g, u)) = membership_target(req) {
            // Provisioning comes without an AdminInvoke: nothing in flight to end.
            if end_one(&mut self.changing, (g, u)) {
                end_one(&mut self.changing_groups, g);
            }
            self.changes.entry(g).or_default().push((t, u));
        }
        if resp.error_code().is_some() {
            return;
        }
        match req {
            AdminRequest::CreateUser { user } => {
                self.users.insert(user.0);
            }
            AdminRequest::CreateGroup {
                group,
                group_type,
                members,
            } => {
                let members = Arc::new(members.iter().map(|u| u.0).collect());
                let group_type = *group_type;
                self.groups.insert(
                    *group,
                    GroupInfo {
                        group_type,
                        members,
                    },
                );
            }
            AdminRequest::AddMember { group, user } => {
                if let Some(g) = self.groups.get_mut(group) {
                    Arc::make_mut(&mut g.members).insert(user.0);
                }
            }
            AdminRequest::RemoveMember { group, user } => {
                if let Some(g) = self.groups.get_mut(group) {
                    Arc::make_mut(&mut g.members).remove(user.0);
                }
            }
            AdminRequest::SetReceiptConfig { config } => self.receipt_config = config.clone(),
            AdminRequest::GetReceiptConfig => {}
        }
    }

    // ---- membership ------------------------------------------------------------------

    pub fn is_member(&self, g: GroupId, u: UserId) -> bool {
        self.groups.get(&g).is_some_and(|g| g.members.contains(u.0))
    }

    /// Whether (g, u)'s membership may have changed at some point since `since` (a change
    /// completed since, or one still in flight).
    pub fn unsettled(&self, g: GroupId, u: UserId, since: Micros) -> bool {
        self.changing.contains_key(&(g, u))
            || self.changes.get(&g).is_some_and(|v| {
                v.iter()
                    .rev()
                    .take_while(|(t, _)| *t >= since)
                    .any(|(_, x)| *x == u)
            })
    }

    /// A leave of `u` from `g` invoked at `invoked` succeeded (Matrix profile: MX4).
    pub fn left_at(&mut self, g: GroupId, u: UserId, invoked: Micros) {
        if self.profile.is_matrix() {
            self.left.insert((g, u), invoked);
        }
    }

    /// Whether `u` surely was a member of `g` at some moment at or after `t`: a member now
    /// with no change in flight, or a successful leave invoked at or after `t`.
    pub fn member_since(&self, g: GroupId, u: UserId, t: Micros) -> bool {
        (self.is_member(g, u) && !self.changing.contains_key(&(g, u)))
            || self.left.get(&(g, u)).is_some_and(|&l| l >= t)
    }

    /// The users of `g` whose membership may have changed since `since` (a change completed
    /// since, or one in flight).
    pub fn unsettled_users(&self, g: GroupId, since: Micros) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        if let Some(v) = self.changes.get(&g) {
            for &(_, u) in v.iter().rev().take_while(|(t, _)| *t >= since) {
                out.insert(u.0);
            }
        }
        // Insertion into a bitmap: the map's iteration order does not show.
        for &(cg, u) in self.changing.keys() {
            if cg == g {
                out.insert(u.0);
            }
        }
        out
    }

    /// Whether any membership of `g` may have changed since `since`.
    pub fn group_unsettled(&self, g: GroupId, since: Micros) -> bool {
        self.changing_groups.contains_key(&g)
            || self
                .changes
                .get(&g)
                .and_then(|v| v.last())
                .is_some_and(|(t, _)| *t >= since)
    }

    /// The audience snapshot of a message `sender` sent to `g` at some time since
    /// `send_invoked`: (members for sure, sender included; members maybe). Whoever joined or
    /// left while the send was in flight may or may not be in it.
    pub fn audience_at_send(
        &self,
        g: GroupId,
        sender: UserId,
        send_invoked: Micros,
    ) -> (Arc<UserSet>, RoaringBitmap) {
        let mut members = self
            .groups
            .get(&g)
            .map(|g| Arc::clone(&g.members))
            .unwrap_or_default();
        let mut maybe = RoaringBitmap::new();
        if let Some(v) = self.changes.get(&g) {
            for &(_, u) in v.iter().rev().take_while(|(ct, _)| *ct >= send_invoked) {
                maybe.insert(u.0);
            }
        }
        // Insertion into a bitmap: the map's iteration order does not show.
        for &(cg, u) in self.changing.keys() {
            if cg == g {
                maybe.insert(u.0);
            }
        }
        maybe.remove(sender.0);
        if maybe.iter().any(|u| members.contains(u)) {
            let m = Arc::make_mut(&mut members);
            for u in &maybe {
                m.remove(u);
            }
        }
        // A message exists only if its sender was a member when it was sent, even if the
        // sender has left since.
        if !members.contains(sender.0) {
            Arc::make_mut(&mut members).insert(sender.0);
        }
        (members, maybe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: GroupId = GroupId(1);

    fn ok() -> Response {
        Response::AdminDone
    }

    fn world_with_group(members: &[u32]) -> World {
        let mut w = World::default();
        let req = AdminRequest::CreateGroup {
            group: G,
            group_type: GroupType::Work,
            members: members.iter().map(|&u| UserId(u)).collect(),
        };
        w.on_admin(0, &req, &ok());
        w
    }

    fn add(u: u32) -> AdminRequest {
        AdminRequest::AddMember {
            group: G,
            user: UserId(u),
        }
    }

    #[test]
    fn connection_epochs_and_online_throughout() {
        let mut w = World::default();
        let u = UserId(3);
        assert_eq!(w.online(u), None);
        w.connect(10, u);
        assert_eq!(w.online(u), Some(1));
        assert_eq!(w.online_throughout(u, 10), Some(1));
        // Connected after the operation was invoked: not owed its push.
        assert_eq!(w.online_throughout(u, 9), None);
        w.disconnect(u);
        assert!(!w.still_online(u, 1));
        w.connect(20, u);
        assert_eq!(w.online(u), Some(2));
        assert!(!w.still_online(u, 1));
    }

    #[test]
    fn failed_admin_calls_change_nothing_but_still_count_as_changes() {
        let mut w = world_with_group(&[1, 2]);
        w.on_admin(
            50,
            &add(7),
            &Response::Error {
                code: crate::protocol::ErrorCode::Internal,
            },
        );
        assert!(!w.is_member(G, UserId(7)));
        // It may have been applied all the same before failing: unsettled.
        assert!(w.unsettled(G, UserId(7), 50));
        assert!(!w.unsettled(G, UserId(7), 51));
    }

    #[test]
    fn changes_in_flight_are_unsettled_until_completed() {
        let mut w = world_with_group(&[1, 2]);
        w.on_admin_invoke(&add(5));
        w.on_admin_invoke(&add(5));
        assert!(w.unsettled(G, UserId(5), 1_000));
        assert!(w.group_unsettled(G, 1_000));
        w.on_admin(100, &add(5), &ok());
        assert!(w.unsettled(G, UserId(5), 1_000), "one call still in flight");
        w.on_admin(200, &add(5), &ok());
        assert!(!w.unsettled(G, UserId(5), 1_000));
        assert!(!w.group_unsettled(G, 1_000));
        assert!(w.group_unsettled(G, 200));
        assert!(!w.unsettled(G, UserId(2), 0), "other users stay settled");
        assert!(w.is_member(G, UserId(5)));
    }

    #[test]
    fn audience_at_send_moves_recent_changes_to_maybe() {
        let mut w = world_with_group(&[1, 2, 3]);
        w.on_admin(100, &add(4), &ok());
        w.on_admin_invoke(&AdminRequest::RemoveMember {
            group: G,
            user: UserId(2),
        });
        let (members, maybe) = w.audience_at_send(G, UserId(1), 100);
        assert_eq!(members.iter().collect::<Vec<_>>(), [1, 3]);
        assert_eq!(maybe.iter().collect::<Vec<_>>(), [2, 4]);
        // A change completed before the send was invoked is settled.
        let (members, maybe) = w.audience_at_send(G, UserId(1), 101);
        assert_eq!(members.iter().collect::<Vec<_>>(), [1, 3, 4]);
        assert_eq!(maybe.iter().collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn audience_at_send_keeps_a_sender_who_left() {
        let w = world_with_group(&[2, 3]);
        let (members, maybe) = w.audience_at_send(G, UserId(9), 0);
        assert_eq!(members.iter().collect::<Vec<_>>(), [2, 3, 9]);
        assert!(maybe.is_empty());
    }
}
