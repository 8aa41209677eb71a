//! Seeds of `scenarios/faults.toml` and `scenarios/swarm.toml` on which seed sweeps once
//! found checker bugs (the model was right each time). They stay clean:
//! - faults 93: a member removed while the send was in flight (audience taken at the ack).
//! - faults 580: a receipt for a message the reader saw in history before the sender's ack.
//! - faults 741: a repeat of a lost receipt (first applied while the sender was offline).
//! - faults 145: a mark-read applied while the peer was offline, acknowledged after it
//!   reconnected (no push owed).
//! - swarm 180: the sender removed while its own send was in flight.
//!   (93 was found when faults.toml had `crashes = 2`; the seed is kept all the same.)

use readsim::cmd::sweep::run_seed;
use std::path::Path;

fn clean(file: &str, seeds: &[u64]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let s = readsim::scenario::load_file(&path).unwrap();
    for &seed in seeds {
        let r = run_seed(&s, &path, seed, None);
        assert_eq!(
            r.violations,
            0,
            "{file} seed {seed}: {}",
            r.first.map(|v| v.to_string()).unwrap_or_default()
        );
        assert!(r.ops > 10_000, "{file} seed {seed} ran only {} ops", r.ops);
    }
}

#[test]
fn fault_seeds_that_once_broke_the_checker_stay_clean() {
    clean("scenarios/faults.toml", &[93, 145, 580, 741]);
}

#[test]
fn swarm_seeds_that_once_broke_the_checker_stay_clean() {
    clean("scenarios/swarm.toml", &[180]);
}
