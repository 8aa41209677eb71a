//! Client operations under the Matrix profile (docs/matrix.md): receipts and marks move
//! read-marker bounds (`mx.rs`), counts are judged over the current membership, and each
//! message a receipt newly covers owes its online sender a push while it stays a member
//! (MX7, MX11).

use super::book::Audience;
use super::checker::Checker;
use super::expect::{self, Expect};
use super::liveness::Due;
use super::mx::{self, ANY, MxLook, MxSets};
use super::ops::PendingOp;
use super::sink::Finding;
use super::violation::Invariant;
use crate::history::OpId;
use crate::protocol::{
    ConvKey, ErrorCode, MAX_BATCH, Micros, MsgId, PerMessage, ReceiptEntry, Response, UserId,
};
use crate::scenario::Rule;
use roaring::RoaringBitmap;

impl Checker {
    /// A receipt batch (MX4, MX5): each known message's receipt is in flight from now.
    pub(super) fn mx_invoke_receipts(
        &mut self,
        t: Micros,
        client: UserId,
        op: OpId,
        msg_ids: &[MsgId],
    ) -> PendingOp {
        let batch_ok = Some(!msg_ids.is_empty() && msg_ids.len() <= MAX_BATCH);
        let mut per_msg = Vec::with_capacity(msg_ids.len());
        let mut mx_keys = Vec::with_capacity(msg_ids.len());
        for &id in msg_ids {
            let (expect, key) = match self.book.get(&id) {
                None => {
                    self.book.early_receipt(id, client);
                    self.mx.wild(client, id);
                    (Expect::Unknown, None)
                }
                Some(m) => (
                    mx::expect_receipt(&self.world, client, m),
                    Some((m.conv, m.seq)),
                ),
            };
            if batch_ok == Some(true)
                && let Some((conv, seq)) = key
                && expect != Expect::Err(ErrorCode::NotInAudience)
            {
                self.mx.invoke(conv, client, op, seq);
            }
            per_msg.push((id, expect));
            mx_keys.push(key);
        }
        PendingOp::Receipts {
            batch_ok,
            per_msg,
            mx_keys,
            invoked_at: t,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn mx_complete_receipts(
        &mut self,
        t: Micros,
        client: UserId,
        op: OpId,
        per_msg: &[(MsgId, Expect)],
        mx_keys: &[Option<(ConvKey, u64)>],
        invoked_at: Micros,
        resp: &Response,
    ) {
        let what = "receipt batch";
        let batch_ok = Some(!per_msg.is_empty() && per_msg.len() <= MAX_BATCH);
        if batch_ok == Some(false) {
            self.cov.bad_batch_judged(Rule::MX5, per_msg.len());
        }
        let results = match resp {
            Response::ReceiptsSent { results } => results,
            Response::Error { code } => {
                self.mx_end_all(client, op, mx_keys, false);
                let found = expect::batch_finding(what, batch_ok, Err(*code));
                return self.sink.report_all(t, Some(client), None, found);
            }
            _ => return self.mx_end_all(client, op, mx_keys, true),
        };
        let same = results
            .iter()
            .map(|r| r.msg_id)
            .eq(per_msg.iter().map(|p| p.0));
        let found = expect::batch_finding(what, batch_ok, Ok(same));
        self.sink.report_all(t, Some(client), None, found);
        if !same {
            return self.mx_end_all(client, op, mx_keys, true);
        }
        let convs: Vec<ConvKey> = mx_keys.iter().flatten().map(|k| k.0).collect();
        if convs.iter().any(|c| Some(c) != convs.first()) {
            self.cov.hit(Rule::MX5);
        }
        for ((r, &(id, expect)), &key) in results.iter().zip(per_msg).zip(mx_keys) {
            if let Some((conv, seq)) = key {
                self.mx.end(conv, client, op, seq);
            }
            self.mx_receipt_result(t, client, op, r, id, expect, invoked_at);
        }
    }

    /// Every receipt of `op` still in flight ends: `maybe` if it may have been applied.
    fn mx_end_all(
        &mut self,
        client: UserId,
        op: OpId,
        keys: &[Option<(ConvKey, u64)>],
        maybe: bool,
    ) {
        for &(conv, seq) in keys.iter().flatten() {
            self.mx.end(conv, client, op, seq);
            if maybe {
                self.mx.maybe(conv, client, seq);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn mx_receipt_result(
        &mut self,
        t: Micros,
        client: UserId,
        op: OpId,
        r: &PerMessage<()>,
        id: MsgId,
        expect: Expect,
        invoked_at: Micros,
    ) {
        let Some(m) = self.book.get(&id) else {
            return;
        };
        let (conv, seq, sender) = (m.conv, m.seq, m.sender);
        // Outside the send-time snapshot (a later joiner) or no longer a member (a leaver).
        let unlike_tencent = match m.audience {
            Audience::Group(g, _) => !m.in_audience(client) || !self.world.is_member(g, client),
            Audience::Peer(_) => false,
        };
        // Refused at invoke, but a join while the call was in flight may have let it in
        // (eligibility only grows, so an expected success stays one).
        let expect = match (expect, &m.audience) {
            (Expect::Err(_), &Audience::Group(g, _))
                if self.world.unsettled(g, client, invoked_at) =>
            {
                Expect::Unknown
            }
            (e, _) => e,
        };
        let found = expect::result_finding("read receipt", &expect, &r.result);
        self.sink.report_all(t, Some(client), Some(id), found);
        self.mx_count_receipt(client == sender || unlike_tencent, &expect);
        if r.result.is_err() {
            return;
        }
        if let Expect::Err(_) = expect {
            // Accepted where it should not have been: it may have moved the marker.
            return self.mx.maybe(conv, client, seq);
        }
        let before = self.mx.upper_without(conv, client, op);
        if seq <= self.mx.acked(conv, client) {
            self.cov.hit(Rule::MX2);
        }
        self.mx.ack(conv, client, seq);
        if let Some(m) = self.book.get_mut(&id) {
            if m.acked.is_empty() {
                m.first_ack_epoch = self.crashes;
            }
            m.acked.insert(client.0);
        }
        self.mx_newly_read(t, client, conv, (before, seq), invoked_at);
    }

    /// MX4 was put to the test: a refusal judged, or an acceptance the Tencent rules would
    /// refuse (`unlike_tencent`: the sender, a later joiner, a former member).
    fn mx_count_receipt(&mut self, unlike_tencent: bool, expect: &Expect) {
        match *expect {
            Expect::Err(code) => {
                self.cov.expected(code);
                self.cov.hit(Rule::MX4);
            }
            Expect::Ok if unlike_tencent => self.cov.hit(Rule::MX4),
            _ => {}
        }
    }

    /// `client`'s marker in `conv` surely moved past `range.0` up to `range.1` by a call
    /// invoked at `invoked_at`: the receipt-asking messages of others it newly covered owe
    /// their online senders a push (MX7), if `client` counts as a reader.
    fn mx_newly_read(
        &mut self,
        t: Micros,
        client: UserId,
        conv: ConvKey,
        (before, upto): (u64, u64),
        invoked_at: Micros,
    ) {
        let newly = self.book.in_range(conv, before, upto);
        if newly.len() > 1 {
            self.cov.hit(Rule::MX3);
        }
        let counts = match conv {
            ConvKey::Group(g) => {
                self.world.is_member(g, client) && !self.world.unsettled(g, client, invoked_at)
            }
            ConvKey::Pair(..) => true,
        };
        if !counts || !self.liveness.armed() {
            return;
        }
        for id in newly {
            let Some(m) = self.book.get(&id) else {
                continue;
            };
            // An earlier mark may have read it already.
            if m.sender == client || !m.need || self.mx.marked_after(conv, client, m.send_invoked) {
                continue;
            }
            // MX11: only a sender that surely stays a member is pushed (checked again when
            // the deadline passes).
            if mx::sender_party(&self.world, m, invoked_at) != Some(true) {
                continue;
            }
            if let Some(epoch) = self.world.online_throughout(m.sender, invoked_at) {
                let due = Due::Pushed {
                    msg: id,
                    after: invoked_at,
                    epoch,
                };
                self.liveness.owe(t, due);
                self.cov.hit(Rule::MX7);
            }
        }
    }

    /// A receipt batch was lost: each of its receipts may have been applied.
    pub(super) fn mx_lose_receipts(
        &mut self,
        client: UserId,
        op: OpId,
        keys: &[Option<(ConvKey, u64)>],
    ) {
        self.mx_end_all(client, op, keys, true);
    }

    /// A mark-read (MX9) starts: it will cover at least every message sighted so far.
    pub(super) fn mx_invoke_mark(&mut self, client: UserId, op: OpId, peer: UserId) -> u64 {
        let conv = ConvKey::Pair(client.min(peer), client.max(peer));
        self.mx.invoke(conv, client, op, ANY);
        self.book.max_seq(conv)
    }

    pub(super) fn mx_complete_mark(
        &mut self,
        t: Micros,
        client: UserId,
        (op, peer, latest): (OpId, UserId, u64),
        invoked_at: Micros,
        resp: &Response,
    ) {
        let conv = ConvKey::Pair(client.min(peer), client.max(peer));
        self.mx.end(conv, client, op, ANY);
        if !matches!(resp, Response::MarkedRead { .. }) {
            return;
        }
        let before = self.mx.upper_without(conv, client, op);
        self.mx.ack(conv, client, latest);
        if latest > 0 {
            self.cov.hit(Rule::MX9);
        }
        self.mx_newly_read(t, client, conv, (before, latest), invoked_at);
        self.mx.mark_done(conv, client, t);
    }

    /// A lost mark may have covered anything (it reads the latest message when applied).
    pub(super) fn mx_lose_mark(&mut self, client: UserId, op: OpId, peer: UserId) {
        let conv = ConvKey::Pair(client.min(peer), client.max(peer));
        self.mx.end(conv, client, op, ANY);
        self.mx.maybe(conv, client, ANY);
    }

    /// A message was just registered: receipts invoked before it was sighted may have
    /// moved their readers' markers.
    pub(super) fn mx_sighted(&mut self, id: MsgId) {
        let Some(m) = self.book.get(&id) else { return };
        let (conv, seq) = (m.conv, m.seq);
        for u in m.unknown.iter() {
            self.mx.maybe(conv, UserId(u), seq);
            self.mx.tame(UserId(u), id);
        }
    }

    /// Readers who had surely read `id` when a pull of it was invoked.
    pub(super) fn mx_lower(&self, id: MsgId) -> RoaringBitmap {
        let Some(m) = self.book.get(&id) else {
            return RoaringBitmap::new();
        };
        let (sure, maybe) = mx::membership(&self.world, m, Micros::MAX);
        self.mx.must_have_read(m.conv, m.seq, &(&sure | &maybe))
    }

    /// The sets a member-list page of `id` is judged against (paging started at `since`).
    pub(super) fn mx_sets(&self, id: MsgId, since: Micros) -> Option<MxSets> {
        let m = self.book.get(&id)?;
        Some(MxSets::of(&self.world, &self.mx, m, since))
    }

    /// One receipt entry observed by `client` at `t` (a push, or a pull invoked at
    /// `pull.0` when its readers `pull.1` had surely read).
    pub(super) fn mx_observe(
        &mut self,
        t: Micros,
        client: UserId,
        e: &ReceiptEntry,
        push: bool,
        pull: Option<(Micros, &RoaringBitmap)>,
    ) {
        let id = e.msg_id();
        let Some(m) = self.book.get(&id) else { return };
        // A sender that left or joined while the pull was in flight may answer from a view
        // frozen at its leave (MX11): any moment since the send, no lower bound.
        let pull = pull.filter(|p| mx::sender_party(&self.world, m, p.0) == Some(true));
        let look = MxLook {
            push,
            quiet: self.quiet && !push,
            by_sender: client == m.sender,
            since: pull.map_or(m.send_invoked, |p| p.0),
            lower: pull.map(|p| p.1),
        };
        let (count, found) = mx::entry_findings(m, &self.world, &self.mx, e, &look);
        self.mx_count_observed(id, e, &look);
        if let Some(m) = self.book.get_mut(&id)
            && look.by_sender
        {
            m.max_seen = m.max_seen.max(count);
            if push {
                m.max_pushed = m.max_pushed.max(count);
                m.last_push_at = Some(t);
            }
        }
        self.sink.report_all(t, Some(client), Some(id), found);
    }

    fn mx_count_observed(&mut self, id: MsgId, e: &ReceiptEntry, look: &MxLook) {
        let Some(m) = self.book.get(&id) else { return };
        if look.by_sender && m.max_seen > 0 {
            self.cov.hit(Rule::I3);
        }
        if self.crashes > m.first_ack_epoch && !m.acked.is_empty() {
            self.cov.hit(Rule::F1);
        }
        match (e, &m.audience) {
            (ReceiptEntry::Group { .. }, &Audience::Group(g, _)) => {
                self.cov.hit(Rule::I1);
                if self.world.group_unsettled(g, m.send_invoked) {
                    self.cov.hit(Rule::MX6);
                }
            }
            (ReceiptEntry::C2c { .. }, Audience::Peer(_)) if look.by_sender && m.max_seen > 0 => {
                self.cov.hit(Rule::C5);
            }
            _ => {}
        }
    }

    /// A send's answer was judged: under Matrix a receipt-asking send the Tencent rules would
    /// refuse is accepted (MX1).
    pub(super) fn mx_send_judged(&mut self, expect: &Expect, key: ConvKey, need: bool) {
        let ConvKey::Group(g) = key else { return };
        let cfg = &self.world.receipt_config;
        let gated = self.world.groups.get(&g).is_some_and(|info| {
            !cfg.supports(info.group_type) || info.members.len() > u64::from(cfg.max_group_size)
        });
        if need && gated && *expect == Expect::Ok {
            self.cov.hit(Rule::MX1);
        }
    }

    /// Under Matrix no `c2c_read` push exists (MX9).
    pub(super) fn mx_c2c_read(&mut self, t: Micros, client: UserId, from: UserId) {
        let f = Finding::new(
            Invariant::ResultCodes,
            format!("c2c_read push from {from}"),
            "no c2c_read push under the Matrix profile (MX9: a mark-read is a receipt)",
        );
        self.sink.report(t, Some(client), None, f);
    }
}
