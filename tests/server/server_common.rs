//! Shared helpers of the `server_*` tests: an in-process server on 127.0.0.1:0, an admin
//! HTTP client and a small WebSocket client. Everything waits with a timeout.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use readsim::server::{ServerConfig, Store};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const WAIT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub addr: SocketAddr,
    pub cfg: ServerConfig,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), readsim::server::ServerError>>>,
}

impl TestServer {
    pub async fn start(store: Store) -> TestServer {
        TestServer::start_with(store, ServerConfig::random()).await
    }

    pub async fn start_with(store: Store, cfg: ServerConfig) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(readsim::server::run(listener, store, cfg.clone(), async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            cfg,
            http: reqwest::Client::new(),
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn memory() -> TestServer {
        TestServer::start(Store::in_memory().unwrap()).await
    }

    /// Graceful shutdown; fails the test if it does not finish in time.
    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        let r = tokio::time::timeout(WAIT, self.task.take().unwrap())
            .await
            .expect("server stops in time")
            .expect("server task");
        r.expect("server ran cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An admin call: (status, JSON body).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        admin_call(
            &self.http,
            &self.url(path),
            &self.cfg.admin_token,
            method,
            body,
        )
        .await
    }

    pub async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (s, v) = self.admin(method, path, body).await;
        assert_eq!(s, 200, "{path}: {v}");
        v
    }

    pub async fn users(&self, names: &[&str]) {
        for n in names {
            self.admin_ok(
                reqwest::Method::POST,
                "/v1/admin/users",
                Some(json!({"user_id": n})),
            )
            .await;
        }
    }

    pub async fn group(&self, id: &str, members: &[&str]) {
        self.admin_ok(
            reqwest::Method::POST,
            "/v1/admin/groups",
            Some(json!({"group_id": id, "type": "Work", "members": members})),
        )
        .await;
    }

    pub async fn token(&self, user: &str) -> String {
        let v = self
            .admin_ok(
                reqwest::Method::POST,
                "/v1/admin/tokens",
                Some(json!({"user_id": user, "ttl_secs": 3600})),
            )
            .await;
        v["token"].as_str().unwrap().to_string()
    }

    pub async fn client(&self, user: &str) -> Client {
        Client::connect(self.addr, &self.token(user).await)
            .await
            .unwrap()
    }
}

pub async fn admin_call(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    method: reqwest::Method,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rq = http.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        rq = rq.json(&b);
    }
    let resp = tokio::time::timeout(WAIT, rq.send())
        .await
        .unwrap()
        .unwrap();
    let status = resp.status().as_u16();
    let v = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Pushes read while waiting for responses, in arrival order.
    pub pushes: Vec<Value>,
    pub hello: Value,
}

impl Client {
    /// Connects with `Authorization: Bearer`; Err carries the HTTP status and body.
    pub async fn connect(addr: SocketAddr, token: &str) -> Result<Client, (u16, Value)> {
        let mut rq = format!("ws://{addr}/v1/ws").into_client_request().unwrap();
        rq.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        Client::connect_request(rq).await
    }

