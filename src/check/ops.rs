//! Client operations from invoke to answer (or loss): what each expects when it starts, and
//! what its answer must show when it ends.

use super::book::{Audience, Sighting};
use super::checker::Checker;
use super::counts::{Look, Lower};
use super::expect::{self, Expect};
use super::liveness::Due;
use super::paging::PageAnswer;
use super::sink::Finding;
use super::violation::Invariant;
use crate::history::{Device, OpId};
use crate::protocol::{
    ConvKey, ErrorCode, Micros, MsgId, PerMessage, ReadFilter, ReceiptEntry, Request, Response,
    UserId,
};
use crate::scenario::Rule;
use roaring::RoaringBitmap;

/// An operation in flight, with what the checker expected of it when it was invoked.
pub(super) enum PendingOp {
    Send {
        key: ConvKey,
        need: bool,
        expect: Expect,
        invoked_at: Micros,
    },
    Receipts {
        batch_ok: Option<bool>,
        per_msg: Vec<(MsgId, Expect)>,
        /// Matrix profile: each known message's (conversation, seq) at invoke.
        mx_keys: Vec<Option<(ConvKey, u64)>>,
        invoked_at: Micros,
    },
    Pull {
        batch_ok: Option<bool>,
        /// Per message: expected result and the lower bound captured at invoke.
        per_msg: Vec<(MsgId, Expect, Lower)>,
        /// Matrix profile: per message, the readers that had surely read it at invoke.
        mx_lower: Vec<RoaringBitmap>,
        invoked_at: Micros,
        /// The connection it went out on (its answer comes back there).
        device: Device,
    },
    Page {
        msg: MsgId,
        filter: ReadFilter,
        expect: Expect,
        invoked_at: Micros,
    },
    Mark {
        peer: UserId,
        invoked_at: Micros,
        /// Matrix profile: the highest seq of the chat sighted at invoke (MX9 covers it).
        latest: u64,
    },
    Other,
}

/// A single call's result as `Result`: its success variant, or its error code.
fn outcome(resp: &Response, ok: bool) -> Result<(), ErrorCode> {
    match resp {
        _ if ok => Ok(()),
        Response::Error { code } => Err(*code),
        _ => Err(ErrorCode::Internal),
    }
}

impl Checker {
    // ---- invoke ----------------------------------------------------------------------

    pub(super) fn on_invoke(
        &mut self,
        t: Micros,
        (client, device): (UserId, Device),
        op: OpId,
        req: &Request,
    ) {
        let pending = match *req {
            Request::SendMessage {
                conv,
                need_read_receipt: need,
                ..
            } => {
                let key = ConvKey::of(client, conv);
                self.book.send_invoked(client, key, t);
                let expect = expect::expect_send(&self.world, client, conv, need);
                PendingOp::Send {
                    key,
                    need,
                    expect,
                    invoked_at: t,
                }
            }
            Request::SendReadReceipts { ref msg_ids } if self.world.profile.is_matrix() => {
                self.mx_invoke_receipts(t, client, op, msg_ids)
            }
            Request::SendReadReceipts { ref msg_ids } => self.invoke_receipts(t, client, msg_ids),
            Request::GetReadReceipts { ref msg_ids } => PendingOp::Pull {
                mx_lower: if self.world.profile.is_matrix() {
                    msg_ids.iter().map(|&id| self.mx_lower(id)).collect()
                } else {
                    Vec::new()
                },
                batch_ok: expect::batch_ok(&self.world, &self.book, client, msg_ids),
                per_msg: msg_ids
                    .iter()
                    .map(|&id| {
                        let expect = expect::never_issued(&self.world, id).unwrap_or_else(|| {
                            expect::expect_pull(&self.world, client, self.book.get(&id))
                        });
                        (id, expect, Lower::now(&self.book, &self.marks, id))
                    })
                    .collect(),
                invoked_at: t,
                device,
            },
            Request::GetReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => {
                let m = self.book.get(&msg_id);
                let expect = match expect::expect_page(&self.world, client, count, m) {
                    Expect::Unknown if m.is_none() => {
                        expect::never_issued(&self.world, msg_id).unwrap_or(Expect::Unknown)
                    }
                    e => e,
                };
                let mx = self.world.profile.is_matrix();
                // Readers surely read when the paging starts (Matrix: by their markers).
                let mx_acked = (mx && next_seq == 0).then(|| self.mx_lower(msg_id));
                let acked = || match (m, mx_acked) {
                    (_, Some(a)) => a,
                    (Some(_), None) if mx => RoaringBitmap::new(),
                    (Some(m), None) => m.acked.to_bitmap(),
                    (None, None) => RoaringBitmap::new(),
                };
                let started = self
                    .paging
                    .request(client, msg_id, filter, next_seq, acked, self.quiet);
                if started && mx {
                    self.mx_paging_since.insert(client, t);
                }
                PendingOp::Page {
                    msg: msg_id,
                    filter,
                    expect,
                    invoked_at: t,
                }
            }
            Request::MarkC2cRead { peer } => {
                let latest = if self.world.profile.is_matrix() {
                    self.mx_invoke_mark(client, op, peer)
                } else {
                    self.marks.invoke(client, peer);
                    0
                };
                PendingOp::Mark {
                    peer,
                    invoked_at: t,
                    latest,
                }
            }
            Request::GetHistory { .. } => PendingOp::Other,
        };
        self.pending.insert((client, op), pending);
    }

