//! The rule ids of docs/semantics.md (S1, R6, ...) as one table: what each rule is, how the
//! checker measures that a run put it to the test (or why it cannot), and the scenario knob
//! that exercises it. The checker counts per [`Rule`]; `[checks] require_coverage` names
//! rules by id; the reports print the table.

use schemars::JsonSchema;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::protocol::Profile;

/// How the checker sees a rule.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// Counted: what one count of the rule is (the rule was tested in a way that a
    /// violation would have been seen).
    Measured(&'static str),
    /// The checker cannot see it from a run's history, or does not judge it: why.
    NotChecked(&'static str),
}

/// One row of the table.
pub struct RuleInfo {
    pub id: &'static str,
    pub title: &'static str,
    pub check: Check,
    /// The scenario knob that exercises the rule.
    pub knob: &'static str,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $title:literal, $check:expr, $knob:expr;)*) => {
        /// A rule of docs/semantics.md, in the document's order.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule { $($name,)* }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$name,)*];

            /// The rule's row of the table.
            pub fn info(self) -> &'static RuleInfo {
                match self {
                    $(Rule::$name => &RuleInfo { id: $id, title: $title, check: $check, knob: $knob },)*
                }
            }
        }
    };
}

use Check::{Measured as M, NotChecked as N};

const HISTORY: &str = "the checker does not judge get_history answers";
const ADMIN: &str = "admin answers are taken as given: the checker rebuilds the world from them";
const CHURN: &str = "[churn] per_minute";
const MISUSE: &str = "traffic.misuse_share";
/// Malformed and misdirected receipt batches, count pulls and member lists.
const BAD_CALLS: &str = "pulls.misuse_share";

