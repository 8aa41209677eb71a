//! Where violations go: the first few kept in full, every one counted.

use super::violation::{Invariant, Violation};
use crate::protocol::{Micros, MsgId, UserId};
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
}

impl Sink {
    pub fn new(replay: String, max_recorded: usize) -> Sink {
        Sink {
            replay,
            max_recorded,
            recorded: Vec::new(),
            total: 0,
            by_invariant: [0; Invariant::ALL.len()],
        }
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
}
