//! History: the timestamped events of a run, in the order they happened. Drivers emit them,
//! checkers and metrics consume them as a stream; neither knows which driver or target
//! produced them. Events borrow their payloads so streaming costs no copies.

mod fault_log;
mod msg_map;
mod owned;
pub use fault_log::FaultLog;
pub use msg_map::MsgMap;
pub use owned::OwnedEvent;

use crate::protocol::{AdminRequest, Micros, Push, Request, Response, UserId};
use std::hash::{Hash, Hasher};

/// Identifies one operation of one run (unique across clients).
pub type OpId = u64;

/// Which of a user's connections (`[population] devices`): 0 is the first, the one a user
/// with one connection has. Observers that judge a user as one client (the checker's
/// rules, the metrics, the workload) look at device 0's pushes; the per-device rule D1 looks
/// at all of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Device(pub u8);

impl Device {
    /// The first connection of a user.
    pub const FIRST: Device = Device(0);

    pub fn is_first(self) -> bool {
        self.0 == 0
    }
}

/// Device 0 hashes to nothing, so a run with one connection per user keeps the trace hash
/// it had before devices existed (equal devices still hash equally).
impl Hash for Device {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if self.0 != 0 {
            self.0.hash(h);
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "device {}", self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event<'a> {
    /// An administrative request and its answer (provisioning, churn): it took effect at
    /// some instant in `invoked..=t` (the simulator applies it atomically: `invoked == t`).
    Admin {
        t: Micros,
        invoked: Micros,
        req: &'a AdminRequest,
        resp: &'a Response,
    },
    /// An administrative request was sent (churn in live runs, where it takes time); its
    /// `Admin` event follows when it completes.
    AdminInvoke { t: Micros, req: &'a AdminRequest },
    /// `client` opened its connection and will receive pushes from now on.
    Connect { t: Micros, client: UserId },
    /// `client` closed its connection; it receives no pushes until it connects again.
    Disconnect { t: Micros, client: UserId },
    /// `client` started operation `op` on its connection `device`. `intended` is when the
    /// schedule wanted it to start (latency counts from there, wrk2-style); `t >= intended`.
    Invoke {
        t: Micros,
        intended: Micros,
        client: UserId,
        device: Device,
        op: OpId,
        req: &'a Request,
    },
    /// Operation `op` of `client` got its response.
    Complete {
        t: Micros,
        client: UserId,
        op: OpId,
        resp: &'a Response,
    },
    /// `client` received a push on its connection `device` (0 when the user holds one
    /// connection, `[population] devices`).
    Push {
        t: Micros,
        client: UserId,
        device: Device,
        push: &'a Push,
    },
    /// `client` gave up on operation `op` (timed out, or its connection closed first): the
    /// operation may or may not have taken effect, and it gets no response.
    Lost { t: Micros, client: UserId, op: OpId },
    /// A fault was injected (or a churn change made), for the report's fault timeline.
    /// `client` is the client concerned, if one is.
    Fault {
        t: Micros,
        kind: FaultKind,
        client: Option<UserId>,
    },
    /// The fault phase is over: no faults from here on, so liveness is enforced strictly.
    Calm { t: Micros },
    /// The workload stops starting new work; what follows are final checks, then `End`.
    Quiet { t: Micros },
    /// Nothing is in flight any more.
    End { t: Micros },
}

impl Event<'_> {
    pub fn time(&self) -> Micros {
        match *self {
            Event::Admin { t, .. }
            | Event::AdminInvoke { t, .. }
            | Event::Connect { t, .. }
            | Event::Disconnect { t, .. }
            | Event::Invoke { t, .. }
            | Event::Complete { t, .. }
            | Event::Push { t, .. }
            | Event::Lost { t, .. }
            | Event::Fault { t, .. }
            | Event::Calm { t }
            | Event::Quiet { t }
            | Event::End { t } => t,
        }
    }
}

/// Kinds of injected faults and churn changes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A request or response was lost.
    Drop,
    /// A request or push was delivered twice.
    Duplicate,
    /// A request overtook earlier ones.
    Reorder,
    /// A frame was held up by an extra delay.
    Delay,
    /// A connection stopped forwarding for a while.
    Stall,
    /// A client's connection was cut.
    Disconnect,
    /// A client connected again after a cut or a crash.
    Reconnect,
    /// The server crashed (every connection dropped, in-flight work lost).
    Crash,
    /// The server is back, with what it had acknowledged.
    Restart,
    /// Every online member of a large group reads one message at once.
    Burst,
    /// A user joined a group.
    Join,
    /// A member left a group.
    Leave,
    /// An admin removed a member from a group.
    Kick,
    /// A user who left or was kicked joined the group again.
    Rejoin,
}

