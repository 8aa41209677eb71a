//! Every checker fires, and only it.
//!
//! A small history builder drives a real target (the reference model, or a deliberately broken
//! wrapper of it) and streams the resulting events into a `Checker`, so the baseline history is
//! genuinely valid: every response and push is what the model produced. Each test then
//! corrupts exactly one observation (a [`Fault`]) and asserts that exactly the invariant meant
//! to catch it fires, that no other invariant does, and that the violation carries the replay
//! command and the message it is about.
//!
//! The last tests run the simulator against `BrokenTarget`, a `ModelTarget` with one planted
//! bug, and check that the expected invariant fires while the clean model run of the same
//! scenario stays clean.
//!
//! The ignored tests at the end are faults the checker does not catch yet (checker bugs).

use readsim::check::{CheckConfig, Checker, Invariant, Violation};
use readsim::history::{Device, Event, Observer, OpId};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, Conv, ConvKey, ErrorCode, GroupId, GroupType, Micros, MsgId, PerMessage, Push,
    ReadFilter, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use readsim::target::{ModelTarget, Target};
use std::collections::BTreeSet;

/// The replay command every violation must carry.
const REPLAY: &str = "readsim run scenarios/checkers_fire.toml --seed 7";

fn check_config() -> CheckConfig {
    CheckConfig {
        liveness_bound: 5_000_000,
        replay: REPLAY.to_string(),
        max_recorded: 1000,
        fault_phase: false,
        ..CheckConfig::default()
    }
}

fn ms(x: u64) -> Micros {
    x * 1000
}

fn u(i: u32) -> UserId {
    UserId(i)
}

// ---------------------------------------------------------------------------------------------
// The history builder
// ---------------------------------------------------------------------------------------------

/// One operation whose request has reached the target but whose response and pushes have not
/// been observed yet. Tests corrupt `resp` or `deliveries` before [`History::finish`].
struct Pending {
    user: UserId,
    op: OpId,
    resp: Response,
    deliveries: Vec<Delivery>,
}

/// Builds a history against a real target and feeds it to a checker as it goes.
struct History<T: Target> {
    target: T,
    checker: Checker,
    /// Who is connected: pushes to anyone else are not delivered (they are not queued).
    online: BTreeSet<UserId>,
    next_op: OpId,
    /// Time of the last event, to keep the history in time order.
    now: Micros,
}

impl History<ModelTarget> {
    fn model() -> Self {
        History::new(ModelTarget::new(Model::new(ReceiptConfig::default())))
    }
}

impl<T: Target> History<T> {
    fn new(target: T) -> Self {
        History {
            target,
            checker: Checker::new(check_config()),
            online: BTreeSet::new(),
            next_op: 1,
            now: 0,
        }
    }

    fn emit(&mut self, ev: Event<'_>) {
        assert!(
            ev.time() >= self.now,
            "test bug: history goes back in time ({} after {})",
            ev.time(),
            self.now
        );
        self.now = ev.time();
        self.checker.observe(&ev);
    }

    /// An administrative request, applied to the target and observed at t = 0 (provisioning).
    fn admin(&mut self, req: AdminRequest) -> Response {
        let resp = self.target.admin(self.now, &req);
        assert_eq!(resp.error_code(), None, "provisioning failed: {req:?}");
        let t = self.now;
        self.emit(Event::Admin {
            t,
            invoked: t,
            req: &req,
            resp: &resp,
        });
        resp
    }

    fn connect(&mut self, t: Micros, client: UserId) {
        self.online.insert(client);
        self.emit(Event::Connect { t, client });
    }

    fn invoke(&mut self, t: Micros, client: UserId, req: &Request) -> OpId {
        let op = self.next_op;
        self.next_op += 1;
        self.emit(Event::Invoke {
            t,
            intended: t,
            client,
            device: Device::FIRST,
            op,
            req,
        });
        op
    }

    fn complete(&mut self, t: Micros, client: UserId, op: OpId, resp: &Response) {
        self.emit(Event::Complete {
            t,
            client,
            op,
            resp,
        });
    }

