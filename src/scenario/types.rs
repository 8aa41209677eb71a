//! The scenario file's types (TOML). Every section but `name` and `duration` has defaults, so
//! a scenario says only what it cares about. Ranges are checked in `validate.rs`.

pub use super::rules::RequireCoverage;
pub use super::slo::{Slo, Stat};
pub use super::steps::{DEFAULT_SATURATION_P99, EverySteps, Step, StepSpan, Steps};
use crate::protocol::GroupType;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A duration written as a string with a unit: "250ms", "5s", "10m", "1h 30m".
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur {
    pub micros: u64,
}

impl Dur {
    pub const fn from_micros(micros: u64) -> Dur {
        Dur { micros }
    }
    pub const fn from_millis(ms: u64) -> Dur {
        Dur { micros: ms * 1000 }
    }
    pub const fn from_secs(s: u64) -> Dur {
        Dur {
            micros: s * 1_000_000,
        }
    }
    pub fn as_secs_f64(self) -> f64 {
        self.micros as f64 / 1e6
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = std::time::Duration::from_micros(self.micros);
        write!(f, "{}", humantime::format_duration(d))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        let s = String::deserialize(d)?;
        let parsed = humantime::parse_duration(s.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write a number with a unit, e.g. \"250ms\", \"5s\", \"10m\""
            ))
        })?;
        let micros = u64::try_from(parsed.as_micros())
            .map_err(|_| serde::de::Error::custom(format!("duration {s:?} is too long")))?;
        Ok(Dur { micros })
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A duration with a unit, e.g. \"250ms\", \"5s\", \"10m\".",
            "examples": ["20ms", "5s", "10m"]
        })
    }
}

/// A whole scenario: who exists, how they talk, how they read, and what is checked.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Scenario name, shown in reports.
    pub name: String,
    /// Seed of every random decision; `--seed` overrides it.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Virtual time during which new messages and pulls start. Reads, receipts and final
    /// checks run on after it until the system is quiet.
    pub duration: Dur,
    /// Who exists.
    #[serde(default)]
    pub population: Population,
    /// Group classes; each class creates `count` groups.
    #[serde(default)]
    pub groups: Vec<GroupClass>,
    /// 1:1 conversations.
    #[serde(default)]
    pub c2c: C2c,
    /// Which semantics the target is held to (docs/semantics.md or docs/matrix.md).
    #[serde(default, skip_serializing_if = "Semantics::is_default")]
    pub semantics: Semantics,
    /// The server's receipt switches.
    #[serde(default)]
    pub receipts: Receipts,
    /// Open-loop send rates and message shape.
    #[serde(default)]
    pub traffic: Traffic,
    /// How recipients read and send receipts.
    #[serde(default)]
    pub reading: Reading,
    /// Pull flows: history, receipt counts, member lists.
    #[serde(default)]
    pub pulls: Pulls,
    /// Simulated client-server network.
    #[serde(default)]
    pub network: Network,
    /// What is checked, and how strictly.
    #[serde(default)]
    pub checks: Checks,
    /// Injected faults (network, disconnects, server crashes, bursts) during the fault phase.
    #[serde(default)]
    pub faults: Faults,
    /// Membership changes (join, leave, kick, re-join) while traffic flows.
    #[serde(default)]
    pub churn: Churn,
    /// Service-level objectives checked at the end of the run; a miss makes `run` exit 1.
    #[serde(default, skip_serializing_if = "Slo::is_empty")]
    pub slo: Slo,
    /// Which conversations this process drives (`--shard`): not part of the file (a file
    /// describes the whole run) and never written with it, so report.json's
    /// `scenario_config` is the same for every shard; report.json records it as `shard`.
    #[serde(skip)]
    #[schemars(skip)]
    pub shard: super::Shard,
}

fn default_seed() -> u64 {
    1
}

/// The user population.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Population {
    /// Number of users (2..=10,000,000).
    pub users: u32,
    /// Share of users that are connected for the whole run (0..=1). Offline users are in
    /// audiences but never act.
    pub online_share: f64,
    /// Connections each online user holds at once (1..=4; phone, desktop, ...): every push
    /// to the user goes to each, and each request goes out on one of them. 1 (the default)
    /// is one connection per user, as before the knob.
    #[serde(skip_serializing_if = "is_one_device")]
    pub devices: u32,
}

impl Population {
    /// [`Population::devices`] as a device count (validation keeps it in 1..=4).
    pub fn device_count(&self) -> u8 {
        self.devices.clamp(1, MAX_DEVICES) as u8
    }
}

/// Most connections per user (`population.devices`).
pub const MAX_DEVICES: u32 = 4;

