//! Run reports: `report.json` (deterministic for simulated runs: nothing wall-clock in it),
//! `run.json` (wall-clock figures), `report.md`, and the terminal summary.

use crate::check::Violation;
use crate::metrics::Metrics;
use crate::scenario::Scenario;

/// Everything a report says about one run, gathered by the runner.
pub struct RunOutcome<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    /// Which target produced the history: "model", "server", "ws://...".
    pub target: String,
    /// Which driver ran it: "sim" or "live".
    pub driver: String,
    pub metrics: &'a Metrics,
    /// The first violations found (capped); `violations_total` counts all of them.
    pub violations: &'a [Violation],
    pub violations_total: u64,
    /// Virtual seconds (sim) or elapsed seconds (live) from the first to the last event.
    pub virtual_seconds: f64,
    /// Fingerprint of the whole event trace (determinism self-check).
    pub trace_hash: u64,
    /// Number of history events.
    pub events: u64,
}

/// Wall-clock figures of a run: never part of report.json.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunStats {
    pub wall_seconds: f64,
    pub virtual_seconds: f64,
    pub ops_per_wall_second: f64,
    pub peak_rss_bytes: u64,
}