impl FaultKind {
    pub const ALL: [FaultKind; 14] = [
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Reorder,
        FaultKind::Delay,
        FaultKind::Stall,
        FaultKind::Disconnect,
        FaultKind::Reconnect,
        FaultKind::Crash,
        FaultKind::Restart,
        FaultKind::Burst,
        FaultKind::Join,
        FaultKind::Leave,
        FaultKind::Kick,
        FaultKind::Rejoin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Reorder => "reorder",
            FaultKind::Delay => "delay",
            FaultKind::Stall => "stall",
            FaultKind::Disconnect => "disconnect",
            FaultKind::Reconnect => "reconnect",
            FaultKind::Crash => "crash",
            FaultKind::Restart => "restart",
            FaultKind::Burst => "burst",
            FaultKind::Join => "join",
            FaultKind::Leave => "leave",
            FaultKind::Kick => "kick",
            FaultKind::Rejoin => "rejoin",
        }
    }

    /// Per-frame faults are frequent: the fault log counts them instead of listing each.
    pub fn per_frame(self) -> bool {
        matches!(
            self,
            FaultKind::Drop | FaultKind::Duplicate | FaultKind::Reorder | FaultKind::Delay
        )
    }
}

/// Something that consumes history as it is produced.
pub trait Observer {
    fn observe(&mut self, ev: &Event<'_>);

    /// Takes an event whose payload the driver no longer needs (saves a copy where the
    /// observer keeps events, e.g. `crate::pipe::Pipe`).
    fn observe_owned(&mut self, ev: OwnedEvent) {
        self.observe(&ev.as_event());
    }
}

/// A stable fingerprint of a whole event trace, for the determinism self-check: each event's
/// `Hash` encoding through an unkeyed FxHasher (same bytes on every run of one build), folded
/// into a running FNV-style chain so event order matters.
#[derive(Clone, Debug, Default)]
pub struct TraceHash {
    chain: u64,
    pub events: u64,
}

impl TraceHash {
    pub fn value(&self) -> u64 {
        self.chain
    }
}

impl Observer for TraceHash {
    fn observe(&mut self, ev: &Event<'_>) {
        let mut h = rustc_hash::FxHasher::default();
        ev.hash(&mut h);
        self.chain = (self.chain ^ h.finish()).wrapping_mul(0x0000_0100_0000_01b3);
        self.events += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_hash_tells_traces_apart() {
        let mut a = TraceHash::default();
        let mut b = TraceHash::default();
        let mut c = TraceHash::default();
        a.observe(&Event::Quiet { t: 5 });
        b.observe(&Event::Quiet { t: 5 });
        c.observe(&Event::Quiet { t: 6 });
        assert_eq!(a.value(), b.value());
        assert_ne!(a.value(), c.value());
        assert_eq!(a.events, 1);
    }

    #[test]
    fn device_zero_hashes_to_nothing_and_other_devices_apart() {
        let hash = |v: &dyn Fn(&mut rustc_hash::FxHasher)| {
            let mut h = rustc_hash::FxHasher::default();
            v(&mut h);
            h.finish()
        };
        let bare = hash(&|h| 7u64.hash(h));
        assert_eq!(hash(&|h| (7u64, Device::FIRST).hash(h)), bare);
        assert_ne!(hash(&|h| (7u64, Device(1)).hash(h)), bare);
        assert_ne!(
            hash(&|h| (7u64, Device(1)).hash(h)),
            hash(&|h| (7u64, Device(2)).hash(h))
        );
    }
}
