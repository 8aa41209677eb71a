//! Live runs through the real binary against a child `readsim serve`: the live smoke, the
//! fault scenario with proxy cuts, stalls and crash-restarts, and the live smoke finding
//! each planted server bug (`planted_server`). One test binary. Also the Matrix pieces
//! against a real Synapse (`matrix_synapse`).

mod conform;
mod devices;
mod faults;
mod fleet;
mod matrix_synapse;
mod planted_server;
mod server;

use std::path::Path;
use std::process::{Command, Output};

/// `readsim ARGS` from the crate root, with no admin token from the environment.
pub fn readsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("READSIM_ADMIN_TOKEN")
        .output()
        .expect("readsim runs")
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}
