//! The discrete-event simulator: a virtual clock, an event queue keyed by (time, sequence
//! number) so ties break the same way every run, and a simulated network in which each
//! client's link delivers in order (like one TCP connection) with a seeded latency per frame.
//! It drives the workload against an in-process [`Target`] and streams history to observers.

use crate::check::{CheckConfig, Checker};
use crate::dist::sample_delay;
use crate::faults::{FaultPlan, ScheduledFault};
use crate::history::{Event, FaultKind, FaultLog, Observer, OpId, OwnedEvent, TraceHash};
use crate::metrics::Metrics;
use crate::model::Delivery;
use crate::protocol::{AdminRequest, Micros, Push, Request, Response, UserId};
use crate::rng::{Purpose, Streams};
use crate::scenario::{DelayDist, Faults, Scenario};
use crate::target::Target;
use crate::workload::{Action, Tag, Timer, Workload};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;

mod queue;
pub use queue::EventQueue;

enum SimEvent {
    Timer(Timer),
    /// A request reaches the server (`conn`: the client's connection epoch when sent).
    AtServer {
        client: UserId,
        op: OpId,
        req: Request,
        conn: u32,
    },
    /// A response reaches its client.
    Response {
        client: UserId,
        op: OpId,
        resp: Response,
        conn: u32,
    },
    /// A push reaches a client.
    Push {
        client: UserId,
        push: Push,
        conn: u32,
    },
    /// The client gives up waiting for `op`.
    Timeout {
        op: OpId,
    },
    /// A scheduled connection or server fault (index into the fault plan's schedule).
    Fault {
        index: u32,
    },
    /// A disconnected client tries to connect again.
    Reconnect {
        client: UserId,
    },
    /// The server is back after a crash.
    Restart,
    /// The fault phase ends.
    Calm,
}

/// Which way a frame travels, and what it is.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Frame {
    Request { idempotent: bool },
    Response,
    Push,
}

/// What the network does with one frame: when it arrives (None: lost), whether a second
/// copy arrives too, and which fault (if any) it suffered.
struct Fate {
    at: Option<Micros>,
    dup_at: Option<Micros>,
    fault: Option<FaultKind>,
}

/// Per-client links with in-order delivery (each like one TCP connection), plus the
/// per-frame faults of the fault phase.
struct Network {
    latency: DelayDist,
    /// Effective fault parameters and the end of the fault phase (None: no faults).
    faults: Option<(Faults, Micros)>,
    /// One ChaCha stream per link (stream id = client); frame k of a link reads its stream at
    /// block k. Random access keeps no per-link generator in memory (100k links would be
    /// ~60 MB of generator state touched at random).
    up_rng: ChaCha8Rng,
    down_rng: ChaCha8Rng,
    /// Both links of each client, side by side (one cache line per frame).
    links: Vec<Links>,
}

#[derive(Clone, Copy, Default)]
struct Links {
    /// Frames sent so far on each link.
    up_frames: u64,
    down_frames: u64,
    /// Last arrival time scheduled on each link, so frames never overtake each other.
    up_free: Micros,
    down_free: Micros,
}

impl Network {
    fn new(
        latency: DelayDist,
        faults: Option<(Faults, Micros)>,
        seed: u64,
        users: usize,
    ) -> Network {
        let streams = Streams::new(seed);
        Network {
            latency,
            faults,
            up_rng: streams.rng(Purpose::NetUp, 0),
            down_rng: streams.rng(Purpose::NetDown, 0),
            links: vec![Links::default(); users],
        }
    }