rules! {
    E1 = "E1", "who may know that a message exists", M("calls of users outside a message's conversation about it, answered as for an unknown id (MESSAGE_NOT_FOUND) and judged"), BAD_CALLS;
    S1 = "S1", "send checks, in order", M("sends refused as prescribed (non-member, receipts disabled, group too large, self, unknown peer), answer judged"), MISUSE;
    S2 = "S2", "which group types take receipts", M("receipt-asking sends to a group type without receipts, refusal judged"), "traffic.misuse_share (with a Community, AVChatRoom or disabled group class)";
    S3 = "S3", "size limit", M("receipt-asking sends to a group over receipts.max_group_size, refusal judged"), "traffic.misuse_share (with groups larger than receipts.max_group_size)";
    S4 = "S4", "reject, don't degrade", M("receipt-asking sends refused under S2 or S3 (a send stored without the flag shows as a success)"), MISUSE;
    S5 = "S5", "a refused send leaves no trace", M("sends refused as prescribed (a stored one leaves a seq gap, checked at the end)"), MISUSE;
    S6 = "S6", "configuration applies to later sends only", M("receipts accepted for a message whose group has grown past receipts.max_group_size since"), "[churn] per_minute (with groups near receipts.max_group_size)";
    S7 = "S7", "1:1 receipts need no configuration", M("1:1 receipt-asking sends, acceptance judged"), "traffic.c2c_messages_per_sec";
    S8 = "S8", "numbering", M("message sightings (send acks, new_message pushes) checked for unique ids and seqs"), "traffic.group_messages_per_sec";
    S9 = "S9", "who hears about a message", M("new_message pushes checked against the audience"), "traffic.group_messages_per_sec";
    S10 = "S10", "audience snapshot", M("receipts of later joiners judged, and counts observed after the group's membership changed since the send"), CHURN;
    R1 = "R1", "receipt batch rules", M("receipt batches breaking the batch rules, whole-batch rejection judged"), BAD_CALLS;
    R2 = "R2", "unknown ids are per message", M("receipts, count pulls and member lists naming an id no service issues (ids >= 2^62, S8), MESSAGE_NOT_FOUND for that id alone judged"), BAD_CALLS;
    R3 = "R3", "per-message receipt checks, in order", M("receipts refused as prescribed (NOT_IN_AUDIENCE, RECEIPT_NOT_REQUESTED, READER_LEFT_GROUP), answer judged"), CHURN;
    R4 = "R4", "receipt errors change nothing", M("refused receipts whose message's count was observed afterwards"), CHURN;
    R5 = "R5", "leavers", M("receipts of readers who left the group after the send, READER_LEFT_GROUP judged"), "[churn] per_minute (leave, kick)";
    R6 = "R6", "receipts are idempotent", M("repeated receipts of an acknowledged reader whose message's count was observed afterwards"), "[faults] request_timeout with drop (retries), pulls.per_user_per_minute (catch-up)";
    R7 = "R7", "receipt notification", M("new receipts whose sender was online: a push of the new count owed within checks.liveness_bound"), "traffic.receipt_share";
    D1 = "D1", "every device gets each push", M("pushes to a user holding several connections, open from the liveness bound before the first copy to its deadline: every connection's copy checked within checks.liveness_bound"), "population.devices";
    R8 = "R8", "one push per sender per batch", N("the checker bounds every pushed count but does not count pushes per batch"), "reading.batch_window";
    R9 = "R9", "1:1 receipts", M("1:1 receipts judged"), "traffic.c2c_messages_per_sec (reading.c2c_mark_read_share < 1)";
    P1 = "P1", "count-pull batch rules", M("count pulls breaking the batch rules, whole-batch rejection judged"), BAD_CALLS;
    P2 = "P2", "only the sender pulls", M("count pulls and member lists by a non-sender or of a message without receipts, refusal judged"), BAD_CALLS;
    P3 = "P3", "the sender keeps access", M("count pulls by a sender who has left the group, answer judged"), "[churn] per_minute with pulls.per_user_per_minute";
    P4 = "P4", "pulls are quiet", N("pushes are not tied to the call that caused them: a push a pull caused is only caught if its counts break a bound"), "pulls.per_user_per_minute";
    M1 = "M1", "member-list checks, in order", M("member-list pages refused as prescribed (count, non-sender, 1:1 message, no receipts), answer judged"), BAD_CALLS;
    M2 = "M2", "member-list contents", M("member lists paged to the end, checked against the audience"), "pulls.member_list_share, checks.final_list_share";
    M3 = "M3", "read-list cursor", M("read lists paged to the end over more than one page"), "pulls.member_list_page (below the read-list sizes)";
    M4 = "M4", "unread-list cursor", M("unread lists paged to the end over more than one page"), "pulls.member_list_page (below the unread-list sizes)";
    M5 = "M5", "is_finished", M("member-list pages judged (an unfinished page must move on, a finished paging must miss nobody)"), "pulls.member_list_share";
    M6 = "M6", "paging while receipts arrive", M("member lists paged to the end while a receipt of the message was acknowledged"), "pulls.watch_share (senders scroll their fresh message's unread list)";
    M7 = "M7", "scale", N("speed is measured by benches; no rule of a run depends on group size"), "benches";
    C1 = "C1", "mark-read checks", M("mark-reads of oneself or of a user no service has (ids >= 2^24, A1), refusal judged"), BAD_CALLS;
    C2 = "C2", "what a mark covers", M("1:1 counts observed after the peer's mark-read was acknowledged"), "reading.c2c_mark_read_share";
    C3 = "C3", "c2c_read timestamps never go back", M("c2c_read pushes after an earlier one from the same marker"), "reading.c2c_mark_read_share";
    C4 = "C4", "always notify a mark", M("marks following an earlier acknowledged mark of the same chat: a c2c_read push owed within checks.liveness_bound"), "reading.c2c_mark_read_share";
    C5 = "C5", "is_peer_read never reverts", M("1:1 counts observed by a sender who had seen is_peer_read true"), "reading.c2c_mark_read_share, pulls.per_user_per_minute";
    H1 = "H1", "history shape", N(HISTORY), "pulls.history_page";
    H2 = "H2", "who may read history", N(HISTORY), CHURN;
    A1 = "A1", "admin errors", N(ADMIN), CHURN;
    A2 = "A2", "receipt configuration", N(ADMIN), "[receipts]";
    A3 = "A3", "no group-size cap of its own", N(ADMIN), "[[groups]] size";
    I1 = "I1", "read + unread = audience", M("group counts observed (push or pull), read + unread checked"), "traffic.receipt_share";
    I2 = "I2", "lists paged to the end are exact", M("member lists paged to the end once quiet, compared exactly"), "checks.final_list_share";
    I3 = "I3", "counts never decrease", M("counts observed again by a sender who had seen one, and repeated c2c_read pushes"), "pulls.per_user_per_minute";
    I4 = "I4", "only audience receipts count", M("receipts refused NOT_IN_AUDIENCE whose message's count was observed afterwards"), CHURN;
    I5 = "I5", "model equals its plain re-implementation", N("a property of the model against tests/sim/model_state_machine/, not of a run"), "cargo test --test sim";
    F1 = "F1", "acknowledged receipts survive a crash", M("counts observed after a server crash-restart, of messages with receipts acknowledged before it"), "[faults] crashes";
    MX1 = "MX1", "no gating (Matrix)", M("receipt-asking sends the Tencent rules would refuse (group type, size), acceptance judged"), "[[groups]] of a type outside receipts.enabled_types, or larger than receipts.max_group_size";
    MX2 = "MX2", "a receipt is a marker (Matrix)", M("acknowledged receipts for a message at or below the reader's acknowledged marker (repeats and older messages)"), "reading.delay (reads out of order), [faults] request_timeout (retries)";
    MX3 = "MX3", "cumulative (Matrix)", M("acknowledged receipts that also covered earlier messages of their conversation"), "reading.delay";
    MX4 = "MX4", "who may send a receipt (Matrix)", M("receipts of later joiners, former members, senders and outsiders, answer judged"), CHURN;
    MX5 = "MX5", "batches (Matrix)", M("receipt batches with ids of more than one conversation, acceptance judged"), BAD_CALLS;
    MX6 = "MX6", "the audience is the current membership (Matrix)", M("group counts observed after the group's membership changed since the send, read + unread checked"), CHURN;
    MX7 = "MX7", "notification (Matrix)", M("messages newly covered by an acknowledged receipt whose sender was online: a push owed within checks.liveness_bound"), "traffic.receipt_share";
    MX8 = "MX8", "member lists by user id (Matrix)", M("member lists paged to the end over more than one page, ascending user ids checked"), "pulls.member_list_page (below the list sizes)";
    MX9 = "MX9", "1:1 mark-read is a receipt (Matrix)", M("acknowledged marks of chats with messages (the latest one read, earlier ones with it)"), "reading.c2c_mark_read_share";
    MX10 = "MX10", "history (Matrix)", N(HISTORY), "pulls.history_page";
    MX11 = "MX11", "a sender who left (Matrix)", M("count pulls and member lists by a sender who was no member of the group, NOT_CONVERSATION_PARTY judged"), "[churn] per_minute with pulls.per_user_per_minute";
}

