//! The fault log: every `Fault` event of a history, for the report's fault timeline. Per-frame
//! faults (drops, duplicates, reorders, delays) are frequent, so they are counted; the rest
//! (stalls, cuts, reconnects, crashes, bursts, churn) are listed in time order, up to a cap.

use super::{Event, FaultKind, Observer};
use crate::protocol::{Micros, UserId};
use std::collections::BTreeMap;

/// At most this many faults are listed one by one (all are counted).
pub const MAX_LISTED: usize = 5000;

#[derive(Clone, Debug, Default)]
pub struct FaultLog {
    /// Every fault by kind.
    pub counts: BTreeMap<FaultKind, u64>,
    /// Connection, server, burst and churn faults: (time, kind, client).
    pub listed: Vec<(Micros, FaultKind, Option<UserId>)>,
    /// When the fault phase ended, if the history says.
    pub calm_at: Option<Micros>,
}

impl FaultLog {
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }
}

impl Observer for FaultLog {
    fn observe(&mut self, ev: &Event<'_>) {
        match *ev {
            Event::Fault { t, kind, client } => {
                *self.counts.entry(kind).or_insert(0) += 1;
                if !kind.per_frame() && self.listed.len() < MAX_LISTED {
                    self.listed.push((t, kind, client));
                }
            }
            Event::Calm { t } => self.calm_at = Some(t),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_fault_and_lists_the_rare_ones() {
        let mut log = FaultLog::default();
        for t in 0..10 {
            log.observe(&Event::Fault {
                t,
                kind: FaultKind::Drop,
                client: Some(UserId(1)),
            });
        }
        log.observe(&Event::Fault {
            t: 20,
            kind: FaultKind::Crash,
            client: None,
        });
        log.observe(&Event::Calm { t: 30 });
        assert_eq!(log.counts[&FaultKind::Drop], 10);
        assert_eq!(log.total(), 11);
        assert_eq!(log.listed, vec![(20, FaultKind::Crash, None)]);
        assert_eq!(log.calm_at, Some(30));
    }
}
