//! The wire format of `docs/protocol.md` (v1): JSON frames on one WebSocket per client, and
//! the admin HTTP bodies. Ids are strings here; [`Ids`] maps them to and from the dense ids of
//! `protocol.rs` (users `u{n}`, groups `g{n}`; message ids are the server's own strings,
//! numbered locally in order of first sight, which keeps history ids dense).
//!
//! Shared by the reference server (`server/`) and the network client (`live/`).

use crate::protocol::{
    AdminRequest, Conv, ErrorCode, GroupId, GroupType, HistoryMessage, MsgId, PerMessage, Push,
    ReadFilter, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Protocol version string, sent by the server in its hello frame.
pub const PROTOCOL_VERSION: &str = "readsim/1";
/// Largest text frame a client may send, in bytes (docs/protocol.md, "Limits").
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Largest message body, in bytes.
pub const MAX_BODY_BYTES: usize = 12 * 1024;
/// Longest id (user, group, message), in characters.
pub const MAX_ID_LEN: usize = 32;
/// Largest admin HTTP body, in bytes.
pub const MAX_ADMIN_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Whether `s` is a valid user or group id: 1..=32 of `[A-Za-z0-9_-]`.
pub fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A conversation as a client names it: `{"group":"g3"}` or `{"c2c":"u5"}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum WireConv {
    Group(String),
    C2c(String),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireFilter {
    Read,
    Unread,
}

/// A request frame: `{"id": 7, "op": "send_message", ...}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFrame {
    /// Chosen by the client; echoed in the response frame.
    pub id: u64,
    #[serde(flatten)]
    pub op: WireRequest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum WireRequest {
    SendMessage {
        conv: WireConv,
        need_read_receipt: bool,
        #[serde(default)]
        body: String,
    },
    SendMessageReadReceipts {
        msg_ids: Vec<String>,
    },
    GetMessageReadReceipts {
        msg_ids: Vec<String>,
    },
    GetGroupMessageReadMemberList {
        msg_id: String,
        filter: WireFilter,
        next_seq: u64,
        count: u32,
    },
    MarkC2cMessageAsRead {
        peer: String,
    },
    GetHistory {
        conv: WireConv,
        #[serde(default)]
        before_seq: u64,
        count: u32,
    },
}

/// `{"code": 2007, "name": "NOT_IN_AUDIENCE", "message": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    pub code: u32,
    pub name: String,
    #[serde(default)]
    pub message: String,
}

impl From<ErrorCode> for WireError {
    fn from(e: ErrorCode) -> WireError {
        WireError {
            code: e.code(),
            name: e.name().to_string(),
            message: e.message().to_string(),
        }
    }
}

/// A response frame: `{"id": 7, "ok": {...}}` or `{"id": 7, "error": {...}}`. `id` is null
/// when the request frame could not be read far enough to find its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ok: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<WireError>,
}

/// One message's result in `send_message_read_receipts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireReceiptResult {
    pub msg_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<WireError>,
}

/// One entry of `get_message_read_receipts` or of a `receipts` push. Group entries carry
/// `group_id`, `read_count`, `unread_count`; 1:1 entries `user_id`, `is_peer_read`; failed
/// ones `error`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WireEntry {
    pub msg_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub read_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unread_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub is_peer_read: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<WireError>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHistoryMessage {
    pub msg_id: String,
    pub sender: String,
    pub is_self: bool,
    pub need_read_receipt: bool,
    pub seq: u64,
    pub timestamp_ms: u64,
}

