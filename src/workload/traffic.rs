//! Traffic: the open-loop send process of every conversation, and receipt bursts (a message
//! in a large group that every online member reads at once).

use super::plan::ConvPlan;
use super::{Action, Tag, Timer, Workload, conv_entity};
use crate::dist::{next_arrival, next_arrival_stepped};
use crate::history::FaultKind;
use crate::protocol::{Conv, ConvKey, GroupId, Micros, MsgId, Request, Response, UserId};
use crate::rng::entity;
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
            if let Some(dt) = self.next_arrival(c, 0) {
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
        let rng = self.conv_rngs.get(c, entity(&conv_entity(conv.key)));
        let (sender, target, need) = match conv.key {
            ConvKey::Group(g) => {
                let gp = &self.plan.groups[g.0 as usize];
                let online = self.members.online(&self.plan, g);
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
        let next = self.next_arrival(c, now);
        if !self.offline.contains(&sender) {
            out.push(Action::Invoke {
                client: sender,
                req: Request::SendMessage {
                    conv: target,
                    need_read_receipt: need,
                    body_len: self.scenario.traffic.body_bytes,
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

    /// Time from `now` to the next message of traffic process `c`: its share of the base
    /// rate, scaled by the staircase step in force. Without steps this is exactly the
    /// constant-rate draw it always was, so runs without steps keep their schedules.
    fn next_arrival(&mut self, c: usize, now: Micros) -> Option<Micros> {
        let ConvPlan { key, rate } = self.plan.convs[c];
        let rng = self.conv_rngs.get(c, entity(&conv_entity(key)));
        if self.steps.is_empty() {
            next_arrival(rate, rng)
        } else {
            next_arrival_stepped(rate, &self.steps, now, rng)
        }
    }

    /// A receipt burst: an online member of a large receipt-taking group sends a message
    /// that every reader then reads at once (see `decide_read`).
    pub(super) fn burst(&mut self, now: Micros, out: &mut Vec<Action>) {
        let max = self.plan.receipt_config.max_group_size as usize;
        let (members, plan) = (&self.members, &self.plan);
        // This shard's groups only (all of them unsharded).
        let candidates: Vec<usize> = (self.plan.shard_groups.iter().map(|g| g.0 as usize))
            .filter(|&g| {
                let id = GroupId(g as u32);
                self.plan.groups[g].supports_receipts
                    && members.all(plan, id).len() <= max
                    && members.online(plan, id).len() >= 3
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let rng = &mut self.burst_rng;
        // The largest of three random candidates: bursts favour big audiences.
        let g = (0..3)
            .map(|_| candidates[rng.random_range(0..candidates.len())])
            .max_by_key(|&g| (members.all(plan, GroupId(g as u32)).len(), g))
            .unwrap_or(candidates[0]);
        let group = GroupId(g as u32);
        let online = members.online(plan, group);
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
            let s = Sent {
                msg: *msg_id,
                sender: client,
                key,
                need,
            };
            self.sent.push(s);
            self.note_own(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Push;
    use crate::workload::testkit;

    fn sends(out: &[Action]) -> Vec<(UserId, Conv, bool)> {
        testkit::invokes(out)
            .into_iter()
            .filter_map(|(c, r)| match r {
                Request::SendMessage {
                    conv,
                    need_read_receipt,
                    ..
                } => Some((c, *conv, *need_read_receipt)),
                _ => None,
            })
            .collect()
    }

    fn next_send(out: &[Action], conv: u32) -> Option<Micros> {
        out.iter().find_map(|a| match a {
            Action::Timer {
                at,
                timer: Timer::Send { conv: c },
            } if *c == conv => Some(*at),
            _ => None,
        })
    }

    #[test]
    fn offline_sender_skips_the_message_but_not_the_process() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let c = w
            .plan()
            .convs
            .iter()
            .position(|c| matches!(c.key, ConvKey::Pair(..)))
            .unwrap();
        let ConvKey::Pair(a, b) = w.plan().convs[c].key else {
            unreachable!()
        };
        w.on_disconnect(0, a);
        w.on_disconnect(0, b);
        let mut out = Vec::new();
        w.send(1_000, c, &mut out);
        assert!(sends(&out).is_empty(), "{out:?}");
        assert!(next_send(&out, c as u32).is_some_and(|at| at > 1_000));
    }

    #[test]
    fn no_send_is_scheduled_at_or_after_the_end_of_traffic() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let end = w.traffic_end;
        let mut out = Vec::new();
        w.send(end - 1, 0, &mut out);
        assert_eq!(sends(&out).len(), 1, "the due message still goes out");
        assert_eq!(next_send(&out, 0), None);
    }

    #[test]
    fn group_senders_are_online_members_and_ask_receipts_only_where_they_work() {
        let text = format!(
            "{}\n[[groups]]\nname = \"c\"\ncount = 2\ntype = \"Community\"\nsize = {{ dist = \"fixed\", value = 5 }}\n\n[traffic]\nreceipt_share = 1.0\nmisuse_share = 0.0\n",
            testkit::SMALL
        );
        let mut w = testkit::workload(&text, 3);
        let mut out = Vec::new();
        for c in 0..w.plan().convs.len() {
            for i in 0..20 {
                w.send(i, c, &mut out);
            }
        }
        let mut groups = 0;
        for (sender, conv, need) in sends(&out) {
            let Conv::Group(g) = conv else { continue };
            groups += 1;
            assert!(
                w.members.online(&w.plan, g).contains(&sender),
                "{sender:?} in {g:?}"
            );
            assert_eq!(need, w.plan().group(g).supports_receipts, "{g:?}");
        }
        assert!(groups > 0);
    }

    /// The send schedule of every traffic process over the run (intended times, sorted),
    /// driven the way a driver does: each due timer fires and sets the next.
    fn send_schedule(w: &mut Workload) -> Vec<Micros> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut out = Vec::new();
        w.start_sends(&mut out);
        let mut due = BinaryHeap::new();
        let mut times = Vec::new();
        loop {
            for a in out.drain(..) {
                if let Action::Timer {
                    at,
                    timer: Timer::Send { conv },
                } = a
                {
                    due.push(Reverse((at, conv)));
                }
            }
            let Some(Reverse((at, conv))) = due.pop() else {
                return times;
            };
            times.push(at);
            w.send(at, conv as usize, &mut out);
        }
    }

    #[test]
    fn steps_scale_the_send_rate_from_their_start_and_repeat_with_the_seed() {
        // Base 15 msgs/s; x4 from 20 s, x0.5 from 40 s.
        let text = format!(
            "{}\n[traffic]\n[[traffic.steps]]\nat = \"20s\"\nscale = 4.0\n\
             [[traffic.steps]]\nat = \"40s\"\nscale = 0.5\n",
            testkit::SMALL
        );
        let times = send_schedule(&mut testkit::workload(&text, 5));
        let count = |from: u64, to: u64| times.iter().filter(|&&t| (from..to).contains(&t)).count();
        let per_sec = |from: u64, to: u64| count(from, to) as f64 / ((to - from) as f64 / 1e6);
        // Poisson counts of ~300, ~1200 and ~150: 20% is several standard deviations.
        for (from, to, rate) in [(0, 20, 15.0), (20, 40, 60.0), (40, 60, 7.5)] {
            let got = per_sec(from * 1_000_000, to * 1_000_000);
            assert!(
                (got / rate - 1.0).abs() < 0.2,
                "{from}-{to}s: {got}/s, want {rate}"
            );
        }
        // The rate changes at the boundary itself, not a draw later: ~15 sends in the second
        // before it, ~60 in the second after.
        let (before, after) = (count(19_000_000, 20_000_000), count(20_000_000, 21_000_000));
        assert!(after > 2 * before, "{before} then {after}");
        assert!(times.iter().all(|&t| t < 60_000_000));
        // Same seed, same schedule; another seed, another.
        assert_eq!(times, send_schedule(&mut testkit::workload(&text, 5)));
        assert_ne!(times, send_schedule(&mut testkit::workload(&text, 6)));
    }

    #[test]
    fn without_steps_the_schedule_is_the_constant_rate_one() {
        let mut w = testkit::workload(testkit::SMALL, 5);
        assert!(w.steps.is_empty());
        let times = send_schedule(&mut w);
        let got = times.len() as f64 / 60.0;
        assert!((got / 15.0 - 1.0).abs() < 0.15, "{got}/s");
    }

    fn bursty() -> Workload {
        let text = format!("{}\n[faults]\nbursts = 1\n", testkit::SMALL);
        testkit::workload(&text, 2)
    }

    #[test]
    fn burst_sends_to_a_big_enough_group_and_its_readers_read_at_once() {
        let mut w = bursty();
        let mut out = Vec::new();
        let now = 5_000_000;
        w.burst(now, &mut out);
        assert!(matches!(
            out[0],
            Action::Fault {
                kind: FaultKind::Burst,
                ..
            }
        ));
        let [(sender, Conv::Group(g), true)] = sends(&out)[..] else {
            panic!("one receipt-needing group send: {out:?}");
        };
        assert!(w.members.online(&w.plan, g).len() >= 3);
        assert!(w.plan().group(g).supports_receipts);
        let reader = *w
            .members
            .online(&w.plan, g)
            .iter()
            .find(|&&u| u != sender)
            .unwrap();
        let push = |need_read_receipt| Push::NewMessage {
            msg_id: MsgId(7),
            conv: Conv::Group(g),
            sender,
            seq: 1,
            timestamp_ms: 0,
            need_read_receipt,
        };
        let spread = w.faults.faults.burst_spread.micros;
        let mut reads = Vec::new();
        w.on_push(now + 1, reader, &push(true), &mut reads);
        let [
            Action::Timer {
                at,
                timer: Timer::Read { burst: true, .. },
            },
        ] = reads[..]
        else {
            panic!("a burst read: {reads:?}");
        };
        assert!(at <= now + 1 + spread);
        // After the window the same push is an ordinary read decision.
        let mut later = Vec::new();
        w.on_push(now + BURST_WINDOW, reader, &push(true), &mut later);
        assert!(
            !later.iter().any(|a| matches!(
                a,
                Action::Timer {
                    timer: Timer::Read { burst: true, .. },
                    ..
                }
            )),
            "{later:?}"
        );
    }

    #[test]
    fn acks_are_recorded_for_the_final_checks() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let key = ConvKey::Group(GroupId(0));
        let ack = Response::Sent {
            msg_id: MsgId(9),
            seq: 1,
            timestamp_ms: 0,
        };
        w.record_sent(UserId(1), key, true, &ack);
        w.record_sent(UserId(1), key, true, &Response::AdminDone);
        assert_eq!(w.sent.len(), 1);
        assert_eq!(w.sent[0].msg, MsgId(9));
    }
}
