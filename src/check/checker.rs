//! The streaming checker: one pass over history, every invariant of SEMANTICS.md.
//!
//! It keeps its own account of the world (users, groups, audiences, who invoked and who got
//! an acknowledged receipt) from the history alone and never trusts a target's counts.
//! Concurrency is handled with bounds: an observation that started at t0 and ended at t1 may
//! show anything between what was acknowledged before t0 and what was invoked before t1.
//! State is per live entity (message, conversation, in-flight op, open paging); liveness
//! deadlines are dropped once checked.

use super::violation::{Invariant, Violation};
use crate::history::{Event, MsgMap, Observer, OpId};
use crate::protocol::{
    AdminRequest, Conv, ConvKey, ErrorCode, GroupId, GroupType, MAX_BATCH, Micros, MsgId,
    PerMessage, Push, ReadFilter, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// What the checker needs to know that is not in the history.
#[derive(Clone, Debug)]
pub struct CheckConfig {
    /// Every acknowledged receipt must reach its online sender within this bound.
    pub liveness_bound: Micros,
    /// The command that replays this run; printed with every violation.
    pub replay: String,
    /// Keep at most this many violations in full (all are counted).
    pub max_recorded: usize,
    /// The run starts with a fault phase (ended by `Event::Calm`): liveness deadlines are
    /// only enforced for receipts acknowledged after it.
    pub fault_phase: bool,
}

impl CheckConfig {
    /// The checks `scenario` asks for; violations print `replay`.
    pub fn for_scenario(
        scenario: &crate::scenario::Scenario,
        replay: String,
        max_recorded: usize,
    ) -> CheckConfig {
        CheckConfig {
            liveness_bound: scenario.checks.liveness_bound.micros,
            replay,
            max_recorded,
            fault_phase: scenario.faults.any() || scenario.faults.swarm,
        }
    }
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            liveness_bound: 5_000_000,
            replay: String::from("(no replay command given)"),
            max_recorded: 100,
            fault_phase: false,
        }
    }
}

struct GroupInfo {
    group_type: GroupType,
    members: Arc<RoaringBitmap>,
}

#[derive(Clone)]
enum Audience {
    /// Members at send time, sender included (excluded on every query).
    Group(GroupId, Arc<RoaringBitmap>),
    Peer(UserId),
}

struct MsgState {
    conv: ConvKey,
    sender: UserId,
    seq: u64,
    timestamp_ms: u64,
    need: bool,
    audience: Audience,
    /// Lower bound of the send's invoke time (exact once the ack is seen).
    send_invoked: Micros,
    /// When the sender got the ack; None while in flight.
    send_acked: Option<Micros>,
    /// Audience members eligible at invoke who invoked a receipt.
    invoked: RoaringBitmap,
    /// Those whose receipt was acknowledged.
    acked: RoaringBitmap,
    /// Highest count the sender has seen (push or pull).
    max_seen: u32,
    /// Highest count pushed to the sender.
    max_pushed: u32,
    /// Users whose membership changed while the send was in flight: in the audience or not,
    /// the checker cannot tell until the target says (a receipt accepted or refused, a
    /// listing, a push). Empty without concurrent churn.
    maybe: RoaringBitmap,
    /// Readers whose receipt operation was lost: it may or may not have been applied.
    unknown: RoaringBitmap,
    /// read + unread as first observed while `maybe` was not empty (0: not yet).
    total_seen: u32,
}

impl MsgState {
    /// In the audience for sure.
    fn in_audience(&self, u: UserId) -> bool {
        u != self.sender
            && match &self.audience {
                Audience::Group(_, m) => m.contains(u.0),
                Audience::Peer(p) => *p == u,
            }
    }

    /// In the audience, or maybe (membership changed while the send was in flight).
    fn may_be_in_audience(&self, u: UserId) -> bool {
        self.in_audience(u) || (u != self.sender && self.maybe.contains(u.0))
    }

    /// The target showed that `u` is in the audience: settle it.
    fn settle_in(&mut self, u: UserId) {
        if self.maybe.remove(u.0)
            && let Audience::Group(_, m) = &mut self.audience
        {
            Arc::make_mut(m).insert(u.0);
        }
    }

    /// Audience size for sure (the maybe users not counted).
    fn audience_len(&self) -> u32 {
        match &self.audience {
            Audience::Group(_, m) => (m.len() as u32).saturating_sub(1),
            Audience::Peer(_) => 1,
        }
    }

    /// Readers that may be counted at most, once every operation has ended.
    fn may_have_read(&self) -> RoaringBitmap {
        &self.acked | &self.unknown
    }

    fn peer(&self) -> Option<UserId> {
        match self.audience {
            Audience::Peer(p) => Some(p),
            Audience::Group(..) => None,
        }
    }
}

/// Mark-read calls of `reader` in its conversation with one peer.
#[derive(Default, Clone, Copy)]
struct MarkState {
    in_flight: u32,
    /// Ack time of the latest acknowledged mark.
    last_acked_at: Option<Micros>,
    /// Invoke time of the latest-invoked acknowledged mark.
    acked_max_invoked: Option<Micros>,
    /// A mark was lost: it may have been (or may still be) applied at any later time.
    lost: bool,
}

enum Expect {
    Ok,
    Err(ErrorCode),
    /// The checker cannot tell (e.g. an id it never saw); anything goes.
    Unknown,
}

enum PendingOp {
    Send {
        key: ConvKey,
        need: bool,
        expect: Expect,
        invoked_at: Micros,
    },
    Receipts {
        batch_ok: bool,
        per_msg: Vec<(MsgId, Expect)>,
        invoked_at: Micros,
    },
    Pull {
        batch_ok: bool,
        /// Per message: expected result and the lower bound captured at invoke.
        per_msg: Vec<(MsgId, Expect, Lower)>,
    },
    Page {
        msg: MsgId,
        filter: ReadFilter,
        expect: Expect,
    },
    Mark {
        peer: UserId,
        invoked_at: Micros,
    },
    Other,
}

#[derive(Clone, Copy)]
enum Lower {
    Count(u32),
    PeerRead(bool),
    None,
}

