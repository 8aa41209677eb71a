use super::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client(base: &str, extra: &str) -> MatrixClient {
    MatrixClient::new(reqwest::Client::new(), base, extra).unwrap()
}

#[test]
fn urls_keep_the_proxy_query_and_encode_ids() {
    let c = client("http://127.0.0.1:9/", "readsim_client=7");
    assert_eq!(
        c.url(&room_path("!abc:localhost", "/receipt/m.read/$ev+1"), &[]),
        "http://127.0.0.1:9/_matrix/client/v3/rooms/%21abc%3Alocalhost/receipt/m.read/$ev+1?readsim_client=7"
    );
    let path = room_path(
        "!abc:localhost",
        &format!("/receipt/m.read/{}", encode("$ev+1/x")),
    );
    assert!(path.ends_with("/receipt/m.read/%24ev%2B1%2Fx"), "{path}");
    let c = client("http://h:1/prefix?readsim_client=3", "");
    assert_eq!(
        c.url("/x", &[("since", "s 1&2"), ("dir", "b")]),
        "http://h:1/prefix/x?since=s%201%262&dir=b&readsim_client=3"
    );
    assert_eq!(client("http://h:1", "").url("/x", &[]), "http://h:1/x");
    assert_eq!(
        client("http://h:1?a=1", "?b=2").url("/x", &[]),
        "http://h:1/x?a=1&b=2"
    );
}

#[test]
fn bad_base_urls_are_refused_with_the_reason() {
    for bad in [
        "",
        "localhost:8008",
        "ftp://h",
        "http://",
        "http:///x",
        "http://h #",
    ] {
        let e = MatrixClient::new(reqwest::Client::new(), bad, "").err();
        assert!(
            matches!(e, Some(MatrixError::BadBaseUrl { .. })),
            "{bad:?}: {e:?}"
        );
    }
}

#[test]
fn the_sync_filter_is_json_that_keeps_only_what_readsim_reads() {
    let f: Value = serde_json::from_str(SYNC_FILTER).unwrap();
    assert_eq!(
        f["room"]["timeline"]["types"],
        json!(["m.room.message", "m.room.member"])
    );
    assert_eq!(f["room"]["ephemeral"]["types"], json!(["m.receipt"]));
    assert_eq!(f["presence"]["types"], json!([]));
}

#[test]
fn error_bodies_become_errcodes_with_retry_hints() {
    let e = http_error(
        "POST /x".into(),
        429,
        br#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too Many Requests","retry_after_ms":2000}"#,
        Some(5000),
    );
    assert!(e.is_rate_limited());
    assert_eq!(e.retry_after(), Some(Duration::from_millis(2000)));
    let e = http_error("GET /y".into(), 429, b"{}", Some(3000));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    let e = http_error("GET /y".into(), 502, b"<html>bad gateway</html>", None);
    assert_eq!(e.errcode(), None);
    assert!(
        e.to_string()
            .contains("HTTP 502 (no errcode): <html>bad gateway"),
        "{e}"
    );
    let e = http_error(
        "POST /r".into(),
        403,
        br#"{"errcode":"M_FORBIDDEN","error":"not in room"}"#,
        None,
    );
    assert_eq!(e.errcode(), Some(&ErrCode::Forbidden));
}

#[test]
fn a_messages_page_is_newest_first_with_its_end_token() {
    let body = json!({"start": "t9", "end": "t3", "chunk": [
        {"type": "m.room.message", "event_id": "$2", "sender": "@a:l", "origin_server_ts": 2,
         "content": {"body": "b", NEED_READ_RECEIPT: true}},
        {"type": "m.room.create", "event_id": "$0", "sender": "@a:l", "origin_server_ts": 0,
         "state_key": "", "content": {}},
    ]});
    let page = parse_messages(&body).unwrap();
    assert_eq!(page.end.as_deref(), Some("t3"));
    assert_eq!(page.events.len(), 1);
    assert_eq!(parse_messages(&json!({"chunk": []})).unwrap().end, None);
    let e = parse_messages(&json!({"chunk": [{"type": "m.room.message"}]})).unwrap_err();
    assert_eq!(e.path, "chunk[0].event_id");
}

/// `HTTP/1.1 {status}` with `body`, closing the connection.
fn reply(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// A tiny HTTP server: answers each connection with `reply` (nothing: closes at once) and
/// hands back the request head it read.
async fn canned(reply: String) -> (String, tokio::sync::mpsc::Receiver<String>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
            let _ = tx
                .send(String::from_utf8_lossy(&buf[..n]).into_owned())
                .await;
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    (format!("http://{addr}"), rx)
}

#[tokio::test]
async fn answers_map_to_the_error_kinds() {
    let (base, mut heads) = canned(reply(
        "429 Too Many Requests",
        r#"{"errcode":"M_LIMIT_EXCEEDED","error":"slow down","retry_after_ms":15}"#,
    ))
    .await;
    let c = client(&base, "readsim_client=4").with_token("tok");
    let e = c.read_receipt("!r:l", "$e").await.unwrap_err();
    assert!(e.is_rate_limited(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(15)));
    let head = heads.recv().await.unwrap();
    assert!(
        head.starts_with(
            "POST /_matrix/client/v3/rooms/%21r%3Al/receipt/m.read/%24e?readsim_client=4 HTTP/1.1"
        ),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer tok")
    );

    let (base, _) = canned(reply("200 OK", "hello")).await;
    let e = client(&base, "").join("!r:l").await.unwrap_err();
    assert!(
        matches!(&e, MatrixError::BadAnswer { path, .. } if path == "$"),
        "{e}"
    );
    let (base, _) = canned(reply("200 OK", "{}")).await;
    let e = client(&base, "")
        .send_text("!r:l", "t1", "hi", true)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, MatrixError::BadAnswer { path, what, .. } if path == "event_id" && what == "missing"),
        "{e}"
    );
}

#[tokio::test]
async fn a_refused_connection_was_never_sent() {
    // Bind then drop: nothing listens on the port (for a moment, which is enough here).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(&format!("http://127.0.0.1:{port}"), "");
    let e = c.leave("!r:l").await.unwrap_err();
    assert!(matches!(e, MatrixError::Transport { .. }), "{e}");
    assert!(!e.may_have_been_sent(), "{e}");
}

#[tokio::test]
async fn a_connection_cut_before_the_answer_may_have_been_sent() {
    let (base, _) = canned(String::new()).await;
    let e = client(&base, "").leave("!r:l").await.unwrap_err();
    assert!(e.may_have_been_sent(), "{e}");
    assert!(matches!(e, MatrixError::Transport { .. }), "{e}");
}
