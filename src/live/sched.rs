//! The open-loop scheduler: one task owns the [`Workload`], its timers (keyed by intended
//! start time) and the id map, and is the only producer of history. Connections are plain
//! channels here (frames out, parsed frames in), so the scheduler runs without a server.
//! Clients, operations in flight and workload actions are the shared driver core's
//! ([`crate::driver`]); [`LiveIo`] is its clock and transport, `inject.rs` its fault side.
//!
//! Open loop, wrk2-style: a timer's operations are sent when the timer is due, whatever is
//! still in flight; `Event::Invoke` carries the intended time (latency counts from it) and
//! the actual send time (the harness's own lateness).

use super::inbound::{Inbound, Incoming};
use super::inject::{FaultSetup, FaultState};
use super::io::LiveIo;
use super::stats::{DriveConfig, DriveStats};
use crate::driver::{Clients, ConnNo, Core, InFlight, Io, Link, TimerQueue};
use crate::history::{Device, Event, Observer, OpId};
use crate::progress::{LiveLine, LiveStatus};
use crate::protocol::{AdminRequest, ErrorCode, Micros, Response, UserId};
use crate::wire::{ClientFrame, Ids, PushFrame, ResponseFrame};
use crate::workload::{Action, Workload};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

/// The scheduler's state: everything the single driving task owns.
pub struct Scheduler<'o, O: Observer> {
    pub(super) core: Core<'o, O>,
    pub(super) io: LiveIo,
    /// Reused buffer of the workload's actions.
    pub(super) actions: Vec<Action>,
    cfg: DriveConfig,
}

impl<'o, O: Observer> Scheduler<'o, O> {
    /// `conns[u][d]` sends frames on user `u`'s socket of device `d` (empty: offline; every
    /// online user holds the same number of devices). Time 0 is `epoch`.
    pub fn new(
        workload: Workload,
        conns: Vec<Vec<UnboundedSender<ClientFrame>>>,
        obs: &'o mut O,
        epoch: Instant,
        cfg: DriveConfig,
    ) -> Self {
        let devices = conns.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let clients = Clients::new(conns.len(), |u| !conns[u.0 as usize].is_empty())
            .with_devices(devices.min(usize::from(u8::MAX)) as u8);
        let conns = (conns.into_iter())
            .map(|c| c.into_iter().map(Some).collect())
            .collect();
        let stats = DriveStats {
            online: clients.count(Link::Up) as u64,
            ..DriveStats::default()
        };
        Scheduler {
            core: Core::new(workload, obs, clients),
            io: LiveIo {
                epoch,
                last_t: 0,
                last_activity: Instant::now(),
                timers: TimerQueue::default(),
                ids: Ids::default(),
                conns,
                stats,
                faults: None,
            },
            actions: Vec::new(),
            cfg,
        }
    }

    /// Injects `setup`'s faults during the traffic phase, and reconnects clients whose
    /// connection drops.
    pub fn with_faults(mut self, setup: FaultSetup) -> Self {
        self.io.faults = Some(FaultState::new(setup));
        self
    }

    /// The current time as an event time (never before the last event).
    pub(super) fn io_now(&mut self) -> Micros {
        self.io.now(0)
    }

    /// Carries out `actions` (invokes intended at `intended`); the buffer is kept for reuse.
    pub(super) fn apply(&mut self, mut actions: Vec<Action>, intended: Micros) {
        self.core.apply(&mut self.io, intended, &mut actions);
        self.actions = actions;
    }

    /// Runs the traffic phase, Quiet, the final checks and End; returns the counters.
    pub async fn drive(mut self, rx: &mut UnboundedReceiver<Inbound>) -> DriveStats {
        let mut actions = std::mem::take(&mut self.actions);
        self.core.workload.start(&mut actions);
        self.apply(actions, 0);
        self.run_phase(rx, "traffic").await;
        if !self.interrupted() {
            let t = self.io_now();
            self.core.obs.observe(&Event::Quiet { t });
            let mut actions = std::mem::take(&mut self.actions);
            self.core.workload.final_checks(&mut actions);
            self.apply(actions, t);
            self.run_phase(rx, "final checks").await;
        }
        let t = self.io_now();
        // An interrupted history just stops: End would judge pushes still in flight as lost.
        if self.interrupted() {
            self.io.stats.interrupted = true;
        } else {
            self.core.obs.observe(&Event::End { t });
        }
        self.io.stats.end = t;
        self.io.stats.connected_at_end = self.core.clients.count(Link::Up) as u64;
        self.io.stats
    }

