//! One client's view of its rooms, derived from its `/sync` stream: what Synapse does not
//! answer itself (a message's read count, who has not read it, "your message was read"), as a
//! pure state machine. The adapter feeds it each room's
//! [`RoomUpdate`](crate::matrix::events::RoomUpdate) and turns the [`Derived`] it returns into
//! readsim pushes; it answers readsim's pulls from its queries.
//!
//! Seqs come from the run's shared [`Timeline`](crate::matrix::timeline::Timeline), never
//! from this client's own stream (a late joiner never sees the earlier events). A message or
//! receipt whose event the timeline does not know yet waits in a bounded pending list until
//! [`View::resolve_pending`] (or the next [`View::apply`]) finds it there. One timeline per
//! view: what waits is retried only when that timeline's version moved.
//!
//! Input is the server's and is not trusted: unknown rooms, foreign users, events out of order
//! and batches delivered twice (a reconnect) change nothing they should not and never panic.
//! Applying is idempotent: a message is placed once (by event id), a marker only moves
//! forward (MX2), membership events set rather than toggle, so a replayed batch derives
//! nothing new.

mod apply;
mod pending;
mod queries;
mod room;

use crate::matrix::names::Names;
use crate::protocol::UserId;
use crate::wire::{WireEntry, ok, user_str};
use pending::Pending;
use room::{Msg, Room};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// Most messages, and most receipts, kept waiting for the timeline. Normally a handful wait
/// for the send answer in flight; an event the adapter never sent (a non-message event, a
/// foreign send) never resolves and is dropped, oldest first, once this many wait.
pub const MAX_PENDING: usize = 4096;

/// What the adapter turns into readsim pushes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Derived {
    /// A message by someone else that reached me as a member (`new_message`); never for my
    /// own, nor for one from before I joined.
    NewMessage {
        room: String,
        event_id: String,
        sender: UserId,
        seq: u64,
        ts_ms: u64,
        need_read_receipt: bool,
    },
    /// My messages that asked for receipts and were just read (`receipts`, MX7): one per
    /// marker move of a current member (of the peer, 1:1), ascending seq, counts after the
    /// move. Also one, for that message alone, when my message is placed after markers
    /// already passed it (its receipt resolved first), so each read is notified once.
    Receipts {
        room: String,
        entries: Vec<ReadEntry>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadEntry {
    pub event_id: String,
    pub seq: u64,
    pub counts: Counts,
}

/// One message's receipt state: over the current members (MX6), or the 1:1 read flag.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Counts {
    Group { read_count: u32, unread_count: u32 },
    Direct { peer: UserId, is_peer_read: bool },
}

impl Counts {
    /// The wire entry for this message as readsim names it: `msg_id`, and `group_id` for a
    /// group room (unused for a 1:1 one); the adapter keeps both mappings.
    pub fn wire_entry(&self, msg_id: &str, group_id: &str) -> WireEntry {
        let mut e = WireEntry {
            msg_id: msg_id.to_string(),
            ..WireEntry::default()
        };
        match *self {
            Counts::Group {
                read_count,
                unread_count,
            } => {
                e.group_id = Some(group_id.to_string());
                e.read_count = Some(read_count);
                e.unread_count = Some(unread_count);
            }
            Counts::Direct { peer, is_peer_read } => {
                e.user_id = Some(user_str(peer));
                e.is_peer_read = Some(is_peer_read);
            }
        }
        e
    }
}

/// One page of a member list (MX8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberPage {
    pub members: Vec<UserId>,
    pub next_seq: u64,
    pub is_finished: bool,
}

impl MemberPage {
    pub fn to_wire(&self) -> ok::MemberList {
        ok::MemberList {
            members: self.members.iter().map(|&u| user_str(u)).collect(),
            next_seq: self.next_seq,
            is_finished: self.is_finished,
        }
    }
}

/// Input the view could not use, counted so a run can say so instead of hiding it.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ignored {
    /// Senders, members and readers that are not readsim users of this server.
    pub foreign_users: u64,
    /// Messages whose seq or id another message of the view already holds.
    pub conflicting: u64,
    /// Pending messages and receipts dropped past [`MAX_PENDING`].
    pub pending_dropped: u64,
}

/// Where a placed message is.
#[derive(Clone, Debug)]
struct Placed {
    room: Arc<str>,
    seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PendingMsg {
    room: Arc<str>,
    event_id: Arc<str>,
    sender: UserId,
    need_read_receipt: bool,
    ts_ms: u64,
    /// Whether I was in the message's audience where it stood in my stream: a current member
    /// then (S9), or a party of the 1:1 chat. A room I just joined shows recent messages from
    /// before my join; they are history, not `new_message`.
    to_me: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PendingReceipt {
    room: Arc<str>,
    user: UserId,
    event_id: Arc<str>,
}

/// One virtual client's view. Single owner (the adapter's task for that client).
#[derive(Debug)]
pub struct View {
    me: UserId,
    names: Names,
    rooms: FxHashMap<Arc<str>, Room>,
    index: FxHashMap<Arc<str>, Placed>,
    pending_msgs: Pending<PendingMsg>,
    pending_receipts: Pending<PendingReceipt>,
    /// The timeline's version when what waits was last retried (None: retry next time).
    retried_at: Option<u64>,
    ignored: Ignored,
}

#[cfg(test)]
mod tests;
