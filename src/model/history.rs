//! History (`get_history`, H1 and H2 of docs/semantics.md): pages of a conversation's
//! messages, newest first.

use super::Model;
use crate::protocol::{Conv, ErrorCode, HistoryMessage, MAX_BATCH, MsgId, Response, UserId};

impl Model {
    pub(super) fn history(
        &self,
        user: UserId,
        conv: Conv,
        before_seq: u64,
        count: u32,
    ) -> Result<Response, ErrorCode> {
        if count == 0 || count as usize > MAX_BATCH {
            return Err(ErrorCode::CountOutOfRange);
        }
        let ids: &[MsgId] = match conv {
            Conv::Group(g) => {
                let g = self.group(g).ok_or(ErrorCode::GroupNotFound)?;
                if !g.members.contains(user.0) {
                    return Err(ErrorCode::NotConversationParty);
                }
                &g.messages
            }
            Conv::C2c(peer) => {
                if peer == user {
                    return Err(ErrorCode::SelfConversation);
                }
                if !self.users.contains(peer.0) {
                    return Err(ErrorCode::UserNotFound);
                }
                self.pairs
                    .get(&(user.min(peer), user.max(peer)))
                    .map_or(&[], |p| &p.messages)
            }
        };
        Ok(self.history_page(user, ids, before_seq, count))
    }

    /// Messages `ids[..]` of one conversation, newest first, before `before_seq` (H1).
    pub(super) fn history_page(
        &self,
        user: UserId,
        ids: &[MsgId],
        before_seq: u64,
        count: u32,
    ) -> Response {
        let end = if before_seq == 0 {
            ids.len()
        } else {
            usize::try_from(before_seq - 1)
                .unwrap_or(usize::MAX)
                .min(ids.len())
        };
        let start = end.saturating_sub(count as usize);
        let messages = ids[start..end]
            .iter()
            .rev()
            .map(|&id| {
                let m = self.msg(id).expect("history ids are valid");
                HistoryMessage {
                    msg_id: id,
                    sender: m.sender,
                    is_self: m.sender == user,
                    need_read_receipt: m.need_read_receipt,
                    seq: m.seq,
                    timestamp_ms: m.timestamp_ms,
                }
            })
            .collect();
        Response::History { messages }
    }
}