/// One member-list paging in progress (a client pages one list at a time).
struct Paging {
    msg: MsgId,
    filter: ReadFilter,
    seen: RoaringBitmap,
    /// Readers acknowledged before the first page was asked for.
    acked_at_start: RoaringBitmap,
    quiet: bool,
}

enum Due {
    Receipt {
        msg: MsgId,
        need: u32,
        epoch: u32,
    },
    C2cRead {
        observer: UserId,
        from: UserId,
        need_ts: u64,
        epoch: u32,
    },
}

/// The streaming checker. Feed it every event with [`Observer::observe`], then read
/// [`Checker::violations`].
pub struct Checker {
    cfg: CheckConfig,
    receipt_config: ReceiptConfig,
    users: RoaringBitmap,
    groups: FxHashMap<GroupId, GroupInfo>,
    /// Connection epoch per user and whether it is connected now.
    conn: FxHashMap<UserId, (u32, bool)>,
    /// When each user's current connection opened (pushes reach only connections that were
    /// open when the server produced them).
    connected_since: FxHashMap<UserId, Micros>,
    msgs: MsgMap<MsgState>,
    /// Seqs seen per conversation, for uniqueness and gap checks.
    seqs: FxHashMap<ConvKey, RoaringBitmap>,
    pending: FxHashMap<(UserId, OpId), PendingOp>,
    /// Invoke times of sends in flight per (sender, conversation).
    sends_in_flight: FxHashMap<(UserId, ConvKey), Vec<Micros>>,
    paging: FxHashMap<UserId, Paging>,
    /// Liveness deadlines in order: each is (event time + a fixed bound) and event times
    /// never decrease, so a FIFO is already sorted.
    due: VecDeque<(Micros, Due)>,
    marks: FxHashMap<(UserId, UserId), MarkState>,
    /// Highest c2c_read timestamp `observer` has seen from `from`.
    c2c_read_seen: FxHashMap<(UserId, UserId), u64>,
    quiet: bool,
    /// The fault phase is over (or there was none): liveness deadlines hold from here.
    calm: bool,
    /// Completed membership changes per group: (completion time, user), in time order.
    changes: FxHashMap<GroupId, Vec<(Micros, UserId)>>,
    /// Membership changes sent but not completed, per (group, user) and per group.
    changing: FxHashMap<(GroupId, UserId), u32>,
    changing_groups: FxHashMap<GroupId, u32>,
    /// Invoke times of lost sends per (sender, conversation): such a send may still create
    /// a message (it may be in flight), so audiences sighted later in that conversation
    /// widen their window to it. Conversations with lost sends skip the seq gap check (a
    /// message nobody saw may exist).
    lost_sends: FxHashMap<(UserId, ConvKey), Micros>,
    /// Receipts invoked for messages the checker had not seen yet (a reader can learn of a
    /// message from history before the sender's ack arrives): added at the sighting as
    /// invoked and possibly read.
    early_receipts: FxHashMap<MsgId, Vec<UserId>>,
    violations: Vec<Violation>,
    total: u64,
    by_invariant: BTreeMap<Invariant, u64>,
}

impl Checker {
    pub fn new(cfg: CheckConfig) -> Checker {
        let calm = !cfg.fault_phase;
        Checker {
            cfg,
            receipt_config: ReceiptConfig::default(),
            users: RoaringBitmap::new(),
            groups: FxHashMap::default(),
            conn: FxHashMap::default(),
            connected_since: FxHashMap::default(),
            msgs: MsgMap::default(),
            seqs: FxHashMap::default(),
            pending: FxHashMap::default(),
            sends_in_flight: FxHashMap::default(),
            paging: FxHashMap::default(),
            due: VecDeque::new(),
            marks: FxHashMap::default(),
            c2c_read_seen: FxHashMap::default(),
            quiet: false,
            calm,
            changes: FxHashMap::default(),
            changing: FxHashMap::default(),
            changing_groups: FxHashMap::default(),
            lost_sends: FxHashMap::default(),
            early_receipts: FxHashMap::default(),
            violations: Vec::new(),
            total: 0,
            by_invariant: BTreeMap::new(),
        }
    }

    /// The first violations found (at most `max_recorded`).
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// How many violations were found in all.
    pub fn violations_total(&self) -> u64 {
        self.total
    }

    /// Violation counts per invariant.
    pub fn counts(&self) -> &BTreeMap<Invariant, u64> {
        &self.by_invariant
    }

    fn violate(
        &mut self,
        invariant: Invariant,
        t: Micros,
        client: Option<UserId>,
        msg: Option<MsgId>,
        observed: String,
        bound: String,
    ) {
        self.total += 1;
        *self.by_invariant.entry(invariant).or_insert(0) += 1;
        if self.violations.len() < self.cfg.max_recorded {
            self.violations.push(Violation {
                invariant,
                t_us: t,
                client,
                msg,
                observed,
                bound,
                replay: self.cfg.replay.clone(),
            });
        }
    }

    fn online(&self, u: UserId) -> Option<u32> {
        match self.conn.get(&u) {
            Some(&(epoch, true)) => Some(epoch),
            _ => None,
        }
    }

    fn still_online(&self, u: UserId, epoch: u32) -> bool {
        self.online(u) == Some(epoch)
    }

    /// `u`'s connection epoch if it has been connected since at least `since`: only then was
    /// it surely connected when an operation invoked at `since` took effect, and owed its push.
    fn online_throughout(&self, u: UserId, since: Micros) -> Option<u32> {
        self.online(u)
            .filter(|_| self.connected_since.get(&u).is_some_and(|&c| c <= since))
    }

    // ---- world knowledge -------------------------------------------------------------

    fn membership_target(req: &AdminRequest) -> Option<(GroupId, UserId)> {
        match *req {
            AdminRequest::AddMember { group, user }
            | AdminRequest::RemoveMember { group, user } => Some((group, user)),
            _ => None,
        }
    }

    fn on_admin_invoke(&mut self, req: &AdminRequest) {
        if let Some((g, u)) = Self::membership_target(req) {
            *self.changing.entry((g, u)).or_insert(0) += 1;
            *self.changing_groups.entry(g).or_insert(0) += 1;
        }
    }

