//! What the target's adapter says about the run's figures: which hops the target answered
//! itself and which the adapter derived from what the target sent (a Matrix homeserver has
//! no receipt-count call, so those pulls are the adapter's). Empty for the model and for
//! readsim's own protocol, whose every answer is the server's.

use super::RunOutcome;
use super::svg::esc;
use std::fmt::Write;

/// `## Target` with one bullet per note.
pub fn markdown_section(s: &mut String, o: &RunOutcome) {
    if o.target_notes.is_empty() {
        return;
    }
    let _ = writeln!(s, "## Target\n");
    for n in &o.target_notes {
        let _ = writeln!(s, "- {n}");
    }
    s.push('\n');
}

/// `target   ...` lines.
pub fn terminal_lines(s: &mut String, o: &RunOutcome) {
    for n in &o.target_notes {
        let _ = writeln!(s, "target   {n}");
    }
}

pub fn html_section(s: &mut String, notes: &[String]) {
    if notes.is_empty() {
        return;
    }
    s.push_str("<section id=\"target\"><h2>Target</h2><ul>");
    for n in notes {
        let _ = write!(s, "<li>{}</li>", esc(n));
    }
    s.push_str("</ul></section>");
}
