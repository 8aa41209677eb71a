//! Misuse: the calls of a buggy client (`pulls.misuse_share`). A share of pull flows also
//! sends one malformed or misdirected call (a count pull, a member-list page or, under the
//! Tencent profile, a mark-read of oneself or of a user no service has), and a share of
//! receipt batches goes out once malformed (or naming an id no service issued) before the
//! well-formed batch. Every one of them must be refused (docs/semantics.md E1, R1, R2, P1,
//! P2, M1, C1; under the Matrix profile a batch of several conversations is allowed, MX5),
//! which only traffic like this can show.
//!
//! The misuse call comes in addition to the client's regular traffic, which goes on as if
//! it had not been made; its decisions come from streams of their own (`Purpose::Misuse`),
//! and with the knob at 0 nothing is drawn at all: runs without misuse stay as they were.

use super::traffic::Sent;
use super::{Action, Tag, Workload};
use crate::protocol::{ConvKey, MAX_BATCH, MsgId, Request, UserId};
use crate::rng::{Purpose, Stream, entity};
use rand::RngExt;

const NEVER_ISSUED: MsgId = MsgId::NEVER_ISSUED;

/// The stream kinds of `Purpose::Misuse` (part of the stream key: never renumber).
const PULL_STREAM: u64 = 0;
const BATCH_STREAM: u64 = 1;

/// What a misusing pull flow sends, drawn uniformly.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum PullMisuse {
    /// P1: a count pull of no ids (BATCH_SIZE).
    EmptyCounts,
    /// P1: over 100 ids, an own message repeated (duplicates count towards the 100).
    OversizeCounts,
    /// P1: own messages of two conversations (MIXED_CONVERSATIONS).
    MixedCounts,
    /// P2: counts of another user's message (NOT_MESSAGE_SENDER, or MESSAGE_NOT_FOUND where
    /// the caller may not see it) and of an id never issued.
    OthersCounts,
    /// P2: counts of an own message that did not ask for receipts (RECEIPT_NOT_REQUESTED).
    UnrequestedCounts,
    /// M1: a page of 0 or 101 members (COUNT_OUT_OF_RANGE).
    PageCount,
    /// M1: a page of another user's message, or of an id never issued.
    OthersPage,
    /// M1: a page of an own 1:1 message (NOT_GROUP_MESSAGE).
    C2cPage,
    /// M1: a page of an own group message without receipts (RECEIPT_NOT_REQUESTED).
    UnrequestedPage,
    /// C1: a mark-read of the user's own chat with itself (SELF_CONVERSATION).
    SelfMark,
    /// C1: a mark-read of a chat with a user no service has (USER_NOT_FOUND).
    UnknownPeerMark,
}

const TENCENT_PULL_MISUSES: [PullMisuse; 11] = [
    PullMisuse::EmptyCounts,
    PullMisuse::OversizeCounts,
    PullMisuse::MixedCounts,
    PullMisuse::OthersCounts,
    PullMisuse::UnrequestedCounts,
    PullMisuse::PageCount,
    PullMisuse::OthersPage,
    PullMisuse::C2cPage,
    PullMisuse::UnrequestedPage,
    PullMisuse::SelfMark,
    PullMisuse::UnknownPeerMark,
];

/// The Matrix profile's list: all but the mark-reads of C1 (its mark-read is a receipt,
/// MX9), in the order it always had, so its draws stay as they were.
const PULL_MISUSES: &[PullMisuse] = TENCENT_PULL_MISUSES.split_at(9).0;

impl Workload {
    fn misuse_share(&self) -> f64 {
        self.scenario.pulls.misuse_share
    }

    /// `user`'s misuse stream of `kind`, created on first use.
    fn misuse_rng(&mut self, kind: u64, user: UserId) -> &mut Stream {
        let streams = self.streams;
        self.misuse_rngs
            .entry((kind, user))
            .or_insert_with(|| streams.rng(Purpose::Misuse, entity(&[kind, u64::from(user.0)])))
    }

    /// Remembers `s` as its conversation's latest message and its sender's latest own message
    /// of its kind (conversation, receipts asked or not): what a misusing client names. Kept
    /// only when misuse is on.
    pub(super) fn note_own(&mut self, s: Sent) {
        if self.misuse_share() == 0.0 {
            return;
        }
        self.conv_latest.insert(s.key, s);
        let own = self.own_latest.entry(s.sender).or_default();
        match own.iter_mut().find(|o| o.key == s.key && o.need == s.need) {
            Some(o) => *o = s,
            None => own.push(s),
        }
    }

