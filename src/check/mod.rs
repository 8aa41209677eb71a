//! Streaming invariant checkers over history (SEMANTICS.md, "Invariants every run checks").

mod violation;

pub use violation::{Invariant, Violation};
mod checker;

pub use checker::{CheckConfig, Checker};
