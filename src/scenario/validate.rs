//! Semantic checks of a parsed scenario: ranges, and fields that must agree with each other.
//! Paths are the TOML field paths (`groups[1].size.max`), so the loader can find their lines.

use super::error::Invalid;
use super::steps::{MAX_SCALE, MAX_STEPS};
use super::types::{DelayDist, Dur, EverySteps, MAX_DEVICES, Scenario, SizeDist, Step, Steps};

/// Largest population and largest total group count a scenario may ask for.
pub const MAX_USERS: u32 = 10_000_000;
/// Largest total number of groups over all classes.
pub const MAX_GROUPS: u64 = 10_000_000;
/// Longest run duration.
pub const MAX_DURATION: Dur = Dur::from_secs(30 * 24 * 3600);
/// Largest message body.
pub const MAX_BODY_BYTES: u32 = 65_536;
/// Largest page size (history, member lists) and receipt batch.
pub const MAX_PAGE: u32 = 100;
/// Largest log-normal shape.
pub const MAX_SIGMA: f64 = 5.0;
/// Most `[[groups]]` classes in one file.
pub const MAX_GROUP_CLASSES: usize = 1000;
/// Longest delay, timeout or window of any duration-like field but `duration` itself (and
/// the longest latency the histograms track exactly): nothing in a run is sized by a
/// delay beyond it.
pub const MAX_DELAY: Dur = Dur::from_secs(3600);
/// Highest message rate (per virtual second, all conversations together).
pub const MAX_MESSAGES_PER_SEC: f64 = 1e6;
/// Highest per-minute rate of pulls per user.
pub const MAX_PULLS_PER_USER_PER_MINUTE: f64 = 600.0;
/// Highest whole-system per-minute rate (churn, stalls, disconnects).
pub const MAX_PER_MINUTE: f64 = 6e7;

/// Checks every range and cross-field rule; returns all problems found (in field order),
/// without line numbers (the loader adds them).
pub fn validate(s: &Scenario) -> Result<(), Vec<Invalid>> {
    let mut c = Checker::default();
    // One call per section, in the order the fields are reported: tests assert that order.
    check_run(&mut c, s);
    check_population(&mut c, s);
    let total_groups = check_groups(&mut c, s);
    check_c2c(&mut c, s, total_groups);
    check_receipts(&mut c, s);
    check_traffic(&mut c, s);
    check_reading(&mut c, s);
    check_pulls(&mut c, s);
    check_delay(&mut c, "network.latency", &s.network.latency);
    check_checks(&mut c, s);
    check_faults(&mut c, s);
    check_churn(&mut c, s);
    check_slo(&mut c, s);
    if c.problems.is_empty() {
        Ok(())
    } else {
        Err(c.problems)
    }
}

/// Top-level fields: name and duration.
fn check_run(c: &mut Checker, s: &Scenario) {
    if s.name.trim().is_empty() {
        c.push(
            "name",
            "must not be empty".into(),
            "write a short label, e.g. name = \"smoke\"",
        );
    }
    if s.duration.micros == 0 {
        c.push(
            "duration",
            "must be > 0, got 0s".into(),
            "give the run a length, e.g. duration = \"10m\"",
        );
    } else if s.duration > MAX_DURATION {
        c.push(
            "duration",
            format!("must be at most {MAX_DURATION}, got {}", s.duration),
            "shorten the run",
        );
    }
}

fn check_population(c: &mut Checker, s: &Scenario) {
    let users = s.population.users;
    if !(2..=MAX_USERS).contains(&users) {
        c.push(
            "population.users",
            format!("must be in 2..={MAX_USERS}, got {users}"),
            "set a population of at least 2 users",
        );
    }
    c.share("population.online_share", s.population.online_share);
    let (devices, hint) = (
        s.population.devices,
        "1 (the default) to 4 connections per user",
    );
    c.range("population.devices", devices, 1, MAX_DEVICES, hint);
    if devices > 1 && s.semantics.profile.is_matrix() {
        c.push(
            "population.devices",
            format!("must be 1 under the matrix profile, got {devices}"),
            "the Matrix adapter holds one connection per user; set devices = 1",
        );
    }
}

