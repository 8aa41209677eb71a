//! The command line as users meet it: exit codes 0/1/2/3, reports written, determinism.

use crate::{readsim, stderr};
use std::path::Path;
use std::process::{Command, Output};

fn run_tiny(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "tests/fixtures/tiny.toml",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    readsim(&args)
}

#[test]
fn run_exits_0_and_writes_the_four_reports() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_tiny(dir.path(), &[]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    for f in ["report.json", "run.json", "report.md", "report.html"] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    for k in ["scenario", "seed", "target", "ops", "violations", "latency"] {
        assert!(report.get(k).is_some(), "report.json lacks {k}");
    }
    assert_eq!(report["target"], "model");
    assert_eq!(report["violations"].as_array().unwrap().len(), 0);
    let ops = &report["ops"];
    for k in [
        "send_message",
        "send_message_read_receipts",
        "push_new_message",
        "push_receipts",
        "get_message_read_receipts",
        "get_group_message_read_member_list",
        "get_history",
    ] {
        assert!(ops[k].as_u64().unwrap_or(0) > 0, "no {k} in {ops}");
    }
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("run.json")).unwrap()).unwrap();
    for k in [
        "wall_seconds",
        "virtual_seconds",
        "ops_per_wall_second",
        "peak_rss_bytes",
    ] {
        assert!(run[k].is_number(), "run.json lacks {k}");
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("PASS"), "summary: {stdout}");
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    assert_eq!(run_tiny(a.path(), &[]).status.code(), Some(0));
    assert_eq!(run_tiny(b.path(), &[]).status.code(), Some(0));
    assert_eq!(run_tiny(c.path(), &["--seed", "7"]).status.code(), Some(0));
    let read = |d: &Path| std::fs::read(d.join("report.json")).unwrap();
    assert_eq!(
        read(a.path()),
        read(b.path()),
        "same seed must give identical report.json"
    );
    assert_ne!(
        read(a.path()),
        read(c.path()),
        "another seed must give another report"
    );
}

#[test]
fn check_determinism_flag_passes() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_tiny(dir.path(), &["--check-determinism"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("determinism check: passed"));
}

fn bad_file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(&p, text).unwrap();
    let s = p.to_str().unwrap().to_string();
    (dir, s)
}

