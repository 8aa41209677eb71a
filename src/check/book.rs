//! The message book: every message the checker has sighted, with its audience, who invoked
//! and who got an acknowledged receipt, and the sends that may still create messages.

use super::sink::Finding;
use super::violation::Invariant;
use super::world::World;
use crate::history::MsgMap;
use crate::protocol::{ConvKey, GroupId, Micros, MsgId, UserId};
use crate::user_set::UserSet;
use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

#[derive(Clone)]
pub(super) enum Audience {
    /// Members at send time, sender included (excluded on every query).
    Group(GroupId, Arc<UserSet>),
    Peer(UserId),
}

pub(super) struct MsgState {
    pub conv: ConvKey,
    pub sender: UserId,
    pub seq: u64,
    pub timestamp_ms: u64,
    pub need: bool,
    pub audience: Audience,
    /// Lower bound of the send's invoke time (exact once the ack is seen).
    pub send_invoked: Micros,
    /// When the sender got the ack; None while in flight.
    pub send_acked: Option<Micros>,
    /// Audience members eligible at invoke who invoked a receipt.
    pub invoked: UserSet,
    /// Those whose receipt was acknowledged.
    pub acked: UserSet,
    /// Highest count the sender has seen (push or pull).
    pub max_seen: u32,
    /// Highest count pushed to the sender.
    pub max_pushed: u32,
    /// Users whose membership changed while the send was in flight: in the audience or not,
    /// the checker cannot tell until the target says (a receipt accepted or refused, a
    /// listing, a push). Empty without concurrent churn.
    pub maybe: RoaringBitmap,
    /// Readers whose receipt operation was lost: it may or may not have been applied.
    pub unknown: RoaringBitmap,
    /// read + unread as first observed while `maybe` was not empty (0: not yet).
    pub total_seen: u32,
    /// Coverage probes waiting for the next observation of the count (`coverage.rs`).
    pub probes: u8,
    /// Server crashes seen before the first receipt was acknowledged.
    pub first_ack_epoch: u32,
    /// When the checker first sighted it (it was committed before).
    pub seen_at: Micros,
    /// Matrix profile: when its sender last got a receipts push entry for it.
    pub last_push_at: Option<Micros>,
}

impl MsgState {
    /// A message just sighted: nobody has read it yet.
    pub fn new(
        s: &Sighting,
        audience: Audience,
        maybe: RoaringBitmap,
        send_invoked: Micros,
    ) -> Self {
        MsgState {
            conv: s.key,
            sender: s.sender,
            seq: s.seq,
            timestamp_ms: s.timestamp_ms,
            need: s.need,
            audience,
            send_invoked,
            send_acked: None,
            invoked: UserSet::default(),
            acked: UserSet::default(),
            max_seen: 0,
            max_pushed: 0,
            maybe,
            unknown: RoaringBitmap::new(),
            total_seen: 0,
            probes: 0,
            first_ack_epoch: 0,
            seen_at: send_invoked,
            last_push_at: None,
        }
    }

    /// In the audience for sure.
    pub fn in_audience(&self, u: UserId) -> bool {
        u != self.sender
            && match &self.audience {
                Audience::Group(_, m) => m.contains(u.0),
                Audience::Peer(p) => *p == u,
            }
    }

    /// In the audience, or maybe (membership changed while the send was in flight).
    pub fn may_be_in_audience(&self, u: UserId) -> bool {
        self.in_audience(u) || (u != self.sender && self.maybe.contains(u.0))
    }

    /// The target showed that `u` is in the audience: settle it.
    pub fn settle_in(&mut self, u: UserId) {
        if self.maybe.remove(u.0)
            && let Audience::Group(_, m) = &mut self.audience
        {
            Arc::make_mut(m).insert(u.0);
        }
    }

    /// Audience size for sure (the maybe users not counted).
    pub fn audience_len(&self) -> u32 {
        match &self.audience {
            Audience::Group(_, m) => (m.len() as u32).saturating_sub(1),
            Audience::Peer(_) => 1,
        }
    }

    /// The audience for sure, sender excluded.
    pub fn audience_set(&self) -> RoaringBitmap {
        match &self.audience {
            Audience::Group(_, s) => {
                let mut a = s.to_bitmap();
                a.remove(self.sender.0);
                a
            }
            Audience::Peer(p) => std::iter::once(p.0).collect(),
        }
    }

