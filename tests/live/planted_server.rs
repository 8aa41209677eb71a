//! Each server bug of `src/server/planted.rs`, planted in the child `readsim serve` of a live
//! run (`READSIM_PLANTED_SERVER_BUG`, which the test build of the binary reads), is found by
//! the live smoke: the run fails (exit 1) and its report names the invariant the bug breaks.
//! The same scenario without a bug passes with every rule exercised (the last test here).
//!
//! Runs two live runs at a time (each is the harness plus a server; the machine may have only
//! two cores). `SCENARIO` is the scenario every bug is run on.

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// The scenario each bug is run on: the live smoke, which is to exercise every rule family
/// (each bug's `needs` says what it takes).
const SCENARIO: &str = "scenarios/smoke-live.toml";

/// Live runs in flight at once.
const PARALLEL: usize = 2;

/// What a run with a bug must show: one of `invariants` counted in `violations_by_invariant`,
/// and, if `needle` is given, a recorded violation of one of them whose observation or bound
/// names it (so a violation of another cause with the same invariant does not count).
struct Expect {
    bug: &'static str,
    rule: &'static str,
    invariants: &'static [&'static str],
    needle: Option<&'static str>,
    /// What the scenario needs for the bug to show (said when it does not).
    needs: &'static str,
}

/// Bugs no workload can show (it never sends bad framing): `tests/live/conform.rs` shows
/// `readsim conform` finding each instead.
const CONFORM_ONLY: &[&str] = &["protocol-error-closes-as-shutdown"];

const BUGS: &[Expect] = &[
    Expect {
        bug: "count-duplicate-receipt",
        rule: "R6",
        invariants: &["count_upper_bound"],
        needle: None,
        needs: "repeated receipts: [faults] crashes >= 1 (every client reconnects, and its \
                catch-up reads and acknowledges again)",
    },
    Expect {
        bug: "later-joiner-counted",
        rule: "R3, S10",
        invariants: &["result_codes"],
        needle: Some("NOT_IN_AUDIENCE"),
        needs: "[churn] per_minute >= 20 with joins (a joiner catches up on history and reads it)",
    },
    Expect {
        bug: "unread-from-current-membership",
        rule: "I1, S10",
        invariants: &["count_sum"],
        needle: None,
        needs: "[churn] per_minute >= 20 (counts observed after a membership change)",
    },
    Expect {
        bug: "skip-leaver-check",
        rule: "R5",
        invariants: &["result_codes"],
        needle: Some("READER_LEFT_GROUP"),
        needs: "[churn] leaves or kicks while the leaver still has reads pending (R5 \
                exercised in the coverage table)",
    },
    Expect {
        bug: "receipts-in-disabled-type",
        rule: "S2",
        invariants: &["result_codes"],
        needle: Some("RECEIPTS_DISABLED_FOR_GROUP_TYPE"),
        needs: "traffic.misuse_share >= 0.3 with the Community class (S2 refusals judged)",
    },
    Expect {
        bug: "unread-page-skips-entry",
        rule: "M4",
        invariants: &["member_list_paging", "quiet_state"],
        needle: Some("Unread list"),
        needs: "pulls.member_list_page below the unread-list sizes, checks.final_list_share",
    },
    Expect {
        bug: "drop-receipts-push",
        rule: "R7",
        invariants: &["liveness"],
        needle: Some("read_count"),
        needs: "traffic.receipt_share, senders online after the fault phase",
    },
    Expect {
        bug: "drop-c2c-read-within-second",
        rule: "C4",
        invariants: &["liveness"],
        needle: Some("c2c_read"),
        needs: "two marks of one chat within a second after the fault phase: 1:1 traffic of \
                >= 0.3 messages a second per pair (c2c.pairs <= 20 at 6 a second)",
    },
    Expect {
        bug: "ack-before-commit",
        rule: "F1",
        invariants: &["pull_lower_bound", "monotone_counts", "quiet_state"],
        needle: None,
        needs: "[faults] crashes >= 1 while receipts flow",
    },
    Expect {
        bug: "push-to-one-device",
        rule: "D1",
        invariants: &["liveness"],
        needle: Some("D1"),
        needs: "[population] devices >= 2",
    },
];

/// One live run of `SCENARIO` with `bug` planted: (exit code, report.json, stderr, server.log).
fn run_with(bug: &str) -> (Option<i32>, Value, String, String) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_readsim"));
    cmd.args(["run", SCENARIO, "--target", "server", "--quiet", "--out"])
        .arg(out.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("READSIM_ADMIN_TOKEN")
        .env_remove("READSIM_PLANTED_SERVER_BUG");
    if !bug.is_empty() {
        cmd.env("READSIM_PLANTED_SERVER_BUG", bug);
    }
    let o = cmd.output().expect("readsim runs");
    let report = std::fs::read(out.path().join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let log = std::fs::read_to_string(out.path().join("server.log")).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.code(), report, stderr, log)
}

