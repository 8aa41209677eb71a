//! The discrete-event simulator: a virtual clock, an event queue keyed by (time, sequence
//! number) so ties break the same way every run, and a simulated network in which each
//! client's link delivers in order (like one TCP connection) with a seeded latency per frame.
//! It drives the workload against an in-process [`Target`] and streams history to observers.

use crate::check::{CheckConfig, Checker};
use crate::history::{Event, Observer, OpId, OwnedEvent, TraceHash};
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
    fn new(latency: DelayDist, seed: u64, users: usize) -> Network {
        let streams = Streams::new(seed);
        Network {
            latency,
            up_rng: streams.rng(Purpose::NetUp, 0),
            down_rng: streams.rng(Purpose::NetDown, 0),
            links: vec![Links::default(); users],
        }
    }

    fn arrival(&mut self, now: Micros, client: UserId, up: bool) -> Micros {
        let l = &mut self.links[client.0 as usize];
        let (free, frames, rng) = if up {
            (&mut l.up_free, &mut l.up_frames, &mut self.up_rng)
        } else {
            (&mut l.down_free, &mut l.down_frames, &mut self.down_rng)
        };
        rng.set_stream(u64::from(client.0));
        // One 64-word ChaCha block per frame: more than any latency draw consumes.
        rng.set_word_pos(u128::from(*frames) * 64);
        *frames += 1;
        let at = (now + sample_delay(&self.latency, rng)).max(*free);
        *free = at;
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
    pub fn new(check: CheckConfig) -> Observers {
        Observers {
            checker: Checker::new(check),
            metrics: Metrics::default(),
            trace: TraceHash::default(),
        }
    }
}

impl Observer for Observers {
    fn observe(&mut self, ev: &Event<'_>) {
        self.checker.observe(ev);
        self.metrics.observe(ev);
        self.trace.observe(ev);
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
        obs,
        workload: Workload::new(scenario, seed),
        actions: Vec::new(),
        deliveries: Vec::new(),
    };
    sim.provision(target);
    let mut actions = std::mem::take(&mut sim.actions);
    sim.workload.start(&mut actions);
    sim.apply_actions(&mut actions);
    sim.drain(target);
    sim.obs.observe(&Event::Quiet { t: sim.now });
    sim.workload.final_checks(&mut actions);
    sim.apply_actions(&mut actions);
    sim.drain(target);
    sim.obs.observe(&Event::End { t: sim.now });
    sim.now
}

struct Sim<'o, O: Observer> {
    queue: EventQueue<SimEvent>,
    now: Micros,
    next_op: OpId,
    /// Operations in flight: what they asked and what they mean to the workload.
    ops: FxHashMap<OpId, Tag>,
    net: Network,
    obs: &'o mut O,
    workload: Workload,
    /// Reused buffers.
    actions: Vec<Action>,
    deliveries: Vec<Delivery>,
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
                self.obs.observe(&Event::Connect { t: 0, client });
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
                    self.obs.observe(&Event::Invoke {
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
                    // The workload reacts first (it only queues actions, emitted after this
                    // event), so the response can be handed over without a copy.
                    if let Some(tag) = self.ops.remove(&op) {
                        self.workload
                            .on_response(self.now, client, tag, &resp, &mut actions);
                    }
                    self.obs.observe_owned(OwnedEvent::Complete {
                        t: self.now,
                        client,
                        op,
                        resp,
                    });
                }
                SimEvent::Push { client, push } => {
                    self.workload.on_push(self.now, client, &push, &mut actions);
                    self.obs.observe_owned(OwnedEvent::Push {
                        t: self.now,
                        client,
                        push,
                    });
                }
            }
            self.apply_actions(&mut actions);
        }
        self.actions = actions;
    }
}
