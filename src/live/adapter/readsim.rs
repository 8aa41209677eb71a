//! The readsim backend: docs/protocol.md as `readsim serve` speaks it. The admin HTTP API
//! (health, bulk provisioning through `POST /v1/admin/batch`, client tokens through
//! `POST /v1/admin/tokens`, all with the admin bearer token) and one WebSocket per client
//! connection (wait for the `hello` push, then a reader task that parses frames and a
//! writer task that batches flushes). Operations go out as the JSON of their
//! [`ClientFrame`]: the scheduler's vocabulary is this protocol's, so nothing is translated.

use super::{AdminSendError, Backend, ChildTarget, Conn, ConnSpec, Credential, Kind, Name, Opened};
use crate::live::inbound::{Inbound, Incoming};
use crate::live::server::ChildServer;
use crate::live::{LiveError, LiveOptions};
use crate::protocol::{AdminRequest, ErrorCode, Response, UserId};
use crate::wire::{self, ClientFrame, PushFrame, WireError, admin};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, SinkExt, StreamExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::mpsc::unbounded_channel;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// `--target server`: start `readsim serve` as a child process.
pub const CHILD: Kind = Kind {
    name: Name::Word("server"),
    usage: "server",
    open: start_child,
};

/// `--target ws://HOST:PORT`: a `readsim serve` (or another server of the protocol) that is
/// already up; needs `--admin-token`.
pub const AT_URL: Kind = Kind {
    name: Name::Scheme("ws://"),
    usage: "ws://HOST:PORT",
    open: at_url,
};

fn start_child(_target: &str, opts: &LiveOptions) -> Result<Opened, LiveError> {
    let server = ChildServer::start(&opts.log_dir.join("server.log"))?;
    let backend = ReadsimBackend::new(server.addr.clone(), server.admin_token.clone())?;
    let child: Box<dyn ChildTarget> = Box::new(server);
    Ok(Opened {
        backend: Arc::new(backend),
        child: Some(Arc::new(Mutex::new(child))),
    })
}

fn at_url(target: &str, opts: &LiveOptions) -> Result<Opened, LiveError> {
    let token = opts.admin_token.clone().ok_or_else(|| {
        LiveError::Usage(format!(
            "--target {target} needs --admin-token (the server's admin bearer token)"
        ))
    })?;
    let backend = ReadsimBackend::new(target.trim_start_matches("ws://").into(), token)?;
    Ok(Opened {
        backend: Arc::new(backend),
        child: None,
    })
}

impl ChildTarget for ChildServer {
    fn addr(&self) -> String {
        self.addr.clone()
    }
    fn kill(&mut self) {
        ChildServer::kill(self)
    }
    fn restart(&mut self) -> Result<bool, LiveError> {
        ChildServer::restart(self)
    }
    fn stop(&mut self) {
        ChildServer::stop(self)
    }
    fn log(&self) -> &Path {
        ChildServer::log(self)
    }
}

/// Admin operations per batch request (well under the 8 MiB body limit for groups of a few
/// hundred members).
const BATCH_OPS: usize = 500;

/// Read buffer per socket, in bytes (larger frames are read in several pieces).
const READ_BUFFER: usize = 8 * 1024;

/// How long the server may take to accept a connection and send `hello`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A readsim server reached at `HOST:PORT` with its admin token.
pub struct ReadsimBackend {
    http: reqwest::Client,
    token: String,
    /// `HOST:PORT` (and any path prefix the `--target` URL had): moves when a crashed
    /// child server comes back on another port.
    base: Mutex<String>,
}

