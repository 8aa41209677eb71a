use super::*;
use crate::check::{Invariant, Violation};
use crate::history::{Event, Observer};
use crate::metrics::{Hop, Metrics, new_histogram};
use crate::protocol::{Conv, ErrorCode, GroupId, MsgId, Push, Request, Response, UserId};
use crate::scenario::Scenario;
use crate::verdict::{Findings, Verdict};

/// report.html: its charts, escaping, and what it says when a run has no data.
mod html;

/// The send's acknowledgement latency recorded by [`small_metrics`].
const SEND_ACK_US: u64 = 12_345;

const REQUIRED_KEYS: [&str; 23] = [
    "format_version",
    "readsim_version",
    "scenario",
    "scenario_config",
    "seed",
    "target",
    "driver",
    "virtual_seconds",
    "events",
    "trace_hash",
    "verdict",
    "ops",
    "errors",
    "lost",
    "violations_total",
    "violations_by_invariant",
    "violations",
    "coverage",
    "faults",
    "slo",
    "latency",
    "throughput",
    "receipts",
];

fn scenario() -> Scenario {
    crate::scenario::parse_str("name = \"report-test\"\nduration = \"10s\"\n", "test")
        .expect("minimal scenario")
}

/// One group send (acked after SEND_ACK_US), its delivery push, and one refused send.
fn small_metrics() -> Metrics {
    let mut m = Metrics::default();
    let sender = UserId(1);
    let reader = UserId(2);
    let send = Request::SendMessage {
        conv: Conv::Group(GroupId(0)),
        need_read_receipt: true,
        body_len: 16,
    };
    let sent = Response::Sent {
        msg_id: MsgId(1),
        seq: 1,
        timestamp_ms: 1,
    };
    let push = Push::NewMessage {
        msg_id: MsgId(1),
        conv: Conv::Group(GroupId(0)),
        sender,
        seq: 1,
        timestamp_ms: 1,
        need_read_receipt: true,
    };
    let refused = Response::Error {
        code: ErrorCode::NotGroupMember,
    };
    let events = [
        Event::Invoke {
            t: 1_000,
            intended: 1_000,
            client: sender,
            device: crate::history::Device::FIRST,
            op: 1,
            req: &send,
        },
        Event::Complete {
            t: 1_000 + SEND_ACK_US,
            client: sender,
            op: 1,
            resp: &sent,
        },
        Event::Push {
            t: 20_000,
            client: reader,
            device: crate::history::Device::FIRST,
            push: &push,
        },
        Event::Invoke {
            t: 1_500_000,
            intended: 1_500_000,
            client: reader,
            device: crate::history::Device::FIRST,
            op: 2,
            req: &send,
        },
        Event::Complete {
            t: 1_502_000,
            client: reader,
            op: 2,
            resp: &refused,
        },
    ];
    for ev in &events {
        m.observe(ev);
    }
    m
}

fn violation(i: u64) -> Violation {
    Violation {
        invariant: Invariant::Liveness,
        t_us: 2_000_000 + i,
        client: Some(UserId(1)),
        msg: Some(MsgId(1)),
        observed: format!("no receipts push after {i}s"),
        bound: "a push within 5s".to_string(),
        after_fault: None,
        replay: "readsim run scenarios/report-test.toml --seed 7".to_string(),
    }
}

pub(super) fn outcome<'a>(
    s: &'a Scenario,
    m: &'a Metrics,
    v: &'a [Violation],
    total: u64,
) -> RunOutcome<'a> {
    RunOutcome {
        replay: None,
        target_notes: Vec::new(),
        scenario: s,
        seed: 7,
        target: "model".to_string(),
        driver: "sim".to_string(),
        metrics: m,
        violations: v,
        violations_total: total,
        violations_by_invariant: Box::leak(Box::new(totals(total))),
        coverage: Box::leak(Box::new(coverage_table())),
        virtual_seconds: 2.5,
        trace_hash: 0xdead_beef,
        events: 5,
        faults: &[],
        slo: &[],
        verdict: judged(total, &[]),
    }
}

