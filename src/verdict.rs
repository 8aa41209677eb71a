//! The verdict of a run: decided once, from everything the run found, stored in the run's
//! outcome, rendered the same way by every report, and mapped to the process exit code in one
//! place ([`crate::cmd::ExitStatus`]). A report never says PASS for a run that exits non-zero
//! because both read this one value.

use serde::{Deserialize, Serialize};

/// Pass or fail.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
}

/// What the run found, and whether that is a pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub result: Status,
    /// Invariant violations found (all of them, not only the ones listed).
    pub violations: u64,
    /// Names of the SLOs the run missed.
    pub slo_missed: Vec<String>,
    /// Why a live run is incomplete: operations or connections it lost, each a sentence.
    pub incomplete: Vec<String>,
    /// No operation completed and the scenario did not say that was intended: a run that
    /// exercised nothing cannot pass.
    pub no_traffic: bool,
    /// Things that do not fail the run but that its reader must know (traffic the scenario
    /// asks for that cannot happen, ...).
    pub warnings: Vec<String>,
    /// Rule ids `[checks] require_coverage` asks for that the run never exercised.
    #[serde(default)]
    pub uncovered: Vec<String>,
    /// The user stopped the run (Ctrl-C): the reports show what ran until then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
}

/// The facts a verdict is drawn from.
#[derive(Clone, Debug, Default)]
pub struct Findings {
    pub violations: u64,
    pub slo_missed: Vec<String>,
    pub incomplete: Vec<String>,
    /// Completed operations and received pushes.
    pub ops: u64,
    /// The scenario says a run without traffic is intended (`[checks] allow_no_traffic`).
    pub allow_no_traffic: bool,
    pub warnings: Vec<String>,
    /// Required rules (ids) the run did not exercise.
    pub uncovered: Vec<String>,
    pub interrupted: bool,
}

impl Verdict {
    /// The verdict on `f`: a pass only when nothing was violated, missed or lost, every
    /// required rule was exercised, and the run did something (or was meant not to).
    pub fn judge(f: Findings) -> Verdict {
        let no_traffic = f.ops == 0 && !f.allow_no_traffic;
        let pass = f.violations == 0
            && f.slo_missed.is_empty()
            && f.incomplete.is_empty()
            && f.uncovered.is_empty()
            && !f.interrupted;
        Verdict {
            result: if pass && !no_traffic {
                Status::Pass
            } else {
                Status::Fail
            },
            violations: f.violations,
            slo_missed: f.slo_missed,
            incomplete: f.incomplete,
            no_traffic,
            warnings: f.warnings,
            uncovered: f.uncovered,
            interrupted: f.interrupted,
        }
    }

    pub fn passed(&self) -> bool {
        self.result == Status::Pass
    }

    /// "PASS" or "FAIL".
    pub fn label(&self) -> &'static str {
        match self.result {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
        }
    }

    /// Why the run failed, one short phrase per cause, most serious first (empty on a pass).
    pub fn reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.interrupted {
            out.push("interrupted (Ctrl-C): the reports show what ran until then".to_string());
        }
        if self.violations > 0 {
            out.push(format!(
                "{} invariant violation{}",
                self.violations,
                plural(self.violations)
            ));
        }
        if !self.slo_missed.is_empty() {
            out.push(format!("SLO not met: {}", self.slo_missed.join(", ")));
        }
        if !self.incomplete.is_empty() {
            out.push(format!("incomplete: {}", self.incomplete.join("; ")));
        }
        if !self.uncovered.is_empty() {
            out.push(format!(
                "required rules not exercised: {} (require_coverage; the coverage table names \
                 the knob that exercises each)",
                self.uncovered.join(", ")
            ));
        }
        if self.no_traffic {
            out.push(
                "no operation ran, so nothing was checked (give the scenario traffic, or set \
                 `[checks] allow_no_traffic = true` if that is intended)"
                    .to_string(),
            );
        }
        out
    }

    /// One line for people: what passed or why it failed.
    pub fn summary(&self, slo_count: usize) -> String {
        if !self.passed() {
            return self.reasons().join("; ");
        }
        match slo_count {
            0 => "no invariant violations".to_string(),
            n => format!("no invariant violations, all {n} SLOs met"),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traffic() -> Findings {
        Findings {
            ops: 10,
            ..Findings::default()
        }
    }

    #[test]
    fn a_clean_run_with_traffic_passes() {
        let v = Verdict::judge(traffic());
        assert!(v.passed());
        assert_eq!(v.label(), "PASS");
        assert!(v.reasons().is_empty());
        assert_eq!(v.summary(2), "no invariant violations, all 2 SLOs met");
    }

    #[test]
    fn each_finding_alone_fails_the_run_and_is_named() {
        let cases = [
            (
                Findings {
                    violations: 2,
                    ..traffic()
                },
                "2 invariant violations",
            ),
            (
                Findings {
                    slo_missed: vec!["x_p99".into()],
                    ..traffic()
                },
                "SLO not met: x_p99",
            ),
            (
                Findings {
                    incomplete: vec!["3 operations unanswered".into()],
                    ..traffic()
                },
                "incomplete: 3 operations unanswered",
            ),
            (
                Findings {
                    uncovered: vec!["R5".into(), "S10".into()],
                    ..traffic()
                },
                "required rules not exercised: R5, S10",
            ),
            (Findings::default(), "no operation ran"),
            (
                Findings {
                    interrupted: true,
                    ..traffic()
                },
                "interrupted",
            ),
        ];
        for (f, phrase) in cases {
            let v = Verdict::judge(f);
            assert!(!v.passed(), "{phrase}");
            assert_eq!(v.label(), "FAIL");
            assert!(v.summary(0).contains(phrase), "{}", v.summary(0));
        }
    }

    #[test]
    fn no_traffic_passes_only_when_allowed_and_warnings_never_fail() {
        let allowed = Verdict::judge(Findings {
            allow_no_traffic: true,
            warnings: vec!["pairs cut".into()],
            ..Findings::default()
        });
        assert!(allowed.passed());
        assert!(!allowed.no_traffic);
    }

    #[test]
    fn round_trips_through_json() {
        let v = Verdict::judge(Findings {
            violations: 1,
            ..traffic()
        });
        let text = serde_json::to_string(&v).unwrap();
        assert!(text.contains("\"result\":\"fail\""), "{text}");
        assert_eq!(serde_json::from_str::<Verdict>(&text).unwrap(), v);
    }
}
