//! What readsim takes out of a `/sync` response: per joined (or just left) room, the timeline
//! and ephemeral events that matter for read receipts, in the order the server gave them.
//! The sync parser produces these; the per-client view consumes them. Ids are Matrix's own
//! strings (`@u5:localhost`, `!abc:localhost`, `$event`).

/// One room's part of one `/sync` answer, events in server order (timeline first, then the
/// ephemeral `m.receipt` events, as Synapse returns them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomUpdate {
    pub room_id: String,
    pub events: Vec<RoomEvent>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomEvent {
    /// An `m.room.message` timeline event.
    Message {
        event_id: String,
        sender: String,
        /// The content's `readsim.need_read_receipt` (false when absent).
        need_read_receipt: bool,
        /// `origin_server_ts`, milliseconds.
        ts_ms: u64,
    },
    /// An `m.room.member` timeline event: `user` (the state key) is now joined (`join`) or
    /// not (`leave`, `ban`; an `invite` is not membership yet and is not reported).
    Membership { user: String, joined: bool },
    /// One user's `m.read` receipt from an `m.receipt` ephemeral event (unthreaded or `main`
    /// only; private receipts are not shown to others).
    Receipt {
        user: String,
        event_id: String,
        ts_ms: u64,
    },
}
