//! Changing a view: setup, sync updates, my own sends, pending events.

use super::{
    Derived, Ignored, MAX_PENDING, Msg, Pending, PendingMsg, PendingReceipt, Placed, ReadEntry,
    Room, View,
};
use crate::matrix::events::{RoomEvent, RoomUpdate};
use crate::matrix::names::Names;
use crate::matrix::timeline::Timeline;
use crate::protocol::UserId;
use rustc_hash::FxHashMap;
use std::sync::Arc;

impl View {
    /// The view of `me` (a Matrix user id), or None if `me` is not a readsim user of `names`'s
    /// server.
    pub fn new(me: &str, names: Names) -> Option<View> {
        Some(View {
            me: names.user(me)?,
            names,
            rooms: FxHashMap::default(),
            index: FxHashMap::default(),
            pending_msgs: Pending::default(),
            pending_receipts: Pending::default(),
            retried_at: None,
            ignored: Ignored::default(),
        })
    }

    pub fn me(&self) -> UserId {
        self.me
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Seeds a room's current members (e.g. from `joined_members` at setup), replacing what
    /// the view had; membership events of later syncs update it. Messages derive
    /// `new_message` only while I am among them (or the room is 1:1), so a room I am in must
    /// be seeded with me or show my join.
    pub fn set_members<S: AsRef<str>>(&mut self, room: &str, members: &[S]) {
        let mut set = std::collections::BTreeSet::new();
        for m in members {
            match self.names.user(m.as_ref()) {
                Some(u) => {
                    set.insert(u);
                }
                None => self.ignored.foreign_users += 1,
            }
        }
        self.room_mut(room).1.members = set;
    }

    /// Marks `room` as the 1:1 chat with `peer`: its messages get `is_peer_read`, not counts.
    pub fn set_direct(&mut self, room: &str, peer: UserId) {
        self.room_mut(room).1.direct = Some(peer);
    }

    /// Places my own message as soon as the send is answered (`seq` from
    /// [`Timeline::record_sent`]), so the sender's pulls find it before its `/sync` echo does.
    /// The echo then changes nothing.
    pub fn note_sent(
        &mut self,
        room: &str,
        event_id: &str,
        seq: u64,
        need_read_receipt: bool,
    ) -> Vec<Derived> {
        let room = self.room_mut(room).0;
        let msg = PendingMsg {
            room,
            event_id: event_id.into(),
            sender: self.me,
            need_read_receipt,
            ts_ms: 0,
            to_me: false,
        };
        let mut out = Vec::new();
        if !self.index.contains_key(event_id) {
            self.place(msg, seq, &mut out);
            // Waiting receipts may name this event; they find it in the view's index.
            self.retried_at = None;
        }
        out
    }

    /// Applies one room's part of a `/sync` answer, events in server order.
    pub fn apply(&mut self, update: &RoomUpdate, timeline: &Timeline) -> Vec<Derived> {
        let mut out = Vec::new();
        // What waited may resolve now, and must come before this batch's later events.
        self.resolve_into(timeline, &mut out);
        let room = self.room_mut(&update.room_id).0;
        for event in &update.events {
            self.on_event(&room, event, timeline, &mut out);
        }
        out
    }

    /// Applies the messages and receipts that waited for events the timeline now knows (the
    /// adapter calls this after recording each send answer).
    pub fn resolve_pending(&mut self, timeline: &Timeline) -> Vec<Derived> {
        let mut out = Vec::new();
        self.resolve_into(timeline, &mut out);
        out
    }

    fn resolve_into(&mut self, timeline: &Timeline, out: &mut Vec<Derived>) {
        // What waits was unresolvable at the version it was last tried at (or added at):
        // retrying it against the same version would cost a pass over all of it per sync.
        if self.retried_at == Some(timeline.version()) {
            return;
        }
        // Messages first: a receipt that resolves may cover one of them.
        for msg in self.pending_msgs.take() {
            self.on_message(msg, timeline, out);
        }
        for r in self.pending_receipts.take() {
            self.on_receipt(r, timeline, out);
        }
        self.retried_at = Some(timeline.version());
    }

    fn on_event(
        &mut self,
        room: &Arc<str>,
        event: &RoomEvent,
        timeline: &Timeline,
        out: &mut Vec<Derived>,
    ) {
        match event {
            RoomEvent::Message {
                event_id,
                sender,
                need_read_receipt,
                ts_ms,
            } => {
                let Some(sender) = self.user(sender) else {
                    return;
                };
                let me = self.me;
                let r = self.room_mut(room).1;
                let to_me = r.direct.is_some() || r.members.contains(&me);
                let msg = PendingMsg {
                    room: room.clone(),
                    event_id: event_id.as_str().into(),
                    sender,
                    need_read_receipt: *need_read_receipt,
                    ts_ms: *ts_ms,
                    to_me,
                };
                self.on_message(msg, timeline, out);
            }
            RoomEvent::Membership { user, joined } => {
                let Some(user) = self.user(user) else {
                    return;
                };
                // Set, not toggle: a batch delivered twice leaves the same membership.
                let members = &mut self.room_mut(room).1.members;
                if *joined {
                    members.insert(user);
                } else {
                    members.remove(&user);
                }
            }
            RoomEvent::Receipt { user, event_id, .. } => {
                let Some(user) = self.user(user) else {
                    return;
                };
                let r = PendingReceipt {
                    room: room.clone(),
                    user,
                    event_id: event_id.as_str().into(),
                };
                self.on_receipt(r, timeline, out);
            }
        }
    }

    fn user(&mut self, matrix: &str) -> Option<UserId> {
        let u = self.names.user(matrix);
        if u.is_none() {
            self.ignored.foreign_users += 1;
        }
        u
    }

    /// The room's shared key and state, created on first sight (a room the adapter never
    /// announced is still a room: its events are real).
    fn room_mut(&mut self, room: &str) -> (Arc<str>, &mut Room) {
        let key = match self.rooms.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => {
                let k: Arc<str> = room.into();
                self.rooms.insert(k.clone(), Room::default());
                k
            }
        };
        let state = self.rooms.get_mut(&key).expect("inserted above");
        (key, state)
    }

