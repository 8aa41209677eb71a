//! How big a run of a scenario will be, before it starts: operations, connections and peak
//! memory, from a simple model of what the simulator keeps (documented in
//! docs/architecture.md, "Run size estimate"). `readsim validate` prints it and `run` refuses
//! a scenario whose estimate does not fit the memory budget or the operation cap.
//!
//! The model counts what grows with the scenario and charges each a fixed number of bytes,
//! calibrated on measured runs (smoke ~70 MiB, large ~505 MiB, million ~816 MiB with a release
//! build) and rounded up:
//! - users: clients, links, the model's, the checker's and the workload's per-user state;
//! - memberships (sum over groups of their size): plan lists, membership bitmaps in the
//!   workload, the model and the checker;
//! - pairs: plan, conversation lists, the model's and the checker's 1:1 state;
//! - messages: kept to the end by the model, the checker's book and the metrics;
//! - reads: each receipt is kept by the model (reader list), the checker and the metrics;
//! - audience snapshots made by churn (each copies a group's member bitmap);
//! - events in flight: reads waiting for their delay, the rest of the queue;
//! - the fault plan's cuts and stalls, drawn before the run starts (each also costs a few
//!   operations: the cut, the reconnect, its catch-up pulls);
//! - a fixed base (binary, histograms, timing wheel).
//!
//! A shard (`Scenario::shard`, `--shard I/N`) is estimated as the expected shard: 1/N of the
//! conversations with their traffic, and the users holding at least one of them (a user in k
//! conversations is in a given shard with probability 1 - (1 - 1/N)^k, taken at the mean k,
//! which over-estimates); every shard expects the same. A live run adds
//! [`LIVE_BYTES_PER_CONNECTION`] per connection.

use super::error::Invalid;
use super::types::{DelayDist, Scenario, SizeDist};

/// Bytes charged per user.
pub const BYTES_PER_USER: f64 = 256.0;
/// Bytes charged per group membership.
pub const BYTES_PER_MEMBERSHIP: f64 = 48.0;
/// Bytes charged per group.
pub const BYTES_PER_GROUP: f64 = 256.0;
/// Bytes charged per 1:1 pair.
pub const BYTES_PER_PAIR: f64 = 160.0;
/// Bytes charged per message (group or 1:1).
pub const BYTES_PER_MESSAGE: f64 = 512.0;
/// Bytes charged per receipt (a reader of a receipt-needing message).
pub const BYTES_PER_READ: f64 = 64.0;
/// Bytes charged per member copied into a churned audience snapshot.
pub const BYTES_PER_SNAPSHOT_MEMBER: f64 = 4.0;
/// Bytes charged per event waiting in the queue.
pub const BYTES_PER_EVENT: f64 = 128.0;
/// Fixed base: the binary, the histograms, the timing wheel, the reports.
pub const BASE_BYTES: f64 = 48.0 * 1024.0 * 1024.0;
/// Bytes the live driver holds per client connection beyond the simulator's state (its
/// reader and writer tasks, socket buffers, the proxy's when faults are on), measured with
/// `readsim run --target server`: 1,000 clients peaked at 68 MiB, 6,000 at 143 MiB (~15.7 KB
/// each), rounded up.
pub const LIVE_BYTES_PER_CONNECTION: f64 = 16.0 * 1024.0;
/// Most operations and pushes a run may have (~25 minutes at the large scenario's rate on
/// two cores; more is a soak test the simulator is not built for).
pub const MAX_OPERATIONS: u64 = 1_000_000_000;

/// The estimated size of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Clients connected for the whole run (online users).
    pub connections: u64,
    /// Group memberships at the start (sum of group sizes).
    pub memberships: u64,
    /// Messages sent (group and 1:1).
    pub messages: u64,
    /// Receipts sent (reads of receipt-needing messages).
    pub reads: u64,
    /// Operations plus pushes, final checks included.
    pub operations: u64,
    /// Peak resident memory in bytes.
    pub memory_bytes: u64,
    /// The same for a live run, which also holds every client's connection.
    pub live_memory_bytes: u64,
    /// N of the shard estimated (1: the whole run).
    pub shards: u32,
    /// Memory by part, largest first: (part, bytes, the field that drives it).
    pub parts: Vec<(&'static str, u64, String)>,
    /// Which field drives most of the operations.
    pub ops_field: String,
}

