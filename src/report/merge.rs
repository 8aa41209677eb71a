//! Merging the report.json of a run's shards (`run --shard I/N`) into one report of the
//! whole run, from the typed documents alone: no `Metrics` is rebuilt, since a report does
//! not carry what one holds (operations in flight, per-message state). Every hop's histogram
//! is the exact merge of the shards' serialized HdrHistograms; counts, errors and per-second
//! series add up; SLOs are evaluated again on the merged figures; the verdict is decided
//! again from the merged findings. The audience-bucket and staircase percentiles are not
//! serialized as histograms, so those are the largest shard's (an upper bound), said in
//! report.md.

use super::ReportError;
use super::schema::{
    BucketLatency, HopLatency, Ordered, Receipts, ReportDoc, Staircase, Throughput, round_to,
};
use crate::check::{CodeRow, CoverageTable, RuleRow};
use crate::metrics::Hop;
use crate::slo::{self, HopHistograms, SloInputs};
use crate::verdict::{Findings, Verdict};
use hdrhistogram::Histogram;
use std::collections::{BTreeMap, BTreeSet};

/// How a merged report came about: which shards it joins, and which were missing.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MergeInfo {
    /// N of the shards' `--shard I/N`.
    pub shards: u32,
    /// The shard indices merged, ascending.
    pub merged: Vec<u32>,
    /// Shard indices absent from the merge (`merge --allow-partial`); empty when complete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<u32>,
    /// The shards whose own verdict failed, each with why and the command that replays
    /// (simulated) or re-runs (live) it; empty when every shard passed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<FailedShard>,
}

/// A shard that failed on its own, in a merged report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FailedShard {
    pub shard: u32,
    /// Its verdict line ("FAIL: 2 invariant violations").
    pub verdict: String,
    /// Its replay (simulated) or re-run (live) command.
    pub replay: String,
}

