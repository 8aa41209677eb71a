//! Receipt counts as observers see them (pulls and pushes): the bounds one entry must keep,
//! as a pure function of the message, the 1:1 marks and how it was observed.

use super::book::{Audience, Book, MsgState};
use super::marks::Marks;
use super::sink::Finding;
use super::violation::Invariant;
use crate::history::Device;
use crate::protocol::{MsgId, ReceiptEntry, UserId};

/// What a pull must show at least, captured when it was invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lower {
    Count(u32),
    PeerRead(bool),
    None,
}

impl Lower {
    /// The lower bound on `id`'s count for an observation that starts now.
    pub fn now(book: &Book, marks: &Marks, id: MsgId) -> Lower {
        match book.get(&id) {
            None => Lower::None,
            Some(m) => match m.audience {
                Audience::Group(..) => Lower::Count(m.acked.len() as u32),
                Audience::Peer(_) => Lower::PeerRead(marks.must_be_read(m)),
            },
        }
    }

    fn count(self) -> u32 {
        match self {
            Lower::Count(c) => c,
            Lower::PeerRead(b) => b as u32,
            Lower::None => 0,
        }
    }
}

/// How one entry was observed.
pub(super) struct Look {
    pub client: UserId,
    /// The connection it arrived on. Only one connection's observations are in order (one
    /// stream: a push that arrives before an answer was sent before it), so counts are
    /// compared with earlier ones (monotone) on the first device only; a user with one
    /// connection has only that one.
    pub device: Device,
    /// A push (else a pull's answer).
    pub push: bool,
    /// The run is quiet: a pull must show exactly what was acknowledged.
    pub quiet: bool,
    /// What a pull must show at least.
    pub lower: Lower,
}

impl Look {
    fn how(&self) -> &'static str {
        if self.push { "push" } else { "pull" }
    }
}

/// The count an entry shows (read_count, or 1 for a read 1:1 message) and the rules it breaks,
/// in the order they are reported.
pub(super) fn entry_findings(
    m: &MsgState,
    marks: &Marks,
    e: &ReceiptEntry,
    look: &Look,
) -> (u32, Vec<Finding>) {
    let mut found = Vec::new();
    let count = match *e {
        ReceiptEntry::Group {
            read_count,
            unread_count,
            ..
        } => {
            found.extend(count_sum(m, read_count, unread_count, look.how()));
            read_count
        }
        ReceiptEntry::C2c { is_peer_read, .. } => is_peer_read as u32,
    };
    if look.quiet && !look.push {
        found.extend(quiet_pull(m, marks, count));
    } else {
        found.extend(bounds(m, marks, count, look));
    }
    if look.client == m.sender && look.device.is_first() && count < m.max_seen {
        found.push(Finding::new(
            Invariant::MonotoneCounts,
            format!("{} read_count={count}", look.how()),
            format!(">= {} seen earlier by the same observer", m.max_seen),
        ));
    }
    (count, found)
}

/// read + unread is the audience size (a range while membership changes left it unsure, then
/// whatever was first seen).
fn count_sum(m: &MsgState, read: u32, unread: u32, how: &str) -> Option<Finding> {
    let aud = m.audience_len();
    let total = u64::from(read) + u64::from(unread);
    let maybe = m.maybe.len();
    let ok = if m.total_seen > 0 {
        total == u64::from(m.total_seen)
    } else {
        (u64::from(aud)..=u64::from(aud) + maybe).contains(&total)
    };
    if ok {
        return None;
    }
    let bound = if m.total_seen > 0 {
        format!("read + unread = audience size {} seen before", m.total_seen)
    } else if maybe > 0 {
        format!(
            "read + unread = audience size, {aud} to {} (membership changed while the send \
             was in flight)",
            u64::from(aud) + maybe
        )
    } else {
        format!("read + unread = audience size {aud}")
    };
    Some(Finding::new(
        Invariant::CountSum,
        format!(
            "{how} read_count={} unread_count={}",
            count_text(read),
            count_text(unread)
        ),
        bound,
    ))
}

/// A count as a reader should see it: one past 2^31 is no count a service reaches, but a
/// negative one a server wrapped to u32 (4294967295 is -1), which is said so.
pub(super) fn count_text(n: u32) -> String {
    if n > i32::MAX as u32 {
        format!(
            "{n} (= {} as a signed count: wrapped below zero?)",
            n as i32
        )
    } else {
        n.to_string()
    }
}

