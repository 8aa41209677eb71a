//! `compare` on simulated reports: identical runs show no change; doubling the network
//! latency flags the hops that cross the network.

use crate::readsim;
use readsim::cmd::compare::{Certainty, Side, Thresholds, compare};
use std::path::{Path, PathBuf};
use std::process::Command;

fn run(scenario: &Path, out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn identical_reports_compare_equal_and_doubled_latency_regresses() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml");
    let slow = dir.path().join("slow.toml");
    let text = std::fs::read_to_string(&tiny).unwrap();
    std::fs::write(
        &slow,
        format!(
            "{text}\n[network]\nlatency = {{ dist = \"lognormal\", median = \"40ms\", sigma = 0.5, max = \"1s\" }}\n"
        ),
    )
    .unwrap();
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    run(&tiny, &a);
    run(&tiny, &b);
    run(&slow, &c);
    let side = |p: &PathBuf| Side::load(std::slice::from_ref(p), "test").unwrap();
    let t = Thresholds::default();

    let same = compare(&side(&a), &side(&b), &t);
    assert!(same.simulated);
    assert!(!same.has_regression());
    assert!(same.rows.iter().all(|r| r.delta_pct == 0.0));

    let worse = compare(&side(&a), &side(&c), &t);
    let flagged: Vec<&str> = worse
        .regressions()
        .filter(|r| r.key == "p50")
        .map(|r| r.hop.as_str())
        .collect();
    for hop in [
        "send_ack",
        "delivery_push",
        "receipt_ack",
        "receipt_to_notified",
    ] {
        assert!(flagged.contains(&hop), "{hop} not flagged: {flagged:?}");
    }
    assert!(worse.rows.iter().all(|r| r.certainty == Certainty::Exact));
    assert!(readsim::cmd::compare::render(&worse).contains("REGRESSION"));
}

#[test]
fn compare_cli_exit_codes_formats_and_runs_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml");
    let slow = dir.path().join("slow.toml");
    let text = std::fs::read_to_string(&tiny).unwrap();
    std::fs::write(
        &slow,
        format!(
            "{text}\n[network]\nlatency = {{ dist = \"lognormal\", median = \"40ms\", sigma = 0.5, max = \"1s\" }}\n"
        ),
    )
    .unwrap();
    let p = |name: &str| dir.path().join(name);
    run(&tiny, &p("a1"));
    run(&tiny, &p("a2"));
    run(&slow, &p("b1"));
    let s = |pb: PathBuf| pb.to_str().unwrap().to_string();

    // Identical simulated reports: no change, exit 0.
    let o = readsim(&["compare", &s(p("a1")), &s(p("a2"))]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("no regression") && out.contains("confidence: exact"),
        "{out}"
    );

    // Doubled network latency: exit 1; Markdown puts the verdict and the worst rows first.
    let md_file = p("cmp.md");
    let o = readsim(&[
        "compare",
        &s(p("a1")),
        &s(p("b1")),
        "--format",
        "markdown",
        "--markdown",
        &s(md_file.clone()),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let md = String::from_utf8_lossy(&o.stdout);
    assert_eq!(std::fs::read_to_string(&md_file).unwrap(), md);
    assert!(md.starts_with("**"), "{md}");
    assert!(md.lines().next().unwrap().contains("regression"), "{md}");
    let first_row = md
        .lines()
        .find(|l| l.starts_with("| ") && !l.starts_with("| hop"))
        .unwrap();
    assert!(first_row.contains("REGRESSION"), "{first_row}");

    // JSON: machine-readable verdict and rows.
    let o = readsim(&["compare", &s(p("a1")), &s(p("b1")), "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "regression");
    assert!(v["regressions"].as_u64().unwrap() > 0);
    assert!(v["comparison"]["rows"].as_array().unwrap().len() > 4);

    // --runs 2 expands the prefix `a` to a1, a2; two identical runs per side still agree.
    let o = readsim(&["compare", "--runs", "2", &s(p("a")), &s(p("a"))]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A prefix that names missing runs, or a list with --runs, is bad input: exit 2.
    assert_eq!(
        readsim(&["compare", "--runs", "3", &s(p("a")), &s(p("a"))])
            .status
            .code(),
        Some(2)
    );
    let list = format!("{},{}", s(p("a1")), s(p("a2")));
    assert_eq!(
        readsim(&["compare", "--runs", "2", &list, &list])
            .status
            .code(),
        Some(2)
    );
}

/// Runs held to different rules (here the same traffic, Tencent vs Matrix profile) compare
/// as backends: the columns are named by target and a note says the checked rules differ.
#[test]
fn runs_under_different_rules_compare_as_backends() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny.toml");
    let mx = dir.path().join("mx.toml");
    let text = std::fs::read_to_string(&tiny).unwrap();
    std::fs::write(&mx, format!("{text}\n[semantics]\nprofile = \"matrix\"\n")).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&tiny, &a);
    run(&mx, &b);
    let side = |p: &PathBuf| Side::load(std::slice::from_ref(p), "test").unwrap();
    let same = compare(&side(&a), &side(&a), &Thresholds::default());
    assert!(!same.cross_backend());
    assert!(readsim::cmd::compare::render(&same).contains(" baseline "));
    let c = compare(&side(&a), &side(&b), &Thresholds::default());
    assert!(c.cross_backend());
    assert_eq!(c.base_target.1, "tencent");
    assert_eq!(c.new_target.1, "matrix");
    let text = readsim::cmd::compare::render(&c);
    assert!(
        text.contains("the tencent rules) vs model (the matrix rules)"),
        "{text}"
    );
    assert!(!text.contains(" baseline "), "{text}");
    let md = readsim::cmd::compare::render_markdown(&c);
    assert!(
        md.contains("| hop | key | model/tencent | model/matrix |"),
        "{md}"
    );
}
