//! One room as one client's view knows it: members, messages by seq, read markers. Counts and
//! member lists are derived from the markers (MX3), so no message holds a reader set.

use crate::matrix::view::{Counts, MemberPage, ReadEntry};
use crate::protocol::{ReadFilter, UserId};
use rustc_hash::FxHashMap;
use std::collections::BTreeSet;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub(super) struct Msg {
    pub seq: u64,
    pub event_id: Arc<str>,
    pub sender: UserId,
    pub need_read_receipt: bool,
}

#[derive(Default, Debug)]
pub(super) struct Room {
    /// The other party, for a 1:1 room.
    pub direct: Option<UserId>,
    /// Current joined readsim users, ascending (the order of both member lists, MX8).
    pub members: BTreeSet<UserId>,
    /// Ascending by seq. Not a Vec with a slot per seq: a client that joined late, or left
    /// and came back, never sees some messages, and holes would cost memory for nothing.
    msgs: Vec<Msg>,
    /// Seqs of my messages that asked for receipts, ascending: what a marker move may notify.
    mine: Vec<u64>,
    /// Each user's marker (MX2): the highest seq they have receipted; absent = 0.
    markers: FxHashMap<UserId, u64>,
}

impl Room {
    /// Places a message; false if its seq is taken (the view saw that seq under another id).
    pub fn insert(&mut self, msg: Msg, me: UserId) -> bool {
        let at = match self.msgs.binary_search_by_key(&msg.seq, |m| m.seq) {
            Ok(_) => return false,
            Err(at) => at,
        };
        if msg.sender == me && msg.need_read_receipt {
            let i = self.mine.partition_point(|&s| s < msg.seq);
            self.mine.insert(i, msg.seq);
        }
        self.msgs.insert(at, msg);
        true
    }

    pub fn get(&self, seq: u64) -> Option<&Msg> {
        let i = self.msgs.binary_search_by_key(&seq, |m| m.seq).ok()?;
        Some(&self.msgs[i])
    }

    pub fn latest(&self) -> Option<&Msg> {
        self.msgs.last()
    }

    pub fn marker(&self, user: UserId) -> u64 {
        self.markers.get(&user).copied().unwrap_or(0)
    }

    /// Moves `user`'s marker to `seq` if that is later (MX2); returns the marker it left.
    pub fn advance(&mut self, user: UserId, seq: u64) -> Option<u64> {
        let old = self.marker(user);
        if seq <= old {
            return None;
        }
        self.markers.insert(user, seq);
        Some(old)
    }

    /// Whether a marker move by `user` is notified (MX7): in a group, only a current member's;
    /// in a 1:1 room, the other party's (either party may always send a receipt, MX4).
    pub fn notifies(&self, user: UserId) -> bool {
        match self.direct {
            Some(peer) => user == peer,
            None => self.members.contains(&user),
        }
    }

    /// My messages that asked for receipts in seqs `(old, new]`, with their counts now.
    pub fn newly_read(&self, old: u64, new: u64, me: UserId) -> Vec<ReadEntry> {
        let from = self.mine.partition_point(|&s| s <= old);
        let to = self.mine.partition_point(|&s| s <= new);
        let seqs = &self.mine[from..to];
        if seqs.is_empty() {
            return Vec::new();
        }
        let audience = self.audience_markers(me);
        seqs.iter()
            .filter_map(|&s| self.get(s))
            .map(|m| ReadEntry {
                event_id: m.event_id.to_string(),
                seq: m.seq,
                counts: self.counts_with(m, me, &audience),
            })
            .collect()
    }

    /// Counts of `msg` over the current members (MX6), or the 1:1 read flag.
    pub fn counts(&self, msg: &Msg, me: UserId) -> Counts {
        self.counts_with(msg, me, &self.audience_markers(msg.sender))
    }

    /// `audience` holds the markers of the current members other than the sender, ascending:
    /// one sort answers the counts of every message a push lists.
    fn counts_with(&self, msg: &Msg, me: UserId, audience: &[u64]) -> Counts {
        if let Some(peer) = self.direct {
            let reader = if msg.sender == me { peer } else { me };
            return Counts::Direct {
                peer: reader,
                is_peer_read: self.marker(reader) >= msg.seq,
            };
        }
        let unread = audience.partition_point(|&m| m < msg.seq);
        Counts::Group {
            read_count: (audience.len() - unread) as u32,
            unread_count: unread as u32,
        }
    }

    fn audience_markers(&self, sender: UserId) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .members
            .iter()
            .filter(|&&u| u != sender)
            .map(|&u| self.marker(u))
            .collect();
        v.sort_unstable();
        v
    }

    /// One page of either member list of `msg` (MX8: both ascending by user id, the cursor is
    /// the smallest user id still to consider, as M4; M5's `is_finished`).
    pub fn page(&self, msg: &Msg, filter: ReadFilter, next_seq: u64, count: usize) -> MemberPage {
        let Ok(from) = u32::try_from(next_seq) else {
            return MemberPage {
                members: Vec::new(),
                next_seq,
                is_finished: true,
            };
        };
        let want_read = filter == ReadFilter::Read;
        let mut it = self
            .members
            .range(UserId(from)..)
            .filter(|&&u| u != msg.sender && (self.marker(u) >= msg.seq) == want_read)
            .copied();
        let members: Vec<UserId> = it.by_ref().take(count).collect();
        let is_finished = it.next().is_none();
        let next_seq = members.last().map_or(next_seq, |u| u64::from(u.0) + 1);
        MemberPage {
            members,
            next_seq,
            is_finished,
        }
    }
}
