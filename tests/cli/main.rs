//! The command line as users meet it: exit codes, reports, determinism, compare, the layer
//! rules of the source tree, and (ignored; CI runs it with `--ignored`) report.html in a
//! headless browser. One test binary.

mod commands;
mod compare;
mod html_report_browser;
mod layers;
mod limits;
mod shard;
mod staircase;

use std::process::{Command, Output};

/// Runs the readsim binary with `args` from the repository root (where scenario paths in the
/// tests are relative to).
fn readsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("readsim runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