    /// A receipt batch: readers eligible (or maybe eligible) become invoked at once, as the
    /// receipt may take effect any time from now.
    fn invoke_receipts(&mut self, t: Micros, client: UserId, msg_ids: &[MsgId]) -> PendingOp {
        let batch_ok = expect::batch_ok(&self.world, &self.book, client, msg_ids);
        let mut per_msg = Vec::with_capacity(msg_ids.len());
        for &id in msg_ids {
            let expect = match self.book.get(&id) {
                None if id.surely_unknown() => {
                    expect::never_issued(&self.world, id).unwrap_or(Expect::Unknown)
                }
                None => {
                    self.book.early_receipt(id, client);
                    Expect::Unknown
                }
                Some(m) => expect::expect_receipt(&self.world, client, m),
            };
            if batch_ok != Some(false)
                && let Some(m) = self.book.get_mut(&id)
                && (expect == Expect::Ok || m.may_be_in_audience(client))
            {
                m.invoked.insert(client.0);
            }
            per_msg.push((id, expect));
        }
        PendingOp::Receipts {
            batch_ok,
            per_msg,
            mx_keys: Vec::new(),
            invoked_at: t,
        }
    }

    // ---- complete --------------------------------------------------------------------

    pub(super) fn on_complete(&mut self, t: Micros, client: UserId, op: OpId, resp: &Response) {
        let Some(pending) = self.pending.remove(&(client, op)) else {
            return;
        };
        match pending {
            PendingOp::Send {
                key,
                need,
                expect,
                invoked_at,
            } => self.complete_send(t, client, (key, need, expect, invoked_at), resp),
            PendingOp::Receipts {
                per_msg,
                mx_keys,
                invoked_at,
                ..
            } if self.world.profile.is_matrix() => {
                self.mx_complete_receipts(t, client, op, &per_msg, &mx_keys, invoked_at, resp)
            }
            PendingOp::Receipts {
                batch_ok,
                per_msg,
                invoked_at,
                ..
            } => self.complete_receipts(t, client, batch_ok, &per_msg, invoked_at, resp),
            PendingOp::Pull {
                batch_ok,
                per_msg,
                mx_lower,
                invoked_at,
                device,
            } => {
                let per_msg: Vec<_> = per_msg
                    .into_iter()
                    .map(|(id, e, lower)| {
                        let m = self.book.get(&id);
                        let e = expect::unsettled_visibility(&self.world, client, m, invoked_at, e);
                        (id, e, lower)
                    })
                    .collect();
                let mx = (!mx_lower.is_empty()).then_some((invoked_at, &mx_lower[..]));
                self.complete_pull(t, (client, device), batch_ok, &per_msg, mx, resp)
            }
            PendingOp::Page {
                msg,
                filter,
                expect,
                invoked_at,
            } => {
                let m = self.book.get(&msg);
                let expect =
                    expect::unsettled_visibility(&self.world, client, m, invoked_at, expect);
                let got = outcome(resp, matches!(resp, Response::MemberList { .. }));
                let what = "get_group_message_read_member_list";
                self.cov.query_judged(Rule::M1, msg, &expect);
                let found = expect::result_finding(what, &expect, &got);
                self.sink.report_all(t, Some(client), Some(msg), found);
                if let Response::MemberList {
                    members,
                    next_seq,
                    is_finished,
                } = resp
                {
                    let page = PageAnswer {
                        filter,
                        members,
                        next_seq: *next_seq,
                        is_finished: *is_finished,
                    };
                    self.on_page(t, client, msg, page);
                }
            }
            PendingOp::Mark {
                peer,
                invoked_at,
                latest,
            } if self.world.profile.is_matrix() => {
                self.mx_complete_mark(t, client, (op, peer, latest), invoked_at, resp)
            }
            PendingOp::Mark {
                peer, invoked_at, ..
            } => self.complete_mark(t, client, peer, invoked_at, resp),
            PendingOp::Other => {}
        }
    }

