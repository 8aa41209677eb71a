//! Every checker fires, and only it.
//!
//! A small history builder drives a real target (the reference model, or a deliberately broken
//! wrapper of it) and streams the resulting events into a `Checker`, so the baseline history is
//! genuinely valid: every response and push is what the model produced. Each test then
//! corrupts exactly one observation (a [`Fault`]) and asserts that exactly the invariant meant
//! to catch it fires, that no other invariant does, and that the violation carries the replay
//! command and the message it is about.
//!
//! The builder is `history_kit.rs`; `broken_targets.rs` runs the simulator against targets
//! with one planted bug; `checker_regressions.rs` holds regressions and checker gaps.
//!
//! The ignored tests at the end are faults the checker does not catch yet (checker bugs).

use crate::history_kit::*;
use readsim::check::Invariant;
use readsim::protocol::ConvKey;
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Baseline
// ---------------------------------------------------------------------------------------------

#[test]
fn baseline_history_is_clean() {
    let mut h = History::model();
    baseline(&mut h, Fault::None);
    assert_clean(&h.checker);
    // It did what it claims: five messages, three readers of the Work message, both C2C
    // messages read.
    let m = &h.target.model;
    assert_eq!(m.message_count(), 5);
    assert_eq!(m.message(M_WORK).unwrap().read_count, 3);
    assert_eq!(m.message(M_WORK).unwrap().audience_len, 5);
    assert_eq!(m.message(M_TO_PEER).unwrap().read_count, 1);
    assert_eq!(m.message(M_FROM_PEER).unwrap().read_count, 1);
    assert_eq!(m.message(M_COMMUNITY).unwrap().read_count, 0);
}

/// Every invariant is caught by some fault, and every fault by exactly one invariant.
#[test]
fn every_invariant_has_a_fault_that_fires_it_alone() {
    let mut covered = BTreeSet::new();
    for fault in Fault::CAUGHT {
        let c = history(fault);
        let fired: Vec<Invariant> = c.counts().keys().copied().collect();
        if fault == Fault::None {
            assert!(fired.is_empty(), "baseline: {}", describe(&c));
        } else {
            assert_eq!(fired.len(), 1, "{fault:?}: {}", describe(&c));
            covered.extend(fired);
        }
    }
    let all: BTreeSet<Invariant> = Invariant::ALL.into_iter().collect();
    assert_eq!(covered, all);
}

// ---------------------------------------------------------------------------------------------
// One test per invariant (and a few variants)
// ---------------------------------------------------------------------------------------------

#[test]
fn count_sum_fires_on_a_push_whose_counts_do_not_add_up() {
    let v = assert_only(
        &history(Fault::PushSumWrong),
        Invariant::CountSum,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(SENDER));
    assert_eq!(v[0].t_us, ms(150));
}

#[test]
fn monotone_counts_fires_when_the_sender_sees_a_count_decrease() {
    let v = assert_only(
        &history(Fault::PushCountDecreases),
        Invariant::MonotoneCounts,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(SENDER));
}

#[test]
fn pull_lower_bound_fires_on_a_pull_below_what_was_acked_before_it() {
    let v = assert_only(
        &history(Fault::PullBelowAcked),
        Invariant::PullLowerBound,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].t_us, ms(130));
}

#[test]
fn pull_lower_bound_fires_on_a_c2c_pull_that_ignores_a_mark_read() {
    let v = assert_only(
        &history(Fault::C2cPullBelowAcked),
        Invariant::PullLowerBound,
        Some(M_FROM_PEER),
    );
    assert_eq!(v[0].client, Some(PEER));
}

#[test]
fn count_upper_bound_fires_on_a_push_above_what_was_invoked() {
    let v = assert_only(
        &history(Fault::PushAboveInvoked),
        Invariant::CountUpperBound,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].t_us, ms(150));
}

#[test]
fn count_upper_bound_fires_on_a_c2c_pull_read_before_any_read() {
    let v = assert_only(
        &history(Fault::C2cPullAboveInvoked),
        Invariant::CountUpperBound,
        Some(M_TO_PEER),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(SENDER));
}

#[test]
fn member_list_paging_fires_on_a_repeated_member() {
    let v = assert_only(
        &history(Fault::PageRepeatsMember),
        Invariant::MemberListPaging,
        Some(M_WORK),
    );
    assert!(v.iter().any(|v| v.observed.contains("repeats u4")), "{v:?}");
}