/// Serde: one device is not written, so scenarios (and reports) from before the knob stay
/// as they were.
fn is_one_device(v: &u32) -> bool {
    *v == 1
}

impl Default for Population {
    fn default() -> Self {
        Population {
            users: 1000,
            online_share: 0.9,
            devices: 1,
        }
    }
}

/// A class of groups sharing a type and a size distribution.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupClass {
    /// Label for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// How many groups of this class (>= 1).
    pub count: u32,
    /// Group type; Community and AVChatRoom never take receipts.
    #[serde(rename = "type")]
    pub group_type: GroupType,
    /// Member count of each group (sender included), at least 2 and at most the population.
    pub size: SizeDist,
    /// Relative share of group traffic sent to this class's groups, per group (default 1).
    #[serde(default = "one")]
    pub traffic_weight: f64,
}

fn one() -> f64 {
    1.0
}

/// A distribution of whole numbers (group sizes).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum SizeDist {
    /// Always `value`.
    Fixed { value: u32 },
    /// Uniform in `min..=max`.
    Uniform { min: u32, max: u32 },
    /// Zipf over `min..=max`: small sizes common, a long tail of big ones.
    Zipf {
        min: u32,
        max: u32,
        /// Zipf exponent (> 0); larger means more small groups.
        #[serde(default = "one")]
        exponent: f64,
    },
}

/// A distribution of durations (delays, latencies).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(tag = "dist", rename_all = "lowercase", deny_unknown_fields)]
pub enum DelayDist {
    /// Always `value`.
    Fixed { value: Dur },
    /// Uniform in `min..=max`.
    Uniform { min: Dur, max: Dur },
    /// Exponential with `mean`, cut at `max`.
    Exp { mean: Dur, max: Dur },
    /// Log-normal with `median` and shape `sigma`, cut at `max`.
    Lognormal { median: Dur, sigma: f64, max: Dur },
}

impl DelayDist {
    /// The largest value this distribution can produce.
    pub fn upper_bound(&self) -> Dur {
        match self {
            DelayDist::Fixed { value } => *value,
            DelayDist::Uniform { max, .. }
            | DelayDist::Exp { max, .. }
            | DelayDist::Lognormal { max, .. } => *max,
        }
    }
}

/// 1:1 conversations.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct C2c {
    /// Number of distinct 1:1 conversations (pairs of online users).
    pub pairs: u32,
}

impl Default for C2c {
    fn default() -> Self {
        C2c { pairs: 100 }
    }
}

/// `[semantics]`: the rules the target is held to. Omitted from a written scenario when it
/// is the default, so reports of Tencent-profile runs stay byte for byte as before.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Semantics {
    /// "tencent" (default: docs/semantics.md) or "matrix" (docs/matrix.md, rules MX1..MX11).
    pub profile: crate::protocol::Profile,
}

impl Semantics {
    pub fn is_default(&self) -> bool {
        *self == Semantics::default()
    }
}

/// The server's receipt configuration (the vendor's console switches).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Receipts {
    /// Group types with group receipts switched on (the vendor's console switch).
    pub enabled_types: Vec<GroupType>,
    /// Largest group (members at send time, sender included) that takes receipts.
    pub max_group_size: u32,
}

impl Receipts {
    /// The service configuration this section describes.
    pub fn config(&self) -> crate::protocol::ReceiptConfig {
        crate::protocol::ReceiptConfig {
            enabled_types: self.enabled_types.clone(),
            max_group_size: self.max_group_size,
        }
    }
}

impl Default for Receipts {
    fn default() -> Self {
        let c = crate::protocol::ReceiptConfig::default();
        Receipts {
            enabled_types: c.enabled_types,
            max_group_size: c.max_group_size,
        }
    }
}

/// Open-loop send rates and message shape.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Traffic {
    /// Open-loop Poisson rate of group messages, all groups together, per virtual second.
    pub group_messages_per_sec: f64,
    /// Open-loop Poisson rate of 1:1 messages, all pairs together, per virtual second.
    pub c2c_messages_per_sec: f64,
    /// Share of messages sent with need_read_receipt (0..=1), where the group supports it.
    pub receipt_share: f64,
    /// Share of receipt-needing sends that a careless client makes where the group does not
    /// support receipts (type disabled or group too large); they must be rejected.
    pub misuse_share: f64,
    /// Body size in bytes.
    pub body_bytes: u32,
    /// Open-loop rate staircase (see `steps.rs`): each step multiplies both send rates from
    /// its start. Default: none, the rates hold for the whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Steps>,
    /// A step whose receipt->notified p99 passes this is marked saturated in the reports
    /// (information only: the verdict does not change). Default 1s.
    #[serde(skip_serializing_if = "is_default_saturation")]
    pub saturation_p99: Dur,
}