    fn complete_send(
        &mut self,
        t: Micros,
        client: UserId,
        (key, need, expect, invoked_at): (ConvKey, bool, Expect, Micros),
        resp: &Response,
    ) {
        self.book.end_send_in_flight(client, key, invoked_at);
        let got = outcome(resp, matches!(resp, Response::Sent { .. }));
        // Membership or size may have changed while the send was in flight.
        let expect = match key {
            ConvKey::Group(g) if self.world.group_unsettled(g, invoked_at) => Expect::Unknown,
            _ => expect,
        };
        self.cov.send_judged(&expect, key, need);
        if self.world.profile.is_matrix() {
            self.mx_send_judged(&expect, key, need);
        }
        let found = expect::result_finding("send_message", &expect, &got);
        self.sink.report_all(t, Some(client), None, found);
        if let Response::Sent {
            msg_id,
            seq,
            timestamp_ms,
        } = *resp
        {
            let s = Sighting {
                id: msg_id,
                key,
                sender: client,
                seq,
                timestamp_ms,
                need,
                acked_send: Some(invoked_at),
            };
            let fresh = self.book.get(&msg_id).is_none();
            let found = self.book.sight(&self.world, t, &s);
            self.sink.report_all(t, Some(client), Some(msg_id), found);
            if fresh && self.world.profile.is_matrix() {
                self.mx_sighted(msg_id);
            }
            self.cov.hit(Rule::S8);
            if let Some(m) = self.book.get_mut(&msg_id) {
                m.send_acked = Some(t);
                m.send_invoked = invoked_at;
            }
        }
    }

    fn complete_receipts(
        &mut self,
        t: Micros,
        client: UserId,
        batch_ok: Option<bool>,
        per_msg: &[(MsgId, Expect)],
        invoked_at: Micros,
        resp: &Response,
    ) {
        let what = "receipt batch";
        if batch_ok == Some(false)
            && matches!(resp, Response::ReceiptsSent { .. } | Response::Error { .. })
        {
            self.cov.bad_batch_judged(Rule::R1, per_msg.len());
        }
        let results = match resp {
            Response::ReceiptsSent { results } => results,
            Response::Error { code } => {
                let found = expect::batch_finding(what, batch_ok, Err(*code));
                return self.sink.report_all(t, Some(client), None, found);
            }
            _ => return,
        };
        let same = results
            .iter()
            .map(|r| r.msg_id)
            .eq(per_msg.iter().map(|p| p.0));
        let found = expect::batch_finding(what, batch_ok, Ok(same));
        self.sink.report_all(t, Some(client), None, found);
        for (r, (id, expect)) in results.iter().zip(per_msg) {
            // A reader who joined, left or re-joined while the receipt was in flight may get
            // either answer.
            let unsettled = self.book.get(id).is_some_and(|m| match m.audience {
                Audience::Group(g, _) => self.world.unsettled(g, client, invoked_at),
                Audience::Peer(_) => false,
            });
            let expect = if unsettled { &Expect::Unknown } else { expect };
            self.on_receipt_result(t, client, r, *id, expect, invoked_at);
        }
    }

