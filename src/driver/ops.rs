//! Operations in flight: ids are handed out in invoke order, and losing all of a client's
//! operations goes in that order whatever the hash map's layout.

use crate::history::OpId;
use crate::protocol::{Request, UserId};
use crate::workload::Tag;
use rustc_hash::FxHashMap;

/// An operation in flight: what it means to the workload and, where the driver keeps it,
/// the request itself (to retry a lost operation, or to read the answer).
pub struct InFlight {
    pub client: UserId,
    pub tag: Tag,
    pub req: Option<Request>,
}

/// The operations in flight, keyed by id.
pub struct Ops {
    next: OpId,
    map: FxHashMap<OpId, InFlight>,
}

impl Default for Ops {
    fn default() -> Self {
        Ops {
            next: 1,
            map: FxHashMap::default(),
        }
    }
}

impl Ops {
    /// A fresh id (ids start at 1 and are never reused).
    pub fn next_id(&mut self) -> OpId {
        let op = self.next;
        self.next += 1;
        op
    }

    pub fn insert(&mut self, op: OpId, f: InFlight) {
        self.map.insert(op, f);
    }

    pub fn remove(&mut self, op: OpId) -> Option<InFlight> {
        self.map.remove(&op)
    }

    pub fn contains(&self, op: OpId) -> bool {
        self.map.contains_key(&op)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// `client`'s operations in flight, in id order (the map's own order would show).
    pub fn of_client(&self, client: UserId) -> Vec<OpId> {
        let mut ops: Vec<OpId> = self
            .map
            .iter()
            .filter(|(_, f)| f.client == client)
            .map(|(&op, _)| op)
            .collect();
        ops.sort_unstable();
        ops
    }

    /// The first `n` (op, client) pairs in id order, for messages.
    pub fn sample(&self, n: usize) -> Vec<(OpId, UserId)> {
        let mut some: Vec<_> = self.map.iter().map(|(op, f)| (*op, f.client)).collect();
        some.sort_unstable();
        some.truncate(n);
        some
    }

    /// Forgets every operation in flight; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.map.len();
        self.map.clear();
        n
    }
}