    fn send(&mut self, now: Micros, client: UserId, frame: Frame) -> Fate {
        let up = matches!(frame, Frame::Request { .. });
        let l = &mut self.links[client.0 as usize];
        let (free, frames, rng) = if up {
            (&mut l.up_free, &mut l.up_frames, &mut self.up_rng)
        } else {
            (&mut l.down_free, &mut l.down_frames, &mut self.down_rng)
        };
        rng.set_stream(u64::from(client.0));
        // Four 16-word ChaCha blocks per frame: more than the latency and fault draws use.
        rng.set_word_pos(u128::from(*frames) * 64);
        *frames += 1;
        let lat = sample_delay(&self.latency, rng);
        let mut fate = Fate {
            at: None,
            dup_at: None,
            fault: None,
        };
        let Some((f, _)) = self.faults.as_ref().filter(|(_, until)| now < *until) else {
            let at = (now + lat).max(*free);
            *free = at;
            fate.at = Some(at);
            return fate;
        };
        // Every draw happens in the same order whatever the outcome, so one frame's fault
        // never shifts another frame's draws.
        let drop = rng.random_bool(f.drop);
        let delay = rng.random_bool(f.delay);
        let extra = sample_delay(&f.extra_delay, rng);
        let reorder = rng.random_bool(f.reorder);
        let dup = rng.random_bool(f.duplicate);
        let dup_lat = sample_delay(&self.latency, rng);
        let extra = if delay { extra } else { 0 };
        if drop && frame != Frame::Push {
            // A push is never lost alone: on a real connection only a cut loses it.
            fate.fault = Some(FaultKind::Drop);
            return fate;
        }
        let at = if reorder && up {
            fate.fault = Some(FaultKind::Reorder);
            now + lat + extra
        } else {
            let at = (now + lat + extra).max(*free);
            *free = at;
            at
        };
        if delay && fate.fault.is_none() {
            fate.fault = Some(FaultKind::Delay);
        }
        fate.at = Some(at);
        let may_dup = matches!(frame, Frame::Request { idempotent: true } | Frame::Push);
        if dup && may_dup {
            fate.fault = Some(FaultKind::Duplicate);
            fate.dup_at = Some(if up {
                now + dup_lat
            } else {
                let d = (at + 1).max(*free);
                *free = d;
                d
            });
        }
        fate
    }

    /// Holds both of `client`'s links until `until` (a stall).
    fn stall(&mut self, client: UserId, until: Micros) {
        let l = &mut self.links[client.0 as usize];
        l.up_free = l.up_free.max(until);
        l.down_free = l.down_free.max(until);
    }
}

/// The observers a simulated run feeds.
pub struct Observers {
    pub checker: Checker,
    pub metrics: Metrics,
    pub trace: TraceHash,
    pub faults: FaultLog,
}

impl Observers {
    pub fn new(check: CheckConfig) -> Observers {
        Observers {
            checker: Checker::new(check),
            metrics: Metrics::default(),
            trace: TraceHash::default(),
            faults: FaultLog::default(),
        }
    }
}

impl Observer for Observers {
    fn observe(&mut self, ev: &Event<'_>) {
        self.checker.observe(ev);
        self.metrics.observe(ev);
        self.trace.observe(ev);
        self.faults.observe(ev);
    }
}

/// What a simulated run leaves behind.
pub struct SimOutcome {
    pub observers: Observers,
    /// Virtual time of the last event.
    pub end: Micros,
    pub target_name: String,
}

/// Runs `scenario` with `seed` against `target` on the virtual clock until nothing is in
/// flight, then runs the final quiet-phase checks; checks and metrics run inline.
pub fn run<T: Target>(
    scenario: &Scenario,
    seed: u64,
    target: &mut T,
    check: CheckConfig,
) -> SimOutcome {
    let mut observers = Observers::new(check);
    let end = run_observed(scenario, seed, target, &mut observers);
    SimOutcome {
        observers,
        end,
        target_name: target.name().to_string(),
    }
}

