//! The planted bugs of the Matrix profile (docs/matrix.md): each breaks one rule of the read
//! marker, so a sweep of a Matrix scenario must find it.

use super::{Bug, FaultyTarget};
use crate::model::Delivery;
use crate::protocol::{
    ConvKey, ErrorCode, Micros, MsgId, PerMessage, Push, ReceiptEntry, Request, Response, UserId,
};
use crate::target::Target;

/// A receipt's message as the model had it before the call: (id, conversation, seq, the
/// reader's marker there).
pub(super) type Before = Vec<(MsgId, ConvKey, u64, u64)>;

impl FaultyTarget {
    /// MarkerMovesBackwards: the reader's markers before a receipt batch.
    pub(super) fn markers_before(&self, user: UserId, req: &Request) -> Before {
        let (Bug::MarkerMovesBackwards, Request::SendReadReceipts { msg_ids }) = (self.bug, req)
        else {
            return Vec::new();
        };
        let model = &self.inner.model;
        msg_ids
            .iter()
            .filter_map(|&id| {
                let v = model.message(id)?;
                Some((id, v.conv, v.seq, model.marker(v.conv, user)))
            })
            .collect()
    }

    /// The Matrix bugs that corrupt an answer the model gave.
    pub(super) fn plant_matrix(
        &mut self,
        user: UserId,
        req: &Request,
        resp: &mut Response,
        pushes: &mut [Delivery],
        before: &Before,
    ) {
        match (self.bug, req, &*resp) {
            (Bug::MarkerMovesBackwards, _, Response::ReceiptsSent { results }) => {
                for &(id, conv, seq, marker) in before {
                    let ok = results.iter().any(|r| r.msg_id == id && r.result.is_ok());
                    if ok && seq < marker {
                        self.inner.model.force_marker(conv, user, seq);
                    }
                }
            }
            (Bug::EarlierNotCovered, _, _) => {
                self.name_read(user, req, resp);
                self.uncount_unnamed(resp, pushes);
            }
            (Bug::LeaverPullsCounts, _, Response::ReadReceipts { .. }) => self.leaver_counts(resp),
            _ => {}
        }
    }

    /// LeaverPullsCounts: each entry refused to a sender who left gets what a member would
    /// (its counts over the current members, or RECEIPT_NOT_REQUESTED).
    fn leaver_counts(&self, resp: &mut Response) {
        let Response::ReadReceipts { entries } = resp else {
            return;
        };
        let model = &self.inner.model;
        for e in entries.iter_mut() {
            let (Err(ErrorCode::NotConversationParty), Some(v)) =
                (e.result, model.message(e.msg_id))
            else {
                continue;
            };
            let ConvKey::Group(group_id) = v.conv else {
                continue;
            };
            e.result = match v.need_read_receipt {
                false => Err(ErrorCode::ReceiptNotRequested),
                true => Ok(ReceiptEntry::Group {
                    msg_id: e.msg_id,
                    group_id,
                    read_count: v.read_count,
                    unread_count: v.audience_len - v.read_count,
                }),
            };
        }
    }

    /// EarlierNotCovered: remembers the messages a successful receipt or mark named.
    fn name_read(&mut self, user: UserId, req: &Request, resp: &Response) {
        match (req, resp) {
            (Request::SendReadReceipts { .. }, Response::ReceiptsSent { results }) => {
                for r in results.iter().filter(|r| r.result.is_ok()) {
                    self.named.insert((r.msg_id, user));
                }
            }
            (Request::MarkC2cRead { peer }, Response::MarkedRead { .. }) => {
                let conv = ConvKey::Pair(user.min(*peer), user.max(*peer));
                if let Some(&last) = self.inner.model.conversation(conv).last() {
                    self.named.insert((last, user));
                }
            }
            _ => {}
        }
    }

    /// EarlierNotCovered: every count leaves out the readers who never named the message.
    fn uncount_unnamed(&self, resp: &mut Response, pushes: &mut [Delivery]) {
        if let Response::ReadReceipts { entries } = resp {
            for e in entries.iter_mut() {
                if let Ok(entry) = &mut e.result {
                    self.only_named(entry);
                }
            }
        }
        for d in pushes {
            if let Push::Receipts { entries } = &mut d.push {
                entries.iter_mut().for_each(|e| self.only_named(e));
            }
        }
    }

    fn only_named(&self, e: &mut ReceiptEntry) {
        let model = &self.inner.model;
        let id = e.msg_id();
        let Some(v) = model.message(id) else {
            return;
        };
        let unnamed = |u: &UserId| {
            *u != v.sender && model.marker(v.conv, *u) >= v.seq && !self.named.contains(&(id, *u))
        };
        match e {
            ReceiptEntry::Group {
                read_count,
                unread_count,
                group_id,
                ..
            } => {
                let k = model
                    .members(*group_id)
                    .iter()
                    .filter(|u| unnamed(u))
                    .count() as u32;
                let k = k.min(*read_count);
                *read_count -= k;
                *unread_count += k;
            }
            ReceiptEntry::C2c {
                user_id,
                is_peer_read,
                ..
            } => {
                if unnamed(user_id) {
                    *is_peer_read = false;
                }
            }
        }
    }

    /// LaterJoinerReceiptDropped: the receipts of `user` for group messages sent before it
    /// joined are answered with success and never reach the model.
    pub(super) fn drop_later_joiners(
        &mut self,
        now: Micros,
        user: UserId,
        msg_ids: &[MsgId],
        out: &mut Vec<Delivery>,
    ) -> Response {
        let model = &self.inner.model;
        let joiner = |id: MsgId| {
            model.message(id).is_some_and(|v| {
                matches!(v.conv, ConvKey::Group(g) if model.is_member(g, user))
                    && v.sender != user
                    && !model.audience(id).contains(&user)
            })
        };
        let dropped: Vec<bool> = msg_ids.iter().map(|&id| joiner(id)).collect();
        let kept: Vec<MsgId> = msg_ids
            .iter()
            .zip(&dropped)
            .filter(|(_, d)| !**d)
            .map(|(&id, _)| id)
            .collect();
        if kept.len() == msg_ids.len() {
            let req = Request::SendReadReceipts {
                msg_ids: msg_ids.to_vec(),
            };
            return self.inner.apply(now, user, &req, out);
        }
        let mut answers = Vec::new();
        if !kept.is_empty() {
            let req = Request::SendReadReceipts { msg_ids: kept };
            if let Response::ReceiptsSent { results } = self.inner.apply(now, user, &req, out) {
                answers = results;
            }
        }
        let mut answers = answers.into_iter();
        let results = msg_ids
            .iter()
            .zip(dropped)
            .map(|(&id, d)| match d {
                true => PerMessage {
                    msg_id: id,
                    result: Ok(()),
                },
                false => answers.next().unwrap_or(PerMessage {
                    msg_id: id,
                    result: Ok(()),
                }),
            })
            .collect();
        Response::ReceiptsSent { results }
    }
}
