//! `readsim shrink`: reduce a failing scenario along its own dimensions (group classes, group
//! counts and sizes, users, 1:1 pairs, duration, rates) while the same invariant still breaks
//! under the same seed, then write the small scenario and the one command that replays it.
//! Greedy and deterministic: candidates are tried most-aggressive first, the first that still
//! fails is taken, and the search restarts from it until no candidate fails.

use crate::check::Invariant;
use crate::cmd::{ExitStatus, ReplayCommand};
use crate::scenario::{self, DelayDist, Dur, FAULT_KNOBS, Scenario, SizeDist};

/// How a shrink went.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub scenario: Scenario,
    /// Candidate runs made.
    pub runs: u32,
    /// Candidates accepted.
    pub steps: u32,
}

/// Shrinks `s` while `still_fails` holds. `still_fails` must be deterministic (it runs the
/// scenario with a fixed seed). Stops after `max_runs` candidate runs.
pub fn shrink(
    s: &Scenario,
    max_runs: u32,
    mut still_fails: impl FnMut(&Scenario) -> bool,
) -> Shrunk {
    let mut best = s.clone();
    let (mut runs, mut steps) = (0, 0);
    'outer: while runs < max_runs {
        for c in candidates(&best) {
            if scenario::validate(&c).is_err() {
                continue;
            }
            runs += 1;
            if still_fails(&c) {
                best = c;
                steps += 1;
                continue 'outer;
            }
            if runs >= max_runs {
                break 'outer;
            }
        }
        break;
    }
    Shrunk {
        scenario: best,
        runs,
        steps,
    }
}

/// The invariant a run's first violation broke: what "the same violation" means here.
pub type Signature = Invariant;

fn halve(x: u32, floor: u32) -> u32 {
    (x / 2).max(floor)
}

fn size_max(d: &SizeDist) -> u32 {
    match *d {
        SizeDist::Fixed { value } => value,
        SizeDist::Uniform { max, .. } | SizeDist::Zipf { max, .. } => max,
    }
}

fn clamp_size(d: &SizeDist, cap: u32) -> SizeDist {
    let cap = cap.max(2);
    match *d {
        SizeDist::Fixed { value } => SizeDist::Fixed {
            value: value.min(cap),
        },
        SizeDist::Uniform { min, max } => SizeDist::Uniform {
            min: min.min(cap),
            max: max.min(cap),
        },
        SizeDist::Zipf { min, max, exponent } => SizeDist::Zipf {
            min: min.min(cap),
            max: max.min(cap),
            exponent,
        },
    }
}

fn shorter(d: &DelayDist) -> DelayDist {
    let h = |x: Dur| Dur::from_micros(x.micros / 2);
    match *d {
        DelayDist::Fixed { value } => DelayDist::Fixed { value: h(value) },
        DelayDist::Uniform { min, max } => DelayDist::Uniform {
            min: h(min),
            max: h(max),
        },
        DelayDist::Exp { mean, max } => DelayDist::Exp {
            mean: h(mean),
            max: h(max),
        },
        DelayDist::Lognormal { median, sigma, max } => DelayDist::Lognormal {
            median: h(median),
            sigma,
            max: h(max),
        },
    }
}

/// Smaller variants of `s`, most aggressive first. The order is part of the result: the
/// shrinker keeps the first candidate that still fails.
fn candidates(s: &Scenario) -> Vec<Scenario> {
    let mut v = Variants {
        base: s,
        out: Vec::new(),
    };
    without_dimensions(&mut v);
    fewer_users(&mut v);
    fewer_and_smaller_groups(&mut v);
    fewer_and_weaker_faults(&mut v);
    less_time_and_traffic(&mut v);
    v.out
}

/// Variants of one scenario, each the scenario with one change, in the order pushed.
struct Variants<'a> {
    base: &'a Scenario,
    out: Vec<Scenario>,
}

impl Variants<'_> {
    fn push(&mut self, change: impl FnOnce(&mut Scenario)) {
        let mut c = self.base.clone();
        change(&mut c);
        self.out.push(c);
    }
}

/// Whole dimensions away: each group class, 1:1 chats, pulls.
fn without_dimensions(v: &mut Variants) {
    let s = v.base;
    for i in 0..s.groups.len() {
        v.push(|c| {
            c.groups.remove(i);
        });
    }
    if s.c2c.pairs > 0 {
        v.push(|c| c.c2c.pairs = 0);
    }
    if s.pulls.per_user_per_minute > 0.0 {
        v.push(|c| c.pulls.per_user_per_minute = 0.0);
    }
}

/// Half the users, then one fewer (for when halving loses the failure); group sizes and
/// 1:1 pairs follow.
fn fewer_users(v: &mut Variants) {
    let users = v.base.population.users;
    if users > 2 {
        v.push(|c| set_users(c, halve(users, 2)));
        v.push(|c| set_users(c, users - 1));
    }
}

