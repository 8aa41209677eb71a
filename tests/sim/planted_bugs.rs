//! readsim earns trust by finding bugs: each bug planted in a faulty copy of the model is found
//! by a seed sweep, shrunk to a tiny scenario, and the shrunk case replays the same violation.

use readsim::check::Invariant;
use readsim::cmd::shrink::shrink;
use readsim::cmd::sweep::{run_seed, sweep};
use readsim::scenario::{Scenario, parse_str};
use readsim::target::faulty::Bug;
use std::path::Path;

fn scenario() -> Scenario {
    parse_str(
        r#"
        name = "planted"
        duration = "60s"
        [population]
        users = 120
        online_share = 1.0
        [[groups]]
        count = 10
        type = "Work"
        size = { dist = "uniform", min = 3, max = 15 }
        [[groups]]
        count = 2
        type = "Community"
        size = { dist = "fixed", value = 8 }
        [c2c]
        pairs = 20
        [traffic]
        group_messages_per_sec = 3.0
        c2c_messages_per_sec = 1.0
        [pulls]
        per_user_per_minute = 3.0
        member_list_share = 1.0
        member_list_page = 2
        [checks]
        liveness_bound = "3s"
        final_list_share = 1.0
        "#,
        "planted",
    )
    .unwrap()
}

fn invariant_of(s: &Scenario, seed: u64, bug: Bug) -> Option<Invariant> {
    run_seed(s, Path::new("x.toml"), seed, Some(bug))
        .first
        .map(|v| v.invariant)
}

fn find_shrink_replay(bug: Bug, expected: Invariant) {
    find_shrink_replay_in(scenario(), bug, &[expected]);
}

/// The fault scenario every fault-only bug needs (reconnects, crashes, churn, duplicates).
fn faults_scenario() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/faults.toml");
    readsim::scenario::load_file(&path).unwrap()
}

fn find_shrink_replay_in(s: Scenario, bug: Bug, expected: &[Invariant]) {
    let file = Path::new("planted.toml");
    // The clean model passes the seeds the sweep will try.
    let clean = sweep(&s, file, 1..=3, None, 2, false, |_| {});
    assert_eq!(
        clean.first_failure, None,
        "{bug:?}: the clean model must pass"
    );

    let found = sweep(&s, file, 1..=1000, Some(bug), 2, false, |_| {});
    let seed = found
        .first_failure
        .unwrap_or_else(|| panic!("{bug:?} not found in 1000 seeds"));
    let first = found.results.iter().find(|r| r.seed == seed).unwrap();
    let sig = first.first.as_ref().unwrap().invariant;
    assert!(expected.contains(&sig), "{bug:?} shows as {sig:?}");
    assert!(
        first.first.as_ref().unwrap().replay.contains(bug.name()),
        "the replay command plants the bug"
    );

    let small = shrink(&s, 400, |c| invariant_of(c, seed, bug) == Some(sig)).scenario;
    let groups: u32 = small.groups.iter().map(|g| g.count).sum();
    assert!(
        small.population.users <= 5 && groups <= 2,
        "{bug:?} shrunk only to {} users and {groups} groups",
        small.population.users
    );

    // Replaying the shrunk case gives the same violation, byte for byte.
    let a = run_seed(&small, file, seed, Some(bug));
    let b = run_seed(&small, file, seed, Some(bug));
    let (va, vb) = (a.first.unwrap(), b.first.unwrap());
    assert_eq!(va.invariant, sig);
    assert_eq!(va.to_string(), vb.to_string());
    assert_eq!(a.ops, b.ops);
}

#[test]
fn lost_notification_is_found_shrunk_and_replayed() {
    find_shrink_replay(Bug::LostNotification, Invariant::Liveness);
}

#[test]
fn page_that_skips_an_entry_is_found_shrunk_and_replayed() {
    find_shrink_replay(Bug::PageSkipsEntry, Invariant::MemberListPaging);
}

/// A page that never finishes must end the run with a paging violation, not hang it: the
/// workload stops paging on a stuck cursor and the checker names it.
#[test]
fn page_that_never_finishes_is_found_shrunk_and_replayed() {
    find_shrink_replay(Bug::PageNeverFinishes, Invariant::MemberListPaging);
}

#[test]
fn count_one_too_many_is_found_shrunk_and_replayed() {
    find_shrink_replay(Bug::CountsOneTooMany, Invariant::CountUpperBound);
}

#[test]
fn unread_list_with_a_reader_is_found_shrunk_and_replayed() {
    find_shrink_replay(Bug::UnreadListsReader, Invariant::MemberListPaging);
}

#[test]
fn lost_notification_after_reconnect_is_found_shrunk_and_replayed() {
    find_shrink_replay_in(
        faults_scenario(),
        Bug::LostNotificationAfterReconnect,
        &[Invariant::Liveness],
    );
}

#[test]
fn later_joiner_counted_is_found_shrunk_and_replayed() {
    find_shrink_replay_in(
        faults_scenario(),
        Bug::LaterJoinerCounted,
        &[Invariant::CountSum, Invariant::ResultCodes],
    );
}

#[test]
fn duplicate_counted_twice_is_found_shrunk_and_replayed() {
    find_shrink_replay_in(
        faults_scenario(),
        Bug::DuplicateCountedTwice,
        &[Invariant::CountUpperBound, Invariant::QuietState],
    );
}

#[test]
fn count_backwards_after_restart_is_found_shrunk_and_replayed() {
    find_shrink_replay_in(
        faults_scenario(),
        Bug::CountBackwardsAfterRestart,
        &[
            Invariant::PullLowerBound,
            Invariant::MonotoneCounts,
            Invariant::QuietState,
        ],
    );
}

/// Only several devices per user reveal it (scenarios/devices.toml: three each).
#[test]
fn push_to_one_device_is_found_shrunk_and_replayed() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/devices.toml");
    let s = readsim::scenario::load_file(&path).unwrap();
    find_shrink_replay_in(s, Bug::PushToOneDevice, &[Invariant::Liveness]);
}

#[test]
fn page_that_skips_an_entry_under_faults_is_found_shrunk_and_replayed() {
    find_shrink_replay_in(
        faults_scenario(),
        Bug::PageSkipsEntry,
        &[Invariant::MemberListPaging],
    );
}

#[test]
fn shrink_file_writes_a_small_scenario_that_replays_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("planted.toml");
    let found = sweep(
        &scenario(),
        &file,
        1..=1000,
        Some(Bug::LostNotification),
        2,
        false,
        |_| {},
    );
    let seed = found.first_failure.expect("found");
    let text = readsim::cmd::shrink::to_toml(&scenario(), "original");
    std::fs::write(&file, text).unwrap();

    let report = readsim::cmd::shrink::shrink_file(
        &file,
        Some(seed),
        Some(Bug::LostNotification),
        400,
        None,
    )
    .unwrap();
    assert_eq!(report.signature, Some(Invariant::Liveness));
    let written = report.written.unwrap();
    assert_eq!(written, dir.path().join("planted.shrunk.toml"));
    let replay = report.replay.unwrap();
    let replay = replay.to_string();
    assert!(replay.contains(&format!("--seed {seed}")) && replay.contains("lost-notification"));
    let small = readsim::scenario::load_file(&written).unwrap();
    assert!(small.population.users <= 5);
    assert_eq!(
        invariant_of(&small, seed, Bug::LostNotification),
        Some(Invariant::Liveness)
    );

    // A scenario that passes has nothing to shrink.
    let clean = readsim::cmd::shrink::shrink_file(&file, Some(seed), None, 10, None).unwrap();
    assert!(clean.signature.is_none() && clean.written.is_none());
}
