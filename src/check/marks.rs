//! 1:1 marks: mark-read calls per (reader, peer), the c2c_read timestamps each observer has
//! seen, and the bounds they put on whether a 1:1 message may or must show as read.

use super::book::MsgState;
use super::sink::Finding;
use super::violation::Invariant;
use crate::protocol::{Micros, UserId};
use rustc_hash::FxHashMap;

/// Mark-read calls of a reader in its conversation with one peer.
#[derive(Default, Clone, Copy)]
struct MarkState {
    in_flight: u32,
    /// Ack time of the latest acknowledged mark.
    last_acked_at: Option<Micros>,
    /// Invoke time of the latest-invoked acknowledged mark.
    acked_max_invoked: Option<Micros>,
    /// A mark was lost: it may have been (or may still be) applied at any later time.
    lost: bool,
}

#[derive(Default)]
pub(super) struct Marks {
    /// Per (reader, peer).
    marks: FxHashMap<(UserId, UserId), MarkState>,
    /// Highest c2c_read timestamp `observer` has seen from `from`, per (observer, from).
    seen: FxHashMap<(UserId, UserId), u64>,
}

impl Marks {
    fn get(&self, reader: UserId, peer: UserId) -> MarkState {
        self.marks.get(&(reader, peer)).copied().unwrap_or_default()
    }

    /// Whether a mark of `reader` in its chat with `peer` was acknowledged.
    pub fn acked(&self, reader: UserId, peer: UserId) -> bool {
        self.marks
            .get(&(reader, peer))
            .is_some_and(|m| m.last_acked_at.is_some())
    }

    pub fn invoke(&mut self, reader: UserId, peer: UserId) {
        self.marks.entry((reader, peer)).or_default().in_flight += 1;
    }

    /// A mark call ended: answered (`acked` = Some((ack time, invoke time)) if it succeeded)
    /// or lost (`lost`).
    pub fn end(&mut self, reader: UserId, peer: UserId, acked: Option<(Micros, Micros)>) {
        let mark = self.marks.entry((reader, peer)).or_default();
        mark.in_flight = mark.in_flight.saturating_sub(1);
        if let Some((t, invoked_at)) = acked {
            mark.last_acked_at = Some(t);
            mark.acked_max_invoked = Some(mark.acked_max_invoked.unwrap_or(0).max(invoked_at));
        }
    }

    pub fn lose(&mut self, reader: UserId, peer: UserId) {
        self.end(reader, peer, None);
        self.marks.entry((reader, peer)).or_default().lost = true;
    }

    /// Upper bound: may an observation ending now show the 1:1 message `m` as read?
    pub fn may_be_read(&self, m: &MsgState) -> bool {
        let Some(peer) = m.peer() else { return false };
        if m.invoked.contains(peer.0) || m.unknown.contains(peer.0) {
            return true;
        }
        let mark = self.get(peer, m.sender);
        // A mark covers the message only if it committed after the send did; a lost mark
        // may commit at any time.
        mark.in_flight > 0 || mark.lost || mark.last_acked_at.is_some_and(|a| a >= m.send_invoked)
    }

    /// Lower bound: must an observation that starts now show the 1:1 message `m` as read?
    pub fn must_be_read(&self, m: &MsgState) -> bool {
        let Some(peer) = m.peer() else { return false };
        if m.acked.contains(peer.0) {
            return true;
        }
        // Only a mark invoked after the send was acknowledged surely covers it.
        match (self.get(peer, m.sender).acked_max_invoked, m.send_acked) {
            (Some(inv), Some(acked)) => inv > acked,
            _ => false,
        }
    }

    /// The latest c2c_read timestamp `observer` has seen from `from`.
    pub fn latest_seen(&self, observer: UserId, from: UserId) -> Option<u64> {
        self.seen.get(&(observer, from)).copied()
    }

