//! The seeded workload: what every virtual client decides to do and when. It is a state
//! machine driven by its driver (simulated or live): timers fire, responses and pushes
//! arrive, and it answers with actions (operations to invoke, timers to set). Decisions come
//! from per-entity streams, so the live driver replays the same decisions on the real clock.
//!
//! This file holds the public types and the entry points, which only dispatch. The behaviour
//! lives in one file per part: [`traffic`] (sends, bursts), [`reading`] (read decisions,
//! receipt batches), [`pulls`] (pull flows, final checks), [`churn`] (membership changes,
//! over [`membership`]), [`recovery`] (disconnects, reconnects, lost operations) and
//! [`misuse`] (malformed and misdirected calls of a buggy client).

mod churn;
mod membership;
mod misuse;
mod parked;
pub mod plan;
mod pulls;
mod reading;
mod recovery;
#[cfg(test)]
mod testkit;
mod traffic;
pub mod user_convs;
mod watch;

// `dist` moved to the crate root (the fault plan uses it too); this keeps the old path
// compiling for code written against it.

use crate::faults::FaultPlan;
use crate::history::FaultKind;
use crate::protocol::{
    AdminRequest, ConvKey, GroupId, Micros, MsgId, Push, ReadFilter, Request, Response, UserId,
};
use crate::rng::{Purpose, Stream, Streams};
use crate::scenario::{Scenario, StepSpan};
use membership::Membership;
use parked::ParkedStreams;
pub use plan::Plan;
use reading::Batch;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::BTreeMap;
use traffic::Sent;

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
    /// `user` looks who has not read its message `msg` yet (`pulls.watch_share`).
    Watch { user: UserId, msg: MsgId },
    /// `user`, watching `msg`, scrolls to the next page of its unread list (the `pages`-th,
    /// at cursor `next_seq`).
    WatchPage {
        user: UserId,
        msg: MsgId,
        next_seq: u64,
        pages: u32,
    },
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
    /// A page of a watched message's unread list, the `pages`-th.
    WatchPage {
        msg: MsgId,
        pages: u32,
    },
    FinalCounts,
    /// A page of a final paging: the `pages`-th, asked at `cursor`.
    FinalPage {
        msg: MsgId,
        filter: ReadFilter,
        pages: u32,
        cursor: u64,
    },
    /// History pulled to catch up after a reconnect or a join.
    CatchUpHistory {
        key: ConvKey,
    },
    CatchUpCounts,
    /// A malformed or misdirected call (`pulls.misuse_share`): only the checker reads its
    /// answer.
    Misuse,
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

/// The workload of one run. Fields are grouped by the part that owns them; parts read each
/// other's state where the behaviour couples them (reads look at bursts, sends at churn).
pub struct Workload {
    scenario: Scenario,
    plan: Plan,
    streams: Streams,
    faults: FaultPlan,
    /// No new sends or pulls start at or after this time.
    traffic_end: Micros,
    /// Users whose connection is down: they queue receipts and start nothing.
    offline: FxHashSet<UserId>,
    /// Group members as churn changed them.
    members: Membership,

    // traffic
    /// One stream per traffic process (index into `Plan::convs`), parked.
    conv_rngs: ParkedStreams,
    burst_rng: Stream,
    /// The rate staircase (`[traffic] steps`); empty without one.
    steps: Vec<StepSpan>,
    /// Groups in a burst, until when.
    bursts: Vec<(GroupId, Micros)>,
    sent: Vec<Sent>,

    // reading
    batches: FxHashMap<(UserId, ConvKey), Batch>,

    // pulls
    /// One stream per user's pull behaviour (index = user id), parked.
    pull_rngs: ParkedStreams,
    /// Users with a pull flow in progress, and the messages it still wants to page.
    flows: FxHashMap<UserId, Vec<MsgId>>,
    /// Users paging a watched message's unread list (the message); they are in `flows` too,
    /// so no pull flow starts meanwhile.
    watching: FxHashMap<UserId, MsgId>,
    /// Final member-list pagings still to do, per sender, done one at a time.
    final_pages: BTreeMap<UserId, Vec<(MsgId, ReadFilter)>>,

    // churn
    churn_rng: Stream,

    // misuse (only with pulls.misuse_share > 0)
    /// One stream per (call kind, user), created on first use.
    misuse_rngs: FxHashMap<(u64, UserId), Stream>,
    /// Each user's latest own message per (conversation, receipts asked), to misuse.
    own_latest: FxHashMap<UserId, Vec<Sent>>,
    /// Each conversation's latest message, to misuse as another user's.
    conv_latest: FxHashMap<ConvKey, Sent>,
}