    /// Readers that may be counted at most, once every operation has ended.
    pub fn may_have_read(&self) -> RoaringBitmap {
        &self.acked.to_bitmap() | &self.unknown
    }

    /// How many [`MsgState::may_have_read`] holds, without building it when nothing was lost.
    pub fn may_have_read_len(&self) -> u64 {
        if self.unknown.is_empty() {
            self.acked.len()
        } else {
            self.may_have_read().len()
        }
    }

    pub fn peer(&self) -> Option<UserId> {
        match self.audience {
            Audience::Peer(p) => Some(p),
            Audience::Group(..) => None,
        }
    }
}

/// What one sighting of a message (a send's ack or a new_message push) says about it.
pub(super) struct Sighting {
    pub id: MsgId,
    pub key: ConvKey,
    pub sender: UserId,
    pub seq: u64,
    pub timestamp_ms: u64,
    pub need: bool,
    /// The send's invoke time when the sighting is its own ack (exact).
    pub acked_send: Option<Micros>,
}

#[derive(Default)]
pub(super) struct Book {
    msgs: MsgMap<MsgState>,
    /// Seqs seen per conversation, for uniqueness and gap checks.
    seqs: FxHashMap<ConvKey, RoaringBitmap>,
    /// Invoke times of sends in flight per (sender, conversation).
    sends_in_flight: FxHashMap<(UserId, ConvKey), Vec<Micros>>,
    /// Invoke times of lost sends per (sender, conversation): such a send may still create
    /// a message (it may be in flight), so audiences sighted later in that conversation
    /// widen their window to it. Conversations with lost sends skip the seq gap check (a
    /// message nobody saw may exist).
    lost_sends: FxHashMap<(UserId, ConvKey), Micros>,
    /// Receipts invoked for messages the checker had not seen yet (a reader can learn of a
    /// message from history before the sender's ack arrives): added at the sighting as
    /// invoked and possibly read.
    early_receipts: FxHashMap<MsgId, Vec<UserId>>,
    /// Matrix profile: message ids by (conversation, seq), for the messages a read marker
    /// newly covers (MX3); and early receipts kept whatever the audience snapshot says.
    matrix: bool,
    by_seq: FxHashMap<ConvKey, std::collections::BTreeMap<u64, MsgId>>,
}

impl Book {
    pub fn get(&self, id: &MsgId) -> Option<&MsgState> {
        self.msgs.get(id)
    }

    pub fn get_mut(&mut self, id: &MsgId) -> Option<&mut MsgState> {
        self.msgs.get_mut(id)
    }

    /// Index messages by seq and keep every early receipt (the Matrix profile).
    pub fn for_matrix(&mut self) {
        self.matrix = true;
    }

    /// The highest seq sighted in `key` (0: none).
    pub fn max_seq(&self, key: ConvKey) -> u64 {
        self.seqs
            .get(&key)
            .and_then(|s| s.max())
            .map_or(0, u64::from)
    }

    /// The messages of `key` sighted so far with `lo < seq <= hi`, ascending.
    pub fn in_range(&self, key: ConvKey, lo: u64, hi: u64) -> Vec<MsgId> {
        if lo >= hi {
            return Vec::new();
        }
        self.by_seq
            .get(&key)
            .map(|m| m.range(lo + 1..=hi).map(|(_, &id)| id).collect())
            .unwrap_or_default()
    }

    pub fn send_invoked(&mut self, client: UserId, key: ConvKey, t: Micros) {
        self.sends_in_flight
            .entry((client, key))
            .or_default()
            .push(t);
    }

    /// The send `client` invoked at `invoked_at` in `key` is no longer in flight.
    pub fn end_send_in_flight(&mut self, client: UserId, key: ConvKey, invoked_at: Micros) {
        if let Some(v) = self.sends_in_flight.get_mut(&(client, key)) {
            if let Some(i) = v.iter().position(|&x| x == invoked_at) {
                v.swap_remove(i);
            }
            if v.is_empty() {
                self.sends_in_flight.remove(&(client, key));
            }
        }
    }

    /// The send was given up on: it may still create a message at any time.
    pub fn lose_send(&mut self, client: UserId, key: ConvKey, invoked_at: Micros) {
        self.end_send_in_flight(client, key, invoked_at);
        let e = self.lost_sends.entry((client, key)).or_insert(invoked_at);
        *e = (*e).min(invoked_at);
    }

