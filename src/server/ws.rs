//! `/v1/ws`: authentication at the upgrade, then one reader loop (frames -> writer jobs)
//! and one writer task (bounded queue -> socket) per connection. Close codes: see `Bye`.

use super::App;
use super::framing::{error_frame, parse_request, push_frame};
use super::registry::{ConnHandle, Kick, KickReason};
use super::respond::{bearer, error_response};
use super::writer::Job;
use crate::protocol::ErrorCode;
use crate::wire::PushFrame;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::CapacityError;

/// How long a closing connection may take to accept its `closing` push and close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Close codes (docs/protocol.md, "Close codes"). 1001 is for shutdown only, so a client can
/// tell "reconnect" from "you sent garbage".
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const SHUTDOWN: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const INVALID_UTF8: u16 = 1007;
    pub const SLOW_CONSUMER: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const IDLE: u16 = 4000;
    pub const TOKEN_EXPIRED: u16 = 4001;
    pub const TOKEN_REVOKED: u16 = 4002;
}

/// Why a connection closes: the close code, the reason, and whether the client gets a
/// `closing` push first (not when it closed itself: its Close is just echoed).
#[derive(Clone, Debug)]
struct Bye {
    code: u16,
    reason: String,
    push: bool,
}

impl Bye {
    fn new(code: u16, reason: impl Into<String>) -> Bye {
        Bye {
            code,
            reason: reason.into(),
            push: true,
        }
    }

    /// The answer to a read error: what the client did wrong, or None if the socket is gone.
    fn of_error(e: axum::Error) -> Option<Bye> {
        let e = e.into_inner();
        let ws = e.downcast_ref::<WsError>()?;
        let code = match ws {
            WsError::Utf8(_) => close::INVALID_UTF8,
            WsError::Capacity(CapacityError::MessageTooLong { .. }) => close::TOO_BIG,
            WsError::Capacity(_) | WsError::Protocol(_) => close::PROTOCOL,
            _ => return None,
        };
        Some(Bye::new(code, format!("protocol error: {ws}")))
    }
}

impl Bye {
    /// `ProtocolErrorClosesAsShutdown` (tests only): a protocol violation closes with 1001.
    fn planted(self, _app: &App) -> Bye {
        #[cfg(feature = "planted-bugs")]
        if _app.cfg.planted_bug == Some(super::ServerBug::ProtocolErrorClosesAsShutdown)
            && self.code == close::PROTOCOL
        {
            return Bye::new(close::SHUTDOWN, self.reason);
        }
        self
    }
}

fn query_token(q: Option<&str>) -> Option<&str> {
    q?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

/// Who a connection speaks for, and until when.
struct Authed {
    user: i64,
    expires: Instant,
}

/// The token check of an upgrade: the header wins over `?token=`; the signature is checked
/// before anything is said about the user, so a forger learns nothing about who exists.
async fn authenticate(app: &App, headers: &HeaderMap, q: Option<&str>) -> Result<Authed, Response> {
    let unauth = |m: String| error_response(ErrorCode::Unauthenticated, Some(m));
    let Some(token) = bearer(headers).or_else(|| query_token(q)) else {
        return Err(unauth(
            "no token: send Authorization: Bearer <token> or ?token=<token>".into(),
        ));
    };
    let retry = "; ask the admin API for a new token";
    let claims = super::auth::parse_token(token).map_err(|e| unauth(format!("{e}{retry}")))?;
    let (reply, rx) = oneshot::channel();
    let name = claims.user.to_string();
    let job = Job::Resolve { name, reply };
    if app.jobs.send(job).await.is_err() {
        return Err(error_response(
            ErrorCode::Internal,
            Some("shutting down".into()),
        ));
    }
    let found = rx.await.ok().flatten();
    let now = super::unix_now();
    let generation = found.map_or(0, |(_, g)| g);
    claims
        .verify(&app.cfg.secret, generation, now)
        .map_err(|e| unauth(format!("{e}{retry}")))?;
    let Some((user, _)) = found else {
        return Err(unauth(format!("user {:?} does not exist", claims.user)));
    };
    // Far-future expiries are capped: an Instant that far out would overflow.
    let left = claims.expiry.saturating_sub(now).min(100 * 365 * 24 * 3600);
    Ok(Authed {
        user,
        expires: Instant::now() + Duration::from_secs(left),
    })
}

pub(crate) async fn upgrade(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let authed = match authenticate(&app, &headers, q.as_deref()).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => return error_response(ErrorCode::BadRequest, Some(e.to_string())),
    };
    // Small buffers: thousands of connections each hold one (tungstenite's default read
    // buffer is 128 KiB); the writer flushes explicitly.
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(16 * 1024)
        .max_message_size(super::HARD_FRAME_LIMIT)
        .max_frame_size(super::HARD_FRAME_LIMIT)
        .on_upgrade(move |socket| connection(app, socket, authed))
}

