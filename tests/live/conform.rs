//! `readsim conform` against a child `readsim serve`: every check passes (exit 0); with a
//! planted server bug (`READSIM_PLANTED_SERVER_BUG`, read by the test build of the binary)
//! it fails (exit 1) and a failing row names the rule the bug breaks; bad usage is exit 2 and
//! an unreachable target exit 3.

use serde_json::Value;
use std::process::{Command, Output};

fn conform(args: &[&str], bug: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_readsim"));
    cmd.arg("conform").args(args);
    match bug {
        Some(b) => cmd.env("READSIM_PLANTED_SERVER_BUG", b),
        None => cmd.env_remove("READSIM_PLANTED_SERVER_BUG"),
    };
    cmd.env_remove("READSIM_ADMIN_TOKEN");
    cmd.output().expect("run readsim conform")
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn failed_rules(r: &Value) -> Vec<String> {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["pass"] == false)
        .map(|c| format!("{} {}: {}", c["rule"], c["check"], c["seen"]))
        .collect()
}

#[test]
fn conform_passes_against_readsim_serve() {
    let out = conform(&["--target", "server", "--format", "json"], None);
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{:#?}", failed_rules(&r));
    assert!(r["checks"].as_array().unwrap().len() >= 90, "{r}");
    // The coverage list names every rule of docs/semantics.md.
    let listed: Vec<&str> = r["coverage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    for id in ["E1", "S1", "R6", "M6", "C1", "H2", "I5", "F1"] {
        assert!(listed.contains(&id), "{id} missing from {listed:?}");
    }
    // The text table says the same.
    let text = conform(&["server"], None);
    let table = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(0), "{table}");
    assert!(
        table.contains("rules not covered") && table.ends_with("PASS\n"),
        "{table}"
    );
}

#[test]
fn conform_names_the_rule_a_planted_server_bug_breaks() {
    for (bug, rule) in [
        ("count-duplicate-receipt", "R6"),
        ("receipts-in-disabled-type", "S2"),
        ("unread-page-skips-entry", "M4"),
        ("later-joiner-counted", "S10"),
    ] {
        let out = conform(&["--target", "server", "--format", "json"], Some(bug));
        let r = report(&out);
        let failed = failed_rules(&r);
        assert_eq!(out.status.code(), Some(1), "{bug}: {failed:#?}");
        assert!(
            failed.iter().any(|f| f.starts_with(&format!("\"{rule}\""))),
            "{bug} should fail {rule}: {failed:#?}"
        );
    }
}

#[test]
fn conform_bad_usage_is_2_and_an_unreachable_target_3() {
    assert_eq!(conform(&["http://x"], None).status.code(), Some(2));
    assert_eq!(conform(&["ws://127.0.0.1:1"], None).status.code(), Some(2));
    assert_eq!(conform(&[], None).status.code(), Some(2));
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = conform(
        &[&format!("ws://127.0.0.1:{port}"), "--admin-token", "t"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
