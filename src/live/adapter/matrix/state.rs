//! What the Matrix backend keeps for the whole run, shared by provisioning, churn and every
//! client's connection tasks: which room is which readsim conversation, the one numbering of
//! messages ([`Timeline`]), each user's access token, and each client's [`View`] (kept across
//! reconnects, so a resumed client never derives a push twice). Every lock here is a plain
//! mutex held for a few map operations, never across an await.

use crate::driver::ConnNo;
use crate::history::Device;
use crate::live::inbound::{Inbound, Incoming};
use crate::matrix::names::Names;
use crate::matrix::timeline::Timeline;
use crate::matrix::view::{Derived, View};
use crate::protocol::{ConvKey, GroupId, UserId};
use crate::wire::{self, PushFrame, WireConv};
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rooms as readsim conversations, both ways, and each sent event's room and timestamp.
#[derive(Default)]
pub(super) struct Rooms {
    pub by_conv: FxHashMap<ConvKey, String>,
    pub by_room: FxHashMap<String, ConvKey>,
    pub events: FxHashMap<String, SentEvent>,
}

/// A message the run sent, as its send was answered.
pub(super) struct SentEvent {
    pub room: String,
    /// The timestamp the send's answer gave (the adapter's clock: Matrix's send answer has
    /// no `origin_server_ts`), so pushes and history show the message as its send did.
    pub ts_ms: u64,
}

impl Rooms {
    pub fn insert(&mut self, conv: ConvKey, room: String) {
        self.by_room.insert(room.clone(), conv);
        self.by_conv.insert(conv, room);
    }
}

/// One client's side: its view, where its sync stream stopped, and the connection its
/// derived pushes go to (None while it has none).
pub(super) struct ClientSide {
    pub view: View,
    pub link: Option<(ConnNo, UnboundedSender<Inbound>)>,
    /// The `next_batch` of the last `/sync` answer applied to the view (any of the
    /// client's syncs): everything up to it is in the view. A sync from an older token only
    /// repeats events, which the view ignores.
    pub since: Option<String>,
}

/// The run's shared state.
pub(super) struct Shared {
    pub names: Names,
    pub rooms: Mutex<Rooms>,
    pub timeline: Mutex<Timeline>,
    pub tokens: Mutex<FxHashMap<UserId, String>>,
    pub clients: Mutex<FxHashMap<UserId, Arc<Mutex<ClientSide>>>>,
    /// One lock per room held across a send, so that the order of send answers is the
    /// room's order (Matrix answers a send with an event id only, no position).
    pub send_locks: Mutex<FxHashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Shared {
    pub fn new(names: Names) -> Shared {
        Shared {
            names,
            rooms: Mutex::default(),
            timeline: Mutex::new(Timeline::new()),
            tokens: Mutex::default(),
            clients: Mutex::default(),
            send_locks: Mutex::default(),
        }
    }

    pub fn token(&self, u: UserId) -> Option<String> {
        lock(&self.tokens).get(&u).cloned()
    }

    /// The client's side, made on first use.
    pub fn client(&self, u: UserId) -> Arc<Mutex<ClientSide>> {
        let mut clients = lock(&self.clients);
        clients
            .entry(u)
            .or_insert_with(|| {
                let me = self.names.matrix(u);
                let view = View::new(&me, self.names.clone()).expect("a readsim user's id");
                Arc::new(Mutex::new(ClientSide {
                    view,
                    link: None,
                    since: None,
                }))
            })
            .clone()
    }

    pub fn room(&self, conv: ConvKey) -> Option<String> {
        lock(&self.rooms).by_conv.get(&conv).cloned()
    }

    pub fn send_lock(&self, room: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.send_locks)
            .entry(room.to_string())
            .or_default()
            .clone()
    }

    /// After a send answer was recorded: every view that waited for it may now derive
    /// pushes (a member's `/sync` can show a message before its sender's answer arrives).
    pub fn resolve_everywhere(&self) {
        let clients: Vec<(UserId, Arc<Mutex<ClientSide>>)> = lock(&self.clients)
            .iter()
            .map(|(u, c)| (*u, c.clone()))
            .collect();
        for (u, side) in clients {
            let mut side = lock(&side);
            if side.view.pending() == (0, 0) {
                continue;
            }
            let derived = side.view.resolve_pending(&lock(&self.timeline));
            self.deliver(u, &side, derived);
        }
    }

    /// Turns `derived` into push frames on the client's current connection.
    pub fn deliver(&self, me: UserId, side: &ClientSide, derived: Vec<Derived>) {
        let Some((conn, tx)) = &side.link else { return };
        for d in derived {
            let Some(push) = self.push_frame(me, d) else {
                continue;
            };
            let _ = tx.send(Inbound::Frame {
                client: me,
                device: Device::FIRST,
                conn: *conn,
                at: Instant::now(),
                frame: Incoming::Push(push),
            });
        }
    }

    /// The timestamp the send of `event` answered with (else `fallback`, the server's).
    pub fn sent_ts(&self, event: &str, fallback: u64) -> u64 {
        lock(&self.rooms)
            .events
            .get(event)
            .map_or(fallback, |e| e.ts_ms)
    }

    /// The conversation of `room` as `me` names it.
    pub fn wire_conv(&self, me: UserId, room: &str) -> Option<WireConv> {
        let conv = *lock(&self.rooms).by_room.get(room)?;
        Some(match conv {
            ConvKey::Group(g) => WireConv::Group(wire::group_str(g)),
            ConvKey::Pair(a, b) => WireConv::C2c(wire::user_str(if a == me { b } else { a })),
        })
    }

    fn push_frame(&self, me: UserId, d: Derived) -> Option<PushFrame> {
        match d {
            Derived::NewMessage {
                room,
                event_id,
                sender,
                seq,
                ts_ms,
                need_read_receipt,
            } => Some(PushFrame::NewMessage {
                timestamp_ms: self.sent_ts(&event_id, ts_ms),
                msg_id: event_id,
                conv: self.wire_conv(me, &room)?,
                sender: wire::user_str(sender),
                seq,
                need_read_receipt,
            }),
            Derived::Receipts { room, entries } => {
                let group = match self.wire_conv(me, &room)? {
                    WireConv::Group(g) => g,
                    WireConv::C2c(_) => String::new(),
                };
                let entries = entries
                    .iter()
                    .map(|e| e.counts.wire_entry(&e.event_id, &group))
                    .collect();
                Some(PushFrame::Receipts { entries })
            }
        }
    }
}

/// The conversation key of a group id string (`g3`).
pub(super) fn group_key(g: GroupId) -> ConvKey {
    ConvKey::Group(g)
}

/// The conversation key of a 1:1 chat between `a` and `b`.
pub(super) fn pair_key(a: UserId, b: UserId) -> ConvKey {
    ConvKey::Pair(a.min(b), a.max(b))
}
