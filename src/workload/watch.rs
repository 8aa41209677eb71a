//! Watching: a sender pages the unread list of its fresh message a while after sending it
//! (`pulls.watch_share`), as a chat app does when its user opens "who has read this" while
//! the receipts are still coming in. Paging during receipts (docs/semantics.md M6) is only
//! put to the test when the two overlap, which pull flows over older messages rarely do; so
//! the watcher scrolls, a page every [`WATCH_SCROLL`], rather than paging back to back.
//!
//! The decisions come from a stream of their own (`Purpose::Watch`, per message), and with
//! the knob at 0 nothing is drawn: runs without watching stay as they were.

use super::{Action, Tag, Timer, Workload};
use crate::dist::sample_delay;
use crate::protocol::{ConvKey, Micros, MsgId, ReadFilter, Response, UserId};
use crate::rng::{Purpose, entity};
use rand::RngExt;

/// Time between two pages of a watched list: a person scrolling "who has not read this".
/// It keeps the paging open for seconds, so receipts arrive in the middle of it (M6) even
/// when the server answers each page in a millisecond.
pub(super) const WATCH_SCROLL: Micros = 250_000;

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

    /// A `Timer::Watch` fired: the sender opens the unread list, to page it to the end (up
    /// to `pulls.max_pages`) at scrolling pace, as a flow of one message. A sender offline,
    /// or busy with a pull flow, lets it go.
    pub(super) fn watch_due(&mut self, user: UserId, msg: MsgId, out: &mut Vec<Action>) {
        if self.offline.contains(&user) || self.flows.contains_key(&user) {
            return;
        }
        // An empty rest: the flow ends when this paging does.
        self.flows.insert(user, Vec::new());
        self.watching.insert(user, msg);
        out.push(self.watch_page(user, msg, 0, 1));
    }

    /// A page of the watched list came back: the next one follows a scroll later, unless
    /// the list is done, `pulls.max_pages` is reached or the call failed.
    pub(super) fn watch_page_answered(
        &mut self,
        now: Micros,
        user: UserId,
        msg: MsgId,
        pages: u32,
        resp: &Response,
        out: &mut Vec<Action>,
    ) {
        match *resp {
            Response::MemberList {
                next_seq,
                is_finished: false,
                ..
            } if pages < self.scenario.pulls.max_pages => {
                let timer = Timer::WatchPage {
                    user,
                    msg,
                    next_seq,
                    pages: pages + 1,
                };
                self.timer(now + WATCH_SCROLL, timer, out);
            }
            _ => self.watch_ended(user),
        }
    }

    /// A `Timer::WatchPage` fired: the next page, unless the watch ended meanwhile (the
    /// connection was lost).
    pub(super) fn watch_scrolled(
        &mut self,
        user: UserId,
        msg: MsgId,
        next_seq: u64,
        pages: u32,
        out: &mut Vec<Action>,
    ) {
        if self.watching.get(&user) == Some(&msg) {
            out.push(self.watch_page(user, msg, next_seq, pages));
        }
    }

    /// The watch of `user` is over: it may start pull flows again.
    pub(super) fn watch_ended(&mut self, user: UserId) {
        if self.watching.remove(&user).is_some() {
            self.flows.remove(&user);
        }
    }

    fn watch_page(&self, user: UserId, msg: MsgId, next_seq: u64, pages: u32) -> Action {
        let tag = Tag::WatchPage { msg, pages };
        self.page(user, msg, ReadFilter::Unread, next_seq, tag)
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

    /// A watcher whose first page of message 7's unread list is out, at time 1000.
    fn first_page_out() -> (Workload, UserId, MsgId) {
        let mut w = watching(1.0);
        let u = w.members.online(&w.plan, GroupId(0))[0];
        let mut out = Vec::new();
        w.on_timer(
            1000,
            Timer::Watch {
                user: u,
                msg: MsgId(7),
            },
            &mut out,
        );
        assert_eq!(testkit::invokes(&out).len(), 1, "{out:?}");
        (w, u, MsgId(7))
    }

    #[test]
    fn a_watcher_scrolls_page_by_page_and_is_free_once_the_list_is_done() {
        let (mut w, u, msg) = first_page_out();
        let mut out = Vec::new();
        let tag = Tag::WatchPage { msg, pages: 1 };
        w.on_response(2000, u, tag, &testkit::member_list(12, false), &mut out);
        let next = Timer::WatchPage {
            user: u,
            msg,
            next_seq: 12,
            pages: 2,
        };
        let due = 2000 + WATCH_SCROLL;
        assert_eq!(
            out,
            [Action::Timer {
                at: due,
                timer: next.clone()
            }]
        );
        out.clear();
        w.on_timer(due, next, &mut out);
        let [Action::Invoke { client, req, tag }] = &out[..] else {
            panic!("one page: {out:?}")
        };
        assert_eq!(*client, u);
        assert_eq!(*tag, Tag::WatchPage { msg, pages: 2 });
        assert!(matches!(
            req,
            Request::GetReadMemberList { msg_id, filter: ReadFilter::Unread, next_seq: 12, .. } if *msg_id == msg
        ));
        out.clear();
        let tag = Tag::WatchPage { msg, pages: 2 };
        w.on_response(due + 900, u, tag, &testkit::member_list(30, true), &mut out);
        assert!(out.is_empty(), "{out:?}");
        assert!(!w.flows.contains_key(&u) && !w.watching.contains_key(&u));
    }

    #[test]
    fn a_watch_ends_at_max_pages_on_an_error_and_with_its_connection() {
        let max = testkit::workload(testkit::SMALL, 1)
            .scenario
            .pulls
            .max_pages;
        let (mut w, u, msg) = first_page_out();
        let mut out = Vec::new();
        let tag = Tag::WatchPage { msg, pages: max };
        w.on_response(2000, u, tag, &testkit::member_list(12, false), &mut out);
        assert!(out.is_empty() && !w.flows.contains_key(&u), "{out:?}");

        let (mut w, u, msg) = first_page_out();
        let err = Response::Error {
            code: crate::protocol::ErrorCode::NotConversationParty,
        };
        w.on_response(2000, u, Tag::WatchPage { msg, pages: 1 }, &err, &mut out);
        assert!(out.is_empty() && !w.flows.contains_key(&u), "{out:?}");

        // Cut between two pages: the scroll that was due asks nothing.
        let (mut w, u, msg) = first_page_out();
        w.on_response(
            2000,
            u,
            Tag::WatchPage { msg, pages: 1 },
            &testkit::member_list(5, false),
            &mut out,
        );
        let [Action::Timer { at, timer }] = &out[..] else {
            panic!("a scroll: {out:?}")
        };
        let (at, timer) = (*at, timer.clone());
        w.on_disconnect(at - 1, u);
        out.clear();
        w.on_timer(at, timer, &mut out);
        assert!(out.is_empty() && !w.flows.contains_key(&u), "{out:?}");
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
