//! The Matrix profile of the model (docs/matrix.md, rules MX1..MX11): what a Matrix
//! homeserver (Synapse) does with read receipts, as a pure state machine beside the Tencent
//! rules of `mod.rs`.
//!
//! A receipt is a read marker: each user has one per conversation, the highest `seq` it has
//! sent a receipt (or mark) for (MX2), and it has read every message up to it (MX3). Counts
//! and lists are taken over the conversation's members at the time of the query (MX6), so
//! they cost one pass over the group's members: fine for the room sizes a Matrix server is
//! driven with, and nothing here is used under the Tencent profile.

use super::{Delivery, Message, MessageView, Model};
use crate::protocol::{
    ConvKey, ErrorCode, GroupId, MAX_BATCH, Micros, MsgId, PerMessage, Push, ReadFilter,
    ReceiptEntry, Request, Response, UserId,
};
use std::collections::BTreeMap;

/// The Matrix profile's own state.
#[derive(Clone, Debug, Default)]
pub(super) struct MxState {
    /// Read marker per (conversation, user): the highest seq it has read (MX2).
    markers: BTreeMap<(ConvKey, UserId), u64>,
    /// Per (group, user): how many messages the group had when the user last left. A former
    /// member may send receipts for (and read the history of) messages up to there (MX4).
    left_at: BTreeMap<(GroupId, UserId), u64>,
}

impl MxState {
    pub(super) fn left(&mut self, g: GroupId, u: UserId, messages: u64) {
        self.left_at.insert((g, u), messages);
    }

    fn marker(&self, conv: ConvKey, u: UserId) -> u64 {
        self.markers.get(&(conv, u)).copied().unwrap_or(0)
    }
}

impl Model {
    /// Every client request but a send, under the Matrix profile.
    pub(super) fn apply_matrix(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        match req {
            Request::SendReadReceipts { msg_ids } => self.mx_send_receipts(user, msg_ids, out),
            Request::GetReadReceipts { msg_ids } => self.mx_get_receipts(user, msg_ids),
            Request::GetReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => self.mx_member_list(user, *msg_id, *filter, *next_seq, *count),
            Request::MarkC2cRead { peer } => self.mx_mark(now, user, *peer, out),
            Request::GetHistory {
                conv,
                before_seq,
                count,
            } => self.mx_history(user, *conv, *before_seq, *count),
            Request::SendMessage { .. } => unreachable!("sends take the common path"),
        }
    }

    /// `u`'s read marker in `conv` (0: nothing read).
    pub fn marker(&self, conv: ConvKey, u: UserId) -> u64 {
        self.mx.marker(conv, u)
    }

    /// Sets `u`'s read marker in `conv`, pushing nothing: only for the planted bugs of
    /// `target/faulty.rs`, which break the rule that a marker never moves back.
    pub fn force_marker(&mut self, conv: ConvKey, u: UserId, seq: u64) {
        self.mx.markers.insert((conv, u), seq);
    }

    /// The current members of a group, ascending.
    pub fn members(&self, g: GroupId) -> Vec<UserId> {
        self.group(g)
            .map_or_else(Vec::new, |g| g.members.iter().map(UserId).collect())
    }

    /// The message ids of a conversation, by `seq - 1`.
    pub fn conversation(&self, conv: ConvKey) -> &[MsgId] {
        match conv {
            ConvKey::Group(g) => self.group(g).map_or(&[], |g| &g.messages),
            ConvKey::Pair(lo, hi) => self.pairs.get(&(lo, hi)).map_or(&[], |p| &p.messages),
        }
    }

    /// MX4: a current member (either party of a 1:1 chat) for any message, a former member
    /// for messages committed before the leave.
    fn mx_may_receipt(&self, u: UserId, m: &Message) -> bool {
        match m.conv {
            ConvKey::Group(g) => {
                self.is_member(g, u) || self.mx.left_at.get(&(g, u)).is_some_and(|&n| n >= m.seq)
            }
            ConvKey::Pair(a, b) => u == a || u == b,
        }
    }

    /// MX11: whether the sender `u` of `m` is still in its conversation (a current member of
    /// its group; either party of a 1:1 chat always is), so that it may pull its counts and
    /// lists and be told of new readers.
    fn mx_party(&self, u: UserId, m: &Message) -> bool {
        match m.conv {
            ConvKey::Group(g) => self.is_member(g, u),
            ConvKey::Pair(..) => true,
        }
    }

