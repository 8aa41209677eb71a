//! The fault kinds of `[faults]` as one table: every place that walks the kinds (whether any
//! fault is on, swarm's draw, shrink's candidates, the plan summary in reports, the live
//! driver's "not carried live" note) iterates this table, so a new kind is one new row.

use super::Faults;

/// How a knob's value reads to people.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum KnobUnit {
    /// A probability per frame.
    Probability,
    /// Events per minute, whole system.
    PerMinute,
    /// A number of events in the fault phase.
    Count,
}

/// One fault kind's intensity.
pub struct FaultKnob {
    /// The `[faults]` key.
    pub name: &'static str,
    pub unit: KnobUnit,
    /// Whether the live driver can inject it (a TCP stream cannot drop, duplicate or reorder
    /// a frame without breaking).
    pub live: bool,
    pub get: fn(&Faults) -> f64,
    pub set: fn(&mut Faults, f64),
}

impl FaultKnob {
    /// The label in plan summaries ("stalls" for `stalls_per_minute`).
    pub fn label(&self) -> &'static str {
        self.name.trim_end_matches("_per_minute")
    }

    /// The value for people: "0.0100", "2.00/min", "3".
    pub fn show(&self, f: &Faults) -> String {
        let v = (self.get)(f);
        match self.unit {
            KnobUnit::Probability => format!("{v:.4}"),
            KnobUnit::PerMinute => format!("{v:.2}/min"),
            KnobUnit::Count => format!("{v}"),
        }
    }

    /// Half the intensity, for shrinking, or None when it is already as weak as it gets
    /// short of off (counts of 1, rates of at most 0.5 per minute; probabilities are only
    /// switched off).
    pub fn weaker(&self, f: &Faults) -> Option<f64> {
        let v = (self.get)(f);
        match self.unit {
            KnobUnit::Count if v > 1.0 => Some((v / 2.0).floor().max(1.0)),
            KnobUnit::PerMinute if v > 0.5 && self.name == "disconnects_per_minute" => {
                Some(v / 2.0)
            }
            _ => None,
        }
    }
}

/// Every fault kind, in the order swarm draws them (changing the order changes what a seed
/// draws under `swarm`).
pub const FAULT_KNOBS: [FaultKnob; 8] = [
    FaultKnob {
        name: "drop",
        unit: KnobUnit::Probability,
        live: false,
        get: |f| f.drop,
        set: |f, v| f.drop = v,
    },
    FaultKnob {
        name: "duplicate",
        unit: KnobUnit::Probability,
        live: false,
        get: |f| f.duplicate,
        set: |f, v| f.duplicate = v,
    },
    FaultKnob {
        name: "reorder",
        unit: KnobUnit::Probability,
        live: false,
        get: |f| f.reorder,
        set: |f, v| f.reorder = v,
    },
    FaultKnob {
        name: "delay",
        unit: KnobUnit::Probability,
        live: true,
        get: |f| f.delay,
        set: |f, v| f.delay = v,
    },
    FaultKnob {
        name: "stalls_per_minute",
        unit: KnobUnit::PerMinute,
        live: true,
        get: |f| f.stalls_per_minute,
        set: |f, v| f.stalls_per_minute = v,
    },
    FaultKnob {
        name: "disconnects_per_minute",
        unit: KnobUnit::PerMinute,
        live: true,
        get: |f| f.disconnects_per_minute,
        set: |f, v| f.disconnects_per_minute = v,
    },
    FaultKnob {
        name: "crashes",
        unit: KnobUnit::Count,
        live: true,
        get: |f| f64::from(f.crashes),
        set: |f, v| f.crashes = v.round() as u32,
    },
    FaultKnob {
        name: "bursts",
        unit: KnobUnit::Count,
        live: true,
        get: |f| f64::from(f.bursts),
        set: |f, v| f.bursts = v.round() as u32,
    },
];

impl Faults {
    /// Whether any fault kind is on.
    pub fn any(&self) -> bool {
        FAULT_KNOBS.iter().any(|k| (k.get)(self) > 0.0)
    }

    /// The kinds that are on but that a live run cannot inject.
    pub fn sim_only_kinds(&self) -> Vec<&'static str> {
        FAULT_KNOBS
            .iter()
            .filter(|k| !k.live && (k.get)(self) > 0.0)
            .map(|k| k.name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_reads_back_what_it_sets_and_alone_turns_faults_on() {
        for k in &FAULT_KNOBS {
            let mut f = Faults::default();
            assert!(!f.any(), "defaults inject nothing");
            (k.set)(&mut f, 3.0);
            assert_eq!((k.get)(&f), 3.0, "{}", k.name);
            assert!(f.any(), "{} alone is a fault", k.name);
        }
    }

    #[test]
    fn names_are_the_scenario_keys_and_sim_only_kinds_are_named() {
        let keys = serde_json::to_value(Faults::default()).unwrap();
        for k in &FAULT_KNOBS {
            assert!(keys.get(k.name).is_some(), "{} is no [faults] key", k.name);
        }
        let f = Faults {
            drop: 0.1,
            reorder: 0.2,
            delay: 0.3,
            ..Faults::default()
        };
        assert_eq!(f.sim_only_kinds(), ["drop", "reorder"]);
    }

    #[test]
    fn weaker_halves_counts_and_disconnect_rates_only() {
        let f = Faults {
            crashes: 5,
            bursts: 1,
            disconnects_per_minute: 4.0,
            stalls_per_minute: 4.0,
            drop: 0.5,
            ..Faults::default()
        };
        let weaker: Vec<(&str, Option<f64>)> =
            FAULT_KNOBS.iter().map(|k| (k.name, k.weaker(&f))).collect();
        assert!(weaker.contains(&("crashes", Some(2.0))));
        assert!(weaker.contains(&("bursts", None)));
        assert!(weaker.contains(&("disconnects_per_minute", Some(2.0))));
        assert!(weaker.contains(&("stalls_per_minute", None)));
        assert!(weaker.contains(&("drop", None)));
    }
}
