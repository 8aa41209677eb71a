//! The discrete-event simulator: a virtual clock, an event queue keyed by (time, sequence
//! number) so ties break the same way every run, and a simulated network in which each
//! client's link delivers in order (like one TCP connection) with a seeded latency per frame.
//! It drives the workload against an in-process [`Target`] and streams history to observers.

use crate::check::{CheckConfig, Checker};
use crate::history::{Event, Observer, OpId, TraceHash};
use crate::metrics::Metrics;
use crate::model::Delivery;
use crate::protocol::{Micros, Push, Request, Response, UserId};
use crate::rng::{Purpose, Streams};
use crate::scenario::{DelayDist, Scenario};
use crate::target::Target;
use crate::workload::dist::sample_delay;
use crate::workload::{Action, Tag, Timer, Workload};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashMap;

mod queue;
pub use queue::EventQueue;

enum SimEvent {
    Timer(Timer),
    /// A request reaches the server.
    AtServer {
        client: UserId,
        op: OpId,
        req: Request,
    },
    /// A response reaches its client.
    Response {
        client: UserId,
        op: OpId,
        resp: Response,
    },
    /// A push reaches a client.
    Push {
        client: UserId,
        push: Push,
    },
}

/// Per-client links with in-order delivery.
struct Network {
    latency: DelayDist,
    /// One ChaCha stream per link (stream id = client); frame k of a link reads its stream at
    /// block k. Random access keeps no per-link generator in memory (100k links would be
    /// ~60 MB of generator state touched at random).
    up_rng: ChaCha8Rng,
    down_rng: ChaCha8Rng,
    /// Frames sent so far on each link.
    up_frames: Vec<u64>,
    down_frames: Vec<u64>,
    /// Last arrival time scheduled on each link, so frames never overtake each other.
    up_free: Vec<Micros>,
    down_free: Vec<Micros>,
}

impl Network {
    fn new(latency: DelayDist, seed: u64, users: usize) -> Network {
        let streams = Streams::new(seed);
        Network {
            latency,
            up_rng: streams.rng(Purpose::NetUp, 0),
            down_rng: streams.rng(Purpose::NetDown, 0),
            up_frames: vec![0; users],
            down_frames: vec![0; users],
            up_free: vec![0; users],
            down_free: vec![0; users],
        }
    }

    fn arrival(&mut self, now: Micros, client: UserId, up: bool) -> Micros {
        let (free, frames, rng) = if up {
            (&mut self.up_free, &mut self.up_frames, &mut self.up_rng)
        } else {
            (&mut self.down_free, &mut self.down_frames, &mut self.down_rng)
        };
        let i = client.0 as usize;
        rng.set_stream(u64::from(client.0));
        // One 64-word ChaCha block per frame: more than any latency draw consumes.
        rng.set_word_pos(u128::from(frames[i]) * 64);
        frames[i] += 1;
        let at = (now + sample_delay(&self.latency, rng)).max(free[i]);
        free[i] = at;
        at
    }
}

/// The observers a simulated run feeds.
pub struct Observers {
    pub checker: Checker,
    pub metrics: Metrics,
    pub trace: TraceHash,
}

