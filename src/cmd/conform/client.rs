//! The small protocol client conform speaks with: the admin HTTP API (reqwest) and client
//! WebSockets (tokio-tungstenite), every wait bounded. Failures are strings: a check shows
//! what it saw, it does not stop the run.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for one answer, frame or connection.
pub const WAIT: Duration = Duration::from_secs(5);

/// What a check saw when it did not get what it expected.
pub type Seen = String;

/// The admin API of one server.
pub struct Admin {
    pub http: reqwest::Client,
    /// `HOST:PORT`.
    pub addr: String,
    pub token: String,
}

impl Admin {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One call with `bearer` as credential: (HTTP status, JSON body or Null).
    pub async fn call_as(
        &self,
        bearer: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Seen> {
        let mut rq = self
            .http
            .request(method, self.url(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            rq = rq.json(b);
        }
        let resp = tokio::time::timeout(WAIT, rq.send())
            .await
            .map_err(|_| format!("no answer to {path} within {WAIT:?}"))?
            .map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, v))
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Seen> {
        self.call_as(&self.token, method, path, body).await
    }

    /// A call that must answer 200.
    pub async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Seen> {
        let (s, v) = self.call(method, path, body.as_ref()).await?;
        if s == 200 {
            Ok(v)
        } else {
            Err(format!("admin {path} answered {s} {v}"))
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value, Seen> {
        self.ok(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn token_for(&self, user: &str, ttl_secs: u64) -> Result<String, Seen> {
        let v = self
            .post(
                "/v1/admin/tokens",
                json!({"user_id": user, "ttl_secs": ttl_secs}),
            )
            .await?;
        v["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("token answer without a token: {v}"))
    }

    /// `GET /v1/health`: Ok when the server answers at all.
    pub async fn health(&self) -> Result<Value, String> {
        let rq = self.http.get(self.url("/v1/health")).send();
        let resp = tokio::time::timeout(WAIT, rq)
            .await
            .map_err(|_| "no answer within 5s".to_string())?
            .map_err(|e| e.to_string())?;
        resp.json::<Value>().await.map_err(|e| e.to_string())
    }
}

/// One client WebSocket.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Pushes read while waiting for responses, in arrival order.
    pub pushes: Vec<Value>,
    pub hello: Value,
}

/// How an upgrade ended when it did not give a socket: HTTP status and JSON body.
pub type Refused = (u16, Value);

impl Client {
    /// Connects to `ws://addr/v1/ws` with `Authorization: Bearer token`.
    pub async fn connect(addr: &str, token: &str) -> Result<Client, Seen> {
        Client::upgrade(addr, "/v1/ws", Some(&format!("Bearer {token}")))
            .await?
            .map_err(|(s, b)| format!("upgrade refused: {s} {b}"))
    }

    /// An upgrade at `path` with an optional `Authorization` value: the client, or the
    /// refusal (status and body); Err when no HTTP answer came.
    pub async fn upgrade(
        addr: &str,
        path: &str,
        authorization: Option<&str>,
    ) -> Result<Result<Client, Refused>, Seen> {
        let mut rq = format!("ws://{addr}{path}")
            .into_client_request()
            .map_err(|e| e.to_string())?;
        if let Some(a) = authorization {
            let v = a.parse().map_err(|_| format!("bad header value {a:?}"))?;
            rq.headers_mut().insert("authorization", v);
        }
        let fut = tokio_tungstenite::connect_async_with_config(rq, None, true);
        match tokio::time::timeout(WAIT, fut).await {
            Err(_) => Err("no upgrade answer within 5s".into()),
            Ok(Ok((ws, _))) => {
                let mut c = Client {
                    ws,
                    next_id: 1,
                    pushes: Vec::new(),
                    hello: Value::Null,
                };
                c.hello = c.next_frame().await?.ok_or("closed before hello")?;
                if c.hello["push"] != "hello" {
                    return Err(format!("first frame is not hello: {}", c.hello));
                }
                Ok(Ok(c))
            }
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Ok(Err((status, body)))
            }
            Ok(Err(e)) => Err(format!("connect failed: {e}")),
        }
    }

    /// The next text frame as JSON; None when the socket closed.
    pub async fn next_frame(&mut self) -> Result<Option<Value>, Seen> {
        self.next_frame_within(WAIT).await
    }

    pub async fn next_frame_within(&mut self, d: Duration) -> Result<Option<Value>, Seen> {
        loop {
            let m = tokio::time::timeout(d, self.ws.next())
                .await
                .map_err(|_| format!("no frame within {d:?}"))?;
            match m {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .map(Some)
                        .map_err(|e| format!("frame is not JSON ({e}): {t}"));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    pub async fn send(&mut self, m: Message) -> Result<(), Seen> {
        self.ws
            .send(m)
            .await
            .map_err(|e| format!("send failed: {e}"))
    }

    pub async fn send_raw(&mut self, text: String) -> Result<(), Seen> {
        self.send(Message::Text(text.into())).await
    }

    /// Reads frames until a response frame (no `push` key) arrives; pushes are kept.
    pub async fn response(&mut self) -> Result<Value, Seen> {
        loop {
            let f = self.next_frame().await?.ok_or("socket closed")?;
            if f.get("push").is_some() {
                self.pushes.push(f);
            } else {
                return Ok(f);
            }
        }
    }

    /// Sends `op` (a JSON object without `id`) and returns the response frame.
    pub async fn call(&mut self, mut op: Value) -> Result<Value, Seen> {
        let id = self.next_id;
        self.next_id += 1;
        op["id"] = json!(id);
        self.send_raw(op.to_string()).await?;
        let r = self.response().await?;
        if r["id"] != json!(id) {
            return Err(format!("response to id {id} carries id {}: {r}", r["id"]));
        }
        Ok(r)
    }

    /// `call` that must succeed; the `ok` body.
    pub async fn ok(&mut self, op: Value) -> Result<Value, Seen> {
        let r = self.call(op.clone()).await?;
        match r.get("ok") {
            Some(v) if r.get("error").is_none() => Ok(v.clone()),
            _ => Err(format!("{} refused: {}", op["op"], r["error"])),
        }
    }

    /// A push of `kind` within `d` (earlier ones of other kinds are kept).
    pub async fn push_within(&mut self, kind: &str, d: Duration) -> Result<Value, Seen> {
        if let Some(i) = self.pushes.iter().position(|p| p["push"] == kind) {
            return Ok(self.pushes.remove(i));
        }
        let deadline = tokio::time::Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self
                .next_frame_within(left)
                .await
                .map_err(|_| format!("no {kind} push within {d:?}"))?
                .ok_or_else(|| format!("socket closed waiting for a {kind} push"))?;
            if f["push"] == kind {
                return Ok(f);
            }
            self.pushes.push(f);
        }
    }

    pub async fn push_of(&mut self, kind: &str) -> Result<Value, Seen> {
        self.push_within(kind, WAIT).await
    }

    /// Pushes of `kind` arriving within `d` (none expected when quiet).
    pub async fn pushes_for(&mut self, kind: &str, d: Duration) -> Vec<Value> {
        let mut got: Vec<Value> = Vec::new();
        self.pushes.retain(|p| {
            let keep = p["push"] != kind;
            if !keep {
                got.push(p.clone());
            }
            keep
        });
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(m)) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            if let Ok(Message::Text(t)) = m
                && let Ok(v) = serde_json::from_str::<Value>(t.as_str())
                && v["push"] == kind
            {
                got.push(v);
            }
        }
        got
    }

    /// Reads until the server's Close: the text frames before it and the close code and
    /// reason (None when the socket ended without a Close).
    pub async fn until_close(&mut self, within: Duration) -> (Vec<Value>, Option<(u16, String)>) {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    frames.push(serde_json::from_str(t.as_str()).unwrap_or(Value::Null))
                }
                Ok(Some(Ok(Message::Close(f)))) => {
                    let f = f.map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                    return (frames, f);
                }
                Ok(Some(Ok(_))) => {}
                _ => return (frames, None),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The error code of a response frame (0 when it has none).
pub fn code(r: &Value) -> u64 {
    r["error"]["code"].as_u64().unwrap_or(0)
}
