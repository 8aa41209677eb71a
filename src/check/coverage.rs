//! Rule coverage: how many times the run put each rule of docs/semantics.md (and each error
//! code) to the test in a way that a violation would have been seen. The other parts count
//! into one [`Coverage`] (an array increment per test: nothing allocates on the hot path);
//! [`Coverage::table`] turns the counts into the reports' table, and [`Coverage::missing`]
//! into the gate of `[checks] require_coverage`.
//!
//! Tests that need a later observation (a repeated receipt counts for R6 only once its
//! message's count is observed afterwards) leave a probe bit on the message, which the next
//! observation of its count turns into a count.

use super::book::{Audience, MsgState};
use super::expect::Expect;
use super::marks::Marks;
use super::violation::Invariant;
use super::world::World;
use crate::protocol::{ConvKey, ErrorCode, MAX_BATCH, MsgId, Profile, ReceiptEntry};
use crate::scenario::{Check, RequireCoverage, Rule};
use serde::{Deserialize, Serialize};

/// Probe bits on a message: tests that count once its count is observed.
pub(super) const PROBE_REPEAT: u8 = 1;
pub(super) const PROBE_REFUSED: u8 = 2;
pub(super) const PROBE_OUTSIDER: u8 = 4;

/// Error codes the checker can expect (so judge): the others are wire, auth or admin level.
const JUDGED_CODES: [ErrorCode; 15] = [
    ErrorCode::MessageNotFound,
    ErrorCode::BatchSize,
    ErrorCode::MixedConversations,
    ErrorCode::CountOutOfRange,
    ErrorCode::UserNotFound,
    ErrorCode::GroupNotFound,
    ErrorCode::NotGroupMember,
    ErrorCode::ReceiptsDisabledForGroupType,
    ErrorCode::GroupTooLargeForReceipts,
    ErrorCode::NotInAudience,
    ErrorCode::ReceiptNotRequested,
    ErrorCode::ReaderLeftGroup,
    ErrorCode::NotMessageSender,
    ErrorCode::NotGroupMessage,
    ErrorCode::SelfConversation,
];

/// Counts per rule and per expected error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    rules: [u64; Rule::ALL.len()],
    codes: [u64; ErrorCode::ALL.len()],
    /// The profile in force: which rules apply.
    profile: Profile,
    /// Connections per user (`[population] devices`): D1 is shown and required only above 1
    /// (with one, a table stays as it was before the rule).
    devices: u8,
}

impl Default for Coverage {
    fn default() -> Self {
        Coverage::for_profile(Profile::Tencent)
    }
}

/// One rule's line of the coverage table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRow {
    pub rule: String,
    pub title: String,
    /// Times exercised; None when the checker cannot see the rule.
    pub exercised: Option<u64>,
    /// "not exercised", "held", "violations: count_sum=2" or "not checked: why".
    pub outcome: String,
    /// What one count is.
    pub measured_as: String,
    /// The scenario knob that exercises it.
    pub knob: String,
}

/// One error code's line: how many answers the checker judged expecting it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRow {
    pub code: String,
    /// None when the checker never expects it (wire, auth or admin level).
    pub expected: Option<u64>,
}

/// The coverage section of the reports: rules never exercised first, then exercised ones,
/// then those the checker cannot see; each group in the order of docs/semantics.md.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoverageTable {
    /// The semantics profile of the run when it is not the default ("matrix": docs/matrix.md
    /// replaced the rules shown as not applicable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub rules: Vec<RuleRow>,
    pub error_codes: Vec<CodeRow>,
}

impl CoverageTable {
    /// Rows of measured rules that were never exercised.
    pub fn unexercised(&self) -> impl Iterator<Item = &RuleRow> {
        self.rules.iter().filter(|r| r.exercised == Some(0))
    }

    /// (exercised, measured) rule counts.
    pub fn summary(&self) -> (usize, usize) {
        let measured = self.rules.iter().filter(|r| r.exercised.is_some()).count();
        let exercised = self
            .rules
            .iter()
            .filter(|r| r.exercised.is_some_and(|n| n > 0))
            .count();
        (exercised, measured)
    }
}