/// `total` violations, all of liveness (as [`violation`] makes them).
fn totals(total: u64) -> [u64; Invariant::ALL.len()] {
    let mut t = [0; Invariant::ALL.len()];
    t[Invariant::Liveness.index()] = total;
    t
}

/// A run that exercised only R6 (5 times) and R7 (2 times, with liveness violations).
fn coverage_table() -> crate::check::CoverageTable {
    let mut t = crate::check::Checker::new(crate::check::CheckConfig::default()).coverage_table();
    for r in &mut t.rules {
        match r.rule.as_str() {
            "R6" => (r.exercised, r.outcome) = (Some(5), "held".into()),
            "R7" => (r.exercised, r.outcome) = (Some(2), "violations: liveness=3".into()),
            _ => {}
        }
    }
    t
}

/// The verdict the runner would give (leaked: tests build a handful).
fn judged(violations: u64, slo: &[crate::slo::SloResult]) -> &'static Verdict {
    Box::leak(Box::new(Verdict::judge(Findings {
        violations,
        slo_missed: crate::slo::failed_names(slo)
            .into_iter()
            .map(String::from)
            .collect(),
        ops: 1,
        ..Findings::default()
    })))
}

fn stats() -> RunStats {
    RunStats {
        wall_seconds: 0.25,
        virtual_seconds: 2.5,
        ops_per_wall_second: 12.0,
        peak_rss_bytes: 10 * 1024 * 1024,
        acked_receipts_per_second: None,
        peak_clients: None,
        ..RunStats::default()
    }
}

/// The top-level keys of a pretty-printed object, in file order.
fn top_level_keys(pretty: &str) -> Vec<String> {
    pretty
        .lines()
        .filter_map(|l| l.strip_prefix("  \""))
        .filter_map(|l| l.split_once("\":").map(|(k, _)| k.to_string()))
        .collect()
}

#[test]
fn report_json_has_the_required_keys_in_order() {
    let (s, m) = (scenario(), small_metrics());
    let o = outcome(&s, &m, &[], 0);
    let text = report_json_string(&o).unwrap();
    assert!(text.ends_with("}\n"));
    assert_eq!(top_level_keys(&text), REQUIRED_KEYS);
    let v = report_json(&o);
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = REQUIRED_KEYS.to_vec();
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want);
    let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, v);
}

