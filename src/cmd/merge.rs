//! `readsim merge DIR... --out DIR`: one report of a whole run from its shards' reports
//! (`run --shard I/N`, I = 0..N-1): report.json, report.md, report.html and run.json.
//! Refuses shards of different runs (scenario, seed, readsim version, target, N), duplicate
//! shards and reports that are merges themselves; a missing shard fails loudly, naming it,
//! unless `--allow-partial`. The merging itself is `report::merge_docs` (and
//! `report::merge_runs` for the wall-clock figures of each shard's run.json).

use super::ExitStatus;
pub use super::merge_check::MergeError;
use super::merge_check::{Identity, RUN, check_shards};
use crate::report::{
    self, FailedShard, HopSet, MergeInfo, MergedRun, ReportDoc, ReportError, RunStats, ShardRun,
};
use crate::scenario::Shard;
use std::path::{Path, PathBuf};

/// What `readsim merge` was asked to do.
#[derive(Clone, Debug)]
pub struct MergeOptions {
    /// Shard report.json files or directories holding one.
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// Write a report even when shards are missing (it says so on its first line).
    pub allow_partial: bool,
}

/// The merged report, rendered and not yet written.
pub struct Merged {
    pub doc: ReportDoc,
    pub run: MergedRun,
    pub json: String,
    pub markdown: String,
    pub html: String,
    pub run_json: String,
}

/// Reads, checks and merges the shards' reports (and their run.json where present).
pub fn merge(o: &MergeOptions) -> Result<Merged, MergeError> {
    let mut docs = Vec::with_capacity(o.inputs.len());
    for p in &o.inputs {
        let (doc, path) = ReportDoc::read(p)?;
        if let Some(m) = &doc.merged {
            return Err(MergeError::MergedInput {
                path,
                shards: m.shards,
                kind: RUN,
            });
        }
        docs.push((doc, path));
    }
    let mut info = check_one_run(&mut docs, o.allow_partial)?;
    info.failed = failed_shards(&docs);
    let runs = read_runs(&docs)?;
    let shards: Vec<(String, String)> = docs
        .iter()
        .map(|(d, _)| {
            let v = &d.verdict;
            (
                report::shard_label(d),
                format!("{}: {}", v.label(), v.summary(d.slo.len())),
            )
        })
        .collect();
    let docs: Vec<ReportDoc> = docs.into_iter().map(|(d, _)| d).collect();
    let doc = report::merge_docs(&docs, info, &report::offsets_ms(&runs))?;
    let run = report::merge_runs(&runs, doc.virtual_seconds);
    let html = report::doc_html(&doc, &HopSet::of_doc(&doc)?, &run.stats, &shards);
    Ok(Merged {
        json: doc.to_json_string()?,
        markdown: report::merged_markdown(&doc, &shards),
        run_json: serde_json::to_string_pretty(&run).map_err(ReportError::Json)? + "\n",
        html,
        run,
        doc,
    })
}

/// Each failing shard with its verdict and the command that replays it: the one its report
/// records, else `readsim replay DIR` for a simulated shard (its report embeds the run).
fn failed_shards(docs: &[(ReportDoc, PathBuf)]) -> Vec<FailedShard> {
    docs.iter()
        .filter(|(d, _)| !d.verdict.passed())
        .map(|(d, path)| FailedShard {
            shard: d.shard.unwrap_or(Shard::WHOLE).index,
            verdict: format!("{}: {}", d.verdict.label(), d.verdict.summary(d.slo.len())),
            replay: d.replay.clone().unwrap_or_else(|| match d.driver.as_str() {
                "sim" => format!("readsim replay {}", path.display()),
                _ => format!(
                    "readsim run FILE --seed {} --shard {} --target {}",
                    d.seed,
                    d.shard.unwrap_or(Shard::WHOLE),
                    d.target
                ),
            }),
        })
        .collect()
}

/// Each shard's run.json (next to its report.json), where there is one.
fn read_runs(docs: &[(ReportDoc, PathBuf)]) -> Result<Vec<ShardRun>, MergeError> {
    let mut out = Vec::with_capacity(docs.len());
    for (d, path) in docs {
        let file = path.with_file_name("run.json");
        let stats =
            match std::fs::read_to_string(&file) {
                Ok(text) => Some(serde_json::from_str::<RunStats>(&text).map_err(|e| {
                    MergeError::RunJson {
                        path: file.clone(),
                        detail: e.to_string(),
                    }
                })?),
                Err(_) => None,
            };
        out.push(ShardRun {
            shard: d.shard.unwrap_or(Shard::WHOLE).index,
            stats,
        });
    }
    Ok(out)
}

