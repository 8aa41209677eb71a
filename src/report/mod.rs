//! Run reports: `report.json` (deterministic for simulated runs: nothing wall-clock in it),
//! `run.json` (wall-clock figures), `report.md`, `report.html` (one self-contained page with
//! charts), and the terminal summary.

mod coverage;
mod cpu;
mod host;
mod html;
mod human;
mod json;
mod markdown;
mod merge;
mod merge_run;
mod merged_md;
mod rss;
pub mod schema;
mod staircase;
mod svg;
mod target_notes;
mod terminal;
#[cfg(test)]
mod tests;
mod ticks;

pub use cpu::{CpuTime, children_cpu, process_cpu};
pub use host::{HostLoad, mark_start as mark_host_start, since_start as host_since_start};
pub use html::{HTML_VIOLATIONS, doc_html, report_html};
pub use human::{format_bytes, format_micros, format_rate, format_seconds};
pub use json::{decode_histogram, encode_histogram, report_doc, report_json, report_json_string};
pub use markdown::{MARKDOWN_VIOLATIONS, report_markdown};
pub use merge::{FailedShard, HopSet, MergeInfo, merge_docs, shard_label};
pub use merge_run::{MergedRun, ShardRun, merge_runs, offsets_ms};
pub use merged_md::merged_markdown;
pub use rss::{current_rss_bytes, mem_total_bytes, peak_rss_bytes};
pub use schema::{FORMAT_VERSION, ReadError, ReportDoc};
pub use terminal::{TERMINAL_VIOLATIONS, terminal_summary};

use crate::check::{CoverageTable, Invariant, Violation};
use crate::metrics::Metrics;
use crate::scenario::Scenario;
use crate::slo::SloResult;
use crate::verdict::Verdict;
use std::path::{Path, PathBuf};

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
    /// Violations per invariant in [`Invariant::ALL`] order, listed or not.
    pub violations_by_invariant: &'a [u64; Invariant::ALL.len()],
    /// Which rules of docs/semantics.md the run put to the test, and how often.
    pub coverage: &'a CoverageTable,
    /// Virtual seconds (sim) or elapsed seconds (live) from the first to the last event.
    pub virtual_seconds: f64,
    /// Fingerprint of the whole event trace (determinism self-check).
    pub trace_hash: u64,
    /// Number of history events.
    pub events: u64,
    /// Faults injected during the run, in time order (empty when none were).
    pub faults: &'a [FaultEntry],
    /// The scenario's SLOs and how the run did against each (empty without `[slo]`).
    pub slo: &'a [SloResult],
    /// The run's verdict, decided once by the runner; every report renders this value.
    pub verdict: &'a Verdict,
    /// What the target's adapter says about the figures (which hops it derived); empty for
    /// the model and readsim's own protocol.
    pub target_notes: Vec<String>,
    /// The command that replays (simulated) or re-runs (live) this run, recorded in a
    /// shard's report.json so a merge can name it for a failing shard; None for a whole run.
    pub replay: Option<String>,
}

impl RunOutcome<'_> {
    /// Violations counted but not listed when a report shows the first `shown` (capped at
    /// those recorded).
    pub fn unlisted(&self, shown: usize) -> u64 {
        self.violations_total
            .saturating_sub(self.violations.len().min(shown) as u64)
    }
}

/// One injected fault, for the fault timeline of the reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultEntry {
    /// When it happened (virtual or monotonic microseconds since the start of traffic).
    pub t_us: u64,
    /// What happened: "disconnect", "reconnect", "crash", "restart", "burst", "join",
    /// "leave", "kick", "drop", "partition", ...
    pub kind: String,
    /// Who or what it hit, for people ("client 17", "group 3", ...).
    pub detail: String,
}

impl FaultEntry {
    /// The report's fault list from a run's fault log: connection, server, burst and churn
    /// faults one by one in time order; per-frame faults as one summary entry per kind at
    /// the end of the fault phase; and the end of the fault phase itself.
    pub fn from_log(log: &crate::history::FaultLog) -> Vec<FaultEntry> {
        let mut out: Vec<FaultEntry> = log
            .listed
            .iter()
            .map(|&(t, kind, client)| FaultEntry {
                t_us: t,
                kind: kind.name().to_string(),
                detail: match client {
                    Some(u) => format!("client {u}"),
                    None => "server".to_string(),
                },
            })
            .collect();
        let listed = out.len() as u64;
        let end = log.calm_at.unwrap_or(0);
        for (&kind, &n) in &log.counts {
            if kind.per_frame() {
                out.push(FaultEntry {
                    t_us: end,
                    kind: kind.name().to_string(),
                    detail: format!("{n} frames during the fault phase"),
                });
            }
        }
        let all_listed: u64 = log
            .counts
            .iter()
            .filter(|(k, _)| !k.per_frame())
            .map(|(_, n)| n)
            .sum();
        if all_listed > listed {
            out.push(FaultEntry {
                t_us: end,
                kind: "more".to_string(),
                detail: format!("{} further faults not listed", all_listed - listed),
            });
        }
        if let Some(t) = log.calm_at {
            out.push(FaultEntry {
                t_us: t,
                kind: "calm".to_string(),
                detail: "fault phase over: liveness enforced from here".to_string(),
            });
        }
        out.sort_by_key(|e| e.t_us);
        out
    }
}