/// The job for one text frame: the operation, or the error reply for a bad frame.
fn frame_job(user: i64, conn: u64, text: &str) -> Job {
    match parse_request(text) {
        Ok(f) => Job::Client {
            user,
            conn,
            req_id: f.id,
            op: f.op,
            at: std::time::Instant::now(),
        },
        Err(bad) => Job::Reply {
            user,
            conn,
            frame: bad.frame(),
        },
    }
}

type Sink = SplitSink<WebSocket, Message>;
/// Why the reader stopped, when the writer task should say so in its `closing` push.
type Why = Arc<std::sync::Mutex<Option<Bye>>>;

/// What the writer task of a connection reads from.
struct SendSide {
    rx: mpsc::Receiver<Utf8Bytes>,
    kicked: Arc<Kick>,
    stop: watch::Receiver<bool>,
    why: Why,
    queue: usize,
    ping_every: Duration,
}

/// Serves one connection. The writer sends the hello push once the connection is registered.
async fn connection(app: Arc<App>, socket: WebSocket, authed: Authed) {
    let user = authed.user;
    let conn = app.next_conn.fetch_add(1, Ordering::Relaxed);
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Utf8Bytes>(app.cfg.send_queue.max(1));
    let kicked = Arc::new(Kick::default());
    let handle = ConnHandle {
        id: conn,
        user,
        tx,
        kicked: Arc::clone(&kicked),
    };
    if app.jobs.send(Job::Register(handle)).await.is_err() {
        return;
    }
    let why = Why::default();
    let side = SendSide {
        rx,
        kicked,
        stop: app.stop.clone(),
        why: Arc::clone(&why),
        queue: app.cfg.send_queue,
        ping_every: app.cfg.ws_ping_interval,
    };
    let mut writer = tokio::spawn(send_loop(sink, side));
    let ends = Ends {
        user,
        conn,
        expires: authed.expires,
    };
    let bye = read_loop(&app, stream, &mut writer, &ends).await;
    let writer_done = bye.is_none();
    if let Some(b) = bye.flatten() {
        *why.lock().expect("not poisoned") = Some(b);
    }
    // The writer answers everything sent before this, then says why it closes.
    let _ = app.jobs.send(Job::Unregister { user, conn }).await;
    if !writer_done {
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
        writer.abort();
    }
}

/// A connection as its reader knows it.
struct Ends {
    user: i64,
    conn: u64,
    /// When its token expires.
    expires: Instant,
}

/// Turns frames into writer jobs until the client closes, shutdown starts, the token
/// expires, the client falls silent or the writer task ends. Returns None if the writer task
/// ended, else why the connection closes (None inside: nobody left to tell, or shutdown).
async fn read_loop(
    app: &App,
    mut stream: SplitStream<WebSocket>,
    writer: &mut JoinHandle<()>,
    c: &Ends,
) -> Option<Option<Bye>> {
    let stopped = stopped(app.stop.clone());
    tokio::pin!(stopped);
    let expired = tokio::time::sleep_until(c.expires);
    tokio::pin!(expired);
    let idle_for = app.cfg.ws_idle_timeout;
    let idle = tokio::time::sleep(idle_for);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            _ = &mut stopped => return Some(None),
            _ = &mut *writer => return None,
            _ = &mut expired => return Some(Some(Bye::new(
                close::TOKEN_EXPIRED,
                "token expired; reconnect with a new token",
            ))),
            _ = &mut idle => return Some(Some(Bye::new(
                close::IDLE,
                format!("nothing received for {idle_for:?}, not even a pong"),
            ))),
            msg = stream.next() => {
                idle.as_mut().reset(Instant::now() + idle_for);
                let (user, conn) = (c.user, c.conn);
                let job = match msg {
                    Some(Err(e)) => return Some(Bye::of_error(e).map(|b| b.planted(app))),
                    None => return Some(None),
                    Some(Ok(Message::Close(f))) => {
                        // Echoed by the socket itself when the writer task closes it.
                        let code = f.map_or(close::NORMAL, |f| f.code);
                        return Some(Some(Bye { code, reason: String::new(), push: false }));
                    }
                    Some(Ok(Message::Text(t))) => frame_job(user, conn, t.as_str()),
                    Some(Ok(Message::Binary(_))) => Job::Reply {
                        user,
                        conn,
                        frame: error_frame(None, ErrorCode::BadRequest),
                    },
                    Some(Ok(_)) => continue,
                };
                if app.jobs.send(job).await.is_err() {
                    return Some(None);
                }
            }
        }
    }
}

