//! The live scheduler's clock and transport for the driver core: the real clock (event
//! times never go back), the workload's timers, and one channel per client's socket.

use super::inject::FaultState;
use super::stats::DriveStats;
use crate::driver::{Io, Sent, TimerQueue, To};
use crate::history::{Event, Observer, OpId};
use crate::protocol::{AdminRequest, ErrorCode, Micros, Request, Response, UserId};
use crate::wire::{ClientFrame, Ids};
use crate::workload::{Tag, Timer};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;

/// Everything the scheduler owns besides the driver core.
pub(super) struct LiveIo {
    /// Time 0 of the history.
    pub epoch: Instant,
    /// Time of the last emitted event: events are emitted in non-decreasing time.
    pub last_t: Micros,
    /// Last time a frame arrived or an operation was sent.
    pub last_activity: Instant,
    pub timers: TimerQueue,
    /// The run's one id map (message ids, operation ids on the wire).
    pub ids: Ids,
    /// Per client, the senders of its sockets' writers, by device (empty: no connection;
    /// a None: that device's connection is not open yet, a reconnect is under way).
    pub conns: Vec<Vec<Option<UnboundedSender<ClientFrame>>>>,
    pub stats: DriveStats,
    pub faults: Option<FaultState>,
}

impl LiveIo {
    pub fn micros(&self, at: Instant) -> Micros {
        at.saturating_duration_since(self.epoch).as_micros() as Micros
    }

    /// The time of an event that happened at `at` (never before the last event).
    pub fn event_time(&mut self, at: Instant, not_before: Micros) -> Micros {
        let t = self.micros(at).max(self.last_t).max(not_before);
        self.last_t = t;
        t
    }
}

impl Io for LiveIo {
    fn now(&mut self, not_before: Micros) -> Micros {
        self.event_time(Instant::now(), not_before)
    }

    fn timer(&mut self, at: Micros, timer: Timer) {
        self.timers.push(at, timer);
    }

    fn send<O: Observer>(
        &mut self,
        _obs: &mut O,
        t: Micros,
        to: To,
        op: OpId,
        req: Request,
    ) -> Sent {
        let (client, device) = (to.client, usize::from(to.device.0));
        let tx = (self.conns.get(client.0 as usize))
            .and_then(|c| c.get(device))
            .and_then(Option::as_ref);
        if tx.is_none_or(|tx| tx.send(self.ids.request(op, &req)).is_err()) {
            // The writer is gone: the connection closed under us.
            return Sent::No(req);
        }
        self.stats.invoked += 1;
        self.last_activity = Instant::now();
        if let Some(f) = &mut self.faults {
            f.deadlines.push_back((t + f.timeout, op));
        }
        // Kept: the answer is read against the request (and a lost one may be retried).
        Sent::Yes(Some(req))
    }

    fn unsent(&mut self, t: Micros, client: UserId, tag: Tag, req: Request) {
        match &mut self.faults {
            Some(f) => {
                // The workload hears of it on the next turn of the loop, not recursively,
                // so a retry cannot loop within one call while the client is away.
                self.stats.lost += 1;
                f.deferred.push((t, client, tag, req));
            }
            None => self.stats.not_sent += 1,
        }
    }

    /// Applied through the admin API; the result comes back as `Inbound::AdminDone`.
    fn admin<O: Observer>(&mut self, obs: &mut O, t: Micros, req: AdminRequest) {
        let Some(f) = &mut self.faults else {
            self.stats.not_sent += 1;
            self.stats
                .problem("a churn admin operation without the live fault links".into());
            // Close the call in the history: it was never applied.
            obs.observe(&Event::Admin {
                t,
                invoked: t,
                req: &req,
                resp: &Response::Error {
                    code: ErrorCode::Internal,
                },
            });
            return;
        };
        f.admin_pending += 1;
        f.links.admin(req, t);
        self.last_activity = Instant::now();
    }
}