/// Once quiet, a pull shows exactly what was acknowledged, except what lost calls left unsure.
fn quiet_pull(m: &MsgState, marks: &Marks, count: u32) -> Option<Finding> {
    let (low, high) = match m.audience {
        // Lost receipts may or may not have been applied.
        Audience::Group(..) => (m.acked.len() as u32, m.may_have_read_len() as u32),
        // Tight once quiet, except a mark that raced the send itself.
        Audience::Peer(_) => (marks.must_be_read(m) as u32, marks.may_be_read(m) as u32),
    };
    let expected = if (low..=high).contains(&count) {
        count
    } else {
        low
    };
    (count != expected).then(|| {
        Finding::new(
            Invariant::QuietState,
            format!("quiet pull read_count={count}"),
            format!("= {expected} receipts acknowledged"),
        )
    })
}

/// At most what was invoked before the observation ended; a pull at least what was
/// acknowledged before it started.
fn bounds(m: &MsgState, marks: &Marks, count: u32, look: &Look) -> Vec<Finding> {
    let mut found = Vec::new();
    let upper = match m.audience {
        Audience::Group(..) => m.invoked.len() as u32,
        Audience::Peer(_) => marks.may_be_read(m) as u32,
    };
    if count > upper {
        found.push(Finding::new(
            Invariant::CountUpperBound,
            format!("{} read_count={count}", look.how()),
            format!("<= {upper} receipts invoked by audience members before it ended"),
        ));
    }
    let low = look.lower.count();
    if !look.push && count < low {
        found.push(Finding::new(
            Invariant::PullLowerBound,
            format!("pull read_count={count}"),
            format!(">= {low} receipts acknowledged before the pull started"),
        ));
    }
    found
}

