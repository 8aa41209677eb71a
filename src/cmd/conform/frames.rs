//! Bad frames, one check per class of docs/protocol.md's bad-frame table, in its order; close
//! codes; and the doc's literal request examples, sent as written.

use super::client::{Client, code};
use super::{Ctx, Outcome, Row, check, expect};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

/// The protocol document, for its literal examples.
const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    let mut rows = vec![
        check(
            "wire/close",
            "a message over 1 MiB: closing, then close 1009",
            over_hard_limit(ctx),
        )
        .await,
        check(
            "wire/close",
            "a text message that is not UTF-8: closing, then close 1007",
            not_utf8(ctx),
        )
        .await,
        check(
            "wire/close",
            "the client's Close is echoed, no closing push",
            close_echo(ctx),
        )
        .await,
    ];
    for (name, frame, want, id) in table() {
        rows.push(check("wire/frames", name, bad_frame(ctx, frame, want, id)).await);
    }
    rows.push(
        check(
            "wire/frames",
            "body over 12 KiB: FRAME_TOO_LARGE, id echoed",
            big_body(ctx),
        )
        .await,
    );
    rows.push(
        check(
            "wire/frames",
            "a binary message: BAD_REQUEST, id null",
            binary(ctx),
        )
        .await,
    );
    rows.push(
        check(
            "wire/examples",
            "the doc's hello example has the hello's fields",
            hello_example(ctx),
        )
        .await,
    );
    for (i, line) in request_examples().into_iter().enumerate() {
        rows.push(
            check(
                "wire/examples",
                EXAMPLE_NAMES[i.min(EXAMPLE_NAMES.len() - 1)],
                literal(ctx, line),
            )
            .await,
        );
    }
    rows
}

const EXAMPLE_NAMES: [&str; 8] = [
    "doc example send_message (group) is understood",
    "doc example send_message (c2c) is understood",
    "doc example send_message_read_receipts is understood",
    "doc example get_message_read_receipts is understood",
    "doc example get_group_message_read_member_list is understood",
    "doc example mark_c2c_message_as_read is understood",
    "doc example get_history is understood",
    "a further doc request example is understood",
];

/// (check, frame text, expected code, expected `id` in the answer).
fn table() -> Vec<(&'static str, String, u64, Value)> {
    let big = format!(
        r#"{{"id": 7, "op": "mark_c2c_message_as_read", "peer": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    vec![
        (
            "a text message over 64 KiB: FRAME_TOO_LARGE, id echoed",
            big,
            1006,
            json!(7),
        ),
        (
            "not JSON: BAD_REQUEST, id null",
            "{not json".into(),
            1001,
            Value::Null,
        ),
        (
            "id missing: BAD_REQUEST, id null",
            r#"{"op": "mark_c2c_message_as_read", "peer": "u1"}"#.into(),
            1001,
            Value::Null,
        ),
        (
            "id not an unsigned integer: BAD_REQUEST, id null",
            r#"{"id": -3, "op": "mark_c2c_message_as_read", "peer": "u1"}"#.into(),
            1001,
            Value::Null,
        ),
        (
            "unknown op: BAD_REQUEST, id echoed",
            r#"{"id": 8, "op": "launch_rockets"}"#.into(),
            1001,
            json!(8),
        ),
        (
            "missing field: BAD_REQUEST, id echoed",
            r#"{"id": 9, "op": "get_history", "conv": {"group": "g1"}}"#.into(),
            1001,
            json!(9),
        ),
        (
            "unknown field: BAD_REQUEST, id echoed",
            r#"{"id": 10, "op": "mark_c2c_message_as_read", "peer": "u1", "as_user": "u2"}"#.into(),
            1001,
            json!(10),
        ),
        (
            "wrongly typed field: BAD_REQUEST, id echoed",
            r#"{"id": 11, "op": "get_history", "conv": {"group": "g1"}, "count": "ten"}"#.into(),
            1001,
            json!(11),
        ),
        (
            "an invalid id: INVALID_ID, id echoed",
            r#"{"id": 12, "op": "mark_c2c_message_as_read", "peer": "not valid!"}"#.into(),
            1005,
            json!(12),
        ),
        (
            "an id over 32 characters: INVALID_ID",
            format!(
                r#"{{"id": 13, "op": "get_message_read_receipts", "msg_ids": ["{}"]}}"#,
                "m".repeat(33)
            ),
            1005,
            json!(13),
        ),
    ]
}

pub(super) async fn fresh_client(ctx: &Ctx) -> Result<(String, Client), String> {
    let u = ctx.users(1).await?.remove(0);
    let c = ctx.client(&u).await?;
    Ok((u, c))
}

/// The socket still answers after a refused frame.
async fn still_open(c: &mut Client, me: &str) -> Result<(), String> {
    let r = c
        .call(json!({"op": "mark_c2c_message_as_read", "peer": me}))
        .await?;
    expect(code(&r) == 2012, || format!("after the bad frame: {r}"))
}

