//! `[traffic] steps`: an open-loop rate staircase. Each step multiplies the base send rates
//! (group and 1:1 messages/s) from its start time to the next step's, so a run walks a target
//! up in load and the reports show where receipt->notified p99 passes `saturation_p99`.
//!
//! Two ways to write it:
//!
//! ```toml
//! [traffic]
//! steps = { every = "30s", factor = 1.5, count = 6 }   # x1.5, x2.25, ... at 30s, 60s, ...
//! ```
//!
//! ```toml
//! [[traffic.steps]]
//! at = "30s"
//! scale = 2.0
//! ```

use super::types::Dur;
use crate::protocol::Micros;
use schemars::JsonSchema;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;

/// Most steps a staircase may have: each gets its own histogram in the metrics.
pub const MAX_STEPS: usize = 100;
/// Largest scale of one step (the scaled rate is also held to the message-rate cap).
pub const MAX_SCALE: f64 = 1e6;
/// receipt->notified p99 above which a step counts as saturated, unless the scenario says.
pub const DEFAULT_SATURATION_P99: Dur = Dur::from_secs(1);

/// A rate staircase: a geometric table or an explicit list.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Steps {
    /// `count` steps, one every `every`, each `factor` times the one before.
    Every(EverySteps),
    /// Steps at explicit times, each with its scale of the base rates.
    List(Vec<Step>),
}

/// `steps = { every = "30s", factor = 1.5, count = 6 }`: step k (1..=count) starts at
/// k x `every` with rates scaled by `factor`^k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EverySteps {
    /// Time between step starts (> 0); the last step starts before `duration`.
    pub every: Dur,
    /// Each step's rates are this many times the previous step's (> 0).
    pub factor: f64,
    /// Number of steps after the base (1..=100).
    pub count: u32,
}

/// One `[[traffic.steps]]` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When the step starts (0 < at < duration; later than the step before).
    pub at: Dur,
    /// The base rates are multiplied by this from `at` on (> 0; not cumulative).
    pub scale: f64,
}

// By hand instead of `#[serde(untagged)]`: the input's shape (table or array) picks the form,
// so an error inside names its field (`traffic.steps.every`, `traffic.steps[1].scale`)
// instead of "did not match any variant".
impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Steps, D::Error> {
        struct ByShape;
        impl<'de> Visitor<'de> for ByShape {
            type Value = Steps;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a table { every = \"30s\", factor = 1.5, count = 6 } or an array of \
                     [[traffic.steps]] tables with `at` and `scale`",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Steps, A::Error> {
                let de = serde::de::value::MapAccessDeserializer::new(a);
                EverySteps::deserialize(de).map(Steps::Every)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, a: A) -> Result<Steps, A::Error> {
                let de = serde::de::value::SeqAccessDeserializer::new(a);
                Vec::<Step>::deserialize(de).map(Steps::List)
            }
        }
        d.deserialize_any(ByShape)
    }
}

/// One step of a resolved staircase: `[from, to)` in microseconds since traffic starts, and
/// its scale of the base rates. Step 0 is the base rate (scale 1) up to the first step.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct StepSpan {
    pub from: Micros,
    pub to: Micros,
    pub scale: f64,
}

impl Steps {
    /// Step starts and scales as written (the base step excluded), in file order.
    pub fn starts(&self) -> Vec<(Dur, f64)> {
        match self {
            Steps::Every(e) => (1..=e.count.min(MAX_STEPS as u32))
                .map(|k| {
                    let at = Dur::from_micros(e.every.micros.saturating_mul(u64::from(k)));
                    (at, e.factor.powi(k as i32))
                })
                .collect(),
            Steps::List(l) => l.iter().map(|s| (s.at, s.scale)).collect(),
        }
    }

    /// The whole staircase over a run of `duration`: the base step, then one span per step,
    /// the last ending at `duration`. Assumes a validated scenario (increasing times inside
    /// the duration); steps at or after `duration` are left out all the same.
    pub fn spans(&self, duration: Dur) -> Vec<StepSpan> {
        let end = duration.micros;
        let mut out = vec![StepSpan {
            from: 0,
            to: end,
            scale: 1.0,
        }];
        for (at, scale) in self.starts() {
            let last = out.last_mut().expect("the base step is always there");
            if at.micros <= last.from || at.micros >= end {
                continue;
            }
            last.to = at.micros;
            out.push(StepSpan {
                from: at.micros,
                to: end,
                scale,
            });
        }
        out
    }
}

/// The rate scale in force at `t` (1 outside any step, and without steps).
pub fn scale_at(spans: &[StepSpan], t: Micros) -> f64 {
    let i = spans.partition_point(|s| s.from <= t);
    if i == 0 { 1.0 } else { spans[i - 1].scale }
}

/// Mean scale over `[0, duration)`: the run's message count is the base rate times this.
pub fn mean_scale(spans: &[StepSpan], duration: Dur) -> f64 {
    if duration.micros == 0 || spans.is_empty() {
        return 1.0;
    }
    let weighted: f64 = spans
        .iter()
        .map(|s| (s.to.saturating_sub(s.from)) as f64 * s.scale)
        .sum();
    weighted / duration.micros as f64
}

#[cfg(test)]
mod tests;
