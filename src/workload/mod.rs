//! The seeded workload: what every virtual client decides to do and when. It is a state
//! machine driven by its driver (simulated or live): timers fire, responses and pushes
//! arrive, and it answers with actions (operations to invoke, timers to set). Decisions come
//! from per-entity streams, so the live driver replays the same decisions on the real clock.

pub mod dist;
pub mod plan;

use crate::protocol::{
    Conv, ConvKey, Micros, MsgId, PerMessage, Push, ReadFilter, ReceiptEntry, Request, Response,
    UserId,
};
use crate::rng::{Purpose, Streams, entity};
use crate::scenario::Scenario;
use dist::{next_arrival, sample_delay};
pub use plan::Plan;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// A wake-up the workload asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Timer {
    /// The next message of traffic process `conv` (index into `Plan::convs`).
    Send { conv: u32 },
    /// `user` opens a conversation and runs the pull flow.
    Pull { user: UserId },
    /// `user` reads `msg` now.
    Read {
        user: UserId,
        msg: MsgId,
        key: ConvKey,
        sender: UserId,
        need: bool,
        mark: bool,
    },
    /// `user`'s receipt batch for `key` is due.
    Flush { user: UserId, key: ConvKey },
}

/// What a response means to the workload (kept by the driver per operation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tag {
    Send {
        key: ConvKey,
        need: bool,
    },
    Receipts,
    Mark,
    FlowHistory,
    FlowCounts,
    FlowPage {
        msg: MsgId,
        filter: ReadFilter,
        pages: u32,
    },
    FinalCounts,
    FinalPage {
        msg: MsgId,
        filter: ReadFilter,
    },
}

/// Something the driver must do for the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Invoke {
        client: UserId,
        req: Request,
        tag: Tag,
    },
    Timer {
        at: Micros,
        timer: Timer,
    },
}

/// A message a client knows it sent (from its ack).
#[derive(Copy, Clone, Debug)]
struct Sent {
    msg: MsgId,
    sender: UserId,
    key: ConvKey,
    need: bool,
}

struct Batch {
    ids: Vec<MsgId>,
    flush_at: Micros,
}

/// The workload of one run.
pub struct Workload {
    scenario: Scenario,
    plan: Plan,
    streams: Streams,
    /// One stream per traffic process.
    conv_rngs: Vec<ChaCha8Rng>,
    /// One stream per user's pull behaviour, created on first use.
    pull_rngs: FxHashMap<UserId, ChaCha8Rng>,
    batches: FxHashMap<(UserId, ConvKey), Batch>,
    /// Users with a pull flow in progress, and the messages it still wants to page.
    flows: FxHashMap<UserId, Vec<MsgId>>,
    /// Final member-list pagings still to do, per sender, done one at a time.
    final_pages: BTreeMap<UserId, Vec<(MsgId, ReadFilter)>>,
    sent: Vec<Sent>,
    /// No new sends or pulls start at or after this time.
    traffic_end: Micros,
}

fn conv_entity(key: ConvKey) -> [u64; 3] {
    match key {
        ConvKey::Group(g) => [0, u64::from(g.0), 0],
        ConvKey::Pair(a, b) => [1, u64::from(a.0), u64::from(b.0)],
    }
}

