use super::*;
use crate::protocol::{ConvKey, GroupId, MsgId};

const SCENARIO: &str = r#"
name = "driver"
seed = 3
duration = "1s"
[population]
users = 10
online_share = 1.0
[[groups]]
count = 1
type = "Work"
size = { dist = "fixed", value = 5 }
[c2c]
pairs = 5
"#;

#[derive(Default)]
struct Record(Vec<OwnedEvent>);
impl Observer for Record {
    fn observe(&mut self, ev: &Event<'_>) {
        self.0.push(OwnedEvent::from(ev));
    }
}

/// A transport that records what the core asks of it; `refuse` makes sends fail.
#[derive(Default)]
struct FakeIo {
    now: Micros,
    refuse: bool,
    sent: Vec<(UserId, ConnNo, OpId)>,
    devices: Vec<Device>,
    unsent: Vec<(UserId, Tag)>,
    timers: Vec<(Micros, Timer)>,
    admin: Vec<AdminRequest>,
}

impl Io for FakeIo {
    fn now(&mut self, not_before: Micros) -> Micros {
        self.now = self.now.max(not_before);
        self.now
    }
    fn timer(&mut self, at: Micros, timer: Timer) {
        self.timers.push((at, timer));
    }
    fn send<O: Observer>(
        &mut self,
        _obs: &mut O,
        _t: Micros,
        to: To,
        op: OpId,
        req: Request,
    ) -> Sent {
        if self.refuse {
            return Sent::No(req);
        }
        self.devices.push(to.device);
        self.sent.push((to.client, to.conn, op));
        Sent::Yes(Some(req))
    }
    fn unsent(&mut self, _t: Micros, client: UserId, tag: Tag, _req: Request) {
        self.unsent.push((client, tag));
    }
    fn admin<O: Observer>(&mut self, _obs: &mut O, _t: Micros, req: AdminRequest) {
        self.admin.push(req);
    }
}

fn workload() -> Workload {
    let s = crate::scenario::parse_str(SCENARIO, "driver.toml").unwrap();
    Workload::new(&s, s.seed)
}

fn receipts() -> (Request, Tag) {
    (
        Request::SendReadReceipts {
            msg_ids: vec![MsgId(1)],
        },
        Tag::Receipts {
            key: ConvKey::Group(GroupId(0)),
            attempt: 0,
        },
    )
}

fn final_counts() -> (Request, Tag) {
    (
        Request::GetReadReceipts {
            msg_ids: vec![MsgId(1)],
        },
        Tag::FinalCounts,
    )
}

