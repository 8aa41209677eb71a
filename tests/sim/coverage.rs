//! Rule coverage through the whole pipeline: the fault scenario exercises durability (F1),
//! repeated receipts (R6) and the churn rules, and a run without crashes leaves F1 untested,
//! which `require_coverage` turns into a failing verdict.

use readsim::cmd::sweep::run_seed;
use readsim::scenario::{RequireCoverage, Rule, Scenario};
use std::path::{Path, PathBuf};

fn faults() -> (Scenario, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/faults.toml");
    let mut s = readsim::scenario::load_file(&path).unwrap();
    s.checks.require_coverage =
        RequireCoverage::Rules(vec![Rule::F1, Rule::R6, Rule::R5, Rule::S10, Rule::C4]);
    (s, path)
}

#[test]
fn the_fault_scenario_exercises_durability_repeats_and_churn() {
    let (s, path) = faults();
    let r = run_seed(&s, &path, s.seed, None);
    assert_eq!(r.violations, 0);
    assert!(r.verdict.passed(), "{:?}", r.verdict.reasons());
    assert!(r.verdict.uncovered.is_empty());
}

#[test]
fn without_crashes_durability_is_not_exercised_and_the_gate_says_so() {
    let (mut s, path) = faults();
    s.faults.crashes = 0;
    let r = run_seed(&s, &path, s.seed, None);
    assert_eq!(r.violations, 0);
    assert!(!r.verdict.passed());
    assert_eq!(r.verdict.uncovered, ["F1"]);
    let why = r.verdict.reasons().join("; ");
    assert!(why.contains("required rules not exercised: F1"), "{why}");
}
