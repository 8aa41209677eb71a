//! The Matrix profile's rules (docs/matrix.md, MX1..MX11), one family per section.

use super::*;
use crate::protocol::{AdminRequest, Conv, GroupType, Profile, ReceiptConfig};

const G: GroupId = GroupId(1);

fn u(i: u32) -> UserId {
    UserId(i)
}

/// Users 1..=6; group 1 (Community: no receipts under Tencent) of users 1, 2, 3.
fn model() -> Model {
    let mut m = Model::with_profile(ReceiptConfig::default(), Profile::Matrix);
    for i in 1..=6 {
        assert_eq!(
            m.admin(&AdminRequest::CreateUser { user: u(i) }),
            Response::AdminDone
        );
    }
    let g = AdminRequest::CreateGroup {
        group: G,
        group_type: GroupType::Community,
        members: vec![u(1), u(2), u(3)],
    };
    assert_eq!(m.admin(&g), Response::AdminDone);
    m
}

fn send(m: &mut Model, from: u32, conv: Conv, need: bool) -> MsgId {
    let req = Request::SendMessage {
        conv,
        need_read_receipt: need,
        body_len: 1,
    };
    match m.apply(0, u(from), &req, &mut Vec::new()) {
        Response::Sent { msg_id, .. } => msg_id,
        r => panic!("send refused: {r:?}"),
    }
}

fn receipts(m: &mut Model, by: u32, ids: &[MsgId]) -> (Vec<Result<(), ErrorCode>>, Vec<Delivery>) {
    let mut out = Vec::new();
    let req = Request::SendReadReceipts {
        msg_ids: ids.to_vec(),
    };
    match m.apply(0, u(by), &req, &mut out) {
        Response::ReceiptsSent { results } => {
            (results.into_iter().map(|r| r.result).collect(), out)
        }
        r => panic!("batch refused: {r:?}"),
    }
}

fn counts(m: &Model, id: MsgId) -> (u32, u32) {
    let v = m.message(id).unwrap();
    (v.read_count, v.audience_len - v.read_count)
}

fn admin(m: &mut Model, req: AdminRequest) {
    assert_eq!(m.admin(&req), Response::AdminDone);
}

fn list(m: &mut Model, by: u32, id: MsgId, filter: ReadFilter, page: u32) -> Vec<UserId> {
    let mut all = Vec::new();
    let mut next_seq = 0;
    loop {
        let req = Request::GetReadMemberList {
            msg_id: id,
            filter,
            next_seq,
            count: page,
        };
        let Response::MemberList {
            members,
            next_seq: n,
            is_finished,
        } = m.apply(0, u(by), &req, &mut Vec::new())
        else {
            panic!("list refused");
        };
        all.extend(members);
        next_seq = n;
        if is_finished {
            return all;
        }
    }
}

// ---- MX1 -----------------------------------------------------------------------------

#[test]
fn mx1_every_group_takes_receipts_whatever_the_config() {
    let mut m = model();
    let off = ReceiptConfig {
        enabled_types: vec![],
        max_group_size: 1,
    };
    admin(&mut m, AdminRequest::SetReceiptConfig { config: off });
    let id = send(&mut m, 1, Conv::Group(G), true);
    assert_eq!(counts(&m, id), (0, 2));
    // A receipt for a message that did not ask moves the marker all the same.
    let quiet = send(&mut m, 1, Conv::Group(G), false);
    let (r, out) = receipts(&mut m, 2, &[quiet]);
    assert_eq!(r, [Ok(())]);
    assert_eq!(m.marker(ConvKey::Group(G), u(2)), 2);
    // ... and the earlier message that asked is read, and its sender told.
    assert_eq!(counts(&m, id), (1, 1));
    assert_eq!(out.len(), 1);
}

// ---- MX2, MX3 ------------------------------------------------------------------------

#[test]
fn mx2_a_repeat_or_an_older_receipt_changes_nothing() {
    let mut m = model();
    let a = send(&mut m, 1, Conv::Group(G), true);
    let b = send(&mut m, 1, Conv::Group(G), true);
    let (_, out) = receipts(&mut m, 2, &[b]);
    assert_eq!(out.len(), 1);
    for ids in [[b], [a]] {
        let (r, out) = receipts(&mut m, 2, &ids);
        assert_eq!(r, [Ok(())]);
        assert!(out.is_empty(), "no push for a receipt that moves nothing");
    }
    assert_eq!(m.marker(ConvKey::Group(G), u(2)), 2, "never back");
}

