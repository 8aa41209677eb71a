//! The model's rules for send_message.

use super::*;

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
            device: None,
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