impl Workload {
    pub fn new(scenario: &Scenario, seed: u64) -> Workload {
        let streams = Streams::new(seed);
        let plan = Plan::draw(scenario, &streams);
        let conv_rngs = plan
            .convs
            .iter()
            .map(|c| streams.rng(Purpose::Sends, entity(&conv_entity(c.key))))
            .collect();
        Workload {
            scenario: scenario.clone(),
            traffic_end: scenario.duration.micros,
            plan,
            streams,
            conv_rngs,
            pull_rngs: FxHashMap::default(),
            batches: FxHashMap::default(),
            flows: FxHashMap::default(),
            final_pages: BTreeMap::new(),
            sent: Vec::new(),
        }
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The first timers of every traffic process and every online user's pulls.
    pub fn start(&mut self, out: &mut Vec<Action>) {
        for c in 0..self.plan.convs.len() {
            let rate = self.plan.convs[c].rate;
            if let Some(dt) = next_arrival(rate, &mut self.conv_rngs[c]) {
                self.timer(dt, Timer::Send { conv: c as u32 }, out);
            }
        }
        let rate = self.scenario.pulls.per_user_per_minute / 60.0;
        for u in 0..self.plan.users {
            let user = UserId(u);
            if self.plan.is_online(user) && !self.plan.user_convs[u as usize].is_empty() {
                let rng = self.pull_rng(user);
                if let Some(dt) = next_arrival(rate, rng) {
                    self.timer(dt, Timer::Pull { user }, out);
                }
            }
        }
    }

    fn timer(&self, at: Micros, timer: Timer, out: &mut Vec<Action>) {
        if timer_starts_work(&timer) && at >= self.traffic_end {
            return;
        }
        out.push(Action::Timer { at, timer });
    }

    fn pull_rng(&mut self, user: UserId) -> &mut ChaCha8Rng {
        let streams = self.streams;
        self.pull_rngs
            .entry(user)
            .or_insert_with(|| streams.rng(Purpose::Pulls, u64::from(user.0)))
    }

    pub fn on_timer(&mut self, now: Micros, timer: Timer, out: &mut Vec<Action>) {
        match timer {
            Timer::Send { conv } => self.send(now, conv as usize, out),
            Timer::Pull { user } => self.pull(now, user, out),
            Timer::Read {
                user,
                msg,
                key,
                sender,
                need,
                mark,
            } => {
                if mark {
                    out.push(Action::Invoke {
                        client: user,
                        req: Request::MarkC2cRead { peer: sender },
                        tag: Tag::Mark,
                    });
                } else if need {
                    self.add_to_batch(now, user, key, msg, out);
                }
            }
            Timer::Flush { user, key } => {
                let due = self
                    .batches
                    .get(&(user, key))
                    .is_some_and(|b| b.flush_at == now);
                if due {
                    self.flush(user, key, out);
                }
            }
        }
    }

    fn send(&mut self, now: Micros, c: usize, out: &mut Vec<Action>) {
        let conv = self.plan.convs[c];
        let t = &self.scenario.traffic;
        let rng = &mut self.conv_rngs[c];
        let (sender, target, need) = match conv.key {
            ConvKey::Group(g) => {
                let gp = &self.plan.groups[g.0 as usize];
                let sender = gp.online_members[rng.random_range(0..gp.online_members.len())];
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
        if let Some(dt) = next {
            self.timer(now + dt, Timer::Send { conv: c as u32 }, out);
        }
    }

    fn pull(&mut self, now: Micros, user: UserId, out: &mut Vec<Action>) {
        let rate = self.scenario.pulls.per_user_per_minute / 60.0;
        let page = self.scenario.pulls.history_page;
        let convs = &self.plan.user_convs[user.0 as usize];
        let n = convs.len();
        let busy = self.flows.contains_key(&user);
        let rng = self.pull_rng(user);
        let pick = rng.random_range(0..n);
        let next = next_arrival(rate, rng);
        if let Some(dt) = next {
            self.timer(now + dt, Timer::Pull { user }, out);
        }
        if busy {
            return;
        }
        let key = self.plan.user_convs[user.0 as usize][pick];
        self.flows.insert(user, Vec::new());
        out.push(Action::Invoke {
            client: user,
            req: Request::GetHistory {
                conv: key.as_seen_by(user),
                before_seq: 0,
                count: page,
            },
            tag: Tag::FlowHistory,
        });
    }

    fn add_to_batch(
        &mut self,
        now: Micros,
        user: UserId,
        key: ConvKey,
        msg: MsgId,
        out: &mut Vec<Action>,
    ) {
        let r = &self.scenario.reading;
        let flush_at = now + r.batch_window.micros;
        let b = self.batches.entry((user, key)).or_insert(Batch {
            ids: Vec::new(),
            flush_at,
        });
        if b.ids.is_empty() {
            b.flush_at = flush_at;
            if r.batch_window.micros > 0 {
                out.push(Action::Timer {
                    at: flush_at,
                    timer: Timer::Flush { user, key },
                });
            }
        }
        b.ids.push(msg);
        if b.ids.len() >= r.batch_max as usize || r.batch_window.micros == 0 {
            self.flush(user, key, out);
        }
    }

    fn flush(&mut self, user: UserId, key: ConvKey, out: &mut Vec<Action>) {
        if let Some(b) = self.batches.remove(&(user, key))
            && !b.ids.is_empty()
        {
            out.push(Action::Invoke {
                client: user,
                req: Request::SendReadReceipts { msg_ids: b.ids },
                tag: Tag::Receipts,
            });
        }
    }

    /// A push arrived at an online client.
    pub fn on_push(&mut self, now: Micros, client: UserId, push: &Push, out: &mut Vec<Action>) {
        let Push::NewMessage {
            msg_id,
            conv,
            sender,
            seq,
            need_read_receipt,
            ..
        } = *push
        else {
            return;
        };
        if sender == client {
            return;
        }
        let key = ConvKey::of(client, conv);
        let [k, a, b] = conv_entity(key);
        let mut rng = self
            .streams
            .rng(Purpose::Reads, entity(&[k, a, b, seq, u64::from(client.0)]));
        let r = &self.scenario.reading;
        if !rng.random_bool(r.read_probability) {
            return;
        }
        let delay = sample_delay(&r.delay, &mut rng);
        let mark = matches!(key, ConvKey::Pair(..)) && rng.random_bool(r.c2c_mark_read_share);
        if !mark && !need_read_receipt {
            return;
        }
        out.push(Action::Timer {
            at: now + delay,
            timer: Timer::Read {
                user: client,
                msg: msg_id,
                key,
                sender,
                need: need_read_receipt,
                mark,
            },
        });
    }

    /// The response to an operation the workload asked for.
    pub fn on_response(
        &mut self,
        _now: Micros,
        client: UserId,
        tag: Tag,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        match (tag, resp) {
            (Tag::Send { key, need }, Response::Sent { msg_id, .. }) => {
                self.sent.push(Sent {
                    msg: *msg_id,
                    sender: client,
                    key,
                    need,
                });
            }
            (Tag::FlowHistory, Response::History { messages }) => {
                let own: Vec<MsgId> = messages
                    .iter()
                    .filter(|m| m.is_self && m.need_read_receipt)
                    .map(|m| m.msg_id)
                    .collect();
                if own.is_empty() {
                    self.flows.remove(&client);
                } else {
                    out.push(Action::Invoke {
                        client,
                        req: Request::GetReadReceipts { msg_ids: own },
                        tag: Tag::FlowCounts,
                    });
                }
            }
            (Tag::FlowCounts, Response::ReadReceipts { entries }) => {
                let share = self.scenario.pulls.member_list_share;
                let rng = self.pull_rng(client);
                let mut to_page: Vec<MsgId> = entries
                    .iter()
                    .filter_map(|e: &PerMessage<ReceiptEntry>| match e.result {
                        Ok(ReceiptEntry::Group { msg_id, .. }) => Some(msg_id),
                        _ => None,
                    })
                    .filter(|_| rng.random_bool(share))
                    .collect();
                to_page.reverse();
                self.flows.insert(client, to_page);
                self.next_flow_page(client, out);
            }
            (
                Tag::FlowPage { msg, filter, pages },
                Response::MemberList {
                    next_seq,
                    is_finished,
                    ..
                },
            ) => {
                if !is_finished && pages < self.scenario.pulls.max_pages {
                    out.push(self.page(client, msg, filter, *next_seq, Some(pages + 1)));
                } else {
                    self.next_flow_page(client, out);
                }
            }
            (
                Tag::FinalPage { msg, filter },
                Response::MemberList {
                    next_seq,
                    is_finished,
                    ..
                },
            ) => {
                if !is_finished {
                    out.push(self.page(client, msg, filter, *next_seq, None));
                } else {
                    self.next_final_page(client, out);
                }
            }
            (Tag::FlowHistory | Tag::FlowCounts | Tag::FlowPage { .. }, _) => {
                self.flows.remove(&client);
            }
            (Tag::FinalPage { .. }, _) => self.next_final_page(client, out),
            _ => {}
        }
    }

    fn page(
        &self,
        client: UserId,
        msg: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        flow_pages: Option<u32>,
    ) -> Action {
        Action::Invoke {
            client,
            req: Request::GetReadMemberList {
                msg_id: msg,
                filter,
                next_seq,
                count: self.scenario.pulls.member_list_page,
            },
            tag: match flow_pages {
                Some(pages) => Tag::FlowPage { msg, filter, pages },
                None => Tag::FinalPage { msg, filter },
            },
        }
    }

    fn next_flow_page(&mut self, client: UserId, out: &mut Vec<Action>) {
        let next = self.flows.get_mut(&client).and_then(|v| v.pop());
        match next {
            None => {
                self.flows.remove(&client);
            }
            Some(msg) => {
                let filter = if self.pull_rng(client).random_bool(0.5) {
                    ReadFilter::Read
                } else {
                    ReadFilter::Unread
                };
                out.push(self.page(client, msg, filter, 0, Some(1)));
            }
        }
    }

    fn next_final_page(&mut self, client: UserId, out: &mut Vec<Action>) {
        let next = self.final_pages.get_mut(&client).and_then(|v| v.pop());
        match next {
            None => {
                self.final_pages.remove(&client);
            }
            Some((msg, filter)) => out.push(self.page(client, msg, filter, 0, None)),
        }
    }

    /// Once the run is quiet: count pulls of (a share of) every receipt-needing message by
    /// its sender, and full pagings of both member lists of a share of group messages.
    pub fn final_checks(&mut self, out: &mut Vec<Action>) {
        let c = &self.scenario.checks;
        let mut batches: BTreeMap<(UserId, ConvKey), Vec<MsgId>> = BTreeMap::new();
        for s in self.sent.iter().filter(|s| s.need) {
            let mut rng = self.streams.rng(Purpose::FinalChecks, s.msg.0);
            if rng.random_bool(c.final_pull_share) {
                batches.entry((s.sender, s.key)).or_default().push(s.msg);
            }
            if matches!(s.key, ConvKey::Group(_)) && rng.random_bool(c.final_list_share) {
                let q = self.final_pages.entry(s.sender).or_default();
                q.push((s.msg, ReadFilter::Unread));
                q.push((s.msg, ReadFilter::Read));
            }
        }
        for ((sender, _), ids) in batches {
            for chunk in ids.chunks(crate::protocol::MAX_BATCH) {
                out.push(Action::Invoke {
                    client: sender,
                    req: Request::GetReadReceipts {
                        msg_ids: chunk.to_vec(),
                    },
                    tag: Tag::FinalCounts,
                });
            }
        }
        let senders: Vec<UserId> = self.final_pages.keys().copied().collect();
        for s in senders {
            self.next_final_page(s, out);
        }
    }
}

/// Timers that start new work stop at the end of the traffic phase.
fn timer_starts_work(t: &Timer) -> bool {
    matches!(t, Timer::Send { .. } | Timer::Pull { .. })
}
