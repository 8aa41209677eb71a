//! `compare` on simulated reports: identical runs show no change; doubling the network
//! latency flags the hops that cross the network.

use readsim::compare::{Certainty, Side, Thresholds, compare};
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
    assert!(readsim::compare::render(&worse).contains("REGRESSION"));
}
