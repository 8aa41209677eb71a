//! The simulator against `BrokenTarget`, a `ModelTarget` with one planted bug: the expected
//! invariant fires while the clean model run of the same scenario stays clean. (The
//! per-invariant fault tests on hand-built histories are in `checkers_fire.rs`.)

use crate::history_kit::*;
use readsim::check::{CheckConfig, Checker, Invariant};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, ErrorCode, Micros, Push, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use readsim::target::{ModelTarget, Target};

// ---------------------------------------------------------------------------------------------
// A target with one planted bug
// ---------------------------------------------------------------------------------------------

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Bug {
    /// Counts a reader twice once a message has been read: every pull of a group message with
    /// at least one receipt shows one reader more (and one unread less) than there are.
    OverCounts,
    /// Drops every 10th receipts push.
    DropsReceiptsPushes,
    /// Accepts receipts from users outside the audience (answers Ok instead of
    /// NOT_IN_AUDIENCE, counting nothing).
    AcceptsOutsiderReceipts,
}

struct BrokenTarget {
    inner: ModelTarget,
    bug: Bug,
    receipts_pushes: u64,
    dropped: u64,
}

impl BrokenTarget {
    fn new(config: ReceiptConfig, bug: Bug) -> BrokenTarget {
        BrokenTarget {
            inner: ModelTarget::new(Model::new(config)),
            bug,
            receipts_pushes: 0,
            dropped: 0,
        }
    }
}

impl Target for BrokenTarget {
    fn name(&self) -> &str {
        "broken-model"
    }

    fn admin(&mut self, now: Micros, req: &AdminRequest) -> Response {
        self.inner.admin(now, req)
    }

    fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response {
        let start = out.len();
        let mut resp = self.inner.apply(now, user, req, out);
        match self.bug {
            Bug::OverCounts => {
                if let Response::ReadReceipts { entries } = &mut resp {
                    for e in entries.iter_mut() {
                        if let Ok(ReceiptEntry::Group {
                            read_count,
                            unread_count,
                            ..
                        }) = &mut e.result
                            && *read_count >= 1
                            && *unread_count >= 1
                        {
                            *read_count += 1;
                            *unread_count -= 1;
                        }
                    }
                }
            }
            Bug::DropsReceiptsPushes => {
                let new: Vec<Delivery> = out.drain(start..).collect();
                for d in new {
                    if matches!(d.push, Push::Receipts { .. }) {
                        self.receipts_pushes += 1;
                        if self.receipts_pushes.is_multiple_of(10) {
                            self.dropped += 1;
                            continue;
                        }
                    }
                    out.push(d);
                }
            }
            Bug::AcceptsOutsiderReceipts => {
                if let Response::ReceiptsSent { results } = &mut resp {
                    for r in results.iter_mut() {
                        // Outsiders are refused as not in the audience, or (E1) as if
                        // the message did not exist.
                        if matches!(
                            r.result,
                            Err(ErrorCode::NotInAudience | ErrorCode::MessageNotFound)
                        ) {
                            r.result = Ok(());
                        }
                    }
                }
            }
        }
        resp
    }
}

/// The brief's small scenario (60 users, 6 Work groups, 20 pairs, 60s); the `{...}` knobs
/// are filled in by [`scenario_with`].
const SCENARIO: &str = r#"
name = "checkers-fire"
seed = 7
duration = "60s"

[population]
users = 60
online_share = {online_share}

[[groups]]
name = "work"
count = 6
type = "Work"
size = { dist = "uniform", min = {min_size}, max = 10 }

[c2c]
pairs = 20

[traffic]
group_messages_per_sec = 5.0
c2c_messages_per_sec = 2.0

[reading]
read_probability = {read_probability}

[pulls]
per_user_per_minute = 2.0

[checks]
liveness_bound = "2s"
"#;

/// The scenario with its knobs set: reading probability, online share, smallest group.
pub(crate) fn scenario_with(
    read_probability: f64,
    online_share: f64,
    min_size: u32,
) -> readsim::scenario::Scenario {
    let text = SCENARIO
        .replace("{read_probability}", &format!("{read_probability:?}"))
        .replace("{online_share}", &format!("{online_share:?}"))
        .replace("{min_size}", &min_size.to_string());
    readsim::scenario::parse_str(&text, "test").expect("scenario parses")
}