    fn on_receipt_result(
        &mut self,
        t: Micros,
        client: UserId,
        r: &PerMessage<()>,
        id: MsgId,
        expect: &Expect,
        invoked_at: Micros,
    ) {
        if r.msg_id != id {
            let f = Finding::new(
                Invariant::ResultCodes,
                format!("result for {}", r.msg_id),
                format!("results in request order ({id} here)"),
            );
            return self.sink.report(t, Some(client), Some(r.msg_id), f);
        }
        let found = expect::result_finding("read receipt", expect, &r.result);
        self.sink.report_all(t, Some(client), Some(id), found);
        let Some(m) = self.book.get_mut(&id) else {
            if id.surely_unknown() && matches!(expect, Expect::Err(_)) {
                self.cov.unknown_id_judged();
            }
            return;
        };
        self.cov.receipt_judged(expect, &self.world, m);
        match r.result {
            // Accepted: the reader is in the audience after all.
            Ok(()) => m.settle_in(client),
            // Not in the audience (and, for MESSAGE_NOT_FOUND, not even able to see it).
            Err(ErrorCode::NotInAudience | ErrorCode::MessageNotFound) => {
                m.maybe.remove(client.0);
            }
            Err(_) => {}
        }
        let counts = match expect {
            Expect::Ok => true,
            // Accepted where the checker could not tell in advance: it counts if the reader
            // is (now known to be) in the audience.
            Expect::Unknown => m.in_audience(client),
            Expect::Err(_) => false,
        };
        if r.result.is_ok() && counts {
            if m.acked.contains(client.0) {
                m.probes |= super::coverage::PROBE_REPEAT;
            }
            self.ack_receipt(t, client, id, invoked_at);
        }
    }

    /// `client`'s receipt for `id` was acknowledged: the first time, its sender, if online
    /// since the receipt was invoked, is owed a push of the new count.
    fn ack_receipt(&mut self, t: Micros, client: UserId, id: MsgId, invoked_at: Micros) {
        let Some(m) = self.book.get_mut(&id) else {
            return;
        };
        if !m.acked.insert(client.0) {
            return;
        }
        if m.acked.len() == 1 {
            m.first_ack_epoch = self.crashes;
        }
        let need = match m.audience {
            Audience::Group(..) => m.acked.len() as u32,
            Audience::Peer(_) => 1,
        };
        // A receipt whose earlier attempt was lost may have been applied back then (its push
        // went to whoever was connected): this one is a repeat, owed no push.
        let repeat = m.unknown.contains(client.0);
        let sender = m.sender;
        if self.liveness.armed()
            && !repeat
            && let Some(epoch) = self.world.online_throughout(sender, invoked_at)
        {
            let due = Due::Receipt {
                msg: id,
                need,
                epoch,
            };
            self.liveness.owe(t, due);
            self.cov.hit(Rule::R7);
        }
    }

    fn complete_pull(
        &mut self,
        t: Micros,
        (client, device): (UserId, Device),
        batch_ok: Option<bool>,
        per_msg: &[(MsgId, Expect, Lower)],
        mx: Option<(Micros, &[RoaringBitmap])>,
        resp: &Response,
    ) {
        let what = "count pull";
        if batch_ok == Some(false)
            && matches!(resp, Response::ReadReceipts { .. } | Response::Error { .. })
        {
            self.cov.bad_batch_judged(Rule::P1, per_msg.len());
        }
        let entries = match resp {
            Response::ReadReceipts { entries } => entries,
            Response::Error { code } => {
                let found = expect::batch_finding(what, batch_ok, Err(*code));
                return self.sink.report_all(t, Some(client), None, found);
            }
            _ => return,
        };
        let same = entries
            .iter()
            .map(|e| e.msg_id)
            .eq(per_msg.iter().map(|p| p.0));
        let found = expect::batch_finding(what, batch_ok, Ok(same));
        self.sink.report_all(t, Some(client), None, found);
        for (i, (e, &(id, expect, lower))) in entries.iter().zip(per_msg).enumerate() {
            if e.msg_id != id {
                continue;
            }
            let got = e.result.map(|_| ());
            self.cov.query_judged(Rule::P2, id, &expect);
            let found = expect::result_finding("get_message_read_receipts", &expect, &got);
            self.sink.report_all(t, Some(client), Some(id), found);
            match (&e.result, mx) {
                (Ok(entry), Some((since, lower))) => {
                    self.mx_observe(t, client, entry, false, Some((since, &lower[i])))
                }
                (Ok(entry), None) => self.observe_pulled(t, (client, device), entry, lower),
                _ => {}
            }
        }
    }

