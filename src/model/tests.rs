//! Unit tests of the reference model, one group per rule of docs/semantics.md.
//! Each test is named after the rule it checks; docs/semantics.md points back at these names.

use super::*;
use crate::protocol::{
    AdminRequest, Conv, ErrorCode, GroupId, GroupType, HistoryMessage, MsgId, Push, ReadFilter,
    ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn u(i: u32) -> UserId {
    UserId(i)
}

fn g(i: u32) -> GroupId {
    GroupId(i)
}

fn users(ids: &[u32]) -> Vec<UserId> {
    ids.iter().copied().map(UserId).collect()
}

/// A model plus a clock that advances one millisecond per call, and the pushes of the last call.
struct H {
    m: Model,
    now: Micros,
    pushes: Vec<Delivery>,
}

impl H {
    /// A model with users `0..n` and the default receipt configuration.
    fn new(n: u32) -> H {
        H::with_config(n, ReceiptConfig::default())
    }

    fn with_config(n: u32, config: ReceiptConfig) -> H {
        let mut m = Model::new(config);
        for i in 0..n {
            assert_eq!(
                m.admin(&AdminRequest::CreateUser { user: u(i) }),
                Response::AdminDone
            );
        }
        H {
            m,
            now: 1_000_000,
            pushes: Vec::new(),
        }
    }

    fn admin(&mut self, req: AdminRequest) -> Response {
        self.m.admin(&req)
    }

    fn group(&mut self, id: u32, t: GroupType, members: &[u32]) {
        let r = self.admin(AdminRequest::CreateGroup {
            group: g(id),
            group_type: t,
            members: users(members),
        });
        assert_eq!(r, Response::AdminDone);
    }

    fn add(&mut self, group: u32, user: u32) {
        let r = self.admin(AdminRequest::AddMember {
            group: g(group),
            user: u(user),
        });
        assert_eq!(r, Response::AdminDone);
    }

    fn remove(&mut self, group: u32, user: u32) {
        let r = self.admin(AdminRequest::RemoveMember {
            group: g(group),
            user: u(user),
        });
        assert_eq!(r, Response::AdminDone);
    }

    /// Calls the model as `user`, one millisecond after the previous call.
    fn call(&mut self, user: u32, req: Request) -> Response {
        self.now += 1000;
        self.call_at(self.now, user, req)
    }

    fn call_at(&mut self, now: Micros, user: u32, req: Request) -> Response {
        self.pushes.clear();
        self.m.apply(now, u(user), &req, &mut self.pushes)
    }

    fn try_send(&mut self, user: u32, conv: Conv, need: bool) -> Response {
        self.call(
            user,
            Request::SendMessage {
                conv,
                need_read_receipt: need,
                body_len: 10,
            },
        )
    }

    fn send(&mut self, user: u32, conv: Conv, need: bool) -> MsgId {
        match self.try_send(user, conv, need) {
            Response::Sent { msg_id, .. } => msg_id,
            other => panic!("send failed: {other:?}"),
        }
    }

    fn read_resp(&mut self, user: u32, ids: &[MsgId]) -> Response {
        self.call(
            user,
            Request::SendReadReceipts {
                msg_ids: ids.to_vec(),
            },
        )
    }

    /// Per-message results of a receipt batch that must be accepted as a whole.
    fn read(&mut self, user: u32, ids: &[MsgId]) -> Vec<Result<(), ErrorCode>> {
        match self.read_resp(user, ids) {
            Response::ReceiptsSent { results } => {
                assert_eq!(
                    results.iter().map(|r| r.msg_id).collect::<Vec<_>>(),
                    ids,
                    "one result per id, in request order"
                );
                results.into_iter().map(|r| r.result).collect()
            }
            other => panic!("receipt batch rejected: {other:?}"),
        }
    }

    fn get_resp(&mut self, user: u32, ids: &[MsgId]) -> Response {
        self.call(
            user,
            Request::GetReadReceipts {
                msg_ids: ids.to_vec(),
            },
        )
    }

    fn get(&mut self, user: u32, ids: &[MsgId]) -> Vec<Result<ReceiptEntry, ErrorCode>> {
        match self.get_resp(user, ids) {
            Response::ReadReceipts { entries } => {
                assert_eq!(
                    entries.iter().map(|e| e.msg_id).collect::<Vec<_>>(),
                    ids,
                    "one entry per id, in request order"
                );
                assert!(self.pushes.is_empty(), "a pull pushes nothing");
                entries.into_iter().map(|e| e.result).collect()
            }
            other => panic!("receipt pull rejected: {other:?}"),
        }
    }

    /// (read_count, unread_count) of a group message, pulled by its sender.
    fn counts(&mut self, sender: u32, id: MsgId) -> (u32, u32) {
        match self.get(sender, &[id]).remove(0) {
            Ok(ReceiptEntry::Group {
                read_count,
                unread_count,
                ..
            }) => (read_count, unread_count),
            other => panic!("not a group entry: {other:?}"),
        }
    }

    fn peer_read(&mut self, sender: u32, id: MsgId) -> bool {
        match self.get(sender, &[id]).remove(0) {
            Ok(ReceiptEntry::C2c { is_peer_read, .. }) => is_peer_read,
            other => panic!("not a C2C entry: {other:?}"),
        }
    }

    fn page(
        &mut self,
        user: u32,
        id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> Response {
        self.call(
            user,
            Request::GetReadMemberList {
                msg_id: id,
                filter,
                next_seq,
                count,
            },
        )
    }

    /// One page that must succeed: (members, next_seq, is_finished).
    fn page_ok(
        &mut self,
        user: u32,
        id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> (Vec<UserId>, u64, bool) {
        match self.page(user, id, filter, next_seq, count) {
            Response::MemberList {
                members,
                next_seq,
                is_finished,
            } => (members, next_seq, is_finished),
            other => panic!("member list failed: {other:?}"),
        }
    }

    /// The whole list, paged with page size `k`.
    fn list_all(&mut self, user: u32, id: MsgId, filter: ReadFilter, k: u32) -> Vec<UserId> {
        let mut all = Vec::new();
        let mut cursor = 0;
        for _ in 0..10_000 {
            let (members, next, done) = self.page_ok(user, id, filter, cursor, k);
            assert!(members.len() <= k as usize);
            all.extend(members);
            cursor = next;
            if done {
                return all;
            }
        }
        panic!("paging never finished");
    }

    fn mark(&mut self, user: u32, peer: u32) -> Response {
        self.call(user, Request::MarkC2cRead { peer: u(peer) })
    }

    fn history(&mut self, user: u32, conv: Conv, before_seq: u64, count: u32) -> Response {
        self.call(
            user,
            Request::GetHistory {
                conv,
                before_seq,
                count,
            },
        )
    }

    fn history_ok(
        &mut self,
        user: u32,
        conv: Conv,
        before_seq: u64,
        count: u32,
    ) -> Vec<HistoryMessage> {
        match self.history(user, conv, before_seq, count) {
            Response::History { messages } => messages,
            other => panic!("history failed: {other:?}"),
        }
    }
}

fn err(code: ErrorCode) -> Response {
    Response::Error { code }
}

fn receipt_pushes(pushes: &[Delivery]) -> Vec<(UserId, Vec<ReceiptEntry>)> {
    pushes
        .iter()
        .filter_map(|d| match &d.push {
            Push::Receipts { entries } => Some((d.to, entries.clone())),
            _ => None,
        })
        .collect()
}

fn group_entry(id: MsgId, group: u32, read: u32, unread: u32) -> ReceiptEntry {
    ReceiptEntry::Group {
        msg_id: id,
        group_id: g(group),
        read_count: read,
        unread_count: unread,
    }
}

/// Users 0..6, group 1 (Work) = {0,1,2,3}.
fn work_group() -> H {
    let mut h = H::new(6);
    h.group(1, GroupType::Work, &[0, 1, 2, 3]);
    h
}

// ---------------------------------------------------------------------------------------------
// send_message
// ---------------------------------------------------------------------------------------------

#[test]
fn send_group_by_non_member_is_not_group_member_and_stores_nothing() {
    let mut h = work_group();
    assert_eq!(
        h.try_send(4, Conv::Group(g(1)), false),
        err(ErrorCode::NotGroupMember)
    );
    assert_eq!(
        h.try_send(4, Conv::Group(g(1)), true),
        err(ErrorCode::NotGroupMember)
    );
    assert!(h.pushes.is_empty());
    assert_eq!(h.m.message_count(), 0);
    // A member's next send gets the first id and seq.
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), false),
        Response::Sent {
            msg_id: MsgId(1),
            seq: 1,
            timestamp_ms: h.now / 1000
        }
    );
}

