//! Events that own their payloads, for observers that keep or ship events (e.g. to another
//! thread). `as_event` lends them out as ordinary borrowed [`Event`]s.

use super::{Device, Event, FaultKind, OpId};
use crate::protocol::{AdminRequest, Micros, Push, Request, Response, UserId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedEvent {
    Admin {
        t: Micros,
        invoked: Micros,
        req: AdminRequest,
        resp: Response,
    },
    AdminInvoke {
        t: Micros,
        req: AdminRequest,
    },
    Connect {
        t: Micros,
        client: UserId,
    },
    Disconnect {
        t: Micros,
        client: UserId,
    },
    Invoke {
        t: Micros,
        intended: Micros,
        client: UserId,
        device: Device,
        op: OpId,
        req: Request,
    },
    Complete {
        t: Micros,
        client: UserId,
        op: OpId,
        resp: Response,
    },
    Push {
        t: Micros,
        client: UserId,
        device: Device,
        push: Push,
    },
    Lost {
        t: Micros,
        client: UserId,
        op: OpId,
    },
    Fault {
        t: Micros,
        kind: FaultKind,
        client: Option<UserId>,
    },
    Calm {
        t: Micros,
    },
    Quiet {
        t: Micros,
    },
    End {
        t: Micros,
    },
}

impl OwnedEvent {
    pub fn as_event(&self) -> Event<'_> {
        match self {
            OwnedEvent::Admin {
                t,
                invoked,
                req,
                resp,
            } => Event::Admin {
                t: *t,
                invoked: *invoked,
                req,
                resp,
            },
            OwnedEvent::AdminInvoke { t, req } => Event::AdminInvoke { t: *t, req },
            OwnedEvent::Lost { t, client, op } => Event::Lost {
                t: *t,
                client: *client,
                op: *op,
            },
            OwnedEvent::Fault { t, kind, client } => Event::Fault {
                t: *t,
                kind: *kind,
                client: *client,
            },
            OwnedEvent::Calm { t } => Event::Calm { t: *t },
            OwnedEvent::Connect { t, client } => Event::Connect {
                t: *t,
                client: *client,
            },
            OwnedEvent::Disconnect { t, client } => Event::Disconnect {
                t: *t,
                client: *client,
            },
            OwnedEvent::Invoke {
                t,
                intended,
                client,
                device,
                op,
                req,
            } => Event::Invoke {
                t: *t,
                intended: *intended,
                client: *client,
                device: *device,
                op: *op,
                req,
            },
            OwnedEvent::Complete {
                t,
                client,
                op,
                resp,
            } => Event::Complete {
                t: *t,
                client: *client,
                op: *op,
                resp,
            },
            OwnedEvent::Push {
                t,
                client,
                device,
                push,
            } => Event::Push {
                t: *t,
                client: *client,
                device: *device,
                push,
            },
            OwnedEvent::Quiet { t } => Event::Quiet { t: *t },
            OwnedEvent::End { t } => Event::End { t: *t },
        }
    }
}

impl From<&Event<'_>> for OwnedEvent {
    fn from(ev: &Event<'_>) -> OwnedEvent {
        match *ev {
            Event::Admin {
                t,
                invoked,
                req,
                resp,
            } => OwnedEvent::Admin {
                t,
                invoked,
                req: req.clone(),
                resp: resp.clone(),
            },
            Event::Connect { t, client } => OwnedEvent::Connect { t, client },
            Event::Disconnect { t, client } => OwnedEvent::Disconnect { t, client },
            Event::Invoke {
                t,
                intended,
                client,
                device,
                op,
                req,
            } => OwnedEvent::Invoke {
                t,
                intended,
                client,
                device,
                op,
                req: req.clone(),
            },
            Event::Complete {
                t,
                client,
                op,
                resp,
            } => OwnedEvent::Complete {
                t,
                client,
                op,
                resp: resp.clone(),
            },
            Event::Push {
                t,
                client,
                device,
                push,
            } => OwnedEvent::Push {
                t,
                client,
                device,
                push: push.clone(),
            },
            Event::AdminInvoke { t, req } => OwnedEvent::AdminInvoke {
                t,
                req: req.clone(),
            },
            Event::Lost { t, client, op } => OwnedEvent::Lost { t, client, op },
            Event::Fault { t, kind, client } => OwnedEvent::Fault { t, kind, client },
            Event::Calm { t } => OwnedEvent::Calm { t },
            Event::Quiet { t } => OwnedEvent::Quiet { t },
            Event::End { t } => OwnedEvent::End { t },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_borrowed_events() {
        let req = Request::MarkC2cRead { peer: UserId(2) };
        let ev = Event::Invoke {
            t: 5,
            intended: 4,
            client: UserId(1),
            device: Device(1),
            op: 9,
            req: &req,
        };
        let owned = OwnedEvent::from(&ev);
        assert_eq!(owned.as_event(), ev);
    }
}
