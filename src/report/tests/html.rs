//! report.html of a real simulated run: every chart with data, text escaped, and the notes a
//! run without faults or samples gets.

use super::*;

/// A real simulated run of the tiny fixture, renamed to carry markup in its name.
fn tiny_run() -> (Scenario, crate::observers::Observers, u64) {
    let text = include_str!("../../../tests/fixtures/tiny.toml").replace(
        "name = \"tiny\"",
        "name = \"tiny <script>alert('x')</script> & co\"",
    );
    let s = crate::scenario::parse_str(&text, "tiny.toml").unwrap();
    let check =
        crate::check::CheckConfig::for_scenario(&s, "readsim run tiny.toml --seed 3".into(), 10);
    let mut obs = crate::observers::Observers::new(&s, check);
    let mut target = crate::target::ModelTarget::new(crate::model::Model::new(s.receipts.config()));
    let end = crate::sim::run_observed(&s, s.seed, &mut target, &mut obs);
    (s, obs, end)
}

#[test]
fn html_report_has_every_chart_with_data_and_escapes_text() {
    let (s, obs, end) = tiny_run();
    let faults = [
        FaultEntry {
            t_us: 1_000_000,
            kind: "disconnect".into(),
            detail: "client <7>".into(),
        },
        FaultEntry {
            t_us: 3_000_000,
            kind: "reconnect".into(),
            detail: "client 7".into(),
        },
    ];
    let slo = [crate::slo::SloResult {
        name: "send_ack_p99".into(),
        limit: "<= 1ms".into(),
        actual: "111ms".into(),
        limit_value: 1000.0,
        actual_value: 111_000.0,
        unit: crate::slo::SloUnit::Us,
        ok: false,
    }];
    let mut o = outcome(&s, &obs.metrics, &[], 0);
    o.virtual_seconds = end as f64 / 1e6;
    o.faults = &faults;
    o.slo = &slo;
    o.verdict = judged(0, &slo);
    let html = report_html(&o, &stats()).unwrap();
    // One chart per section: latency, throughput, completeness, audience size, faults.
    for id in [
        "latency",
        "throughput",
        "completeness",
        "by-audience",
        "faults",
    ] {
        let at = html
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no section {id}"));
        let end = at + html[at..].find("</section>").unwrap();
        let part = &html[at..end];
        assert!(part.contains("<svg"), "{id} has no chart");
        assert!(
            part.contains("<path class=\"series\" d=\"M"),
            "{id} has no data path"
        );
    }
    // Every hop with samples is plotted (harness lateness is all 0 when simulated).
    assert!(html.contains("<title>receipt_to_notified</title>"));
    // Markup in the scenario name, fault details and SLO limits is escaped.
    assert!(!html.contains("<script>"), "unescaped script tag");
    assert!(html.contains("tiny &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
    assert!(html.contains("client &lt;7&gt;"));
    assert!(html.contains("&lt;= 1ms"));
    // The failed SLO makes the verdict FAIL and is named.
    assert!(html.contains("badge fail"));
    assert!(html.contains("SLO not met: send_ack_p99"));
    // Balanced sections and svgs.
    assert_eq!(
        html.matches("<section").count(),
        html.matches("</section>").count()
    );
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    assert!(html.trim_end().ends_with("</html>"));
}

#[test]
fn html_report_without_faults_or_samples_says_so() {
    let (s, m) = (scenario(), Metrics::default());
    let o = outcome(&s, &m, &[], 0);
    let html = report_html(&o, &stats()).unwrap();
    assert!(html.contains("no faults injected"));
    assert!(html.contains("No latency samples."));
    assert!(html.contains("badge pass"));
}
