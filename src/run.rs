//! `readsim run`: load a scenario, drive it, check it, report it.

use crate::check::CheckConfig;
use crate::live::{self, LiveError, LiveOptions};
use crate::model::Model;
use crate::observers::Observers;
use crate::pipe::Pipe;
use crate::progress::{CountViolations, SimProgress, Watched};
use crate::report::{self, ReportError, RunOutcome, RunStats};
use crate::scenario::{self, Dur, Scenario, ScenarioError};
use crate::sim;
use crate::slo::{self, SloInputs, SloResult};
use crate::target::ModelTarget;
use crate::target::Target;
use crate::target::faulty::{Bug, FaultyTarget};
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
    /// Drive a real server on the real clock instead of simulating the model (`--target`).
    pub live: Option<LiveOptions>,
    /// Overrides the scenario's traffic duration (`--duration`).
    pub duration: Option<Dur>,
    /// Simulate a copy of the model with this bug planted (`--plant-bug`), to see it caught.
    pub plant_bug: Option<Bug>,
    /// Draw a progress bar on stderr while simulating (the caller checks for a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Live(#[from] LiveError),
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
    /// Every SLO of the scenario and whether the run met it.
    pub slo: Vec<SloResult>,
    /// The terminal summary to print.
    pub terminal: String,
    pub stats: RunStats,
    pub report_json: String,
    pub seed: u64,
    pub replay: String,
    /// Live runs: operations left unanswered or unsent, unreadable frames and dropped
    /// connections (0 for simulated runs). Non-zero means the run is incomplete.
    pub incomplete: u64,
}

impl RunSummary {
    /// Whether every invariant and SLO held and (live) nothing was lost.
    pub fn passed(&self) -> bool {
        self.violations_total == 0 && self.incomplete == 0 && self.slo.iter().all(|r| r.ok)
    }

    /// The machine-readable summary `run --format json` prints: the verdict, SLOs, latency
    /// percentiles per hop (without the histograms), counts, and the wall-clock figures.
    pub fn json_summary(&self, out: &Path) -> serde_json::Value {
        use serde_json::{Value, json};
        let report: Value = serde_json::from_str(&self.report_json).unwrap_or(Value::Null);
        let mut latency = report["latency"].clone();
        if let Some(hops) = latency.as_object_mut() {
            for hop in hops.values_mut() {
                if let Some(h) = hop.as_object_mut() {
                    h.remove("hdr");
                }
            }
        }
        json!({
            "verdict": if self.passed() { "pass" } else { "fail" },
            "scenario": report["scenario"],
            "seed": self.seed,
            "target": report["target"],
            "driver": report["driver"],
            "violations_total": self.violations_total,
            "violations": report["violations"],
            "slo": self.slo,
            "slo_failed": crate::slo::failed_names(&self.slo),
            "incomplete": self.incomplete,
            "ops": report["ops"],
            "errors": report["errors"],
            "latency": latency,
            "ops_per_virtual_second": report["throughput"]["ops_per_virtual_second"],
            "run": self.stats,
            "reports": out.display().to_string(),
            "replay": self.replay,
        })
    }
}

/// The command that replays a run exactly.
pub fn replay_command(file: &Path, seed: u64) -> String {
    format!("readsim run {} --seed {seed}", file.display())
}

