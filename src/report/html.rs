//! `report.html`: one self-contained page (inline CSS and SVG; no script, no external asset,
//! nothing fetched) with the verdict, the SLOs, latency percentile distributions, throughput
//! and receipt completeness over time, notify latency by audience size, the fault timeline,
//! violations with their replay commands, and the run's scenario and environment. It may show
//! wall-clock figures: unlike report.json it is not compared byte for byte.

use super::human::{HopSummary, format_bytes, format_micros, format_rate, format_seconds};
use super::schema::{BucketLatency, ReportDoc};
use super::svg::{Axis, Chart, Mark, PALETTE, Series, esc, legend, linear_axis, log_axis};
use super::ticks::{count_label, dur_label, nines_label, secs_label, trim};
use super::{ReportError, RunOutcome, RunStats};
use crate::metrics::{AUDIENCE_BUCKETS, Hop};
use crate::slo::HopHistograms;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many violations the page lists in full.
pub const HTML_VIOLATIONS: usize = 50;

/// Deepest percentile the distribution chart reaches: 99.9999% (x = 6 nines).
const MAX_NINES: f64 = 6.0;

/// The colour of a hop, the same in every chart and table.
pub fn hop_color(hop: Hop) -> &'static str {
    PALETTE[hop as usize % PALETTE.len()]
}

/// The whole page of a run.
pub fn report_html(o: &RunOutcome, stats: &RunStats) -> Result<String, ReportError> {
    Ok(doc_html(&super::report_doc(o)?, o.metrics, stats, &[]))
}

/// The whole page, from a report's typed document: a run's own (`hists` its metrics) or a
/// merged one (`hists` the merged histograms; `shards` each shard's label and verdict line).
/// Every figure comes from `doc` and `hists`, wall-clock ones from `stats`.
pub fn doc_html(
    o: &ReportDoc,
    hists: &dyn HopHistograms,
    stats: &RunStats,
    shards: &[(String, String)],
) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let title = format!("readsim: {} (seed {})", o.scenario, o.seed);
    let passed = o.verdict.passed();
    // `write!` to a String cannot fail; results are ignored for that reason.
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body><main>",
        esc(&title)
    );
    header(&mut s, o, stats, passed);
    super::merged_md::html_section(&mut s, o, shards);
    super::target_notes::html_section(&mut s, &o.target_notes);
    slo_section(&mut s, o);
    latency_section(&mut s, hists);
    throughput_section(&mut s, o);
    completeness_section(&mut s, o);
    audience_section(&mut s, o);
    super::staircase::html_section(&mut s, o.staircase.as_ref());
    faults_section(&mut s, o);
    super::coverage::html_section(&mut s, &o.coverage);
    violations_section(&mut s, o);
    operations_section(&mut s, o);
    environment_section(&mut s, o, stats);
    let _ = writeln!(
        s,
        "<footer>readsim {} &middot; report.json holds every figure of this page that is not \
         wall-clock, and the full histograms</footer></main></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    s
}

fn header(s: &mut String, o: &ReportDoc, stats: &RunStats, passed: bool) {
    let mut why = vec![o.verdict.summary(o.slo.len())];
    why.extend(o.verdict.warnings.iter().map(|w| format!("warning: {w}")));
    let _ = write!(
        s,
        "<header><div class=\"title\"><h1>{}</h1><span class=\"badge {}\">{}</span></div>\
         <p class=\"why\">{}</p><dl class=\"facts\">",
        esc(&o.scenario),
        if passed { "pass" } else { "fail" },
        if passed { "PASS" } else { "FAIL" },
        esc(&why.join("; "))
    );
    let total = o.ops.get("total").copied().unwrap_or(0);
    let facts = [
        ("seed", o.seed.to_string()),
        ("target", o.target.clone()),
        ("driver", o.driver.clone()),
        (
            if o.driver == "sim" {
                "virtual time"
            } else {
                "elapsed"
            },
            format_seconds(o.virtual_seconds),
        ),
        ("operations", total.to_string()),
        (
            "ops per second",
            format_rate(if o.virtual_seconds > 0.0 {
                total as f64 / o.virtual_seconds
            } else {
                0.0
            }),
        ),
        ("violations", o.violations_total.to_string()),
        ("wall time", format_seconds(stats.wall_seconds)),
    ];
    for (k, v) in facts {
        let _ = write!(s, "<div><dt>{}</dt><dd>{}</dd></div>", esc(k), esc(&v));
    }
    s.push_str("</dl></header>");
}

