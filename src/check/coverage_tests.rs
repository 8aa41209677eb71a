use super::*;
use crate::check::book::{Book, Sighting};
use crate::protocol::{AdminRequest, GroupId, GroupType, MsgId, Response, UserId};

const G: GroupId = GroupId(1);

/// Group 1 (work) of users 1..=4.
fn world() -> World {
    let mut w = World::default();
    let req = AdminRequest::CreateGroup {
        group: G,
        group_type: GroupType::Work,
        members: (1..=4).map(UserId).collect(),
    };
    w.on_admin(0, &req, &Response::AdminDone);
    w
}

/// Message 1 from user 1 to group 1, acknowledged at 10.
fn book(w: &World) -> Book {
    let mut b = Book::default();
    let s = Sighting {
        id: MsgId(1),
        key: ConvKey::Group(G),
        sender: UserId(1),
        seq: 1,
        timestamp_ms: 0,
        need: true,
        acked_send: Some(10),
    };
    b.sight(w, 10, &s);
    b.get_mut(&MsgId(1)).unwrap().send_acked = Some(10);
    b
}

fn entry() -> ReceiptEntry {
    ReceiptEntry::Group {
        msg_id: MsgId(1),
        group_id: G,
        read_count: 0,
        unread_count: 3,
    }
}

fn observe(c: &mut Coverage, m: &mut MsgState, w: &World, crashes: u32) {
    let e = entry();
    let o = Observed {
        entry: &e,
        world: w,
        marks: &Marks::default(),
        by_sender: true,
        pull: true,
        crashes,
    };
    c.count_observed(m, o);
}

fn counts(c: &Coverage, rules: &[Rule]) -> Vec<u64> {
    rules.iter().map(|&r| c.exercised(r)).collect()
}

#[test]
fn a_send_refused_for_size_exercises_the_send_rules() {
    let mut c = Coverage::default();
    let key = ConvKey::Group(G);
    c.send_judged(&Expect::Err(ErrorCode::GroupTooLargeForReceipts), key, true);
    let send_rules = [Rule::S1, Rule::S2, Rule::S3, Rule::S4, Rule::S5, Rule::S7];
    assert_eq!(counts(&c, &send_rules), [1, 0, 1, 1, 1, 0]);
    assert_eq!(c.code_expected(ErrorCode::GroupTooLargeForReceipts), 1);
    c.send_judged(&Expect::Ok, key, true);
    c.send_judged(&Expect::Unknown, ConvKey::Pair(UserId(1), UserId(2)), true);
    assert_eq!(
        counts(&c, &send_rules),
        [1, 0, 1, 1, 1, 0],
        "nothing judged"
    );
    c.send_judged(&Expect::Ok, ConvKey::Pair(UserId(1), UserId(2)), true);
    assert_eq!(c.exercised(Rule::S7), 1);
}

#[test]
fn a_refused_outsider_counts_for_r4_and_i4_once_its_count_is_observed() {
    let w = world();
    let mut b = book(&w);
    let m = b.get_mut(&MsgId(1)).unwrap();
    let mut c = Coverage::default();
    c.receipt_judged(&Expect::Err(ErrorCode::NotInAudience), &w, m);
    assert_eq!(
        counts(&c, &[Rule::R3, Rule::S10, Rule::R4, Rule::I4]),
        [1, 1, 0, 0]
    );
    assert_eq!(c.code_expected(ErrorCode::NotInAudience), 1);
    observe(&mut c, m, &w, 0);
    assert_eq!(counts(&c, &[Rule::R4, Rule::I4, Rule::I1]), [1, 1, 1]);
    observe(&mut c, m, &w, 0);
    assert_eq!(
        counts(&c, &[Rule::R4, Rule::I4, Rule::I1]),
        [1, 1, 2],
        "probes count once"
    );
    c.receipt_judged(&Expect::Err(ErrorCode::ReaderLeftGroup), &w, m);
    assert_eq!(counts(&c, &[Rule::R5, Rule::R3, Rule::S10]), [1, 2, 1]);
}

#[test]
fn a_repeat_counts_for_r6_only_when_observed_afterwards() {
    let w = world();
    let mut b = book(&w);
    let m = b.get_mut(&MsgId(1)).unwrap();
    let mut c = Coverage::default();
    m.probes |= PROBE_REPEAT;
    assert_eq!(c.exercised(Rule::R6), 0);
    observe(&mut c, m, &w, 0);
    assert_eq!(c.exercised(Rule::R6), 1);
    assert_eq!(m.probes, 0);
}

