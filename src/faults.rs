//! The fault plan of a run: the effective fault parameters (after `swarm` drew the mix) and
//! the schedule of whole-connection and whole-server faults (disconnects, stalls, crashes),
//! all drawn from the seed before the run starts, so both drivers inject the same faults and
//! a failing seed reproduces them. Per-frame faults (drop, duplicate, reorder, delay) are
//! drawn by the simulated network from each frame's own stream.

use crate::dist::{next_arrival, sample_delay};
use crate::protocol::{Micros, UserId};
use crate::rng::{Purpose, Streams};
use crate::scenario::{FAULT_KNOBS, Faults, Scenario};
use rand::RngExt;
use serde::Serialize;

/// A fault at a point in time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Scheduled {
    pub at: Micros,
    pub what: ScheduledFault,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduledFault {
    /// `client`'s connection is cut; it reconnects after `offline` (later if the server is
    /// down then). Skipped if the client is not connected at that moment.
    Disconnect { client: UserId, offline: Micros },
    /// `client`'s connection forwards nothing for `length`, then everything in order.
    Stall { client: UserId, length: Micros },
    /// The server crashes and is back after `downtime`.
    Crash { downtime: Micros },
}

/// What faults a run injects.
#[derive(Clone, Debug, Serialize)]
pub struct FaultPlan {
    /// The effective parameters (the scenario's, or the mix swarm drew from them).
    pub faults: Faults,
    /// End of the fault phase (virtual or run-relative microseconds).
    pub until: Micros,
    /// Whether there is a fault phase at all.
    pub active: bool,
    /// Connection and server faults in time order.
    pub schedule: Vec<Scheduled>,
}

impl FaultPlan {
    /// Draws the plan of `scenario` for `seed`. `online` lists the users that connect.
    pub fn draw(scenario: &Scenario, seed: u64, online: &[UserId]) -> FaultPlan {
        let streams = Streams::new(seed);
        let mut faults = scenario.faults.clone();
        if faults.swarm {
            swarm(&mut faults, &streams);
        }
        let until = faults.until_micros(scenario.duration);
        let active = scenario.faults.any();
        let mut schedule = Vec::new();
        if active && !online.is_empty() {
            let mut rng = streams.rng(Purpose::Faults, 1);
            let mut t = 0;
            while let Some(dt) = next_arrival(faults.disconnects_per_minute / 60.0, &mut rng) {
                t += dt;
                if t >= until {
                    break;
                }
                let client = online[rng.random_range(0..online.len())];
                let offline = sample_delay(&faults.offline, &mut rng).max(1);
                schedule.push(Scheduled {
                    at: t,
                    what: ScheduledFault::Disconnect { client, offline },
                });
            }
            let mut rng = streams.rng(Purpose::Faults, 2);
            let mut t = 0;
            while let Some(dt) = next_arrival(faults.stalls_per_minute / 60.0, &mut rng) {
                t += dt;
                if t >= until {
                    break;
                }
                let client = online[rng.random_range(0..online.len())];
                let length = sample_delay(&faults.stall, &mut rng).max(1);
                schedule.push(Scheduled {
                    at: t,
                    what: ScheduledFault::Stall { client, length },
                });
            }
            // Crashes at evenly spread, jittered points, each back before the phase ends.
            let downtime = faults.downtime.micros.max(1);
            let span = until.saturating_sub(downtime);
            let n = u64::from(faults.crashes);
            let mut rng = streams.rng(Purpose::Faults, 3);
            for i in 0..n {
                let slot = span / n.max(1);
                if slot <= downtime {
                    break;
                }
                let at = slot * i + rng.random_range(slot / 4..slot - downtime);
                schedule.push(Scheduled {
                    at,
                    what: ScheduledFault::Crash { downtime },
                });
            }
        }
        // Stable order: time, then kind order of drawing (sort is stable).
        schedule.sort_by_key(|s| s.at);
        FaultPlan {
            faults,
            until,
            active,
            schedule,
        }
    }

