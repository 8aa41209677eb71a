//! The simulator's event queue: events in (time, insertion sequence) order, so ties always
//! break the same way. A timing wheel of 1 ms buckets holds the near future (most events are
//! network hops and reads a few seconds out) with payloads inline, so a bucket is read from
//! memory in one sweep; each bucket is sorted when its turn comes. Events scheduled into the
//! bucket being processed wait in a small heap, events beyond the wheel's horizon in an
//! overflow heap. Same order as one big binary heap, far fewer cache misses.

use crate::protocol::Micros;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const BUCKET_US: u64 = 1000;
const BUCKETS: u64 = 1 << 16;

struct Entry<T> {
    at: Micros,
    seq: u64,
    ev: T,
}

impl<T> Entry<T> {
    fn key(&self) -> (Micros, u64) {
        (self.at, self.seq)
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, o: &Self) -> bool {
        self.key() == o.key()
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Entry<T> {
    /// Reversed: the earliest (time, seq) is the heap's maximum.
    fn cmp(&self, o: &Self) -> Ordering {
        o.key().cmp(&self.key())
    }
}

pub struct EventQueue<T> {
    /// The current bucket's events, sorted latest first (pop from the end).
    ready: Vec<Entry<T>>,
    /// Events scheduled into the current bucket after it was sorted.
    late: BinaryHeap<Entry<T>>,
    /// Absolute number of the current bucket.
    cur: u64,
    wheel: Vec<Vec<Entry<T>>>,
    in_wheel: usize,
    overflow: BinaryHeap<Entry<T>>,
    seq: u64,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            ready: Vec::new(),
            late: BinaryHeap::new(),
            cur: 0,
            wheel: (0..BUCKETS).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            overflow: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> EventQueue<T> {
    pub fn len(&self) -> usize {
        self.ready.len() + self.late.len() + self.in_wheel + self.overflow.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules `ev` at `at`; `at` must not be before the last popped event's time.
    pub fn push(&mut self, at: Micros, ev: T) {
        self.seq += 1;
        let e = Entry {
            at,
            seq: self.seq,
            ev,
        };
        let b = at / BUCKET_US;
        if b <= self.cur {
            self.late.push(e);
        } else if b < self.cur + BUCKETS {
            self.wheel[(b % BUCKETS) as usize].push(e);
            self.in_wheel += 1;
        } else {
            self.overflow.push(e);
        }
    }

    /// The earliest event and its time.
    pub fn pop(&mut self) -> Option<(Micros, T)> {
        loop {
            let from_late = match (self.ready.last(), self.late.peek()) {
                (Some(r), Some(l)) => l.key() < r.key(),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => {
                    self.advance()?;
                    continue;
                }
            };
            let e = if from_late {
                self.late.pop()
            } else {
                self.ready.pop()
            }
            .expect("peeked");
            return Some((e.at, e.ev));
        }
    }

    /// Moves to the next bucket that has events; None if there are none anywhere.
    fn advance(&mut self) -> Option<()> {
        if self.in_wheel == 0 {
            // Nothing near: jump straight to the overflow's earliest bucket.
            let next = self.overflow.peek()?.at / BUCKET_US;
            self.cur = next.max(self.cur + 1);
        } else {
            self.cur += 1;
        }
        let slot = (self.cur % BUCKETS) as usize;
        // Take the slot's vector and leave an empty one: keeping allocations per slot would
        // pin the peak load of every bucket for the whole run.
        self.ready = std::mem::take(&mut self.wheel[slot]);
        self.in_wheel -= self.ready.len();
        while self
            .overflow
            .peek()
            .is_some_and(|e| e.at / BUCKET_US <= self.cur)
        {
            let e = self.overflow.pop().expect("peeked");
            self.ready.push(e);
        }
        self.ready
            .sort_unstable_by_key(|e| std::cmp::Reverse(e.key()));
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn pops_in_time_then_insertion_order_like_a_heap() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut q = EventQueue::default();
        let mut reference: Vec<(Micros, u64)> = Vec::new();
        let mut now = 0;
        let mut id = 0u64;
        let mut popped = Vec::new();
        for round in 0..20_000 {
            // Mix near, same-time and far-future (beyond the wheel) events.
            let n = rng.random_range(0..3);
            for _ in 0..n {
                let dt = match rng.random_range(0..10) {
                    0 => 0,
                    1 => rng.random_range(0..200_000_000),
                    _ => rng.random_range(0..50_000),
                };
                id += 1;
                q.push(now + dt, id);
                reference.push((now + dt, id));
            }
            if round % 3 != 0
                && let Some((at, ev)) = q.pop()
            {
                assert!(at >= now, "time went backwards");
                now = at;
                popped.push((at, ev));
            }
        }
        while let Some((at, ev)) = q.pop() {
            assert!(at >= now);
            now = at;
            popped.push((at, ev));
        }
        assert!(q.is_empty());
        assert_eq!(popped.len(), reference.len());
        // Insertion ids increase with insertion, so (time, id) order is the heap order.
        assert!(popped.windows(2).all(|w| w[0] <= w[1]), "out of order");
    }
}
