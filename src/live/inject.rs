//! The fault side of the live scheduler: carrying out the fault plan on the real clock
//! (cuts, stalls, crashes through [`FaultLinks`]), request timeouts, reconnects, and the
//! end of the fault phase (`Calm`).

use super::sched::Scheduler;
use crate::driver::{ConnNo, Link};
use crate::faults::{Scheduled, ScheduledFault};
use crate::history::{Event, FaultKind, Observer, OpId};
use crate::protocol::{AdminRequest, Micros, Request, UserId};
use crate::workload::Tag;
use rustc_hash::FxHashSet;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::Duration;

/// What the scheduler needs from the outside world to inject faults and reconnect. Results
/// come back on the inbound channel ([`super::Inbound::Connected`],
/// [`super::Inbound::ServerUp`], ...), so the scheduler never blocks on them.
pub trait FaultLinks: Send {
    /// Opens connection number `conn` of `client` (retrying with backoff, bounded).
    fn reconnect(&self, client: UserId, conn: ConnNo);
    /// Cuts the client's connection; false if it has none to cut.
    fn cut(&self, client: UserId) -> bool;
    /// Stalls the client's connection; false if it has none.
    fn stall(&self, client: UserId, length: Duration) -> bool;
    /// Turns the extra delay of the fault phase on or off.
    fn delay(&self, on: bool);
    /// Kills the server and restarts it after `downtime`; false if this target cannot be
    /// crashed (someone else's server).
    fn crash(&self, downtime: Duration) -> bool;
    /// Applies a churn admin operation invoked at `invoked`.
    fn admin(&self, req: AdminRequest, invoked: Micros);
}

/// The fault side of a live run: the schedule, the links that carry it out, and the
/// timeout after which an unanswered request is lost.
pub struct FaultSetup {
    pub links: Box<dyn FaultLinks>,
    /// Sorted by time.
    pub schedule: Vec<Scheduled>,
    /// End of the fault phase: `Calm` is emitted once it has passed and every client is back.
    pub until: Micros,
    pub request_timeout: Duration,
}

/// The fault state of a run with [`FaultSetup`].
pub(super) struct FaultState {
    pub links: Box<dyn FaultLinks>,
    schedule: VecDeque<Scheduled>,
    until: Micros,
    calm: bool,
    pub timeout: Micros,
    /// (deadline, op): deadlines are invoke time + a constant, so the queue stays sorted.
    pub deadlines: VecDeque<(Micros, OpId)>,
    /// Operations given up on, so their late responses are recognised.
    pub lost: FxHashSet<OpId>,
    /// (reconnect time, client) of clients cut on purpose.
    offline: BinaryHeap<Reverse<(Micros, u32)>>,
    /// Crashed and not yet restarted.
    pub server_down: bool,
    pub admin_pending: u64,
    /// Operations lost at once because their client was disconnected, for `on_lost` on the
    /// next turn of the loop.
    pub deferred: Vec<(Micros, UserId, Tag, Request)>,
}

impl FaultState {
    pub fn new(setup: FaultSetup) -> FaultState {
        setup.links.delay(true);
        FaultState {
            links: setup.links,
            schedule: setup.schedule.into(),
            until: setup.until,
            calm: false,
            timeout: setup.request_timeout.as_micros() as Micros,
            deadlines: VecDeque::new(),
            lost: FxHashSet::default(),
            offline: BinaryHeap::new(),
            server_down: false,
            admin_pending: 0,
            deferred: Vec::new(),
        }
    }