/// Group classes; returns the total group count, which the 1:1 check needs.
fn check_groups(c: &mut Checker, s: &Scenario) -> u64 {
    let mut total_groups: u64 = 0;
    if s.groups.len() > MAX_GROUP_CLASSES {
        c.push(
            "groups",
            format!(
                "at most {MAX_GROUP_CLASSES} [[groups]] classes, got {}",
                s.groups.len()
            ),
            "merge classes of the same type: one class holds any number of groups (count) \
             and a size distribution",
        );
        return 0;
    }
    for (i, g) in s.groups.iter().enumerate() {
        let p = format!("groups[{i}]");
        total_groups += u64::from(g.count);
        if g.count == 0 {
            c.push(
                &format!("{p}.count"),
                "must be >= 1, got 0".into(),
                "remove the class or give it at least one group",
            );
        }
        c.rate(&format!("{p}.traffic_weight"), g.traffic_weight);
        check_size(c, &format!("{p}.size"), &g.size, s.population.users);
    }
    if total_groups > MAX_GROUPS {
        c.push(
            "groups",
            format!("total count must be at most {MAX_GROUPS}, got {total_groups}"),
            "lower the count of the largest classes",
        );
    }
    let group_traffic = s
        .groups
        .iter()
        .any(|g| g.count > 0 && g.traffic_weight > 0.0);
    if total_groups > 0
        && !group_traffic
        && s.traffic.group_messages_per_sec > 0.0
        && s.groups
            .iter()
            .all(|g| g.traffic_weight.is_finite() && g.traffic_weight >= 0.0)
    {
        c.push(
            "traffic.group_messages_per_sec",
            format!(
                "is {} but every group class has traffic_weight 0",
                s.traffic.group_messages_per_sec
            ),
            "give some class a traffic_weight > 0, or set group_messages_per_sec = 0",
        );
    }
    total_groups
}

/// 1:1 conversations, and that there is some conversation at all.
fn check_c2c(c: &mut Checker, s: &Scenario, total_groups: u64) {
    let users = s.population.users;
    let pairs = u64::from(s.c2c.pairs);
    let max_pairs = u64::from(users) * u64::from(users.saturating_sub(1)) / 2;
    if pairs > max_pairs {
        c.push(
            "c2c.pairs",
            format!("must be <= users*(users-1)/2 ({max_pairs}) for {users} users, got {pairs}"),
            "lower c2c.pairs or raise population.users",
        );
    } else if pairs > 0 && (f64::from(users) * s.population.online_share) < 2.0 {
        c.push(
            "c2c.pairs",
            format!(
                "needs at least 2 online users, but users * online_share = {}",
                f64::from(users) * s.population.online_share
            ),
            "raise population.online_share or population.users, or set c2c.pairs = 0",
        );
    }
    if total_groups == 0 && pairs == 0 {
        c.push(
            "groups",
            "no conversations: no group class has count > 0 and c2c.pairs = 0".into(),
            "add a [[groups]] class or set c2c.pairs > 0",
        );
    }
}

fn check_receipts(c: &mut Checker, s: &Scenario) {
    if s.receipts.max_group_size == 0 {
        c.push(
            "receipts.max_group_size",
            "must be >= 1, got 0".into(),
            "set the largest group size that takes receipts, e.g. 200",
        );
    }
}

fn check_traffic(c: &mut Checker, s: &Scenario) {
    c.rate_at_most(
        "traffic.group_messages_per_sec",
        s.traffic.group_messages_per_sec,
        MAX_MESSAGES_PER_SEC,
    );
    c.rate_at_most(
        "traffic.c2c_messages_per_sec",
        s.traffic.c2c_messages_per_sec,
        MAX_MESSAGES_PER_SEC,
    );
    c.share("traffic.receipt_share", s.traffic.receipt_share);
    c.share("traffic.misuse_share", s.traffic.misuse_share);
    if s.traffic.body_bytes > MAX_BODY_BYTES {
        c.push(
            "traffic.body_bytes",
            format!(
                "must be at most {MAX_BODY_BYTES}, got {}",
                s.traffic.body_bytes
            ),
            "use a smaller body; its size only loads the transport",
        );
    }
    check_steps(c, s);
}

/// The staircase: inside the duration, increasing, positive scales, and no step whose scaled
/// rate passes the message-rate cap.
fn check_steps(c: &mut Checker, s: &Scenario) {
    let t = &s.traffic;
    if t.saturation_p99.micros == 0 {
        c.push(
            "traffic.saturation_p99",
            "must be > 0, got 0s".into(),
            "give the receipt->notified p99 that counts as saturated, e.g. \"1s\"",
        );
    }
    c.at_most("traffic.saturation_p99", t.saturation_p99);
    let Some(steps) = &t.steps else { return };
    match steps {
        Steps::Every(e) => check_every_steps(c, s, e),
        Steps::List(list) => check_step_list(c, s, list),
    }
    let top = steps.starts().iter().map(|&(_, k)| k).fold(1.0, f64::max);
    let peak = t.group_messages_per_sec.max(t.c2c_messages_per_sec) * top;
    if top.is_finite() && peak.is_finite() && peak > MAX_MESSAGES_PER_SEC {
        c.push(
            "traffic.steps",
            format!("the top step's rate is {peak}/s, over the cap of {MAX_MESSAGES_PER_SEC}/s"),
            "use fewer steps or smaller scales",
        );
    }
}

