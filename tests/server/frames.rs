//! Bad frames and bad credentials: each gets its defined error code, the connection and the
//! server stay up, and nothing changes (checked by pulling afterwards).

use crate::server_common;

use reqwest::Method;
use serde_json::{Value, json};
use server_common::{Client, TestServer, code};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn bad_frames_get_their_error_codes_and_change_nothing() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2"]).await;
    s.group("g1", &["u1", "u2"]).await;
    let mut a = s.client("u1").await;
    let mut b = s.client("u2").await;
    assert_eq!(a.hello["user_id"], "u1");
    assert_eq!(a.hello["protocol"], "readsim/1");

    let sent = a
        .ok(json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": true, "body": "hi"}))
        .await;
    let m = sent["msg_id"].as_str().unwrap().to_string();
    let pull = json!({"op": "get_message_read_receipts", "msg_ids": [m]});
    let before = a.ok(pull.clone()).await;
    assert_eq!(before["entries"][0]["read_count"], 0);

    // Malformed JSON: BAD_REQUEST with a null id.
    b.send_raw("{not json".into()).await;
    let r = b.response().await;
    assert_eq!((r["id"].clone(), code(&r)), (Value::Null, 1001), "{r}");
    // Binary frame: BAD_REQUEST, null id.
    b.send_binary(vec![1, 2, 3]).await;
    let r = b.response().await;
    assert_eq!((r["id"].clone(), code(&r)), (Value::Null, 1001), "{r}");
    // Unknown op, with its id echoed.
    let r = b
        .call(json!({"op": "delete_everything", "msg_ids": [m]}))
        .await;
    assert_eq!(code(&r), 1001, "{r}");
    // Wrong field types (a receipt given as a string, not a list).
    let r = b
        .call(json!({"op": "send_message_read_receipts", "msg_ids": m}))
        .await;
    assert_eq!(code(&r), 1001, "{r}");
    let r = b
        .call(json!({"op": "get_history", "conv": {"group": "g1"}, "count": "ten"}))
        .await;
    assert_eq!(code(&r), 1001, "{r}");
    // Unknown field.
    let r = b
        .call(json!({"op": "send_message_read_receipts", "msg_ids": [m], "as_user": "u1"}))
        .await;
    assert_eq!(code(&r), 1001, "{r}");
    // An id that is not an unsigned integer: BAD_REQUEST with a null id.
    b.send_raw(json!({"id": "x", "op": "send_message_read_receipts", "msg_ids": [m]}).to_string())
        .await;
    let r = b.response().await;
    assert_eq!((r["id"].clone(), code(&r)), (Value::Null, 1001), "{r}");
    // Oversized frame (> 64 KiB): FRAME_TOO_LARGE, id still echoed.
    let big = json!({"id": 77, "op": "send_message", "conv": {"group": "g1"},
        "need_read_receipt": false, "body": "x".repeat(70 * 1024)});
    b.send_raw(big.to_string()).await;
    let r = b.response().await;
    assert_eq!((r["id"].clone(), code(&r)), (json!(77), 1006), "{r}");
    // Body over 12 KiB inside a small enough frame: FRAME_TOO_LARGE.
    let r = b
        .call(
            json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": false,
            "body": "x".repeat(13 * 1024)}),
        )
        .await;
    assert_eq!(code(&r), 1006, "{r}");
    // Invalid ids: INVALID_ID.
    let r = b
        .call(json!({"op": "send_message_read_receipts", "msg_ids": ["m 1"]}))
        .await;
    assert_eq!(code(&r), 1005, "{r}");
    let r = b
        .call(json!({"op": "mark_c2c_message_as_read", "peer": "x".repeat(33)}))
        .await;
    assert_eq!(code(&r), 1005, "{r}");
    // Batch and count limits.
    let r = b
        .call(json!({"op": "send_message_read_receipts", "msg_ids": []}))
        .await;
    assert_eq!(code(&r), 1002, "{r}");
    let r = b
        .call(json!({"op": "get_group_message_read_member_list", "msg_id": m, "filter": "read", "next_seq": 0, "count": 0}))
        .await;
    assert_eq!(code(&r), 1004, "{r}");

    // The connection still works, nothing changed, nothing was pushed to the sender.
    let after = a.ok(pull.clone()).await;
    assert_eq!(after, before);
    let h = b
        .ok(json!({"op": "get_history", "conv": {"group": "g1"}, "before_seq": 0, "count": 10}))
        .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1, "{h}");
    // And a real receipt on the same connection goes through.
    let r = b
        .ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert!(r["results"][0].get("error").is_none(), "{r}");
    let p = a.push_of("receipts").await;
    assert_eq!(p["entries"][0]["read_count"], 1, "{p}");
    assert!(a.pushes.is_empty(), "no other pushes: {:?}", a.pushes);
    // Over the hard limit (1 MiB) the connection is closed; the server and others carry on.
    b.send_raw("x".repeat(1100 * 1024)).await;
    let f = b.next_frame().await.expect("a closing push");
    assert_eq!(f["push"], "closing", "{f}");
    assert!(
        f["reason"].as_str().unwrap().contains("protocol error"),
        "{f}"
    );
    assert!(b.next_frame().await.is_none(), "then closed");
    let again = a.ok(pull).await;
    assert_eq!(again["entries"][0]["read_count"], 1);
    a.close().await;
    s.stop().await;
}

