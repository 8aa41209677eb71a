//! The observers a run feeds (checker, metrics, trace hash, fault log), bundled for the
//! drivers' callers. It lives outside the drivers so they depend on neither the checker nor
//! the metrics: a driver only emits history to an [`Observer`].

use crate::check::{CheckConfig, Checker};
use crate::history::{Event, FaultLog, Observer, TraceHash};
use crate::metrics::Metrics;
use crate::protocol::Micros;
use crate::scenario::Scenario;
use crate::target::Target;

/// The observers a run feeds.
pub struct Observers {
    pub checker: Checker,
    pub metrics: Metrics,
    pub trace: TraceHash,
    pub faults: FaultLog,
}

impl Observers {
    /// The observers of a run of `scenario`; the metrics keep per-step figures when it has a
    /// rate staircase (`[traffic] steps`).
    pub fn new(scenario: &Scenario, check: CheckConfig) -> Observers {
        let steps: Vec<(Micros, Micros)> = scenario
            .traffic
            .step_spans(scenario.duration)
            .iter()
            .map(|s| (s.from, s.to))
            .collect();
        Observers {
            checker: Checker::new(check),
            metrics: Metrics::with_steps(&steps),
            trace: TraceHash::default(),
            faults: FaultLog::default(),
        }
    }
}

impl Observer for Observers {
    fn observe(&mut self, ev: &Event<'_>) {
        self.checker.observe(ev);
        self.metrics.observe(ev);
        self.trace.observe(ev);
        self.faults.observe(ev);
    }
}

/// What a simulated run leaves behind.
pub struct SimOutcome {
    pub observers: Observers,
    /// Virtual time of the last event.
    pub end: Micros,
    pub target_name: String,
}

/// Simulates `scenario` with `seed` against `target` (see [`crate::sim::run_observed`]),
/// checks and metrics inline.
pub fn simulate<T: Target>(
    scenario: &Scenario,
    seed: u64,
    target: &mut T,
    check: CheckConfig,
) -> SimOutcome {
    let mut observers = Observers::new(scenario, check);
    let end = crate::sim::run_observed(scenario, seed, target, &mut observers);
    SimOutcome {
        observers,
        end,
        target_name: target.name().to_string(),
    }
}
