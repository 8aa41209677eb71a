//! What `readsim merge` refuses, for runs and sweeps alike: inputs of different runs (each
//! shard's [`Identity`] must match the first's), the same shard twice, and missing shards
//! (unless `--allow-partial`). Also the error type of the whole command.

use super::sweep_doc::SweepReadError;
use super::{Classify, ExitStatus};
use crate::report::{MergeInfo, ReadError, ReportError};
use crate::scenario::Shard;
use std::path::PathBuf;

/// Which kind of shards a merge joins, for its messages.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Shards of `readsim run`.
    Run,
    /// Shards of `readsim sweep`.
    Sweep,
}

impl Kind {
    /// What one shard's input is.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Run => "report",
            Kind::Sweep => "sweep.json",
        }
    }

    /// The command that makes one shard.
    pub fn command(self) -> &'static str {
        match self {
            Kind::Run => "readsim run FILE --seed S --shard I/N",
            Kind::Sweep => "readsim sweep FILE --seeds A..B --shard I/N --out DIR",
        }
    }
}

/// Shards of `readsim run`.
pub const RUN: Kind = Kind::Run;

/// Shards of `readsim sweep`.
pub const SWEEP: Kind = Kind::Sweep;

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    SweepRead(#[from] SweepReadError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "{path} is not of the same run as {first}: its {what} is {theirs}, not {ours}; merge \
         only the shards of one `{command}` (same file, seed, readsim build and N)",
        command = kind.command()
    )]
    Mismatch {
        path: PathBuf,
        first: PathBuf,
        what: &'static str,
        ours: String,
        theirs: String,
        kind: Kind,
    },
    #[error(
        "{second} and {first} are both shard {shard}: pass each shard's {noun} once (did a \
         shard run twice, or write into another's directory?)",
        noun = kind.noun()
    )]
    Duplicate {
        first: PathBuf,
        second: PathBuf,
        shard: Shard,
        kind: Kind,
    },
    #[error(
        "shard{s} {missing} of {count} missing: run them (`{command}`) and pass their {noun}s, \
         or pass --allow-partial for a merge marked partial",
        s = if missing.contains(',') { "s" } else { "" },
        command = kind.command(),
        noun = kind.noun()
    )]
    Missing {
        missing: String,
        count: u32,
        kind: Kind,
    },
    #[error(
        "{path} is a merged {noun} (of {shards} shards), not a shard's: pass the shards' own \
         (the directories their `--shard I/N` runs wrote)",
        noun = kind.noun()
    )]
    MergedInput {
        path: PathBuf,
        shards: u32,
        kind: Kind,
    },
    #[error(
        "{path} is not a run.json readsim wrote ({detail}); restore it, or move it away to \
         merge without that shard's wall-clock figures"
    )]
    RunJson { path: PathBuf, detail: String },
    #[error(
        "{run} holds a run's report.json and {sweep} a sweep's sweep.json: merge the shards of \
         one run, or of one sweep, at a time"
    )]
    Mixed { run: PathBuf, sweep: PathBuf },
    #[error(
        "cannot write {path}: {source}; check that the directory can be created and written, \
         or choose another --out"
    )]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for MergeError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            MergeError::Report(ReportError::Io { .. }) | MergeError::Write { .. } => {
                ExitStatus::HarnessFailed
            }
            _ => ExitStatus::BadInput,
        }
    }
}

/// What must be the same in every shard of one run or sweep.
pub struct Identity {
    /// Named values shown when they differ (scenario, seed, readsim version, ...).
    pub fields: Vec<(&'static str, String)>,
    /// The effective scenario, compared whole (another file, `--duration`, `--profile`).
    pub config: String,
    pub shard: Shard,
}

/// Sorts `items` by shard and checks they are the shards of one run or sweep (`kind`):
/// same identity and N, no shard twice; returns which shards are there and which are
/// missing (an error unless `allow_partial`).
pub fn check_shards<T>(
    items: &mut [(T, PathBuf)],
    identity: impl Fn(&T) -> Identity,
    kind: Kind,
    allow_partial: bool,
) -> Result<MergeInfo, MergeError> {
    let first = identity(&items[0].0);
    for (item, path) in items.iter().skip(1) {
        same_run(&first, &identity(item), (&items[0].1, path), kind)?;
    }
    items.sort_by_key(|(t, _)| identity(t).shard.index);
    let shards: Vec<Shard> = items.iter().map(|(t, _)| identity(t).shard).collect();
    if let Some(i) = (1..shards.len()).find(|&i| shards[i] == shards[i - 1]) {
        return Err(MergeError::Duplicate {
            first: items[i - 1].1.clone(),
            second: items[i].1.clone(),
            shard: shards[i],
            kind,
        });
    }
    let count = first.shard.count;
    let merged: Vec<u32> = shards.iter().map(|s| s.index).collect();
    let missing: Vec<u32> = (0..count).filter(|i| !merged.contains(i)).collect();
    if !missing.is_empty() && !allow_partial {
        let list: Vec<String> = missing.iter().map(u32::to_string).collect();
        return Err(MergeError::Missing {
            missing: list.join(", "),
            count,
            kind,
        });
    }
    Ok(MergeInfo {
        shards: count,
        merged,
        missing,
        failed: Vec::new(),
    })
}

/// Whether `id` (of the input at `paths.1`) is of the same run as `first` (at `paths.0`).
fn same_run(
    first: &Identity,
    id: &Identity,
    paths: (&PathBuf, &PathBuf),
    kind: Kind,
) -> Result<(), MergeError> {
    let mismatch = |what, ours: String, theirs: String| MergeError::Mismatch {
        path: paths.1.clone(),
        first: paths.0.clone(),
        what,
        ours,
        theirs,
        kind,
    };
    for ((what, ours), (_, theirs)) in first.fields.iter().zip(&id.fields) {
        if ours != theirs {
            return Err(mismatch(what, ours.clone(), theirs.clone()));
        }
    }
    if first.shard.count != id.shard.count {
        let (a, b) = (first.shard.count.to_string(), id.shard.count.to_string());
        return Err(mismatch("shard count N", a, b));
    }
    if first.config != id.config {
        return Err(mismatch(
            "scenario_config",
            "the first's".into(),
            "different (another file or --duration/--profile)".into(),
        ));
    }
    Ok(())
}
