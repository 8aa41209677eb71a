//! Service-level objectives: the scenario's `[slo]` bounds checked against what a run
//! measured. A pure function of the report's inputs, so a simulated run's SLO results are as
//! deterministic as its report.json.

use crate::human::{format_micros, format_rate};
use crate::metrics::{Hop, Metrics};
use crate::scenario::{Slo, latency_key};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One objective and how the run did against it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    /// The scenario key, canonical: `receipt_to_notified_p99`, `ops_per_second_min`, ...
    pub name: String,
    /// The bound, for people: "250ms", ">= 10.0/s", "<= 0".
    pub limit: String,
    /// What the run measured, for people.
    pub actual: String,
    /// The bound and the measurement as numbers, in `unit`.
    pub limit_value: f64,
    pub actual_value: f64,
    pub unit: SloUnit,
    pub ok: bool,
}

/// The unit of an objective's numbers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SloUnit {
    /// Microseconds of latency; the bound is a maximum.
    Us,
    /// A rate; the bound is a minimum.
    PerSecond,
    /// A count; the bound is a maximum.
    Count,
}

/// Where latency SLOs read a hop's histogram: a run's [`Metrics`], or the merged histograms
/// of several shards' reports (`readsim merge`), so both are judged by the same code.
pub trait HopHistograms {
    fn hop_histogram(&self, hop: Hop) -> &Histogram<u64>;
}

impl HopHistograms for Metrics {
    fn hop_histogram(&self, hop: Hop) -> &Histogram<u64> {
        self.histogram(hop)
    }
}

/// The warning of a shard (`run --shard I/N`) whose scenario sets rate minimums: a shard
/// carries only part of the load, so `receipts_per_second_min` and `ops_per_second_min` are
/// left to `readsim merge`, which judges them on the whole run (and drops this warning).
pub const SHARD_RATES_NOTE: &str = "receipts_per_second_min and ops_per_second_min are \
    objectives of the whole run, not of one shard: `readsim merge` of all the shards judges \
    them";

/// What the SLOs are checked against.
pub struct SloInputs<'a> {
    pub metrics: &'a dyn HopHistograms,
    pub violations_total: u64,
    /// Acknowledged receipts per second: per virtual second when simulated, the live
    /// driver's first-to-last-acknowledgement rate when live.
    pub receipts_per_second: f64,
    /// Completed operations and pushes per (virtual) second.
    pub ops_per_second: f64,
}

/// Checks every objective of `slo`, latency bounds first (in hop then statistic order). A hop
/// without samples meets its bounds: nothing was slow.
pub fn evaluate(slo: &Slo, input: &SloInputs) -> Vec<SloResult> {
    let mut out = Vec::new();
    for (&(hop, stat), limit) in &slo.latency {
        let h = input.metrics.hop_histogram(hop);
        let actual = if h.is_empty() {
            0
        } else if stat.quantile() >= 1.0 {
            h.max()
        } else {
            h.value_at_quantile(stat.quantile())
        };
        out.push(SloResult {
            name: latency_key(hop, stat),
            limit: format!("<= {}", format_micros(limit.micros)),
            actual: if h.is_empty() {
                "no samples".to_string()
            } else {
                format_micros(actual)
            },
            limit_value: limit.micros as f64,
            actual_value: actual as f64,
            unit: SloUnit::Us,
            ok: actual <= limit.micros,
        });
    }
    let mut minimum = |name: &str, limit: Option<f64>, actual: f64| {
        if let Some(limit) = limit {
            out.push(SloResult {
                name: name.to_string(),
                limit: format!(">= {}/s", format_rate(limit)),
                actual: format!("{}/s", format_rate(actual)),
                limit_value: limit,
                actual_value: round3(actual),
                unit: SloUnit::PerSecond,
                ok: actual >= limit,
            });
        }
    };
    minimum(
        crate::scenario::RECEIPTS_PER_SECOND_MIN,
        slo.receipts_per_second_min,
        input.receipts_per_second,
    );
    minimum(
        crate::scenario::OPS_PER_SECOND_MIN,
        slo.ops_per_second_min,
        input.ops_per_second,
    );
    if let Some(max) = slo.violations_max {
        out.push(SloResult {
            name: crate::scenario::VIOLATIONS_MAX.to_string(),
            limit: format!("<= {max}"),
            actual: input.violations_total.to_string(),
            limit_value: max as f64,
            actual_value: input.violations_total as f64,
            unit: SloUnit::Count,
            ok: input.violations_total <= max,
        });
    }
    out
}

/// Rates rounded to 0.001 so report.json reads well (and stays the same bytes).
fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

/// The failed objectives' names, comma-separated ("" if all hold).
pub fn failed_names(results: &[SloResult]) -> Vec<&str> {
    results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| r.name.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Observer};
    use crate::metrics::Hop;
    use crate::protocol::{Conv, GroupId, MsgId, Request, Response, UserId};
    use crate::scenario::{Dur, Stat};

    fn metrics_with_send_ack(us: u64) -> Metrics {
        let mut m = Metrics::default();
        let req = Request::SendMessage {
            conv: Conv::Group(GroupId(1)),
            need_read_receipt: false,
            body_len: 1,
        };
        let resp = Response::Sent {
            msg_id: MsgId(1),
            seq: 1,
            timestamp_ms: 0,
        };
        m.observe(&Event::Invoke {
            t: 0,
            intended: 0,
            client: UserId(1),
            device: crate::history::Device::FIRST,
            op: 1,
            req: &req,
        });
        m.observe(&Event::Complete {
            t: us,
            client: UserId(1),
            op: 1,
            resp: &resp,
        });
        m
    }

    #[test]
    fn latency_bounds_pass_and_fail_by_the_measured_percentile() {
        let m = metrics_with_send_ack(40_000);
        let mut slo = Slo::default();
        slo.latency
            .insert((Hop::SendAck, Stat::P99), Dur::from_millis(50));
        slo.latency
            .insert((Hop::SendAck, Stat::Max), Dur::from_millis(30));
        slo.latency
            .insert((Hop::ReceiptNotify, Stat::P50), Dur::from_millis(1));
        slo.violations_max = Some(0);
        slo.ops_per_second_min = Some(100.0);
        slo.receipts_per_second_min = Some(0.5);
        let r = evaluate(
            &slo,
            &SloInputs {
                metrics: &m,
                violations_total: 2,
                receipts_per_second: 0.75,
                ops_per_second: 99.5,
            },
        );
        let by: Vec<(&str, bool)> = r.iter().map(|r| (r.name.as_str(), r.ok)).collect();
        assert_eq!(
            by,
            [
                ("send_ack_p99", true),
                ("send_ack_max", false),
                ("receipt_to_notified_p50", true),
                ("receipts_per_second_min", true),
                ("ops_per_second_min", false),
                ("violations_max", false),
            ]
        );
        assert_eq!(r[2].actual, "no samples");
        assert_eq!(
            failed_names(&r),
            ["send_ack_max", "ops_per_second_min", "violations_max"]
        );
        assert!(
            evaluate(
                &Slo::default(),
                &SloInputs {
                    metrics: &m,
                    violations_total: 9,
                    receipts_per_second: 0.0,
                    ops_per_second: 0.0,
                }
            )
            .is_empty()
        );
    }
}