#[test]
fn report_json_content() {
    let (s, m) = (scenario(), small_metrics());
    let vs = [violation(0)];
    let o = outcome(&s, &m, &vs, 1);
    let v = report_json(&o);
    assert_eq!(v["readsim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["scenario"], "report-test");
    assert_eq!(v["scenario_config"]["name"], "report-test");
    assert_eq!(v["scenario_config"]["duration"], "10s");
    assert_eq!(v["seed"], 7);
    assert_eq!(v["target"], "model");
    assert_eq!(v["driver"], "sim");
    assert_eq!(v["trace_hash"], "00000000deadbeef");
    assert_eq!(v["ops"]["send_message"], 2);
    assert_eq!(v["ops"]["push_new_message"], 1);
    assert_eq!(v["ops"]["total"], 3);
    assert_eq!(v["errors"]["NOT_GROUP_MEMBER"], 1);
    assert_eq!(v["violations_total"], 1);
    assert_eq!(v["violations"][0]["invariant"], "liveness");
    assert_eq!(v["throughput"]["ops_per_virtual_second"], 1.2);
    assert_eq!(v["throughput"]["per_second"], serde_json::json!([2, 1]));

    let latency = v["latency"].as_object().unwrap();
    assert_eq!(latency.len(), Hop::ALL.len());
    let ack = &latency["send_ack"];
    assert_eq!(ack["count"], 2);
    let delivery = &latency["delivery_push"];
    assert_eq!(delivery["count"], 1);
    let h = m.histogram(Hop::DeliveryPush);
    let p50 = delivery["p50_us"].as_u64().unwrap();
    assert!(h.equivalent(p50, 19_000), "p50 {p50} is not 19000us");
    let decoded = decode_histogram(delivery["hdr"].as_str().unwrap()).unwrap();
    assert_eq!(decoded, *h);
    assert!(!latency.contains_key("pull"), "keys are hop names");
    assert_eq!(latency["receipt_pull"]["count"], 0);
    assert_eq!(latency["receipt_pull"]["max_us"], 0);
}

#[test]
fn send_ack_latency_is_reported_within_precision() {
    let s = scenario();
    // Only the acked send: one sample on send_ack.
    let mut m = Metrics::default();
    let send = Request::SendMessage {
        conv: Conv::Group(GroupId(0)),
        need_read_receipt: false,
        body_len: 1,
    };
    let sent = Response::Sent {
        msg_id: MsgId(9),
        seq: 1,
        timestamp_ms: 0,
    };
    m.observe(&Event::Invoke {
        t: 10,
        intended: 10,
        client: UserId(3),
        device: crate::history::Device::FIRST,
        op: 1,
        req: &send,
    });
    m.observe(&Event::Complete {
        t: 10 + SEND_ACK_US,
        client: UserId(3),
        op: 1,
        resp: &sent,
    });
    let o = outcome(&s, &m, &[], 0);
    let v = report_json(&o);
    assert_eq!(v["ops"]["send_message"], 1);
    assert_eq!(v["ops"]["total"], 1);
    let ack = &v["latency"]["send_ack"];
    assert_eq!(ack["count"], 1);
    let h = m.histogram(Hop::SendAck);
    for q in ["p50_us", "p99_us", "max_us"] {
        let got = ack[q].as_u64().unwrap();
        assert!(h.equivalent(got, SEND_ACK_US), "{q} = {got}");
        // 3 significant digits: within 0.1% of the recorded value.
        assert!(
            got.abs_diff(SEND_ACK_US) * 1000 <= SEND_ACK_US,
            "{q} = {got}"
        );
    }
    let decoded = decode_histogram(ack["hdr"].as_str().unwrap()).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!(
        decoded.value_at_quantile(0.5),
        h.value_at_quantile(0.5),
        "hdr decodes to the same distribution"
    );
}

#[test]
fn same_outcome_serialises_byte_identically() {
    let (s, m) = (scenario(), small_metrics());
    let vs = [violation(0), violation(1)];
    let a = report_json_string(&outcome(&s, &m, &vs, 2)).unwrap();
    let m2 = small_metrics();
    let b = report_json_string(&outcome(&s, &m2, &vs, 2)).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, report_json_string(&outcome(&s, &m, &vs, 2)).unwrap());
}

#[test]
fn histogram_survives_encode_decode() {
    let mut h = new_histogram();
    for v in [1, 7, 850, 12_300, 12_345, 99_999, 1_200_000, 3_000_000] {
        h.record_n(v, v % 5 + 1).unwrap();
    }
    let b64 = encode_histogram(&h).unwrap();
    let back = decode_histogram(&b64).unwrap();
    assert_eq!(back.len(), h.len());
    assert_eq!(back.value_at_quantile(0.99), h.value_at_quantile(0.99));
    assert_eq!(back.max(), h.max());
    assert_eq!(back, h);
    // Empty histograms round-trip too.
    let empty = new_histogram();
    assert_eq!(
        decode_histogram(&encode_histogram(&empty).unwrap())
            .unwrap()
            .len(),
        0
    );
}

#[test]
fn decode_rejects_garbage_with_useful_errors() {
    let e = decode_histogram("not base64!").unwrap_err();
    assert!(matches!(e, ReportError::Base64(_)), "{e}");
    assert!(e.to_string().contains("hdr"));
    let e = decode_histogram("AAAAAAAA").unwrap_err();
    assert!(matches!(e, ReportError::HistogramDecode(_)), "{e}");
}

#[test]
fn markdown_has_verdict_tables_and_replay_commands() {
    let (s, m) = (scenario(), small_metrics());
    let pass = report_markdown(&outcome(&s, &m, &[], 0), &stats());
    assert!(pass.starts_with("# readsim: `report-test` (seed 7, target `model`)"));
    assert!(pass.contains("**PASS**"));
    assert!(!pass.contains("**FAIL**"));
    assert!(pass.contains("| hop | count | p50 | p90 | p99 | p99.9 | max |"));
    let row = pass
        .lines()
        .find(|l| l.starts_with("| send_ack |"))
        .expect("send_ack row");
    assert!(row.starts_with("| send_ack | 2 | "), "{row}");
    assert!(row.contains("ms |"), "{row}");
    assert!(pass.contains("| send_message | 2 | 0.80 |"), "{pass}");
    assert!(pass.contains("| **total** | **3** |"));
    assert!(pass.contains("| NOT_GROUP_MEMBER | 1 |"));
    assert!(
        pass.contains("| 250ms | 2.50s | 12.0 | 10.0 MiB |"),
        "{pass}"
    );
    assert!(
        !pass.contains("| receipt_pull |"),
        "empty hops are left out"
    );

    let vs: Vec<Violation> = (0..25).map(violation).collect();
    let fail = report_markdown(&outcome(&s, &m, &vs, 30), &stats());
    assert!(fail.contains("**FAIL**: 30 invariant violations."));
    let replays = fail
        .matches("Replay: `readsim run scenarios/report-test.toml --seed 7`")
        .count();
    assert_eq!(replays, MARKDOWN_VIOLATIONS);
    assert!(fail.contains("20. **liveness**"));
    assert!(!fail.contains("21. **liveness**"));
    assert!(fail.contains("10 more not listed here (30 in total)"));
}

#[test]
fn terminal_summary_lists_hops_with_samples_and_verdict() {
    let (s, m) = (scenario(), small_metrics());
    let out = terminal_summary(&outcome(&s, &m, &[], 0), &stats());
    for (hop, h) in m.histograms() {
        let listed = out.lines().any(|l| l.trim_start().starts_with(hop.name()));
        assert_eq!(listed, !h.is_empty(), "{}:\n{out}", hop.name());
    }
    assert!(
        out.contains("ops      3 in 2.50s virtual (1.20/s)"),
        "{out}"
    );
    assert!(out.contains("PASS"));
    // Columns line up: every hop row is as long as the header (coverage lines are no hops).
    let rows: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  ") && !l.contains("exercised"))
        .collect();
    assert!(rows.len() >= 3);
    assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{out}");

    let vs: Vec<Violation> = (0..8).map(violation).collect();
    let out = terminal_summary(&outcome(&s, &m, &vs, 8), &stats());
    assert!(out.contains("FAIL     8 invariant violations"));
    assert_eq!(
        out.matches("Replay: readsim run").count(),
        TERMINAL_VIOLATIONS
    );
    assert!(out.contains("and 3 more"));
}

#[test]
fn write_reports_writes_four_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested").join("run1");
    let (s, m) = (scenario(), small_metrics());
    let o = outcome(&s, &m, &[], 0);
    write_reports(&out, &o, &stats()).unwrap();
    let report = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert_eq!(report, report_json_string(&o).unwrap());
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["peak_rss_bytes"], 10 * 1024 * 1024);
    assert_eq!(run["wall_seconds"], 0.25);
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains("**PASS**")
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("PASS"));

    // A file where the directory should be: an Io error naming the path.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "x").unwrap();
    let e = write_reports(&blocker.join("sub"), &o, &stats()).unwrap_err();
    assert!(matches!(e, ReportError::Io { .. }));
    assert!(e.to_string().contains("sub"), "{e}");
}