/// Kinds of events, for asserting order.
fn kinds(rec: &Record) -> Vec<String> {
    rec.0
        .iter()
        .map(|e| {
            format!("{:?}", e)
                .split([' ', '{', '('])
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

fn invokes(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Invoke { .. }))
        .count()
}

#[test]
fn invoke_sends_on_the_current_connection_and_keeps_the_op_in_flight() {
    let mut rec = Record::default();
    let mut core = Core::new(workload(), &mut rec, Clients::new(3, |_| true));
    let mut io = FakeIo {
        now: 7,
        ..FakeIo::default()
    };
    let (req, tag) = final_counts();
    let a = core.invoke(&mut io, 5, UserId(1), req.clone(), tag.clone());
    let b = core.invoke(&mut io, 9, UserId(2), req, tag);
    assert_eq!((a, b), (1, 2), "ids are dense from 1");
    assert_eq!(io.sent, vec![(UserId(1), 0, 1), (UserId(2), 0, 2)]);
    assert_eq!(core.ops.len(), 2);
    match &rec.0[1] {
        OwnedEvent::Invoke { t, intended, .. } => assert_eq!((*t, *intended), (9, 9)),
        e => panic!("{e:?}"),
    }
}

#[test]
fn with_several_devices_requests_take_turns_and_only_the_first_devices_push_reaches_the_workload() {
    let mut rec = Record::default();
    let clients = Clients::new(3, |_| true).with_devices(3);
    let mut core = Core::new(workload(), &mut rec, clients);
    let mut io = FakeIo::default();
    for _ in 0..4 {
        let (req, tag) = final_counts();
        core.invoke(&mut io, 0, UserId(1), req, tag);
    }
    assert_eq!(io.devices, [Device(1), Device(2), Device(0), Device(1)]);
    let push = Push::C2cRead {
        user_id: UserId(2),
        timestamp_ms: 1,
    };
    let mut actions = Vec::new();
    core.push(5, UserId(1), Device(2), push.clone(), &mut actions);
    core.push(5, UserId(1), Device::FIRST, push, &mut actions);
    let devices: Vec<Device> = (rec.0.iter())
        .filter_map(|e| match e {
            OwnedEvent::Push { device, .. } => Some(*device),
            _ => None,
        })
        .collect();
    assert_eq!(devices, [Device(2), Device(0)]);
}

#[test]
fn invoke_without_a_connection_is_lost_at_once() {
    let mut rec = Record::default();
    let mut core = Core::new(workload(), &mut rec, Clients::new(3, |u| u.0 != 1));
    let mut io = FakeIo::default();
    let (req, tag) = final_counts();
    core.invoke(&mut io, 0, UserId(1), req.clone(), tag.clone());
    // A send the connection refuses is lost the same way.
    io.refuse = true;
    core.invoke(&mut io, 0, UserId(2), req, tag);
    assert!(io.sent.is_empty());
    assert_eq!(io.unsent.len(), 2);
    assert!(core.ops.is_empty());
    assert_eq!(kinds(&rec), ["Invoke", "Lost", "Invoke", "Lost"]);
}

#[test]
fn a_cut_loses_the_clients_ops_in_id_order_after_the_disconnect() {
    let mut rec = Record::default();
    let mut core = Core::new(workload(), &mut rec, Clients::new(3, |_| true));
    let mut io = FakeIo::default();
    // Enough ops that the hash map's order is not the id order.
    let mut mine = Vec::new();
    for i in 0..200 {
        let (req, tag) = final_counts();
        let client = UserId(i % 2);
        let op = core.invoke(&mut io, 0, client, req, tag);
        if client == UserId(1) {
            mine.push(op);
        }
    }
    let before = core.obs.0.len();
    let mut actions = Vec::new();
    let lost = core.cut(3, UserId(1), &mut actions);
    assert_eq!(lost, mine);
    assert_eq!(core.ops.len(), 100, "other clients' ops stay in flight");
    let after = &core.obs.0[before..];
    assert!(matches!(after[0], OwnedEvent::Disconnect { t: 3, .. }));
    let lost_order: Vec<OpId> = after[1..]
        .iter()
        .map(|e| match e {
            OwnedEvent::Lost { op, client, .. } if *client == UserId(1) => *op,
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(lost_order, mine);
    // Final checks are retried (into `actions`, for the driver to apply).
    assert_eq!(invokes(&actions), 100);
    assert!(!core.clients.is_up(UserId(1)));
    assert!(
        !core.clients.current(UserId(1), 0),
        "the old connection is stale"
    );
    assert!(core.clients.current(UserId(1), 1));
}

#[test]
fn receipts_lost_in_a_cut_wait_for_the_reconnect_but_a_timeout_retries_them() {
    let mut rec = Record::default();
    let mut core = Core::new(workload(), &mut rec, Clients::new(3, |_| true));
    let mut io = FakeIo::default();
    let (req, tag) = receipts();
    let a = core.invoke(&mut io, 0, UserId(0), req.clone(), tag.clone());
    let mut actions = Vec::new();
    assert!(core.lose(1, a, &mut actions));
    assert!(!core.lose(1, a, &mut actions), "lost only once");
    assert_eq!(
        invokes(&actions),
        1,
        "a timed-out receipt is retried at once"
    );
    actions.clear();
    core.invoke(&mut io, 0, UserId(1), req, tag);
    core.cut(2, UserId(1), &mut actions);
    assert_eq!(invokes(&actions), 0, "the workload heard of the cut first");
    actions.clear();
    core.reconnected(5, UserId(1), &mut actions);
    assert!(core.clients.is_up(UserId(1)));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Invoke {
                client: UserId(1),
                req: Request::SendReadReceipts { .. },
                ..
            }
        )),
        "the queued receipt goes out on reconnect"
    );
    let n = core.obs.0.len();
    assert_eq!(kinds(core.obs)[n - 2..], ["Fault", "Connect"]);
}