    fn on_admin(&mut self, t: Micros, req: &AdminRequest, resp: &Response) {
        if let Some((g, u)) = Self::membership_target(req) {
            // Provisioning comes without an AdminInvoke: nothing in flight to end.
            if let Some(c) = self.changing.get_mut(&(g, u)) {
                *c -= 1;
                if *c == 0 {
                    self.changing.remove(&(g, u));
                }
                if let Some(c) = self.changing_groups.get_mut(&g) {
                    *c -= 1;
                    if *c == 0 {
                        self.changing_groups.remove(&g);
                    }
                }
            }
            self.changes.entry(g).or_default().push((t, u));
        }
        if resp.error_code().is_some() {
            return;
        }
        match req {
            AdminRequest::CreateUser { user } => {
                self.users.insert(user.0);
            }
            AdminRequest::CreateGroup {
                group,
                group_type,
                members,
            } => {
                self.groups.insert(
                    *group,
                    GroupInfo {
                        group_type: *group_type,
                        members: Arc::new(members.iter().map(|u| u.0).collect()),
                    },
                );
            }
            AdminRequest::AddMember { group, user } => {
                if let Some(g) = self.groups.get_mut(group) {
                    Arc::make_mut(&mut g.members).insert(user.0);
                }
            }
            AdminRequest::RemoveMember { group, user } => {
                if let Some(g) = self.groups.get_mut(group) {
                    Arc::make_mut(&mut g.members).remove(user.0);
                }
            }
            AdminRequest::SetReceiptConfig { config } => self.receipt_config = config.clone(),
            AdminRequest::GetReceiptConfig => {}
        }
    }

    /// Whether (g, u)'s membership may have changed at some point since `since` (a change
    /// completed since, or one still in flight).
    fn unsettled(&self, g: GroupId, u: UserId, since: Micros) -> bool {
        self.changing.contains_key(&(g, u))
            || self.changes.get(&g).is_some_and(|v| {
                v.iter()
                    .rev()
                    .take_while(|(t, _)| *t >= since)
                    .any(|(_, x)| *x == u)
            })
    }

    /// Whether any membership of `g` may have changed since `since`.
    fn group_unsettled(&self, g: GroupId, since: Micros) -> bool {
        self.changing_groups.contains_key(&g)
            || self
                .changes
                .get(&g)
                .and_then(|v| v.last())
                .is_some_and(|(t, _)| *t >= since)
    }

    /// The send `client` invoked at `invoked_at` in `key` is no longer in flight.
    fn end_send_in_flight(&mut self, client: UserId, key: ConvKey, invoked_at: Micros) {
        if let Some(v) = self.sends_in_flight.get_mut(&(client, key)) {
            if let Some(i) = v.iter().position(|&x| x == invoked_at) {
                v.swap_remove(i);
            }
            if v.is_empty() {
                self.sends_in_flight.remove(&(client, key));
            }
        }
    }

    fn is_member(&self, g: GroupId, u: UserId) -> bool {
        self.groups.get(&g).is_some_and(|g| g.members.contains(u.0))
    }

    /// Registers a message at its first sighting (the send's ack or a new_message push,
    /// whichever comes first) and checks that later sightings agree.
    #[allow(clippy::too_many_arguments)]
    fn sight_message(
        &mut self,
        t: Micros,
        client: UserId,
        id: MsgId,
        key: ConvKey,
        sender: UserId,
        seq: u64,
        timestamp_ms: u64,
        need: bool,
        // The send's invoke time when the sighting is its own ack (exact).
        acked_send: Option<Micros>,
    ) {
        if let Some(m) = self.msgs.get(&id) {
            if m.conv != key || m.seq != seq || m.sender != sender || m.timestamp_ms != timestamp_ms
            {
                let observed = format!("{id} seen as {key:?} seq {seq} from {sender}");
                let bound = format!(
                    "one message per id: first seen as {:?} seq {} from {}",
                    m.conv, m.seq, m.sender
                );
                self.violate(
                    Invariant::Sequencing,
                    t,
                    Some(client),
                    Some(id),
                    observed,
                    bound,
                );
            }
            return;
        }
        let seqs = self.seqs.entry(key).or_default();
        let fresh = u32::try_from(seq).is_ok_and(|s| s >= 1 && seqs.insert(s));
        if !fresh {
            self.violate(
                Invariant::Sequencing,
                t,
                Some(client),
                Some(id),
                format!("seq {seq} in {key:?}"),
                "seqs of one conversation are unique and start at 1".into(),
            );
        }
        let in_flight = self
            .sends_in_flight
            .get(&(sender, key))
            .and_then(|v| v.iter().min().copied());
        let lost = self.lost_sends.get(&(sender, key)).copied();
        let send_invoked = acked_send
            .or_else(|| in_flight.into_iter().chain(lost).min())
            .unwrap_or(t);
        let mut maybe = RoaringBitmap::new();
        let audience = match key {
            ConvKey::Group(g) => {
                let mut members = self
                    .groups
                    .get(&g)
                    .map(|g| Arc::clone(&g.members))
                    .unwrap_or_default();
                // Whoever joined or left while the send was in flight may or may not be in
                // its snapshot.
                if let Some(v) = self.changes.get(&g) {
                    for &(_, u) in v.iter().rev().take_while(|(ct, _)| *ct >= send_invoked) {
                        maybe.insert(u.0);
                    }
                }
                for &(cg, u) in self.changing.keys() {
                    if cg == g {
                        maybe.insert(u.0);
                    }
                }
                maybe.remove(sender.0);
                if !maybe.is_empty() && !maybe.is_disjoint(&members) {
                    let m = Arc::make_mut(&mut members);
                    *m -= &maybe;
                }
                // A message exists only if its sender was a member when it was sent, even
                // if the sender has left since.
                if !members.contains(sender.0) {
                    Arc::make_mut(&mut members).insert(sender.0);
                }
                Audience::Group(g, members)
            }
            ConvKey::Pair(a, b) => Audience::Peer(if a == sender { b } else { a }),
        };
        self.msgs.insert(
            id,
            MsgState {
                conv: key,
                sender,
                seq,
                timestamp_ms,
                need,
                audience,
                send_invoked,
                send_acked: None,
                invoked: RoaringBitmap::new(),
                acked: RoaringBitmap::new(),
                max_seen: 0,
                max_pushed: 0,
                maybe,
                unknown: RoaringBitmap::new(),
                total_seen: 0,
            },
        );
        if let Some(readers) = self.early_receipts.remove(&id)
            && let Some(m) = self.msgs.get_mut(&id)
        {
            for u in readers {
                if m.may_be_in_audience(u) {
                    m.invoked.insert(u.0);
                    m.unknown.insert(u.0);
                }
            }
        }
    }