#[test]
fn send_errors_unknown_group_user_and_self_conversation() {
    let mut h = work_group();
    assert_eq!(
        h.try_send(0, Conv::Group(g(9)), false),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        h.try_send(0, Conv::C2c(u(0)), false),
        err(ErrorCode::SelfConversation)
    );
    assert_eq!(
        h.try_send(0, Conv::C2c(u(77)), false),
        err(ErrorCode::UserNotFound)
    );
    // The acting user must exist, whatever the request.
    assert_eq!(
        h.try_send(77, Conv::C2c(u(0)), false),
        err(ErrorCode::UserNotFound)
    );
    assert_eq!(h.m.message_count(), 0);
    assert!(h.pushes.is_empty());
}

#[test]
fn need_read_receipt_rejected_for_group_type_disabled_in_config() {
    let config = ReceiptConfig {
        enabled_types: vec![GroupType::Work],
        max_group_size: 200,
    };
    let mut h = H::with_config(4, config);
    h.group(1, GroupType::Public, &[0, 1, 2]);
    h.group(2, GroupType::Meeting, &[0, 1, 2]);
    h.group(3, GroupType::Work, &[0, 1, 2]);
    for gid in [1, 2] {
        assert_eq!(
            h.try_send(0, Conv::Group(g(gid)), true),
            err(ErrorCode::ReceiptsDisabledForGroupType)
        );
        assert!(h.pushes.is_empty(), "rejected send pushes nothing");
    }
    assert_eq!(h.m.message_count(), 0, "rejected send stores nothing");
    // Without receipts the same groups take messages, and their seq starts at 1.
    assert!(matches!(
        h.try_send(0, Conv::Group(g(1)), false),
        Response::Sent {
            seq: 1,
            msg_id: MsgId(1),
            ..
        }
    ));
    assert!(matches!(
        h.try_send(0, Conv::Group(g(3)), true),
        Response::Sent {
            seq: 1,
            msg_id: MsgId(2),
            ..
        }
    ));
}

#[test]
fn need_read_receipt_never_allowed_for_community_and_avchatroom_even_if_enabled() {
    let config = ReceiptConfig {
        enabled_types: GroupType::ALL.to_vec(),
        max_group_size: 200,
    };
    let mut h = H::with_config(3, config);
    h.group(1, GroupType::Community, &[0, 1, 2]);
    h.group(2, GroupType::AVChatRoom, &[0, 1, 2]);
    h.group(3, GroupType::Meeting, &[0, 1, 2]);
    for gid in [1, 2] {
        assert_eq!(
            h.try_send(0, Conv::Group(g(gid)), true),
            err(ErrorCode::ReceiptsDisabledForGroupType)
        );
        assert!(h.pushes.is_empty());
    }
    assert_eq!(h.m.message_count(), 0);
    // Plain messages are fine there; Meeting (enabled) takes receipts.
    h.send(0, Conv::Group(g(1)), false);
    h.send(0, Conv::Group(g(2)), false);
    h.send(0, Conv::Group(g(3)), true);
    // Config set later through the admin API is honoured the same way.
    let r = h.admin(AdminRequest::SetReceiptConfig {
        config: ReceiptConfig {
            enabled_types: vec![GroupType::AVChatRoom, GroupType::Community],
            max_group_size: 200,
        },
    });
    assert_eq!(r, Response::AdminDone);
    assert_eq!(
        h.try_send(0, Conv::Group(g(2)), true),
        err(ErrorCode::ReceiptsDisabledForGroupType)
    );
    assert_eq!(
        h.try_send(0, Conv::Group(g(3)), true),
        err(ErrorCode::ReceiptsDisabledForGroupType)
    );
}

#[test]
fn need_read_receipt_rejected_over_max_group_size_and_nothing_stored() {
    let config = ReceiptConfig {
        max_group_size: 3,
        ..ReceiptConfig::default()
    };
    let mut h = H::with_config(5, config);
    h.group(1, GroupType::Work, &[0, 1, 2, 3]); // 4 members, sender included
    h.group(2, GroupType::Work, &[0, 1, 2]); // exactly the limit
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), true),
        err(ErrorCode::GroupTooLargeForReceipts)
    );
    assert!(
        h.pushes.is_empty(),
        "no new_message push for a rejected send"
    );
    assert_eq!(h.m.message_count(), 0);
    assert!(
        h.history_ok(1, Conv::Group(g(1)), 0, 100).is_empty(),
        "nothing stored"
    );
    // At the limit it works ("at most" members).
    h.send(0, Conv::Group(g(2)), true);
    // Plain messages are not limited, and the rejected send consumed no seq.
    assert!(matches!(
        h.try_send(0, Conv::Group(g(1)), false),
        Response::Sent { seq: 1, .. }
    ));
    // The size counted is the size at send time.
    h.remove(1, 3);
    assert!(matches!(
        h.try_send(0, Conv::Group(g(1)), true),
        Response::Sent { seq: 2, .. }
    ));
    h.add(1, 4);
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), true),
        err(ErrorCode::GroupTooLargeForReceipts)
    );
}

