//! How each history event updates [`Metrics`]: one handler per event kind, so `observe`
//! itself is only a dispatcher.

use super::{Hop, Metrics, OpInfo, Pending};
use crate::history::{Event, Observer, OpId};
use crate::protocol::{AdminRequest, Conv, Micros, MsgId, OpKind, Push, Request, Response, UserId};

impl Observer for Metrics {
    fn observe(&mut self, ev: &Event<'_>) {
        let t = ev.time();
        if self.first_t.is_none() {
            self.first_t = Some(t);
        }
        self.last_t = self.last_t.max(t);
        match *ev {
            Event::Invoke {
                t,
                intended,
                client,
                op,
                req,
                ..
            } => self.on_invoke(t, intended, client, op, req),
            Event::Complete {
                t,
                client,
                op,
                resp,
            } => self.on_complete(t, client, op, resp),
            // A user's other devices' copies are D1's business (src/check/devices.rs).
            Event::Push {
                t, push, device, ..
            } if device.is_first() => self.on_push(t, push),
            Event::Lost { client, op, .. } => self.on_lost(client, op),
            Event::Admin {
                req,
                resp: Response::AdminDone,
                ..
            } => self.on_admin_done(req),
            Event::Quiet { .. } => self.quiet = true,
            _ => {}
        }
    }
}

impl Metrics {
    fn on_invoke(&mut self, t: Micros, intended: Micros, client: UserId, op: OpId, req: &Request) {
        self.record(Hop::HarnessLateness, t.saturating_sub(intended));
        let receipts = match req {
            Request::SendReadReceipts { msg_ids } => self.queue_receipts(client, intended, msg_ids),
            _ => Vec::new(),
        };
        let audience = self.send_audience(req);
        if matches!(req, Request::SendMessage { .. }) {
            self.step_sent(intended);
        }
        self.ops_in_flight.insert(
            (client, op),
            OpInfo {
                intended,
                kind: req.kind(),
                receipts,
                audience,
            },
        );
    }

    /// Starts waiting for `client`'s receipts of `msg_ids`; returns each message with
    /// whether the client had not sent a receipt for it before.
    fn queue_receipts(
        &mut self,
        client: UserId,
        intended: Micros,
        msg_ids: &[MsgId],
    ) -> Vec<(MsgId, bool)> {
        let mut receipts = Vec::with_capacity(msg_ids.len());
        for &m in msg_ids {
            let p = self.receipts.get_or_insert_with(m, Pending::default);
            let first = p.queue(client, intended);
            receipts.push((m, first));
        }
        receipts
    }

    /// Audience of a receipt-needing send, as invoked (None for any other request).
    fn send_audience(&self, req: &Request) -> Option<u32> {
        match *req {
            Request::SendMessage {
                need_read_receipt: true,
                conv,
                ..
            } => Some(match conv {
                // The audience is the members at send time minus the sender.
                Conv::Group(g) => self
                    .group_members
                    .get(&g)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(1),
                Conv::C2c(_) => 1,
            }),
            _ => None,
        }
    }

    fn on_complete(&mut self, t: Micros, client: UserId, op: OpId, resp: &Response) {
        let Some(info) = self.ops_in_flight.remove(&(client, op)) else {
            return;
        };
        self.count(info.kind.name(), t);
        let lat = t.saturating_sub(info.intended);
        if let Some(code) = resp.error_code() {
            self.error(code);
        }
        match (info.kind, resp) {
            (OpKind::SendMessage, Response::Sent { msg_id, .. }) => {
                self.record(Hop::SendAck, lat);
                self.on_sent(*msg_id, &info);
            }
            (OpKind::SendMessage, _) => self.record(Hop::SendAck, lat),
            (OpKind::SendReadReceipts, r) => {
                self.record(Hop::ReceiptAck, lat);
                self.on_receipts_acked(t, client, &info, r);
            }
            (OpKind::GetReadReceipts, r) => {
                self.record(Hop::Pull, lat);
                self.on_receipts_pulled(t, r);
            }
            (OpKind::GetReadMemberList, _) => self.record(Hop::MemberListPage, lat),
            (OpKind::GetHistory, _) => self.record(Hop::HistoryPull, lat),
            (OpKind::MarkC2cRead, _) => self.record(Hop::MarkReadAck, lat),
        }
    }

