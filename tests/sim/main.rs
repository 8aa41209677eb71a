//! Simulated runs: every invariant fires alone, planted bugs are found and shrunk, fault seeds
//! that once failed stay fixed, and the model against a reference state machine. One test
//! binary (it links once).

mod broken_targets;
mod checker_regressions;
mod checkers_fire;
mod coverage;
mod devices;
mod fault_seed_regressions;
mod history_kit;
mod matrix;
mod misuse;
mod model_state_machine;
mod planted_bugs;
mod smoke_bugs;
