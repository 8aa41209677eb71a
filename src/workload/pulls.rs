//! Pulls: the flow a user runs when it opens a conversation (history, then the receipt
//! counts of its own messages there, then some of their member lists, page by page), and the
//! final checks once the run is quiet (counts and full member-list pagings).

use super::{Action, Tag, Timer, Workload};
use crate::dist::next_arrival;
use crate::protocol::{
    ConvKey, MAX_BATCH, Micros, MsgId, PerMessage, ReadFilter, ReceiptEntry, Request, Response,
    UserId,
};
use crate::rng::Purpose;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

impl Workload {
    /// `user`'s pull stream, created on first use.
    pub(super) fn pull_rng(&mut self, user: UserId) -> &mut ChaCha8Rng {
        let streams = self.streams;
        self.pull_rngs
            .entry(user)
            .or_insert_with(|| streams.rng(Purpose::Pulls, u64::from(user.0)))
    }

    fn pull_rate(&self) -> f64 {
        self.scenario.pulls.per_user_per_minute / 60.0
    }

    /// The first pull of every online user with a conversation.
    pub(super) fn start_pulls(&mut self, out: &mut Vec<Action>) {
        let rate = self.pull_rate();
        for u in 0..self.plan.users {
            let user = UserId(u);
            if self.plan.is_online(user) && !self.plan.user_convs[u as usize].is_empty() {
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
        let rate = self.pull_rate();
        let page = self.scenario.pulls.history_page;
        let n = self.plan.user_convs[user.0 as usize].len();
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
        let key = self.plan.user_convs[user.0 as usize][pick];
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
                    out.push(self.page(client, msg, filter, *next_seq, Some(pages + 1)));
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

    /// One page of a member list: of the pull flow (`flow_pages`: pages so far, this one
    /// included) or of the final checks (None: paged to the end).
    fn page(
        &self,
        client: UserId,
        msg: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        flow_pages: Option<u32>,
    ) -> Action {
        Action::Invoke {
            client,
            req: Request::GetReadMemberList {
                msg_id: msg,
                filter,
                next_seq,
                count: self.scenario.pulls.member_list_page,
            },
            tag: match flow_pages {
                Some(pages) => Tag::FlowPage { msg, filter, pages },
                None => Tag::FinalPage { msg, filter },
            },
        }
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
                out.push(self.page(client, msg, filter, 0, Some(1)));
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

    /// The answer to a final paging: the next page of the same list, or the next list.
    pub(super) fn final_page_response(
        &mut self,
        client: UserId,
        msg: MsgId,
        filter: ReadFilter,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        match resp {
            Response::MemberList {
                next_seq,
                is_finished: false,
                ..
            } => out.push(self.page(client, msg, filter, *next_seq, None)),
            _ => self.next_final_page(client, out),
        }
    }

    fn next_final_page(&mut self, client: UserId, out: &mut Vec<Action>) {
        let next = self.final_pages.get_mut(&client).and_then(|v| v.pop());
        match next {
            None => {
                self.final_pages.remove(&client);
            }
            Some((msg, filter)) => out.push(self.page(client, msg, filter, 0, None)),
        }
    }
}
