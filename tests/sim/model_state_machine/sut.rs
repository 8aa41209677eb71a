//! The system under test (the model) and its checks against the reference.

use super::reference::RefState;
use super::*;

pub(super) struct Sut {
    pub(super) model: Model,
    /// Highest read count the sender has seen per message (pushes and pulls).
    pub(super) seen_read: BTreeMap<MsgId, u32>,
    /// C2C messages the sender has seen as read.
    pub(super) seen_peer_read: BTreeSet<MsgId>,
    /// Last `c2c_read` timestamp seen per (marker, receiver).
    pub(super) seen_mark_ts: BTreeMap<(UserId, UserId), u64>,
}

impl Sut {
    pub(super) fn observe(&mut self, e: &ReceiptEntry) {
        match *e {
            ReceiptEntry::Group {
                msg_id, read_count, ..
            } => {
                let last = self.seen_read.entry(msg_id).or_insert(0);
                assert!(
                    read_count >= *last,
                    "{msg_id}: read count went {last} -> {read_count}"
                );
                *last = read_count;
            }
            ReceiptEntry::C2c {
                msg_id,
                is_peer_read,
                ..
            } => {
                if is_peer_read {
                    self.seen_peer_read.insert(msg_id);
                } else {
                    assert!(
                        !self.seen_peer_read.contains(&msg_id),
                        "{msg_id}: is_peer_read reverted"
                    );
                }
            }
        }
    }

    pub(super) fn observe_pushes(&mut self, out: &[Delivery]) {
        for d in out {
            match &d.push {
                Push::Receipts { entries } => entries.iter().for_each(|e| self.observe(e)),
                Push::C2cRead {
                    user_id,
                    timestamp_ms,
                } => {
                    let last = self.seen_mark_ts.entry((*user_id, d.to)).or_insert(0);
                    assert!(*timestamp_ms >= *last, "c2c_read timestamp went back");
                    *last = *timestamp_ms;
                }
                Push::NewMessage { .. } => {}
            }
        }
    }

    /// A query through the public API; queries must push nothing.
    pub(super) fn query(&mut self, now: Micros, user: UserId, req: Request) -> Response {
        let mut out = Vec::new();
        let r = self.model.apply(now, user, &req, &mut out);
        assert!(out.is_empty(), "query {req:?} pushed {out:?}");
        r
    }

    pub(super) fn page_all(
        &mut self,
        now: Micros,
        sender: UserId,
        id: MsgId,
        filter: ReadFilter,
        k: u32,
    ) -> Vec<UserId> {
        let mut all = Vec::new();
        let mut cursor = 0;
        for _ in 0..=INITIAL_USERS + 3 {
            let req = Request::GetReadMemberList {
                msg_id: id,
                filter,
                next_seq: cursor,
                count: k,
            };
            match self.query(now, sender, req) {
                Response::MemberList {
                    members,
                    next_seq,
                    is_finished,
                } => {
                    assert!(members.len() <= k as usize);
                    all.extend(members);
                    cursor = next_seq;
                    if is_finished {
                        return all;
                    }
                }
                other => panic!("{id}: paging {filter:?} failed: {other:?}"),
            }
        }
        panic!("{id}: paging {filter:?} never finished");
    }

    /// Everything the model shows about the state must match the reference, and the invariants
    /// of docs/semantics.md must hold for every message.
    pub(super) fn check_all(&mut self, r: &RefState) {
        assert_eq!(self.model.message_count(), r.msgs.len());
        assert_eq!(self.model.message(MsgId(r.msgs.len() as u64 + 1)), None);
        for g in 0..=GROUPS {
            for u in 0..=MAX_USER {
                let want = r
                    .groups
                    .get(&GroupId(g))
                    .is_some_and(|grp| grp.members.contains(&UserId(u)));
                assert_eq!(self.model.is_member(GroupId(g), UserId(u)), want);
            }
        }
        for (i, m) in r.msgs.iter().enumerate() {
            let id = MsgId(i as u64 + 1);
            let view = self.model.message(id).expect("known message");
            let audience: Vec<UserId> = m.audience.iter().copied().collect();
            assert_eq!(view.conv, m.conv);
            assert_eq!(view.sender, m.sender);
            assert_eq!(view.seq, m.seq);
            assert_eq!(view.need_read_receipt, m.need);
            assert_eq!(view.audience_len as usize, audience.len());
            assert_eq!(self.model.audience(id), audience);
            let want_read = match m.conv {
                ConvKey::Group(_) => m.readers.len() as u32,
                ConvKey::Pair(..) => r.is_peer_read(id, m) as u32,
            };
            assert_eq!(view.read_count, want_read, "{id}: read count");
            if !m.need {
                continue;
            }
            // The sender's pull equals the reference and respects the count invariants.
            let pulled = self.query(
                r.now,
                m.sender,
                Request::GetReadReceipts { msg_ids: vec![id] },
            );
            let want = r.entry(id);
            assert_eq!(
                pulled,
                Response::ReadReceipts {
                    entries: vec![PerMessage {
                        msg_id: id,
                        result: Ok(want)
                    }]
                }
            );
            self.observe(&want);
            let ReceiptEntry::Group {
                read_count,
                unread_count,
                ..
            } = want
            else {
                continue;
            };
            assert_eq!((read_count + unread_count) as usize, audience.len());
            // Member lists paged to the end with small pages.
            let read = self.page_all(r.now, m.sender, id, ReadFilter::Read, 2);
            let unread = self.page_all(r.now, m.sender, id, ReadFilter::Unread, 3);
            assert_eq!(read, m.readers, "{id}: read list in read order");
            let rs: BTreeSet<UserId> = read.iter().copied().collect();
            let us: BTreeSet<UserId> = unread.iter().copied().collect();
            assert_eq!(rs.len(), read.len(), "{id}: read list repeats");
            assert_eq!(us.len(), unread.len(), "{id}: unread list repeats");
            assert!(rs.is_disjoint(&us), "{id}: lists overlap");
            assert!(unread.windows(2).all(|w| w[0] < w[1]), "{id}: unread order");
            let union: Vec<UserId> = rs.union(&us).copied().collect();
            assert_eq!(union, audience, "{id}: lists do not cover the audience");
            assert_eq!(read.len() as u32, read_count);
            assert_eq!(unread.len() as u32, unread_count);
        }
    }
}
