//! Regressions the checker once got wrong, and its behaviour under churn and faults: it stays
//! quiet on what they make legal and still fires on bugs.

use crate::broken_targets::{clean_sim, scenario_with};
use crate::history_kit::*;
use readsim::check::{CheckConfig, Checker, Invariant};
use readsim::history::{Event, OpId};
use readsim::protocol::{
    AdminRequest, Conv, ErrorCode, GroupId, GroupType, Micros, MsgId, ReadFilter, Response, UserId,
};
use readsim::target::{ModelTarget, Target};

// ---------------------------------------------------------------------------------------------
// Regressions and checker gaps
// ---------------------------------------------------------------------------------------------

/// A message asking for receipts whose audience is offline is first (and only) seen in the
/// send's ack: the checker must take need_read_receipt from the send request, not only from a
/// new_message push, or it expects RECEIPT_NOT_REQUESTED from the sender's pulls and pages.
#[test]
fn need_flag_comes_from_the_send_when_no_push_is_seen() {
    let mut h = History::model();
    for i in 0..=2 {
        h.admin(AdminRequest::CreateUser { user: u(i) });
    }
    h.admin(AdminRequest::CreateGroup {
        group: WORK,
        group_type: GroupType::Work,
        members: vec![u(0), u(1), u(2)],
    });
    h.connect(0, SENDER);
    let g = sent_id(&h.op(ms(10), ms(20), SENDER, send(Conv::Group(WORK), true)));
    let c = sent_id(&h.op(ms(30), ms(40), SENDER, send(Conv::C2c(u(1)), true)));
    h.op(ms(50), ms(60), SENDER, pull(&[g]));
    h.op(ms(70), ms(80), SENDER, pull(&[c]));
    h.op(ms(90), ms(100), SENDER, page(g, ReadFilter::Unread, 0, 10));
    h.quiet(ms(200));
    h.op(ms(210), ms(220), SENDER, pull(&[g]));
    h.op(ms(230), ms(240), SENDER, page(g, ReadFilter::Unread, 0, 10));
    h.op(ms(250), ms(260), SENDER, page(g, ReadFilter::Read, 0, 10));
    h.end(ms(300));
    assert_clean(&h.checker);
}

#[test]
fn sim_clean_model_run_with_offline_audiences_has_no_violations() {
    // Half the users offline and groups from 2 members: many audiences get no push at all.
    let s = scenario_with(1.0, 0.5, 2);
    let (target, c) = clean_sim(&s);
    assert_clean(&c);
    assert!(target.model.message_count() > 100);
}

#[test]
fn result_codes_fires_when_a_pull_loses_its_entries() {
    assert_only(
        &history(Fault::PullLosesEntries),
        Invariant::ResultCodes,
        None,
    );
}

#[test]
fn result_codes_fires_when_a_mixed_pull_is_accepted() {
    assert_only(
        &history(Fault::MixedPullAccepted),
        Invariant::ResultCodes,
        None,
    );
}

// ---------------------------------------------------------------------------------------------
// Churn and faults: the checker stays quiet on what they make legal, and still fires on bugs
// ---------------------------------------------------------------------------------------------

const CHURN_GROUP: GroupId = GroupId(0);

impl<T: Target> History<T> {
    /// A membership change that takes `t0..t1` (an admin call in flight), applied at `t0`.
    fn churn(&mut self, t0: Micros, t1: Micros, req: AdminRequest) {
        self.emit(Event::AdminInvoke { t: t0, req: &req });
        let resp = self.target.admin(t0, &req);
        assert_eq!(resp.error_code(), None, "churn failed: {req:?}");
        self.emit(Event::Admin {
            t: t1,
            invoked: t0,
            req: &req,
            resp: &resp,
        });
    }

    fn lost(&mut self, t: Micros, client: UserId, op: OpId) {
        self.emit(Event::Lost { t, client, op });
    }
}

/// Users 0..=3 exist and are online; the Work group holds 0, 1 and 2.
fn churn_world(fault_phase: bool) -> History<ModelTarget> {
    let mut h = History::model();
    h.checker = Checker::new(CheckConfig {
        fault_phase,
        ..check_config()
    });
    for i in 0..4 {
        h.admin(AdminRequest::CreateUser { user: u(i) });
    }
    h.admin(AdminRequest::CreateGroup {
        group: CHURN_GROUP,
        group_type: GroupType::Work,
        members: vec![u(0), u(1), u(2)],
    });
    for i in 0..4 {
        h.connect(0, u(i));
    }
    h
}