    /// `reader` invoked a receipt for `id` before the checker sighted it.
    pub fn early_receipt(&mut self, id: MsgId, reader: UserId) {
        self.early_receipts.entry(id).or_default().push(reader);
    }

    /// Registers a message at its first sighting and checks that later sightings agree.
    pub fn sight(&mut self, world: &World, t: Micros, s: &Sighting) -> Option<Finding> {
        if let Some(m) = self.msgs.get(&s.id) {
            let agrees = m.conv == s.key
                && m.seq == s.seq
                && m.sender == s.sender
                && m.timestamp_ms == s.timestamp_ms;
            return (!agrees).then(|| {
                Finding::new(
                    Invariant::Sequencing,
                    format!(
                        "{} seen as {:?} seq {} from {}",
                        s.id, s.key, s.seq, s.sender
                    ),
                    format!(
                        "one message per id: first seen as {:?} seq {} from {}",
                        m.conv, m.seq, m.sender
                    ),
                )
            });
        }
        let seqs = self.seqs.entry(s.key).or_default();
        let fresh = u32::try_from(s.seq).is_ok_and(|q| q >= 1 && seqs.insert(q));
        let finding = (!fresh).then(|| {
            Finding::new(
                Invariant::Sequencing,
                format!("seq {} in {:?}", s.seq, s.key),
                "seqs of one conversation are unique and start at 1",
            )
        });
        self.register(world, t, s);
        finding
    }

    fn register(&mut self, world: &World, t: Micros, s: &Sighting) {
        let in_flight = self
            .sends_in_flight
            .get(&(s.sender, s.key))
            .and_then(|v| v.iter().min().copied());
        let lost = self.lost_sends.get(&(s.sender, s.key)).copied();
        // Without its own ack, the send happened no earlier than the earliest one that may
        // have made it.
        let send_invoked = s
            .acked_send
            .or_else(|| in_flight.into_iter().chain(lost).min())
            .unwrap_or(t);
        let (audience, maybe) = match s.key {
            ConvKey::Group(g) => {
                let (members, maybe) = world.audience_at_send(g, s.sender, send_invoked);
                (Audience::Group(g, members), maybe)
            }
            ConvKey::Pair(a, b) => {
                let peer = if a == s.sender { b } else { a };
                (Audience::Peer(peer), RoaringBitmap::new())
            }
        };
        let mut m = MsgState::new(s, audience, maybe, send_invoked);
        m.seen_at = t;
        if self.matrix {
            self.by_seq.entry(s.key).or_default().insert(s.seq, s.id);
        }
        for u in self.early_receipts.remove(&s.id).unwrap_or_default() {
            // Matrix: any receipt may have been applied (MX4); the checker reads them back
            // from `unknown` right after the sighting.
            if self.matrix || m.may_be_in_audience(u) {
                m.invoked.insert(u.0);
                m.unknown.insert(u.0);
            }
        }
        self.msgs.insert(s.id, m);
    }