    /// A pull flow of `user` starts: with `pulls.misuse_share`, one misuse call as well.
    pub(super) fn misuse_pull(&mut self, user: UserId, out: &mut Vec<Action>) {
        let share = self.misuse_share();
        if share == 0.0 {
            return;
        }
        let kinds: &'static [PullMisuse] = if self.scenario.semantics.profile.is_matrix() {
            PULL_MISUSES
        } else {
            &TENCENT_PULL_MISUSES
        };
        let rng = self.misuse_rng(PULL_STREAM, user);
        if !rng.random_bool(share) {
            return;
        }
        let first = rng.random_range(0..kinds.len());
        let pick = rng.random::<u64>();
        // A kind that needs messages the user does not have gives way to the next one;
        // PageCount needs none, so one is always sent.
        let req = (0..kinds.len())
            .find_map(|i| self.pull_misuse(user, kinds[(first + i) % kinds.len()], pick));
        out.extend(req.map(|req| Action::Invoke {
            client: user,
            req,
            tag: Tag::Misuse,
        }));
    }

    /// The request of `kind`, if `user` has the messages it needs (`pick`: a random number
    /// that picks the page count and another user's message).
    fn pull_misuse(&self, user: UserId, kind: PullMisuse, pick: u64) -> Option<Request> {
        let counts = |msg_ids| Some(Request::GetReadReceipts { msg_ids });
        let own = |f: &dyn Fn(&Sent) -> bool| self.own(user).find(|s| f(s)).map(|s| s.msg);
        match kind {
            PullMisuse::EmptyCounts => counts(Vec::new()),
            PullMisuse::OversizeCounts => counts(vec![own(&|_| true)?; MAX_BATCH + 1]),
            PullMisuse::MixedCounts => {
                let a = self.own(user).find(|s| s.need)?;
                let b = own(&|s| s.need && s.key != a.key)?;
                counts(vec![a.msg, b])
            }
            PullMisuse::OthersCounts => counts(vec![self.others_msg(user, pick)?, NEVER_ISSUED]),
            PullMisuse::UnrequestedCounts => counts(vec![own(&|s| !s.need)?]),
            PullMisuse::PageCount => {
                let count = if pick & 1 == 0 {
                    0
                } else {
                    MAX_BATCH as u32 + 1
                };
                let msg = self.own(user).next().map_or(NEVER_ISSUED, |s| s.msg);
                Some(self.misuse_page(msg, count))
            }
            PullMisuse::OthersPage => {
                let msg = self.others_msg(user, pick).unwrap_or(NEVER_ISSUED);
                Some(self.misuse_page(msg, self.scenario.pulls.member_list_page))
            }
            PullMisuse::C2cPage => {
                let msg = own(&|s| matches!(s.key, ConvKey::Pair(..)))?;
                Some(self.misuse_page(msg, self.scenario.pulls.member_list_page))
            }
            PullMisuse::UnrequestedPage => {
                let msg = own(&|s| !s.need && matches!(s.key, ConvKey::Group(_)))?;
                Some(self.misuse_page(msg, self.scenario.pulls.member_list_page))
            }
            PullMisuse::SelfMark => Some(Request::MarkC2cRead { peer: user }),
            PullMisuse::UnknownPeerMark => Some(Request::MarkC2cRead {
                peer: UserId::NEVER_CREATED,
            }),
        }
    }

    fn misuse_page(&self, msg: MsgId, count: u32) -> Request {
        Request::GetReadMemberList {
            msg_id: msg,
            filter: crate::protocol::ReadFilter::Unread,
            next_seq: 0,
            count,
        }
    }

    fn own(&self, user: UserId) -> impl Iterator<Item = &Sent> {
        self.own_latest.get(&user).into_iter().flatten()
    }

    /// A message another user sent: the latest of one of `user`'s conversations (one it may
    /// see: NOT_MESSAGE_SENDER) or one sent anywhere (mostly one it may not see:
    /// MESSAGE_NOT_FOUND), by `pick`.
    fn others_msg(&self, user: UserId, pick: u64) -> Option<MsgId> {
        let convs = &self.plan.user_convs;
        let pick = pick >> 1;
        let n = convs.count(user);
        if pick & 1 == 0 && n > 0 {
            let key = convs.get(user, (pick >> 1) as usize % n);
            if let Some(s) = self.conv_latest.get(&key).filter(|s| s.sender != user) {
                return Some(s.msg);
            }
        }
        let n = self.sent.len();
        let start = ((pick >> 1) % n.max(1) as u64) as usize;
        // A bounded look: a user who sent most messages finds none and the caller moves on.
        (0..n.min(16))
            .map(|i| &self.sent[(start + i) % n])
            .find(|s| s.sender != user)
            .map(|s| s.msg)
    }

    /// `user` flushes `ids`, its batch for `key`: with `pulls.misuse_share` the batch first
    /// goes out malformed (empty, over 100 ids, or with an own message of another
    /// conversation), as a client whose batching is broken would send it.
    pub(super) fn misuse_batch(
        &mut self,
        user: UserId,
        key: ConvKey,
        ids: &[MsgId],
        out: &mut Vec<Action>,
    ) {
        let share = self.misuse_share();
        if share == 0.0 {
            return;
        }
        // The Tencent profile adds a fourth kind (R2); Matrix keeps its three, and its draws.
        let kinds = if self.scenario.semantics.profile.is_matrix() {
            3
        } else {
            4
        };
        let rng = self.misuse_rng(BATCH_STREAM, user);
        if !rng.random_bool(share) {
            return;
        }
        let kind = rng.random_range(0..kinds);
        let other = self.own(user).find(|s| s.key != key).map(|s| s.msg);
        let msg_ids = match (kind, other) {
            (0, _) => Vec::new(),
            // R1 (Tencent): MIXED_CONVERSATIONS; MX5 (Matrix): accepted, one receipt each.
            (1, Some(other)) => ids.iter().copied().chain([other]).collect(),
            // R2: well-formed, with an id no service issued: refused for that id alone.
            (3, _) if ids.len() < MAX_BATCH => ids.iter().copied().chain([NEVER_ISSUED]).collect(),
            // Duplicates count towards the 100.
            _ => ids.iter().copied().cycle().take(MAX_BATCH + 1).collect(),
        };
        out.push(Action::Invoke {
            client: user,
            req: Request::SendReadReceipts { msg_ids },
            tag: Tag::Misuse,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{GroupId, Response};
    use crate::workload::testkit;

    fn misusing(share: f64) -> Workload {
        let text = format!("{}\n[pulls]\nmisuse_share = {share}\n", testkit::SMALL);
        testkit::workload(&text, 1)
    }

    fn misuse_calls(out: &[Action]) -> Vec<&Request> {
        out.iter()
            .filter_map(|a| match a {
                Action::Invoke {
                    req,
                    tag: Tag::Misuse,
                    ..
                } => Some(req),
                _ => None,
            })
            .collect()
    }

    /// `u` sent, in order: a group message with receipts, one without, a 1:1 message.
    fn with_own_messages(w: &mut Workload, u: UserId, peer: UserId) {
        let g = ConvKey::Group(GroupId(0));
        let pair = ConvKey::Pair(u, peer);
        for (m, key, need) in [(1, g, true), (2, g, false), (3, pair, true)] {
            let ack = Response::Sent {
                msg_id: MsgId(m),
                seq: m,
                timestamp_ms: 0,
            };
            w.record_sent(u, key, need, &ack);
        }
        let other = Response::Sent {
            msg_id: MsgId(9),
            seq: 4,
            timestamp_ms: 0,
        };
        w.record_sent(peer, g, true, &other);
    }

    #[test]
    fn at_zero_nothing_is_drawn_kept_or_sent() {
        let mut w = misusing(0.0);
        let u = w.members.online(&w.plan, GroupId(0))[0];
        with_own_messages(&mut w, u, UserId(39));
        let mut out = Vec::new();
        w.pull(0, u, &mut out);
        w.add_to_batch(0, u, ConvKey::Group(GroupId(0)), MsgId(9), &mut out);
        w.flush(u, ConvKey::Group(GroupId(0)), &mut out);
        assert!(misuse_calls(&out).is_empty(), "{out:?}");
        assert!(w.misuse_rngs.is_empty() && w.own_latest.is_empty());
    }

    #[test]
    fn each_pull_misuse_names_the_messages_that_break_its_rule() {
        let mut w = misusing(1.0);
        let (u, peer) = (UserId(1), UserId(2));
        with_own_messages(&mut w, u, peer);
        let page = |msg: u64| Request::GetReadMemberList {
            msg_id: MsgId(msg),
            filter: crate::protocol::ReadFilter::Unread,
            next_seq: 0,
            count: w.scenario.pulls.member_list_page,
        };
        let counts = |ids: &[u64]| Request::GetReadReceipts {
            msg_ids: ids.iter().map(|&m| MsgId(m)).collect(),
        };
        let req = |k| w.pull_misuse(u, k, 0);
        assert_eq!(req(PullMisuse::EmptyCounts), Some(counts(&[])));
        let over = req(PullMisuse::OversizeCounts);
        assert!(matches!(over, Some(Request::GetReadReceipts { msg_ids }) if msg_ids.len() == 101));
        assert_eq!(req(PullMisuse::MixedCounts), Some(counts(&[1, 3])));
        let others = Request::GetReadReceipts {
            msg_ids: vec![MsgId(9), NEVER_ISSUED],
        };
        assert_eq!(req(PullMisuse::OthersCounts), Some(others));
        assert_eq!(req(PullMisuse::UnrequestedCounts), Some(counts(&[2])));
        assert_eq!(req(PullMisuse::OthersPage), Some(page(9)));
        assert_eq!(req(PullMisuse::C2cPage), Some(page(3)));
        assert_eq!(req(PullMisuse::UnrequestedPage), Some(page(2)));
        let bad_count = |pick| match w.pull_misuse(u, PullMisuse::PageCount, pick) {
            Some(Request::GetReadMemberList { msg_id, count, .. }) => (msg_id, count),
            other => panic!("{other:?}"),
        };
        assert_eq!(bad_count(0), (MsgId(1), 0));
        assert_eq!(bad_count(1), (MsgId(1), 101));
        assert_eq!(w.pull_misuse(peer, PullMisuse::UnrequestedCounts, 0), None);
        assert_eq!(
            req(PullMisuse::SelfMark),
            Some(Request::MarkC2cRead { peer: u })
        );
        assert_eq!(
            req(PullMisuse::UnknownPeerMark),
            Some(Request::MarkC2cRead {
                peer: UserId::NEVER_CREATED
            })
        );
        // A user who sent nothing still misuses: a page with a count out of range.
        let mut out = Vec::new();
        let idle = w.members.online(&w.plan, GroupId(1))[0];
        w.misuse_pull(idle, &mut out);
        assert_eq!(misuse_calls(&out).len(), 1, "{out:?}");
    }

    #[test]
    fn a_misused_batch_goes_out_malformed_before_the_real_one() {
        let mut w = misusing(1.0);
        let u = w.members.online(&w.plan, GroupId(0))[0];
        with_own_messages(&mut w, u, UserId(39));
        let key = ConvKey::Group(GroupId(3));
        let (mut empty, mut over, mut mixed, mut unknown) = (0, 0, 0, 0);
        for m in 0..30 {
            let mut out = Vec::new();
            w.add_to_batch(m, u, key, MsgId(100 + m), &mut out);
            w.flush(u, key, &mut out);
            let bad = misuse_calls(&out);
            let [Request::SendReadReceipts { msg_ids }] = bad[..] else {
                panic!("one misused batch: {out:?}")
            };
            match msg_ids.len() {
                0 => empty += 1,
                101 => over += 1,
                _ if msg_ids[1] == NEVER_ISSUED => {
                    assert_eq!(msg_ids, &[MsgId(100 + m), NEVER_ISSUED]);
                    unknown += 1;
                }
                _ => {
                    assert_eq!(msg_ids, &[MsgId(100 + m), MsgId(1)]);
                    mixed += 1;
                }
            }
            assert_eq!(testkit::receipts(&out).last().unwrap().1, [MsgId(100 + m)]);
        }
        assert!(
            empty > 0 && over > 0 && mixed > 0 && unknown > 0,
            "{empty} {over} {mixed} {unknown}"
        );
    }
}
