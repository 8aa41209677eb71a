//! The close codes of docs/protocol.md ("Close codes") not checked elsewhere: 1002 (a
//! WebSocket protocol violation) on any target; 4000 (idle) and 1001 (shutdown) on a scratch
//! server of conform's own, as they need a short idle timeout or stopping the server; 1008
//! (slow consumer) is skipped. 1000, 1007 and 1009 are in `frames.rs`, 4001 and 4002 in
//! `auth.rs`.

use super::frames::{closes_with, fresh_client};
use super::scratch::Scratch;
use super::{Ctx, Outcome, Row, check, expect, skip, skipped};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// Why the server-side checks are skipped against a `ws://` target.
pub const NEEDS_OWN_SERVER: &str = "needs --target server: conform must start the server to \
     lower its limits or stop it";

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    vec![
        check(
            "wire/close",
            "a WebSocket protocol violation: closing, then close 1002",
            protocol_violation(ctx),
        )
        .await,
        check(
            "wire/close",
            "a socket silent for ws_idle_timeout: closing, then close 4000",
            idle(ctx),
        )
        .await,
        check(
            "wire/close",
            "server shutdown: closing \"server shutting down\", then close 1001",
            shutdown(ctx),
        )
        .await,
        skipped(
            "wire/close",
            "a slow consumer: closing, then close 1008",
            "not provocable in bounded time: over 1024 frames must queue behind the socket \
             buffers of both ends (megabytes of pushes on loopback)",
        ),
    ]
}

/// A continuation frame with no message to continue: tungstenite-level framing error that
/// any WebSocket server must refuse.
async fn protocol_violation(ctx: &Ctx) -> Outcome {
    let (_, mut c) = fresh_client(ctx).await?;
    let stray = Frame::message(b"x".to_vec(), OpCode::Data(Data::Continue), true);
    c.send(Message::Frame(stray)).await?;
    closes_with(&mut c, 1002).await
}

async fn idle(ctx: &Ctx) -> Outcome {
    if !ctx.owns_server {
        return Err(skip(NEEDS_OWN_SERVER));
    }
    // No server pings within the check: a ping the client answered would reset the idle
    // clock, and a pong written after the server closed would end the read early.
    let s = Scratch::start(&["--ws-ping-interval", "1h", "--ws-idle-timeout", "2s"]).await?;
    let mut c = s.client("idle").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    closes_with(&mut c, 4000)
        .await
        .map(|seen| format!("{seen} (ws_idle_timeout 2s)"))
}

async fn shutdown(ctx: &Ctx) -> Outcome {
    if !ctx.owns_server {
        return Err(skip(NEEDS_OWN_SERVER));
    }
    let s = Scratch::start(&[]).await?;
    let mut c = s.client("bye").await?;
    s.terminate()?;
    let (frames, close) = c.until_close(Duration::from_secs(10)).await;
    let reason = frames
        .iter()
        .find(|f| f["push"] == "closing")
        .map(|f| f["reason"].clone());
    expect(
        reason.as_ref().and_then(|r| r.as_str()) == Some("server shutting down")
            && close.as_ref().map(|c| c.0) == Some(1001),
        || format!("frames {frames:?}, close {close:?}"),
    )?;
    Ok("closing \"server shutting down\", then 1001".into())
}