impl Coverage {
    pub fn for_profile(profile: Profile) -> Coverage {
        Coverage {
            rules: [0; Rule::ALL.len()],
            codes: [0; ErrorCode::ALL.len()],
            profile,
            devices: 1,
        }
    }

    /// The run's users hold `devices` connections each.
    pub fn with_devices(mut self, devices: u8) -> Coverage {
        self.devices = devices;
        self
    }

    pub(super) fn hit(&mut self, r: Rule) {
        self.rules[r.index()] += 1;
    }

    pub(super) fn hit_n(&mut self, r: Rule, n: u64) {
        self.rules[r.index()] += n;
    }

    /// Whether the run can exercise `r` at all: D1 needs several devices per user.
    fn in_run(&self, r: Rule) -> bool {
        r != Rule::D1 || self.devices > 1
    }

    pub(super) fn expected(&mut self, code: ErrorCode) {
        self.codes[code as usize] += 1;
    }

    /// Times `r` was exercised.
    pub fn exercised(&self, r: Rule) -> u64 {
        self.rules[r.index()]
    }

    /// Answers judged that had to be `code`.
    pub fn code_expected(&self, code: ErrorCode) -> u64 {
        self.codes[code as usize]
    }

    /// The required rules this run did not exercise, in table order.
    pub fn missing(&self, req: &RequireCoverage) -> Vec<Rule> {
        req.rules_for(self.profile)
            .into_iter()
            .filter(|&r| self.exercised(r) == 0 && self.in_run(r))
            .collect()
    }

    /// The reports' table; `totals` are the violations per invariant (in
    /// [`Invariant::ALL`] order), which give each exercised rule its observed outcome.
    pub fn table(&self, totals: &[u64; Invariant::ALL.len()]) -> CoverageTable {
        // Under the default profile the Matrix rules are another profile's and left out (the
        // table stays as it was); under Matrix the rules it replaces show as not applicable.
        let shown =
            |r: &&Rule| (self.profile.is_matrix() || r.applies(self.profile)) && self.in_run(**r);
        let mut rows: Vec<(u8, RuleRow)> = Rule::ALL
            .iter()
            .filter(shown)
            .map(|&r| self.row(r, totals))
            .collect();
        // Stable: table order within each group.
        rows.sort_by_key(|(group, _)| *group);
        let error_codes = ErrorCode::ALL
            .iter()
            .map(|&c| CodeRow {
                code: c.name().to_string(),
                expected: self.judged(c).then(|| self.code_expected(c)),
            })
            .collect();
        CoverageTable {
            profile: self
                .profile
                .is_matrix()
                .then(|| self.profile.name().to_string()),
            rules: rows.into_iter().map(|(_, r)| r).collect(),
            error_codes,
        }
    }

    /// Whether the checker judges answers with `code` under the run's profile (MX11 adds
    /// NOT_CONVERSATION_PARTY under Matrix; Tencent tables stay as they were).
    fn judged(&self, code: ErrorCode) -> bool {
        JUDGED_CODES.contains(&code)
            || (self.profile.is_matrix() && code == ErrorCode::NotConversationParty)
    }

    /// A rule's row and its group (0 never exercised, 1 exercised, 2 not checked, 3 not
    /// applicable under the profile).
    fn row(&self, r: Rule, totals: &[u64; Invariant::ALL.len()]) -> (u8, RuleRow) {
        let info = r.info();
        let n = self.exercised(r);
        let (group, exercised, outcome, measured_as) = match info.check {
            _ if !r.applies(self.profile) => {
                let by = r
                    .replaced_by(self.profile)
                    .map_or(String::new(), |b| format!(" (replaced by {b})"));
                let why = format!(
                    "not applicable under the {} profile{by}",
                    self.profile.name()
                );
                (3, None, why, String::new())
            }
            Check::NotChecked(why) => (2, None, format!("not checked: {why}"), String::new()),
            Check::Measured(what) if n == 0 => (0, Some(0), "not exercised".into(), what.into()),
            Check::Measured(what) => (1, Some(n), outcome(r, totals), what.into()),
        };
        let row = RuleRow {
            rule: info.id.to_string(),
            title: info.title.to_string(),
            exercised,
            outcome,
            measured_as,
            knob: info.knob.to_string(),
        };
        (group, row)
    }