/// Counts in f64 (hostile scenarios overflow u64 products; `as u64` saturates).
struct Counts {
    users: f64,
    online: f64,
    /// Connections per online user.
    devices: f64,
    groups: f64,
    memberships: f64,
    biggest_class: Option<usize>,
    audience: f64,
    pairs: f64,
    group_msgs: f64,
    c2c_msgs: f64,
    deliveries: f64,
    reads: f64,
    pull_ops: f64,
    churn_ops: f64,
    final_ops: f64,
    in_flight: f64,
    /// Connection cuts and stalls the fault plan schedules before the run starts.
    fault_events: f64,
    fault_field: &'static str,
}

impl Estimate {
    /// The estimate of a run of `s` (validated: finite, non-negative rates).
    pub fn of(s: &Scenario) -> Estimate {
        let c = counts(s);
        let snapshot = c.churn_ops * c.audience * BYTES_PER_SNAPSHOT_MEMBER;
        let class = c
            .biggest_class
            .map_or_else(|| "groups".to_string(), |i| format!("groups[{i}].count"));
        let traffic = if c.group_msgs >= c.c2c_msgs {
            "traffic.group_messages_per_sec"
        } else {
            "traffic.c2c_messages_per_sec"
        };
        let mut parts = vec![
            ("users", c.users * BYTES_PER_USER, "population.users".into()),
            (
                "memberships",
                c.memberships * BYTES_PER_MEMBERSHIP + c.groups * BYTES_PER_GROUP,
                class,
            ),
            ("pairs", c.pairs * BYTES_PER_PAIR, "c2c.pairs".into()),
            (
                "messages",
                (c.group_msgs + c.c2c_msgs) * BYTES_PER_MESSAGE,
                traffic.into(),
            ),
            ("receipts", c.reads * BYTES_PER_READ, traffic.into()),
            ("churn snapshots", snapshot, "churn.per_minute".into()),
            (
                "events in flight",
                c.in_flight * BYTES_PER_EVENT,
                "reading.delay".into(),
            ),
            (
                "fault schedule",
                c.fault_events * BYTES_PER_EVENT,
                c.fault_field.into(),
            ),
        ];
        let memory = BASE_BYTES + parts.iter().map(|p| p.1).sum::<f64>();
        parts.sort_by(|a, b| b.1.total_cmp(&a.1));
        let ops_parts = [
            (
                // Every push goes to each of a user's devices.
                c.group_msgs + c.c2c_msgs + c.devices * (c.deliveries + c.reads) + c.reads,
                traffic,
            ),
            (c.pull_ops, "pulls.per_user_per_minute"),
            (c.churn_ops, "churn.per_minute"),
            (c.fault_events * 4.0, c.fault_field),
            (c.final_ops, "checks.final_list_share"),
        ];
        let operations: f64 = ops_parts.iter().map(|p| p.0).sum();
        let ops_field = ops_parts
            .iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(traffic, |p| p.1);
        Estimate {
            connections: (c.online * c.devices) as u64,
            memberships: c.memberships as u64,
            messages: (c.group_msgs + c.c2c_msgs) as u64,
            reads: c.reads as u64,
            operations: operations as u64,
            memory_bytes: memory as u64,
            live_memory_bytes: (memory + c.online * LIVE_BYTES_PER_CONNECTION) as u64,
            shards: s.shard.count.max(1),
            parts: parts
                .into_iter()
                .map(|(n, b, f)| (n, b as u64, f))
                .collect(),
            ops_field: ops_field.into(),
        }
    }

    /// One line for people: operations, connections, peak memory.
    pub fn describe(&self) -> String {
        format!(
            "estimate: ~{} operations and pushes, {} connections, {} memberships, {} messages, \
             {} receipts, peak memory ~{}",
            self.operations,
            self.connections,
            self.memberships,
            self.messages,
            self.reads,
            bytes(self.memory_bytes)
        )
    }