impl MergeInfo {
    /// "shards 1, 3 of 4 are missing", the first line of a partial report.
    pub fn missing_line(&self) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let list: Vec<String> = self.missing.iter().map(u32::to_string).collect();
        Some(format!(
            "PARTIAL: shard{} {} of {} missing; these figures cover only shards {}",
            if self.missing.len() == 1 { "" } else { "s" },
            list.join(", "),
            self.shards,
            self.merged
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// One histogram per hop, in `Hop::ALL` order: the merge of the shards', or a report's own
/// read back ([`HopSet::of_doc`], for rendering a merged report's page).
pub struct HopSet(Vec<Histogram<u64>>);

impl HopSet {
    /// The histograms of `doc`'s hops, decoded from their `hdr` (empty for a missing hop).
    pub fn of_doc(doc: &ReportDoc) -> Result<HopSet, ReportError> {
        merge_histograms(std::slice::from_ref(doc))
    }
}

impl HopHistograms for HopSet {
    fn hop_histogram(&self, hop: Hop) -> &Histogram<u64> {
        let i = Hop::ALL.iter().position(|&h| h == hop).unwrap_or(0);
        &self.0[i]
    }
}

/// The report of the whole run from its shards' reports (`docs` in shard order, already
/// checked to be of one run: same scenario, seed, build and N). `offsets_ms` says per shard
/// how long after the earliest one its traffic began (live shards' run.json,
/// [`super::offsets_ms`]; empty: all together): per-second throughput and faults are placed
/// on the earliest shard's clock.
pub fn merge_docs(
    docs: &[ReportDoc],
    info: MergeInfo,
    offsets_ms: &[u64],
) -> Result<ReportDoc, ReportError> {
    let offset = |i: usize| offsets_ms.get(i).copied().unwrap_or(0);
    let first = &docs[0];
    let hists = merge_histograms(docs)?;
    let mut latency = Vec::with_capacity(Hop::ALL.len());
    for (hop, h) in Hop::ALL.iter().zip(&hists.0) {
        latency.push((hop.name().to_string(), HopLatency::of(h)?));
    }
    let virtual_seconds = docs.iter().map(|d| d.virtual_seconds).fold(0.0, f64::max);
    let ops = sum_ordered(docs.iter().map(|d| &d.ops));
    let total = ops.get("total").copied().unwrap_or(0);
    let receipts = merge_receipts(docs);
    let per_second = |n: u64| {
        if virtual_seconds > 0.0 {
            n as f64 / virtual_seconds
        } else {
            0.0
        }
    };
    let slo = slo::evaluate(
        &first.scenario_config.slo,
        &SloInputs {
            metrics: &hists,
            violations_total: docs.iter().map(|d| d.violations_total).sum(),
            receipts_per_second: per_second(receipts.acked),
            ops_per_second: per_second(total),
        },
    );
    let verdict = merge_verdict(docs, &info, &slo, total);
    Ok(ReportDoc {
        shard: None,
        virtual_seconds,
        events: docs.iter().map(|d| d.events).sum(),
        // One shard's trace is the run's; several have no one trace, only a fingerprint.
        trace_hash: match docs {
            [one] => one.trace_hash.clone(),
            _ => format!("{:016x}", combined_hash(docs)),
        },
        verdict,
        ops,
        errors: sum_maps(docs.iter().map(|d| &d.errors)),
        lost: docs.iter().map(|d| d.lost).sum(),
        violations_total: docs.iter().map(|d| d.violations_total).sum(),
        violations_by_invariant: sum_ordered(docs.iter().map(|d| &d.violations_by_invariant)),
        violations: docs.iter().flat_map(|d| d.violations.clone()).collect(),
        coverage: merge_coverage(docs.iter().map(|d| &d.coverage)),
        faults: merge_faults(docs, &offset),
        slo,
        latency: Ordered(latency),
        throughput: Throughput {
            ops_per_virtual_second: round_to(per_second(total), 1000.0),
            per_second: sum_shifted(
                docs.iter()
                    .enumerate()
                    .map(|(i, d)| (&d.throughput.per_second, (offset(i) + 500) / 1000)),
            ),
        },
        receipts,
        staircase: merge_staircase(docs),
        target_notes: union(docs.iter().flat_map(|d| d.target_notes.iter())),
        replay: None,
        merged: Some(info),
        ..first.clone()
    })
}

fn merge_histograms(docs: &[ReportDoc]) -> Result<HopSet, ReportError> {
    let mut out = Vec::with_capacity(Hop::ALL.len());
    for hop in Hop::ALL {
        let mut acc = crate::metrics::new_histogram();
        for d in docs {
            if let Some(l) = d.latency.get(hop.name()) {
                let h = super::decode_histogram(&l.hdr)?;
                acc.add(&h)
                    .map_err(|e| ReportError::HistogramMerge(e.to_string()))?;
            }
        }
        out.push(acc);
    }
    Ok(HopSet(out))
}

/// The merged verdict: any shard's violation, incompleteness or interruption fails it;
/// SLOs are the merged figures'; a rule counts as uncovered only if no shard exercised it;
/// missing shards make the run incomplete.
fn merge_verdict(
    docs: &[ReportDoc],
    info: &MergeInfo,
    slo: &[crate::slo::SloResult],
    ops: u64,
) -> Verdict {
    let scenario = &docs[0].scenario_config;
    let mut incomplete: Vec<String> = info.missing_line().into_iter().collect();
    for d in docs {
        let who = shard_label(d);
        incomplete.extend(d.verdict.incomplete.iter().map(|i| format!("{who}: {i}")));
    }
    let uncovered = docs
        .iter()
        .map(|d| d.verdict.uncovered.iter().cloned().collect::<BTreeSet<_>>())
        .reduce(|a, b| a.intersection(&b).cloned().collect())
        .unwrap_or_default();
    Verdict::judge(Findings {
        violations: docs.iter().map(|d| d.violations_total).sum(),
        slo_missed: slo::failed_names(slo)
            .into_iter()
            .map(String::from)
            .collect(),
        incomplete,
        ops,
        allow_no_traffic: scenario.checks.allow_no_traffic,
        // The shards' note that rate minimums are left to the merge: judged here.
        warnings: union(docs.iter().flat_map(|d| d.verdict.warnings.iter()))
            .into_iter()
            .filter(|w| w != slo::SHARD_RATES_NOTE)
            .collect(),
        uncovered: uncovered.into_iter().collect(),
        interrupted: docs.iter().any(|d| d.verdict.interrupted),
    })
}

/// "shard 2/4" (or "run" for an unsharded report).
pub fn shard_label(d: &ReportDoc) -> String {
    d.shard
        .map_or_else(|| "run".to_string(), |s| format!("shard {s}"))
}

/// A fingerprint of the shards' trace hashes in shard order (a merged run has no one trace).
fn combined_hash(docs: &[ReportDoc]) -> u64 {
    docs.iter().fold(0xcbf2_9ce4_8422_2325, |h, d| {
        let x = u64::from_str_radix(&d.trace_hash, 16).unwrap_or(0);
        (h ^ x).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Keys in first-seen order, values summed; `total` (if any) stays last.
fn sum_ordered<'a>(maps: impl Iterator<Item = &'a Ordered<u64>>) -> Ordered<u64> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for m in maps {
        for (k, v) in m.iter() {
            match out.iter_mut().find(|(key, _)| key == k) {
                Some((_, n)) => *n += v,
                None => out.push((k.clone(), *v)),
            }
        }
    }
    // A key only some shards have (an op one shard never did) joins in name order, as
    // report.json lists op names sorted with `total` last.
    if out.iter().any(|(k, _)| k == "total") {
        let total = out
            .iter()
            .position(|(k, _)| k == "total")
            .map(|i| out.remove(i));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(total);
    }
    Ordered(out)
}

fn sum_maps<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, u64>>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for m in maps {
        for (k, v) in m {
            *out.entry(k.clone()).or_insert(0) += v;
        }
    }
    out
}

/// Element-wise sum, aligned by index (second `i` of every shard is second `i` of the run).
fn sum_series<'a>(series: impl Iterator<Item = &'a Vec<u64>>) -> Vec<u64> {
    sum_shifted(series.map(|s| (s, 0)))
}

/// Element-wise sum of series each starting `shift` seconds into the run (capped so a
/// hostile start cannot make the vector huge: shards start together or not at all).
fn sum_shifted<'a>(series: impl Iterator<Item = (&'a Vec<u64>, u64)>) -> Vec<u64> {
    let mut out: Vec<u64> = Vec::new();
    for (s, shift) in series {
        let shift = shift.min(MAX_SHIFT_S) as usize;
        if s.len() + shift > out.len() {
            out.resize(s.len() + shift, 0);
        }
        for (o, v) in out[shift..].iter_mut().zip(s) {
            *o += v;
        }
    }
    out
}