impl Observers {
    fn emit(&mut self, ev: Event<'_>) {
        self.checker.observe(&ev);
        self.metrics.observe(&ev);
        self.trace.observe(&ev);
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
/// flight, then runs the final quiet-phase checks.
pub fn run<T: Target>(
    scenario: &Scenario,
    seed: u64,
    target: &mut T,
    check: CheckConfig,
) -> SimOutcome {
    let mut sim = Sim {
        queue: EventQueue::default(),
        now: 0,
        next_op: 1,
        ops: FxHashMap::default(),
        net: Network::new(
            scenario.network.latency.clone(),
            seed,
            scenario.population.users as usize,
        ),
        obs: Observers {
            checker: Checker::new(check),
            metrics: Metrics::default(),
            trace: TraceHash::default(),
        },
        workload: Workload::new(scenario, seed),
        actions: Vec::new(),
        deliveries: Vec::new(),
    };
    sim.provision(target);
    let mut actions = std::mem::take(&mut sim.actions);
    sim.workload.start(&mut actions);
    sim.apply_actions(&mut actions);
    sim.drain(target);
    sim.obs.emit(Event::Quiet { t: sim.now });
    sim.workload.final_checks(&mut actions);
    sim.apply_actions(&mut actions);
    sim.drain(target);
    sim.obs.emit(Event::End { t: sim.now });
    SimOutcome {
        end: sim.now,
        target_name: target.name().to_string(),
        observers: sim.obs,
    }
}

struct Sim {
    queue: EventQueue<SimEvent>,
    now: Micros,
    next_op: OpId,
    /// Operations in flight: what they asked and what they mean to the workload.
    ops: FxHashMap<OpId, Tag>,
    net: Network,
    obs: Observers,
    workload: Workload,
    /// Reused buffers.
    actions: Vec<Action>,
    deliveries: Vec<Delivery>,
}

impl Sim {
    fn schedule(&mut self, at: Micros, ev: SimEvent) {
        self.queue.push(at, ev);
    }

    fn provision<T: Target>(&mut self, target: &mut T) {
        for req in self.workload.plan().provisioning() {
            let resp = target.admin(0, &req);
            self.obs.emit(Event::Admin {
                t: 0,
                req: &req,
                resp: &resp,
            });
        }
        for u in 0..self.workload.plan().users {
            let client = UserId(u);
            if self.workload.plan().is_online(client) {
                self.obs.emit(Event::Connect { t: 0, client });
            }
        }
    }

    fn apply_actions(&mut self, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Timer { at, timer } => {
                    self.schedule(at.max(self.now), SimEvent::Timer(timer))
                }
                Action::Invoke { client, req, tag } => {
                    let op = self.next_op;
                    self.next_op += 1;
                    self.obs.emit(Event::Invoke {
                        t: self.now,
                        intended: self.now,
                        client,
                        op,
                        req: &req,
                    });
                    let at = self.net.arrival(self.now, client, true);
                    self.ops.insert(op, tag);
                    self.schedule(at, SimEvent::AtServer { client, op, req });
                }
            }
        }
    }

    fn drain<T: Target>(&mut self, target: &mut T) {
        let mut actions = std::mem::take(&mut self.actions);
        while let Some((at, ev)) = self.queue.pop() {
            self.now = at;
            match ev {
                SimEvent::Timer(t) => self.workload.on_timer(self.now, t, &mut actions),
                SimEvent::AtServer { client, op, req } => {
                    let mut deliveries = std::mem::take(&mut self.deliveries);
                    let resp = target.apply(self.now, client, &req, &mut deliveries);
                    let at = self.net.arrival(self.now, client, false);
                    self.schedule(at, SimEvent::Response { client, op, resp });
                    for d in deliveries.drain(..) {
                        // Pushes are not queued for offline users.
                        if self.workload.plan().is_online(d.to) {
                            let at = self.net.arrival(self.now, d.to, false);
                            self.schedule(
                                at,
                                SimEvent::Push {
                                    client: d.to,
                                    push: d.push,
                                },
                            );
                        }
                    }
                    self.deliveries = deliveries;
                }
                SimEvent::Response { client, op, resp } => {
                    self.obs.emit(Event::Complete {
                        t: self.now,
                        client,
                        op,
                        resp: &resp,
                    });
                    if let Some(tag) = self.ops.remove(&op) {
                        self.workload
                            .on_response(self.now, client, tag, &resp, &mut actions);
                    }
                }
                SimEvent::Push { client, push } => {
                    self.obs.emit(Event::Push {
                        t: self.now,
                        client,
                        push: &push,
                    });
                    self.workload.on_push(self.now, client, &push, &mut actions);
                }
            }
            self.apply_actions(&mut actions);
        }
        self.actions = actions;
    }
}