#[test]
fn config_and_size_changes_apply_to_later_sends_only() {
    let config = ReceiptConfig {
        max_group_size: 3,
        ..ReceiptConfig::default()
    };
    let mut h = H::with_config(6, config);
    h.group(1, GroupType::Work, &[0, 1, 2]);
    let id = h.send(0, Conv::Group(g(1)), true);
    // Switch Work off and let the group outgrow the limit: the message keeps its receipts.
    h.admin(AdminRequest::SetReceiptConfig {
        config: ReceiptConfig {
            enabled_types: vec![GroupType::Public],
            max_group_size: 3,
        },
    });
    h.add(1, 3);
    h.add(1, 4);
    assert_eq!(h.read(1, &[id]), vec![Ok(())]);
    assert_eq!(h.counts(0, id), (1, 1));
    assert_eq!(h.list_all(0, id, ReadFilter::Unread, 10), users(&[2]));
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), true),
        err(ErrorCode::ReceiptsDisabledForGroupType)
    );
}

#[test]
fn disabled_type_is_checked_before_group_size() {
    let config = ReceiptConfig {
        enabled_types: vec![],
        max_group_size: 1,
    };
    let mut h = H::with_config(3, config);
    h.group(1, GroupType::Work, &[0, 1, 2]);
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), true),
        err(ErrorCode::ReceiptsDisabledForGroupType)
    );
}

#[test]
fn c2c_receipts_need_no_configuration() {
    let config = ReceiptConfig {
        enabled_types: vec![],
        max_group_size: 0,
    };
    let mut h = H::with_config(2, config);
    let m = h.send(0, Conv::C2c(u(1)), true);
    assert_eq!(h.read(1, &[m]), vec![Ok(())]);
    assert!(h.peer_read(0, m));
}

#[test]
fn new_message_pushes_go_to_audience_only_not_sender() {
    let mut h = work_group();
    let id = h.send(2, Conv::Group(g(1)), true);
    let ts = h.now / 1000;
    let to: Vec<UserId> = h.pushes.iter().map(|d| d.to).collect();
    assert_eq!(
        to,
        users(&[0, 1, 3]),
        "every member but the sender, nobody else"
    );
    for d in &h.pushes {
        assert_eq!(
            d.push,
            Push::NewMessage {
                msg_id: id,
                conv: Conv::Group(g(1)),
                sender: u(2),
                seq: 1,
                timestamp_ms: ts,
                need_read_receipt: true,
            }
        );
    }
    // C2C: the peer only, naming the conversation by the sender.
    let c = h.send(4, Conv::C2c(u(5)), false);
    assert_eq!(
        h.pushes,
        vec![Delivery {
            to: u(5),
            push: Push::NewMessage {
                msg_id: c,
                conv: Conv::C2c(u(4)),
                sender: u(4),
                seq: 1,
                timestamp_ms: h.now / 1000,
                need_read_receipt: false,
            }
        }]
    );
}

