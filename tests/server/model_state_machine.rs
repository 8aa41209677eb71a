//! Model vs server, as a proptest state machine: random operation sequences (every client
//! operation with its error cases, plus admin membership and receipt-config changes) are
//! applied to the reference model and to a real server on 127.0.0.1:0. Every response and
//! error code must agree, and so must the pushes each user receives in each step (compared as
//! a multiset per user; timestamps excluded, the server uses the wall clock).
//!
//! After every step each connection sends a probe request: the server releases frames per
//! connection in commit order, so every push caused by the step has arrived before the
//! probe's answer, and nothing may arrive that the model did not send.
//!
//! A second test plants `ServerBug::CountDuplicateReceipt` and asserts the run fails.
//! (`ServerBug` and `ServerConfig::planted_bug` exist only with the `planted-bugs` feature,
//! which the crate's dev-dependency on itself turns on for every `cargo test` build.)

use crate::server_common;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRng, TestRunner};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, Conv, GroupId, GroupType, MsgId, Push, ReadFilter, ReceiptConfig, Request,
    Response, UserId,
};
use readsim::server::{ServerBug, ServerConfig, Store};
use readsim::wire::{self, ClientFrame, Ids, PushFrame, ResponseFrame};
use reqwest::Method;
use serde_json::json;
use server_common::{Client, TestServer};
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// Users 1..=USERS exist and hold a connection; 0 and USERS + 1 never exist.
const USERS: u32 = 5;
/// Groups 0..GROUPS exist; GROUPS never does.
const GROUPS: u32 = 3;
/// Longest operation sequence of a case.
const MAX_STEPS: usize = 40;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

#[derive(Clone, Debug)]
enum Step {
    Client { user: UserId, req: Request },
    Admin(AdminRequest),
}

#[derive(Clone, Debug)]
struct RefState {
    /// Admin requests that build the initial state (users, then groups).
    setup: Vec<AdminRequest>,
    model: Model,
    now: u64,
}

struct Reference;

fn actor() -> BoxedStrategy<UserId> {
    (1..=USERS).prop_map(UserId).boxed()
}

fn any_user() -> BoxedStrategy<UserId> {
    (0..=USERS + 1).prop_map(UserId).boxed()
}

fn any_group() -> BoxedStrategy<GroupId> {
    (0..=GROUPS).prop_map(GroupId).boxed()
}

fn conv() -> BoxedStrategy<Conv> {
    prop_oneof![
        any_group().prop_map(Conv::Group),
        any_user().prop_map(Conv::C2c)
    ]
    .boxed()
}

fn count() -> BoxedStrategy<u32> {
    prop_oneof![
        1 => Just(0u32),
        1 => Just(101u32),
        1 => Just(100u32),
        6 => 1u32..=4,
    ]
    .boxed()
}

fn filter() -> BoxedStrategy<ReadFilter> {
    prop_oneof![Just(ReadFilter::Read), Just(ReadFilter::Unread)].boxed()
}

impl ReferenceStateMachine for Reference {
    type State = RefState;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<RefState> {
        let members = || proptest::collection::btree_set(1..=USERS, 2..=USERS as usize);
        (
            prop::sample::select(vec![GroupType::Public, GroupType::Meeting]),
            prop::sample::select(GroupType::ALL.to_vec()),
            members(),
            members(),
            members(),
        )
            .prop_map(|(t1, t2, m0, m1, m2)| {
                let mut setup: Vec<AdminRequest> = (1..=USERS)
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
                let mut model = Model::new(ReceiptConfig::default());
                for a in &setup {
                    assert_eq!(model.admin(a), Response::AdminDone, "setup {a:?}");
                }
                RefState {
                    setup,
                    model,
                    now: 1_000_000,
                }
            })
            .boxed()
    }

