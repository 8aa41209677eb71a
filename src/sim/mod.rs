//! The discrete-event simulator: a virtual clock, an event queue keyed by (time, sequence
//! number) so ties break the same way every run, and a simulated network in which each
//! client's link delivers in order (like one TCP connection) with a seeded latency per frame.
//! It drives the workload against an in-process [`Target`] and streams history to an
//! observer. Clients, operations in flight and workload actions are the shared driver core's
//! ([`crate::driver`]); this module is its clock and transport.

use crate::driver::{Clients, Core, Io, Sent, To};
use crate::faults::{FaultPlan, ScheduledFault};
use crate::history::{Device, Event, FaultKind, Observer, OpId};
use crate::model::Delivery;
use crate::protocol::{AdminRequest, Micros, Push, Request, Response, UserId};
use crate::rng::{Purpose, Streams};
use crate::scenario::Scenario;
use crate::target::Target;
use crate::workload::{Action, Tag, Timer, Workload};
use rand::RngExt;
use std::sync::atomic::{AtomicBool, Ordering};

mod net;
/// Public for `benches/hot_paths.rs`.
pub mod queue;
use net::{Fate, Frame, Network};
pub use queue::EventQueue;

// The observer bundle and the checked run moved to `crate::observers`; these names stay for
// callers of the old paths.

enum SimEvent {
    Timer(Timer),
    /// A request reaches the server (`to.conn`: the client's connection when sent).
    AtServer {
        to: To,
        op: OpId,
        req: Request,
    },
    /// A response reaches its client, on the device the request came from.
    Response {
        to: To,
        op: OpId,
        resp: Response,
    },
    /// A push reaches one device of a client.
    Push {
        to: To,
        push: Push,
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

/// Runs `scenario` with `seed` against `target` on the virtual clock until nothing is in
/// flight, then the final quiet-phase checks, feeding the history to `obs`; returns the
/// virtual end time.
pub fn run_observed<T: Target, O: Observer>(
    scenario: &Scenario,
    seed: u64,
    target: &mut T,
    obs: &mut O,
) -> Micros {
    static NEVER: AtomicBool = AtomicBool::new(false);
    match run_stoppable(scenario, seed, target, obs, &NEVER) {
        Ok(end) | Err(Stopped { at: end }) => end,
    }
}

/// A run ended early because its stop flag was raised.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Stopped {
    /// Virtual time of the last event handled.
    pub at: Micros,
}

/// Events handled between two looks at the stop flag.
const STOP_POLL_EVENTS: u32 = 1024;

/// [`run_observed`] that ends early (no `Quiet`, no `End`) once `stop` is raised by someone
/// else, e.g. a memory watcher. The flag is only read, every [`STOP_POLL_EVENTS`] events:
/// a run it never stops is the same run, event for event.
pub fn run_stoppable<T: Target, O: Observer>(
    scenario: &Scenario,
    seed: u64,
    target: &mut T,
    obs: &mut O,
    stop: &AtomicBool,
) -> Result<Micros, Stopped> {
    let workload = Workload::new(scenario, seed);
    let plan = workload.fault_plan().clone();
    let users = scenario.population.users as usize;
    let devices = scenario.population.device_count();
    let clients = Clients::new(users, |u| workload.plan().is_online(u)).with_devices(devices);
    let mut sim = Sim {
        core: Core::new(workload, obs, clients),
        io: SimIo {
            queue: EventQueue::default(),
            now: 0,
            net: Network::new(
                scenario.network.latency.clone(),
                plan.active.then(|| (plan.faults.clone(), plan.until)),
                seed,
                users,
                devices,
            ),
            target,
            timeout: plan.active.then_some(plan.faults.request_timeout.micros),
        },
        actions: Vec::new(),
        deliveries: Vec::new(),
        server_up: true,
        restart_at: 0,
        crashes: 0,
        streams: Streams::new(seed),
        plan,
    };
    sim.provision();
    let mut actions = std::mem::take(&mut sim.actions);
    sim.core.workload.start(&mut actions);
    sim.core.apply(&mut sim.io, 0, &mut actions);
    if sim.plan.active {
        for i in 0..sim.plan.schedule.len() {
            let at = sim.plan.schedule[i].at;
            sim.io.queue.push(at, SimEvent::Fault { index: i as u32 });
        }
        sim.io.queue.push(sim.plan.until, SimEvent::Calm);
    }
    sim.drain(stop)?;
    let now = sim.io.now;
    sim.core.obs.observe(&Event::Quiet { t: now });
    sim.core.workload.final_checks(&mut actions);
    sim.core.apply(&mut sim.io, now, &mut actions);
    sim.drain(stop)?;
    let now = sim.io.now;
    sim.core.obs.observe(&Event::End { t: now });
    Ok(now)
}

/// The simulator's clock and transport: the event queue, the network and the target.
struct SimIo<'t, T: Target> {
    queue: EventQueue<SimEvent>,
    now: Micros,
    net: Network,
    target: &'t mut T,
    /// The request timeout while the run has faults (None: no faults, so nothing is lost
    /// and requests need not be kept for retries).
    timeout: Option<Micros>,
}

