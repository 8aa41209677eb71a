//! From an executed run to its verdict and reports: SLOs, the fault list, the verdict, every
//! report file and the terminal summary. One path for simulated and live runs.

use super::RunError;
use super::drive::{Executed, LiveFacts};
use crate::cmd::judge::{Measured, judge, per_second};
use crate::live::DriveStats;
use crate::report::{self, FaultEntry, ReportDoc, ReportFiles, RunOutcome, RunStats};
use crate::scenario::Scenario;
use crate::workload::Workload;
use std::fmt::Write as _;
use std::path::Path;

/// A judged run, its reports rendered.
pub struct Rendered {
    pub doc: ReportDoc,
    pub trace_hash: u64,
    pub report_json: String,
    pub terminal: String,
    pub stats: RunStats,
    files: ReportFiles,
    /// The live driver's counters, for run.json.
    live: Option<DriveStats>,
}

impl Rendered {
    /// Writes report.json, report.md, report.html and run.json into `dir`. `peak_rss_bytes`
    /// is measured here, after every report and the terminal summary were rendered, so it
    /// covers the whole run (it is a high-water mark).
    pub fn write(&mut self, dir: &Path) -> Result<(), RunError> {
        self.stats.peak_rss_bytes = report::peak_rss_bytes();
        self.files.run_json = run_json(&self.stats, self.live.as_ref())?;
        Ok(self.files.write(dir)?)
    }
}

/// The text of run.json.
fn run_json(stats: &RunStats, live: Option<&DriveStats>) -> Result<String, RunError> {
    let doc = RunJson { stats, live };
    let mut text = serde_json::to_string_pretty(&doc).map_err(report::ReportError::Json)?;
    text.push('\n');
    Ok(text)
}

/// run.json: the wall-clock figures, plus the live driver's counters on a live run.
#[derive(serde::Serialize)]
struct RunJson<'a> {
    #[serde(flatten)]
    stats: &'a RunStats,
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<&'a DriveStats>,
}

/// Evaluates SLOs, decides the verdict and renders every report of `ex`.
pub fn render(scenario: &Scenario, seed: u64, ex: &Executed) -> Result<Rendered, RunError> {
    let obs = &ex.observers;
    let workload = Workload::new(scenario, seed);
    let seconds = ex.end as f64 / 1e6;
    let total_ops = obs.metrics.total_ops();
    let (slo, verdict) = judge(
        scenario,
        Measured {
            metrics: &obs.metrics,
            violations: obs.checker.violations_total(),
            coverage: obs.checker.coverage(),
            seconds,
            receipts_per_second: ex
                .live
                .as_ref()
                .map(|l| l.stats.acked_receipts_per_second()),
            incomplete: ex
                .live
                .as_ref()
                .map_or_else(Vec::new, |l| incomplete(scenario, l)),
            warnings: super::traffic_warnings(scenario, workload.plan()),
            interrupted: ex.live.as_ref().is_some_and(|l| l.stats.interrupted),
        },
    );
    let faults = fault_entries(scenario, &workload, &obs.faults);
    let coverage = obs.checker.coverage_table();
    let outcome = RunOutcome {
        target_notes: ex.live.as_ref().map_or_else(Vec::new, |l| l.notes.clone()),
        scenario,
        seed,
        target: ex.target.clone(),
        driver: ex.driver.into(),
        metrics: &obs.metrics,
        violations: obs.checker.violations(),
        violations_total: obs.checker.violations_total(),
        violations_by_invariant: obs.checker.totals_by_invariant(),
        coverage: &coverage,
        virtual_seconds: seconds,
        trace_hash: obs.trace.value(),
        events: obs.trace.events,
        faults: &faults,
        slo: &slo,
        verdict: &verdict,
        replay: Some(ex.replay.clone()).filter(|_| !scenario.shard.is_whole()),
    };
    let stats = run_stats(ex, total_ops, seconds);
    let mut files = ReportFiles::render(&outcome, &stats)?;
    let live = ex.live.as_ref().map(|l| l.stats.clone());
    files.run_json = run_json(&stats, live.as_ref())?;
    let mut terminal = report::terminal_summary(&outcome, &stats);
    if let Some(l) = &ex.live {
        terminal.push_str(&live_lines(l, scenario.faults.any()));
    }
    Ok(Rendered {
        doc: files.doc.clone(),
        trace_hash: obs.trace.value(),
        report_json: files.json.clone(),
        terminal,
        stats,
        files,
        live,
    })
}