/// The rules the Matrix profile replaces (docs/matrix.md), each with the MX rule that
/// replaces it.
const MATRIX_REPLACES: &[(Rule, Rule)] = &[
    (Rule::E1, Rule::MX4),
    (Rule::S2, Rule::MX1),
    (Rule::S3, Rule::MX1),
    (Rule::S4, Rule::MX1),
    (Rule::S6, Rule::MX1),
    (Rule::S10, Rule::MX6),
    (Rule::R1, Rule::MX5),
    (Rule::R2, Rule::MX4),
    (Rule::R3, Rule::MX4),
    (Rule::R5, Rule::MX4),
    (Rule::R6, Rule::MX2),
    (Rule::R7, Rule::MX7),
    (Rule::R8, Rule::MX7),
    (Rule::R9, Rule::MX4),
    (Rule::P3, Rule::MX11),
    (Rule::M2, Rule::MX8),
    (Rule::M3, Rule::MX8),
    (Rule::C2, Rule::MX9),
    (Rule::C3, Rule::MX9),
    (Rule::C4, Rule::MX9),
    (Rule::H2, Rule::MX10),
    (Rule::I4, Rule::MX6),
];

impl Rule {
    pub fn id(self) -> &'static str {
        self.info().id
    }

    /// A rule of docs/matrix.md (MX1..).
    pub fn is_matrix(self) -> bool {
        self.id().starts_with("MX")
    }

    /// The rule that replaces this one under `profile`, if any: Tencent rules replaced by
    /// the Matrix profile, and the MX rules under the Tencent profile (replaced by the rules
    /// of docs/semantics.md; None there as the MX rule names no single one).
    pub fn replaced_by(self, profile: Profile) -> Option<Rule> {
        match profile {
            Profile::Tencent => None,
            Profile::Matrix => MATRIX_REPLACES
                .iter()
                .find(|(r, _)| *r == self)
                .map(|&(_, by)| by),
        }
    }

    /// Whether the rule holds under `profile`.
    pub fn applies(self, profile: Profile) -> bool {
        match profile {
            Profile::Tencent => !self.is_matrix(),
            Profile::Matrix => self.replaced_by(profile).is_none(),
        }
    }

    /// Whether the checker counts it (else no run can exercise it).
    pub fn measured(self) -> bool {
        matches!(self.info().check, Check::Measured(_))
    }

    /// Position in [`Rule::ALL`], for per-rule arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_id(id: &str) -> Option<Rule> {
        Rule::ALL.iter().copied().find(|r| r.id() == id)
    }

    /// The measured rule ids, comma-separated (for error messages).
    pub fn measured_ids() -> String {
        let ids: Vec<&str> = Rule::ALL
            .iter()
            .filter(|r| r.measured())
            .map(|r| r.id())
            .collect();
        ids.join(", ")
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rule, D::Error> {
        let s = String::deserialize(d)?;
        let rule = Rule::from_id(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown rule id {s:?}; use rule ids of docs/semantics.md: {}",
                Rule::measured_ids()
            ))
        })?;
        if let Check::NotChecked(why) = rule.info().check {
            return Err(de::Error::custom(format!(
                "rule {s} cannot be required: no run can exercise it ({why}); remove it"
            )));
        }
        Ok(rule)
    }
}