#[test]
fn seq_strictly_increasing_gap_free_per_conversation() {
    let mut h = work_group();
    h.group(2, GroupType::Public, &[0, 4, 5]);
    let mut expect: BTreeMap<&str, u64> = BTreeMap::new();
    let mut last_id = 0;
    // Interleave conversations, both C2C directions, and failed sends in between.
    let plan: &[(u32, Conv, bool, &str)] = &[
        (0, Conv::Group(g(1)), true, "g1"),
        (0, Conv::C2c(u(1)), false, "c01"),
        (4, Conv::Group(g(1)), false, "fail"),
        (1, Conv::C2c(u(0)), true, "c01"),
        (4, Conv::Group(g(2)), true, "g2"),
        (1, Conv::Group(g(1)), false, "g1"),
        (0, Conv::C2c(u(0)), false, "fail"),
        (5, Conv::Group(g(2)), false, "g2"),
        (3, Conv::Group(g(1)), true, "g1"),
        (2, Conv::C2c(u(5)), true, "c25"),
        (0, Conv::C2c(u(1)), true, "c01"),
    ];
    for &(sender, conv, need, key) in plan {
        let r = h.try_send(sender, conv, need);
        if key == "fail" {
            assert!(r.error_code().is_some());
            continue;
        }
        let Response::Sent { msg_id, seq, .. } = r else {
            panic!("{r:?}")
        };
        let e = expect.entry(key).or_insert(0);
        *e += 1;
        assert_eq!(seq, *e, "{key}: seq is gap-free");
        assert_eq!(msg_id.0, last_id + 1, "message ids are unique and dense");
        last_id = msg_id.0;
    }
    // History shows the same seqs without gaps, newest first.
    let seqs: Vec<u64> = h
        .history_ok(1, Conv::Group(g(1)), 0, 100)
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, vec![3, 2, 1]);
    let seqs: Vec<u64> = h
        .history_ok(1, Conv::C2c(u(0)), 0, 100)
        .iter()
        .map(|m| m.seq)
        .collect();
    assert_eq!(seqs, vec![3, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// send_message_read_receipts: batch rules
// ---------------------------------------------------------------------------------------------

#[test]
fn receipt_batch_empty_or_over_100_is_batch_size() {
    let mut h = work_group();
    let id = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.read_resp(1, &[]), err(ErrorCode::BatchSize));
    assert_eq!(h.read_resp(1, &vec![id; 101]), err(ErrorCode::BatchSize));
    assert!(h.pushes.is_empty());
    assert_eq!(h.counts(0, id), (0, 3), "a rejected batch changes nothing");
    // 100 is allowed (duplicates of one id are idempotent).
    assert_eq!(h.read(1, &vec![id; 100]), vec![Ok(()); 100]);
    assert_eq!(h.counts(0, id), (1, 2));
    // Same batch rules for the pull.
    assert_eq!(h.get_resp(0, &[]), err(ErrorCode::BatchSize));
    assert_eq!(h.get_resp(0, &vec![id; 101]), err(ErrorCode::BatchSize));
    assert_eq!(h.get(0, &vec![id; 100]).len(), 100);
}

#[test]
fn receipt_batch_mixed_conversations_rejects_whole_batch() {
    let mut h = work_group();
    h.group(2, GroupType::Work, &[0, 1]);
    let a = h.send(0, Conv::Group(g(1)), true);
    let b = h.send(0, Conv::Group(g(2)), true);
    let c = h.send(0, Conv::C2c(u(1)), true);
    for batch in [vec![a, b], vec![a, c], vec![c, b], vec![a, a, b]] {
        assert_eq!(h.read_resp(1, &batch), err(ErrorCode::MixedConversations));
        assert!(h.pushes.is_empty());
        assert_eq!(h.get_resp(0, &batch), err(ErrorCode::MixedConversations));
    }
    assert_eq!(h.counts(0, a), (0, 3));
    assert_eq!(h.counts(0, b), (0, 1));
    assert!(!h.peer_read(0, c));
}

#[test]
fn receipt_unknown_id_is_per_message_message_not_found() {
    let mut h = work_group();
    let a = h.send(0, Conv::Group(g(1)), true);
    let b = h.send(0, Conv::C2c(u(1)), true);
    // Unknown ids do not count as another conversation.
    assert_eq!(
        h.read(1, &[MsgId(0), a, MsgId(999)]),
        vec![
            Err(ErrorCode::MessageNotFound),
            Ok(()),
            Err(ErrorCode::MessageNotFound)
        ]
    );
    assert_eq!(h.counts(0, a), (1, 2));
    assert_eq!(
        h.read(1, &[MsgId(u64::MAX), b]),
        vec![Err(ErrorCode::MessageNotFound), Ok(())]
    );
    assert_eq!(
        h.get(0, &[MsgId(42), a]),
        vec![Err(ErrorCode::MessageNotFound), Ok(group_entry(a, 1, 1, 2))]
    );
}

// ---------------------------------------------------------------------------------------------
// send_message_read_receipts: per-message rules
// ---------------------------------------------------------------------------------------------

#[test]
fn receipt_not_in_audience_non_member_later_joiner_and_sender() {
    let mut h = work_group();
    let id = h.send(0, Conv::Group(g(1)), true);
    h.add(1, 4); // joins after the send
    // A non-member may not learn the message exists (E1): the answer for an unknown id.
    assert_eq!(
        h.read(5, &[id]),
        vec![Err(ErrorCode::MessageNotFound)],
        "non-member"
    );
    assert_eq!(
        h.read(4, &[id]),
        vec![Err(ErrorCode::NotInAudience)],
        "later joiner"
    );
    assert_eq!(
        h.read(0, &[id]),
        vec![Err(ErrorCode::NotInAudience)],
        "sender"
    );
    assert!(h.pushes.is_empty());
    assert_eq!(h.counts(0, id), (0, 3));
    // C2C: the sender itself is not the audience; a third party does not see the message.
    let c = h.send(0, Conv::C2c(u(1)), true);
    assert_eq!(h.read(0, &[c]), vec![Err(ErrorCode::NotInAudience)]);
    assert_eq!(h.read(2, &[c]), vec![Err(ErrorCode::MessageNotFound)]);
    assert!(!h.peer_read(0, c));
}

#[test]
fn outsiders_get_the_answer_for_an_unknown_id() {
    let mut h = work_group();
    h.group(2, GroupType::Work, &[4, 5]);
    let a = h.send(0, Conv::Group(g(1)), true);
    let c = h.send(0, Conv::C2c(u(1)), true);
    let theirs = h.send(4, Conv::Group(g(2)), true);
    let unknown = MsgId(999);
    // u5 is in neither g1 nor the 1:1 chat: every probe answers as for an unknown id.
    for id in [a, c] {
        assert_eq!(h.get(5, &[id]), h.get(5, &[unknown]));
        assert_eq!(h.read(5, &[id]), h.read(5, &[unknown]));
        for f in [ReadFilter::Read, ReadFilter::Unread] {
            assert_eq!(h.page(5, id, f, 0, 10), h.page(5, unknown, f, 0, 10));
        }
    }
    assert_eq!(h.get(5, &[a]), vec![Err(ErrorCode::MessageNotFound)]);
    // Ids of conversations the caller is not in do not make a batch mixed.
    assert_eq!(
        h.get(4, &[theirs, a, c]),
        vec![
            Ok(group_entry(theirs, 2, 0, 1)),
            Err(ErrorCode::MessageNotFound),
            Err(ErrorCode::MessageNotFound)
        ]
    );
    assert_eq!(
        h.read(5, &[theirs, a]),
        vec![Ok(()), Err(ErrorCode::MessageNotFound)]
    );
    assert_eq!(h.counts(0, a), (0, 3));
    // Members (current ones included, who may read the history) still get the real answer.
    assert_eq!(h.get(1, &[a]), vec![Err(ErrorCode::NotMessageSender)]);
    h.add(1, 5);
    assert_eq!(h.get(5, &[a]), vec![Err(ErrorCode::NotMessageSender)]);
    assert_eq!(h.read(5, &[a]), vec![Err(ErrorCode::NotInAudience)]);
    // A leaver who was in the audience still sees it; the sender always does (P3).
    h.remove(1, 1);
    assert_eq!(h.read(1, &[a]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    h.remove(1, 0);
    assert_eq!(h.get(0, &[a]), vec![Ok(group_entry(a, 1, 0, 3))]);
}

#[test]
fn receipt_not_requested_changes_nothing() {
    let mut h = work_group();
    let id = h.send(0, Conv::Group(g(1)), false);
    let c = h.send(0, Conv::C2c(u(1)), false);
    assert_eq!(h.read(1, &[id]), vec![Err(ErrorCode::ReceiptNotRequested)]);
    assert_eq!(h.read(1, &[c]), vec![Err(ErrorCode::ReceiptNotRequested)]);
    assert!(h.pushes.is_empty());
    assert_eq!(h.m.message(id).unwrap().read_count, 0);
    assert_eq!(h.m.message(c).unwrap().read_count, 0);
}

#[test]
fn receipt_reader_left_group_still_counted_unread_and_earlier_read_stays() {
    let mut h = work_group();
    let id = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.read(2, &[id]), vec![Ok(())]);
    h.remove(1, 2); // read, then left
    h.remove(1, 3); // left without reading
    assert_eq!(h.read(3, &[id]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    assert!(h.pushes.is_empty());
    assert_eq!(
        h.counts(0, id),
        (1, 2),
        "audience is the snapshot: leavers still count"
    );
    assert_eq!(h.list_all(0, id, ReadFilter::Read, 10), users(&[2]));
    assert_eq!(h.list_all(0, id, ReadFilter::Unread, 10), users(&[1, 3]));
    // Even a repeat of the receipt given before leaving is refused now.
    assert_eq!(h.read(2, &[id]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    assert_eq!(h.counts(0, id), (1, 2));
}

#[test]
fn rejoined_leaver_in_snapshot_may_send_receipts_again() {
    let mut h = work_group();
    let id = h.send(0, Conv::Group(g(1)), true);
    h.remove(1, 3);
    assert_eq!(h.read(3, &[id]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    h.add(1, 3);
    assert_eq!(h.read(3, &[id]), vec![Ok(())]);
    assert_eq!(h.counts(0, id), (1, 2));
}

#[test]
fn receipt_per_message_error_order_audience_then_requested_then_left() {
    let mut h = work_group();
    let plain = h.send(0, Conv::Group(g(1)), false);
    h.remove(1, 1);
    h.add(1, 4);
    // Not in audience and not requested: NOT_IN_AUDIENCE wins.
    assert_eq!(h.read(4, &[plain]), vec![Err(ErrorCode::NotInAudience)]);
    assert_eq!(h.read(0, &[plain]), vec![Err(ErrorCode::NotInAudience)]);
    // Left and not requested: RECEIPT_NOT_REQUESTED wins.
    assert_eq!(
        h.read(1, &[plain]),
        vec![Err(ErrorCode::ReceiptNotRequested)]
    );
}

#[test]
fn repeated_receipt_is_idempotent_success_without_second_push() {
    let mut h = work_group();
    let id = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.read(1, &[id]), vec![Ok(())]);
    assert_eq!(receipt_pushes(&h.pushes).len(), 1);
    assert_eq!(h.read(1, &[id]), vec![Ok(())]);
    assert!(h.pushes.is_empty(), "no second notification");
    // A duplicate inside one batch: both succeed, one entry is pushed.
    let id2 = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.read(2, &[id2, id2]), vec![Ok(()), Ok(())]);
    assert_eq!(
        receipt_pushes(&h.pushes),
        vec![(u(0), vec![group_entry(id2, 1, 1, 2)])]
    );
    assert_eq!(h.counts(0, id), (1, 2));
    assert_eq!(h.list_all(0, id, ReadFilter::Read, 5), users(&[1]));
}

#[test]
fn receipt_push_goes_to_sender_with_read_plus_unread_equal_audience() {
    let mut h = work_group();
    let id = h.send(1, Conv::Group(g(1)), true);
    for (i, reader) in [3, 0, 2].into_iter().enumerate() {
        assert_eq!(h.read(reader, &[id]), vec![Ok(())]);
        let read = i as u32 + 1;
        assert_eq!(
            h.pushes,
            vec![Delivery {
                to: u(1),
                push: Push::Receipts {
                    entries: vec![group_entry(id, 1, read, 3 - read)]
                }
            }]
        );
    }
}

#[test]
fn one_receipt_push_per_sender_per_batch() {
    let mut h = work_group();
    let a1 = h.send(0, Conv::Group(g(1)), true);
    let b1 = h.send(1, Conv::Group(g(1)), true);
    let a2 = h.send(0, Conv::Group(g(1)), true);
    let a3 = h.send(0, Conv::Group(g(1)), true);
    let plain = h.send(0, Conv::Group(g(1)), false);
    assert_eq!(h.read(2, &[a3]), vec![Ok(())]); // already read before the batch
    let results = h.read(2, &[a1, b1, plain, a2, a3]);
    assert_eq!(
        results,
        vec![
            Ok(()),
            Ok(()),
            Err(ErrorCode::ReceiptNotRequested),
            Ok(()),
            Ok(())
        ]
    );
    // Senders in ascending id order; only new receipts, in batch order.
    assert_eq!(
        receipt_pushes(&h.pushes),
        vec![
            (
                u(0),
                vec![group_entry(a1, 1, 1, 2), group_entry(a2, 1, 1, 2)]
            ),
            (u(1), vec![group_entry(b1, 1, 1, 2)]),
        ]
    );
    assert_eq!(h.pushes.len(), 2, "nothing but the two receipt pushes");
    // A batch of only errors and repeats pushes nothing.
    h.read(2, &[a1, plain, MsgId(999)]);
    assert!(h.pushes.is_empty());
}

// ---------------------------------------------------------------------------------------------
// get_message_read_receipts
// ---------------------------------------------------------------------------------------------

#[test]
fn get_receipts_only_by_sender_per_message_not_message_sender() {
    let mut h = work_group();
    let a = h.send(0, Conv::Group(g(1)), true);
    let b = h.send(1, Conv::Group(g(1)), true);
    h.read(2, &[a, b]);
    assert_eq!(
        h.get(0, &[a, b]),
        vec![
            Ok(group_entry(a, 1, 1, 2)),
            Err(ErrorCode::NotMessageSender)
        ]
    );
    assert_eq!(
        h.get(2, &[a, b]),
        vec![
            Err(ErrorCode::NotMessageSender),
            Err(ErrorCode::NotMessageSender)
        ]
    );
    // Unknown ids first, then sender, then need_read_receipt.
    let plain = h.send(0, Conv::Group(g(1)), false);
    assert_eq!(
        h.get(1, &[plain, MsgId(77)]),
        vec![
            Err(ErrorCode::NotMessageSender),
            Err(ErrorCode::MessageNotFound)
        ]
    );
    assert_eq!(
        h.get(0, &[plain]),
        vec![Err(ErrorCode::ReceiptNotRequested)]
    );
}

#[test]
fn sender_who_left_group_may_still_pull_receipts_and_member_lists() {
    let mut h = work_group();
    let a = h.send(0, Conv::Group(g(1)), true);
    h.read(1, &[a]);
    h.remove(1, 0);
    assert_eq!(h.counts(0, a), (1, 2));
    assert_eq!(h.list_all(0, a, ReadFilter::Read, 1), users(&[1]));
}

// ---------------------------------------------------------------------------------------------
// C2C
// ---------------------------------------------------------------------------------------------

#[test]
fn c2c_entry_and_is_peer_read_via_receipt() {
    let mut h = H::new(3);
    let m1 = h.send(0, Conv::C2c(u(1)), true);
    let m2 = h.send(0, Conv::C2c(u(1)), true);
    assert_eq!(
        h.get(0, &[m1]),
        vec![Ok(ReceiptEntry::C2c {
            msg_id: m1,
            user_id: u(1),
            is_peer_read: false
        })]
    );
    assert_eq!(h.read(1, &[m1]), vec![Ok(())]);
    let read = ReceiptEntry::C2c {
        msg_id: m1,
        user_id: u(1),
        is_peer_read: true,
    };
    assert_eq!(
        h.pushes,
        vec![Delivery {
            to: u(0),
            push: Push::Receipts {
                entries: vec![read]
            }
        }]
    );
    assert_eq!(
        h.get(0, &[m1, m2]),
        vec![
            Ok(read),
            Ok(ReceiptEntry::C2c {
                msg_id: m2,
                user_id: u(1),
                is_peer_read: false
            })
        ]
    );
    assert_eq!(h.m.message(m1).unwrap().read_count, 1);
    assert_eq!(h.m.message(m1).unwrap().audience_len, 1);
    assert_eq!(h.m.audience(m1), users(&[1]));
    // Only the sender may pull.
    assert_eq!(h.get(1, &[m1]), vec![Err(ErrorCode::NotMessageSender)]);
}

#[test]
fn mark_c2c_read_covers_only_messages_sent_before_the_mark() {
    let mut h = H::new(3);
    let m1 = h.send(0, Conv::C2c(u(1)), true);
    let mine = h.send(1, Conv::C2c(u(0)), true);
    let m2 = h.send(0, Conv::C2c(u(1)), true);
    let other = h.send(0, Conv::C2c(u(2)), true);
    assert!(matches!(h.mark(1, 0), Response::MarkedRead { .. }));
    let m3 = h.send(0, Conv::C2c(u(1)), true);
    assert!(h.peer_read(0, m1));
    assert!(h.peer_read(0, m2));
    assert!(!h.peer_read(0, m3), "sent after the mark");
    assert!(
        !h.peer_read(1, mine),
        "the marker's own message needs the other side"
    );
    assert!(!h.peer_read(0, other), "another conversation");
    // Marking is not a receipt: the read set stays empty, but the view counts the mark.
    assert_eq!(h.m.message(m1).unwrap().read_count, 1);
    // The other side marks: now the marker's message is read.
    h.mark(0, 1);
    assert!(h.peer_read(1, mine));
}

#[test]
fn mark_c2c_read_ties_in_the_same_millisecond_go_by_commit_order() {
    let mut h = H::new(2);
    let t = 5_000_000;
    let before = match h.call_at(
        t,
        0,
        Request::SendMessage {
            conv: Conv::C2c(u(1)),
            need_read_receipt: true,
            body_len: 1,
        },
    ) {
        Response::Sent { msg_id, .. } => msg_id,
        r => panic!("{r:?}"),
    };
    assert_eq!(
        h.call_at(t + 100, 1, Request::MarkC2cRead { peer: u(0) }),
        Response::MarkedRead { timestamp_ms: 5000 }
    );
    let after = match h.call_at(
        t + 200,
        0,
        Request::SendMessage {
            conv: Conv::C2c(u(1)),
            need_read_receipt: true,
            body_len: 1,
        },
    ) {
        Response::Sent {
            msg_id,
            timestamp_ms,
            ..
        } => {
            assert_eq!(timestamp_ms, 5000, "same millisecond as the mark");
            msg_id
        }
        r => panic!("{r:?}"),
    };
    assert!(h.peer_read(0, before));
    assert!(!h.peer_read(0, after));
}

#[test]
fn mark_c2c_read_pushes_c2c_read_to_peer_with_non_decreasing_timestamps() {
    let mut h = H::new(2);
    h.send(0, Conv::C2c(u(1)), true);
    let mut seen = Vec::new();
    for now_ms in [5_000u64, 3_000, 5_000, 7_000, 6_999] {
        let r = h.call_at(now_ms * 1000, 1, Request::MarkC2cRead { peer: u(0) });
        let Response::MarkedRead { timestamp_ms } = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            h.pushes,
            vec![Delivery {
                to: u(0),
                push: Push::C2cRead {
                    user_id: u(1),
                    timestamp_ms
                }
            }]
        );
        seen.push(timestamp_ms);
    }
    assert_eq!(seen, vec![5_000, 5_000, 5_000, 7_000, 7_000]);
    // Each side has its own clock floor.
    assert_eq!(
        h.call_at(1_000_000, 0, Request::MarkC2cRead { peer: u(1) }),
        Response::MarkedRead { timestamp_ms: 1000 }
    );
}

#[test]
fn mark_c2c_read_errors_and_empty_conversation() {
    let mut h = H::new(2);
    assert_eq!(h.mark(0, 0), err(ErrorCode::SelfConversation));
    assert_eq!(h.mark(0, 9), err(ErrorCode::UserNotFound));
    assert_eq!(h.mark(9, 0), err(ErrorCode::UserNotFound));
    assert!(h.pushes.is_empty());
    // Marking an empty conversation still tells the peer.
    assert!(matches!(h.mark(0, 1), Response::MarkedRead { .. }));
    assert_eq!(h.pushes.len(), 1);
    // ... and covers nothing sent afterwards.
    let m = h.send(1, Conv::C2c(u(0)), true);
    assert!(!h.peer_read(1, m));
}

#[test]
fn is_peer_read_never_reverts() {
    let mut h = H::new(2);
    let m = h.send(0, Conv::C2c(u(1)), true);
    h.mark(1, 0);
    assert!(h.peer_read(0, m));
    // A receipt after the mark is accepted and the state stays read. It is the first receipt
    // for the message, so the sender is notified once (with is_peer_read already true).
    assert_eq!(h.read(1, &[m]), vec![Ok(())]);
    assert_eq!(
        receipt_pushes(&h.pushes),
        vec![(
            u(0),
            vec![ReceiptEntry::C2c {
                msg_id: m,
                user_id: u(1),
                is_peer_read: true
            }]
        )]
    );
    assert_eq!(h.read(1, &[m]), vec![Ok(())]);
    assert!(h.pushes.is_empty());
    assert!(h.peer_read(0, m));
    h.send(0, Conv::C2c(u(1)), true);
    h.call_at(1, 1, Request::MarkC2cRead { peer: u(0) });
    assert!(h.peer_read(0, m));
}

// ---------------------------------------------------------------------------------------------
// get_group_message_read_member_list
// ---------------------------------------------------------------------------------------------

/// Users 0..=12; group 1 (Work) holds all; user 0 sends one message with receipts.
fn big_group() -> (H, MsgId) {
    let mut h = H::new(13);
    let all: Vec<u32> = (0..13).collect();
    h.group(1, GroupType::Work, &all);
    let id = h.send(0, Conv::Group(g(1)), true);
    (h, id)
}

#[test]
fn member_list_read_in_read_order_unread_in_audience_order() {
    let (mut h, id) = big_group();
    let readers = [9, 2, 12, 5, 1];
    for r in readers {
        h.read(r, &[id]);
    }
    assert_eq!(h.list_all(0, id, ReadFilter::Read, 100), users(&readers));
    assert_eq!(
        h.list_all(0, id, ReadFilter::Unread, 100),
        users(&[3, 4, 6, 7, 8, 10, 11])
    );
}

#[test]
fn member_list_count_out_of_range_and_wrong_messages() {
    let (mut h, id) = big_group();
    for filter in [ReadFilter::Read, ReadFilter::Unread] {
        assert_eq!(h.page(0, id, filter, 0, 0), err(ErrorCode::CountOutOfRange));
        assert_eq!(
            h.page(0, id, filter, 0, 101),
            err(ErrorCode::CountOutOfRange)
        );
        assert!(matches!(
            h.page(0, id, filter, 0, 100),
            Response::MemberList { .. }
        ));
        assert_eq!(
            h.page(1, id, filter, 0, 10),
            err(ErrorCode::NotMessageSender)
        );
        assert_eq!(
            h.page(0, MsgId(99), filter, 0, 10),
            err(ErrorCode::MessageNotFound)
        );
    }
    let c = h.send(0, Conv::C2c(u(1)), true);
    assert_eq!(
        h.page(0, c, ReadFilter::Read, 0, 10),
        err(ErrorCode::NotGroupMessage)
    );
    assert_eq!(
        h.page(1, c, ReadFilter::Read, 0, 10),
        err(ErrorCode::NotMessageSender),
        "permission is checked before the message kind"
    );
    let plain = h.send(0, Conv::Group(g(1)), false);
    assert_eq!(
        h.page(0, plain, ReadFilter::Unread, 0, 10),
        err(ErrorCode::ReceiptNotRequested)
    );
    // COUNT_OUT_OF_RANGE is checked before the message exists.
    assert_eq!(
        h.page(0, MsgId(99), ReadFilter::Read, 0, 0),
        err(ErrorCode::CountOutOfRange)
    );
}

#[test]
fn member_list_cursor_encodings() {
    let (mut h, id) = big_group();
    for r in [7, 3, 11] {
        h.read(r, &[id]);
    }
    // Read list: the cursor is the position in read order.
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Read, 0, 2),
        (users(&[7, 3]), 2, false)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Read, 2, 2),
        (users(&[11]), 3, true)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Read, 50, 2),
        (vec![], 3, true),
        "a cursor past the end is an empty, finished page"
    );
    // Unread list: the cursor is the next user id to consider.
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Unread, 0, 3),
        (users(&[1, 2, 4]), 5, false)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Unread, 5, 3),
        (users(&[5, 6, 8]), 9, false)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Unread, 9, 3),
        (users(&[9, 10, 12]), 13, true),
        "is_finished as soon as nothing is left, without an empty extra page"
    );
}

