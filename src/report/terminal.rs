//! The summary printed at the end of a run: a few aligned lines, no colours.

use super::human::{HopSummary, format_bytes, format_micros, format_rate, format_seconds};
use super::{RunOutcome, RunStats};
use std::fmt::Write as _;

/// How many violations the terminal summary prints in full.
pub const TERMINAL_VIOLATIONS: usize = 5;

/// A compact, aligned summary: run line, ops totals, one line per hop with samples
/// (count / p50 / p99 / max), errors, wall-clock figures, verdict and the first violations.
pub fn terminal_summary(o: &RunOutcome, stats: &RunStats) -> String {
    let mut s = String::new();
    // `write!` to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        s,
        "run      {} seed={} target={} driver={} trace={:016x}",
        o.scenario.name, o.seed, o.target, o.driver, o.trace_hash
    );
    super::target_notes::terminal_lines(&mut s, o);
    ops_line(&mut s, o);
    hop_table(&mut s, o);
    super::staircase::terminal_lines(&mut s, o);
    errors_line(&mut s, o);
    let _ = writeln!(
        s,
        "wall     {}, {} ops/s, peak RSS {}",
        format_seconds(stats.wall_seconds),
        format_rate(stats.ops_per_wall_second),
        format_bytes(stats.peak_rss_bytes)
    );
    if let Some(line) = cpu_line(o, stats) {
        let _ = writeln!(s, "cpu      {line}");
    }
    if let Some(line) = target_cpu_line(o, stats) {
        let _ = writeln!(s, "cpu      {line}");
    }
    if let Some(line) = host_line(stats) {
        let _ = writeln!(s, "host     {line}");
    }
    slo_lines(&mut s, o);
    super::coverage::terminal_lines(&mut s, o);
    verdict_lines(&mut s, o);
    s
}

/// CPU time and operations per core-second ("harness" in live runs: the server is another
/// process), when the platform reports CPU time.
pub(super) fn cpu_line(o: &RunOutcome, stats: &RunStats) -> Option<String> {
    let cpu = stats.cpu?;
    let who = if o.driver == "sim" { "" } else { "harness " };
    Some(format!(
        "{who}{}, {} ops per core-second",
        cpu.describe(),
        format_rate(stats.ops_per_cpu_second.unwrap_or(0.0))
    ))
}

/// CPU time of the target process the run started (every instance, setup included): with
/// the harness's, how the run split the machine.
pub(super) fn target_cpu_line(o: &RunOutcome, stats: &RunStats) -> Option<String> {
    let cpu = stats.target_cpu?;
    Some(format!(
        "{} {}, the process this run started",
        o.target,
        cpu.describe()
    ))
}

/// How busy the machine was during the run (all processes) and what the hypervisor took.
pub(super) fn host_line(stats: &RunStats) -> Option<String> {
    let h = stats.host?;
    let mut line = format!(
        "{} CPUs, {:.0}% busy, {:.1}% stolen by the hypervisor",
        h.cpus,
        h.busy_share * 100.0,
        h.steal_share * 100.0
    );
    if h.steal_share >= 0.02 {
        line.push_str(": latency and rates include that contention");
    }
    Some(line)
}

/// Total operations, their virtual rate, and the count of each kind.
fn ops_line(s: &mut String, o: &RunOutcome) {
    let m = o.metrics;
    let total = m.total_ops();
    let mut ops = format!(
        "ops      {total} in {} virtual ({}/s)",
        format_seconds(o.virtual_seconds),
        if o.virtual_seconds > 0.0 {
            format_rate(total as f64 / o.virtual_seconds)
        } else {
            "0".to_string()
        }
    );
    for (i, (name, n)) in m.ops().iter().enumerate() {
        let _ = write!(ops, "{}{name}={n}", if i == 0 { ": " } else { " " });
    }
    let _ = writeln!(s, "{ops}");
}

/// One aligned line per hop with samples.
fn hop_table(s: &mut String, o: &RunOutcome) {
    let hops = HopSummary::with_samples(o.metrics);
    if hops.is_empty() {
        s.push_str("latency  no samples\n");
        return;
    }
    let w = hops
        .iter()
        .map(|(h, _)| h.name().len())
        .max()
        .unwrap_or(0)
        .max("hop".len());
    let _ = writeln!(
        s,
        "  {:<w$} {:>9} {:>9} {:>9} {:>9}",
        "hop", "count", "p50", "p99", "max"
    );
    for (hop, h) in &hops {
        let _ = writeln!(
            s,
            "  {:<w$} {:>9} {:>9} {:>9} {:>9}",
            hop.name(),
            h.count,
            format_micros(h.p50),
            format_micros(h.p99),
            format_micros(h.max)
        );
    }
}

fn errors_line(s: &mut String, o: &RunOutcome) {
    let errors = &o.metrics.errors;
    let total: u64 = errors.values().sum();
    let mut line = format!("errors   {total}");
    for (i, (name, n)) in errors.iter().enumerate() {
        let _ = write!(line, "{}{name}={n}", if i == 0 { ": " } else { " " });
    }
    let _ = writeln!(s, "{line}");
    if o.metrics.lost > 0 {
        let _ = writeln!(
            s,
            "lost     {} operations got no response (timeouts, cut connections, crashes: \
             harness-side, not protocol errors)",
            o.metrics.lost
        );
    }
}

/// How many SLOs were met, then one line per SLO (nothing when the scenario sets none).
fn slo_lines(s: &mut String, o: &RunOutcome) {
    if o.slo.is_empty() {
        return;
    }
    let w = o.slo.iter().map(|r| r.name.len()).max().unwrap_or(0);
    let met = o.slo.iter().filter(|r| r.ok).count();
    let _ = writeln!(s, "slo      {met} of {} met", o.slo.len());
    for r in o.slo {
        let _ = writeln!(
            s,
            "  {:<w$} {:>12}  actual {:>10}  {}",
            r.name,
            r.limit,
            r.actual,
            if r.ok { "ok" } else { "FAILED" }
        );
    }
}

/// The verdict, its warnings, and the first [`TERMINAL_VIOLATIONS`] violations.
fn verdict_lines(s: &mut String, o: &RunOutcome) {
    let v = o.verdict;
    let _ = writeln!(s, "{:<8} {}", v.label(), v.summary(o.slo.len()));
    for w in &v.warnings {
        let _ = writeln!(s, "warning  {w}");
    }
    if o.violations_total > 0 {
        super::coverage::terminal_totals(s, o);
        let shown = o.violations.len().min(TERMINAL_VIOLATIONS);
        for v in &o.violations[..shown] {
            let _ = writeln!(s, "  - {v}");
        }
        let unlisted = o.unlisted(shown);
        if unlisted > 0 {
            let _ = writeln!(s, "  ... and {unlisted} more (see report.json)");
        }
    }
}
