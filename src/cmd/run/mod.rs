//! `readsim run`: load a scenario, drive it (simulated or live), judge it, write the reports,
//! print the summary. Driving is in `drive.rs`, turning what a run saw into reports and a
//! verdict in `outcome.rs`, warnings about traffic a scenario cannot produce in `warnings.rs`.

mod drive;
mod outcome;
mod warnings;

pub use outcome::Rendered;
pub use warnings::traffic_warnings;

use super::{Classify, ExitStatus, ReplayCommand};
use crate::live::{LiveError, LiveOptions};
use crate::report::ReportError;
use crate::scenario::{self, Dur, ScenarioError};
use crate::target::faulty::Bug;
use std::path::{Path, PathBuf};

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
    /// Overrides the scenario's semantics profile (`--profile`): the same traffic held to
    /// other rules, e.g. a Matrix scenario against `readsim serve` for a comparison.
    pub profile: Option<crate::protocol::Profile>,
    /// Simulate a copy of the model with this bug planted (`--plant-bug`), to see it caught.
    pub plant_bug: Option<Bug>,
    /// Draw a progress bar on stderr while simulating (the caller checks for a terminal).
    pub progress: bool,
    /// Memory budget in bytes (`--max-memory`, default [`super::budget::machine_default`]):
    /// a scenario whose estimate exceeds it is refused, a simulated run that outgrows it is
    /// stopped.
    pub budget: u64,
    /// The conversations this process drives (`--shard I/N`; whole: 0/1).
    pub shard: scenario::Shard,
    /// Live runs: begin the traffic phase at this wall time (`--start-at`); a simulated run
    /// ignores it (its clock is virtual).
    pub start_at: Option<std::time::SystemTime>,
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
        "the run outgrew the memory budget of {budget} (resident memory went above it at \
         virtual time {at}) and was stopped; no reports were written. Raise the budget with \
         --max-memory, or make the scenario smaller (`readsim validate FILE` prints its \
         estimated size)"
    )]
    OverBudget { budget: String, at: String },
    #[error(
        "the live run outgrew the memory budget of {budget} (resident memory went above it) and \
         was stopped; the reports of what ran are in {out} (marked interrupted). Raise the \
         budget with --max-memory, or make the scenario smaller"
    )]
    LiveOverBudget { budget: String, out: String },
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

impl Classify for RunError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            RunError::Scenario(_) | RunError::Live(LiveError::Usage(_)) => ExitStatus::BadInput,
            RunError::Report(_)
            | RunError::Live(_)
            | RunError::Nondeterministic { .. }
            | RunError::OverBudget { .. }
            | RunError::LiveOverBudget { .. } => ExitStatus::HarnessFailed,
        }
    }
}

/// How `run` prints its summary on stdout.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The result of a completed run whose reports were written.
pub struct RunSummary {
    pub rendered: Rendered,
    pub seed: u64,
    pub replay: ReplayCommand,
}

impl RunSummary {
    /// The machine-readable summary `run --format json` prints: the verdict, SLOs, latency
    /// percentiles per hop (without the histograms), counts, violations per invariant, the
    /// rules never exercised, and the wall-clock figures.
    pub fn json_summary(&self, out: &Path) -> serde_json::Value {
        let r = &self.rendered;
        let doc = &r.doc;
        let latency: serde_json::Map<String, serde_json::Value> = doc
            .latency
            .iter()
            .map(|(hop, l)| (hop.clone(), serde_json::to_value(l.without_hdr()).unwrap()))
            .collect();
        serde_json::json!({
            "verdict": doc.verdict.result,
            "verdict_detail": doc.verdict,
            "scenario": doc.scenario,
            "seed": self.seed,
            "target": doc.target,
            "driver": doc.driver,
            "violations_total": doc.violations_total,
            "violations_by_invariant": doc.violations_by_invariant,
            "violations": doc.violations,
            "not_exercised": doc.coverage.unexercised().map(|r| &r.rule).collect::<Vec<_>>(),
            "slo": doc.slo,
            "slo_failed": doc.verdict.slo_missed,
            "incomplete": doc.verdict.incomplete,
            "ops": doc.ops,
            "errors": doc.errors,
            "lost": doc.lost,
            "latency": latency,
            "ops_per_virtual_second": doc.throughput.ops_per_virtual_second,
            "run": r.stats,
            "reports": out.display().to_string(),
            "replay": self.replay.to_string(),
        })
    }
}

