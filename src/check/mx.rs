//! The Matrix profile's checks (docs/matrix.md, MX1..MX11), pure: read markers as the
//! checker bounds them, who may send a receipt or pull, and the bounds one observed count
//! must keep over the current membership.
//!
//! A user's marker in a conversation is bounded below by the highest seq of its acknowledged
//! receipts (and marks), and above by the highest seq of any receipt that may have been
//! applied: acknowledged, in flight, or lost. Markers never move back, so both bounds only
//! grow (MX2), and a user has read a message iff its marker reached the message's seq (MX3).
//! Membership is the group's now, widened by every user whose membership changed since the
//! observation may have been made (MX6).

use super::book::{Audience, MsgState};
use super::expect::Expect;
use super::sink::Finding;
use super::violation::Invariant;
use super::world::World;
use crate::history::OpId;
use crate::protocol::{ConvKey, ErrorCode, Micros, ReceiptEntry, UserId};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

/// A mark-read in flight or lost may cover any message (MX9: the latest at the time it is
/// applied).
pub(super) const ANY: u64 = u64::MAX;

#[derive(Default)]
struct Marker {
    /// Highest seq acknowledged: the marker is at least this.
    acked: u64,
    /// Highest seq of lost (or unexpectedly accepted) receipts: may have been applied.
    lost: u64,
    /// Receipts and marks in flight: (operation, seq).
    inflight: Vec<(OpId, u64)>,
    /// When the latest acknowledged mark-read completed: it read the latest message when it
    /// was applied, which may be any message whose send was invoked before then (MX9).
    mark_until: Option<Micros>,
}

impl Marker {
    fn upper(&self) -> u64 {
        let inflight = self.inflight.iter().map(|&(_, s)| s).max().unwrap_or(0);
        self.acked.max(self.lost).max(inflight)
    }
}

/// Read markers per (conversation, user), as bounds.
#[derive(Default)]
pub(super) struct MxMarks {
    marks: FxHashMap<(ConvKey, UserId), Marker>,
    /// Receipts per user for messages the checker had not sighted when they were invoked (a
    /// reader may learn of a message from history first): until the message is sighted its
    /// conversation is unknown, so the receipt may have moved any of the user's markers.
    wild: FxHashMap<UserId, Vec<crate::protocol::MsgId>>,
}

impl MxMarks {
    /// The marker is at least this.
    pub fn acked(&self, key: ConvKey, u: UserId) -> u64 {
        self.marks.get(&(key, u)).map_or(0, |m| m.acked)
    }

    /// The marker may be as high as this (by the end of an observation ending now).
    pub fn upper(&self, key: ConvKey, u: UserId) -> u64 {
        if self.wild.contains_key(&u) {
            return ANY;
        }
        self.marks.get(&(key, u)).map_or(0, Marker::upper)
    }

    /// `u` invoked a receipt for `id` before the checker sighted it.
    pub fn wild(&mut self, u: UserId, id: crate::protocol::MsgId) {
        self.wild.entry(u).or_default().push(id);
    }

    /// `id` was sighted: `u`'s receipts for it are tied to its conversation from now on.
    pub fn tame(&mut self, u: UserId, id: crate::protocol::MsgId) {
        if let Some(v) = self.wild.get_mut(&u) {
            v.retain(|&x| x != id);
            if v.is_empty() {
                self.wild.remove(&u);
            }
        }
    }

    /// The highest seq `u`'s marker may have reached through anything but operation `op`.
    pub fn upper_without(&self, key: ConvKey, u: UserId, op: OpId) -> u64 {
        if self.wild.contains_key(&u) {
            return ANY;
        }
        self.marks.get(&(key, u)).map_or(0, |m| {
            let other = m.inflight.iter().filter(|&&(o, _)| o != op);
            let inflight = other.map(|&(_, s)| s).max().unwrap_or(0);
            m.acked.max(m.lost).max(inflight)
        })
    }

    pub fn invoke(&mut self, key: ConvKey, u: UserId, op: OpId, seq: u64) {
        let m = self.marks.entry((key, u)).or_default();
        m.inflight.push((op, seq));
    }

    /// The receipt (or mark) of operation `op` invoked for `seq` is no longer in flight.
    pub fn end(&mut self, key: ConvKey, u: UserId, op: OpId, seq: u64) {
        if let Some(m) = self.marks.get_mut(&(key, u))
            && let Some(i) = m.inflight.iter().position(|&e| e == (op, seq))
        {
            m.inflight.swap_remove(i);
        }
    }

    /// A receipt for `seq` was acknowledged: the marker reached it.
    pub fn ack(&mut self, key: ConvKey, u: UserId, seq: u64) {
        let m = self.marks.entry((key, u)).or_default();
        m.acked = m.acked.max(seq);
    }

