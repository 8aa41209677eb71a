//! Watching: a sender pages the unread list of its fresh message a while after sending it
//! (`pulls.watch_share`), as a chat app does when its user opens "who has read this" while
//! the receipts are still coming in. Paging during receipts (docs/semantics.md M6) is only
//! put to the test when the two overlap, which pull flows over older messages rarely do.
//!
//! The decisions come from a stream of their own (`Purpose::Watch`, per message), and with
//! the knob at 0 nothing is drawn: runs without watching stay as they were.

use super::{Action, Tag, Timer, Workload};
use crate::dist::sample_delay;
use crate::protocol::{ConvKey, Micros, MsgId, ReadFilter, Response, UserId};
use crate::rng::{Purpose, entity};
use rand::RngExt;

impl Workload {
    /// `client`'s send was answered: with `pulls.watch_share`, it will look at the unread
    /// list of its receipt-asking group message about when its readers read.
    pub(super) fn watch_sent(
        &mut self,
        now: Micros,
        client: UserId,
        key: ConvKey,
        need: bool,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        let share = self.scenario.pulls.watch_share;
        let Response::Sent { msg_id, .. } = *resp else {
            return;
        };
        if share == 0.0 || !need || !matches!(key, ConvKey::Group(_)) {
            return;
        }
        let mut rng = self
            .streams
            .rng(Purpose::Watch, entity(&[msg_id.0, u64::from(client.0)]));
        if !rng.random_bool(share) {
            return;
        }
        let after = sample_delay(&self.scenario.reading.delay, &mut rng);
        let timer = Timer::Watch {
            user: client,
            msg: msg_id,
        };
        self.timer(now + after, timer, out);
    }

    /// A `Timer::Watch` fired: the sender pages the unread list to the end (up to
    /// `pulls.max_pages`), as a flow of one message. A sender offline, or busy with a pull
    /// flow, lets it go.
    pub(super) fn watch_due(&mut self, user: UserId, msg: MsgId, out: &mut Vec<Action>) {
        if self.offline.contains(&user) || self.flows.contains_key(&user) {
            return;
        }
        // An empty rest: the flow ends when this paging does.
        self.flows.insert(user, Vec::new());
        let filter = ReadFilter::Unread;
        let tag = Tag::FlowPage {
            msg,
            filter,
            pages: 1,
        };
        out.push(self.page(user, msg, filter, 0, tag));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{GroupId, Request};
    use crate::workload::testkit;

    fn watching(share: f64) -> Workload {
        let text = format!("{}\n[pulls]\nwatch_share = {share}\n", testkit::SMALL);
        testkit::workload(&text, 1)
    }

    fn sent(m: u64) -> Response {
        Response::Sent {
            msg_id: MsgId(m),
            seq: m,
            timestamp_ms: 0,
        }
    }

    fn watch_timers(out: &[Action]) -> Vec<(Micros, UserId, MsgId)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Timer {
                    at,
                    timer: Timer::Watch { user, msg },
                } => Some((*at, *user, *msg)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_watched_message_gets_its_unread_list_paged_later() {
        let mut w = watching(1.0);
        let u = w.members.online(&w.plan, GroupId(0))[0];
        let g = ConvKey::Group(GroupId(0));
        let mut out = Vec::new();
        w.watch_sent(100, u, g, true, &sent(7), &mut out);
        let timers = watch_timers(&out);
        assert_eq!(timers.len(), 1, "{out:?}");
        let (at, user, msg) = timers[0];
        assert!(at >= 100 && user == u && msg == MsgId(7));
        out.clear();
        w.on_timer(at, Timer::Watch { user, msg }, &mut out);
        let pages = testkit::invokes(&out);
        assert!(
            matches!(
                pages[..],
                [(c, Request::GetReadMemberList { msg_id: MsgId(7), filter: ReadFilter::Unread, next_seq: 0, .. })] if c == u
            ),
            "{out:?}"
        );
        // Busy with that paging, the sender lets a second watch go.
        out.clear();
        w.on_timer(at, Timer::Watch { user, msg }, &mut out);
        assert!(testkit::invokes(&out).is_empty(), "{out:?}");
    }

    #[test]
    fn only_receipt_asking_group_messages_are_watched_and_nothing_at_zero() {
        let g = ConvKey::Group(GroupId(0));
        let mut on = watching(1.0);
        let u = on.members.online(&on.plan, GroupId(0))[0];
        let pair = ConvKey::Pair(u, UserId(39));
        let mut out = Vec::new();
        on.watch_sent(0, u, g, false, &sent(1), &mut out);
        on.watch_sent(0, u, pair, true, &sent(2), &mut out);
        on.watch_sent(
            0,
            u,
            g,
            true,
            &Response::Error {
                code: crate::protocol::ErrorCode::NotGroupMember,
            },
            &mut out,
        );
        assert!(watch_timers(&out).is_empty(), "{out:?}");
        let mut off = watching(0.0);
        off.watch_sent(0, u, g, true, &sent(3), &mut out);
        assert!(watch_timers(&out).is_empty(), "{out:?}");
    }
}