    // ---- what the parts count ------------------------------------------------------

    /// A send's answer was judged against `expect`.
    pub(super) fn send_judged(&mut self, expect: &Expect, key: ConvKey, need: bool) {
        match *expect {
            Expect::Err(code) => {
                self.expected(code);
                self.hit(Rule::S1);
                self.hit(Rule::S5);
                if matches!(
                    code,
                    ErrorCode::ReceiptsDisabledForGroupType | ErrorCode::GroupTooLargeForReceipts
                ) {
                    self.hit(Rule::S4);
                    let r = if code == ErrorCode::GroupTooLargeForReceipts {
                        Rule::S3
                    } else {
                        Rule::S2
                    };
                    self.hit(r);
                }
            }
            Expect::Ok if need && matches!(key, ConvKey::Pair(..)) => self.hit(Rule::S7),
            _ => {}
        }
    }

    /// A batch of `len` ids that breaks the batch rules was answered (`rule`: R1 or P1).
    pub(super) fn bad_batch_judged(&mut self, rule: Rule, len: usize) {
        self.hit(rule);
        self.expected(if len == 0 || len > MAX_BATCH {
            ErrorCode::BatchSize
        } else {
            ErrorCode::MixedConversations
        });
    }

    /// One receipt's answer was judged against `expect` (`m`: its message, when known).
    pub(super) fn receipt_judged(&mut self, expect: &Expect, world: &World, m: &mut MsgState) {
        let Expect::Err(code) = *expect else {
            if *expect == Expect::Ok {
                self.receipt_accepted(world, m);
            }
            return;
        };
        self.expected(code);
        self.hit(Rule::R3);
        m.probes |= PROBE_REFUSED;
        match (code, &m.audience) {
            (ErrorCode::NotInAudience, Audience::Group(..)) => {
                m.probes |= PROBE_OUTSIDER;
                self.hit(Rule::S10);
            }
            (ErrorCode::NotInAudience, Audience::Peer(_)) => m.probes |= PROBE_OUTSIDER,
            (ErrorCode::ReaderLeftGroup, _) => self.hit(Rule::R5),
            (ErrorCode::MessageNotFound, _) if !self.profile.is_matrix() => self.hit(Rule::E1),
            _ => {}
        }
    }

    fn receipt_accepted(&mut self, world: &World, m: &MsgState) {
        match m.audience {
            Audience::Peer(_) => self.hit(Rule::R9),
            Audience::Group(g, _) => {
                let cap = u64::from(world.receipt_config.max_group_size);
                if world.groups.get(&g).is_some_and(|g| g.members.len() > cap) {
                    self.hit(Rule::S6);
                }
            }
        }
    }

    /// A call naming an id no service issued was judged expecting MESSAGE_NOT_FOUND (R2).
    pub(super) fn unknown_id_judged(&mut self) {
        self.expected(ErrorCode::MessageNotFound);
        self.hit(Rule::R2);
    }

    /// A mark-read of oneself or of a user no service has was judged (C1).
    pub(super) fn mark_judged(&mut self, expect: &Expect) {
        if let Expect::Err(code) = *expect {
            self.expected(code);
            self.hit(Rule::C1);
        }
    }

    /// A pull or page answer was judged expecting `expect` (`rule`: P2 for count pulls,
    /// M1 for member-list pages).
    pub(super) fn query_judged(&mut self, rule: Rule, id: MsgId, expect: &Expect) {
        let Expect::Err(code) = *expect else { return };
        if id.surely_unknown() {
            return self.unknown_id_judged();
        }
        self.expected(code);
        if code == ErrorCode::MessageNotFound && !self.profile.is_matrix() {
            // An outsider got the answer for an unknown id.
            self.hit(Rule::E1);
        }
        if code == ErrorCode::NotConversationParty {
            // Only a sender who left gets it here (Matrix profile): MX11, not P2 or M1.
            return self.hit(Rule::MX11);
        }
        self.hit(rule);
        if rule == Rule::M1
            && matches!(
                code,
                ErrorCode::NotMessageSender | ErrorCode::ReceiptNotRequested
            )
        {
            self.hit(Rule::P2);
        }
    }