    /// The next time the fault side must act (fault, timeout, reconnect, end of the phase).
    /// Past the end of the fault phase, Calm waits for frames (the server up, clients back),
    /// not for a time: `until` is then no wake-up, or the loop would spin on it.
    pub fn next_time(&self, now: Micros) -> Option<Micros> {
        [
            self.schedule.front().map(|x| x.at),
            self.deadlines.front().map(|d| d.0),
            self.offline.peek().map(|r| r.0.0),
            (!self.calm && now < self.until).then_some(self.until),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

impl<O: Observer> Scheduler<'_, O> {
    /// Whether the fault side lets the phase end: the fault phase is over (Calm emitted),
    /// the server is up, no client is waiting to reconnect, no churn operation is pending.
    pub(super) fn faults_settled(&self) -> bool {
        let Some(f) = &self.io.faults else {
            return true;
        };
        f.calm && !f.server_down && f.admin_pending == 0 && !self.core.clients.any_away()
    }

    /// Carries out what is due on the fault side at `now`.
    pub(super) fn fault_turn(&mut self, now: Micros) {
        let Some(f) = &mut self.io.faults else { return };
        for (t, client, tag, req) in std::mem::take(&mut f.deferred) {
            let mut actions = std::mem::take(&mut self.actions);
            self.core
                .workload
                .on_lost(t, client, tag, &req, &mut actions);
            self.apply(actions, t);
        }
        while let Some(f) = &mut self.io.faults
            && let Some(&(deadline, op)) = f.deadlines.front()
            && deadline <= now
        {
            f.deadlines.pop_front();
            if self.core.ops.contains(op) {
                let t = self.io_now();
                self.lose(op, t);
            }
        }
        while let Some(f) = &mut self.io.faults
            && f.schedule.front().is_some_and(|x| x.at <= now)
        {
            let Some(fault) = f.schedule.pop_front() else {
                break;
            };
            self.inject(fault.what);
        }
        while let Some(f) = &mut self.io.faults
            && let Some(&Reverse((at, u))) = f.offline.peek()
            && (at <= now || f.calm || now >= f.until)
        {
            f.offline.pop();
            if self.core.clients.link(UserId(u)) == Link::Offline {
                self.reconnect(UserId(u));
            }
        }
        self.maybe_calm(now);
    }

    /// Once the fault phase is over: no more faults, no extra delay, cut clients come back
    /// now; Calm once the server is up and every client is connected again.
    fn maybe_calm(&mut self, now: Micros) {
        let Some(f) = &mut self.io.faults else { return };
        if f.calm || now < f.until {
            return;
        }
        f.schedule.clear();
        f.links.delay(false);
        if f.server_down || !f.offline.is_empty() || self.core.clients.any_away() {
            return;
        }
        f.calm = true;
        let t = self.io_now();
        self.core.obs.observe(&Event::Calm { t });
    }

    fn inject(&mut self, what: ScheduledFault) {
        let Some(f) = &mut self.io.faults else { return };
        match what {
            ScheduledFault::Disconnect { client, offline } => {
                if !self.core.clients.is_up(client) || !f.links.cut(client) {
                    return;
                }
                self.io.stats.cuts += 1;
                let t = self.fault(FaultKind::Disconnect, Some(client));
                self.disconnect(client, t);
                if let Some(f) = &mut self.io.faults {
                    f.offline.push(Reverse((t + offline, client.0)));
                }
            }
            ScheduledFault::Stall { client, length } => {
                let up = self.core.clients.is_up(client);
                if up && f.links.stall(client, Duration::from_micros(length)) {
                    self.io.stats.stalls += 1;
                    self.fault(FaultKind::Stall, Some(client));
                }
            }
            ScheduledFault::Crash { downtime } => {
                if f.server_down {
                    return;
                }
                if !f.links.crash(Duration::from_micros(downtime)) {
                    self.io
                        .stats
                        .note("crashes skipped: the target is not a server this run started");
                    return;
                }
                f.server_down = true;
                self.core.clients.expect_crash_closes();
                self.io.stats.crashes += 1;
                self.fault(FaultKind::Crash, None);
            }
        }
    }

    /// Gives up on in-flight `op` at `t` (timeout); the workload may retry.
    fn lose(&mut self, op: OpId, t: Micros) {
        let mut actions = std::mem::take(&mut self.actions);
        if self.core.lose(t, op, &mut actions) {
            self.io.stats.lost += 1;
            if let Some(f) = &mut self.io.faults {
                f.lost.insert(op);
            }
        }
        self.apply(actions, t);
    }

    /// `client`'s connection is gone at `t` (see [`crate::driver::Core::cut`]).
    pub(super) fn disconnect(&mut self, client: UserId, t: Micros) {
        // Every device's connection goes (dropping a sender closes its socket).
        self.io.conns[client.0 as usize].clear();
        let mut actions = std::mem::take(&mut self.actions);
        let lost = self.core.cut(t, client, &mut actions);
        self.io.stats.lost += lost.len() as u64;
        if let Some(f) = &mut self.io.faults {
            f.lost.extend(lost);
        }
        self.apply(actions, t);
    }

    /// Opens a new connection for `client` (its current connection number).
    pub(super) fn reconnect(&mut self, client: UserId) {
        let Some(f) = &self.io.faults else { return };
        self.core.clients.set_link(client, Link::Reconnecting);
        f.links.reconnect(client, self.core.clients.conn(client));
    }

    /// Records a fault now; returns its time.
    pub(super) fn fault(&mut self, kind: FaultKind, client: Option<UserId>) -> Micros {
        let t = self.io_now();
        self.core.fault(t, kind, client);
        t
    }
}
