//! D1 (docs/semantics.md): a push to a user reaches every connection the user holds
//! (`[population] devices`). Pushes are compared by content: the first copy of a push that
//! reaches any device of a user opens an entry; the others' copies tick their device off;
//! once the liveness bound has passed, every device must have ticked, if the user was
//! connected throughout (from the bound before the first copy to the deadline: a device that
//! connected later may have missed a push the server sent before). A run with one device per
//! user has nothing to compare: this part then does nothing.

use super::sink::{Finding, Sink};
use super::violation::Invariant;
use super::world::World;
use crate::history::Device;
use crate::protocol::{Micros, MsgId, Push, ReceiptEntry, UserId};
use rustc_hash::{FxHashMap, FxHasher};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

/// One push (by content) to one user: when and where it was first seen, which devices got
/// it, and whether it is owed to all of them.
struct Seen {
    first: Micros,
    device: Device,
    /// Bit d: device d got a copy.
    got: u8,
    /// The user's connection epoch when it was connected throughout since the bound
    /// before `first` and the fault phase was over by then (None: not judged).
    epoch: Option<u32>,
    kind: &'static str,
    msg: Option<MsgId>,
}

pub(super) struct Devices {
    devices: u8,
    bound: Micros,
    /// When the fault phase ended (`Calm`; 0 without one, None while it lasts).
    calm_at: Option<Micros>,
    /// Per (user, fingerprint of the push's content).
    seen: FxHashMap<(UserId, u64), Seen>,
    /// Deadlines in first-sighting order (times never go back, so this FIFO is sorted).
    due: VecDeque<(Micros, UserId, u64)>,
}

impl Devices {
    pub fn new(devices: u8, bound: Micros, fault_phase: bool) -> Devices {
        Devices {
            devices,
            bound,
            calm_at: (!fault_phase).then_some(0),
            seen: FxHashMap::default(),
            due: VecDeque::new(),
        }
    }

    pub fn calm(&mut self, t: Micros) {
        self.calm_at.get_or_insert(t);
    }

    /// `device` of `u` got `push` at `t`.
    pub fn on_push(&mut self, t: Micros, u: UserId, device: Device, push: &Push, world: &World) {
        if self.devices < 2 {
            return;
        }
        let key = (u, fingerprint(push));
        let bit = 1u8 << device.0.min(7);
        if let Some(s) = self.seen.get_mut(&key) {
            s.got |= bit;
            return;
        }
        let since = t.saturating_sub(self.bound);
        let calm = self.calm_at.is_some_and(|c| c <= since);
        let (kind, msg) = describe(push);
        let seen = Seen {
            first: t,
            device,
            got: bit,
            epoch: calm.then(|| world.online_throughout(u, since)).flatten(),
            kind,
            msg,
        };
        self.seen.insert(key, seen);
        self.due.push_back((t + self.bound, u, key.1));
    }

    /// Judges the entries whose deadline passed before `t` (all when `t` is None); returns
    /// how many were judged (D1's coverage).
    pub fn expire(&mut self, t: Option<Micros>, world: &World, sink: &mut Sink) -> u64 {
        let mut judged = 0;
        while let Some(&(at, u, fp)) = self.due.front() {
            if t.is_some_and(|t| at >= t) {
                break;
            }
            self.due.pop_front();
            let Some(s) = self.seen.remove(&(u, fp)) else {
                continue;
            };
            if !s.epoch.is_some_and(|e| world.still_online(u, e)) {
                continue;
            }
            judged += 1;
            let all = (1u16 << self.devices) - 1;
            if u16::from(s.got) != all {
                let f = self.missed(at, &s, all as u8);
                sink.report(at, Some(u), s.msg, f);
            }
        }
        judged
    }

    fn missed(&self, at: Micros, s: &Seen, all: u8) -> Finding {
        let missing: Vec<String> = (0..self.devices)
            .filter(|d| (all & !s.got) & (1 << d) != 0)
            .map(|d| Device(d).to_string())
            .collect();
        let observed = format!(
            "{} reached {} at t={}us; {} of the same user, connected throughout, never got it",
            s.kind,
            s.device,
            s.first,
            missing.join(", ")
        );
        let bound = format!(
            "D1: a push reaches every connection its user holds, within the liveness bound of \
             {}us (deadline t={at}us)",
            self.bound
        );
        Finding::new(Invariant::Liveness, observed, bound)
    }
}

/// The push's content as one number (FxHash: the same on every run of one build).
fn fingerprint(push: &Push) -> u64 {
    let mut h = FxHasher::default();
    push.hash(&mut h);
    h.finish()
}

/// The push's kind and the message it is about, for a violation's text.
fn describe(push: &Push) -> (&'static str, Option<MsgId>) {
    let msg = match push {
        Push::NewMessage { msg_id, .. } => Some(*msg_id),
        Push::Receipts { entries } => entries.first().map(ReceiptEntry::msg_id),
        Push::C2cRead { .. } => None,
    };
    (push.kind_name(), msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(ts: u64) -> Push {
        Push::C2cRead {
            user_id: UserId(9),
            timestamp_ms: ts,
        }
    }

    /// A world where user 1 connected at `at`.
    fn world(at: Micros) -> World {
        let mut w = World::default();
        w.connect(at, UserId(1));
        w
    }

    #[test]
    fn a_push_every_device_got_holds_and_one_a_device_missed_is_a_violation() {
        let w = world(0);
        let mut d = Devices::new(2, 100, false);
        let mut sink = Sink::new(String::new(), 10);
        let u = UserId(1);
        d.on_push(200, u, Device(1), &push(1), &w);
        d.on_push(210, u, Device(0), &push(1), &w);
        d.on_push(220, u, Device(0), &push(2), &w);
        assert_eq!(d.expire(Some(301), &w, &mut sink), 1);
        assert_eq!(sink.total(), 0);
        assert_eq!(d.expire(None, &w, &mut sink), 1);
        assert_eq!(sink.total(), 1);
        let v = &sink.recorded()[0];
        assert_eq!((v.invariant, v.client), (Invariant::Liveness, Some(u)));
        assert!(v.observed.contains("device 1 of the same user"), "{v}");
        assert!(v.bound.starts_with("D1:"), "{v}");
    }

    #[test]
    fn no_judgement_for_a_device_that_connected_late_or_left_or_during_faults() {
        let u = UserId(1);
        let mut sink = Sink::new(String::new(), 10);
        // Connected less than the bound before the push.
        let mut d = Devices::new(2, 100, false);
        d.on_push(150, u, Device(0), &push(1), &world(100));
        assert_eq!(d.expire(None, &world(100), &mut sink), 0);
        // Disconnected before the deadline.
        let mut w = world(0);
        let mut d = Devices::new(2, 100, false);
        d.on_push(150, u, Device(0), &push(1), &w);
        w.disconnect(u);
        assert_eq!(d.expire(None, &w, &mut sink), 0);
        // Seen during the fault phase, or within the bound after it ended.
        let w = world(0);
        let mut d = Devices::new(2, 100, true);
        d.on_push(150, u, Device(0), &push(1), &w);
        d.calm(200);
        d.on_push(250, u, Device(0), &push(2), &w);
        d.on_push(300, u, Device(0), &push(3), &w);
        assert_eq!(d.expire(None, &w, &mut sink), 1);
        assert_eq!(sink.total(), 1);
        // One device: nothing to compare.
        let mut d = Devices::new(1, 100, false);
        d.on_push(150, u, Device(0), &push(1), &w);
        assert_eq!(d.expire(None, &w, &mut sink), 0);
    }
}