    fn push(&mut self, t: Micros, client: UserId, push: &Push) {
        self.emit(Event::Push {
            t,
            client,
            device: Device::FIRST,
            push,
        });
    }

    fn quiet(&mut self, t: Micros) {
        self.emit(Event::Quiet { t });
    }

    fn end(&mut self, t: Micros) {
        self.emit(Event::End { t });
    }

    /// Invokes `req` for `user` at `t` and applies it to the target at once.
    fn start(&mut self, t: Micros, user: UserId, req: Request) -> Pending {
        let op = self.invoke(t, user, &req);
        let mut deliveries = Vec::new();
        let resp = self.target.apply(t, user, &req, &mut deliveries);
        Pending {
            user,
            op,
            resp,
            deliveries,
        }
    }

    /// Observes the response at `t`, then the pushes (to online users) at `t` as well.
    fn finish(&mut self, t: Micros, p: Pending) -> Response {
        self.complete(t, p.user, p.op, &p.resp);
        self.deliver(t, p.deliveries);
        p.resp
    }

    /// Observes pushes at `t`, skipping offline users.
    fn deliver(&mut self, t: Micros, deliveries: Vec<Delivery>) {
        for d in deliveries {
            if self.online.contains(&d.to) {
                self.push(t, d.to, &d.push);
            }
        }
    }

    /// One whole operation: invoke at `t0`, response and pushes at `t1`.
    fn op(&mut self, t0: Micros, t1: Micros, user: UserId, req: Request) -> Response {
        self.op_with(t0, t1, user, req, |_| {})
    }

    /// Like [`History::op`], letting `corrupt` change what is observed before it is observed.
    fn op_with(
        &mut self,
        t0: Micros,
        t1: Micros,
        user: UserId,
        req: Request,
        corrupt: impl FnOnce(&mut Pending),
    ) -> Response {
        let mut p = self.start(t0, user, req);
        corrupt(&mut p);
        self.finish(t1, p)
    }
}

// ---- requests and corruptions ---------------------------------------------------------------

fn send(conv: Conv, need: bool) -> Request {
    Request::SendMessage {
        conv,
        need_read_receipt: need,
        body_len: 16,
    }
}

fn receipts(ids: &[MsgId]) -> Request {
    Request::SendReadReceipts {
        msg_ids: ids.to_vec(),
    }
}

fn pull(ids: &[MsgId]) -> Request {
    Request::GetReadReceipts {
        msg_ids: ids.to_vec(),
    }
}

fn page(msg: MsgId, filter: ReadFilter, next_seq: u64, count: u32) -> Request {
    Request::GetReadMemberList {
        msg_id: msg,
        filter,
        next_seq,
        count,
    }
}

fn sent_id(resp: &Response) -> MsgId {
    match resp {
        Response::Sent { msg_id, .. } => *msg_id,
        other => panic!("test bug: send failed: {other:?}"),
    }
}

fn next_seq(resp: &Response) -> u64 {
    match resp {
        Response::MemberList { next_seq, .. } => *next_seq,
        other => panic!("test bug: paging failed: {other:?}"),
    }
}

/// Applies `f` to (read_count, unread_count) of every group entry the operation shows: in a
/// pull response or in the receipts pushes it causes.
fn group_counts(p: &mut Pending, mut f: impl FnMut(&mut u32, &mut u32)) {
    let mut touched = 0;
    let mut visit = |e: &mut ReceiptEntry| {
        if let ReceiptEntry::Group {
            read_count,
            unread_count,
            ..
        } = e
        {
            f(read_count, unread_count);
            touched += 1;
        }
    };
    if let Response::ReadReceipts { entries } = &mut p.resp {
        for e in entries.iter_mut() {
            if let Ok(entry) = &mut e.result {
                visit(entry);
            }
        }
    }
    for d in &mut p.deliveries {
        if let Push::Receipts { entries } = &mut d.push {
            entries.iter_mut().for_each(&mut visit);
        }
    }
    assert!(touched > 0, "test bug: no group count to corrupt");
}