fn is_default_saturation(d: &Dur) -> bool {
    *d == DEFAULT_SATURATION_P99
}

impl Traffic {
    /// The staircase over a run of `duration`; empty without `steps`, so callers can skip
    /// the per-step work (and a run without steps stays exactly as it was).
    pub fn step_spans(&self, duration: Dur) -> Vec<StepSpan> {
        self.steps
            .as_ref()
            .map_or_else(Vec::new, |s| s.spans(duration))
    }
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            group_messages_per_sec: 10.0,
            c2c_messages_per_sec: 5.0,
            receipt_share: 0.8,
            misuse_share: 0.01,
            body_bytes: 64,
            steps: None,
            saturation_p99: DEFAULT_SATURATION_P99,
        }
    }
}

/// How recipients read messages and send receipts.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Reading {
    /// Chance that an online recipient reads a message it was pushed (0..=1).
    pub read_probability: f64,
    /// Time from the push to the read.
    pub delay: DelayDist,
    /// A reader collects receipts of one conversation for this long before sending them as
    /// one batch ("0s" sends each at once).
    pub batch_window: Dur,
    /// Largest receipt batch a reader sends (1..=100).
    pub batch_max: u32,
    /// Chance that a reader of a 1:1 message marks the whole conversation read instead of
    /// sending a per-message receipt (0..=1).
    pub c2c_mark_read_share: f64,
    /// Chance that a reader reads the same message again later, as a client does when it
    /// reopens a conversation or retries a receipt it could not confirm: the receipt (or
    /// the 1:1 mark) goes out a second time after a fresh draw of `delay`. Repeated
    /// receipts must change nothing (R6), and repeated marks still notify (C4). 0 (the
    /// default) repeats nothing and draws nothing.
    #[serde(skip_serializing_if = "is_zero")]
    pub repeat_share: f64,
}

impl Default for Reading {
    fn default() -> Self {
        Reading {
            read_probability: 0.9,
            delay: DelayDist::Exp {
                mean: Dur::from_secs(3),
                max: Dur::from_secs(30),
            },
            batch_window: Dur::from_millis(500),
            batch_max: 20,
            c2c_mark_read_share: 0.3,
            repeat_share: 0.0,
        }
    }
}

/// Pull flows a user runs when it opens a conversation.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Pulls {
    /// Poisson rate at which each online user opens one of its conversations and runs the
    /// pull flow: history, then receipts of its own messages, then member lists.
    pub per_user_per_minute: f64,
    /// Messages per history page (1..=100).
    pub history_page: u32,
    /// Chance that the flow pages a group message's member lists after pulling its counts.
    pub member_list_share: f64,
    /// Members per page (1..=100).
    pub member_list_page: u32,
    /// Most pages read per member list in one flow.
    pub max_pages: u32,
    /// Share of pull flows and of receipt batches that a buggy client also sends malformed
    /// or misdirected (0..=1): empty or over-100 batches, ids of two conversations in one
    /// batch, counts or member lists of another user's message, of its own message without
    /// receipts, of a 1:1 message, or with a count outside 1..=100. Each must be refused.
    /// 0 (the default) sends none and draws nothing.
    #[serde(skip_serializing_if = "is_zero")]
    pub misuse_share: f64,
    /// Share of its receipt-asking group messages whose unread list a sender pages a while
    /// after sending (a fresh draw of `reading.delay`), a page every 250 ms as a person
    /// scrolls: it looks who has not read yet while the receipts come in, which is what
    /// puts paging during receipts (M6) to the test. 0 (the default) watches nothing and
    /// draws nothing.
    #[serde(skip_serializing_if = "is_zero")]
    pub watch_share: f64,
}

/// Serde: a knob left at 0 is not written, so scenarios (and reports) from before it stay as
/// they were.
fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

impl Default for Pulls {
    fn default() -> Self {
        Pulls {
            per_user_per_minute: 0.5,
            history_page: 20,
            member_list_share: 0.3,
            member_list_page: 20,
            max_pages: 10,
            misuse_share: 0.0,
            watch_share: 0.0,
        }
    }
}

/// The simulated network between clients and the server.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// One-way latency between a client and the server, drawn per frame. Each link delivers
    /// in order (as one TCP connection does).
    pub latency: DelayDist,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            latency: DelayDist::Lognormal {
                median: Dur::from_millis(20),
                sigma: 0.5,
                max: Dur::from_millis(500),
            },
        }
    }
}