/// Remembers what an observation showed: the audience size first seen while it was unsure,
/// and the highest counts the sender has seen and been pushed.
pub(super) fn note_entry(m: &mut MsgState, e: &ReceiptEntry, count: u32, look: &Look) {
    if !m.maybe.is_empty()
        && m.total_seen == 0
        && let ReceiptEntry::Group {
            read_count,
            unread_count,
            ..
        } = *e
    {
        // Saturating: a server's nonsense counts must not overflow the checker.
        m.total_seen = read_count.saturating_add(unread_count);
    }
    if look.client == m.sender && look.device.is_first() {
        m.max_seen = m.max_seen.max(count);
        if look.push {
            m.max_pushed = m.max_pushed.max(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::book::Sighting;
    use crate::check::world::World;
    use crate::protocol::{AdminRequest, ConvKey, GroupId, GroupType, Response};

    const G: GroupId = GroupId(1);
    const SENDER: UserId = UserId(1);
    const ID: MsgId = MsgId(1);

    /// A group message from user 1 to users 2..=5, with receipts from 2 and 3 invoked and
    /// 2's acknowledged.
    fn book(world: &World) -> Book {
        let mut b = Book::default();
        let s = Sighting {
            id: ID,
            key: ConvKey::Group(G),
            sender: SENDER,
            seq: 1,
            timestamp_ms: 0,
            need: true,
            acked_send: Some(0),
        };
        b.sight(world, 0, &s);
        let m = b.get_mut(&ID).unwrap();
        m.invoked.extend([2, 3]);
        m.acked.insert(2);
        b
    }

    fn world() -> World {
        let mut w = World::default();
        let req = AdminRequest::CreateGroup {
            group: G,
            group_type: GroupType::Work,
            members: (1..=5).map(UserId).collect(),
        };
        w.on_admin(0, &req, &Response::AdminDone);
        w
    }

    fn entry(read_count: u32, unread_count: u32) -> ReceiptEntry {
        ReceiptEntry::Group {
            msg_id: ID,
            group_id: G,
            read_count,
            unread_count,
        }
    }

    fn pull(lower: Lower) -> Look {
        Look {
            client: SENDER,
            device: Device::FIRST,
            push: false,
            quiet: false,
            lower,
        }
    }

    fn invariants(found: &[Finding]) -> Vec<Invariant> {
        found.iter().map(|f| f.invariant).collect()
    }

    fn check(b: &Book, e: ReceiptEntry, look: &Look) -> (u32, Vec<Invariant>) {
        let (count, found) = entry_findings(b.get(&ID).unwrap(), &Marks::default(), &e, look);
        (count, invariants(&found))
    }

    #[test]
    fn a_pull_between_its_bounds_is_fine() {
        let b = book(&world());
        let lower = Lower::now(&b, &Marks::default(), ID);
        assert_eq!(lower, Lower::Count(1));
        for read in 1..=2 {
            assert_eq!(
                check(&b, entry(read, 4 - read), &pull(lower)),
                (read, vec![])
            );
        }
    }

    #[test]
    fn counts_must_add_up_to_the_audience() {
        let b = book(&world());
        let (_, found) = entry_findings(
            b.get(&ID).unwrap(),
            &Marks::default(),
            &entry(1, 4),
            &pull(Lower::None),
        );
        assert_eq!(invariants(&found), [Invariant::CountSum]);
        assert_eq!(found[0].observed, "pull read_count=1 unread_count=4");
        assert_eq!(
            count_text(u32::MAX),
            "4294967295 (= -1 as a signed count: wrapped below zero?)"
        );
        assert_eq!(count_text(7), "7");
        assert_eq!(found[0].bound, "read + unread = audience size 4");
    }

    #[test]
    fn above_invoked_and_below_acked_both_fire() {
        let b = book(&world());
        assert_eq!(
            check(&b, entry(3, 1), &pull(Lower::None)).1,
            [Invariant::CountUpperBound]
        );
        assert_eq!(
            check(&b, entry(0, 4), &pull(Lower::Count(1))).1,
            [Invariant::PullLowerBound]
        );
        // A push has no lower bound: it may be older than an ack.
        let push = Look {
            push: true,
            ..pull(Lower::Count(1))
        };
        assert_eq!(check(&b, entry(0, 4), &push).1, []);
    }

    #[test]
    fn a_quiet_pull_shows_exactly_what_was_acked() {
        let mut b = book(&world());
        let quiet = Look {
            quiet: true,
            ..pull(Lower::None)
        };
        assert_eq!(check(&b, entry(1, 3), &quiet).1, []);
        assert_eq!(check(&b, entry(2, 2), &quiet).1, [Invariant::QuietState]);
        // 3's receipt was lost: it may have been applied.
        b.get_mut(&ID).unwrap().unknown.insert(3);
        assert_eq!(check(&b, entry(2, 2), &quiet).1, []);
        assert_eq!(check(&b, entry(0, 4), &quiet).1, [Invariant::QuietState]);
    }

    #[test]
    fn the_sender_never_sees_a_count_decrease() {
        let mut b = book(&world());
        let push = Look {
            push: true,
            ..pull(Lower::None)
        };
        let m = b.get_mut(&ID).unwrap();
        note_entry(m, &entry(2, 2), 2, &push);
        assert_eq!((m.max_seen, m.max_pushed), (2, 2));
        let (_, found) = entry_findings(m, &Marks::default(), &entry(1, 3), &pull(Lower::None));
        assert_eq!(invariants(&found), [Invariant::MonotoneCounts]);
        assert_eq!(found[0].bound, ">= 2 seen earlier by the same observer");
        // Another observer's view is not the sender's.
        let other = Look {
            client: UserId(2),
            ..pull(Lower::None)
        };
        assert_eq!(check(&b, entry(1, 3), &other).1, []);
        let m = b.get_mut(&ID).unwrap();
        note_entry(m, &entry(1, 3), 1, &other);
        assert_eq!(m.max_seen, 2);
    }

    /// The sender's answers on another device are not ordered with its first device's
    /// pushes: neither compared with them nor raising what later ones must show.
    #[test]
    fn only_the_first_devices_observations_are_compared() {
        let mut b = book(&world());
        let m = b.get_mut(&ID).unwrap();
        let push = Look {
            push: true,
            ..pull(Lower::None)
        };
        note_entry(m, &entry(2, 2), 2, &push);
        let second = Look {
            device: Device(1),
            ..pull(Lower::None)
        };
        assert_eq!(check(&b, entry(1, 3), &second).1, []);
        let m = b.get_mut(&ID).unwrap();
        note_entry(m, &entry(3, 1), 3, &second);
        assert_eq!(m.max_seen, 2);
    }

    #[test]
    fn an_unsure_audience_size_is_fixed_by_its_first_sighting() {
        let mut w = world();
        w.on_admin_invoke(&AdminRequest::AddMember {
            group: G,
            user: UserId(6),
        });
        let mut b = book(&w);
        let look = pull(Lower::None);
        assert_eq!(check(&b, entry(1, 4), &look).1, []);
        assert_eq!(check(&b, entry(1, 3), &look).1, []);
        let (_, found) =
            entry_findings(b.get(&ID).unwrap(), &Marks::default(), &entry(1, 5), &look);
        assert_eq!(
            found[0].bound.split(" (").next(),
            Some("read + unread = audience size, 4 to 5")
        );
        note_entry(b.get_mut(&ID).unwrap(), &entry(1, 4), 1, &look);
        assert_eq!(check(&b, entry(1, 3), &look).1, [Invariant::CountSum]);
    }
}
