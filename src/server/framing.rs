//! Wire framing: client text frames in, response and push frames out (docs/protocol.md,
//! "Frames"). Frames are serialized once, here, and queued as `Utf8Bytes` so a push fanned out
//! to many connections shares one buffer.

use crate::protocol::ErrorCode;
use crate::wire::{ClientFrame, MAX_FRAME_BYTES, PushFrame, ResponseFrame};
use axum::extract::ws::Utf8Bytes;

/// `{"id": <req_id>, "ok": <body>}`.
pub(crate) fn ok_frame<T: serde::Serialize>(req_id: u64, body: &T) -> Utf8Bytes {
    let body = serde_json::to_string(body).expect("wire types serialize");
    format!("{{\"id\":{req_id},\"ok\":{body}}}").into()
}

/// The response frame for a whole-request error; `req_id` None gives `"id": null`.
pub(crate) fn error_frame(req_id: Option<u64>, code: ErrorCode) -> Utf8Bytes {
    let f = ResponseFrame {
        id: req_id,
        ok: None,
        error: Some(code.into()),
    };
    serde_json::to_string(&f)
        .expect("wire types serialize")
        .into()
}

pub(crate) fn push_frame(p: &PushFrame) -> Utf8Bytes {
    serde_json::to_string(p)
        .expect("wire types serialize")
        .into()
}

/// A text frame that is not a request: the id to answer with (if one could be read) and why.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadFrame {
    pub id: Option<u64>,
    pub code: ErrorCode,
}

impl BadFrame {
    pub(crate) fn frame(&self) -> Utf8Bytes {
        error_frame(self.id, self.code)
    }
}

/// Parses one client text frame. Too large: FRAME_TOO_LARGE (its id read without parsing the
/// rest); not a valid request: BAD_REQUEST, with the id if the frame is JSON that has one.
pub(crate) fn parse_request(text: &str) -> Result<ClientFrame, BadFrame> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(BadFrame {
            id: peek_id(text),
            code: ErrorCode::FrameTooLarge,
        });
    }
    serde_json::from_str::<ClientFrame>(text).map_err(|_| BadFrame {
        id: serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64)),
        code: ErrorCode::BadRequest,
    })
}

/// Reads just the `id` of a frame, for errors about frames that are not read in full.
fn peek_id(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    serde_json::from_str::<IdOnly>(text).ok()?.id?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireRequest;
    use serde_json::{Value, json};

    fn json_of(f: &Utf8Bytes) -> Value {
        serde_json::from_str(f.as_str()).unwrap()
    }

    #[test]
    fn ok_frame_wraps_the_body_with_the_request_id() {
        let f = ok_frame(7, &json!({"seq": 3}));
        assert_eq!(json_of(&f), json!({"id": 7, "ok": {"seq": 3}}));
    }

    #[test]
    fn error_frame_without_id_says_null() {
        let v = json_of(&error_frame(None, ErrorCode::BadRequest));
        assert_eq!(v["id"], Value::Null);
        assert_eq!(v["error"]["code"], json!(ErrorCode::BadRequest.code()));
        assert!(v.get("ok").is_none(), "{v}");
    }

    #[test]
    fn a_valid_request_parses() {
        let f = parse_request(r#"{"id":5,"op":"mark_c2c_message_as_read","peer":"u2"}"#);
        let f = f.unwrap();
        assert_eq!(f.id, 5);
        assert_eq!(
            f.op,
            WireRequest::MarkC2cMessageAsRead { peer: "u2".into() }
        );
    }

    #[test]
    fn a_bad_request_keeps_its_id_when_it_has_one() {
        let bad = parse_request(r#"{"id":9,"op":"no_such_op"}"#).unwrap_err();
        assert_eq!(
            bad,
            BadFrame {
                id: Some(9),
                code: ErrorCode::BadRequest
            }
        );
        let bad = parse_request("not json").unwrap_err();
        assert_eq!(bad.id, None);
        // A negative id is not a request id.
        assert_eq!(parse_request(r#"{"id":-1}"#).unwrap_err().id, None);
    }

    #[test]
    fn an_oversized_frame_is_too_large_with_its_id() {
        let body = "x".repeat(MAX_FRAME_BYTES);
        let text = format!(r#"{{"id":4,"op":"send_message","body":"{body}"}}"#);
        let bad = parse_request(&text).unwrap_err();
        assert_eq!(
            bad,
            BadFrame {
                id: Some(4),
                code: ErrorCode::FrameTooLarge
            }
        );
        assert_eq!(json_of(&bad.frame())["id"], json!(4));
    }

    #[test]
    fn a_frame_of_exactly_the_limit_is_parsed_not_rejected_for_size() {
        let pad = MAX_FRAME_BYTES - r#"{"id":1,"x":""}"#.len();
        let text = format!(r#"{{"id":1,"x":"{}"}}"#, "y".repeat(pad));
        assert_eq!(text.len(), MAX_FRAME_BYTES);
        assert_eq!(
            parse_request(&text).unwrap_err().code,
            ErrorCode::BadRequest
        );
    }
}