/// What the checker verifies.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Checks {
    /// Every acknowledged receipt must reach its online sender as a push within this bound.
    pub liveness_bound: Dur,
    /// Share of receipt-needing messages whose counts are pulled once the run is quiet and
    /// compared with what was acknowledged (0..=1).
    pub final_pull_share: f64,
    /// Share of group messages whose read and unread lists are paged to the end once quiet
    /// and compared with the audience (0..=1).
    pub final_list_share: f64,
    /// A run in which no operation completes fails, since it checked nothing; set this when
    /// such a run is intended (e.g. a scenario that only provisions).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_no_traffic: bool,
    /// Rules of docs/semantics.md the run must exercise, or it fails: "all" (every rule the
    /// checker measures) or a list of rule ids such as ["R5", "S10"]. Default: none.
    #[serde(skip_serializing_if = "RequireCoverage::is_nothing")]
    pub require_coverage: RequireCoverage,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            liveness_bound: Dur::from_secs(5),
            final_pull_share: 1.0,
            final_list_share: 0.2,
            allow_no_traffic: false,
            require_coverage: RequireCoverage::Nothing,
        }
    }
}

/// Faults injected during the fault phase `[0, until)`; after it the run is calm and liveness
/// is enforced strictly. Every choice (which frame, which client, when) comes from the seed.
/// Defaults inject nothing.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// End of the fault phase; default: two thirds of `duration`.
    pub until: Option<Dur>,
    /// Let the seed draw the fault mix: each kind below is kept or switched off, and its
    /// intensity scaled, by the seed (for seed sweeps that explore fault combinations).
    pub swarm: bool,
    /// A client gives up on a request after this long without a response; read receipts
    /// and pulls are then retried, sends and mark-reads are not (they carry no dedupe key).
    pub request_timeout: Dur,
    /// Retries of one receipt batch or pull after timeouts.
    pub max_retries: u32,
    /// Probability that a request or a response is lost on the way (simulator only).
    pub drop: f64,
    /// Probability that an idempotent request (receipts, pulls) or a push arrives twice
    /// (simulator only).
    pub duplicate: f64,
    /// Probability that a request overtakes the ones sent before it (simulator only).
    pub reorder: f64,
    /// Probability that a frame gets `extra_delay` on top of the network latency.
    pub delay: f64,
    /// Extra delay of a delayed frame.
    pub extra_delay: DelayDist,
    /// Connection stalls per minute (whole system): one client's connection holds all its
    /// frames for `stall` (live: the proxy stops forwarding).
    pub stalls_per_minute: f64,
    /// Length of a stall.
    pub stall: DelayDist,
    /// Connection cuts per minute (whole system): one online client loses its connection,
    /// stays offline for `offline`, reconnects and catches up by pulling.
    pub disconnects_per_minute: f64,
    /// How long a disconnected client stays offline.
    pub offline: DelayDist,
    /// Server crash-restarts during the fault phase (live `--target server`: SIGKILL and
    /// restart on the same database). Acknowledged state survives; in-flight work is lost
    /// and every connection drops.
    pub crashes: u32,
    /// How long the server stays down after a crash.
    pub downtime: Dur,
    /// Receipt bursts: a message in a large group that every online member reads at once.
    pub bursts: u32,
    /// Burst readers' receipts are spread over this window.
    pub burst_spread: Dur,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            until: None,
            swarm: false,
            request_timeout: Dur::from_secs(3),
            max_retries: 3,
            drop: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay: 0.0,
            extra_delay: DelayDist::Exp {
                mean: Dur::from_millis(200),
                max: Dur::from_secs(2),
            },
            stalls_per_minute: 0.0,
            stall: DelayDist::Uniform {
                min: Dur::from_millis(500),
                max: Dur::from_secs(3),
            },
            disconnects_per_minute: 0.0,
            offline: DelayDist::Exp {
                mean: Dur::from_secs(10),
                max: Dur::from_secs(60),
            },
            crashes: 0,
            downtime: Dur::from_secs(2),
            bursts: 0,
            burst_spread: Dur::from_millis(50),
        }
    }
}

impl Faults {
    /// End of the fault phase for a run of `duration`.
    pub fn until_micros(&self, duration: Dur) -> u64 {
        self.until
            .map_or(duration.micros / 3 * 2, |u| u.micros.min(duration.micros))
    }
}

/// Membership churn during the traffic phase, applied through the admin API.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Churn {
    /// Membership changes per minute, whole system.
    pub per_minute: f64,
    /// Relative weights of the kinds of change: a user who is no member joins; a member
    /// leaves; an admin kicks a member; a user who left or was kicked joins again.
    pub join: f64,
    pub leave: f64,
    pub kick: f64,
    pub rejoin: f64,
}

impl Default for Churn {
    fn default() -> Self {
        Churn {
            per_minute: 0.0,
            join: 0.3,
            leave: 0.3,
            kick: 0.1,
            rejoin: 0.3,
        }
    }
}
