//! `readsim merge` of a sweep's shards (`readsim sweep FILE --seeds A..B --shard I/N --out
//! DIR`, I = 0..N-1) into the sweep of the whole range: OUT/sweep.json with the seeds run,
//! passed and failed, the lowest failing seed and the lowest failures with their replay and
//! shrink commands. A shard that stopped at its first failure ran every one of its seeds
//! below it, so the merge's lowest failing seed is the range's, as one sweep finds it.

use super::merge_check::{Identity, MergeError, SWEEP, check_shards};
use super::sweep_doc::{LISTED_FAILURES, SweepDoc, seeds_in_shard};
use super::{ExitStatus, print};
use crate::report::MergeInfo;
use crate::scenario::Shard;
use std::path::{Path, PathBuf};

/// Reads, checks and merges the shards' sweep.json files.
pub fn merge(inputs: &[PathBuf], allow_partial: bool) -> Result<SweepDoc, MergeError> {
    let mut docs = read(inputs)?;
    let identity = |d: &SweepDoc| Identity {
        fields: vec![
            ("scenario", d.scenario.clone()),
            ("seed range", format!("{}..{}", d.first_seed, d.last_seed)),
            ("readsim version", d.readsim_version.clone()),
            (
                "planted bug",
                d.plant_bug.clone().unwrap_or_else(|| "none".into()),
            ),
        ],
        config: serde_json::to_string(&d.scenario_config).unwrap_or_default(),
        shard: d.shard.unwrap_or(Shard::WHOLE),
    };
    let info = check_shards(&mut docs, identity, SWEEP, allow_partial)?;
    let docs: Vec<SweepDoc> = docs.into_iter().map(|(d, _)| d).collect();
    Ok(combine(&docs, info))
}

/// The shards' sweep.json, refusing one that is itself a merge.
fn read(inputs: &[PathBuf]) -> Result<Vec<(SweepDoc, PathBuf)>, MergeError> {
    let mut docs = Vec::with_capacity(inputs.len());
    for p in inputs {
        let (doc, path) = SweepDoc::read(p)?;
        if let Some(m) = &doc.merged {
            return Err(MergeError::MergedInput {
                path,
                shards: m.shards,
                kind: SWEEP,
            });
        }
        docs.push((doc, path));
    }
    Ok(docs)
}

/// The sweep of the whole range from its checked shards (in shard order).
fn combine(docs: &[SweepDoc], info: MergeInfo) -> SweepDoc {
    let first_failure = docs.iter().filter_map(|d| d.first_failure).min();
    let mut failures: Vec<_> = docs.iter().flat_map(|d| d.failures.clone()).collect();
    failures.sort_by_key(|f| f.seed);
    failures.truncate(LISTED_FAILURES);
    let sum = |f: fn(&SweepDoc) -> u64| docs.iter().map(f).sum::<u64>();
    SweepDoc {
        shard: None,
        keep_going: docs.iter().all(|d| d.keep_going),
        complete: info.missing.is_empty() && docs.iter().all(|d| d.complete),
        seeds_run: sum(|d| d.seeds_run),
        passed: sum(|d| d.passed),
        failed: sum(|d| d.failed),
        first_failure,
        passed_below_first_failure: match first_failure {
            Some(f) => docs.iter().map(|d| seeds_below(d, f)).sum(),
            None => sum(|d| d.passed),
        },
        failures,
        ops: sum(|d| d.ops),
        wall_seconds: docs.iter().map(|d| d.wall_seconds).fold(0.0, f64::max),
        merged: Some(info),
        ..docs[0].clone()
    }
}

/// How many of `d`'s seeds lie below `f`: every one of them ran (a shard stops only at its
/// own first failure, which is not below the lowest) and passed (`f` is the lowest failure).
fn seeds_below(d: &SweepDoc, f: u64) -> u64 {
    let s = d.shard.unwrap_or(Shard::WHOLE);
    f.checked_sub(1)
        .filter(|&below| below >= d.first_seed)
        .map_or(0, |below| seeds_in_shard(d.first_seed, below, s))
}

/// Merges, writes OUT/sweep.json and prints the sweep's summary; exit 0 when every seed of
/// the range ran and passed.
pub fn execute(
    inputs: &[PathBuf],
    out: &Path,
    allow_partial: bool,
) -> Result<ExitStatus, MergeError> {
    let doc = merge(inputs, allow_partial)?;
    let path = out.join("sweep.json");
    std::fs::create_dir_all(out)
        .and_then(|()| std::fs::write(&path, doc.to_json_string()))
        .map_err(|source| MergeError::Write {
            path: path.clone(),
            source,
        })?;
    let info = doc.merged.as_ref();
    let mut text = String::new();
    if let Some(line) = info.and_then(|i| i.missing_line()) {
        text.push_str(&format!("{line}\n"));
    }
    text.push_str(&format!(
        "merged {} sweep shard(s) of {} (seeds {}..{}): {} seeds run, {} passed, {} failed{}; \
         {} ops; written to {}\n",
        inputs.len(),
        doc.scenario,
        doc.first_seed,
        doc.last_seed,
        doc.seeds_run,
        doc.passed,
        doc.failed,
        doc.first_failure
            .map_or(String::new(), |f| format!("; lowest failing seed {f}")),
        doc.ops,
        path.display()
    ));
    print(&text);
    if let Some(lines) = doc.first_failure_lines() {
        eprintln!("{lines}");
    }
    Ok(if doc.failed == 0 && doc.complete {
        ExitStatus::Pass
    } else {
        ExitStatus::TargetFailed
    })
}
