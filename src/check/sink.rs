//! Where violations go: the first few kept in full, every one counted.

use super::violation::{Invariant, Violation};
use crate::history::FaultKind;
use crate::protocol::{Micros, MsgId, UserId};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// One broken rule as the parts of the checker find it; the checker adds when, who and which
/// message when it hands the finding to the [`Sink`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Finding {
    pub invariant: Invariant,
    pub observed: String,
    pub bound: String,
}

impl Finding {
    pub fn new(
        invariant: Invariant,
        observed: impl Into<String>,
        bound: impl Into<String>,
    ) -> Self {
        Finding {
            invariant,
            observed: observed.into(),
            bound: bound.into(),
        }
    }
}

/// Collects violations in the order they are found.
pub(super) struct Sink {
    replay: String,
    max_recorded: usize,
    recorded: Vec<Violation>,
    total: u64,
    /// Indexed by [`Invariant::index`]: an array, so counting costs no allocation.
    by_invariant: [u64; Invariant::ALL.len()],
    recent: RecentFaults,
}

/// The latest listed fault of the server and of each client (per-frame faults are only
/// counted on the timeline, so they name no point in time).
#[derive(Default)]
struct RecentFaults {
    server: Option<(Micros, FaultKind)>,
    clients: FxHashMap<UserId, (Micros, FaultKind)>,
}

impl RecentFaults {
    fn note(&mut self, t: Micros, kind: FaultKind, client: Option<UserId>) {
        if kind.per_frame() {
            return;
        }
        match client {
            None => self.server = Some((t, kind)),
            Some(u) => {
                self.clients.insert(u, (t, kind));
            }
        }
    }

    /// The fault at or before `t` closest to it, of the server or of `client`.
    fn before(&self, t: Micros, client: Option<UserId>) -> Option<String> {
        let own = client.and_then(|u| self.clients.get(&u).copied());
        let (at, kind) = [self.server, own]
            .into_iter()
            .flatten()
            .filter(|&(at, _)| at <= t)
            .max_by_key(|&(at, _)| at)?;
        Some(format!(
            "{} after {} at t={at}us",
            crate::human::format_micros(t - at),
            kind.name()
        ))
    }
}

impl Sink {
    pub fn new(replay: String, max_recorded: usize) -> Sink {
        Sink {
            replay,
            max_recorded,
            recorded: Vec::new(),
            total: 0,
            by_invariant: [0; Invariant::ALL.len()],
            recent: RecentFaults::default(),
        }
    }

    /// An injected fault, so later violations can say what they follow.
    pub fn fault(&mut self, t: Micros, kind: FaultKind, client: Option<UserId>) {
        self.recent.note(t, kind, client);
    }

    /// Counts `f`, and keeps it in full while fewer than `max_recorded` are kept.
    pub fn report(&mut self, t: Micros, client: Option<UserId>, msg: Option<MsgId>, f: Finding) {
        self.total += 1;
        self.by_invariant[f.invariant.index()] += 1;
        if self.recorded.len() < self.max_recorded {
            self.recorded.push(Violation {
                invariant: f.invariant,
                t_us: t,
                client,
                msg,
                observed: f.observed,
                bound: f.bound,
                after_fault: self.recent.before(t, client),
                replay: self.replay.clone(),
            });
        }
    }

    /// Reports every finding of one observation, in order.
    pub fn report_all(
        &mut self,
        t: Micros,
        client: Option<UserId>,
        msg: Option<MsgId>,
        found: impl IntoIterator<Item = Finding>,
    ) {
        for f in found {
            self.report(t, client, msg, f);
        }
    }

    pub fn recorded(&self) -> &[Violation] {
        &self.recorded
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn totals_by_invariant(&self) -> &[u64; Invariant::ALL.len()] {
        &self.by_invariant
    }

    /// The invariants that broke at least once, with their counts.
    pub fn counts(&self) -> BTreeMap<Invariant, u64> {
        Invariant::ALL
            .iter()
            .map(|&inv| (inv, self.by_invariant[inv.index()]))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(inv: Invariant, observed: &str) -> Finding {
        Finding::new(inv, observed, "bound")
    }

    #[test]
    fn keeps_the_first_violations_and_counts_all() {
        let mut s = Sink::new("replay me".into(), 2);
        s.report(5, Some(UserId(1)), None, f(Invariant::CountSum, "a"));
        s.report(6, None, Some(MsgId(9)), f(Invariant::Liveness, "b"));
        s.report(7, None, None, f(Invariant::CountSum, "c"));
        assert_eq!(s.total(), 3);
        let kept: Vec<_> = s.recorded().iter().map(|v| v.observed.as_str()).collect();
        assert_eq!(kept, ["a", "b"]);
        let v = &s.recorded()[1];
        assert_eq!((v.t_us, v.client, v.msg), (6, None, Some(MsgId(9))));
        assert_eq!(v.replay, "replay me");
        assert_eq!(v.bound, "bound");
    }

    #[test]
    fn totals_by_invariant_count_past_the_recording_cap() {
        let mut s = Sink::new(String::new(), 0);
        let found = [
            f(Invariant::Sequencing, "x"),
            f(Invariant::Sequencing, "y"),
            f(Invariant::QuietState, "z"),
        ];
        s.report_all(1, None, None, found);
        assert!(s.recorded().is_empty());
        let totals = s.totals_by_invariant();
        assert_eq!(totals[Invariant::Sequencing.index()], 2);
        assert_eq!(totals[Invariant::QuietState.index()], 1);
        assert_eq!(totals.iter().sum::<u64>(), s.total());
        let counts: Vec<_> = s.counts().into_iter().collect();
        assert_eq!(
            counts,
            [(Invariant::QuietState, 1), (Invariant::Sequencing, 2)]
        );
    }

    #[test]
    fn a_violation_names_the_fault_it_follows_most_closely() {
        let f = || Finding::new(Invariant::Liveness, "no push", "a push within 5s");
        let mut s = Sink::new("r".into(), 10);
        s.report(500, Some(UserId(3)), None, f());
        s.fault(1_000_000, FaultKind::Crash, None);
        s.fault(1_500_000, FaultKind::Drop, None);
        s.fault(2_000_000, FaultKind::Disconnect, Some(UserId(3)));
        s.report(3_000_000, Some(UserId(3)), None, f());
        s.report(3_000_000, Some(UserId(4)), None, f());
        // History arrives in time order: a later fault of the client is the one to name.
        s.fault(9_000_000, FaultKind::Stall, Some(UserId(3)));
        s.report(10_000_000, Some(UserId(3)), None, f());
        let after: Vec<Option<&str>> = s
            .recorded()
            .iter()
            .map(|v| v.after_fault.as_deref())
            .collect();
        assert_eq!(
            after,
            [
                None,
                Some("1.00s after disconnect at t=2000000us"),
                Some("2.00s after crash at t=1000000us"),
                Some("1.00s after stall at t=9000000us"),
            ]
        );
        assert!(
            s.recorded()[1]
                .to_string()
                .contains("(1.00s after disconnect")
        );
    }
}