/// Sets `is_peer_read` of every C2C entry of a pull response.
fn c2c_pulled(p: &mut Pending, read: bool) {
    let Response::ReadReceipts { entries } = &mut p.resp else {
        panic!("test bug: not a pull: {:?}", p.resp);
    };
    for e in entries.iter_mut() {
        if let Ok(ReceiptEntry::C2c { is_peer_read, .. }) = &mut e.result {
            *is_peer_read = read;
        }
    }
}

/// Replaces a member-list page.
fn set_page(p: &mut Pending, members: &[u32], finished: bool) {
    let Response::MemberList {
        members: m,
        is_finished,
        ..
    } = &mut p.resp
    else {
        panic!("test bug: not a page: {:?}", p.resp);
    };
    *m = members.iter().copied().map(UserId).collect();
    *is_finished = finished;
}

fn set_seq(p: &mut Pending, new_seq: u64) {
    let Response::Sent { seq, .. } = &mut p.resp else {
        panic!("test bug: not a send ack: {:?}", p.resp);
    };
    *seq = new_seq;
}

// ---------------------------------------------------------------------------------------------
// The baseline history and its faults
// ---------------------------------------------------------------------------------------------

const SENDER: UserId = UserId(0);
/// The C2C peer of `SENDER`; a member of the Community group, not of the Work group.
const PEER: UserId = UserId(6);
/// An existing user in no group, never connected.
const OUTSIDER: UserId = UserId(7);
const WORK: GroupId = GroupId(0);
const COMMUNITY: GroupId = GroupId(1);

/// The messages of the baseline, in the order the model assigns their ids.
const M_WORK: MsgId = MsgId(1);
const M_COMMUNITY: MsgId = MsgId(2);
const M_TO_PEER: MsgId = MsgId(3);
const M_FROM_PEER: MsgId = MsgId(4);
const M_WORK_PLAIN: MsgId = MsgId(5);

/// One corruption of the baseline history (or none).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Fault {
    None,
    /// u2's receipts push says read 2 / unread 4 for an audience of 5.
    PushSumWrong,
    /// u2's receipts push says read 0 after the sender saw 1.
    PushCountDecreases,
    /// The sender's first pull shows 0 though u1's receipt was acknowledged before it started
    /// (the push of that receipt is late in the baseline, so the sender had not seen it).
    PullBelowAcked,
    /// The peer pulls its message as unread after the sender marked the conversation read.
    C2cPullBelowAcked,
    /// u2's receipts push shows 3 read when only u1 and u2 had invoked a receipt.
    PushAboveInvoked,
    /// The sender pulls its C2C message as read before the peer did anything.
    C2cPullAboveInvoked,
    /// The second unread page repeats u4.
    PageRepeatsMember,
    /// The second unread page lists the outsider.
    PageListsOutsider,
    /// The unread paging finishes without u5, who never read.
    PageMissesUnread,
    /// The read paging lists u4, who never sent a receipt.
    ReadPageListsNonReader,
    /// After Quiet, the final pull shows 4 read (3 acknowledged), sum still right.
    QuietPullOff,
    /// The receipts push of u3's receipt (the last of the message) never arrives.
    LastReceiptPushDropped,
    /// The c2c_read push of the sender's second mark never reaches the peer.
    C2cReadPushDropped,
    /// The c2c_read push of the first mark arrives after the one of the second mark.
    C2cReadReordered,
    /// The outsider's receipt for the Work message is accepted.
    OutsiderReceiptAccepted,
    /// A need_read_receipt send to the Community group is accepted.
    CommunityReceiptSendAccepted,
    /// The Work message is also pushed to the peer, who is not in the group.
    NewMessageToOutsider,
    /// The second Work message is acknowledged with seq 1 again.
    DuplicateSeq,
    /// The second Work message is acknowledged with seq 3.
    SeqGap,
    // ---- faults the checker misses (see the ignored tests at the end) ----
    /// The sender's first pull is answered with no entry at all.
    PullLosesEntries,
    /// A count pull mixing the Work message and a C2C message is answered entry by entry
    /// instead of being rejected with MIXED_CONVERSATIONS.
    MixedPullAccepted,
}

