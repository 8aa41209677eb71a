//! `readsim compare`: is NEW slower than BASELINE? Compares every hop's percentiles and the
//! throughput of two sets of reports and marks regressions.
//!
//! Simulated reports are deterministic, so one run per side is exact: any change is real, and
//! a change past the threshold is a regression. Live reports are noisy: give several runs per
//! side; their histograms are merged for the table, and a regression is called only when the
//! difference passes the threshold *and* every new run is worse than every baseline run by
//! more than the threshold (the change is larger than the run-to-run spread). The harness's
//! own lateness is shown but never called in live runs. The output says how sure each verdict is.

use crate::cmd::{Classify, ExitStatus};
use crate::metrics::{Hop, new_histogram};
use crate::report::{ReadError, ReportDoc, ReportError, decode_histogram};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::path::PathBuf;

mod render;
pub use render::{render, render_markdown};

/// Why reports could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{path}: {source}")]
    Histogram {
        path: PathBuf,
        #[source]
        source: ReportError,
    },
    #[error(
        "invalid threshold {0:?}: write KEY=PCT with KEY a hop name (e.g. receipt_to_notified), \
         a percentile key (p50, p90, p99, p999), `throughput` or `default`, e.g. p99=10"
    )]
    Threshold(String),
    #[error("no reports given for the {0} side; pass at least one report.json")]
    Empty(&'static str),
    #[error(
        "--runs expands one prefix per side, but {0:?} lists several paths; give a prefix \
         (e.g. runs/a for runs/a1..runs/aN) or drop --runs"
    )]
    RunsWithList(String),
    #[error("cannot write {path}: {source}; choose a writable path")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Classify for CompareError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            CompareError::Write { .. } => ExitStatus::HarnessFailed,
            _ => ExitStatus::BadInput,
        }
    }
}

/// One side of a comparison: one or more runs.
pub struct Side {
    pub paths: Vec<PathBuf>,
    pub scenario: String,
    /// What the runs drove (`model`, `server`, `synapse`, a URL) and the semantics profile
    /// they were checked against; the last report's.
    pub target: String,
    pub profile: String,
    pub simulated: bool,
    pub violations: u64,
    /// Per hop: each run's histogram, and their merge.
    runs: BTreeMap<&'static str, Vec<Histogram<u64>>>,
    merged: BTreeMap<&'static str, Histogram<u64>>,
    throughput: Vec<f64>,
}

impl Side {
    /// Loads the reports at `paths` (files, or directories holding report.json).
    pub fn load(paths: &[PathBuf], which: &'static str) -> Result<Side, CompareError> {
        if paths.is_empty() {
            return Err(CompareError::Empty(which));
        }
        let mut side = Side {
            paths: Vec::new(),
            scenario: String::new(),
            target: String::new(),
            profile: String::new(),
            simulated: true,
            violations: 0,
            runs: BTreeMap::new(),
            merged: BTreeMap::new(),
            throughput: Vec::new(),
        };
        for p in paths {
            let (r, path) = ReportDoc::read(p)?;
            side.scenario = r.scenario;
            side.target = r.target.clone();
            side.profile = r
                .coverage
                .profile
                .clone()
                .unwrap_or_else(|| "tencent".into());
            side.simulated &= r.driver == "sim";
            side.violations += r.violations_total;
            side.throughput.push(r.throughput.ops_per_virtual_second);
            for hop in Hop::ALL {
                let Some(e) = r.latency.get(hop.name()) else {
                    continue;
                };
                let h = decode_histogram(&e.hdr).map_err(|source| CompareError::Histogram {
                    path: path.clone(),
                    source,
                })?;
                side.merged
                    .entry(hop.name())
                    .or_insert_with(new_histogram)
                    .add(&h)
                    .ok();
                side.runs.entry(hop.name()).or_default().push(h);
            }
            side.paths.push(path);
        }
        Ok(side)
    }
}

/// Thresholds in percent, by hop name, percentile key, `throughput` or `default`.
#[derive(Clone, Debug)]
pub struct Thresholds(BTreeMap<String, f64>);

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds(BTreeMap::from([("default".to_string(), 5.0)]))
    }
}

