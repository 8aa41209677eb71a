//! Merge is exact: every hop's figures of a merge equal those of one histogram of all the
//! shards' samples; one report merges back into itself; one shard's violation fails it.

use super::*;
use crate::check::{Invariant, Violation};
use crate::scenario::Shard;
use rand::{RngExt, SeedableRng};

/// A real report.json to vary: the smoke baseline.
fn baseline() -> ReportDoc {
    let text = include_str!("../../reports/baseline/smoke/report.json");
    ReportDoc::parse(text, std::path::Path::new("baseline")).unwrap()
}

fn info(shards: u32) -> MergeInfo {
    MergeInfo {
        shards,
        merged: (0..shards).collect(),
        ..MergeInfo::default()
    }
}

fn as_shard(mut d: ReportDoc, index: u32, count: u32) -> ReportDoc {
    d.shard = Some(Shard { index, count });
    d
}

#[test]
fn every_hop_is_the_histogram_of_all_shards_samples_together() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let shards = 3;
    let mut all: Vec<Histogram<u64>> = Hop::ALL
        .iter()
        .map(|_| crate::metrics::new_histogram())
        .collect();
    let mut docs = Vec::new();
    for i in 0..shards {
        let mut d = as_shard(baseline(), i, shards);
        let mut latency = Vec::new();
        for (k, hop) in Hop::ALL.iter().enumerate() {
            let mut h = crate::metrics::new_histogram();
            // Shards of different sizes and spreads, so averaged percentiles would be wrong.
            let n = 50 + 400 * i as usize + 37 * k;
            let scale = 1_000 * u64::from(i + 1).pow(3);
            for _ in 0..n {
                let v = rng.random_range(1..=scale * 100)
                    + if rng.random_bool(0.01) { 5_000_000 } else { 0 };
                h.record(v).unwrap();
                all[k].record(v).unwrap();
            }
            latency.push((hop.name().to_string(), HopLatency::of(&h).unwrap()));
        }
        d.latency = Ordered(latency);
        docs.push(d);
    }
    let merged = merge_docs(&docs, info(shards), &[]).unwrap();
    for (k, hop) in Hop::ALL.iter().enumerate() {
        let want = HopLatency::of(&all[k]).unwrap();
        let got = merged.latency.get(hop.name()).unwrap();
        assert_eq!(got.count, want.count, "{hop:?}");
        assert_eq!(
            (got.p50_us, got.p90_us, got.p99_us, got.p999_us, got.max_us),
            (
                want.p50_us,
                want.p90_us,
                want.p99_us,
                want.p999_us,
                want.max_us
            ),
            "{hop:?}"
        );
        assert_eq!(got.hdr, want.hdr, "{hop:?}: the merged histogram itself");
    }
}

#[test]
fn merging_one_report_gives_its_figures_back() {
    let d = baseline();
    let m = merge_docs(std::slice::from_ref(&d), info(1), &[]).unwrap();
    assert_eq!(m.latency, d.latency);
    assert_eq!(m.ops, d.ops);
    assert_eq!(m.errors, d.errors);
    assert_eq!(m.lost, d.lost);
    assert_eq!(m.receipts, d.receipts);
    assert_eq!(m.throughput, d.throughput);
    assert_eq!(m.violations_by_invariant, d.violations_by_invariant);
    assert_eq!(m.coverage, d.coverage);
    assert_eq!(m.slo, d.slo);
    assert_eq!(m.verdict, d.verdict);
    assert_eq!(m.trace_hash, d.trace_hash);
    assert_eq!(m.faults, d.faults);
    // Everything but the merge record: the file is the run's, plus `merged`.
    let mut again = m.clone();
    again.merged = None;
    assert_eq!(again.to_json_string().unwrap(), d.to_json_string().unwrap());
}

#[test]
fn counts_add_up_and_seconds_align() {
    let (a, b) = (as_shard(baseline(), 0, 2), as_shard(baseline(), 1, 2));
    let mut b = b;
    b.throughput.per_second.truncate(3);
    let m = merge_docs(&[a.clone(), b.clone()], info(2), &[]).unwrap();
    for (op, n) in m.ops.iter() {
        assert_eq!(*n, a.ops.get(op).unwrap() + b.ops.get(op).unwrap(), "{op}");
    }
    assert_eq!(m.receipts.acked, a.receipts.acked + b.receipts.acked);
    assert_eq!(m.throughput.per_second.len(), a.throughput.per_second.len());
    assert_eq!(
        m.throughput.per_second[0],
        a.throughput.per_second[0] + b.throughput.per_second[0]
    );
    assert_eq!(m.throughput.per_second[5], a.throughput.per_second[5]);
    assert!(m.verdict.passed(), "{:?}", m.verdict);
}

#[test]
fn a_later_start_shifts_a_shards_seconds_and_faults() {
    let mut a = as_shard(baseline(), 0, 2);
    let mut b = as_shard(baseline(), 1, 2);
    a.throughput.per_second = vec![1, 2, 3];
    b.throughput.per_second = vec![10, 20, 30];
    a.faults.clear();
    b.faults = vec![crate::report::FaultEntry {
        t_us: 5,
        kind: "disconnect".into(),
        detail: "client 1".into(),
    }];
    // b began 1.6 s after a: its second 0 is the run's second 2 (rounded to whole seconds).
    let m = merge_docs(&[a, b], info(2), &[0, 1600]).unwrap();
    assert_eq!(m.throughput.per_second, [1, 2, 13, 20, 30]);
    assert_eq!(m.faults[0].t_us, 1_600_005);
    assert_eq!(m.faults[0].detail, "shard 1/2: client 1");
}

#[test]
fn one_shards_violation_fails_the_merged_verdict_with_its_replay_command() {
    let a = as_shard(baseline(), 0, 2);
    let mut b = as_shard(baseline(), 1, 2);
    let replay = "readsim run scenarios/smoke.toml --seed 42 --shard 1/2";
    b.violations = vec![Violation {
        invariant: Invariant::CountSum,
        t_us: 5,
        client: None,
        msg: None,
        observed: "count 3".into(),
        bound: "<= 2".into(),
        after_fault: None,
        replay: replay.into(),
    }];
    b.violations_total = 1;
    b.violations_by_invariant.0[0].1 = 1;
    b.verdict.violations = 1;
    let m = merge_docs(&[a, b], info(2), &[]).unwrap();
    assert!(!m.verdict.passed());
    assert_eq!(m.verdict.violations, 1);
    assert_eq!(m.violations_total, 1);
    assert_eq!(m.violations[0].replay, replay);
    assert_eq!(m.violations_by_invariant.0[0].1, 1);
}

#[test]
fn a_partial_merge_says_which_shards_are_missing_and_fails() {
    let d = as_shard(baseline(), 1, 3);
    let partial = MergeInfo {
        shards: 3,
        merged: vec![1],
        missing: vec![0, 2],
        ..MergeInfo::default()
    };
    let m = merge_docs(&[d], partial, &[]).unwrap();
    assert!(!m.verdict.passed());
    let md = super::super::merged_markdown(&m, &[]);
    let first = md.lines().next().unwrap();
    assert!(first.contains("shards 0, 2 of 3 missing"), "{first}");
}
