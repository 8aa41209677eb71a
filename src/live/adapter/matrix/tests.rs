//! The Matrix adapter against a fake homeserver (`fake.rs`): no Synapse needed. Each test
//! starts its own fake, drives the adapter through the [`Backend`] trait as the live driver
//! does, and checks both sides: what the fake was asked (paths, tokens, bodies, order) and
//! what the scheduler would get (responses, pushes, closes).

use super::MatrixBackend;
use super::fake::{Fake, Reply, SECRET, SERVER, message, receipt, sync_body, token_of};
use crate::live::adapter::{Backend, Conn, ConnSpec};
use crate::live::inbound::{Inbound, Incoming};
use crate::protocol::{
    AdminRequest, ConvKey, ErrorCode, GroupId, GroupType, ReceiptConfig, Response, UserId,
};
use crate::wire::{
    ClientFrame, PushFrame, ResponseFrame, WireConv, WireEntry, WireFilter, WireRequest, ok,
};
use serde_json::json;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// Operations, pushes and the connection's life, through `Backend::connect`.
mod conn;

/// Longest wait for anything the adapter should do at once (generous: CI machines are slow).
const WAIT: Duration = Duration::from_secs(10);

/// How long "nothing arrives" is watched for.
const QUIET: Duration = Duration::from_millis(400);

fn create_user(u: u32) -> AdminRequest {
    AdminRequest::CreateUser { user: UserId(u) }
}

fn create_group(g: u32, members: &[u32]) -> AdminRequest {
    AdminRequest::CreateGroup {
        group: GroupId(g),
        group_type: GroupType::Work,
        members: members.iter().map(|&u| UserId(u)).collect(),
    }
}

fn mx(u: u32) -> String {
    format!("@u{u}:{SERVER}")
}

fn err(code: ErrorCode) -> Response {
    Response::Error { code }
}

fn backend(fake: &Fake) -> MatrixBackend {
    MatrixBackend::new(fake.addr.clone(), SECRET.into(), SERVER)
}

/// A fake and a backend that provisioned users 1..=users and groups g1 = {1, 2, 3}, g2 =
/// {1, 2}.
async fn provisioned(users: u32) -> (Fake, MatrixBackend) {
    let fake = Fake::start().await;
    let b = backend(&fake);
    let mut reqs: Vec<AdminRequest> = (1..=users).map(create_user).collect();
    reqs.push(create_group(1, &[1, 2, 3]));
    reqs.push(create_group(2, &[1, 2]));
    let answers = b.provision(&reqs).await.unwrap();
    assert!(
        answers.iter().all(|a| *a == Response::AdminDone),
        "{answers:?}"
    );
    (fake, b)
}

fn room_of(b: &MatrixBackend, g: u32) -> String {
    b.shared.room(ConvKey::Group(GroupId(g))).unwrap()
}

/// A port nothing listens on: connections to it are refused.
async fn dead_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

/// One client connection as the scheduler sees it: frames out, inbound in.
struct Client {
    conn: Conn,
    rx: UnboundedReceiver<Inbound>,
    next_id: u64,
    /// Pushes that arrived while a response was awaited.
    pushes: VecDeque<PushFrame>,
}

async fn connect(b: &MatrixBackend, u: u32) -> Client {
    let (tx, rx) = unbounded_channel();
    let cred = b.credential(UserId(u), WAIT).await.unwrap();
    let spec = ConnSpec {
        client: UserId(u),
        device: crate::history::Device::FIRST,
        conn: 0,
        inbound: tx,
        announce: false,
        route: None,
    };
    let conn = tokio::time::timeout(WAIT, b.connect(&cred, spec))
        .await
        .expect("connect hangs")
        .unwrap();
    Client {
        conn,
        rx,
        next_id: 0,
        pushes: VecDeque::new(),
    }
}

fn group(g: u32) -> WireConv {
    WireConv::Group(format!("g{g}"))
}

fn send_op(conv: WireConv, need: bool) -> WireRequest {
    WireRequest::SendMessage {
        conv,
        need_read_receipt: need,
        body: "hello".into(),
    }
}

