//! The model's rules for send_message_read_receipts: batch rules.

use super::*;

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
