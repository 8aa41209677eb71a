//! `readsim sweep`: one scenario under many seeds, simulated against the model on all cores,
//! stopping at the first failing seed with the command that replays it. Each seed is judged
//! exactly as `readsim run` judges it (invariants, SLOs, a run with no traffic), so a seed
//! fails a sweep if and only if its run fails. Each seed's run is itself deterministic; only
//! the order in which seeds finish depends on the machine.

use super::sweep_doc::{LISTED_FAILURES, SWEEP_FORMAT_VERSION, SeedFailure, SweepDoc};
use crate::check::{CheckConfig, Violation};
use crate::cmd::judge::{Measured, judge};
use crate::cmd::{Classify, ExitStatus, ReplayCommand};
use crate::model::Model;
use crate::observers;
use crate::scenario::{Scenario, Shard};
use crate::target::ModelTarget;
use crate::target::faulty::{Bug, FaultyTarget};
use crate::verdict::Verdict;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Instant;

/// Why a `--seeds` value could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid seed range {0:?}: write N or A..B (both ends included, A <= B), e.g. 1..1000")]
pub struct SeedRangeError(pub String);

/// Parses `N` or `A..B` (inclusive).
pub fn parse_seeds(s: &str) -> Result<RangeInclusive<u64>, SeedRangeError> {
    let err = || SeedRangeError(s.to_string());
    let (a, b) = match s.split_once("..") {
        Some((a, b)) => (a, b.strip_prefix('=').unwrap_or(b)),
        None => (s, s),
    };
    let a: u64 = a.trim().parse().map_err(|_| err())?;
    let b: u64 = b.trim().parse().map_err(|_| err())?;
    if a > b {
        return Err(err());
    }
    Ok(a..=b)
}

/// The outcome of one seed.
#[derive(Clone, Debug)]
pub struct SeedResult {
    pub seed: u64,
    pub violations: u64,
    /// The first violation, if any.
    pub first: Option<Violation>,
    /// Operations and pushes simulated.
    pub ops: u64,
    pub virtual_seconds: f64,
    /// The same verdict `readsim run` gives this seed.
    pub verdict: Verdict,
}

impl SeedResult {
    pub fn passed(&self) -> bool {
        self.verdict.passed()
    }
}

/// The outcome of a sweep.
#[derive(Clone, Debug)]
pub struct SweepSummary {
    /// Every seed that ran, in seed order.
    pub results: Vec<SeedResult>,
    pub wall_seconds: f64,
    /// The lowest failing seed, if any.
    pub first_failure: Option<u64>,
}

impl SweepSummary {
    pub fn total_ops(&self) -> u64 {
        self.results.iter().map(|r| r.ops).sum()
    }
}

/// The command that replays one seed, with the planted bug if any.
pub fn replay(file: &Path, seed: u64, bug: Option<Bug>) -> ReplayCommand {
    ReplayCommand::new(file, seed).with_bug(bug)
}

/// Runs one seed of `scenario` in the simulator against the model (with `bug` planted).
pub fn run_seed(scenario: &Scenario, file: &Path, seed: u64, bug: Option<Bug>) -> SeedResult {
    let config = scenario.receipts.config();
    let model = ModelTarget::new(Model::with_profile(config, scenario.semantics.profile));
    let check = CheckConfig::for_scenario(scenario, replay(file, seed, bug).to_string(), 1);
    let out = match bug {
        None => observers::simulate(scenario, seed, &mut { model }, check),
        Some(b) => observers::simulate(scenario, seed, &mut FaultyTarget::new(model, b), check),
    };
    let checker = &out.observers.checker;
    let virtual_seconds = out.end as f64 / 1e6;
    let (_, verdict) = judge(
        scenario,
        Measured {
            metrics: &out.observers.metrics,
            violations: checker.violations_total(),
            coverage: checker.coverage(),
            seconds: virtual_seconds,
            receipts_per_second: None,
            incomplete: Vec::new(),
            warnings: Vec::new(),
            interrupted: false,
        },
    );
    SeedResult {
        seed,
        violations: checker.violations_total(),
        first: checker.violations().first().cloned(),
        ops: out.observers.metrics.total_ops(),
        virtual_seconds,
        verdict,
    }
}

/// The seeds one sweep process runs: its shard of a range (`--seeds A..B --shard I/N`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seeds {
    pub range: RangeInclusive<u64>,
    /// Seed `s` of the range is run when `s mod N == I`.
    pub shard: Shard,
}

impl Seeds {
    /// The seeds to run, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.range.clone().filter(|&s| self.shard.owns_seed(s))
    }
}

/// Runs `seeds` on `jobs` threads. Unless `keep_going`, no new seed starts once one failed
/// (seeds already running finish). `on_result` sees each result as it completes.
pub fn sweep(
    scenario: &Scenario,
    file: &Path,
    seeds: RangeInclusive<u64>,
    bug: Option<Bug>,
    jobs: usize,
    keep_going: bool,
    on_result: impl FnMut(&SeedResult),
) -> SweepSummary {
    let seeds = Seeds {
        range: seeds,
        shard: Shard::WHOLE,
    };
    sweep_seeds(scenario, file, &seeds, bug, (jobs, keep_going), on_result)
}