impl Thresholds {
    /// Parses `KEY=PCT` items over the defaults.
    pub fn parse(items: &[String]) -> Result<Thresholds, CompareError> {
        let mut t = Thresholds::default();
        for item in items {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| CompareError::Threshold(item.clone()))?;
            let pct: f64 = v
                .trim()
                .trim_end_matches('%')
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| CompareError::Threshold(item.clone()))?;
            let known = k == "default"
                || k == "throughput"
                || PERCENTILES.iter().any(|(n, _)| *n == k)
                || Hop::ALL.iter().any(|h| h.name() == k);
            if !known {
                return Err(CompareError::Threshold(item.clone()));
            }
            t.0.insert(k.to_string(), pct);
        }
        Ok(t)
    }

    /// The threshold for `hop`'s `pct` key: hop beats percentile beats default.
    fn get(&self, hop: &str, pct: &str) -> f64 {
        self.0
            .get(hop)
            .or_else(|| self.0.get(pct))
            .or_else(|| self.0.get("default"))
            .copied()
            .unwrap_or(5.0)
    }
}

const PERCENTILES: [(&str, f64); 4] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9)];

/// How sure a verdict is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Certainty {
    /// Both sides simulated: deterministic, the numbers are exact.
    Exact,
    /// Several runs per side and their ranges do not overlap.
    BeyondSpread,
    /// The change is within the run-to-run spread: not called.
    WithinSpread,
    /// One live run per side: no spread to judge noise by, so nothing is called.
    SingleRun,
    /// One live run per side and a change past twice the threshold that sampling alone does
    /// not explain: worth re-running with several runs per side, but not called (runs of one
    /// build differ by that much on a busy machine).
    SingleRunSuspect,
    /// The harness's own lateness in a live run: context for the other figures, never called.
    Harness,
}

impl Certainty {
    pub fn describe(self) -> &'static str {
        match self {
            Certainty::Exact => "exact (deterministic simulation)",
            Certainty::BeyondSpread => "beyond the run-to-run spread",
            Certainty::WithinSpread => "within the run-to-run spread: not called",
            Certainty::SingleRun => "one live run per side: noise unknown, not called",
            Certainty::SingleRunSuspect => {
                "possible regression, but one live run per side cannot tell it from run-to-run \
                 noise: not called; compare 3-5 runs per side (--runs)"
            }
            Certainty::Harness => "the harness's own lateness: context, not called",
        }
    }
}

/// One compared figure.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Row {
    pub hop: String,
    pub key: &'static str,
    pub base: f64,
    pub new: f64,
    /// Relative change in percent (positive = worse for latency, better for throughput).
    pub delta_pct: f64,
    pub threshold_pct: f64,
    pub regression: bool,
    pub certainty: Certainty,
}

/// The comparison.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Comparison {
    pub rows: Vec<Row>,
    pub base_runs: usize,
    pub new_runs: usize,
    pub simulated: bool,
    pub new_violations: u64,
    /// Each side's target and profile, e.g. ("server", "tencent").
    pub base_target: (String, String),
    pub new_target: (String, String),
}

impl Comparison {
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.regression)
    }

    pub fn has_regression(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// Whether the sides drove different backends (or were held to different rules): a
    /// comparison of backends rather than of two builds.
    pub fn cross_backend(&self) -> bool {
        self.base_target != self.new_target
    }

    /// The column names: "baseline"/"new", or the targets when they differ.
    pub fn side_names(&self) -> (String, String) {
        let (b, n) = (&self.base_target, &self.new_target);
        if b.0 != n.0 {
            (b.0.clone(), n.0.clone())
        } else if b.1 != n.1 {
            (format!("{}/{}", b.0, b.1), format!("{}/{}", n.0, n.1))
        } else {
            ("baseline".into(), "new".into())
        }
    }

    /// For a comparison of backends, what it does and does not say.
    pub fn backends_note(&self) -> Option<String> {
        self.cross_backend().then(|| {
            format!(
                "backends compared: {} (checked against the {} rules) vs {} (the {} rules); \
                 the hops are the same operations of the same seeded traffic, but the rules \
                 checked differ, so each side's violations are against its own rules",
                self.base_target.0, self.base_target.1, self.new_target.0, self.new_target.1
            )
        })
    }

    /// How sure the comparison as a whole is, in one sentence.
    pub fn confidence(&self) -> String {
        if self.simulated {
            return "exact: both sides are deterministic simulations, so every difference is \
                    real; a regression is a change past its threshold"
                .to_string();
        }
        let (n, m) = (self.base_runs, self.new_runs);
        if n >= 2 && m >= 2 {
            format!(
                "{n} vs {m} live runs: a regression is called only when the change passes its \
                 threshold and every new run is worse than every baseline run by more than the \
                 threshold; for runs of the same build the ranges separate by chance with \
                 probability at most {:.2}% per figure",
                100.0 * separation_chance(n, m)
            )
        } else {
            "one live run on a side: the run-to-run noise is unknown, so no regression is \
             called; changes past twice the threshold whose 99.9% sampling intervals do not \
             overlap are marked as possible; give 3-5 runs per side (--runs) for a verdict"
                .to_string()
        }
    }

    /// Rows worst first: regressions by how much worse, then the rest by how much worse.
    pub fn worst_first(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by(|a, b| {
            b.regression
                .cmp(&a.regression)
                .then(b.worse_pct().total_cmp(&a.worse_pct()))
        });
        rows
    }

    /// The comparison as JSON: verdict, confidence and every row.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "verdict": if self.has_regression() { "regression" } else { "no_regression" },
            "regressions": self.regressions().count(),
            "confidence": self.confidence(),
            "comparison": self,
        })
    }
}