impl Fault {
    /// The faults the checker catches (and the clean baseline).
    const CAUGHT: [Fault; 20] = [
        Fault::None,
        Fault::PushSumWrong,
        Fault::PushCountDecreases,
        Fault::PullBelowAcked,
        Fault::C2cPullBelowAcked,
        Fault::PushAboveInvoked,
        Fault::C2cPullAboveInvoked,
        Fault::PageRepeatsMember,
        Fault::PageListsOutsider,
        Fault::PageMissesUnread,
        Fault::ReadPageListsNonReader,
        Fault::QuietPullOff,
        Fault::LastReceiptPushDropped,
        Fault::C2cReadPushDropped,
        Fault::C2cReadReordered,
        Fault::OutsiderReceiptAccepted,
        Fault::CommunityReceiptSendAccepted,
        Fault::NewMessageToOutsider,
        Fault::DuplicateSeq,
        Fault::SeqGap,
    ];
}

/// The baseline history with `fault` planted, against the reference model.
fn history(fault: Fault) -> Checker {
    let mut h = History::model();
    baseline(&mut h, fault);
    h.checker
}

/// A valid history that exercises every invariant: a Work group of six with receipts
/// (including a repeated one and a rejected outsider), pulls, full member-list pagings mid-run,
/// C2C messages both ways with a receipt and two mark-reads, a refused Community send, then
/// Quiet, the final pulls and full pagings, and End. Times are in ms; operations do not overlap;
/// pushes arrive with the response unless said otherwise.
fn baseline<T: Target>(h: &mut History<T>, fault: Fault) {
    let is = |f: Fault| fault == f;

    // Provisioning: u0..u7; Work g0 = u0..u5; Community g1 = u0, u1, u6. u7 stays offline.
    for i in 0..=7 {
        h.admin(AdminRequest::CreateUser { user: u(i) });
    }
    h.admin(AdminRequest::CreateGroup {
        group: WORK,
        group_type: GroupType::Work,
        members: (0..=5).map(u).collect(),
    });
    h.admin(AdminRequest::CreateGroup {
        group: COMMUNITY,
        group_type: GroupType::Community,
        members: vec![SENDER, u(1), PEER],
    });
    for i in 0..=6 {
        h.connect(0, u(i));
    }

    // Messages: a Work message asking for receipts (audience u1..u5), a plain Community
    // message, and one C2C message each way asking for receipts.
    let r = h.op_with(ms(10), ms(20), SENDER, send(Conv::Group(WORK), true), |p| {
        if is(Fault::NewMessageToOutsider) {
            let stray = p.deliveries[0].push.clone();
            p.deliveries.push(Delivery {
                to: PEER,
                device: None,
                push: stray,
            });
        }
    });
    assert_eq!(sent_id(&r), M_WORK);
    let r = h.op(ms(30), ms(40), SENDER, send(Conv::Group(COMMUNITY), false));
    assert_eq!(sent_id(&r), M_COMMUNITY);
    let r = h.op(ms(50), ms(60), SENDER, send(Conv::C2c(PEER), true));
    assert_eq!(sent_id(&r), M_TO_PEER);
    let r = h.op(ms(70), ms(80), PEER, send(Conv::C2c(SENDER), true));
    assert_eq!(sent_id(&r), M_FROM_PEER);

    // u1 reads; its push to the sender is slow and arrives after the sender's first pull.
    let mut p = h.start(ms(100), u(1), receipts(&[M_WORK]));
    let late = std::mem::take(&mut p.deliveries);
    assert_eq!(late.len(), 1);
    h.finish(ms(110), p);
    h.op_with(ms(120), ms(130), SENDER, pull(&[M_WORK]), |p| {
        if is(Fault::PullBelowAcked) {
            group_counts(p, |r, un| (*r, *un) = (0, 5));
        }
        if is(Fault::PullLosesEntries) {
            p.resp = Response::ReadReceipts {
                entries: Vec::new(),
            };
        }
    });
    h.deliver(ms(135), late);

    // u2 reads; u1 repeats its receipt (idempotent, no push); the outsider is refused.
    h.op_with(ms(140), ms(150), u(2), receipts(&[M_WORK]), |p| {
        if is(Fault::PushSumWrong) {
            group_counts(p, |_, un| *un += 1);
        }
        if is(Fault::PushCountDecreases) {
            group_counts(p, |r, un| (*r, *un) = (0, 5));
        }
        if is(Fault::PushAboveInvoked) {
            group_counts(p, |r, un| (*r, *un) = (3, 2));
        }
    });
    h.op(ms(160), ms(170), u(1), receipts(&[M_WORK]));
    h.op_with(ms(180), ms(190), OUTSIDER, receipts(&[M_WORK]), |p| {
        let Response::ReceiptsSent { results } = &mut p.resp else {
            panic!("test bug: {:?}", p.resp)
        };
        if is(Fault::OutsiderReceiptAccepted) {
            results[0].result = Ok(());
        }
    });

    // The sender pages the unread list (u3 u4 | u5) and the read list (u1 | u2) mid-run.
    let r = h.op(
        ms(200),
        ms(210),
        SENDER,
        page(M_WORK, ReadFilter::Unread, 0, 2),
    );
    h.op_with(
        ms(220),
        ms(230),
        SENDER,
        page(M_WORK, ReadFilter::Unread, next_seq(&r), 2),
        |p| {
            if is(Fault::PageRepeatsMember) {
                set_page(p, &[4, 5], true);
            }
            if is(Fault::PageListsOutsider) {
                set_page(p, &[5, OUTSIDER.0], true);
            }
            if is(Fault::PageMissesUnread) {
                set_page(p, &[], true);
            }
        },
    );
    let r = h.op(
        ms(240),
        ms(250),
        SENDER,
        page(M_WORK, ReadFilter::Read, 0, 1),
    );
    h.op_with(
        ms(260),
        ms(270),
        SENDER,
        page(M_WORK, ReadFilter::Read, next_seq(&r), 1),
        |p| {
            if is(Fault::ReadPageListsNonReader) {
                set_page(p, &[4], true);
            }
        },
    );

    // C2C: the sender pulls its message (still unread); the peer sends a receipt; the sender
    // marks the conversation read; both pull.
    h.op_with(ms(272), ms(276), SENDER, pull(&[M_TO_PEER]), |p| {
        if is(Fault::C2cPullAboveInvoked) {
            c2c_pulled(p, true);
        }
    });
    h.op(ms(280), ms(290), PEER, receipts(&[M_TO_PEER]));
    let mut p = h.start(ms(300), SENDER, Request::MarkC2cRead { peer: PEER });
    let first_mark = if is(Fault::C2cReadReordered) {
        std::mem::take(&mut p.deliveries)
    } else {
        Vec::new()
    };
    h.finish(ms(310), p);
    h.op_with(ms(320), ms(330), PEER, pull(&[M_FROM_PEER]), |p| {
        if is(Fault::C2cPullBelowAcked) {
            c2c_pulled(p, false);
        }
    });
    h.op(ms(340), ms(350), SENDER, pull(&[M_TO_PEER]));
    // A count pull mixing two conversations is rejected as a whole.
    h.op_with(ms(352), ms(356), SENDER, pull(&[M_WORK, M_TO_PEER]), |p| {
        assert_eq!(p.resp.error_code(), Some(ErrorCode::MixedConversations));
        if is(Fault::MixedPullAccepted) {
            p.resp = Response::ReadReceipts {
                entries: vec![
                    PerMessage {
                        msg_id: M_WORK,
                        result: Ok(ReceiptEntry::Group {
                            msg_id: M_WORK,
                            group_id: WORK,
                            read_count: 2,
                            unread_count: 3,
                        }),
                    },
                    PerMessage {
                        msg_id: M_TO_PEER,
                        result: Ok(ReceiptEntry::C2c {
                            msg_id: M_TO_PEER,
                            user_id: PEER,
                            is_peer_read: true,
                        }),
                    },
                ],
            };
        }
    });

    // u3 reads (the last receipt of the Work message).
    h.op_with(ms(360), ms(370), u(3), receipts(&[M_WORK]), |p| {
        if is(Fault::LastReceiptPushDropped) {
            assert_eq!(p.deliveries.len(), 1);
            p.deliveries.clear();
        }
    });

    // A second Work message without receipts (seq 2), a refused receipt-asking Community send,
    // and a second mark-read.
    h.op_with(
        ms(380),
        ms(390),
        SENDER,
        send(Conv::Group(WORK), false),
        |p| {
            assert_eq!(sent_id(&p.resp), M_WORK_PLAIN);
            if is(Fault::DuplicateSeq) {
                set_seq(p, 1);
            }
            if is(Fault::SeqGap) {
                set_seq(p, 3);
            }
        },
    );
    h.op_with(
        ms(400),
        ms(410),
        SENDER,
        send(Conv::Group(COMMUNITY), true),
        |p| {
            assert_eq!(
                p.resp.error_code(),
                Some(ErrorCode::ReceiptsDisabledForGroupType)
            );
            if is(Fault::CommunityReceiptSendAccepted) {
                p.resp = Response::Sent {
                    msg_id: MsgId(100),
                    seq: 2,
                    timestamp_ms: 400,
                };
            }
        },
    );
    h.op_with(
        ms(420),
        ms(430),
        SENDER,
        Request::MarkC2cRead { peer: PEER },
        |p| {
            if is(Fault::C2cReadPushDropped) {
                p.deliveries.clear();
            }
        },
    );
    h.deliver(ms(435), first_mark);

    // Quiet: final pulls and full pagings.
    h.quiet(ms(500));
    h.op_with(ms(510), ms(520), SENDER, pull(&[M_WORK]), |p| {
        if is(Fault::QuietPullOff) {
            group_counts(p, |r, un| (*r, *un) = (*r + 1, *un - 1));
        }
    });
    h.op(ms(530), ms(540), SENDER, pull(&[M_TO_PEER]));
    h.op(ms(550), ms(560), PEER, pull(&[M_FROM_PEER]));
    let r = h.op(
        ms(570),
        ms(580),
        SENDER,
        page(M_WORK, ReadFilter::Unread, 0, 100),
    );
    assert!(
        matches!(r, Response::MemberList { is_finished: true, ref members, .. } if members.len() == 2)
    );
    let r = h.op(
        ms(590),
        ms(600),
        SENDER,
        page(M_WORK, ReadFilter::Read, 0, 100),
    );
    assert!(
        matches!(r, Response::MemberList { is_finished: true, ref members, .. } if members.len() == 3)
    );
    h.end(ms(1000));
}

