//! Sending messages, 1:1 read marks and history.

use super::{Online, OpResult, Push, Semantics, check_count};
use crate::protocol::ErrorCode;
use crate::server::framing::push_frame;
use crate::server::planted::planted;
use crate::server::store::NewMessage;
use crate::wire::{PushFrame, WireConv, WireHistoryMessage, ok};

/// Where a new message goes, as its conversation's rules decided before anything is written.
struct Target {
    /// `messages.conv`: a group id, or minus a pair id.
    conv: i64,
    seq: i64,
    group_ver: Option<i64>,
    peer: Option<i64>,
    audience_len: i64,
    /// Who gets the `new_message` push, and the conversation as they see it.
    recipients: Vec<i64>,
    push_conv: WireConv,
}

impl Semantics {
    pub(super) fn send_message(
        &mut self,
        sender: i64,
        conv: WireConv,
        need: bool,
        body: &str,
        online: &dyn Online,
        pushes: &mut Vec<Push>,
    ) -> OpResult<ok::Sent> {
        let sender_name = self.name(sender);
        let t = match conv {
            WireConv::Group(name) => self.group_target(sender, name, need, online)?,
            WireConv::C2c(peer) => self.c2c_target(sender, &sender_name, &peer)?,
        };
        let ts = self.tick();
        let id = self.store.insert_message(&NewMessage {
            conv: t.conv,
            sender,
            seq: t.seq,
            ts,
            need,
            group_ver: t.group_ver,
            peer: t.peer,
            audience_len: t.audience_len,
            body,
        })?;
        let msg_id = format!("m{id}");
        if !t.recipients.is_empty() {
            // One frame shared by every recipient.
            let frame = push_frame(&PushFrame::NewMessage {
                msg_id: msg_id.clone(),
                conv: t.push_conv,
                sender: sender_name,
                seq: t.seq as u64,
                timestamp_ms: ts as u64,
                need_read_receipt: need,
            });
            pushes.extend(t.recipients.into_iter().map(|user| Push {
                user,
                frame: frame.clone(),
            }));
        }
        Ok(ok::Sent {
            msg_id,
            seq: t.seq as u64,
            timestamp_ms: ts as u64,
        })
    }

    /// A group message: the sender must be a member; receipts must be on for the group's type
    /// and size. Takes the group's next seq.
    fn group_target(
        &mut self,
        sender: i64,
        name: String,
        need: bool,
        online: &dyn Online,
    ) -> OpResult<Target> {
        let gid = *self.groups.get(&name).ok_or(ErrorCode::GroupNotFound)?;
        let g = &self.group_info[&gid];
        if !self.store.is_member(gid, sender)? {
            return Err(ErrorCode::NotGroupMember.into());
        }
        if need {
            if !self.config.supports(g.gtype) && !planted!(self.bugs, ReceiptsInDisabledType) {
                return Err(ErrorCode::ReceiptsDisabledForGroupType.into());
            }
            if g.member_count > i64::from(self.config.max_group_size) {
                return Err(ErrorCode::GroupTooLargeForReceipts.into());
            }
        }
        let (seq, group_ver, audience_len) = (g.last_seq + 1, g.version, g.member_count - 1);
        // Nobody connected: skip the member query.
        let recipients = if online.nobody() {
            Vec::new()
        } else {
            self.store
                .current_members(gid)?
                .into_iter()
                .filter(|u| *u != sender && online.is_online(*u))
                .collect()
        };
        self.store.set_group_last_seq(gid, seq)?;
        self.group_info.get_mut(&gid).expect("cached").last_seq = seq;
        Ok(Target {
            conv: gid,
            seq,
            group_ver: Some(group_ver),
            peer: None,
            audience_len,
            recipients,
            push_conv: WireConv::Group(name),
        })
    }

    /// A 1:1 message: the peer must exist and not be the sender. Creates the pair on first
    /// use and takes its next seq.
    fn c2c_target(&mut self, sender: i64, sender_name: &str, peer: &str) -> OpResult<Target> {
        if peer == sender_name {
            return Err(ErrorCode::SelfConversation.into());
        }
        let pid = *self.users.get(peer).ok_or(ErrorCode::UserNotFound)?;
        let pair = self.store.pair(sender, pid, true)?.expect("created");
        let seq = self.store.next_pair_seq(pair)?;
        Ok(Target {
            conv: -pair,
            seq,
            group_ver: None,
            peer: Some(pid),
            audience_len: 1,
            recipients: vec![pid],
            push_conv: WireConv::C2c(sender_name.to_owned()),
        })
    }

    pub(super) fn mark_c2c_read(
        &mut self,
        user: i64,
        peer: &str,
        pushes: &mut Vec<Push>,
    ) -> OpResult<ok::MarkedRead> {
        let me = self.name(user);
        if peer == me {
            return Err(ErrorCode::SelfConversation.into());
        }
        let pid = *self.users.get(peer).ok_or(ErrorCode::UserNotFound)?;
        let pair = self.store.pair(user, pid, true)?.expect("created");
        let now = self.tick();
        let ts = self.store.mark_pair_read(pair, user < pid, now)?;
        if planted!(self.bugs, DropC2cReadWithinSecond)
            && self.bugs.state.mark_within_debounce(pair, now)
        {
            return Ok(ok::MarkedRead {
                timestamp_ms: ts as u64,
            });
        }
        pushes.push(Push {
            user: pid,
            frame: push_frame(&PushFrame::C2cRead {
                user_id: me,
                timestamp_ms: ts as u64,
            }),
        });
        Ok(ok::MarkedRead {
            timestamp_ms: ts as u64,
        })
    }

    /// The conversation key (`messages.conv`) a user may read history of; None for a 1:1
    /// conversation that never had a message.
    fn history_key(&self, user: i64, conv: WireConv) -> OpResult<Option<i64>> {
        match conv {
            WireConv::Group(name) => {
                let gid = *self.groups.get(&name).ok_or(ErrorCode::GroupNotFound)?;
                if !self.store.is_member(gid, user)? {
                    return Err(ErrorCode::NotConversationParty.into());
                }
                Ok(Some(gid))
            }
            WireConv::C2c(peer) => {
                if peer == self.name(user) {
                    return Err(ErrorCode::SelfConversation.into());
                }
                let pid = *self.users.get(&peer).ok_or(ErrorCode::UserNotFound)?;
                Ok(self.store.pair(user, pid, false)?.map(|p| -p))
            }
        }
    }

    pub(super) fn history(
        &self,
        user: i64,
        conv: WireConv,
        before_seq: u64,
        count: u32,
    ) -> OpResult<ok::History> {
        check_count(count)?;
        let Some(key) = self.history_key(user, conv)? else {
            return Ok(ok::History { messages: vec![] });
        };
        // before_seq 0: from the newest.
        let upto = if before_seq == 0 {
            i64::MAX
        } else {
            i64::try_from(before_seq - 1).unwrap_or(i64::MAX)
        };
        let messages = self
            .store
            .history(key, upto, i64::from(count))?
            .into_iter()
            .map(|(id, sender, need, seq, ts)| WireHistoryMessage {
                msg_id: format!("m{id}"),
                sender: self.name(sender),
                is_self: sender == user,
                need_read_receipt: need,
                seq: seq as u64,
                timestamp_ms: ts as u64,
            })
            .collect();
        Ok(ok::History { messages })
    }
}
