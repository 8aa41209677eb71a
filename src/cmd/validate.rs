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

/// Loads and validates `file`: `ok` and its name, or the error naming line and field path.
pub fn execute(file: &Path) -> Result<ExitStatus, ScenarioError> {
    let s = scenario::load_file(file)?;
    super::print(&format!("{}: ok (scenario {:?})\n", file.display(), s.name));
    Ok(ExitStatus::Pass)
}

/// `readsim schema`: the JSON schema of scenario files.
pub fn schema() -> ExitStatus {
    super::print(&format!("{}\n", scenario::json_schema()));
    ExitStatus::Pass
}
