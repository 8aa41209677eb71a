//! The live scheduler's workload timers, in (intended time, insertion sequence) order so
//! ties break the same way every run. (The simulator keeps timers in its event queue,
//! interleaved with network events.)

use crate::protocol::Micros;
use crate::workload::Timer;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Timers in (intended time, insertion sequence) order.
#[derive(Default)]
pub struct TimerQueue {
    heap: BinaryHeap<Entry>,
    seq: u64,
}

struct Entry {
    at: Micros,
    seq: u64,
    timer: Timer,
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

impl TimerQueue {
    pub fn push(&mut self, at: Micros, timer: Timer) {
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            timer,
        });
    }
    pub fn peek_at(&self) -> Option<Micros> {
        self.heap.peek().map(|e| e.at)
    }
    pub fn pop(&mut self) -> Option<(Micros, Timer)> {
        self.heap.pop().map(|e| (e.at, e.timer))
    }
    pub fn len(&self) -> usize {
        self.heap.len()
    }
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}
