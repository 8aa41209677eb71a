//! Hostile clients at the door (issue 12): unauthenticated admin bodies, slowloris sockets,
//! and more connections than the server takes. Loopback only, each bounded in time.

use crate::server_common::{self, TestServer, raw_http};

use readsim::server::{ServerConfig, Store};
use server_common::parse_http;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Resident memory of process `pid`, in KiB (`VmRSS` of /proc/PID/status).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("procfs");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Enough descriptors for both ends of a few thousand loopback sockets in this process.
fn raise_nofile(want: u64) {
    let got = rlimit::increase_nofile_limit(want).expect("raise the open-file limit");
    assert!(
        got >= want,
        "open-file limit {got} < {want}; the test needs more"
    );
}

/// Sends the head of an admin POST declaring an 8 MiB body, then all of it but the last byte.
/// Returns what the server answered (possibly nothing if it reset the socket first).
async fn unfinished_admin_body(addr: SocketAddr, auth: &'static str) -> Vec<u8> {
    const BODY: usize = 8 * 1024 * 1024;
    let s = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = s.into_split();
    let head = format!(
        "POST /v1/admin/batch HTTP/1.1\r\nhost: t\r\n{auth}content-type: application/json\r\n\
         content-length: {BODY}\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        let mut left = BODY - 1;
        while left > 0 {
            let n = left.min(chunk.len());
            wr.write_all(&chunk[..n]).await?;
            left -= n;
        }
        // Unfinished: keep the socket open a while, as the attacker would.
        tokio::time::sleep(Duration::from_secs(3)).await;
        Ok::<_, std::io::Error>(wr)
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), rd.read_to_end(&mut answer)).await;
    let _ = writer.await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_admin_bodies_leave_the_server_rss_flat() {
    let dir = tempfile::tempdir().unwrap();
    let p = crate::durability::spawn(&dir.path().join("db.sqlite"), "00ff");
    let pid = p.child.id();
    let (st, _) = raw_http(p.addr, "GET /v1/health HTTP/1.1").await;
    assert_eq!(st, 200);
    let before = rss_kib(pid);
    // 64 connections, half without a credential and half with a wrong one, each sending an
    // unfinished 8 MiB body (512 MiB in all): the 2026 server buffered them all.
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let auth = if i % 2 == 0 {
                ""
            } else {
                "authorization: Bearer wrong\r\n"
            };
            tokio::spawn(unfinished_admin_body(p.addr, auth))
        })
        .collect();
    let mut answered = 0;
    for t in tasks {
        let answer = tokio::time::timeout(Duration::from_secs(60), t)
            .await
            .expect("each attack ends in time")
            .unwrap();
        let (status, body) = parse_http(&answer);
        assert!(status == 401 || status == 0, "{status} {body}");
        if status == 401 {
            assert_eq!(body["error"]["name"], "UNAUTHENTICATED");
            answered += 1;
        }
    }
    let after = rss_kib(pid);
    eprintln!("server VmRSS before {before} KiB, after 64 unfinished 8 MiB bodies {after} KiB");
    assert!(answered > 0, "the attackers were told 401");
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} KiB to {after} KiB: unauthenticated bodies were buffered"
    );
    // And the server still serves.
    let (st, v) = raw_http(p.addr, "GET /v1/health HTTP/1.1").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_bodies_over_the_small_limit_are_refused_unread() {
    let s = TestServer::memory().await;
    let big = serde_json::json!({"user_id": "u1", "pad": "x".repeat(70 * 1024)});
    let (st, v) = s
        .admin(reqwest::Method::POST, "/v1/admin/users", Some(big))
        .await;
    assert_eq!(
        (st, v["error"]["name"].as_str()),
        (413, Some("FRAME_TOO_LARGE"))
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("65536"),
        "{v}"
    );
    s.stop().await;
}