/// The writer task: forwards queued frames, then says why the connection closes.
async fn send_loop(mut sink: Sink, mut side: SendSide) {
    match forward(&mut sink, &mut side).await {
        Some(bye) => goodbye(sink, bye).await,
        // The socket failed; closing it still flushes the echo of a client's Close.
        None => {
            let _ = tokio::time::timeout(CLOSE_GRACE, sink.close()).await;
        }
    }
}

/// Writes queued frames and keep-alive pings until the connection must close; returns why,
/// or None if the socket failed (then there is nobody to tell).
async fn forward(sink: &mut Sink, side: &mut SendSide) -> Option<Bye> {
    let every = side.ping_every.max(Duration::from_millis(10));
    let mut ping = tokio::time::interval_at(Instant::now() + every, every);
    loop {
        tokio::select! {
            biased;
            _ = side.kicked.notify.notified() => return Some(kicked(side)),
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    return None;
                }
            }
            f = side.rx.recv() => match f {
                Some(f) => {
                    if !write_queued(sink, &mut side.rx, f).await {
                        return None;
                    }
                }
                // The queue closes once the writer thread drops the connection's handle.
                None if side.kicked.reason().is_some() => return Some(kicked(side)),
                None if *side.stop.borrow() => {
                    return Some(Bye::new(close::SHUTDOWN, "server shutting down"));
                }
                None => {
                    let why = side.why.lock().expect("not poisoned").take();
                    return Some(why.unwrap_or_else(|| Bye::new(close::NORMAL, "connection closed")));
                }
            },
        }
    }
}

/// Why the writer thread dropped the connection.
fn kicked(side: &SendSide) -> Bye {
    match side.kicked.reason() {
        Some(KickReason::Revoked) => Bye::new(
            close::TOKEN_REVOKED,
            "the admin revoked this user's tokens; reconnect with a new token",
        ),
        _ => Bye::new(
            close::SLOW_CONSUMER,
            format!("slow consumer: more than {} frames queued", side.queue),
        ),
    }
}

/// Writes `first` and what else is queued (up to 64 more), then flushes once; false if the
/// socket failed.
async fn write_queued(
    sink: &mut Sink,
    rx: &mut mpsc::Receiver<Utf8Bytes>,
    first: Utf8Bytes,
) -> bool {
    let mut ok = sink.feed(Message::Text(first)).await.is_ok();
    let mut n = 0;
    while ok && n < 64 {
        match rx.try_recv() {
            Ok(f) => ok = sink.feed(Message::Text(f)).await.is_ok(),
            Err(_) => break,
        }
        n += 1;
    }
    ok && sink.flush().await.is_ok()
}

/// The `closing` push (unless the client closed) and a close frame with the code of `bye`.
async fn goodbye(mut sink: Sink, bye: Bye) {
    // A close reason is at most 123 bytes; cut at a character boundary.
    let mut reason = bye.reason.clone();
    let mut cut = reason.len().min(120);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    reason.truncate(cut);
    // A consumer that reads nothing never takes these; do not wait for it forever.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if bye.push {
            let closing = PushFrame::Closing { reason: bye.reason };
            sink.send(Message::Text(push_frame(&closing))).await?;
            let frame = CloseFrame {
                code: bye.code,
                reason: reason.into(),
            };
            sink.send(Message::Close(Some(frame))).await?;
        }
        // After a client's Close this sends the echo the socket queued (same code).
        sink.close().await
    })
    .await;
}

/// Resolves once shutdown has started.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
