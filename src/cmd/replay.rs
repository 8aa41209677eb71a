//! `readsim replay`: re-run a recorded simulated run from its report.json alone (the scenario
//! it embeds, its seed, its target, with any planted bug) and confirm it is the same run,
//! event for event: same trace hash, same violations. The report is the whole recording, so a
//! failure found on one machine replays on another without the scenario file.

use crate::check::{CheckConfig, Violation};
use crate::cmd::{Classify, ExitStatus};
use crate::model::Model;
use crate::observers;
use crate::report::{ReadError, ReportDoc};
use crate::target::ModelTarget;
use crate::target::faulty::{Bug, FaultyTarget};
use std::path::{Path, PathBuf};

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "{path}: unknown simulated target {target:?}; replay a report.json written by `readsim run`"
    )]
    Target { path: PathBuf, target: String },
    #[error(
        "{path} records a live run (target {target}); live runs depend on real timing and \
         cannot be replayed exactly: run the scenario again with `readsim run --target ...`"
    )]
    Live { path: PathBuf, target: String },
}

impl Classify for ReplayError {
    fn exit_status(&self) -> ExitStatus {
        ExitStatus::BadInput
    }
}

/// What a replay found.
#[derive(Clone, Debug)]
pub struct Replayed {
    pub scenario: String,
    pub seed: u64,
    pub target: String,
    pub recorded_hash: String,
    pub replayed_hash: String,
    pub recorded_violations: u64,
    pub violations_total: u64,
    pub violations: Vec<Violation>,
}

impl Replayed {
    /// The replay is the recorded run: same trace, same number of violations.
    pub fn exact(&self) -> bool {
        self.recorded_hash == self.replayed_hash
            && self.recorded_violations == self.violations_total
    }
}

/// Replays the run recorded in `path` (a report.json or a directory holding one).
pub fn replay(path: &Path) -> Result<Replayed, ReplayError> {
    let (doc, file) = ReportDoc::read(path)?;
    if doc.driver != "sim" {
        return Err(ReplayError::Live {
            path: file,
            target: doc.target,
        });
    }
    let bug = match doc.target.as_str() {
        "model" => None,
        t => Some(Bug::from_target_name(t).ok_or_else(|| ReplayError::Target {
            path: file.clone(),
            target: t.to_string(),
        })?),
    };
    // A shard's report replays that shard: the file describes the whole run.
    let mut scenario = doc.scenario_config.clone();
    scenario.shard = doc.shard.unwrap_or_default();
    let scenario = &scenario;
    let model = ModelTarget::new(Model::with_profile(
        scenario.receipts.config(),
        scenario.semantics.profile,
    ));
    let check =
        CheckConfig::for_scenario(scenario, format!("readsim replay {}", file.display()), 100);
    let out = match bug {
        None => observers::simulate(scenario, doc.seed, &mut { model }, check),
        Some(b) => observers::simulate(scenario, doc.seed, &mut FaultyTarget::new(model, b), check),
    };
    let checker = &out.observers.checker;
    Ok(Replayed {
        scenario: scenario.name.clone(),
        seed: doc.seed,
        target: doc.target.clone(),
        recorded_hash: doc.trace_hash.clone(),
        replayed_hash: format!("{:016x}", out.observers.trace.value()),
        recorded_violations: doc.violations_total,
        violations_total: checker.violations_total(),
        violations: checker.violations().to_vec(),
    })
}

/// `readsim replay`: re-runs and says whether it is the same run (exit 0) or not (exit 1).
pub fn execute(path: &Path) -> Result<ExitStatus, ReplayError> {
    let r = replay(path)?;
    let mut text = format!(
        "replayed {} seed={} target={}: trace {} (recorded {}), {} violation(s) (recorded {})\n",
        r.scenario,
        r.seed,
        r.target,
        r.replayed_hash,
        r.recorded_hash,
        r.violations_total,
        r.recorded_violations
    );
    for v in r.violations.iter().take(crate::report::TERMINAL_VIOLATIONS) {
        text.push_str(&format!("  - {v}\n"));
    }
    let status = if r.exact() {
        text.push_str("REPRODUCED exactly\n");
        ExitStatus::Pass
    } else {
        text.push_str(
            "NOT REPRODUCED: the trace differs (another readsim version, or a determinism bug: \
             please report it with the report.json)\n",
        );
        ExitStatus::TargetFailed
    };
    super::print(&text);
    Ok(status)
}
