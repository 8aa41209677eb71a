//! The `[slo]` section: service-level objectives a run must meet, checked at its end
//! (`crate::slo`). Latency keys are `<hop>_<stat>` for every hop of `Hop::ALL` and stat
//! `p50`, `p90`, `p99`, `p999` or `max`; `notify_<stat>` is short for
//! `receipt_to_notified_<stat>`. A hand-written (de)serializer keeps the TOML flat
//! (`send_ack_p99 = "50ms"`) while every key is still checked, with the key's own field path
//! in the error.

use super::types::Dur;
use crate::hop::Hop;
use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A latency statistic an SLO can bound.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    Max,
}

impl Stat {
    pub const ALL: [Stat; 5] = [Stat::P50, Stat::P90, Stat::P99, Stat::P999, Stat::Max];

    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
        }
    }

    /// The quantile (0..=1) this statistic reads from a histogram.
    pub fn quantile(self) -> f64 {
        match self {
            Stat::P50 => 0.50,
            Stat::P90 => 0.90,
            Stat::P99 => 0.99,
            Stat::P999 => 0.999,
            Stat::Max => 1.0,
        }
    }
}

/// Short name accepted for the receipt -> sender notified hop.
pub const NOTIFY_ALIAS: &str = "notify";

/// Non-latency SLO keys.
pub const RECEIPTS_PER_SECOND_MIN: &str = "receipts_per_second_min";
pub const OPS_PER_SECOND_MIN: &str = "ops_per_second_min";
pub const VIOLATIONS_MAX: &str = "violations_max";

/// Objectives for one run. Every key is optional; an empty section sets none.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slo {
    /// Latency bounds by (hop, statistic), in `Hop::ALL` then `Stat::ALL` order.
    pub latency: BTreeMap<(Hop, Stat), Dur>,
    /// Least acknowledged receipts per second (per message; simulated runs per virtual
    /// second).
    pub receipts_per_second_min: Option<f64>,
    /// Least completed operations and pushes per (virtual) second.
    pub ops_per_second_min: Option<f64>,
    /// Most invariant violations tolerated (usually 0).
    pub violations_max: Option<u64>,
}

impl Slo {
    pub fn is_empty(&self) -> bool {
        *self == Slo::default()
    }
}

/// The canonical key of a latency SLO: `receipt_to_notified_p99`.
pub fn latency_key(hop: Hop, stat: Stat) -> String {
    format!("{}_{}", hop.name(), stat.name())
}

/// Parses `<hop>_<stat>` (or `notify_<stat>`).
pub fn parse_latency_key(key: &str) -> Option<(Hop, Stat)> {
    let (hop, stat) = key.rsplit_once('_')?;
    let stat = Stat::ALL.into_iter().find(|s| s.name() == stat)?;
    let hop = if hop == NOTIFY_ALIAS {
        Hop::ReceiptNotify
    } else {
        Hop::ALL.into_iter().find(|h| h.name() == hop)?
    };
    Some((hop, stat))
}

/// What an unknown key should have been, for the error message.
fn valid_keys_hint() -> String {
    let hops: Vec<&str> = Hop::ALL.iter().map(|h| h.name()).collect();
    let stats: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    format!(
        "an [slo] key is <hop>_<stat> with hop one of {} (or `{NOTIFY_ALIAS}` for \
         receipt_to_notified) and stat one of {}, e.g. notify_p99 = \"250ms\"; or \
         {RECEIPTS_PER_SECOND_MIN}, {OPS_PER_SECOND_MIN}, {VIOLATIONS_MAX}",
        hops.join(", "),
        stats.join(", ")
    )
}

impl Serialize for Slo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (&(hop, stat), d) in &self.latency {
            m.serialize_entry(&latency_key(hop, stat), d)?;
        }
        if let Some(v) = self.receipts_per_second_min {
            m.serialize_entry(RECEIPTS_PER_SECOND_MIN, &v)?;
        }
        if let Some(v) = self.ops_per_second_min {
            m.serialize_entry(OPS_PER_SECOND_MIN, &v)?;
        }
        if let Some(v) = self.violations_max {
            m.serialize_entry(VIOLATIONS_MAX, &v)?;
        }
        m.end()
    }
}

/// A value seed that fails at once: an unknown key's error is raised while its value is
/// read, so the error's field path ends in the key (and the loader finds its line).
struct Reject(String);

impl<'de> DeserializeSeed<'de> for Reject {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom(self.0))
    }
}

struct SloVisitor;

impl<'de> Visitor<'de> for SloVisitor {
    type Value = Slo;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of SLOs such as { notify_p99 = \"250ms\", violations_max = 0 }")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Slo, A::Error> {
        let mut slo = Slo::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                RECEIPTS_PER_SECOND_MIN => slo.receipts_per_second_min = Some(map.next_value()?),
                OPS_PER_SECOND_MIN => slo.ops_per_second_min = Some(map.next_value()?),
                VIOLATIONS_MAX => slo.violations_max = Some(map.next_value()?),
                k => match parse_latency_key(k) {
                    // Only reachable through the alias: `notify_p99` and
                    // `receipt_to_notified_p99` name the same bound.
                    Some(hs) if slo.latency.contains_key(&hs) => {
                        map.next_value_seed(Reject(format!(
                            "duplicate field `{k}`: it names the same bound as another key \
                             (notify_* is short for receipt_to_notified_*); keep one"
                        )))?
                    }
                    Some(hs) => {
                        slo.latency.insert(hs, map.next_value()?);
                    }
                    None => map.next_value_seed(Reject(format!(
                        "unknown field `{k}`: {}",
                        valid_keys_hint()
                    )))?,
                },
            }
        }
        Ok(slo)
    }
}

impl<'de> Deserialize<'de> for Slo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Slo, D::Error> {
        d.deserialize_map(SloVisitor)
    }
}

impl JsonSchema for Slo {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Slo".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut props = serde_json::Map::new();
        let dur = |what: String| {
            serde_json::json!({
                "type": "string",
                "description": what,
                "examples": ["50ms", "1s"]
            })
        };
        for hop in Hop::ALL {
            for stat in Stat::ALL {
                props.insert(
                    latency_key(hop, stat),
                    dur(format!(
                        "Most {} latency of hop {}.",
                        stat.name(),
                        hop.name()
                    )),
                );
            }
        }
        for stat in Stat::ALL {
            props.insert(
                format!("{NOTIFY_ALIAS}_{}", stat.name()),
                dur(format!(
                    "Short for receipt_to_notified_{}: most {} latency from a receipt to its \
                     sender's push.",
                    stat.name(),
                    stat.name()
                )),
            );
        }
        props.insert(
            RECEIPTS_PER_SECOND_MIN.into(),
            serde_json::json!({"type": "number", "minimum": 0, "description":
                "Least acknowledged receipts per second (per virtual second when simulated)."}),
        );
        props.insert(
            OPS_PER_SECOND_MIN.into(),
            serde_json::json!({"type": "number", "minimum": 0, "description":
                "Least completed operations and pushes per (virtual) second."}),
        );
        props.insert(
            VIOLATIONS_MAX.into(),
            serde_json::json!({"type": "integer", "minimum": 0, "description":
                "Most invariant violations tolerated."}),
        );
        schemars::json_schema!({
            "type": "object",
            "description": "Service-level objectives checked at the end of `run`; a miss exits 1.",
            "properties": props,
            "additionalProperties": false
        })
    }
}
