//! The rules, applied directly (no writer, no sockets) to an in-memory store.

use super::*;
use crate::protocol::GroupType;
use crate::wire::WireFilter;
use crate::wire::admin::BatchOp;
use serde_json::{Value, json};
use std::collections::HashSet;

/// The planted defects, each against the rule it breaks.
#[cfg(feature = "planted-bugs")]
mod planted;

/// Who is online, for the group push fan-out.
struct Conns(HashSet<i64>);

impl Online for Conns {
    fn nobody(&self) -> bool {
        self.0.is_empty()
    }
    fn is_online(&self, user: i64) -> bool {
        self.0.contains(&user)
    }
}

fn everyone() -> Conns {
    Conns((1..=9).collect())
}

/// Users u1..=u4; group g1 (Work) of u1, u2, u3.
fn world_with(bugs: Planted) -> Semantics {
    let mut s = Semantics::new(Store::in_memory().unwrap(), bugs).unwrap();
    for u in 1..=4 {
        admin_ok(
            &mut s,
            BatchOp::CreateUser {
                user_id: format!("u{u}"),
            },
        );
    }
    admin_ok(&mut s, group("g1", GroupType::Work, &["u1", "u2", "u3"]));
    s
}

fn world() -> Semantics {
    world_with(Planted::default())
}

fn group(name: &str, t: GroupType, members: &[&str]) -> BatchOp {
    BatchOp::CreateGroup {
        group_id: name.into(),
        group_type: t,
        members: members.iter().map(|m| m.to_string()).collect(),
    }
}

fn admin_ok(s: &mut Semantics, op: BatchOp) {
    if let Err(e) = s.admin(op) {
        panic!("admin op failed: {e:?}");
    }
}

fn admin_err(s: &mut Semantics, op: BatchOp) -> ErrorCode {
    match s.admin(op) {
        Err(OpError::Rule(c)) => c,
        other => panic!("expected a rule error, got {other:?}"),
    }
}

/// Applies a request of `u<user>`: its `ok` body or error code, and the pushes as
/// (user, frame) pairs.
fn call(
    s: &mut Semantics,
    online: &Conns,
    user: i64,
    op: Value,
) -> (Result<Value, ErrorCode>, Vec<(i64, Value)>) {
    let op: WireRequest = serde_json::from_value(op).unwrap();
    let mut pushes = Vec::new();
    let r = match answer(s.client(user, 1, op, online, &mut pushes)).unwrap() {
        Ok(f) => Ok(serde_json::from_str::<Value>(f.as_str()).unwrap()["ok"].clone()),
        Err(c) => Err(c),
    };
    let pushes = pushes
        .into_iter()
        .map(|p| (p.user, serde_json::from_str(p.frame.as_str()).unwrap()))
        .collect();
    (r, pushes)
}

fn ok(s: &mut Semantics, user: i64, op: Value) -> Value {
    let (r, _) = call(s, &everyone(), user, op);
    r.unwrap_or_else(|c| panic!("u{user}: {c:?}"))
}

fn err(s: &mut Semantics, user: i64, op: Value) -> ErrorCode {
    call(s, &everyone(), user, op).0.unwrap_err()
}

fn send(s: &mut Semantics, user: i64, conv: Value, need: bool) -> String {
    let sent = ok(
        s,
        user,
        json!({"op": "send_message", "conv": conv, "need_read_receipt": need, "body": "hi"}),
    );
    sent["msg_id"].as_str().unwrap().to_owned()
}

fn receipts(ids: &[&str]) -> Value {
    json!({"op": "send_message_read_receipts", "msg_ids": ids})
}

/// The per-message error codes of a `send_message_read_receipts` answer (None: acknowledged).
fn receipt_codes(s: &mut Semantics, user: i64, ids: &[&str]) -> Vec<Option<u64>> {
    let r = ok(s, user, receipts(ids));
    r["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.get("error").map(|e| e["code"].as_u64().unwrap()))
        .collect()
}

fn code(c: ErrorCode) -> Option<u64> {
    Some(u64::from(c.code()))
}

fn read_count(s: &mut Semantics, sender: i64, msg: &str) -> Value {
    let r = ok(
        s,
        sender,
        json!({"op": "get_message_read_receipts", "msg_ids": [msg]}),
    );
    r["entries"][0]["read_count"].clone()
}

#[test]
fn a_repeated_receipt_counts_once_and_notifies_once() {
    let mut s = world();
    let m = send(&mut s, 1, json!({"group": "g1"}), true);
    let (r, pushes) = call(&mut s, &everyone(), 2, receipts(&[&m]));
    assert!(r.unwrap()["results"][0].get("error").is_none());
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].0, 1, "the sender is told");
    assert_eq!(pushes[0].1["entries"][0]["read_count"], json!(1));
    assert_eq!(pushes[0].1["entries"][0]["unread_count"], json!(1));
    // Again: a quiet success, no recount, no push.
    let (r, pushes) = call(&mut s, &everyone(), 2, receipts(&[&m]));
    assert!(r.unwrap()["results"][0].get("error").is_none());
    assert!(pushes.is_empty(), "{pushes:?}");
    assert_eq!(read_count(&mut s, 1, &m), json!(1));
}