/// The replay command of the run `opts` describes.
fn replay_command(opts: &RunOptions, seed: u64) -> ReplayCommand {
    ReplayCommand {
        duration: opts.duration,
        profile: opts.profile,
        target: opts.live.as_ref().map(|l| l.target.name()),
        shard: Some(opts.shard).filter(|s| !s.is_whole()),
        ..ReplayCommand::new(&opts.file, seed).with_bug(opts.plant_bug)
    }
}

/// Runs a scenario (simulated, or live with `opts.live`), judges it and writes the reports.
pub fn run(opts: &RunOptions) -> Result<RunSummary, RunError> {
    let scenario = load_within_budget(opts)?;
    let seed = opts.seed.unwrap_or(scenario.seed);
    let replay = replay_command(opts, seed);
    refuse_live_misuse(opts)?;
    note_ignored_start(opts);
    crate::report::mark_host_start();
    let first = drive::execute(&scenario, seed, &replay, opts)?;
    let over_budget = first.over_budget.clone();
    let mut first = outcome::render(&scenario, seed, &first)?;
    if opts.check_determinism {
        let second = drive::execute(&scenario, seed, &replay, opts)?;
        let second = outcome::render(&scenario, seed, &second)?;
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
                replay: replay.to_string(),
            });
        }
    }
    first.write(&opts.out)?;
    if let Some(budget) = over_budget {
        return Err(RunError::LiveOverBudget {
            budget,
            out: opts.out.display().to_string(),
        });
    }
    Ok(RunSummary {
        rendered: first,
        seed,
        replay,
    })
}

/// Loads the scenario, applies `--duration`, and refuses it (exit 2) when its estimated size
/// does not fit the memory budget or the operation cap.
fn load_within_budget(opts: &RunOptions) -> Result<scenario::Scenario, RunError> {
    let text = scenario::read_text(&opts.file)?;
    let origin = opts.file.display().to_string();
    let mut s = scenario::parse_str(&text, &origin)?;
    if let Some(p) = opts.profile {
        s.semantics.profile = p;
    }
    s.shard = opts.shard;
    if let Some(d) = opts.duration {
        s.duration = d;
        scenario::validate(&s).map_err(|problems| ScenarioError::Invalid {
            origin: format!("{origin} with --duration {d}"),
            problems,
        })?;
    }
    let hint = super::budget::hint(opts.budget);
    scenario::check_budget(&text, &origin, &s, opts.budget, &hint)?;
    Ok(s)
}

fn refuse_live_misuse(opts: &RunOptions) -> Result<(), RunError> {
    if opts.live.is_none() {
        return Ok(());
    }
    let usage = |m: &str| Err(LiveError::Usage(m.into()).into());
    if opts.check_determinism {
        return usage(
            "--check-determinism needs the simulated target (--target model): live runs are \
             not reproducible in time",
        );
    }
    if opts.plant_bug.is_some() {
        return usage("--plant-bug plants a bug in the simulated model; it needs --target model");
    }
    if let Some(at) = opts.start_at {
        super::start_at::check_lead(at).map_err(LiveError::Usage)?;
    }
    Ok(())
}

/// A simulated run has a virtual clock: `--start-at` is accepted (so one fleet command line
/// serves both drivers) and ignored, saying so; nothing of it reaches the reports.
fn note_ignored_start(opts: &RunOptions) {
    if opts.live.is_none() && opts.start_at.is_some() {
        eprintln!(
            "note: --start-at is ignored by a simulated run (its clock is virtual); it aligns \
             live shards"
        );
    }
}