fn section(s: &mut String, id: &str, title: &str, note: &str) {
    let _ = write!(s, "<section id=\"{id}\"><h2>{}</h2>", esc(title));
    if !note.is_empty() {
        let _ = write!(s, "<p class=\"note\">{}</p>", esc(note));
    }
}

fn slo_section(s: &mut String, o: &ReportDoc) {
    section(s, "slo", "Service-level objectives", "");
    if o.slo.is_empty() {
        s.push_str("<p class=\"muted\">No SLOs set (add an [slo] section to the scenario).</p>");
    } else {
        s.push_str(
            "<table><thead><tr><th>SLO</th><th class=\"num\">limit</th>\
             <th class=\"num\">actual</th><th>result</th></tr></thead><tbody>",
        );
        let mut rows: Vec<_> = o.slo.iter().collect();
        // Missed objectives first: they are what a reader came for.
        rows.sort_by_key(|r| r.ok);
        for r in rows {
            let _ = write!(
                s,
                "<tr class=\"{}\"><td><code>{}</code></td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td></tr>",
                if r.ok { "ok" } else { "bad" },
                esc(&r.name),
                esc(&r.limit),
                esc(&r.actual),
                if r.ok {
                    "met"
                } else {
                    "<strong>FAILED</strong>"
                }
            );
        }
        s.push_str("</tbody></table>");
    }
    s.push_str("</section>");
}

fn latency_section(s: &mut String, hists: &dyn HopHistograms) {
    section(
        s,
        "latency",
        "Latency by percentile",
        "Each hop's latency distribution from the operation's intended start. The x axis \
         stretches the tail: each step right is another nine (90%, 99%, 99.9%, ...).",
    );
    let hops: Vec<(Hop, HopSummary)> = Hop::ALL
        .iter()
        .map(|&h| (h, HopSummary::of(hists.hop_histogram(h))))
        .filter(|(_, sum)| sum.count > 0)
        .collect();
    // Hops that only ever measured 0 (the harness's lateness when simulated) have no place
    // on a log axis; the table still lists them.
    let plotted: Vec<&(Hop, HopSummary)> = hops.iter().filter(|(_, h)| h.max > 0).collect();
    if plotted.is_empty() {
        s.push_str("<p class=\"muted\">No latency samples.</p>");
    } else {
        latency_chart(s, hists, &plotted);
    }
    if !hops.is_empty() {
        latency_table(s, &hops);
    }
    s.push_str("</section>");
}

/// Percentile distributions of the `plotted` hops, on a log latency axis.
fn latency_chart(s: &mut String, hists: &dyn HopHistograms, plotted: &[&(Hop, HopSummary)]) {
    let nines = plotted
        .iter()
        .map(|(_, h)| (h.count as f64).log10().ceil())
        .fold(1.0, f64::max)
        .min(MAX_NINES);
    let mut lo = f64::MAX;
    let mut hi = 1.0f64;
    let mut series = Vec::new();
    for (hop, sum) in plotted {
        let points = percentile_points(hists.hop_histogram(*hop), sum, nines);
        for &(_, y) in &points {
            lo = lo.min(y);
            hi = hi.max(y);
        }
        series.push(Series {
            name: hop.name().to_string(),
            color: hop_color(*hop),
            points,
            mark: Mark::Line,
        });
    }
    let x = Axis {
        scale: super::svg::Scale::Linear {
            min: 0.0,
            max: nines,
        },
        ticks: (0..=nines as i32)
            .map(|n| (n as f64, nines_label(n as f64)))
            .collect(),
        label: "percentile".into(),
    };
    let y = log_axis(lo, hi, "latency (log scale)", dur_label);
    let entries: Vec<(&str, &str)> = plotted
        .iter()
        .map(|(h, _)| (h.name(), hop_color(*h)))
        .collect();
    s.push_str(&legend(&entries));
    s.push_str(&Chart::new("latency by percentile, per hop", x, y, series).render());
}

