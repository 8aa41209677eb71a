//! Durability: every acknowledged receipt and message survives SIGKILL of the real binary
//! (`std::process::Child::kill` is SIGKILL on Unix) and a restart on the same database.

use crate::server_common;

use reqwest::Method;
use serde_json::{Value, json};
use server_common::{Client, admin_call};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Proc {
    pub child: Child,
    pub addr: SocketAddr,
    pub admin: String,
}

/// Starts `readsim serve` on a free loopback port and reads its ready line.
pub(crate) fn spawn(db: &std::path::Path, secret: &str) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .env("READSIM_SECRET", secret)
        .env("READSIM_ADMIN_TOKEN", "admin-secret")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn readsim serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let mut r = BufReader::new(stdout);
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("ready line in time");
    let rest = line
        .trim()
        .strip_prefix("readsim serve listening on ")
        .unwrap_or_else(|| panic!("ready line: {line:?}"));
    let mut parts = rest.split_whitespace();
    let addr: SocketAddr = parts.next().unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0, "the real port is printed");
    let admin = parts
        .find_map(|p| p.strip_prefix("admin_token="))
        .unwrap()
        .to_string();
    assert_eq!(admin, "admin-secret");
    assert!(!line.contains("secret="), "a given secret is not printed");
    Proc { child, addr, admin }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn client(p: &Proc, http: &reqwest::Client, user: &str) -> Client {
    let (st, v) = admin_call(
        http,
        &format!("http://{}/v1/admin/tokens", p.addr),
        &p.admin,
        Method::POST,
        Some(json!({"user_id": user, "ttl_secs": 600})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    Client::connect(p.addr, v["token"].as_str().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_receipts_survive_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readsim.db");
    let secret = "00112233445566778899aabbccddeeff";
    let http = reqwest::Client::new();
    let readers: Vec<String> = (2..=9).map(|i| format!("u{i}")).collect();

    let p = spawn(&db, secret);
    let mut ops = vec![json!({"op": "create_user", "user_id": "u1"})];
    ops.extend(
        readers
            .iter()
            .map(|u| json!({"op": "create_user", "user_id": u})),
    );
    let mut members = vec!["u1".to_string()];
    members.extend(readers.iter().cloned());
    ops.push(json!({"op": "create_group", "group_id": "g1", "type": "Work", "members": members}));
    let (st, v) = admin_call(
        &http,
        &format!("http://{}/v1/admin/batch", p.addr),
        &p.admin,
        Method::POST,
        Some(json!({"ops": ops})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("error").is_none()),
        "{v}"
    );

    let mut sender = client(&p, &http, "u1").await;
    let mut msgs = Vec::new();
    for _ in 0..20 {
        let s = sender
            .ok(json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": true, "body": "b"}))
            .await;
        msgs.push(s["msg_id"].as_str().unwrap().to_string());
    }
    // Each reader acknowledges receipts for a different number of messages, pipelined, and
    // the process dies right after the last acknowledgement arrives.
    let mut expected: Vec<Vec<String>> = vec![Vec::new(); msgs.len()];
    let mut conns = Vec::new();
    for r in &readers {
        conns.push(client(&p, &http, r).await);
    }
    for (k, c) in conns.iter_mut().enumerate() {
        let n = 4 + 2 * k;
        for (i, m) in msgs.iter().take(n).enumerate() {
            c.send_raw(
                json!({"id": i, "op": "send_message_read_receipts", "msg_ids": [m]}).to_string(),
            )
            .await;
        }
    }
    for (k, c) in conns.iter_mut().enumerate() {
        let n = 4 + 2 * k;
        for _ in 0..n {
            let r = c.response().await;
            let i = r["id"].as_u64().unwrap() as usize;
            assert!(r["ok"]["results"][0].get("error").is_none(), "{r}");
            expected[i].push(readers[k].clone());
        }
    }
    let mut p = p;
    p.child.kill().unwrap();
    p.child.wait().unwrap();
    drop(p);

    // Restart on the same database: everything acknowledged is there.
    let p = spawn(&db, secret);
    let mut sender = client(&p, &http, "u1").await;
    let pull = sender
        .ok(json!({"op": "get_message_read_receipts", "msg_ids": msgs}))
        .await;
    for (i, e) in pull["entries"].as_array().unwrap().iter().enumerate() {
        assert_eq!(e["read_count"], expected[i].len(), "{} {e}", msgs[i]);
        assert_eq!(e["unread_count"], 8 - expected[i].len(), "{} {e}", msgs[i]);
    }
    for (i, m) in msgs.iter().enumerate() {
        let page = sender
            .ok(json!({"op": "get_group_message_read_member_list", "msg_id": m, "filter": "read", "next_seq": 0, "count": 100}))
            .await;
        let mut got: Vec<String> = page["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v: &Value| v.as_str().unwrap().to_string())
            .collect();
        got.sort();
        let mut want = expected[i].clone();
        want.sort();
        assert_eq!(got, want, "read list of {m}");
    }
    // Ids keep increasing after the restart; seq continues.
    let s = sender
        .ok(json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": false, "body": ""}))
        .await;
    assert_eq!(s["msg_id"], "m21");
    assert_eq!(s["seq"], 21);
    sender.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("readsim.db");
    let secret = "0badc0de";
    let http = reqwest::Client::new();
    let mut p = spawn(&db, secret);
    let (st, v) = admin_call(
        &http,
        &format!("http://{}/v1/admin/batch", p.addr),
        &p.admin,
        Method::POST,
        Some(json!({"ops": [{"op": "create_user", "user_id": "u1"}, {"op": "create_user", "user_id": "u2"}]})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let mut a = client(&p, &http, "u1").await;
    a.ok(
        json!({"op": "send_message", "conv": {"c2c": "u2"}, "need_read_receipt": true, "body": ""}),
    )
    .await;
    // SIGTERM (no libc here: the kill(1) utility).
    let ok = Command::new("kill")
        .args(["-TERM", &p.child.id().to_string()])
        .status()
        .expect("kill(1) runs")
        .success();
    assert!(ok);
    // The open connection is told why it closes, then closed.
    let f = a.next_frame().await.expect("closing push");
    assert_eq!(f["push"], "closing", "{f}");
    assert_eq!(f["reason"], "server shutting down");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "exits within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
    // Checkpointed: no WAL content left behind.
    let wal = dir.path().join("readsim.db-wal");
    assert!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0,
        "WAL checkpointed"
    );
    drop(p);
    let p = spawn(&db, secret);
    let mut a = client(&p, &http, "u1").await;
    let h = a
        .ok(json!({"op": "get_history", "conv": {"c2c": "u2"}, "before_seq": 0, "count": 10}))
        .await;
    assert_eq!(h["messages"].as_array().unwrap().len(), 1, "{h}");
}
