//! `report.json`: everything a run measured and found, for machines (compare, merge, CI).
//! Serialised through structs with fixed field order; maps are `BTreeMap`s or written in
//! `Hop::ALL` order; no wall-clock figure appears, so a simulated run's report is
//! byte-identical for the same scenario and seed.

use super::human::HopSummary;
use super::{FaultEntry, ReportError, RunOutcome};
use crate::check::Violation;
use crate::metrics::Hop;
use crate::scenario::Scenario;
use crate::slo::SloResult;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::collections::BTreeMap;

/// The top level of `report.json`; field order is the file's key order.
#[derive(Serialize)]
struct Report<'a> {
    readsim_version: &'static str,
    scenario: &'a str,
    scenario_config: &'a Scenario,
    seed: u64,
    target: &'a str,
    driver: &'a str,
    virtual_seconds: f64,
    events: u64,
    /// 16 lowercase hex digits.
    trace_hash: String,
    ops: OpCounts,
    errors: &'a BTreeMap<&'static str, u64>,
    violations_total: u64,
    violations: &'a [Violation],
    faults: &'a [FaultEntry],
    slo: &'a [SloResult],
    latency: Latency,
    throughput: Throughput<'a>,
    receipts: Receipts<'a>,
}

/// How fast audiences read, and notify latency by audience size.
#[derive(Serialize)]
struct Receipts<'a> {
    /// Receipt-needing messages whose send was acknowledged.
    messages: u64,
    /// Sum of their audience sizes.
    audience_total: u64,
    /// Distinct readers' receipts acknowledged.
    acked: u64,
    /// Receipts acknowledged in each whole second since their message's send (index =
    /// second); divide the running sum by `audience_total` for the share that has read.
    acked_by_second_since_send: &'a [u64],
    /// Receipt invoked -> sender notified, by audience-size bucket.
    notify_by_audience: BucketLatency,
}

/// Latency per audience-size bucket, keyed by the bucket's label in bucket order.
struct BucketLatency(Vec<(&'static str, BucketEntry)>);

#[derive(Serialize)]
struct BucketEntry {
    count: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl Serialize for BucketLatency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, e) in &self.0 {
            m.serialize_entry(name, e)?;
        }
        m.end()
    }
}

/// Completed operations and received pushes by name (sorted), then their `total`.
struct OpCounts {
    by_name: BTreeMap<&'static str, u64>,
    total: u64,
}

impl Serialize for OpCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.by_name.len() + 1))?;
        for (name, count) in &self.by_name {
            m.serialize_entry(name, count)?;
        }
        m.serialize_entry("total", &self.total)?;
        m.end()
    }
}

/// One entry per hop, keyed by hop name in `Hop::ALL` order (empty hops included).
struct Latency(Vec<(&'static str, HopLatency)>);

impl Serialize for Latency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, hop) in &self.0 {
            m.serialize_entry(name, hop)?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct HopLatency {
    count: u64,
    p50_us: u64,
    p90_us: u64,
    p99_us: u64,
    p999_us: u64,
    max_us: u64,
    /// Rounded to 0.1us so the figure reads well; `hdr` holds the exact distribution.
    mean_us: f64,
    /// The whole histogram: base64 (standard alphabet) of its HdrHistogram V2 encoding.
    hdr: String,
}

#[derive(Serialize)]
struct Throughput<'a> {
    /// All completed operations and pushes over `virtual_seconds`, rounded to 0.001.
    ops_per_virtual_second: f64,
    /// Completed operations and pushes in each second of the run (index = second).
    per_second: &'a [u64],
}

/// `x` rounded to `1 / per_unit` (dividing an integer keeps the shortest decimal form).
fn round_to(x: f64, per_unit: f64) -> f64 {
    (x * per_unit).round() / per_unit
}

fn build<'a>(o: &'a RunOutcome<'_>) -> Result<Report<'a>, ReportError> {
    let m = o.metrics;
    let ops = m.ops();
    let total = m.total_ops();
    let mut latency = Vec::with_capacity(Hop::ALL.len());
    for hop in Hop::ALL {
        let h = m.histogram(hop);
        let s = HopSummary::of(h);
        latency.push((
            hop.name(),
            HopLatency {
                count: s.count,
                p50_us: s.p50,
                p90_us: s.p90,
                p99_us: s.p99,
                p999_us: s.p999,
                max_us: s.max,
                mean_us: round_to(s.mean, 10.0),
                hdr: encode_histogram(h)?,
            },
        ));
    }
    let ops_per_virtual_second = if o.virtual_seconds > 0.0 {
        round_to(total as f64 / o.virtual_seconds, 1000.0)
    } else {
        0.0
    };
    Ok(Report {
        readsim_version: env!("CARGO_PKG_VERSION"),
        scenario: &o.scenario.name,
        scenario_config: o.scenario,
        seed: o.seed,
        target: &o.target,
        driver: &o.driver,
        virtual_seconds: o.virtual_seconds,
        events: o.events,
        trace_hash: format!("{:016x}", o.trace_hash),
        ops: OpCounts {
            by_name: ops,
            total,
        },
        errors: &m.errors,
        violations_total: o.violations_total,
        violations: o.violations,
        faults: o.faults,
        slo: o.slo,
        latency: Latency(latency),
        throughput: Throughput {
            ops_per_virtual_second,
            per_second: &m.per_second,
        },
        receipts: Receipts {
            messages: m.completeness.messages,
            audience_total: m.completeness.audience_total,
            acked: m.completeness.acked_total(),
            acked_by_second_since_send: &m.completeness.acked_by_second,
            notify_by_audience: BucketLatency(
                m.notify_by_audience()
                    .map(|(label, h)| {
                        let s = HopSummary::of(h);
                        (
                            label,
                            BucketEntry {
                                count: s.count,
                                p50_us: s.p50,
                                p99_us: s.p99,
                                max_us: s.max,
                            },
                        )
                    })
                    .collect(),
            ),
        },
    })
}

/// The exact bytes of `report.json`: pretty-printed, keys in the documented order, ending in
/// a newline. Deterministic: the same outcome always gives the same string.
pub fn report_json_string(o: &RunOutcome) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(&build(o)?)?;
    s.push('\n');
    Ok(s)
}

/// `report.json` as a JSON value, for callers that inspect it. Note that `serde_json::Value`
/// sorts object keys unless serde_json's `preserve_order` feature is on; the file itself
/// ([`report_json_string`], [`super::write_reports`]) always keeps the documented order.
///
/// # Panics
/// Only if a histogram cannot be V2-encoded (a count above `i64::MAX`) or the scenario's
/// `Serialize` fails; [`report_json_string`] returns those as errors instead.
pub fn report_json(o: &RunOutcome) -> serde_json::Value {
    build(o)
        .and_then(|r| serde_json::to_value(r).map_err(ReportError::from))
        .unwrap_or_else(|e| panic!("cannot build report.json: {e}"))
}

/// Base64 (standard alphabet, padded) of the histogram's HdrHistogram V2 encoding: the `hdr`
/// field of each latency entry. Lossless; see [`decode_histogram`].
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, ReportError> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut bytes)
        .map_err(ReportError::HistogramEncode)?;
    Ok(BASE64.encode(&bytes))
}

/// Reads back an `hdr` field of `report.json` (for compare and merge).
pub fn decode_histogram(b64: &str) -> Result<Histogram<u64>, ReportError> {
    let bytes = BASE64.decode(b64.trim())?;
    Ok(Deserializer::new().deserialize(&mut bytes.as_slice())?)
}
