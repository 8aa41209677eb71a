//! Pulls: the flow a user runs when it opens a conversation (history, then the receipt
//! counts of its own messages there, then some of their member lists, page by page), and the
//! final checks once the run is quiet (counts and full member-list pagings).

use super::{Action, Tag, Timer, Workload};
use crate::dist::next_arrival;
use crate::protocol::{
    ConvKey, MAX_BATCH, Micros, MsgId, PerMessage, ReadFilter, ReceiptEntry, Request, Response,
    UserId,
};
use crate::rng::{Purpose, Stream};
use rand::RngExt;
use std::collections::BTreeMap;

impl Workload {
    /// `user`'s pull stream.
    pub(super) fn pull_rng(&mut self, user: UserId) -> &mut Stream {
        self.pull_rngs.get(user.0 as usize, u64::from(user.0))
    }

    /// `user`'s pulls per second: the scenario's rate, split between shards in proportion
    /// to the user's conversations in each (so the shards together pull as one run would).
    fn pull_rate(&self, user: UserId) -> f64 {
        let base = self.scenario.pulls.per_user_per_minute / 60.0;
        if self.plan.all_conv_counts.is_empty() {
            base
        } else {
            base * self.plan.pull_share(user)
        }
    }

    /// The first pull of every online user with a conversation.
    pub(super) fn start_pulls(&mut self, out: &mut Vec<Action>) {
        for u in 0..self.plan.users {
            let user = UserId(u);
            let rate = self.pull_rate(user);
            if self.plan.is_online(user) && self.plan.user_convs.count(user) > 0 {
                let rng = self.pull_rng(user);
                if let Some(dt) = next_arrival(rate, rng) {
                    self.timer(dt, Timer::Pull { user }, out);
                }
            }
        }
    }

    /// `user` opens one of its conversations: the flow starts with its history, unless a
    /// flow is still running or the user is offline (the draws happen either way).
    pub(super) fn pull(&mut self, now: Micros, user: UserId, out: &mut Vec<Action>) {
        let rate = self.pull_rate(user);
        let page = self.scenario.pulls.history_page;
        let n = self.plan.user_convs.count(user);
        let busy = self.flows.contains_key(&user);
        let rng = self.pull_rng(user);
        let pick = rng.random_range(0..n);
        let next = next_arrival(rate, rng);
        if let Some(dt) = next {
            self.timer(now + dt, Timer::Pull { user }, out);
        }
        if busy || self.offline.contains(&user) {
            return;
        }
        let key = self.plan.user_convs.get(user, pick);
        self.flows.insert(user, Vec::new());
        out.push(Action::Invoke {
            client: user,
            req: Request::GetHistory {
                conv: key.as_seen_by(user),
                before_seq: 0,
                count: page,
            },
            tag: Tag::FlowHistory,
        });
        // Before the flow's pages: a misuse page must not cut into a paging in progress.
        self.misuse_pull(user, out);
    }

    /// The next step of `client`'s pull flow after the answer `resp` to `tag` (one of the
    /// `Flow*` tags). Any answer the flow does not expect ends it.
    pub(super) fn flow_response(
        &mut self,
        client: UserId,
        tag: Tag,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        match (tag, resp) {
            (Tag::FlowHistory, Response::History { messages }) => {
                let own: Vec<MsgId> = messages
                    .iter()
                    .filter(|m| m.is_self && m.need_read_receipt)
                    .map(|m| m.msg_id)
                    .collect();
                if own.is_empty() {
                    self.flows.remove(&client);
                } else {
                    out.push(Action::Invoke {
                        client,
                        req: Request::GetReadReceipts { msg_ids: own },
                        tag: Tag::FlowCounts,
                    });
                }
            }
            (Tag::FlowCounts, Response::ReadReceipts { entries }) => {
                self.flow_counts(client, entries, out);
            }
            (
                Tag::FlowPage { msg, filter, pages },
                Response::MemberList {
                    next_seq,
                    is_finished,
                    ..
                },
            ) => {
                if !is_finished && pages < self.scenario.pulls.max_pages {
                    out.push(self.page(
                        client,
                        msg,
                        filter,
                        *next_seq,
                        Tag::FlowPage {
                            msg,
                            filter,
                            pages: pages + 1,
                        },
                    ));
                } else {
                    self.next_flow_page(client, out);
                }
            }
            _ => {
                self.flows.remove(&client);
            }
        }
    }

    /// The flow got the counts of the user's own messages: it pages the member lists of a
    /// share of the group ones, one message at a time.
    fn flow_counts(
        &mut self,
        client: UserId,
        entries: &[PerMessage<ReceiptEntry>],
        out: &mut Vec<Action>,
    ) {
        let share = self.scenario.pulls.member_list_share;
        let rng = self.pull_rng(client);
        let mut to_page: Vec<MsgId> = entries
            .iter()
            .filter_map(|e| match e.result {
                Ok(ReceiptEntry::Group { msg_id, .. }) => Some(msg_id),
                _ => None,
            })
            .filter(|_| rng.random_bool(share))
            .collect();
        // Popped from the back, so reversed to page in the order the counts came.
        to_page.reverse();
        self.flows.insert(client, to_page);
        self.next_flow_page(client, out);
    }