impl ReadsimBackend {
    pub fn new(base: String, admin_token: String) -> Result<ReadsimBackend, LiveError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| LiveError::Admin(format!("cannot build the HTTP client: {e}")))?;
        Ok(ReadsimBackend {
            http,
            token: admin_token,
            base: Mutex::new(base),
        })
    }

    fn base(&self) -> String {
        self.base.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.base())
    }

    async fn healthy(&self, within: Duration) -> Result<(), LiveError> {
        let url = self.url("/v1/health");
        let every = Duration::from_millis(50);
        super::poll_healthy(&self.http, &url, within, every, "the server").await
    }

    async fn post<B: serde::Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<serde_json::Value, LiveError> {
        let url = self.url(path);
        let r = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| LiveError::Admin(format!("POST {url}: {e}")))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| LiveError::Admin(format!("POST {url}: reading the body: {e}")))?;
        if !status.is_success() {
            return Err(LiveError::Admin(format!(
                "POST {url}: status {status}: {text}; check --admin-token and the server's log"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| LiveError::Admin(format!("POST {url}: body is not JSON ({e}): {text}")))
    }

    /// Applies `reqs` in order through the batch endpoint; one response per request.
    async fn batches(&self, reqs: &[AdminRequest]) -> Result<Vec<Response>, LiveError> {
        let mut out = Vec::with_capacity(reqs.len());
        for chunk in reqs.chunks(BATCH_OPS) {
            let ops: Vec<admin::BatchOp> = chunk.iter().filter_map(wire::admin_op).collect();
            if ops.len() != chunk.len() {
                return Err(LiveError::Admin(
                    "provisioning holds a read-only admin request; this is a readsim bug".into(),
                ));
            }
            let v = self.post("/v1/admin/batch", &admin::Batch { ops }).await?;
            let list = match &v {
                serde_json::Value::Array(_) => v.clone(),
                serde_json::Value::Object(o) => {
                    o.get("results").cloned().unwrap_or(serde_json::Value::Null)
                }
                _ => serde_json::Value::Null,
            };
            let results: Vec<admin::BatchResult> = serde_json::from_value(list).map_err(|e| {
                LiveError::Admin(format!(
                    "/v1/admin/batch answered {v}, not a list of results ({e})"
                ))
            })?;
            if results.len() != chunk.len() {
                return Err(LiveError::Admin(format!(
                    "/v1/admin/batch answered {} results for {} operations",
                    results.len(),
                    chunk.len()
                )));
            }
            out.extend(results.into_iter().map(result));
        }
        Ok(out)
    }

    async fn token(&self, user: UserId, ttl: Duration) -> Result<Credential, LiveError> {
        let req = admin::TokenRequest {
            user_id: wire::user_str(user),
            ttl_secs: ttl.as_secs(),
        };
        let v = self.post("/v1/admin/tokens", &req).await?;
        let t: admin::Token = serde_json::from_value(v.clone()).map_err(|e| {
            LiveError::Admin(format!("/v1/admin/tokens answered {v}, not a token ({e})"))
        })?;
        Ok(Credential(t.token))
    }

    /// Applies one admin operation through the batch endpoint.
    async fn one(&self, req: &AdminRequest) -> Result<Response, AdminSendError> {
        let Some(op) = wire::admin_op(req) else {
            return Err(AdminSendError {
                sent: false,
                detail: format!("{req:?} is read-only; churn sends only changes"),
            });
        };
        let url = self.url("/v1/admin/batch");
        let r = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(&admin::Batch { ops: vec![op] })
            .send()
            .await
            .map_err(|e| AdminSendError {
                sent: !e.is_connect(),
                detail: format!("POST {url}: {e}"),
            })?;
        let text = r.text().await.map_err(|e| AdminSendError {
            sent: true,
            detail: format!("POST {url}: reading the body: {e}"),
        })?;
        let results: Vec<admin::BatchResult> =
            serde_json::from_str(&text).map_err(|e| AdminSendError {
                sent: true,
                detail: format!("POST {url}: answered {text}, not a list of results ({e})"),
            })?;
        results
            .into_iter()
            .next()
            .map(result)
            .ok_or(AdminSendError {
                sent: true,
                detail: format!("POST {url}: no result for one operation"),
            })
    }

    async fn open(&self, cred: &Credential, spec: ConnSpec) -> Result<Conn, LiveError> {
        let url = match &spec.route {
            Some(r) => format!("{}{}", r.base_url("ws"), r.path("/v1/ws")),
            None => format!("ws://{}/v1/ws", self.base()),
        };
        let ws = connect(&url, &cred.0, spec.client).await?;
        Ok(spawn(ws, spec))
    }
}

fn result(r: admin::BatchResult) -> Response {
    match r.error {
        None => Response::AdminDone,
        Some(e) => Response::Error { code: code(&e) },
    }
}

fn code(e: &WireError) -> ErrorCode {
    ErrorCode::from_code(e.code).unwrap_or(ErrorCode::Internal)
}

impl Backend for ReadsimBackend {
    fn wait_healthy(&self, within: Duration) -> BoxFuture<'_, Result<(), LiveError>> {
        self.healthy(within).boxed()
    }

    fn provision<'a>(
        &'a self,
        reqs: &'a [AdminRequest],
    ) -> BoxFuture<'a, Result<Vec<Response>, LiveError>> {
        self.batches(reqs).boxed()
    }

    fn credential(
        &self,
        user: UserId,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Credential, LiveError>> {
        self.token(user, ttl).boxed()
    }

    fn connect<'a>(
        &'a self,
        cred: &'a Credential,
        spec: ConnSpec,
    ) -> BoxFuture<'a, Result<Conn, LiveError>> {
        self.open(cred, spec).boxed()
    }

    fn apply_one<'a>(
        &'a self,
        req: &'a AdminRequest,
    ) -> BoxFuture<'a, Result<Response, AdminSendError>> {
        self.one(req).boxed()
    }

    fn client_addr(&self) -> String {
        let base = self.base();
        base.split('/').next().unwrap_or(&base).to_string()
    }

    fn repoint(&self, addr: &str) {
        *self.base.lock().unwrap_or_else(|e| e.into_inner()) = addr.to_string();
    }

    /// The server keeps every connection of a user (`src/server/registry.rs`).
    fn max_devices(&self) -> u8 {
        crate::scenario::MAX_DEVICES as u8
    }
}