/// (nines, latency) points of one hop's distribution, latencies at least 1us for the log
/// axis, up to `nines` nines.
fn percentile_points(h: &Histogram<u64>, sum: &HopSummary, nines: f64) -> Vec<(f64, f64)> {
    const STEPS: usize = 180;
    // Beyond 1/count the distribution holds no more information: stop at the max.
    let reach = (sum.count as f64).log10().min(nines);
    let mut points = Vec::with_capacity(STEPS + 2);
    for i in 0..=STEPS {
        let x = nines * i as f64 / STEPS as f64;
        if x > reach {
            break;
        }
        let q = 1.0 - 10f64.powf(-x);
        points.push((x, (h.value_at_quantile(q) as f64).max(1.0)));
    }
    points.push((reach, (sum.max as f64).max(1.0)));
    points
}

fn latency_table(s: &mut String, hops: &[(Hop, HopSummary)]) {
    s.push_str(
        "<table><thead><tr><th>hop</th><th class=\"num\">count</th><th class=\"num\">p50</th>\
         <th class=\"num\">p90</th><th class=\"num\">p99</th><th class=\"num\">p99.9</th>\
         <th class=\"num\">max</th></tr></thead><tbody>",
    );
    for (hop, h) in hops {
        let _ = write!(
            s,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            hop_color(*hop),
            hop.name(),
            h.count,
            format_micros(h.p50),
            format_micros(h.p90),
            format_micros(h.p99),
            format_micros(h.p999),
            format_micros(h.max)
        );
    }
    s.push_str("</tbody></table>");
}

fn throughput_section(s: &mut String, o: &ReportDoc) {
    section(
        s,
        "throughput",
        "Throughput over time",
        "Completed operations and delivered pushes in each second of the run.",
    );
    let per = &o.throughput.per_second;
    if per.iter().all(|&n| n == 0) {
        s.push_str("<p class=\"muted\">No operations completed.</p></section>");
        return;
    }
    // Long runs: average whole windows so the path stays a few hundred points.
    let window = per.len().div_ceil(600).max(1);
    let mut points = Vec::new();
    for (i, chunk) in per.chunks(window).enumerate() {
        let avg = chunk.iter().sum::<u64>() as f64 / chunk.len() as f64;
        points.push(((i * window) as f64, avg));
    }
    points.push((per.len() as f64, points.last().map_or(0.0, |p| p.1)));
    let peak = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let x = linear_axis(0.0, per.len() as f64, 10, "time since start", secs_label);
    let y = linear_axis(0.0, peak, 5, "operations per second", count_label);
    let label = if window > 1 {
        format!("ops/s (mean of {window}s windows)")
    } else {
        "ops/s".to_string()
    };
    s.push_str(&legend(&[(&label, PALETTE[0])]));
    let series = vec![Series {
        name: label.clone(),
        color: PALETTE[0],
        points,
        mark: Mark::Step,
    }];
    s.push_str(&Chart::new("throughput over time", x, y, series).render());
    s.push_str("</section>");
}

