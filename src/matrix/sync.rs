//! `/sync` answers (and `/messages` chunks) into readsim's room events ([`super::events`]).
//!
//! The body is hostile input: unknown fields are ignored, a missing or mistyped field that
//! readsim needs is a [`ParseError`] naming its path (`rooms.join.!r:x.timeline.events[2].sender`),
//! and nothing here panics. Sections readsim does not need (presence, account data, device
//! lists, to-device, knocks) are never looked at.

use super::events::{RoomEvent, RoomUpdate};
use serde_json::{Map, Value};

/// The receipt type readsim reads; `m.read.private` is never shown to other users.
const READ: &str = "m.read";
/// Content key the sender sets on a message that asks for read receipts.
pub const NEED_READ_RECEIPT: &str = "readsim.need_read_receipt";

/// One `/sync` answer, reduced to what readsim needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncBatch {
    /// The `since` token of the next call.
    pub next_batch: String,
    /// Joined rooms, then left rooms (each in room id order); rooms with no event of
    /// interest are left out.
    pub rooms: Vec<RoomUpdate>,
    /// Rooms the user is invited to (`rooms.invite`), in room id order.
    pub invited: Vec<String>,
    /// Rooms whose timeline was cut (`limited`): events between the previous batch and this
    /// one are missing and can be fetched with `/messages?from=prev_batch&dir=b`.
    pub gaps: Vec<TimelineGap>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimelineGap {
    pub room_id: String,
    pub prev_batch: Option<String>,
}

/// A field of the body that is missing or not of the type the API promises.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {what}")]
pub struct ParseError {
    pub path: String,
    pub what: String,
}

fn err(path: &str, what: impl Into<String>) -> ParseError {
    ParseError {
        path: path.to_string(),
        what: what.into(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn child(path: &str, key: &str) -> String {
    if path == "$" {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn as_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ParseError> {
    v.as_object()
        .ok_or_else(|| err(path, format!("expected an object, found {}", type_name(v))))
}

/// An optional object field: absent or `null` is `None`, any other non-object an error.
pub(crate) fn opt_obj<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a Map<String, Value>>, ParseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_obj(v, &child(path, key)).map(Some),
    }
}

/// An optional array field (absent or `null`: empty).
pub(crate) fn opt_arr<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a [Value], ParseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(err(
            &child(path, key),
            format!("expected an array, found {}", type_name(v)),
        )),
    }
}

pub(crate) fn req_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, ParseError> {
    match m.get(key) {
        Some(Value::String(s)) => Ok(s),
        None => Err(err(&child(path, key), "missing")),
        Some(v) => Err(err(
            &child(path, key),
            format!("expected a string, found {}", type_name(v)),
        )),
    }
}

fn opt_str<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ParseError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => req_str(m, key, path).map(Some),
    }
}

fn req_u64(m: &Map<String, Value>, key: &str, path: &str) -> Result<u64, ParseError> {
    match m.get(key) {
        Some(v @ Value::Number(n)) => n.as_u64().ok_or_else(|| {
            err(
                &child(path, key),
                format!("expected a non-negative integer, found {v}"),
            )
        }),
        None => Err(err(&child(path, key), "missing")),
        Some(v) => Err(err(
            &child(path, key),
            format!("expected an integer, found {}", type_name(v)),
        )),
    }
}

/// Parses a whole `/sync` body.
pub fn parse_sync(body: &Value) -> Result<SyncBatch, ParseError> {
    let root = as_obj(body, "$")?;
    let mut out = SyncBatch {
        next_batch: req_str(root, "next_batch", "$")?.to_string(),
        ..SyncBatch::default()
    };
    let Some(rooms) = opt_obj(root, "rooms", "$")? else {
        return Ok(out);
    };
    for section in ["join", "leave"] {
        let path = format!("rooms.{section}");
        let Some(map) = opt_obj(rooms, section, "rooms")? else {
            continue;
        };
        for (room_id, room) in map {
            let room_path = format!("{path}.{room_id}");
            let (update, gap) = parse_room(room_id, room, &room_path)?;
            if !update.events.is_empty() {
                out.rooms.push(update);
            }
            out.gaps.extend(gap);
        }
    }
    if let Some(invites) = opt_obj(rooms, "invite", "rooms")? {
        out.invited = invites.keys().cloned().collect();
    }
    Ok(out)
}

