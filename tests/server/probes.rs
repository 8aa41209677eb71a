//! Outsiders' probes and the documented wire details (issue 12): a user outside a
//! conversation learns nothing about its message ids (semantics.md E1); the credential and
//! size rules of docs/protocol.md hold literally.

use crate::server_common::{Client, TestServer, code};

use readsim::server::{mint_token, unix_now};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The answer to `op` with `msg` substituted for every `$` in it, `id` removed.
async fn probe(c: &mut Client, op: &Value, msg: &str) -> Value {
    let op: Value = serde_json::from_str(&op.to_string().replace('$', msg)).unwrap();
    let mut r = c.call(op).await;
    r.as_object_mut().unwrap().remove("id");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_gets_the_same_answer_for_real_and_unknown_ids() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2", "u3", "u4"]).await;
    s.group("g1", &["u1", "u2"]).await;
    s.group("g2", &["u3", "u4"]).await;
    let mut u1 = s.client("u1").await;
    let group =
        |conv: Value| json!({"op": "send_message", "conv": conv, "need_read_receipt": true});
    let m_group = u1.ok(group(json!({"group": "g1"}))).await["msg_id"].clone();
    let m_c2c = u1.ok(group(json!({"c2c": "u2"}))).await["msg_id"].clone();
    let mut u3 = s.client("u3").await;
    let m_own = u3.ok(group(json!({"group": "g2"}))).await["msg_id"].clone();
    let probes = [
        json!({"op": "get_message_read_receipts", "msg_ids": ["$"]}),
        json!({"op": "send_message_read_receipts", "msg_ids": ["$"]}),
        json!({"op": "get_group_message_read_member_list", "msg_id": "$", "filter": "read", "next_seq": 0, "count": 10}),
        json!({"op": "get_message_read_receipts", "msg_ids": [m_own, "$"]}),
        json!({"op": "send_message_read_receipts", "msg_ids": ["$", m_own]}),
    ];
    for op in &probes {
        let unknown = probe(&mut u3, op, "m999").await;
        for m in [&m_group, &m_c2c] {
            let real = probe(&mut u3, op, m.as_str().unwrap()).await;
            let real = real.to_string().replace(m.as_str().unwrap(), "m999");
            assert_eq!(real, unknown.to_string(), "{op} for {m}");
        }
    }
    // The answer for an unknown id is MESSAGE_NOT_FOUND, per message; no MIXED_CONVERSATIONS.
    let r = probe(&mut u3, &probes[3], m_group.as_str().unwrap()).await;
    assert_eq!(
        r["ok"]["entries"][1]["error"]["name"], "MESSAGE_NOT_FOUND",
        "{r}"
    );
    assert!(r["ok"]["entries"][0].get("error").is_none(), "{r}");
    // A member who is not the sender still gets the real answer.
    let mut u2 = s.client("u2").await;
    let r = probe(&mut u2, &probes[0], m_group.as_str().unwrap()).await;
    assert_eq!(r["ok"]["entries"][0]["error"]["name"], "NOT_MESSAGE_SENDER");
    s.stop().await;
}

async fn upgrade(s: &TestServer, path: &str, auth: Option<&str>) -> Result<Client, (u16, Value)> {
    let mut rq = format!("ws://{}{path}", s.addr)
        .into_client_request()
        .unwrap();
    if let Some(a) = auth {
        rq.headers_mut().insert("authorization", a.parse().unwrap());
    }
    Client::connect_request(rq).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_work_as_documented() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2"]).await;
    let t1 = s.token("u1").await;
    let t2 = s.token("u2").await;
    // The scheme name is case-insensitive.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let c = upgrade(&s, "/v1/ws", Some(&format!("{scheme} {t1}"))).await;
        assert_eq!(c.unwrap().hello["user_id"], "u1", "{scheme}");
    }
    // The header wins over ?token=; a header of another scheme is ignored.
    let c = upgrade(
        &s,
        &format!("/v1/ws?token={t2}"),
        Some(&format!("Bearer {t1}")),
    )
    .await;
    assert_eq!(c.unwrap().hello["user_id"], "u1");
    let c = upgrade(&s, &format!("/v1/ws?token={t2}"), Some("Basic abc")).await;
    assert_eq!(c.unwrap().hello["user_id"], "u2");
    // The signature is hex of either case.
    let t = mint_token(&s.cfg.secret, "u1", unix_now() + 60);
    let (payload, sig) = t.rsplit_once('.').unwrap();
    let upper = format!("{payload}.{}", sig.to_uppercase());
    assert_eq!(
        Client::connect(s.addr, &upper).await.unwrap().hello["user_id"],
        "u1"
    );
    // An admin route refuses before reading: no body needed for a 401.
    let (st, v) = crate::server_common::raw_http(s.addr, "POST /v1/admin/users HTTP/1.1").await;
    assert_eq!((st, code(&v)), (401, 1101), "{v}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_64_kib_limit_is_per_message_not_per_frame() {
    let s = TestServer::memory().await;
    s.users(&["u1"]).await;
    let mut c = s.client("u1").await;
    // Two frames of 40 KiB each, one message of 80 KiB: too large, though each frame fits.
    let body = "x".repeat(80 * 1024);
    let text = json!({"id": 5, "op": "mark_c2c_message_as_read", "peer": body}).to_string();
    let (a, b) = text.as_bytes().split_at(text.len() / 2);
    let first = Frame::message(a.to_vec(), OpCode::Data(Data::Text), false);
    let rest = Frame::message(b.to_vec(), OpCode::Data(Data::Continue), true);
    c.send_message(Message::Frame(first)).await;
    c.send_message(Message::Frame(rest)).await;
    let r = c.response().await;
    assert_eq!((r["id"].as_u64(), code(&r)), (Some(5), 1006), "{r}");
    // The connection stays open.
    let r = c
        .call(json!({"op": "mark_c2c_message_as_read", "peer": "u1"}))
        .await;
    assert_eq!(r["error"]["name"], "SELF_CONVERSATION", "{r}");
    s.stop().await;
}