/// `[checks] require_coverage`: the rules a run must exercise, or it fails.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RequireCoverage {
    /// No requirement (the default).
    #[default]
    Nothing,
    /// Every rule the checker measures.
    All,
    /// These rules.
    Rules(Vec<Rule>),
}

impl RequireCoverage {
    pub fn is_nothing(&self) -> bool {
        *self == RequireCoverage::Nothing
    }

    /// The rules required under `profile`, in table order ("all": those that apply there).
    pub fn rules_for(&self, profile: Profile) -> Vec<Rule> {
        match self {
            RequireCoverage::All => self
                .rules()
                .into_iter()
                .filter(|r| r.applies(profile))
                .collect(),
            _ => self.rules(),
        }
    }

    /// The rules required, in table order.
    pub fn rules(&self) -> Vec<Rule> {
        match self {
            RequireCoverage::Nothing => Vec::new(),
            RequireCoverage::All => Rule::ALL.iter().copied().filter(|r| r.measured()).collect(),
            RequireCoverage::Rules(v) => {
                let mut v = v.clone();
                v.sort();
                v.dedup();
                v
            }
        }
    }
}

impl RequireCoverage {
    /// The listed rules no run of `profile` with `devices` connections per user can
    /// exercise, so the run would fail however the target behaves: (index in the list, what
    /// is wrong, what to do). Rules of another profile, and D1 with one device per user.
    pub fn refusals(&self, profile: Profile, devices: u8) -> Vec<(usize, String, String)> {
        let RequireCoverage::Rules(rules) = self else {
            return Vec::new();
        };
        let name = profile.name();
        let refuse = |r: Rule| match r.replaced_by(profile) {
            _ if r == Rule::D1 && devices < 2 => Some((
                "rule D1 needs several connections per user, but population.devices = 1".into(),
                "set [population] devices = 2 (or more), or remove D1".into(),
            )),
            _ if r.applies(profile) => None,
            Some(by) => Some((
                format!("rule {r} does not apply under the {name} profile (replaced by {by})"),
                format!("require {by} instead, or remove {r}"),
            )),
            None => Some((
                format!(
                    "rule {r} belongs to the matrix profile (docs/matrix.md), not the {name} one"
                ),
                format!("remove {r}, or set [semantics] profile = \"matrix\""),
            )),
        };
        (rules.iter().enumerate())
            .filter_map(|(i, &r)| refuse(r).map(|(m, h)| (i, m, h)))
            .collect()
    }
}