/// `readsim run`: runs, prints the summary in `format`, and on a failure says how to replay
/// (and with `shrink`, shrinks a simulated failure). Returns the exit status of the verdict.
pub fn execute(opts: &RunOptions, format: Format, shrink: bool) -> Result<ExitStatus, RunError> {
    let r = run(opts)?;
    let verdict = &r.rendered.doc.verdict;
    match format {
        Format::Json => {
            let mut v = r.json_summary(&opts.out);
            if opts.check_determinism {
                v["determinism_check"] = "passed".into();
            }
            super::print(&format!("{}\n", serde_json::to_string_pretty(&v).unwrap()));
        }
        Format::Text => {
            let mut text = r.rendered.terminal.clone();
            if opts.check_determinism {
                text.push_str(
                    "determinism check: passed (two runs, identical trace and report.json)\n",
                );
            }
            text.push_str(&format!("reports written to {}\n", opts.out.display()));
            super::print(&text);
        }
    }
    if !verdict.passed() {
        eprintln!(
            "{}: {}; {} with: {}",
            verdict.label(),
            verdict.reasons().join("; "),
            r.replay.verb(),
            r.replay
        );
        if shrink && verdict.violations > 0 {
            shrink_failure(opts, r.seed)?;
        }
    }
    Ok(ExitStatus::of(verdict))
}

/// `run --shrink`: shrink the failing scenario and say where the small case is.
fn shrink_failure(opts: &RunOptions, seed: u64) -> Result<(), RunError> {
    if !opts.shard.is_whole() {
        eprintln!(
            "--shrink: one shard of a run is not shrunk (the file describes the whole run); \
             shrink the failing violation's scenario without --shard"
        );
        return Ok(());
    }
    if opts.live.is_some() {
        eprintln!(
            "--shrink: live runs are not shrunk (their timing is not reproducible); shrink a \
             simulated run of the scenario"
        );
        return Ok(());
    }
    eprintln!("shrinking {} ...", opts.file.display());
    let r = super::shrink::shrink_file(&opts.file, Some(seed), opts.plant_bug, 500, None)?;
    match r.describe() {
        Some(text) => eprintln!("{text}"),
        None => eprintln!("the failure did not reproduce from the file alone; nothing shrunk"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_opts(budget: u64) -> (scenario::Scenario, RunOptions) {
        let file = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/tiny.toml"
        ));
        let s = scenario::load_file(&file).unwrap();
        let opts = RunOptions {
            file,
            seed: None,
            out: PathBuf::from("unused"),
            check_determinism: false,
            live: None,
            duration: None,
            profile: None,
            plant_bug: None,
            progress: false,
            budget,
            shard: scenario::Shard::WHOLE,
            start_at: None,
        };
        (s, opts)
    }

    #[test]
    fn run_json_peak_rss_covers_what_happens_after_rendering() {
        if crate::report::peak_rss_bytes() == 0 {
            return; // no /proc
        }
        let (s, opts) = tiny_opts(u64::MAX);
        let replay = replay_command(&opts, s.seed);
        let ex = drive::execute(&s, s.seed, &replay, &opts).unwrap();
        let mut rendered = outcome::render(&s, s.seed, &ex).unwrap();
        // Memory touched after rendering (as writing big reports does) must show in run.json.
        const BIG: usize = 512 << 20;
        // black_box: an optimised build would otherwise drop the unused allocation.
        let big = std::hint::black_box(vec![1u8; BIG]);
        assert_eq!(big[BIG - 1], 1);
        drop(big);
        let dir = tempfile::tempdir().unwrap();
        rendered.write(dir.path()).unwrap();
        let run: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("run.json")).unwrap())
                .unwrap();
        let peak = run["peak_rss_bytes"].as_u64().unwrap();
        assert!(peak >= BIG as u64, "{peak}");
        assert_eq!(rendered.stats.peak_rss_bytes, peak);
    }

    #[test]
    fn a_simulated_run_that_outgrows_the_budget_is_stopped_with_exit_3() {
        if crate::report::current_rss_bytes() == 0 {
            return; // no /proc: nothing to watch
        }
        let (s, opts) = tiny_opts(1);
        let replay = replay_command(&opts, s.seed);
        let Err(e) = drive::execute(&s, s.seed, &replay, &opts) else {
            panic!("a run over a 1-byte budget is stopped");
        };
        assert!(matches!(e, RunError::OverBudget { .. }), "{e}");
        assert_eq!(e.exit_status(), ExitStatus::HarnessFailed);
        assert!(e.to_string().contains("--max-memory"), "{e}");
    }
}