/// User 0 sends to the group while user 2 is removed: the server applied the send first, so
/// 2 is in the audience (read + unread = 2), which the checker cannot know from the ack alone.
fn send_while_member_leaves(h: &mut History<ModelTarget>) -> MsgId {
    let p = h.start(ms(10), u(0), send(Conv::Group(CHURN_GROUP), true));
    h.churn(
        ms(11),
        ms(12),
        AdminRequest::RemoveMember {
            group: CHURN_GROUP,
            user: u(2),
        },
    );
    sent_id(&h.finish(ms(15), p))
}

#[test]
fn churn_during_a_send_leaves_the_audience_open_until_the_target_settles_it() {
    let mut h = churn_world(false);
    let m = send_while_member_leaves(&mut h);
    // 1 reads: the push says read 1, unread 1 (2 is in the snapshot): legal.
    h.op(ms(20), ms(25), u(1), receipts(&[m]));
    // 2 left after the send: their receipt is refused with READER_LEFT_GROUP, also legal.
    h.op(ms(30), ms(35), u(2), receipts(&[m]));
    h.quiet(ms(100));
    h.op(ms(100), ms(105), u(0), pull(&[m]));
    h.op(ms(110), ms(115), u(0), page(m, ReadFilter::Unread, 0, 10));
    h.end(ms(200));
    assert_clean(&h.checker);
}

#[test]
fn count_sum_fires_when_counts_under_churn_change_their_total() {
    let mut h = churn_world(false);
    let m = send_while_member_leaves(&mut h);
    h.op(ms(20), ms(25), u(1), receipts(&[m]));
    // A later pull whose total differs from the first one seen (2): one audience, one size.
    h.op_with(ms(30), ms(35), u(0), pull(&[m]), |p| {
        group_counts(p, |_, unread| *unread -= 1)
    });
    assert_only(&h.checker, Invariant::CountSum, Some(m));
}

#[test]
fn result_codes_fires_when_a_later_joiner_is_counted() {
    let mut h = churn_world(false);
    let m = sent_id(&h.op(ms(10), ms(15), u(0), send(Conv::Group(CHURN_GROUP), true)));
    // 3 joins well after the ack: never in the audience.
    h.churn(
        ms(20),
        ms(21),
        AdminRequest::AddMember {
            group: CHURN_GROUP,
            user: u(3),
        },
    );
    let refused = h.op(ms(30), ms(35), u(3), receipts(&[m]));
    assert!(
        matches!(&refused, Response::ReceiptsSent { results } if results[0].result == Err(ErrorCode::NotInAudience)),
        "{refused:?}"
    );
    assert_clean(&h.checker);
    // A target that accepts the later joiner's receipt is caught.
    h.op_with(ms(40), ms(45), u(3), receipts(&[m]), |p| {
        if let Response::ReceiptsSent { results } = &mut p.resp {
            results[0].result = Ok(());
        }
    });
    assert_only(&h.checker, Invariant::ResultCodes, Some(m));
}

#[test]
fn a_lost_receipt_may_count_once_quiet_but_not_twice() {
    let mut h = churn_world(true);
    let m = sent_id(&h.op(ms(10), ms(15), u(0), send(Conv::Group(CHURN_GROUP), true)));
    // 1's receipt reaches the server, but 1 gives up before the answer.
    let p = h.start(ms(20), u(1), receipts(&[m]));
    h.lost(ms(3020), u(1), p.op);
    h.deliver(ms(3020), p.deliveries);
    h.emit(Event::Calm { t: ms(4000) });
    h.quiet(ms(5000));
    h.op(ms(5000), ms(5005), u(0), pull(&[m]));
    assert_clean(&h.checker);
    // Counting it twice is still wrong.
    h.op_with(ms(5010), ms(5015), u(0), pull(&[m]), |p| {
        group_counts(p, |read, unread| {
            *read += 1;
            *unread -= 1;
        })
    });
    assert_only(&h.checker, Invariant::QuietState, Some(m));
}

#[test]
fn liveness_waits_for_the_calm_phase() {
    let mut h = churn_world(true);
    let m = sent_id(&h.op(ms(10), ms(15), u(0), send(Conv::Group(CHURN_GROUP), true)));
    // During the fault phase a receipt's push may be lost with its connection: no deadline.
    h.op_with(ms(20), ms(25), u(1), receipts(&[m]), |p| {
        p.deliveries.clear()
    });
    h.emit(Event::Calm { t: ms(100) });
    h.op(ms(7000), ms(7005), u(0), pull(&[m]));
    assert_clean(&h.checker);
    // After it, a lost push is a liveness violation.
    h.op_with(ms(7100), ms(7105), u(2), receipts(&[m]), |p| {
        p.deliveries.clear()
    });
    h.end(ms(20_000));
    assert_only(&h.checker, Invariant::Liveness, Some(m));
}
