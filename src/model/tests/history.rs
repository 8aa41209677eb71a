//! The model's rules for get_history.

use super::*;

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