#[test]
fn human_formats() {
    assert_eq!(format_micros(0), "0us");
    assert_eq!(format_micros(850), "850us");
    assert_eq!(format_micros(999), "999us");
    assert_eq!(format_micros(1_000), "1.00ms");
    assert_eq!(format_micros(12_300), "12.3ms");
    assert_eq!(format_micros(9_996), "10.0ms");
    assert_eq!(format_micros(999_499), "999ms");
    assert_eq!(format_micros(999_500), "1.00s");
    assert_eq!(format_micros(1_200_000), "1.20s");
    assert_eq!(format_micros(3_600_000_000), "3600s");
    assert_eq!(format_bytes(0), "unknown");
    assert_eq!(format_bytes(512), "512 B");
    assert_eq!(format_bytes(12_900_000), "12.3 MiB");
    assert_eq!(format_rate(1234.4), "1234");
    assert_eq!(format_rate(0.5), "0.50");
}

#[test]
fn proc_memory_fields_parse_and_read() {
    let status = "Name:\treadsim\nVmPeak:\t  9000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
    assert_eq!(rss::kib_field(status, "VmHWM:"), Some(1234 * 1024));
    assert_eq!(rss::kib_field(status, "VmRSS:"), Some(1000 * 1024));
    assert_eq!(rss::kib_field("Name:\tx\n", "VmHWM:"), None);
    assert_eq!(rss::kib_field("VmHWM:\tlots kB\n", "VmHWM:"), None);
    assert_eq!(rss::kib_field("MemTotal: 12 MB\n", "MemTotal:"), None);
    let meminfo = "MemTotal:       16384 kB\nMemFree: 1 kB\n";
    assert_eq!(rss::kib_field(meminfo, "MemTotal:"), Some(16384 * 1024));
    if std::path::Path::new("/proc/self/status").exists() {
        assert!(peak_rss_bytes() > 0);
        assert!(current_rss_bytes() > 0);
        assert!(current_rss_bytes() <= peak_rss_bytes());
        assert!(mem_total_bytes().is_some_and(|m| m > peak_rss_bytes()));
    }
}