    fn transitions(state: &RefState) -> BoxedStrategy<Step> {
        let m = &state.model;
        let n = m.message_count() as u64;
        let recent = n.saturating_sub(7).max(1)..=n;
        // (reader, message) pairs that may be acknowledged, repeats included.
        let readable: Vec<(UserId, MsgId)> = recent
            .clone()
            .map(MsgId)
            .filter(|&id| m.message(id).is_some_and(|v| v.need_read_receipt))
            .flat_map(|id| m.audience(id).into_iter().map(move |u| (u, id)))
            .collect();
        let own: Vec<(UserId, MsgId)> = recent
            .map(MsgId)
            .filter_map(|id| m.message(id).map(|v| (v.sender, id)))
            .collect();
        let msg = move || (1..=n + 2).prop_map(MsgId).boxed();
        let ids = move || {
            prop_oneof![
                8 => proptest::collection::vec(msg(), 1..=3),
                1 => Just(Vec::new()),
                1 => msg().prop_map(|id| vec![id; 101]),
            ]
            .boxed()
        };
        let client = |s: BoxedStrategy<Request>| {
            (actor(), s)
                .prop_map(|(user, req)| Step::Client { user, req })
                .boxed()
        };
        let mut ops: Vec<(u32, BoxedStrategy<Step>)> = vec![
            (
                4,
                client(
                    (conv(), prop::bool::weighted(0.75), 0u32..8)
                        .prop_map(|(conv, need_read_receipt, body_len)| Request::SendMessage {
                            conv,
                            need_read_receipt,
                            body_len,
                        })
                        .boxed(),
                ),
            ),
            (
                1,
                client(
                    ids()
                        .prop_map(|msg_ids| Request::SendReadReceipts { msg_ids })
                        .boxed(),
                ),
            ),
            (
                1,
                client(
                    ids()
                        .prop_map(|msg_ids| Request::GetReadReceipts { msg_ids })
                        .boxed(),
                ),
            ),
            (
                1,
                client(
                    (msg(), filter(), 0u64..6, count())
                        .prop_map(
                            |(msg_id, filter, next_seq, count)| Request::GetReadMemberList {
                                msg_id,
                                filter,
                                next_seq,
                                count,
                            },
                        )
                        .boxed(),
                ),
            ),
            (
                1,
                client(
                    any_user()
                        .prop_map(|peer| Request::MarkC2cRead { peer })
                        .boxed(),
                ),
            ),
            (
                2,
                client(
                    (conv(), prop_oneof![Just(0u64), 1u64..5], count())
                        .prop_map(|(conv, before_seq, count)| Request::GetHistory {
                            conv,
                            before_seq,
                            count,
                        })
                        .boxed(),
                ),
            ),
            (
                1,
                (any_group(), any_user())
                    .prop_map(|(group, user)| Step::Admin(AdminRequest::AddMember { group, user }))
                    .boxed(),
            ),
            (
                1,
                (any_group(), any_user())
                    .prop_map(|(group, user)| {
                        Step::Admin(AdminRequest::RemoveMember { group, user })
                    })
                    .boxed(),
            ),
            (
                1,
                (
                    proptest::collection::vec(prop::sample::select(GroupType::ALL.to_vec()), 0..4),
                    2u32..=6,
                )
                    .prop_map(|(enabled_types, max_group_size)| {
                        Step::Admin(AdminRequest::SetReceiptConfig {
                            config: ReceiptConfig {
                                enabled_types,
                                max_group_size,
                            },
                        })
                    })
                    .boxed(),
            ),
        ];
        if !readable.is_empty() {
            let pick = prop::sample::select(readable);
            ops.push((
                5,
                (pick, msg(), 0u8..3)
                    .prop_map(|((user, id), other, shape)| Step::Client {
                        user,
                        req: Request::SendReadReceipts {
                            msg_ids: match shape {
                                0 => vec![id],
                                1 => vec![id, id],
                                _ => vec![id, other],
                            },
                        },
                    })
                    .boxed(),
            ));
        }
        if !own.is_empty() {
            let pick = prop::sample::select(own);
            ops.push((
                2,
                (pick.clone(), msg())
                    .prop_map(|((user, id), other)| Step::Client {
                        user,
                        req: Request::GetReadReceipts {
                            msg_ids: vec![id, other],
                        },
                    })
                    .boxed(),
            ));
            ops.push((
                3,
                (pick, filter(), 0u64..6, count())
                    .prop_map(|((user, msg_id), filter, next_seq, count)| Step::Client {
                        user,
                        req: Request::GetReadMemberList {
                            msg_id,
                            filter,
                            next_seq,
                            count,
                        },
                    })
                    .boxed(),
            ));
        }
        prop::strategy::Union::new_weighted(ops).boxed()
    }

