//! A deliberately broken target for proving that readsim finds bugs: the model with one
//! planted bug. Used by tests and by `readsim run/sweep/shrink --plant-bug NAME`; never a
//! reference for anything.

use super::{ModelTarget, Target};
use crate::model::Delivery;
use crate::protocol::{
    AdminRequest, ErrorCode, MAX_BATCH, Micros, MsgId, PerMessage, Push, ReadFilter, ReceiptEntry,
    Request, Response, UserId,
};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

#[path = "faulty_mx.rs"]
mod mx;

/// The bugs that can be planted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Receipts pushes of every 7th message are lost (a lost notification).
    LostNotification,
    /// A read-list page that continues a paging (next_seq > 0) skips its first entry.
    PageSkipsEntry,
    /// Count pulls of messages with more than 3 audience members report one read too many.
    CountsOneTooMany,
    /// The unread list forgets that the first reader has read.
    UnreadListsReader,
    /// After a client reconnects, the server never again pushes it receipts (the new
    /// connection is not subscribed): a lost notification after reconnect.
    LostNotificationAfterReconnect,
    /// A receipt from a current group member who joined after the send (not in the
    /// audience snapshot) is accepted and counted.
    LaterJoinerCounted,
    /// A repeated receipt (a retry, a duplicate frame, a catch-up re-read) counts again.
    DuplicateCountedTwice,
    /// Receipts acknowledged in the seconds before a crash are not durable: after the
    /// restart, counts go back down.
    CountBackwardsAfterRestart,
    /// Every member-list page answers "not finished" with the cursor it was asked at: a
    /// client that trusts it pages the same page forever.
    PageNeverFinishes,
    /// Matrix profile: a receipt for a message older than the reader's marker moves the
    /// marker back to it (MX2 says it changes nothing).
    MarkerMovesBackwards,
    /// Matrix profile: a receipt counts only for the message it names, not for the earlier
    /// ones of the conversation (MX3 says it reads them all).
    EarlierNotCovered,
    /// Matrix profile: a receipt from a member who joined after the message was sent is
    /// acknowledged but not applied (MX4, MX6 say it counts).
    LaterJoinerReceiptDropped,
    /// Matrix profile: a sender who left the group still gets the counts of its messages
    /// there (MX11 says NOT_CONVERSATION_PARTY: Synapse syncs it nothing any more).
    LeaverPullsCounts,
    /// An off-by-one in the batch-size check: a receipt batch or count pull of 101 ids is
    /// accepted (R1, P1, MX5 say BATCH_SIZE). Only malformed calls reach it
    /// (`pulls.misuse_share`).
    BatchSizeOffByOne,
    /// A push reaches only the first connection of its user: with several devices per user
    /// (`population.devices`), the others never hear of it (D1). Invisible with one device.
    PushToOneDevice,
}

impl Bug {
    pub const ALL: [Bug; 15] = [
        Bug::LostNotification,
        Bug::PageSkipsEntry,
        Bug::CountsOneTooMany,
        Bug::UnreadListsReader,
        Bug::LostNotificationAfterReconnect,
        Bug::LaterJoinerCounted,
        Bug::DuplicateCountedTwice,
        Bug::CountBackwardsAfterRestart,
        Bug::PageNeverFinishes,
        Bug::MarkerMovesBackwards,
        Bug::EarlierNotCovered,
        Bug::LaterJoinerReceiptDropped,
        Bug::LeaverPullsCounts,
        Bug::BatchSizeOffByOne,
        Bug::PushToOneDevice,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::LostNotification => "lost-notification",
            Bug::PageSkipsEntry => "page-skips-entry",
            Bug::CountsOneTooMany => "counts-one-too-many",
            Bug::UnreadListsReader => "unread-lists-reader",
            Bug::LostNotificationAfterReconnect => "lost-notification-after-reconnect",
            Bug::LaterJoinerCounted => "later-joiner-counted",
            Bug::DuplicateCountedTwice => "duplicate-counted-twice",
            Bug::CountBackwardsAfterRestart => "count-backwards-after-restart",
            Bug::PageNeverFinishes => "page-never-finishes",
            Bug::MarkerMovesBackwards => "marker-moves-backwards",
            Bug::EarlierNotCovered => "earlier-not-covered",
            Bug::LaterJoinerReceiptDropped => "later-joiner-receipt-dropped",
            Bug::LeaverPullsCounts => "leaver-pulls-counts",
            Bug::BatchSizeOffByOne => "batch-size-off-by-one",
            Bug::PushToOneDevice => "push-to-one-device",
        }
    }

    pub fn parse(s: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == s)
    }

    /// The bug named by a target name such as `model+bug:page-skips-entry`.
    pub fn from_target_name(target: &str) -> Option<Bug> {
        target.strip_prefix("model+bug:").and_then(Bug::parse)
    }
}