/// [`sweep`] over one shard of the seeds; `(jobs, keep_going)` as there.
pub fn sweep_seeds(
    scenario: &Scenario,
    file: &Path,
    seeds: &Seeds,
    bug: Option<Bug>,
    (jobs, keep_going): (usize, bool),
    mut on_result: impl FnMut(&SeedResult),
) -> SweepSummary {
    let started = Instant::now();
    let shard = seeds.shard;
    let (first, last) = (*seeds.range.start(), *seeds.range.end());
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<SeedResult>();
    let mut results = Vec::new();
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed > last || seed < first {
                        break;
                    }
                    if !shard.owns_seed(seed) {
                        continue;
                    }
                    let r = run_seed(scenario, file, seed, bug);
                    if !r.passed() && !keep_going {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if tx.send(r).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for r in rx {
            on_result(&r);
            results.push(r);
        }
    });
    results.sort_by_key(|r| r.seed);
    SweepSummary {
        first_failure: results.iter().find(|r| !r.passed()).map(|r| r.seed),
        results,
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// What `readsim sweep` was asked to do.
pub struct SweepOptions {
    pub file: std::path::PathBuf,
    /// `N` or `A..B`.
    pub seeds: String,
    pub jobs: Option<usize>,
    pub keep_going: bool,
    pub bug: Option<Bug>,
    /// `--shard I/N`: run only the seeds S with S mod N = I.
    pub shard: Shard,
    /// `--out DIR`: write DIR/sweep.json (what ran and failed) for `readsim merge`.
    pub out: Option<std::path::PathBuf>,
}

/// Why a sweep could not start.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Seeds(#[from] SeedRangeError),
    #[error(transparent)]
    Scenario(#[from] crate::scenario::ScenarioError),
    #[error(
        "cannot write {path}: {source}; check that the directory can be created and written, \
         or choose another --out"
    )]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for SweepError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            SweepError::Write { .. } => ExitStatus::HarnessFailed,
            _ => ExitStatus::BadInput,
        }
    }
}

/// `readsim sweep`: a line per seed, a total, and on a failure the replay and shrink commands.
pub fn execute(o: &SweepOptions) -> Result<ExitStatus, SweepError> {
    let range = parse_seeds(&o.seeds)?;
    let scenario = crate::scenario::load_file(&o.file)?;
    let jobs = o
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let seeds = Seeds {
        range,
        shard: o.shard,
    };
    let summary = sweep_seeds(
        &scenario,
        &o.file,
        &seeds,
        o.bug,
        (jobs, o.keep_going),
        |r| super::print(&seed_line(r)),
    );
    let failed = summary.results.iter().filter(|r| !r.passed()).count();
    let ops = summary.total_ops();
    let of_shard = if o.shard.is_whole() {
        String::new()
    } else {
        format!(" (shard {} of seeds {})", o.shard, o.seeds)
    };
    super::print(&format!(
        "{} seeds{of_shard}: {} passed, {} failed; {} ops simulated in {:.1}s ({:.0} ops/s)\n",
        summary.results.len(),
        summary.results.len() - failed,
        failed,
        ops,
        summary.wall_seconds,
        ops as f64 / summary.wall_seconds.max(1e-9)
    ));
    let doc = sweep_doc(o, &scenario, &seeds, &summary);
    if let Some(dir) = &o.out {
        write_doc(&doc, dir)?;
    }
    match doc.first_failure_lines() {
        None => Ok(ExitStatus::Pass),
        Some(lines) => {
            eprintln!("{lines}");
            Ok(ExitStatus::TargetFailed)
        }
    }
}

/// `readsim shrink FILE --seed N [--plant-bug B]`.
fn shrink_command(file: &Path, seed: u64, bug: Option<Bug>) -> String {
    let bug_flag = bug
        .map(|b| format!(" --plant-bug {}", b.name()))
        .unwrap_or_default();
    format!("readsim shrink {} --seed {seed}{bug_flag}", file.display())
}