fn set_users(c: &mut Scenario, users: u32) {
    c.population.users = users;
    for g in &mut c.groups {
        g.size = clamp_size(&g.size, users);
    }
    c.c2c.pairs = c.c2c.pairs.min(users * (users - 1) / 2);
}

/// Per group class: fewer groups, then smaller ones; then fewer 1:1 pairs.
fn fewer_and_smaller_groups(v: &mut Variants) {
    let s = v.base;
    for (i, g) in s.groups.iter().enumerate() {
        if g.count > 1 {
            v.push(|c| c.groups[i].count = halve(c.groups[i].count, 1));
            v.push(|c| c.groups[i].count -= 1);
        }
        let max = size_max(&g.size);
        if max > 2 {
            v.push(|c| c.groups[i].size = clamp_size(&c.groups[i].size, halve(max, 2)));
            v.push(|c| c.groups[i].size = clamp_size(&c.groups[i].size, max - 1));
        }
    }
    if s.c2c.pairs > 1 {
        v.push(|c| c.c2c.pairs = halve(c.c2c.pairs, 1));
    }
}

/// Fault kinds and churn away, then weaker.
fn fewer_and_weaker_faults(v: &mut Variants) {
    let s = v.base;
    for k in &FAULT_KNOBS {
        if (k.get)(&s.faults) > 0.0 {
            v.push(|c| (k.set)(&mut c.faults, 0.0));
        }
    }
    if s.churn.per_minute > 0.0 {
        v.push(|c| c.churn.per_minute = 0.0);
    }
    for k in &FAULT_KNOBS {
        if let Some(w) = k.weaker(&s.faults) {
            v.push(|c| (k.set)(&mut c.faults, w));
        }
    }
    if s.churn.per_minute > 0.5 {
        v.push(|c| c.churn.per_minute /= 2.0);
    }
}

/// Less time (the fault phase shrinks with the run), traffic, paging, offline users and
/// reading delay.
fn less_time_and_traffic(v: &mut Variants) {
    let s = v.base;
    // A staircase pins the duration (its steps must start inside the run): drop it first.
    if s.traffic.steps.is_some() {
        v.push(|c| c.traffic.steps = None);
    }
    if s.duration.micros > 1_000_000 {
        v.push(|c| {
            let old = c.duration.micros;
            c.duration = Dur::from_micros((old / 2).max(1_000_000));
            if let Some(u) = c.faults.until {
                let scaled = u128::from(u.micros) * u128::from(c.duration.micros) / u128::from(old);
                c.faults.until = Some(Dur::from_micros(scaled as u64));
            }
        });
    }
    if s.traffic.group_messages_per_sec > 0.1 {
        v.push(|c| c.traffic.group_messages_per_sec /= 2.0);
    }
    if s.traffic.c2c_messages_per_sec > 0.1 {
        v.push(|c| c.traffic.c2c_messages_per_sec /= 2.0);
    }
    if s.pulls.member_list_page > 1 {
        v.push(|c| c.pulls.member_list_page = halve(c.pulls.member_list_page, 1));
    }
    if s.population.online_share < 1.0 {
        v.push(|c| c.population.online_share = 1.0);
    }
    if s.reading.delay.upper_bound().micros > 1000 {
        v.push(|c| c.reading.delay = shorter(&c.reading.delay));
    }
}

/// The scenario as a TOML file, with a header saying how to replay it.
pub fn to_toml(s: &Scenario, replay: &str) -> String {
    let body = toml::to_string(s).unwrap_or_else(|e| format!("# cannot serialise: {e}\n"));
    format!("# Shrunk by readsim. Replay with:\n#   {replay}\n\n{body}")
}