impl<T: Target> Io for SimIo<'_, T> {
    fn now(&mut self, not_before: Micros) -> Micros {
        self.now.max(not_before)
    }

    fn timer(&mut self, at: Micros, timer: Timer) {
        self.queue.push(at.max(self.now), SimEvent::Timer(timer));
    }

    fn send<O: Observer>(
        &mut self,
        obs: &mut O,
        t: Micros,
        to: To,
        op: OpId,
        req: Request,
    ) -> Sent {
        let idempotent = !matches!(
            req,
            Request::SendMessage { .. } | Request::MarkC2cRead { .. }
        );
        let frame = Frame::Request { idempotent };
        let fate = self.net.send(t, to.client, to.device, frame);
        log_fate(obs, t, &fate, to.client);
        if let Some(at) = fate.dup_at {
            let req = req.clone();
            self.queue.push(at, SimEvent::AtServer { to, op, req });
        }
        // With faults the request is kept, so a lost call can be retried.
        let kept = self.timeout.is_some().then(|| req.clone());
        if let Some(at) = fate.at {
            self.queue.push(at, SimEvent::AtServer { to, op, req });
        }
        if let Some(timeout) = self.timeout {
            self.queue.push(t + timeout, SimEvent::Timeout { op });
        }
        Sent::Yes(kept)
    }

    /// A call failed at once (no connection) is not retried: the simulated client knows
    /// it is offline and the workload already queues for the reconnect.
    fn unsent(&mut self, _t: Micros, _client: UserId, _tag: Tag, _req: Request) {}

    /// The simulated server applies a churn change at once.
    fn admin<O: Observer>(&mut self, obs: &mut O, t: Micros, req: AdminRequest) {
        let resp = self.target.admin(t, &req);
        obs.observe(&Event::Admin {
            t,
            invoked: t,
            req: &req,
            resp: &resp,
        });
    }
}

impl<T: Target> SimIo<'_, T> {
    fn respond<O: Observer>(&mut self, obs: &mut O, to: To, op: OpId, resp: Response) {
        let fate = self
            .net
            .send(self.now, to.client, to.device, Frame::Response);
        log_fate(obs, self.now, &fate, to.client);
        if let Some(at) = fate.at {
            self.queue.push(at, SimEvent::Response { to, op, resp });
        }
    }

    fn push<O: Observer>(&mut self, obs: &mut O, to: To, push: Push) {
        let fate = self.net.send(self.now, to.client, to.device, Frame::Push);
        log_fate(obs, self.now, &fate, to.client);
        if let Some(at) = fate.dup_at {
            let push = push.clone();
            self.queue.push(at, SimEvent::Push { to, push });
        }
        if let Some(at) = fate.at {
            self.queue.push(at, SimEvent::Push { to, push });
        }
    }
}

/// Records the fault the network did to a frame, if any.
fn log_fate<O: Observer>(obs: &mut O, t: Micros, fate: &Fate, client: UserId) {
    if let Some(kind) = fate.fault {
        obs.observe(&Event::Fault {
            t,
            kind,
            client: Some(client),
        });
    }
}

