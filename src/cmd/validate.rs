//! `readsim validate` and `readsim schema`: check a scenario file without running it, and
//! print the scenario file format.

use super::{Classify, ExitStatus};
use crate::scenario::{self, ScenarioError};
use std::path::Path;

impl Classify for ScenarioError {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }
}

/// Loads and validates `file` and estimates the size of its run: `ok`, its name and the
/// estimate, or the error naming line and field path (also when the estimate does not fit
/// `budget` bytes of memory or the operation cap).
pub fn execute(file: &Path, budget: u64) -> Result<ExitStatus, ScenarioError> {
    let text = scenario::read_text(file)?;
    let origin = file.display().to_string();
    let s = scenario::parse_str(&text, &origin)?;
    let hint = super::budget::hint(budget);
    let estimate = scenario::check_budget(&text, &origin, &s, budget, &hint)?;
    super::print(&format!(
        "{origin}: ok (scenario {:?})\n{} (budget {})\n",
        s.name,
        estimate.describe(),
        scenario::bytes(budget)
    ));
    Ok(ExitStatus::Pass)
}

/// `readsim schema`: the JSON schema of scenario files.
pub fn schema() -> ExitStatus {
    super::print(&format!("{}\n", scenario::json_schema()));
    ExitStatus::Pass
}
