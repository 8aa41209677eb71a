//! The typed schema of `report.json`: the one type that writes the file and that every reader
//! (compare, replay, merge, the tests) parses it into. Field order is the file's key order;
//! maps whose order matters (hops in `Hop::ALL` order, op names then `total`) are [`Ordered`].

use super::ReportError;
use super::human::HopSummary;
use crate::check::{CoverageTable, Violation};
use crate::scenario::Scenario;
use crate::slo::SloResult;
use crate::verdict::Verdict;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bumped whenever a field changes meaning or goes away; readers refuse other versions.
/// 3: `coverage`, `violations_by_invariant` and `verdict.uncovered` (a run can fail for
/// required rules it did not exercise, so a version-2 reader would misread its verdict).
/// Also 3: operations that got no response moved out of `errors` (where they were the pseudo-code
/// `LOST_NO_RESPONSE`) into `lost`; `errors` holds protocol error codes only.
pub const FORMAT_VERSION: u32 = 3;

/// `report.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReportDoc {
    pub format_version: u32,
    pub readsim_version: String,
    pub scenario: String,
    pub scenario_config: Scenario,
    pub seed: u64,
    /// The slice of the run this report covers (`run --shard I/N`): absent for a whole run,
    /// so unsharded reports are unchanged (an added field: no format bump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::scenario::Shard>,
    /// Which target produced the history: "model", "server", "ws://...".
    pub target: String,
    /// "sim" or "live".
    pub driver: String,
    pub virtual_seconds: f64,
    pub events: u64,
    /// 16 lowercase hex digits.
    pub trace_hash: String,
    pub verdict: Verdict,
    /// Completed operations and received pushes by name (sorted), then `total`.
    pub ops: Ordered<u64>,
    /// Error results by protocol error code (docs/protocol.md).
    pub errors: BTreeMap<String, u64>,
    /// Operations that got no response (timed out, or lost with a cut connection or a crashed
    /// server): what the harness gave up on, not an answer of the target.
    pub lost: u64,
    pub violations_total: u64,
    /// Violations per invariant (every invariant, in `Invariant::ALL` order), listed or not.
    pub violations_by_invariant: Ordered<u64>,
    /// The first violations (capped); `violations_total` counts them all.
    pub violations: Vec<Violation>,
    /// Which rules of docs/semantics.md the run put to the test, never-exercised first.
    pub coverage: CoverageTable,
    pub faults: Vec<super::FaultEntry>,
    pub slo: Vec<SloResult>,
    /// One entry per hop, in `Hop::ALL` order (empty hops included).
    pub latency: Ordered<HopLatency>,
    pub throughput: Throughput,
    pub receipts: Receipts,
    /// The rate staircase (`[traffic] steps`), one row per step; absent without steps, so
    /// other runs' reports are unchanged (an added field: no format bump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staircase: Option<Staircase>,
    /// What the target's adapter says about the figures (which hops it derived from what
    /// the target sent); absent when it says nothing (the model, readsim's protocol).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_notes: Vec<String>,
    /// A shard's replay (simulated) or re-run (live) command, for `merge` to name when the
    /// shard fails; absent in a whole run's report (an added field: no format bump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// A report `readsim merge` joined from shards' reports: which, and which were missing.
    /// Absent in a run's own report (an added field: no format bump).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<super::merge::MergeInfo>,
}

/// Where a rate staircase saturated the target: information, never a verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Staircase {
    /// receipt->notified p99 above which a step counts as saturated.
    pub saturation_p99_us: u64,
    /// Index (into `steps`) of the first step whose p99 passes it; null when none did.
    pub saturated_step: Option<u32>,
    pub steps: Vec<StairStep>,
}

/// One step: its time range, the load offered and what the target kept up with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StairStep {
    /// 0 is the base rate, before the first step.
    pub step: u32,
    /// `[from_s, to_s)`, seconds since traffic started.
    pub from_s: f64,
    pub to_s: f64,
    /// Multiplier of the base send rates.
    pub scale: f64,
    /// Configured group + 1:1 send rate in the step (base rates x scale).
    pub offered_msgs_per_sec: f64,
    /// Sends intended to start in the step, per second (what the schedule drew).
    pub sent_msgs_per_sec: f64,
    /// Readers' first receipts acknowledged during the step (by ack time).
    pub acked_receipts: u64,
    pub acked_receipts_per_sec: f64,
    /// receipt->notified of receipts intended to start in the step.
    pub notify_count: u64,
    pub notify_p50_us: u64,
    pub notify_p99_us: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HopLatency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    /// Rounded to 0.1us so the figure reads well; `hdr` holds the exact distribution.
    pub mean_us: f64,
    /// The whole histogram: base64 (standard alphabet) of its HdrHistogram V2 encoding.
    pub hdr: String,
}

