//! "Connections and timeouts" of docs/protocol.md: the connection cap (503 with `Retry-After`
//! and `INTERNAL` over it, `/v1/health` still answered, the slot back once a socket closes)
//! and the request-head and between-requests timeouts. Each on a scratch server of conform's
//! own with a small `--max-connections` or timeout, on loopback, so only with `--target
//! server`; skipped otherwise.

use super::client::Client;
use super::close_codes::NEEDS_OWN_SERVER;
use super::scratch::Scratch;
use super::{Ctx, Outcome, Row, check, expect, skip};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The scratch server's cap.
const CAP: usize = 4;

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    vec![
        check(
            "wire/limits",
            "over max_connections: 503 INTERNAL with Retry-After, health still answered",
            cap(ctx),
        )
        .await,
        check(
            "wire/limits",
            "an unfinished request head is closed after header_timeout",
            head_timeout(ctx),
        )
        .await,
        check(
            "wire/limits",
            "a kept-alive connection with no next request is closed after idle_timeout",
            idle_timeout(ctx),
        )
        .await,
    ]
}

/// A raw HTTP/1.1 exchange on its own connection: the status and the whole answer (head and
/// body), read until the server closes (`Connection: close`).
async fn raw_get(addr: &str, path: &str, bearer: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let rq = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(rq.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf))
        .await
        .map_err(|_| format!("GET {path}: no complete answer within 5s"))?
        .map_err(|e| format!("GET {path}: {e}"))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("GET {path}: not an HTTP answer: {text:?}"))?;
    Ok((status, text))
}

/// The JSON body of a raw answer (after the blank line).
fn body(answer: &str) -> Value {
    answer
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}

async fn cap(ctx: &Ctx) -> Outcome {
    if !ctx.owns_server {
        return Err(skip(NEEDS_OWN_SERVER));
    }
    let s = Scratch::start(&["--max-connections", &CAP.to_string()]).await?;
    let token = s.token("capped").await?;
    let held = fill(&s, &token).await?;
    let (status, answer) = raw_get(&s.addr, "/v1/admin/receipt_config", &s.admin_token).await?;
    let lower = answer.to_ascii_lowercase();
    expect(
        status == 503
            && lower.contains("\r\nretry-after: 1\r\n")
            && body(&answer)["error"]["name"] == "INTERNAL",
        || format!("admin request over the cap: {answer:?}"),
    )?;
    let ws = Client::upgrade(&s.addr, "/v1/ws", Some(&format!("Bearer {token}"))).await?;
    let ws_status = ws.as_ref().err().map(|(st, _)| *st);
    expect(ws_status == Some(503), || {
        format!("upgrade over the cap: {ws_status:?}")
    })?;
    let (hs, health) = raw_get(&s.addr, "/v1/health", "").await?;
    expect(hs == 200 && body(&health)["status"] == "ok", || {
        format!("health over the cap: {health:?}")
    })?;
    for c in held {
        c.close().await;
    }
    freed(&s).await?;
    Ok(format!(
        "cap {CAP}: admin 503 + Retry-After, upgrade 503, health 200; 200 once freed"
    ))
}

/// Holds every slot with WebSocket clients: a socket the server upgraded is surely counted
/// (a bare TCP connect may not be accepted yet). A slot an admin call just left may still be
/// held for a moment, so an upgrade refused with 503 is tried again, for up to 3 s.
async fn fill(s: &Scratch, token: &str) -> Result<Vec<Client>, String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut held = Vec::with_capacity(CAP);
    while held.len() < CAP {
        match Client::upgrade(&s.addr, "/v1/ws", Some(&format!("Bearer {token}"))).await? {
            Ok(c) => held.push(c),
            Err((503, _)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err((st, b)) => return Err(format!("upgrade {} of {CAP}: {st} {b}", held.len() + 1)),
        }
    }
    Ok(held)
}

/// Once held sockets close, an admin request is answered again (within 3 s: the server
/// notices a closed socket asynchronously).
async fn freed(s: &Scratch) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (st, answer) = raw_get(&s.addr, "/v1/admin/receipt_config", &s.admin_token).await?;
        if st == 200 {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "still refused after the sockets closed: {answer:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the server to close `tcp` (EOF or reset) within `within`; the time it took.
async fn closed_within(tcp: &mut TcpStream, within: Duration) -> Result<Duration, String> {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((t0 + within).into(), tcp.read(&mut buf)).await {
            Err(_) => return Err(format!("still open after {within:?}")),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(t0.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

async fn head_timeout(ctx: &Ctx) -> Outcome {
    if !ctx.owns_server {
        return Err(skip(NEEDS_OWN_SERVER));
    }
    let s = Scratch::start(&["--header-timeout", "1s"]).await?;
    let mut tcp = TcpStream::connect(&s.addr)
        .await
        .map_err(|e| e.to_string())?;
    // Half a request head (slowloris): the request line, no blank line.
    tcp.write_all(b"GET /v1/health HTTP/1.1\r\n")
        .await
        .map_err(|e| e.to_string())?;
    let took = closed_within(&mut tcp, Duration::from_secs(6)).await?;
    expect(took >= Duration::from_millis(800), || {
        format!("closed after {took:?}, before header_timeout 1s")
    })?;
    let (st, _) = raw_get(&s.addr, "/v1/health", "").await?;
    expect(st == 200, || format!("a complete request then got {st}"))?;
    Ok(format!(
        "closed after {:.1}s (header_timeout 1s); health 200",
        took.as_secs_f64()
    ))
}

async fn idle_timeout(ctx: &Ctx) -> Outcome {
    if !ctx.owns_server {
        return Err(skip(NEEDS_OWN_SERVER));
    }
    let s = Scratch::start(&["--idle-timeout", "1s"]).await?;
    let mut tcp = TcpStream::connect(&s.addr)
        .await
        .map_err(|e| e.to_string())?;
    let rq = format!("GET /v1/health HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
    tcp.write_all(rq.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .map_err(|_| "no answer to a kept-alive GET /v1/health within 5s".to_string())?
        .map_err(|e| e.to_string())?;
    expect(buf[..n].starts_with(b"HTTP/1.1 200"), || {
        format!("answer {:?}", String::from_utf8_lossy(&buf[..n]))
    })?;
    let took = closed_within(&mut tcp, Duration::from_secs(6)).await?;
    expect(took >= Duration::from_millis(800), || {
        format!("closed {took:?} after the answer, before idle_timeout 1s")
    })?;
    Ok(format!(
        "answered, then closed {:.1}s later (idle_timeout 1s)",
        took.as_secs_f64()
    ))
}
