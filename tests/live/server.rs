//! Live runs through the real binary: `readsim run --target server` starts `readsim serve`
//! on a loopback port, drives the short live scenario and checks it like a simulated run.

use super::{json, readsim, text};
use std::process::Command;

fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn smoke_live_against_a_child_server_passes_with_the_simulated_report_schema() {
    let live = tempfile::tempdir().unwrap();
    let sim = tempfile::tempdir().unwrap();
    let o = readsim(&[
        "run",
        "scenarios/fleet-live.toml",
        "--target",
        "server",
        "--duration",
        "8s",
        "--drain-timeout",
        "20s",
        "--quiet",
        "--out",
        live.path().to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let s = readsim(&[
        "run",
        "scenarios/fleet-live.toml",
        "--duration",
        "8s",
        "--out",
        sim.path().to_str().unwrap(),
    ]);
    assert_eq!(s.status.code(), Some(0), "stderr: {}", text(&s.stderr));

    let report = json(&live.path().join("report.json"));
    let simulated = json(&sim.path().join("report.json"));
    assert_eq!(
        keys(&report),
        keys(&simulated),
        "report.json schemas differ"
    );
    assert_eq!(report["target"], "server");
    assert_eq!(report["driver"], "live");
    assert_eq!(report["violations"].as_array().unwrap().len(), 0);
    for k in [
        "send_message",
        "send_message_read_receipts",
        "push_receipts",
    ] {
        assert!(
            report["ops"][k].as_u64().unwrap_or(0) > 0,
            "no {k} in {}",
            report["ops"]
        );
    }
    let run = json(&live.path().join("run.json"));
    assert!(run["peak_clients"].as_u64().unwrap() >= 200, "{run}");
    assert!(
        run["acked_receipts_per_second"].as_f64().unwrap() > 0.0,
        "{run}"
    );
    // The default --io-threads for this machine (the rule's own test is in src/live/mod.rs).
    let threads = readsim::live::default_io_threads() as u64;
    assert_eq!(run["live"]["io_threads"], threads, "{run}");
    // The server this run started worked too, and its CPU time is its own, not the harness's.
    let server = &run["target_cpu"];
    let seconds = |c: &serde_json::Value| {
        c["user_seconds"].as_f64().unwrap() + c["system_seconds"].as_f64().unwrap()
    };
    assert!(seconds(server) > 0.0, "{run}");
    assert_ne!(server, &run["cpu"], "{run}");
    // Stopped gracefully, the server logged how its group commit went.
    let log = std::fs::read_to_string(live.path().join("server.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("group commit: "))
        .unwrap_or_else(|| panic!("no group commit line in server.log:\n{log}"));
    assert!(!line.contains("group commit: 0 batches"), "{line}");
    assert!(
        line.contains("a client operation in the writer p50 "),
        "{line}"
    );
    assert!(
        !log.contains('\x1b'),
        "no colour codes in a log file:\n{log}"
    );
    // Simulated run.json stays as it was.
    let sim_run = json(&sim.path().join("run.json"));
    assert!(sim_run.get("peak_clients").is_none());
    assert!(sim_run.get("acked_receipts_per_second").is_none());
}

#[test]
fn live_usage_errors_exit_2() {
    let out = tempfile::tempdir().unwrap();
    let out = out.path().to_str().unwrap();
    let bad_target = readsim(&[
        "run",
        "scenarios/smoke-live.toml",
        "--target",
        "carrier-pigeon",
        "--out",
        out,
    ]);
    assert_eq!(bad_target.status.code(), Some(2));
    assert!(text(&bad_target.stderr).contains("--target"));
    let no_token = readsim(&[
        "run",
        "scenarios/smoke-live.toml",
        "--target",
        "ws://127.0.0.1:9",
        "--out",
        out,
    ]);
    assert_eq!(
        no_token.status.code(),
        Some(2),
        "{}",
        text(&no_token.stderr)
    );
    assert!(text(&no_token.stderr).contains("--admin-token"));
    let determinism = readsim(&[
        "run",
        "scenarios/smoke-live.toml",
        "--target",
        "server",
        "--check-determinism",
        "--out",
        out,
    ]);
    assert_eq!(determinism.status.code(), Some(2));
}

/// Stops the server it holds when dropped (also when an assertion fails).
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn live_run_against_a_server_that_is_already_up() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--memory"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("readsim serve starts");
    let stdout = child.stdout.take().unwrap();
    let _server = Serve(child);
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let (addr, token) = readsim::live::parse_ready(&line).expect("ready line");
    let url = format!("ws://{addr}");
    let out = tempfile::tempdir().unwrap();
    let o = readsim(&[
        "run",
        "scenarios/fleet-live.toml",
        "--target",
        &url,
        "--admin-token",
        &token,
        "--duration",
        "3s",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let report = json(&out.path().join("report.json"));
    assert_eq!(report["target"], url.as_str());
    assert_eq!(report["violations"].as_array().unwrap().len(), 0);
    // Someone else's server: its CPU time is not the run's to report.
    let run = json(&out.path().join("run.json"));
    assert!(run.get("target_cpu").is_none(), "{run}");
    assert!(!text(&o.stdout).contains("the process this run started"));
    // The same server again: provisioning collides, and the run says so instead of checking
    // a history that starts from the wrong state. The harness could not set up its run: that
    // is exit 3, not a verdict on the target (exit 1).
    let again = readsim(&[
        "run",
        "scenarios/fleet-live.toml",
        "--target",
        &url,
        "--admin-token",
        &token,
        "--duration",
        "1s",
        "--quiet",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(3));
    assert!(
        text(&again.stderr).contains("fresh database"),
        "{}",
        text(&again.stderr)
    );
}

/// Processes whose command line mentions `needle` (the child server's temporary database is
/// named after the parent's pid).
fn processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(cmd);
            }
        }
    }
    found
}

#[test]
fn ctrl_c_writes_the_reports_marked_interrupted_and_leaves_no_child_server() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args([
            "run",
            "scenarios/smoke-live.toml",
            "--target",
            "server",
            "--quiet",
            "--out",
            out.path().to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("READSIM_ADMIN_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = run.id();
    // Into the traffic phase (setup takes a second or two), then SIGINT to readsim alone.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let kill = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("interrupted"),
        "{}",
        text(&o.stderr)
    );
    let report = json(&out.path().join("report.json"));
    assert_eq!(report["verdict"]["result"], "fail");
    assert_eq!(report["verdict"]["interrupted"], true);
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(
        md.contains("**FAIL**") && md.contains("interrupted"),
        "{md}"
    );
    assert!(out.path().join("run.json").exists());
    let left = processes_with(&format!("readsim-live-{pid}-"));
    assert!(left.is_empty(), "child server still running: {left:?}");
}

#[test]
fn a_live_run_that_outgrows_max_memory_stops_with_exit_3_and_writes_its_reports() {
    // smoke-live is estimated at ~49 MiB, so 50 MiB passes the check before the run; the
    // process itself (runtime, 540 sockets, the child's pipes) grows past it within seconds.
    let out = tempfile::tempdir().unwrap();
    let o = readsim(&[
        "run",
        "scenarios/smoke-live.toml",
        "--target",
        "server",
        "--quiet",
        "--max-memory",
        "50MiB",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "stderr: {err}");
    assert!(
        err.contains("outgrew the memory budget of 50.0 MiB") && err.contains("--max-memory"),
        "{err}"
    );
    let report = json(&out.path().join("report.json"));
    assert_eq!(report["verdict"]["interrupted"], true, "{report}");
    assert!(out.path().join("run.json").exists());
}