fn run_stats(ex: &Executed, total_ops: u64, seconds: f64) -> RunStats {
    // Live ops are counted over the traffic phase; simulated ones over the wall time.
    let over = if ex.live.is_some() {
        seconds
    } else {
        ex.wall_seconds
    };
    let cpu = report::process_cpu();
    RunStats {
        wall_seconds: ex.wall_seconds,
        virtual_seconds: seconds,
        ops_per_wall_second: per_second(total_ops, over),
        peak_rss_bytes: report::peak_rss_bytes(),
        ops_per_cpu_second: cpu.map(|c| per_second(total_ops, c.total())),
        cpu,
        target_cpu: ex.live.as_ref().and_then(|l| l.target_cpu),
        host: report::host_since_start(),
        acked_receipts_per_second: ex
            .live
            .as_ref()
            .map(|l| l.stats.acked_receipts_per_second()),
        peak_clients: ex.live.as_ref().map(|l| l.peak_clients),
        start_at_epoch_ms: ex.live.as_ref().and_then(|l| l.start_at_ms),
        traffic_started_at_epoch_ms: ex.live.as_ref().map(|l| l.traffic_started_at_ms),
    }
}

/// Why a live run is incomplete, as sentences (empty when it is not).
fn incomplete(scenario: &Scenario, l: &LiveFacts) -> Vec<String> {
    let n = l.stats.incomplete(scenario.faults.any());
    if n == 0 {
        return Vec::new();
    }
    let mut out = vec![format!(
        "{n} operations or connections lost (unanswered, unsent, unreadable frames, \
         unexplained disconnects, failed reconnects, restarts or churn calls)"
    )];
    out.extend(l.stats.problems.iter().cloned());
    out
}

/// The live driver's counters for the terminal.
fn live_lines(l: &LiveFacts, faulty: bool) -> String {
    let s = &l.stats;
    let mut t = format!(
        "live     {} clients, setup {:.1}s, {} ops sent, {} answered, {} receipts acked ({:.0}/s), \
         {} outstanding, {} not sent, {} bad frames, {} disconnects\n",
        l.peak_clients,
        l.setup_seconds,
        s.invoked,
        s.completed,
        s.acked_receipts,
        s.acked_receipts_per_second(),
        s.outstanding,
        s.not_sent,
        s.bad_frames,
        s.disconnects
    );
    if !s.pushes_by_device.is_empty() {
        let by: Vec<String> = s.pushes_by_device.iter().map(u64::to_string).collect();
        let _ = writeln!(t, "devices  pushes per device {}", by.join(" / "));
    }
    if let Some(at) = l.start_at_ms {
        let _ = writeln!(
            t,
            "start    traffic began {} ms after the common start {}",
            l.traffic_started_at_ms.saturating_sub(at),
            humantime::format_rfc3339_millis(crate::live::start::from_epoch_ms(at))
        );
    }
    if s.foreign_pushes > 0 {
        let _ = writeln!(
            t,
            "shard    {} pushes about other shards' conversations ignored (shared users)",
            s.foreign_pushes
        );
    }
    if faulty {
        let _ = writeln!(
            t,
            "faults   {} cuts, {} stalls, {} crashes, {} restarts, {} reconnects, {} ops lost \
             ({} late responses ignored), {} churn admin ops, {}/{} clients connected at the end",
            s.cuts,
            s.stalls,
            s.crashes,
            s.restarts,
            s.reconnects,
            s.lost,
            s.late_responses,
            s.admin_ops,
            s.connected_at_end,
            s.online
        );
    }
    for n in &s.notes {
        let _ = writeln!(t, "  note: {n}");
    }
    for p in &s.problems {
        let _ = writeln!(t, "  problem: {p}");
    }
    t
}

/// The report's fault list: what the run injected, preceded (when the scenario has faults) by
/// the effective fault parameters the seed drew (they differ from the file's under `swarm`).
fn fault_entries(
    scenario: &Scenario,
    workload: &Workload,
    log: &crate::history::FaultLog,
) -> Vec<FaultEntry> {
    let mut out = Vec::new();
    if scenario.faults.any() {
        out.push(FaultEntry {
            t_us: 0,
            kind: "plan".into(),
            detail: workload.fault_plan().describe(),
        });
    }
    out.extend(FaultEntry::from_log(log));
    out
}
