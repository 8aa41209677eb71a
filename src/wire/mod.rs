//! The wire format of `docs/protocol.md` (v1): JSON frames on one WebSocket per client, and
//! the admin HTTP bodies. Ids are strings here; [`Ids`] maps them to and from the dense ids of
//! `protocol.rs` (users `u{n}`, groups `g{n}`; message ids are the server's own strings,
//! numbered locally in order of first sight, which keeps history ids dense).
//!
//! Shared by the reference server (`server/`) and the network client (`live/`).

mod map;

pub use map::{
    Ids, MapError, admin_op, config_to_wire, conv_from_wire, conv_to_wire, group_str, parse_group,
    parse_user, user_str,
};

use crate::protocol::{ErrorCode, GroupType};
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