    fn interrupted(&self) -> bool {
        self.cfg
            .interrupted
            .as_ref()
            .is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Fires timers when due and handles frames until nothing is pending.
    async fn run_phase(&mut self, rx: &mut UnboundedReceiver<Inbound>, phase: &str) {
        let mut line = self.cfg.progress.then(|| {
            let counters = self.cfg.counters.clone();
            LiveLine::new(
                self.io.epoch,
                Instant::now(),
                self.io.stats.invoked,
                counters,
            )
        });
        let mut inbound_open = true;
        self.io.last_activity = Instant::now();
        loop {
            // What has arrived first: it was read before now, and an event is stamped no
            // earlier than the last one, so a frame handled after this turn's sends would be
            // stamped with their time, not its own. Bounded so timers are not starved.
            for _ in 0..1024 {
                match rx.try_recv() {
                    Ok(m) => self.handle(m),
                    Err(_) => break,
                }
            }
            // Then due timers, in intended-time order: the schedule never waits for answers.
            let now = self.io.micros(Instant::now());
            self.fire_timers(now);
            self.fault_turn(now);
            let now_i = Instant::now();
            if let Some(line) = &mut line {
                line.tick(now_i, &self.status(phase));
            }
            if self.phase_over(now_i, inbound_open, phase) {
                break;
            }
            // Sleep until the next timer, the next check, or a frame.
            let wake = self.wake_at(now_i, line.as_ref().map(LiveLine::next));
            if wake <= Instant::now() {
                // Let the sockets' tasks run: with --io-threads 0 they share this thread.
                tokio::task::yield_now().await;
                continue;
            }
            if inbound_open {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some(m) => self.handle(m),
                        None => inbound_open = false,
                    },
                    _ = tokio::time::sleep_until(wake.into()) => {}
                }
            } else {
                tokio::time::sleep_until(wake.into()).await;
            }
        }
        if let Some(line) = line {
            line.finish();
        }
    }

    /// Fires the timers due at `now`, each at its intended time.
    fn fire_timers(&mut self, now: Micros) {
        let mut actions = std::mem::take(&mut self.actions);
        while let Some(at) = self.io.timers.peek_at() {
            if at > now {
                break;
            }
            let (at, timer) = self.io.timers.pop().expect("peeked");
            self.core.workload.on_timer(at, timer, &mut actions);
            self.core.apply(&mut self.io, at, &mut actions);
        }
        self.actions = actions;
    }

    fn status<'p>(&self, phase: &'p str) -> LiveStatus<'p> {
        LiveStatus {
            phase,
            invoked: self.io.stats.invoked,
            in_flight: self.core.ops.len(),
            timers: self.io.timers.len(),
            acked_receipts: self.io.stats.acked_receipts,
        }
    }

    /// Whether the phase is over at `now_i`: no timer is pending, and everything settled
    /// (or waiting longer is pointless: it gives up on what is still in flight).
    fn phase_over(&mut self, now_i: Instant, inbound_open: bool, phase: &str) -> bool {
        if self.interrupted() {
            return true;
        }
        if !self.io.timers.is_empty() {
            return false;
        }
        let idle = now_i.duration_since(self.io.last_activity);
        if self.core.ops.is_empty() && idle >= self.cfg.settle && self.faults_settled() {
            return true;
        }
        if idle >= self.cfg.drain_timeout || (!inbound_open && !self.core.ops.is_empty()) {
            self.give_up(phase);
            return true;
        }
        false
    }

    /// When the loop must look again: the next timer, fault-side deadline, progress line,
    /// or a periodic check of whether the phase is over.
    fn wake_at(&self, now_i: Instant, progress: Option<Instant>) -> Instant {
        let at = |t: Micros| self.io.epoch + Duration::from_micros(t);
        let now = self.io.micros(now_i);
        let faults = self.io.faults.as_ref().and_then(|f| f.next_time(now));
        [progress, self.io.timers.peek_at().map(at), faults.map(at)]
            .into_iter()
            .flatten()
            .fold(
                now_i + self.cfg.settle.min(Duration::from_millis(100)),
                Instant::min,
            )
    }

    fn give_up(&mut self, phase: &str) {
        let some = self.core.ops.sample(5);
        let n = self.core.ops.clear() as u64;
        if n > 0 {
            self.io.stats.problem(format!(
                "{phase}: gave up on {n} operation(s) still unanswered, e.g. (op, client) {some:?}"
            ));
            self.io.stats.outstanding += n;
        }
    }

    fn handle(&mut self, m: Inbound) {
        self.io.last_activity = Instant::now();
        match m {
            Inbound::Frame {
                client,
                device,
                conn,
                at,
                frame,
            } => self.on_frame((client, device), conn, at, frame),
            Inbound::Closed {
                client,
                device,
                conn,
                reason,
            } => self.on_closed((client, device), conn, &reason),
            Inbound::Connected {
                client,
                device,
                conn,
                tx,
            } => self.on_connected((client, device), conn, tx),
            Inbound::ReconnectFailed {
                client,
                conn,
                detail,
            } => {
                if !self.core.clients.current(client, conn) {
                    return;
                }
                self.core.clients.set_link(client, Link::Dead);
                self.io.conns[client.0 as usize].clear();
                self.io.stats.reconnect_failures += 1;
                self.io.stats.problem(format!(
                    "client u{}: could not reconnect: {detail}",
                    client.0
                ));
            }
            Inbound::ServerUp(r) => self.on_server_up(r),
            Inbound::AdminDone {
                invoked,
                at,
                req,
                resp,
            } => self.on_admin_done(invoked, at, req, resp),
        }
    }

    fn on_frame(&mut self, from: (UserId, Device), conn: ConnNo, at: Instant, frame: Incoming) {
        let client = from.0;
        // A device that reconnected before the others hears nothing until they are back
        // (the client connects as a whole; it catches up by pulling).
        let back = self.core.clients.link(client) != Link::Reconnecting;
        if !self.core.clients.current(client, conn) || !back {
            self.io.stats.stale_frames += 1;
            return;
        }
        let t = self.io.event_time(at, 0);
        match frame {
            Incoming::Response(r) => self.response(t, client, r),
            Incoming::Push(p) => self.push(t, from, p),
            Incoming::Bad(e) => {
                self.io.stats.bad_frames += 1;
                self.io
                    .stats
                    .problem(format!("client u{}: unreadable frame: {e}", client.0));
            }
        }
    }

    /// One of the client's connections closed: the client is cut as a whole (its other
    /// devices' connections close with it), as faults cut it.
    fn on_closed(&mut self, (client, device): (UserId, Device), conn: ConnNo, reason: &str) {
        let gone = self.io.faults.is_none() && self.io.conns[client.0 as usize].is_empty();
        if !self.core.clients.current(client, conn) || gone {
            return;
        }
        if !self.core.clients.close_expected(client, conn) {
            self.io.stats.disconnects += 1;
            let on = if self.core.clients.devices() > 1 {
                format!(" ({device})")
            } else {
                String::new()
            };
            self.io.stats.problem(format!(
                "client u{}: connection{on} closed during the run: {reason}",
                client.0
            ));
        }
        let t = self.io_now();
        if self.core.clients.link(client) == Link::Reconnecting {
            // Not back yet (another device is still connecting): start over.
            self.io.conns[client.0 as usize].clear();
            self.core.clients.cut(client);
            self.reconnect(client);
            return;
        }
        if self.io.faults.is_some() {
            self.disconnect(client, t);
            self.reconnect(client);
            return;
        }
        // No faults: nothing reconnects; the run reports the loss.
        self.io.conns[client.0 as usize].clear();
        let lost = self.core.ops.of_client(client);
        self.io.stats.outstanding += lost.len() as u64;
        for op in lost {
            self.core.ops.remove(op);
        }
        self.core.obs.observe(&Event::Disconnect { t, client });
    }

    /// A connection of a reconnecting client is open; the client is back once every one of
    /// its devices is.
    fn on_connected(
        &mut self,
        (client, device): (UserId, Device),
        conn: ConnNo,
        tx: UnboundedSender<ClientFrame>,
    ) {
        let clients = &self.core.clients;
        if !clients.current(client, conn) || clients.link(client) != Link::Reconnecting {
            // A connection nobody waits for any more: dropping `tx` closes it.
            return;
        }
        let devices = usize::from(clients.devices());
        let slots = &mut self.io.conns[client.0 as usize];
        slots.resize(devices, None);
        if let Some(slot) = slots.get_mut(usize::from(device.0)) {
            *slot = Some(tx);
        }
        if slots.iter().any(Option::is_none) {
            return;
        }
        self.io.stats.reconnects += 1;
        let t = self.io_now();
        let mut actions = std::mem::take(&mut self.actions);
        self.core.reconnected(t, client, &mut actions);
        self.apply(actions, t);
    }

    fn on_server_up(&mut self, r: Result<(), String>) {
        if let Some(f) = &mut self.io.faults {
            f.server_down = false;
        }
        self.core.clients.crash_over();
        match r {
            Ok(()) => {
                self.io.stats.restarts += 1;
                self.fault(crate::history::FaultKind::Restart, None);
            }
            Err(e) => {
                self.io.stats.restart_failures += 1;
                self.io
                    .stats
                    .problem(format!("the crashed server did not restart: {e}"));
            }
        }
    }

    fn on_admin_done(
        &mut self,
        invoked: Micros,
        at: Instant,
        req: AdminRequest,
        resp: Result<Response, String>,
    ) {
        if let Some(f) = &mut self.io.faults {
            f.admin_pending = f.admin_pending.saturating_sub(1);
        }
        let resp = match resp {
            Ok(resp) => {
                self.io.stats.admin_ops += 1;
                resp
            }
            Err(e) => {
                self.io.stats.admin_failures += 1;
                self.io
                    .stats
                    .problem(format!("churn admin operation {req:?} failed: {e}"));
                // Close the call in the history; whether it took effect is unknown, and
                // the checker treats the membership as changed either way.
                Response::Error {
                    code: ErrorCode::Internal,
                }
            }
        };
        let t = self.io.event_time(at, invoked);
        self.core.obs.observe(&Event::Admin {
            t,
            invoked,
            req: &req,
            resp: &resp,
        });
    }

    fn response(&mut self, t: Micros, client: UserId, r: ResponseFrame) {
        if let (Some(op), Some(f)) = (r.id, &mut self.io.faults)
            && f.lost.remove(&op)
        {
            // Given up on already (timeout): the workload has moved on.
            self.io.stats.late_responses += 1;
            return;
        }
        let Some((op, f)) =
            r.id.and_then(|op| self.core.ops.remove(op).map(|f| (op, f)))
        else {
            self.io.stats.bad_frames += 1;
            self.io.stats.problem(format!(
                "client u{}: response to no operation in flight (id {:?}, error {:?})",
                client.0, r.id, r.error
            ));
            return;
        };
        let Some(resp) = self.read_response(op, &f, &r) else {
            return;
        };
        self.io.stats.completed += 1;
        if let Response::ReceiptsSent { results } = &resp {
            let ok = results.iter().filter(|r| r.result.is_ok()).count() as u64;
            if ok > 0 {
                self.io.stats.acked_receipts += ok;
                self.io.stats.first_receipt_ack.get_or_insert(t);
                self.io.stats.last_receipt_ack = Some(t);
            }
        }
        let mut actions = std::mem::take(&mut self.actions);
        self.core.complete(t, op, f, resp, &mut actions);
        self.apply(actions, t);
    }

    /// Maps the answer to `op` back to protocol terms (None: it does not fit the request).
    fn read_response(&mut self, op: OpId, f: &InFlight, r: &ResponseFrame) -> Option<Response> {
        let read = match &f.req {
            Some(req) => self.io.ids.response(req, r).map_err(|e| e.to_string()),
            None => Err("the request was not kept".to_string()),
        };
        match read {
            Ok(resp) => Some(resp),
            Err(e) => {
                self.io.stats.bad_frames += 1;
                self.io.stats.outstanding += 1;
                self.io
                    .stats
                    .problem(format!("client u{}: op {op}: {e}", f.client.0));
                None
            }
        }
    }

    fn push(&mut self, t: Micros, (client, device): (UserId, Device), mut p: PushFrame) {
        if !super::foreign::keep_own(self.core.workload.plan().shard, client, &mut p) {
            self.io.stats.foreign_pushes += 1;
            return;
        }
        let push = match self.io.ids.push(&p) {
            Ok(Some(push)) => push,
            Ok(None) => {
                if let PushFrame::Closing { reason } = p {
                    self.io
                        .stats
                        .problem(format!("client u{}: server is closing: {reason}", client.0));
                }
                return;
            }
            Err(e) => {
                self.io.stats.bad_frames += 1;
                self.io
                    .stats
                    .problem(format!("client u{}: bad push: {e}", client.0));
                return;
            }
        };
        if self.core.clients.devices() > 1 {
            let by = &mut self.io.stats.pushes_by_device;
            by.resize(by.len().max(usize::from(device.0) + 1), 0);
            by[usize::from(device.0)] += 1;
        }
        let mut actions = std::mem::take(&mut self.actions);
        self.core.push(t, client, device, push, &mut actions);
        self.apply(actions, t);
    }
}

#[cfg(test)]
#[path = "sched_tests.rs"]
mod tests;