/// One joined or left room: state membership first (the state at the start of the
/// timeline: changes a limited timeline skipped), then the timeline, then receipts.
fn parse_room(
    room_id: &str,
    room: &Value,
    path: &str,
) -> Result<(RoomUpdate, Option<TimelineGap>), ParseError> {
    let room = as_obj(room, path)?;
    let mut events = Vec::new();
    if let Some(state) = opt_obj(room, "state", path)? {
        let state_path = child(path, "state");
        parse_events(state, &state_path, &mut events)?;
    }
    let mut gap = None;
    if let Some(timeline) = opt_obj(room, "timeline", path)? {
        let tl_path = child(path, "timeline");
        parse_events(timeline, &tl_path, &mut events)?;
        if timeline.get("limited") == Some(&Value::Bool(true)) {
            gap = Some(TimelineGap {
                room_id: room_id.to_string(),
                prev_batch: opt_str(timeline, "prev_batch", &tl_path)?.map(str::to_string),
            });
        }
    }
    if let Some(eph) = opt_obj(room, "ephemeral", path)? {
        let eph_path = child(path, "ephemeral");
        for (i, ev) in opt_arr(eph, "events", &eph_path)?.iter().enumerate() {
            let ev_path = format!("{eph_path}.events[{i}]");
            let ev = as_obj(ev, &ev_path)?;
            if req_str(ev, "type", &ev_path)? == "m.receipt" {
                let content = ev.get("content").unwrap_or(&Value::Null);
                parse_receipts(content, &child(&ev_path, "content"), &mut events)?;
            }
        }
    }
    let update = RoomUpdate {
        room_id: room_id.to_string(),
        events,
    };
    Ok((update, gap))
}

/// The `events` array of a timeline or state section.
fn parse_events(
    section: &Map<String, Value>,
    path: &str,
    out: &mut Vec<RoomEvent>,
) -> Result<(), ParseError> {
    for (i, ev) in opt_arr(section, "events", path)?.iter().enumerate() {
        if let Some(e) = parse_timeline_event(ev, &format!("{path}.events[{i}]"))? {
            out.push(e);
        }
    }
    Ok(())
}

/// One room event (timeline, state or `/messages` chunk): `m.room.message` and
/// `m.room.member` (join, leave, ban) become a [`RoomEvent`]; other types and memberships
/// (invite, knock) are `None`.
pub fn parse_timeline_event(ev: &Value, path: &str) -> Result<Option<RoomEvent>, ParseError> {
    let ev = as_obj(ev, path)?;
    let kind = req_str(ev, "type", path)?;
    match kind {
        "m.room.message" => {
            let empty = Map::new();
            // A redacted message has an empty content: it did not ask for receipts.
            let content = opt_obj(ev, "content", path)?.unwrap_or(&empty);
            let need = match content.get(NEED_READ_RECEIPT) {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    return Err(err(
                        &format!("{path}.content.{NEED_READ_RECEIPT}"),
                        format!("expected a boolean, found {}", type_name(v)),
                    ));
                }
            };
            Ok(Some(RoomEvent::Message {
                event_id: req_str(ev, "event_id", path)?.to_string(),
                sender: req_str(ev, "sender", path)?.to_string(),
                need_read_receipt: need,
                ts_ms: req_u64(ev, "origin_server_ts", path)?,
            }))
        }
        "m.room.member" => {
            let user = req_str(ev, "state_key", path)?;
            let content = opt_obj(ev, "content", path)?
                .ok_or_else(|| err(&child(path, "content"), "missing"))?;
            let joined = match req_str(content, "membership", &child(path, "content"))? {
                "join" => true,
                "leave" | "ban" => false,
                _ => return Ok(None),
            };
            Ok(Some(RoomEvent::Membership {
                user: user.to_string(),
                joined,
            }))
        }
        _ => Ok(None),
    }
}

/// An `m.receipt` content: `{event_id: {receipt_type: {user_id: {ts, thread_id?}}}}`. Only
/// `m.read`, unthreaded or in the `main` thread, in event then user order.
fn parse_receipts(content: &Value, path: &str, out: &mut Vec<RoomEvent>) -> Result<(), ParseError> {
    for (event_id, by_type) in as_obj(content, path)? {
        let ev_path = format!("{path}.{event_id}");
        let Some(users) = opt_obj(as_obj(by_type, &ev_path)?, READ, &ev_path)? else {
            continue;
        };
        let read_path = child(&ev_path, READ);
        for (user, receipt) in users {
            let r_path = child(&read_path, user);
            let receipt = as_obj(receipt, &r_path)?;
            match opt_str(receipt, "thread_id", &r_path)? {
                None | Some("main") => {}
                Some(_) => continue,
            }
            out.push(RoomEvent::Receipt {
                user: user.clone(),
                event_id: event_id.clone(),
                ts_ms: req_u64(receipt, "ts", &r_path)?,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