#[test]
fn member_list_paging_with_page_size_k_covers_everything_once() {
    let (mut h, id) = big_group();
    for r in [4, 10, 1, 7, 12, 2] {
        h.read(r, &[id]);
    }
    let read = h.list_all(0, id, ReadFilter::Read, 100);
    let unread = h.list_all(0, id, ReadFilter::Unread, 100);
    for k in 1..=13 {
        assert_eq!(h.list_all(0, id, ReadFilter::Read, k), read, "k={k}");
        assert_eq!(h.list_all(0, id, ReadFilter::Unread, k), unread, "k={k}");
    }
    let r: BTreeSet<UserId> = read.iter().copied().collect();
    let un: BTreeSet<UserId> = unread.iter().copied().collect();
    assert_eq!(r.len(), read.len(), "no repeats");
    assert_eq!(un.len(), unread.len(), "no repeats");
    assert!(r.is_disjoint(&un));
    let union: Vec<UserId> = r.union(&un).copied().collect();
    assert_eq!(union, h.m.audience(id));
    assert_eq!(h.counts(0, id), (read.len() as u32, unread.len() as u32));
}

#[test]
fn member_list_paging_while_receipts_arrive_never_repeats_and_misses_no_stayer() {
    for k in 1..=4u32 {
        // Unread list: receipts arrive before and after the cursor between pages.
        let (mut h, id) = big_group();
        h.read(6, &[id]);
        let at_start: BTreeSet<UserId> = h
            .list_all(0, id, ReadFilter::Unread, 100)
            .into_iter()
            .collect();
        let arrivals = [1, 11, 3, 9, 2, 12];
        let mut listed = Vec::new();
        let mut cursor = 0;
        let mut step = 0;
        let mut done_unread = false;
        for _ in 0..100 {
            let (members, next, done) = h.page_ok(0, id, ReadFilter::Unread, cursor, k);
            listed.extend(members);
            cursor = next;
            if done {
                done_unread = true;
                break;
            }
            if let Some(&r) = arrivals.get(step) {
                h.read(r, &[id]);
            }
            step += 1;
        }
        assert!(done_unread, "k={k}: unread paging never finished");
        let set: BTreeSet<UserId> = listed.iter().copied().collect();
        assert_eq!(set.len(), listed.len(), "k={k}: never repeats a member");
        let became_read: BTreeSet<UserId> = arrivals[..step.min(arrivals.len())]
            .iter()
            .copied()
            .map(UserId)
            .collect();
        for stayer in at_start.difference(&became_read) {
            assert!(set.contains(stayer), "k={k}: missed {stayer}");
        }
        assert!(set.is_subset(&at_start));

        // Read list: readers keep arriving between pages; all of them show, once, in order.
        let (mut h, id) = big_group();
        for r in [5, 8] {
            h.read(r, &[id]);
        }
        let arrivals = [3, 12, 1, 7, 10];
        let mut listed = Vec::new();
        let mut cursor = 0;
        for step in 0..100 {
            let (members, next, done) = h.page_ok(0, id, ReadFilter::Read, cursor, k);
            listed.extend(members);
            cursor = next;
            if let Some(&r) = arrivals.get(step) {
                h.read(r, &[id]);
            } else if done {
                break;
            }
        }
        assert_eq!(listed, users(&[5, 8, 3, 12, 1, 7, 10]), "k={k}");
    }
}