// ---- assertions -----------------------------------------------------------------------------

fn describe(c: &Checker) -> String {
    let mut s = format!("counts {:?}\n", c.counts());
    for v in c.violations() {
        s.push_str(&format!("  {v}\n"));
    }
    s
}

/// Exactly `inv` fired (at least once), nothing else did; every violation carries the replay
/// command; and if `msg` is given, some violation of `inv` names that message.
fn assert_only(c: &Checker, inv: Invariant, msg: Option<MsgId>) -> Vec<Violation> {
    let fired: Vec<Invariant> = c.counts().keys().copied().collect();
    assert_eq!(
        fired,
        vec![inv],
        "expected only {}: {}",
        inv.name(),
        describe(c)
    );
    assert!(c.counts()[&inv] >= 1);
    assert_eq!(c.violations_total(), c.counts().values().sum::<u64>());
    assert_eq!(c.violations().len() as u64, c.violations_total());
    for v in c.violations() {
        assert_eq!(v.replay, REPLAY);
        assert_eq!(v.invariant, inv);
        assert!(!v.observed.is_empty() && !v.bound.is_empty(), "{v}");
        assert!(v.to_string().contains(REPLAY));
    }
    if let Some(m) = msg {
        assert!(
            c.violations().iter().any(|v| v.msg == Some(m)),
            "no {} violation names {m}: {}",
            inv.name(),
            describe(c)
        );
    }
    c.violations().to_vec()
}