/// Opens `url` (`ws://HOST:PORT/v1/ws`, with a query through the fault proxy) as the holder
/// of `token` and waits for the `hello` push.
async fn connect(url: &str, token: &str, client: UserId) -> Result<Ws, LiveError> {
    let fail = |detail: String| LiveError::Connect {
        client: client.0,
        detail,
    };
    let mut req = url.into_client_request().map_err(|e| fail(e.to_string()))?;
    let auth =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| fail(e.to_string()))?;
    req.headers_mut().insert("authorization", auth);
    let fut = async {
        // Frames are small: tungstenite zero-fills its whole read buffer (128 KiB by default)
        // on every read, which dominated the harness's CPU with thousands of sockets.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (mut ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
            .await
            .map_err(|e| fail(e.to_string()))?;
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return match Incoming::parse(t.as_str()) {
                        Incoming::Push(PushFrame::Hello { .. }) => Ok(ws),
                        _ => Err(fail(format!(
                            "the first frame was not the hello push: {}",
                            t.as_str()
                        ))),
                    };
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(fail(format!("closed before hello: {c:?}")));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(fail(e.to_string())),
                None => return Err(fail("closed before hello".into())),
            }
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .map_err(|_| fail(format!("no hello within {CONNECT_TIMEOUT:?}")))?
}

/// Starts the reader and writer of `ws`; frames and the close go to `spec.inbound`. With
/// `spec.announce`, the reader first hands the scheduler the frame sender as
/// [`Inbound::Connected`], so the connection is known before its frames.
fn spawn(ws: Ws, spec: ConnSpec) -> Conn {
    let ConnSpec {
        client,
        device,
        conn,
        inbound,
        announce,
        ..
    } = spec;
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = unbounded_channel::<ClientFrame>();
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            let mut ok = feed(&mut sink, &f).await;
            while ok && let Ok(f) = rx.try_recv() {
                ok = feed(&mut sink, &f).await;
            }
            if !ok || sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let announce = announce.then(|| tx.clone());
    let reader = tokio::spawn(async move {
        if let Some(tx) = announce
            && inbound
                .send(Inbound::Connected {
                    client,
                    device,
                    conn,
                    tx,
                })
                .is_err()
        {
            return;
        }
        let reason = loop {
            match stream.next().await {
                Some(Ok(Message::Text(t))) => {
                    let frame = Incoming::parse(t.as_str());
                    let at = Instant::now();
                    let f = Inbound::Frame {
                        client,
                        device,
                        conn,
                        at,
                        frame,
                    };
                    if inbound.send(f).is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(c))) => break format!("closed by the server: {c:?}"),
                Some(Ok(_)) => {}
                Some(Err(e)) => break format!("read failed: {e}"),
                None => break "closed".to_string(),
            }
        };
        let _ = inbound.send(Inbound::Closed {
            client,
            device,
            conn,
            reason,
        });
    });
    Conn {
        tx,
        tasks: vec![reader, writer],
    }
}

async fn feed<S>(sink: &mut S, f: &ClientFrame) -> bool
where
    S: futures_util::Sink<Message> + Unpin,
{
    match serde_json::to_string(f) {
        Ok(s) => sink.feed(Message::text(s)).await.is_ok(),
        Err(_) => false,
    }
}