fn check_every_steps(c: &mut Checker, s: &Scenario, e: &EverySteps) {
    if e.every.micros == 0 {
        c.push(
            "traffic.steps.every",
            "must be > 0, got 0s".into(),
            "give the length of one step, e.g. every = \"30s\"",
        );
    }
    if !(e.factor.is_finite() && e.factor > 0.0) {
        c.push(
            "traffic.steps.factor",
            format!("must be a finite number > 0, got {}", e.factor),
            "write the rate multiplier from one step to the next, e.g. 1.5",
        );
    }
    c.range(
        "traffic.steps.count",
        e.count,
        1,
        MAX_STEPS as u32,
        "a staircase has 1 to 100 steps after the base rate",
    );
    let last = u128::from(e.every.micros) * u128::from(e.count);
    if e.every.micros > 0 && e.count > 0 && last >= u128::from(s.duration.micros) {
        c.push(
            "traffic.steps.count",
            format!(
                "the last step would start at {}, not before the end of the run ({})",
                Dur::from_micros(u64::try_from(last).unwrap_or(u64::MAX)),
                s.duration
            ),
            "every step must start inside the run: lower count or every, or lengthen duration",
        );
    } else if e.factor.is_finite() && e.factor.powi(e.count as i32) > MAX_SCALE {
        c.push(
            "traffic.steps.factor",
            format!("the top step's scale passes {MAX_SCALE}"),
            "use a smaller factor or fewer steps",
        );
    }
}

fn check_step_list(c: &mut Checker, s: &Scenario, list: &[Step]) {
    if list.is_empty() {
        c.push(
            "traffic.steps",
            "must list at least one step".into(),
            "add [[traffic.steps]] tables with `at` and `scale`, or remove `steps`",
        );
    }
    if list.len() > MAX_STEPS {
        c.push(
            "traffic.steps",
            format!("at most {MAX_STEPS} steps, got {}", list.len()),
            "a staircase has 1 to 100 steps after the base rate",
        );
        return;
    }
    let mut before = Dur::from_micros(0);
    for (i, step) in list.iter().enumerate() {
        let p = format!("traffic.steps[{i}]");
        if step.at.micros == 0 || step.at >= s.duration {
            c.push(
                &format!("{p}.at"),
                format!(
                    "must be inside the run (0s < at < {}), got {}",
                    s.duration, step.at
                ),
                "start each step after the run starts and before `duration` ends it",
            );
        } else if i > 0 && step.at <= before {
            c.push(
                &format!("{p}.at"),
                format!(
                    "must be later than the step before ({before}), got {}",
                    step.at
                ),
                "list steps in increasing time order",
            );
        }
        before = before.max(step.at);
        if !(step.scale.is_finite() && step.scale > 0.0 && step.scale <= MAX_SCALE) {
            c.push(
                &format!("{p}.scale"),
                format!(
                    "must be a finite number in (0, {MAX_SCALE}], got {}",
                    step.scale
                ),
                "write the multiplier of the base rates, e.g. 2.0",
            );
        }
    }
}

fn check_reading(c: &mut Checker, s: &Scenario) {
    c.share("reading.read_probability", s.reading.read_probability);
    check_delay(c, "reading.delay", &s.reading.delay);
    c.at_most("reading.batch_window", s.reading.batch_window);
    c.range(
        "reading.batch_max",
        s.reading.batch_max,
        1,
        MAX_PAGE,
        "a receipt batch holds 1 to 100 messages",
    );
    c.share("reading.c2c_mark_read_share", s.reading.c2c_mark_read_share);
    c.share("reading.repeat_share", s.reading.repeat_share);
}

fn check_pulls(c: &mut Checker, s: &Scenario) {
    c.rate_at_most(
        "pulls.per_user_per_minute",
        s.pulls.per_user_per_minute,
        MAX_PULLS_PER_USER_PER_MINUTE,
    );
    c.range(
        "pulls.history_page",
        s.pulls.history_page,
        1,
        MAX_PAGE,
        "a history page holds 1 to 100 messages",
    );
    c.share("pulls.member_list_share", s.pulls.member_list_share);
    c.range(
        "pulls.member_list_page",
        s.pulls.member_list_page,
        1,
        MAX_PAGE,
        "a member-list page holds 1 to 100 members",
    );
    if s.pulls.max_pages == 0 {
        c.push(
            "pulls.max_pages",
            "must be >= 1, got 0".into(),
            "set how many member-list pages one pull flow may read, e.g. 10",
        );
    }
    c.share("pulls.misuse_share", s.pulls.misuse_share);
    c.share("pulls.watch_share", s.pulls.watch_share);
}

