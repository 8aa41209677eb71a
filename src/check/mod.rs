//! Streaming invariant checkers over history (docs/semantics.md, "Invariants every run checks").
//!
//! [`Checker`] routes each event to its parts, one file each: `world` (members, connections,
//! membership changes), `book` (messages, audiences, sightings), `expect` (what the rules
//! prescribe, pure), `counts`, `paging`, `marks` (1:1), `liveness`, `devices` (D1: every
//! connection of a user gets its pushes), `coverage` (which rules the run
//! put to the test) and `sink` (violations).

mod book;
mod checker;
mod counts;
mod coverage;
mod devices;
mod expect;
mod liveness;
mod marks;
mod mx;
mod mx_ops;
mod ops;
mod paging;
mod sink;
mod violation;
mod world;

pub use checker::{CheckConfig, Checker};
pub use coverage::{CodeRow, Coverage, CoverageTable, RuleRow};
pub use violation::{Invariant, Violation};
