//! report.md of a merged report (`readsim merge`), rendered from the merged [`ReportDoc`]
//! (a merge has no `Metrics` to build a `RunOutcome` from). A partial merge says so on its
//! first line.

use super::markdown::inline;
use super::schema::ReportDoc;
use super::svg::esc;
use crate::human::{format_micros, format_seconds};
use std::fmt::Write as _;

/// Violations listed in full (the rest are counted).
const LISTED: usize = 50;

/// report.md of `doc`, a merge of `shards` (each shard's label and verdict line).
pub fn merged_markdown(doc: &ReportDoc, shards: &[(String, String)]) -> String {
    let mut s = String::new();
    if let Some(line) = doc.merged.as_ref().and_then(|m| m.missing_line()) {
        let _ = writeln!(s, "**{line}**\n");
    }
    let _ = writeln!(
        s,
        "# readsim: {} (seed {}, target {}), merged from {} shards\n",
        inline(&doc.scenario),
        doc.seed,
        inline(&doc.target),
        shards.len()
    );
    let v = &doc.verdict;
    let _ = writeln!(s, "**{}**: {}.\n", v.label(), v.summary(doc.slo.len()));
    for w in &v.warnings {
        let _ = writeln!(s, "> warning: {w}\n");
    }
    let _ = writeln!(
        s,
        "Driver `{}`, {} virtual time (the longest shard's), {} events, readsim {}. \
         Histograms are the exact merge of the shards' HdrHistograms; the audience-bucket and \
         staircase percentiles are the largest shard's (an upper bound).\n",
        doc.driver,
        format_seconds(doc.virtual_seconds),
        doc.events,
        doc.readsim_version
    );
    shards_section(&mut s, doc, shards);
    slo_section(&mut s, doc);
    latency_section(&mut s, doc);
    counts_section(&mut s, doc);
    violations_section(&mut s, doc);
    s
}

fn shards_section(s: &mut String, doc: &ReportDoc, shards: &[(String, String)]) {
    let _ = writeln!(s, "## Shards\n\n| shard | verdict |\n| --- | --- |");
    for (who, verdict) in shards {
        let _ = writeln!(s, "| {who} | {} |", verdict.replace('|', "\\|"));
    }
    s.push('\n');
    let failed = doc.merged.as_ref().map_or(&[][..], |m| &m.failed[..]);
    if failed.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "Failing shards, each with the command that replays it:\n"
    );
    for f in failed {
        let _ = writeln!(s, "- shard {}: {}: `{}`", f.shard, f.verdict, f.replay);
    }
    s.push('\n');
}

/// report.html's section of a merged report: the shards, their verdicts, and the command of
/// each failing one (nothing for a run's own report).
pub fn html_section(s: &mut String, doc: &ReportDoc, shards: &[(String, String)]) {
    let Some(m) = &doc.merged else { return };
    let _ = write!(
        s,
        "<section id=\"shards\"><h2>Shards</h2><p class=\"note\">Merged from {} of {} shards. \
         Histograms are the exact merge of the shards' HdrHistograms; the audience-bucket and \
         staircase percentiles are the largest shard's (an upper bound).</p>",
        m.merged.len(),
        m.shards
    );
    if let Some(line) = m.missing_line() {
        let _ = write!(s, "<p><strong>{}</strong></p>", esc(&line));
    }
    s.push_str("<table><thead><tr><th>shard</th><th>verdict</th></tr></thead><tbody>");
    for (who, verdict) in shards {
        let _ = write!(s, "<tr><td>{}</td><td>{}</td></tr>", esc(who), esc(verdict));
    }
    s.push_str("</tbody></table>");
    for f in &m.failed {
        let _ = write!(
            s,
            "<p>shard {}: {}</p><pre class=\"cmd\">{}</pre>",
            f.shard,
            esc(&f.verdict),
            esc(&f.replay)
        );
    }
    s.push_str("</section>");
}

fn slo_section(s: &mut String, doc: &ReportDoc) {
    if doc.slo.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "## SLOs (on the merged figures)\n\n| SLO | limit | actual | ok |\n| --- | --- | --- | --- |"
    );
    for r in &doc.slo {
        let ok = if r.ok { "yes" } else { "**MISSED**" };
        let _ = writeln!(s, "| {} | {} | {} | {ok} |", r.name, r.limit, r.actual);
    }
    s.push('\n');
}

fn latency_section(s: &mut String, doc: &ReportDoc) {
    let _ = writeln!(
        s,
        "## Latency\n\n| hop | count | p50 | p90 | p99 | p99.9 | max |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (hop, l) in doc.latency.iter().filter(|(_, l)| l.count > 0) {
        let _ = writeln!(
            s,
            "| {hop} | {} | {} | {} | {} | {} | {} |",
            l.count,
            format_micros(l.p50_us),
            format_micros(l.p90_us),
            format_micros(l.p99_us),
            format_micros(l.p999_us),
            format_micros(l.max_us)
        );
    }
    s.push('\n');
}

fn counts_section(s: &mut String, doc: &ReportDoc) {
    let _ = writeln!(s, "## Operations\n\n| operation | count |\n| --- | ---: |");
    for (op, n) in doc.ops.iter() {
        let _ = writeln!(s, "| {op} | {n} |");
    }
    let r = &doc.receipts;
    let _ = writeln!(
        s,
        "\n{} ops per virtual second; {} lost operations; errors: {}.\n\n\
         Receipts: {} receipt-needing messages, audiences {} in all, {} receipts acknowledged.\n",
        doc.throughput.ops_per_virtual_second,
        doc.lost,
        if doc.errors.is_empty() {
            "none".to_string()
        } else {
            let e: Vec<String> = doc.errors.iter().map(|(k, v)| format!("{k} {v}")).collect();
            e.join(", ")
        },
        r.messages,
        r.audience_total,
        r.acked
    );
}

fn violations_section(s: &mut String, doc: &ReportDoc) {
    let _ = writeln!(s, "## Violations: {}\n", doc.violations_total);
    for (name, n) in doc.violations_by_invariant.iter().filter(|(_, n)| **n > 0) {
        let _ = writeln!(s, "- {name}: {n}");
    }
    for v in doc.violations.iter().take(LISTED) {
        // Display ends with the shard's own replay command (`--shard I/N` included).
        let _ = writeln!(s, "- {v}");
    }
    let unlisted = doc
        .violations_total
        .saturating_sub(LISTED.min(doc.violations.len()) as u64);
    if unlisted > 0 {
        let _ = writeln!(
            s,
            "\n({unlisted} more not listed; each shard's report.json has its first ones)"
        );
    }
}