#[test]
fn malformed_file_exits_2_with_line() {
    let (_d, p) = bad_file("name = \"x\"\nduration = \"10s\"\n[population\nusers = 5\n");
    for cmd in ["run", "validate"] {
        let o = readsim(&[cmd, &p]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", stderr(&o));
        assert!(stderr(&o).contains(":3"), "line 3 named: {}", stderr(&o));
    }
}

#[test]
fn unknown_field_exits_2_with_line_and_path() {
    let (_d, p) = bad_file(
        "name = \"x\"\nduration = \"10s\"\n[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n[reading]\nread_probabilty = 0.5\n",
    );
    let o = readsim(&["run", &p]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains(":8") && e.contains("reading.read_probabilty"),
        "{e}"
    );
}

#[test]
fn out_of_range_value_exits_2_with_line_and_path() {
    let (_d, p) = bad_file(
        "name = \"x\"\nduration = \"10s\"\n[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n[reading]\nread_probability = 1.5\n",
    );
    let o = readsim(&["validate", &p]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains(":8") && e.contains("reading.read_probability"),
        "{e}"
    );
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(readsim(&["run"]).status.code(), Some(2));
    assert_eq!(readsim(&["frobnicate"]).status.code(), Some(2));
    let o = readsim(&["run", "does/not/exist.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn a_violation_exits_1_and_prints_the_replay_command() {
    // A liveness bound no network can meet: receipts cannot reach senders in 1us.
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml"),
    )
    .unwrap()
    .replace("[checks]", "[checks]\nliveness_bound = \"1us\"");
    let (d, p) = bad_file(&text);
    let out = d.path().join("out");
    let o = readsim(&["run", &p, "--out", out.to_str().unwrap(), "--seed", "5"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains("replay with: readsim run") && e.contains("--seed 5"),
        "{e}"
    );
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(report.contains("\"liveness\""), "violation kind in report");
}

#[test]
fn schema_is_json() {
    let o = readsim(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("schema is JSON");
    assert!(v["properties"]["population"].is_object());
}

/// The tiny fixture with `slo` appended as its `[slo]` section, in a temp dir.
fn tiny_with_slo(slo: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let tiny = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml"),
    )
    .unwrap();
    let path = dir.path().join("slo.toml");
    std::fs::write(&path, format!("{tiny}\n[slo]\n{slo}")).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

#[test]
fn an_slo_tighter_than_achieved_exits_1_and_every_report_names_it() {
    // tiny's send_ack p99 is ~100ms (two network hops of ~20ms median): 1ms cannot hold.
    let (dir, file) =
        tiny_with_slo("send_ack_p99 = \"1ms\"\nnotify_p99 = \"10s\"\nviolations_max = 0\n");
    let out = dir.path().join("out");
    let o = readsim(&["run", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("FAIL     SLO not met: send_ack_p99"),
        "{stdout}"
    );
    assert!(stdout.contains("slo      2 of 3 met"), "{stdout}");
    assert!(
        stderr(&o).contains("SLO not met: send_ack_p99"),
        "{}",
        stderr(&o)
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let first = md.lines().find(|l| l.starts_with("**")).unwrap();
    assert!(
        first.contains("**FAIL**") && first.contains("SLO not met: send_ack_p99"),
        "{first}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("SLO not met: send_ack_p99"));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let slo = report["slo"].as_array().unwrap();
    let failed: Vec<&str> = slo
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["send_ack_p99"]);
    assert!(slo[0]["actual_value"].as_f64().unwrap() > 1000.0);
}

#[test]
fn slos_the_run_meets_exit_0_and_json_summary_lists_them() {
    let (dir, file) = tiny_with_slo(
        "send_ack_p99 = \"10s\"\nreceipt_to_notified_max = \"10s\"\n\
         receipts_per_second_min = 1.0\nops_per_second_min = 5\nviolations_max = 0\n",
    );
    let out = dir.path().join("out");
    let o = readsim(&[
        "run",
        &file,
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(v["verdict"], "pass");
    assert_eq!(v["slo"].as_array().unwrap().len(), 5);
    assert!(v["slo"].as_array().unwrap().iter().all(|r| r["ok"] == true));
    assert_eq!(v["slo_failed"].as_array().unwrap().len(), 0);
    assert!(v["latency"]["send_ack"]["p99_us"].as_u64().unwrap() > 0);
    assert!(v["latency"]["send_ack"].get("hdr").is_none());
    assert!(v["run"]["wall_seconds"].is_number());
    assert_eq!(v["violations_by_invariant"]["count_sum"], 0);
    let not_exercised = v["not_exercised"].as_array().unwrap();
    assert!(
        not_exercised.iter().any(|r| r == "R5"),
        "no churn: {not_exercised:?}"
    );
    assert!(!not_exercised.iter().any(|r| r == "I1"));
}

#[test]
fn a_bad_slo_key_exits_2_with_line_and_path() {
    let (_dir, file) = tiny_with_slo("send_ack_p95 = \"1s\"\n");
    let o = readsim(&["validate", &file]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("slo.send_ack_p95"), "{e}");
    assert!(e.contains("unknown field"), "{e}");
    // The section starts after tiny's last line; the key is the line after `[slo]`.
    let tiny_lines = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml"),
    )
    .unwrap()
    .lines()
    .count();
    assert!(e.contains(&format!(":{}:", tiny_lines + 3)), "{e}");
    let o = readsim(&["run", &file, "--out", _dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_failing_run_shrinks_itself_and_its_report_replays_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tiny.toml");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml"),
        &file,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = readsim(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plant-bug",
        "counts-one-too-many",
        "--shrink",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1), "stderr: {}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("shrunk `"), "{err}");
    let shrunk = dir.path().join("tiny.shrunk.toml");
    let text = std::fs::read_to_string(&shrunk).unwrap();
    assert!(text.contains("--plant-bug counts-one-too-many"), "{text}");

    // The report alone replays the run: same trace, same violations.
    let r = readsim(&["replay", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(0), "{stdout}{}", stderr(&r));
    assert!(stdout.contains("REPRODUCED exactly"), "{stdout}");
    assert!(
        stdout.contains("target=model+bug:counts-one-too-many"),
        "{stdout}"
    );

    // A report that was tampered with does not pass as a replay.
    let path = out.join("report.json");
    let report = std::fs::read_to_string(&path).unwrap();
    let hash = serde_json::from_str::<serde_json::Value>(&report).unwrap()["trace_hash"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(&path, report.replace(&hash, "0000000000000000")).unwrap();
    let r = readsim(&["replay", path.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stdout).contains("NOT REPRODUCED"));

    // Not a report at all: bad input, exit 2.
    let r = readsim(&["replay", file.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(
        stderr(&r).contains("not a readsim report.json"),
        "{}",
        stderr(&r)
    );
}

/// tiny.toml with `edit` applied to its text, in a temporary directory.
fn tiny_edited(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let tiny = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml"),
    )
    .unwrap();
    bad_file(&edit(tiny))
}

#[test]
fn an_unwritable_out_directory_exits_3_not_1() {
    let d = tempfile::tempdir().unwrap();
    // A path below a regular file cannot be created, even by root.
    let file = d.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = run_tiny(&file.join("out"), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
}

#[test]
fn a_live_target_that_is_not_there_exits_3() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("out");
    let o = run_tiny(
        &out,
        &[
            "--target",
            "ws://127.0.0.1:1",
            "--admin-token",
            "t",
            "--quiet",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn a_run_that_exercised_nothing_fails_unless_the_scenario_allows_it() {
    let quiet = |t: String| {
        t.replace(
            "group_messages_per_sec = 4.0",
            "group_messages_per_sec = 0.0",
        )
        .replace("c2c_messages_per_sec = 2.0", "c2c_messages_per_sec = 0.0")
        .replace("per_user_per_minute = 2.0", "per_user_per_minute = 0.0")
    };
    let (d, p) = tiny_edited(quiet);
    let out = d.path().join("out");
    let o = readsim(&["run", &p, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no operation ran"), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("**FAIL**") && !md.contains("**PASS**"), "{md}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("badge fail") && !html.contains("badge pass"));
    assert!(
        md.contains("warning: the scenario sends no messages"),
        "{md}"
    );

    let (d, p) = tiny_edited(|t| quiet(t).replace("[checks]", "[checks]\nallow_no_traffic = true"));
    let out = d.path().join("out");
    let o = readsim(&["run", &p, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn sweep_and_run_agree_on_a_seed_that_only_misses_an_slo() {
    let (dir, file) = tiny_with_slo("send_ack_p99 = \"1ms\"\n");
    let out = dir.path().join("out");
    let run = readsim(&["run", &file, "--out", out.to_str().unwrap(), "--seed", "4"]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    let sweep = readsim(&["sweep", &file, "--seeds", "4"]);
    assert_eq!(sweep.status.code(), Some(1), "{}", stderr(&sweep));
    let text = String::from_utf8_lossy(&sweep.stdout);
    assert!(text.contains("SLO not met: send_ack_p99"), "{text}");
    // Without the SLO both pass.
    let (dir, file) = tiny_with_slo("send_ack_p99 = \"10s\"\n");
    let out = dir.path().join("out");
    let run = readsim(&["run", &file, "--out", out.to_str().unwrap(), "--seed", "4"]);
    assert_eq!(run.status.code(), Some(0), "{}", stderr(&run));
    assert_eq!(
        readsim(&["sweep", &file, "--seeds", "4"]).status.code(),
        Some(0)
    );
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .arg("schema")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read one byte, then hang up, as `readsim schema | head -c1` does.
    let mut one = [0u8; 1];
    child.stdout.as_mut().unwrap().read_exact(&mut one).unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "{err}");
}

/// The rows of report.json's coverage table, by rule id.
fn coverage_rows(dir: &Path) -> std::collections::BTreeMap<String, serde_json::Value> {
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("report.json")).unwrap()).unwrap();
    let rows = report["coverage"]["rules"].as_array().unwrap();
    rows.iter()
        .map(|r| (r["rule"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

/// Rules only membership churn exercises (leavers, later joiners, senders who left).
const CHURN_RULES: [&str; 6] = ["S10", "R3", "R4", "R5", "P3", "I4"];

#[test]
fn without_churn_the_churn_rules_are_not_exercised_and_require_all_fails_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let o = run_tiny(dir.path(), &[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "no requirement by default: {}",
        stderr(&o)
    );
    let rows = coverage_rows(dir.path());
    for id in CHURN_RULES {
        assert_eq!(rows[id]["exercised"], 0, "{id}: {}", rows[id]);
        assert_eq!(rows[id]["outcome"], "not exercised");
        assert!(
            rows[id]["knob"]
                .as_str()
                .unwrap()
                .contains("[churn] per_minute")
        );
    }
    assert!(rows["I1"]["exercised"].as_u64().unwrap() > 0);
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.contains("| R5 | leavers | 0 | not exercised |"), "{md}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("R5  not exercised (leavers); knob: [churn] per_minute"),
        "{stdout}"
    );

    let (all, file) = tiny_edited(|t| format!("{t}require_coverage = \"all\"\n"));
    let out = all.path().join("out");
    let o = readsim(&["run", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("required rules not exercised: "),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let uncovered: Vec<&str> = report["verdict"]["uncovered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for id in CHURN_RULES {
        assert!(uncovered.contains(&id), "{id} in {uncovered:?}");
        assert!(stdout.contains(&format!(" {id},")) || stdout.contains(&format!(" {id} ")));
    }
    assert!(!uncovered.contains(&"I1"), "exercised rules are not named");
    // sweep judges the seed the same way.
    let sweep = readsim(&["sweep", &file, "--seeds", "3"]);
    assert_eq!(sweep.status.code(), Some(1), "{}", stderr(&sweep));
    let text = String::from_utf8_lossy(&sweep.stdout);
    assert!(text.contains("required rules not exercised: "), "{text}");
}

#[test]
fn required_rules_the_run_exercises_pass_and_with_churn_the_churn_rules_are_exercised() {
    let (dir, file) = tiny_edited(|t| {
        let t = t.replace("[checks]", "[churn]\nper_minute = 120\n\n[checks]");
        format!("{t}require_coverage = [\"S10\", \"R5\", \"I1\"]\n")
    });
    let out = dir.path().join("out");
    let o = readsim(&["run", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows = coverage_rows(&out);
    for id in CHURN_RULES {
        assert!(
            rows[id]["exercised"].as_u64().unwrap() > 0,
            "{id}: {}",
            rows[id]
        );
    }
}

#[test]
fn an_unknown_required_rule_exits_2_with_line_and_path() {
    let (_dir, file) = tiny_edited(|t| format!("{t}require_coverage = [\"R5\", \"Q7\"]\n"));
    let o = readsim(&["validate", &file]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(":39: checks.require_coverage[1]: unknown rule id \"Q7\""),
        "{e}"
    );
    let run = readsim(&["run", &file, "--out", "/tmp/never-written"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}

#[test]
fn a_required_rule_the_profile_replaces_exits_2_naming_its_replacement() {
    let (_dir, file) = tiny_edited(|t| {
        format!("{t}require_coverage = [\"P3\"]\n\n[semantics]\nprofile = \"matrix\"\n")
    });
    let o = readsim(&["validate", &file]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(":39: checks.require_coverage[0]: rule P3 does not apply under the matrix profile (replaced by MX11)"),
        "{e}"
    );
}

#[test]
fn serve_flags_reach_the_server_a_short_header_timeout_closes_a_silent_socket() {
    use std::io::{BufRead, Read};
    let mut child = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--memory",
            "--header-timeout",
            "1s",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .split_whitespace()
        .nth(4)
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 64];
    // A socket that sends nothing is closed by the 1 s header timeout (default: 10 s).
    let n = s.read(&mut buf).unwrap_or(usize::MAX);
    let waited = started.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(n, 0, "the server closed the silent socket");
    assert!(waited < std::time::Duration::from_secs(4), "{waited:?}");
}

/// A Matrix target without what it needs is bad usage (exit 2) with the one thing to do:
/// the install command for a missing Synapse, the flag for a homeserver's secret.
#[test]
fn matrix_targets_without_synapse_or_secret_say_how_to_fix_it() {
    let smoke = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/matrix-smoke.toml");
    let smoke = smoke.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(["run", smoke, "--target", "synapse", "--out", out])
        .env("READSIM_SYNAPSE_VENV", dir.path().join("no-venv"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("scripts/install-synapse.sh"),
        "{}",
        stderr(&o)
    );
    let o = readsim(&[
        "run",
        smoke,
        "--target",
        "matrix://127.0.0.1:9",
        "--out",
        out,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--registration-secret"),
        "{}",
        stderr(&o)
    );
}
