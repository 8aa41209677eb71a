//! The model's rules for C2C.

use super::*;

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
            device: None,
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
                device: None,
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