    /// The effective parameters in one line, for the reports' fault list.
    pub fn describe(&self) -> String {
        let f = &self.faults;
        let knobs: Vec<String> = FAULT_KNOBS
            .iter()
            .map(|k| format!("{} {}", k.label(), k.show(f)))
            .collect();
        format!(
            "fault phase until {}; {}{}",
            crate::scenario::Dur::from_micros(self.until),
            knobs.join(", "),
            if f.swarm { " (drawn by swarm)" } else { "" }
        )
    }
}

/// Swarm testing: each fault kind is kept with probability 1/2 and its intensity scaled by
/// a factor in [0.1, 1], so a sweep over seeds explores fault combinations, including runs
/// where one kind acts alone.
fn swarm(f: &mut Faults, streams: &Streams) {
    let mut rng = streams.rng(Purpose::Faults, 0);
    for k in &FAULT_KNOBS {
        let v = (k.get)(f);
        let v = if rng.random_bool(0.5) {
            v * rng.random_range(0.1..=1.0)
        } else {
            0.0
        };
        (k.set)(f, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Dur;

    fn scenario(f: impl FnOnce(&mut Faults)) -> Scenario {
        let mut s =
            crate::scenario::parse_str("name = \"t\"\nduration = \"10m\"\n", "test").unwrap();
        f(&mut s.faults);
        s
    }

    fn online() -> Vec<UserId> {
        (0..50).map(UserId).collect()
    }

    #[test]
    fn no_faults_no_schedule() {
        let p = FaultPlan::draw(&scenario(|_| {}), 1, &online());
        assert!(!p.active);
        assert!(p.schedule.is_empty());
        assert_eq!(p.until, 400_000_000);
    }

    #[test]
    fn schedule_is_seeded_in_the_fault_phase_and_sorted() {
        let s = scenario(|f| {
            f.disconnects_per_minute = 6.0;
            f.stalls_per_minute = 3.0;
            f.crashes = 3;
            f.until = Some(Dur::from_secs(300));
        });
        let a = FaultPlan::draw(&s, 7, &online());
        let b = FaultPlan::draw(&s, 7, &online());
        let c = FaultPlan::draw(&s, 8, &online());
        assert_eq!(a.schedule, b.schedule);
        assert_ne!(a.schedule, c.schedule);
        assert!(a.schedule.windows(2).all(|w| w[0].at <= w[1].at));
        let crashes: Vec<_> = a
            .schedule
            .iter()
            .filter(|s| matches!(s.what, ScheduledFault::Crash { .. }))
            .collect();
        assert_eq!(crashes.len(), 3);
        for s in &a.schedule {
            assert!(s.at < 300_000_000, "{s:?} after the fault phase");
            if let ScheduledFault::Crash { downtime } = s.what {
                assert!(s.at + downtime < 300_000_000);
            }
        }
        let disconnects = a
            .schedule
            .iter()
            .filter(|s| matches!(s.what, ScheduledFault::Disconnect { .. }))
            .count();
        // ~6 per minute over 5 minutes.
        assert!((10..=60).contains(&disconnects), "{disconnects}");
    }

    #[test]
    fn swarm_switches_kinds_off_and_scales_the_rest() {
        let s = scenario(|f| {
            f.swarm = true;
            f.drop = 0.1;
            f.duplicate = 0.1;
            f.reorder = 0.1;
            f.delay = 0.1;
            f.disconnects_per_minute = 1.0;
            f.crashes = 4;
        });
        let mut off = 0;
        let mut on = 0;
        for seed in 0..40 {
            let p = FaultPlan::draw(&s, seed, &online());
            for v in [
                p.faults.drop,
                p.faults.duplicate,
                p.faults.reorder,
                p.faults.delay,
            ] {
                assert!((0.0..=0.1).contains(&v));
                if v == 0.0 { off += 1 } else { on += 1 }
            }
        }
        assert!(off > 20 && on > 20, "off {off} on {on}");
    }
}