#[test]
fn report_json_reads_back_into_the_schema_and_writes_the_same_bytes() {
    let (s, m) = (scenario(), small_metrics());
    let v = [violation(1)];
    let o = outcome(&s, &m, &v, 3);
    let text = report_json_string(&o).unwrap();
    let doc = ReportDoc::parse(&text, std::path::Path::new("r.json")).unwrap();
    assert_eq!(doc.violations, v);
    assert_eq!(doc.verdict.violations, 3);
    assert!(!doc.verdict.passed());
    assert_eq!(doc.to_json_string().unwrap(), text, "lossless round trip");
    // Another format version is refused with a message that says what to do.
    let current = format!("\"format_version\": {FORMAT_VERSION}");
    assert!(text.contains(&current));
    let old = text.replacen(&current, "\"format_version\": 1", 1);
    let e = ReportDoc::parse(&old, std::path::Path::new("old.json")).unwrap_err();
    assert!(e.to_string().contains("format 1"), "{e}");
}

#[test]
fn every_report_shows_the_coverage_table_unexercised_rules_first() {
    let (s, m) = (scenario(), small_metrics());
    let o = outcome(&s, &m, &[], 0);
    let md = report_markdown(&o, &stats());
    assert!(md.contains("## Coverage\n\n2 of "), "{md}");
    assert!(md.contains("| rule | what | exercised | observed outcome | knob |"));
    let r5 = md
        .find("| R5 | leavers | 0 | not exercised | `[churn] per_minute (leave, kick)` |")
        .expect("R5 row");
    let r6 = md
        .find("| R6 | receipts are idempotent | 5 | held |")
        .expect("R6");
    let i5 = md.find("| I5 |").expect("I5 row");
    assert!(
        r5 < r6 && r6 < i5,
        "never exercised, exercised, not checked"
    );
    assert!(md.contains("| NOT_IN_AUDIENCE | 0 |") && md.contains("| BAD_REQUEST | not judged |"));
    let html = report_html(&o, &stats()).unwrap();
    assert!(html.contains("<section id=\"coverage\"><h2>Rule coverage</h2>"));
    assert!(
        html.contains("<tr class=\"bad\"><td><code>R5</code></td>"),
        "{html}"
    );
    assert!(html.contains("<td class=\"num\">5</td><td>held</td>"));
    let term = terminal_summary(&o, &stats());
    assert!(term.contains("coverage 2 of "), "{term}");
    assert!(term.contains(" not exercised (leavers); knob: [churn] per_minute (leave, kick)"));
    assert!(term.contains("  exercised: R6=5 R7=2\n"), "{term}");
    let v = report_json(&o);
    let rows = v["coverage"]["rules"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["rule"] == id).unwrap().clone();
    assert_eq!(row("R5")["exercised"], 0);
    assert_eq!(row("R6")["exercised"], 5);
    assert!(row("I5")["exercised"].is_null());
    assert_eq!(rows[0]["exercised"], 0, "never exercised first");
}