#[tokio::test]
async fn forged_expired_unknown_and_other_user_tokens_are_rejected() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2"]).await;
    let secret = s.cfg.secret.clone();
    let now = readsim::server::unix_now();
    let unauth = |r: Result<Client, (u16, Value)>| {
        let (status, body) = r.err().expect("rejected");
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["name"], "UNAUTHENTICATED", "{body}");
        assert_eq!(body["error"]["code"], 1101, "{body}");
    };
    // No token at all.
    let rq = format!("ws://{}/v1/ws", s.addr)
        .into_client_request()
        .unwrap();
    unauth(Client::connect_request(rq).await);
    // Signed with another secret (forged).
    let forged = readsim::server::mint_token(b"not the secret", "u1", now + 600);
    unauth(Client::connect(s.addr, &forged).await);
    // A good token for u2 with its user id changed to u1 (acting as another user).
    let u2 = readsim::server::mint_token(&secret, "u2", now + 600);
    unauth(Client::connect(s.addr, &u2.replacen("u2", "u1", 1)).await);
    // Expired.
    let old = readsim::server::mint_token(&secret, "u1", now - 1);
    unauth(Client::connect(s.addr, &old).await);
    // Well signed but for a user who does not exist.
    let ghost = readsim::server::mint_token(&secret, "u9", now + 600);
    unauth(Client::connect(s.addr, &ghost).await);
    // Garbage, and the admin token (not a user credential).
    unauth(Client::connect(s.addr, "garbage").await);
    unauth(Client::connect(s.addr, &s.cfg.admin_token).await);
    // The query-string form works, and the user is who the token says.
    let good = readsim::server::mint_token(&secret, "u2", now + 600);
    let rq = format!("ws://{}/v1/ws?token={good}", s.addr)
        .into_client_request()
        .unwrap();
    let c = Client::connect_request(rq).await.expect("accepted");
    assert_eq!(c.hello["user_id"], "u2");
    c.close().await;

    // Admin API: a user token is FORBIDDEN, a wrong or missing token UNAUTHENTICATED.
    let url = s.url("/v1/admin/users");
    let body = Some(json!({"user_id": "u3"}));
    let (st, v) = server_common::admin_call(&s.http, &url, &good, Method::POST, body.clone()).await;
    assert_eq!((st, code(&v)), (403, 1102), "{v}");
    let (st, v) =
        server_common::admin_call(&s.http, &url, "wrong", Method::POST, body.clone()).await;
    assert_eq!((st, code(&v)), (401, 1101), "{v}");
    let resp = s.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["name"], "UNAUTHENTICATED");
    // Nothing was created: creating u3 with the admin token now succeeds.
    s.admin_ok(Method::POST, "/v1/admin/users", body).await;
    // Admin bad bodies.
    let (st, v) = s
        .admin(Method::POST, "/v1/admin/users", Some(json!({"user": "u4"})))
        .await;
    assert_eq!((st, code(&v)), (400, 1001), "{v}");
    let (st, v) = s
        .admin(
            Method::POST,
            "/v1/admin/users",
            Some(json!({"user_id": "bad id"})),
        )
        .await;
    assert_eq!((st, code(&v)), (400, 1005), "{v}");
    let (st, v) = s
        .admin(
            Method::POST,
            "/v1/admin/users",
            Some(json!({"user_id": "u3"})),
        )
        .await;
    assert_eq!((st, code(&v)), (409, 2013), "{v}");
    let (st, v) = s
        .admin(
            Method::POST,
            "/v1/admin/tokens",
            Some(json!({"user_id": "nobody", "ttl_secs": 5})),
        )
        .await;
    assert_eq!((st, code(&v)), (404, 2001), "{v}");
    let h: Value = s
        .http
        .get(s.url("/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    s.stop().await;
}
