//! The scheduler against fake servers on plain channels.

use super::*;
use crate::history::OwnedEvent;
use crate::protocol::Request;
use crate::wire::{WireError, WireRequest};
use tokio::sync::mpsc::unbounded_channel;

#[derive(Default)]
struct Record(Vec<OwnedEvent>);
impl Observer for Record {
    fn observe(&mut self, ev: &Event<'_>) {
        self.0.push(OwnedEvent::from(ev));
    }
}

/// Drives `workload` over `conns` to its end, with short settle and drain times: the history
/// it emitted and its stats.
async fn drive_to_end(
    workload: Workload,
    conns: Vec<Vec<UnboundedSender<ClientFrame>>>,
    in_rx: &mut UnboundedReceiver<Inbound>,
) -> (Record, DriveStats) {
    let mut rec = Record::default();
    let cfg = DriveConfig {
        settle: Duration::from_millis(100),
        drain_timeout: Duration::from_millis(800),
        ..DriveConfig::default()
    };
    let stats = Scheduler::new(workload, conns, &mut rec, Instant::now(), cfg)
        .drive(in_rx)
        .await;
    (rec, stats)
}

const SCENARIO: &str = r#"
name = "sched"
seed = 5
duration = "1500ms"
[population]
users = 40
online_share = 1.0
[[groups]]
count = 4
type = "Work"
size = { dist = "fixed", value = 5 }
[c2c]
pairs = 5
[traffic]
group_messages_per_sec = 40.0
c2c_messages_per_sec = 20.0
[pulls]
per_user_per_minute = 0.0
"#;

/// A fake server: answers sends after `delay` with an ack (except for `stalled`, which
/// never hears back), everything else with an error; never pushes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_go_out_at_their_intended_times_whatever_is_in_flight() {
    let scenario = crate::scenario::parse_str(SCENARIO, "sched.toml").unwrap();
    let workload = Workload::new(&scenario, scenario.seed);
    let users = workload.plan().users as usize;
    let (in_tx, mut in_rx) = unbounded_channel::<Inbound>();
    let stalled = UserId(workload.plan().pairs[0].0.0);
    let mut conns = Vec::new();
    for u in 0..users {
        let (tx, mut rx) = unbounded_channel::<ClientFrame>();
        conns.push(vec![tx]);
        let in_tx = in_tx.clone();
        let client = UserId(u as u32);
        tokio::spawn(async move {
            let mut seq = 0;
            while let Some(f) = rx.recv().await {
                if client == stalled {
                    continue;
                }
                let r = match f.op {
                    WireRequest::SendMessage { .. } => {
                        seq += 1;
                        ResponseFrame {
                            id: Some(f.id),
                            ok: Some(serde_json::json!({
                                "msg_id": format!("x{}", f.id), "seq": seq, "timestamp_ms": 1})),
                            error: None,
                        }
                    }
                    _ => ResponseFrame {
                        id: Some(f.id),
                        ok: None,
                        error: Some(WireError::from(ErrorCode::Internal)),
                    },
                };
                let in_tx = in_tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let _ = in_tx.send(Inbound::Frame {
                        client,
                        device: Device::FIRST,
                        conn: 0,
                        at: Instant::now(),
                        frame: Incoming::Response(r),
                    });
                });
            }
        });
    }
    drop(in_tx);
    let (rec, stats) = drive_to_end(workload, conns, &mut in_rx).await;

    // The same seeded send schedule as the workload alone produces (no responses needed).
    let mut w = Workload::new(&scenario, scenario.seed);
    let mut expected = Vec::new();
    let mut q = TimerQueue::default();
    let mut acts = Vec::new();
    w.start(&mut acts);
    let mut now = 0;
    loop {
        for a in acts.drain(..) {
            match a {
                Action::Timer { at, timer } => q.push(at, timer),
                Action::Invoke {
                    client,
                    req: req @ Request::SendMessage { .. },
                    ..
                } => expected.push((now, client, req)),
                Action::Invoke { .. } | Action::Admin { .. } | Action::Fault { .. } => {}
            }
        }
        let Some((at, t)) = q.pop() else { break };
        now = at;
        w.on_timer(at, t, &mut acts);
    }

    let mut sends = Vec::new();
    let mut sends_at = Vec::new();
    for ev in &rec.0 {
        if let OwnedEvent::Invoke {
            t,
            intended,
            client,
            req: req @ Request::SendMessage { .. },
            ..
        } = ev
        {
            assert!(t >= intended, "sent before its intended time");
            sends.push((*intended, *client, req.clone()));
            sends_at.push(*intended);
        }
    }
    assert!(!sends.is_empty());
    assert_eq!(
        sends, expected,
        "live sends differ from the seeded schedule"
    );
    assert!(sends_at.windows(2).all(|w| w[0] <= w[1]));
    assert!(sends_at.iter().all(|&t| t < scenario.duration.micros));
    // The stalled client kept sending on schedule although nothing came back.
    let stalled_sends = sends.iter().filter(|(_, c, _)| *c == stalled).count();
    assert!(stalled_sends >= 2, "stalled client sent {stalled_sends}");
    assert_eq!(stats.outstanding, stalled_sends as u64);
    assert!(matches!(rec.0.last(), Some(OwnedEvent::End { .. })));
    let times: Vec<Micros> = rec.0.iter().map(|e| e.as_event().time()).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "event times go back"
    );
}