#[test]
fn member_list_paging_fires_on_a_non_audience_member() {
    let v = assert_only(
        &history(Fault::PageListsOutsider),
        Invariant::MemberListPaging,
        Some(M_WORK),
    );
    assert!(v.iter().any(|v| v.observed.contains("lists u7")), "{v:?}");
}

#[test]
fn member_list_paging_fires_when_a_finished_paging_misses_an_unread_member() {
    let v = assert_only(
        &history(Fault::PageMissesUnread),
        Invariant::MemberListPaging,
        Some(M_WORK),
    );
    assert!(v.iter().any(|v| v.observed.contains("without u5")), "{v:?}");
}

#[test]
fn member_list_paging_fires_when_the_read_list_lists_a_non_reader() {
    let v = assert_only(
        &history(Fault::ReadPageListsNonReader),
        Invariant::MemberListPaging,
        Some(M_WORK),
    );
    assert!(v.iter().any(|v| v.observed.contains("lists u4")), "{v:?}");
}

#[test]
fn quiet_state_fires_on_a_final_pull_that_differs_from_what_was_acked() {
    // The bounds are not what is checked once quiet: count_upper_bound does not fire even
    // though 4 > 3 receipts invoked; quiet_state does.
    let v = assert_only(
        &history(Fault::QuietPullOff),
        Invariant::QuietState,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].t_us, ms(520));
}

#[test]
fn liveness_fires_when_the_online_sender_never_gets_the_last_receipt() {
    let v = assert_only(
        &history(Fault::LastReceiptPushDropped),
        Invariant::Liveness,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(SENDER));
    // Reported at its deadline: u3's ack (370ms) plus the 5s bound.
    assert_eq!(v[0].t_us, ms(370) + check_config().liveness_bound);
}

#[test]
fn liveness_fires_when_a_mark_read_never_reaches_the_online_peer() {
    let v = assert_only(
        &history(Fault::C2cReadPushDropped),
        Invariant::Liveness,
        None,
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(PEER));
    assert_eq!(v[0].msg, None);
}

#[test]
fn c2c_read_timestamps_fires_on_a_decreasing_timestamp() {
    let v = assert_only(
        &history(Fault::C2cReadReordered),
        Invariant::C2cReadTimestamps,
        None,
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(PEER));
    assert!(v[0].observed.contains("timestamp 300"), "{}", v[0]);
}

#[test]
fn result_codes_fires_when_a_non_member_receipt_is_accepted() {
    let v = assert_only(
        &history(Fault::OutsiderReceiptAccepted),
        Invariant::ResultCodes,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(OUTSIDER));
    // An outsider may not even learn the message exists (semantics.md E1).
    assert!(v[0].bound.contains("MESSAGE_NOT_FOUND"), "{}", v[0]);
}

#[test]
fn result_codes_fires_when_a_community_send_with_receipts_is_accepted() {
    let v = assert_only(
        &history(Fault::CommunityReceiptSendAccepted),
        Invariant::ResultCodes,
        None,
    );
    assert_eq!(v.len(), 1);
    assert!(
        v[0].bound.contains("RECEIPTS_DISABLED_FOR_GROUP_TYPE"),
        "{}",
        v[0]
    );
}

#[test]
fn result_codes_fires_on_a_new_message_push_outside_the_audience() {
    let v = assert_only(
        &history(Fault::NewMessageToOutsider),
        Invariant::ResultCodes,
        Some(M_WORK),
    );
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(PEER));
}

#[test]
fn sequencing_fires_on_a_duplicate_seq() {
    let v = assert_only(
        &history(Fault::DuplicateSeq),
        Invariant::Sequencing,
        Some(M_WORK_PLAIN),
    );
    assert!(
        v.iter()
            .any(|v| v.observed == format!("seq 1 in {:?}", ConvKey::Group(WORK))),
        "{v:?}"
    );
}

#[test]
fn sequencing_fires_on_a_gap() {
    let v = assert_only(&history(Fault::SeqGap), Invariant::Sequencing, None);
    // Reported at End, for the conversation, with no message.
    assert!(
        v.iter()
            .any(|v| v.msg.is_none() && v.t_us == ms(1000) && v.bound.contains("gap-free")),
        "{v:?}"
    );
}