async fn bad_frame(ctx: &Ctx, frame: String, want: u64, id: Value) -> Outcome {
    let (me, mut c) = fresh_client(ctx).await?;
    c.send_raw(frame).await?;
    let r = c.response().await?;
    expect(code(&r) == want && r["id"] == id, || format!("answer {r}"))?;
    still_open(&mut c, &me).await?;
    Ok(format!(
        "{} {}, id {}; still open",
        code(&r),
        r["error"]["name"].as_str().unwrap_or("?"),
        r["id"]
    ))
}

async fn big_body(ctx: &Ctx) -> Outcome {
    let (me, mut c) = fresh_client(ctx).await?;
    let peer = ctx.users(1).await?.remove(0);
    let body = "b".repeat(12 * 1024 + 1);
    let r = c.call(json!({"op": "send_message", "conv": {"c2c": peer}, "need_read_receipt": false, "body": body})).await?;
    expect(code(&r) == 1006, || format!("answer {r}"))?;
    let ok = c.call(json!({"op": "send_message", "conv": {"c2c": peer}, "need_read_receipt": false, "body": "b".repeat(12 * 1024)})).await?;
    expect(code(&ok) == 0 && ok["ok"]["seq"] == 1, || {
        format!("12 KiB exactly: {ok}")
    })?;
    still_open(&mut c, &me).await?;
    Ok("12 KiB + 1: 1006; 12 KiB accepted as seq 1".into())
}

async fn binary(ctx: &Ctx) -> Outcome {
    let (me, mut c) = fresh_client(ctx).await?;
    c.send(Message::Binary(
        br#"{"id": 1, "op": "get_history"}"#.to_vec().into(),
    ))
    .await?;
    let r = c.response().await?;
    expect(code(&r) == 1001 && r["id"].is_null(), || {
        format!("answer {r}")
    })?;
    still_open(&mut c, &me).await?;
    Ok("1001, id null".into())
}

/// A `closing` push then the close `code`.
pub(super) async fn closes_with(c: &mut Client, want: u16) -> Outcome {
    let (frames, close) = c.until_close(Duration::from_secs(5)).await;
    let closing = frames.last().is_some_and(|f| f["push"] == "closing");
    expect(closing && close.as_ref().map(|c| c.0) == Some(want), || {
        format!("frames {frames:?}, close {close:?}")
    })?;
    Ok(format!("closing, then {want}"))
}

async fn over_hard_limit(ctx: &Ctx) -> Outcome {
    let (_, mut c) = fresh_client(ctx).await?;
    let text = format!(
        r#"{{"id": 1, "op": "mark_c2c_message_as_read", "peer": "{}"}}"#,
        "x".repeat(1024 * 1024 + 16)
    );
    // The server may close while the message is still going out: the send may fail.
    let _ = c.send_raw(text).await;
    closes_with(&mut c, 1009).await
}

async fn not_utf8(ctx: &Ctx) -> Outcome {
    let (_, mut c) = fresh_client(ctx).await?;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    c.send(Message::Frame(bad)).await?;
    closes_with(&mut c, 1007).await
}

async fn close_echo(ctx: &Ctx) -> Outcome {
    let (_, mut c) = fresh_client(ctx).await?;
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    c.send(Message::Close(Some(frame))).await?;
    let (frames, close) = c.until_close(Duration::from_secs(5)).await;
    let closing = frames.iter().any(|f| f["push"] == "closing");
    expect(
        !closing && close.as_ref().map(|c| c.0) == Some(1000),
        || format!("frames {frames:?}, close {close:?}"),
    )?;
    Ok("1000 echoed".into())
}

/// Lines of the doc's JSON blocks that are request frames, as written.
fn request_examples() -> Vec<&'static str> {
    PROTOCOL_MD
        .lines()
        .filter(|l| l.starts_with(r#"{"id": "#) && l.contains(r#""op": "#))
        .collect()
}

async fn literal(ctx: &Ctx, line: &'static str) -> Outcome {
    let (_, mut c) = fresh_client(ctx).await?;
    let sent: Value = serde_json::from_str(line)
        .map_err(|e| format!("the doc's example is not JSON ({e}): {line}"))?;
    c.send_raw(line.to_string()).await?;
    let r = c.response().await?;
    // The doc's ids (g3, u5, m40) need not exist here: any answer but a malformed-frame one
    // shows the server reads the example as the doc says.
    let understood = r["id"] == sent["id"] && !matches!(code(&r), 1001 | 1005 | 1006);
    expect(understood, || format!("answer {r}"))?;
    Ok(r["error"]["name"].as_str().unwrap_or("ok").to_string())
}

async fn hello_example(ctx: &Ctx) -> Outcome {
    let line = PROTOCOL_MD
        .lines()
        .find(|l| l.starts_with(r#"{"push": "hello""#))
        .ok_or("no hello example in docs/protocol.md")?;
    let doc: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let (me, c) = fresh_client(ctx).await?;
    let keys = |v: &Value| {
        v.as_object()
            .map(|o| o.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    expect(
        keys(&doc) == keys(&c.hello)
            && c.hello["user_id"] == me.as_str()
            && c.hello["protocol"] == doc["protocol"],
        || format!("hello {} vs the doc's {doc}", c.hello),
    )?;
    Ok(format!("{}", c.hello))
}