    pub async fn connect_request(
        rq: tungstenite::handshake::client::Request,
    ) -> Result<Client, (u16, Value)> {
        match tokio::time::timeout(
            WAIT,
            tokio_tungstenite::connect_async_with_config(rq, None, true),
        )
        .await
        .expect("connect in time")
        {
            Ok((ws, _)) => {
                let mut c = Client {
                    ws,
                    next_id: 1,
                    pushes: Vec::new(),
                    hello: Value::Null,
                };
                c.hello = c.next_frame().await.expect("hello frame");
                assert_eq!(
                    c.hello["push"], "hello",
                    "first frame is hello: {}",
                    c.hello
                );
                Ok(c)
            }
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err((status, body))
            }
            Err(e) => panic!("connect failed: {e}"),
        }
    }

    /// The next text frame as JSON; None when the socket closed.
    pub async fn next_frame(&mut self) -> Option<Value> {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")?;
            match m.ok()? {
                Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    pub async fn send_raw(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    pub async fn send_binary(&mut self, b: Vec<u8>) {
        self.ws.send(Message::Binary(b.into())).await.unwrap();
    }

    /// Reads frames until a response frame (one with an `id` key) arrives; pushes are kept.
    pub async fn response(&mut self) -> Value {
        loop {
            let f = self.next_frame().await.expect("socket open");
            if f.get("push").is_some() {
                self.pushes.push(f);
            } else {
                return f;
            }
        }
    }

    /// Sends `op` (a JSON object without `id`) and returns the response frame.
    pub async fn call(&mut self, mut op: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        op["id"] = json!(id);
        self.send_raw(op.to_string()).await;
        let r = self.response().await;
        assert_eq!(r["id"], json!(id), "response to {op}: {r}");
        r
    }

    /// Sends a complete frame (with its own `id`) and returns the response to that id.
    pub async fn call_frame(&mut self, frame: Value) -> Value {
        let id = frame["id"].clone();
        self.send_raw(frame.to_string()).await;
        let r = self.response().await;
        assert_eq!(r["id"], id, "response to {frame}: {r}");
        r
    }

    /// `call` that must succeed; returns the `ok` body.
    pub async fn ok(&mut self, op: Value) -> Value {
        let r = self.call(op.clone()).await;
        assert!(r.get("error").is_none(), "{op} failed: {r}");
        r["ok"].clone()
    }

    /// Waits for a push of kind `kind`, returning it (and dropping earlier ones of others).
    pub async fn push_of(&mut self, kind: &str) -> Value {
        if let Some(i) = self.pushes.iter().position(|p| p["push"] == kind) {
            return self.pushes.remove(i);
        }
        loop {
            let f = self.next_frame().await.expect("socket open");
            if f["push"] == kind {
                return f;
            }
            self.pushes.push(f);
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }

    /// Reads until the server's Close frame: the text frames before it and its code and
    /// reason (None if the socket ended without a Close).
    pub async fn until_close(&mut self, within: Duration) -> (Vec<Value>, Option<(u16, String)>) {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .expect("the server closes in time");
            match m {
                Some(Ok(Message::Text(t))) => {
                    frames.push(serde_json::from_str(t.as_str()).unwrap())
                }
                Some(Ok(Message::Close(f))) => {
                    let f = f.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    return (frames, f);
                }
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return (frames, None),
            }
        }
    }

    /// Reads (and so answers pings) for `d`: the pings seen and the text frames read.
    pub async fn pings_for(&mut self, d: Duration) -> (usize, Vec<Value>) {
        let (mut pings, mut frames) = (0, Vec::new());
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(m) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match m {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(Message::Text(t))) => {
                    frames.push(serde_json::from_str(t.as_str()).unwrap())
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        (pings, frames)
    }

    /// The raw bytes the server sent that this client has not read yet, up to EOF: for a
    /// client that stopped reading (it would answer pings if it read through WebSocket).
    pub async fn raw_rest(&mut self, within: Duration) -> Vec<u8> {
        use tokio::io::AsyncReadExt;
        let MaybeTlsStream::Plain(tcp) = self.ws.get_mut() else {
            panic!("plain TCP only");
        };
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(within, tcp.read_to_end(&mut buf)).await;
        buf
    }

    /// Sends a raw WebSocket message (e.g. a text frame that is not UTF-8, or a Close).
    pub async fn send_message(&mut self, m: Message) {
        self.ws.send(m).await.unwrap();
    }
}

/// One HTTP/1.1 request over a fresh TCP connection (`Connection: close`): the status and the
/// body as JSON (Null if not JSON). `head` is the request line and headers, without the blank
/// line.
pub async fn raw_http(addr: SocketAddr, head: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect");
    let req = format!("{head}\r\nhost: test\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(WAIT, s.read_to_end(&mut buf))
        .await
        .expect("an answer in time")
        .expect("read the answer");
    parse_http(&buf)
}

/// (status, JSON body) of a raw HTTP/1.1 response; status 0 if there is none.
pub fn parse_http(buf: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(buf);
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

pub fn code(r: &Value) -> u64 {
    r["error"]["code"].as_u64().unwrap_or(0)
}
