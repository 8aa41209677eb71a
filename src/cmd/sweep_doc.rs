//! `sweep.json`: what a sweep (`readsim sweep FILE --seeds A..B [--shard I/N] --out DIR`)
//! ran and found, for `readsim merge` to join the sweep's shards into the sweep of the whole
//! range: seeds run, passed and failed, the lowest failing seed, and the first failures with
//! the commands that replay and shrink them. Nothing wall-clock but `wall_seconds`.

use crate::report::MergeInfo;
use crate::scenario::{Scenario, Shard};
use std::path::{Path, PathBuf};

/// Bumped when a field changes meaning; readers refuse other versions.
pub const SWEEP_FORMAT_VERSION: u32 = 1;

/// Failures listed in full (the lowest seeds); `failed` counts them all.
pub const LISTED_FAILURES: usize = 100;

/// sweep.json.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SweepDoc {
    pub format_version: u32,
    pub readsim_version: String,
    pub scenario: String,
    pub scenario_config: Scenario,
    /// The scenario file as the sweep was given it (replay commands name it).
    pub file: String,
    /// The seed range, both ends included.
    pub first_seed: u64,
    pub last_seed: u64,
    /// The slice of the range this sweep ran (`--shard I/N`); absent for the whole range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// `--plant-bug`, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plant_bug: Option<String>,
    pub keep_going: bool,
    /// Every seed of the range (of the shard) ran: true with `--keep-going` or when none
    /// failed; a sweep that stopped at a failure ran every seed below it, not all.
    pub complete: bool,
    pub seeds_run: u64,
    pub passed: u64,
    pub failed: u64,
    /// The lowest failing seed (each shard ran every one of its seeds below its own first
    /// failure, so the merge's lowest is the range's lowest).
    pub first_failure: Option<u64>,
    /// Seeds below `first_failure` (or all seeds run, when none failed) that passed: the
    /// same in a sweep and in the merge of its shards, whether or not they stopped early.
    pub passed_below_first_failure: u64,
    /// The lowest failing seeds, at most [`LISTED_FAILURES`].
    pub failures: Vec<SeedFailure>,
    /// Operations and pushes simulated.
    pub ops: u64,
    pub wall_seconds: f64,
    /// A sweep `readsim merge` joined from shards: which, and which were missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<MergeInfo>,
}

/// One failing seed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SeedFailure {
    pub seed: u64,
    /// Why it failed (the verdict's reasons).
    pub reasons: String,
    /// Its first violation, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<String>,
    pub replay: String,
    pub shrink: String,
}

/// Why a sweep.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SweepReadError {
    #[error(
        "cannot read {path}: {source}; pass the sweep.json a `readsim sweep --out DIR` wrote, \
         or its directory"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readsim sweep.json ({source}); pass the sweep.json of a sweep")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} is sweep format {found}, this readsim reads format {SWEEP_FORMAT_VERSION}: \
         sweep again with this readsim"
    )]
    Version { path: PathBuf, found: u64 },
}

impl SweepDoc {
    /// Reads `path` (sweep.json, or a directory holding one); returns it and the file read.
    pub fn read(path: &Path) -> Result<(SweepDoc, PathBuf), SweepReadError> {
        let file = if path.is_dir() {
            path.join("sweep.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| SweepReadError::Io {
            path: file.clone(),
            source,
        })?;
        let format = |source| SweepReadError::Format {
            path: file.clone(),
            source,
        };
        #[derive(serde::Deserialize)]
        struct Version {
            format_version: Option<u64>,
        }
        let v: Version = serde_json::from_str(&text).map_err(format)?;
        let found = v.format_version.unwrap_or(0);
        if found != u64::from(SWEEP_FORMAT_VERSION) {
            return Err(SweepReadError::Version { path: file, found });
        }
        let doc = serde_json::from_str(&text).map_err(format)?;
        Ok((doc, file))
    }

    /// The file's text: pretty-printed, newline-terminated.
    pub fn to_json_string(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The lowest failing seed's line for people: the seed and how to replay and shrink it.
    pub fn first_failure_lines(&self) -> Option<String> {
        let f = self.failures.first()?;
        Some(format!(
            "seed {} fails. Replay: {}\nShrink:  {}",
            f.seed, f.replay, f.shrink
        ))
    }
}

/// How many seeds of `first..=last` shard `s` owns (seed `x` is shard `x mod N`'s).
pub fn seeds_in_shard(first: u64, last: u64, s: Shard) -> u64 {
    let (n, i) = (u64::from(s.count), u64::from(s.index));
    // Seeds x <= m with x mod n == i.
    let upto = |m: u64| if m < i { 0 } else { (m - i) / n + 1 };
    upto(last) - first.checked_sub(1).map_or(0, upto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_owns_every_nth_seed_of_the_range() {
        for (a, b) in [(1, 300), (0, 0), (5, 17), (7, 7), (0, 1000)] {
            for n in [1u32, 2, 3, 7] {
                let mut total = 0;
                for index in 0..n {
                    let s = Shard { index, count: n };
                    let want = (a..=b).filter(|&x| s.owns_seed(x)).count() as u64;
                    assert_eq!(seeds_in_shard(a, b, s), want, "{a}..{b} {s}");
                    total += want;
                }
                assert_eq!(total, b - a + 1);
            }
        }
    }
}
