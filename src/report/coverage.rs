//! What a run could not have caught: the rule coverage table (rule | exercised N times |
//! observed outcome | the knob that exercises it, never-exercised rules first), the error
//! codes the checker judged, and the violation totals per invariant, rendered for report.md,
//! report.html and the terminal. report.json carries the same [`CoverageTable`].

use super::RunOutcome;
use super::schema::Ordered;
use super::svg::esc;
use crate::check::{CoverageTable, Invariant, RuleRow};
use std::fmt::Write as _;

// `write!` to a String cannot fail; the results are ignored below for that reason.

/// "23 of 35 rules the checker measures were exercised".
fn headline(t: &CoverageTable) -> String {
    let (exercised, measured) = t.summary();
    let counts = format!("{exercised} of {measured} rules the checker measures were exercised");
    // The default profile says nothing, so its reports read as they always did.
    match &t.profile {
        Some(p) => format!(
            "Semantics profile: {p} (docs/matrix.md replaces the rules shown as not \
             applicable; no c2c_read pushes, so c2c_read_timestamps does not apply). {counts}"
        ),
        None => counts,
    }
}

fn exercised(r: &RuleRow) -> String {
    r.exercised
        .map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// Invariants with their violation totals, in [`Invariant::ALL`] order.
pub fn by_invariant<'a>(o: &RunOutcome<'a>) -> impl Iterator<Item = (Invariant, u64)> + 'a {
    let totals = o.violations_by_invariant;
    Invariant::ALL.iter().map(move |&i| (i, totals[i.index()]))
}

// ---- report.md ---------------------------------------------------------------------

/// `## Coverage`: the rule table, then the error codes.
pub fn markdown_section(s: &mut String, o: &RunOutcome) {
    let t = o.coverage;
    let _ = writeln!(
        s,
        "## Coverage\n\n{}. A rule counts each time the run tested it in a way that a \
         violation would have been seen; rules never exercised come first, with the scenario \
         knob that would exercise them.\n",
        headline(t)
    );
    s.push_str("| rule | what | exercised | observed outcome | knob |\n|---|---|---:|---|---|\n");
    for r in &t.rules {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | `{}` |",
            r.rule,
            cell(&r.title),
            exercised(r),
            cell(&r.outcome),
            r.knob.replace('`', "'")
        );
    }
    s.push_str("\n| error code | answers judged expecting it |\n|---|---:|\n");
    for c in &t.error_codes {
        let n = c
            .expected
            .map_or_else(|| "not judged".to_string(), |n| n.to_string());
        let _ = writeln!(s, "| {} | {n} |", c.code);
    }
    s.push('\n');
}

/// Violation totals per invariant, every invariant listed.
pub fn markdown_totals(s: &mut String, o: &RunOutcome) {
    s.push_str("| invariant | violations |\n|---|---:|\n");
    for (i, n) in by_invariant(o) {
        let _ = writeln!(s, "| {} | {n} |", i.name());
    }
    s.push('\n');
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

// ---- report.html -------------------------------------------------------------------

/// The coverage section of the page.
pub fn html_section(s: &mut String, t: &CoverageTable) {
    let _ = write!(
        s,
        "<section id=\"coverage\"><h2>Rule coverage</h2><p class=\"note\">{}. A rule counts \
         each time the run tested it in a way that a violation would have been seen; rules \
         never exercised come first, with the scenario knob that would exercise them.</p>\
         <table><thead><tr><th>rule</th><th>what</th><th class=\"num\">exercised</th>\
         <th>observed outcome</th><th>knob</th></tr></thead><tbody>",
        esc(&headline(t))
    );
    for r in &t.rules {
        let class = match r.exercised {
            Some(0) => " class=\"bad\"",
            _ if r.outcome.starts_with("violations") => " class=\"bad\"",
            _ => "",
        };
        let _ = write!(
            s,
            "<tr{class}><td><code>{}</code></td><td title=\"{}\">{}</td>\
             <td class=\"num\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&r.rule),
            esc(&r.measured_as),
            esc(&r.title),
            exercised(r),
            esc(&r.outcome),
            esc(&r.knob)
        );
    }
    s.push_str(
        "</tbody></table><details><summary>Error codes judged</summary><table><thead><tr>\
         <th>error code</th><th class=\"num\">answers judged expecting it</th></tr></thead>\
         <tbody>",
    );
    for c in &t.error_codes {
        let n = c
            .expected
            .map_or_else(|| "not judged".to_string(), |n| n.to_string());
        let _ = write!(
            s,
            "<tr><td><code>{}</code></td><td class=\"num\">{n}</td></tr>",
            esc(&c.code)
        );
    }
    s.push_str("</tbody></table></details></section>");
}

/// Violation totals per invariant, every invariant listed.
pub fn html_totals(s: &mut String, totals: &Ordered<u64>) {
    s.push_str(
        "<table class=\"totals\"><thead><tr><th>invariant</th><th class=\"num\">violations</th>\
         </tr></thead><tbody>",
    );
    for (name, &n) in totals.iter() {
        let class = if n > 0 { " class=\"bad\"" } else { "" };
        let _ = write!(
            s,
            "<tr{class}><td><code>{}</code></td><td class=\"num\">{n}</td></tr>",
            esc(name)
        );
    }
    s.push_str("</tbody></table>");
}

// ---- terminal ----------------------------------------------------------------------

/// A compact block: the headline, each never-exercised rule with its knob, and the
/// exercised ones with their counts on one line.
pub fn terminal_lines(s: &mut String, o: &RunOutcome) {
    let t = o.coverage;
    let _ = writeln!(s, "coverage {}", headline(t));
    let missing: Vec<&RuleRow> = t.unexercised().collect();
    let w = missing.iter().map(|r| r.rule.len()).max().unwrap_or(0);
    for r in &missing {
        let _ = writeln!(
            s,
            "  {:<w$} not exercised ({}); knob: {}",
            r.rule, r.title, r.knob
        );
    }
    let hit: Vec<String> = t
        .rules
        .iter()
        .filter_map(|r| {
            r.exercised
                .filter(|&n| n > 0)
                .map(|n| format!("{}={n}", r.rule))
        })
        .collect();
    if !hit.is_empty() {
        let _ = writeln!(s, "  exercised: {}", hit.join(" "));
    }
}

/// Violation totals of the invariants that broke, on one line (nothing when none did).
pub fn terminal_totals(s: &mut String, o: &RunOutcome) {
    let broken: Vec<String> = by_invariant(o)
        .filter(|&(_, n)| n > 0)
        .map(|(i, n)| format!("{}={n}", i.name()))
        .collect();
    if !broken.is_empty() {
        let _ = writeln!(s, "  by invariant: {}", broken.join(" "));
    }
}