    /// A receipt for `seq` may have been applied (lost, or invoked before the message was
    /// sighted).
    pub fn maybe(&mut self, key: ConvKey, u: UserId, seq: u64) {
        let m = self.marks.entry((key, u)).or_default();
        m.lost = m.lost.max(seq);
    }

    /// Users among `of` whose marker in `key` surely reached `seq`.
    pub fn must_have_read(&self, key: ConvKey, seq: u64, of: &RoaringBitmap) -> RoaringBitmap {
        of.iter()
            .filter(|&u| self.acked(key, UserId(u)) >= seq)
            .collect()
    }

    /// Users among `of` whose marker in `key` may have reached `seq` (a message whose send
    /// was invoked at `sent`).
    pub fn may_have_read(
        &self,
        key: ConvKey,
        (seq, sent): (u64, Micros),
        of: &RoaringBitmap,
    ) -> RoaringBitmap {
        of.iter()
            .filter(|&u| self.may_read(key, UserId(u), seq, sent))
            .collect()
    }

    /// Whether `u`'s marker in `key` may have reached `seq` (sent at `sent`).
    pub fn may_read(&self, key: ConvKey, u: UserId, seq: u64, sent: Micros) -> bool {
        self.upper(key, u) >= seq || self.marked_after(key, u, sent)
    }

    /// Whether an acknowledged mark of `u` in `key` completed at or after `sent`.
    pub fn marked_after(&self, key: ConvKey, u: UserId, sent: Micros) -> bool {
        self.marks
            .get(&(key, u))
            .and_then(|m| m.mark_until)
            .is_some_and(|t| t >= sent)
    }

    /// A mark of `u` in `key` completed at `t`.
    pub fn mark_done(&mut self, key: ConvKey, u: UserId, t: Micros) {
        let m = self.marks.entry((key, u)).or_default();
        m.mark_until = Some(m.mark_until.map_or(t, |x| x.max(t)));
    }
}

/// MX4: whether `u` may send a receipt for `m` (None: membership changes leave it open).
/// A current member or either party may; a former member for messages committed before the
/// leave. Whoever surely was a member at some moment after the commit (the checker sighted
/// the message then) qualifies for good; whoever was not a member and saw no membership
/// change since the send was invoked never was one after the commit.
pub(super) fn may_receipt(world: &World, u: UserId, m: &MsgState) -> Option<bool> {
    match m.audience {
        Audience::Peer(p) => Some(u == p || u == m.sender),
        Audience::Group(..) if u == m.sender => Some(true),
        Audience::Group(g, _) if world.member_since(g, u, m.seen_at) => Some(true),
        Audience::Group(g, _)
            if !world.is_member(g, u) && !world.unsettled(g, u, m.send_invoked) =>
        {
            Some(false)
        }
        Audience::Group(..) => None,
    }
}

/// Who may know that `m` exists under the Matrix profile: whoever may send a receipt for it.
pub(super) fn visible(world: &World, u: UserId, m: &MsgState) -> Option<bool> {
    may_receipt(world, u, m)
}

/// MX4's answer to a receipt: success, or NOT_IN_AUDIENCE for whoever may not send one.
pub(super) fn expect_receipt(world: &World, u: UserId, m: &MsgState) -> Expect {
    match may_receipt(world, u, m) {
        Some(true) => Expect::Ok,
        Some(false) => Expect::Err(ErrorCode::NotInAudience),
        None => Expect::Unknown,
    }
}

/// MX11: whether `m`'s sender is in its conversation for a call invoked at `since` and
/// answered now: Some(true) if it surely was a member throughout (either party of a 1:1 chat
/// always is), Some(false) if it surely was none throughout, None if its membership changed
/// (or may have) in between. `Micros::MAX` asks about now, with changes in flight open.
pub(super) fn sender_party(world: &World, m: &MsgState, since: Micros) -> Option<bool> {
    match m.audience {
        Audience::Peer(_) => Some(true),
        Audience::Group(g, _) if world.unsettled(g, m.sender, since) => None,
        Audience::Group(g, _) => Some(world.is_member(g, m.sender)),
    }
}

/// MX11: the answer to a count pull or member list of `m` by its sender, `then` being what
/// a current member gets: `NOT_CONVERSATION_PARTY` for a sender surely no member, either
/// while a change of its membership is in flight.
pub(super) fn expect_own(world: &World, m: &MsgState, then: Expect) -> Expect {
    match sender_party(world, m, Micros::MAX) {
        Some(true) => then,
        Some(false) => Expect::Err(ErrorCode::NotConversationParty),
        None => Expect::Unknown,
    }
}

