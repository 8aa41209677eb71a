//! `report.md`: a summary for people and PR comments. Tables render on GitHub; everything in
//! it also reads as plain text.

use super::human::{HopSummary, format_bytes, format_micros, format_rate, format_seconds};
use super::{RunOutcome, RunStats};
use std::fmt::Write as _;

/// How many violations the report lists in full; the rest are counted.
pub const MARKDOWN_VIOLATIONS: usize = 20;

/// The Markdown summary of a run (`report.md`): one section after another.
pub fn report_markdown(o: &RunOutcome, stats: &RunStats) -> String {
    let mut s = String::new();
    header(&mut s, o);
    super::target_notes::markdown_section(&mut s, o);
    slo_section(&mut s, o);
    operations_section(&mut s, o);
    latency_section(&mut s, o);
    super::staircase::markdown_section(&mut s, o);
    errors_section(&mut s, o);
    super::coverage::markdown_section(&mut s, o);
    violations_section(&mut s, o);
    run_section(&mut s, stats);
    s
}

// `write!` to a String cannot fail; the results are ignored below for that reason.

/// Title, verdict and the run's identity.
fn header(s: &mut String, o: &RunOutcome) {
    let _ = writeln!(
        s,
        "# readsim: {} (seed {}, target {})\n",
        inline(&o.scenario.name),
        o.seed,
        inline(&o.target)
    );
    let _ = writeln!(s, "{}\n", verdict(o));
    let _ = writeln!(
        s,
        "Driver `{}`, {} virtual time, {} events, trace hash `{:016x}`, readsim {}.\n",
        o.driver,
        format_seconds(o.virtual_seconds),
        o.events,
        o.trace_hash,
        env!("CARGO_PKG_VERSION")
    );
}

/// The SLO table, missed objectives first (left out when the scenario sets none).
fn slo_section(s: &mut String, o: &RunOutcome) {
    if o.slo.is_empty() {
        return;
    }
    s.push_str("## SLOs\n\nMissed objectives first.\n\n| SLO | limit | actual | result |\n|---|---:|---:|---|\n");
    let mut rows: Vec<_> = o.slo.iter().collect();
    rows.sort_by_key(|r| r.ok);
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.name,
            r.limit,
            r.actual,
            if r.ok { "ok" } else { "**FAILED**" }
        );
    }
    s.push('\n');
}

fn operations_section(s: &mut String, o: &RunOutcome) {
    let m = o.metrics;
    s.push_str("## Operations\n\n");
    if m.ops().is_empty() {
        s.push_str("No operations completed.\n\n");
        return;
    }
    s.push_str("| operation | count | per virtual second |\n|---|---:|---:|\n");
    let rate = |n: u64| {
        if o.virtual_seconds > 0.0 {
            format_rate(n as f64 / o.virtual_seconds)
        } else {
            "-".to_string()
        }
    };
    for (name, &n) in &m.ops() {
        let _ = writeln!(s, "| {name} | {n} | {} |", rate(n));
    }
    let total = m.total_ops();
    let _ = writeln!(s, "| **total** | **{total}** | **{}** |\n", rate(total));
}

fn latency_section(s: &mut String, o: &RunOutcome) {
    s.push_str("## Latency\n\n");
    let hops = HopSummary::with_samples(o.metrics);
    if hops.is_empty() {
        s.push_str("No latency samples.\n\n");
        return;
    }
    s.push_str(
        "From each operation's intended start. \
         Hops without samples are left out.\n\n\
         | hop | count | p50 | p90 | p99 | p99.9 | max |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (hop, h) in hops {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            hop.name(),
            h.count,
            format_micros(h.p50),
            format_micros(h.p90),
            format_micros(h.p99),
            format_micros(h.p999),
            format_micros(h.max)
        );
    }
    s.push('\n');
}

fn errors_section(s: &mut String, o: &RunOutcome) {
    s.push_str("## Errors\n\n");
    if o.metrics.lost > 0 {
        let _ = writeln!(
            s,
            "Lost: {} operations got no response (timeouts, cut connections, crashes); \
             the harness gave up on them, they are not protocol errors.\n",
            o.metrics.lost
        );
    }
    if o.metrics.errors.is_empty() {
        s.push_str("No errors.\n\n");
        return;
    }
    s.push_str("| error | count |\n|---|---:|\n");
    for (name, n) in &o.metrics.errors {
        let _ = writeln!(s, "| {name} | {n} |");
    }
    s.push('\n');
}

/// The first [`MARKDOWN_VIOLATIONS`] violations in full, then how many more there are.
fn violations_section(s: &mut String, o: &RunOutcome) {
    s.push_str("## Violations\n\n");
    super::coverage::markdown_totals(s, o);
    if o.violations_total == 0 {
        s.push_str("None.\n\n");
        return;
    }
    let shown = o.violations.len().min(MARKDOWN_VIOLATIONS);
    for (i, v) in o.violations.iter().take(shown).enumerate() {
        let mut at = format!("t={}us", v.t_us);
        if let Some(c) = v.client {
            let _ = write!(at, ", client {c}");
        }
        if let Some(msg) = v.msg {
            let _ = write!(at, ", message {msg}");
        }
        let _ = writeln!(
            s,
            "{}. **{}** ({at}): observed {}; expected {}.\n   Replay: {}",
            i + 1,
            v.invariant.name(),
            inline(&v.observed),
            inline(&v.bound),
            inline(&v.replay)
        );
    }
    let unlisted = o.unlisted(shown);
    if unlisted > 0 {
        let _ = writeln!(
            s,
            "\n{unlisted} more not listed here ({} in total); see report.json.",
            o.violations_total
        );
    }
    s.push('\n');
}

/// Wall-clock figures of this run (not reproducible, unlike everything above).
fn run_section(s: &mut String, stats: &RunStats) {
    s.push_str("## Run\n\n| wall time | virtual time | ops per wall second | peak RSS |\n");
    s.push_str("|---:|---:|---:|---:|\n");
    let _ = writeln!(
        s,
        "| {} | {} | {} | {} |",
        format_seconds(stats.wall_seconds),
        format_seconds(stats.virtual_seconds),
        format_rate(stats.ops_per_wall_second),
        format_bytes(stats.peak_rss_bytes)
    );
    if let Some(cpu) = stats.cpu {
        let _ = writeln!(
            s,
            "\nCPU {}: {} ops per core-second.",
            cpu.describe(),
            format_rate(stats.ops_per_cpu_second.unwrap_or(0.0))
        );
    }
    if let Some(cpu) = stats.target_cpu {
        let _ = writeln!(
            s,
            "\nThe target process this run started: CPU {}.",
            cpu.describe()
        );
    }
}

/// The verdict line (`**PASS**: ...` or `**FAIL**: why`), then any warnings as quotes.
fn verdict(o: &RunOutcome) -> String {
    let v = o.verdict;
    let mut s = format!("**{}**: {}.", v.label(), v.summary(o.slo.len()));
    for w in &v.warnings {
        s.push_str(&format!("\n\n> warning: {w}"));
    }
    s
}

/// `text` as an inline code span, fenced with more backticks than it contains.
pub(super) fn inline(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{}{pad}{fence}", text.replace('\n', " "))
}
