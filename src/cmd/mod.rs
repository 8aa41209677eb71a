//! The commands of the `readsim` binary, one file each. Each takes typed options, prints what
//! a person (or `--format json`) reads, and returns an [`ExitStatus`] or an error whose
//! [`ExitStatus`] says whose fault it was. `main.rs` holds only the clap types and the dispatch.

pub mod budget;
pub mod compare;
pub mod conform;
mod judge;
pub mod merge;
mod merge_check;
mod merge_sweep;
pub mod replay;
mod replay_command;
pub mod run;
pub mod serve;
pub mod shard_arg;
pub mod shrink;
pub mod start_at;
pub mod sweep;
pub mod sweep_doc;
pub mod validate;

pub use replay_command::ReplayCommand;

/// The exit-code contract of every command (README, `readsim --help`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: every check and SLO held (or the command did what it was asked).
    Pass,
    /// 1: the target failed a check or an SLO, a regression was found, a replay differed.
    TargetFailed,
    /// 2: bad usage or a bad input file.
    BadInput,
    /// 3: readsim itself could not do its job (I/O error, a server that would not start,
    /// provisioning failed, a determinism bug).
    HarnessFailed,
    /// 130 (the shells' code for SIGINT): the user stopped a live run with Ctrl-C; its
    /// reports were written, marked interrupted.
    Interrupted,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Pass => 0,
            ExitStatus::TargetFailed => 1,
            ExitStatus::BadInput => 2,
            ExitStatus::HarnessFailed => 3,
            ExitStatus::Interrupted => 130,
        }
    }

    /// 0 on a pass, 130 for an interrupted run, 1 otherwise.
    pub fn of(verdict: &crate::verdict::Verdict) -> ExitStatus {
        if verdict.passed() {
            ExitStatus::Pass
        } else if verdict.interrupted {
            ExitStatus::Interrupted
        } else {
            ExitStatus::TargetFailed
        }
    }
}

/// An error that knows which exit code it means.
pub trait Classify: std::error::Error {
    fn exit_status(&self) -> ExitStatus;
}

/// Writes to stdout, ending quietly (no panic) when the reader has gone away, as with
/// `readsim schema | head -1`.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|_| out.flush())
        .is_err()
    {
        // The reader is gone (broken pipe) or stdout is closed: nothing left to tell anyone.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{Findings, Verdict};

    #[test]
    fn exit_codes_follow_the_contract() {
        let codes: Vec<u8> = [
            ExitStatus::Pass,
            ExitStatus::TargetFailed,
            ExitStatus::BadInput,
            ExitStatus::HarnessFailed,
        ]
        .iter()
        .map(|s| s.code())
        .collect();
        assert_eq!(codes, [0, 1, 2, 3]);
        let pass = Verdict::judge(Findings {
            ops: 1,
            ..Findings::default()
        });
        assert_eq!(ExitStatus::of(&pass), ExitStatus::Pass);
        assert_eq!(
            ExitStatus::of(&Verdict::judge(Findings::default())),
            ExitStatus::TargetFailed
        );
    }
}
