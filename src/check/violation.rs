//! What a checker reports: which invariant broke, where, what was seen, which bound it broke.

use crate::protocol::{Micros, MsgId, UserId};
use serde::{Deserialize, Serialize};

/// The invariants of docs/semantics.md, one checker each. Names are stable (reports, tests).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// read_count + unread_count = |audience| for every group receipt observed.
    CountSum,
    /// Counts an observer sees for a message never decrease; is_peer_read never reverts.
    MonotoneCounts,
    /// A pull shows at least the receipts acknowledged before it started.
    PullLowerBound,
    /// A pull or push shows at most the receipts invoked (by audience members) before it ended.
    CountUpperBound,
    /// Member-list pages: audience members only, never repeated, nothing missed, read list
    /// only of invoked readers, unread list without acknowledged readers.
    MemberListPaging,
    /// Once quiet, pulls and fully paged member lists equal exactly what was acknowledged.
    QuietState,
    /// Every acknowledged receipt reaches the online sender as a push within the bound; every
    /// acknowledged mark-read reaches the online peer as a c2c_read push.
    Liveness,
    /// c2c_read timestamps an observer sees never decrease.
    C2cReadTimestamps,
    /// Results and error codes are the ones the rules prescribe (only audience receipts
    /// accepted, refused sends stay refused, ...).
    ResultCodes,
    /// Message ids are unique; per-conversation seqs strictly increase without gaps.
    Sequencing,
}

impl Invariant {
    pub const ALL: [Invariant; 10] = [
        Invariant::CountSum,
        Invariant::MonotoneCounts,
        Invariant::PullLowerBound,
        Invariant::CountUpperBound,
        Invariant::MemberListPaging,
        Invariant::QuietState,
        Invariant::Liveness,
        Invariant::C2cReadTimestamps,
        Invariant::ResultCodes,
        Invariant::Sequencing,
    ];

    /// Position in [`Invariant::ALL`] (declaration order), for per-invariant arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Invariant::CountSum => "count_sum",
            Invariant::MonotoneCounts => "monotone_counts",
            Invariant::PullLowerBound => "pull_lower_bound",
            Invariant::CountUpperBound => "count_upper_bound",
            Invariant::MemberListPaging => "member_list_paging",
            Invariant::QuietState => "quiet_state",
            Invariant::Liveness => "liveness",
            Invariant::C2cReadTimestamps => "c2c_read_timestamps",
            Invariant::ResultCodes => "result_codes",
            Invariant::Sequencing => "sequencing",
        }
    }

    /// Safety invariants hold at every point; liveness ones only ask that things happen.
    pub fn is_liveness(self) -> bool {
        matches!(self, Invariant::Liveness | Invariant::QuietState)
    }
}

/// One broken invariant, with enough to find and replay it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub invariant: Invariant,
    /// When it was observed (virtual or monotonic microseconds).
    pub t_us: Micros,
    /// The client whose observation broke it.
    pub client: Option<UserId>,
    pub msg: Option<MsgId>,
    /// What was observed, e.g. "push read_count=4".
    pub observed: String,
    /// The bound or rule it broke, e.g. "<= 3 receipts invoked by t".
    pub bound: String,
    /// The injected fault it follows most closely, of the server or of this client, to line
    /// it up with the fault timeline: "1.20s after crash at t=4000000us".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_fault: Option<String>,
    /// The exact command that replays the run.
    pub replay: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] t={}us", self.invariant.name(), self.t_us)?;
        if let Some(c) = self.client {
            write!(f, " client={c}")?;
        }
        if let Some(m) = self.msg {
            write!(f, " msg={m}")?;
        }
        write!(f, ": observed {}; expected {}", self.observed, self.bound)?;
        if let Some(a) = &self.after_fault {
            write!(f, " ({a})")?;
        }
        write!(f, ". Replay: {}", self.replay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, inv) in Invariant::ALL.iter().enumerate() {
            assert_eq!(inv.index(), i, "{}", inv.name());
        }
    }
}