#[test]
fn the_audience_is_the_membership_at_send_time() {
    let mut s = world();
    let m = send(&mut s, 1, json!({"group": "g1"}), true);
    let quiet = send(&mut s, 1, json!({"group": "g1"}), false);
    admin_ok(
        &mut s,
        BatchOp::AddMember {
            group_id: "g1".into(),
            user_id: "u4".into(),
        },
    );
    admin_ok(
        &mut s,
        BatchOp::RemoveMember {
            group_id: "g1".into(),
            user_id: "u3".into(),
        },
    );
    // Joined after the send.
    assert_eq!(
        receipt_codes(&mut s, 4, &[&m]),
        [code(ErrorCode::NotInAudience)]
    );
    // In the audience, but left since.
    assert_eq!(
        receipt_codes(&mut s, 3, &[&m]),
        [code(ErrorCode::ReaderLeftGroup)]
    );
    // The sender is not its own audience.
    assert_eq!(
        receipt_codes(&mut s, 1, &[&m]),
        [code(ErrorCode::NotInAudience)]
    );
    assert_eq!(
        receipt_codes(&mut s, 2, &[&quiet, &m, "m99"]),
        [
            code(ErrorCode::ReceiptNotRequested),
            None,
            code(ErrorCode::MessageNotFound)
        ]
    );
}

#[test]
fn receipt_batches_are_sized_and_in_one_conversation() {
    let mut s = world();
    let g = send(&mut s, 1, json!({"group": "g1"}), true);
    let c = send(&mut s, 1, json!({"c2c": "u2"}), true);
    assert_eq!(err(&mut s, 2, receipts(&[])), ErrorCode::BatchSize);
    let many: Vec<&str> = vec![g.as_str(); crate::protocol::MAX_BATCH + 1];
    assert_eq!(err(&mut s, 2, receipts(&many)), ErrorCode::BatchSize);
    assert_eq!(
        err(&mut s, 2, receipts(&[&g, &c])),
        ErrorCode::MixedConversations
    );
    // Unknown ids (non-canonical ones too) belong to no conversation.
    assert_eq!(
        receipt_codes(&mut s, 2, &[&c, "m07"]),
        [None, code(ErrorCode::MessageNotFound)]
    );
}

fn members(s: &mut Semantics, filter: WireFilter, m: &str, next_seq: u64, count: u32) -> Value {
    ok(
        s,
        1,
        json!({"op": "get_group_message_read_member_list", "msg_id": m,
               "filter": filter, "next_seq": next_seq, "count": count}),
    )
}

#[test]
fn member_lists_page_by_read_order_and_by_user_id() {
    let mut s = world();
    admin_ok(
        &mut s,
        group("g2", GroupType::Work, &["u1", "u2", "u3", "u4"]),
    );
    let m = send(&mut s, 1, json!({"group": "g2"}), true);
    ok(&mut s, 4, receipts(&[&m]));
    ok(&mut s, 2, receipts(&[&m]));
    // Read: in read order, the cursor is a position.
    let p = members(&mut s, WireFilter::Read, &m, 0, 1);
    assert_eq!(
        p,
        json!({"members": ["u4"], "next_seq": 1, "is_finished": false})
    );
    let p = members(&mut s, WireFilter::Read, &m, 1, 5);
    assert_eq!(
        p,
        json!({"members": ["u2"], "next_seq": 2, "is_finished": true})
    );
    // Unread: by id, the cursor is the next id to consider; the sender is not listed.
    let p = members(&mut s, WireFilter::Unread, &m, 0, 1);
    assert_eq!(
        p,
        json!({"members": ["u3"], "next_seq": 4, "is_finished": true})
    );
    ok(&mut s, 3, receipts(&[&m]));
    let p = members(&mut s, WireFilter::Unread, &m, 0, 1);
    assert_eq!(
        p,
        json!({"members": [], "next_seq": 0, "is_finished": true})
    );
}

#[test]
fn member_lists_are_for_the_sender_of_a_group_message_with_receipts() {
    let mut s = world();
    let m = send(&mut s, 1, json!({"group": "g1"}), true);
    let c = send(&mut s, 1, json!({"c2c": "u2"}), true);
    let req = |m: &str, count: u32| {
        json!({"op": "get_group_message_read_member_list", "msg_id": m,
               "filter": "read", "next_seq": 0, "count": count})
    };
    assert_eq!(err(&mut s, 1, req(&m, 0)), ErrorCode::CountOutOfRange);
    assert_eq!(err(&mut s, 2, req(&m, 1)), ErrorCode::NotMessageSender);
    assert_eq!(err(&mut s, 1, req(&c, 1)), ErrorCode::NotGroupMessage);
    assert_eq!(err(&mut s, 1, req("m42", 1)), ErrorCode::MessageNotFound);
}

