//! `report.json`: everything a run measured and found, for machines (compare, merge, CI).
//! Built as a [`ReportDoc`] (the typed schema in `schema.rs`); maps are `BTreeMap`s or kept
//! in `Hop::ALL` order; no wall-clock figure appears, so a simulated run's report is
//! byte-identical for the same scenario and seed.

use super::human::HopSummary;
use super::schema::{
    BucketLatency, FORMAT_VERSION, HopLatency, Ordered, Receipts, ReportDoc, Throughput, round_to,
};
use super::{ReportError, RunOutcome};
use crate::metrics::Hop;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};

/// The typed report of an outcome.
pub fn report_doc(o: &RunOutcome<'_>) -> Result<ReportDoc, ReportError> {
    let m = o.metrics;
    let total = m.total_ops();
    let mut ops: Vec<(String, u64)> = m
        .ops()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    ops.push(("total".to_string(), total));
    let mut latency = Vec::with_capacity(Hop::ALL.len());
    for hop in Hop::ALL {
        latency.push((hop.name().to_string(), HopLatency::of(m.histogram(hop))?));
    }
    let ops_per_virtual_second = if o.virtual_seconds > 0.0 {
        round_to(total as f64 / o.virtual_seconds, 1000.0)
    } else {
        0.0
    };
    Ok(ReportDoc {
        format_version: FORMAT_VERSION,
        readsim_version: env!("CARGO_PKG_VERSION").to_string(),
        scenario: o.scenario.name.clone(),
        scenario_config: o.scenario.clone(),
        seed: o.seed,
        shard: Some(o.scenario.shard).filter(|s| !s.is_whole()),
        target: o.target.clone(),
        driver: o.driver.clone(),
        virtual_seconds: o.virtual_seconds,
        events: o.events,
        trace_hash: format!("{:016x}", o.trace_hash),
        verdict: o.verdict.clone(),
        ops: Ordered(ops),
        errors: m.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        lost: m.lost,
        violations_total: o.violations_total,
        violations_by_invariant: Ordered(
            super::coverage::by_invariant(o)
                .map(|(i, n)| (i.name().to_string(), n))
                .collect(),
        ),
        violations: o.violations.to_vec(),
        coverage: o.coverage.clone(),
        faults: o.faults.to_vec(),
        slo: o.slo.to_vec(),
        latency: Ordered(latency),
        throughput: Throughput {
            ops_per_virtual_second,
            per_second: m.per_second.clone(),
        },
        receipts: receipts(o),
        staircase: super::staircase::of(o),
        target_notes: o.target_notes.clone(),
        replay: o.replay.clone(),
        merged: None,
    })
}

fn receipts(o: &RunOutcome<'_>) -> Receipts {
    let m = o.metrics;
    let notify = m
        .notify_by_audience()
        .map(|(label, h)| {
            let s = HopSummary::of(h);
            let e = BucketLatency {
                count: s.count,
                p50_us: s.p50,
                p99_us: s.p99,
                max_us: s.max,
            };
            (label.to_string(), e)
        })
        .collect();
    Receipts {
        messages: m.completeness.messages,
        audience_total: m.completeness.audience_total,
        acked: m.completeness.acked_total(),
        acked_by_second_since_send: m.completeness.acked_by_second.clone(),
        notify_by_audience: Ordered(notify),
    }
}

/// The exact bytes of `report.json`: pretty-printed, keys in the documented order, ending in
/// a newline. Deterministic: the same outcome always gives the same string.
pub fn report_json_string(o: &RunOutcome) -> Result<String, ReportError> {
    report_doc(o)?.to_json_string()
}

/// `report.json` as a JSON value, for callers that inspect it. Note that `serde_json::Value`
/// sorts object keys unless serde_json's `preserve_order` feature is on; the file itself
/// ([`report_json_string`], [`super::write_reports`]) always keeps the documented order.
///
/// # Panics
/// Only if a histogram cannot be V2-encoded (a count above `i64::MAX`) or the scenario's
/// `Serialize` fails; [`report_json_string`] returns those as errors instead.
pub fn report_json(o: &RunOutcome) -> serde_json::Value {
    report_doc(o)
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