/// `readsim shrink`: shrinks and prints what it wrote; exit 2 when the run does not fail.
pub fn execute(
    file: &std::path::Path,
    seed: Option<u64>,
    out: Option<&std::path::Path>,
    max_runs: u32,
    bug: Option<crate::target::faulty::Bug>,
) -> Result<ExitStatus, crate::scenario::ScenarioError> {
    let r = shrink_file(file, seed, bug, max_runs, out)?;
    match r.describe() {
        Some(text) => {
            super::print(&format!("{text}\n"));
            Ok(ExitStatus::Pass)
        }
        None => {
            eprintln!(
                "{} passes with this seed: nothing to shrink (find a failing seed with \
                 `readsim sweep`)",
                file.display()
            );
            Ok(ExitStatus::BadInput)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Scenario {
        scenario::parse_str(
            r#"
            name = "shrink-test"
            duration = "40s"
            [population]
            users = 64
            [[groups]]
            count = 6
            type = "Work"
            size = { dist = "uniform", min = 3, max = 20 }
            [[groups]]
            count = 2
            type = "Community"
            size = { dist = "fixed", value = 9 }
            [c2c]
            pairs = 10
            "#,
            "test",
        )
        .unwrap()
    }

    #[test]
    fn shrinks_along_every_dimension_to_the_smallest_failing_case() {
        // A synthetic failure: any scenario with a Work group of at least 3 members fails.
        let fails = |s: &Scenario| {
            s.groups
                .iter()
                .any(|g| g.group_type == crate::protocol::GroupType::Work && size_max(&g.size) >= 3)
        };
        let r = shrink(&base(), 500, fails);
        let s = &r.scenario;
        assert!(fails(s));
        assert_eq!(s.groups.len(), 1, "the Community class is dropped");
        assert_eq!(s.groups[0].count, 1);
        assert_eq!(size_max(&s.groups[0].size), 3);
        assert_eq!(s.population.users, 3);
        assert_eq!(s.c2c.pairs, 0);
        assert!(r.steps > 5 && r.runs >= r.steps);
        assert!(scenario::validate(s).is_ok());
    }

    #[test]
    fn shrunk_scenarios_round_trip_through_toml() {
        let s = base();
        let text = to_toml(&s, "readsim run x.toml --seed 1");
        assert!(text.starts_with("# Shrunk by readsim"));
        let back = scenario::parse_str(&text, "round-trip").unwrap();
        assert_eq!(back.population.users, s.population.users);
        assert_eq!(back.groups.len(), s.groups.len());
        assert_eq!(back.groups[0].size, s.groups[0].size);
        assert_eq!(back.duration, s.duration);
        assert_eq!(back.reading.delay, s.reading.delay);
    }
}

/// What `readsim shrink` did.
#[derive(Clone, Debug)]
pub struct ShrinkReport {
    /// The invariant the original run broke (None: it did not fail, nothing to shrink).
    pub signature: Option<Signature>,
    pub shrunk: Option<Shrunk>,
    /// Where the small scenario was written, and the command that replays it.
    pub written: Option<std::path::PathBuf>,
    pub replay: Option<ReplayCommand>,
}

impl ShrinkReport {
    /// What was shrunk to what, where it was written and how to replay it (None when the
    /// run did not fail and nothing was shrunk).
    pub fn describe(&self) -> Option<String> {
        let (sig, shrunk, path, replay) = (
            self.signature?,
            self.shrunk.as_ref()?,
            self.written.as_ref()?,
            self.replay.as_ref()?,
        );
        let s = &shrunk.scenario;
        Some(format!(
            "shrunk `{}` failure in {} runs ({} steps) to {} users, {} groups, {} pairs, {} of \
             traffic\nwrote {}\nreplay: {replay}",
            sig.name(),
            shrunk.runs,
            shrunk.steps,
            s.population.users,
            s.groups.iter().map(|g| g.count).sum::<u32>(),
            s.c2c.pairs,
            s.duration,
            path.display()
        ))
    }
}

/// Runs `file` with `seed` (and `bug`), and if it fails, shrinks it and writes the small
/// scenario to `out` (default: next to `file`, named `<stem>.shrunk.toml`).
pub fn shrink_file(
    file: &std::path::Path,
    seed: Option<u64>,
    bug: Option<crate::target::faulty::Bug>,
    max_runs: u32,
    out: Option<&std::path::Path>,
) -> Result<ShrinkReport, crate::scenario::ScenarioError> {
    use crate::cmd::sweep::run_seed;
    let s = scenario::load_file(file)?;
    let seed = seed.unwrap_or(s.seed);
    let first = run_seed(&s, file, seed, bug).first.map(|v| v.invariant);
    let Some(sig) = first else {
        return Ok(ShrinkReport {
            signature: None,
            shrunk: None,
            written: None,
            replay: None,
        });
    };
    let shrunk = shrink(&s, max_runs, |c| {
        run_seed(c, file, seed, bug).first.map(|v| v.invariant) == Some(sig)
    });
    let path = match out {
        Some(p) => p.to_path_buf(),
        None => {
            let stem = file
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("scenario");
            file.with_file_name(format!("{stem}.shrunk.toml"))
        }
    };
    let mut small = shrunk.scenario.clone();
    small.seed = seed;
    small.name = format!("{}-shrunk", s.name);
    let cmd = ReplayCommand::new(&path, seed).with_bug(bug);
    std::fs::write(&path, to_toml(&small, &cmd.to_string())).map_err(|source| {
        crate::scenario::ScenarioError::Io {
            path: path.clone(),
            source,
        }
    })?;
    Ok(ShrinkReport {
        signature: Some(sig),
        shrunk: Some(shrunk),
        written: Some(path),
        replay: Some(cmd),
    })
}
