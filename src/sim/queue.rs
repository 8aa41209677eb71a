//! The simulator's event queue: events in (time, insertion sequence) order, so ties always
//! break the same way. A timing wheel of 1 ms buckets holds the near future (most events are
//! network hops and reads a few seconds out); only the current bucket is kept as a small heap,
//! and events beyond the wheel's horizon wait in an overflow heap. Same order as one big
//! binary heap, far fewer cache misses.

use crate::protocol::Micros;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

const BUCKET_US: u64 = 1000;
const BUCKETS: u64 = 1 << 16;

/// A 24-byte key; the payload waits in the slab so sorting moves little memory.
struct Entry {
    at: Micros,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    /// Reversed: the earliest (time, seq) is the heap's maximum.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

pub struct EventQueue<T> {
    /// Events of the bucket being processed (and any scheduled into it meanwhile).
    current: BinaryHeap<Entry>,
    /// Absolute number of the current bucket.
    cur: u64,
    wheel: Vec<Vec<Entry>>,
    in_wheel: usize,
    overflow: BinaryHeap<Entry>,
    seq: u64,
    /// Payloads by slot; `free` lists slots to reuse.
    slab: Vec<Option<T>>,
    free: Vec<u32>,
}

impl<T> Default for EventQueue<T> {
    fn default() -> Self {
        EventQueue {
            current: BinaryHeap::new(),
            cur: 0,
            wheel: (0..BUCKETS).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            overflow: BinaryHeap::new(),
            seq: 0,
            slab: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> EventQueue<T> {
    pub fn len(&self) -> usize {
        self.current.len() + self.in_wheel + self.overflow.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedules `ev` at `at`; `at` must not be before the last popped event's time.
    pub fn push(&mut self, at: Micros, ev: T) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slab[slot as usize] = Some(ev);
                slot
            }
            None => {
                self.slab.push(Some(ev));
                (self.slab.len() - 1) as u32
            }
        };
        let e = Entry {
            at,
            seq: self.seq,
            slot,
        };
        let b = at / BUCKET_US;
        if b <= self.cur {
            self.current.push(e);
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
            if let Some(e) = self.current.pop() {
                self.free.push(e.slot);
                let ev = self.slab[e.slot as usize]
                    .take()
                    .expect("a queued slot is full");
                return Some((e.at, ev));
            }
            if self.in_wheel == 0 {
                // Nothing near: jump straight to the overflow's earliest bucket.
                let next = self.overflow.peek()?.at / BUCKET_US;
                self.cur = next.max(self.cur + 1);
            } else {
                self.cur += 1;
            }
            let slot = &mut self.wheel[(self.cur % BUCKETS) as usize];
            self.in_wheel -= slot.len();
            self.current.extend(slot.drain(..));
            while self
                .overflow
                .peek()
                .is_some_and(|e| e.at / BUCKET_US <= self.cur)
            {
                let e = self.overflow.pop().expect("peeked");
                self.current.push(e);
            }
        }
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
