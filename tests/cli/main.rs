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