/// A server with short timeouts for the socket tests.
fn short_timeouts(max_connections: usize, header: Duration) -> ServerConfig {
    let mut cfg = ServerConfig::random();
    cfg.max_connections = max_connections;
    cfg.header_timeout = header;
    cfg.idle_timeout = header;
    cfg
}

/// Opens a slowloris socket: a request head that never ends, one header line every 200 ms.
/// Returns how long after connecting the server closed it (None: not within `give_up`).
async fn slowloris(addr: SocketAddr, give_up: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).await.ok()?;
    let mut line: &[u8] = b"GET /v1/health HTTP/1.1\r\n";
    let mut buf = [0u8; 256];
    while start.elapsed() < give_up {
        if s.write_all(line).await.is_err() {
            return Some(start.elapsed());
        }
        line = b"x-slow: 1\r\n";
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => panic!("a head that never ended got an answer"),
            Err(_) => {}
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_sockets_are_closed_by_the_header_timeout_and_fresh_clients_get_answers() {
    raise_nofile(8192);
    let header = Duration::from_secs(2);
    let s = TestServer::start_with(Store::in_memory().unwrap(), short_timeouts(5000, header)).await;
    let addr = s.addr;
    let opened = Instant::now();
    let lorises: Vec<_> = (0..2000)
        .map(|_| tokio::spawn(slowloris(addr, Duration::from_secs(20))))
        .collect();
    // Meanwhile a fresh client asks for /v1/health every 250 ms and is answered each time.
    let answered = Arc::new(AtomicUsize::new(0));
    let probe = {
        let answered = Arc::clone(&answered);
        tokio::spawn(async move {
            while opened.elapsed() < Duration::from_secs(5) {
                let (st, v) = raw_http(addr, "GET /v1/health HTTP/1.1").await;
                assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
                answered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut slowest = Duration::ZERO;
    for l in lorises {
        let closed = l
            .await
            .unwrap()
            .expect("every slowloris socket is closed by the server");
        slowest = slowest.max(closed);
    }
    probe.await.expect("every probe was answered");
    eprintln!(
        "2000 slowloris sockets closed, the last {slowest:?} after it connected (header timeout \
         {header:?}); {} health probes answered meanwhile",
        answered.load(Ordering::Relaxed)
    );
    assert!(
        slowest >= header - Duration::from_millis(300),
        "closed early: {slowest:?}"
    );
    assert!(
        slowest < header + Duration::from_secs(4),
        "closed late: {slowest:?}"
    );
    assert!(answered.load(Ordering::Relaxed) >= 10);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_new_sockets_are_refused_clearly_and_health_answers() {
    raise_nofile(4096);
    let limit = 40;
    let s = TestServer::start_with(
        Store::in_memory().unwrap(),
        short_timeouts(limit, Duration::from_secs(30)),
    )
    .await;
    s.users(&["u1"]).await;
    let token = s.token("u1").await;
    // Silent sockets hold every slot (the header timeout is long here).
    let mut holders = Vec::new();
    for _ in 0..limit {
        holders.push(TcpStream::connect(s.addr).await.unwrap());
    }
    let refused = "GET /v1/admin/receipt_config HTTP/1.1";
    let deadline = Instant::now() + Duration::from_secs(10);
    let (st, v) = loop {
        let (st, v) = raw_http(s.addr, refused).await;
        if st == 503 || Instant::now() > deadline {
            break (st, v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("over the limit: HTTP {st} {v}");
    assert_eq!(st, 503, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("connection limit (40 open connections)"),
        "{msg}"
    );
    let (st, v) = raw_http(s.addr, "GET /v1/health HTTP/1.1").await;
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")), "{v}");
    // A WebSocket client is refused with the same answer, not left hanging.
    let (st, v) = server_common::Client::connect(s.addr, &token)
        .await
        .err()
        .unwrap();
    assert_eq!(st, 503, "{v}");
    // Slots come back when sockets close.
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (st, _) = raw_http(s.addr, refused).await;
        if st == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never came back ({st})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    s.client("u1").await.close().await;
    s.stop().await;
}