    fn apply(mut state: RefState, step: &Step) -> RefState {
        state.now += 1000;
        match step {
            Step::Client { user, req } => {
                state.model.apply(state.now, *user, req, &mut Vec::new());
            }
            Step::Admin(a) => {
                state.model.admin(a);
            }
        }
        state
    }
}

fn strip_response(r: Response) -> Response {
    match r {
        Response::Sent { msg_id, seq, .. } => Response::Sent {
            msg_id,
            seq,
            timestamp_ms: 0,
        },
        Response::MarkedRead { .. } => Response::MarkedRead { timestamp_ms: 0 },
        Response::History { mut messages } => {
            for m in &mut messages {
                m.timestamp_ms = 0;
            }
            Response::History { messages }
        }
        other => other,
    }
}

fn strip_push(p: Push) -> Push {
    match p {
        Push::NewMessage {
            msg_id,
            conv,
            sender,
            seq,
            need_read_receipt,
            ..
        } => Push::NewMessage {
            msg_id,
            conv,
            sender,
            seq,
            timestamp_ms: 0,
            need_read_receipt,
        },
        Push::C2cRead { user_id, .. } => Push::C2cRead {
            user_id,
            timestamp_ms: 0,
        },
        other => other,
    }
}

/// Pushes per user as sorted multisets (Debug strings), users without pushes left out.
type PushSets = BTreeMap<u32, Vec<String>>;

fn push_sets(pushes: impl IntoIterator<Item = (UserId, Push)>) -> PushSets {
    let mut sets = PushSets::new();
    for (to, p) in pushes {
        sets.entry(to.0)
            .or_default()
            .push(format!("{:?}", strip_push(p)));
    }
    for v in sets.values_mut() {
        v.sort();
    }
    sets
}

struct Sut {
    server: TestServer,
    model: Model,
    ids: Ids,
    clients: BTreeMap<u32, Client>,
    next_req: u64,
    now: u64,
}

impl Sut {
    /// Probes every connection and returns the pushes that arrived before the answers.
    async fn drain_pushes(&mut self) -> PushSets {
        let probe = Request::GetHistory {
            conv: Conv::Group(GroupId(0)),
            before_seq: 0,
            count: 0,
        };
        let mut ids = Vec::new();
        for c in self.clients.values_mut() {
            let frame = self.ids.request(self.next_req, &probe);
            ids.push(self.next_req);
            self.next_req += 1;
            c.send_raw(serde_json::to_string(&frame).unwrap()).await;
        }
        let mut got = Vec::new();
        for (c, id) in self.clients.iter_mut().zip(ids) {
            let r = c.1.response().await;
            assert_eq!(r["id"], json!(id), "probe answer: {r}");
            for p in std::mem::take(&mut c.1.pushes) {
                let f: PushFrame = serde_json::from_value(p.clone()).unwrap();
                let push = self
                    .ids
                    .push(&f)
                    .unwrap()
                    .unwrap_or_else(|| panic!("unexpected control push to u{}: {p}", c.0));
                got.push((UserId(*c.0), push));
            }
        }
        push_sets(got)
    }

    async fn step(&mut self, step: &Step) {
        self.now += 1000;
        let mut out: Vec<Delivery> = Vec::new();
        match step {
            Step::Admin(req) => {
                let want = self.model.admin(req);
                let op = wire::admin_op(req).expect("a write");
                let v = self
                    .server
                    .admin_ok(Method::POST, "/v1/admin/batch", Some(json!({"ops": [op]})))
                    .await;
                let got: Vec<wire::admin::BatchResult> = serde_json::from_value(v).unwrap();
                assert_eq!(
                    got[0].error.as_ref().map(|e| e.code),
                    want.error_code().map(|c| c.code()),
                    "admin result of {req:?}"
                );
            }
            Step::Client { user, req } => {
                let want = strip_response(self.model.apply(self.now, *user, req, &mut out));
                let frame: ClientFrame = self.ids.request(self.next_req, req);
                self.next_req += 1;
                let c = self.clients.get_mut(&user.0).expect("actors are connected");
                let resp = c.call_frame(serde_json::to_value(&frame).unwrap()).await;
                let resp: ResponseFrame = serde_json::from_value(resp).unwrap();
                let got = strip_response(self.ids.response(req, &resp).unwrap());
                assert_eq!(got, want, "response to u{} {req:?}", user.0);
            }
        }
        let got = self.drain_pushes().await;
        let want = push_sets(out.into_iter().map(|d| (d.to, d.push)));
        assert_eq!(got, want, "pushes per user after {step:?}");
    }
}

