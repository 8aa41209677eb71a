//! Hostile scenario files (issue 12): each is refused by `validate` (and `run`) with exit 2,
//! naming the field and its line, or runs within the memory budget.

use crate::readsim;

/// A small valid scenario; hostile cases append or replace sections.
const BASE: &str = "name = \"hostile\"\nduration = \"20s\"\n\n[population]\nusers = 40\n\n\
[[groups]]\ncount = 4\ntype = \"Work\"\nsize = { dist = \"uniform\", min = 3, max = 8 }\n\n\
[c2c]\npairs = 10\n";

/// What a hostile file must get.
enum Expect {
    /// `validate` exits 2 naming this field path on the line holding this text.
    Refused {
        path: &'static str,
        line_has: &'static str,
    },
    /// `validate` exits 2 and says this (file-level refusals name no field).
    RefusedSaying(&'static str),
}

struct Case {
    name: &'static str,
    text: String,
    expect: Expect,
}

fn with(extra: &str) -> String {
    format!("{BASE}{extra}")
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let big_world = "name = \"huge\"\nduration = \"10m\"\n[population]\nusers = 10000000\n\
        [[groups]]\ncount = 9000000\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 10000000 }\n";
    let many_pairs = "name = \"pairs\"\nduration = \"10m\"\n[population]\nusers = 10000000\n\
        online_share = 1.0\n[c2c]\npairs = 4000000000\n";
    let classes: String = (0..1001)
        .map(|_| "[[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n")
        .collect();
    let padding = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    vec![
        Case {
            name: "latency of a million hours",
            text: with("[network]\nlatency = { dist = \"fixed\", value = \"1000000h\" }\n"),
            expect: Refused {
                path: "network.latency.value",
                line_has: "latency",
            },
        },
        Case {
            name: "read delay of a million hours",
            text: with(
                "[reading]\ndelay = { dist = \"exp\", mean = \"1s\", max = \"1000000h\" }\n",
            ),
            expect: Refused {
                path: "reading.delay.max",
                line_has: "delay",
            },
        },
        Case {
            name: "request timeout of a year",
            text: with("[faults]\nrequest_timeout = \"365days\"\n"),
            expect: Refused {
                path: "faults.request_timeout",
                line_has: "request_timeout",
            },
        },
        Case {
            name: "a billion group messages a second",
            text: with("[traffic]\ngroup_messages_per_sec = 1e9\n"),
            expect: Refused {
                path: "traffic.group_messages_per_sec",
                line_has: "1e9",
            },
        },
        Case {
            name: "1e18 1:1 messages a second",
            text: with("[traffic]\nc2c_messages_per_sec = 1e18\n"),
            expect: Refused {
                path: "traffic.c2c_messages_per_sec",
                line_has: "1e18",
            },
        },
        Case {
            name: "a rate under its cap but too many operations over a long run",
            text: format!(
                "{}[traffic]\ngroup_messages_per_sec = 900000.0\n",
                BASE.replace("duration = \"20s\"", "duration = \"30days\"")
            ),
            expect: Refused {
                path: "traffic.group_messages_per_sec",
                line_has: "900000",
            },
        },
        Case {
            name: "pulls at 1e15 a minute",
            text: with("[pulls]\nper_user_per_minute = 1e15\n"),
            expect: Refused {
                path: "pulls.per_user_per_minute",
                line_has: "1e15",
            },
        },
        Case {
            name: "churn at 1e15 a minute",
            text: with("[churn]\nper_minute = 1e15\n"),
            expect: Refused {
                path: "churn.per_minute",
                line_has: "1e15",
            },
        },
        Case {
            name: "disconnects at 1e15 a minute",
            text: with("[faults]\ndisconnects_per_minute = 1e15\n"),
            expect: Refused {
                path: "faults.disconnects_per_minute",
                line_has: "1e15",
            },
        },
        Case {
            name: "9M groups of 10M members",
            text: big_world.to_string(),
            expect: Refused {
                path: "groups[0].count",
                line_has: "9000000",
            },
        },
        Case {
            name: "4e9 pairs",
            text: many_pairs.to_string(),
            expect: Refused {
                path: "c2c.pairs",
                line_has: "4000000000",
            },
        },
        Case {
            name: "1001 group classes",
            text: format!("name = \"classes\"\nduration = \"10s\"\n{classes}"),
            expect: Refused {
                path: "groups",
                line_has: "[[groups]]",
            },
        },
        Case {
            name: "a 2 MiB file",
            text: with(&padding),
            expect: RefusedSaying("larger than 1048576 bytes"),
        },
    ]
}

#[test]
fn every_hostile_file_is_refused_with_exit_2_naming_its_field_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (i, case) in cases().into_iter().enumerate() {
        let path = dir.path().join(format!("hostile{i}.toml"));
        std::fs::write(&path, &case.text).unwrap();
        let file = path.to_str().unwrap();
        let o = readsim(&["validate", file, "--max-memory", "8GiB"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{}: {err}", case.name);
        match case.expect {
            Expect::Refused { path, line_has } => {
                let line = case
                    .text
                    .lines()
                    .position(|l| l.contains(line_has))
                    .expect("the case's text holds its marker")
                    + 1;
                let at = format!("{file}:{line}: {path}: ");
                assert!(err.contains(&at), "{}: want {at:?} in {err}", case.name);
            }
            Expect::RefusedSaying(what) => {
                assert!(err.contains(what), "{}: want {what:?} in {err}", case.name)
            }
        }
    }
}

#[test]
fn validate_prints_the_estimate_and_run_refuses_what_does_not_fit_the_budget() {
    let o = readsim(&["validate", "tests/fixtures/tiny.toml"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("estimate: ~"), "{out}");
    assert!(out.contains("operations and pushes") && out.contains("peak memory ~"));
    for cmd in ["validate", "run"] {
        let o = readsim(&[cmd, "tests/fixtures/tiny.toml", "--max-memory", "1MiB"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("over the budget of 1.0 MiB"), "{cmd}: {err}");
        assert!(err.contains("--max-memory"), "{cmd}: {err}");
    }
    let o = readsim(&["run", "tests/fixtures/tiny.toml", "--max-memory", "lots"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn validate_sizes_one_shard_and_the_budget_applies_to_what_one_process_holds() {
    // large: ~611 MiB estimated whole, ~225 MiB for a shard of 4.
    let whole = readsim(&["validate", "scenarios/large.toml", "--max-memory", "400MiB"]);
    assert_eq!(whole.status.code(), Some(2));
    let o = readsim(&[
        "validate",
        "scenarios/large.toml",
        "--max-memory",
        "400MiB",
        "--shard",
        "3/4",
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("whole run: estimate: ~"), "{out}");
    assert!(out.contains("shard 3/4 (every shard of 4"), "{out}");
    assert!(out.contains("live run: peak memory ~"), "{out}");
}

#[test]
fn delays_at_their_cap_run_within_the_budget() {
    // The largest accepted read delay and latency: the run's clock goes out hours, nothing
    // is sized by it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.toml");
    let text = with(
        "[reading]\ndelay = { dist = \"uniform\", min = \"59m\", max = \"1h\" }\n\
         [network]\nlatency = { dist = \"fixed\", value = \"1h\" }\n\
         [checks]\nliveness_bound = \"1h\"\n",
    );
    std::fs::write(&path, text).unwrap();
    let out = dir.path().join("out");
    let o = readsim(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--max-memory",
        "1GiB",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{err}");
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert!(run["virtual_seconds"].as_f64().unwrap() > 3600.0, "{run}");
    let rss = run["peak_rss_bytes"].as_u64().unwrap();
    assert!(rss < 1 << 30, "{rss}");
}
