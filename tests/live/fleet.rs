//! `scripts/local-fleet.sh`: three shards of the live smoke against one `readsim serve`
//! (loopback), launched as the Kubernetes Job launches them, with a common start, merged.

use super::{json, text};
use std::process::Command;

#[test]
fn three_shards_against_one_server_start_together_and_merge_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet");
    let o = Command::new("bash")
        .arg("scripts/local-fleet.sh")
        .args([
            "3",
            "scenarios/fleet-live.toml",
            "--target",
            "server",
            "--lead",
            "12",
        ])
        .arg("--out")
        .arg(&out)
        .args(["--duration", "6s", "--drain-timeout", "20s"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("READSIM", env!("CARGO_BIN_EXE_readsim"))
        .env_remove("READSIM_ADMIN_TOKEN")
        .env_remove("READSIM_START_AT")
        .output()
        .expect("bash runs");
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let merged = json(&out.join("merged/report.json"));
    assert_eq!(merged["violations_total"], 0);
    assert_eq!(merged["verdict"]["result"], "pass");
    assert_eq!(merged["merged"]["merged"], serde_json::json!([0, 1, 2]));
    let run = json(&out.join("merged/run.json"));
    let mut clients = 0;
    let start = run["start_at_epoch_ms"].as_u64().expect("a common start");
    for i in 0..3 {
        let shard = json(&out.join(format!("shard-{i}/run.json")));
        clients += shard["peak_clients"].as_u64().unwrap();
        // The shards share a server the script started: none of them measured it.
        assert!(shard.get("target_cpu").is_none(), "{shard}");
        let began = shard["traffic_started_at_epoch_ms"].as_u64().unwrap();
        assert!(
            (start..start + 1000).contains(&began),
            "shard {i} began {began}, start {start}"
        );
        let report = json(&out.join(format!("shard-{i}/report.json")));
        assert_eq!(report["shard"]["index"], i);
    }
    assert!(clients > 0);
    assert_eq!(
        run["peak_clients"], clients,
        "merged peak clients = the shards' sum"
    );
    assert!(run["start_spread_ms"].as_u64().unwrap() < 1000);
    assert!(out.join("merged/report.html").exists());
}
