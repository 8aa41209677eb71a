//! report.html in a real browser: headless Chromium renders it to a screenshot and dumps the
//! DOM, and the test checks that every chart drew data and that no script error was logged.
//! Ignored by default (it needs Chromium); run it with
//! `cargo test --test html_report_browser -- --ignored` (CI does, after installing chromium).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The Chromium binary: `$CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM").map(PathBuf::from)
        && p.is_file()
    {
        return p;
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        });
        if let Some(p) = found {
            return p;
        }
    }
    panic!(
        "Chromium is not installed: this test renders report.html in headless Chromium. \
         Install it with `apt-get install chromium` (Debian), or point $CHROMIUM at a \
         Chrome/Chromium binary"
    );
}

/// Runs headless Chromium on `url` with `extra` flags; a fresh profile, no network chatter.
fn headless(profile: &Path, url: &str, extra: &[&str]) -> Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium starts")
}

/// Distinct RGBA pixels (up to `cap`) of a PNG.
fn distinct_colors(png_path: &Path, cap: usize) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("sized")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let bytes = &buf[..info.buffer_size()];
    let step = info.color_type.samples()
        * if info.bit_depth == png::BitDepth::Sixteen {
            2
        } else {
            1
        };
    let mut seen = std::collections::BTreeSet::new();
    for px in bytes.chunks(step) {
        seen.insert(px.to_vec());
        if seen.len() >= cap {
            break;
        }
    }
    (info.width, info.height, seen.len())
}

#[test]
#[ignore = "needs Chromium (apt-get install chromium); run with --ignored"]
fn report_html_renders_charts_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .args(["run", "tests/fixtures/tiny.toml", "--out"])
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let html = out.join("report.html");
    assert!(html.is_file());
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("profile");

    // Screenshot: present, large, and not one flat colour.
    let shot = dir.path().join("report.png");
    let o = headless(
        &profile,
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,4000",
        ],
    );
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(shot.is_file(), "no screenshot; chromium said:\n{log}");
    let size = std::fs::metadata(&shot).unwrap().len();
    assert!(size > 50_000, "screenshot is only {size} bytes");
    let (w, h, colors) = distinct_colors(&shot, 64);
    assert_eq!((w, h), (1280, 4000));
    assert!(colors >= 16, "screenshot has only {colors} colours");
    if let Ok(keep) = std::env::var("READSIM_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }

    // The DOM as rendered: every chart is an <svg> with a data path; no script error.
    let o = headless(&profile, &url, &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    let log = format!("{log}\n{}", String::from_utf8_lossy(&o.stderr));
    for needle in ["Uncaught", "SyntaxError", "TypeError", "ReferenceError"] {
        assert!(!log.contains(needle), "script error in the console:\n{log}");
    }
    for id in ["latency", "throughput", "completeness", "by-audience"] {
        let at = dom
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("section {id} missing from the rendered DOM"));
        let end = at + dom[at..].find("</section>").expect("section closes");
        let part = &dom[at..end];
        assert!(part.contains("<svg"), "section {id} has no <svg>");
        let paths: Vec<&str> = part
            .split("<path class=\"series\" d=\"")
            .skip(1)
            .map(|rest| &rest[..rest.find('"').unwrap_or(0)])
            .collect();
        assert!(!paths.is_empty(), "section {id} has no data path");
        for d in paths {
            assert!(
                d.starts_with('M') && d.len() > 10,
                "section {id}: empty path d={d:?}"
            );
        }
    }
    assert!(dom.contains("no faults injected"));
}
