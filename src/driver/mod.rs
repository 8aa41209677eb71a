//! The sans-I/O core both drivers share: the client table (links, connection numbers,
//! expected closes), the operations in flight, and the application of workload actions.
//! It reads no clock and does no I/O: times are arguments, and what differs between the
//! simulator and the live scheduler (the clock, where requests, timers and admin calls go)
//! comes in through [`Io`]. Keeping this in one place keeps the two drivers' histories
//! alike: an operation is invoked, lost and completed the same way in both.

mod clients;
mod ops;
mod timers;

#[cfg(test)]
mod tests;

pub use clients::{Clients, ConnNo, Link};
pub use ops::{InFlight, Ops};
pub use timers::TimerQueue;

use crate::history::{Device, Event, FaultKind, Observer, OpId, OwnedEvent};
use crate::protocol::{AdminRequest, Micros, Push, Request, Response, UserId};
use crate::workload::{Action, Tag, Timer, Workload};

/// What became of a request handed to [`Io::send`].
pub enum Sent {
    /// On its way; the request as the in-flight table should keep it (None: not needed,
    /// e.g. a simulation without faults never retries, so it keeps no copy).
    Yes(Option<Request>),
    /// The connection could not take it (closed under us): the operation is lost.
    No(Request),
}

/// Where a request goes: `client`'s connection number `conn`, on its `device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct To {
    pub client: UserId,
    pub conn: ConnNo,
    pub device: Device,
}

/// What a driver supplies: its clock and its transport.
pub trait Io {
    /// The time of the next event: now, never before `not_before` or the last event.
    fn now(&mut self, not_before: Micros) -> Micros;
    /// Queues a workload timer due at `at`.
    fn timer(&mut self, at: Micros, timer: Timer);
    /// Puts operation `op` on `client`'s connection number `conn` (its `device`) at `t`
    /// and arms its timeout. `obs` is for faults the transport itself records.
    fn send<O: Observer>(&mut self, obs: &mut O, t: Micros, to: To, op: OpId, req: Request)
    -> Sent;
    /// `op` could not be sent (no connection) and was recorded as lost at `t`.
    fn unsent(&mut self, t: Micros, client: UserId, tag: Tag, req: Request);
    /// Carries out a churn admin operation invoked at `t` (after `AdminInvoke`); the
    /// driver emits `Admin` when the answer comes.
    fn admin<O: Observer>(&mut self, obs: &mut O, t: Micros, req: AdminRequest);
}

/// The shared state of a run: the workload, the history's observer, the client table and
/// the operations in flight.
pub struct Core<'o, O: Observer> {
    pub workload: Workload,
    pub obs: &'o mut O,
    pub clients: Clients,
    pub ops: Ops,
}

impl<'o, O: Observer> Core<'o, O> {
    pub fn new(workload: Workload, obs: &'o mut O, clients: Clients) -> Self {
        Core {
            workload,
            obs,
            clients,
            ops: Ops::default(),
        }
    }

    /// Carries out the workload's `actions` (emptying it); invokes are intended at
    /// `intended`.
    pub fn apply<I: Io>(&mut self, io: &mut I, intended: Micros, actions: &mut Vec<Action>) {
        for a in actions.drain(..) {
            match a {
                Action::Timer { at, timer } => io.timer(at, timer),
                Action::Invoke { client, req, tag } => {
                    self.invoke(io, intended, client, req, tag);
                }
                Action::Admin { req, kind } => self.admin(io, intended, req, kind),
                Action::Fault { kind, client } => {
                    let t = io.now(intended);
                    self.fault(t, kind, client);
                }
            }
        }
    }

