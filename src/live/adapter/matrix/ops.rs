//! readsim's client operations on Matrix, one by one (docs/matrix.md, "The mapping"). Sends,
//! receipts, mark-read and history are the homeserver's answers; receipt counts and member
//! lists are the client's view's (derived from its `/sync`). A homeserver answer the adapter
//! cannot read is `INTERNAL` in the history (a finding, never a crash); no answer at all
//! leaves the operation unanswered, like a lost frame (the connection's sync loop reports
//! the failure and the fault side reconnects).

use super::state::{ClientSide, SentEvent, Shared, lock, pair_key};
use crate::matrix::client::MatrixClient;
use crate::matrix::error::MatrixError;
use crate::matrix::events::RoomEvent;
use crate::protocol::{ConvKey, ErrorCode, MAX_BATCH, ReadFilter, UserId};
use crate::wire::{
    self, ClientFrame, ResponseFrame, WireConv, WireEntry, WireError, WireFilter,
    WireHistoryMessage, WireReceiptResult, WireRequest, ok,
};
use std::sync::{Arc, Mutex};

/// Pages of `/messages` one history call reads at most.
const MAX_HISTORY_PAGES: usize = 5;

/// What one client's operations need.
#[derive(Clone)]
pub(super) struct OpCtx {
    pub shared: Arc<Shared>,
    pub mc: MatrixClient,
    pub me: UserId,
    pub side: Arc<Mutex<ClientSide>>,
    /// Makes transaction ids unique per connection (`{client}.{conn}.{op id}`).
    pub txn_prefix: String,
    /// The homeserver's own base URL (not the fault proxy's), for the peer's join when a
    /// 1:1 room is made.
    pub direct_base: String,
}

type Answer = Result<serde_json::Value, ErrorCode>;

/// The response frame to `f`, or None when the homeserver did not answer at all.
pub(super) async fn answer(ctx: &OpCtx, f: ClientFrame) -> Option<ResponseFrame> {
    let id = f.id;
    let a = match f.op {
        WireRequest::SendMessage {
            conv,
            need_read_receipt,
            body,
        } => send(ctx, id, &conv, need_read_receipt, &body).await,
        WireRequest::SendMessageReadReceipts { msg_ids } => receipts(ctx, &msg_ids).await,
        WireRequest::GetMessageReadReceipts { msg_ids } => match refresh(ctx).await {
            Ok(()) => counts(ctx, &msg_ids),
            Err(e) => Err(e),
        },
        WireRequest::GetGroupMessageReadMemberList {
            msg_id,
            filter,
            next_seq,
            count,
        } => match refresh(ctx).await {
            Ok(()) => member_list(ctx, &msg_id, filter, next_seq, count),
            Err(e) => Err(e),
        },
        WireRequest::MarkC2cMessageAsRead { peer } => mark_read(ctx, &peer).await,
        WireRequest::GetHistory {
            conv,
            before_seq,
            count,
        } => history(ctx, &conv, before_seq, count).await,
    };
    let a = match a {
        Ok(v) => Ok(v),
        Err(Failed::Code(c)) => Err(c),
        Err(Failed::NoAnswer) => return None,
    };
    Some(frame(id, a))
}

fn frame(id: u64, a: Answer) -> ResponseFrame {
    match a {
        Ok(v) => ResponseFrame {
            id: Some(id),
            ok: Some(v),
            error: None,
        },
        Err(code) => ResponseFrame {
            id: Some(id),
            ok: None,
            error: Some(WireError::from(code)),
        },
    }
}

/// Why an operation has no `ok` answer.
enum Failed {
    Code(ErrorCode),
    /// The homeserver never answered (connection refused or reset, timeout).
    NoAnswer,
}

impl From<ErrorCode> for Failed {
    fn from(c: ErrorCode) -> Failed {
        Failed::Code(c)
    }
}

/// A Matrix failure as readsim sees it: 403 is `refused`; any other answer (429, 5xx, an
/// unreadable body) is `INTERNAL`; no answer is no answer.
fn failed(e: &MatrixError, refused: ErrorCode) -> Failed {
    match e.status() {
        Some(403) => Failed::Code(refused),
        Some(_) => Failed::Code(ErrorCode::Internal),
        None => Failed::NoAnswer,
    }
}

fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The conversation `conv` names for `me`, checked as readsim checks it.
fn conv_key(ctx: &OpCtx, conv: &WireConv) -> Result<ConvKey, ErrorCode> {
    match conv {
        WireConv::Group(g) => wire::parse_group(g)
            .map(ConvKey::Group)
            .map_err(|_| ErrorCode::GroupNotFound),
        WireConv::C2c(p) => {
            let peer = wire::parse_user(p).map_err(|_| ErrorCode::UserNotFound)?;
            if peer == ctx.me {
                return Err(ErrorCode::SelfConversation);
            }
            if ctx.shared.token(peer).is_none() {
                return Err(ErrorCode::UserNotFound);
            }
            Ok(pair_key(ctx.me, peer))
        }
    }
}

/// The room of `conv`, made on first use for a 1:1 chat.
async fn room_for_send(ctx: &OpCtx, conv: ConvKey) -> Result<String, Failed> {
    if let Some(r) = ctx.shared.room(conv) {
        return Ok(r);
    }
    match conv {
        ConvKey::Group(_) => Err(ErrorCode::GroupNotFound.into()),
        ConvKey::Pair(a, b) => super::conn::direct_room(ctx, a, b)
            .await
            .map_err(|e| failed(&e, ErrorCode::Internal)),
    }
}

async fn send(
    ctx: &OpCtx,
    id: u64,
    conv: &WireConv,
    need: bool,
    body: &str,
) -> Result<serde_json::Value, Failed> {
    let key = conv_key(ctx, conv)?;
    let room = room_for_send(ctx, key).await?;
    let txn = format!("{}.{id}", ctx.txn_prefix);
    // Held until the answer is recorded: the order of answers is the room's order.
    let lock_of_room = ctx.shared.send_lock(&room);
    let _order = lock_of_room.lock().await;
    let event = ctx
        .mc
        .send_text(&room, &txn, body, need)
        .await
        .map_err(|e| failed(&e, ErrorCode::NotGroupMember))?;
    let ts_ms = now_ms();
    let seq = lock(&ctx.shared.timeline).record_sent(&room, &event);
    lock(&ctx.shared.rooms).events.insert(
        event.clone(),
        SentEvent {
            room: room.clone(),
            ts_ms,
        },
    );
    drop(_order);
    {
        let mut side = lock(&ctx.side);
        let derived = side.view.note_sent(&room, &event, seq, need);
        ctx.shared.deliver(ctx.me, &side, derived);
    }
    ctx.shared.resolve_everywhere();
    Ok(json(&ok::Sent {
        msg_id: event,
        seq,
        timestamp_ms: ts_ms,
    }))
}

/// MX4/MX5: one receipt per id, in order; an id the run never saw succeeds without a call.
async fn receipts(ctx: &OpCtx, ids: &[String]) -> Result<serde_json::Value, Failed> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ErrorCode::BatchSize.into());
    }
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let room = lock(&ctx.shared.rooms)
            .events
            .get(id)
            .map(|e| e.room.clone());
        let error = match room {
            None => None,
            Some(room) => match ctx.mc.read_receipt(&room, id).await {
                Ok(()) => None,
                Err(e) => match failed(&e, ErrorCode::NotInAudience) {
                    Failed::Code(c) => Some(WireError::from(c)),
                    Failed::NoAnswer => return Err(Failed::NoAnswer),
                },
            },
        };
        results.push(WireReceiptResult {
            msg_id: id.clone(),
            error,
        });
    }
    Ok(json(&ok::ReceiptsSent { results }))
}

/// Brings the client's view up to the homeserver's present with a `/sync` that does not
/// wait, so a pull sees every receipt the homeserver acknowledged before the pull started
/// (the long poll may not have returned it yet). What it derives is pushed as usual.
async fn refresh(ctx: &OpCtx) -> Result<(), Failed> {
    let since = lock(&ctx.side).since.clone();
    let batch = ctx
        .mc
        .sync(since.as_deref(), std::time::Duration::ZERO)
        .await
        .map_err(|e| failed(&e, ErrorCode::Internal))?;
    super::conn::apply_sync(ctx, batch);
    Ok(())
}