struct Sim<'o, 't, O: Observer, T: Target> {
    core: Core<'o, O>,
    io: SimIo<'t, T>,
    /// Reused buffers.
    actions: Vec<Action>,
    deliveries: Vec<Delivery>,
    server_up: bool,
    /// When the server comes back (valid while it is down).
    restart_at: Micros,
    crashes: u64,
    streams: Streams,
    plan: FaultPlan,
}

impl<O: Observer, T: Target> Sim<'_, '_, O, T> {
    fn provision(&mut self) {
        for req in self.core.workload.plan().provisioning() {
            let resp = self.io.target.admin(0, &req);
            self.core.obs.observe(&Event::Admin {
                t: 0,
                invoked: 0,
                req: &req,
                resp: &resp,
            });
        }
        let online: Vec<UserId> = self.core.clients.up_clients().collect();
        for client in online {
            self.core.obs.observe(&Event::Connect { t: 0, client });
        }
    }

    fn fault(&mut self, kind: FaultKind, client: Option<UserId>) {
        self.core.fault(self.io.now, kind, client);
    }

    fn drain(&mut self, stop: &AtomicBool) -> Result<(), Stopped> {
        let mut actions = std::mem::take(&mut self.actions);
        let mut handled: u32 = 0;
        while let Some((at, ev)) = self.io.queue.pop() {
            self.io.now = at;
            self.step(ev, &mut actions);
            self.core.apply(&mut self.io, at, &mut actions);
            handled = handled.wrapping_add(1);
            if handled.is_multiple_of(STOP_POLL_EVENTS) && stop.load(Ordering::Relaxed) {
                self.actions = actions;
                return Err(Stopped { at });
            }
        }
        self.actions = actions;
        Ok(())
    }

    /// Handles one event; the workload's reactions go to `actions`.
    fn step(&mut self, ev: SimEvent, actions: &mut Vec<Action>) {
        let now = self.io.now;
        match ev {
            SimEvent::Timer(t) => self.core.workload.on_timer(now, t, actions),
            SimEvent::AtServer { to, op, req } => self.at_server(to, op, req),
            SimEvent::Response { to, op, resp } => {
                // A duplicate's second answer, or one after the client gave up, is dropped
                // by the client: the operation is no longer waiting.
                if self.core.clients.current(to.client, to.conn)
                    && let Some(f) = self.core.ops.remove(op)
                {
                    self.core.complete(now, op, f, resp, actions);
                }
            }
            SimEvent::Push { to, push } => {
                if self.core.clients.current(to.client, to.conn) {
                    self.core.push(now, to.client, to.device, push, actions);
                }
            }
            SimEvent::Timeout { op } => {
                self.core.lose(now, op, actions);
            }
            SimEvent::Fault { index } => self.on_fault(index, actions),
            SimEvent::Reconnect { client } => self.reconnect(client, actions),
            SimEvent::Restart => {
                self.server_up = true;
                self.io.target.restart(now);
                self.fault(FaultKind::Restart, None);
            }
            SimEvent::Calm => self.core.obs.observe(&Event::Calm { t: now }),
        }
    }

    fn at_server(&mut self, from: To, op: OpId, req: Request) {
        if !self.server_up || !self.core.clients.current(from.client, from.conn) {
            // The server is down or the connection it came on is gone.
            return;
        }
        let now = self.io.now;
        let mut deliveries = std::mem::take(&mut self.deliveries);
        let resp = self
            .io
            .target
            .apply(now, from.client, &req, &mut deliveries);
        self.io.respond(self.core.obs, from, op, resp);
        for d in deliveries.drain(..) {
            self.deliver(d);
        }
        self.deliveries = deliveries;
    }

    /// Pushes `d` to every connection of its user (as the server's registry does), or to
    /// the one device the target named; only to connected users (pushes are not queued).
    fn deliver(&mut self, d: Delivery) {
        let clients = &self.core.clients;
        if !clients.is_up(d.to) {
            return;
        }
        let conn = clients.conn(d.to);
        let devices = match d.device {
            Some(only) => only..only + 1,
            None => 0..clients.devices(),
        };
        let mut push = Some(d.push);
        for device in devices.clone() {
            let to = To {
                client: d.to,
                conn,
                device: Device(device),
            };
            // The last device takes the push itself: one device costs no copy.
            let p = if device + 1 == devices.end {
                push.take()
            } else {
                push.clone()
            };
            if let Some(p) = p {
                self.io.push(self.core.obs, to, p);
            }
        }
    }

