//! `[traffic] steps`: a simulated run with a rate staircase prints and writes the staircase
//! table, marks the first step whose receipt->notified p99 passes `saturation_p99`, and still
//! passes (saturation is information, not a verdict); bad steps exit 2 with line and path.

use crate::readsim;
use std::path::Path;

/// tiny.toml with `edit` applied, written to a temporary directory.
fn tiny_with(edit: impl Fn(String) -> String) -> (tempfile::TempDir, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tiny = std::fs::read_to_string(root.join("tests/fixtures/tiny.toml")).unwrap();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("stairs.toml");
    std::fs::write(&p, edit(tiny)).unwrap();
    let p = p.to_str().unwrap().to_string();
    (d, p)
}

/// tiny.toml with four 15 s steps doubling the rates, on a slow network: one-way latency of
/// median 300 ms puts receipt->notified p99 (two hops) past 1 s from the first step on.
fn slow_staircase(text: String) -> String {
    text.replace(
        "misuse_share = 0.2\n",
        "misuse_share = 0.2\nsteps = { every = \"15s\", factor = 2.0, count = 3 }\n",
    ) + "\n[network]\nlatency = { dist = \"lognormal\", median = \"300ms\", sigma = 0.6, max = \"3s\" }\n"
}

#[test]
fn a_run_with_steps_marks_the_saturated_step_in_every_report_and_still_passes() {
    let (d, file) = tiny_with(slow_staircase);
    let out = d.path().join("out");
    let o = readsim(&[
        "run",
        &file,
        "--out",
        out.to_str().unwrap(),
        "--check-determinism",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("stairs   saturated at step 0"), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("stairs"))
        .skip(2)
        .take(4)
        .collect();
    assert!(
        rows[0].contains("0-15s") && rows[0].ends_with("saturated here"),
        "{rows:?}"
    );
    assert!(
        rows[3].contains("45-60s") && rows[3].contains("48.0"),
        "{rows:?}"
    );
    assert_eq!(stdout.matches("saturated here").count(), 1, "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let st = &json["staircase"];
    assert_eq!(st["saturated_step"], 0, "{st}");
    assert_eq!(st["saturation_p99_us"], 1_000_000);
    let steps = st["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 4);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s["scale"], f64::from(1u32 << i), "{s}");
        assert!(s["notify_p99_us"].as_u64().unwrap() > 1_000_000, "{s}");
        assert!(s["acked_receipts_per_sec"].as_f64().unwrap() > 0.0, "{s}");
    }
    assert_eq!(json["verdict"]["result"], "pass");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Staircase") && md.contains("**saturated here**"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<section id=\"staircase\">") && html.contains("saturated here"));
}

#[test]
fn a_higher_threshold_saturates_nothing_and_bad_steps_exit_2() {
    let (d, file) = tiny_with(|t| {
        slow_staircase(t).replace(
            "misuse_share = 0.2\n",
            "misuse_share = 0.2\nsaturation_p99 = \"10s\"\n",
        )
    });
    let out = d.path().join("out");
    let o = readsim(&["run", &file, "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("no step saturated"), "{stdout}");
    assert!(!stdout.contains("saturated here"), "{stdout}");

    // The [traffic] section of tiny.toml starts on line 23; steps lands on line 27.
    let (_d, file) = tiny_with(|t| {
        t.replace(
            "misuse_share = 0.2\n",
            "misuse_share = 0.2\nsteps = { every = \"30s\", factor = 1.5, count = 2 }\n",
        )
    });
    let o = readsim(&["validate", &file]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(":27: traffic.steps.count"), "{stderr}");
}

#[test]
fn matrix_load_without_its_profile_section_validates() {
    // scenarios/matrix-load.toml needs `[semantics] profile = "matrix"`, which this branch's
    // parser may not know yet: check the rest of the file (the staircase) on its own.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("scenarios/matrix-load.toml")).unwrap();
    assert!(text.contains("[semantics]\nprofile = \"matrix\"\n"));
    let (_d, file) = tiny_with(|_| text.replace("[semantics]\nprofile = \"matrix\"\n", ""));
    let o = readsim(&["validate", &file]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
