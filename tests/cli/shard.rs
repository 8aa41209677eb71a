//! `--shard I/N` and `readsim merge` as users meet them: bad values exit 2, 0/1 is the
//! unsharded run byte for byte, a shard's report replays exactly, and the shards merge.

use crate::{readsim, stderr};
use std::path::Path;
use std::process::Output;

fn run_tiny(out: &Path, shard: &str) -> Output {
    let out = out.to_str().unwrap();
    readsim(&[
        "run",
        "tests/fixtures/tiny.toml",
        "--quiet",
        "--out",
        out,
        "--shard",
        shard,
    ])
}

#[test]
fn bad_shard_values_exit_2_with_the_form_to_write() {
    for bad in ["0/0", "4/4", "x", "1/"] {
        let run = readsim(&["run", "tests/fixtures/tiny.toml", "--shard", bad]);
        assert_eq!(run.status.code(), Some(2), "{bad}: {}", stderr(&run));
        assert!(stderr(&run).contains("write I/N"), "{}", stderr(&run));
        let sweep = readsim(&["sweep", "tests/fixtures/tiny.toml", "--shard", bad]);
        assert_eq!(sweep.status.code(), Some(2), "{bad}: {}", stderr(&sweep));
    }
}

#[test]
fn shard_0_of_1_is_the_unsharded_run_and_a_shard_replays_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, one, part) = (
        dir.path().join("w"),
        dir.path().join("o"),
        dir.path().join("p"),
    );
    assert_eq!(
        readsim(&[
            "run",
            "tests/fixtures/tiny.toml",
            "--quiet",
            "--out",
            whole.to_str().unwrap()
        ])
        .status
        .code(),
        Some(0)
    );
    assert_eq!(run_tiny(&one, "0/1").status.code(), Some(0));
    let read = |d: &Path| std::fs::read(d.join("report.json")).unwrap();
    assert_eq!(read(&whole), read(&one));
    assert!(
        !String::from_utf8(read(&whole))
            .unwrap()
            .contains("\"shard\"")
    );
    assert_eq!(run_tiny(&part, "1/3").status.code(), Some(0));
    let text = String::from_utf8(read(&part)).unwrap();
    assert!(
        text.contains("\"shard\": {\n    \"index\": 1,\n    \"count\": 3\n  }"),
        "shard recorded"
    );
    let again = dir.path().join("again");
    run_tiny(&again, "1/3");
    assert_eq!(read(&part), read(&again), "same seed and shard, same bytes");
    let replay = readsim(&["replay", part.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", stderr(&replay));
}

#[test]
fn merge_joins_the_shards_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut outs = Vec::new();
    for i in 0..3 {
        let out = dir.path().join(format!("s{i}"));
        let o = run_tiny(&out, &format!("{i}/3"));
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        outs.push(out.to_str().unwrap().to_string());
    }
    let merged = dir.path().join("m");
    let mut args = vec!["merge", "--out", merged.to_str().unwrap()];
    args.extend(outs.iter().map(String::as_str));
    let o = readsim(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(merged.join("report.json").exists() && merged.join("report.md").exists());
    let o = readsim(&[
        "merge",
        "--out",
        merged.to_str().unwrap(),
        &outs[0],
        &outs[2],
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("shard 1 of 3 missing"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn start_at_is_checked_and_a_simulated_run_ignores_it_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, bad, says) in [
        ("--start-at", "2030-01-01 00:00", "RFC 3339"),
        ("--start-at-epoch-ms", "soon", "invalid value"),
    ] {
        let o = readsim(&["run", "tests/fixtures/tiny.toml", flag, bad]);
        assert_eq!(o.status.code(), Some(2), "{flag} {bad}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    // Live: hours ahead is a mistake (refused before anything starts).
    let far = readsim(&[
        "run",
        "tests/fixtures/tiny.toml",
        "--target",
        "server",
        "--start-at",
        "2099-01-01T00:00:00Z",
    ]);
    assert_eq!(far.status.code(), Some(2), "{}", stderr(&far));
    assert!(
        stderr(&far).contains("at most 1h ahead"),
        "{}",
        stderr(&far)
    );
    // Simulated: accepted, ignored with a note, the same report.
    let (plain, timed) = (dir.path().join("a"), dir.path().join("b"));
    assert_eq!(run_tiny(&plain, "1/2").status.code(), Some(0));
    let o = readsim(&[
        "run",
        "tests/fixtures/tiny.toml",
        "--quiet",
        "--shard",
        "1/2",
        "--start-at",
        "2020-01-01T00:00:00+02:00",
        "--out",
        timed.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ignored by a simulated run"),
        "{}",
        stderr(&o)
    );
    let read = |d: &Path| std::fs::read(d.join("report.json")).unwrap();
    assert_eq!(read(&plain), read(&timed));
}

fn sweep_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("sweep.json")).unwrap()).unwrap()
}

/// `sweep FILE --seeds 1..60 [--shard I/3] --out DIR` with the planted bug, and its exit code.
fn sweep_sparse(out: &Path, shard: &str, keep_going: bool) -> Option<i32> {
    let mut args = vec![
        "sweep",
        "tests/fixtures/sparse.toml",
        "--seeds",
        "1..60",
        "--jobs",
        "2",
        "--plant-bug",
        "lost-notification",
        "--shard",
        shard,
        "--out",
        out.to_str().unwrap(),
    ];
    if keep_going {
        args.push("--keep-going");
    }
    readsim(&args).status.code()
}

#[test]
fn sweep_shards_merge_into_the_unsharded_sweep() {
    let dir = tempfile::tempdir().unwrap();
    for keep_going in [true, false] {
        let whole = dir.path().join(format!("whole-{keep_going}"));
        assert_eq!(sweep_sparse(&whole, "0/1", keep_going), Some(1));
        let mut shards = Vec::new();
        for i in 0..3 {
            let out = dir.path().join(format!("s{i}-{keep_going}"));
            sweep_sparse(&out, &format!("{i}/3"), keep_going);
            shards.push(out.to_str().unwrap().to_string());
        }
        let merged = dir.path().join(format!("m-{keep_going}"));
        let mut args = vec!["merge", "--out", merged.to_str().unwrap()];
        args.extend(shards.iter().map(String::as_str));
        let o = readsim(&args);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(stderr(&o).contains("Replay: readsim run"), "{}", stderr(&o));
        let (w, m) = (sweep_json(&whole), sweep_json(&merged));
        // The lowest failing seed, and every seed below it passing, whether or not the
        // sweeps stopped at their first failure.
        for k in [
            "first_failure",
            "passed_below_first_failure",
            "first_seed",
            "last_seed",
        ] {
            assert_eq!(w[k], m[k], "{k} (keep going: {keep_going})");
        }
        assert_eq!(w["failures"][0], m["failures"][0]);
        if keep_going {
            // Every seed ran on both sides: the same counts and the same failing seeds.
            for k in ["seeds_run", "passed", "failed", "complete"] {
                assert_eq!(w[k], m[k], "{k}");
            }
            assert_eq!(m["seeds_run"], 60);
            assert!(m["passed"].as_u64().unwrap() > 0 && m["failed"].as_u64().unwrap() > 0);
            let seeds = |v: &serde_json::Value| -> Vec<u64> {
                let f = v["failures"].as_array().unwrap();
                f.iter().map(|x| x["seed"].as_u64().unwrap()).collect()
            };
            assert_eq!(seeds(&w), seeds(&m));
        }
    }
}

#[test]
fn sweep_merge_refuses_missing_mixed_and_other_shards() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let clean = |out: &Path, shard: &str, seeds: &str| {
        readsim(&[
            "sweep",
            "tests/fixtures/sparse.toml",
            "--seeds",
            seeds,
            "--shard",
            shard,
            "--out",
            out.to_str().unwrap(),
        ])
        .status
        .code()
    };
    assert_eq!(clean(&p("a"), "0/2", "1..20"), Some(0));
    assert_eq!(clean(&p("b"), "1/2", "1..20"), Some(0));
    assert_eq!(clean(&p("c"), "1/2", "1..30"), Some(0));
    let merge = |inputs: &[&str]| {
        let out = p("m");
        let mut args = vec!["merge", "--out", out.to_str().unwrap()];
        let paths: Vec<String> = inputs.iter().map(|i| p(i).display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        readsim(&args)
    };
    let o = merge(&["a", "b"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(sweep_json(&p("m"))["passed"], 20);
    for (inputs, says) in [
        (&["a"][..], "shard 1 of 2 missing"),
        (&["a", "c"][..], "seed range is 1..30, not 1..20"),
        (&["m"][..], "merged sweep.json"),
    ] {
        let o = merge(inputs);
        assert_eq!(o.status.code(), Some(2), "{inputs:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    assert_eq!(run_tiny(&p("r"), "0/2").status.code(), Some(0));
    let o = merge(&["r", "b"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("one sweep, at a time"),
        "{}",
        stderr(&o)
    );
}