    /// One page of a member list, asked at `next_seq`, tagged as the flow's or the final
    /// checks' page.
    pub(super) fn page(
        &self,
        client: UserId,
        msg: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        tag: Tag,
    ) -> Action {
        Action::Invoke {
            client,
            req: Request::GetReadMemberList {
                msg_id: msg,
                filter,
                next_seq,
                count: self.scenario.pulls.member_list_page,
            },
            tag,
        }
    }

    /// Most pages a final paging asks for: enough for the whole population plus one, so a
    /// server that never says `is_finished` cannot keep the run going forever.
    fn final_page_cap(&self) -> u32 {
        let page = self.scenario.pulls.member_list_page.max(1);
        self.scenario.population.users.div_ceil(page) + 1
    }

    /// The first page of the flow's next member list (read or unread, drawn), or the end of
    /// the flow.
    fn next_flow_page(&mut self, client: UserId, out: &mut Vec<Action>) {
        let next = self.flows.get_mut(&client).and_then(|v| v.pop());
        match next {
            None => {
                self.flows.remove(&client);
            }
            Some(msg) => {
                let filter = if self.pull_rng(client).random_bool(0.5) {
                    ReadFilter::Read
                } else {
                    ReadFilter::Unread
                };
                let tag = Tag::FlowPage {
                    msg,
                    filter,
                    pages: 1,
                };
                out.push(self.page(client, msg, filter, 0, tag));
            }
        }
    }

    /// Once the run is quiet: count pulls of (a share of) every receipt-needing message by
    /// its sender, and full pagings of both member lists of a share of group messages.
    pub(super) fn final_pulls(&mut self, out: &mut Vec<Action>) {
        let c = &self.scenario.checks;
        let mut batches: BTreeMap<(UserId, ConvKey), Vec<MsgId>> = BTreeMap::new();
        for s in self.sent.iter().filter(|s| s.need) {
            let mut rng = self.streams.rng(Purpose::FinalChecks, s.msg.0);
            if rng.random_bool(c.final_pull_share) {
                batches.entry((s.sender, s.key)).or_default().push(s.msg);
            }
            if matches!(s.key, ConvKey::Group(_)) && rng.random_bool(c.final_list_share) {
                let q = self.final_pages.entry(s.sender).or_default();
                q.push((s.msg, ReadFilter::Unread));
                q.push((s.msg, ReadFilter::Read));
            }
        }
        for ((sender, _), ids) in batches {
            for chunk in ids.chunks(MAX_BATCH) {
                out.push(Action::Invoke {
                    client: sender,
                    req: Request::GetReadReceipts {
                        msg_ids: chunk.to_vec(),
                    },
                    tag: Tag::FinalCounts,
                });
            }
        }
        // Each sender pages one list at a time; the next starts when one ends.
        let senders: Vec<UserId> = self.final_pages.keys().copied().collect();
        for s in senders {
            self.next_final_page(s, out);
        }
    }

    /// The answer to a final paging: the next page of the same list, or the next list. An
    /// unfinished page that hands back the cursor it was asked at, or one past the page cap,
    /// ends the list (cursors are opaque, so only "unchanged" is a sure loop; the checker
    /// reports such a paging).
    pub(super) fn final_page_response(
        &mut self,
        client: UserId,
        tag: Tag,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        let Tag::FinalPage {
            msg,
            filter,
            pages,
            cursor,
        } = tag
        else {
            return;
        };
        match resp {
            Response::MemberList {
                next_seq,
                is_finished: false,
                ..
            } if *next_seq != cursor && pages < self.final_page_cap() => {
                let tag = Tag::FinalPage {
                    msg,
                    filter,
                    pages: pages + 1,
                    cursor: *next_seq,
                };
                out.push(self.page(client, msg, filter, *next_seq, tag));
            }
            _ => self.next_final_page(client, out),
        }
    }