impl Client {
    /// Sends a frame; returns its id.
    fn send(&mut self, op: WireRequest) -> u64 {
        self.next_id += 1;
        let f = ClientFrame {
            id: self.next_id,
            op,
        };
        self.conn.tx.send(f).unwrap();
        self.next_id
    }

    /// The next inbound item, or None if none came within `within`.
    async fn next(&mut self, within: Duration) -> Option<Inbound> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next response (pushes before it are kept for [`Client::push`]).
    async fn response(&mut self) -> ResponseFrame {
        loop {
            match self.next(WAIT).await {
                Some(Inbound::Frame {
                    frame: Incoming::Response(r),
                    ..
                }) => return r,
                Some(Inbound::Frame {
                    frame: Incoming::Push(p),
                    ..
                }) => self.pushes.push_back(p),
                other => panic!("expected a response, got {other:?}"),
            }
        }
    }

    async fn call(&mut self, op: WireRequest) -> ResponseFrame {
        let id = self.send(op);
        let r = self.response().await;
        assert_eq!(r.id, Some(id));
        r
    }

    /// The `ok` body of a call that must succeed.
    async fn ok<T: serde::de::DeserializeOwned>(&mut self, op: WireRequest) -> T {
        let r = self.call(op).await;
        assert!(r.error.is_none(), "{r:?}");
        serde_json::from_value(r.ok.unwrap()).unwrap()
    }

    /// The error of a call that must fail.
    async fn error(&mut self, op: WireRequest) -> String {
        let r = self.call(op).await;
        assert!(r.ok.is_none(), "{r:?}");
        r.error.unwrap().name
    }

    async fn sent(&mut self, conv: WireConv, need: bool) -> ok::Sent {
        self.ok(send_op(conv, need)).await
    }

    async fn push(&mut self) -> PushFrame {
        if let Some(p) = self.pushes.pop_front() {
            return p;
        }
        match self.next(WAIT).await {
            Some(Inbound::Frame {
                frame: Incoming::Push(p),
                ..
            }) => p,
            other => panic!("expected a push, got {other:?}"),
        }
    }

    /// Nothing (no push, no response, no close) arrives for a while.
    async fn quiet(&mut self) {
        assert!(self.pushes.is_empty(), "{:?}", self.pushes);
        if let Some(i) = self.next(QUIET).await {
            panic!("expected nothing, got {i:?}");
        }
    }