/// Like [`run`], feeding the history to any observer; returns the virtual end time.
pub fn run_observed<T: Target, O: Observer>(
    scenario: &Scenario,
    seed: u64,
    target: &mut T,
    obs: &mut O,
) -> Micros {
    let workload = Workload::new(scenario, seed);
    let plan = workload.fault_plan().clone();
    let users = scenario.population.users as usize;
    let mut sim = Sim {
        queue: EventQueue::default(),
        now: 0,
        next_op: 1,
        ops: FxHashMap::default(),
        net: Network::new(
            scenario.network.latency.clone(),
            plan.active.then(|| (plan.faults.clone(), plan.until)),
            seed,
            users,
        ),
        obs,
        workload,
        actions: Vec::new(),
        deliveries: Vec::new(),
        connected: vec![false; users],
        conn_epoch: vec![0; users],
        server_up: true,
        restart_at: 0,
        crashes: 0,
        streams: Streams::new(seed),
        plan,
    };
    sim.provision(target);
    let mut actions = std::mem::take(&mut sim.actions);
    sim.workload.start(&mut actions);
    sim.apply_actions(target, &mut actions);
    if sim.plan.active {
        for i in 0..sim.plan.schedule.len() {
            let at = sim.plan.schedule[i].at;
            sim.schedule(at, SimEvent::Fault { index: i as u32 });
        }
        sim.schedule(sim.plan.until, SimEvent::Calm);
    }
    sim.drain(target);
    sim.obs.observe(&Event::Quiet { t: sim.now });
    sim.workload.final_checks(&mut actions);
    sim.apply_actions(target, &mut actions);
    sim.drain(target);
    sim.obs.observe(&Event::End { t: sim.now });
    sim.now
}

/// An operation in flight: what it means to the workload, and (in runs with faults) the
/// request itself, so a lost operation can be retried.
struct InFlight {
    client: UserId,
    tag: Tag,
    req: Option<Request>,
}

struct Sim<'o, O: Observer> {
    queue: EventQueue<SimEvent>,
    now: Micros,
    next_op: OpId,
    /// Operations in flight.
    ops: FxHashMap<OpId, InFlight>,
    net: Network,
    obs: &'o mut O,
    workload: Workload,
    /// Reused buffers.
    actions: Vec<Action>,
    deliveries: Vec<Delivery>,
    /// Whether each client's connection is up, and its epoch (bumped on every cut, so
    /// frames of an old connection are dropped on arrival).
    connected: Vec<bool>,
    conn_epoch: Vec<u32>,
    server_up: bool,
    /// When the server comes back (valid while it is down).
    restart_at: Micros,
    crashes: u64,
    streams: Streams,
    plan: FaultPlan,
}