impl Row {
    /// How much worse `new` is, in percent (negative = better): higher latency, lower
    /// throughput.
    pub fn worse_pct(&self) -> f64 {
        if self.hop == "throughput" {
            -self.delta_pct
        } else {
            self.delta_pct
        }
    }
}

/// The chance that all `m` runs of one side land above all `n` runs of the other when both
/// are runs of the same build (exchangeable): 1 / C(n+m, n).
pub fn separation_chance(n: usize, m: usize) -> f64 {
    let mut c = 1.0f64;
    for i in 1..=n {
        c = c * (m + i) as f64 / i as f64;
    }
    1.0 / c
}

fn delta(base: f64, new: f64) -> f64 {
    if base == new {
        0.0
    } else if base == 0.0 {
        100.0
    } else {
        (new - base) / base * 100.0
    }
}

fn range(v: &[f64]) -> (f64, f64) {
    v.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Judges a change that is worse by `worse_pct` (> 0 means worse).
fn verdict(
    simulated: bool,
    runs: (usize, usize),
    worse_pct: f64,
    threshold: f64,
    within_spread: bool,
) -> (bool, Certainty) {
    if simulated {
        return (worse_pct > threshold, Certainty::Exact);
    }
    if runs.0 >= 2 && runs.1 >= 2 {
        if within_spread {
            return (false, Certainty::WithinSpread);
        }
        return (worse_pct > threshold, Certainty::BeyondSpread);
    }
    // One run on a side: two runs of one build differ beyond their sampling error (machine
    // load, warm-up), so a single pair never proves a regression. A change past twice the
    // threshold that sampling does not explain (`within_spread` is then the quantiles'
    // confidence overlap) is flagged as suspect, for a re-run with several runs per side.
    if worse_pct > 2.0 * threshold && !within_spread {
        (false, Certainty::SingleRunSuspect)
    } else {
        (false, Certainty::SingleRun)
    }
}

/// A distribution-free 99.9% confidence interval of quantile `q` (percent) of the population
/// `h` samples, from the order statistics: the ranks n·p ± 3.29·sqrt(n·p·(1-p)). A tail
/// percentile of a short run rests on a handful of samples, and its interval says so (the
/// upper end is unbounded when the rank runs past the largest sample).
pub fn quantile_interval(h: &Histogram<u64>, q: f64) -> (f64, f64) {
    let n = h.len() as f64;
    if n == 0.0 {
        return (0.0, f64::INFINITY);
    }
    let p = q / 100.0;
    let sd = (n * p * (1.0 - p)).sqrt();
    let (lo_rank, hi_rank) = (n * p - 3.29 * sd, n * p + 3.29 * sd + 1.0);
    let lo = if lo_rank <= 1.0 {
        h.min() as f64
    } else {
        h.value_at_quantile(lo_rank / n) as f64
    };
    let hi = if hi_rank >= n {
        f64::INFINITY
    } else {
        h.value_at_quantile(hi_rank / n) as f64
    };
    (lo, hi)
}

/// Compares `new` with `base` under `thresholds`.
pub fn compare(base: &Side, new: &Side, thresholds: &Thresholds) -> Comparison {
    let sides = Sides {
        base,
        new,
        thresholds,
        simulated: base.simulated && new.simulated,
        runs: (base.paths.len(), new.paths.len()),
    };
    let mut rows = Vec::new();
    for hop in Hop::ALL {
        let (Some(b), Some(n)) = (base.merged.get(hop.name()), new.merged.get(hop.name())) else {
            continue;
        };
        if b.is_empty() && n.is_empty() {
            continue;
        }
        for (key, q) in PERCENTILES {
            rows.push(sides.percentile_row(hop, (b, n), key, q));
        }
    }
    rows.push(sides.throughput_row());
    Comparison {
        rows,
        base_runs: sides.runs.0,
        new_runs: sides.runs.1,
        simulated: sides.simulated,
        new_violations: new.violations,
        base_target: (base.target.clone(), base.profile.clone()),
        new_target: (new.target.clone(), new.profile.clone()),
    }
}

/// The two sides of a comparison and what holds for both.
struct Sides<'a> {
    base: &'a Side,
    new: &'a Side,
    thresholds: &'a Thresholds,
    /// Both sides simulated: figures are exact, any change past the threshold is called.
    simulated: bool,
    /// Runs on the base side and on the new side.
    runs: (usize, usize),
}

