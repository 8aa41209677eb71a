//! `readsim validate` and `readsim schema`: check a scenario file without running it, and
//! print the scenario file format.

use super::{Classify, ExitStatus};
use crate::scenario::{self, Estimate, ScenarioError, Shard};
use std::path::Path;

impl Classify for ScenarioError {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }
}

/// Loads and validates `file` and estimates the size of its run (and, with `shard`, of one
/// shard of it: what one process of a fleet, one pod, must hold): `ok`, its name and the
/// estimates, or the error naming line and field path (also when the estimate of what one
/// process runs does not fit `budget` bytes of memory or the operation cap).
pub fn execute(file: &Path, budget: u64, shard: Shard) -> Result<ExitStatus, ScenarioError> {
    let text = scenario::read_text(file)?;
    let origin = file.display().to_string();
    let mut s = scenario::parse_str(&text, &origin)?;
    let whole = Estimate::of(&s);
    s.shard = shard;
    let hint = super::budget::hint(budget);
    let estimate = scenario::check_budget(&text, &origin, &s, budget, &hint)?;
    let mut out = format!("{origin}: ok (scenario {:?})\n", s.name);
    if shard.is_whole() {
        out.push_str(&format!(
            "{} (budget {})\n{}\n",
            estimate.describe(),
            scenario::bytes(budget),
            estimate.describe_live()
        ));
    } else {
        out.push_str(&format!(
            "whole run: {}\n           {}\nshard {shard} (every shard of {} expects about the same): {} \
             (budget {})\n           {}\n",
            whole.describe(),
            whole.describe_live(),
            shard.count,
            estimate.describe(),
            scenario::bytes(budget),
            estimate.describe_live()
        ));
    }
    super::print(&out);
    Ok(ExitStatus::Pass)
}

/// `readsim schema`: the JSON schema of scenario files.
pub fn schema() -> ExitStatus {
    super::print(&format!("{}\n", scenario::json_schema()));
    ExitStatus::Pass
}