/// Most seconds a shard's series is shifted by its later start.
const MAX_SHIFT_S: u64 = 3600;

fn union<'a>(items: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

fn merge_faults(docs: &[ReportDoc], offset_ms: &dyn Fn(usize) -> u64) -> Vec<super::FaultEntry> {
    // One report merges into itself: its faults need no shard to tell them apart.
    if let [only] = docs {
        return only.faults.clone();
    }
    let mut out: Vec<super::FaultEntry> = docs
        .iter()
        .enumerate()
        .flat_map(|(i, d)| {
            let who = shard_label(d);
            let shift = offset_ms(i).min(MAX_SHIFT_S * 1000) * 1000;
            d.faults.iter().map(move |f| super::FaultEntry {
                t_us: f.t_us + shift,
                detail: format!("{who}: {}", f.detail),
                ..f.clone()
            })
        })
        .collect();
    out.sort_by_key(|f| f.t_us);
    out
}

fn merge_receipts(docs: &[ReportDoc]) -> Receipts {
    let mut buckets: Vec<(String, BucketLatency)> = Vec::new();
    for d in docs {
        for (k, b) in d.receipts.notify_by_audience.iter() {
            match buckets.iter_mut().find(|(key, _)| key == k) {
                Some((_, m)) => {
                    m.count += b.count;
                    m.p50_us = m.p50_us.max(b.p50_us);
                    m.p99_us = m.p99_us.max(b.p99_us);
                    m.max_us = m.max_us.max(b.max_us);
                }
                None => buckets.push((k.clone(), b.clone())),
            }
        }
    }
    Receipts {
        messages: docs.iter().map(|d| d.receipts.messages).sum(),
        audience_total: docs.iter().map(|d| d.receipts.audience_total).sum(),
        acked: docs.iter().map(|d| d.receipts.acked).sum(),
        acked_by_second_since_send: sum_series(
            docs.iter().map(|d| &d.receipts.acked_by_second_since_send),
        ),
        notify_by_audience: Ordered(buckets),
    }
}