    /// Who may know that a message exists: its sender and whoever may send a receipt for it.
    fn mx_visible(&self, u: UserId, id: MsgId) -> Option<&Message> {
        self.msg(id)
            .filter(|m| m.sender == u || self.mx_may_receipt(u, m))
    }

    /// MX6: the audience now, ascending: the group's current members but the sender, or the
    /// other party of a 1:1 chat.
    fn mx_audience(&self, m: &Message) -> Vec<UserId> {
        match m.conv {
            ConvKey::Group(g) => self.group(g).map_or_else(Vec::new, |g| {
                g.members
                    .iter()
                    .map(UserId)
                    .filter(|&u| u != m.sender)
                    .collect()
            }),
            ConvKey::Pair(a, b) => vec![if a == m.sender { b } else { a }],
        }
    }

    /// MX3: `u` has read `m` iff its marker in `m`'s conversation reached `m`.
    fn mx_has_read(&self, m: &Message, u: UserId) -> bool {
        self.mx.marker(m.conv, u) >= m.seq
    }

    fn mx_entry(&self, id: MsgId, m: &Message) -> ReceiptEntry {
        let audience = self.mx_audience(m);
        match m.conv {
            ConvKey::Group(g) => {
                let read = audience.iter().filter(|&&u| self.mx_has_read(m, u)).count() as u32;
                ReceiptEntry::Group {
                    msg_id: id,
                    group_id: g,
                    read_count: read,
                    unread_count: audience.len() as u32 - read,
                }
            }
            ConvKey::Pair(..) => ReceiptEntry::C2c {
                msg_id: id,
                user_id: audience[0],
                is_peer_read: self.mx_has_read(m, audience[0]),
            },
        }
    }

    pub(super) fn mx_view(&self, id: MsgId) -> Option<MessageView> {
        let m = self.msg(id)?;
        let audience = self.mx_audience(m);
        Some(MessageView {
            conv: m.conv,
            sender: m.sender,
            seq: m.seq,
            need_read_receipt: m.need_read_receipt,
            audience_len: audience.len() as u32,
            read_count: audience.iter().filter(|&&u| self.mx_has_read(m, u)).count() as u32,
        })
    }