    // ---- expectations ----------------------------------------------------------------

    fn expect_send(&self, client: UserId, conv: Conv, need: bool) -> Expect {
        match conv {
            Conv::Group(g) => {
                let Some(info) = self.groups.get(&g) else {
                    return Expect::Err(ErrorCode::GroupNotFound);
                };
                if !info.members.contains(client.0) {
                    return Expect::Err(ErrorCode::NotGroupMember);
                }
                if need && !self.receipt_config.supports(info.group_type) {
                    return Expect::Err(ErrorCode::ReceiptsDisabledForGroupType);
                }
                if need && info.members.len() > u64::from(self.receipt_config.max_group_size) {
                    return Expect::Err(ErrorCode::GroupTooLargeForReceipts);
                }
                Expect::Ok
            }
            Conv::C2c(peer) if peer == client => Expect::Err(ErrorCode::SelfConversation),
            Conv::C2c(peer) if !self.users.contains(peer.0) => Expect::Err(ErrorCode::UserNotFound),
            Conv::C2c(_) => Expect::Ok,
        }
    }

    /// Whether a batch obeys the batch rules, as far as the checker knows its messages.
    fn batch_ok(&self, ids: &[MsgId]) -> bool {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return false;
        }
        let mut convs = ids
            .iter()
            .filter_map(|id| self.msgs.get(id).map(|m| m.conv));
        let first = convs.next();
        convs.all(|c| Some(c) == first)
    }

    fn expect_receipt(&self, reader: UserId, m: &MsgState) -> Expect {
        if !m.in_audience(reader) && m.may_be_in_audience(reader) {
            return Expect::Unknown;
        }
        if !m.in_audience(reader) {
            return Expect::Err(ErrorCode::NotInAudience);
        }
        if !m.need {
            return Expect::Err(ErrorCode::ReceiptNotRequested);
        }
        if let Audience::Group(g, _) = m.audience
            && !self.is_member(g, reader)
        {
            return Expect::Err(ErrorCode::ReaderLeftGroup);
        }
        Expect::Ok
    }

    fn expect_pull(&self, client: UserId, id: MsgId) -> Expect {
        match self.msgs.get(&id) {
            None => Expect::Unknown,
            Some(m) if m.sender != client => Expect::Err(ErrorCode::NotMessageSender),
            Some(m) if !m.need => Expect::Err(ErrorCode::ReceiptNotRequested),
            Some(_) => Expect::Ok,
        }
    }

    fn check_expect<T>(
        &mut self,
        t: Micros,
        client: UserId,
        what: &str,
        msg: Option<MsgId>,
        expect: &Expect,
        got: &Result<T, ErrorCode>,
    ) {
        let bad = match (expect, got) {
            (Expect::Unknown, _) | (Expect::Ok, Ok(_)) => None,
            (Expect::Err(e), Err(g)) if e == g => None,
            (Expect::Ok, Err(g)) => Some((
                format!("{what} failed with {}", g.name()),
                "success".to_string(),
            )),
            (Expect::Err(e), Ok(_)) => {
                Some((format!("{what} succeeded"), format!("error {}", e.name())))
            }
            (Expect::Err(e), Err(g)) => Some((
                format!("{what} failed with {}", g.name()),
                format!("error {}", e.name()),
            )),
        };
        if let Some((observed, bound)) = bad {
            self.violate(
                Invariant::ResultCodes,
                t,
                Some(client),
                msg,
                observed,
                bound,
            );
        }
    }

    /// The batch rules, as seen in an answer: a batch that breaks them is rejected whole; one
    /// that keeps them is answered with one result per requested id, in request order.
    /// `answer` is Ok(ids match the request) or the whole-request error.
    fn batch_answer(
        &mut self,
        t: Micros,
        client: UserId,
        what: &str,
        batch_ok: bool,
        answer: Result<bool, ErrorCode>,
    ) {
        let bad = match answer {
            Ok(_) if !batch_ok => Some((
                format!("{what} accepted"),
                "whole batch rejected (BATCH_SIZE or MIXED_CONVERSATIONS)".to_string(),
            )),
            Ok(false) => Some((
                format!("{what} answered with other ids than requested"),
                "one result per requested id, in request order".to_string(),
            )),
            Err(code) if batch_ok => Some((
                format!("{what} rejected with {}", code.name()),
                "a valid batch is accepted".to_string(),
            )),
            _ => None,
        };
        if let Some((observed, bound)) = bad {
            self.violate(
                Invariant::ResultCodes,
                t,
                Some(client),
                None,
                observed,
                bound,
            );
        }
    }

    // ---- observations of counts ------------------------------------------------------

    /// Upper bound on what any observation may show for `m` right now.
    fn c2c_may_be_read(&self, m: &MsgState) -> bool {
        let Some(peer) = m.peer() else { return false };
        if m.invoked.contains(peer.0) || m.unknown.contains(peer.0) {
            return true;
        }
        let mark = self
            .marks
            .get(&(peer, m.sender))
            .copied()
            .unwrap_or_default();
        // A mark covers the message only if it committed after the send did; a lost mark
        // may commit at any time.
        mark.in_flight > 0 || mark.lost || mark.last_acked_at.is_some_and(|a| a >= m.send_invoked)
    }

    /// Lower bound: must an observation that starts now show `m` as read?
    fn c2c_must_be_read(&self, m: &MsgState) -> bool {
        let Some(peer) = m.peer() else { return false };
        if m.acked.contains(peer.0) {
            return true;
        }
        let mark = self
            .marks
            .get(&(peer, m.sender))
            .copied()
            .unwrap_or_default();
        match (mark.acked_max_invoked, m.send_acked) {
            (Some(inv), Some(acked)) => inv > acked,
            _ => false,
        }
    }

    fn lower_now(&self, id: MsgId) -> Lower {
        match self.msgs.get(&id) {
            None => Lower::None,
            Some(m) => match m.audience {
                Audience::Group(..) => Lower::Count(m.acked.len() as u32),
                Audience::Peer(_) => Lower::PeerRead(self.c2c_must_be_read(m)),
            },
        }
    }

    /// Checks one receipt entry observed by `client` (push or pull) at `t`.
    fn observe_entry(
        &mut self,
        t: Micros,
        client: UserId,
        e: &ReceiptEntry,
        lower: Lower,
        push: bool,
    ) {
        let id = e.msg_id();
        let Some(m) = self.msgs.get(&id) else { return };
        let how = if push { "push" } else { "pull" };
        let mut found: Vec<(Invariant, String, String)> = Vec::new();
        let count = match *e {
            ReceiptEntry::Group {
                read_count,
                unread_count,
                ..
            } => {
                let aud = m.audience_len();
                let total = u64::from(read_count) + u64::from(unread_count);
                let maybe = m.maybe.len();
                let ok = if m.total_seen > 0 {
                    total == u64::from(m.total_seen)
                } else {
                    (u64::from(aud)..=u64::from(aud) + maybe).contains(&total)
                };
                if !ok {
                    let bound = if m.total_seen > 0 {
                        format!("read + unread = audience size {} seen before", m.total_seen)
                    } else if maybe > 0 {
                        format!(
                            "read + unread = audience size, {aud} to {} (membership changed \
                             while the send was in flight)",
                            u64::from(aud) + maybe
                        )
                    } else {
                        format!("read + unread = audience size {aud}")
                    };
                    found.push((
                        Invariant::CountSum,
                        format!("{how} read_count={read_count} unread_count={unread_count}"),
                        bound,
                    ));
                }
                read_count
            }
            ReceiptEntry::C2c { is_peer_read, .. } => is_peer_read as u32,
        };
        let quiet_pull = self.quiet && !push;
        if quiet_pull {
            let expected = match m.audience {
                Audience::Group(..) => {
                    // Lost receipts may or may not have been applied.
                    let low = m.acked.len() as u32;
                    let high = m.may_have_read().len() as u32;
                    if (low..=high).contains(&count) {
                        count
                    } else {
                        low
                    }
                }
                Audience::Peer(_) => {
                    // Tight once quiet, except a mark that raced the send itself.
                    let must = self.c2c_must_be_read(m) as u32;
                    let may = self.c2c_may_be_read(m) as u32;
                    if count >= must && count <= may {
                        count
                    } else {
                        must
                    }
                }
            };
            if count != expected {
                found.push((
                    Invariant::QuietState,
                    format!("quiet pull read_count={count}"),
                    format!("= {expected} receipts acknowledged"),
                ));
            }
        } else {
            let upper = match m.audience {
                Audience::Group(..) => m.invoked.len() as u32,
                Audience::Peer(_) => self.c2c_may_be_read(m) as u32,
            };
            if count > upper {
                found.push((
                    Invariant::CountUpperBound,
                    format!("{how} read_count={count}"),
                    format!("<= {upper} receipts invoked by audience members before it ended"),
                ));
            }
            let low = match lower {
                Lower::Count(c) => c,
                Lower::PeerRead(b) => b as u32,
                Lower::None => 0,
            };
            if !push && count < low {
                found.push((
                    Invariant::PullLowerBound,
                    format!("pull read_count={count}"),
                    format!(">= {low} receipts acknowledged before the pull started"),
                ));
            }
        }
        if client == m.sender && count < m.max_seen {
            found.push((
                Invariant::MonotoneCounts,
                format!("{how} read_count={count}"),
                format!(">= {} seen earlier by the same observer", m.max_seen),
            ));
        }
        if let Some(m) = self.msgs.get_mut(&id)
            && !m.maybe.is_empty()
            && m.total_seen == 0
            && let ReceiptEntry::Group {
                read_count,
                unread_count,
                ..
            } = *e
        {
            m.total_seen = read_count + unread_count;
        }
        if let Some(m) = self.msgs.get_mut(&id)
            && client == m.sender
        {
            m.max_seen = m.max_seen.max(count);
            if push {
                m.max_pushed = m.max_pushed.max(count);
            }
        }
        for (inv, observed, bound) in found {
            self.violate(inv, t, Some(client), Some(id), observed, bound);
        }
    }

    // ---- liveness --------------------------------------------------------------------

    fn add_due(&mut self, at: Micros, due: Due) {
        debug_assert!(self.due.back().is_none_or(|(last, _)| *last <= at));
        self.due.push_back((at, due));
    }

    fn due_met(&self, due: &Due) -> Option<bool> {
        match *due {
            Due::Receipt { msg, need, epoch } => {
                let m = self.msgs.get(&msg)?;
                if !self.still_online(m.sender, epoch) {
                    return None;
                }
                let via_c2c_read = m.peer().is_some_and(|p| {
                    self.c2c_read_seen
                        .get(&(m.sender, p))
                        .is_some_and(|&ts| ts >= m.timestamp_ms)
                });
                Some(m.max_pushed >= need || via_c2c_read)
            }
            Due::C2cRead {
                observer,
                from,
                need_ts,
                epoch,
            } => {
                if !self.still_online(observer, epoch) {
                    return None;
                }
                Some(
                    self.c2c_read_seen
                        .get(&(observer, from))
                        .is_some_and(|&ts| ts >= need_ts),
                )
            }
        }
    }

    /// Checks every deadline before `t` (all of them when `t` is None).
    fn expire(&mut self, t: Option<Micros>) {
        while let Some(&(at, _)) = self.due.front() {
            if t.is_some_and(|t| at >= t) {
                break;
            }
            let (_, due) = self.due.pop_front().expect("present");
            if self.due_met(&due) == Some(false) {
                let bound = format!(
                    "pushed within the liveness bound of {}us (deadline t={at}us)",
                    self.cfg.liveness_bound
                );
                match due {
                    Due::Receipt { msg, need, .. } => {
                        let sender = self.msgs.get(&msg).map(|m| m.sender);
                        let pushed = self.msgs.get(&msg).map_or(0, |m| m.max_pushed);
                        self.violate(
                            Invariant::Liveness,
                            at,
                            sender,
                            Some(msg),
                            format!("sender's pushes showed read_count={pushed}, needed {need}"),
                            bound,
                        );
                    }
                    Due::C2cRead {
                        observer,
                        from,
                        need_ts,
                        ..
                    } => {
                        let seen = self.c2c_read_seen.get(&(observer, from)).copied();
                        self.violate(
                            Invariant::Liveness,
                            at,
                            Some(observer),
                            None,
                            format!("c2c_read from {from}: latest timestamp seen {seen:?}"),
                            format!("a c2c_read push with timestamp >= {need_ts}, {bound}"),
                        );
                    }
                }
            }
        }
    }

    // ---- event handlers --------------------------------------------------------------

    fn on_invoke(&mut self, t: Micros, client: UserId, op: OpId, req: &Request) {
        let pending = match req {
            Request::SendMessage {
                conv,
                need_read_receipt,
                ..
            } => {
                let key = ConvKey::of(client, *conv);
                self.sends_in_flight
                    .entry((client, key))
                    .or_default()
                    .push(t);
                PendingOp::Send {
                    key,
                    need: *need_read_receipt,
                    expect: self.expect_send(client, *conv, *need_read_receipt),
                    invoked_at: t,
                }
            }
            Request::SendReadReceipts { msg_ids } => {
                let batch_ok = self.batch_ok(msg_ids);
                let mut per_msg = Vec::with_capacity(msg_ids.len());
                for &id in msg_ids {
                    let expect = match self.msgs.get(&id) {
                        None => {
                            self.early_receipts.entry(id).or_default().push(client);
                            Expect::Unknown
                        }
                        Some(m) => self.expect_receipt(client, m),
                    };
                    if batch_ok
                        && let Some(m) = self.msgs.get_mut(&id)
                        && (matches!(expect, Expect::Ok) || m.may_be_in_audience(client))
                    {
                        m.invoked.insert(client.0);
                    }
                    per_msg.push((id, expect));
                }
                PendingOp::Receipts {
                    batch_ok,
                    per_msg,
                    invoked_at: t,
                }
            }
            Request::GetReadReceipts { msg_ids } => PendingOp::Pull {
                batch_ok: self.batch_ok(msg_ids),
                per_msg: msg_ids
                    .iter()
                    .map(|&id| (id, self.expect_pull(client, id), self.lower_now(id)))
                    .collect(),
            },
            Request::GetReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => {
                let expect = if *count == 0 || *count as usize > MAX_BATCH {
                    Expect::Err(ErrorCode::CountOutOfRange)
                } else {
                    match self.msgs.get(msg_id) {
                        None => Expect::Unknown,
                        Some(m) if m.sender != client => Expect::Err(ErrorCode::NotMessageSender),
                        Some(m) if m.peer().is_some() => Expect::Err(ErrorCode::NotGroupMessage),
                        Some(m) if !m.need => Expect::Err(ErrorCode::ReceiptNotRequested),
                        Some(_) => Expect::Ok,
                    }
                };
                let continues = self
                    .paging
                    .get(&client)
                    .is_some_and(|p| p.msg == *msg_id && p.filter == *filter);
                if *next_seq == 0 || !continues {
                    let acked_at_start = self
                        .msgs
                        .get(msg_id)
                        .map(|m| m.acked.clone())
                        .unwrap_or_default();
                    self.paging.insert(
                        client,
                        Paging {
                            msg: *msg_id,
                            filter: *filter,
                            seen: RoaringBitmap::new(),
                            acked_at_start,
                            // A paging that started mid-run may not end "quiet".
                            quiet: self.quiet && *next_seq == 0,
                        },
                    );
                }
                PendingOp::Page {
                    msg: *msg_id,
                    filter: *filter,
                    expect,
                }
            }
            Request::MarkC2cRead { peer } => {
                self.marks.entry((client, *peer)).or_default().in_flight += 1;
                PendingOp::Mark {
                    peer: *peer,
                    invoked_at: t,
                }
            }
            Request::GetHistory { .. } => PendingOp::Other,
        };
        self.pending.insert((client, op), pending);
    }

    fn on_complete(&mut self, t: Micros, client: UserId, op: OpId, resp: &Response) {
        let Some(pending) = self.pending.remove(&(client, op)) else {
            return;
        };
        match pending {
            PendingOp::Send {
                key,
                need,
                expect,
                invoked_at,
            } => {
                self.end_send_in_flight(client, key, invoked_at);
                let got = match resp {
                    Response::Sent { .. } => Ok(()),
                    Response::Error { code } => Err(*code),
                    _ => Err(ErrorCode::Internal),
                };
                // Membership or size may have changed while the send was in flight.
                let expect = match key {
                    ConvKey::Group(g) if self.group_unsettled(g, invoked_at) => Expect::Unknown,
                    _ => expect,
                };
                self.check_expect(t, client, "send_message", None, &expect, &got);
                if let Response::Sent {
                    msg_id,
                    seq,
                    timestamp_ms,
                } = *resp
                {
                    self.sight_message(
                        t,
                        client,
                        msg_id,
                        key,
                        client,
                        seq,
                        timestamp_ms,
                        need,
                        Some(invoked_at),
                    );
                    if let Some(m) = self.msgs.get_mut(&msg_id) {
                        m.send_acked = Some(t);
                        m.send_invoked = invoked_at;
                    }
                }
            }
            PendingOp::Receipts {
                batch_ok,
                per_msg,
                invoked_at,
            } => match resp {
                Response::ReceiptsSent { results } => {
                    let ids = results.iter().map(|r| r.msg_id);
                    let same = ids.eq(per_msg.iter().map(|p| p.0));
                    self.batch_answer(t, client, "receipt batch", batch_ok, Ok(same));
                    for (r, (id, expect)) in results.iter().zip(per_msg.iter()) {
                        // A reader who joined, left or re-joined while the receipt was in
                        // flight may get either answer.
                        let unsettled = self.msgs.get(id).is_some_and(|m| match m.audience {
                            Audience::Group(g, _) => self.unsettled(g, client, invoked_at),
                            Audience::Peer(_) => false,
                        });
                        let expect = if unsettled { &Expect::Unknown } else { expect };
                        self.on_receipt_result(t, client, r, *id, expect, invoked_at);
                    }
                }
                Response::Error { code } => {
                    self.batch_answer(t, client, "receipt batch", batch_ok, Err(*code))
                }
                _ => {}
            },
            PendingOp::Pull { batch_ok, per_msg } => match resp {
                Response::ReadReceipts { entries } => {
                    let ids = entries.iter().map(|e| e.msg_id);
                    let same = ids.eq(per_msg.iter().map(|p| p.0));
                    self.batch_answer(t, client, "count pull", batch_ok, Ok(same));
                    for (e, (id, expect, lower)) in entries.iter().zip(per_msg.iter()) {
                        if e.msg_id != *id {
                            continue;
                        }
                        let got = e.result.map(|_| ());
                        self.check_expect(
                            t,
                            client,
                            "get_message_read_receipts",
                            Some(*id),
                            expect,
                            &got,
                        );
                        if let Ok(entry) = &e.result {
                            self.observe_entry(t, client, entry, *lower, false);
                        }
                    }
                }
                Response::Error { code } => {
                    self.batch_answer(t, client, "count pull", batch_ok, Err(*code))
                }
                _ => {}
            },
            PendingOp::Page {
                msg,
                filter,
                expect,
            } => {
                let got = match resp {
                    Response::MemberList { .. } => Ok(()),
                    Response::Error { code } => Err(*code),
                    _ => Err(ErrorCode::Internal),
                };
                self.check_expect(
                    t,
                    client,
                    "get_group_message_read_member_list",
                    Some(msg),
                    &expect,
                    &got,
                );
                if let Response::MemberList {
                    members,
                    is_finished,
                    ..
                } = resp
                {
                    self.on_page(t, client, msg, filter, members, *is_finished);
                }
            }
            PendingOp::Mark { peer, invoked_at } => {
                let mark = self.marks.entry((client, peer)).or_default();
                mark.in_flight = mark.in_flight.saturating_sub(1);
                if let Response::MarkedRead { timestamp_ms } = *resp {
                    mark.last_acked_at = Some(t);
                    mark.acked_max_invoked =
                        Some(mark.acked_max_invoked.unwrap_or(0).max(invoked_at));
                    if self.calm
                        && let Some(epoch) = self.online_throughout(peer, invoked_at)
                    {
                        self.add_due(
                            t + self.cfg.liveness_bound,
                            Due::C2cRead {
                                observer: peer,
                                from: client,
                                need_ts: timestamp_ms,
                                epoch,
                            },
                        );
                    }
                }
            }
            PendingOp::Other => {}
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
            self.violate(
                Invariant::ResultCodes,
                t,
                Some(client),
                Some(r.msg_id),
                format!("result for {}", r.msg_id),
                format!("results in request order ({id} here)"),
            );
            return;
        }
        self.check_expect(t, client, "read receipt", Some(id), expect, &r.result);
        if let Some(m) = self.msgs.get_mut(&id) {
            match r.result {
                // Accepted: the reader is in the audience after all.
                Ok(()) => m.settle_in(client),
                Err(ErrorCode::NotInAudience) => {
                    m.maybe.remove(client.0);
                }
                Err(_) => {}
            }
        }
        let counts = match expect {
            Expect::Ok => true,
            // Accepted where the checker could not tell in advance: it counts if the
            // reader is (now known to be) in the audience.
            Expect::Unknown => self.msgs.get(&id).is_some_and(|m| m.in_audience(client)),
            Expect::Err(_) => false,
        };
        if r.result.is_ok() && counts {
            let Some(m) = self.msgs.get_mut(&id) else {
                return;
            };
            if m.acked.insert(client.0) {
                let need = match m.audience {
                    Audience::Group(..) => m.acked.len() as u32,
                    Audience::Peer(_) => 1,
                };
                let sender = m.sender;
                // A receipt whose earlier attempt was lost may have been applied back then
                // (its push went to whoever was connected): this one is a repeat, owed no push.
                let repeat = m.unknown.contains(client.0);
                if self.calm
                    && !repeat
                    && let Some(epoch) = self.online_throughout(sender, invoked_at)
                {
                    self.add_due(
                        t + self.cfg.liveness_bound,
                        Due::Receipt {
                            msg: id,
                            need,
                            epoch,
                        },
                    );
                }
            }
        }
    }

    fn on_page(
        &mut self,
        t: Micros,
        client: UserId,
        id: MsgId,
        filter: ReadFilter,
        members: &[UserId],
        is_finished: bool,
    ) {
        // A listed member whose place in the snapshot was uncertain is in it.
        if let Some(m) = self.msgs.get_mut(&id)
            && !m.maybe.is_empty()
        {
            for &u in members {
                m.settle_in(u);
            }
        }
        let Some(m) = self.msgs.get(&id) else { return };
        let Some(p) = self.paging.get_mut(&client) else {
            return;
        };
        if p.msg != id || p.filter != filter {
            return;
        }
        let mut found: Vec<(Invariant, String, String)> = Vec::new();
        for &u in members {
            if !m.in_audience(u) {
                found.push((
                    Invariant::MemberListPaging,
                    format!("{filter:?} list lists {u}"),
                    "only audience members are listed".into(),
                ));
            }
            if !p.seen.insert(u.0) {
                found.push((
                    Invariant::MemberListPaging,
                    format!("{filter:?} list repeats {u}"),
                    "a paging never repeats a member".into(),
                ));
            }
            match filter {
                ReadFilter::Read if !m.invoked.contains(u.0) => found.push((
                    Invariant::MemberListPaging,
                    format!("read list lists {u}"),
                    "only readers who sent a receipt are in the read list".into(),
                )),
                ReadFilter::Unread if p.acked_at_start.contains(u.0) => found.push((
                    Invariant::MemberListPaging,
                    format!("unread list lists {u}"),
                    "readers acknowledged before the paging started are not unread".into(),
                )),
                _ => {}
            }
        }
        if is_finished {
            let audience = match &m.audience {
                Audience::Group(_, s) => {
                    let mut a = (**s).clone();
                    a.remove(m.sender.0);
                    a
                }
                Audience::Peer(p) => std::iter::once(p.0).collect(),
            };
            let must = match filter {
                ReadFilter::Read => p.acked_at_start.clone(),
                ReadFilter::Unread => &audience - &m.invoked,
            };
            let missed = &must - &p.seen;
            if let Some(u) = missed.min() {
                found.push((
                    Invariant::MemberListPaging,
                    format!(
                        "{filter:?} list paged to the end without {} ({} missed)",
                        UserId(u),
                        missed.len()
                    ),
                    "a full paging misses no member who stayed in the list throughout".into(),
                ));
            }
            if p.quiet {
                // Readers whose receipt was lost may be on either list.
                let seen = &p.seen - &m.unknown;
                let exact = match filter {
                    ReadFilter::Read => &m.acked - &m.unknown,
                    ReadFilter::Unread => &(&audience - &m.acked) - &m.unknown,
                };
                if exact != seen {
                    found.push((
                        Invariant::QuietState,
                        format!("quiet {filter:?} list has {} members", p.seen.len()),
                        format!(
                            "exactly the {} {} members (read + unread = audience, disjoint)",
                            exact.len(),
                            if filter == ReadFilter::Read {
                                "acknowledged"
                            } else {
                                "unacknowledged"
                            }
                        ),
                    ));
                }
            }
            self.paging.remove(&client);
        }
        for (inv, observed, bound) in found {
            self.violate(inv, t, Some(client), Some(id), observed, bound);
        }
    }

    fn on_push(&mut self, t: Micros, client: UserId, push: &Push) {
        match push {
            Push::NewMessage {
                msg_id,
                conv,
                sender,
                seq,
                timestamp_ms,
                need_read_receipt,
            } => {
                let key = ConvKey::of(client, *conv);
                self.sight_message(
                    t,
                    client,
                    *msg_id,
                    key,
                    *sender,
                    *seq,
                    *timestamp_ms,
                    *need_read_receipt,
                    None,
                );
                if let Some(m) = self.msgs.get_mut(msg_id) {
                    m.need = *need_read_receipt;
                    m.settle_in(client);
                    if !m.in_audience(client) {
                        let observed = format!("new_message push of {msg_id} to {client}");
                        self.violate(
                            Invariant::ResultCodes,
                            t,
                            Some(client),
                            Some(*msg_id),
                            observed,
                            "new_message goes to the audience only".into(),
                        );
                    }
                }
            }
            Push::Receipts { entries } => {
                for e in entries {
                    self.observe_entry(t, client, e, Lower::None, true);
                }
            }
            Push::C2cRead {
                user_id,
                timestamp_ms,
            } => {
                let seen = self.c2c_read_seen.entry((client, *user_id)).or_insert(0);
                if *timestamp_ms < *seen {
                    let prev = *seen;
                    self.violate(
                        Invariant::C2cReadTimestamps,
                        t,
                        Some(client),
                        None,
                        format!("c2c_read from {user_id} timestamp {timestamp_ms}"),
                        format!(">= {prev} seen earlier"),
                    );
                } else {
                    *seen = *timestamp_ms;
                }
            }
        }
    }

    /// An operation the client gave up on: it may have taken effect (or still may, if its
    /// request is in flight), so whatever it could change becomes uncertain.
    fn on_lost(&mut self, _t: Micros, client: UserId, op: OpId) {
        let Some(pending) = self.pending.remove(&(client, op)) else {
            return;
        };
        match pending {
            PendingOp::Send {
                key, invoked_at, ..
            } => {
                self.end_send_in_flight(client, key, invoked_at);
                let e = self.lost_sends.entry((client, key)).or_insert(invoked_at);
                *e = (*e).min(invoked_at);
            }
            PendingOp::Receipts {
                batch_ok, per_msg, ..
            } => {
                if !batch_ok {
                    return;
                }
                for (id, _) in per_msg {
                    if let Some(m) = self.msgs.get_mut(&id)
                        && m.invoked.contains(client.0)
                        && !m.acked.contains(client.0)
                    {
                        m.unknown.insert(client.0);
                    }
                }
            }
            PendingOp::Mark { peer, .. } => {
                let mark = self.marks.entry((client, peer)).or_default();
                mark.in_flight = mark.in_flight.saturating_sub(1);
                mark.lost = true;
            }
            PendingOp::Pull { .. } | PendingOp::Page { .. } | PendingOp::Other => {}
        }
    }

    fn on_end(&mut self, t: Micros) {
        self.expire(None);
        // Conversations where a lost send may have made a message nobody saw.
        let lost_convs: rustc_hash::FxHashSet<ConvKey> =
            self.lost_sends.keys().map(|&(_, k)| k).collect();
        let mut gaps: Vec<(ConvKey, u64, u64)> = self
            .seqs
            .iter()
            .filter(|(k, _)| !lost_convs.contains(*k))
            .filter_map(|(k, s)| {
                let max = s.max().map_or(0, u64::from);
                (s.len() != max).then_some((*k, s.len(), max))
            })
            .collect();
        gaps.sort();
        for (k, len, max) in gaps {
            self.violate(
                Invariant::Sequencing,
                t,
                None,
                None,
                format!("{k:?} has {len} messages up to seq {max}"),
                "seqs are gap-free: 1..=n".into(),
            );
        }
    }
}

impl Observer for Checker {
    fn observe(&mut self, ev: &Event<'_>) {
        self.expire(Some(ev.time()));
        match *ev {
            Event::Admin { t, req, resp, .. } => self.on_admin(t, req, resp),
            Event::AdminInvoke { req, .. } => self.on_admin_invoke(req),
            Event::Connect { t, client } => {
                let e = self.conn.entry(client).or_insert((0, false));
                e.0 += 1;
                e.1 = true;
                self.connected_since.insert(client, t);
            }
            Event::Disconnect { client, .. } => {
                if let Some(e) = self.conn.get_mut(&client) {
                    e.1 = false;
                }
            }
            Event::Invoke {
                t, client, op, req, ..
            } => self.on_invoke(t, client, op, req),
            Event::Complete {
                t,
                client,
                op,
                resp,
            } => self.on_complete(t, client, op, resp),
            Event::Push { t, client, push } => self.on_push(t, client, push),
            Event::Lost { t, client, op } => self.on_lost(t, client, op),
            Event::Fault { .. } => {}
            Event::Calm { .. } => self.calm = true,
            Event::Quiet { .. } => self.quiet = true,
            Event::End { t } => self.on_end(t),
        }
    }
}