/// Wall-clock figures of a run (run.json): never part of report.json.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct RunStats {
    pub wall_seconds: f64,
    pub virtual_seconds: f64,
    pub ops_per_wall_second: f64,
    pub peak_rss_bytes: u64,
    /// CPU time of the readsim process (all its threads; in live runs the harness only, not
    /// the server), taken with the peak RSS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuTime>,
    /// Operations per core-second: the operations of the run over `cpu`'s user + system
    /// seconds (comparable across machines with more cores, unlike ops per wall second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ops_per_cpu_second: Option<f64>,
    /// Live runs against a target readsim started (`--target server`, `synapse`): that
    /// process's CPU time, every instance of it, setup included. With `cpu`, the split of
    /// the machine between the harness and the server it drives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_cpu: Option<CpuTime>,
    /// How busy the whole machine was during the run, and how much CPU the hypervisor took
    /// (steal): latency measured on a contended machine is not a quiet machine's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostLoad>,
    /// Live runs: acknowledged receipts (per message) per second, first to last ack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked_receipts_per_second: Option<f64>,
    /// Live runs: most WebSocket clients connected at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_clients: Option<u64>,
    /// Live runs: the common start asked for (`run --start-at`), ms since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_epoch_ms: Option<u64>,
    /// Live runs: when the traffic phase (time 0 of the history) began, ms since the Unix
    /// epoch; `merge` aligns the shards' per-second throughput on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_started_at_epoch_ms: Option<u64>,
}

/// Why a report could not be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Creating the report directory or writing a file in it failed.
    #[error(
        "cannot write {path}: {source}; check that the directory can be created and written \
         and that the disk has space, or choose another output directory"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The report did not serialise to JSON (a scenario or violation type that JSON cannot
    /// represent): a readsim bug.
    #[error("cannot serialise the report as JSON: {0}; this is a readsim bug, please report it")]
    Json(#[from] serde_json::Error),
    /// A histogram could not be V2-encoded (a count above i64::MAX).
    #[error(
        "cannot encode a latency histogram in HdrHistogram V2 format: {0}; \
         a count over i64::MAX means the run is far too long to report in one piece, split it"
    )]
    HistogramEncode(hdrhistogram::serialization::V2SerializeError),
    /// Two shards' histograms could not be added (a count overflow).
    #[error(
        "cannot merge the shards' latency histograms: {0}; the merged counts overflow, merge \
         fewer shards at a time"
    )]
    HistogramMerge(String),
    /// An `hdr` string is not base64.
    #[error(
        "the histogram is not valid base64 ({0}); pass the `hdr` string of a report.json \
         latency entry unchanged"
    )]
    Base64(#[from] base64::DecodeError),
    /// Base64 decoded, but the bytes are no HdrHistogram V2 encoding.
    #[error(
        "the histogram is not an HdrHistogram V2 encoding ({0}); pass the `hdr` string of a \
         report.json written by readsim, from a file that was not truncated or edited"
    )]
    HistogramDecode(#[from] hdrhistogram::serialization::DeserializeError),
}

/// The four files of a run's report, rendered and not yet written.
pub struct ReportFiles {
    /// report.json as a typed document, and its exact bytes.
    pub doc: ReportDoc,
    pub json: String,
    pub run_json: String,
    pub markdown: String,
    pub html: String,
}

impl ReportFiles {
    /// Renders every report of `o`.
    pub fn render(o: &RunOutcome, stats: &RunStats) -> Result<ReportFiles, ReportError> {
        let doc = report_doc(o)?;
        Ok(ReportFiles {
            json: doc.to_json_string()?,
            run_json: serde_json::to_string_pretty(stats)? + "\n",
            markdown: report_markdown(o, stats),
            html: doc_html(&doc, o.metrics, stats, &[]),
            doc,
        })
    }

    /// Creates `dir` (and its parents) and writes `report.json` (deterministic), `run.json`
    /// (the wall-clock [`RunStats`]), `report.md` and `report.html` into it.
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let files = [
            ("report.json", &self.json),
            ("run.json", &self.run_json),
            ("report.md", &self.markdown),
            ("report.html", &self.html),
        ];
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| ReportError::Io { path, source })?;
        }
        Ok(())
    }
}

/// Renders and writes every report of `o` into `dir` (see [`ReportFiles::write`]).
pub fn write_reports(dir: &Path, o: &RunOutcome, stats: &RunStats) -> Result<(), ReportError> {
    ReportFiles::render(o, stats)?.write(dir)
}
