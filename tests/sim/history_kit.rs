//! The history builder of the checker tests: a small driver that runs a real target (the
//! reference model, or a broken wrapper of it) and streams its events into a `Checker`; the
//! baseline history every fault test corrupts once (`Fault`); and the assertions (exactly one
//! invariant fires). Used by `checkers_fire.rs`, `broken_targets.rs` and
//! `checker_regressions.rs`.

use readsim::check::{CheckConfig, Checker, Invariant, Violation};
use readsim::history::{Device, Event, Observer, OpId};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, Conv, ErrorCode, GroupId, GroupType, Micros, MsgId, PerMessage, Push, ReadFilter,
    ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use readsim::target::{ModelTarget, Target};
use std::collections::BTreeSet;

/// The replay command every violation must carry.
pub(crate) const REPLAY: &str = "readsim run scenarios/checkers_fire.toml --seed 7";

pub(crate) fn check_config() -> CheckConfig {
    CheckConfig {
        liveness_bound: 5_000_000,
        replay: REPLAY.to_string(),
        max_recorded: 1000,
        fault_phase: false,
        ..CheckConfig::default()
    }
}

pub(crate) fn ms(x: u64) -> Micros {
    x * 1000
}

pub(crate) fn u(i: u32) -> UserId {
    UserId(i)
}

// ---------------------------------------------------------------------------------------------
// The history builder
// ---------------------------------------------------------------------------------------------

/// One operation whose request has reached the target but whose response and pushes have not
/// been observed yet. Tests corrupt `resp` or `deliveries` before [`History::finish`].
pub(crate) struct Pending {
    pub(crate) user: UserId,
    pub(crate) op: OpId,
    pub(crate) resp: Response,
    pub(crate) deliveries: Vec<Delivery>,
}

/// Builds a history against a real target and feeds it to a checker as it goes.
pub(crate) struct History<T: Target> {
    pub(crate) target: T,
    pub(crate) checker: Checker,
    /// Who is connected: pushes to anyone else are not delivered (they are not queued).
    pub(crate) online: BTreeSet<UserId>,
    pub(crate) next_op: OpId,
    /// Time of the last event, to keep the history in time order.
    pub(crate) now: Micros,
}

impl History<ModelTarget> {
    pub(crate) fn model() -> Self {
        History::new(ModelTarget::new(Model::new(ReceiptConfig::default())))
    }
}

impl<T: Target> History<T> {
    pub(crate) fn new(target: T) -> Self {
        History {
            target,
            checker: Checker::new(check_config()),
            online: BTreeSet::new(),
            next_op: 1,
            now: 0,
        }
    }

