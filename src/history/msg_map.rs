//! A map keyed by message id that is a plain vector for the ids drivers produce (small,
//! mostly dense: the model numbers messages 1, 2, 3, ... and the wire adapter numbers server
//! ids in order of first sight), with a hash map as the fallback for any other id. Recent
//! messages sit next to each other in memory, which is what the hot paths touch.

use crate::protocol::MsgId;
use rustc_hash::FxHashMap;

/// Ids below this go to the vector; beyond it (a target returning odd ids) to the hash map.
const DENSE_LIMIT: u64 = 1 << 32;

#[derive(Debug)]
pub struct MsgMap<V> {
    dense: Vec<Option<V>>,
    sparse: FxHashMap<MsgId, V>,
}

impl<V> Default for MsgMap<V> {
    fn default() -> Self {
        MsgMap {
            dense: Vec::new(),
            sparse: FxHashMap::default(),
        }
    }
}

impl<V> MsgMap<V> {
    pub fn get(&self, id: &MsgId) -> Option<&V> {
        if id.0 < DENSE_LIMIT {
            self.dense.get(id.0 as usize).and_then(|v| v.as_ref())
        } else {
            self.sparse.get(id)
        }
    }

    pub fn get_mut(&mut self, id: &MsgId) -> Option<&mut V> {
        if id.0 < DENSE_LIMIT {
            self.dense.get_mut(id.0 as usize).and_then(|v| v.as_mut())
        } else {
            self.sparse.get_mut(id)
        }
    }

    pub fn contains_key(&self, id: &MsgId) -> bool {
        self.get(id).is_some()
    }

    /// Inserts `v` under `id`, returning the previous value.
    pub fn insert(&mut self, id: MsgId, v: V) -> Option<V> {
        if id.0 < DENSE_LIMIT {
            let i = id.0 as usize;
            if self.dense.len() <= i {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i].replace(v)
        } else {
            self.sparse.insert(id, v)
        }
    }

    pub fn remove(&mut self, id: &MsgId) -> Option<V> {
        if id.0 < DENSE_LIMIT {
            self.dense.get_mut(id.0 as usize).and_then(|v| v.take())
        } else {
            self.sparse.remove(id)
        }
    }

    /// The value under `id`, inserted with `f` if absent.
    pub fn get_or_insert_with(&mut self, id: MsgId, f: impl FnOnce() -> V) -> &mut V {
        if id.0 < DENSE_LIMIT {
            let i = id.0 as usize;
            if self.dense.len() <= i {
                self.dense.resize_with(i + 1, || None);
            }
            self.dense[i].get_or_insert_with(f)
        } else {
            self.sparse.entry(id).or_insert_with(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_and_sparse_ids_behave_alike() {
        let mut m = MsgMap::default();
        for id in [MsgId(3), MsgId(1 << 40), MsgId(0)] {
            assert!(m.get(&id).is_none());
            assert_eq!(m.insert(id, 7), None);
            assert_eq!(m.insert(id, 8), Some(7));
            *m.get_mut(&id).unwrap() += 1;
            assert_eq!(m.get(&id), Some(&9));
            assert!(m.contains_key(&id));
            assert_eq!(m.remove(&id), Some(9));
            assert!(!m.contains_key(&id));
            assert_eq!(*m.get_or_insert_with(id, || 1), 1);
        }
    }
}