/// Runs a scenario in the simulator against the model and writes the reports.
pub fn run(opts: &RunOptions) -> Result<RunSummary, RunError> {
    let mut scenario = scenario::load_file(&opts.file)?;
    if let Some(d) = opts.duration {
        scenario.duration = d;
    }
    let seed = opts.seed.unwrap_or(scenario.seed);
    let mut replay = replay_command(&opts.file, seed);
    if let Some(d) = opts.duration {
        let d = std::time::Duration::from_micros(d.micros);
        replay.push_str(&format!(" --duration {}", humantime::format_duration(d)));
    }
    if let Some(live) = &opts.live {
        replay.push_str(&format!(" --target {}", live.target.name()));
    }
    if let Some(bug) = opts.plant_bug {
        replay.push_str(&format!(" --plant-bug {}", bug.name()));
    }
    let first = match &opts.live {
        Some(live) => {
            if opts.check_determinism {
                return Err(LiveError::Usage(
                    "--check-determinism needs the simulated target (--target model): \
                     live runs are not reproducible in time"
                        .into(),
                )
                .into());
            }
            if opts.plant_bug.is_some() {
                return Err(LiveError::Usage(
                    "--plant-bug plants a bug in the simulated model; it needs --target model"
                        .into(),
                )
                .into());
            }
            run_live(&scenario, seed, &replay, live)?
        }
        None => simulate(&scenario, seed, &replay, opts.plant_bug, opts.progress)?,
    };
    if opts.check_determinism {
        let second = simulate(&scenario, seed, &replay, opts.plant_bug, opts.progress)?;
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
    write_file(&opts.out, "report.html", &first.html)?;
    write_file(&opts.out, "run.json", &run_json)?;
    Ok(RunSummary {
        violations_total: first.violations_total,
        slo: first.slo,
        terminal: first.terminal,
        stats: first.stats,
        report_json: first.report_json,
        seed,
        replay,
        incomplete: first.incomplete,
    })
}

struct Simulated {
    slo: Vec<SloResult>,
    trace_hash: u64,
    report_json: String,
    markdown: String,
    html: String,
    terminal: String,
    stats: RunStats,
    violations_total: u64,
    incomplete: u64,
}

fn simulate(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    bug: Option<Bug>,
    progress: bool,
) -> Result<Simulated, RunError> {
    let config = scenario.receipts.config();
    let model = ModelTarget::new(Model::new(config));
    match bug {
        None => simulate_on(scenario, seed, replay, &mut { model }, progress),
        Some(b) => simulate_on(
            scenario,
            seed,
            replay,
            &mut FaultyTarget::new(model, b),
            progress,
        ),
    }
}

fn simulate_on<T: Target>(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    target: &mut T,
    progress: bool,
) -> Result<Simulated, RunError> {
    let started = Instant::now();
    let check = CheckConfig::for_scenario(scenario, replay.to_string(), 100);
    // Checking and metrics run on a second thread, fed the same ordered history.
    // The progress bar only reads counters the observers publish; the run is the same
    // without it.
    let bar = progress.then(|| SimProgress::start(scenario.duration.micros));
    let counters = bar
        .as_ref()
        .map_or_else(Default::default, |b| b.counters.clone());
    let mut pipe = Pipe::new(CountViolations::new(
        Observers::new(check),
        counters.clone(),
    ));
    let end = match &bar {
        Some(_) => sim::run_observed(
            scenario,
            seed,
            target,
            &mut Watched::new(&mut pipe, &counters),
        ),
        None => sim::run_observed(scenario, seed, target, &mut pipe),
    };
    let observers = pipe.finish().inner;
    if let Some(b) = bar {
        b.finish();
    }
    let wall = started.elapsed().as_secs_f64();
    let obs = &observers;
    let virtual_seconds = end as f64 / 1e6;
    let total_ops = obs.metrics.total_ops();
    let slo = slo::evaluate(
        &scenario.slo,
        &SloInputs {
            metrics: &obs.metrics,
            violations_total: obs.checker.violations_total(),
            receipts_per_second: per_second(
                obs.metrics.completeness.acked_total(),
                virtual_seconds,
            ),
            ops_per_second: per_second(total_ops, virtual_seconds),
        },
    );
    let faults = fault_entries(scenario, seed, &obs.faults);
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
        faults: &faults,
        slo: &slo,
    };
    let stats = RunStats {
        wall_seconds: wall,
        virtual_seconds,
        ops_per_wall_second: if wall > 0.0 {
            total_ops as f64 / wall
        } else {
            0.0
        },
        peak_rss_bytes: report::peak_rss_bytes(),
        acked_receipts_per_second: None,
        peak_clients: None,
    };
    Ok(Simulated {
        slo: slo.clone(),
        trace_hash: obs.trace.value(),
        report_json: report::report_json_string(&outcome)?,
        markdown: report::report_markdown(&outcome, &stats),
        html: report::report_html(&outcome, &stats),
        terminal: report::terminal_summary(&outcome, &stats),
        stats,
        violations_total: obs.checker.violations_total(),
        incomplete: 0,
    })
}

