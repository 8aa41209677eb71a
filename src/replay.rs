//! `readsim replay`: re-run a recorded simulated run from its report.json alone (the scenario
//! it embeds, its seed, its target, with any planted bug) and confirm it is the same run,
//! event for event: same trace hash, same violations. The report is the whole recording, so a
//! failure found on one machine replays on another without the scenario file.

use crate::check::{CheckConfig, Violation};
use crate::model::Model;
use crate::scenario::Scenario;
use crate::sim;
use crate::target::ModelTarget;
use crate::target::faulty::{Bug, FaultyTarget};
use std::path::{Path, PathBuf};

/// Why a recording cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "cannot read {path}: {source}; pass a report.json written by `readsim run`, or the directory holding it"
    )]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a readsim report.json ({detail}); pass the report.json of a run")]
    Format { path: PathBuf, detail: String },
    #[error(
        "{path} records a live run (target {target}); live runs depend on real timing and \
         cannot be replayed exactly: run the scenario again with `readsim run --target ...`"
    )]
    Live { path: PathBuf, target: String },
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
    let file = if path.is_dir() {
        path.join("report.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| ReplayError::Io {
        path: file.clone(),
        source,
    })?;
    let format = |detail: String| ReplayError::Format {
        path: file.clone(),
        detail,
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format(format!("not JSON: {e}")))?;
    let target = v["target"]
        .as_str()
        .ok_or_else(|| format("no `target`".into()))?
        .to_string();
    if v["driver"].as_str() != Some("sim") {
        return Err(ReplayError::Live {
            path: file.clone(),
            target,
        });
    }
    let seed = v["seed"]
        .as_u64()
        .ok_or_else(|| format("no `seed`".into()))?;
    let scenario: Scenario = serde_json::from_value(v["scenario_config"].clone())
        .map_err(|e| format(format!("`scenario_config` does not load: {e}")))?;
    let recorded_hash = v["trace_hash"].as_str().unwrap_or("").to_string();
    let recorded_violations = v["violations_total"].as_u64().unwrap_or(0);
    let bug = match target.as_str() {
        "model" => None,
        t => Some(
            Bug::from_target_name(t)
                .ok_or_else(|| format(format!("unknown simulated target {t:?}")))?,
        ),
    };
    let model = ModelTarget::new(Model::new(scenario.receipts.config()));
    let check =
        CheckConfig::for_scenario(&scenario, format!("readsim replay {}", file.display()), 100);
    let out = match bug {
        None => sim::run(&scenario, seed, &mut { model }, check),
        Some(b) => sim::run(&scenario, seed, &mut FaultyTarget::new(model, b), check),
    };
    let checker = &out.observers.checker;
    Ok(Replayed {
        scenario: scenario.name.clone(),
        seed,
        target,
        recorded_hash,
        replayed_hash: format!("{:016x}", out.observers.trace.value()),
        recorded_violations,
        violations_total: checker.violations_total(),
        violations: checker.violations().to_vec(),
    })
}