    /// Peak memory of a live run (simulated state plus connections), for people.
    pub fn describe_live(&self) -> String {
        format!(
            "live run: peak memory ~{} with its {} connections",
            bytes(self.live_memory_bytes),
            self.connections
        )
    }

    /// What does not fit: the estimate above `budget` bytes of memory or above
    /// [`MAX_OPERATIONS`], each naming the field that drives it.
    pub fn exceeds(&self, budget: u64, budget_hint: &str) -> Vec<Invalid> {
        let mut out = Vec::new();
        if self.memory_bytes > budget {
            let (part, b, field) = self
                .parts
                .first()
                .cloned()
                .unwrap_or(("", 0, "groups".into()));
            out.push(Invalid {
                path: field,
                message: format!(
                    "the run would need ~{} of memory (mostly {part}: ~{}), over the budget of {}",
                    bytes(self.memory_bytes),
                    bytes(b),
                    bytes(budget)
                ),
                hint: format!("make the scenario smaller at this field, or {budget_hint}"),
                line: None,
            });
        }
        if self.operations > MAX_OPERATIONS {
            out.push(Invalid {
                path: self.ops_field.clone(),
                message: format!(
                    "the run would have ~{} operations and pushes, over the cap of {MAX_OPERATIONS}",
                    self.operations
                ),
                hint: "lower this rate or the duration; split a soak test into several runs".into(),
                line: None,
            });
        }
        out
    }
}

/// Groups, memberships, the class with most memberships, the traffic-weighted mean
/// audience of a group message, and the summed traffic weight.
fn group_counts(s: &Scenario) -> (f64, f64, Option<usize>, f64, f64) {
    let mut groups = 0.0;
    let mut memberships = 0.0;
    let mut biggest: Option<(usize, f64)> = None;
    let (mut weighted_audience, mut weights) = (0.0, 0.0);
    for (i, g) in s.groups.iter().enumerate() {
        let count = f64::from(g.count);
        let mean = mean_size(&g.size);
        groups += count;
        memberships += count * mean;
        if biggest.is_none_or(|(_, m)| count * mean > m) {
            biggest = Some((i, count * mean));
        }
        weighted_audience += count * g.traffic_weight * (mean - 1.0);
        weights += count * g.traffic_weight;
    }
    let audience = if weights > 0.0 {
        weighted_audience / weights
    } else {
        0.0
    };
    (groups, memberships, biggest.map(|b| b.0), audience, weights)
}