/// Runs `scenario` live against a server (`--target server` or `ws://...`).
fn run_live(
    scenario: &Scenario,
    seed: u64,
    replay: &str,
    opts: &LiveOptions,
) -> Result<Simulated, RunError> {
    let started = Instant::now();
    let check = CheckConfig::for_scenario(scenario, replay.to_string(), 100);
    let out = live::run_live(scenario, seed, check, opts)?;
    let wall = started.elapsed().as_secs_f64();
    let obs = &out.observers;
    let elapsed = out.stats.end as f64 / 1e6;
    let total_ops = obs.metrics.total_ops();
    let slo = slo::evaluate(
        &scenario.slo,
        &SloInputs {
            metrics: &obs.metrics,
            violations_total: obs.checker.violations_total(),
            receipts_per_second: out.stats.acked_receipts_per_second(),
            ops_per_second: per_second(total_ops, elapsed),
        },
    );
    let faults = fault_entries(scenario, seed, &obs.faults);
    let outcome = RunOutcome {
        scenario,
        seed,
        target: out.target_name.clone(),
        driver: "live".into(),
        metrics: &obs.metrics,
        violations: obs.checker.violations(),
        violations_total: obs.checker.violations_total(),
        virtual_seconds: elapsed,
        trace_hash: obs.trace.value(),
        events: obs.trace.events,
        faults: &faults,
        slo: &slo,
    };
    let stats = RunStats {
        wall_seconds: wall,
        virtual_seconds: elapsed,
        ops_per_wall_second: if elapsed > 0.0 {
            total_ops as f64 / elapsed
        } else {
            0.0
        },
        peak_rss_bytes: report::peak_rss_bytes(),
        acked_receipts_per_second: Some(out.stats.acked_receipts_per_second()),
        peak_clients: Some(out.peak_clients),
    };
    let s = &out.stats;
    let mut terminal = report::terminal_summary(&outcome, &stats);
    terminal.push_str(&format!(
        "live     {} clients, setup {:.1}s, {} ops sent, {} answered, {} receipts acked ({:.0}/s), \
         {} outstanding, {} not sent, {} bad frames, {} disconnects\n",
        out.peak_clients,
        out.setup_seconds,
        s.invoked,
        s.completed,
        s.acked_receipts,
        s.acked_receipts_per_second(),
        s.outstanding,
        s.not_sent,
        s.bad_frames,
        s.disconnects
    ));
    let faulty = scenario.faults.any();
    if faulty {
        terminal.push_str(&format!(
            "faults   {} cuts, {} stalls, {} crashes, {} restarts, {} reconnects, {} ops lost \
             ({} late responses ignored), {} churn admin ops, {}/{} clients connected at the end\n",
            s.cuts,
            s.stalls,
            s.crashes,
            s.restarts,
            s.reconnects,
            s.lost,
            s.late_responses,
            s.admin_ops,
            s.connected_at_end,
            s.online
        ));
    }
    for n in &s.notes {
        terminal.push_str(&format!("  note: {n}\n"));
    }
    for p in &s.problems {
        terminal.push_str(&format!("  problem: {p}\n"));
    }
    Ok(Simulated {
        slo: slo.clone(),
        trace_hash: obs.trace.value(),
        report_json: report::report_json_string(&outcome)?,
        markdown: report::report_markdown(&outcome, &stats),
        html: report::report_html(&outcome, &stats),
        terminal,
        stats,
        violations_total: obs.checker.violations_total(),
        incomplete: s.incomplete(faulty),
    })
}

/// `n` per second over `secs` (0 for an empty run).
fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}

fn write_file(dir: &Path, name: &str, text: &str) -> Result<(), ReportError> {
    let io = |path: PathBuf| move |source| ReportError::Io { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(io(path.clone()))
}

/// The report's fault list: what the run injected, preceded (when the scenario has faults) by
/// the effective fault parameters the seed drew (they differ from the file's under `swarm`).
fn fault_entries(
    scenario: &Scenario,
    seed: u64,
    log: &crate::history::FaultLog,
) -> Vec<report::FaultEntry> {
    let mut out = Vec::new();
    if scenario.faults.any() {
        let plan = crate::workload::Workload::new(scenario, seed)
            .fault_plan()
            .clone();
        let f = &plan.faults;
        out.push(report::FaultEntry {
            t_us: 0,
            kind: "plan".into(),
            detail: format!(
                "fault phase until {}; drop {:.4}, duplicate {:.4}, reorder {:.4}, delay {:.4}; \
                 stalls {:.2}/min, disconnects {:.2}/min, crashes {}, bursts {}{}",
                crate::scenario::Dur::from_micros(plan.until),
                f.drop,
                f.duplicate,
                f.reorder,
                f.delay,
                f.stalls_per_minute,
                f.disconnects_per_minute,
                f.crashes,
                f.bursts,
                if f.swarm { " (drawn by swarm)" } else { "" }
            ),
        });
    }
    out.extend(report::FaultEntry::from_log(log));
    out
}