    pub(crate) fn emit(&mut self, ev: Event<'_>) {
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
    pub(crate) fn admin(&mut self, req: AdminRequest) -> Response {
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

    pub(crate) fn connect(&mut self, t: Micros, client: UserId) {
        self.online.insert(client);
        self.emit(Event::Connect { t, client });
    }

    pub(crate) fn invoke(&mut self, t: Micros, client: UserId, req: &Request) -> OpId {
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

    pub(crate) fn complete(&mut self, t: Micros, client: UserId, op: OpId, resp: &Response) {
        self.emit(Event::Complete {
            t,
            client,
            op,
            resp,
        });
    }

    pub(crate) fn push(&mut self, t: Micros, client: UserId, push: &Push) {
        self.emit(Event::Push {
            t,
            client,
            device: Device::FIRST,
            push,
        });
    }

    pub(crate) fn quiet(&mut self, t: Micros) {
        self.emit(Event::Quiet { t });
    }

    pub(crate) fn end(&mut self, t: Micros) {
        self.emit(Event::End { t });
    }

    /// Invokes `req` for `user` at `t` and applies it to the target at once.
    pub(crate) fn start(&mut self, t: Micros, user: UserId, req: Request) -> Pending {
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
    pub(crate) fn finish(&mut self, t: Micros, p: Pending) -> Response {
        self.complete(t, p.user, p.op, &p.resp);
        self.deliver(t, p.deliveries);
        p.resp
    }

    /// Observes pushes at `t`, skipping offline users.
    pub(crate) fn deliver(&mut self, t: Micros, deliveries: Vec<Delivery>) {
        for d in deliveries {
            if self.online.contains(&d.to) {
                self.push(t, d.to, &d.push);
            }
        }
    }

    /// One whole operation: invoke at `t0`, response and pushes at `t1`.
    pub(crate) fn op(&mut self, t0: Micros, t1: Micros, user: UserId, req: Request) -> Response {
        self.op_with(t0, t1, user, req, |_| {})
    }

    /// Like [`History::op`], letting `corrupt` change what is observed before it is observed.
    pub(crate) fn op_with(
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

pub(crate) fn send(conv: Conv, need: bool) -> Request {
    Request::SendMessage {
        conv,
        need_read_receipt: need,
        body_len: 16,
    }
}

pub(crate) fn receipts(ids: &[MsgId]) -> Request {
    Request::SendReadReceipts {
        msg_ids: ids.to_vec(),
    }
}

pub(crate) fn pull(ids: &[MsgId]) -> Request {
    Request::GetReadReceipts {
        msg_ids: ids.to_vec(),
    }
}

pub(crate) fn page(msg: MsgId, filter: ReadFilter, next_seq: u64, count: u32) -> Request {
    Request::GetReadMemberList {
        msg_id: msg,
        filter,
        next_seq,
        count,
    }
}

pub(crate) fn sent_id(resp: &Response) -> MsgId {
    match resp {
        Response::Sent { msg_id, .. } => *msg_id,
        other => panic!("test bug: send failed: {other:?}"),
    }
}

pub(crate) fn next_seq(resp: &Response) -> u64 {
    match resp {
        Response::MemberList { next_seq, .. } => *next_seq,
        other => panic!("test bug: paging failed: {other:?}"),
    }
}

/// Applies `f` to (read_count, unread_count) of every group entry the operation shows: in a
/// pull response or in the receipts pushes it causes.
pub(crate) fn group_counts(p: &mut Pending, mut f: impl FnMut(&mut u32, &mut u32)) {
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
pub(crate) fn c2c_pulled(p: &mut Pending, read: bool) {
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
pub(crate) fn set_page(p: &mut Pending, members: &[u32], finished: bool) {
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

pub(crate) fn set_seq(p: &mut Pending, new_seq: u64) {
    let Response::Sent { seq, .. } = &mut p.resp else {
        panic!("test bug: not a send ack: {:?}", p.resp);
    };
    *seq = new_seq;
}

// ---------------------------------------------------------------------------------------------
// The baseline history and its faults
// ---------------------------------------------------------------------------------------------

pub(crate) const SENDER: UserId = UserId(0);
/// The C2C peer of `SENDER`; a member of the Community group, not of the Work group.
pub(crate) const PEER: UserId = UserId(6);
/// An existing user in no group, never connected.
pub(crate) const OUTSIDER: UserId = UserId(7);
pub(crate) const WORK: GroupId = GroupId(0);
pub(crate) const COMMUNITY: GroupId = GroupId(1);

/// The messages of the baseline, in the order the model assigns their ids.
pub(crate) const M_WORK: MsgId = MsgId(1);
pub(crate) const M_COMMUNITY: MsgId = MsgId(2);
pub(crate) const M_TO_PEER: MsgId = MsgId(3);
pub(crate) const M_FROM_PEER: MsgId = MsgId(4);
pub(crate) const M_WORK_PLAIN: MsgId = MsgId(5);

/// One corruption of the baseline history (or none).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
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
    pub(crate) const CAUGHT: [Fault; 20] = [
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
pub(crate) fn history(fault: Fault) -> Checker {
    let mut h = History::model();
    baseline(&mut h, fault);
    h.checker
}

/// A valid history that exercises every invariant: a Work group of six with receipts
/// (including a repeated one and a rejected outsider), pulls, full member-list pagings mid-run,
/// C2C messages both ways with a receipt and two mark-reads, a refused Community send, then
/// Quiet, the final pulls and full pagings, and End. Times are in ms; operations do not overlap;
/// pushes arrive with the response unless said otherwise.
pub(crate) fn baseline<T: Target>(h: &mut History<T>, fault: Fault) {
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

pub(crate) fn describe(c: &Checker) -> String {
    let mut s = format!("counts {:?}\n", c.counts());
    for v in c.violations() {
        s.push_str(&format!("  {v}\n"));
    }
    s
}

/// Exactly `inv` fired (at least once), nothing else did; every violation carries the replay
/// command; and if `msg` is given, some violation of `inv` names that message.
pub(crate) fn assert_only(c: &Checker, inv: Invariant, msg: Option<MsgId>) -> Vec<Violation> {
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

pub(crate) fn assert_clean(c: &Checker) {
    assert!(
        c.counts().is_empty(),
        "expected no violation: {}",
        describe(c)
    );
    assert_eq!(c.violations_total(), 0);
}