    /// `observer` got a c2c_read push from `from`: timestamps never decrease.
    pub fn saw_c2c_read(&mut self, observer: UserId, from: UserId, ts: u64) -> Option<Finding> {
        let seen = self.seen.entry((observer, from)).or_insert(0);
        if ts < *seen {
            return Some(Finding::new(
                Invariant::C2cReadTimestamps,
                format!("c2c_read from {from} timestamp {ts}"),
                format!(">= {} seen earlier", *seen),
            ));
        }
        *seen = ts;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::book::{Book, Sighting};
    use crate::check::world::World;
    use crate::protocol::{ConvKey, MsgId};

    const A: UserId = UserId(1);
    const B: UserId = UserId(2);

    /// A 1:1 message from A to B whose send was invoked at 100 and acknowledged at 200.
    fn message() -> Book {
        let mut book = Book::default();
        let s = Sighting {
            id: MsgId(1),
            key: ConvKey::Pair(A, B),
            sender: A,
            seq: 1,
            timestamp_ms: 0,
            need: false,
            acked_send: Some(100),
        };
        book.sight(&World::default(), 200, &s);
        book.get_mut(&MsgId(1)).unwrap().send_acked = Some(200);
        book
    }

    #[test]
    fn no_mark_no_read() {
        let book = message();
        let m = book.get(&MsgId(1)).unwrap();
        let marks = Marks::default();
        assert!(!marks.may_be_read(m) && !marks.must_be_read(m));
    }

    #[test]
    fn a_mark_in_flight_or_lost_may_have_read() {
        let book = message();
        let m = book.get(&MsgId(1)).unwrap();
        let mut marks = Marks::default();
        marks.invoke(B, A);
        assert!(marks.may_be_read(m) && !marks.must_be_read(m));
        marks.lose(B, A);
        assert!(marks.may_be_read(m) && !marks.must_be_read(m));
        // A's own marks of B say nothing about A's message.
        let mut other = Marks::default();
        other.invoke(A, B);
        assert!(!other.may_be_read(m));
    }

    #[test]
    fn an_acked_mark_counts_by_when_it_committed() {
        let book = message();
        let m = book.get(&MsgId(1)).unwrap();
        // Acked before the send was invoked: covers nothing.
        let mut marks = Marks::default();
        marks.invoke(B, A);
        marks.end(B, A, Some((99, 50)));
        assert!(!marks.may_be_read(m) && !marks.must_be_read(m));
        // Raced the send: may cover it, need not.
        marks.invoke(B, A);
        marks.end(B, A, Some((150, 150)));
        assert!(marks.may_be_read(m) && !marks.must_be_read(m));
        // Invoked when the send was acknowledged: may have committed before the send did.
        marks.invoke(B, A);
        marks.end(B, A, Some((300, 200)));
        assert!(marks.may_be_read(m) && !marks.must_be_read(m));
        // Invoked after the send's ack: must cover it.
        marks.invoke(B, A);
        marks.end(B, A, Some((300, 201)));
        assert!(marks.may_be_read(m) && marks.must_be_read(m));
    }

    #[test]
    fn an_acked_receipt_of_the_peer_reads_it() {
        let mut book = message();
        let m = book.get_mut(&MsgId(1)).unwrap();
        m.invoked.insert(B.0);
        let marks = Marks::default();
        assert!(marks.may_be_read(m) && !marks.must_be_read(m));
        m.acked.insert(B.0);
        assert!(marks.must_be_read(m));
    }

    #[test]
    fn c2c_read_timestamps_never_decrease() {
        let mut marks = Marks::default();
        assert_eq!(marks.latest_seen(A, B), None);
        assert_eq!(marks.saw_c2c_read(A, B, 10), None);
        assert_eq!(marks.saw_c2c_read(A, B, 10), None);
        let f = marks.saw_c2c_read(A, B, 9).expect("went back");
        assert_eq!(f.invariant, Invariant::C2cReadTimestamps);
        assert_eq!(f.observed, "c2c_read from u2 timestamp 9");
        assert_eq!(f.bound, ">= 10 seen earlier");
        assert_eq!(marks.latest_seen(A, B), Some(10));
        assert_eq!(marks.saw_c2c_read(B, A, 1), None, "per (observer, from)");
    }
}