fn check_checks(c: &mut Checker, s: &Scenario) {
    if s.checks.liveness_bound.micros == 0 {
        c.push(
            "checks.liveness_bound",
            "must be > 0, got 0s".into(),
            "give receipts time to reach their sender, e.g. \"5s\"",
        );
    }
    c.at_most("checks.liveness_bound", s.checks.liveness_bound);
    c.share("checks.final_pull_share", s.checks.final_pull_share);
    c.share("checks.final_list_share", s.checks.final_list_share);
    check_required_rules(c, s);
}

/// `require_coverage` may name only rules the run can exercise (`RequireCoverage::refusals`).
fn check_required_rules(c: &mut Checker, s: &Scenario) {
    let (profile, devices) = (s.semantics.profile, s.population.device_count());
    for (i, message, hint) in s.checks.require_coverage.refusals(profile, devices) {
        c.push(&format!("checks.require_coverage[{i}]"), message, &hint);
    }
}

fn check_faults(c: &mut Checker, s: &Scenario) {
    let f = &s.faults;
    if let Some(until) = f.until
        && until > s.duration
    {
        c.push(
            "faults.until",
            format!("must be <= duration ({}), got {until}", s.duration),
            "end the fault phase before traffic ends so the calm phase can check liveness",
        );
    }
    if f.request_timeout.micros == 0 {
        c.push(
            "faults.request_timeout",
            "must be > 0, got 0s".into(),
            "give requests time to be answered, e.g. \"3s\"",
        );
    }
    c.at_most("faults.request_timeout", f.request_timeout);
    c.range(
        "faults.max_retries",
        f.max_retries,
        0,
        100,
        "retry a receipt batch or pull at most 0 to 100 times",
    );
    c.share("faults.drop", f.drop);
    c.share("faults.duplicate", f.duplicate);
    c.share("faults.reorder", f.reorder);
    c.share("faults.delay", f.delay);
    check_delay(c, "faults.extra_delay", &f.extra_delay);
    c.rate_at_most(
        "faults.stalls_per_minute",
        f.stalls_per_minute,
        MAX_PER_MINUTE,
    );
    check_delay(c, "faults.stall", &f.stall);
    c.rate_at_most(
        "faults.disconnects_per_minute",
        f.disconnects_per_minute,
        MAX_PER_MINUTE,
    );
    check_delay(c, "faults.offline", &f.offline);
    c.range(
        "faults.crashes",
        f.crashes,
        0,
        1000,
        "crash the server 0 to 1000 times",
    );
    c.range(
        "faults.bursts",
        f.bursts,
        0,
        100_000,
        "inject 0 to 100000 receipt bursts",
    );
    c.at_most("faults.downtime", f.downtime);
    c.at_most("faults.burst_spread", f.burst_spread);
}

fn check_churn(c: &mut Checker, s: &Scenario) {
    let ch = &s.churn;
    c.rate_at_most("churn.per_minute", ch.per_minute, MAX_PER_MINUTE);
    for (p, v) in [
        ("churn.join", ch.join),
        ("churn.leave", ch.leave),
        ("churn.kick", ch.kick),
        ("churn.rejoin", ch.rejoin),
    ] {
        c.rate(p, v);
    }
    if ch.per_minute > 0.0 && ch.join + ch.leave + ch.kick + ch.rejoin <= 0.0 {
        c.push(
            "churn",
            "all kinds have weight 0".into(),
            "give at least one of join, leave, kick, rejoin a positive weight",
        );
    }
}

/// SLO rates (latency keys are checked while parsing: they are durations).
fn check_slo(c: &mut Checker, s: &Scenario) {
    if let Some(v) = s.slo.receipts_per_second_min {
        c.rate("slo.receipts_per_second_min", v);
    }
    if let Some(v) = s.slo.ops_per_second_min {
        c.rate("slo.ops_per_second_min", v);
    }
}

