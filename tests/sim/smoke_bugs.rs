//! The shipped smoke finds every model-side planted bug of its profile: each bug, planted in a
//! copy of the model, makes `scenarios/smoke.toml` fail with the invariant that bug breaks.
//! The scenario runs as shipped but for a shorter traffic phase (90 s of virtual time, the
//! fault phase included), so the test stays short in debug builds; CI runs the full smoke
//! with each bug on the release binary (`.ci/run`).

use readsim::check::Invariant;
use readsim::cmd::sweep::run_seed;
use readsim::scenario::{Dur, Scenario, load_file};
use readsim::target::faulty::Bug;
use std::path::Path;

/// Each Tencent-profile bug and the invariants a smoke run may report for it first.
const EXPECTED: &[(Bug, &[Invariant])] = &[
    (Bug::LostNotification, &[Invariant::Liveness]),
    (
        Bug::PageSkipsEntry,
        &[Invariant::MemberListPaging, Invariant::QuietState],
    ),
    (Bug::PageNeverFinishes, &[Invariant::MemberListPaging]),
    (
        Bug::CountsOneTooMany,
        &[Invariant::CountUpperBound, Invariant::QuietState],
    ),
    (
        Bug::UnreadListsReader,
        &[Invariant::MemberListPaging, Invariant::QuietState],
    ),
    (Bug::LostNotificationAfterReconnect, &[Invariant::Liveness]),
    (
        Bug::LaterJoinerCounted,
        &[
            Invariant::CountSum,
            Invariant::CountUpperBound,
            Invariant::ResultCodes,
            Invariant::QuietState,
        ],
    ),
    (
        Bug::DuplicateCountedTwice,
        &[
            Invariant::CountSum,
            Invariant::CountUpperBound,
            Invariant::QuietState,
        ],
    ),
    (
        Bug::CountBackwardsAfterRestart,
        &[
            Invariant::MonotoneCounts,
            Invariant::PullLowerBound,
            Invariant::QuietState,
        ],
    ),
    (Bug::BatchSizeOffByOne, &[Invariant::ResultCodes]),
    // D1, reported as liveness: the smoke's users hold two connections each.
    (Bug::PushToOneDevice, &[Invariant::Liveness]),
];

/// Bugs of the Matrix profile, which the (Tencent) smoke cannot show: scenarios/matrix-sim.toml
/// finds them (tests/sim/matrix.rs).
const MATRIX_ONLY: &[Bug] = &[
    Bug::MarkerMovesBackwards,
    Bug::EarlierNotCovered,
    Bug::LaterJoinerReceiptDropped,
    Bug::LeaverPullsCounts,
];

fn smoke() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let mut s = load_file(&path).unwrap();
    s.duration = Dur::from_secs(90);
    s
}

#[test]
fn every_planted_model_bug_of_its_profile_is_listed_here() {
    for bug in Bug::ALL {
        let listed = EXPECTED.iter().any(|(b, _)| *b == bug) || MATRIX_ONLY.contains(&bug);
        assert!(
            listed,
            "planted bug {} is new: add it to EXPECTED (with the invariants it breaks) or \
             to MATRIX_ONLY, and make sure scenarios/smoke.toml finds it",
            bug.name()
        );
    }
}

#[test]
fn the_simulated_smoke_finds_every_planted_model_bug() {
    let s = smoke();
    let file = Path::new("scenarios/smoke.toml");
    // Two threads: these machines have two cores.
    let (even, odd): (Vec<_>, Vec<_>) = EXPECTED.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    let run = |part: Vec<(usize, &(Bug, &'static [Invariant]))>| {
        part.into_iter()
            .map(|(_, &(bug, inv))| (bug, inv, run_seed(&s, file, s.seed, Some(bug))))
            .collect::<Vec<_>>()
    };
    let found = std::thread::scope(|scope| {
        let other = scope.spawn(|| run(odd));
        let mut found = run(even);
        found.extend(other.join().unwrap());
        found
    });
    for (bug, expected, r) in found {
        let first = r.first.as_ref().map(|v| v.invariant);
        assert!(
            r.violations > 0 && first.is_some_and(|i| expected.contains(&i)),
            "smoke with {}: {} violations, first {first:?}, expected one of {expected:?}",
            bug.name(),
            r.violations
        );
        assert!(!r.verdict.passed(), "{}: the verdict must fail", bug.name());
    }
}
