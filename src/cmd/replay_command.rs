//! The one command line that re-runs a run: written into every violation, report and sweep
//! line, and parsed back by nobody (report.json carries the scenario and seed for `replay`).

use crate::protocol::Profile;
use crate::scenario::{Dur, Shard};
use crate::target::faulty::Bug;
use std::fmt;
use std::path::{Path, PathBuf};

/// `readsim run FILE --seed N` plus whatever else made the run what it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayCommand {
    pub file: PathBuf,
    pub seed: u64,
    /// `--duration` when the run overrode the scenario's.
    pub duration: Option<Dur>,
    /// `--target` of a live run (None: the simulated model).
    pub target: Option<String>,
    /// `--plant-bug` of a run against a planted-bug model.
    pub bug: Option<Bug>,
    /// `--profile` when the run overrode the scenario's semantics profile.
    pub profile: Option<Profile>,
    /// `--shard I/N` of one shard of a run (None: the whole run).
    pub shard: Option<Shard>,
}

impl ReplayCommand {
    /// The simulated run of `file` under `seed`.
    pub fn new(file: &Path, seed: u64) -> ReplayCommand {
        ReplayCommand {
            file: file.to_path_buf(),
            seed,
            duration: None,
            target: None,
            bug: None,
            profile: None,
            shard: None,
        }
    }

    pub fn with_bug(mut self, bug: Option<Bug>) -> ReplayCommand {
        self.bug = bug;
        self
    }

    /// A simulated run replays exactly; a live run can only be run again.
    pub fn is_exact(&self) -> bool {
        self.target.is_none()
    }

    /// How to introduce the command to a person: "replay" promises the same run, "re-run"
    /// promises the same traffic only.
    pub fn verb(&self) -> &'static str {
        if self.is_exact() { "replay" } else { "re-run" }
    }
}

impl fmt::Display for ReplayCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "readsim run {} --seed {}",
            self.file.display(),
            self.seed
        )?;
        if let Some(d) = self.duration {
            let d = std::time::Duration::from_micros(d.micros);
            write!(f, " --duration {}", humantime::format_duration(d))?;
        }
        if let Some(p) = self.profile {
            write!(f, " --profile {}", p.name())?;
        }
        if let Some(s) = self.shard {
            write!(f, " --shard {s}")?;
        }
        if let Some(t) = &self.target {
            write!(f, " --target {t}")?;
        }
        if let Some(b) = self.bug {
            write!(f, " --plant-bug {}", b.name())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carries_every_flag_that_shapes_the_run() {
        let plain = ReplayCommand::new(Path::new("s.toml"), 7);
        assert_eq!(plain.to_string(), "readsim run s.toml --seed 7");
        assert!(plain.is_exact());
        let full = ReplayCommand {
            duration: Some(Dur::from_micros(20_000_000)),
            target: Some("server".into()),
            shard: Some(Shard { index: 2, count: 4 }),
            ..plain.with_bug(Some(Bug::ALL[0]))
        };
        assert_eq!(
            full.to_string(),
            format!(
                "readsim run s.toml --seed 7 --duration 20s --shard 2/4 --target server \
                 --plant-bug {}",
                Bug::ALL[0].name()
            )
        );
        assert!(!full.is_exact());
        assert_eq!(full.verb(), "re-run");
    }
}
