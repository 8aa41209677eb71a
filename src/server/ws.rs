//! `/v1/ws`: authentication at the upgrade, then one reader loop (frames -> writer jobs)
//! and one writer task (bounded queue -> socket) per connection.

use super::App;
use super::framing::{error_frame, parse_request, push_frame};
use super::registry::ConnHandle;
use super::respond::{bearer, error_response};
use super::writer::Job;
use crate::protocol::ErrorCode;
use crate::wire::PushFrame;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long a closing connection may take to accept its `closing` push and close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

fn query_token(q: Option<&str>) -> Option<&str> {
    q?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

pub(crate) async fn upgrade(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let unauth = |m: String| error_response(ErrorCode::Unauthenticated, Some(m));
    let Some(token) = bearer(&headers).or_else(|| query_token(q.as_deref())) else {
        return unauth("no token: send Authorization: Bearer <token> or ?token=<token>".into());
    };
    let name = match super::verify_token(&app.cfg.secret, token, super::unix_now()) {
        Ok(n) => n,
        Err(e) => return unauth(format!("{e}; ask the admin API for a new token")),
    };
    let (reply, rx) = oneshot::channel();
    if app
        .jobs
        .send(Job::Resolve {
            name: name.clone(),
            reply,
        })
        .await
        .is_err()
    {
        return error_response(ErrorCode::Internal, Some("shutting down".into()));
    }
    let Some(user) = rx.await.ok().flatten() else {
        return unauth(format!("user {name:?} does not exist"));
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
        .on_upgrade(move |socket| connection(app, socket, user))
}

/// The job for one text frame: the operation, or the error reply for a bad frame.
fn frame_job(user: i64, conn: u64, text: &str) -> Job {
    match parse_request(text) {
        Ok(f) => Job::Client {
            user,
            conn,
            req_id: f.id,
            op: f.op,
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
type Why = Arc<std::sync::Mutex<Option<String>>>;

/// What the writer task of a connection reads from.
struct SendSide {
    rx: mpsc::Receiver<Utf8Bytes>,
    kicked: Arc<(AtomicBool, Notify)>,
    stop: watch::Receiver<bool>,
    why: Why,
    queue: usize,
}

/// Serves one connection. The writer sends the hello push once the connection is registered.
async fn connection(app: Arc<App>, socket: WebSocket, user: i64) {
    let conn = app.next_conn.fetch_add(1, Ordering::Relaxed);
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel::<Utf8Bytes>(app.cfg.send_queue.max(1));
    let kicked = Arc::new((AtomicBool::new(false), Notify::new()));
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
    };
    let mut writer = tokio::spawn(send_loop(sink, side));
    let writer_done = read_loop(&app, stream, &mut writer, user, conn, &why).await;
    // The writer answers everything sent before this, then says why it closes.
    let _ = app.jobs.send(Job::Unregister { user, conn }).await;
    if !writer_done {
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
        writer.abort();
    }
}

/// Turns frames into writer jobs until the client closes, shutdown starts or the writer task
/// ends; returns whether the writer task ended.
async fn read_loop(
    app: &App,
    mut stream: SplitStream<WebSocket>,
    writer: &mut JoinHandle<()>,
    user: i64,
    conn: u64,
    why: &Why,
) -> bool {
    let stopped = stopped(app.stop.clone());
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => return false,
            _ = &mut *writer => return true,
            msg = stream.next() => {
                let job = match msg {
                    Some(Err(e)) => {
                        // E.g. a frame over the hard limit: say why before closing.
                        *why.lock().expect("not poisoned") = Some(format!("protocol error: {e}"));
                        return false;
                    }
                    None | Some(Ok(Message::Close(_))) => return false,
                    Some(Ok(Message::Text(t))) => frame_job(user, conn, t.as_str()),
                    Some(Ok(Message::Binary(_))) => Job::Reply {
                        user,
                        conn,
                        frame: error_frame(None, ErrorCode::BadRequest),
                    },
                    Some(Ok(_)) => continue,
                };
                if app.jobs.send(job).await.is_err() {
                    return false;
                }
            }
        }
    }
}

/// The writer task: forwards queued frames, then says why the connection closes.
async fn send_loop(mut sink: Sink, mut side: SendSide) {
    if let Some(reason) = forward(&mut sink, &mut side).await {
        goodbye(sink, reason).await;
    }
}

/// Writes queued frames until the connection must close; returns why, or None if the socket
/// failed (then there is nobody to tell).
async fn forward(sink: &mut Sink, side: &mut SendSide) -> Option<String> {
    let slow = format!("slow consumer: more than {} frames queued", side.queue);
    loop {
        tokio::select! {
            biased;
            _ = side.kicked.1.notified() => return Some(slow),
            f = side.rx.recv() => match f {
                Some(f) => {
                    if !write_queued(sink, &mut side.rx, f).await {
                        return None;
                    }
                }
                // The queue closes once the writer thread drops the connection's handle.
                None if side.kicked.0.load(Ordering::SeqCst) => return Some(slow),
                None if *side.stop.borrow() => return Some("server shutting down".into()),
                None => {
                    let why = side.why.lock().expect("not poisoned").take();
                    return Some(why.unwrap_or_else(|| "connection closed".to_string()));
                }
            },
        }
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

/// The `closing` push and a close frame: POLICY for a slow consumer, else AWAY.
async fn goodbye(mut sink: Sink, reason: String) {
    let closing = PushFrame::Closing {
        reason: reason.clone(),
    };
    let code = if reason.starts_with("slow") {
        close_code::POLICY
    } else {
        close_code::AWAY
    };
    // A consumer that reads nothing never takes these; do not wait for it forever.
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        sink.send(Message::Text(push_frame(&closing))).await?;
        sink.send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await?;
        sink.close().await
    })
    .await;
}

/// Resolves once shutdown has started.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