    fn on_message(&mut self, msg: PendingMsg, timeline: &Timeline, out: &mut Vec<Derived>) {
        if self.index.contains_key(&msg.event_id) {
            return;
        }
        match timeline.seq(&msg.room, &msg.event_id) {
            Some(seq) => self.place(msg, seq, out),
            None => {
                if self.pending_msgs.push(msg, MAX_PENDING) {
                    self.ignored.pending_dropped += 1;
                }
            }
        }
    }

    fn place(&mut self, msg: PendingMsg, seq: u64, out: &mut Vec<Derived>) {
        let me = self.me;
        let room = self.room_mut(&msg.room).1;
        let placed = Msg {
            seq,
            event_id: msg.event_id.clone(),
            sender: msg.sender,
            need_read_receipt: msg.need_read_receipt,
        };
        if seq == 0 || !room.insert(placed, me) {
            self.ignored.conflicting += 1;
            return;
        }
        let late_reads = late_reads(room, seq, me);
        self.index.insert(
            msg.event_id.clone(),
            Placed {
                room: msg.room.clone(),
                seq,
            },
        );
        if msg.sender != me {
            if !msg.to_me {
                return;
            }
            out.push(Derived::NewMessage {
                room: msg.room.to_string(),
                event_id: msg.event_id.to_string(),
                sender: msg.sender,
                seq,
                ts_ms: msg.ts_ms,
                need_read_receipt: msg.need_read_receipt,
            });
        } else if let Some(entry) = late_reads {
            out.push(Derived::Receipts {
                room: msg.room.to_string(),
                entries: vec![entry],
            });
        }
    }

    fn on_receipt(&mut self, r: PendingReceipt, timeline: &Timeline, out: &mut Vec<Derived>) {
        // The view's own placement first: the timeline is keyed by room, and an event id
        // named in another room than its own must not move a marker here.
        let seq = match self.index.get(&r.event_id) {
            Some(p) if p.room == r.room => Some(p.seq),
            Some(_) => return,
            None => timeline.seq(&r.room, &r.event_id),
        };
        let Some(seq) = seq else {
            if self.pending_receipts.push(r, MAX_PENDING) {
                self.ignored.pending_dropped += 1;
            }
            return;
        };
        let me = self.me;
        let room = self.room_mut(&r.room).1;
        let Some(old) = room.advance(r.user, seq) else {
            return;
        };
        // The sender never reads its own message (MX3); a non-member's move is not notified.
        if r.user == me || !room.notifies(r.user) {
            return;
        }
        let entries = room.newly_read(old, seq, me);
        if !entries.is_empty() {
            out.push(Derived::Receipts {
                room: r.room.to_string(),
                entries,
            });
        }
    }
}

/// My receipt-asking message placed after markers already passed it (its receipts resolved
/// first): those reads were never notified, so the placement notifies them once (MX7).
fn late_reads(room: &Room, seq: u64, me: UserId) -> Option<ReadEntry> {
    let msg = room.get(seq)?;
    if msg.sender != me || !msg.need_read_receipt {
        return None;
    }
    let counts = room.counts(msg, me);
    let read = match counts {
        super::Counts::Group { read_count, .. } => read_count > 0,
        super::Counts::Direct { is_peer_read, .. } => is_peer_read,
    };
    read.then(|| ReadEntry {
        event_id: msg.event_id.to_string(),
        seq,
        counts,
    })
}
