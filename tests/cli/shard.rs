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
