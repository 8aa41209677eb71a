//! Liveness: pushes owed to online users, each with a deadline, checked as time passes.

use super::book::{Audience, Book};
use super::marks::Marks;
use super::sink::{Finding, Sink};
use super::violation::Invariant;
use super::world::World;
use crate::protocol::{Micros, MsgId, UserId};
use std::collections::VecDeque;

/// A push some online user is owed; `epoch` is the connection that is owed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Due {
    /// The sender of `msg` must be pushed a count of at least `need`.
    Receipt { msg: MsgId, need: u32, epoch: u32 },
    /// Matrix profile (MX7): the sender of `msg` must get a receipts push entry for it after
    /// `after` (the invoke of the receipt that newly covered it).
    Pushed {
        msg: MsgId,
        after: Micros,
        epoch: u32,
    },
    /// `observer` must be pushed a c2c_read from `from` with a timestamp of at least `need_ts`.
    C2cRead {
        observer: UserId,
        from: UserId,
        need_ts: u64,
        epoch: u32,
    },
}

pub(super) struct Liveness {
    bound: Micros,
    /// The fault phase is over (or there was none): deadlines are owed from here.
    calm: bool,
    /// Deadlines in order: each is (event time + a fixed bound) and event times never
    /// decrease, so a FIFO is already sorted.
    due: VecDeque<(Micros, Due)>,
}

impl Liveness {
    pub fn new(bound: Micros, calm: bool) -> Liveness {
        Liveness {
            bound,
            calm,
            due: VecDeque::new(),
        }
    }

    pub fn calm(&mut self) {
        self.calm = true;
    }

    /// Whether pushes are owed: not during the fault phase, where they may be lost.
    pub fn armed(&self) -> bool {
        self.calm
    }

    /// `due` is owed within the bound from `t`, the time the operation that owes it ended.
    pub fn owe(&mut self, t: Micros, due: Due) {
        let at = t + self.bound;
        debug_assert!(self.due.back().is_none_or(|(last, _)| *last <= at));
        self.due.push_back((at, due));
    }

    /// Checks every deadline before `t` (all of them when `t` is None), in deadline order.
    pub fn expire(
        &mut self,
        t: Option<Micros>,
        book: &Book,
        world: &World,
        marks: &Marks,
        sink: &mut Sink,
    ) {
        while let Some(&(at, due)) = self.due.front() {
            if t.is_some_and(|t| at >= t) {
                break;
            }
            self.due.pop_front();
            if met(&due, book, world, marks) == Some(false) {
                let (client, msg, f) = self.missed(at, &due, book, marks);
                sink.report(at, client, msg, f);
            }
        }
    }

    /// The violation of a deadline `at` that passed without its push.
    fn missed(
        &self,
        at: Micros,
        due: &Due,
        book: &Book,
        marks: &Marks,
    ) -> (Option<UserId>, Option<MsgId>, Finding) {
        let bound = format!(
            "pushed within the liveness bound of {}us (deadline t={at}us)",
            self.bound
        );
        match *due {
            Due::Receipt { msg, need, .. } => {
                let m = book.get(&msg);
                let pushed = m.map_or(0, |m| m.max_pushed);
                let observed = format!("sender's pushes showed read_count={pushed}, needed {need}");
                let f = Finding::new(Invariant::Liveness, observed, bound);
                (m.map(|m| m.sender), Some(msg), f)
            }
            Due::Pushed { msg, after, .. } => {
                let m = book.get(&msg);
                let observed = format!(
                    "sender's last receipts push of it at {:?}, none since the receipt invoked at t={after}us",
                    m.and_then(|m| m.last_push_at)
                );
                let f = Finding::new(Invariant::Liveness, observed, bound);
                (m.map(|m| m.sender), Some(msg), f)
            }
            Due::C2cRead {
                observer,
                from,
                need_ts,
                ..
            } => {
                let seen = marks.latest_seen(observer, from);
                let f = Finding::new(
                    Invariant::Liveness,
                    format!("c2c_read from {from}: latest timestamp seen {seen:?}"),
                    format!("a c2c_read push with timestamp >= {need_ts}, {bound}"),
                );
                (Some(observer), None, f)
            }
        }
    }
}