fn counts(s: &Scenario) -> Counts {
    let secs = s.duration.as_secs_f64();
    let users = f64::from(s.population.users);
    let online_share = s.population.online_share;
    let online = users * online_share;
    let (groups, memberships, biggest_class, audience, weights) = group_counts(s);
    let pairs = f64::from(s.c2c.pairs);
    let bursts = f64::from(s.faults.bursts);
    // Group traffic needs a group with weight (validation refuses the rest).
    let group_rate = if weights > 0.0 {
        s.traffic.group_messages_per_sec
    } else {
        0.0
    };
    // A staircase sends at its time-weighted mean scale, and peaks at its top step.
    let spans = s.traffic.step_spans(s.duration);
    let mean = super::steps::mean_scale(&spans, s.duration);
    let peak_ratio = spans.iter().map(|p| p.scale).fold(1.0, f64::max) / mean.max(1e-9);
    let send_secs = secs * mean;
    let group_msgs = group_rate * send_secs + bursts;
    let c2c_msgs = s.traffic.c2c_messages_per_sec * send_secs;
    let deliveries = group_msgs * audience * online_share + c2c_msgs;
    let reads = deliveries * s.reading.read_probability * s.traffic.receipt_share.max(0.01);
    let flows = online * s.pulls.per_user_per_minute * secs / 60.0;
    let per_flow = 3.0 + 2.0 * f64::from(s.pulls.max_pages) * s.pulls.member_list_share;
    let churn_ops = s.churn.per_minute * secs / 60.0;
    let list_pages = (audience / f64::from(s.pulls.member_list_page.max(1))).ceil() + 1.0;
    let final_ops = (group_msgs + c2c_msgs) * s.checks.final_pull_share
        + group_msgs * s.checks.final_list_share * 2.0 * list_pages;
    let f = &s.faults;
    let fault_minutes = f.until_micros(s.duration) as f64 / 60e6;
    let fault_events = (f.stalls_per_minute + f.disconnects_per_minute) * fault_minutes;
    let fault_field = if f.stalls_per_minute > f.disconnects_per_minute {
        "faults.stalls_per_minute"
    } else {
        "faults.disconnects_per_minute"
    };
    let read_rate = if secs > 0.0 { reads / secs } else { 0.0 };
    let in_flight = (read_rate * mean_delay(&s.reading.delay) / 1e6
        + (group_msgs + c2c_msgs) / secs.max(1.0) * mean_delay(&s.network.latency) / 1e6 * 4.0)
        * peak_ratio;
    let mut c = Counts {
        users,
        online,
        devices: f64::from(s.population.device_count()),
        groups,
        memberships,
        biggest_class,
        audience,
        pairs,
        group_msgs,
        c2c_msgs,
        deliveries,
        reads,
        pull_ops: flows * per_flow,
        churn_ops,
        final_ops,
        in_flight: in_flight.min(reads + deliveries),
        fault_events,
        fault_field,
    };
    shard_share(&mut c, s.shard.count);
    c
}

/// Scales whole-run counts to the expected shard of `n`: conversations, their traffic and
/// final checks by 1/n, users and connections by the chance a user holds one of the shard's
/// conversations. Fault schedules are each shard's own (unscaled).
fn shard_share(c: &mut Counts, n: u32) {
    if n <= 1 {
        return;
    }
    let part = 1.0 / f64::from(n);
    let per_user = if c.users > 0.0 {
        (c.memberships + 2.0 * c.pairs) / c.users
    } else {
        0.0
    };
    let user_share = if per_user > 0.0 {
        1.0 - (1.0 - part).powf(per_user)
    } else {
        part
    };
    c.users *= user_share;
    c.online *= user_share;
    for x in [
        &mut c.groups,
        &mut c.memberships,
        &mut c.pairs,
        &mut c.group_msgs,
        &mut c.c2c_msgs,
        &mut c.deliveries,
        &mut c.reads,
        &mut c.pull_ops,
        &mut c.churn_ops,
        &mut c.final_ops,
        &mut c.in_flight,
    ] {
        *x *= part;
    }
}

/// Mean of a size distribution (Zipf: exact over the first 4096 values, the tail by the
/// integral of k^-s).
pub fn mean_size(d: &SizeDist) -> f64 {
    match *d {
        SizeDist::Fixed { value } => f64::from(value),
        SizeDist::Uniform { min, max } => (f64::from(min) + f64::from(max)) / 2.0,
        SizeDist::Zipf { min, max, exponent } => {
            let n = f64::from(max.saturating_sub(min)) + 1.0;
            f64::from(min) - 1.0 + zipf_mean(n, exponent)
        }
    }
}

/// Mean of Zipf over 1..=n with exponent `s`: sum k^(1-s) / sum k^-s.
fn zipf_mean(n: f64, s: f64) -> f64 {
    const EXACT: f64 = 4096.0;
    let (mut num, mut den) = (0.0, 0.0);
    let exact = n.min(EXACT) as u64;
    for k in 1..=exact {
        let w = (k as f64).powf(-s);
        num += w * k as f64;
        den += w;
    }
    if n > EXACT {
        // Tail from EXACT+0.5 to n+0.5 by the integral of x^-s and x^(1-s).
        let (a, b) = (EXACT + 0.5, n + 0.5);
        num += integral_pow(a, b, 1.0 - s);
        den += integral_pow(a, b, -s);
    }
    if den > 0.0 { num / den } else { 1.0 }
}

