//! Pushes about other shards' conversations. Shards of one run share users (a user in
//! conversations of several shards is a connection in each), and a server pushes to every
//! connection of a user, so a shard's connection also hears of messages, receipts and
//! mark-reads of conversations another shard drives. They are that shard's history, not
//! this one's: the scheduler drops them before their message ids are numbered or anything
//! observes them, and counts them (`DriveStats::foreign_pushes`). An unsharded run keeps
//! every push.

use crate::protocol::UserId;
use crate::scenario::Shard;
use crate::wire::{self, PushFrame, WireConv, WireEntry};

/// Drops from `p` what concerns conversations outside `shard`, as `client` receives it;
/// returns whether anything of `p` is left. Ids that do not parse are kept, so the mapping
/// reports them as it would unsharded.
pub(super) fn keep_own(shard: Shard, client: UserId, p: &mut PushFrame) -> bool {
    if shard.is_whole() {
        return true;
    }
    match p {
        PushFrame::NewMessage { conv, .. } => owns_conv(shard, client, conv),
        PushFrame::Receipts { entries } => {
            entries.retain(|e| owns_entry(shard, client, e));
            !entries.is_empty()
        }
        PushFrame::C2cRead { user_id, .. } => owns_peer(shard, client, user_id),
        PushFrame::Hello { .. } | PushFrame::Closing { .. } => true,
    }
}

fn owns_conv(shard: Shard, client: UserId, conv: &WireConv) -> bool {
    match conv {
        WireConv::Group(g) => wire::parse_group(g).map_or(true, |g| shard.owns_group(g.0)),
        WireConv::C2c(peer) => owns_peer(shard, client, peer),
    }
}

/// Whether the 1:1 conversation of `client` with `peer` is this shard's.
fn owns_peer(shard: Shard, client: UserId, peer: &str) -> bool {
    wire::parse_user(peer).map_or(true, |peer| shard.owns_pair(client.0, peer.0))
}

fn owns_entry(shard: Shard, client: UserId, e: &WireEntry) -> bool {
    match (&e.group_id, &e.user_id) {
        (Some(g), _) => wire::parse_group(g).map_or(true, |g| shard.owns_group(g.0)),
        (None, Some(peer)) => owns_peer(shard, client, peer),
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard_of(pred: impl Fn(Shard) -> bool) -> (Shard, Shard) {
        let all: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let own = *all.iter().find(|&&s| pred(s)).unwrap();
        let other = *all.iter().find(|&&s| !pred(s)).unwrap();
        (own, other)
    }

    fn new_message(conv: WireConv) -> PushFrame {
        PushFrame::NewMessage {
            msg_id: "m1".into(),
            conv,
            sender: "u2".into(),
            seq: 1,
            timestamp_ms: 0,
            need_read_receipt: true,
        }
    }

    fn entry(group: Option<&str>, user: Option<&str>) -> WireEntry {
        WireEntry {
            msg_id: "m1".into(),
            group_id: group.map(String::from),
            read_count: group.map(|_| 1),
            unread_count: group.map(|_| 1),
            user_id: user.map(String::from),
            is_peer_read: user.map(|_| true),
            error: None,
        }
    }

    #[test]
    fn pushes_of_other_shards_conversations_are_dropped() {
        let me = UserId(1);
        let (own, other) = shard_of(|s| s.owns_group(7));
        let group = || new_message(WireConv::Group("g7".into()));
        assert!(keep_own(own, me, &mut group()));
        assert!(!keep_own(other, me, &mut group()));
        assert!(keep_own(Shard::WHOLE, me, &mut group()));

        let (own, other) = shard_of(|s| s.owns_pair(1, 5));
        let c2c = || new_message(WireConv::C2c("u5".into()));
        assert!(keep_own(own, me, &mut c2c()));
        assert!(!keep_own(other, me, &mut c2c()));
        let read = || PushFrame::C2cRead {
            user_id: "u5".into(),
            timestamp_ms: 3,
        };
        assert!(keep_own(own, me, &mut read()));
        assert!(!keep_own(other, me, &mut read()));
    }

    #[test]
    fn a_receipts_push_keeps_only_this_shards_entries() {
        let me = UserId(1);
        let (own, _) = shard_of(|s| s.owns_group(7) && !s.owns_group(8));
        let mut p = PushFrame::Receipts {
            entries: vec![entry(Some("g7"), None), entry(Some("g8"), None)],
        };
        assert!(keep_own(own, me, &mut p));
        let PushFrame::Receipts { entries } = &p else {
            unreachable!()
        };
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].group_id.as_deref(), Some("g7"));
        let mut none = PushFrame::Receipts {
            entries: vec![entry(Some("g8"), None)],
        };
        assert!(!keep_own(own, me, &mut none));
        // Unparseable ids stay, for the mapping to report.
        let mut odd = new_message(WireConv::Group("room!x".into()));
        assert!(keep_own(own, me, &mut odd));
    }
}