#[test]
fn mx3_a_receipt_reads_every_earlier_message_but_never_the_senders_own() {
    let mut m = model();
    let a = send(&mut m, 1, Conv::Group(G), true);
    let own = send(&mut m, 2, Conv::Group(G), true);
    let c = send(&mut m, 1, Conv::Group(G), true);
    let (_, out) = receipts(&mut m, 2, &[c]);
    assert_eq!(counts(&m, a), (1, 1));
    assert_eq!(counts(&m, c), (1, 1));
    assert_eq!(
        counts(&m, own),
        (0, 2),
        "the sender is not a reader of its own"
    );
    // One push to user 1 with both its messages, ascending seq (MX7).
    assert_eq!(out.len(), 1);
    let Push::Receipts { entries } = &out[0].push else {
        panic!()
    };
    let ids: Vec<MsgId> = entries.iter().map(|e| e.msg_id()).collect();
    assert_eq!(ids, [a, c]);
}

// ---- MX4, MX5 ------------------------------------------------------------------------

#[test]
fn mx4_who_may_send_a_receipt() {
    let mut m = model();
    let before = send(&mut m, 1, Conv::Group(G), true);
    admin(
        &mut m,
        AdminRequest::AddMember {
            group: G,
            user: u(4),
        },
    );
    admin(
        &mut m,
        AdminRequest::RemoveMember {
            group: G,
            user: u(3),
        },
    );
    let after = send(&mut m, 1, Conv::Group(G), true);
    // Later joiner: yes, even for a message from before it joined.
    assert_eq!(receipts(&mut m, 4, &[before]).0, [Ok(())]);
    // Former member: for messages before its leave only.
    assert_eq!(receipts(&mut m, 3, &[before]).0, [Ok(())]);
    assert_eq!(
        receipts(&mut m, 3, &[after]).0,
        [Err(ErrorCode::NotInAudience)]
    );
    // Never a member: refused; an unknown id: success without effect.
    assert_eq!(
        receipts(&mut m, 5, &[before]).0,
        [Err(ErrorCode::NotInAudience)]
    );
    assert_eq!(receipts(&mut m, 5, &[MsgId(99)]).0, [Ok(())]);
    // The sender may mark its own message read.
    assert_eq!(receipts(&mut m, 1, &[after]).0, [Ok(())]);
    assert_eq!(m.marker(ConvKey::Group(G), u(1)), 2);
    // The leaver's marker moved but it does not count; the joiner does (MX6).
    assert_eq!(m.marker(ConvKey::Group(G), u(3)), 1);
    assert_eq!(counts(&m, before), (1, 1));
}

#[test]
fn mx4_a_third_party_of_a_pair_is_refused_both_parties_may() {
    let mut m = model();
    let id = send(&mut m, 1, Conv::C2c(u(5)), true);
    assert_eq!(
        receipts(&mut m, 6, &[id]).0,
        [Err(ErrorCode::NotInAudience)]
    );
    assert_eq!(receipts(&mut m, 1, &[id]).0, [Ok(())]);
    let (r, out) = receipts(&mut m, 5, &[id]);
    assert_eq!(r, [Ok(())]);
    assert_eq!(out.len(), 1);
    let entry = m.mx_entry(id, m.msg(id).unwrap());
    assert!(matches!(
        entry,
        ReceiptEntry::C2c {
            is_peer_read: true,
            ..
        }
    ));
}

#[test]
fn mx5_batches_may_mix_conversations_and_are_applied_in_order() {
    let mut m = model();
    let g = send(&mut m, 1, Conv::Group(G), true);
    let p = send(&mut m, 1, Conv::C2c(u(2)), true);
    let (r, out) = receipts(&mut m, 2, &[g, p, g]);
    assert_eq!(r, [Ok(()), Ok(()), Ok(())]);
    assert_eq!(out.len(), 2, "one push per receipt that moved a marker");
    let empty = Request::SendReadReceipts { msg_ids: vec![] };
    let r = m.apply(0, u(2), &empty, &mut Vec::new());
    assert_eq!(r.error_code(), Some(ErrorCode::BatchSize));
}

// ---- MX6, MX7 ------------------------------------------------------------------------