/// The model with `bug` planted.
pub struct FaultyTarget {
    inner: ModelTarget,
    bug: Bug,
    /// `model+bug:<bug name>`.
    name: String,
    /// Users that reconnected (LostNotificationAfterReconnect).
    reconnected: FxHashSet<UserId>,
    /// Receipts accepted so far, per (message, reader) (DuplicateCountedTwice).
    accepted: FxHashSet<(MsgId, UserId)>,
    /// Reads to add to (positive) or take from (negative) every count of a message.
    skew: FxHashMap<MsgId, i64>,
    /// Later joiners counted per message (LaterJoinerCounted).
    joiners: FxHashSet<(MsgId, UserId)>,
    /// New reads of the last seconds, by time (CountBackwardsAfterRestart).
    recent: VecDeque<(Micros, MsgId)>,
    /// Messages each reader named in a receipt or mark (EarlierNotCovered).
    named: FxHashSet<(MsgId, UserId)>,
}

/// How far back reads are lost by a crash (CountBackwardsAfterRestart).
const NOT_DURABLE_FOR: Micros = 5_000_000;

impl FaultyTarget {
    pub fn new(inner: ModelTarget, bug: Bug) -> FaultyTarget {
        FaultyTarget {
            inner,
            bug,
            name: format!("model+bug:{}", bug.name()),
            reconnected: FxHashSet::default(),
            accepted: FxHashSet::default(),
            skew: FxHashMap::default(),
            joiners: FxHashSet::default(),
            recent: VecDeque::new(),
            named: FxHashSet::default(),
        }
    }

    /// Applies the skew of `e`'s message to a group entry, keeping read + unread the same
    /// unless `grow` (the count then exceeds the audience).
    fn skewed(&self, e: &mut ReceiptEntry, grow: bool) {
        if let ReceiptEntry::Group {
            msg_id,
            read_count,
            unread_count,
            ..
        } = e
            && let Some(&k) = self.skew.get(msg_id)
        {
            if k >= 0 {
                let k = k as u32;
                *read_count += k;
                if !grow {
                    *unread_count = unread_count.saturating_sub(k);
                }
            } else {
                let k = (-k) as u32;
                let k = k.min(*read_count);
                *read_count -= k;
                *unread_count += k;
            }
        }
    }

    /// A receipts push for `msg`'s sender with the current (skewed) count.
    fn count_push(&mut self, now: Micros, msg: MsgId, out: &mut Vec<Delivery>) {
        let Some(view) = self.inner.model.message(msg) else {
            return;
        };
        let mut probe = Vec::new();
        let r = self.inner.apply(
            now,
            view.sender,
            &Request::GetReadReceipts { msg_ids: vec![msg] },
            &mut probe,
        );
        if let Response::ReadReceipts { entries } = r
            && let Some(Ok(mut e)) = entries.into_iter().next().map(|e| e.result)
        {
            self.skewed(&mut e, self.bug == Bug::LaterJoinerCounted);
            out.push(Delivery {
                to: view.sender,
                device: None,
                push: Push::Receipts { entries: vec![e] },
            });
        }
    }
}

impl Target for FaultyTarget {
    fn name(&self) -> &str {
        // The bug's name is part of the target's: a report says which bug it ran with, so
        // `readsim replay` can plant it again.
        &self.name
    }

    fn admin(&mut self, now: Micros, req: &AdminRequest) -> Response {
        self.inner.admin(now, req)
    }

    fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response {
        if let (Bug::LaterJoinerReceiptDropped, Request::SendReadReceipts { msg_ids }) =
            (self.bug, req)
        {
            return self.drop_later_joiners(now, user, msg_ids, out);
        }
        if let Some(resp) = self.off_by_one(now, user, req, out) {
            return resp;
        }
        let markers = self.markers_before(user, req);
        let first = out.len();
        let before: Vec<u32> = match (self.bug, req) {
            (Bug::CountBackwardsAfterRestart, Request::SendReadReceipts { msg_ids }) => msg_ids
                .iter()
                .map(|&m| self.inner.model.message(m).map_or(0, |v| v.read_count))
                .collect(),
            _ => Vec::new(),
        };
        let mut resp = self.inner.apply(now, user, req, out);
        self.plant(now, user, req, &mut resp, out, first, &before);
        self.plant_matrix(user, req, &mut resp, &mut out[first..], &markers);
        resp
    }