/// Why the run of `e` does not show its bug found, if it does not.
fn judge(e: &Expect, code: Option<i32>, report: &Value, stderr: &str, log: &str) -> Option<String> {
    let planted = format!("planted server bug {} ", e.bug);
    let starts = log.matches(&planted).count();
    let restarts = log.matches("=== readsim live driver: restart #").count();
    if starts != 1 + restarts {
        return Some(format!(
            "the server said {starts} times that it runs the bug, over {restarts} restarts; \
             server.log:\n{log}"
        ));
    }
    let counts = &report["violations_by_invariant"];
    let total = |inv: &str| counts[inv].as_u64().unwrap_or(0);
    let found: Vec<&str> = e
        .invariants
        .iter()
        .copied()
        .filter(|i| total(i) > 0)
        .collect();
    let named = match e.needle {
        None => !found.is_empty(),
        Some(n) => report["violations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| {
                found.iter().any(|i| v["invariant"] == *i)
                    && [&v["observed"], &v["bound"]]
                        .iter()
                        .any(|s| s.as_str().is_some_and(|s| s.contains(n)))
            }),
    };
    if code == Some(1) && named {
        return None;
    }
    // The end of stderr: the run's summary and verdict.
    let tail = &stderr[stderr.floor_char_boundary(stderr.len().saturating_sub(2000))..];
    Some(format!(
        "exit {code:?}, violations_by_invariant {counts}; wanted exit 1 and {}{}; the \
         scenario needs {}\nstderr (end): {tail}",
        e.invariants.join(" or "),
        e.needle.map_or(String::new(), |n| format!(" naming {n:?}")),
        e.needs,
    ))
}

#[test]
fn the_live_smoke_finds_every_planted_server_bug() {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(e) = BUGS.get(i) else { break };
                    let t = Instant::now();
                    let (code, report, stderr, log) = run_with(e.bug);
                    eprintln!(
                        "{} ({}): exit {code:?} in {:.0?}, {}",
                        e.bug,
                        e.rule,
                        t.elapsed(),
                        report["violations_by_invariant"]
                    );
                    if let Some(why) = judge(e, code, &report, &stderr, &log) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{} ({}) not found: {why}", e.bug, e.rule));
                    }
                }
            });
        }
    });
    eprintln!(
        "{} planted server bugs on {SCENARIO} in {:.0?}",
        BUGS.len(),
        started.elapsed()
    );
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every bug of the binary is in the table above (or in [`CONFORM_ONLY`]), and an unknown name is a usage error
/// that lists the known ones.
#[test]
fn an_unknown_planted_server_bug_is_a_usage_error_naming_the_bugs() {
    let o = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(["serve", "--memory", "--listen", "127.0.0.1:0"])
        .env("READSIM_PLANTED_SERVER_BUG", "no-such-bug")
        .output()
        .expect("readsim runs");
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let (_, known) = stderr.split_once("known: ").expect("lists the bugs");
    let known: Vec<&str> = known.trim().split(", ").collect();
    let mut table: Vec<&str> = BUGS.iter().map(|e| e.bug).collect();
    table.extend(CONFORM_ONLY);
    assert_eq!(known, table, "{stderr}");
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(SCENARIO)
            .exists()
    );
}

/// Without a bug the live smoke passes, and it puts every rule the checker measures to the
/// test (it requires that itself: `require_coverage = "all"`).
#[test]
fn the_live_smoke_passes_with_every_rule_exercised() {
    let (code, report, stderr, _) = run_with("");
    let tail = &stderr[stderr.floor_char_boundary(stderr.len().saturating_sub(2000))..];
    assert_eq!(code, Some(0), "stderr (end): {tail}");
    let rules = report["coverage"]["rules"]
        .as_array()
        .expect("coverage rows");
    let measured: Vec<&Value> = rules.iter().filter(|r| r["exercised"].is_u64()).collect();
    assert!(measured.len() >= 39, "{} measured rules", measured.len());
    let unexercised: Vec<&Value> = measured
        .iter()
        .filter(|r| r["exercised"] == 0)
        .map(|r| &r["rule"])
        .collect();
    assert!(unexercised.is_empty(), "not exercised: {unexercised:?}");
    assert_eq!(report["violations"].as_array().map(Vec::len), Some(0));
}