impl<O: Observer> Sim<'_, O> {
    fn schedule(&mut self, at: Micros, ev: SimEvent) {
        self.queue.push(at, ev);
    }

    fn provision<T: Target>(&mut self, target: &mut T) {
        for req in self.workload.plan().provisioning() {
            let resp = target.admin(0, &req);
            self.obs.observe(&Event::Admin {
                t: 0,
                invoked: 0,
                req: &req,
                resp: &resp,
            });
        }
        for u in 0..self.workload.plan().users {
            let client = UserId(u);
            if self.workload.plan().is_online(client) {
                self.connected[u as usize] = true;
                self.obs.observe(&Event::Connect { t: 0, client });
            }
        }
    }

    fn fault(&mut self, kind: FaultKind, client: Option<UserId>) {
        self.obs.observe(&Event::Fault {
            t: self.now,
            kind,
            client,
        });
    }

    fn apply_actions<T: Target>(&mut self, target: &mut T, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Timer { at, timer } => {
                    self.schedule(at.max(self.now), SimEvent::Timer(timer))
                }
                Action::Invoke { client, req, tag } => self.invoke(client, req, tag),
                Action::Admin { req, kind } => {
                    let user = match req {
                        AdminRequest::AddMember { user, .. }
                        | AdminRequest::RemoveMember { user, .. } => Some(user),
                        _ => None,
                    };
                    self.fault(kind, user);
                    self.obs.observe(&Event::AdminInvoke {
                        t: self.now,
                        req: &req,
                    });
                    let resp = target.admin(self.now, &req);
                    self.obs.observe(&Event::Admin {
                        t: self.now,
                        invoked: self.now,
                        req: &req,
                        resp: &resp,
                    });
                }
                Action::Fault { kind, client } => self.fault(kind, client),
            }
        }
    }

    fn invoke(&mut self, client: UserId, req: Request, tag: Tag) {
        let op = self.next_op;
        self.next_op += 1;
        self.obs.observe(&Event::Invoke {
            t: self.now,
            intended: self.now,
            client,
            op,
            req: &req,
        });
        let c = client.0 as usize;
        if !self.connected[c] {
            // No connection to send on: the client fails the call at once.
            self.obs.observe(&Event::Lost {
                t: self.now,
                client,
                op,
            });
            return;
        }
        let idempotent = !matches!(
            req,
            Request::SendMessage { .. } | Request::MarkC2cRead { .. }
        );
        let fate = self
            .net
            .send(self.now, client, Frame::Request { idempotent });
        self.log_fate(&fate, client);
        let conn = self.conn_epoch[c];
        if let Some(at) = fate.dup_at {
            let req = req.clone();
            self.schedule(
                at,
                SimEvent::AtServer {
                    client,
                    op,
                    req,
                    conn,
                },
            );
        }
        // With faults the request is kept, so a lost call can be retried.
        let kept = self.plan.active.then(|| req.clone());
        self.ops.insert(
            op,
            InFlight {
                client,
                tag,
                req: kept,
            },
        );
        if let Some(at) = fate.at {
            self.schedule(
                at,
                SimEvent::AtServer {
                    client,
                    op,
                    req,
                    conn,
                },
            );
        }
        if self.plan.active {
            let timeout = self.plan.faults.request_timeout.micros;
            self.schedule(self.now + timeout, SimEvent::Timeout { op });
        }
    }

    /// The client gives up on `op`: history says so and the workload may retry.
    fn lose(&mut self, op: OpId, actions: &mut Vec<Action>) {
        if let Some(f) = self.ops.remove(&op) {
            self.obs.observe(&Event::Lost {
                t: self.now,
                client: f.client,
                op,
            });
            if let Some(req) = f.req {
                self.workload
                    .on_lost(self.now, f.client, f.tag, &req, actions);
            }
        }
    }

    /// Cuts `client`'s connection: frames in flight on it are lost, its pending operations
    /// fail, and it receives no pushes until it reconnects.
    fn cut(&mut self, client: UserId, actions: &mut Vec<Action>) {
        let c = client.0 as usize;
        self.connected[c] = false;
        self.conn_epoch[c] += 1;
        self.obs.observe(&Event::Disconnect {
            t: self.now,
            client,
        });
        self.workload.on_disconnect(self.now, client);
        let mut lost: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, f)| f.client == client)
            .map(|(&op, _)| op)
            .collect();
        lost.sort_unstable();
        for op in lost {
            self.lose(op, actions);
        }
    }

    fn on_fault(&mut self, index: u32, actions: &mut Vec<Action>) {
        match self.plan.schedule[index as usize].what.clone() {
            ScheduledFault::Disconnect { client, offline } => {
                if !self.connected[client.0 as usize] {
                    return;
                }
                self.fault(FaultKind::Disconnect, Some(client));
                self.cut(client, actions);
                self.schedule(self.now + offline, SimEvent::Reconnect { client });
            }
            ScheduledFault::Stall { client, length } => {
                if !self.connected[client.0 as usize] {
                    return;
                }
                self.fault(FaultKind::Stall, Some(client));
                self.net.stall(client, self.now + length);
            }
            ScheduledFault::Crash { downtime } => {
                if !self.server_up {
                    return;
                }
                self.fault(FaultKind::Crash, None);
                self.server_up = false;
                self.restart_at = self.now + downtime;
                self.crashes += 1;
                let mut rng = self.streams.rng(Purpose::Faults, 100 + self.crashes);
                for u in 0..self.connected.len() {
                    if self.connected[u] {
                        let client = UserId(u as u32);
                        self.cut(client, actions);
                        // Clients notice the server is back after a jittered backoff.
                        let at = self.restart_at + rng.random_range(0..1_000_000);
                        self.schedule(at, SimEvent::Reconnect { client });
                    }
                }
                self.schedule(self.restart_at, SimEvent::Restart);
            }
        }
    }

    fn drain<T: Target>(&mut self, target: &mut T) {
        let mut actions = std::mem::take(&mut self.actions);
        while let Some((at, ev)) = self.queue.pop() {
            self.now = at;
            match ev {
                SimEvent::Timer(t) => self.workload.on_timer(self.now, t, &mut actions),
                SimEvent::AtServer {
                    client,
                    op,
                    req,
                    conn,
                } => {
                    if !self.server_up || self.conn_epoch[client.0 as usize] != conn {
                        // The server is down or the connection it came on is gone.
                        continue;
                    }
                    let mut deliveries = std::mem::take(&mut self.deliveries);
                    let resp = target.apply(self.now, client, &req, &mut deliveries);
                    self.respond(client, op, resp, conn);
                    for d in deliveries.drain(..) {
                        // Pushes go to connected clients only (they are not queued).
                        let to = d.to.0 as usize;
                        if self.connected[to] {
                            self.push(d.to, d.push);
                        }
                    }
                    self.deliveries = deliveries;
                }
                SimEvent::Response {
                    client,
                    op,
                    resp,
                    conn,
                } => {
                    if self.conn_epoch[client.0 as usize] != conn {
                        continue;
                    }
                    // A duplicate's second answer, or one after the client gave up, is
                    // dropped by the client: the operation is no longer waiting.
                    let Some(f) = self.ops.remove(&op) else {
                        continue;
                    };
                    // The workload reacts first (it only queues actions, emitted after
                    // this event), so the response can be handed over without a copy.
                    self.workload
                        .on_response(self.now, client, f.tag, &resp, &mut actions);
                    self.obs.observe_owned(OwnedEvent::Complete {
                        t: self.now,
                        client,
                        op,
                        resp,
                    });
                }
                SimEvent::Push { client, push, conn } => {
                    if self.conn_epoch[client.0 as usize] != conn {
                        continue;
                    }
                    self.workload.on_push(self.now, client, &push, &mut actions);
                    self.obs.observe_owned(OwnedEvent::Push {
                        t: self.now,
                        client,
                        push,
                    });
                }
                SimEvent::Timeout { op } => self.lose(op, &mut actions),
                SimEvent::Fault { index } => self.on_fault(index, &mut actions),
                SimEvent::Reconnect { client } => {
                    let c = client.0 as usize;
                    if !self.server_up {
                        let at = self.restart_at.max(self.now + 1);
                        self.schedule(at, SimEvent::Reconnect { client });
                    } else if !self.connected[c] {
                        self.connected[c] = true;
                        self.fault(FaultKind::Reconnect, Some(client));
                        self.obs.observe(&Event::Connect {
                            t: self.now,
                            client,
                        });
                        target.on_connect(self.now, client);
                        self.workload.on_reconnect(self.now, client, &mut actions);
                    }
                }
                SimEvent::Restart => {
                    self.server_up = true;
                    target.restart(self.now);
                    self.fault(FaultKind::Restart, None);
                }
                SimEvent::Calm => self.obs.observe(&Event::Calm { t: self.now }),
            }
            self.apply_actions(target, &mut actions);
        }
        self.actions = actions;
    }

    fn respond(&mut self, client: UserId, op: OpId, resp: Response, conn: u32) {
        let fate = self.net.send(self.now, client, Frame::Response);
        self.log_fate(&fate, client);
        if let Some(at) = fate.at {
            self.schedule(
                at,
                SimEvent::Response {
                    client,
                    op,
                    resp,
                    conn,
                },
            );
        }
    }

    fn push(&mut self, to: UserId, push: Push) {
        let conn = self.conn_epoch[to.0 as usize];
        let fate = self.net.send(self.now, to, Frame::Push);
        self.log_fate(&fate, to);
        if let Some(at) = fate.dup_at {
            let push = push.clone();
            self.schedule(
                at,
                SimEvent::Push {
                    client: to,
                    push,
                    conn,
                },
            );
        }
        if let Some(at) = fate.at {
            self.schedule(
                at,
                SimEvent::Push {
                    client: to,
                    push,
                    conn,
                },
            );
        }
    }

    fn log_fate(&mut self, fate: &Fate, client: UserId) {
        if let Some(kind) = fate.fault {
            self.fault(kind, Some(client));
        }
    }
}
