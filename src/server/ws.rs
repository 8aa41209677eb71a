//! `/v1/ws`: authentication at the upgrade, then one reader loop (frames -> writer jobs)
//! and one writer task (bounded queue -> socket) per connection.

use super::App;
use super::engine::{ConnHandle, Job, error_frame};
use super::http::{bearer, error_response};
use crate::protocol::ErrorCode;
use crate::wire::{ClientFrame, MAX_FRAME_BYTES, PushFrame};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, oneshot};

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

/// Reads just the `id` of a frame, for errors about frames that are not read in full.
fn peek_id(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<serde_json::Value>,
    }
    serde_json::from_str::<IdOnly>(text).ok()?.id?.as_u64()
}

/// The job for one text frame: the operation, or the error reply for a bad frame.
fn frame_job(user: i64, conn: u64, text: &str) -> Job {
    let reply = |id: Option<u64>, code: ErrorCode| Job::Reply {
        user,
        conn,
        frame: error_frame(id, code),
    };
    if text.len() > MAX_FRAME_BYTES {
        return reply(peek_id(text), ErrorCode::FrameTooLarge);
    }
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(f) => Job::Client {
            user,
            conn,
            req_id: f.id,
            op: f.op,
        },
        // Not a valid request: BAD_REQUEST, with the id if the frame is JSON that has one.
        Err(_) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => reply(
                v.get("id").and_then(serde_json::Value::as_u64),
                ErrorCode::BadRequest,
            ),
            Err(_) => reply(None, ErrorCode::BadRequest),
        },
    }
}

fn text_of<T: serde::Serialize>(v: &T) -> Message {
    Message::Text(
        serde_json::to_string(v)
            .expect("wire types serialize")
            .into(),
    )
}

/// Resolves once shutdown has started.
async fn stopped(mut stop: tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Serves one connection. The writer sends the hello push once the connection is registered.
async fn connection(app: Arc<App>, socket: WebSocket, user: i64) {
    let conn = app.next_conn.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(app.cfg.send_queue.max(1));
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
    let stop = app.stop.clone();
    let why = Arc::new(std::sync::Mutex::new(None::<String>));
    let why_w = Arc::clone(&why);
    let queue = app.cfg.send_queue;
    let mut writer = tokio::spawn(async move {
        let reason = loop {
            tokio::select! {
                biased;
                _ = kicked.1.notified() => {
                    break format!("slow consumer: more than {queue} frames queued");
                }
                f = rx.recv() => match f {
                    Some(f) => {
                        // Write what is queued, then flush once.
                        let mut ok = sink.feed(Message::Text(f)).await.is_ok();
                        let mut n = 0;
                        while ok && n < 64 {
                            match rx.try_recv() {
                                Ok(f) => ok = sink.feed(Message::Text(f)).await.is_ok(),
                                Err(_) => break,
                            }
                            n += 1;
                        }
                        if !ok || sink.flush().await.is_err() {
                            return;
                        }
                    }
                    None if kicked.0.load(Ordering::SeqCst) => {
                        break format!("slow consumer: more than {queue} frames queued");
                    }
                    None if *stop.borrow() => break "server shutting down".to_string(),
                    None => {
                        break why_w
                            .lock()
                            .expect("not poisoned")
                            .take()
                            .unwrap_or_else(|| "connection closed".to_string());
                    }
                },
            }
        };
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
            sink.send(text_of(&closing)).await?;
            sink.send(Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })))
            .await?;
            sink.close().await
        })
        .await;
    });
    let stopped = stopped(app.stop.clone());
    tokio::pin!(stopped);
    let mut writer_done = false;
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            _ = &mut writer => {
                writer_done = true;
                break;
            }
            msg = stream.next() => {
                let job = match msg {
                    Some(Err(e)) => {
                        // E.g. a frame over the hard limit: say why before closing.
                        *why.lock().expect("not poisoned") = Some(format!("protocol error: {e}"));
                        break;
                    }
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Ok(Message::Text(t))) => frame_job(user, conn, t.as_str()),
                    Some(Ok(Message::Binary(_))) => Job::Reply {
                        user,
                        conn,
                        frame: error_frame(None, ErrorCode::BadRequest),
                    },
                    Some(Ok(_)) => continue,
                };
                if app.jobs.send(job).await.is_err() {
                    break;
                }
            }
        }
    }
    // The writer answers everything sent before this, then says why it closes.
    let _ = app.jobs.send(Job::Unregister { user, conn }).await;
    if !writer_done {
        let _ = tokio::time::timeout(CLOSE_GRACE, &mut writer).await;
        writer.abort();
    }
}