#[test]
fn an_op_whose_request_was_not_kept_is_not_retried() {
    struct Forgetful(FakeIo);
    impl Io for Forgetful {
        fn now(&mut self, nb: Micros) -> Micros {
            self.0.now(nb)
        }
        fn timer(&mut self, at: Micros, timer: Timer) {
            self.0.timer(at, timer)
        }
        fn send<O: Observer>(&mut self, _: &mut O, _: Micros, _: To, _: OpId, _: Request) -> Sent {
            Sent::Yes(None)
        }
        fn unsent(&mut self, t: Micros, c: UserId, tag: Tag, r: Request) {
            self.0.unsent(t, c, tag, r)
        }
        fn admin<O: Observer>(&mut self, o: &mut O, t: Micros, r: AdminRequest) {
            self.0.admin(o, t, r)
        }
    }
    let mut rec = Record::default();
    let mut core = Core::new(workload(), &mut rec, Clients::new(1, |_| true));
    let mut io = Forgetful(FakeIo::default());
    let (req, tag) = final_counts();
    let op = core.invoke(&mut io, 0, UserId(0), req, tag);
    let mut actions = Vec::new();
    assert!(core.lose(4, op, &mut actions));
    assert!(actions.is_empty());
}

#[test]
fn apply_routes_timers_faults_and_admin_calls() {
    let mut rec = Record::default();
    let mut core = Core::new(workload(), &mut rec, Clients::new(2, |_| true));
    let mut io = FakeIo {
        now: 10,
        ..FakeIo::default()
    };
    let add = AdminRequest::AddMember {
        group: GroupId(0),
        user: UserId(1),
    };
    let mut actions = vec![
        Action::Timer {
            at: 50,
            timer: Timer::Churn,
        },
        Action::Admin {
            req: add.clone(),
            kind: FaultKind::Join,
        },
        Action::Fault {
            kind: FaultKind::Stall,
            client: None,
        },
    ];
    core.apply(&mut io, 20, &mut actions);
    assert!(actions.is_empty());
    assert_eq!(io.timers, vec![(50, Timer::Churn)]);
    assert_eq!(io.admin, vec![add]);
    assert_eq!(kinds(core.obs), ["Fault", "AdminInvoke", "Fault"]);
    assert!(matches!(
        core.obs.0[0],
        OwnedEvent::Fault {
            t: 20,
            kind: FaultKind::Join,
            client: Some(UserId(1))
        }
    ));
}

#[test]
fn crash_closes_are_expected_only_for_connections_the_crash_caught() {
    let mut c = Clients::new(4, |u| u.0 != 3);
    c.cut(UserId(1));
    c.cut(UserId(2));
    c.set_link(UserId(2), Link::Reconnecting);
    assert!(!c.close_expected(UserId(0), 0), "no crash yet");
    c.expect_crash_closes();
    assert!(c.close_expected(UserId(0), 0));
    c.crash_over();
    assert!(
        c.close_expected(UserId(0), 0),
        "held-up close of a crashed connection"
    );
    assert!(
        !c.close_expected(UserId(1), 1),
        "was offline: nothing open to close"
    );
    assert!(
        c.close_expected(UserId(2), 1),
        "was being opened when the server died"
    );
    assert!(!c.close_expected(UserId(3), 0), "never connected");
    c.cut(UserId(0));
    c.up(UserId(0));
    assert!(
        !c.close_expected(UserId(0), 1),
        "a connection after the crash"
    );
    assert_eq!(c.up_clients().collect::<Vec<_>>(), [UserId(0)]);
    assert!(c.any_away());
}

#[test]
fn timers_pop_in_time_then_insertion_order() {
    let mut q = TimerQueue::default();
    for (at, conv) in [(5, 0), (1, 1), (5, 2), (0, 3)] {
        q.push(at, Timer::Send { conv });
    }
    let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
    let want = [(0, 3), (1, 1), (5, 0), (5, 2)].map(|(at, conv)| (at, Timer::Send { conv }));
    assert_eq!(order, want);
}