#[test]
fn mx6_counts_follow_the_current_membership() {
    let mut m = model();
    let id = send(&mut m, 1, Conv::Group(G), true);
    receipts(&mut m, 2, &[id]);
    assert_eq!(counts(&m, id), (1, 1));
    admin(
        &mut m,
        AdminRequest::AddMember {
            group: G,
            user: u(4),
        },
    );
    assert_eq!(counts(&m, id), (1, 2), "a later joiner is unread");
    admin(
        &mut m,
        AdminRequest::RemoveMember {
            group: G,
            user: u(2),
        },
    );
    assert_eq!(
        counts(&m, id),
        (0, 2),
        "a leaver drops out: counts may go down"
    );
    admin(
        &mut m,
        AdminRequest::AddMember {
            group: G,
            user: u(2),
        },
    );
    assert_eq!(counts(&m, id), (1, 2), "a rejoiner's marker counts again");
}

#[test]
fn mx7_a_former_member_moves_its_marker_but_nobody_is_told() {
    let mut m = model();
    let id = send(&mut m, 1, Conv::Group(G), true);
    admin(
        &mut m,
        AdminRequest::RemoveMember {
            group: G,
            user: u(3),
        },
    );
    let (r, out) = receipts(&mut m, 3, &[id]);
    assert_eq!(r, [Ok(())]);
    assert!(out.is_empty());
    // Messages that did not ask are never pushed.
    let quiet = send(&mut m, 1, Conv::Group(G), false);
    assert!(
        receipts(&mut m, 2, &[quiet]).1.len() == 1,
        "only the earlier asking one"
    );
}

// ---- MX8 -----------------------------------------------------------------------------

#[test]
fn mx8_both_lists_ascend_by_user_id_with_a_user_id_cursor() {
    let mut m = model();
    for i in 4..=6 {
        admin(
            &mut m,
            AdminRequest::AddMember {
                group: G,
                user: u(i),
            },
        );
    }
    let id = send(&mut m, 1, Conv::Group(G), true);
    for r in [6, 3, 5] {
        receipts(&mut m, r, &[id]);
    }
    assert_eq!(list(&mut m, 1, id, ReadFilter::Read, 2), [u(3), u(5), u(6)]);
    assert_eq!(list(&mut m, 1, id, ReadFilter::Unread, 1), [u(2), u(4)]);
    let page = Request::GetReadMemberList {
        msg_id: id,
        filter: ReadFilter::Read,
        next_seq: 4,
        count: 1,
    };
    let r = m.apply(0, u(1), &page, &mut Vec::new());
    assert_eq!(
        r,
        Response::MemberList {
            members: vec![u(5)],
            next_seq: 6,
            is_finished: false
        }
    );
    let r = m.apply(0, u(2), &page, &mut Vec::new());
    assert_eq!(r.error_code(), Some(ErrorCode::NotMessageSender));
}

// ---- MX9, MX10 -----------------------------------------------------------------------

#[test]
fn mx9_a_mark_reads_the_latest_message_and_pushes_no_c2c_read() {
    let mut m = model();
    let a = send(&mut m, 1, Conv::C2c(u(2)), true);
    let b = send(&mut m, 1, Conv::C2c(u(2)), false);
    let mut out = Vec::new();
    let r = m.apply(5_000, u(2), &Request::MarkC2cRead { peer: u(1) }, &mut out);
    assert_eq!(r, Response::MarkedRead { timestamp_ms: 5 });
    assert_eq!(m.marker(ConvKey::Pair(u(1), u(2)), u(2)), 2);
    assert_eq!(counts(&m, a), (1, 0));
    assert_eq!(counts(&m, b), (1, 0));
    // Only the message that asked is pushed, as a receipt.
    assert_eq!(out.len(), 1);
    assert!(matches!(out[0].push, Push::Receipts { .. }));
    let later = send(&mut m, 1, Conv::C2c(u(2)), true);
    assert_eq!(
        counts(&m, later),
        (0, 1),
        "a mark covers nothing sent after it"
    );
}

#[test]
fn mx10_a_leaver_reads_the_history_up_to_its_leave() {
    let mut m = model();
    let before = send(&mut m, 1, Conv::Group(G), false);
    admin(
        &mut m,
        AdminRequest::RemoveMember {
            group: G,
            user: u(3),
        },
    );
    send(&mut m, 1, Conv::Group(G), false);
    let req = Request::GetHistory {
        conv: Conv::Group(G),
        before_seq: 0,
        count: 10,
    };
    let Response::History { messages } = m.apply(0, u(3), &req, &mut Vec::new()) else {
        panic!()
    };
    let ids: Vec<MsgId> = messages.iter().map(|h| h.msg_id).collect();
    assert_eq!(ids, [before]);
    let r = m.apply(0, u(5), &req, &mut Vec::new());
    assert_eq!(r.error_code(), Some(ErrorCode::NotConversationParty));
}