#[test]
fn every_report_shows_violation_totals_per_invariant() {
    let (s, m) = (scenario(), small_metrics());
    let v = [violation(1)];
    let o = outcome(&s, &m, &v, 3);
    let md = report_markdown(&o, &stats());
    assert!(
        md.contains("| liveness | 3 |\n") && md.contains("| count_sum | 0 |\n"),
        "{md}"
    );
    let html = report_html(&o, &stats()).unwrap();
    assert!(
        html.contains("<tr class=\"bad\"><td><code>liveness</code></td><td class=\"num\">3</td>")
    );
    let term = terminal_summary(&o, &stats());
    assert!(term.contains("  by invariant: liveness=3\n"), "{term}");
    let j = report_json(&o);
    assert_eq!(j["violations_by_invariant"]["liveness"], 3);
    assert_eq!(j["violations_by_invariant"]["count_sum"], 0);
    let names: Vec<&String> = match &j["violations_by_invariant"] {
        serde_json::Value::Object(m) => m.keys().collect(),
        _ => panic!("an object"),
    };
    assert_eq!(names.len(), Invariant::ALL.len());
}

#[test]
fn lost_operations_are_shown_apart_from_protocol_errors() {
    let s = scenario();
    let mut m = small_metrics();
    let send = Request::SendMessage {
        conv: Conv::Group(GroupId(0)),
        need_read_receipt: false,
        body_len: 16,
    };
    let (client, t) = (UserId(1), 3_000_000);
    m.observe(&Event::Invoke {
        t,
        intended: t,
        client,
        device: crate::history::Device::FIRST,
        op: 9,
        req: &send,
    });
    m.observe(&Event::Lost { t, client, op: 9 });
    // A second loss of the same operation counts nothing.
    m.observe(&Event::Lost { t, client, op: 9 });
    let o = outcome(&s, &m, &[], 0);
    let v = report_json(&o);
    assert_eq!(v["lost"], 1);
    assert_eq!(v["errors"], serde_json::json!({"NOT_GROUP_MEMBER": 1}));
    let terminal = terminal_summary(&o, &stats());
    assert!(
        terminal.contains("errors   1: NOT_GROUP_MEMBER=1\n"),
        "{terminal}"
    );
    assert!(
        terminal.contains("lost     1 operations got no response"),
        "{terminal}"
    );
    let md = report_markdown(&o, &stats());
    assert!(md.contains("Lost: 1 operations got no response"), "{md}");
    let html = report_html(&o, &stats()).unwrap();
    assert!(html.contains("lost: <span class=\"num\">1</span>"));
    assert!(!html.contains("LOST_NO_RESPONSE") && !md.contains("LOST_NO_RESPONSE"));
    // Without losses nothing is said.
    let quiet = small_metrics();
    let o = outcome(&s, &quiet, &[], 0);
    assert_eq!(report_json(&o)["lost"], 0);
    assert!(!terminal_summary(&o, &stats()).contains("lost "));
}

#[test]
fn the_target_process_cpu_is_shown_only_when_the_run_started_one() {
    let (s, m) = (scenario(), small_metrics());
    let o = outcome(&s, &m, &[], 0);
    let server = CpuTime {
        user_seconds: 8.0,
        system_seconds: 16.5,
    };
    let with = RunStats {
        target_cpu: Some(server),
        ..stats()
    };
    let term = terminal_summary(&o, &with);
    let line = term
        .lines()
        .find(|l| l.contains("the process this run started"))
        .unwrap_or_else(|| panic!("no target CPU line:\n{term}"));
    assert!(line.contains("24.5s (user 8.00s, system 16.5s)"), "{line}");
    let files = ReportFiles::render(&o, &with).unwrap();
    assert!(
        files
            .markdown
            .contains("The target process this run started: CPU 24.5s")
    );
    assert!(
        files
            .html
            .contains("CPU time of the target process this run started")
    );
    let run: serde_json::Value = serde_json::from_str(&files.run_json).unwrap();
    assert_eq!(run["target_cpu"]["system_seconds"], 16.5);

    let without = ReportFiles::render(&o, &stats()).unwrap();
    assert!(!terminal_summary(&o, &stats()).contains("the process this run started"));
    assert!(!without.markdown.contains("The target process"));
    assert!(!without.run_json.contains("target_cpu"));
}
