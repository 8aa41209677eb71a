//! Read receipts: sending them, reading counts back, and the read / unread member lists.

use super::{OpResult, Push, Semantics, answer, check_count, parse_msg_id};
use crate::protocol::{ErrorCode, MAX_BATCH};
use crate::server::framing::push_frame;
use crate::server::planted::planted;
use crate::server::store::MsgRow;
use crate::wire::{PushFrame, WireEntry, WireError, WireFilter, WireReceiptResult, ok};
use std::collections::{BTreeMap, HashMap};

/// What a receipt request changed: the messages to tell each sender about, and the latest
/// state of each message it counted.
#[derive(Default)]
struct Notify {
    by_sender: BTreeMap<i64, Vec<i64>>,
    latest: HashMap<i64, MsgRow>,
}

/// Membership facts of one request's user, asked of SQLite once each: a receipt batch checks
/// every message against the same reader in the same conversation (several times each).
/// Valid within one request only (nothing changes memberships during it).
#[derive(Default)]
pub(super) struct Memo {
    /// (group, user) -> a current member.
    member: Vec<((i64, i64), bool)>,
    /// (group, user, version) -> a member at that version.
    was: Vec<((i64, i64, i64), bool)>,
}

impl Semantics {
    fn is_member(&self, memo: &mut Memo, group: i64, user: i64) -> OpResult<bool> {
        if let Some(&(_, b)) = memo.member.iter().find(|(k, _)| *k == (group, user)) {
            return Ok(b);
        }
        let b = self.store.is_member(group, user)?;
        memo.member.push(((group, user), b));
        Ok(b)
    }

    fn was_member(&self, memo: &mut Memo, group: i64, user: i64, ver: i64) -> OpResult<bool> {
        let key = (group, user, ver);
        if let Some(&(_, b)) = memo.was.iter().find(|(k, _)| *k == key) {
            return Ok(b);
        }
        let b = self.store.was_member(group, user, ver)?;
        memo.was.push((key, b));
        Ok(b)
    }

    /// Message `wire_id` as `user` may know it (semantics.md E1): only its sender, its
    /// audience and the current members of its group learn that it exists.
    fn load_msg(&self, memo: &mut Memo, user: i64, wire_id: &str) -> OpResult<Option<MsgRow>> {
        let found = parse_msg_id(wire_id).map(|id| self.store.message(id));
        let Some(m) = found.transpose()?.flatten() else {
            return Ok(None);
        };
        let visible = m.sender == user
            || match m.group_ver {
                Some(ver) => {
                    self.is_member(memo, m.conv, user)?
                        || self.was_member(memo, m.conv, user, ver)?
                }
                None => m.peer == Some(user),
            };
        Ok(visible.then_some(m))
    }