#[test]
fn member_list_leaver_stays_in_unread_list() {
    let (mut h, id) = big_group();
    h.remove(1, 4);
    assert!(h.list_all(0, id, ReadFilter::Unread, 3).contains(&u(4)));
    assert_eq!(h.counts(0, id), (0, 12));
}

// ---------------------------------------------------------------------------------------------
// get_history
// ---------------------------------------------------------------------------------------------

#[test]
fn history_newest_first_with_before_seq_count_and_is_self() {
    let mut h = work_group();
    let mut ids = Vec::new();
    for i in 0..5u32 {
        ids.push(h.send(i % 2, Conv::Group(g(1)), i % 2 == 0));
    }
    let all = h.history_ok(1, Conv::Group(g(1)), 0, 100);
    assert_eq!(
        all.iter().map(|m| m.msg_id).collect::<Vec<_>>(),
        ids.iter().rev().copied().collect::<Vec<_>>()
    );
    for m in &all {
        assert_eq!(m.is_self, m.sender == u(1));
        assert_eq!(m.need_read_receipt, m.sender == u(0));
    }
    assert_eq!(all[0].seq, 5);
    assert!(
        all.windows(2)
            .all(|w| w[0].timestamp_ms > w[1].timestamp_ms)
    );
    // count limits the page to the newest `count` before `before_seq`.
    let seqs = |v: Vec<HistoryMessage>| v.iter().map(|m| m.seq).collect::<Vec<_>>();
    assert_eq!(seqs(h.history_ok(1, Conv::Group(g(1)), 0, 2)), vec![5, 4]);
    assert_eq!(seqs(h.history_ok(1, Conv::Group(g(1)), 4, 2)), vec![3, 2]);
    assert_eq!(seqs(h.history_ok(1, Conv::Group(g(1)), 2, 100)), vec![1]);
    assert_eq!(
        seqs(h.history_ok(1, Conv::Group(g(1)), 1, 100)),
        Vec::<u64>::new()
    );
    assert_eq!(seqs(h.history_ok(1, Conv::Group(g(1)), 99, 1)), vec![5]);
    assert_eq!(
        h.history(1, Conv::Group(g(1)), 0, 0),
        err(ErrorCode::CountOutOfRange)
    );
    assert_eq!(
        h.history(1, Conv::Group(g(1)), 0, 101),
        err(ErrorCode::CountOutOfRange)
    );
    assert_eq!(h.history_ok(1, Conv::Group(g(1)), 0, 100).len(), 5);
    // C2C, as seen from both sides.
    let c = h.send(4, Conv::C2c(u(5)), true);
    let from_4 = h.history_ok(4, Conv::C2c(u(5)), 0, 10);
    let from_5 = h.history_ok(5, Conv::C2c(u(4)), 0, 10);
    assert_eq!(from_4.len(), 1);
    assert_eq!((from_4[0].msg_id, from_4[0].is_self), (c, true));
    assert_eq!((from_5[0].msg_id, from_5[0].is_self), (c, false));
    assert!(h.history_ok(4, Conv::C2c(u(0)), 0, 10).is_empty());
}

