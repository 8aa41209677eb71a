//! The Matrix semantics profile (docs/matrix.md) in the simulator: its scenario passes a
//! sweep against the model's Matrix rules, and each Matrix-specific planted bug is found by
//! a sweep, shrunk to a few users, and replayed.

use readsim::check::Invariant;
use readsim::cmd::shrink::shrink;
use readsim::cmd::sweep::{run_seed, sweep};
use readsim::scenario::Scenario;
use readsim::target::faulty::Bug;
use std::path::Path;

fn matrix_scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/matrix-sim.toml");
    readsim::scenario::load_file(&path).unwrap()
}

#[test]
fn the_matrix_scenario_passes_a_sweep() {
    let s = matrix_scenario();
    assert!(s.semantics.profile.is_matrix());
    let out = sweep(
        &s,
        Path::new("matrix-sim.toml"),
        1..=30,
        None,
        2,
        false,
        |_| {},
    );
    assert_eq!(
        out.first_failure, None,
        "the model must pass its own profile"
    );
}

fn find_and_shrink(bug: Bug, expected: &[Invariant]) {
    let s = matrix_scenario();
    let file = Path::new("matrix-sim.toml");
    let found = sweep(&s, file, 1..=1000, Some(bug), 2, false, |_| {});
    let seed = found
        .first_failure
        .unwrap_or_else(|| panic!("{bug:?} not found in 1000 seeds"));
    let first = found.results.iter().find(|r| r.seed == seed).unwrap();
    let v = first.first.as_ref().unwrap();
    assert!(expected.contains(&v.invariant), "{bug:?} shows as {v}");
    assert!(
        v.replay.contains(bug.name()),
        "the replay command plants the bug"
    );
    let sig = v.invariant;
    let small = shrink(&s, 400, |c| {
        run_seed(c, file, seed, Some(bug))
            .first
            .map(|v| v.invariant)
            == Some(sig)
    })
    .scenario;
    assert!(
        small.population.users <= 5,
        "{bug:?} shrunk only to {} users",
        small.population.users
    );
    assert!(
        small.semantics.profile.is_matrix(),
        "shrinking keeps the profile"
    );
    let a = run_seed(&small, file, seed, Some(bug)).first.unwrap();
    let b = run_seed(&small, file, seed, Some(bug)).first.unwrap();
    assert_eq!(a.invariant, sig);
    assert_eq!(a.to_string(), b.to_string());
}

const COUNTS: &[Invariant] = &[
    Invariant::PullLowerBound,
    Invariant::QuietState,
    Invariant::MonotoneCounts,
    Invariant::MemberListPaging,
    Invariant::Liveness,
];

#[test]
fn marker_moving_backwards_is_found_and_shrunk() {
    find_and_shrink(Bug::MarkerMovesBackwards, COUNTS);
}

#[test]
fn earlier_messages_not_covered_is_found_and_shrunk() {
    find_and_shrink(Bug::EarlierNotCovered, COUNTS);
}

#[test]
fn a_dropped_later_joiner_receipt_is_found_and_shrunk() {
    find_and_shrink(Bug::LaterJoinerReceiptDropped, COUNTS);
}

#[test]
fn a_leaver_pulling_counts_is_found_and_shrunk() {
    find_and_shrink(Bug::LeaverPullsCounts, &[Invariant::ResultCodes]);
}
