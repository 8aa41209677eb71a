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
        self.watching.remove(&user);
    }

    /// Sends the receipts `user` queued, then pulls the history of each conversation it is
    /// still in (planned ones, and groups it joined during the run).
    pub(super) fn reconnect(&mut self, user: UserId, out: &mut Vec<Action>) {
        if !self.offline.remove(&user) {
            return;
        }
        let mut keys: Vec<ConvKey> = self.plan.user_convs.of(user).collect();
        keys.extend(self.members.joined(user).iter().map(|&g| ConvKey::Group(g)));
        let page = self.scenario.pulls.history_page;
        for key in keys {
            if self.has_batch(user, key) {
                self.flush(user, key, out);
            }
            if let ConvKey::Group(g) = key
                && !self.members.contains(&self.plan, g, user)
            {
                continue;
            }
            out.push(catch_up_history(user, key, page));
        }
    }

    /// A `Timer::CatchUp` fired: the joiner opens the group, if still online and a member.
    pub(super) fn catch_up_joined(&mut self, user: UserId, group: GroupId, out: &mut Vec<Action>) {
        if !self.offline.contains(&user) && self.members.contains(&self.plan, group, user) {
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
            Tag::WatchPage { .. } => self.watch_ended(client),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Conv, MsgId, ReadFilter, Response};
    use crate::workload::{Timer, testkit};

    fn receipts_tag(key: ConvKey, attempt: u32) -> Tag {
        Tag::Receipts { key, attempt }
    }

    /// An online user of group 0 and the group's key.
    fn member(w: &Workload) -> (UserId, ConvKey) {
        let g = GroupId(0);
        (w.members.online(&w.plan, g)[0], ConvKey::Group(g))
    }

    #[test]
    fn lost_receipts_are_retried_up_to_max_retries() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = member(&w);
        let max = w.faults.faults.max_retries;
        let req = Request::SendReadReceipts {
            msg_ids: vec![MsgId(1)],
        };
        for attempt in 0..max {
            let mut out = Vec::new();
            w.on_lost(0, u, receipts_tag(key, attempt), &req, &mut out);
            assert_eq!(
                out,
                [Action::Invoke {
                    client: u,
                    req: req.clone(),
                    tag: receipts_tag(key, attempt + 1),
                }]
            );
        }
        let mut out = Vec::new();
        w.on_lost(0, u, receipts_tag(key, max), &req, &mut out);
        assert!(out.is_empty(), "retries exhausted: {out:?}");
    }

    #[test]
    fn lost_receipts_of_an_offline_reader_wait_for_the_reconnect() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = member(&w);
        w.on_disconnect(0, u);
        let req = Request::SendReadReceipts {
            msg_ids: vec![MsgId(1), MsgId(2)],
        };
        let mut out = Vec::new();
        w.on_lost(0, u, receipts_tag(key, 0), &req, &mut out);
        assert!(testkit::invokes(&out).is_empty());
        out.clear();
        w.on_reconnect(10, u, &mut out);
        assert_eq!(testkit::receipts(&out), [(u, vec![MsgId(1), MsgId(2)])]);
    }

    #[test]
    fn final_checks_are_retried_sends_and_flows_are_not() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = member(&w);
        let page = Tag::FinalPage {
            msg: MsgId(1),
            filter: ReadFilter::Read,
            pages: 1,
            cursor: 0,
        };
        let req = Request::GetReadMemberList {
            msg_id: MsgId(1),
            filter: ReadFilter::Read,
            next_seq: 0,
            count: 20,
        };
        let mut out = Vec::new();
        w.on_lost(0, u, page.clone(), &req, &mut out);
        assert_eq!(
            out,
            [Action::Invoke {
                client: u,
                req: req.clone(),
                tag: page,
            }]
        );
        out.clear();
        let send = Request::SendMessage {
            conv: Conv::Group(GroupId(0)),
            need_read_receipt: true,
            body_len: 1,
        };
        w.on_lost(0, u, Tag::Send { key, need: true }, &send, &mut out);
        w.pull(0, u, &mut out);
        assert!(w.flows.contains_key(&u));
        w.on_lost(0, u, Tag::FlowHistory, &req, &mut out);
        assert!(!w.flows.contains_key(&u), "a lost flow step ends the flow");
        assert!(
            testkit::invokes(&out)
                .iter()
                .all(|(_, r)| matches!(r, Request::GetHistory { .. })),
            "only the pull's own history: {out:?}"
        );
    }

    /// The conversations `out` catches up on, in order.
    fn caught_up(out: &[Action]) -> Vec<ConvKey> {
        out.iter()
            .filter_map(|a| match a {
                Action::Invoke {
                    tag: Tag::CatchUpHistory { key },
                    ..
                } => Some(*key),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reconnect_catches_up_where_the_user_still_is_and_where_it_joined() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = member(&w);
        let ConvKey::Group(g) = key else {
            unreachable!()
        };
        let other = (1..w.plan().groups.len() as u32)
            .map(GroupId)
            .find(|&h| !w.members.contains(&w.plan, h, u))
            .expect("a group the user is not in");
        w.members.remove(&w.plan, g, u);
        w.members.add(&w.plan, other, u, true);
        let mut out = Vec::new();
        w.on_reconnect(0, u, &mut out);
        assert!(out.is_empty(), "not offline: nothing to recover");
        w.on_disconnect(1, u);
        w.on_reconnect(2, u, &mut out);
        let mut want: Vec<ConvKey> = w.plan().user_convs.of(u).filter(|&k| k != key).collect();
        want.push(ConvKey::Group(other));
        assert_eq!(caught_up(&out), want);
    }

    #[test]
    fn joiner_catches_up_only_if_still_a_member_and_online() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = member(&w);
        let ConvKey::Group(g) = key else {
            unreachable!()
        };
        let timer = Timer::CatchUp { user: u, group: g };
        let mut out = Vec::new();
        w.on_timer(0, timer.clone(), &mut out);
        assert_eq!(caught_up(&out), [key]);
        out.clear();
        w.on_disconnect(1, u);
        w.on_timer(2, timer.clone(), &mut out);
        w.on_reconnect(3, u, &mut Vec::new());
        w.members.remove(&w.plan, g, u);
        w.on_timer(4, timer, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn catching_up_reads_what_others_sent_and_counts_own_messages() {
        let text = format!("{}\nread_probability = 1.0\n", testkit::SMALL);
        let mut w = testkit::workload(&text, 1);
        let (u, key) = member(&w);
        let msg = |id: u64, is_self: bool, need: bool| HistoryMessage {
            msg_id: MsgId(id),
            sender: if is_self { u } else { UserId(u.0 + 1) },
            is_self,
            need_read_receipt: need,
            seq: id,
            timestamp_ms: 0,
        };
        let history = Response::History {
            messages: vec![
                msg(1, false, true),
                msg(2, true, true),
                msg(3, true, false),
                msg(4, false, true),
            ],
        };
        let mut out = Vec::new();
        w.on_response(0, u, Tag::CatchUpHistory { key }, &history, &mut out);
        let reads: Vec<MsgId> = out
            .iter()
            .filter_map(|a| match a {
                Action::Timer {
                    timer: Timer::Read { msg, .. },
                    ..
                } => Some(*msg),
                _ => None,
            })
            .collect();
        assert_eq!(reads, [MsgId(1), MsgId(4)]);
        assert_eq!(
            testkit::invokes(&out),
            [(
                u,
                &Request::GetReadReceipts {
                    msg_ids: vec![MsgId(2)]
                }
            )]
        );
    }
}