/// Sorts `docs` by shard and checks they are the shards of one run; returns which shards
/// are there and which are missing (an error unless `allow_partial`).
fn check_one_run(
    docs: &mut [(ReportDoc, PathBuf)],
    allow_partial: bool,
) -> Result<MergeInfo, MergeError> {
    let identity = |d: &ReportDoc| Identity {
        fields: vec![
            ("scenario", d.scenario.clone()),
            ("seed", d.seed.to_string()),
            ("readsim version", d.readsim_version.clone()),
            ("target", d.target.clone()),
        ],
        config: serde_json::to_string(&d.scenario_config).unwrap_or_default(),
        shard: d.shard.unwrap_or(Shard::WHOLE),
    };
    check_shards(docs, identity, RUN, allow_partial)
}

/// Writes report.json, report.md, report.html and run.json of `m` into `dir`.
pub fn write(m: &Merged, dir: &Path) -> Result<(), MergeError> {
    let io = |path: PathBuf| move |source| MergeError::Write { path, source };
    std::fs::create_dir_all(dir).map_err(io(dir.to_path_buf()))?;
    let files = [
        ("report.json", &m.json),
        ("report.md", &m.markdown),
        ("report.html", &m.html),
        ("run.json", &m.run_json),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(io(path.clone()))?;
    }
    Ok(())
}

/// Whether `path` names a sweep's sweep.json (or a directory holding one and no
/// report.json) rather than a run's report.
fn is_sweep(path: &Path) -> bool {
    if path.is_dir() {
        !path.join("report.json").exists() && path.join("sweep.json").exists()
    } else {
        path.file_name().is_some_and(|n| n == "sweep.json")
    }
}

/// `readsim merge`: the shards of a run (report.json) or of a sweep (sweep.json), whichever
/// the inputs hold; exit 0 when the merged run (or sweep) passed.
pub fn execute(o: &MergeOptions) -> Result<ExitStatus, MergeError> {
    let (sweeps, runs): (Vec<&PathBuf>, Vec<&PathBuf>) = o.inputs.iter().partition(|p| is_sweep(p));
    match (runs.first(), sweeps.first()) {
        (Some(run), Some(sweep)) => Err(MergeError::Mixed {
            run: run.to_path_buf(),
            sweep: sweep.to_path_buf(),
        }),
        (None, Some(_)) => super::merge_sweep::execute(&o.inputs, &o.out, o.allow_partial),
        _ => execute_runs(o),
    }
}

