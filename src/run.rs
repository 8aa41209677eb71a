//! `readsim run`: load a scenario, drive it, check it, report it.

use crate::check::CheckConfig;
use crate::model::Model;
use crate::pipe::Pipe;
use crate::protocol::ReceiptConfig;
use crate::report::{self, ReportError, RunOutcome, RunStats};
use crate::scenario::{self, Scenario, ScenarioError};
use crate::sim::{self, Observers};
use crate::target::ModelTarget;
use crate::target::Target;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What `readsim run` was asked to do.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub file: PathBuf,
    /// Overrides the scenario's seed.
    pub seed: Option<u64>,
    /// Where the reports go.
    pub out: PathBuf,
    /// Run twice and require identical traces and reports.
    pub check_determinism: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(
        "determinism check failed: two runs of seed {seed} differ (trace hash {first:016x} vs {second:016x}{detail}). Replay with: {replay}. This is a readsim bug: please report it with the scenario file"
    )]
    Nondeterministic {
        seed: u64,
        first: u64,
        second: u64,
        detail: String,
        replay: String,
    },
}

/// The result of a completed run.
pub struct RunSummary {
    pub violations_total: u64,
    /// The terminal summary to print.
    pub terminal: String,
    pub stats: RunStats,
    pub report_json: String,
    pub seed: u64,
    pub replay: String,
}

/// The command that replays a run exactly.
pub fn replay_command(file: &Path, seed: u64) -> String {
    format!("readsim run {} --seed {seed}", file.display())
}

/// Runs a scenario in the simulator against the model and writes the reports.
pub fn run(opts: &RunOptions) -> Result<RunSummary, RunError> {
    let scenario = scenario::load_file(&opts.file)?;
    let seed = opts.seed.unwrap_or(scenario.seed);
    let replay = replay_command(&opts.file, seed);
    let first = simulate(&scenario, seed, &replay)?;
    if opts.check_determinism {
        let second = simulate(&scenario, seed, &replay)?;
        if first.trace_hash != second.trace_hash || first.report_json != second.report_json {
            let detail = if first.report_json != second.report_json {
                ", and report.json differs"
            } else {
                ""
            };
            return Err(RunError::Nondeterministic {
                seed,
                first: first.trace_hash,
                second: second.trace_hash,
                detail: detail.into(),
                replay,
            });
        }
    }
    let run_json = serde_json::to_string_pretty(&first.stats).map_err(ReportError::Json)? + "\n";
    write_file(&opts.out, "report.json", &first.report_json)?;
    write_file(&opts.out, "report.md", &first.markdown)?;
    write_file(&opts.out, "run.json", &run_json)?;
    Ok(RunSummary {
        violations_total: first.violations_total,
        terminal: first.terminal,
        stats: first.stats,
        report_json: first.report_json,
        seed,
        replay,
    })
}

struct Simulated {
    trace_hash: u64,
    report_json: String,
    markdown: String,
    terminal: String,
    stats: RunStats,
    violations_total: u64,
}

fn simulate(scenario: &Scenario, seed: u64, replay: &str) -> Result<Simulated, RunError> {
    let started = Instant::now();
    let config = ReceiptConfig {
        enabled_types: scenario.receipts.enabled_types.clone(),
        max_group_size: scenario.receipts.max_group_size,
    };
    let mut target = ModelTarget::new(Model::new(config));
    let check = CheckConfig {
        liveness_bound: scenario.checks.liveness_bound.micros,
        replay: replay.to_string(),
        max_recorded: 100,
    };
    // Checking and metrics run on a second thread, fed the same ordered history.
    let mut pipe = Pipe::new(Observers::new(check));
    let end = sim::run_observed(scenario, seed, &mut target, &mut pipe);
    let observers = pipe.finish();
    let wall = started.elapsed().as_secs_f64();
    let obs = &observers;
    let virtual_seconds = end as f64 / 1e6;
    let outcome = RunOutcome {
        scenario,
        seed,
        target: target.name().to_string(),
        driver: "sim".into(),
        metrics: &obs.metrics,
        violations: obs.checker.violations(),
        violations_total: obs.checker.violations_total(),
        virtual_seconds,
        trace_hash: obs.trace.value(),
        events: obs.trace.events,
    };
    let total_ops = obs.metrics.total_ops();
    let stats = RunStats {
        wall_seconds: wall,
        virtual_seconds,
        ops_per_wall_second: if wall > 0.0 {
            total_ops as f64 / wall
        } else {
            0.0
        },
        peak_rss_bytes: report::peak_rss_bytes(),
    };
    Ok(Simulated {
        trace_hash: obs.trace.value(),
        report_json: report::report_json_string(&outcome)?,
        markdown: report::report_markdown(&outcome, &stats),
        terminal: report::terminal_summary(&outcome, &stats),
        stats,
        violations_total: obs.checker.violations_total(),
    })
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), ReportError> {
    let io = |path: PathBuf| move |source| ReportError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(io(path.clone()))
}