impl Sides<'_> {
    /// One hop's percentile `q` (named `key`), from the merged histograms `(b, n)`.
    fn percentile_row(
        &self,
        hop: Hop,
        (b, n): (&Histogram<u64>, &Histogram<u64>),
        key: &'static str,
        q: f64,
    ) -> Row {
        let (simulated, runs) = (self.simulated, self.runs);
        let (bv, nv) = (
            b.value_at_percentile(q) as f64,
            n.value_at_percentile(q) as f64,
        );
        let per_run = |side: &Side| -> Vec<f64> {
            side.runs[hop.name()]
                .iter()
                .map(|h| h.value_at_percentile(q) as f64)
                .collect()
        };
        let ((blo, bhi), (nlo, nhi)) = (range(&per_run(self.base)), range(&per_run(self.new)));
        let d = delta(bv, nv);
        let threshold = self.thresholds.get(hop.name(), key);
        // Live: every new run must be worse than every baseline run by more than the
        // threshold, so one noisy run on either side cannot make a regression. With one
        // run on a side, the quantiles' sampling intervals must separate instead.
        let within = if runs.0 >= 2 && runs.1 >= 2 {
            nlo <= bhi * (1.0 + threshold / 100.0) && blo <= nhi
        } else {
            let (_, b_hi) = quantile_interval(b, q);
            let (n_lo, _) = quantile_interval(n, q);
            n_lo <= b_hi * (1.0 + threshold / 100.0)
        };
        let (mut regression, mut certainty) = verdict(simulated, runs, d, threshold, within);
        if hop == Hop::HarnessLateness && !simulated {
            // The harness's own timer lateness says how trustworthy the other figures
            // are, not how fast the target is: shown, never called.
            (regression, certainty) = (false, Certainty::Harness);
        }
        Row {
            hop: hop.name().to_string(),
            key,
            base: bv,
            new: nv,
            delta_pct: d,
            threshold_pct: threshold,
            regression,
            certainty,
        }
    }

    /// Mean throughput per second; lower is worse.
    fn throughput_row(&self) -> Row {
        let (base, new) = (self.base, self.new);
        let (bt, nt) = (
            base.throughput.iter().sum::<f64>() / base.throughput.len().max(1) as f64,
            new.throughput.iter().sum::<f64>() / new.throughput.len().max(1) as f64,
        );
        let ((blo, _), (_, nhi)) = (range(&base.throughput), range(&new.throughput));
        let d = delta(bt, nt);
        let threshold = self.thresholds.get("throughput", "throughput");
        let within = nhi >= blo * (1.0 - threshold / 100.0);
        let (regression, certainty) = verdict(self.simulated, self.runs, -d, threshold, within);
        Row {
            hop: "throughput".into(),
            key: "ops/s",
            base: bt,
            new: nt,
            delta_pct: d,
            threshold_pct: threshold,
            regression,
            certainty,
        }
    }
}

