//! `readsim conform` against a child `readsim serve`: every check passes (exit 0); with a
//! planted server bug (`READSIM_PLANTED_SERVER_BUG`, read by the test build of the binary)
//! it fails (exit 1) and a failing row names the rule the bug breaks; bad usage is exit 2 and
//! an unreachable target exit 3. Against a server it did not start (`ws://`), the checks that
//! need their own server are skipped, never failed.

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
        .filter(|c| c["outcome"] == "fail")
        .map(|c| format!("{} {}: {}", c["rule"], c["check"], c["seen"]))
        .collect()
}

#[test]
fn conform_passes_against_readsim_serve() {
    let out = conform(&["--target", "server", "--format", "json"], None);
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{:#?}", failed_rules(&r));
    assert!(r["checks"].as_array().unwrap().len() >= 120, "{r}");
    // Everything that needs conform's own server ran and passed; only 1008 is skipped.
    for name in [
        "doc admin example POST /v1/admin/users",
        "doc admin example PUT /v1/admin/receipt_config",
        "doc admin example POST /v1/admin/batch",
        "doc admin example GET /v1/health",
        "a WebSocket protocol violation: closing, then close 1002",
        "a socket silent for ws_idle_timeout: closing, then close 4000",
        "server shutdown: closing \"server shutting down\", then close 1001",
        "over max_connections: 503 INTERNAL with Retry-After, health still answered",
        "an unfinished request head is closed after header_timeout",
        "a kept-alive connection with no next request is closed after idle_timeout",
    ] {
        assert_eq!(outcome(&r, name), "pass", "{name}: {r}");
    }
    assert_eq!(
        outcome(&r, "a slow consumer: closing, then close 1008"),
        "skipped"
    );
    assert_eq!(r["counts"]["failed"], 0);
    assert_eq!(r["counts"]["skipped"], 1, "{}", r["counts"]);
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
    assert!(table.contains(" passed, 0 failed, 1 skipped;"), "{table}");
}

/// How the check named `name` ended.
fn outcome<'a>(r: &'a Value, name: &str) -> &'a str {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .and_then(|c| c["outcome"].as_str())
        .unwrap_or_else(|| panic!("no check {name:?}"))
}

/// A `readsim serve` of the test's own, in memory; killed on drop.
struct Up(std::process::Child, String);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve() -> Up {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(["serve", "--memory", "--listen", "127.0.0.1:0"])
        .args(["--admin-token", "conform-test"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start readsim serve");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.split_whitespace().nth(4).unwrap().to_string();
    Up(child, addr)
}

#[test]
fn against_a_server_it_did_not_start_conform_skips_what_needs_its_own() {
    let up = serve();
    let url = format!("ws://{}", up.1);
    let args = ["--admin-token", "conform-test", "--format", "json"];
    let out = conform(&[&[url.as_str()][..], &args].concat(), None);
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{:#?}", failed_rules(&r));
    // The admin examples (10), 4000, 1001, 1008 and the three limits.
    assert_eq!(r["counts"]["skipped"], 16, "{}", r["counts"]);
    assert_eq!(r["passed"], true);
    let example = "doc admin example POST /v1/admin/users";
    assert_eq!(outcome(&r, example), "skipped");
    // Opted in, the examples are sent (the server is fresh: the doc's ids are free).
    let out = conform(
        &[&[url.as_str(), "--admin-examples"][..], &args].concat(),
        None,
    );
    let r = report(&out);
    assert_eq!(out.status.code(), Some(0), "{:#?}", failed_rules(&r));
    assert_eq!(outcome(&r, example), "pass");
    assert_eq!(r["counts"]["skipped"], 6, "{}", r["counts"]);
}

#[test]
fn conform_names_the_rule_a_planted_server_bug_breaks() {
    for (bug, rule) in [
        ("count-duplicate-receipt", "R6"),
        ("receipts-in-disabled-type", "S2"),
        ("unread-page-skips-entry", "M4"),
        ("later-joiner-counted", "S10"),
        ("protocol-error-closes-as-shutdown", "wire/close"),
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