fn completeness_section(s: &mut String, o: &ReportDoc) {
    let c = &o.receipts;
    section(
        s,
        "completeness",
        "Receipt completeness",
        "Share of the audience of receipt-needing messages whose receipt was acknowledged, \
         by time since the send. Offline members and members who never read keep it below 100%.",
    );
    if c.audience_total == 0 {
        s.push_str("<p class=\"muted\">No receipt-needing messages were sent.</p></section>");
        return;
    }
    let shares = cumulative_share(&c.acked_by_second_since_send, c.audience_total);
    let mut points = vec![(0.0, 0.0)];
    for (i, share) in shares.iter().enumerate() {
        points.push(((i + 1) as f64, share * 100.0));
    }
    let last = shares.last().copied().unwrap_or(0.0);
    let reach = |target: f64| {
        shares
            .iter()
            .position(|&v| v >= target * last)
            .map(|i| format!("{}s", i + 1))
            .unwrap_or_else(|| "-".into())
    };
    let _ = write!(
        s,
        "<p class=\"figures\"><span><b>{:.1}%</b> of {} audience members read ({} messages)</span>\
         <span>half of that within <b>{}</b></span><span>90% of it within <b>{}</b></span></p>",
        last * 100.0,
        c.audience_total,
        c.messages,
        reach(0.5),
        reach(0.9)
    );
    let x = linear_axis(
        0.0,
        shares.len().max(1) as f64,
        10,
        "time since send (1 s buckets)",
        secs_label,
    );
    let y = linear_axis(0.0, 100.0, 5, "audience that has read", |v| {
        format!("{}%", trim(v))
    });
    s.push_str(&legend(&[("share read", PALETTE[4])]));
    let series = vec![Series {
        name: "share of the audience that has read".into(),
        color: PALETTE[4],
        points,
        mark: Mark::Line,
    }];
    s.push_str(&Chart::new("receipt completeness by time since send", x, y, series).render());
    s.push_str("</section>");
}

/// Share of `audience` acknowledged by the end of each second since the send.
fn cumulative_share(acked_by_second: &[u64], audience: u64) -> Vec<f64> {
    let mut sum = 0u64;
    acked_by_second
        .iter()
        .map(|&n| {
            sum += n;
            sum as f64 / audience.max(1) as f64
        })
        .collect()
}

fn audience_section(s: &mut String, o: &ReportDoc) {
    section(
        s,
        "by-audience",
        "Notify latency by audience size",
        "Receipt invoked to the sender's first push covering it, by the message's audience \
         size (1 is a 1:1 chat).",
    );
    let rows: Vec<AudienceRow> = o
        .receipts
        .notify_by_audience
        .iter()
        .enumerate()
        .map(|(i, (label, b))| (i, label.as_str(), b))
        .collect();
    if rows.iter().all(|(_, _, h)| h.count == 0) {
        s.push_str("<p class=\"muted\">No receipt was notified.</p></section>");
        return;
    }
    audience_chart(s, &rows);
    audience_table(s, &rows);
    s.push_str("</section>");
}

/// One audience-size bucket: its index, label and notify latencies.
type AudienceRow<'a> = (usize, &'a str, &'a BucketLatency);

/// p50 and p99 bars side by side for each audience bucket with samples.
fn audience_chart(s: &mut String, rows: &[AudienceRow]) {
    let peak = rows.iter().map(|r| r.2.p99_us as f64).fold(1.0, f64::max);
    let x = Axis {
        scale: super::svg::Scale::Linear {
            min: -0.5,
            max: AUDIENCE_BUCKETS.len() as f64 - 0.5,
        },
        ticks: rows
            .iter()
            .map(|(i, label, _)| (*i as f64, label.to_string()))
            .collect(),
        label: "audience size (members who may read)".into(),
    };
    let y = linear_axis(0.0, peak, 5, "latency", dur_label);
    let bars =
        |name: &str, color: &'static str, offset: f64, f: fn(&BucketLatency) -> u64| Series {
            name: name.to_string(),
            color,
            points: rows
                .iter()
                .filter(|r| r.2.count > 0)
                .map(|(i, _, h)| (*i as f64, f(h) as f64))
                .collect(),
            mark: Mark::Bars {
                width: 0.34,
                offset,
            },
        };
    let series = vec![
        bars("p50", PALETTE[0], -0.18, |h| h.p50_us),
        bars("p99", PALETTE[1], 0.18, |h| h.p99_us),
    ];
    s.push_str(&legend(&[("p50", PALETTE[0]), ("p99", PALETTE[1])]));
    s.push_str(&Chart::new("notify latency by audience size", x, y, series).render());
}

