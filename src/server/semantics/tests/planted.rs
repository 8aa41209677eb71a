//! Each planted defect of the rules, next to the rule it breaks (the writer's
//! `AckBeforeCommit` is in `writer/tests.rs`).

use super::*;
use crate::server::ServerBug;

fn bugged(bug: ServerBug) -> Semantics {
    world_with(Planted::with(bug))
}

fn counts(s: &mut Semantics, sender: i64, msg: &str) -> (Value, Value) {
    let r = ok(
        s,
        sender,
        json!({"op": "get_message_read_receipts", "msg_ids": [msg]}),
    );
    let e = &r["entries"][0];
    (e["read_count"].clone(), e["unread_count"].clone())
}

fn add(s: &mut Semantics, g: &str, u: &str) {
    admin_ok(
        s,
        BatchOp::AddMember {
            group_id: g.into(),
            user_id: u.into(),
        },
    );
}

fn remove(s: &mut Semantics, g: &str, u: &str) {
    admin_ok(
        s,
        BatchOp::RemoveMember {
            group_id: g.into(),
            user_id: u.into(),
        },
    );
}

#[test]
fn count_duplicate_receipt_recounts_a_repeat() {
    let mut s = bugged(ServerBug::CountDuplicateReceipt);
    let m = send(&mut s, 1, json!({"group": "g1"}), true);
    ok(&mut s, 2, receipts(&[&m]));
    ok(&mut s, 2, receipts(&[&m]));
    assert_eq!(read_count(&mut s, 1, &m), json!(2));
}

#[test]
fn later_joiner_counted_accepts_a_receipt_outside_the_audience() {
    let mut s = bugged(ServerBug::LaterJoinerCounted);
    let m = send(&mut s, 1, json!({"group": "g1"}), true);
    add(&mut s, "g1", "u4");
    assert_eq!(
        receipt_codes(&mut s, 4, &[&m]),
        [None],
        "R3: NOT_IN_AUDIENCE"
    );
    assert_eq!(read_count(&mut s, 1, &m), json!(1));
    // The sender is still refused.
    assert_eq!(
        receipt_codes(&mut s, 1, &[&m]),
        [code(ErrorCode::NotInAudience)]
    );
}

#[test]
fn unread_from_current_membership_breaks_read_plus_unread() {
    let mut s = bugged(ServerBug::UnreadFromCurrentMembership);
    let m = send(&mut s, 1, json!({"group": "g1"}), true);
    assert_eq!(counts(&mut s, 1, &m), (json!(0), json!(2)));
    add(&mut s, "g1", "u4");
    // The audience is still u2 and u3 (I1: read + unread = 2).
    assert_eq!(counts(&mut s, 1, &m), (json!(0), json!(3)));
}

#[test]
fn skip_leaver_check_takes_a_leavers_receipt_and_still_refuses_a_non_member_send() {
    let mut s = bugged(ServerBug::SkipLeaverCheck);
    let req = json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": true});
    // Sends are checked as ever: u4 is no member.
    assert_eq!(err(&mut s, 4, req), ErrorCode::NotGroupMember);
    // R5: a leaver's receipt is accepted (and counted).
    let w = send(&mut s, 1, json!({"group": "g1"}), true);
    remove(&mut s, "g1", "u2");
    assert_eq!(receipt_codes(&mut s, 2, &[&w]), [None]);
    assert_eq!(counts(&mut s, 1, &w).0, json!(1));
}

#[test]
fn receipts_in_disabled_type_accepts_a_receipt_asking_send() {
    let mut s = bugged(ServerBug::ReceiptsInDisabledType);
    admin_ok(&mut s, group("c1", GroupType::Community, &["u1", "u2"]));
    let req = json!({"op": "send_message", "conv": {"group": "c1"}, "need_read_receipt": true});
    ok(&mut s, 1, req);
}

#[test]
fn unread_page_skips_entry_loses_the_first_member_of_the_next_page() {
    let mut s = bugged(ServerBug::UnreadPageSkipsEntry);
    admin_ok(
        &mut s,
        group("g2", GroupType::Work, &["u1", "u2", "u3", "u4"]),
    );
    let m = send(&mut s, 1, json!({"group": "g2"}), true);
    let p = members(&mut s, WireFilter::Unread, &m, 0, 1);
    assert_eq!(
        p,
        json!({"members": ["u2"], "next_seq": 4, "is_finished": false}),
        "M4: next_seq 3"
    );
    let p = members(&mut s, WireFilter::Unread, &m, 4, 1);
    assert_eq!(
        p,
        json!({"members": ["u4"], "next_seq": 5, "is_finished": true})
    );
}

#[test]
fn drop_receipts_push_drops_every_seventh() {
    let mut s = bugged(ServerBug::DropReceiptsPush);
    let mut pushed = 0;
    for _ in 0..7 {
        let m = send(&mut s, 1, json!({"group": "g1"}), true);
        let (r, pushes) = call(&mut s, &everyone(), 2, receipts(&[&m]));
        assert!(r.unwrap()["results"][0].get("error").is_none());
        pushed += pushes.len();
    }
    assert_eq!(pushed, 6, "R7: one push per new receipt");
}

#[test]
fn drop_c2c_read_within_second_drops_a_quick_second_mark() {
    let mut s = bugged(ServerBug::DropC2cReadWithinSecond);
    let mark = |peer: &str| json!({"op": "mark_c2c_message_as_read", "peer": peer});
    let (_, first) = call(&mut s, &everyone(), 2, mark("u1"));
    assert_eq!(first.len(), 1);
    // C4: every mark is pushed; these come within a second of the chat's last.
    let (r, again) = call(&mut s, &everyone(), 2, mark("u1"));
    assert!(r.is_ok());
    assert!(again.is_empty(), "{again:?}");
    let (_, other_side) = call(&mut s, &everyone(), 1, mark("u2"));
    assert!(other_side.is_empty(), "{other_side:?}");
    // Another chat is not affected.
    let (_, other_chat) = call(&mut s, &everyone(), 3, mark("u1"));
    assert_eq!(other_chat.len(), 1);
}