fn assert_clean(c: &Checker) {
    assert!(
        c.counts().is_empty(),
        "expected no violation: {}",
        describe(c)
    );
    assert_eq!(c.violations_total(), 0);
}

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

// ---------------------------------------------------------------------------------------------
// A target with one planted bug
// ---------------------------------------------------------------------------------------------

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Bug {
    /// Counts a reader twice once a message has been read: every pull of a group message with
    /// at least one receipt shows one reader more (and one unread less) than there are.
    OverCounts,
    /// Drops every 10th receipts push.
    DropsReceiptsPushes,
    /// Accepts receipts from users outside the audience (answers Ok instead of
    /// NOT_IN_AUDIENCE, counting nothing).
    AcceptsOutsiderReceipts,
}

struct BrokenTarget {
    inner: ModelTarget,
    bug: Bug,
    receipts_pushes: u64,
    dropped: u64,
}

impl BrokenTarget {
    fn new(config: ReceiptConfig, bug: Bug) -> BrokenTarget {
        BrokenTarget {
            inner: ModelTarget::new(Model::new(config)),
            bug,
            receipts_pushes: 0,
            dropped: 0,
        }
    }
}

impl Target for BrokenTarget {
    fn name(&self) -> &str {
        "broken-model"
    }

    fn admin(&mut self, now: Micros, req: &AdminRequest) -> Response {
        self.inner.admin(now, req)
    }

    fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response {
        let start = out.len();
        let mut resp = self.inner.apply(now, user, req, out);
        match self.bug {
            Bug::OverCounts => {
                if let Response::ReadReceipts { entries } = &mut resp {
                    for e in entries.iter_mut() {
                        if let Ok(ReceiptEntry::Group {
                            read_count,
                            unread_count,
                            ..
                        }) = &mut e.result
                            && *read_count >= 1
                            && *unread_count >= 1
                        {
                            *read_count += 1;
                            *unread_count -= 1;
                        }
                    }
                }
            }
            Bug::DropsReceiptsPushes => {
                let new: Vec<Delivery> = out.drain(start..).collect();
                for d in new {
                    if matches!(d.push, Push::Receipts { .. }) {
                        self.receipts_pushes += 1;
                        if self.receipts_pushes.is_multiple_of(10) {
                            self.dropped += 1;
                            continue;
                        }
                    }
                    out.push(d);
                }
            }
            Bug::AcceptsOutsiderReceipts => {
                if let Response::ReceiptsSent { results } = &mut resp {
                    for r in results.iter_mut() {
                        // Outsiders are refused as not in the audience, or (E1) as if
                        // the message did not exist.
                        if matches!(
                            r.result,
                            Err(ErrorCode::NotInAudience | ErrorCode::MessageNotFound)
                        ) {
                            r.result = Ok(());
                        }
                    }
                }
            }
        }
        resp
    }
}

/// The brief's small scenario (60 users, 6 Work groups, 20 pairs, 60s); the `{...}` knobs
/// are filled in by [`scenario_with`].
const SCENARIO: &str = r#"
name = "checkers-fire"
seed = 7
duration = "60s"

[population]
users = 60
online_share = {online_share}

[[groups]]
name = "work"
count = 6
type = "Work"
size = { dist = "uniform", min = {min_size}, max = 10 }

[c2c]
pairs = 20

[traffic]
group_messages_per_sec = 5.0
c2c_messages_per_sec = 2.0

[reading]
read_probability = {read_probability}

[pulls]
per_user_per_minute = 2.0

[checks]
liveness_bound = "2s"
"#;

/// The scenario with its knobs set: reading probability, online share, smallest group.
fn scenario_with(
    read_probability: f64,
    online_share: f64,
    min_size: u32,
) -> readsim::scenario::Scenario {
    let text = SCENARIO
        .replace("{read_probability}", &format!("{read_probability:?}"))
        .replace("{online_share}", &format!("{online_share:?}"))
        .replace("{min_size}", &min_size.to_string());
    readsim::scenario::parse_str(&text, "test").expect("scenario parses")
}

fn scenario() -> readsim::scenario::Scenario {
    scenario_with(1.0, 0.9, 4)
}