#[test]
fn group_receipts_obey_the_receipt_config() {
    let mut s = world();
    admin_ok(&mut s, group("c1", GroupType::Community, &["u1", "u2"]));
    let req = |g: &str, need: bool| json!({"op": "send_message", "conv": {"group": g}, "need_read_receipt": need});
    assert_eq!(
        err(&mut s, 1, req("c1", true)),
        ErrorCode::ReceiptsDisabledForGroupType
    );
    ok(&mut s, 1, req("c1", false));
    admin_ok(
        &mut s,
        BatchOp::SetReceiptConfig {
            enabled_types: vec![GroupType::Work, GroupType::Work],
            max_group_size: 2,
        },
    );
    assert_eq!(
        s.config_json(),
        json!({"enabled_types": ["Work"], "max_group_size": 2})
    );
    // g1 has 3 members, sender included.
    assert_eq!(
        err(&mut s, 1, req("g1", true)),
        ErrorCode::GroupTooLargeForReceipts
    );
    assert_eq!(err(&mut s, 4, req("g1", false)), ErrorCode::NotGroupMember);
    assert_eq!(err(&mut s, 1, req("g9", false)), ErrorCode::GroupNotFound);
}

#[test]
fn new_messages_are_pushed_to_online_members_but_the_sender() {
    let mut s = world();
    let online = Conns([1, 2, 4].into());
    let send = json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": false});
    let (r, pushes) = call(&mut s, &online, 1, send.clone());
    let r = r.unwrap();
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    let (to, p) = &pushes[0];
    assert_eq!(*to, 2);
    assert_eq!(p["push"], json!("new_message"));
    assert_eq!(p["conv"], json!({"group": "g1"}));
    assert_eq!((&p["msg_id"], &p["seq"]), (&r["msg_id"], &r["seq"]));
    let (r, pushes) = call(&mut s, &Conns(HashSet::new()), 1, send);
    assert_eq!(r.unwrap()["seq"], json!(2), "seqs grow per group");
    assert!(pushes.is_empty());
    // A 1:1 message is pushed to the peer, offline or not, as a conversation with the sender.
    let c2c = json!({"op": "send_message", "conv": {"c2c": "u3"}, "need_read_receipt": false});
    let (_, pushes) = call(&mut s, &Conns(HashSet::new()), 1, c2c);
    assert_eq!(pushes[0].0, 3);
    assert_eq!(pushes[0].1["conv"], json!({"c2c": "u1"}));
}

#[test]
fn a_c2c_read_mark_covers_earlier_messages_only() {
    let mut s = world();
    let peer_read = |s: &mut Semantics, m: &str| {
        let r = ok(
            s,
            1,
            json!({"op": "get_message_read_receipts", "msg_ids": [m]}),
        );
        r["entries"][0]["is_peer_read"].clone()
    };
    let m1 = send(&mut s, 1, json!({"c2c": "u2"}), true);
    assert_eq!(peer_read(&mut s, &m1), json!(false));
    let mark = json!({"op": "mark_c2c_message_as_read", "peer": "u1"});
    let (r, pushes) = call(&mut s, &everyone(), 2, mark);
    let ts = r.unwrap()["timestamp_ms"].clone();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].0, 1);
    assert_eq!(
        pushes[0].1,
        json!({"push": "c2c_read", "user_id": "u2", "timestamp_ms": ts})
    );
    let m2 = send(&mut s, 1, json!({"c2c": "u2"}), true);
    assert_eq!(peer_read(&mut s, &m1), json!(true));
    assert_eq!(peer_read(&mut s, &m2), json!(false));
    let own = json!({"op": "mark_c2c_message_as_read", "peer": "u2"});
    assert_eq!(err(&mut s, 2, own), ErrorCode::SelfConversation);
}

