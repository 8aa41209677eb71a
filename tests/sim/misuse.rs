//! Misuse (`[pulls] misuse_share`, issue 11): malformed and misdirected receipt batches,
//! count pulls and member lists exercise the rules no well-formed call can (R1, P1, P2, M1;
//! MX5 under the Matrix profile), the correct model passes every one of them, and planted
//! bugs on the same paths are still found with the knob on.

use readsim::check::Checker;
use readsim::cmd::sweep::{run_seed, sweep};
use readsim::protocol::{ErrorCode, Profile};
use readsim::scenario::{RequireCoverage, Rule, Scenario};
use readsim::target::faulty::Bug;
use std::path::{Path, PathBuf};

fn misuse() -> (Scenario, PathBuf) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/misuse.toml");
    (readsim::scenario::load_file(&path).unwrap(), path)
}

/// Every seed passes with zero violations, and the gate (every rule in `rules` exercised)
/// holds for each.
fn sweep_passes(s: &Scenario, path: &Path, rules: &[Rule]) {
    let mut s = s.clone();
    s.checks.require_coverage = RequireCoverage::Rules(rules.to_vec());
    let sw = sweep(&s, path, 1..=20, None, 2, true, |_| {});
    for r in &sw.results {
        assert_eq!(r.violations, 0, "seed {}: {:?}", r.seed, r.first);
        assert!(r.passed(), "seed {}: {:?}", r.seed, r.verdict.reasons());
    }
    assert_eq!(sw.results.len(), 20);
}

#[test]
fn misuse_exercises_the_batch_and_permission_rules_on_every_seed() {
    let (s, path) = misuse();
    assert_eq!(
        s.checks.require_coverage.rules(),
        [Rule::R1, Rule::P1, Rule::P2, Rule::M1],
        "the shipped scenario gates on them itself"
    );
    sweep_passes(&s, &path, &[Rule::R1, Rule::P1, Rule::P2, Rule::M1]);
}

#[test]
fn under_the_matrix_profile_mixed_batches_are_accepted_and_exercise_mx5() {
    let (mut s, path) = misuse();
    s.semantics.profile = Profile::Matrix;
    sweep_passes(&s, &path, &[Rule::MX5, Rule::P1, Rule::P2, Rule::M1]);
}

/// The counts behind the gate, for one seed: each kind of refusal was expected and judged.
#[test]
fn each_refusal_is_judged_and_counted() {
    let (s, _) = misuse();
    let model = readsim::target::ModelTarget::new(readsim::model::Model::with_profile(
        s.receipts.config(),
        s.semantics.profile,
    ));
    let check = readsim::check::CheckConfig::for_scenario(&s, String::new(), 1);
    let out = readsim::observers::simulate(&s, s.seed, &mut { model }, check);
    let checker: &Checker = &out.observers.checker;
    assert_eq!(checker.violations_total(), 0);
    let cov = checker.coverage();
    for code in [
        ErrorCode::BatchSize,
        ErrorCode::MixedConversations,
        ErrorCode::CountOutOfRange,
        ErrorCode::NotGroupMessage,
        ErrorCode::ReceiptNotRequested,
    ] {
        assert!(cov.code_expected(code) > 0, "{code:?} never expected");
    }
    for rule in [Rule::R1, Rule::P1, Rule::P2, Rule::M1] {
        assert!(cov.exercised(rule) > 0, "{rule} not exercised");
    }
}

#[test]
fn without_misuse_the_gate_names_the_rules_it_would_exercise() {
    let (mut s, path) = misuse();
    s.pulls.misuse_share = 0.0;
    let r = run_seed(&s, &path, s.seed, None);
    assert_eq!(r.violations, 0);
    assert_eq!(r.verdict.uncovered, ["R1", "P1", "P2", "M1"]);
}

/// Bugs planted on the paths misuse shares (count pulls, member-list pages, receipt batches
/// with duplicate ids) are still found with the knob on.
#[test]
fn planted_bugs_on_the_misused_paths_are_still_found() {
    let (s, path) = misuse();
    for bug in [
        Bug::CountsOneTooMany,
        Bug::PageNeverFinishes,
        Bug::DuplicateCountedTwice,
        Bug::LaterJoinerCounted,
    ] {
        let found = sweep(&s, &path, 1..=20, Some(bug), 2, false, |_| {});
        assert!(found.first_failure.is_some(), "{bug:?} not found");
    }
}

/// A bug only malformed calls reach: the off-by-one batch-size check is found with the knob
/// on and invisible with it off (the well-formed workload never sends 101 ids).
#[test]
fn an_off_by_one_batch_size_check_is_found_only_with_misuse() {
    let (s, path) = misuse();
    let bug = Some(Bug::BatchSizeOffByOne);
    let found = sweep(&s, &path, 1..=5, bug, 2, false, |_| {});
    let seed = found.first_failure.expect("found with misuse on");
    let first = found.results.iter().find(|r| r.seed == seed).unwrap();
    let v = first.first.as_ref().unwrap();
    assert_eq!(v.invariant, readsim::check::Invariant::ResultCodes, "{v:?}");
    let mut quiet = s.clone();
    quiet.pulls.misuse_share = 0.0;
    quiet.checks.require_coverage = RequireCoverage::Nothing;
    let clean = sweep(&quiet, &path, 1..=5, bug, 2, false, |_| {});
    assert_eq!(
        clean.first_failure, None,
        "nothing reaches it without misuse"
    );
}