#[test]
fn counts_after_a_crash_or_a_membership_change() {
    let mut w = world();
    let mut b = book(&w);
    let m = b.get_mut(&MsgId(1)).unwrap();
    let mut c = Coverage::default();
    observe(&mut c, m, &w, 1);
    assert_eq!(
        c.exercised(Rule::F1),
        0,
        "nothing acknowledged before the crash"
    );
    m.acked.insert(2);
    observe(&mut c, m, &w, 1);
    assert_eq!(c.exercised(Rule::F1), 1);
    m.first_ack_epoch = 1;
    observe(&mut c, m, &w, 1);
    assert_eq!(c.exercised(Rule::F1), 1, "acknowledged after the crash");
    assert_eq!(c.exercised(Rule::S10), 0);
    let join = AdminRequest::AddMember {
        group: G,
        user: UserId(9),
    };
    w.on_admin(20, &join, &Response::AdminDone);
    let leave = AdminRequest::RemoveMember {
        group: G,
        user: UserId(1),
    };
    w.on_admin(21, &leave, &Response::AdminDone);
    observe(&mut c, m, &w, 1);
    assert_eq!(counts(&c, &[Rule::S10, Rule::P3]), [1, 1]);
}

#[test]
fn bad_batches_expect_the_code_that_fits() {
    let mut c = Coverage::default();
    c.bad_batch_judged(Rule::R1, 0);
    c.bad_batch_judged(Rule::P1, MAX_BATCH + 1);
    c.bad_batch_judged(Rule::R1, 2);
    assert_eq!(counts(&c, &[Rule::R1, Rule::P1]), [2, 1]);
    assert_eq!(c.code_expected(ErrorCode::BatchSize), 2);
    assert_eq!(c.code_expected(ErrorCode::MixedConversations), 1);
}

#[test]
fn the_table_lists_unexercised_first_with_outcomes() {
    let mut c = Coverage::default();
    c.hit(Rule::I1);
    c.hit(Rule::C3);
    let mut totals = [0; Invariant::ALL.len()];
    totals[Invariant::CountSum.index()] = 2;
    let t = c.table(&totals);
    // The Matrix profile's rules are another profile's: not in a Tencent table; nor is D1
    // in a run with one device per user.
    let tencent = Rule::ALL.iter().filter(|r| !r.is_matrix()).count() - 1;
    assert_eq!(t.rules.len(), tencent);
    assert_eq!(t.profile, None);
    let pos = |id: &str| t.rules.iter().position(|r| r.rule == id).unwrap();
    assert!(pos("S1") < pos("C3") && pos("C3") < pos("I1") && pos("I1") < pos("I5"));
    let row = &t.rules[pos("I1")];
    assert_eq!(row.exercised, Some(1));
    assert_eq!(row.outcome, "violations: count_sum=2");
    assert_eq!(t.rules[pos("C3")].outcome, "held");
    assert_eq!(t.rules[pos("S1")].outcome, "not exercised");
    assert_eq!(t.rules[pos("S1")].knob, "traffic.misuse_share");
    assert!(t.rules[pos("I5")].outcome.starts_with("not checked: "));
    assert_eq!(t.summary().0, 2);
    let code = |name: &str| {
        t.error_codes
            .iter()
            .find(|r| r.code == name)
            .unwrap()
            .expected
    };
    assert_eq!(code("NOT_IN_AUDIENCE"), Some(0));
    assert_eq!(code("BAD_REQUEST"), None);
}

#[test]
fn missing_names_the_required_rules_never_exercised() {
    let mut c = Coverage::default();
    c.hit(Rule::R5);
    let req = RequireCoverage::Rules(vec![Rule::S10, Rule::R5]);
    assert_eq!(c.missing(&req), [Rule::S10]);
    assert!(c.missing(&RequireCoverage::Nothing).is_empty());
    let all = c.missing(&RequireCoverage::All);
    assert!(all.contains(&Rule::S10) && !all.contains(&Rule::R5));
    assert!(
        !all.contains(&Rule::I5),
        "unmeasured rules are never required"
    );
}

