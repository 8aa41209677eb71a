//! Scenario files: types, loading with line-and-path errors, validation, JSON schema.

mod types;

pub use types::*;
#[cfg(test)] mod exp;