fn check_size(c: &mut Checker, p: &str, d: &SizeDist, users: u32) {
    let users_hint =
        "group sizes count members, sender included: at least 2 and at most population.users";
    match *d {
        SizeDist::Fixed { value } => {
            if value < 2 || value > users {
                c.push(
                    &format!("{p}.value"),
                    format!("must be in 2..={users} (population.users), got {value}"),
                    users_hint,
                );
            }
        }
        SizeDist::Uniform { min, max } | SizeDist::Zipf { min, max, .. } => {
            if min < 2 {
                c.push(
                    &format!("{p}.min"),
                    format!("must be >= 2, got {min}"),
                    users_hint,
                );
            }
            if min > max {
                c.push(
                    &format!("{p}.max"),
                    format!("must be >= min ({min}), got {max}"),
                    "raise max or lower min",
                );
            } else if max > users {
                c.push(
                    &format!("{p}.max"),
                    format!("must be <= population.users ({users}), got {max}"),
                    "lower max or raise population.users",
                );
            }
        }
    }
    if let SizeDist::Zipf { exponent, .. } = *d
        && !(exponent.is_finite() && exponent > 0.0)
    {
        c.push(
            &format!("{p}.exponent"),
            format!("must be a finite number > 0, got {exponent}"),
            "use e.g. 1.0; larger means more small groups",
        );
    }
}

fn check_delay(c: &mut Checker, p: &str, d: &DelayDist) {
    let bound = match d {
        DelayDist::Fixed { .. } => "value",
        _ => "max",
    };
    c.at_most(&format!("{p}.{bound}"), d.upper_bound());
    match *d {
        DelayDist::Fixed { .. } => {}
        DelayDist::Uniform { min, max } => {
            if min > max {
                c.push(
                    &format!("{p}.max"),
                    format!("must be >= min ({min}), got {max}"),
                    "raise max or lower min",
                );
            }
        }
        DelayDist::Exp { mean, max } => {
            if mean.micros == 0 {
                c.push(
                    &format!("{p}.mean"),
                    "must be > 0, got 0s".into(),
                    "use dist = \"fixed\" with value = \"0s\" for no delay, or a positive mean",
                );
            } else if max < mean {
                c.push(
                    &format!("{p}.max"),
                    format!("must be >= mean ({mean}), got {max}"),
                    "raise max (the cut-off) or lower mean",
                );
            }
        }
        DelayDist::Lognormal { median, sigma, max } => {
            if median.micros == 0 {
                c.push(
                    &format!("{p}.median"),
                    "must be > 0, got 0s".into(),
                    "use dist = \"fixed\" with value = \"0s\" for no delay, or a positive median",
                );
            }
            if !(sigma.is_finite() && sigma > 0.0 && sigma <= MAX_SIGMA) {
                c.push(
                    &format!("{p}.sigma"),
                    format!("must be in (0, {MAX_SIGMA}], got {sigma}"),
                    "use e.g. 0.5; larger means a longer tail",
                );
            }
            if median.micros > 0 && max < median {
                c.push(
                    &format!("{p}.max"),
                    format!("must be >= median ({median}), got {max}"),
                    "raise max (the cut-off) or lower median",
                );
            }
        }
    }
}

/// Collects problems.
#[derive(Default)]
struct Checker {
    problems: Vec<Invalid>,
}

impl Checker {
    fn push(&mut self, path: &str, message: String, hint: &str) {
        self.problems.push(Invalid {
            path: path.to_string(),
            message,
            hint: hint.to_string(),
            line: None,
        });
    }

    /// A share or probability: finite, in 0..=1.
    fn share(&mut self, path: &str, v: f64) {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            self.push(
                path,
                format!("must be in 0..=1, got {v}"),
                "write a fraction such as 0.25",
            );
        }
    }

    /// A rate or weight: finite, >= 0.
    fn rate(&mut self, path: &str, v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            self.push(
                path,
                format!("must be a finite number >= 0, got {v}"),
                "write 0 to switch it off, or a positive number",
            );
        }
    }

    /// A rate: finite, in 0..=`max`.
    fn rate_at_most(&mut self, path: &str, v: f64, max: f64) {
        if v.is_finite() && v > max {
            self.push(
                path,
                format!("must be at most {max}, got {v}"),
                "no run can carry this rate; lower it (readsim validate prints the run's size)",
            );
        } else {
            self.rate(path, v);
        }
    }

    /// A delay, timeout or window: at most [`MAX_DELAY`].
    fn at_most(&mut self, path: &str, d: Dur) {
        if d > MAX_DELAY {
            self.push(
                path,
                format!("must be at most {MAX_DELAY}, got {d}"),
                "delays, timeouts and windows are capped at 1h; shorten it",
            );
        }
    }

    fn range(&mut self, path: &str, v: u32, lo: u32, hi: u32, hint: &str) {
        if !(lo..=hi).contains(&v) {
            self.push(path, format!("must be in {lo}..={hi}, got {v}"), hint);
        }
    }
}