    /// Conversations whose seqs are not 1..=n, in key order: (conversation, count, max seq).
    /// Those with lost sends are skipped: a message nobody saw may fill the gap.
    pub fn seq_gaps(&self) -> Vec<(ConvKey, u64, u64)> {
        let lost_convs: FxHashSet<ConvKey> = self.lost_sends.keys().map(|&(_, k)| k).collect();
        let mut gaps: Vec<(ConvKey, u64, u64)> = self
            .seqs
            .iter()
            .filter(|(k, _)| !lost_convs.contains(*k))
            .filter_map(|(k, s)| {
                let max = s.max().map_or(0, u64::from);
                (s.len() != max).then_some((*k, s.len(), max))
            })
            .collect();
        // Sorted: the map's iteration order must not show in the report.
        gaps.sort();
        gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{AdminRequest, GroupType, Response};

    const G: GroupId = GroupId(4);

    fn world() -> World {
        let mut w = World::default();
        let req = AdminRequest::CreateGroup {
            group: G,
            group_type: GroupType::Work,
            members: [1, 2, 3].map(UserId).to_vec(),
        };
        w.on_admin(0, &req, &Response::AdminDone);
        w
    }

    fn sighting(id: u64, seq: u64) -> Sighting {
        Sighting {
            id: MsgId(id),
            key: ConvKey::Group(G),
            sender: UserId(1),
            seq,
            timestamp_ms: 7,
            need: true,
            acked_send: None,
        }
    }

    #[test]
    fn a_sighting_registers_the_audience_without_the_sender() {
        let mut b = Book::default();
        assert_eq!(b.sight(&world(), 10, &sighting(1, 1)), None);
        let m = b.get(&MsgId(1)).unwrap();
        assert_eq!(m.audience_len(), 2);
        assert!(m.in_audience(UserId(2)) && !m.in_audience(UserId(1)));
        assert_eq!(m.audience_set().iter().collect::<Vec<_>>(), [2, 3]);
        // No ack and no send in flight: the sighting itself bounds the send.
        assert_eq!(m.send_invoked, 10);
    }

    #[test]
    fn a_repeated_sighting_must_agree() {
        let mut b = Book::default();
        let w = world();
        b.sight(&w, 10, &sighting(1, 1));
        assert_eq!(b.sight(&w, 11, &sighting(1, 1)), None);
        let f = b.sight(&w, 12, &sighting(1, 2)).expect("disagrees");
        assert_eq!(f.invariant, Invariant::Sequencing);
        assert_eq!(f.observed, "m1 seen as Group(GroupId(4)) seq 2 from u1");
    }

    #[test]
    fn seqs_are_unique_from_one_and_gap_free() {
        let mut b = Book::default();
        let w = world();
        assert_eq!(b.sight(&w, 1, &sighting(1, 1)), None);
        let dup = b.sight(&w, 2, &sighting(2, 1)).expect("duplicate seq");
        assert_eq!(
            dup.bound,
            "seqs of one conversation are unique and start at 1"
        );
        assert!(b.sight(&w, 3, &sighting(3, 0)).is_some(), "seq 0");
        assert_eq!(b.seq_gaps(), []);
        b.sight(&w, 4, &sighting(4, 3));
        assert_eq!(b.seq_gaps(), [(ConvKey::Group(G), 2, 3)]);
        // A lost send may have taken seq 2.
        b.lose_send(UserId(1), ConvKey::Group(G), 0);
        assert_eq!(b.seq_gaps(), []);
    }

    #[test]
    fn the_earliest_send_in_flight_bounds_an_unacked_sighting() {
        let mut b = Book::default();
        let key = ConvKey::Group(G);
        b.send_invoked(UserId(1), key, 5);
        b.send_invoked(UserId(1), key, 3);
        b.lose_send(UserId(1), key, 3);
        b.lose_send(UserId(1), key, 4);
        b.sight(&world(), 10, &sighting(1, 1));
        assert_eq!(b.get(&MsgId(1)).unwrap().send_invoked, 3);
        let acked = Sighting {
            acked_send: Some(8),
            ..sighting(2, 2)
        };
        b.sight(&world(), 10, &acked);
        assert_eq!(b.get(&MsgId(2)).unwrap().send_invoked, 8);
    }

    #[test]
    fn early_receipts_of_audience_members_count_as_invoked_and_unknown() {
        let mut b = Book::default();
        b.early_receipt(MsgId(1), UserId(2));
        b.early_receipt(MsgId(1), UserId(9));
        b.sight(&world(), 10, &sighting(1, 1));
        let m = b.get(&MsgId(1)).unwrap();
        assert_eq!(m.invoked.iter().collect::<Vec<_>>(), [2]);
        assert_eq!(m.may_have_read().iter().collect::<Vec<_>>(), [2]);
        assert!(m.acked.is_empty());
    }

    #[test]
    fn settling_a_maybe_member_adds_it_to_the_audience() {
        let mut w = world();
        w.on_admin_invoke(&AdminRequest::AddMember {
            group: G,
            user: UserId(8),
        });
        let mut b = Book::default();
        b.sight(&w, 10, &sighting(1, 1));
        let m = b.get_mut(&MsgId(1)).unwrap();
        assert!(!m.in_audience(UserId(8)) && m.may_be_in_audience(UserId(8)));
        m.settle_in(UserId(8));
        assert!(m.in_audience(UserId(8)));
        assert!(m.maybe.is_empty());
        assert_eq!(m.audience_len(), 3);
    }

    #[test]
    fn a_pair_message_has_the_other_user_as_audience() {
        let mut b = Book::default();
        let s = Sighting {
            key: ConvKey::Pair(UserId(1), UserId(5)),
            ..sighting(1, 1)
        };
        b.sight(&world(), 1, &s);
        let m = b.get(&MsgId(1)).unwrap();
        assert_eq!(m.peer(), Some(UserId(5)));
        assert_eq!(m.audience_len(), 1);
    }
}