/// The `ok` bodies, by operation.
pub mod ok {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Sent {
        pub msg_id: String,
        pub seq: u64,
        pub timestamp_ms: u64,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ReceiptsSent {
        pub results: Vec<WireReceiptResult>,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct ReadReceipts {
        pub entries: Vec<WireEntry>,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MemberList {
        pub members: Vec<String>,
        pub next_seq: u64,
        pub is_finished: bool,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct MarkedRead {
        pub timestamp_ms: u64,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct History {
        pub messages: Vec<WireHistoryMessage>,
    }
}

/// A push frame: `{"push": "receipts", ...}`. The server's first frame on a new socket is
/// `{"push": "hello", "user_id": ..., "protocol": "readsim/1"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "push", rename_all = "snake_case")]
pub enum PushFrame {
    Hello {
        user_id: String,
        protocol: String,
    },
    NewMessage {
        msg_id: String,
        conv: WireConv,
        sender: String,
        seq: u64,
        timestamp_ms: u64,
        need_read_receipt: bool,
    },
    Receipts {
        entries: Vec<WireEntry>,
    },
    C2cRead {
        user_id: String,
        timestamp_ms: u64,
    },
    /// The server is closing this connection and says why (e.g. a slow consumer).
    Closing {
        reason: String,
    },
}

/// Admin HTTP bodies (`/v1/admin/...`).
pub mod admin {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CreateUser {
        pub user_id: String,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct CreateGroup {
        pub group_id: String,
        #[serde(rename = "type")]
        pub group_type: GroupType,
        pub members: Vec<String>,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Member {
        pub user_id: String,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Config {
        pub enabled_types: Vec<GroupType>,
        pub max_group_size: u32,
    }
    /// `POST /v1/admin/tokens`: mint a user token (the vendor's UserSig, made server-side).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct TokenRequest {
        pub user_id: String,
        pub ttl_secs: u64,
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Token {
        pub token: String,
    }
    /// `POST /v1/admin/batch`: many admin operations in one call (bulk provisioning).
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
    pub enum BatchOp {
        CreateUser {
            user_id: String,
        },
        CreateGroup {
            group_id: String,
            #[serde(rename = "type")]
            group_type: GroupType,
            members: Vec<String>,
        },
        AddMember {
            group_id: String,
            user_id: String,
        },
        RemoveMember {
            group_id: String,
            user_id: String,
        },
        SetReceiptConfig {
            enabled_types: Vec<GroupType>,
            max_group_size: u32,
        },
    }
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Batch {
        pub ops: Vec<BatchOp>,
    }
    /// One result per batch op, in order: `{}` or `{"error": {...}}`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
    pub struct BatchResult {
        #[serde(skip_serializing_if = "Option::is_none", default)]
        pub error: Option<WireError>,
    }
}

/// Why a frame from the other side could not be mapped to the protocol types.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error(
        "id {0:?} is not a readsim id (u<n> for users, g<n> for groups); provision through readsim"
    )]
    ForeignId(String),
    #[error("unknown message id {0:?}: the server named a message this client never saw")]
    UnknownMessage(String),
    #[error("malformed {what}: {detail}; the server does not speak docs/protocol.md v1")]
    Malformed { what: &'static str, detail: String },
}

/// Maps readsim's dense ids to wire strings and back. One per client session (message ids
/// are numbered in order of first sight, so they stay dense for `history::MsgMap`).
#[derive(Default, Debug)]
pub struct Ids {
    msg_to_local: FxHashMap<String, MsgId>,
    local_to_msg: Vec<String>,
}

pub fn user_str(u: UserId) -> String {
    format!("u{}", u.0)
}

pub fn group_str(g: GroupId) -> String {
    format!("g{}", g.0)
}

fn parse_prefixed(s: &str, prefix: char) -> Result<u32, MapError> {
    s.strip_prefix(prefix)
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n < crate::model::MAX_DENSE_ID)
        .ok_or_else(|| MapError::ForeignId(s.to_string()))
}

pub fn parse_user(s: &str) -> Result<UserId, MapError> {
    parse_prefixed(s, 'u').map(UserId)
}

pub fn parse_group(s: &str) -> Result<GroupId, MapError> {
    parse_prefixed(s, 'g').map(GroupId)
}

pub fn conv_to_wire(c: Conv) -> WireConv {
    match c {
        Conv::Group(g) => WireConv::Group(group_str(g)),
        Conv::C2c(u) => WireConv::C2c(user_str(u)),
    }
}

pub fn conv_from_wire(c: &WireConv) -> Result<Conv, MapError> {
    Ok(match c {
        WireConv::Group(g) => Conv::Group(parse_group(g)?),
        WireConv::C2c(u) => Conv::C2c(parse_user(u)?),
    })
}

fn code_of(e: &WireError) -> ErrorCode {
    ErrorCode::from_code(e.code).unwrap_or(ErrorCode::Internal)
}

impl Ids {
    /// The local id of a server message id, numbering it if it is new.
    pub fn local(&mut self, s: &str) -> MsgId {
        if let Some(&m) = self.msg_to_local.get(s) {
            return m;
        }
        self.local_to_msg.push(s.to_string());
        let m = MsgId(self.local_to_msg.len() as u64);
        self.msg_to_local.insert(s.to_string(), m);
        m
    }

    /// The server's id of a local message id; a local id never seen maps to a string the
    /// server cannot know (so the server answers MESSAGE_NOT_FOUND, as the model would).
    pub fn remote(&self, m: MsgId) -> String {
        m.0.checked_sub(1)
            .and_then(|i| self.local_to_msg.get(i as usize))
            .cloned()
            .unwrap_or_else(|| format!("unknown-{}", m.0))
    }

    /// The request frame for `req`.
    pub fn request(&self, id: u64, req: &Request) -> ClientFrame {
        let msgs = |ids: &[MsgId]| ids.iter().map(|&m| self.remote(m)).collect();
        let op = match req {
            Request::SendMessage {
                conv,
                need_read_receipt,
                body_len,
            } => WireRequest::SendMessage {
                conv: conv_to_wire(*conv),
                need_read_receipt: *need_read_receipt,
                body: "x".repeat((*body_len as usize).min(MAX_BODY_BYTES)),
            },
            Request::SendReadReceipts { msg_ids } => WireRequest::SendMessageReadReceipts {
                msg_ids: msgs(msg_ids),
            },
            Request::GetReadReceipts { msg_ids } => WireRequest::GetMessageReadReceipts {
                msg_ids: msgs(msg_ids),
            },
            Request::GetReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => WireRequest::GetGroupMessageReadMemberList {
                msg_id: self.remote(*msg_id),
                filter: match filter {
                    ReadFilter::Read => WireFilter::Read,
                    ReadFilter::Unread => WireFilter::Unread,
                },
                next_seq: *next_seq,
                count: *count,
            },
            Request::MarkC2cRead { peer } => WireRequest::MarkC2cMessageAsRead {
                peer: user_str(*peer),
            },
            Request::GetHistory {
                conv,
                before_seq,
                count,
            } => WireRequest::GetHistory {
                conv: conv_to_wire(*conv),
                before_seq: *before_seq,
                count: *count,
            },
        };
        ClientFrame { id, op }
    }

    fn entry(&mut self, e: &WireEntry) -> Result<PerMessage<ReceiptEntry>, MapError> {
        let msg_id = self.local(&e.msg_id);
        let malformed = |detail: &str| MapError::Malformed {
            what: "receipt entry",
            detail: detail.to_string(),
        };
        let result = if let Some(err) = &e.error {
            Err(code_of(err))
        } else if let Some(g) = &e.group_id {
            Ok(ReceiptEntry::Group {
                msg_id,
                group_id: parse_group(g)?,
                read_count: e.read_count.ok_or_else(|| malformed("no read_count"))?,
                unread_count: e.unread_count.ok_or_else(|| malformed("no unread_count"))?,
            })
        } else if let Some(u) = &e.user_id {
            Ok(ReceiptEntry::C2c {
                msg_id,
                user_id: parse_user(u)?,
                is_peer_read: e.is_peer_read.ok_or_else(|| malformed("no is_peer_read"))?,
            })
        } else {
            return Err(malformed("neither group_id nor user_id nor error"));
        };
        Ok(PerMessage { msg_id, result })
    }

    /// The protocol response for the response frame of `req`.
    pub fn response(&mut self, req: &Request, f: &ResponseFrame) -> Result<Response, MapError> {
        if let Some(e) = &f.error {
            return Ok(Response::Error { code: code_of(e) });
        }
        let body = f.ok.clone().ok_or_else(|| MapError::Malformed {
            what: "response",
            detail: "neither ok nor error".into(),
        })?;
        fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, MapError> {
            serde_json::from_value(v).map_err(|e| MapError::Malformed {
                what: "response body",
                detail: e.to_string(),
            })
        }
        Ok(match req {
            Request::SendMessage { .. } => {
                let b: ok::Sent = parse(body)?;
                Response::Sent {
                    msg_id: self.local(&b.msg_id),
                    seq: b.seq,
                    timestamp_ms: b.timestamp_ms,
                }
            }
            Request::SendReadReceipts { .. } => {
                let b: ok::ReceiptsSent = parse(body)?;
                Response::ReceiptsSent {
                    results: b
                        .results
                        .iter()
                        .map(|r| PerMessage {
                            msg_id: self.local(&r.msg_id),
                            result: r.error.as_ref().map_or(Ok(()), |e| Err(code_of(e))),
                        })
                        .collect(),
                }
            }
            Request::GetReadReceipts { .. } => {
                let b: ok::ReadReceipts = parse(body)?;
                Response::ReadReceipts {
                    entries: b
                        .entries
                        .iter()
                        .map(|e| self.entry(e))
                        .collect::<Result<_, _>>()?,
                }
            }
            Request::GetReadMemberList { .. } => {
                let b: ok::MemberList = parse(body)?;
                Response::MemberList {
                    members: b
                        .members
                        .iter()
                        .map(|u| parse_user(u))
                        .collect::<Result<_, _>>()?,
                    next_seq: b.next_seq,
                    is_finished: b.is_finished,
                }
            }
            Request::MarkC2cRead { .. } => {
                let b: ok::MarkedRead = parse(body)?;
                Response::MarkedRead {
                    timestamp_ms: b.timestamp_ms,
                }
            }
            Request::GetHistory { .. } => {
                let b: ok::History = parse(body)?;
                Response::History {
                    messages: b
                        .messages
                        .iter()
                        .map(|m| {
                            Ok(HistoryMessage {
                                msg_id: self.local(&m.msg_id),
                                sender: parse_user(&m.sender)?,
                                is_self: m.is_self,
                                need_read_receipt: m.need_read_receipt,
                                seq: m.seq,
                                timestamp_ms: m.timestamp_ms,
                            })
                        })
                        .collect::<Result<_, MapError>>()?,
                }
            }
        })
    }

    /// The protocol push for a push frame; None for frames that are not pushes of
    /// `protocol::Push` (hello, closing).
    pub fn push(&mut self, f: &PushFrame) -> Result<Option<Push>, MapError> {
        Ok(Some(match f {
            PushFrame::Hello { .. } | PushFrame::Closing { .. } => return Ok(None),
            PushFrame::NewMessage {
                msg_id,
                conv,
                sender,
                seq,
                timestamp_ms,
                need_read_receipt,
            } => Push::NewMessage {
                msg_id: self.local(msg_id),
                conv: conv_from_wire(conv)?,
                sender: parse_user(sender)?,
                seq: *seq,
                timestamp_ms: *timestamp_ms,
                need_read_receipt: *need_read_receipt,
            },
            PushFrame::Receipts { entries } => Push::Receipts {
                entries: entries
                    .iter()
                    .map(|e| {
                        self.entry(e)?.result.map_err(|_| MapError::Malformed {
                            what: "receipts push",
                            detail: "an entry carries an error".into(),
                        })
                    })
                    .collect::<Result<_, _>>()?,
            },
            PushFrame::C2cRead {
                user_id,
                timestamp_ms,
            } => Push::C2cRead {
                user_id: parse_user(user_id)?,
                timestamp_ms: *timestamp_ms,
            },
        }))
    }
}

/// The admin batch op for an admin request (provisioning); None for reads.
pub fn admin_op(req: &AdminRequest) -> Option<admin::BatchOp> {
    use admin::BatchOp;
    Some(match req {
        AdminRequest::CreateUser { user } => BatchOp::CreateUser {
            user_id: user_str(*user),
        },
        AdminRequest::CreateGroup {
            group,
            group_type,
            members,
        } => BatchOp::CreateGroup {
            group_id: group_str(*group),
            group_type: *group_type,
            members: members.iter().map(|&u| user_str(u)).collect(),
        },
        AdminRequest::AddMember { group, user } => BatchOp::AddMember {
            group_id: group_str(*group),
            user_id: user_str(*user),
        },
        AdminRequest::RemoveMember { group, user } => BatchOp::RemoveMember {
            group_id: group_str(*group),
            user_id: user_str(*user),
        },
        AdminRequest::SetReceiptConfig { config } => BatchOp::SetReceiptConfig {
            enabled_types: config.enabled_types.clone(),
            max_group_size: config.max_group_size,
        },
        AdminRequest::GetReceiptConfig => return None,
    })
}

/// The receipt configuration as the admin API carries it.
pub fn config_to_wire(c: &ReceiptConfig) -> admin::Config {
    admin::Config {
        enabled_types: c.enabled_types.clone(),
        max_group_size: c.max_group_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_frames_have_the_documented_shape() {
        let ids = Ids::default();
        let f = ids.request(
            7,
            &Request::SendMessage {
                conv: Conv::Group(GroupId(3)),
                need_read_receipt: true,
                body_len: 2,
            },
        );
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 7, "op": "send_message", "conv": {"group": "g3"},
                "need_read_receipt": true, "body": "xx"})
        );
        let back: ClientFrame = serde_json::from_value(v).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn message_ids_are_numbered_in_order_of_first_sight() {
        let mut ids = Ids::default();
        assert_eq!(ids.local("abc"), MsgId(1));
        assert_eq!(ids.local("zz9"), MsgId(2));
        assert_eq!(ids.local("abc"), MsgId(1));
        assert_eq!(ids.remote(MsgId(2)), "zz9");
        assert_eq!(ids.remote(MsgId(9)), "unknown-9");
    }

    #[test]
    fn responses_and_pushes_map_back() {
        let mut ids = Ids::default();
        let req = Request::GetReadReceipts {
            msg_ids: vec![MsgId(1)],
        };
        let f: ResponseFrame = serde_json::from_value(serde_json::json!({"id": 1, "ok":
            {"entries": [{"msg_id": "m1", "group_id": "g2", "read_count": 1, "unread_count": 3},
                         {"msg_id": "m2", "error": {"code": 2010, "name": "NOT_MESSAGE_SENDER"}}]}}))
        .unwrap();
        let r = ids.response(&req, &f).unwrap();
        assert_eq!(
            r,
            Response::ReadReceipts {
                entries: vec![
                    PerMessage {
                        msg_id: MsgId(1),
                        result: Ok(ReceiptEntry::Group {
                            msg_id: MsgId(1),
                            group_id: GroupId(2),
                            read_count: 1,
                            unread_count: 3
                        })
                    },
                    PerMessage {
                        msg_id: MsgId(2),
                        result: Err(ErrorCode::NotMessageSender)
                    }
                ]
            }
        );
        let p: PushFrame = serde_json::from_value(
            serde_json::json!({"push": "c2c_read", "user_id": "u4", "timestamp_ms": 9}),
        )
        .unwrap();
        assert_eq!(
            ids.push(&p).unwrap(),
            Some(Push::C2cRead {
                user_id: UserId(4),
                timestamp_ms: 9
            })
        );
        assert!(parse_user("bob").is_err());
        assert!(valid_id("u-1_A") && !valid_id("") && !valid_id("a b"));
    }
}
