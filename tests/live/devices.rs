//! Several devices per user, live (`[population] devices`, issue 11): each device is its own
//! WebSocket with the user's token, every push must reach each of them (D1), and a server
//! that pushes to a user's first connection only is caught.

use super::{json, readsim, text};
use readsim::server::{ServerBug, ServerConfig, Store};

/// How many times the run exercised `rule` (report.json's coverage table).
fn exercised(report: &serde_json::Value, rule: &str) -> u64 {
    let rows = report["coverage"]["rules"].as_array().unwrap();
    let row = rows.iter().find(|r| r["rule"] == rule);
    row.and_then(|r| r["exercised"].as_u64()).unwrap_or(0)
}

#[test]
fn three_devices_per_user_against_a_child_server_pass_and_every_device_gets_every_push() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    // Sockets on two worker threads: every other live test takes the default, which on a
    // machine of up to 2 CPUs runs them on the scheduler's thread.
    let args = ["run", "scenarios/devices.toml", "--target", "server"];
    let o = readsim(&[&args[..], &["--io-threads", "2", "--quiet", "--out", dir]].concat());
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    let report = json(&out.path().join("report.json"));
    assert_eq!(report["violations_total"], 0);
    assert!(exercised(&report, "D1") > 100, "{}", report["coverage"]);
    let run = json(&out.path().join("run.json"));
    assert_eq!(run["live"]["io_threads"], 2, "{run}");
    let by: Vec<u64> = (run["live"]["pushes_by_device"].as_array())
        .unwrap_or_else(|| panic!("pushes_by_device in {run}"))
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    assert_eq!(by.len(), 3, "{by:?}");
    assert!(by[0] > 100 && by.iter().all(|&n| n == by[0]), "{by:?}");
    assert!(stdout.contains("pushes per device"), "{stdout}");
    // Each online user holds three connections.
    let online = run["live"]["online"].as_u64().unwrap();
    assert_eq!(run["peak_clients"].as_u64(), Some(3 * online), "{run}");
}

#[test]
fn a_server_that_pushes_to_the_first_device_only_is_caught_by_d1() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut cfg = ServerConfig::random();
    cfg.planted_bug = Some(ServerBug::PushToOneDevice);
    let token = cfg.admin_token.clone();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(readsim::server::run(
        listener,
        Store::in_memory().unwrap(),
        cfg,
        async {
            let _ = stopped.await;
        },
    ));
    let out = tempfile::tempdir().unwrap();
    let url = format!("ws://{addr}");
    let o = readsim(&[
        "run",
        "scenarios/devices.toml",
        "--target",
        &url,
        "--admin-token",
        &token,
        "--duration",
        "6s",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let _ = stop.send(());
    let _ = rt.block_on(server);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{stderr}");
    let report = json(&out.path().join("report.json"));
    let first = &report["violations"][0];
    assert_eq!(first["invariant"], "liveness", "{first}");
    assert!(
        first["bound"].as_str().unwrap().starts_with("D1: "),
        "{first}"
    );
    assert!(
        first["observed"]
            .as_str()
            .unwrap()
            .contains("device 1, device 2 of the same user"),
        "{first}"
    );
    // Device 0 registered first and got everything: nothing else is wrong.
    let by = &report["violations_by_invariant"];
    assert_eq!(by["liveness"], report["violations_total"], "{by}");
}