    /// MX2, MX4, MX5: 1..=100 ids, any conversations, each applied in order as one receipt.
    fn mx_send_receipts(
        &mut self,
        reader: UserId,
        ids: &[MsgId],
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(ErrorCode::BatchSize);
        }
        let mut results = Vec::with_capacity(ids.len());
        for &id in ids {
            let result = match self.msg(id) {
                // Synapse answers 200 for an unknown event and stores nothing.
                None => Ok(()),
                Some(m) if !self.mx_may_receipt(reader, m) => Err(ErrorCode::NotInAudience),
                Some(m) => {
                    let (conv, seq) = (m.conv, m.seq);
                    self.mx_move(reader, conv, seq, out);
                    Ok(())
                }
            };
            results.push(PerMessage { msg_id: id, result });
        }
        Ok(Response::ReceiptsSent { results })
    }

    /// Moves `u`'s marker in `conv` up to `seq` (never back, MX2) and tells the senders of
    /// the receipt-asking messages it newly covers, if `u` counts as a reader (MX7): one push
    /// per sender, its messages in ascending seq with their counts after the move.
    fn mx_move(&mut self, u: UserId, conv: ConvKey, seq: u64, out: &mut Vec<Delivery>) {
        let old = self.mx.marker(conv, u);
        if seq <= old {
            return;
        }
        self.mx.markers.insert((conv, u), seq);
        if let ConvKey::Group(g) = conv
            && !self.is_member(g, u)
        {
            return;
        }
        let mut notify: BTreeMap<UserId, Vec<ReceiptEntry>> = BTreeMap::new();
        let ids = self.conversation(conv);
        let newly = &ids[old as usize..(seq as usize).min(ids.len())];
        for &id in newly {
            let m = self.msg(id).expect("conversation ids are valid");
            // MX11: Synapse syncs a room only to its members, so a sender who left is told
            // nothing.
            if m.sender != u && m.need_read_receipt && self.mx_party(m.sender, m) {
                notify
                    .entry(m.sender)
                    .or_default()
                    .push(self.mx_entry(id, m));
            }
        }
        for (sender, entries) in notify {
            out.push(Delivery {
                to: sender,
                device: None,
                push: Push::Receipts { entries },
            });
        }
    }

    /// P1 with Matrix visibility: 1..=100 ids, the visible ones in one conversation.
    fn mx_check_batch(&self, user: UserId, ids: &[MsgId]) -> Result<(), ErrorCode> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(ErrorCode::BatchSize);
        }
        let mut convs = ids.iter().filter_map(|&id| self.mx_visible(user, id));
        let first = convs.next().map(|m| m.conv);
        if convs.any(|m| Some(m.conv) != first) {
            return Err(ErrorCode::MixedConversations);
        }
        Ok(())
    }

    /// P2 with Matrix visibility and counts over the current audience (MX6); a sender who
    /// left the group gets `NOT_CONVERSATION_PARTY` after the sender check (MX11).
    fn mx_get_receipts(&self, user: UserId, ids: &[MsgId]) -> Result<Response, ErrorCode> {
        self.mx_check_batch(user, ids)?;
        let entries = ids
            .iter()
            .map(|&id| PerMessage {
                msg_id: id,
                result: match self.mx_visible(user, id) {
                    None => Err(ErrorCode::MessageNotFound),
                    Some(m) if m.sender != user => Err(ErrorCode::NotMessageSender),
                    Some(m) if !self.mx_party(user, m) => Err(ErrorCode::NotConversationParty),
                    Some(m) if !m.need_read_receipt => Err(ErrorCode::ReceiptNotRequested),
                    Some(m) => Ok(self.mx_entry(id, m)),
                },
            })
            .collect();
        Ok(Response::ReadReceipts { entries })
    }

    /// M1, with MX11's `NOT_CONVERSATION_PARTY` for a sender who left right after the sender
    /// check (a 1:1 message never gets it, so its place against `NOT_GROUP_MESSAGE` shows
    /// nowhere); MX8: both lists in ascending user id over the current audience, the cursor
    /// the smallest user id still to consider (M4's).
    fn mx_member_list(
        &self,
        user: UserId,
        id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> Result<Response, ErrorCode> {
        if count == 0 || count as usize > MAX_BATCH {
            return Err(ErrorCode::CountOutOfRange);
        }
        let m = self
            .mx_visible(user, id)
            .ok_or(ErrorCode::MessageNotFound)?;
        if m.sender != user {
            return Err(ErrorCode::NotMessageSender);
        }
        if !self.mx_party(user, m) {
            return Err(ErrorCode::NotConversationParty);
        }
        if matches!(m.conv, ConvKey::Pair(..)) {
            return Err(ErrorCode::NotGroupMessage);
        }
        if !m.need_read_receipt {
            return Err(ErrorCode::ReceiptNotRequested);
        }
        let want_read = filter == ReadFilter::Read;
        let mut it = self
            .mx_audience(m)
            .into_iter()
            .filter(|u| u64::from(u.0) >= next_seq && self.mx_has_read(m, *u) == want_read);
        let members: Vec<UserId> = it.by_ref().take(count as usize).collect();
        let is_finished = it.next().is_none();
        let next_seq = members.last().map_or(next_seq, |u| u64::from(u.0) + 1);
        Ok(Response::MemberList {
            members,
            next_seq,
            is_finished,
        })
    }

    /// MX9: a receipt for the latest message of the chat; no c2c_read push.
    fn mx_mark(
        &mut self,
        now: Micros,
        user: UserId,
        peer: UserId,
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        if peer == user {
            return Err(ErrorCode::SelfConversation);
        }
        if !self.users.contains(peer.0) {
            return Err(ErrorCode::UserNotFound);
        }
        let conv = ConvKey::Pair(user.min(peer), user.max(peer));
        let latest = self.conversation(conv).len() as u64;
        self.mx_move(user, conv, latest, out);
        Ok(Response::MarkedRead {
            timestamp_ms: now / 1000,
        })
    }

    /// MX10: H1 as written; a former member reads the history up to its leave.
    fn mx_history(
        &self,
        user: UserId,
        conv: crate::protocol::Conv,
        before_seq: u64,
        count: u32,
    ) -> Result<Response, ErrorCode> {
        let crate::protocol::Conv::Group(g) = conv else {
            return self.history(user, conv, before_seq, count);
        };
        let left = self.mx.left_at.get(&(g, user)).copied();
        match self.group(g) {
            Some(info) if !info.members.contains(user.0) && left.is_some() => {
                if count == 0 || count as usize > MAX_BATCH {
                    return Err(ErrorCode::CountOutOfRange);
                }
                let upto = (left.unwrap_or(0) as usize).min(info.messages.len());
                Ok(self.history_page(user, &info.messages[..upto], before_seq, count))
            }
            _ => self.history(user, conv, before_seq, count),
        }
    }
}

#[cfg(test)]
#[path = "matrix_tests.rs"]
mod tests;