/// Integral of x^p from a to b.
fn integral_pow(a: f64, b: f64, p: f64) -> f64 {
    if (p + 1.0).abs() < 1e-9 {
        (b / a).ln()
    } else {
        (b.powf(p + 1.0) - a.powf(p + 1.0)) / (p + 1.0)
    }
}

/// Mean of a delay distribution in microseconds (cut-offs applied as upper bounds).
pub fn mean_delay(d: &DelayDist) -> f64 {
    match *d {
        DelayDist::Fixed { value } => value.micros as f64,
        DelayDist::Uniform { min, max } => (min.micros as f64 + max.micros as f64) / 2.0,
        DelayDist::Exp { mean, max } => (mean.micros as f64).min(max.micros as f64),
        DelayDist::Lognormal { median, sigma, max } => {
            (median.micros as f64 * (sigma * sigma / 2.0).exp()).min(max.micros as f64)
        }
    }
}

/// Bytes for people: "512 MiB", "3.2 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 || v >= 100.0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_str;

    fn shipped(name: &str) -> Scenario {
        let path = format!("{}/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        parse_str(&text, &path).unwrap()
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn shipped_scenarios_estimate_near_their_measured_peak() {
        // Measured peak RSS: tiny 40 MiB, smoke 70 MiB, faults 52 MiB, load 111 MiB, large
        // 505 MiB, million 816 MiB (release builds). The
        // model may overestimate (it refuses, so it must not underestimate by much) but
        // stays within a few times the measurement.
        for (file, measured) in [
            ("tests/fixtures/tiny.toml", 40 * MIB),
            ("scenarios/smoke.toml", 70 * MIB),
            ("scenarios/faults.toml", 52 * MIB),
            ("scenarios/load.toml", 111 * MIB),
            ("scenarios/large.toml", 505 * MIB),
            ("scenarios/million.toml", 816 * MIB),
        ] {
            let e = Estimate::of(&shipped(file));
            eprintln!("{file}: {} {:?}", e.describe(), e.parts);
            assert!(e.memory_bytes >= measured * 7 / 10, "{file}: {e:?}");
            assert!(e.memory_bytes <= measured * 4, "{file}: {e:?}");
            assert!(e.exceeds(8 * 1024 * MIB, "").is_empty(), "{file}");
        }
    }

    #[test]
    fn a_shard_holds_its_part_of_the_traffic_and_the_users_of_its_conversations() {
        let whole = shipped("scenarios/large.toml");
        let w = Estimate::of(&whole);
        for n in [2u32, 4, 16] {
            let mut s = whole.clone();
            s.shard = crate::scenario::Shard { index: 1, count: n };
            let e = Estimate::of(&s);
            assert_eq!(e.shards, n);
            let total = |x: u64| x * u64::from(n);
            // Traffic and memberships split evenly (within rounding).
            for (part, all) in [(e.messages, w.messages), (e.memberships, w.memberships)] {
                assert!(
                    total(part).abs_diff(all) <= u64::from(n),
                    "{part} x {n} vs {all}"
                );
            }
            // A user is in every shard that holds one of its conversations: the shards
            // together connect more clients than the whole run, each shard fewer.
            assert!(e.connections < w.connections, "{e:?}");
            assert!(total(e.connections) >= w.connections, "{e:?}");
            assert!(e.memory_bytes < w.memory_bytes && e.operations < w.operations);
            assert!(e.live_memory_bytes > e.memory_bytes);
        }
        // The live smoke's traffic as it was measured (scenarios/fleet-live.toml): shards of
        // 3 held 176, 144 and 109 clients (mean 143).
        let mut s = shipped("scenarios/fleet-live.toml");
        s.shard = crate::scenario::Shard { index: 0, count: 3 };
        let c = Estimate::of(&s).connections;
        assert!((143..=180).contains(&c), "{c}");
    }

    #[test]
    fn operations_count_sends_deliveries_and_receipts() {
        let mut s = shipped("tests/fixtures/tiny.toml");
        s.groups.clear();
        s.pulls.per_user_per_minute = 0.0;
        s.checks.final_pull_share = 0.0;
        s.traffic.c2c_messages_per_sec = 10.0;
        s.traffic.receipt_share = 1.0;
        s.reading.read_probability = 0.5;
        s.duration = crate::scenario::Dur::from_secs(100);
        let e = Estimate::of(&s);
        // 1000 sends, 1000 deliveries, 500 receipts and 500 receipt pushes.
        assert_eq!(e.messages, 1000);
        assert_eq!(e.reads, 500);
        assert_eq!(e.operations, 3000);
        // Three devices: each push three times, each connection three times.
        s.population.devices = 3;
        let three = Estimate::of(&s);
        assert_eq!(three.operations, 1000 + 3 * 1000 + 500 + 3 * 500);
        assert_eq!(three.connections, 3 * e.connections);
    }

    #[test]
    fn hostile_sizes_saturate_and_name_their_field() {
        let mut s = shipped("tests/fixtures/tiny.toml");
        s.population.users = 10_000_000;
        s.groups[0].count = 9_000_000;
        s.groups[0].size = SizeDist::Fixed { value: 10_000_000 };
        let e = Estimate::of(&s);
        let over = e.exceeds(8 * 1024 * MIB, "raise --max-memory");
        assert_eq!(over[0].path, "groups[0].count");
        assert!(
            over[0].message.contains("over the budget of 8.0 GiB"),
            "{over:?}"
        );
        s.traffic.group_messages_per_sec = 1e18;
        let e = Estimate::of(&s);
        assert_eq!(e.operations, u64::MAX);
        let over = e.exceeds(u64::MAX, "");
        assert_eq!(over.len(), 1);
        assert_eq!(over[0].path, "traffic.group_messages_per_sec");
    }

    #[test]
    fn scheduled_faults_count_as_memory_and_operations() {
        let mut s = shipped("tests/fixtures/tiny.toml");
        s.faults.disconnects_per_minute = 6e7;
        s.duration = crate::scenario::Dur::from_secs(30 * 24 * 3600);
        let e = Estimate::of(&s);
        assert_eq!(e.ops_field, "faults.disconnects_per_minute");
        let over = e.exceeds(8 * 1024 * MIB, "");
        assert_eq!(over[0].path, "faults.disconnects_per_minute", "{over:?}");
    }

    #[test]
    fn pulls_and_churn_rates_count_as_operations() {
        let mut s = shipped("tests/fixtures/tiny.toml");
        s.pulls.per_user_per_minute = 1e15;
        assert_eq!(Estimate::of(&s).ops_field, "pulls.per_user_per_minute");
        s.pulls.per_user_per_minute = 0.0;
        s.churn.per_minute = 1e15;
        let e = Estimate::of(&s);
        assert_eq!(e.ops_field, "churn.per_minute");
        assert!(e.operations > MAX_OPERATIONS);
    }

    #[test]
    fn means_of_distributions() {
        assert_eq!(mean_size(&SizeDist::Uniform { min: 3, max: 7 }), 5.0);
        let z = mean_size(&SizeDist::Zipf {
            min: 1,
            max: 2,
            exponent: 1.0,
        });
        // P(1) = 2/3, P(2) = 1/3.
        assert!((z - 4.0 / 3.0).abs() < 1e-9, "{z}");
        // A huge range takes the integral for the tail and stays finite and in range.
        let big = mean_size(&SizeDist::Zipf {
            min: 2,
            max: 10_000_000,
            exponent: 0.5,
        });
        assert!(big > 1_000_000.0 && big < 10_000_000.0, "{big}");
        let d = DelayDist::Exp {
            mean: crate::scenario::Dur::from_secs(5),
            max: crate::scenario::Dur::from_secs(2),
        };
        assert_eq!(mean_delay(&d), 2e6);
        assert_eq!(bytes(512 * MIB), "512 MiB");
        assert_eq!(bytes(3 * 1024 * MIB + 200 * MIB), "3.2 GiB");
    }
}
