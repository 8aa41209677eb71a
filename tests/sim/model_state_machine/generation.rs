//! Generation: the steps proptest draws, from what the reference state makes valid.

use super::reference::{Op, RefState, Step};
use super::*;

pub(super) struct Reference;

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
