//! The comparison as text for people and as Markdown for PR comments, worst first.

use super::*;

/// The comparison as Markdown for a PR comment: the verdict first, then one table with the
/// biggest regressions first.
pub fn render_markdown(c: &Comparison) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let n = c.regressions().count();
    let _ = writeln!(
        s,
        "{}\n",
        if n == 0 {
            "**No regression.**".to_string()
        } else {
            format!("**{n} regression{}.**", if n == 1 { "" } else { "s" })
        }
    );
    if let Some(note) = c.backends_note() {
        let _ = writeln!(s, "{note}.\n");
    }
    let _ = writeln!(s, "Confidence: {}.\n", c.confidence());
    let (base, new) = c.side_names();
    let _ = writeln!(
        s,
        "| hop | key | {base} | {new} | change | verdict |\n|---|---|---:|---:|---:|---|"
    );
    for r in c.worst_first() {
        let fmt = |v: f64| {
            if r.hop == "throughput" {
                format!("{v:.1}/s")
            } else {
                crate::report::format_micros(v as u64)
            }
        };
        let verdict = if r.regression {
            format!("**REGRESSION** (> {}%)", r.threshold_pct)
        } else if r.delta_pct == 0.0 {
            "same".to_string()
        } else if r.certainty == Certainty::WithinSpread {
            "within run-to-run spread".to_string()
        } else if r.certainty == Certainty::SingleRunSuspect {
            "possible regression (one run per side: re-run with `--runs`)".to_string()
        } else {
            "ok".to_string()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:+.1}% | {verdict} |",
            r.hop,
            r.key,
            fmt(r.base),
            fmt(r.new),
            r.delta_pct
        );
    }
    if c.new_violations > 0 {
        let _ = writeln!(
            s,
            "\nThe new side has {} invariant violation(s).",
            c.new_violations
        );
    }
    s
}

/// The comparison as a terminal table, regressions first.
pub fn render(c: &Comparison) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let mode = if c.simulated {
        "simulated: exact".to_string()
    } else {
        format!(
            "live: {} vs {} runs, merged histograms",
            c.base_runs, c.new_runs
        )
    };
    let _ = writeln!(s, "compare ({mode})");
    if let Some(note) = c.backends_note() {
        let _ = writeln!(s, "{note}");
    }
    let _ = writeln!(s, "confidence: {}", c.confidence());
    let (base, new) = c.side_names();
    let _ = writeln!(
        s,
        "  {:<28} {:>5} {:>12} {:>12} {:>9}  verdict",
        "hop", "key", base, new, "delta"
    );
    for r in c.worst_first() {
        let fmt = |v: f64| {
            if r.hop == "throughput" {
                format!("{v:.1}")
            } else {
                crate::report::format_micros(v as u64)
            }
        };
        let verdict = if r.regression {
            format!(
                "REGRESSION (> {}%, {})",
                r.threshold_pct,
                r.certainty.describe()
            )
        } else if r.delta_pct == 0.0 {
            "same".to_string()
        } else if matches!(
            r.certainty,
            Certainty::WithinSpread | Certainty::Harness | Certainty::SingleRunSuspect
        ) {
            r.certainty.describe().to_string()
        } else {
            "ok".to_string()
        };
        let _ = writeln!(
            s,
            "  {:<28} {:>5} {:>12} {:>12} {:>+8.1}%  {verdict}",
            r.hop,
            r.key,
            fmt(r.base),
            fmt(r.new),
            r.delta_pct
        );
    }
    let n = c.regressions().count();
    let _ = writeln!(
        s,
        "{}",
        if n == 0 {
            "no regression".to_string()
        } else {
            format!("{n} regression(s)")
        }
    );
    if c.new_violations > 0 {
        let _ = writeln!(
            s,
            "note: the new side has {} violation(s)",
            c.new_violations
        );
    }
    s
}
