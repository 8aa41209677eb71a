//! The one numbering of a run's messages, shared by every client's view.
//!
//! readsim numbers the messages of a conversation 1, 2, 3, ... (`seq`), and every client must
//! agree on each message's number. A client cannot number a room from its own `/sync`: one
//! that joined late never sees the earlier events. The adapter sends one message at a time per
//! room, so the order of send answers is the room's order; it records each answer here (one
//! `Timeline` per run, behind a `Mutex` the adapter owns) and the views look seqs up.

use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Default, Debug)]
pub struct Timeline {
    rooms: FxHashMap<Box<str>, Line>,
    /// Events recorded so far: a view retries what waits only when this moved.
    version: u64,
}

#[derive(Default, Debug)]
struct Line {
    seqs: FxHashMap<Arc<str>, u64>,
    latest: Option<Arc<str>>,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Numbers `event_id`, the answer to a successful send in `room`: the room's next seq.
    /// Recording an event again returns its seq unchanged, so a retried bookkeeping step
    /// cannot make a gap.
    pub fn record_sent(&mut self, room: &str, event_id: &str) -> u64 {
        let line = match self.rooms.get_mut(room) {
            Some(l) => l,
            None => self.rooms.entry(room.into()).or_default(),
        };
        if let Some(&seq) = line.seqs.get(event_id) {
            return seq;
        }
        let seq = line.seqs.len() as u64 + 1;
        let id: Arc<str> = event_id.into();
        line.seqs.insert(id.clone(), seq);
        line.latest = Some(id);
        self.version += 1;
        seq
    }

    /// The seq of `event_id` in `room`, if the adapter recorded it there.
    pub fn seq(&self, room: &str, event_id: &str) -> Option<u64> {
        self.rooms.get(room)?.seqs.get(event_id).copied()
    }

    /// How many events were recorded, in all rooms: changes exactly when a lookup may answer
    /// differently.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The room's last recorded message and its seq (the newest the harness knows committed).
    pub fn latest(&self, room: &str) -> Option<(u64, &str)> {
        let line = self.rooms.get(room)?;
        let id = line.latest.as_deref()?;
        Some((line.seqs.len() as u64, id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_count_per_room_from_one_and_repeats_keep_theirs() {
        let mut t = Timeline::new();
        assert_eq!(t.record_sent("!a", "$1"), 1);
        assert_eq!(t.version(), 1);
        assert_eq!(t.record_sent("!b", "$x"), 1);
        assert_eq!(t.record_sent("!a", "$2"), 2);
        assert_eq!(t.record_sent("!a", "$1"), 1);
        assert_eq!(t.version(), 3);
        assert_eq!(t.record_sent("!a", "$3"), 3);
        assert_eq!(t.seq("!a", "$2"), Some(2));
        assert_eq!(t.seq("!b", "$2"), None);
        assert_eq!(t.seq("!nowhere", "$2"), None);
        assert_eq!(t.latest("!a"), Some((3, "$3")));
        assert_eq!(t.latest("!b"), Some((1, "$x")));
        assert_eq!(t.latest("!nowhere"), None);
    }

    #[test]
    fn the_adapter_can_share_it_between_tasks() {
        fn shareable<T: Send + Sync>() {}
        shareable::<std::sync::Mutex<Timeline>>();
        shareable::<Timeline>();
    }
}