#[test]
fn under_matrix_the_replaced_rules_are_not_applicable_nor_required() {
    use crate::protocol::Profile;
    use crate::scenario::RequireCoverage;
    let mut c = Coverage::for_profile(Profile::Matrix);
    c.hit(Rule::MX3);
    let t = c.table(&[0; Invariant::ALL.len()]);
    assert_eq!(
        t.rules.len(),
        Rule::ALL.len() - 1,
        "all but D1 (one device per user)"
    );
    assert_eq!(t.profile.as_deref(), Some("matrix"));
    let row = |id: &str| t.rules.iter().find(|r| r.rule == id).unwrap();
    assert_eq!(
        row("R6").outcome,
        "not applicable under the matrix profile (replaced by MX2)"
    );
    assert_eq!(row("R6").exercised, None);
    assert_eq!(row("MX3").outcome, "held");
    assert_eq!(row("MX1").outcome, "not exercised");
    let missing = c.missing(&RequireCoverage::All);
    assert!(missing.contains(&Rule::MX1) && !missing.contains(&Rule::R6));
    assert!(!missing.contains(&Rule::MX3));
    // Not applicable rows come last, after the ones the checker cannot see.
    let last = t.rules.last().unwrap();
    assert!(last.outcome.starts_with("not applicable"), "{last:?}");
}

#[test]
fn a_judged_not_conversation_party_is_mx11_and_a_matrix_code_only() {
    let code = Expect::Err(ErrorCode::NotConversationParty);
    let row = |c: &Coverage| {
        let t = c.table(&[0; Invariant::ALL.len()]);
        let name = ErrorCode::NotConversationParty.name();
        t.error_codes
            .iter()
            .find(|r| r.code == name)
            .unwrap()
            .expected
    };
    let mut c = Coverage::for_profile(Profile::Matrix);
    c.query_judged(Rule::P2, MsgId(3), &code);
    c.query_judged(Rule::M1, MsgId(3), &code);
    assert_eq!(counts(&c, &[Rule::MX11, Rule::P2, Rule::M1]), [2, 0, 0]);
    assert_eq!(row(&c), Some(2));
    // Tencent tables stay as they were: the code is not judged there.
    assert_eq!(row(&Coverage::default()), None);
}

#[test]
fn outsiders_unknown_ids_and_refused_marks_count_as_e1_r2_and_c1() {
    let not_found = Expect::Err(ErrorCode::MessageNotFound);
    let mut c = Coverage::default();
    // An outsider asking about a real message gets the unknown-id answer: E1.
    c.query_judged(Rule::P2, MsgId(3), &not_found);
    // An id no service issued: R2, not P2 or E1.
    c.query_judged(Rule::P2, MsgId::NEVER_ISSUED, &not_found);
    c.unknown_id_judged();
    c.mark_judged(&Expect::Err(ErrorCode::SelfConversation));
    c.mark_judged(&Expect::Ok);
    assert_eq!(
        counts(&c, &[Rule::E1, Rule::R2, Rule::P2, Rule::C1]),
        [1, 2, 1, 1]
    );
    assert_eq!(c.code_expected(ErrorCode::MessageNotFound), 3);
    // Under Matrix E1 is replaced (MX4): nothing counts for it.
    let mut m = Coverage::for_profile(Profile::Matrix);
    m.query_judged(Rule::P2, MsgId(3), &not_found);
    assert_eq!(counts(&m, &[Rule::E1]), [0]);
}

#[test]
fn d1_is_shown_and_required_only_with_several_devices() {
    let mut totals = [0; Invariant::ALL.len()];
    let one = Coverage::default();
    let shown = |c: &Coverage, totals: &[u64; Invariant::ALL.len()]| {
        c.table(totals).rules.into_iter().find(|r| r.rule == "D1")
    };
    assert!(shown(&one, &totals).is_none());
    assert!(!one.missing(&RequireCoverage::All).contains(&Rule::D1));
    let mut two = Coverage::default().with_devices(2);
    assert_eq!(shown(&two, &totals).unwrap().outcome, "not exercised");
    assert!(two.missing(&RequireCoverage::All).contains(&Rule::D1));
    two.hit_n(Rule::D1, 3);
    totals[Invariant::Liveness.index()] = 1;
    let row = shown(&two, &totals).unwrap();
    assert_eq!(row.exercised, Some(3));
    assert_eq!(row.outcome, "violations: liveness=1");
    assert_eq!(row.knob, "population.devices");
}