// ---- MX11 ----------------------------------------------------------------------------

fn pull(m: &mut Model, by: u32, ids: &[MsgId]) -> Vec<Result<ReceiptEntry, ErrorCode>> {
    let req = Request::GetReadReceipts {
        msg_ids: ids.to_vec(),
    };
    match m.apply(0, u(by), &req, &mut Vec::new()) {
        Response::ReadReceipts { entries } => entries.into_iter().map(|e| e.result).collect(),
        r => panic!("pull refused: {r:?}"),
    }
}

fn first_page(m: &mut Model, by: u32, id: MsgId) -> Response {
    let req = Request::GetReadMemberList {
        msg_id: id,
        filter: ReadFilter::Read,
        next_seq: 0,
        count: 10,
    };
    m.apply(0, u(by), &req, &mut Vec::new())
}

fn leave(m: &mut Model, who: u32) {
    admin(
        m,
        AdminRequest::RemoveMember {
            group: G,
            user: u(who),
        },
    );
}

#[test]
fn mx11_a_sender_who_left_may_pull_nothing_and_is_told_nothing() {
    let mut m = model();
    let asked = send(&mut m, 3, Conv::Group(G), true);
    let quiet = send(&mut m, 3, Conv::Group(G), false);
    leave(&mut m, 3);
    let gone = Err(ErrorCode::NotConversationParty);
    // Membership comes before RECEIPT_NOT_REQUESTED; the sender check before membership.
    assert_eq!(pull(&mut m, 3, &[asked, quiet]), [gone, gone]);
    assert_eq!(
        pull(&mut m, 2, &[asked]),
        [Err(ErrorCode::NotMessageSender)]
    );
    let r = first_page(&mut m, 3, asked);
    assert_eq!(r.error_code(), Some(ErrorCode::NotConversationParty));
    let r = first_page(&mut m, 3, quiet);
    assert_eq!(r.error_code(), Some(ErrorCode::NotConversationParty));
    // A reader still moves its marker and counts, but nobody is pushed: the sender is gone.
    let (r, out) = receipts(&mut m, 2, &[asked]);
    assert_eq!(r, [Ok(())]);
    assert!(out.is_empty(), "no push to a sender who left: {out:?}");
    assert_eq!(counts(&m, asked), (1, 1));
    // Back in the group, the sender pulls again and sees what happened meanwhile.
    admin(
        &mut m,
        AdminRequest::AddMember {
            group: G,
            user: u(3),
        },
    );
    let [Ok(ReceiptEntry::Group { read_count, .. })] = pull(&mut m, 3, &[asked])[..] else {
        panic!("a rejoined sender pulls its counts")
    };
    assert_eq!(read_count, 1);
    assert!(matches!(
        first_page(&mut m, 3, asked),
        Response::MemberList { .. }
    ));
}

#[test]
fn mx11_one_to_one_senders_keep_access_and_outsiders_learn_nothing() {
    let mut m = model();
    let id = send(&mut m, 1, Conv::C2c(u(5)), true);
    assert!(pull(&mut m, 1, &[id])[0].is_ok());
    let r = first_page(&mut m, 1, id);
    assert_eq!(r.error_code(), Some(ErrorCode::NotGroupMessage));
    // A never-member of the group: MESSAGE_NOT_FOUND comes first (MX4's visibility).
    let g = send(&mut m, 1, Conv::Group(G), true);
    assert_eq!(pull(&mut m, 6, &[g]), [Err(ErrorCode::MessageNotFound)]);
    assert_eq!(
        first_page(&mut m, 6, g).error_code(),
        Some(ErrorCode::MessageNotFound)
    );
}

#[test]
fn the_tencent_profile_is_untouched() {
    let mut m = Model::new(ReceiptConfig::default());
    assert_eq!(m.profile(), Profile::Tencent);
    m.admin(&AdminRequest::CreateUser { user: u(1) });
    let g = AdminRequest::CreateGroup {
        group: G,
        group_type: GroupType::Community,
        members: vec![u(1)],
    };
    m.admin(&g);
    let req = Request::SendMessage {
        conv: Conv::Group(G),
        need_read_receipt: true,
        body_len: 1,
    };
    let r = m.apply(0, u(1), &req, &mut Vec::new());
    assert_eq!(
        r.error_code(),
        Some(ErrorCode::ReceiptsDisabledForGroupType)
    );
}
