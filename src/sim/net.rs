//! The simulated network: per-client links with in-order delivery (each like one TCP
//! connection) and the per-frame faults of the fault phase, each frame's draws from its own
//! stream position so one frame's fault never shifts another's.

use crate::dist::sample_delay;
use crate::history::{Device, FaultKind};
use crate::protocol::{Micros, UserId};
use crate::rng::{Purpose, Stream, Streams};
use crate::scenario::{DelayDist, Faults};
use rand::RngExt;

/// Which way a frame travels, and what it is.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum Frame {
    Request { idempotent: bool },
    Response,
    Push,
}

/// What the network does with one frame: when it arrives (None: lost), whether a second
/// copy arrives too, and which fault (if any) it suffered.
pub(super) struct Fate {
    pub at: Option<Micros>,
    pub dup_at: Option<Micros>,
    pub fault: Option<FaultKind>,
}

/// Per-client links with in-order delivery (each like one TCP connection), plus the
/// per-frame faults of the fault phase.
pub(super) struct Network {
    latency: DelayDist,
    /// Effective fault parameters and the end of the fault phase (None: no faults).
    faults: Option<(Faults, Micros)>,
    /// One ChaCha stream per link (stream id = client); frame k of a link reads its stream
    /// from block 4k. Random access keeps no per-link generator in memory (100k links would
    /// be ~12 MB of generator state touched at random).
    up_rng: Stream,
    down_rng: Stream,
    /// Both links of each client's connection, side by side (one cache line per frame):
    /// device 0's of every client first, then device 1's, ... (`[population] devices`).
    links: Vec<Links>,
    users: usize,
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
    pub fn new(
        latency: DelayDist,
        faults: Option<(Faults, Micros)>,
        seed: u64,
        users: usize,
        devices: u8,
    ) -> Network {
        let streams = Streams::new(seed);
        Network {
            latency,
            faults,
            up_rng: streams.rng(Purpose::NetUp, 0),
            down_rng: streams.rng(Purpose::NetDown, 0),
            links: vec![Links::default(); users * usize::from(devices.max(1))],
            users,
        }
    }

    /// Sends `frame` on `client`'s connection `device`. Device 0's links read the
    /// client's stream (as before devices existed); device d's read stream `d << 32 |
    /// client`, which no client id reaches.
    pub fn send(&mut self, now: Micros, client: UserId, device: Device, frame: Frame) -> Fate {
        let up = matches!(frame, Frame::Request { .. });
        let l = &mut self.links[usize::from(device.0) * self.users + client.0 as usize];
        let (free, frames, rng) = if up {
            (&mut l.up_free, &mut l.up_frames, &mut self.up_rng)
        } else {
            (&mut l.down_free, &mut l.down_frames, &mut self.down_rng)
        };
        // Four 16-word ChaCha blocks per frame: more than the latency and fault draws use.
        rng.seek(u64::from(device.0) << 32 | u64::from(client.0), *frames * 4);
        *frames += 1;
        let lat = sample_delay(&self.latency, rng);
        let mut fate = Fate {
            at: None,
            dup_at: None,
            fault: None,
        };
        let Some((f, _)) = self.faults.as_ref().filter(|(_, until)| now < *until) else {
            let at = (now + lat).max(*free);
            *free = at;
            fate.at = Some(at);
            return fate;
        };
        // Every draw happens in the same order whatever the outcome, so one frame's fault
        // never shifts another frame's draws.
        let drop = rng.random_bool(f.drop);
        let delay = rng.random_bool(f.delay);
        let extra = sample_delay(&f.extra_delay, rng);
        let reorder = rng.random_bool(f.reorder);
        let dup = rng.random_bool(f.duplicate);
        let dup_lat = sample_delay(&self.latency, rng);
        let extra = if delay { extra } else { 0 };
        if drop && frame != Frame::Push {
            // A push is never lost alone: on a real connection only a cut loses it.
            fate.fault = Some(FaultKind::Drop);
            return fate;
        }
        let at = if reorder && up {
            fate.fault = Some(FaultKind::Reorder);
            now + lat + extra
        } else {
            let at = (now + lat + extra).max(*free);
            *free = at;
            at
        };
        if delay && fate.fault.is_none() {
            fate.fault = Some(FaultKind::Delay);
        }
        fate.at = Some(at);
        let may_dup = matches!(frame, Frame::Request { idempotent: true } | Frame::Push);
        if dup && may_dup {
            fate.fault = Some(FaultKind::Duplicate);
            fate.dup_at = Some(if up {
                now + dup_lat
            } else {
                let d = (at + 1).max(*free);
                *free = d;
                d
            });
        }
        fate
    }

    /// Holds both links of every connection of `client` until `until` (a stall).
    pub fn stall(&mut self, client: UserId, until: Micros) {
        let at = client.0 as usize;
        for l in self.links.iter_mut().skip(at).step_by(self.users.max(1)) {
            l.up_free = l.up_free.max(until);
            l.down_free = l.down_free.max(until);
        }
    }
}
