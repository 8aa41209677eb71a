//! Recovery: what a client does around a lost connection (queue receipts while offline,
//! flush and catch up on reconnect), how a joiner catches up on a group, and which lost
//! operations are retried.

use super::reading::Seen;
use super::{Action, Tag, Workload};
use crate::protocol::{ConvKey, GroupId, HistoryMessage, Micros, Request, UserId};

impl Workload {
    pub(super) fn disconnect(&mut self, user: UserId) {
        self.offline.insert(user);
        // A pull flow does not survive its connection.
        self.flows.remove(&user);
    }

    /// Sends the receipts `user` queued, then pulls the history of each conversation it is
    /// still in (planned ones, and groups it joined during the run).
    pub(super) fn reconnect(&mut self, user: UserId, out: &mut Vec<Action>) {
        if !self.offline.remove(&user) {
            return;
        }
        let mut keys = self.plan.user_convs[user.0 as usize].clone();
        keys.extend(self.members.joined(user).iter().map(|&g| ConvKey::Group(g)));
        let page = self.scenario.pulls.history_page;
        for key in keys {
            if self.has_batch(user, key) {
                self.flush(user, key, out);
            }
            if let ConvKey::Group(g) = key
                && !self.members.contains(g, user)
            {
                continue;
            }
            out.push(catch_up_history(user, key, page));
        }
    }

    /// A `Timer::CatchUp` fired: the joiner opens the group, if still online and a member.
    pub(super) fn catch_up_joined(&mut self, user: UserId, group: GroupId, out: &mut Vec<Action>) {
        if !self.offline.contains(&user) && self.members.contains(group, user) {
            out.push(catch_up_history(
                user,
                ConvKey::Group(group),
                self.scenario.pulls.history_page,
            ));
        }
    }

    /// Reads what `client` missed in `key` and pulls the counts of its own messages there.
    pub(super) fn catch_up(
        &mut self,
        now: Micros,
        client: UserId,
        key: ConvKey,
        messages: &[HistoryMessage],
        out: &mut Vec<Action>,
    ) {
        let mut own = Vec::new();
        for m in messages {
            if m.is_self {
                if m.need_read_receipt {
                    own.push(m.msg_id);
                }
            } else {
                let seen = Seen {
                    msg: m.msg_id,
                    key,
                    sender: m.sender,
                    seq: m.seq,
                    need_read_receipt: m.need_read_receipt,
                };
                self.decide_read(now, client, &seen, out);
            }
        }
        if !own.is_empty() && !self.offline.contains(&client) {
            out.push(Action::Invoke {
                client,
                req: Request::GetReadReceipts { msg_ids: own },
                tag: Tag::CatchUpCounts,
            });
        }
    }

    /// The driver gave up on an operation: see [`Workload::on_lost`].
    pub(super) fn lost(
        &mut self,
        now: Micros,
        client: UserId,
        tag: Tag,
        req: &Request,
        out: &mut Vec<Action>,
    ) {
        let max = self.faults.faults.max_retries;
        match tag {
            Tag::Receipts { key, attempt } if attempt < max => {
                let Request::SendReadReceipts { msg_ids } = req else {
                    return;
                };
                if self.offline.contains(&client) {
                    // Back into the queue: it goes out on reconnect.
                    for &m in msg_ids {
                        self.add_to_batch(now, client, key, m, out);
                    }
                } else {
                    out.push(Action::Invoke {
                        client,
                        req: req.clone(),
                        tag: Tag::Receipts {
                            key,
                            attempt: attempt + 1,
                        },
                    });
                }
            }
            Tag::FlowHistory | Tag::FlowCounts | Tag::FlowPage { .. } => {
                self.flows.remove(&client);
            }
            // Final checks must complete for the checker to compare; they are idempotent.
            Tag::FinalCounts | Tag::FinalPage { .. } => out.push(Action::Invoke {
                client,
                req: req.clone(),
                tag,
            }),
            _ => {}
        }
    }
}

/// The first history page of `key` as `user` sees it, to catch up on.
fn catch_up_history(user: UserId, key: ConvKey, page: u32) -> Action {
    Action::Invoke {
        client: user,
        req: Request::GetHistory {
            conv: key.as_seen_by(user),
            before_seq: 0,
            count: page,
        },
        tag: Tag::CatchUpHistory { key },
    }
}
