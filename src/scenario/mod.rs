//! Scenario files: types, loading with line-and-path errors, validation, JSON schema.
//!
//! [`load_file`] / [`parse_str`] parse TOML into a [`Scenario`] and [`validate`] it; every
//! error names the file, the 1-based line and the field path (`groups[1].size.max`).

mod error;
mod estimate;
mod fault_knobs;
mod load;
mod rules;
mod schema;
mod shard;
mod slo;
mod steps;
mod types;
mod validate;

pub use error::{FieldErrorKind, Invalid, ScenarioError};
pub use estimate::{Estimate, MAX_OPERATIONS, bytes, mean_delay, mean_size};
pub use fault_knobs::{FAULT_KNOBS, FaultKnob, KnobUnit};
pub use load::{MAX_FILE_BYTES, check_budget, load_file, parse_str, read_text};
pub use rules::{Check, RequireCoverage, Rule, RuleInfo};
pub use schema::json_schema;
pub use shard::{MAX_SHARDS, Shard, ShardError};
pub use slo::{
    NOTIFY_ALIAS, OPS_PER_SECOND_MIN, RECEIPTS_PER_SECOND_MIN, VIOLATIONS_MAX, latency_key,
    parse_latency_key,
};
pub use steps::{MAX_SCALE, MAX_STEPS, mean_scale, scale_at};
pub use types::*;
pub use validate::{
    MAX_BODY_BYTES, MAX_DELAY, MAX_DURATION, MAX_GROUP_CLASSES, MAX_GROUPS, MAX_MESSAGES_PER_SEC,
    MAX_PAGE, MAX_PER_MINUTE, MAX_PULLS_PER_USER_PER_MINUTE, MAX_SIGMA, MAX_USERS, validate,
};

#[cfg(test)]
mod tests;