fn receipt_config(s: &readsim::scenario::Scenario) -> ReceiptConfig {
    s.receipts.config()
}

fn sim_check_config(s: &readsim::scenario::Scenario) -> CheckConfig {
    CheckConfig {
        liveness_bound: s.checks.liveness_bound.micros,
        ..check_config()
    }
}

fn run_sim<T: Target>(s: &readsim::scenario::Scenario, target: &mut T) -> Checker {
    readsim::observers::simulate(s, s.seed, target, sim_check_config(s))
        .observers
        .checker
}

fn clean_sim(s: &readsim::scenario::Scenario) -> (ModelTarget, Checker) {
    let mut target = ModelTarget::new(Model::new(receipt_config(s)));
    let c = run_sim(s, &mut target);
    (target, c)
}

#[test]
fn sim_clean_model_run_has_no_violations() {
    let s = scenario();
    let mut target = ModelTarget::new(Model::new(receipt_config(&s)));
    let out = readsim::observers::simulate(&s, s.seed, &mut target, sim_check_config(&s));
    assert_clean(&out.observers.checker);
    assert_eq!(out.target_name, "model");
    // The run did real work: messages, reads, pulls.
    assert!(
        target.model.message_count() > 200,
        "{}",
        target.model.message_count()
    );
    assert!(out.observers.metrics.total_ops() > 1000);
}

/// Asserts that the over-counting target trips `must` and nothing outside `may`.
fn assert_over_count_caught(c: &Checker, must: &[Invariant]) {
    let may = [
        Invariant::CountUpperBound,
        Invariant::QuietState,
        Invariant::MonotoneCounts,
    ];
    for inv in must {
        assert!(
            c.counts().contains_key(inv),
            "{} did not fire: {}",
            inv.name(),
            describe(c)
        );
    }
    for inv in c.counts().keys() {
        assert!(may.contains(inv), "{} fired: {}", inv.name(), describe(c));
    }
    assert!(
        c.violations()
            .iter()
            .all(|v| v.replay == REPLAY && v.msg.is_some())
    );
}

#[test]
fn sim_over_counting_target_is_caught() {
    // Every audience member of this scenario is online and reads, so the over-count (which
    // needs an unread member left) shows only in mid-run pulls, ahead of the receipts invoked.
    let s = scenario();
    let mut target = BrokenTarget::new(receipt_config(&s), Bug::OverCounts);
    let c = run_sim(&s, &mut target);
    assert_over_count_caught(&c, &[Invariant::CountUpperBound]);
}

#[test]
fn sim_over_counting_target_is_caught_once_quiet_too() {
    // With members who never read, the final pulls over-count too: quiet_state.
    let s = scenario_with(0.6, 0.9, 4);
    let (_, clean) = clean_sim(&s);
    assert_clean(&clean);
    let mut target = BrokenTarget::new(receipt_config(&s), Bug::OverCounts);
    let c = run_sim(&s, &mut target);
    assert_over_count_caught(&c, &[Invariant::CountUpperBound, Invariant::QuietState]);
}

#[test]
fn sim_push_dropping_target_is_caught_by_liveness_only() {
    let s = scenario();
    let mut target = BrokenTarget::new(receipt_config(&s), Bug::DropsReceiptsPushes);
    let c = run_sim(&s, &mut target);
    assert!(target.dropped > 0);
    let v = assert_only(&c, Invariant::Liveness, None);
    assert!(v.iter().all(|v| v.msg.is_some()), "{v:?}");
}

#[test]
fn outsider_accepting_target_is_caught_by_result_codes() {
    // The simulated workload never sends receipts from outside the audience, so this bug is
    // driven by the handcrafted baseline, whose outsider receipt the broken target accepts.
    let mut h = History::new(BrokenTarget::new(
        ReceiptConfig::default(),
        Bug::AcceptsOutsiderReceipts,
    ));
    baseline(&mut h, Fault::None);
    let v = assert_only(&h.checker, Invariant::ResultCodes, Some(M_WORK));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(OUTSIDER));
}

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