/// Every audience bucket, "-" for the latencies of one without samples.
fn audience_table(s: &mut String, rows: &[AudienceRow]) {
    s.push_str(
        "<table><thead><tr><th>audience</th><th class=\"num\">receipts</th>\
         <th class=\"num\">p50</th><th class=\"num\">p99</th><th class=\"num\">max</th></tr>\
         </thead><tbody>",
    );
    for (_, label, h) in rows {
        let us = |v: u64| {
            if h.count > 0 {
                format_micros(v)
            } else {
                "-".into()
            }
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(label),
            h.count,
            us(h.p50_us),
            us(h.p99_us),
            us(h.max_us),
        );
    }
    s.push_str("</tbody></table>");
}

fn faults_section(s: &mut String, o: &ReportDoc) {
    section(s, "faults", "Fault timeline", "");
    if o.faults.is_empty() {
        s.push_str("<p class=\"muted\">no faults injected</p></section>");
        return;
    }
    fault_chart(s, o);
    fault_list(s, o);
    s.push_str("</section>");
}

/// One row per kind, in name order; each fault a tick at its time.
fn fault_chart(s: &mut String, o: &ReportDoc) {
    let mut kinds: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for f in &o.faults {
        kinds
            .entry(f.kind.as_str())
            .or_default()
            .push(f.t_us as f64 / 1e6);
    }
    let end = o
        .faults
        .iter()
        .map(|f| f.t_us as f64 / 1e6)
        .fold(o.virtual_seconds, f64::max);
    let n = kinds.len();
    let x = linear_axis(0.0, end.max(1.0), 10, "time since start", secs_label);
    let y = Axis {
        scale: super::svg::Scale::Linear {
            min: -0.5,
            max: n as f64 - 0.5,
        },
        // Rows top to bottom in name order.
        ticks: kinds
            .keys()
            .enumerate()
            .map(|(i, k)| ((n - 1 - i) as f64, k.to_string()))
            .collect(),
        label: "fault".into(),
    };
    let series: Vec<Series> = kinds
        .iter()
        .enumerate()
        .map(|(i, (kind, times))| Series {
            name: format!("{kind} ({})", times.len()),
            color: PALETTE[i % PALETTE.len()],
            points: times.iter().map(|&t| (t, (n - 1 - i) as f64)).collect(),
            mark: Mark::Ticks { height: 0.6 },
        })
        .collect();
    let names: Vec<String> = series.iter().map(|x| x.name.clone()).collect();
    let entries: Vec<(&str, &str)> = names
        .iter()
        .zip(&series)
        .map(|(n, x)| (n.as_str(), x.color))
        .collect();
    s.push_str(&legend(&entries));
    let mut chart = Chart::new("fault timeline", x, y, series);
    chart.height = (70.0 + 34.0 * n as f64).max(140.0);
    chart.left = 110.0;
    s.push_str(&chart.render());
}

/// The first 1000 faults, folded away.
fn fault_list(s: &mut String, o: &ReportDoc) {
    let _ = write!(
        s,
        "<details><summary>{} fault{}</summary><table><thead><tr><th class=\"num\">time</th>\
         <th>kind</th><th>detail</th></tr></thead><tbody>",
        o.faults.len(),
        if o.faults.len() == 1 { "" } else { "s" }
    );
    for f in o.faults.iter().take(1000) {
        let _ = write!(
            s,
            "<tr><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            format_seconds(f.t_us as f64 / 1e6),
            esc(&f.kind),
            esc(&f.detail)
        );
    }
    s.push_str("</tbody></table></details>");
}

fn violations_section(s: &mut String, o: &ReportDoc) {
    section(s, "violations", "Invariant violations", "");
    super::coverage::html_totals(s, &o.violations_by_invariant);
    if o.violations_total == 0 {
        s.push_str("<p class=\"muted\">None: every invariant held.</p></section>");
        return;
    }
    s.push_str("<ol class=\"violations\">");
    for v in o.violations.iter().take(HTML_VIOLATIONS) {
        let mut at = format!("t={}", format_seconds(v.t_us as f64 / 1e6));
        if let Some(c) = v.client {
            let _ = write!(at, ", client {c}");
        }
        if let Some(m) = v.msg {
            let _ = write!(at, ", message {m}");
        }
        let _ = write!(
            s,
            "<li><b>{}</b> <span class=\"muted\">({})</span><br>observed {}; expected {}\
             <pre class=\"cmd\">{}</pre></li>",
            esc(v.invariant.name()),
            esc(&at),
            esc(&v.observed),
            esc(&v.bound),
            esc(&v.replay)
        );
    }
    s.push_str("</ol>");
    let unlisted = o
        .violations_total
        .saturating_sub(o.violations.len().min(HTML_VIOLATIONS) as u64);
    if unlisted > 0 {
        let _ = write!(
            s,
            "<p class=\"muted\">{unlisted} more not listed ({} in total); see report.json.</p>",
            o.violations_total
        );
    }
    s.push_str("</section>");
}