/// Two devices per user: operations go out on one device after the other (history names
/// the device each went on), each is answered on its own connection, and a push taken off
/// device 1 is device 1's in the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_devices_requests_take_turns_and_pushes_keep_their_device() {
    use std::sync::{Arc, Mutex};
    let scenario = crate::scenario::parse_str(SCENARIO, "sched.toml").unwrap();
    let workload = Workload::new(&scenario, scenario.seed);
    let (in_tx, mut in_rx) = unbounded_channel::<Inbound>();
    let seen: Arc<Mutex<Vec<(OpId, Device)>>> = Arc::default();
    let mut conns = Vec::new();
    for u in 0..workload.plan().users {
        let mut devices = Vec::new();
        for device in [Device(0), Device(1)] {
            let (tx, mut rx) = unbounded_channel::<ClientFrame>();
            devices.push(tx);
            let (in_tx, seen, client) = (in_tx.clone(), seen.clone(), UserId(u));
            tokio::spawn(async move {
                while let Some(f) = rx.recv().await {
                    seen.lock().unwrap().push((f.id, device));
                    let answer = ResponseFrame {
                        id: Some(f.id),
                        ok: None,
                        error: Some(WireError::from(ErrorCode::Internal)),
                    };
                    let push = PushFrame::C2cRead {
                        user_id: "u1".into(),
                        timestamp_ms: f.id,
                    };
                    for frame in [Incoming::Response(answer), Incoming::Push(push)] {
                        let at = Instant::now();
                        let conn = 0;
                        let _ = in_tx.send(Inbound::Frame {
                            client,
                            device,
                            conn,
                            at,
                            frame,
                        });
                    }
                }
            });
        }
        conns.push(devices);
    }
    drop(in_tx);
    let (rec, stats) = drive_to_end(workload, conns, &mut in_rx).await;
    let mut invoked = Vec::new();
    let mut pushed = [0u64; 2];
    for ev in &rec.0 {
        match ev {
            OwnedEvent::Invoke { op, device, .. } => invoked.push((*op, *device)),
            OwnedEvent::Push { device, .. } => pushed[usize::from(device.0)] += 1,
            _ => {}
        }
    }
    let mut sent = seen.lock().unwrap().clone();
    sent.sort();
    assert!(invoked.len() > 20, "{invoked:?}");
    assert_eq!(
        invoked, sent,
        "each operation went out on the device history names"
    );
    assert!(invoked.iter().all(|&(op, d)| u64::from(d.0) == op % 2));
    assert!(pushed[0].abs_diff(pushed[1]) <= 1, "{pushed:?}");
    assert_eq!(stats.pushes_by_device, pushed);
    assert_eq!(stats.outstanding, 0);
}