    /// Waits for the connection's `Closed`; its reason.
    async fn closed(&mut self) -> String {
        match self.next(WAIT).await {
            Some(Inbound::Closed { reason, .. }) => reason,
            other => panic!("expected Closed, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Provisioning

#[tokio::test]
async fn health_is_the_versions_endpoint_and_a_dead_server_is_named() {
    let fake = Fake::start().await;
    backend(&fake).wait_healthy(WAIT).await.unwrap();
    assert_eq!(fake.reqs_to("GET", "/_matrix/client/versions").len(), 1);
    fake.on("GET", "/versions", Reply::internal());
    backend(&fake).wait_healthy(WAIT).await.unwrap();
    assert_eq!(
        fake.reqs_to("GET", "/_matrix/client/versions").len(),
        3,
        "polled again"
    );
    let dead = dead_addr().await;
    let b = MatrixBackend::new(dead.clone(), SECRET.into(), SERVER);
    let e = b
        .wait_healthy(Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&dead), "{e}");
}

#[tokio::test]
async fn provisioning_registers_by_mac_and_makes_each_group_a_room_its_members_join() {
    let fake = Fake::start().await;
    let b = backend(&fake);
    let reqs = [
        create_user(1),
        create_user(2),
        create_user(3),
        create_group(1, &[1, 2, 3]),
    ];
    let answers = b.provision(&reqs).await.unwrap();
    assert_eq!(answers, vec![Response::AdminDone; 4]);

    // Every registration is a nonce then a POST with that nonce's MAC (the fake refuses a
    // wrong MAC or an unissued nonce, which would have failed provisioning above); the
    // provisioning user comes first, and nobody is made an admin.
    let posts = fake.reqs_to("POST", "/_synapse/admin/v1/register");
    let names: Vec<&str> = posts
        .iter()
        .map(|r| r.body["username"].as_str().unwrap())
        .collect();
    assert_eq!(names[0], "readsim-admin");
    let mut users = names[1..].to_vec();
    users.sort();
    assert_eq!(users, ["u1", "u2", "u3"]);
    assert!(posts.iter().all(|r| r.body["admin"] == json!(false)));
    assert_eq!(fake.reqs_to("GET", "/_synapse/admin/v1/register").len(), 4);

    // The group: one room made by the provisioning user, inviting the members...
    let creates = fake.reqs_to("POST", "/createRoom");
    assert_eq!(creates.len(), 1);
    let c = &creates[0];
    assert_eq!(c.token.as_deref(), Some(token_of("readsim-admin").as_str()));
    assert_eq!(c.body["invite"], json!([mx(1), mx(2), mx(3)]));
    assert_eq!(c.body["preset"], "private_chat");
    assert_eq!(c.body["name"], "g1");
    assert!(c.body.get("is_direct").is_none());
    // ...and each member joins it with its own token.
    let room = room_of(&b, 1);
    let joins = fake.reqs_to("POST", "/join/");
    let mut joiners: Vec<String> = joins.iter().map(|r| r.token.clone().unwrap()).collect();
    joiners.sort();
    assert_eq!(joiners, ["tok-u1", "tok-u2", "tok-u3"]);
    assert!(
        joins
            .iter()
            .all(|r| r.path.ends_with(&format!("/join/{room}")))
    );
    // The registration's token is the credential: no extra login.
    let cred = b.credential(UserId(2), WAIT).await.unwrap();
    assert_eq!(cred.0, "tok-u2");
    assert!(fake.reqs_to("POST", "/login").is_empty());
}

#[tokio::test]
async fn receipt_configuration_is_done_without_a_call() {
    let fake = Fake::start().await;
    let b = backend(&fake);
    let config = ReceiptConfig {
        enabled_types: vec![GroupType::Work],
        max_group_size: 3,
    };
    let answers = b
        .provision(&[AdminRequest::SetReceiptConfig { config }])
        .await
        .unwrap();
    assert_eq!(answers, [Response::AdminDone]);
    // Only the provisioning user's own registration reached the homeserver.
    let other: Vec<_> = fake
        .reqs()
        .into_iter()
        .filter(|r| r.path != "/_synapse/admin/v1/register")
        .collect();
    assert!(other.is_empty(), "{other:?}");
}

#[tokio::test]
async fn existing_users_and_groups_are_reported_not_hidden() {
    let fake = Fake::start().await;
    fake.existing_user("u2");
    let b = backend(&fake);
    let answers = b
        .provision(&[create_user(1), create_user(2), create_group(1, &[1])])
        .await
        .unwrap();
    // M_USER_IN_USE is USER_EXISTS (the driver refuses it unless the run is sharded, as
    // shards share users); the adapter logs in as a new device so a shard can act as u2.
    assert_eq!(
        answers,
        [
            Response::AdminDone,
            err(ErrorCode::UserExists),
            Response::AdminDone
        ]
    );
    assert!(b.credential(UserId(2), WAIT).await.is_ok());
    // A second provisioning over the same homeserver: the provisioning user logs in, the
    // group exists, a group with a member nobody made is USER_NOT_FOUND and makes no room.
    let again = b
        .provision(&[create_group(1, &[1]), create_group(2, &[1, 9])])
        .await
        .unwrap();
    assert_eq!(
        again,
        [err(ErrorCode::GroupExists), err(ErrorCode::UserNotFound)]
    );
    assert_eq!(fake.reqs_to("POST", "/login").len(), 2);
    assert_eq!(fake.reqs_to("POST", "/createRoom").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Churn

fn add(g: u32, u: u32) -> AdminRequest {
    AdminRequest::AddMember {
        group: GroupId(g),
        user: UserId(u),
    }
}

fn remove(g: u32, u: u32) -> AdminRequest {
    AdminRequest::RemoveMember {
        group: GroupId(g),
        user: UserId(u),
    }
}

#[tokio::test]
async fn add_member_is_an_invite_by_the_provisioning_user_then_the_users_join() {
    let (fake, b) = provisioned(4).await;
    let room = room_of(&b, 1);
    let before = fake.reqs().len();
    assert_eq!(b.apply_one(&add(1, 4)).await.unwrap(), Response::AdminDone);
    let reqs = &fake.reqs()[before..];
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(
        reqs[0].path,
        format!("/_matrix/client/v3/rooms/{room}/invite")
    );
    assert_eq!(reqs[0].token.as_deref(), Some("tok-readsim-admin"));
    assert_eq!(reqs[0].body, json!({"user_id": mx(4)}));
    assert_eq!(reqs[1].path, format!("/_matrix/client/v3/join/{room}"));
    assert_eq!(reqs[1].token.as_deref(), Some("tok-u4"));

    // A refused invite (the user is in the room already) is ALREADY_MEMBER, and no join.
    fake.on("POST", "/invite", Reply::forbidden());
    assert_eq!(
        b.apply_one(&add(1, 2)).await.unwrap(),
        err(ErrorCode::AlreadyMember)
    );
    assert_eq!(fake.reqs_to("POST", "/join/").len(), 5 + 1);
}

#[tokio::test]
async fn remove_member_is_a_kick_and_a_refused_kick_is_not_group_member() {
    let (fake, b) = provisioned(3).await;
    let room = room_of(&b, 1);
    assert_eq!(
        b.apply_one(&remove(1, 3)).await.unwrap(),
        Response::AdminDone
    );
    let kicks = fake.reqs_to("POST", "/kick");
    assert_eq!(kicks.len(), 1);
    assert_eq!(
        kicks[0].path,
        format!("/_matrix/client/v3/rooms/{room}/kick")
    );
    assert_eq!(kicks[0].token.as_deref(), Some("tok-readsim-admin"));
    assert_eq!(kicks[0].body["user_id"], mx(3));
    fake.on("POST", "/kick", Reply::forbidden());
    assert_eq!(
        b.apply_one(&remove(1, 3)).await.unwrap(),
        err(ErrorCode::NotGroupMember)
    );
    // Another error status is the homeserver's failure, not readsim's code for a refusal.
    fake.on("POST", "/kick", Reply::internal());
    assert_eq!(
        b.apply_one(&remove(1, 2)).await.unwrap(),
        err(ErrorCode::Internal)
    );
}

#[tokio::test]
async fn churn_on_unknown_groups_or_users_asks_nothing() {
    let (fake, b) = provisioned(3).await;
    let before = fake.reqs().len();
    // add_member checks the user before the group (docs/semantics.md A1).
    assert_eq!(
        b.apply_one(&add(9, 7)).await.unwrap(),
        err(ErrorCode::UserNotFound)
    );
    assert_eq!(
        b.apply_one(&add(9, 1)).await.unwrap(),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        b.apply_one(&remove(9, 1)).await.unwrap(),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(fake.reqs().len(), before);
}

#[tokio::test]
async fn churn_transport_failures_say_whether_the_call_may_have_been_applied() {
    let (fake, b) = provisioned(4).await;
    // The answer never came: the kick may have been applied.
    fake.on("POST", "/kick", Reply::Reset);
    let e = b.apply_one(&remove(1, 3)).await.unwrap_err();
    assert!(e.sent, "{e}");
    // Nothing listens: nothing was sent, so the driver may retry it through a crash.
    let live = b.client_addr();
    b.repoint(&dead_addr().await);
    let e = b.apply_one(&remove(1, 3)).await.unwrap_err();
    assert!(!e.sent, "{e}");
    b.repoint(&live);
    // The invite went through, then the homeserver went away before the join: the call
    // changed the room (the user is invited), so it must not count as unsent.
    fake.on("POST", "/invite", Reply::later(300, Reply::Default));
    let dead = dead_addr().await;
    let req = add(1, 4);
    let (r, ()) = tokio::join!(b.apply_one(&req), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.repoint(&dead);
    });
    let e = r.unwrap_err();
    assert!(e.sent, "{e}");
    assert_eq!(fake.reqs_to("POST", "/invite").len(), 1);
}