impl Serialize for RequireCoverage {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            RequireCoverage::Nothing => s.serialize_seq(Some(0)).and_then(|q| {
                use serde::ser::SerializeSeq;
                q.end()
            }),
            RequireCoverage::All => s.serialize_str("all"),
            RequireCoverage::Rules(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RequireCoverage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RequireCoverage, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RequireCoverage;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"all\" or a list of rule ids such as [\"R5\", \"S10\"]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RequireCoverage, E> {
                if v == "all" {
                    return Ok(RequireCoverage::All);
                }
                Err(E::custom(format!(
                    "require_coverage must be \"all\" or a list of rule ids, got {v:?}; \
                     write e.g. require_coverage = [\"R5\", \"S10\"]"
                )))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<RequireCoverage, A::Error> {
                let mut out = Vec::new();
                while let Some(r) = a.next_element::<Rule>()? {
                    out.push(r);
                }
                Ok(RequireCoverage::Rules(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for RequireCoverage {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RequireCoverage".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = Rule::ALL
            .iter()
            .filter(|r| r.measured())
            .map(|r| r.id())
            .collect();
        schemars::json_schema!({
            "description": "\"all\" (every rule the checker measures) or a list of rule ids.",
            "anyOf": [
                { "type": "string", "enum": ["all"] },
                { "type": "array", "items": { "type": "string", "enum": ids } }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(checks: &str) -> Result<super::super::Scenario, super::super::ScenarioError> {
        let text = format!("name = \"t\"\nduration = \"1s\"\n\n[checks]\n{checks}\n");
        super::super::parse_str(&text, "t.toml")
    }

    #[test]
    fn ids_are_unique_and_follow_the_table() {
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert_eq!(Rule::from_id(r.id()), Some(*r));
        }
        assert_eq!(Rule::from_id("S10"), Some(Rule::S10));
        assert_eq!(Rule::from_id("Z9"), None);
        assert!(Rule::R6.measured() && !Rule::I5.measured());
    }

    #[test]
    fn the_table_has_exactly_the_rule_ids_of_the_semantics() {
        let doc = include_str!("../../docs/semantics.md");
        let mut ids: Vec<&str> = Vec::new();
        for part in doc.split("**").skip(1).step_by(2) {
            let id = part.split('.').next().unwrap_or("");
            let family = id.chars().next().is_some_and(|c| c.is_ascii_uppercase());
            if family && id.len() <= 3 && id[1..].chars().all(|c| c.is_ascii_digit()) {
                ids.push(id);
            }
        }
        // The invariants are a plain list: "- **I1.**" is caught above as well.
        let table: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        // The Matrix profile's rules follow, from docs/matrix.md ("- **MX1. No gating.**").
        let matrix = include_str!("../../docs/matrix.md");
        for part in matrix.split("**").skip(1).step_by(2) {
            let id = part.split('.').next().unwrap_or("");
            if id.len() > 2 && id.starts_with("MX") && id[2..].chars().all(|c| c.is_ascii_digit()) {
                ids.push(id);
            }
        }
        assert_eq!(ids, table);
    }

    #[test]
    fn each_profile_has_its_rules() {
        use crate::protocol::Profile;
        assert!(Rule::R6.applies(Profile::Tencent) && !Rule::MX2.applies(Profile::Tencent));
        assert!(Rule::MX2.applies(Profile::Matrix) && !Rule::R6.applies(Profile::Matrix));
        assert_eq!(Rule::R6.replaced_by(Profile::Matrix), Some(Rule::MX2));
        assert!(Rule::I1.applies(Profile::Matrix) && Rule::F1.applies(Profile::Matrix));
        for &(r, by) in MATRIX_REPLACES {
            assert!(!r.is_matrix() && by.is_matrix(), "{r} by {by}");
        }
        let all = RequireCoverage::All;
        assert!(!all.rules_for(Profile::Tencent).contains(&Rule::MX3));
        assert!(all.rules_for(Profile::Matrix).contains(&Rule::MX3));
        assert!(!all.rules_for(Profile::Matrix).contains(&Rule::R6));
        assert_eq!(Rule::P3.replaced_by(Profile::Matrix), Some(Rule::MX11));
        assert!(all.rules_for(Profile::Matrix).contains(&Rule::MX11));
    }

    #[test]
    fn require_coverage_all_or_a_list() {
        let s = parse("require_coverage = \"all\"").unwrap();
        assert_eq!(s.checks.require_coverage, RequireCoverage::All);
        let all = s.checks.require_coverage.rules();
        assert!(all.contains(&Rule::R5) && all.contains(&Rule::R2) && !all.contains(&Rule::R8));
        let s = parse("require_coverage = [\"S10\", \"R5\", \"R5\"]").unwrap();
        assert_eq!(s.checks.require_coverage.rules(), [Rule::S10, Rule::R5]);
        let s = parse("").unwrap();
        assert!(s.checks.require_coverage.is_nothing());
        assert!(s.checks.require_coverage.rules().is_empty());
    }

    #[test]
    fn an_unknown_or_unmeasured_rule_names_its_line_and_path() {
        let e = parse("liveness_bound = \"5s\"\nrequire_coverage = [\"R5\", \"Q1\"]").unwrap_err();
        assert_eq!(e.line(), Some(6));
        assert_eq!(e.field_path(), Some("checks.require_coverage[1]"));
        assert!(e.to_string().contains("unknown rule id \"Q1\""), "{e}");
        let e = parse("require_coverage = [\"I5\"]").unwrap_err();
        assert!(e.to_string().contains("cannot be required"), "{e}");
        let e = parse("require_coverage = \"most\"").unwrap_err();
        assert_eq!(e.field_path(), Some("checks.require_coverage"));
        assert!(e.to_string().contains("\"all\" or a list"), "{e}");
    }

    #[test]
    fn a_required_rule_of_another_profile_is_rejected_naming_its_replacement() {
        let matrix = |checks: &str| {
            let text = format!(
                "name = \"t\"\nduration = \"1s\"\n\n[semantics]\nprofile = \"matrix\"\n\n[checks]\n{checks}\n"
            );
            super::super::parse_str(&text, "t.toml")
        };
        let e = matrix("require_coverage = [\"MX2\", \"R6\"]").unwrap_err();
        assert_eq!(e.field_path(), Some("checks.require_coverage[1]"));
        let text = e.to_string();
        assert!(
            text.contains("rule R6 does not apply under the matrix profile (replaced by MX2)"),
            "{e}"
        );
        assert!(matrix("require_coverage = [\"MX11\", \"I1\"]").is_ok());
        assert!(matrix("require_coverage = \"all\"").is_ok());
        let e = parse("require_coverage = [\"D1\"]").unwrap_err();
        assert!(
            e.to_string().contains("rule D1 needs several connections"),
            "{e}"
        );
        let two = "name = \"t\"\nduration = \"1s\"\n[population]\ndevices = 2\n\
                   [checks]\nrequire_coverage = [\"D1\"]\n";
        assert!(super::super::parse_str(two, "t.toml").is_ok());
        let e = parse("require_coverage = [\"MX3\"]").unwrap_err();
        assert!(
            e.to_string()
                .contains("rule MX3 belongs to the matrix profile"),
            "{e}"
        );
    }

    #[test]
    fn round_trips_through_toml() {
        for req in [
            RequireCoverage::All,
            RequireCoverage::Rules(vec![Rule::C3, Rule::F1]),
        ] {
            let mut s = parse("").unwrap();
            s.checks.require_coverage = req.clone();
            let text = toml::to_string(&s).unwrap();
            let back = super::super::parse_str(&text, "x").unwrap();
            assert_eq!(back.checks.require_coverage, req);
        }
    }
}