    fn reconnect(&mut self, client: UserId, actions: &mut Vec<Action>) {
        let now = self.io.now;
        if !self.server_up {
            let at = self.restart_at.max(now + 1);
            self.io.queue.push(at, SimEvent::Reconnect { client });
        } else if !self.core.clients.is_up(client) {
            self.core.reconnected(now, client, actions);
            self.io.target.on_connect(now, client);
        }
    }

    fn on_fault(&mut self, index: u32, actions: &mut Vec<Action>) {
        let now = self.io.now;
        match self.plan.schedule[index as usize].what.clone() {
            ScheduledFault::Disconnect { client, offline } => {
                if !self.core.clients.is_up(client) {
                    return;
                }
                self.fault(FaultKind::Disconnect, Some(client));
                self.core.cut(now, client, actions);
                let ev = SimEvent::Reconnect { client };
                self.io.queue.push(now + offline, ev);
            }
            ScheduledFault::Stall { client, length } => {
                if !self.core.clients.is_up(client) {
                    return;
                }
                self.fault(FaultKind::Stall, Some(client));
                self.io.net.stall(client, now + length);
            }
            ScheduledFault::Crash { downtime } => {
                if self.server_up {
                    self.crash(downtime, actions);
                }
            }
        }
    }

    /// The server goes down for `downtime`: every connection is cut, and clients come back
    /// after a jittered backoff once it is up.
    fn crash(&mut self, downtime: Micros, actions: &mut Vec<Action>) {
        let now = self.io.now;
        self.fault(FaultKind::Crash, None);
        self.server_up = false;
        self.restart_at = now + downtime;
        self.crashes += 1;
        let mut rng = self.streams.rng(Purpose::Faults, 100 + self.crashes);
        let up: Vec<UserId> = self.core.clients.up_clients().collect();
        for client in up {
            self.core.cut(now, client, actions);
            let at = self.restart_at + rng.random_range(0..1_000_000);
            self.io.queue.push(at, SimEvent::Reconnect { client });
        }
        self.io.queue.push(self.restart_at, SimEvent::Restart);
    }
}

#[cfg(test)]
mod stop_tests {
    use super::*;
    use crate::history::TraceHash;
    use crate::model::Model;
    use crate::target::ModelTarget;

    fn tiny() -> Scenario {
        let text = include_str!("../../tests/fixtures/tiny.toml");
        crate::scenario::parse_str(text, "tiny.toml").unwrap()
    }

    fn run(s: &Scenario, stop: Option<&AtomicBool>) -> (Result<Micros, Stopped>, TraceHash) {
        let mut target = ModelTarget::new(Model::with_profile(
            s.receipts.config(),
            s.semantics.profile,
        ));
        let mut trace = TraceHash::default();
        let r = match stop {
            Some(stop) => run_stoppable(s, s.seed, &mut target, &mut trace, stop),
            None => Ok(run_observed(s, s.seed, &mut target, &mut trace)),
        };
        (r, trace)
    }

    #[test]
    fn a_stop_flag_never_raised_changes_nothing_and_a_raised_one_ends_the_run_early() {
        let s = tiny();
        let (plain, plain_trace) = run(&s, None);
        let (watched, watched_trace) = run(&s, Some(&AtomicBool::new(false)));
        assert_eq!(plain, watched);
        assert_eq!(plain_trace.value(), watched_trace.value());
        assert_eq!(plain_trace.events, watched_trace.events);
        let (stopped, stopped_trace) = run(&s, Some(&AtomicBool::new(true)));
        let Err(Stopped { at }) = stopped else {
            panic!("a raised flag stops the run, got {stopped:?}");
        };
        assert!(at < plain.unwrap());
        assert!(stopped_trace.events < plain_trace.events / 2);
    }
}