/// Whether the push was made; None when it is no longer owed (the connection owed it closed,
/// or the message is unknown).
fn met(due: &Due, book: &Book, world: &World, marks: &Marks) -> Option<bool> {
    match *due {
        Due::Receipt { msg, need, epoch } => {
            let m = book.get(&msg)?;
            if !world.still_online(m.sender, epoch) {
                return None;
            }
            // A c2c_read push covering the message also tells the sender it was read.
            let via_c2c_read = m.peer().is_some_and(|p| {
                marks
                    .latest_seen(m.sender, p)
                    .is_some_and(|ts| ts >= m.timestamp_ms)
            });
            Some(m.max_pushed >= need || via_c2c_read)
        }
        Due::Pushed { msg, after, epoch } => {
            let m = book.get(&msg)?;
            if !world.still_online(m.sender, epoch) {
                return None;
            }
            // MX11: owed only to a sender that surely stayed a member from the receipt's
            // invoke to now (past the deadline): a leaver is synced nothing.
            if let Audience::Group(g, _) = m.audience
                && (!world.is_member(g, m.sender) || world.unsettled(g, m.sender, after))
            {
                return None;
            }
            Some(m.last_push_at.is_some_and(|p| p >= after))
        }
        Due::C2cRead {
            observer,
            from,
            need_ts,
            epoch,
        } => {
            if !world.still_online(observer, epoch) {
                return None;
            }
            Some(
                marks
                    .latest_seen(observer, from)
                    .is_some_and(|ts| ts >= need_ts),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::book::Sighting;
    use crate::protocol::ConvKey;

    const A: UserId = UserId(1);
    const B: UserId = UserId(2);
    const ID: MsgId = MsgId(1);

    struct Parts {
        book: Book,
        world: World,
        marks: Marks,
        sink: Sink,
        live: Liveness,
    }

    /// A 1:1 message from A to B (timestamp 50 ms); A connected at 0.
    fn parts() -> Parts {
        let mut world = World::default();
        world.connect(0, A);
        let mut book = Book::default();
        let s = Sighting {
            id: ID,
            key: ConvKey::Pair(A, B),
            sender: A,
            seq: 1,
            timestamp_ms: 50,
            need: true,
            acked_send: Some(0),
        };
        book.sight(&world, 0, &s);
        Parts {
            book,
            world,
            marks: Marks::default(),
            sink: Sink::new(String::new(), 10),
            live: Liveness::new(1_000, true),
        }
    }

    impl Parts {
        fn expire(&mut self, t: Option<Micros>) {
            let p = self;
            p.live.expire(t, &p.book, &p.world, &p.marks, &mut p.sink);
        }
    }

    const RECEIPT: Due = Due::Receipt {
        msg: ID,
        need: 1,
        epoch: 1,
    };

    #[test]
    fn a_deadline_is_checked_once_its_time_has_passed() {
        let mut p = parts();
        p.live.owe(100, RECEIPT);
        p.expire(Some(1_100));
        assert_eq!(p.sink.total(), 0, "due at 1100: not before");
        p.expire(Some(1_101));
        let v = &p.sink.recorded()[0];
        assert_eq!((v.t_us, v.client, v.msg), (1_100, Some(A), Some(ID)));
        assert_eq!(v.observed, "sender's pushes showed read_count=0, needed 1");
        assert_eq!(
            v.bound,
            "pushed within the liveness bound of 1000us (deadline t=1100us)"
        );
        p.expire(None);
        assert_eq!(p.sink.total(), 1, "checked once");
    }

    #[test]
    fn a_push_or_a_c2c_read_meets_a_receipt_deadline() {
        let mut p = parts();
        p.book.get_mut(&ID).unwrap().max_pushed = 1;
        p.live.owe(0, RECEIPT);
        p.expire(None);
        assert_eq!(p.sink.total(), 0);
        let mut p = parts();
        assert_eq!(p.marks.saw_c2c_read(A, B, 50), None);
        p.live.owe(0, RECEIPT);
        p.expire(None);
        assert_eq!(p.sink.total(), 0);
    }

    #[test]
    fn nothing_is_owed_to_a_closed_connection() {
        let mut p = parts();
        p.live.owe(0, RECEIPT);
        p.world.disconnect(A);
        p.world.connect(10, A);
        p.expire(None);
        assert_eq!(p.sink.total(), 0);
    }

    /// MX11: a group message from A, a receipt for it invoked at 10 owes A a push only
    /// while A stays a member.
    #[test]
    fn a_pushed_deadline_is_owed_only_to_a_sender_that_stayed_a_member() {
        use crate::protocol::{AdminRequest, GroupId, GroupType, Response};
        const G: GroupId = GroupId(1);
        let due = Due::Pushed {
            msg: MsgId(2),
            after: 10,
            epoch: 1,
        };
        let run = |leave_at: Option<Micros>| {
            let mut p = parts();
            let create = AdminRequest::CreateGroup {
                group: G,
                group_type: GroupType::Work,
                members: vec![A, B],
            };
            p.world.on_admin(0, &create, &Response::AdminDone);
            let s = Sighting {
                id: MsgId(2),
                key: ConvKey::Group(G),
                sender: A,
                seq: 1,
                timestamp_ms: 0,
                need: true,
                acked_send: Some(0),
            };
            p.book.sight(&p.world, 0, &s);
            p.live.owe(20, due);
            if let Some(t) = leave_at {
                let leave = AdminRequest::RemoveMember { group: G, user: A };
                p.world.on_admin(t, &leave, &Response::AdminDone);
            }
            p.expire(None);
            p.sink.total()
        };
        assert_eq!(run(None), 1, "a member throughout is owed its push");
        assert_eq!(
            run(Some(500)),
            0,
            "a sender who left before the deadline is not"
        );
    }

    #[test]
    fn a_c2c_read_deadline_needs_a_recent_enough_timestamp() {
        let mut p = parts();
        let due = Due::C2cRead {
            observer: A,
            from: B,
            need_ts: 70,
            epoch: 1,
        };
        p.marks.saw_c2c_read(A, B, 60);
        p.live.owe(0, due);
        p.live.owe(5, due);
        p.marks.saw_c2c_read(A, B, 70);
        p.expire(Some(1_001));
        assert_eq!(p.sink.total(), 0);
        let mut p = parts();
        p.marks.saw_c2c_read(A, B, 60);
        p.live.owe(0, due);
        p.expire(None);
        let v = &p.sink.recorded()[0];
        assert_eq!((v.client, v.msg), (Some(A), None));
        assert_eq!(
            v.observed,
            "c2c_read from u2: latest timestamp seen Some(60)"
        );
        assert!(
            v.bound
                .starts_with("a c2c_read push with timestamp >= 70, pushed within")
        );
    }

    #[test]
    fn calm_arms_it() {
        let mut l = Liveness::new(1, false);
        assert!(!l.armed());
        l.calm();
        assert!(l.armed());
    }
}
