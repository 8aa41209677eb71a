//! The seeded workload: what every virtual client decides to do and when. It is a state
//! machine driven by its driver (simulated or live): timers fire, responses and pushes
//! arrive, and it answers with actions (operations to invoke, timers to set). Decisions come
//! from per-entity streams, so the live driver replays the same decisions on the real clock.

pub mod plan;

// `dist` moved to the crate root (the fault plan uses it too); this keeps the old path
// compiling for code written against it.
pub use crate::dist;

use crate::dist::{next_arrival, sample_delay};
use crate::faults::FaultPlan;
use crate::history::FaultKind;
use crate::protocol::{
    AdminRequest, Conv, ConvKey, GroupId, HistoryMessage, Micros, MsgId, PerMessage, Push,
    ReadFilter, ReceiptEntry, Request, Response, UserId,
};
use crate::rng::{Purpose, Streams, entity};
use crate::scenario::Scenario;
pub use plan::Plan;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use roaring::RoaringBitmap;
use rustc_hash::{FxHashMap, FxHashSet};
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
        /// A burst read: the receipt goes out at once, not batched.
        burst: bool,
    },
    /// `user`'s receipt batch for `key` is due.
    Flush { user: UserId, key: ConvKey },
    /// The next membership change.
    Churn,
    /// A receipt burst starts.
    Burst,
    /// `user`, who just joined `group`, opens it and catches up.
    CatchUp { user: UserId, group: GroupId },
}