    /// A count of `m` was observed (how: `o`): the probes it carried count now.
    pub(super) fn count_observed(&mut self, m: &mut MsgState, o: Observed<'_>) {
        let probes = std::mem::take(&mut m.probes);
        for (bit, rule) in [
            (PROBE_REPEAT, Rule::R6),
            (PROBE_REFUSED, Rule::R4),
            (PROBE_OUTSIDER, Rule::I4),
        ] {
            if probes & bit != 0 {
                self.hit(rule);
            }
        }
        if o.crashes > m.first_ack_epoch && !m.acked.is_empty() {
            self.hit(Rule::F1);
        }
        if o.by_sender && m.max_seen > 0 {
            self.hit(Rule::I3);
        }
        match (*o.entry, &m.audience) {
            (ReceiptEntry::Group { .. }, &Audience::Group(g, _)) => {
                self.hit(Rule::I1);
                let since = m.send_acked.unwrap_or(m.send_invoked);
                if o.world.group_unsettled(g, since) {
                    self.hit(Rule::S10);
                }
                if o.pull && o.by_sender && !o.world.is_member(g, m.sender) {
                    self.hit(Rule::P3);
                }
            }
            (ReceiptEntry::C2c { .. }, &Audience::Peer(peer)) => {
                if o.by_sender && m.max_seen > 0 {
                    self.hit(Rule::C5);
                }
                if o.marks.acked(peer, m.sender) {
                    self.hit(Rule::C2);
                }
            }
            _ => {}
        }
    }
}

/// How a count was observed, for [`Coverage::count_observed`].
pub(super) struct Observed<'a> {
    pub entry: &'a ReceiptEntry,
    pub world: &'a World,
    pub marks: &'a Marks,
    pub by_sender: bool,
    pub pull: bool,
    pub crashes: u32,
}

/// The invariants whose violations would show a broken `r`.
fn judged_by(r: Rule) -> &'static [Invariant] {
    use Invariant::*;
    match r {
        Rule::S5 => &[ResultCodes, Sequencing],
        Rule::S8 => &[Sequencing],
        Rule::S10 => &[ResultCodes, CountSum],
        Rule::R4 | Rule::I4 => &[CountUpperBound, QuietState, MemberListPaging],
        Rule::R6 => &[CountUpperBound, QuietState, Liveness],
        Rule::R7 => &[Liveness, CountSum],
        Rule::D1 => &[Liveness],
        Rule::R9 => &[ResultCodes, Liveness],
        Rule::M2 | Rule::M3 | Rule::M4 | Rule::M5 | Rule::M6 | Rule::I2 => {
            &[MemberListPaging, QuietState]
        }
        Rule::C2 => &[CountUpperBound, PullLowerBound, QuietState],
        Rule::C3 => &[C2cReadTimestamps],
        Rule::C4 => &[Liveness],
        Rule::C5 => &[MonotoneCounts],
        Rule::I1 => &[CountSum],
        Rule::I3 => &[MonotoneCounts, C2cReadTimestamps],
        Rule::F1 => &[PullLowerBound, QuietState, MonotoneCounts],
        _ => &[ResultCodes],
    }
}

/// "held", or the violations of the invariants that judge `r`.
fn outcome(r: Rule, totals: &[u64; Invariant::ALL.len()]) -> String {
    let broken: Vec<String> = judged_by(r)
        .iter()
        .filter(|i| totals[i.index()] > 0)
        .map(|i| format!("{}={}", i.name(), totals[i.index()]))
        .collect();
    if broken.is_empty() {
        "held".to_string()
    } else {
        format!("violations: {}", broken.join(", "))
    }
}

#[cfg(test)]
#[path = "coverage_tests.rs"]
mod tests;
