//! WebSocket lifetimes (issue 12): token expiry and revocation close open sockets with their
//! documented codes, the TTL is capped, protocol errors get RFC 6455 codes (never 1001, which
//! is shutdown), a client's Close is echoed, the server pings and drops silent peers.

use crate::server_common::{Client, TestServer, code};

use readsim::server::{ServerConfig, Store, mint_token, unix_now};
use reqwest::Method;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_whose_token_expires_is_closed_with_4001() {
    let s = TestServer::memory().await;
    s.users(&["u1"]).await;
    let token = mint_token(&s.cfg.secret, "u1", unix_now() + 2);
    let mut c = Client::connect(s.addr, &token).await.unwrap();
    let (frames, close) = c.until_close(WAIT).await;
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, 4001, "{reason}");
    let last = frames.last().expect("a closing push first");
    assert_eq!(last["push"], "closing");
    assert!(
        last["reason"].as_str().unwrap().contains("token expired"),
        "{last}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_caps_the_token_ttl() {
    let s = TestServer::memory().await;
    s.users(&["u1"]).await;
    let max = s.cfg.max_token_ttl_secs;
    // The harness asks for its longest scenario plus an hour (src/live/setup.rs).
    let longest = readsim::scenario::MAX_DURATION.micros / 1_000_000 + 3600;
    assert!(
        max >= longest,
        "the default cap {max} s refuses the harness's {longest} s"
    );
    for ttl in [0, max + 1, 1 << 63] {
        let (st, v) = s
            .admin(
                Method::POST,
                "/v1/admin/tokens",
                Some(json!({"user_id": "u1", "ttl_secs": ttl})),
            )
            .await;
        assert_eq!((st, code(&v)), (400, 1001), "ttl {ttl}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("ttl_secs must be 1 to")
        );
    }
    let v = s
        .admin_ok(
            Method::POST,
            "/v1/admin/tokens",
            Some(json!({"user_id": "u1", "ttl_secs": max})),
        )
        .await;
    assert!(v["token"].as_str().unwrap().starts_with("u1."));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_users_tokens_closes_their_sockets_and_refuses_the_old_tokens() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2"]).await;
    let old = s.token("u1").await;
    let mut a = Client::connect(s.addr, &old).await.unwrap();
    let mut other = s.client("u2").await;
    let revoke = "/v1/admin/users/u1/revoke_tokens";
    // Only the admin may revoke.
    let (st, _) = crate::server_common::admin_call(
        &s.http,
        &s.url(revoke),
        "not-the-admin",
        Method::POST,
        None,
    )
    .await;
    assert_eq!(st, 401);
    assert_eq!(s.admin_ok(Method::POST, revoke, None).await, json!({}));
    let (frames, close) = a.until_close(WAIT).await;
    assert_eq!(close.map(|c| c.0), Some(4002), "{frames:?}");
    assert_eq!(frames.last().unwrap()["push"], "closing");
    let (st, v) = Client::connect(s.addr, &old).await.err().unwrap();
    assert_eq!((st, code(&v)), (401, 1101), "{v}");
    // Tokens issued after the revocation work; other users were not touched.
    s.client("u1").await.close().await;
    let r = other
        .call(json!({"op": "mark_c2c_message_as_read", "peer": "u1"}))
        .await;
    assert!(r.get("ok").is_some(), "{r}");
    let (st, v) = s
        .admin(Method::POST, "/v1/admin/users/nobody/revoke_tokens", None)
        .await;
    assert_eq!(
        (st, v["error"]["name"].as_str()),
        (404, Some("USER_NOT_FOUND"))
    );
    s.stop().await;
}

/// Connects u1 and returns the client.
async fn u1(s: &TestServer) -> Client {
    s.users(&["u1"]).await;
    s.client("u1").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let s = TestServer::memory().await;
    let mut c = u1(&s).await;
    let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
    c.send_message(Message::Frame(bad)).await;
    let (frames, close) = c.until_close(WAIT).await;
    assert_eq!(close.map(|c| c.0), Some(1007), "{frames:?}");
    assert_eq!(frames.last().unwrap()["push"], "closing");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_hard_limit_closes_with_1009() {
    let s = TestServer::memory().await;
    let mut c = u1(&s).await;
    c.send_raw("x".repeat(readsim::server::HARD_FRAME_LIMIT + 1))
        .await;
    let (frames, close) = c.until_close(WAIT).await;
    assert_eq!(close.map(|c| c.0), Some(1009), "{frames:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_close_is_echoed_with_its_code() {
    let s = TestServer::memory().await;
    let mut c = u1(&s).await;
    let bye = CloseFrame {
        code: CloseCode::from(4321),
        reason: "bye".into(),
    };
    c.send_message(Message::Close(Some(bye))).await;
    let (frames, close) = c.until_close(WAIT).await;
    assert_eq!(close.map(|c| c.0), Some(4321), "{frames:?}");
    assert!(
        frames.is_empty(),
        "no closing push after the client's own Close: {frames:?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_with_1001() {
    let s = TestServer::memory().await;
    let mut c = u1(&s).await;
    let stop = tokio::spawn(s.stop());
    let (frames, close) = c.until_close(WAIT).await;
    assert_eq!(close.map(|c| c.0), Some(1001), "{frames:?}");
    assert_eq!(frames.last().unwrap()["reason"], "server shutting down");
    stop.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_and_closes_a_silent_peer_with_4000() {
    let mut cfg = ServerConfig::random();
    cfg.ws_ping_interval = Duration::from_millis(200);
    cfg.ws_idle_timeout = Duration::from_millis(1500);
    let s = TestServer::start_with(Store::in_memory().unwrap(), cfg).await;
    s.users(&["u1", "u2"]).await;
    // A client that keeps reading answers the pings and stays open past the idle timeout.
    let mut live = s.client("u1").await;
    let (pings, _) = live.pings_for(Duration::from_millis(2500)).await;
    assert!(pings >= 5, "{pings} pings in 2.5 s at a 200 ms interval");
    let r = live
        .call(json!({"op": "mark_c2c_message_as_read", "peer": "u2"}))
        .await;
    assert!(r.get("ok").is_some(), "still open: {r}");
    // A client that reads nothing sends no pongs and is closed: pings, then the closing push,
    // then a Close frame (0x88, a length byte, the code), then EOF.
    let mut silent = s.client("u2").await;
    let raw = silent.raw_rest(WAIT).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.contains("nothing received for"), "{text:?}");
    let close = raw
        .windows(4)
        .rev()
        .find(|w| w[0] == 0x88 && usize::from(w[1]) < 126);
    let close = close.map(|w| u16::from_be_bytes([w[2], w[3]]));
    assert_eq!(close, Some(4000), "{text:?}");
    s.stop().await;
}
