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
use crate::scenario::Scenario;
use crate::sim;
use crate::target::faulty::{Bug, FaultyTarget};
use crate::target::{ModelTarget, Target};
use std::time::Instant;

/// What a live run adds to the history: the driver's own counters.
pub struct LiveFacts {
    pub stats: DriveStats,
    pub peak_clients: u64,
    /// Seconds spent provisioning and connecting before the traffic phase.
    pub setup_seconds: f64,
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
            let out = live::run_live(scenario, seed, check, l)?;
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
                }),
            }
        }
        None => simulate(scenario, seed, check, opts.plant_bug, opts.progress),
    };
    ex.wall_seconds = started.elapsed().as_secs_f64();
    Ok(ex)
}

fn simulate(
    scenario: &Scenario,
    seed: u64,
    check: CheckConfig,
    bug: Option<Bug>,
    progress: bool,
) -> Executed {
    let model = ModelTarget::new(Model::new(scenario.receipts.config()));
    match bug {
        None => simulate_on(scenario, seed, check, &mut { model }, progress),
        Some(b) => simulate_on(
            scenario,
            seed,
            check,
            &mut FaultyTarget::new(model, b),
            progress,
        ),
    }
}

fn simulate_on<T: Target>(
    scenario: &Scenario,
    seed: u64,
    check: CheckConfig,
    target: &mut T,
    progress: bool,
) -> Executed {
    // Checking and metrics run on a second thread, fed the same ordered history. The progress
    // bar only reads counters the observers publish; the run is the same without it.
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
    Executed {
        observers,
        end,
        target: target.name().to_string(),
        driver: "sim",
        wall_seconds: 0.0,
        live: None,
    }
}
