//! The model's rules for get_message_read_receipts.

use super::*;

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