#[test]
fn history_only_for_current_members_not_conversation_party() {
    let mut h = work_group();
    h.send(0, Conv::Group(g(1)), true);
    assert_eq!(
        h.history(4, Conv::Group(g(1)), 0, 10),
        err(ErrorCode::NotConversationParty)
    );
    h.remove(1, 2);
    assert_eq!(
        h.history(2, Conv::Group(g(1)), 0, 10),
        err(ErrorCode::NotConversationParty),
        "a leaver loses history"
    );
    h.add(1, 4);
    assert_eq!(
        h.history_ok(4, Conv::Group(g(1)), 0, 10).len(),
        1,
        "a joiner sees earlier messages"
    );
    assert_eq!(
        h.history(0, Conv::Group(g(7)), 0, 10),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        h.history(0, Conv::C2c(u(0)), 0, 10),
        err(ErrorCode::SelfConversation)
    );
    assert_eq!(
        h.history(0, Conv::C2c(u(70)), 0, 10),
        err(ErrorCode::UserNotFound)
    );
}

// ---------------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------------

#[test]
fn admin_errors() {
    let mut h = work_group();
    assert_eq!(
        h.admin(AdminRequest::CreateUser { user: u(1) }),
        err(ErrorCode::UserExists)
    );
    assert_eq!(
        h.admin(AdminRequest::CreateUser {
            user: UserId(MAX_DENSE_ID)
        }),
        err(ErrorCode::InvalidId)
    );
    assert_eq!(
        h.admin(AdminRequest::CreateGroup {
            group: g(1),
            group_type: GroupType::Public,
            members: vec![]
        }),
        err(ErrorCode::GroupExists)
    );
    assert_eq!(
        h.admin(AdminRequest::CreateGroup {
            group: g(2),
            group_type: GroupType::Public,
            members: users(&[0, 99])
        }),
        err(ErrorCode::UserNotFound)
    );
    assert_eq!(
        h.m.group_size(g(2)),
        None,
        "a failed create creates nothing"
    );
    assert_eq!(
        h.admin(AdminRequest::CreateGroup {
            group: GroupId(MAX_DENSE_ID),
            group_type: GroupType::Public,
            members: vec![]
        }),
        err(ErrorCode::InvalidId)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(1),
            user: u(1)
        }),
        err(ErrorCode::AlreadyMember)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(1),
            user: u(99)
        }),
        err(ErrorCode::UserNotFound)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(5),
            user: u(1)
        }),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        h.admin(AdminRequest::AddMember {
            group: g(5),
            user: u(99)
        }),
        err(ErrorCode::UserNotFound),
        "the user is checked before the group"
    );
    assert_eq!(
        h.admin(AdminRequest::RemoveMember {
            group: g(5),
            user: u(1)
        }),
        err(ErrorCode::GroupNotFound)
    );
    assert_eq!(
        h.admin(AdminRequest::RemoveMember {
            group: g(1),
            user: u(4)
        }),
        err(ErrorCode::NotGroupMember)
    );
    assert_eq!(h.m.group_size(g(1)), Some(4));
    assert!(h.m.is_member(g(1), u(3)));
    assert!(!h.m.is_member(g(1), u(4)));
    assert!(!h.m.is_member(g(5), u(4)));
}