#[test]
fn history_pages_newest_first() {
    let mut s = world();
    for _ in 0..3 {
        send(&mut s, 1, json!({"group": "g1"}), false);
    }
    let page = |s: &mut Semantics, user: i64, before: u64, count: u32| {
        let r = ok(
            s,
            user,
            json!({"op": "get_history", "conv": {"group": "g1"}, "before_seq": before, "count": count}),
        );
        let seqs: Vec<u64> = r["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["seq"].as_u64().unwrap())
            .collect();
        (seqs, r["messages"][0]["is_self"].clone())
    };
    assert_eq!(page(&mut s, 1, 0, 2), (vec![3, 2], json!(true)));
    assert_eq!(page(&mut s, 2, 2, 5), (vec![1], json!(false)));
    let hist = |conv: Value, count: u32| json!({"op": "get_history", "conv": conv, "count": count});
    assert_eq!(
        err(&mut s, 1, hist(json!({"group": "g1"}), 0)),
        ErrorCode::CountOutOfRange
    );
    assert_eq!(
        err(&mut s, 4, hist(json!({"group": "g1"}), 1)),
        ErrorCode::NotConversationParty
    );
    // A 1:1 conversation that never had a message is empty, not an error.
    assert_eq!(
        ok(&mut s, 3, hist(json!({"c2c": "u4"}), 1)),
        json!({"messages": []})
    );
}

#[test]
fn ids_are_validated_before_the_user_is_looked_up() {
    let mut s = world();
    let bad_conv =
        json!({"op": "send_message", "conv": {"group": "no spaces"}, "need_read_receipt": false});
    assert_eq!(err(&mut s, 99, bad_conv), ErrorCode::InvalidId);
    let big = "x".repeat(MAX_BODY_BYTES + 1);
    let big = json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": false, "body": big});
    assert_eq!(err(&mut s, 1, big), ErrorCode::FrameTooLarge);
    assert_eq!(
        err(
            &mut s,
            99,
            json!({"op": "mark_c2c_message_as_read", "peer": "u1"})
        ),
        ErrorCode::UserNotFound
    );
}

#[test]
fn message_and_user_ids_are_canonical() {
    assert_eq!(parse_msg_id("m12"), Some(12));
    for bad in ["m0", "m012", "m+1", "m-1", "12", "m"] {
        assert_eq!(parse_msg_id(bad), None, "{bad}");
    }
    assert_eq!(dense_user_id("u0"), Some(0));
    assert_eq!(dense_user_id("u5"), Some(5));
    for other in ["u05", "u16777216", "alice", "u"] {
        assert_eq!(dense_user_id(other), None, "{other}");
    }
}

#[test]
fn other_user_names_get_ids_above_the_dense_range_also_after_a_reload() {
    let mut s = world();
    admin_ok(
        &mut s,
        BatchOp::CreateUser {
            user_id: "alice".into(),
        },
    );
    assert_eq!(s.resolve("alice"), Some((DENSE_LIMIT, 0)));
    assert_eq!(s.resolve("u3"), Some((3, 0)));
    s.load().unwrap();
    admin_ok(
        &mut s,
        BatchOp::CreateUser {
            user_id: "bob".into(),
        },
    );
    assert_eq!(s.resolve("bob"), Some((DENSE_LIMIT + 1, 0)));
    let again = BatchOp::CreateUser {
        user_id: "bob".into(),
    };
    assert_eq!(admin_err(&mut s, again), ErrorCode::UserExists);
    assert_eq!(s.user_exists("bob"), Ok(()));
    assert_eq!(s.user_exists("carol"), Err(ErrorCode::UserNotFound));
    assert_eq!(s.user_exists("c a"), Err(ErrorCode::InvalidId));
}

#[test]
fn membership_changes_are_checked() {
    let mut s = world();
    let member = |g: &str, u: &str| (g.to_string(), u.to_string());
    let add = |(group_id, user_id): (String, String)| BatchOp::AddMember { group_id, user_id };
    let remove =
        |(group_id, user_id): (String, String)| BatchOp::RemoveMember { group_id, user_id };
    assert_eq!(
        admin_err(&mut s, add(member("g1", "u1"))),
        ErrorCode::AlreadyMember
    );
    assert_eq!(
        admin_err(&mut s, add(member("g1", "u9"))),
        ErrorCode::UserNotFound
    );
    assert_eq!(
        admin_err(&mut s, add(member("g9", "u1"))),
        ErrorCode::GroupNotFound
    );
    assert_eq!(
        admin_err(&mut s, remove(member("g1", "u4"))),
        ErrorCode::NotGroupMember
    );
    assert_eq!(
        admin_err(&mut s, remove(member("g1", "u9"))),
        ErrorCode::NotGroupMember
    );
    let bad = group("g2", GroupType::Work, &["u1", "u9"]);
    assert_eq!(admin_err(&mut s, bad), ErrorCode::UserNotFound);
    assert_eq!(
        admin_err(&mut s, group("g1", GroupType::Work, &[])),
        ErrorCode::GroupExists
    );
    // The failed create wrote nothing: the name is still free.
    admin_ok(&mut s, group("g2", GroupType::Work, &["u1", "u1"]));
}

#[test]
fn the_clock_restarts_from_the_latest_stored_timestamp() {
    let mut s = world();
    let sent = ok(
        &mut s,
        1,
        json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": false}),
    );
    s.clock_ms = 0;
    s.load().unwrap();
    assert_eq!(json!(s.clock_ms), sent["timestamp_ms"]);
}