/// The membership an observation made at some moment between `since` and now may have
/// seen, sender excluded: (members for sure, members maybe).
pub(super) fn membership(
    world: &World,
    m: &MsgState,
    since: Micros,
) -> (RoaringBitmap, RoaringBitmap) {
    let Audience::Group(g, _) = m.audience else {
        let p = m.peer().expect("a pair message has a peer");
        return (std::iter::once(p.0).collect(), RoaringBitmap::new());
    };
    let mut maybe = world.unsettled_users(g, since);
    let mut sure = world
        .groups
        .get(&g)
        .map(|g| g.members.to_bitmap())
        .unwrap_or_default();
    sure -= &maybe;
    sure.remove(m.sender.0);
    maybe.remove(m.sender.0);
    (sure, maybe)
}

/// How one entry was observed under the Matrix profile.
pub(super) struct MxLook<'a> {
    pub push: bool,
    pub quiet: bool,
    pub by_sender: bool,
    /// The earliest moment the entry may show (a pull's invoke; for a push, the send).
    pub since: Micros,
    /// A pull: readers that had surely read when it was invoked.
    pub lower: Option<&'a RoaringBitmap>,
}

/// The count an entry shows and the rules it breaks (MX3, MX6, I1, I3 while membership is
/// unchanged).
pub(super) fn entry_findings(
    m: &MsgState,
    world: &World,
    marks: &MxMarks,
    e: &ReceiptEntry,
    look: &MxLook,
) -> (u32, Vec<Finding>) {
    let how = if look.push { "push" } else { "pull" };
    let (sure, maybe) = membership(world, m, look.since);
    let mut found = Vec::new();
    let count = match *e {
        ReceiptEntry::Group {
            read_count,
            unread_count,
            ..
        } => {
            let total = u64::from(read_count) + u64::from(unread_count);
            let (lo, hi) = (sure.len(), sure.len() + maybe.len());
            if !(lo..=hi).contains(&total) {
                found.push(Finding::new(
                    Invariant::CountSum,
                    format!(
                        "{how} read_count={} unread_count={}",
                        super::counts::count_text(read_count),
                        super::counts::count_text(unread_count)
                    ),
                    format!("read + unread = current members but the sender, {lo} to {hi}"),
                ));
            }
            read_count
        }
        ReceiptEntry::C2c { is_peer_read, .. } => is_peer_read as u32,
    };
    let all = &sure | &maybe;
    let upper = marks
        .may_have_read(m.conv, (m.seq, m.send_invoked), &all)
        .len() as u32;
    if count > upper {
        found.push(Finding::new(
            Invariant::CountUpperBound,
            format!("{how} read_count={count}"),
            format!(
                "<= {upper} members whose receipts up to seq {} were invoked",
                m.seq
            ),
        ));
    }
    if let Some(lower) = look.lower {
        let low = (lower & &sure).len() as u32;
        if count < low {
            let inv = if look.quiet {
                Invariant::QuietState
            } else {
                Invariant::PullLowerBound
            };
            found.push(Finding::new(
                inv,
                format!("pull read_count={count}"),
                format!(">= {low} members whose receipt up to seq {} was acknowledged before the pull started (MX3)", m.seq),
            ));
        }
    }
    // Counts drop when members leave (MX6): monotone only while membership stayed as it was.
    let steady = match m.audience {
        Audience::Group(g, _) => !world.group_unsettled(g, m.send_invoked),
        Audience::Peer(_) => true,
    };
    if look.by_sender && steady && count < m.max_seen {
        found.push(Finding::new(
            Invariant::MonotoneCounts,
            format!("{how} read_count={count}"),
            format!(
                ">= {} seen earlier by the same observer (membership unchanged)",
                m.max_seen
            ),
        ));
    }
    (count, found)
}

/// What a member-list paging may see under the Matrix profile, taken when a page arrives.
pub(super) struct MxSets {
    /// Members now or whose membership changed since the paging started, sender excluded.
    pub may_member: RoaringBitmap,
    /// Members throughout the paging, sender excluded.
    pub sure: RoaringBitmap,
    /// Users whose marker may have reached the message.
    pub may_read: RoaringBitmap,
    /// Users whose marker surely reached it.
    pub must_read: RoaringBitmap,
    /// The sender surely stayed a member throughout the paging, so its view is current. If
    /// not (it left or joined meanwhile), the lists may show the room as it was at any moment
    /// since the send (a leaver's view freezes, MX11), and nobody must be on them.
    pub party: bool,
}

impl MxSets {
    pub fn of(world: &World, marks: &MxMarks, m: &MsgState, since: Micros) -> MxSets {
        let party = sender_party(world, m, since) == Some(true);
        let since = if party { since } else { m.send_invoked };
        let (mut sure, maybe) = membership(world, m, since);
        let may_member = &sure | &maybe;
        if !party {
            sure.clear();
        }
        MxSets {
            may_read: marks.may_have_read(m.conv, (m.seq, m.send_invoked), &may_member),
            must_read: marks.must_have_read(m.conv, m.seq, &may_member),
            may_member,
            sure,
            party,
        }
    }
}