    fn on_connect(&mut self, now: Micros, user: UserId) {
        self.reconnected.insert(user);
        self.inner.on_connect(now, user);
    }

    fn restart(&mut self, now: Micros) {
        if self.bug == Bug::CountBackwardsAfterRestart {
            // Everything read in the seconds before the crash is forgotten.
            while let Some(&(t, m)) = self.recent.front() {
                self.recent.pop_front();
                if t + NOT_DURABLE_FOR >= now {
                    *self.skew.entry(m).or_insert(0) -= 1;
                }
            }
        }
        self.inner.restart(now);
    }
}

impl FaultyTarget {
    /// BatchSizeOffByOne: a batch of exactly 101 ids is applied as its first 100, and the
    /// 101st gets the answer of its first occurrence (a repeat), or MESSAGE_NOT_FOUND.
    fn off_by_one(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Option<Response> {
        let ids = match req {
            Request::SendReadReceipts { msg_ids } | Request::GetReadReceipts { msg_ids } => msg_ids,
            _ => return None,
        };
        if self.bug != Bug::BatchSizeOffByOne || ids.len() != MAX_BATCH + 1 {
            return None;
        }
        let (head, last) = (ids[..MAX_BATCH].to_vec(), ids[MAX_BATCH]);
        let shorter = match req {
            Request::SendReadReceipts { .. } => Request::SendReadReceipts { msg_ids: head },
            _ => Request::GetReadReceipts { msg_ids: head },
        };
        let mut answer = self.inner.apply(now, user, &shorter, out);
        fn extend<T: Copy>(v: &mut Vec<PerMessage<T>>, last: MsgId) {
            let result = v
                .iter()
                .find(|p| p.msg_id == last)
                .map_or(Err(ErrorCode::MessageNotFound), |p| p.result);
            v.push(PerMessage {
                msg_id: last,
                result,
            });
        }
        match &mut answer {
            Response::ReceiptsSent { results } => extend(results, last),
            Response::ReadReceipts { entries } => extend(entries, last),
            _ => {}
        }
        Some(answer)
    }

    /// Plants the bug into the model's answer to `req`: `resp` and the deliveries from
    /// `out[first..]`. `before` holds read counts taken before the request (see `apply`).
    #[allow(clippy::too_many_arguments)]
    fn plant(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        resp: &mut Response,
        out: &mut Vec<Delivery>,
        first: usize,
        before: &[u32],
    ) {
        self.skew_counts(resp, &mut out[first..]);
        // One arm per bug: each names the request and response it corrupts.
        match (self.bug, req, resp) {
            (Bug::LostNotificationAfterReconnect, _, _) => {
                let gone = &self.reconnected;
                drop_pushes(out, first, |d| {
                    matches!(d.push, Push::Receipts { .. }) && gone.contains(&d.to)
                });
            }
            (
                Bug::LaterJoinerCounted,
                Request::SendReadReceipts { .. },
                Response::ReceiptsSent { results },
            ) => self.count_later_joiners(now, user, results, out),
            (
                Bug::DuplicateCountedTwice,
                Request::SendReadReceipts { .. },
                Response::ReceiptsSent { results },
            ) => self.count_duplicates(now, user, results, out),
            (Bug::CountBackwardsAfterRestart, Request::SendReadReceipts { msg_ids }, _) => {
                self.remember_recent_reads(now, msg_ids, before)
            }
            (Bug::PushToOneDevice, _, _) => {
                for d in &mut out[first..] {
                    d.device = Some(0);
                }
            }
            (Bug::LostNotification, _, _) => drop_pushes(out, first, |d| {
                matches!(&d.push, Push::Receipts { entries }
                    if entries.iter().any(|e| e.msg_id().0 % 7 == 0))
            }),
            (
                Bug::PageNeverFinishes,
                Request::GetReadMemberList { next_seq, .. },
                Response::MemberList {
                    next_seq: answered,
                    is_finished,
                    ..
                },
            ) => {
                *answered = *next_seq;
                *is_finished = false;
            }
            (
                Bug::PageSkipsEntry,
                Request::GetReadMemberList {
                    filter: ReadFilter::Read,
                    next_seq,
                    ..
                },
                Response::MemberList { members, .. },
            ) if *next_seq > 0 && !members.is_empty() => {
                members.remove(0);
            }
            (Bug::CountsOneTooMany, _, Response::ReadReceipts { entries }) => {
                count_one_too_many(entries)
            }
            (
                Bug::UnreadListsReader,
                Request::GetReadMemberList {
                    msg_id,
                    filter: ReadFilter::Unread,
                    next_seq: 0,
                    ..
                },
                Response::MemberList { members, .. },
            ) => self.list_first_reader_as_unread(now, user, *msg_id, members),
            _ => {}
        }
    }

    /// Counts this bug skews, in pulls and in pushes alike.
    fn skew_counts(&self, resp: &mut Response, pushes: &mut [Delivery]) {
        if self.skew.is_empty() {
            return;
        }
        let grow = self.bug == Bug::LaterJoinerCounted;
        if let Response::ReadReceipts { entries } = resp {
            for e in entries.iter_mut() {
                if let Ok(entry) = &mut e.result {
                    self.skewed(entry, grow);
                }
            }
        }
        for d in pushes {
            if let Push::Receipts { entries } = &mut d.push {
                for e in entries.iter_mut() {
                    self.skewed(e, grow);
                }
            }
        }
    }

    /// LaterJoinerCounted: accepts receipts the model refused from current members outside
    /// the audience, counts them, and pushes the raised counts.
    fn count_later_joiners(
        &mut self,
        now: Micros,
        user: UserId,
        results: &mut [PerMessage<()>],
        out: &mut Vec<Delivery>,
    ) {
        let mut counted = Vec::new();
        for r in results.iter_mut() {
            let Some(view) = self.inner.model.message(r.msg_id) else {
                continue;
            };
            if let (Err(ErrorCode::NotInAudience), crate::protocol::ConvKey::Group(g)) =
                (r.result, view.conv)
                && view.need_read_receipt
                && view.sender != user
                && self.inner.model.is_member(g, user)
            {
                r.result = Ok(());
                if self.joiners.insert((r.msg_id, user)) {
                    *self.skew.entry(r.msg_id).or_insert(0) += 1;
                    counted.push(r.msg_id);
                }
            }
        }
        for m in counted {
            self.count_push(now, m, out);
        }
    }

    /// DuplicateCountedTwice: a receipt accepted before counts again, and is pushed.
    fn count_duplicates(
        &mut self,
        now: Micros,
        user: UserId,
        results: &[PerMessage<()>],
        out: &mut Vec<Delivery>,
    ) {
        let mut again = Vec::new();
        for r in results.iter() {
            if r.result.is_ok() && !self.accepted.insert((r.msg_id, user)) {
                *self.skew.entry(r.msg_id).or_insert(0) += 1;
                again.push(r.msg_id);
            }
        }
        for m in again {
            self.count_push(now, m, out);
        }
    }

    /// CountBackwardsAfterRestart: remembers the reads this batch added (counts above
    /// `before`), forgetting those older than a crash can lose.
    fn remember_recent_reads(&mut self, now: Micros, msg_ids: &[MsgId], before: &[u32]) {
        for (&m, &b) in msg_ids.iter().zip(before) {
            if self
                .inner
                .model
                .message(m)
                .is_some_and(|v| v.read_count > b)
            {
                self.recent.push_back((now, m));
            }
        }
        while self
            .recent
            .front()
            .is_some_and(|&(t, _)| t + NOT_DURABLE_FOR < now)
        {
            self.recent.pop_front();
        }
    }

    /// UnreadListsReader: the first page of the unread list also lists the first reader.
    fn list_first_reader_as_unread(
        &mut self,
        now: Micros,
        user: UserId,
        msg_id: MsgId,
        members: &mut Vec<UserId>,
    ) {
        let mut probe = Vec::new();
        let read = self.inner.apply(
            now,
            user,
            &Request::GetReadMemberList {
                msg_id,
                filter: ReadFilter::Read,
                next_seq: 0,
                count: 1,
            },
            &mut probe,
        );
        if let Response::MemberList { members: r, .. } = read
            && let Some(&u) = r.first()
            && !members.contains(&u)
        {
            members.insert(0, u);
        }
    }
}

/// Removes the deliveries from `out[first..]` that `lost` picks, keeping the others' order.
fn drop_pushes(out: &mut Vec<Delivery>, first: usize, lost: impl Fn(&Delivery) -> bool) {
    let mut i = first;
    while i < out.len() {
        if lost(&out[i]) {
            out.remove(i);
        } else {
            i += 1;
        }
    }
}

/// CountsOneTooMany: group counts with more than 3 audience members read one too many.
fn count_one_too_many(entries: &mut [PerMessage<ReceiptEntry>]) {
    for e in entries.iter_mut() {
        if let Ok(ReceiptEntry::Group {
            read_count,
            unread_count,
            ..
        }) = &mut e.result
            && *read_count + *unread_count > 3
            && *unread_count > 0
        {
            *read_count += 1;
            *unread_count -= 1;
        }
    }
}
