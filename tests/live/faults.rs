//! Live fault injection: the child server killed and restarted on its database, and a whole
//! live run with delays, stalls, cuts, crashes and churn through the real binary.

use readsim::live::server::ChildServer;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

/// One HTTP/1.1 request with `Connection: close` over loopback; returns (status, body).
fn http(addr: &str, method: &str, path: &str, bearer: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).expect("response within 10s");
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[test]
fn a_killed_server_restarts_on_its_database_with_the_same_address_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let mut s = ChildServer::start_exe(Path::new(env!("CARGO_BIN_EXE_readsim")), &log).unwrap();
    let addr = s.addr.clone();
    let admin = s.admin_token.clone();
    let create = r#"{"user_id":"u1"}"#;
    assert_eq!(
        http(&addr, "POST", "/v1/admin/users", &admin, create).0,
        200
    );
    let (st, body) = http(
        &addr,
        "POST",
        "/v1/admin/tokens",
        &admin,
        r#"{"user_id":"u1","ttl_secs":3600}"#,
    );
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let user_token = v["token"].as_str().unwrap().to_string();

    s.kill();
    assert!(
        TcpStream::connect(&addr).is_err(),
        "the killed server still accepts connections"
    );
    let moved = s.restart().unwrap();
    assert_eq!(moved, addr != s.addr);
    let addr = s.addr.clone();
    // The user survived the SIGKILL (acknowledged admin writes are durable).
    let (st, body) = http(&addr, "POST", "/v1/admin/users", &admin, create);
    assert_eq!(st, 409, "{body}");
    assert!(body.contains("USER_EXISTS"), "{body}");
    // A token minted before the crash still authenticates (same secret): a valid user token
    // on the admin API is 403 FORBIDDEN, an unknown one 401.
    assert_eq!(
        http(&addr, "POST", "/v1/admin/users", &user_token, create).0,
        403
    );
    assert_eq!(
        http(&addr, "POST", "/v1/admin/users", "not-a-token", create).0,
        401
    );
    s.restart().unwrap();
    assert_eq!(s.restarts, 2);
    let (st, _) = http(&s.addr, "GET", "/v1/health", "", "");
    assert_eq!(st, 200);
    s.stop();
    let log = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        log.matches("killed the server (SIGKILL)").count(),
        2,
        "{log}"
    );
    assert!(
        log.contains("restart #1") && log.contains("restart #2"),
        "{log}"
    );
}

/// The whole fault scenario through the real binary: delays, stalls and cuts in the proxy,
/// three SIGKILL crash-restarts of the child server, churn over the admin API. The run must
/// complete (exit 0) with no violation: in particular the final pulls after the fault phase
/// (`pull_lower_bound`, `quiet_state`) show every acknowledged receipt, so nothing
/// acknowledged was lost in a crash, and every client is connected again at the end.
#[test]
fn faults_live_survives_cuts_stalls_crashes_and_churn() {
    let out = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args([
            "run",
            "scenarios/faults-live.toml",
            "--target",
            "server",
            "--quiet",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("READSIM_ADMIN_TOKEN")
        .output()
        .expect("readsim runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["violations_total"], 0, "{stdout}");
    assert_eq!(report["violations"].as_array().unwrap().len(), 0);
    // The final checks ran: counts pulled and pages listed after the calm.
    assert!(
        report["ops"]["get_message_read_receipts"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    assert!(
        report["ops"]["send_message_read_receipts"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );

    // The server was killed and restarted three times, on the same database.
    let log = std::fs::read_to_string(out.path().join("server.log")).unwrap();
    assert_eq!(
        log.matches("killed the server (SIGKILL)").count(),
        3,
        "{log}"
    );
    assert!(log.contains("restart #3"), "{log}");

    // The driver's own account (run.json `live`): every fault kind happened, every client
    // is back.
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("run.json")).unwrap()).unwrap();
    let live = &run["live"];
    let n = |what: &str| -> u64 {
        live[what]
            .as_u64()
            .unwrap_or_else(|| panic!("no {what:?} in run.json live: {live}"))
    };
    assert_eq!(n("crashes"), 3, "{live}");
    assert_eq!(n("restarts"), 3, "{live}");
    assert!(n("cuts") > 0 && n("stalls") > 0, "{live}");
    assert!(n("admin_ops") > 0, "{live}");
    // Every online client reconnected after each crash.
    assert!(n("reconnects") >= 3 * 150, "{live}");
    assert_eq!(n("connected_at_end"), n("online"), "{live}");
    // The four server instances (three killed) are all in the target's CPU time.
    let server = &run["target_cpu"];
    assert!(server["user_seconds"].as_f64().unwrap() > 0.0, "{run}");
    assert!(n("online") > 150, "{live}");
    // The terminal says the same.
    assert!(stdout.lines().any(|l| l.starts_with("faults ")), "{stdout}");
}
