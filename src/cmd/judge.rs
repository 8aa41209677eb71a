//! SLOs and the verdict of a run from what it measured: shared by `run` (simulated and live)
//! and `sweep`, so the same seed gets the same verdict from both.

use crate::check::Coverage;
use crate::metrics::Metrics;
use crate::scenario::Scenario;
use crate::slo::{self, SloInputs, SloResult};
use crate::verdict::{Findings, Verdict};

/// What a run measured that the verdict depends on.
pub struct Measured<'a> {
    pub metrics: &'a Metrics,
    pub violations: u64,
    /// Which rules the run put to the test (`[checks] require_coverage` is held against it).
    pub coverage: &'a Coverage,
    /// Virtual (sim) or traffic-phase (live) seconds.
    pub seconds: f64,
    /// Live: the driver's first-to-last acknowledgement rate; None: per (virtual) second.
    pub receipts_per_second: Option<f64>,
    /// Live: why the run is incomplete.
    pub incomplete: Vec<String>,
    pub warnings: Vec<String>,
    /// Live: the user stopped the run.
    pub interrupted: bool,
}

/// The SLO results and the verdict.
pub fn judge(scenario: &Scenario, m: Measured) -> (Vec<SloResult>, Verdict) {
    let ops = m.metrics.total_ops();
    let receipts_per_second = m
        .receipts_per_second
        .unwrap_or_else(|| per_second(m.metrics.completeness.acked_total(), m.seconds));
    let mut objectives = scenario.slo.clone();
    let mut warnings = m.warnings;
    let rates =
        objectives.receipts_per_second_min.is_some() || objectives.ops_per_second_min.is_some();
    if !scenario.shard.is_whole() && rates {
        objectives.receipts_per_second_min = None;
        objectives.ops_per_second_min = None;
        warnings.push(slo::SHARD_RATES_NOTE.to_string());
    }
    let slo = slo::evaluate(
        &objectives,
        &SloInputs {
            metrics: m.metrics,
            violations_total: m.violations,
            receipts_per_second,
            ops_per_second: per_second(ops, m.seconds),
        },
    );
    let verdict = Verdict::judge(Findings {
        violations: m.violations,
        slo_missed: slo::failed_names(&slo)
            .into_iter()
            .map(String::from)
            .collect(),
        incomplete: m.incomplete,
        ops,
        allow_no_traffic: scenario.checks.allow_no_traffic,
        warnings,
        uncovered: m
            .coverage
            .missing(&scenario.checks.require_coverage)
            .into_iter()
            .map(|r| r.id().to_string())
            .collect(),
        interrupted: m.interrupted,
    });
    (slo, verdict)
}

/// `n` per second over `secs` (0 for an empty run).
pub fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 { n as f64 / secs } else { 0.0 }
}
