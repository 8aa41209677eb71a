//! Drives one run to its end, simulated or live, and keeps what it saw. Both paths return the
//! same [`Executed`], so everything after (SLOs, verdict, reports) is one path.

use super::{RunError, RunOptions};
use crate::check::CheckConfig;
use crate::cmd::ReplayCommand;
use crate::live::{self, DriveStats};
use crate::model::Model;
use crate::observers::Observers;
use crate::pipe::Pipe;
use crate::progress::{CountViolations, SimProgress, Watched};
use crate::protocol::Micros;
use crate::report;
use crate::scenario::Scenario;
use crate::sim::{self, Stopped};
use crate::target::faulty::{Bug, FaultyTarget};
use crate::target::{ModelTarget, Target};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What a live run adds to the history: the driver's own counters.
pub struct LiveFacts {
    pub stats: DriveStats,
    pub peak_clients: u64,
    /// Seconds spent provisioning and connecting before the traffic phase.
    pub setup_seconds: f64,
    /// CPU time of the target process this run started (`--target server` or `synapse`: every
    /// instance, restarts included, setup to stop); None for a target someone else runs.
    pub target_cpu: Option<report::CpuTime>,
    /// What the target's adapter says about the figures (`Backend::notes`).
    pub notes: Vec<String>,
    /// The common start asked for (`--start-at`), and when the traffic phase began (ms since
    /// the Unix epoch).
    pub start_at_ms: Option<u64>,
    pub traffic_started_at_ms: u64,
}

/// A finished run: the observers that watched it and how long it took.
pub struct Executed {
    pub observers: Observers,
    /// Virtual (sim) or monotonic (live) time of the last event.
    pub end: Micros,
    pub target: String,
    /// "sim" or "live".
    pub driver: &'static str,
    pub wall_seconds: f64,
    pub live: Option<LiveFacts>,
    /// A live run the memory watcher stopped: the budget it outgrew (its reports are still
    /// written, then `run` fails with exit 3).
    pub over_budget: Option<String>,
    /// The command that replays (or re-runs) this run.
    pub replay: String,
}

/// Runs the scenario as `opts` says: live against a server, or simulated against the model
/// (with a planted bug if asked).
pub fn execute(
    scenario: &Scenario,
    seed: u64,
    replay: &ReplayCommand,
    opts: &RunOptions,
) -> Result<Executed, RunError> {
    let check = CheckConfig::for_scenario(scenario, replay.to_string(), 100);
    let started = Instant::now();
    let mut ex = match &opts.live {
        Some(l) => {
            // Watched like a simulated run, but stopped through the Ctrl-C path so the
            // reports of what ran are still written.
            let watcher = crate::cmd::budget::Watcher::start(opts.budget);
            let l = live::LiveOptions {
                start_at: opts.start_at,
                stop: Some(watcher.stop.clone()),
                ..l.clone()
            };
            // A child's CPU is the kernel's once it is reaped: read before it starts and after
            // run_live stopped it.
            let children_before = report::children_cpu();
            let out = live::run_live(scenario, seed, check, &l)?;
            let target_cpu = out
                .started_target
                .then(|| Some(report::children_cpu()?.since(children_before?)))
                .flatten();
            let over_budget = watcher
                .tripped()
                .then(|| crate::scenario::bytes(opts.budget));
            Executed {
                observers: out.observers,
                end: out.stats.end,
                target: out.target_name,
                driver: "live",
                wall_seconds: 0.0,
                live: Some(LiveFacts {
                    stats: out.stats,
                    peak_clients: out.peak_clients,
                    setup_seconds: out.setup_seconds,
                    target_cpu,
                    notes: out.notes,
                    start_at_ms: opts.start_at.map(live::start::epoch_ms),
                    traffic_started_at_ms: out.traffic_started_at_ms,
                }),
                replay: String::new(),
                over_budget,
            }
        }
        None => {
            let watcher = crate::cmd::budget::Watcher::start(opts.budget);
            let ex = simulate(
                scenario,
                seed,
                check,
                opts.plant_bug,
                opts.progress,
                &watcher.stop,
            );
            ex.map_err(|stopped| RunError::OverBudget {
                budget: crate::scenario::bytes(opts.budget),
                at: crate::scenario::Dur::from_micros(stopped.at).to_string(),
            })?
        }
    };
    ex.wall_seconds = started.elapsed().as_secs_f64();
    ex.replay = replay.to_string();
    Ok(ex)
}

fn simulate(
    scenario: &Scenario,
    seed: u64,
    check: CheckConfig,
    bug: Option<Bug>,
    progress: bool,
    stop: &AtomicBool,
) -> Result<Executed, Stopped> {
    let model = ModelTarget::new(Model::with_profile(
        scenario.receipts.config(),
        scenario.semantics.profile,
    ));
    let run = Sim {
        scenario,
        seed,
        progress,
        stop,
    };
    match bug {
        None => run.on(check, &mut { model }),
        Some(b) => run.on(check, &mut FaultyTarget::new(model, b)),
    }
}

/// A simulated run to drive.
struct Sim<'a> {
    scenario: &'a Scenario,
    seed: u64,
    progress: bool,
    /// Raised by the memory watcher: end the run early.
    stop: &'a AtomicBool,
}

impl Sim<'_> {
    fn on<T: Target>(&self, check: CheckConfig, target: &mut T) -> Result<Executed, Stopped> {
        simulate_on(self, check, target)
    }
}

fn simulate_on<T: Target>(
    run: &Sim<'_>,
    check: CheckConfig,
    target: &mut T,
) -> Result<Executed, Stopped> {
    let (scenario, seed) = (run.scenario, run.seed);
    // Checking and metrics run on a second thread, fed the same ordered history. The progress
    // bar only reads counters the observers publish; the run is the same without it.
    let bar = run
        .progress
        .then(|| SimProgress::start(scenario.duration.micros));
    let counters = bar
        .as_ref()
        .map_or_else(Default::default, |b| b.counters.clone());
    let mut pipe = Pipe::new(CountViolations::new(
        Observers::new(scenario, check),
        counters.clone(),
    ));
    let end = match &bar {
        Some(_) => sim::run_stoppable(
            scenario,
            seed,
            target,
            &mut Watched::new(&mut pipe, &counters),
            run.stop,
        ),
        None => sim::run_stoppable(scenario, seed, target, &mut pipe, run.stop),
    };
    let observers = pipe.finish().inner;
    if let Some(b) = bar {
        b.finish();
    }
    let end = end?;
    Ok(Executed {
        observers,
        end,
        target: target.name().to_string(),
        driver: "sim",
        wall_seconds: 0.0,
        live: None,
        replay: String::new(),
        over_budget: None,
    })
}