/// sweep.json of a finished sweep.
fn sweep_doc(o: &SweepOptions, s: &Scenario, seeds: &Seeds, sum: &SweepSummary) -> SweepDoc {
    let (first, last) = (*seeds.range.start(), *seeds.range.end());
    let failed: Vec<&SeedResult> = sum.results.iter().filter(|r| !r.passed()).collect();
    let below = |r: &&SeedResult| sum.first_failure.is_none_or(|f| r.seed < f);
    SweepDoc {
        format_version: SWEEP_FORMAT_VERSION,
        readsim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: s.name.clone(),
        scenario_config: s.clone(),
        file: o.file.display().to_string(),
        first_seed: first,
        last_seed: last,
        shard: Some(o.shard).filter(|s| !s.is_whole()),
        plant_bug: o.bug.map(|b| b.name().to_string()),
        keep_going: o.keep_going,
        complete: sum.results.len() as u64
            == super::sweep_doc::seeds_in_shard(first, last, o.shard),
        seeds_run: sum.results.len() as u64,
        passed: (sum.results.len() - failed.len()) as u64,
        failed: failed.len() as u64,
        first_failure: sum.first_failure,
        passed_below_first_failure: sum.results.iter().filter(below).count() as u64,
        failures: failed
            .iter()
            .take(LISTED_FAILURES)
            .map(|r| SeedFailure {
                seed: r.seed,
                reasons: r.verdict.reasons().join("; "),
                first_violation: r.first.as_ref().map(|v| v.to_string()),
                replay: replay(&o.file, r.seed, o.bug).to_string(),
                shrink: shrink_command(&o.file, r.seed, o.bug),
            })
            .collect(),
        ops: sum.total_ops(),
        wall_seconds: sum.wall_seconds,
        merged: None,
    }
}

/// Writes `dir`/sweep.json.
pub fn write_doc(doc: &SweepDoc, dir: &Path) -> Result<(), SweepError> {
    let path = dir.join("sweep.json");
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, doc.to_json_string()))
        .map_err(|source| SweepError::Write { path, source })
}

fn seed_line(r: &SeedResult) -> String {
    match (&r.first, r.passed()) {
        (_, true) => format!("seed {:>6}  pass  {:>9} ops\n", r.seed, r.ops),
        (Some(v), false) => format!(
            "seed {:>6}  FAIL  {} violation(s), first: {}\n",
            r.seed, r.violations, v
        ),
        (None, false) => format!(
            "seed {:>6}  FAIL  {}\n",
            r.seed,
            r.verdict.reasons().join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_parse() {
        assert_eq!(parse_seeds("1..1000"), Ok(1..=1000));
        assert_eq!(parse_seeds("5..=7"), Ok(5..=7));
        assert_eq!(parse_seeds("42"), Ok(42..=42));
        assert!(parse_seeds("9..3").is_err());
        assert!(parse_seeds("x..3").is_err());
        assert!(parse_seeds("").is_err());
    }

    fn tiny() -> Scenario {
        crate::scenario::parse_str(
            r#"
            name = "sweep-test"
            duration = "20s"
            [population]
            users = 30
            [[groups]]
            count = 3
            type = "Work"
            size = { dist = "uniform", min = 3, max = 6 }
            [c2c]
            pairs = 5
            [checks]
            liveness_bound = "5s"
            "#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn seed_shards_run_every_seed_of_the_range_once() {
        let n = 3;
        let s = tiny();
        let whole = sweep(&s, Path::new("t.toml"), 1..=12, None, 2, true, |_| {});
        let mut union: Vec<(u64, u64)> = Vec::new();
        for index in 0..n {
            let seeds = Seeds {
                range: 1..=12,
                shard: Shard { index, count: n },
            };
            assert!(seeds.iter().all(|x| x % 3 == u64::from(index)));
            let part = sweep_seeds(&s, Path::new("t.toml"), &seeds, None, (2, true), |_| {});
            union.extend(part.results.iter().map(|r| (r.seed, r.ops)));
        }
        union.sort();
        let want: Vec<(u64, u64)> = whole.results.iter().map(|r| (r.seed, r.ops)).collect();
        assert_eq!(
            union, want,
            "same seeds, each run once, with the same results"
        );
    }

    #[test]
    fn a_clean_sweep_runs_every_seed_in_order() {
        let s = tiny();
        let mut seen = 0;
        let sum = sweep(&s, Path::new("t.toml"), 1..=6, None, 2, false, |_| {
            seen += 1
        });
        assert_eq!(seen, 6);
        let seeds: Vec<u64> = sum.results.iter().map(|r| r.seed).collect();
        assert_eq!(seeds, vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(sum.first_failure, None);
        assert!(sum.total_ops() > 0);
        // Each seed is deterministic on its own, whichever thread ran it.
        let again = run_seed(&s, Path::new("t.toml"), 4, None);
        assert_eq!(again.ops, sum.results[3].ops);
    }

    #[test]
    fn a_failing_seed_stops_the_sweep_and_names_its_replay() {
        let mut s = tiny();
        // No push can arrive within 1us: every acknowledged receipt breaks liveness.
        s.checks.liveness_bound = crate::scenario::Dur::from_micros(1);
        let sum = sweep(&s, Path::new("t.toml"), 1..=50, None, 2, false, |_| {});
        let first = sum.first_failure.expect("a failure");
        assert!(sum.results.len() < 50, "stopped early");
        let r = sum.results.iter().find(|r| r.seed == first).unwrap();
        let v = r.first.as_ref().unwrap();
        assert_eq!(v.replay, format!("readsim run t.toml --seed {first}"));
    }
}
