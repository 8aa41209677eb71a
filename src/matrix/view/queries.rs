//! Reading a view: what the adapter answers readsim's pulls from.

use super::room::Msg;
use super::{Counts, Ignored, MemberPage, Room, View};
use crate::protocol::{ErrorCode, MAX_BATCH, ReadFilter, UserId};

impl View {
    fn find(&self, event_id: &str) -> Option<(&str, &Room, &Msg)> {
        let placed = self.index.get(event_id)?;
        let (room_key, room) = self.rooms.get_key_value(&*placed.room)?;
        Some((room_key, room, room.get(placed.seq)?))
    }

    /// Counts of a message the view has placed (MX6: current members minus its sender;
    /// readers are those whose marker reached it), or the 1:1 read flag.
    pub fn counts(&self, event_id: &str) -> Option<Counts> {
        let (_, room, msg) = self.find(event_id)?;
        Some(room.counts(msg, self.me))
    }

    /// `get_message_read_receipts` for one message of mine, errors in readsim's check order:
    /// `MESSAGE_NOT_FOUND`, `NOT_MESSAGE_SENDER`, `NOT_CONVERSATION_PARTY` (MX11: I left the
    /// group, so the homeserver syncs me nothing of it any more), `RECEIPT_NOT_REQUESTED`.
    pub fn receipt_entry(&self, event_id: &str) -> Result<Counts, ErrorCode> {
        let (_, room, msg) = self.find(event_id).ok_or(ErrorCode::MessageNotFound)?;
        if msg.sender != self.me {
            return Err(ErrorCode::NotMessageSender);
        }
        if !self.party(room) {
            return Err(ErrorCode::NotConversationParty);
        }
        if !msg.need_read_receipt {
            return Err(ErrorCode::ReceiptNotRequested);
        }
        Ok(room.counts(msg, self.me))
    }

    /// `get_group_message_read_member_list` for a message of mine (MX8: both lists ascending
    /// by user id, `next_seq` the smallest user id still to consider), errors in readsim's
    /// check order (M1, MX11): `COUNT_OUT_OF_RANGE`, `MESSAGE_NOT_FOUND`,
    /// `NOT_MESSAGE_SENDER`, `NOT_CONVERSATION_PARTY`, `NOT_GROUP_MESSAGE`,
    /// `RECEIPT_NOT_REQUESTED`.
    pub fn member_list(
        &self,
        event_id: &str,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> Result<MemberPage, ErrorCode> {
        if count == 0 || count as usize > MAX_BATCH {
            return Err(ErrorCode::CountOutOfRange);
        }
        let (_, room, msg) = self.find(event_id).ok_or(ErrorCode::MessageNotFound)?;
        if msg.sender != self.me {
            return Err(ErrorCode::NotMessageSender);
        }
        if !self.party(room) {
            return Err(ErrorCode::NotConversationParty);
        }
        if room.direct.is_some() {
            return Err(ErrorCode::NotGroupMessage);
        }
        if !msg.need_read_receipt {
            return Err(ErrorCode::ReceiptNotRequested);
        }
        Ok(room.page(msg, filter, next_seq, count as usize))
    }

    /// Whether I am still in `room` (a 1:1 room always: it has no churn).
    fn party(&self, room: &Room) -> bool {
        room.direct.is_some() || room.members.contains(&self.me)
    }

    /// The newest message the view has placed in `room`: what a 1:1 mark-read receipts (MX9).
    pub fn latest(&self, room: &str) -> Option<&str> {
        Some(&self.rooms.get(room)?.latest()?.event_id)
    }

    pub fn room_of(&self, event_id: &str) -> Option<&str> {
        self.find(event_id).map(|(room, _, _)| room)
    }

    pub fn seq(&self, event_id: &str) -> Option<u64> {
        self.index.get(event_id).map(|p| p.seq)
    }

    pub fn sender(&self, event_id: &str) -> Option<UserId> {
        self.find(event_id).map(|(_, _, m)| m.sender)
    }

    pub fn need_read_receipt(&self, event_id: &str) -> Option<bool> {
        self.find(event_id).map(|(_, _, m)| m.need_read_receipt)
    }

    /// Whether `room` is a 1:1 chat, and with whom.
    pub fn direct_peer(&self, room: &str) -> Option<UserId> {
        self.rooms.get(room)?.direct
    }

    /// The room's current members, ascending.
    pub fn members(&self, room: &str) -> Vec<UserId> {
        self.rooms
            .get(room)
            .map(|r| r.members.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `user`'s read marker in `room` (the seq of the latest message they receipted; 0: none).
    pub fn marker(&self, room: &str, user: UserId) -> u64 {
        self.rooms.get(room).map_or(0, |r| r.marker(user))
    }

    /// Messages and receipts waiting for the timeline.
    pub fn pending(&self) -> (usize, usize) {
        (self.pending_msgs.len(), self.pending_receipts.len())
    }

    pub fn ignored(&self) -> Ignored {
        self.ignored
    }
}
