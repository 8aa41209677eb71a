//! The staircase table of a run with `[traffic] steps`: per step its time range, the send
//! rate offered, the receipts acknowledged per second and receipt->notified p50/p99, with the
//! first step whose p99 passes `[traffic] saturation_p99` marked "saturated here". Built once
//! as report.json's [`Staircase`]; report.md, report.html and the terminal render that value,
//! so the four never disagree. Information only: no verdict depends on it.

use super::human::{HopSummary, format_micros, format_rate};
use super::schema::{StairStep, Staircase, round_to};
use super::svg::esc;
use super::{RunOutcome, ticks};
use std::fmt::Write as _;

/// The staircase of `o`, or None when the scenario has no steps.
pub fn of(o: &RunOutcome) -> Option<Staircase> {
    let traffic = &o.scenario.traffic;
    let spans = traffic.step_spans(o.scenario.duration);
    let measured = o.metrics.steps();
    if spans.is_empty() || measured.len() != spans.len() {
        return None;
    }
    let base = traffic.group_messages_per_sec + traffic.c2c_messages_per_sec;
    let threshold = traffic.saturation_p99.micros;
    let steps: Vec<StairStep> = spans
        .iter()
        .zip(measured)
        .enumerate()
        .map(|(i, (span, m))| {
            let h = HopSummary::of(&m.notify);
            let secs = m.seconds();
            StairStep {
                step: i as u32,
                from_s: round_to(span.from as f64 / 1e6, 1000.0),
                to_s: round_to(span.to as f64 / 1e6, 1000.0),
                scale: span.scale,
                offered_msgs_per_sec: round_to(base * span.scale, 1000.0),
                sent_msgs_per_sec: round_to(m.sends as f64 / secs, 1000.0),
                acked_receipts: m.acked_receipts,
                acked_receipts_per_sec: round_to(m.acked_receipts as f64 / secs, 1000.0),
                notify_count: h.count,
                notify_p50_us: h.p50,
                notify_p99_us: h.p99,
            }
        })
        .collect();
    // A step without samples cannot be judged either way.
    let saturated_step = steps
        .iter()
        .find(|s| s.notify_count > 0 && s.notify_p99_us > threshold)
        .map(|s| s.step);
    Some(Staircase {
        saturation_p99_us: threshold,
        saturated_step,
        steps,
    })
}

/// The one-line conclusion every rendering states.
fn conclusion(st: &Staircase) -> String {
    let limit = format_micros(st.saturation_p99_us);
    match st.saturated_step.and_then(|i| st.steps.get(i as usize)) {
        Some(s) => format!(
            "saturated at step {} ({} msgs/s offered): receipt->notified p99 {} passes {limit}",
            s.step,
            format_rate(s.offered_msgs_per_sec),
            format_micros(s.notify_p99_us)
        ),
        None => format!("no step saturated: every step's receipt->notified p99 is within {limit}"),
    }
}

/// The cells of one row, shared by the three renderings.
struct Cells {
    step: String,
    range: String,
    offered: String,
    acked: String,
    p50: String,
    p99: String,
    mark: &'static str,
}

fn cells(st: &Staircase, s: &StairStep) -> Cells {
    let lat = |us: u64| {
        if s.notify_count > 0 {
            format_micros(us)
        } else {
            "-".to_string()
        }
    };
    Cells {
        step: s.step.to_string(),
        range: format!("{}-{}s", ticks::trim(s.from_s), ticks::trim(s.to_s)),
        offered: format_rate(s.offered_msgs_per_sec),
        acked: format_rate(s.acked_receipts_per_sec),
        p50: lat(s.notify_p50_us),
        p99: lat(s.notify_p99_us),
        mark: if st.saturated_step == Some(s.step) {
            "saturated here"
        } else {
            ""
        },
    }
}

// `write!` to a String cannot fail; the results are ignored below for that reason.

/// The terminal's staircase lines (nothing without steps).
pub fn terminal_lines(s: &mut String, o: &RunOutcome) {
    let Some(st) = of(o) else { return };
    let _ = writeln!(s, "stairs   {}", conclusion(&st));
    let _ = writeln!(
        s,
        "  {:>4} {:>13} {:>10} {:>10} {:>9} {:>9}",
        "step", "from-to", "offered/s", "acked r/s", "p50", "p99"
    );
    for row in &st.steps {
        let c = cells(&st, row);
        let line = format!(
            "  {:>4} {:>13} {:>10} {:>10} {:>9} {:>9}  {}",
            c.step, c.range, c.offered, c.acked, c.p50, c.p99, c.mark
        );
        let _ = writeln!(s, "{}", line.trim_end());
    }
}

/// report.md's "Staircase" section (nothing without steps).
pub fn markdown_section(s: &mut String, o: &RunOutcome) {
    let Some(st) = of(o) else { return };
    let _ = writeln!(
        s,
        "## Staircase\n\n{}. Offered: group + 1:1 messages/s; acked: readers' receipts \
         acknowledged per second during the step; p50/p99: receipt->notified of the receipts \
         intended in the step.\n",
        conclusion(&st)
    );
    s.push_str(
        "| step | from-to | offered msgs/s | acked receipts/s | p50 | p99 | |\n\
         |---:|---|---:|---:|---:|---:|---|\n",
    );
    for row in &st.steps {
        let c = cells(&st, row);
        let mark = if c.mark.is_empty() {
            String::new()
        } else {
            format!("**{}**", c.mark)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {mark} |",
            c.step, c.range, c.offered, c.acked, c.p50, c.p99
        );
    }
    s.push('\n');
}

/// report.html's staircase section: a small table (nothing without steps).
pub fn html_section(s: &mut String, st: Option<&Staircase>) {
    let Some(st) = st else { return };
    let _ = write!(
        s,
        "<section id=\"staircase\"><h2>Rate staircase</h2><p class=\"note\">{}. Acked: \
         readers' receipts acknowledged per second during the step; p50/p99: receipt to \
         notified, of the receipts intended in the step.</p>",
        esc(&conclusion(st))
    );
    s.push_str(
        "<table><thead><tr><th class=\"num\">step</th><th>from-to</th>\
         <th class=\"num\">offered msgs/s</th><th class=\"num\">acked receipts/s</th>\
         <th class=\"num\">p50</th><th class=\"num\">p99</th><th></th></tr></thead><tbody>",
    );
    for row in &st.steps {
        let c = cells(st, row);
        let class = if c.mark.is_empty() {
            ""
        } else {
            " class=\"bad\""
        };
        let _ = write!(
            s,
            "<tr{class}><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td>{}</td></tr>",
            c.step,
            esc(&c.range),
            c.offered,
            c.acked,
            c.p50,
            c.p99,
            c.mark
        );
    }
    s.push_str("</tbody></table></section>");
}

#[cfg(test)]
mod tests;
