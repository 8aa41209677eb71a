//! Traffic: the open-loop send process of every conversation, and receipt bursts (a message
//! in a large group that every online member reads at once).

use super::{Action, Tag, Timer, Workload};
use crate::dist::next_arrival;
use crate::history::FaultKind;
use crate::protocol::{Conv, ConvKey, GroupId, Micros, MsgId, Request, Response, UserId};
use rand::RngExt;

/// A message a client knows it sent (from its ack).
#[derive(Copy, Clone, Debug)]
pub(super) struct Sent {
    pub(super) msg: MsgId,
    pub(super) sender: UserId,
    pub(super) key: ConvKey,
    pub(super) need: bool,
}

/// How long a group counts as in a burst after its burst message is sent.
const BURST_WINDOW: Micros = 2_000_000;

impl Workload {
    /// The first send of every traffic process.
    pub(super) fn start_sends(&mut self, out: &mut Vec<Action>) {
        for c in 0..self.plan.convs.len() {
            let rate = self.plan.convs[c].rate;
            if let Some(dt) = next_arrival(rate, &mut self.conv_rngs[c]) {
                self.timer(dt, Timer::Send { conv: c as u32 }, out);
            }
        }
    }

    /// The burst times, drawn up front over the fault phase.
    pub(super) fn start_bursts(&mut self, out: &mut Vec<Action>) {
        if !self.faults.active {
            return;
        }
        let until = self.faults.until.max(1);
        let mut times: Vec<Micros> = (0..self.faults.faults.bursts)
            .map(|_| self.burst_rng.random_range(0..until))
            .collect();
        times.sort_unstable();
        for at in times {
            self.timer(at, Timer::Burst, out);
        }
    }

    /// The next message of traffic process `c`, and the time of the one after.
    pub(super) fn send(&mut self, now: Micros, c: usize, out: &mut Vec<Action>) {
        let conv = self.plan.convs[c];
        let t = &self.scenario.traffic;
        let rng = &mut self.conv_rngs[c];
        let (sender, target, need) = match conv.key {
            ConvKey::Group(g) => {
                let gp = &self.plan.groups[g.0 as usize];
                let online = self.members.online(g);
                // Churn can empty a group of online members; the draw below still happens so
                // the conversation's stream stays aligned.
                let pick = rng.random_range(0..online.len().max(1));
                let sender = online.get(pick).copied().unwrap_or(gp.online_members[0]);
                let mut need = rng.random_bool(t.receipt_share);
                // A careful client asks for receipts only where they work; a few do not.
                if need && !gp.supports_receipts {
                    need = rng.random_bool(t.misuse_share);
                }
                (sender, Conv::Group(g), need)
            }
            ConvKey::Pair(a, b) => {
                let (s, p) = if rng.random_bool(0.5) { (a, b) } else { (b, a) };
                (s, Conv::C2c(p), rng.random_bool(t.receipt_share))
            }
        };
        let next = next_arrival(conv.rate, rng);
        if !self.offline.contains(&sender) {
            out.push(Action::Invoke {
                client: sender,
                req: Request::SendMessage {
                    conv: target,
                    need_read_receipt: need,
                    body_len: t.body_bytes,
                },
                tag: Tag::Send {
                    key: conv.key,
                    need,
                },
            });
        }
        if let Some(dt) = next {
            self.timer(now + dt, Timer::Send { conv: c as u32 }, out);
        }
    }

    /// A receipt burst: an online member of a large receipt-taking group sends a message
    /// that every reader then reads at once (see `decide_read`).
    pub(super) fn burst(&mut self, now: Micros, out: &mut Vec<Action>) {
        let max = self.plan.receipt_config.max_group_size as usize;
        let members = &self.members;
        let candidates: Vec<usize> = (0..self.plan.groups.len())
            .filter(|&g| {
                let id = GroupId(g as u32);
                self.plan.groups[g].supports_receipts
                    && members.all(id).len() <= max
                    && members.online(id).len() >= 3
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let rng = &mut self.burst_rng;
        // The largest of three random candidates: bursts favour big audiences.
        let g = (0..3)
            .map(|_| candidates[rng.random_range(0..candidates.len())])
            .max_by_key(|&g| (members.all(GroupId(g as u32)).len(), g))
            .unwrap_or(candidates[0]);
        let group = GroupId(g as u32);
        let online = members.online(group);
        let sender = online[rng.random_range(0..online.len())];
        if self.offline.contains(&sender) {
            return;
        }
        self.bursts.retain(|&(_, until)| until > now);
        self.bursts.push((group, now + BURST_WINDOW));
        out.push(Action::Fault {
            kind: FaultKind::Burst,
            client: Some(sender),
        });
        out.push(Action::Invoke {
            client: sender,
            req: Request::SendMessage {
                conv: Conv::Group(group),
                need_read_receipt: true,
                body_len: self.scenario.traffic.body_bytes,
            },
            tag: Tag::Send {
                key: ConvKey::Group(group),
                need: true,
            },
        });
    }

    /// Whether `key` is a group in a burst at `now`.
    pub(super) fn in_burst(&self, now: Micros, key: ConvKey) -> bool {
        matches!(key, ConvKey::Group(g)
            if self.bursts.iter().any(|&(b, until)| b == g && now < until))
    }

    /// A send's ack: the final checks pull receipts of what was acknowledged.
    pub(super) fn record_sent(
        &mut self,
        client: UserId,
        key: ConvKey,
        need: bool,
        resp: &Response,
    ) {
        if let Response::Sent { msg_id, .. } = resp {
            self.sent.push(Sent {
                msg: *msg_id,
                sender: client,
                key,
                need,
            });
        }
    }
}