/// Counts from the view (adapter-derived: the homeserver has no such call), after a
/// [`refresh`].
fn counts(ctx: &OpCtx, ids: &[String]) -> Result<serde_json::Value, Failed> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Err(ErrorCode::BatchSize.into());
    }
    let side = lock(&ctx.side);
    let entries: Vec<WireEntry> = ids
        .iter()
        .map(|id| match side.view.receipt_entry(id) {
            Ok(c) => {
                let group = side
                    .view
                    .room_of(id)
                    .and_then(|r| ctx.shared.wire_conv(ctx.me, r))
                    .and_then(|c| match c {
                        WireConv::Group(g) => Some(g),
                        WireConv::C2c(_) => None,
                    })
                    .unwrap_or_default();
                c.wire_entry(id, &group)
            }
            Err(code) => WireEntry {
                msg_id: id.clone(),
                error: Some(WireError::from(code)),
                ..WireEntry::default()
            },
        })
        .collect();
    Ok(json(&ok::ReadReceipts { entries }))
}

fn member_list(
    ctx: &OpCtx,
    msg_id: &str,
    filter: WireFilter,
    next_seq: u64,
    count: u32,
) -> Result<serde_json::Value, Failed> {
    let filter = match filter {
        WireFilter::Read => ReadFilter::Read,
        WireFilter::Unread => ReadFilter::Unread,
    };
    let page = lock(&ctx.side)
        .view
        .member_list(msg_id, filter, next_seq, count)?;
    Ok(json(&page.to_wire()))
}

/// MX9: a receipt (and the fully-read marker) for the room's latest message.
async fn mark_read(ctx: &OpCtx, peer: &str) -> Result<serde_json::Value, Failed> {
    let key = conv_key(ctx, &WireConv::C2c(peer.to_string()))?;
    let done = json(&ok::MarkedRead {
        timestamp_ms: now_ms(),
    });
    let Some(room) = ctx.shared.room(key) else {
        return Ok(done); // No room yet: no message to mark.
    };
    let latest = lock(&ctx.shared.timeline)
        .latest(&room)
        .map(|(_, e)| e.to_string());
    let Some(event) = latest else { return Ok(done) };
    ctx.mc
        .read_markers(&room, &event)
        .await
        .map_err(|e| failed(&e, ErrorCode::NotConversationParty))?;
    Ok(done)
}

/// H1 through `/messages`, newest first, numbered by the run's timeline (a message whose
/// send was not answered yet has no number and is left out).
async fn history(
    ctx: &OpCtx,
    conv: &WireConv,
    before: u64,
    count: u32,
) -> Result<serde_json::Value, Failed> {
    if count == 0 || count as usize > MAX_BATCH {
        return Err(ErrorCode::CountOutOfRange.into());
    }
    let key = conv_key(ctx, conv)?;
    let Some(room) = ctx.shared.room(key) else {
        return match key {
            ConvKey::Group(_) => Err(ErrorCode::GroupNotFound.into()),
            ConvKey::Pair(..) => Ok(json(&ok::History { messages: vec![] })),
        };
    };
    let mut out = Vec::new();
    let mut from: Option<String> = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let page = ctx
            .mc
            .messages(&room, count.max(20), from.as_deref())
            .await
            .map_err(|e| failed(&e, ErrorCode::NotConversationParty))?;
        collect_history(ctx, &room, &page.events, before, count, &mut out);
        from = page.end;
        if out.len() >= count as usize || from.is_none() {
            break;
        }
    }
    out.truncate(count as usize);
    Ok(json(&ok::History { messages: out }))
}

fn collect_history(
    ctx: &OpCtx,
    room: &str,
    events: &[RoomEvent],
    before: u64,
    count: u32,
    out: &mut Vec<WireHistoryMessage>,
) {
    let tl = lock(&ctx.shared.timeline);
    for e in events {
        let RoomEvent::Message {
            event_id,
            sender,
            need_read_receipt,
            ts_ms,
        } = e
        else {
            continue;
        };
        let (Some(seq), Some(from)) = (tl.seq(room, event_id), ctx.shared.names.user(sender))
        else {
            continue;
        };
        if (before != 0 && seq >= before) || out.len() >= count as usize {
            continue;
        }
        out.push(WireHistoryMessage {
            msg_id: event_id.clone(),
            sender: wire::user_str(from),
            is_self: from == ctx.me,
            need_read_receipt: *need_read_receipt,
            seq,
            timestamp_ms: ctx.shared.sent_ts(event_id, *ts_ms),
        });
    }
}