    /// A send was acknowledged: count its audience, and time the pushes that beat the ack.
    fn on_sent(&mut self, msg_id: MsgId, info: &OpInfo) {
        self.send_started.insert(msg_id, info.intended);
        if let Some(a) = info.audience {
            self.completeness.messages += 1;
            self.completeness.audience_total += u64::from(a);
            self.receipts
                .get_or_insert_with(msg_id, Pending::default)
                .audience = a;
        }
        if let Some(early) = self.early_pushes.remove(&msg_id) {
            for at in early {
                self.record(Hop::DeliveryPush, at.saturating_sub(info.intended));
            }
        }
    }

    /// A receipt batch was answered at `t`: first receipts count towards completeness, and a
    /// refused receipt will never be notified, so stop waiting for it.
    fn on_receipts_acked(&mut self, t: Micros, client: UserId, info: &OpInfo, r: &Response) {
        let failed: Vec<MsgId> = match r {
            Response::ReceiptsSent { results } => {
                for res in results {
                    match res.result {
                        Err(code) => self.error(code),
                        Ok(()) if info.receipts.contains(&(res.msg_id, true)) => {
                            if let Some(&sent) = self.send_started.get(&res.msg_id) {
                                self.completeness.record(t.saturating_sub(sent));
                                self.step_acked(t);
                            }
                        }
                        Ok(()) => {}
                    }
                }
                results
                    .iter()
                    .filter(|r| r.result.is_err())
                    .map(|r| r.msg_id)
                    .collect()
            }
            _ => info.receipts.iter().map(|&(m, _)| m).collect(),
        };
        for m in failed {
            if let Some(p) = self.receipts.get_mut(&m) {
                p.invoked.retain(|&(u, _)| u != client);
            }
        }
    }

    /// A receipt pull was answered at `t`: time the receipts it shows (not after `Quiet`).
    fn on_receipts_pulled(&mut self, t: Micros, r: &Response) {
        if let Response::ReadReceipts { entries } = r {
            for e in entries {
                match &e.result {
                    Ok(entry) if !self.quiet => self.entry_covered(entry, t, false),
                    Ok(_) => {}
                    Err(code) => self.error(*code),
                }
            }
        }
    }

    fn on_push(&mut self, t: Micros, push: &Push) {
        self.count(push.kind_name(), t);
        match push {
            Push::NewMessage { msg_id, .. } => match self.send_started.get(msg_id) {
                Some(&s) => self.record(Hop::DeliveryPush, t.saturating_sub(s)),
                // The push beat the sender's ack; time it once the ack arrives.
                None => self.early_pushes.entry(*msg_id).or_default().push(t),
            },
            Push::Receipts { entries } => {
                for e in entries {
                    self.entry_covered(e, t, true);
                }
            }
            Push::C2cRead { .. } => {}
        }
    }

    /// No response will come: not a latency sample and no protocol error (the harness gave
    /// up on the call: a timeout, a cut connection, a crash), counted apart in `lost` so a run
    /// with faults shows how many calls were given up.
    fn on_lost(&mut self, client: UserId, op: OpId) {
        if self.ops_in_flight.remove(&(client, op)).is_some() {
            self.lost += 1;
        }
    }

    /// Group sizes follow admin history, for audience sizes.
    fn on_admin_done(&mut self, req: &AdminRequest) {
        match req {
            AdminRequest::CreateGroup { group, members, .. } => {
                self.group_members.insert(*group, members.len() as u32);
            }
            AdminRequest::AddMember { group, .. } => {
                *self.group_members.entry(*group).or_insert(0) += 1;
            }
            AdminRequest::RemoveMember { group, .. } => {
                let n = self.group_members.entry(*group).or_insert(0);
                *n = n.saturating_sub(1);
            }
            _ => {}
        }
    }
}