#[test]
fn admin_receipt_config_round_trip_sorted_and_deduplicated() {
    let mut h = H::new(1);
    assert_eq!(
        h.admin(AdminRequest::GetReceiptConfig),
        Response::Config {
            config: ReceiptConfig::default()
        }
    );
    let r = h.admin(AdminRequest::SetReceiptConfig {
        config: ReceiptConfig {
            enabled_types: vec![GroupType::Meeting, GroupType::Work, GroupType::Meeting],
            max_group_size: 7,
        },
    });
    assert_eq!(r, Response::AdminDone);
    assert_eq!(
        h.admin(AdminRequest::GetReceiptConfig),
        Response::Config {
            config: ReceiptConfig {
                enabled_types: vec![GroupType::Work, GroupType::Meeting],
                max_group_size: 7,
            }
        }
    );
}

// ---------------------------------------------------------------------------------------------
// Audience snapshot
// ---------------------------------------------------------------------------------------------

#[test]
fn audience_snapshot_fixed_when_members_join_and_leave_later() {
    let mut h = work_group();
    let m1 = h.send(0, Conv::Group(g(1)), true);
    h.add(1, 4);
    h.remove(1, 3);
    let m2 = h.send(0, Conv::Group(g(1)), true);
    h.add(1, 5);
    h.remove(1, 1);
    assert_eq!(h.m.audience(m1), users(&[1, 2, 3]));
    assert_eq!(h.m.audience(m2), users(&[1, 2, 4]));
    assert_eq!(h.m.message(m1).unwrap().audience_len, 3);
    assert_eq!(h.counts(0, m1), (0, 3));
    assert_eq!(h.counts(0, m2), (0, 3));
    let m3 = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.m.audience(m3), users(&[2, 4, 5]));
    assert_eq!(
        h.read(4, &[m1, m2, m3]),
        vec![Err(ErrorCode::NotInAudience), Ok(()), Ok(())]
    );
    assert_eq!(h.read(3, &[m1]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    assert_eq!(h.read(1, &[m2]), vec![Err(ErrorCode::ReaderLeftGroup)]);
    assert_eq!(h.read(2, &[m1, m2, m3]), vec![Ok(()); 3]);
    assert_eq!(h.counts(0, m1), (1, 2));
    assert_eq!(h.counts(0, m2), (2, 1));
    assert_eq!(h.counts(0, m3), (2, 1));
    assert_eq!(h.m.audience(MsgId(99)), Vec::<UserId>::new());
    assert_eq!(h.m.message(MsgId(99)), None);
}

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

#[test]
fn large_group_5000_receipts_with_raised_limit() {
    const READERS: u32 = 5_000;
    let config = ReceiptConfig {
        max_group_size: READERS + 1,
        ..ReceiptConfig::default()
    };
    let mut h = H::with_config(READERS + 1, config);
    let all: Vec<u32> = (0..=READERS).collect();
    h.group(1, GroupType::Work, &all);
    let id = h.send(0, Conv::Group(g(1)), true);
    assert_eq!(h.pushes.len(), READERS as usize);
    // Readers in a scrambled but deterministic order (7919 is prime, coprime to 5000).
    let order: Vec<u32> = (0..READERS).map(|i| (i * 7919) % READERS + 1).collect();
    for (i, &r) in order.iter().enumerate() {
        assert_eq!(h.read(r, &[id]), vec![Ok(())]);
        let read = i as u32 + 1;
        assert_eq!(
            receipt_pushes(&h.pushes),
            vec![(u(0), vec![group_entry(id, 1, read, READERS - read)])]
        );
    }
    assert_eq!(h.counts(0, id), (READERS, 0));
    assert_eq!(h.list_all(0, id, ReadFilter::Read, 100), users(&order));
    assert!(h.list_all(0, id, ReadFilter::Unread, 100).is_empty());
    // With the default limit the same group cannot ask for receipts.
    h.admin(AdminRequest::SetReceiptConfig {
        config: ReceiptConfig::default(),
    });
    assert_eq!(
        h.try_send(0, Conv::Group(g(1)), true),
        err(ErrorCode::GroupTooLargeForReceipts)
    );
}

// ---------------------------------------------------------------------------------------------
// Documentation
// ---------------------------------------------------------------------------------------------

/// docs/protocol.md carries the error-code table generated from `ErrorCode::ALL`; a code added
/// or reworded here must show up there.
#[test]
fn protocol_doc_lists_every_error_code() {
    let doc = include_str!("../../docs/protocol.md");
    for &e in ErrorCode::ALL {
        let row = format!("| {} | `{}` | {} |", e.code(), e.name(), e.message());
        assert!(doc.contains(&row), "docs/protocol.md lacks the row\n{row}");
    }
}