/// What a response means to the workload (kept by the driver per operation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tag {
    Send {
        key: ConvKey,
        need: bool,
    },
    Receipts {
        /// The batch's conversation.
        key: ConvKey,
        /// Retries so far (after timeouts or lost connections).
        attempt: u32,
    },
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
    /// History pulled to catch up after a reconnect or a join.
    CatchUpHistory {
        key: ConvKey,
    },
    CatchUpCounts,
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
    /// A membership change through the admin API (churn); `kind` labels it for the fault
    /// timeline.
    Admin {
        req: AdminRequest,
        kind: FaultKind,
    },
    /// Log an injected fault in the history (e.g. a burst starts).
    Fault {
        kind: FaultKind,
        client: Option<UserId>,
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
    faults: FaultPlan,
    /// Users whose connection is down: they queue receipts and start nothing.
    offline: FxHashSet<UserId>,
    /// Current members of each group as this workload changed them (churn), all and online;
    /// senders are drawn from the online ones.
    members: Vec<RoaringBitmap>,
    online_members: Vec<Vec<UserId>>,
    all_members: Vec<Vec<UserId>>,
    /// Users who left or were kicked, per group, for re-joins.
    left: Vec<Vec<UserId>>,
    /// Groups each user joined during the run (their catch-up covers them too).
    joined: FxHashMap<UserId, Vec<GroupId>>,
    churn_rng: ChaCha8Rng,
    burst_rng: ChaCha8Rng,
    /// Groups in a burst, until when.
    bursts: Vec<(GroupId, Micros)>,
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
        let online: Vec<UserId> = (0..plan.users)
            .map(UserId)
            .filter(|&u| plan.is_online(u))
            .collect();
        let faults = FaultPlan::draw(scenario, seed, &online);
        let members = plan
            .groups
            .iter()
            .map(|g| g.members.iter().map(|u| u.0).collect())
            .collect();
        let online_members = plan
            .groups
            .iter()
            .map(|g| g.online_members.clone())
            .collect();
        let all_members = plan.groups.iter().map(|g| g.members.clone()).collect();
        let left = vec![Vec::new(); plan.groups.len()];
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
            faults,
            offline: FxHashSet::default(),
            members,
            online_members,
            all_members,
            left,
            joined: FxHashMap::default(),
            churn_rng: streams.rng(Purpose::Churn, 0),
            burst_rng: streams.rng(Purpose::Bursts, 0),
            bursts: Vec::new(),
        }
    }

    /// The faults of this run (drawn from the seed with the plan).
    pub fn fault_plan(&self) -> &FaultPlan {
        &self.faults
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
        if let Some(dt) = next_arrival(self.scenario.churn.per_minute / 60.0, &mut self.churn_rng) {
            self.timer(dt, Timer::Churn, out);
        }
        if self.faults.active {
            let until = self.faults.until.max(1);
            let mut times: Vec<Micros> = (0..self.faults.faults.bursts)
                .map(|_| self.burst_rng.random_range(0..until))
                .collect();
            times.sort_unstable();
            for at in times {
                self.timer(at, Timer::Burst, out);
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
                burst,
            } => {
                if mark {
                    // A mark-read needs the connection; an offline reader skips it.
                    if !self.offline.contains(&user) {
                        out.push(Action::Invoke {
                            client: user,
                            req: Request::MarkC2cRead { peer: sender },
                            tag: Tag::Mark,
                        });
                    }
                } else if burst && !self.offline.contains(&user) {
                    out.push(Action::Invoke {
                        client: user,
                        req: Request::SendReadReceipts { msg_ids: vec![msg] },
                        tag: Tag::Receipts { key, attempt: 0 },
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
            Timer::Churn => self.churn(now, out),
            Timer::Burst => self.burst(now, out),
            Timer::CatchUp { user, group } => {
                if !self.offline.contains(&user) && self.members[group.0 as usize].contains(user.0)
                {
                    out.push(Self::catch_up_history(
                        user,
                        ConvKey::Group(group),
                        self.scenario.pulls.history_page,
                    ));
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
                let online = &self.online_members[g.0 as usize];
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
        if busy || self.offline.contains(&user) {
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
        // Offline readers keep their batch; it goes out when they reconnect.
        if self.offline.contains(&user) {
            return;
        }
        if let Some(b) = self.batches.remove(&(user, key))
            && !b.ids.is_empty()
        {
            // A batch that grew while its reader was offline goes out in allowed sizes.
            let max = self.scenario.reading.batch_max.max(1) as usize;
            if b.ids.len() <= max {
                out.push(Action::Invoke {
                    client: user,
                    req: Request::SendReadReceipts { msg_ids: b.ids },
                    tag: Tag::Receipts { key, attempt: 0 },
                });
            } else {
                for chunk in b.ids.chunks(max) {
                    out.push(Action::Invoke {
                        client: user,
                        req: Request::SendReadReceipts {
                            msg_ids: chunk.to_vec(),
                        },
                        tag: Tag::Receipts { key, attempt: 0 },
                    });
                }
            }
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
        self.decide_read(
            now,
            client,
            msg_id,
            key,
            sender,
            seq,
            need_read_receipt,
            out,
        );
    }

    /// Whether and when `client` reads a message it learnt of (by push or by catching up).
    /// The decision comes from the (conversation, seq, reader) stream, so a message seen
    /// twice gets the same decision (and a repeated receipt, which is idempotent).
    #[allow(clippy::too_many_arguments)]
    fn decide_read(
        &mut self,
        now: Micros,
        client: UserId,
        msg_id: MsgId,
        key: ConvKey,
        sender: UserId,
        seq: u64,
        need_read_receipt: bool,
        out: &mut Vec<Action>,
    ) {
        let burst = matches!(key, ConvKey::Group(g) if need_read_receipt
            && self.bursts.iter().any(|&(b, until)| b == g && now < until));
        let (delay, need, mark) = if burst {
            // Everyone reads at once, spread over a few milliseconds.
            let spread = self.faults.faults.burst_spread.micros;
            let mut rng = self
                .streams
                .rng(Purpose::Bursts, entity(&[msg_id.0, u64::from(client.0)]));
            (rng.random_range(0..=spread), true, false)
        } else {
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
            (delay, need_read_receipt, mark)
        };
        out.push(Action::Timer {
            at: now + delay,
            timer: Timer::Read {
                user: client,
                msg: msg_id,
                key,
                sender,
                need,
                mark,
                burst,
            },
        });
    }

    fn catch_up_history(user: UserId, key: ConvKey, page: u32) -> Action {
        Action::Invoke {
            client: user,
            req: Request::GetHistory {
                conv: key.as_seen_by(user),
                before_seq: 0,
                count: page,
            },
            tag: Tag::CatchUpHistory { key },
        }
    }

    /// The driver cut `user`'s connection (injected, or the server crashed): the user starts
    /// nothing and queues its receipts until [`Workload::on_reconnect`].
    pub fn on_disconnect(&mut self, _now: Micros, user: UserId) {
        self.offline.insert(user);
        self.flows.remove(&user);
    }

    /// `user` is connected again: it sends the receipts it queued, then catches up as
    /// SEMANTICS.md asks of a reconnecting client: history of each conversation (reading
    /// what it missed), then the receipt counts of its own messages found there.
    pub fn on_reconnect(&mut self, _now: Micros, user: UserId, out: &mut Vec<Action>) {
        if !self.offline.remove(&user) {
            return;
        }
        let mut keys = self.plan.user_convs[user.0 as usize].clone();
        if let Some(gs) = self.joined.get(&user) {
            keys.extend(gs.iter().map(|&g| ConvKey::Group(g)));
        }
        let page = self.scenario.pulls.history_page;
        for key in keys {
            if self.batches.contains_key(&(user, key)) {
                self.flush(user, key, out);
            }
            if let ConvKey::Group(g) = key
                && !self.members[g.0 as usize].contains(user.0)
            {
                continue;
            }
            out.push(Self::catch_up_history(user, key, page));
        }
    }

    /// The driver gave up on an operation (timeout, or its connection closed): receipts,
    /// final checks and catch-up pulls are retried up to `faults.max_retries` times (they
    /// are idempotent); a pull flow is abandoned; sends and mark-reads are not retried (the
    /// protocol has no dedupe key for them).
    pub fn on_lost(
        &mut self,
        now: Micros,
        client: UserId,
        tag: Tag,
        req: &Request,
        out: &mut Vec<Action>,
    ) {
        let max = self.faults.faults.max_retries;
        match tag {
            Tag::Receipts { key, attempt } if attempt < max => {
                let Request::SendReadReceipts { msg_ids } = req else {
                    return;
                };
                if self.offline.contains(&client) {
                    // Back into the queue: it goes out on reconnect.
                    for &m in msg_ids {
                        self.add_to_batch(now, client, key, m, out);
                    }
                } else {
                    out.push(Action::Invoke {
                        client,
                        req: req.clone(),
                        tag: Tag::Receipts {
                            key,
                            attempt: attempt + 1,
                        },
                    });
                }
            }
            Tag::FlowHistory | Tag::FlowCounts | Tag::FlowPage { .. } => {
                self.flows.remove(&client);
            }
            Tag::FinalCounts | Tag::FinalPage { .. } => out.push(Action::Invoke {
                client,
                req: req.clone(),
                tag,
            }),
            _ => {}
        }
    }

    fn churn(&mut self, now: Micros, out: &mut Vec<Action>) {
        let ch = &self.scenario.churn;
        let weights = [ch.join, ch.leave, ch.kick, ch.rejoin];
        let rng = &mut self.churn_rng;
        if let Some(dt) = next_arrival(ch.per_minute / 60.0, rng) {
            let at = now + dt;
            if at < self.traffic_end {
                out.push(Action::Timer {
                    at,
                    timer: Timer::Churn,
                });
            }
        }
        let n = self.plan.groups.len();
        if n == 0 {
            return;
        }
        let g = rng.random_range(0..n);
        let total: f64 = weights.iter().sum();
        let mut x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
        let mut kind = 0;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                kind = i;
                break;
            }
            x -= w;
        }
        let group = GroupId(g as u32);
        let (user, fault) = match kind {
            1 | 2 => {
                // Keep at least two members so the group still has an audience.
                let all = &self.all_members[g];
                if all.len() <= 2 {
                    return;
                }
                let u = all[rng.random_range(0..all.len())];
                (
                    u,
                    if kind == 1 {
                        FaultKind::Leave
                    } else {
                        FaultKind::Kick
                    },
                )
            }
            3 if !self.left[g].is_empty() => {
                let i = rng.random_range(0..self.left[g].len());
                (self.left[g].swap_remove(i), FaultKind::Rejoin)
            }
            _ => {
                let users = self.plan.users;
                let mut found = None;
                for _ in 0..8 {
                    let u = rng.random_range(0..users);
                    if !self.members[g].contains(u) {
                        found = Some(UserId(u));
                        break;
                    }
                }
                let Some(u) = found else { return };
                (u, FaultKind::Join)
            }
        };
        let joining = matches!(fault, FaultKind::Join | FaultKind::Rejoin);
        if joining {
            self.members[g].insert(user.0);
            self.all_members[g].push(user);
            if self.plan.is_online(user) {
                self.online_members[g].push(user);
                self.joined.entry(user).or_default().push(group);
                // A joiner opens the group a moment later and catches up on its history.
                out.push(Action::Timer {
                    at: now + 1_000_000,
                    timer: Timer::CatchUp { user, group },
                });
            }
            out.push(Action::Admin {
                req: AdminRequest::AddMember { group, user },
                kind: fault,
            });
        } else {
            self.members[g].remove(user.0);
            self.all_members[g].retain(|&u| u != user);
            self.online_members[g].retain(|&u| u != user);
            self.left[g].push(user);
            out.push(Action::Admin {
                req: AdminRequest::RemoveMember { group, user },
                kind: fault,
            });
        }
    }

    fn burst(&mut self, now: Micros, out: &mut Vec<Action>) {
        let max = self.plan.receipt_config.max_group_size as usize;
        let candidates: Vec<usize> = (0..self.plan.groups.len())
            .filter(|&g| {
                self.plan.groups[g].supports_receipts
                    && self.all_members[g].len() <= max
                    && self.online_members[g].len() >= 3
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let rng = &mut self.burst_rng;
        // The largest of three random candidates: bursts favour big audiences.
        let g = (0..3)
            .map(|_| candidates[rng.random_range(0..candidates.len())])
            .max_by_key(|&g| (self.all_members[g].len(), g))
            .unwrap_or(candidates[0]);
        let online = &self.online_members[g];
        let sender = online[rng.random_range(0..online.len())];
        if self.offline.contains(&sender) {
            return;
        }
        let group = GroupId(g as u32);
        self.bursts.retain(|&(_, until)| until > now);
        self.bursts.push((group, now + 2_000_000));
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

    /// The response to an operation the workload asked for.
    pub fn on_response(
        &mut self,
        now: Micros,
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
            (Tag::CatchUpHistory { key }, Response::History { messages }) => {
                self.catch_up(now, client, key, messages, out);
            }
            _ => {}
        }
    }

    /// Reads what `client` missed in `key` and pulls the counts of its own messages there.
    fn catch_up(
        &mut self,
        now: Micros,
        client: UserId,
        key: ConvKey,
        messages: &[HistoryMessage],
        out: &mut Vec<Action>,
    ) {
        let mut own = Vec::new();
        for m in messages {
            if m.is_self {
                if m.need_read_receipt {
                    own.push(m.msg_id);
                }
            } else {
                self.decide_read(
                    now,
                    client,
                    m.msg_id,
                    key,
                    m.sender,
                    m.seq,
                    m.need_read_receipt,
                    out,
                );
            }
        }
        if !own.is_empty() && !self.offline.contains(&client) {
            out.push(Action::Invoke {
                client,
                req: Request::GetReadReceipts { msg_ids: own },
                tag: Tag::CatchUpCounts,
            });
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
    matches!(
        t,
        Timer::Send { .. } | Timer::Pull { .. } | Timer::Churn | Timer::Burst
    )
}
