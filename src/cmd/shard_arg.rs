//! `--shard` and `--out` as a scheduler launches shards: `--shard env/N` takes the index
//! from `JOB_COMPLETION_INDEX` (what a Kubernetes Indexed Job sets in each pod; `env:VAR/N`
//! names another variable, e.g. `SLURM_ARRAY_TASK_ID`), and `{shard}` in `--out` becomes
//! the shard's index, so one command line (a Job's pod template, `scripts/local-fleet.sh`)
//! serves every shard without templating.

use crate::scenario::Shard;
use std::path::{Path, PathBuf};

/// The variable `--shard env/N` reads.
pub const INDEX_VAR: &str = "JOB_COMPLETION_INDEX";

/// Reads `--shard`: `I/N`, `env/N` or `env:VAR/N`.
pub fn resolve(arg: &str) -> Result<Shard, String> {
    resolve_with(arg, |var| std::env::var(var).ok())
}

/// [`resolve`] with the environment given.
fn resolve_with(arg: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
    let Some((index, count)) = arg.split_once('/') else {
        return Shard::parse(arg).map_err(|e| e.to_string());
    };
    let var = match index.trim() {
        "env" => INDEX_VAR,
        i => match i.strip_prefix("env:") {
            Some(v) if !v.is_empty() => v,
            _ => return Shard::parse(arg).map_err(|e| e.to_string()),
        },
    };
    let Some(value) = env(var) else {
        return Err(format!(
            "--shard {arg}: the environment variable {var} is not set; a Kubernetes Indexed \
             Job sets JOB_COMPLETION_INDEX in each pod, elsewhere set it (e.g. \
             JOB_COMPLETION_INDEX=2) or write the index itself (--shard 2/{count})"
        ));
    };
    Shard::parse(&format!("{}/{count}", value.trim()))
        .map_err(|e| format!("--shard {arg} with {var}={value:?}: {e}"))
}

/// `out` with every `{shard}` replaced by the shard's index (`--out results/shard-{shard}`).
pub fn out_dir(out: &Path, shard: Shard) -> PathBuf {
    let text = out.to_string_lossy();
    if text.contains("{shard}") {
        PathBuf::from(text.replace("{shard}", &shard.index.to_string()))
    } else {
        out.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_index_comes_from_the_job_or_a_named_variable() {
        let e = env(&[
            ("JOB_COMPLETION_INDEX", "2"),
            ("SLURM_ARRAY_TASK_ID", " 1 "),
        ]);
        assert_eq!(resolve_with("env/4", &e), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(
            resolve_with("env:SLURM_ARRAY_TASK_ID/3", &e),
            Ok(Shard { index: 1, count: 3 })
        );
        assert_eq!(resolve_with("3/4", &e), Ok(Shard { index: 3, count: 4 }));
        let unset = resolve_with("env:NOPE/4", &e).unwrap_err();
        assert!(unset.contains("NOPE is not set"), "{unset}");
        let too_big = resolve_with("env/2", &e).unwrap_err();
        assert!(too_big.contains("JOB_COMPLETION_INDEX=\"2\""), "{too_big}");
        assert!(too_big.contains("write I/N"), "{too_big}");
        for bad in ["env:/4", "x/4", "env"] {
            assert!(resolve_with(bad, &e).unwrap_err().contains("I/N"), "{bad}");
        }
    }

    #[test]
    fn out_takes_the_shard_index() {
        let s = Shard { index: 7, count: 8 };
        assert_eq!(
            out_dir(Path::new("/results/run1/shard-{shard}"), s),
            PathBuf::from("/results/run1/shard-7")
        );
        assert_eq!(out_dir(Path::new("out/a"), s), PathBuf::from("out/a"));
    }
}