/// A hop's percentiles without the histogram, for summaries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HopFigures {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl HopLatency {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Result<HopLatency, ReportError> {
        let s = HopSummary::of(h);
        Ok(HopLatency {
            count: s.count,
            p50_us: s.p50,
            p90_us: s.p90,
            p99_us: s.p99,
            p999_us: s.p999,
            max_us: s.max,
            mean_us: round_to(s.mean, 10.0),
            hdr: super::encode_histogram(h)?,
        })
    }

    pub fn without_hdr(&self) -> HopFigures {
        HopFigures {
            count: self.count,
            p50_us: self.p50_us,
            p90_us: self.p90_us,
            p99_us: self.p99_us,
            p999_us: self.p999_us,
            max_us: self.max_us,
            mean_us: self.mean_us,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// All completed operations and pushes over `virtual_seconds`, rounded to 0.001.
    pub ops_per_virtual_second: f64,
    /// Completed operations and pushes in each second of the run (index = second).
    pub per_second: Vec<u64>,
}

/// How fast audiences read, and notify latency by audience size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipts {
    /// Receipt-needing messages whose send was acknowledged.
    pub messages: u64,
    /// Sum of their audience sizes.
    pub audience_total: u64,
    /// Distinct readers' receipts acknowledged.
    pub acked: u64,
    /// Receipts acknowledged in each whole second since their message's send (index =
    /// second); divide the running sum by `audience_total` for the share that has read.
    pub acked_by_second_since_send: Vec<u64>,
    /// Receipt invoked -> sender notified, by audience-size bucket (bucket order).
    pub notify_by_audience: Ordered<BucketLatency>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BucketLatency {
    pub count: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// `x` rounded to `1 / per_unit` (dividing an integer keeps the shortest decimal form).
pub(crate) fn round_to(x: f64, per_unit: f64) -> f64 {
    (x * per_unit).round() / per_unit
}

/// A JSON object whose key order is part of the format: written and read back in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Ordered<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for InOrder<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Ordered<V>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = a.next_entry()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(InOrder(std::marker::PhantomData))
    }
}

/// Why a report.json could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(
        "cannot read {path}: {source}; pass a report.json written by `readsim run`, or the \
         directory holding it"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readsim report.json ({source}); pass the report.json of a run")]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{path} is report format {found}, this readsim reads format {FORMAT_VERSION}: run the \
         scenario again with this readsim (or use the readsim that wrote it)"
    )]
    Version { path: PathBuf, found: u64 },
}

impl ReportDoc {
    /// The exact bytes of the file: pretty-printed, keys in schema order, newline-terminated.
    pub fn to_json_string(&self) -> Result<String, ReportError> {
        let mut s = serde_json::to_string_pretty(self)?;
        s.push('\n');
        Ok(s)
    }

    /// Parses report.json text (`path` only names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<ReportDoc, ReadError> {
        let format = |source| ReadError::Format {
            path: path.to_path_buf(),
            source,
        };
        #[derive(Deserialize)]
        struct Version {
            format_version: Option<u64>,
        }
        let v: Version = serde_json::from_str(text).map_err(format)?;
        let found = v.format_version.unwrap_or(1);
        if found != u64::from(FORMAT_VERSION) {
            return Err(ReadError::Version {
                path: path.to_path_buf(),
                found,
            });
        }
        serde_json::from_str(text).map_err(format)
    }

    /// Reads `path`: a report.json, or a directory holding one.
    pub fn read(path: &Path) -> Result<(ReportDoc, PathBuf), ReadError> {
        let file = if path.is_dir() {
            path.join("report.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| ReadError::Io {
            path: file.clone(),
            source,
        })?;
        Ok((ReportDoc::parse(&text, &file)?, file))
    }
}