fn scenario() -> readsim::scenario::Scenario {
    scenario_with(1.0, 0.9, 4)
}

fn receipt_config(s: &readsim::scenario::Scenario) -> ReceiptConfig {
    s.receipts.config()
}

fn sim_check_config(s: &readsim::scenario::Scenario) -> CheckConfig {
    CheckConfig {
        liveness_bound: s.checks.liveness_bound.micros,
        ..check_config()
    }
}

fn run_sim<T: Target>(s: &readsim::scenario::Scenario, target: &mut T) -> Checker {
    readsim::observers::simulate(s, s.seed, target, sim_check_config(s))
        .observers
        .checker
}

pub(crate) fn clean_sim(s: &readsim::scenario::Scenario) -> (ModelTarget, Checker) {
    let mut target = ModelTarget::new(Model::new(receipt_config(s)));
    let c = run_sim(s, &mut target);
    (target, c)
}

#[test]
fn sim_clean_model_run_has_no_violations() {
    let s = scenario();
    let mut target = ModelTarget::new(Model::new(receipt_config(&s)));
    let out = readsim::observers::simulate(&s, s.seed, &mut target, sim_check_config(&s));
    assert_clean(&out.observers.checker);
    assert_eq!(out.target_name, "model");
    // The run did real work: messages, reads, pulls.
    assert!(
        target.model.message_count() > 200,
        "{}",
        target.model.message_count()
    );
    assert!(out.observers.metrics.total_ops() > 1000);
}

/// Asserts that the over-counting target trips `must` and nothing outside `may`.
fn assert_over_count_caught(c: &Checker, must: &[Invariant]) {
    let may = [
        Invariant::CountUpperBound,
        Invariant::QuietState,
        Invariant::MonotoneCounts,
    ];
    for inv in must {
        assert!(
            c.counts().contains_key(inv),
            "{} did not fire: {}",
            inv.name(),
            describe(c)
        );
    }
    for inv in c.counts().keys() {
        assert!(may.contains(inv), "{} fired: {}", inv.name(), describe(c));
    }
    assert!(
        c.violations()
            .iter()
            .all(|v| v.replay == REPLAY && v.msg.is_some())
    );
}

#[test]
fn sim_over_counting_target_is_caught() {
    // Every audience member of this scenario is online and reads, so the over-count (which
    // needs an unread member left) shows only in mid-run pulls, ahead of the receipts invoked.
    let s = scenario();
    let mut target = BrokenTarget::new(receipt_config(&s), Bug::OverCounts);
    let c = run_sim(&s, &mut target);
    assert_over_count_caught(&c, &[Invariant::CountUpperBound]);
}

#[test]
fn sim_over_counting_target_is_caught_once_quiet_too() {
    // With members who never read, the final pulls over-count too: quiet_state.
    let s = scenario_with(0.6, 0.9, 4);
    let (_, clean) = clean_sim(&s);
    assert_clean(&clean);
    let mut target = BrokenTarget::new(receipt_config(&s), Bug::OverCounts);
    let c = run_sim(&s, &mut target);
    assert_over_count_caught(&c, &[Invariant::CountUpperBound, Invariant::QuietState]);
}

#[test]
fn sim_push_dropping_target_is_caught_by_liveness_only() {
    let s = scenario();
    let mut target = BrokenTarget::new(receipt_config(&s), Bug::DropsReceiptsPushes);
    let c = run_sim(&s, &mut target);
    assert!(target.dropped > 0);
    let v = assert_only(&c, Invariant::Liveness, None);
    assert!(v.iter().all(|v| v.msg.is_some()), "{v:?}");
}

#[test]
fn outsider_accepting_target_is_caught_by_result_codes() {
    // The simulated workload never sends receipts from outside the audience, so this bug is
    // driven by the handcrafted baseline, whose outsider receipt the broken target accepts.
    let mut h = History::new(BrokenTarget::new(
        ReceiptConfig::default(),
        Bug::AcceptsOutsiderReceipts,
    ));
    baseline(&mut h, Fault::None);
    let v = assert_only(&h.checker, Invariant::ResultCodes, Some(M_WORK));
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].client, Some(OUTSIDER));
}