/// The stream entity of a conversation (shared by its sends and its reads).
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
        let members = Membership::from_plan(&plan);
        let conv_rngs = ParkedStreams::new(streams, Purpose::Sends, plan.convs.len());
        let pull_rngs = ParkedStreams::new(streams, Purpose::Pulls, plan.users as usize);
        Workload {
            scenario: scenario.clone(),
            traffic_end: scenario.duration.micros,
            plan,
            streams,
            faults,
            offline: FxHashSet::default(),
            members,
            conv_rngs,
            burst_rng: streams.rng(Purpose::Bursts, 0),
            steps: scenario.traffic.step_spans(scenario.duration),
            bursts: Vec::new(),
            sent: Vec::new(),
            batches: FxHashMap::default(),
            pull_rngs,
            flows: FxHashMap::default(),
            watching: FxHashMap::default(),
            final_pages: BTreeMap::new(),
            churn_rng: streams.rng(Purpose::Churn, 0),
            misuse_rngs: FxHashMap::default(),
            own_latest: FxHashMap::default(),
            conv_latest: FxHashMap::default(),
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
        // Drivers break ties between equal times by insertion order, so this order is fixed.
        self.start_sends(out);
        self.start_churn(out);
        self.start_bursts(out);
        self.start_pulls(out);
    }

    pub fn on_timer(&mut self, now: Micros, timer: Timer, out: &mut Vec<Action>) {
        match timer {
            Timer::Send { conv } => self.send(now, conv as usize, out),
            Timer::Pull { user } => self.pull(now, user, out),
            read @ Timer::Read { .. } => self.read_due(now, read, out),
            Timer::Flush { user, key } => self.flush_due(now, user, key, out),
            Timer::Churn => self.churn(now, out),
            Timer::Burst => self.burst(now, out),
            Timer::CatchUp { user, group } => self.catch_up_joined(user, group, out),
            Timer::Watch { user, msg } => self.watch_due(user, msg, out),
            Timer::WatchPage {
                user,
                msg,
                next_seq,
                pages,
            } => self.watch_scrolled(user, msg, next_seq, pages, out),
        }
    }

    /// A push arrived at an online client.
    pub fn on_push(&mut self, now: Micros, client: UserId, push: &Push, out: &mut Vec<Action>) {
        self.pushed(now, client, push, out);
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
        match tag {
            Tag::Send { key, need } => {
                self.record_sent(client, key, need, resp);
                self.watch_sent(now, client, key, need, resp, out);
            }
            Tag::FlowHistory | Tag::FlowCounts | Tag::FlowPage { .. } => {
                self.flow_response(client, tag, resp, out)
            }
            Tag::WatchPage { msg, pages } => {
                self.watch_page_answered(now, client, msg, pages, resp, out)
            }
            Tag::FinalPage { .. } => self.final_page_response(client, tag, resp, out),
            Tag::CatchUpHistory { key } => {
                if let Response::History { messages } = resp {
                    self.catch_up(now, client, key, messages, out);
                }
            }
            // Nothing follows from these answers; the checker reads them from the history.
            Tag::Receipts { .. }
            | Tag::Mark
            | Tag::FinalCounts
            | Tag::CatchUpCounts
            | Tag::Misuse => {}
        }
    }

    /// The driver cut `user`'s connection (injected, or the server crashed): the user starts
    /// nothing and queues its receipts until [`Workload::on_reconnect`].
    pub fn on_disconnect(&mut self, _now: Micros, user: UserId) {
        self.disconnect(user);
    }

    /// `user` is connected again: it sends the receipts it queued, then catches up as
    /// docs/semantics.md asks of a reconnecting client: history of each conversation (reading
    /// what it missed), then the receipt counts of its own messages found there.
    pub fn on_reconnect(&mut self, _now: Micros, user: UserId, out: &mut Vec<Action>) {
        self.reconnect(user, out);
    }

    /// The driver gave up on an operation (timeout, or its connection closed): receipts are
    /// retried up to `faults.max_retries` times and final checks until answered (they are
    /// idempotent); a pull flow is abandoned; sends and mark-reads are not retried (the
    /// protocol has no dedupe key for them), nor are catch-up pulls or misuse calls.
    pub fn on_lost(
        &mut self,
        now: Micros,
        client: UserId,
        tag: Tag,
        req: &Request,
        out: &mut Vec<Action>,
    ) {
        self.lost(now, client, tag, req, out);
    }

    /// Once the run is quiet: count pulls of (a share of) every receipt-needing message by
    /// its sender, and full pagings of both member lists of a share of group messages.
    pub fn final_checks(&mut self, out: &mut Vec<Action>) {
        self.final_pulls(out);
    }

    /// Asks for `timer` at `at`, unless it would start new work after the traffic phase.
    fn timer(&self, at: Micros, timer: Timer, out: &mut Vec<Action>) {
        if timer_starts_work(&timer) && at >= self.traffic_end {
            return;
        }
        out.push(Action::Timer { at, timer });
    }
}

/// Timers that start new work stop at the end of the traffic phase.
fn timer_starts_work(t: &Timer) -> bool {
    matches!(
        t,
        Timer::Send { .. }
            | Timer::Pull { .. }
            | Timer::Churn
            | Timer::Burst
            | Timer::Watch { .. }
            | Timer::WatchPage { .. }
    )
}