/// Merges a run's shards, writes the four files, prints the verdict.
fn execute_runs(o: &MergeOptions) -> Result<ExitStatus, MergeError> {
    let m = merge(o)?;
    write(&m, &o.out)?;
    let info = m.doc.merged.as_ref();
    let mut text = String::new();
    if let Some(line) = info.and_then(|i| i.missing_line()) {
        text.push_str(&format!("{line}\n"));
    }
    let v = &m.doc.verdict;
    text.push_str(&format!(
        "merged {} shard report(s) of {} (seed {}): {}: {}\n{} ops, {} violations{}; reports \
         written to {}\n",
        o.inputs.len(),
        m.doc.scenario,
        m.doc.seed,
        v.label(),
        v.summary(m.doc.slo.len()),
        m.doc.ops.get("total").copied().unwrap_or(0),
        m.doc.violations_total,
        m.run
            .stats
            .peak_clients
            .map_or(String::new(), |c| format!(", {c} peak clients (summed)")),
        o.out.display()
    ));
    for f in info.map_or(&[][..], |i| &i.failed[..]) {
        text.push_str(&format!(
            "shard {}: {}; replay: {}\n",
            f.shard, f.verdict, f.replay
        ));
    }
    super::print(&text);
    if !v.passed() {
        for viol in m.doc.violations.iter().take(3) {
            eprintln!("{viol}");
        }
    }
    Ok(ExitStatus::of(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Classify;
    use crate::cmd::run::{RunOptions, run};

    fn opts(shard: Shard, out: &Path) -> RunOptions {
        RunOptions {
            file: PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/tiny.toml"
            )),
            seed: None,
            out: out.to_path_buf(),
            check_determinism: false,
            live: None,
            duration: None,
            profile: None,
            plant_bug: None,
            progress: false,
            budget: u64::MAX,
            shard,
            start_at: None,
        }
    }

    #[test]
    fn four_shards_pass_and_merge_into_every_conversation_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let whole = run(&opts(Shard::WHOLE, &dir.path().join("whole"))).unwrap();
        let mut inputs = Vec::new();
        let mut shards = Vec::new();
        for index in 0..4 {
            let out = dir.path().join(format!("s{index}"));
            let r = run(&opts(Shard { index, count: 4 }, &out)).unwrap();
            assert!(
                r.rendered.doc.verdict.passed(),
                "shard {index}: {:?}",
                r.rendered.doc.verdict
            );
            assert!(
                r.replay
                    .to_string()
                    .ends_with(&format!("--shard {index}/4"))
            );
            inputs.push(out);
            shards.push(r.rendered.doc);
        }
        inputs.reverse(); // any order
        let m = merge(&MergeOptions {
            inputs,
            out: dir.path().join("merged"),
            allow_partial: false,
        })
        .unwrap();
        assert!(m.doc.verdict.passed(), "{:?}", m.doc.verdict);
        let sum = |f: &dyn Fn(&ReportDoc) -> u64| shards.iter().map(f).sum::<u64>();
        let op = |d: &ReportDoc, k: &str| d.ops.get(k).copied().unwrap_or(0);
        for k in [
            "send_message",
            "push_new_message",
            "send_message_read_receipts",
            "total",
        ] {
            assert_eq!(op(&m.doc, k), sum(&|d| op(d, k)), "{k}");
        }
        assert_eq!(m.doc.receipts.acked, sum(&|d| d.receipts.acked));
        assert_eq!(m.doc.receipts.messages, sum(&|d| d.receipts.messages));
        // Each conversation's traffic is drawn from its own streams, so the shards together
        // send, deliver and acknowledge exactly what the unsharded run does.
        let w = &whole.rendered.doc;
        for k in ["send_message", "push_new_message"] {
            assert_eq!(op(&m.doc, k), op(w, k), "{k}");
        }
        assert_eq!(m.doc.receipts.acked, w.receipts.acked);
        assert_eq!(m.doc.receipts.audience_total, w.receipts.audience_total);
        assert!(m.markdown.contains("merged from 4 shards"));
    }

    #[test]
    fn a_shard_leaves_rate_minimums_to_the_merge_which_judges_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tiny-slo.toml");
        let text = include_str!("../../tests/fixtures/tiny.toml");
        // Met by the whole run (~60 ops/s), not by a third of it.
        std::fs::write(&file, format!("{text}\n[slo]\nops_per_second_min = 40.0\n")).unwrap();
        let mut inputs = Vec::new();
        for index in 0..3 {
            let out = dir.path().join(format!("s{index}"));
            let mut o = opts(Shard { index, count: 3 }, &out);
            o.file = file.clone();
            let doc = run(&o).unwrap().rendered.doc;
            assert!(doc.verdict.passed(), "{:?}", doc.verdict);
            assert!(doc.slo.is_empty());
            assert_eq!(
                doc.verdict.warnings,
                vec![crate::slo::SHARD_RATES_NOTE.to_string()]
            );
            inputs.push(out);
        }
        let m = merge(&MergeOptions {
            inputs,
            out: dir.path().join("m"),
            allow_partial: false,
        })
        .unwrap();
        assert_eq!(m.doc.slo.len(), 1);
        assert!(m.doc.slo[0].ok, "{:?}", m.doc.slo);
        assert!(
            m.doc.verdict.warnings.is_empty(),
            "{:?}",
            m.doc.verdict.warnings
        );
        assert!(m.doc.verdict.passed());
    }

    #[test]
    fn reports_of_other_runs_duplicates_and_missing_shards_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        run(&opts(Shard { index: 0, count: 2 }, &a)).unwrap();
        let b = dir.path().join("b");
        let mut o = opts(Shard { index: 1, count: 2 }, &b);
        o.seed = Some(99);
        run(&o).unwrap();
        let m = |inputs: Vec<PathBuf>, allow_partial| {
            merge(&MergeOptions {
                inputs,
                out: dir.path().join("m"),
                allow_partial,
            })
        };
        let e = m(vec![a.clone(), b.clone()], false).err().unwrap();
        assert!(e.to_string().contains("seed is 99"), "{e}");
        assert_eq!(e.exit_status(), ExitStatus::BadInput);
        let e = m(vec![a.clone(), a.clone()], false).err().unwrap();
        assert!(matches!(e, MergeError::Duplicate { .. }), "{e}");
        let e = m(vec![a.clone()], false).err().unwrap();
        assert!(e.to_string().starts_with("shard 1 of 2 missing"), "{e}");
        assert_eq!(e.exit_status(), ExitStatus::BadInput);
        let partial = m(vec![a], true).unwrap();
        assert!(
            partial
                .markdown
                .lines()
                .next()
                .unwrap()
                .contains("shard 1 of 2 missing")
        );
        assert!(!partial.doc.verdict.passed());
    }

    #[test]
    fn the_merge_writes_all_four_files_and_names_each_failing_shards_replay() {
        let dir = tempfile::tempdir().unwrap();
        let mut inputs = Vec::new();
        for index in 0..3 {
            let out = dir.path().join(format!("s{index}"));
            let mut o = opts(Shard { index, count: 3 }, &out);
            o.plant_bug = Some(crate::target::faulty::Bug::CountsOneTooMany);
            run(&o).unwrap();
            inputs.push(out);
        }
        let o = MergeOptions {
            inputs: inputs.clone(),
            out: dir.path().join("m"),
            allow_partial: false,
        };
        let m = merge(&o).unwrap();
        write(&m, &o.out).unwrap();
        for f in ["report.json", "report.md", "report.html", "run.json"] {
            assert!(o.out.join(f).exists(), "{f}");
        }
        let failed = &m.doc.merged.as_ref().unwrap().failed;
        assert!(!failed.is_empty() && !m.doc.verdict.passed());
        for f in failed {
            assert!(
                f.replay.contains(&format!("--shard {}/3", f.shard))
                    && f.replay.contains("--plant-bug counts-one-too-many"),
                "{f:?}"
            );
            assert!(m.markdown.contains(&f.replay) && m.html.contains(&f.replay));
        }
        assert!(m.html.contains("id=\"shards\"") && m.html.contains("Merged from 3 of 3"));
        // run.json: the fleet's figures and each shard's.
        let run: serde_json::Value = serde_json::from_str(&m.run_json).unwrap();
        assert_eq!(run["shards"].as_array().unwrap().len(), 3);
        assert!(
            run["peak_rss_bytes_total"].as_u64().unwrap()
                >= run["peak_rss_bytes"].as_u64().unwrap()
        );
        // A merged report is not a shard's.
        let e = merge(&MergeOptions {
            inputs: vec![o.out.clone()],
            ..o.clone()
        })
        .err()
        .unwrap();
        assert!(
            matches!(e, MergeError::MergedInput { shards: 3, .. }),
            "{e}"
        );
        assert_eq!(e.exit_status(), ExitStatus::BadInput);
    }

    #[test]
    fn shards_of_another_build_or_n_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        run(&opts(Shard { index: 0, count: 2 }, &a)).unwrap();
        let rewrite = |name: &str, f: &dyn Fn(&mut ReportDoc)| {
            let (mut d, _) = ReportDoc::read(&a).unwrap();
            f(&mut d);
            let out = dir.path().join(name);
            std::fs::create_dir_all(&out).unwrap();
            std::fs::write(out.join("report.json"), d.to_json_string().unwrap()).unwrap();
            out
        };
        let other_build = rewrite("v", &|d| {
            d.shard = Some(Shard { index: 1, count: 2 });
            d.readsim_version = "0.0.1".into();
        });
        let other_n = rewrite("n", &|d| d.shard = Some(Shard { index: 1, count: 3 }));
        for (b, says) in [
            (other_build, "readsim version is 0.0.1"),
            (other_n, "shard count N is 3"),
        ] {
            let e = merge(&MergeOptions {
                inputs: vec![a.clone(), b],
                out: dir.path().join("m"),
                allow_partial: false,
            })
            .err()
            .unwrap();
            assert!(e.to_string().contains(says), "{e}");
            assert_eq!(e.exit_status(), ExitStatus::BadInput);
        }
    }
}