    fn next_final_page(&mut self, client: UserId, out: &mut Vec<Action>) {
        let next = self.final_pages.get_mut(&client).and_then(|v| v.pop());
        match next {
            None => {
                self.final_pages.remove(&client);
            }
            Some((msg, filter)) => {
                let tag = Tag::FinalPage {
                    msg,
                    filter,
                    pages: 1,
                    cursor: 0,
                };
                out.push(self.page(client, msg, filter, 0, tag));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ErrorCode, GroupId, HistoryMessage};
    use crate::workload::testkit;

    fn pulling() -> (Workload, UserId) {
        let text = format!(
            "{}\n[pulls]\nper_user_per_minute = 600.0\nmember_list_share = 1.0\nmax_pages = 2\n",
            testkit::SMALL
        );
        let w = testkit::workload(&text, 1);
        let u = w.members.online(&w.plan, GroupId(0))[0];
        (w, u)
    }

    fn own(msg: u64) -> HistoryMessage {
        HistoryMessage {
            msg_id: MsgId(msg),
            sender: UserId(0),
            is_self: true,
            need_read_receipt: true,
            seq: msg,
            timestamp_ms: 0,
        }
    }

    fn group_count(msg: u64) -> PerMessage<ReceiptEntry> {
        PerMessage {
            msg_id: MsgId(msg),
            result: Ok(ReceiptEntry::Group {
                msg_id: MsgId(msg),
                group_id: GroupId(0),
                read_count: 0,
                unread_count: 1,
            }),
        }
    }

    /// The single operation in `out`, as (request, tag).
    fn only(out: &[Action]) -> (Request, Tag) {
        let [Action::Invoke { req, tag, .. }] = out else {
            panic!("one invoke expected: {out:?}");
        };
        (req.clone(), tag.clone())
    }

    fn pages(out: &[Action]) -> Vec<(MsgId, u64)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Invoke {
                    req:
                        Request::GetReadMemberList {
                            msg_id, next_seq, ..
                        },
                    ..
                } => Some((*msg_id, *next_seq)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn flow_goes_history_counts_pages_then_ends() {
        let (mut w, u) = pulling();
        let mut out = Vec::new();
        w.pull(0, u, &mut out);
        out.retain(|a| matches!(a, Action::Invoke { .. }));
        let (_, tag) = only(&out);
        assert_eq!(tag, Tag::FlowHistory);

        let mut out = Vec::new();
        let history = Response::History {
            messages: vec![own(1), own(2)],
        };
        w.on_response(1, u, Tag::FlowHistory, &history, &mut out);
        let (req, tag) = only(&out);
        assert_eq!(tag, Tag::FlowCounts);
        assert_eq!(
            req,
            Request::GetReadReceipts {
                msg_ids: vec![MsgId(1), MsgId(2)]
            }
        );

        let counts = Response::ReadReceipts {
            entries: vec![group_count(1), group_count(2)],
        };
        let mut out = Vec::new();
        w.on_response(2, u, Tag::FlowCounts, &counts, &mut out);
        // Message 1's list first, then (after max_pages pages) message 2's.
        let (_, tag) = only(&out);
        let Tag::FlowPage {
            msg,
            filter,
            pages: 1,
        } = tag
        else {
            panic!("{tag:?}")
        };
        assert_eq!(msg, MsgId(1));
        let mut steps = Vec::new();
        w.on_response(
            3,
            u,
            Tag::FlowPage {
                msg,
                filter,
                pages: 1,
            },
            &testkit::member_list(20, false),
            &mut steps,
        );
        assert_eq!(pages(&steps), [(MsgId(1), 20)]);
        steps.clear();
        w.on_response(
            4,
            u,
            Tag::FlowPage {
                msg,
                filter,
                pages: 2,
            },
            &testkit::member_list(40, false),
            &mut steps,
        );
        assert_eq!(pages(&steps), [(MsgId(2), 0)], "max_pages reached");
        let (_, tag) = only(&steps);
        steps.clear();
        w.on_response(5, u, tag, &testkit::member_list(0, true), &mut steps);
        assert!(steps.is_empty());
        assert!(!w.flows.contains_key(&u), "the flow ended");
    }

    #[test]
    fn a_busy_or_failed_flow_starts_nothing_new_until_it_ends() {
        let (mut w, u) = pulling();
        let mut out = Vec::new();
        w.pull(0, u, &mut out);
        w.pull(1, u, &mut out);
        let histories = testkit::invokes(&out).len();
        assert_eq!(histories, 1, "one flow at a time: {out:?}");
        let pulls = out
            .iter()
            .filter(|a| {
                matches!(
                    a,
                    Action::Timer {
                        timer: Timer::Pull { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(pulls, 2, "the pull process goes on");
        let err = Response::Error {
            code: ErrorCode::NotInAudience,
        };
        w.on_response(2, u, Tag::FlowHistory, &err, &mut Vec::new());
        assert!(!w.flows.contains_key(&u), "an error ends the flow");
    }

    /// MX11: a sender who left gets NOT_CONVERSATION_PARTY for its counts (per entry) and
    /// lists (whole call): the flow ends, and a final paging moves on to its next list.
    #[test]
    fn not_conversation_party_ends_a_pull_and_is_not_retried() {
        let (mut w, u) = pulling();
        let gone = ErrorCode::NotConversationParty;
        let mut out = Vec::new();
        w.pull(0, u, &mut out);
        let counts = Response::ReadReceipts {
            entries: vec![PerMessage {
                msg_id: MsgId(1),
                result: Err(gone),
            }],
        };
        let mut out = Vec::new();
        w.on_response(1, u, Tag::FlowCounts, &counts, &mut out);
        assert!(testkit::invokes(&out).is_empty(), "{out:?}");
        assert!(!w.flows.contains_key(&u), "the flow ended");
        let err = Response::Error { code: gone };
        w.pull(2, u, &mut Vec::new());
        let page = Tag::FlowPage {
            msg: MsgId(1),
            filter: ReadFilter::Read,
            pages: 1,
        };
        w.on_response(3, u, page, &err, &mut Vec::new());
        assert!(!w.flows.contains_key(&u), "a refused page ends the flow");
        w.final_pages
            .insert(u, vec![(MsgId(2), ReadFilter::Unread)]);
        let first = Tag::FinalPage {
            msg: MsgId(1),
            filter: ReadFilter::Read,
            pages: 1,
            cursor: 0,
        };
        let mut out = Vec::new();
        w.on_response(4, u, first, &err, &mut out);
        assert_eq!(pages(&out), [(MsgId(2), 0)], "on to the next list");
        let mut out = Vec::new();
        w.on_response(5, u, Tag::FinalCounts, &counts, &mut out);
        assert!(out.is_empty(), "final counts are not asked again: {out:?}");
    }

    #[test]
    fn final_checks_chunk_counts_and_page_one_list_at_a_time() {
        let text = format!("{}\n[checks]\nfinal_list_share = 1.0\n", testkit::SMALL);
        let mut w = testkit::workload(&text, 1);
        let sender = UserId(3);
        let key = ConvKey::Group(GroupId(0));
        for m in 0..(MAX_BATCH as u64 + 5) {
            let ack = Response::Sent {
                msg_id: MsgId(m),
                seq: m,
                timestamp_ms: 0,
            };
            w.record_sent(sender, key, true, &ack);
        }
        let mut out = Vec::new();
        w.final_checks(&mut out);
        let counts: Vec<usize> = testkit::invokes(&out)
            .iter()
            .filter_map(|(_, r)| match r {
                Request::GetReadReceipts { msg_ids } => Some(msg_ids.len()),
                _ => None,
            })
            .collect();
        assert_eq!(counts, [MAX_BATCH, 5]);
        assert_eq!(pages(&out).len(), 1, "one list at a time per sender");
        let Some(Action::Invoke { tag, .. }) = out.last().cloned() else {
            panic!()
        };
        let (mut listed, mut tag) = (1, tag);
        loop {
            let mut next = Vec::new();
            w.on_response(0, sender, tag, &testkit::member_list(0, true), &mut next);
            let Some(Action::Invoke { tag: t, .. }) = next.pop() else {
                break;
            };
            (listed, tag) = (listed + 1, t);
        }
        assert_eq!(listed, 2 * (MAX_BATCH + 5), "read and unread list of each");
    }

    /// A server that answers every final page as unfinished, without moving its cursor (or
    /// moving it forever), must not keep the run going: the list ends at once, or at the cap.
    #[test]
    fn a_final_paging_ends_on_a_stuck_cursor_and_at_the_page_cap() {
        let (mut w, u) = pulling();
        let first = Tag::FinalPage {
            msg: MsgId(1),
            filter: ReadFilter::Read,
            pages: 1,
            cursor: 0,
        };
        let mut out = Vec::new();
        w.on_response(
            1,
            u,
            first.clone(),
            &testkit::member_list(7, false),
            &mut out,
        );
        let (req, tag) = only(&out);
        assert!(matches!(
            req,
            Request::GetReadMemberList { next_seq: 7, .. }
        ));
        // The same page again: the cursor did not move past 7, so this list ends.
        let mut again = Vec::new();
        w.on_response(2, u, tag, &testkit::member_list(7, false), &mut again);
        assert!(
            pages(&again)
                .iter()
                .all(|&(m, seq)| m != MsgId(1) || seq == 0),
            "{again:?}"
        );
        // A cursor that always moves: paging stops at the cap.
        let cap = w.final_page_cap();
        let mut tag = first;
        let mut asked = 0;
        for seq in 1..=u64::from(cap) + 10 {
            let mut out = Vec::new();
            w.on_response(
                seq,
                u,
                tag.clone(),
                &testkit::member_list(seq, false),
                &mut out,
            );
            match out.as_slice() {
                [
                    Action::Invoke {
                        tag: t @ Tag::FinalPage { msg: MsgId(1), .. },
                        ..
                    },
                ] => {
                    tag = t.clone();
                    asked += 1;
                }
                _ => break,
            }
        }
        assert_eq!(asked, cap - 1, "pages after the first, up to the cap");
    }
}