/// What `readsim compare` was asked to do.
pub struct CompareOptions {
    /// Comma-separated report paths (or, with `runs`, one prefix) per side.
    pub baseline: String,
    pub new: String,
    pub thresholds: Vec<String>,
    pub runs: Option<u32>,
    pub format: CompareFormat,
    /// Also write the Markdown table here.
    pub markdown: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CompareFormat {
    Text,
    Json,
    Markdown,
}

/// The report paths of one side: a comma-separated list, or `PREFIX1..PREFIXn` with `runs`.
fn side_paths(s: &str, runs: Option<u32>) -> Result<Vec<PathBuf>, CompareError> {
    match runs {
        Some(_) if s.contains(',') => Err(CompareError::RunsWithList(s.to_string())),
        Some(n) => Ok((1..=n).map(|i| PathBuf::from(format!("{s}{i}"))).collect()),
        None => Ok(s
            .split(',')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect()),
    }
}

/// `readsim compare`: prints the comparison; exit 1 on a regression.
pub fn execute(o: &CompareOptions) -> Result<ExitStatus, CompareError> {
    let t = Thresholds::parse(&o.thresholds)?;
    let b = Side::load(&side_paths(&o.baseline, o.runs)?, "baseline")?;
    let n = Side::load(&side_paths(&o.new, o.runs)?, "new")?;
    let c = compare(&b, &n, &t);
    let md = render_markdown(&c);
    if let Some(path) = &o.markdown {
        std::fs::write(path, &md).map_err(|source| CompareError::Write {
            path: path.clone(),
            source,
        })?;
    }
    match o.format {
        CompareFormat::Text => super::print(&render(&c)),
        CompareFormat::Json => super::print(&format!(
            "{}\n",
            serde_json::to_string_pretty(&c.to_json()).unwrap_or_default()
        )),
        CompareFormat::Markdown => super::print(&md),
    }
    Ok(if c.has_regression() {
        ExitStatus::TargetFailed
    } else {
        ExitStatus::Pass
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_resolve() {
        let t = Thresholds::parse(&["p99=10".into(), "receipt_to_notified=2%".into()]).unwrap();
        assert_eq!(t.get("receipt_to_notified", "p99"), 2.0);
        assert_eq!(t.get("send_ack", "p99"), 10.0);
        assert_eq!(t.get("send_ack", "p50"), 5.0);
        assert!(Thresholds::parse(&["bogus=1".into()]).is_err());
        assert!(Thresholds::parse(&["p99".into()]).is_err());
        assert!(Thresholds::parse(&["p99=-1".into()]).is_err());
    }

    #[test]
    fn separation_chance_is_one_over_binomial() {
        assert!((separation_chance(5, 5) - 1.0 / 252.0).abs() < 1e-12);
        assert!((separation_chance(3, 3) - 1.0 / 20.0).abs() < 1e-12);
        assert_eq!(separation_chance(1, 1), 0.5);
    }

    #[test]
    fn verdicts_respect_noise() {
        assert_eq!(
            verdict(true, (1, 1), 6.0, 5.0, true),
            (true, Certainty::Exact)
        );
        assert_eq!(
            verdict(true, (1, 1), 4.0, 5.0, true),
            (false, Certainty::Exact)
        );
        assert_eq!(
            verdict(false, (5, 5), 30.0, 5.0, true),
            (false, Certainty::WithinSpread)
        );
        assert_eq!(
            verdict(false, (5, 5), 30.0, 5.0, false),
            (true, Certainty::BeyondSpread)
        );
        assert_eq!(
            verdict(false, (1, 1), 8.0, 5.0, false),
            (false, Certainty::SingleRun)
        );
        assert_eq!(
            verdict(false, (1, 1), 11.0, 5.0, false),
            (false, Certainty::SingleRunSuspect)
        );
        assert_eq!(
            verdict(false, (1, 1), 30.0, 5.0, true),
            (false, Certainty::SingleRun)
        );
    }

    #[test]
    fn quantile_intervals_widen_in_the_tail_of_few_samples() {
        let mut h = crate::metrics::new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 10).unwrap();
        }
        let (lo, hi) = quantile_interval(&h, 50.0);
        assert!(lo < 5000.0 && hi > 5000.0 && hi - lo < 1200.0, "{lo} {hi}");
        // p99.9 of 1000 samples rests on one sample: no upper bound.
        let (lo, hi) = quantile_interval(&h, 99.9);
        assert!(lo < 9990.0 && hi.is_infinite(), "{lo} {hi}");
        let empty = crate::metrics::new_histogram();
        assert_eq!(quantile_interval(&empty, 50.0), (0.0, f64::INFINITY));
    }
}