struct ServerTest<const BUG: bool>;

impl<const BUG: bool> StateMachineTest for ServerTest<BUG> {
    type SystemUnderTest = Sut;
    type Reference = Reference;

    fn init_test(r: &RefState) -> Sut {
        RT.block_on(async {
            let mut cfg = ServerConfig::random();
            if BUG {
                cfg.planted_bug = Some(ServerBug::CountDuplicateReceipt);
            }
            let server = TestServer::start_with(Store::in_memory().unwrap(), cfg).await;
            let mut model = Model::new(ReceiptConfig::default());
            let ops: Vec<_> = r
                .setup
                .iter()
                .map(|a| {
                    assert_eq!(model.admin(a), Response::AdminDone, "setup {a:?}");
                    wire::admin_op(a).expect("a write")
                })
                .collect();
            let v = server
                .admin_ok(Method::POST, "/v1/admin/batch", Some(json!({"ops": ops})))
                .await;
            let results: Vec<wire::admin::BatchResult> = serde_json::from_value(v).unwrap();
            assert!(
                results.iter().all(|r| r.error.is_none()),
                "setup: {results:?}"
            );
            let mut ids = Ids::default();
            for n in 1..=(MAX_STEPS as u64 + 2) {
                assert_eq!(ids.local(&format!("m{n}")), MsgId(n));
            }
            let mut clients = BTreeMap::new();
            for u in 1..=USERS {
                clients.insert(u, server.client(&format!("u{u}")).await);
            }
            Sut {
                server,
                model,
                ids,
                clients,
                next_req: 1,
                now: r.now,
            }
        })
    }

    fn apply(mut sut: Sut, _r: &RefState, step: Step) -> Sut {
        RT.block_on(sut.step(&step));
        sut
    }

    fn teardown(sut: Sut, _r: RefState) {
        RT.block_on(async {
            for (_, c) in sut.clients {
                c.close().await;
            }
            sut.server.stop().await;
        });
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        // Keep the crate tree clean; a failure prints the minimal step list and its seed.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn server_matches_model_on_random_sequences(sequential 1..MAX_STEPS => ServerTest<false>);
}

/// PROPTEST_CASES left unset gives the 256 cases this suite promises.
#[test]
fn default_case_count_is_at_least_256() {
    if std::env::var_os("PROPTEST_CASES").is_none() {
        assert!(Config::default().cases >= 256);
    }
}

/// The same state machine against a server that counts a repeated receipt twice must fail,
/// and the shrunk counterexample must repeat a receipt.
#[test]
fn planted_duplicate_receipt_bug_is_caught() {
    let config = Config {
        cases: 64,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config.clone(), rng);
    let result = runner.run(
        &Reference::sequential_strategy(1..MAX_STEPS),
        |(init, steps, seen)| {
            ServerTest::<true>::test_sequential(config.clone(), init, steps, seen);
            Ok(())
        },
    );
    match result {
        Err(TestError::Fail(reason, (_, steps, _))) => {
            eprintln!("planted bug caught: {reason}\nminimal steps: {steps:#?}");
            // Some reader acknowledged the same message twice (across steps or in one batch).
            let mut acks = BTreeMap::new();
            for s in &steps {
                if let Step::Client {
                    user,
                    req: Request::SendReadReceipts { msg_ids },
                } = s
                {
                    for m in msg_ids {
                        *acks.entry((*user, *m)).or_insert(0u32) += 1;
                    }
                }
            }
            assert!(
                acks.values().any(|&n| n >= 2),
                "the counterexample repeats a receipt: {steps:?}"
            );
        }
        other => panic!("the planted bug went unnoticed: {other:?}"),
    }
}