    /// The batch rules: 1..=100 ids, all ids known to `user` in one conversation.
    fn load_batch(
        &self,
        memo: &mut Memo,
        user: i64,
        ids: &[String],
    ) -> OpResult<Vec<Option<MsgRow>>> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(ErrorCode::BatchSize.into());
        }
        let rows = ids
            .iter()
            .map(|s| self.load_msg(memo, user, s))
            .collect::<OpResult<Vec<_>>>()?;
        let mut convs = rows.iter().flatten().map(|m| m.conv);
        if let Some(first) = convs.next()
            && convs.any(|c| c != first)
        {
            return Err(ErrorCode::MixedConversations.into());
        }
        Ok(rows)
    }

    /// The receipt state of a message as its sender sees it.
    fn entry(&self, m: &MsgRow) -> OpResult<WireEntry> {
        let msg_id = format!("m{}", m.id);
        if m.conv > 0 {
            let g = &self.group_info[&m.conv];
            let audience = if planted!(self.bugs, UnreadFromCurrentMembership) {
                // The group as it is now, not as it was at the send.
                g.member_count - 1
            } else {
                m.audience_len
            };
            return Ok(WireEntry {
                msg_id,
                group_id: Some(g.name.clone()),
                read_count: Some(m.read_count as u32),
                unread_count: Some((audience - m.read_count).max(0) as u32),
                ..WireEntry::default()
            });
        }
        let peer = m.peer.expect("1:1 messages have a peer");
        // Read by a receipt, or covered by the peer's last read mark.
        let read = m.read_count > 0 || self.store.pair_read_upto(-m.conv, peer)? >= m.seq;
        Ok(WireEntry {
            msg_id,
            user_id: Some(self.name(peer)),
            is_peer_read: Some(read),
            ..WireEntry::default()
        })
    }

    /// Whether `reader` may acknowledge `m`: in its audience, receipts requested, and (group)
    /// still a member.
    fn check_receipt(&self, memo: &mut Memo, reader: i64, m: &MsgRow) -> OpResult<()> {
        let in_audience = reader != m.sender
            && match m.group_ver {
                Some(ver) => {
                    self.was_member(memo, m.conv, reader, ver)?
                        || (planted!(self.bugs, LaterJoinerCounted)
                            && self.is_member(memo, m.conv, reader)?)
                }
                None => m.peer == Some(reader),
            };
        if !in_audience {
            return Err(ErrorCode::NotInAudience.into());
        }
        if !m.need {
            return Err(ErrorCode::ReceiptNotRequested.into());
        }
        let leaver_check = !planted!(self.bugs, SkipLeaverCheck);
        if m.conv > 0 && leaver_check && !self.is_member(memo, m.conv, reader)? {
            return Err(ErrorCode::ReaderLeftGroup.into());
        }
        Ok(())
    }

    /// One receipt; a first one from this reader counts and notifies the sender, a repeat is
    /// a quiet success.
    fn receipt(
        &mut self,
        memo: &mut Memo,
        reader: i64,
        row: Option<MsgRow>,
        notify: &mut Notify,
    ) -> OpResult<()> {
        let m = row.ok_or(ErrorCode::MessageNotFound)?;
        self.check_receipt(memo, reader, &m)?;
        // The count as this request left it so far (every row was read before any bump).
        let m = notify.latest.get(&m.id).cloned().unwrap_or(m);
        let new = self.store.insert_receipt(m.id, m.read_count, reader)?;
        if new || planted!(self.bugs, CountDuplicateReceipt) {
            self.store.bump_read_count(m.id)?;
            notify.by_sender.entry(m.sender).or_default().push(m.id);
            let read_count = m.read_count + 1;
            notify.latest.insert(m.id, MsgRow { read_count, ..m });
        }
        Ok(())
    }

    pub(super) fn send_receipts(
        &mut self,
        reader: i64,
        ids: &[String],
        pushes: &mut Vec<Push>,
    ) -> OpResult<ok::ReceiptsSent> {
        let memo = &mut Memo::default();
        let rows = self.load_batch(memo, reader, ids)?;
        let mut results = Vec::with_capacity(ids.len());
        let mut notify = Notify::default();
        for (wire_id, row) in ids.iter().zip(rows) {
            // Per message: a rule error is this entry's answer, not the request's.
            let r = answer(self.receipt(memo, reader, row, &mut notify))?;
            results.push(WireReceiptResult {
                msg_id: wire_id.clone(),
                error: r.err().map(WireError::from),
            });
        }
        // One push per sender, with the counts after the whole request (kept in memory: the
        // rows as this request changed them, not read back).
        for (sender, msgs) in std::mem::take(&mut notify.by_sender) {
            let mut entries = Vec::with_capacity(msgs.len());
            for id in msgs {
                entries.push(self.entry(&notify.latest[&id])?);
            }
            if planted!(self.bugs, DropReceiptsPush) && self.bugs.state.drop_this_push() {
                continue;
            }
            pushes.push(Push {
                user: sender,
                frame: push_frame(&PushFrame::Receipts { entries }),
            });
        }
        Ok(ok::ReceiptsSent { results })
    }

    pub(super) fn get_receipts(&self, user: i64, ids: &[String]) -> OpResult<ok::ReadReceipts> {
        let rows = self.load_batch(&mut Memo::default(), user, ids)?;
        let mut entries = Vec::with_capacity(ids.len());
        for (wire_id, row) in ids.iter().zip(rows) {
            let err = match &row {
                None => Some(ErrorCode::MessageNotFound),
                Some(m) if m.sender != user => Some(ErrorCode::NotMessageSender),
                Some(m) if !m.need => Some(ErrorCode::ReceiptNotRequested),
                Some(_) => None,
            };
            entries.push(match (err, row) {
                (Some(code), _) => WireEntry {
                    msg_id: wire_id.clone(),
                    error: Some(code.into()),
                    ..WireEntry::default()
                },
                (None, Some(m)) => WireEntry {
                    // Echo the id as asked (it is canonical, else it would be unknown).
                    msg_id: wire_id.clone(),
                    ..self.entry(&m)?
                },
                (None, None) => unreachable!("unknown ids are errors"),
            });
        }
        Ok(ok::ReadReceipts { entries })
    }

    pub(super) fn member_list(
        &self,
        user: i64,
        msg_id: &str,
        filter: WireFilter,
        next_seq: u64,
        count: u32,
    ) -> OpResult<ok::MemberList> {
        check_count(count)?;
        let m = self
            .load_msg(&mut Memo::default(), user, msg_id)?
            .ok_or(ErrorCode::MessageNotFound)?;
        if m.sender != user {
            return Err(ErrorCode::NotMessageSender.into());
        }
        let ver = m.group_ver.ok_or(ErrorCode::NotGroupMessage)?;
        if !m.need {
            return Err(ErrorCode::ReceiptNotRequested.into());
        }
        let count = i64::from(count);
        let (ids, next_seq, is_finished) = match filter {
            WireFilter::Read => self.read_page(&m, next_seq, count)?,
            WireFilter::Unread => self.unread_page(&m, ver, next_seq, count)?,
        };
        Ok(ok::MemberList {
            members: ids.into_iter().map(|u| self.name(u)).collect(),
            next_seq,
            is_finished,
        })
    }

    /// Readers, in read order. Cursor: a position in the append-only read order.
    fn read_page(&self, m: &MsgRow, cursor: u64, count: i64) -> OpResult<(Vec<i64>, u64, bool)> {
        let start = i64::try_from(cursor).unwrap_or(i64::MAX).min(m.read_count);
        let ids = self.store.readers(m.id, start, count)?;
        let end = start + ids.len() as i64;
        Ok((ids, end as u64, end == m.read_count))
    }

    /// Audience members who have not read `m`, by ascending user id. Cursor: the smallest
    /// user id still to consider. One extra row tells whether the list is finished.
    fn unread_page(
        &self,
        m: &MsgRow,
        ver: i64,
        cursor: u64,
        count: i64,
    ) -> OpResult<(Vec<i64>, u64, bool)> {
        let from = i64::try_from(cursor).unwrap_or(i64::MAX);
        let mut ids = self.store.unread_members(m, ver, from, count + 1)?;
        let is_finished = ids.len() as i64 <= count;
        // The look-ahead row taken for the last one returned: the next page starts after it.
        let skip = planted!(self.bugs, UnreadPageSkipsEntry) && !is_finished;
        let lookahead = ids.last().copied();
        ids.truncate(count as usize);
        let last = if skip { lookahead } else { ids.last().copied() };
        let next = last.map_or(cursor, |u| (u + 1) as u64);
        Ok((ids, next, is_finished))
    }
}
