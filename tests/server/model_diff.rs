//! Differential check: random operation sequences (every operation, most error cases, users
//! and groups joining and leaving) applied to the reference model and to a real server over
//! its wire protocol must give the same result and error code for every step, timestamps
//! aside (the model's clock is virtual). Seeded and bounded; the proptest state machine of
//! the live work goes further.

use crate::server_common;

use readsim::model::Model;
use readsim::protocol::{
    AdminRequest, Conv, GroupId, GroupType, MsgId, ReadFilter, ReceiptConfig, Request, Response,
    UserId,
};
use readsim::wire::{self, ClientFrame, Ids, ResponseFrame};
use reqwest::Method;
use serde_json::json;
use server_common::{Client, TestServer};
use std::collections::HashMap;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

const USERS: u32 = 7;
const GROUPS: u32 = 3;

fn strip_times(r: Response) -> Response {
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

fn random_admin(rng: &mut Rng, created: &[u32]) -> AdminRequest {
    let pick = |rng: &mut Rng| {
        if !created.is_empty() && rng.chance(85) {
            UserId(created[rng.below(created.len() as u64) as usize])
        } else {
            UserId(rng.below(u64::from(USERS) + 1) as u32)
        }
    };
    let user = pick(rng);
    let group = GroupId(rng.below(u64::from(GROUPS)) as u32);
    match rng.below(10) {
        0 | 1 => AdminRequest::CreateUser {
            user: UserId(rng.below(u64::from(USERS) + 1) as u32),
        },
        2 | 3 => AdminRequest::CreateGroup {
            group,
            group_type: GroupType::ALL[rng.below(5) as usize],
            members: (0..rng.below(6)).map(|_| pick(rng)).collect(),
        },
        4 | 5 => AdminRequest::AddMember { group, user },
        6 | 7 => AdminRequest::RemoveMember { group, user },
        _ => AdminRequest::SetReceiptConfig {
            config: ReceiptConfig {
                enabled_types: (0..rng.below(4))
                    .map(|_| GroupType::ALL[rng.below(5) as usize])
                    .collect(),
                max_group_size: 3 + rng.below(5) as u32,
            },
        },
    }
}

fn random_request(rng: &mut Rng, model: &Model, actor: UserId) -> Request {
    let msgs = model.message_count() as u64;
    let own: Vec<MsgId> = (1..=msgs)
        .map(MsgId)
        .filter(|&m| model.message(m).is_some_and(|v| v.sender == actor))
        .collect();
    let own_listable: Vec<MsgId> = own
        .iter()
        .copied()
        .filter(|&m| {
            model.message(m).is_some_and(|v| {
                v.need_read_receipt && matches!(v.conv, readsim::protocol::ConvKey::Group(_))
            })
        })
        .collect();
    // Messages the actor may acknowledge, the last few of them (so repeats happen).
    let mut readable: Vec<MsgId> = (1..=msgs)
        .rev()
        .map(MsgId)
        .filter(|&m| {
            model.message(m).is_some_and(|v| v.need_read_receipt)
                && model.audience(m).contains(&actor)
        })
        .take(4)
        .collect();
    readable.reverse();
    let conv = |rng: &mut Rng| {
        if rng.chance(50) {
            Conv::Group(GroupId(rng.below(u64::from(GROUPS) + 1) as u32))
        } else {
            Conv::C2c(UserId(rng.below(u64::from(USERS) + 1) as u32))
        }
    };
    let msg = |rng: &mut Rng| {
        if !own.is_empty() && rng.chance(40) {
            own[rng.below(own.len() as u64) as usize]
        } else if rng.chance(70) {
            MsgId(msgs.saturating_sub(rng.below(4)).max(1))
        } else {
            MsgId(1 + rng.below(msgs + 2))
        }
    };
    let batch = |rng: &mut Rng| if rng.chance(5) { 0 } else { 1 + rng.below(3) };
    let count = |rng: &mut Rng| match rng.below(10) {
        0 => 0,
        1 => 101,
        _ => 1 + rng.below(4) as u32,
    };
    match rng.below(12) {
        0..=2 => Request::SendMessage {
            conv: conv(rng),
            need_read_receipt: rng.chance(75),
            body_len: rng.below(8) as u32,
        },
        3..=5 if !readable.is_empty() && rng.chance(70) => {
            let first = rng.below(readable.len() as u64) as usize;
            let n = (1 + rng.below(3) as usize).min(readable.len() - first);
            Request::SendReadReceipts {
                msg_ids: readable[first..first + n].to_vec(),
            }
        }
        3..=5 => Request::SendReadReceipts {
            msg_ids: (0..batch(rng)).map(|_| msg(rng)).collect(),
        },
        6 | 7 => Request::GetReadReceipts {
            msg_ids: (0..batch(rng)).map(|_| msg(rng)).collect(),
        },
        8 | 9 => Request::GetReadMemberList {
            msg_id: if !own_listable.is_empty() && rng.chance(70) {
                own_listable[rng.below(own_listable.len() as u64) as usize]
            } else {
                msg(rng)
            },
            filter: if rng.chance(50) {
                ReadFilter::Read
            } else {
                ReadFilter::Unread
            },
            next_seq: rng.below(6),
            count: count(rng),
        },
        10 => Request::MarkC2cRead {
            peer: UserId(rng.below(u64::from(USERS) + 1) as u32),
        },
        _ => Request::GetHistory {
            conv: conv(rng),
            before_seq: rng.below(5),
            count: count(rng),
        },
    }
}

async fn run_seed(seed: u64, steps: usize) -> std::collections::BTreeMap<(String, String), u32> {
    let s = TestServer::memory().await;
    let mut rng = Rng(seed);
    let mut model = Model::new(ReceiptConfig::default());
    let mut ids = Ids::default();
    for n in 1..=(steps as u64 + 10) {
        assert_eq!(ids.local(&format!("m{n}")), MsgId(n));
    }
    let mut clients: HashMap<u32, Client> = HashMap::new();
    let mut out = Vec::new();
    let mut now = 1_000_000u64;
    let mut next_id = 1u64;
    let mut stats = std::collections::BTreeMap::new();
    for step in 0..steps {
        now += 1000 + rng.below(5000);
        let created: Vec<u32> = (0..=USERS).filter(|u| clients.contains_key(u)).collect();
        if created.is_empty() || rng.chance(25) {
            let req = random_admin(&mut rng, &created);
            let want = model.admin(&req);
            let op = wire::admin_op(&req).expect("a write");
            let v = s
                .admin_ok(Method::POST, "/v1/admin/batch", Some(json!({"ops": [op]})))
                .await;
            let got: Vec<wire::admin::BatchResult> = serde_json::from_value(v).unwrap();
            let got = got[0].error.as_ref().map(|e| e.code);
            assert_eq!(
                got,
                want.error_code().map(|c| c.code()),
                "seed {seed} step {step}: {req:?}"
            );
            if let AdminRequest::CreateUser { user } = req
                && want.error_code().is_none()
            {
                clients.insert(user.0, s.client(&format!("u{}", user.0)).await);
            }
            continue;
        }
        let actor = created[rng.below(created.len() as u64) as usize];
        let req = random_request(&mut rng, &model, UserId(actor));
        out.clear();
        let want = strip_times(model.apply(now, UserId(actor), &req, &mut out));
        let frame: ClientFrame = ids.request(next_id, &req);
        next_id += 1;
        let c = clients.get_mut(&actor).unwrap();
        let resp = c.call_frame(serde_json::to_value(&frame).unwrap()).await;
        let resp: ResponseFrame = serde_json::from_value(resp).unwrap();
        let got = strip_times(ids.response(&req, &resp).unwrap());
        assert_eq!(got, want, "seed {seed} step {step}: u{actor} {req:?}");
        let kind = format!("{:?}", req.kind());
        let ok = match &want {
            Response::Error { code } => format!("error {}", code.name()),
            Response::ReceiptsSent { results } => {
                format!("{} ok", results.iter().filter(|r| r.result.is_ok()).count())
            }
            Response::MemberList { members, .. } => format!("{} members", members.len()),
            _ => "ok".to_string(),
        };
        *stats.entry((kind, ok)).or_insert(0u32) += 1;
        c.pushes.clear();
    }
    s.stop().await;
    stats
}

#[tokio::test]
async fn server_agrees_with_the_model_on_random_sequences() {
    let mut all = std::collections::BTreeMap::new();
    for seed in 1..=20 {
        for (k, n) in run_seed(seed, 400).await {
            *all.entry(k).or_insert(0) += n;
        }
    }
    eprintln!("{all:#?}");
    // The sequences reach the interesting states, not only errors.
    for (kind, outcome) in [
        ("SendReadReceipts", "1 ok"),
        ("SendReadReceipts", "2 ok"),
        ("GetReadMemberList", "2 members"),
        ("SendMessage", "ok"),
        ("MarkC2cRead", "ok"),
    ] {
        assert!(
            all.contains_key(&(kind.to_string(), outcome.to_string())),
            "never reached {kind} {outcome}"
        );
    }
}
