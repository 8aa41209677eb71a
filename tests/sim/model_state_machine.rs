//! Model-based test of `readsim::model::Model` against a deliberately naive re-implementation
//! of docs/semantics.md (plain `Vec`s and `BTreeSet`s, no bitmaps, no cursors shared with the
//! model's code), driven by `proptest-state-machine`.
//!
//! Every step compares the model's response and pushes with the naive reference exactly, then
//! checks the invariants of docs/semantics.md on every message: read + unread = |audience|; the read
//! and unread lists paged to the end with small pages are disjoint, cover the audience and match
//! the counts; counts never decrease; `is_peer_read` never reverts; `c2c_read` timestamps never
//! decrease.
//!
//! Cases: `PROPTEST_CASES` (default 256), as for any proptest test.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, Conv, ConvKey, ErrorCode, GroupId, GroupType, HistoryMessage, MAX_BATCH, Micros,
    MsgId, PerMessage, Push, ReadFilter, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Users `0..INITIAL_USERS` exist from the start; ids up to `MAX_USER` are drawn (the rest are
/// unknown until a `CreateUser` step creates them).
const INITIAL_USERS: u32 = 6;
const MAX_USER: u32 = 7;
/// Groups `0..GROUPS` exist; `GroupId(GROUPS)` is drawn as an unknown group.
const GROUPS: u32 = 3;

// ---------------------------------------------------------------------------------------------
// The naive reference
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct RefMsg {
    conv: ConvKey,
    sender: UserId,
    seq: u64,
    timestamp_ms: u64,
    need: bool,
    /// Who may read it: group members at send time minus the sender, or the peer.
    audience: BTreeSet<UserId>,
    /// Receipts in commit order.
    readers: Vec<UserId>,
}

#[derive(Clone, Debug)]
struct RefGroup {
    group_type: GroupType,
    members: BTreeSet<UserId>,
}

#[derive(Clone, Debug)]
struct RefState {
    config: ReceiptConfig,
    users: BTreeSet<UserId>,
    groups: BTreeMap<GroupId, RefGroup>,
    /// `MsgId(i + 1)` is `msgs[i]`.
    msgs: Vec<RefMsg>,
    /// (marker, message): the marker marked its 1:1 chat read after this message was sent.
    marked: BTreeSet<(UserId, MsgId)>,
    /// Last timestamp each (marker, peer) announced.
    mark_ts: BTreeMap<(UserId, UserId), u64>,
    now: Micros,
    /// What the model must answer to the step just applied, and the pushes it must make.
    expected: Option<(Response, Vec<Delivery>)>,
    /// The setup, replayed on the model by `init_test`.
    setup: Vec<AdminRequest>,
}

#[derive(Clone, Debug)]
enum Op {
    Client { user: UserId, req: Request },
    Admin(AdminRequest),
}

#[derive(Clone, Debug)]
struct Step {
    /// Clock change in microseconds before the op; negative now and then (clocks may step back).
    dt: i64,
    op: Op,
}

impl RefState {
    fn msg(&self, id: MsgId) -> Option<&RefMsg> {
        let i = usize::try_from(id.0.checked_sub(1)?).ok()?;
        self.msgs.get(i)
    }

    fn is_peer_read(&self, id: MsgId, m: &RefMsg) -> bool {
        let peer = *m.audience.iter().next().expect("C2C audience is the peer");
        m.readers.contains(&peer) || self.marked.contains(&(peer, id))
    }

    fn entry(&self, id: MsgId) -> ReceiptEntry {
        let m = self.msg(id).expect("known");
        match m.conv {
            ConvKey::Group(g) => ReceiptEntry::Group {
                msg_id: id,
                group_id: g,
                read_count: m.readers.len() as u32,
                unread_count: (m.audience.len() - m.readers.len()) as u32,
            },
            ConvKey::Pair(..) => ReceiptEntry::C2c {
                msg_id: id,
                user_id: *m.audience.iter().next().unwrap(),
                is_peer_read: self.is_peer_read(id, m),
            },
        }
    }

    fn conv_msgs(&self, key: ConvKey) -> Vec<MsgId> {
        (1..=self.msgs.len() as u64)
            .map(MsgId)
            .filter(|&id| self.msg(id).unwrap().conv == key)
            .collect()
    }

    fn admin(&mut self, req: &AdminRequest) -> Result<Response, ErrorCode> {
        match req {
            AdminRequest::CreateUser { user } => {
                if !self.users.insert(*user) {
                    return Err(ErrorCode::UserExists);
                }
            }
            AdminRequest::CreateGroup {
                group,
                group_type,
                members,
            } => {
                if self.groups.contains_key(group) {
                    return Err(ErrorCode::GroupExists);
                }
                if members.iter().any(|u| !self.users.contains(u)) {
                    return Err(ErrorCode::UserNotFound);
                }
                self.groups.insert(
                    *group,
                    RefGroup {
                        group_type: *group_type,
                        members: members.iter().copied().collect(),
                    },
                );
            }
            AdminRequest::AddMember { group, user } => {
                if !self.users.contains(user) {
                    return Err(ErrorCode::UserNotFound);
                }
                let g = self.groups.get_mut(group).ok_or(ErrorCode::GroupNotFound)?;
                if !g.members.insert(*user) {
                    return Err(ErrorCode::AlreadyMember);
                }
            }
            AdminRequest::RemoveMember { group, user } => {
                let g = self.groups.get_mut(group).ok_or(ErrorCode::GroupNotFound)?;
                if !g.members.remove(user) {
                    return Err(ErrorCode::NotGroupMember);
                }
            }
            AdminRequest::SetReceiptConfig { config } => {
                let types: BTreeSet<GroupType> = config.enabled_types.iter().copied().collect();
                self.config = ReceiptConfig {
                    enabled_types: types.into_iter().collect(),
                    max_group_size: config.max_group_size,
                };
            }
            AdminRequest::GetReceiptConfig => {
                return Ok(Response::Config {
                    config: self.config.clone(),
                });
            }
        }
        Ok(Response::AdminDone)
    }

    fn client(
        &mut self,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        if !self.users.contains(&user) {
            return Err(ErrorCode::UserNotFound);
        }
        match req {
            Request::SendMessage {
                conv,
                need_read_receipt: need,
                ..
            } => {
                let (key, audience) = match *conv {
                    Conv::Group(gid) => {
                        let g = self.groups.get(&gid).ok_or(ErrorCode::GroupNotFound)?;
                        if !g.members.contains(&user) {
                            return Err(ErrorCode::NotGroupMember);
                        }
                        if *need {
                            let t = g.group_type;
                            let never = matches!(t, GroupType::Community | GroupType::AVChatRoom);
                            if never || !self.config.enabled_types.contains(&t) {
                                return Err(ErrorCode::ReceiptsDisabledForGroupType);
                            }
                            if g.members.len() > self.config.max_group_size as usize {
                                return Err(ErrorCode::GroupTooLargeForReceipts);
                            }
                        }
                        let mut a = g.members.clone();
                        a.remove(&user);
                        (ConvKey::Group(gid), a)
                    }
                    Conv::C2c(peer) => {
                        if peer == user {
                            return Err(ErrorCode::SelfConversation);
                        }
                        if !self.users.contains(&peer) {
                            return Err(ErrorCode::UserNotFound);
                        }
                        let key = ConvKey::Pair(user.min(peer), user.max(peer));
                        (key, BTreeSet::from([peer]))
                    }
                };
                let msg_id = MsgId(self.msgs.len() as u64 + 1);
                let seq = self.conv_msgs(key).len() as u64 + 1;
                let timestamp_ms = self.now / 1000;
                for &to in &audience {
                    out.push(Delivery {
                        to,
                        device: None,
                        push: Push::NewMessage {
                            msg_id,
                            conv: match key {
                                ConvKey::Group(g) => Conv::Group(g),
                                ConvKey::Pair(..) => Conv::C2c(user),
                            },
                            sender: user,
                            seq,
                            timestamp_ms,
                            need_read_receipt: *need,
                        },
                    });
                }
                self.msgs.push(RefMsg {
                    conv: key,
                    sender: user,
                    seq,
                    timestamp_ms,
                    need: *need,
                    audience,
                    readers: Vec::new(),
                });
                Ok(Response::Sent {
                    msg_id,
                    seq,
                    timestamp_ms,
                })
            }
            Request::SendReadReceipts { msg_ids } => {
                self.batch_rules(user, msg_ids)?;
                let mut results = Vec::new();
                let mut fresh: Vec<MsgId> = Vec::new();
                for &id in msg_ids {
                    let result = match self.seen(user, id) {
                        None => Err(ErrorCode::MessageNotFound),
                        Some(m) if !m.audience.contains(&user) => Err(ErrorCode::NotInAudience),
                        Some(m) if !m.need => Err(ErrorCode::ReceiptNotRequested),
                        Some(RefMsg {
                            conv: ConvKey::Group(g),
                            ..
                        }) if !self.groups[g].members.contains(&user) => {
                            Err(ErrorCode::ReaderLeftGroup)
                        }
                        Some(m) => {
                            if !m.readers.contains(&user) {
                                let i = (id.0 - 1) as usize;
                                self.msgs[i].readers.push(user);
                                fresh.push(id);
                            }
                            Ok(())
                        }
                    };
                    results.push(PerMessage { msg_id: id, result });
                }
                let senders: BTreeSet<UserId> = fresh
                    .iter()
                    .map(|&id| self.msg(id).unwrap().sender)
                    .collect();
                for sender in senders {
                    let entries = fresh
                        .iter()
                        .filter(|&&id| self.msg(id).unwrap().sender == sender)
                        .map(|&id| self.entry(id))
                        .collect();
                    out.push(Delivery {
                        to: sender,
                        device: None,
                        push: Push::Receipts { entries },
                    });
                }
                Ok(Response::ReceiptsSent { results })
            }
            Request::GetReadReceipts { msg_ids } => {
                self.batch_rules(user, msg_ids)?;
                let entries = msg_ids
                    .iter()
                    .map(|&id| PerMessage {
                        msg_id: id,
                        result: match self.seen(user, id) {
                            None => Err(ErrorCode::MessageNotFound),
                            Some(m) if m.sender != user => Err(ErrorCode::NotMessageSender),
                            Some(m) if !m.need => Err(ErrorCode::ReceiptNotRequested),
                            Some(_) => Ok(self.entry(id)),
                        },
                    })
                    .collect();
                Ok(Response::ReadReceipts { entries })
            }
            Request::GetReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => {
                if *count == 0 || *count as usize > MAX_BATCH {
                    return Err(ErrorCode::CountOutOfRange);
                }
                let m = self.seen(user, *msg_id).ok_or(ErrorCode::MessageNotFound)?;
                if m.sender != user {
                    return Err(ErrorCode::NotMessageSender);
                }
                if !matches!(m.conv, ConvKey::Group(_)) {
                    return Err(ErrorCode::NotGroupMessage);
                }
                if !m.need {
                    return Err(ErrorCode::ReceiptNotRequested);
                }
                let count = *count as usize;
                Ok(match filter {
                    ReadFilter::Read => {
                        let rest: Vec<UserId> = m
                            .readers
                            .iter()
                            .copied()
                            .skip(usize::try_from(*next_seq).unwrap_or(usize::MAX))
                            .collect();
                        let members: Vec<UserId> = rest.iter().copied().take(count).collect();
                        let consumed = m.readers.len() - rest.len() + members.len();
                        Response::MemberList {
                            is_finished: consumed == m.readers.len(),
                            next_seq: consumed as u64,
                            members,
                        }
                    }
                    ReadFilter::Unread => {
                        let rest: Vec<UserId> = m
                            .audience
                            .iter()
                            .copied()
                            .filter(|u| u64::from(u.0) >= *next_seq && !m.readers.contains(u))
                            .collect();
                        let members: Vec<UserId> = rest.iter().copied().take(count).collect();
                        Response::MemberList {
                            is_finished: rest.len() == members.len(),
                            next_seq: members.last().map_or(*next_seq, |u| u64::from(u.0) + 1),
                            members,
                        }
                    }
                })
            }
            Request::MarkC2cRead { peer } => {
                if *peer == user {
                    return Err(ErrorCode::SelfConversation);
                }
                if !self.users.contains(peer) {
                    return Err(ErrorCode::UserNotFound);
                }
                for id in self.conv_msgs(ConvKey::Pair(user.min(*peer), user.max(*peer))) {
                    self.marked.insert((user, id));
                }
                let last = self.mark_ts.entry((user, *peer)).or_insert(0);
                *last = (*last).max(self.now / 1000);
                let timestamp_ms = *last;
                out.push(Delivery {
                    to: *peer,
                    device: None,
                    push: Push::C2cRead {
                        user_id: user,
                        timestamp_ms,
                    },
                });
                Ok(Response::MarkedRead { timestamp_ms })
            }
            Request::GetHistory {
                conv,
                before_seq,
                count,
            } => {
                if *count == 0 || *count as usize > MAX_BATCH {
                    return Err(ErrorCode::CountOutOfRange);
                }
                let key = match *conv {
                    Conv::Group(gid) => {
                        let g = self.groups.get(&gid).ok_or(ErrorCode::GroupNotFound)?;
                        if !g.members.contains(&user) {
                            return Err(ErrorCode::NotConversationParty);
                        }
                        ConvKey::Group(gid)
                    }
                    Conv::C2c(peer) => {
                        if peer == user {
                            return Err(ErrorCode::SelfConversation);
                        }
                        if !self.users.contains(&peer) {
                            return Err(ErrorCode::UserNotFound);
                        }
                        ConvKey::Pair(user.min(peer), user.max(peer))
                    }
                };
                let messages = self
                    .conv_msgs(key)
                    .into_iter()
                    .rev()
                    .filter(|&id| *before_seq == 0 || self.msg(id).unwrap().seq < *before_seq)
                    .take(*count as usize)
                    .map(|id| {
                        let m = self.msg(id).unwrap();
                        HistoryMessage {
                            msg_id: id,
                            sender: m.sender,
                            is_self: m.sender == user,
                            need_read_receipt: m.need,
                            seq: m.seq,
                            timestamp_ms: m.timestamp_ms,
                        }
                    })
                    .collect();
                Ok(Response::History { messages })
            }
        }
    }

    /// A message as `user` may know it (E1): the sender, the audience and the group's current
    /// members see it; for anybody else it does not exist.
    fn seen(&self, user: UserId, id: MsgId) -> Option<&RefMsg> {
        let m = self.msg(id)?;
        let member = match m.conv {
            ConvKey::Group(g) => self.groups[&g].members.contains(&user),
            ConvKey::Pair(..) => false,
        };
        (m.sender == user || m.audience.contains(&user) || member).then_some(m)
    }

    /// 1..=100 ids, and the ones known to `user` all in one conversation.
    fn batch_rules(&self, user: UserId, ids: &[MsgId]) -> Result<(), ErrorCode> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(ErrorCode::BatchSize);
        }
        let convs: BTreeSet<ConvKey> = ids
            .iter()
            .filter_map(|&id| self.seen(user, id))
            .map(|m| m.conv)
            .collect();
        if convs.len() > 1 {
            return Err(ErrorCode::MixedConversations);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Generation
// ---------------------------------------------------------------------------------------------

struct Reference;

/// Any user id, mostly existing ones.
fn user_id() -> impl Strategy<Value = UserId> {
    prop_oneof![
        6 => (0..INITIAL_USERS).prop_map(UserId),
        1 => (INITIAL_USERS..=MAX_USER).prop_map(UserId),
    ]
}

fn group_id() -> impl Strategy<Value = GroupId> {
    prop_oneof![8 => (0..GROUPS).prop_map(GroupId), 1 => Just(GroupId(GROUPS))]
}

fn conv() -> impl Strategy<Value = Conv> {
    prop_oneof![
        3 => group_id().prop_map(Conv::Group),
        2 => user_id().prop_map(Conv::C2c),
    ]
}

/// A page size: mostly valid, sometimes 0 or 101.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![6 => 1..4u32, 1 => Just(100), 1 => Just(0), 1 => Just(101)]
}

/// Mostly the default types (sometimes any subset, Community and AVChatRoom included), and a
/// size limit that the generated groups cross now and then.
fn receipt_config() -> impl Strategy<Value = ReceiptConfig> {
    (
        prop_oneof![
            3 => Just(ReceiptConfig::default().enabled_types),
            1 => prop::sample::subsequence(GroupType::ALL.to_vec(), 0..=5),
        ],
        prop_oneof![Just(3u32), Just(4), Just(5), Just(200)],
    )
        .prop_map(|(enabled_types, max_group_size)| ReceiptConfig {
            enabled_types,
            max_group_size,
        })
}

/// Snapshot of what generation needs from the state, shared by the closures.
struct Gen {
    n: u64,
    /// Message ids per conversation (non-empty lists only).
    convs: Vec<Vec<MsgId>>,
    senders: Vec<UserId>,
    audiences: Vec<Vec<UserId>>,
    /// Group messages that asked for receipts: the ones with member lists.
    group_receipt_msgs: Vec<MsgId>,
    /// Current members of groups `0..GROUPS`.
    members: Vec<Vec<UserId>>,
}

impl Gen {
    fn of(s: &RefState) -> Arc<Gen> {
        let mut by_conv: BTreeMap<ConvKey, Vec<MsgId>> = BTreeMap::new();
        for (i, m) in s.msgs.iter().enumerate() {
            by_conv.entry(m.conv).or_default().push(MsgId(i as u64 + 1));
        }
        Arc::new(Gen {
            n: s.msgs.len() as u64,
            convs: by_conv.into_values().collect(),
            senders: s.msgs.iter().map(|m| m.sender).collect(),
            audiences: s
                .msgs
                .iter()
                .map(|m| m.audience.iter().copied().collect())
                .collect(),
            group_receipt_msgs: (1..=s.msgs.len() as u64)
                .map(MsgId)
                .filter(|&id| {
                    let m = s.msg(id).unwrap();
                    m.need && matches!(m.conv, ConvKey::Group(_))
                })
                .collect(),
            members: (0..GROUPS)
                .map(|g| s.groups[&GroupId(g)].members.iter().copied().collect())
                .collect(),
        })
    }

    /// A group and one of its current members (or user 0 if it is empty).
    fn group_and_member(self: &Arc<Self>) -> BoxedStrategy<(GroupId, UserId)> {
        let g = Arc::clone(self);
        (0..GROUPS, any::<Index>())
            .prop_map(move |(gid, i)| {
                let m = &g.members[gid as usize];
                let u = if m.is_empty() {
                    UserId(0)
                } else {
                    m[i.index(m.len())]
                };
                (GroupId(gid), u)
            })
            .boxed()
    }

    /// Any id, known or not (0 and a few past the end are unknown).
    fn any_ids(self: &Arc<Self>) -> BoxedStrategy<Vec<MsgId>> {
        prop::collection::vec((0..=self.n + 2).prop_map(MsgId), 1..5).boxed()
    }

    /// A batch from one conversation (with a sprinkle of unknown ids), or any ids if none yet.
    fn one_conv_ids(self: &Arc<Self>) -> BoxedStrategy<Vec<MsgId>> {
        if self.convs.is_empty() {
            return self.any_ids();
        }
        let g = Arc::clone(self);
        (
            any::<Index>(),
            prop::collection::vec(any::<Index>(), 1..5),
            prop::option::weighted(0.1, Just(MsgId(self.n + 1))),
        )
            .prop_map(move |(c, picks, unknown)| {
                let ids = &g.convs[c.index(g.convs.len())];
                let mut v: Vec<MsgId> = picks.iter().map(|p| ids[p.index(ids.len())]).collect();
                v.extend(unknown);
                v
            })
            .boxed()
    }

    /// A user likely to matter for the first known id of a batch: a member of its audience,
    /// its sender, or anybody.
    fn reader_for(self: &Arc<Self>, ids: Vec<MsgId>) -> BoxedStrategy<(UserId, Vec<MsgId>)> {
        let first = ids.iter().find(|id| id.0 >= 1 && id.0 <= self.n).copied();
        let Some(first) = first else {
            return user_id().prop_map(move |u| (u, ids.clone())).boxed();
        };
        let i = (first.0 - 1) as usize;
        let audience = self.audiences[i].clone();
        let sender = self.senders[i];
        let ids2 = ids.clone();
        let pick = if audience.is_empty() {
            Just(sender).boxed()
        } else {
            prop::sample::select(audience).boxed()
        };
        prop_oneof![
            6 => pick.prop_map(move |u| (u, ids.clone())),
            1 => Just(sender).prop_map(move |u| (u, ids2.clone())),
            1 => user_id().prop_map(move |u| (u, vec![first])),
        ]
        .boxed()
    }

    /// A message id with, mostly, its sender (the only one allowed to pull).
    fn msg_and_sender(self: &Arc<Self>) -> BoxedStrategy<(UserId, MsgId)> {
        if self.n == 0 {
            return (user_id(), (0..3u64).prop_map(MsgId)).boxed();
        }
        let g = Arc::clone(self);
        let any_with_sender = any::<Index>().prop_map(move |i| {
            let i = i.index(g.senders.len());
            (g.senders[i], MsgId(i as u64 + 1))
        });
        let any_id = (user_id(), (0..=self.n + 1).prop_map(MsgId));
        if self.group_receipt_msgs.is_empty() {
            return prop_oneof![4 => any_with_sender, 1 => any_id].boxed();
        }
        let g = Arc::clone(self);
        let receipt_msg_with_sender = any::<Index>().prop_map(move |i| {
            let id = g.group_receipt_msgs[i.index(g.group_receipt_msgs.len())];
            (g.senders[(id.0 - 1) as usize], id)
        });
        prop_oneof![
            6 => receipt_msg_with_sender,
            2 => any_with_sender,
            1 => any_id,
        ]
        .boxed()
    }
}

impl ReferenceStateMachine for Reference {
    type State = RefState;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<RefState> {
        let members = || {
            prop_oneof![
                6 => prop::collection::btree_set(0..INITIAL_USERS, 2..=INITIAL_USERS as usize),
                1 => prop::collection::btree_set(0..INITIAL_USERS, 0..2),
            ]
        };
        (
            receipt_config(),
            prop::sample::select(vec![GroupType::Public, GroupType::Meeting]),
            prop::sample::select(vec![GroupType::Community, GroupType::AVChatRoom]),
            members(),
            members(),
            members(),
        )
            .prop_map(|(config, t1, t2, m0, m1, m2)| {
                let mut setup: Vec<AdminRequest> = (0..INITIAL_USERS)
                    .map(|u| AdminRequest::CreateUser { user: UserId(u) })
                    .collect();
                for (g, (t, m)) in [(GroupType::Work, m0), (t1, m1), (t2, m2)]
                    .into_iter()
                    .enumerate()
                {
                    setup.push(AdminRequest::CreateGroup {
                        group: GroupId(g as u32),
                        group_type: t,
                        members: m.into_iter().map(UserId).collect(),
                    });
                }
                let mut s = RefState {
                    config,
                    users: BTreeSet::new(),
                    groups: BTreeMap::new(),
                    msgs: Vec::new(),
                    marked: BTreeSet::new(),
                    mark_ts: BTreeMap::new(),
                    now: 1_000_000,
                    expected: None,
                    setup: setup.clone(),
                };
                for a in &setup {
                    assert_eq!(s.admin(a), Ok(Response::AdminDone));
                }
                s
            })
            .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Step> {
        let g = Gen::of(state);
        let client = |user: UserId, req: Request| Op::Client { user, req };
        let sender_and_conv = prop_oneof![
            4 => g.group_and_member().prop_map(|(gid, u)| (u, Conv::Group(gid))),
            2 => ((0..INITIAL_USERS), (0..INITIAL_USERS))
                .prop_map(|(a, b)| (UserId(a), Conv::C2c(UserId(b)))),
            1 => (user_id(), conv()),
        ];
        let send =
            (sender_and_conv, prop::bool::weighted(0.7)).prop_map(move |((user, conv), need)| {
                client(
                    user,
                    Request::SendMessage {
                        conv,
                        need_read_receipt: need,
                        body_len: 3,
                    },
                )
            });
        let g1 = Arc::clone(&g);
        let receipts_one_conv = g
            .one_conv_ids()
            .prop_flat_map(move |ids| g1.reader_for(ids))
            .prop_map(move |(user, msg_ids)| client(user, Request::SendReadReceipts { msg_ids }));
        let receipts_any = (user_id(), g.any_ids())
            .prop_map(move |(user, msg_ids)| client(user, Request::SendReadReceipts { msg_ids }));
        let bad_batch = (
            user_id(),
            prop_oneof![Just(0usize), Just(MAX_BATCH + 1)],
            1..3u64,
        )
            .prop_map(move |(user, len, id)| {
                let msg_ids = vec![MsgId(id); len];
                if len == 0 || id == 1 {
                    client(user, Request::SendReadReceipts { msg_ids })
                } else {
                    client(user, Request::GetReadReceipts { msg_ids })
                }
            });
        let g2 = Arc::clone(&g);
        let pull_as_sender = g.one_conv_ids().prop_map(move |msg_ids| {
            let user = msg_ids
                .iter()
                .find(|id| id.0 >= 1 && id.0 <= g2.n)
                .map_or(UserId(0), |id| g2.senders[(id.0 - 1) as usize]);
            client(user, Request::GetReadReceipts { msg_ids })
        });
        let pull_any = (user_id(), g.any_ids())
            .prop_map(move |(user, msg_ids)| client(user, Request::GetReadReceipts { msg_ids }));
        let member_list = (
            g.msg_and_sender(),
            prop_oneof![Just(ReadFilter::Read), Just(ReadFilter::Unread)],
            prop_oneof![3 => Just(0u64), 2 => 0..9u64],
            count(),
        )
            .prop_map(move |((user, msg_id), filter, next_seq, count)| {
                client(
                    user,
                    Request::GetReadMemberList {
                        msg_id,
                        filter,
                        next_seq,
                        count,
                    },
                )
            });
        let mark = prop_oneof![
            3 => (0..3u32, 0..3u32).prop_map(|(a, b)| (UserId(a), UserId(b))),
            1 => (user_id(), user_id()),
        ]
        .prop_map(move |(user, peer)| client(user, Request::MarkC2cRead { peer }));
        let history = (
            prop_oneof![
                3 => g.group_and_member().prop_map(|(gid, u)| (u, Conv::Group(gid))),
                1 => (user_id(), conv()),
            ],
            prop_oneof![Just(0u64), 1..6u64],
            count(),
        )
            .prop_map(move |((user, conv), before_seq, count)| {
                client(
                    user,
                    Request::GetHistory {
                        conv,
                        before_seq,
                        count,
                    },
                )
            });
        let add = (group_id(), user_id())
            .prop_map(|(group, user)| Op::Admin(AdminRequest::AddMember { group, user }));
        let remove = prop_oneof![
            2 => g.group_and_member(),
            1 => (group_id(), user_id()),
        ]
        .prop_map(|(group, user)| Op::Admin(AdminRequest::RemoveMember { group, user }));
        let admin_misc = prop_oneof![
            (INITIAL_USERS - 2..=MAX_USER)
                .prop_map(|u| Op::Admin(AdminRequest::CreateUser { user: UserId(u) })),
            receipt_config()
                .prop_map(|config| Op::Admin(AdminRequest::SetReceiptConfig { config })),
            Just(Op::Admin(AdminRequest::GetReceiptConfig)),
        ];
        let op = prop_oneof![
            6 => send,
            6 => receipts_one_conv,
            1 => receipts_any,
            1 => bad_batch,
            3 => pull_as_sender,
            1 => pull_any,
            2 => member_list,
            2 => mark,
            1 => history,
            2 => add,
            2 => remove,
            1 => admin_misc,
        ];
        let dt = prop_oneof![6 => 0i64..3_000, 2 => -20_000i64..0];
        (dt, op).prop_map(|(dt, op)| Step { dt, op }).boxed()
    }

    fn apply(mut state: RefState, step: &Step) -> RefState {
        state.now = state.now.saturating_add_signed(step.dt);
        let mut out = Vec::new();
        let r = match &step.op {
            Op::Client { user, req } => state.client(*user, req, &mut out),
            Op::Admin(a) => state.admin(a),
        };
        state.expected = Some((r.unwrap_or_else(|code| Response::Error { code }), out));
        state
    }
}

// ---------------------------------------------------------------------------------------------
// The system under test and its checks
// ---------------------------------------------------------------------------------------------

struct Sut {
    model: Model,
    /// Highest read count the sender has seen per message (pushes and pulls).
    seen_read: BTreeMap<MsgId, u32>,
    /// C2C messages the sender has seen as read.
    seen_peer_read: BTreeSet<MsgId>,
    /// Last `c2c_read` timestamp seen per (marker, receiver).
    seen_mark_ts: BTreeMap<(UserId, UserId), u64>,
}

impl Sut {
    fn observe(&mut self, e: &ReceiptEntry) {
        match *e {
            ReceiptEntry::Group {
                msg_id, read_count, ..
            } => {
                let last = self.seen_read.entry(msg_id).or_insert(0);
                assert!(
                    read_count >= *last,
                    "{msg_id}: read count went {last} -> {read_count}"
                );
                *last = read_count;
            }
            ReceiptEntry::C2c {
                msg_id,
                is_peer_read,
                ..
            } => {
                if is_peer_read {
                    self.seen_peer_read.insert(msg_id);
                } else {
                    assert!(
                        !self.seen_peer_read.contains(&msg_id),
                        "{msg_id}: is_peer_read reverted"
                    );
                }
            }
        }
    }

    fn observe_pushes(&mut self, out: &[Delivery]) {
        for d in out {
            match &d.push {
                Push::Receipts { entries } => entries.iter().for_each(|e| self.observe(e)),
                Push::C2cRead {
                    user_id,
                    timestamp_ms,
                } => {
                    let last = self.seen_mark_ts.entry((*user_id, d.to)).or_insert(0);
                    assert!(*timestamp_ms >= *last, "c2c_read timestamp went back");
                    *last = *timestamp_ms;
                }
                Push::NewMessage { .. } => {}
            }
        }
    }

    /// A query through the public API; queries must push nothing.
    fn query(&mut self, now: Micros, user: UserId, req: Request) -> Response {
        let mut out = Vec::new();
        let r = self.model.apply(now, user, &req, &mut out);
        assert!(out.is_empty(), "query {req:?} pushed {out:?}");
        r
    }

    fn page_all(
        &mut self,
        now: Micros,
        sender: UserId,
        id: MsgId,
        filter: ReadFilter,
        k: u32,
    ) -> Vec<UserId> {
        let mut all = Vec::new();
        let mut cursor = 0;
        for _ in 0..=INITIAL_USERS + 3 {
            let req = Request::GetReadMemberList {
                msg_id: id,
                filter,
                next_seq: cursor,
                count: k,
            };
            match self.query(now, sender, req) {
                Response::MemberList {
                    members,
                    next_seq,
                    is_finished,
                } => {
                    assert!(members.len() <= k as usize);
                    all.extend(members);
                    cursor = next_seq;
                    if is_finished {
                        return all;
                    }
                }
                other => panic!("{id}: paging {filter:?} failed: {other:?}"),
            }
        }
        panic!("{id}: paging {filter:?} never finished");
    }

    /// Everything the model shows about the state must match the reference, and the invariants
    /// of docs/semantics.md must hold for every message.
    fn check_all(&mut self, r: &RefState) {
        assert_eq!(self.model.message_count(), r.msgs.len());
        assert_eq!(self.model.message(MsgId(r.msgs.len() as u64 + 1)), None);
        for g in 0..=GROUPS {
            for u in 0..=MAX_USER {
                let want = r
                    .groups
                    .get(&GroupId(g))
                    .is_some_and(|grp| grp.members.contains(&UserId(u)));
                assert_eq!(self.model.is_member(GroupId(g), UserId(u)), want);
            }
        }
        for (i, m) in r.msgs.iter().enumerate() {
            let id = MsgId(i as u64 + 1);
            let view = self.model.message(id).expect("known message");
            let audience: Vec<UserId> = m.audience.iter().copied().collect();
            assert_eq!(view.conv, m.conv);
            assert_eq!(view.sender, m.sender);
            assert_eq!(view.seq, m.seq);
            assert_eq!(view.need_read_receipt, m.need);
            assert_eq!(view.audience_len as usize, audience.len());
            assert_eq!(self.model.audience(id), audience);
            let want_read = match m.conv {
                ConvKey::Group(_) => m.readers.len() as u32,
                ConvKey::Pair(..) => r.is_peer_read(id, m) as u32,
            };
            assert_eq!(view.read_count, want_read, "{id}: read count");
            if !m.need {
                continue;
            }
            // The sender's pull equals the reference and respects the count invariants.
            let pulled = self.query(
                r.now,
                m.sender,
                Request::GetReadReceipts { msg_ids: vec![id] },
            );
            let want = r.entry(id);
            assert_eq!(
                pulled,
                Response::ReadReceipts {
                    entries: vec![PerMessage {
                        msg_id: id,
                        result: Ok(want)
                    }]
                }
            );
            self.observe(&want);
            let ReceiptEntry::Group {
                read_count,
                unread_count,
                ..
            } = want
            else {
                continue;
            };
            assert_eq!((read_count + unread_count) as usize, audience.len());
            // Member lists paged to the end with small pages.
            let read = self.page_all(r.now, m.sender, id, ReadFilter::Read, 2);
            let unread = self.page_all(r.now, m.sender, id, ReadFilter::Unread, 3);
            assert_eq!(read, m.readers, "{id}: read list in read order");
            let rs: BTreeSet<UserId> = read.iter().copied().collect();
            let us: BTreeSet<UserId> = unread.iter().copied().collect();
            assert_eq!(rs.len(), read.len(), "{id}: read list repeats");
            assert_eq!(us.len(), unread.len(), "{id}: unread list repeats");
            assert!(rs.is_disjoint(&us), "{id}: lists overlap");
            assert!(unread.windows(2).all(|w| w[0] < w[1]), "{id}: unread order");
            let union: Vec<UserId> = rs.union(&us).copied().collect();
            assert_eq!(union, audience, "{id}: lists do not cover the audience");
            assert_eq!(read.len() as u32, read_count);
            assert_eq!(unread.len() as u32, unread_count);
        }
    }
}

struct ModelTest;

impl StateMachineTest for ModelTest {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(r: &RefState) -> Sut {
        let mut model = Model::new(r.config.clone());
        for a in &r.setup {
            assert_eq!(model.admin(a), Response::AdminDone, "setup {a:?}");
        }
        Sut {
            model,
            seen_read: BTreeMap::new(),
            seen_peer_read: BTreeSet::new(),
            seen_mark_ts: BTreeMap::new(),
        }
    }

    fn apply(mut sut: Sut, r: &RefState, step: Step) -> Sut {
        let (want, want_out) = r.expected.clone().expect("reference applied the step");
        let mut out = Vec::new();
        let got = match &step.op {
            Op::Client { user, req } => sut.model.apply(r.now, *user, req, &mut out),
            Op::Admin(a) => sut.model.admin(a),
        };
        assert_eq!(got, want, "response to {step:?}");
        assert_eq!(out, want_out, "pushes of {step:?}");
        sut.observe_pushes(&out);
        sut.check_all(r);
        sut
    }

    fn check_invariants(sut: &Sut, r: &RefState) {
        assert_eq!(sut.model.config(), &r.config);
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        // Keep the crate tree clean; a failure prints the minimal step list and its seed.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn model_matches_naive_reference(sequential 1..60 => ModelTest);
}

/// PROPTEST_CASES left unset gives the 256 cases this suite promises.
#[test]
fn default_case_count_is_at_least_256() {
    if std::env::var_os("PROPTEST_CASES").is_none() {
        assert!(Config::default().cases >= 256);
    }
}
