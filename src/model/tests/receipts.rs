//! The model's rules for send_message_read_receipts: per-message rules.

use super::*;

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
                device: None,
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