    fn observe_pulled(
        &mut self,
        t: Micros,
        (client, device): (UserId, Device),
        e: &ReceiptEntry,
        lower: Lower,
    ) {
        let look = Look {
            client,
            device,
            push: false,
            quiet: self.quiet,
            lower,
        };
        self.observe_entry(t, e, &look);
    }

    fn on_page(&mut self, t: Micros, client: UserId, id: MsgId, page: PageAnswer) {
        // A listed member whose place in the snapshot was uncertain is in it.
        if let Some(m) = self.book.get_mut(&id)
            && !m.maybe.is_empty()
        {
            for &u in page.members {
                m.settle_in(u);
            }
        }
        let sets = match self.mx_paging_since.get(&client) {
            Some(&since) if self.world.profile.is_matrix() => self.mx_sets(id, since),
            _ => None,
        };
        let Some(m) = self.book.get(&id) else { return };
        let found = self
            .paging
            .page_of(client, m, id, page, &mut self.cov, sets.as_ref());
        self.sink.report_all(t, Some(client), Some(id), found);
    }

    fn complete_mark(
        &mut self,
        t: Micros,
        client: UserId,
        peer: UserId,
        invoked_at: Micros,
        resp: &Response,
    ) {
        if let Some(expect) = expect::mark_refusal(&self.world, client, peer) {
            self.cov.mark_judged(&expect);
            let got = outcome(resp, matches!(resp, Response::MarkedRead { .. }));
            let found = expect::result_finding("mark_c2c_message_as_read", &expect, &got);
            self.sink.report_all(t, Some(client), None, found);
            return self.marks.end(client, peer, None);
        }
        let Response::MarkedRead { timestamp_ms } = *resp else {
            return self.marks.end(client, peer, None);
        };
        let again = self.marks.acked(client, peer);
        self.marks.end(client, peer, Some((t, invoked_at)));
        if self.liveness.armed()
            && let Some(epoch) = self.world.online_throughout(peer, invoked_at)
        {
            let due = Due::C2cRead {
                observer: peer,
                from: client,
                need_ts: timestamp_ms,
                epoch,
            };
            self.liveness.owe(t, due);
            if again {
                self.cov.hit(Rule::C4);
            }
        }
    }

    // ---- lost ------------------------------------------------------------------------

    /// An operation the client gave up on: it may have taken effect (or still may, if its
    /// request is in flight), so whatever it could change becomes uncertain.
    pub(super) fn on_lost(&mut self, client: UserId, op: OpId) {
        let Some(pending) = self.pending.remove(&(client, op)) else {
            return;
        };
        match pending {
            PendingOp::Send {
                key, invoked_at, ..
            } => self.book.lose_send(client, key, invoked_at),
            PendingOp::Receipts { mx_keys, .. } if self.world.profile.is_matrix() => {
                self.mx_lose_receipts(client, op, &mx_keys)
            }
            PendingOp::Mark { peer, .. } if self.world.profile.is_matrix() => {
                self.mx_lose_mark(client, op, peer)
            }
            PendingOp::Receipts {
                batch_ok: Some(true),
                per_msg,
                ..
            } => {
                for (id, _) in per_msg {
                    if let Some(m) = self.book.get_mut(&id)
                        && m.invoked.contains(client.0)
                        && !m.acked.contains(client.0)
                    {
                        m.unknown.insert(client.0);
                    }
                }
            }
            PendingOp::Mark { peer, .. } => self.marks.lose(client, peer),
            PendingOp::Receipts { .. }
            | PendingOp::Pull { .. }
            | PendingOp::Page { .. }
            | PendingOp::Other => {}
        }
    }
}