/// Rows by step: counts and rates add up, percentiles are the largest shard's.
fn merge_staircase(docs: &[ReportDoc]) -> Option<Staircase> {
    let mut out: Option<Staircase> = None;
    for s in docs.iter().filter_map(|d| d.staircase.as_ref()) {
        let Some(m) = out.as_mut() else {
            out = Some(s.clone());
            continue;
        };
        for (row, add) in m.steps.iter_mut().zip(&s.steps) {
            row.sent_msgs_per_sec += add.sent_msgs_per_sec;
            row.acked_receipts += add.acked_receipts;
            row.acked_receipts_per_sec += add.acked_receipts_per_sec;
            row.notify_count += add.notify_count;
            row.notify_p50_us = row.notify_p50_us.max(add.notify_p50_us);
            row.notify_p99_us = row.notify_p99_us.max(add.notify_p99_us);
        }
    }
    if let Some(m) = out.as_mut() {
        let limit = m.saturation_p99_us;
        m.saturated_step = m
            .steps
            .iter()
            .position(|r| r.notify_count > 0 && r.notify_p99_us > limit)
            .map(|i| i as u32);
    }
    out
}

/// Rule rows by rule: counts add up; the outcome is the first shard's that found violations,
/// else "held" when exercised anywhere. Error-code rows: counts add up.
fn merge_coverage<'a>(tables: impl Iterator<Item = &'a CoverageTable>) -> CoverageTable {
    let mut out: Option<CoverageTable> = None;
    for t in tables {
        let Some(m) = out.as_mut() else {
            out = Some(t.clone());
            continue;
        };
        for row in &t.rules {
            if let Some(r) = m.rules.iter_mut().find(|r| r.rule == row.rule) {
                merge_rule(r, row);
            }
        }
        for code in &t.error_codes {
            if let Some(c) = m.error_codes.iter_mut().find(|c| c.code == code.code) {
                merge_code(c, code);
            }
        }
    }
    let mut out = out.unwrap_or_default();
    // Never-exercised rows first, as a run's table is ordered (stable: keeps rule order).
    out.rules.sort_by_key(|r| match r.exercised {
        Some(0) => 0,
        Some(_) => 1,
        None => 2,
    });
    out
}

fn merge_rule(into: &mut RuleRow, add: &RuleRow) {
    into.exercised = match (into.exercised, add.exercised) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
    let violated = |o: &str| o.starts_with("violations");
    if !violated(&into.outcome) {
        if violated(&add.outcome) {
            into.outcome = add.outcome.clone();
        } else if into.exercised.is_some_and(|n| n > 0) {
            into.outcome = "held".to_string();
        }
    }
}

fn merge_code(into: &mut CodeRow, add: &CodeRow) {
    into.expected = match (into.expected, add.expected) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    };
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