    /// Invokes `req` for `client`: history records it, then it is sent, or lost at once
    /// when the client has no connection. Returns the operation's id.
    pub fn invoke<I: Io>(
        &mut self,
        io: &mut I,
        intended: Micros,
        client: UserId,
        req: Request,
        tag: Tag,
    ) -> OpId {
        let t = io.now(intended);
        let op = self.ops.next_id();
        let device = self.clients.device_for(op);
        self.obs.observe(&Event::Invoke {
            t,
            intended,
            client,
            device,
            op,
            req: &req,
        });
        let req = if self.clients.is_up(client) {
            let to = To {
                client,
                conn: self.clients.conn(client),
                device,
            };
            match io.send(self.obs, t, to, op, req) {
                Sent::Yes(kept) => {
                    self.ops.insert(
                        op,
                        InFlight {
                            client,
                            tag,
                            req: kept,
                        },
                    );
                    return op;
                }
                Sent::No(req) => req,
            }
        } else {
            req
        };
        // No connection to send on: the client fails the call at once.
        self.obs.observe(&Event::Lost { t, client, op });
        io.unsent(t, client, tag, req);
        op
    }

    /// A churn change: the fault timeline names the user, and the call is in flight
    /// (`AdminInvoke`) until the driver records its answer.
    fn admin<I: Io>(&mut self, io: &mut I, intended: Micros, req: AdminRequest, kind: FaultKind) {
        let t = io.now(intended);
        let user = match req {
            AdminRequest::AddMember { user, .. } | AdminRequest::RemoveMember { user, .. } => {
                Some(user)
            }
            _ => None,
        };
        self.fault(t, kind, user);
        self.obs.observe(&Event::AdminInvoke { t, req: &req });
        io.admin(self.obs, t, req);
    }

    pub fn fault(&mut self, t: Micros, kind: FaultKind, client: Option<UserId>) {
        self.obs.observe(&Event::Fault { t, kind, client });
    }

    /// Gives up on `op` at `t` (timeout, or its connection is gone): history says so and
    /// the workload may retry into `actions`. False if `op` was not in flight.
    pub fn lose(&mut self, t: Micros, op: OpId, actions: &mut Vec<Action>) -> bool {
        let Some(f) = self.ops.remove(op) else {
            return false;
        };
        self.obs.observe(&Event::Lost {
            t,
            client: f.client,
            op,
        });
        if let Some(req) = f.req {
            self.workload.on_lost(t, f.client, f.tag, &req, actions);
        }
        true
    }

    /// `client`'s connection is gone at `t`: history says so, the workload hears of it
    /// first (so retries of what it loses are queued for the reconnect, not sent into
    /// nothing), then its operations in flight are lost in id order. Anything still
    /// arriving from the old connection is stale. Returns the lost operations.
    pub fn cut(&mut self, t: Micros, client: UserId, actions: &mut Vec<Action>) -> Vec<OpId> {
        self.clients.cut(client);
        self.obs.observe(&Event::Disconnect { t, client });
        self.workload.on_disconnect(t, client);
        let lost = self.ops.of_client(client);
        for &op in &lost {
            self.lose(t, op, actions);
        }
        lost
    }

    /// `client` is connected again at `t`; the workload catches up into `actions`.
    pub fn reconnected(&mut self, t: Micros, client: UserId, actions: &mut Vec<Action>) {
        self.clients.up(client);
        self.fault(t, FaultKind::Reconnect, Some(client));
        self.obs.observe(&Event::Connect { t, client });
        self.workload.on_reconnect(t, client, actions);
    }

    /// The answer to `op` (already taken out of the in-flight table) reached `client`.
    pub fn complete(
        &mut self,
        t: Micros,
        op: OpId,
        f: InFlight,
        resp: Response,
        actions: &mut Vec<Action>,
    ) {
        let client = f.client;
        // The workload reacts first (it only queues actions, emitted after this event), so
        // the response can be handed over without a copy.
        self.workload.on_response(t, client, f.tag, &resp, actions);
        self.obs.observe_owned(OwnedEvent::Complete {
            t,
            client,
            op,
            resp,
        });
    }

    /// A push reached `client`'s connection `device`. The workload acts on the first
    /// device's copy only (a user reads a message once, whichever screen shows it).
    pub fn push(
        &mut self,
        t: Micros,
        client: UserId,
        device: Device,
        push: Push,
        actions: &mut Vec<Action>,
    ) {
        if device.is_first() {
            self.workload.on_push(t, client, &push, actions);
        }
        let ev = OwnedEvent::Push {
            t,
            client,
            device,
            push,
        };
        self.obs.observe_owned(ev);
    }
}