fn operations_section(s: &mut String, m: &ReportDoc) {
    section(s, "operations", "Operations and errors", "");
    s.push_str("<div class=\"cols\"><table><thead><tr><th>operation or push</th><th class=\"num\">count</th></tr></thead><tbody>");
    for (name, n) in m.ops.iter().filter(|(k, _)| *k != "total") {
        let _ = write!(s, "<tr><td>{name}</td><td class=\"num\">{n}</td></tr>");
    }
    s.push_str("</tbody></table><table><thead><tr><th>error</th><th class=\"num\">count</th></tr></thead><tbody>");
    if m.errors.is_empty() {
        s.push_str("<tr><td class=\"muted\">none</td><td></td></tr>");
    }
    for (name, n) in &m.errors {
        let _ = write!(s, "<tr><td>{name}</td><td class=\"num\">{n}</td></tr>");
    }
    s.push_str("</tbody></table></div>");
    if m.lost > 0 {
        let _ = write!(
            s,
            "<p>lost: <span class=\"num\">{}</span> operations got no response (timeouts, \
             cut connections, crashes); the harness gave up on them, they are not protocol \
             errors.</p>",
            m.lost
        );
    }
    s.push_str("</section>");
}

fn environment_section(s: &mut String, o: &ReportDoc, stats: &RunStats) {
    section(s, "environment", "Run and scenario", "");
    let mut rows = vec![
        ("readsim version", env!("CARGO_PKG_VERSION").to_string()),
        ("trace hash", o.trace_hash.clone()),
        ("history events", o.events.to_string()),
        ("wall time", format_seconds(stats.wall_seconds)),
        (
            if o.driver == "sim" {
                "virtual time"
            } else {
                "elapsed"
            },
            format_seconds(stats.virtual_seconds),
        ),
        (
            "ops per wall second",
            format_rate(stats.ops_per_wall_second),
        ),
        ("peak RSS", format_bytes(stats.peak_rss_bytes)),
    ];
    if let Some(cpu) = stats.cpu {
        rows.push(("CPU time (user + system)", format_seconds(cpu.total())));
        let rate = stats.ops_per_cpu_second.unwrap_or(0.0);
        rows.push(("ops per core-second", format_rate(rate)));
    }
    if let Some(cpu) = stats.target_cpu {
        let t = format_seconds(cpu.total());
        rows.push(("CPU time of the target process this run started", t));
    }
    if let Some(r) = stats.acked_receipts_per_second {
        rows.push(("acked receipts per second", format_rate(r)));
    }
    if let Some(c) = stats.peak_clients {
        rows.push(("peak clients", c.to_string()));
    }
    if let Some(t) = stats.traffic_started_at_epoch_ms {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(t);
        rows.push((
            "traffic started",
            humantime::format_rfc3339_millis(at).to_string(),
        ));
    }
    s.push_str("<table class=\"kv\"><tbody>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    s.push_str("</tbody></table>");
    let config = toml::to_string(&o.scenario_config)
        .or_else(|_| serde_json::to_string_pretty(&o.scenario_config))
        .unwrap_or_else(|e| format!("(cannot show the scenario: {e})"));
    let _ = write!(
        s,
        "<details><summary>Scenario configuration (TOML, defaults filled in)</summary>\
         <pre>{}</pre></details></section>",
        esc(&config)
    );
}

/// The page's style sheet, inlined into every report.html.
const CSS: &str = include_str!("report.css");
