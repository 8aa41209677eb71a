//! The staircase table: built from per-step metrics, the first step past the threshold
//! marked in report.json, report.md, report.html and the terminal alike.

use crate::history::{Event, Observer};
use crate::metrics::Metrics;
use crate::protocol::{Conv, MsgId, PerMessage, Push, ReceiptEntry, Request, Response, UserId};
use crate::report::schema::ReportDoc;
use crate::report::tests::outcome;
use crate::report::*;
use crate::scenario::Scenario;

fn stepped(threshold: &str) -> Scenario {
    let text = format!(
        "name = \"stairs\"\nduration = \"30s\"\n[traffic]\ngroup_messages_per_sec = 4.0\n\
         c2c_messages_per_sec = 2.0\nsaturation_p99 = \"{threshold}\"\n\
         steps = {{ every = \"10s\", factor = 2.0, count = 2 }}\n"
    );
    crate::scenario::parse_str(&text, "stairs.toml").unwrap()
}

/// A 1:1 message `n` sent at `t`, read 1 s later, notified `lat` after the receipt.
fn receipt(m: &mut Metrics, n: u64, t: u64, lat: u64) {
    let (msg, read) = (MsgId(n), t + 1_000_000);
    let send = Request::SendMessage {
        conv: Conv::C2c(UserId(1)),
        need_read_receipt: true,
        body_len: 1,
    };
    let receipts = Request::SendReadReceipts { msg_ids: vec![msg] };
    let sent = Response::Sent {
        msg_id: msg,
        seq: n,
        timestamp_ms: 0,
    };
    let acked = Response::ReceiptsSent {
        results: vec![PerMessage {
            msg_id: msg,
            result: Ok(()),
        }],
    };
    let push = Push::Receipts {
        entries: vec![ReceiptEntry::C2c {
            msg_id: msg,
            user_id: UserId(1),
            is_peer_read: true,
        }],
    };
    let (a, b) = (UserId(0), UserId(1));
    for ev in [
        Event::Invoke {
            t,
            intended: t,
            client: a,
            device: crate::history::Device::FIRST,
            op: 2 * n,
            req: &send,
        },
        Event::Complete {
            t: t + 10,
            client: a,
            op: 2 * n,
            resp: &sent,
        },
        Event::Invoke {
            t: read,
            intended: read,
            client: b,
            device: crate::history::Device::FIRST,
            op: 2 * n + 1,
            req: &receipts,
        },
        Event::Complete {
            t: read + 10,
            client: b,
            op: 2 * n + 1,
            resp: &acked,
        },
        Event::Push {
            t: read + lat,
            client: a,
            device: crate::history::Device::FIRST,
            push: &push,
        },
    ] {
        m.observe(&ev);
    }
}

/// Notify latency 200 ms in step 0, 1.5 s in step 1, 3 s in step 2.
fn metrics(s: &Scenario) -> Metrics {
    let spans = s.traffic.step_spans(s.duration);
    let ranges: Vec<(u64, u64)> = spans.iter().map(|p| (p.from, p.to)).collect();
    let mut m = Metrics::with_steps(&ranges);
    for (i, lat) in [200_000, 1_500_000, 3_000_000].into_iter().enumerate() {
        for k in 0..5u64 {
            let n = (i as u64) * 10 + k + 1;
            receipt(&mut m, n, i as u64 * 10_000_000 + k * 1_000_000, lat);
        }
    }
    m
}

#[test]
fn the_first_step_past_the_threshold_is_marked_in_every_report() {
    let s = stepped("1s");
    let m = metrics(&s);
    let o = outcome(&s, &m, &[], 0);
    let st = staircase::of(&o).expect("a staircase");
    assert_eq!(st.saturated_step, Some(1));
    assert_eq!(st.saturation_p99_us, 1_000_000);
    let offered: Vec<f64> = st.steps.iter().map(|r| r.offered_msgs_per_sec).collect();
    assert_eq!(offered, [6.0, 12.0, 24.0]);
    assert_eq!(st.steps[1].notify_count, 5);
    assert!(st.steps[1].notify_p99_us >= 1_500_000 && st.steps[0].notify_p99_us < 300_000);
    // 5 receipts acked in each 10 s step.
    assert_eq!(st.steps[2].acked_receipts_per_sec, 0.5);

    let json = report_json_string(&o).unwrap();
    let doc = ReportDoc::parse(&json, std::path::Path::new("report.json")).unwrap();
    assert_eq!(doc.staircase, Some(st));

    let md = report_markdown(&o, &stats());
    assert!(md.contains("## Staircase"), "{md}");
    let marked: Vec<&str> = md
        .lines()
        .filter(|l| l.contains("saturated here"))
        .collect();
    assert_eq!(marked.len(), 1, "{md}");
    assert!(
        marked[0].starts_with("| 1 | 10-20s | 12.0 |"),
        "{}",
        marked[0]
    );

    let html = report_html(&o, &stats()).unwrap();
    assert!(html.contains("id=\"staircase\"") && html.contains("saturated at step 1"));
    assert_eq!(html.matches("saturated here").count(), 1);

    let term = terminal_summary(&o, &stats());
    let row = term
        .lines()
        .find(|l| l.contains("saturated here"))
        .expect(&term);
    assert!(row.trim_start().starts_with("1 "), "{row}");
}

#[test]
fn no_step_saturated_says_so_and_other_runs_show_nothing() {
    let s = stepped("10s");
    let m = metrics(&s);
    let o = outcome(&s, &m, &[], 0);
    assert_eq!(staircase::of(&o).unwrap().saturated_step, None);
    let term = terminal_summary(&o, &stats());
    assert!(term.contains("no step saturated"), "{term}");
    assert!(!term.contains("saturated here"));

    let plain = crate::scenario::parse_str("name = \"x\"\nduration = \"10s\"\n", "x").unwrap();
    let m = Metrics::default();
    let o = outcome(&plain, &m, &[], 0);
    assert!(staircase::of(&o).is_none());
    assert!(!report_json_string(&o).unwrap().contains("staircase"));
    assert!(!report_markdown(&o, &stats()).contains("Staircase"));
}

fn stats() -> RunStats {
    RunStats {
        wall_seconds: 1.0,
        virtual_seconds: 30.0,
        ops_per_wall_second: 1.0,
        peak_rss_bytes: 0,
        acked_receipts_per_second: None,
        peak_clients: None,
        ..RunStats::default()
    }
}
