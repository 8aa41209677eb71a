//! Mapping between the protocol types of `protocol.rs` and the wire frames of `wire`: ids,
//! requests, responses, pushes and admin operations.

use super::{
    ClientFrame, MAX_BODY_BYTES, PushFrame, ResponseFrame, WireConv, WireEntry, WireError,
    WireFilter, WireRequest, admin, ok,
};
use crate::protocol::{
    AdminRequest, Conv, ErrorCode, GroupId, HistoryMessage, MsgId, PerMessage, Push, ReadFilter,
    ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use rustc_hash::FxHashMap;

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

/// How `Ids::remote` names a local id the server never issued.
const UNKNOWN_PREFIX: &str = "unknown-";

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
        // A made-up id of `remote` comes back as the local id it stood for (a result for
        // an unknown id names it), not as a new message.
        if let Some(m) = s
            .strip_prefix(UNKNOWN_PREFIX)
            .and_then(|n| n.parse::<u64>().ok())
        {
            return MsgId(m);
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
            .unwrap_or_else(|| format!("{UNKNOWN_PREFIX}{}", m.0))
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
        // The request says which `ok` body to expect.
        Ok(match req {
            Request::SendMessage { .. } => self.sent(parse_body(body)?),
            Request::SendReadReceipts { .. } => self.receipts_sent(parse_body(body)?),
            Request::GetReadReceipts { .. } => self.read_receipts(parse_body(body)?)?,
            Request::GetReadMemberList { .. } => member_list(parse_body(body)?)?,
            Request::MarkC2cRead { .. } => {
                let b: ok::MarkedRead = parse_body(body)?;
                Response::MarkedRead {
                    timestamp_ms: b.timestamp_ms,
                }
            }
            Request::GetHistory { .. } => self.history(parse_body(body)?)?,
        })
    }

    fn sent(&mut self, b: ok::Sent) -> Response {
        Response::Sent {
            msg_id: self.local(&b.msg_id),
            seq: b.seq,
            timestamp_ms: b.timestamp_ms,
        }
    }

    fn receipts_sent(&mut self, b: ok::ReceiptsSent) -> Response {
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

    fn read_receipts(&mut self, b: ok::ReadReceipts) -> Result<Response, MapError> {
        Ok(Response::ReadReceipts {
            entries: b
                .entries
                .iter()
                .map(|e| self.entry(e))
                .collect::<Result<_, _>>()?,
        })
    }

    fn history(&mut self, b: ok::History) -> Result<Response, MapError> {
        Ok(Response::History {
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

/// An `ok` body as the type its request expects.
fn parse_body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, MapError> {
    serde_json::from_value(v).map_err(|e| MapError::Malformed {
        what: "response body",
        detail: e.to_string(),
    })
}

fn member_list(b: ok::MemberList) -> Result<Response, MapError> {
    Ok(Response::MemberList {
        members: b
            .members
            .iter()
            .map(|u| parse_user(u))
            .collect::<Result<_, _>>()?,
        next_seq: b.next_seq,
        is_finished: b.is_finished,
    })
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
    use crate::wire::valid_id;

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
        // A result naming the made-up id comes back as the id asked about, not a new one.
        assert_eq!(
            ids.local(&ids.remote(MsgId::NEVER_ISSUED)),
            MsgId::NEVER_ISSUED
        );
        assert_eq!(ids.local("zz10"), MsgId(3));
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
