//! readsim: a deterministic simulation and load-testing harness for chat message read
//! receipts. The pipeline (docs/architecture.md): scenario -> workload -> driver -> target ->
//! history -> checker -> report. `main.rs` is a thin CLI over this library.

pub mod check;
pub mod cmd;
pub mod dist;
pub mod driver;
pub mod faults;
pub mod history;
pub mod hop;
pub mod human;
pub mod live;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod observers;
pub mod pipe;
pub mod progress;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod server;
pub mod sim;
pub mod slo;
pub mod target;
pub mod user_set;
pub mod verdict;
pub mod wire;
pub mod workload;
