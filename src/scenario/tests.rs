use super::load::shadow;
use super::load::{first_error, line_of};
use super::*;
use crate::protocol::GroupType;

const SMOKE: &str = include_str!("../../scenarios/smoke.toml");
const LARGE: &str = include_str!("../../scenarios/large.toml");

/// A valid file of 2 + `body` lines: name, duration, one group class, then `body`.
fn with_header(body: &str) -> String {
    format!(
        "name = \"t\"\nduration = \"1m\"\n\
         [[groups]]\ncount = 2\ntype = \"Work\"\nsize = {{ dist = \"uniform\", min = 3, max = 5 }}\n{body}"
    )
}

fn err(text: &str) -> ScenarioError {
    match parse_str(text, "t.toml") {
        Ok(s) => panic!("expected an error, parsed {s:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn assert_at(e: &ScenarioError, line: usize, path: &str) {
    assert_eq!(e.line(), Some(line), "line of: {e}");
    assert_eq!(e.field_path(), Some(path), "path of: {e}");
}

#[test]
fn minimal_file_gets_defaults() {
    let s = parse_str(&with_header(""), "t.toml").unwrap();
    assert_eq!(s.name, "t");
    assert_eq!(s.duration, Dur::from_secs(60));
    assert_eq!(s.seed, 1);
    assert_eq!(s.groups.len(), 1);
    assert_eq!(s.groups[0].count, 2);
    assert_eq!(s.groups[0].group_type, GroupType::Work);
    assert_eq!(s.groups[0].size, SizeDist::Uniform { min: 3, max: 5 });
    assert_eq!(s.groups[0].traffic_weight, 1.0);
    assert_eq!(s.groups[0].name, None);
    assert_eq!(s.population.users, 1000);
    assert_eq!(s.c2c.pairs, 100);
    assert_eq!(s.receipts.max_group_size, 200);
    assert_eq!(
        s.reading.delay,
        DelayDist::Exp {
            mean: Dur::from_secs(3),
            max: Dur::from_secs(30)
        }
    );
    assert_eq!(s.reading.batch_max, 20);
    assert_eq!(s.pulls.history_page, 20);
    assert_eq!(s.checks.liveness_bound, Dur::from_secs(5));
    assert_eq!(s.network.latency.upper_bound(), Dur::from_millis(500));
}

#[test]
fn zipf_exponent_defaults_to_one() {
    let text = "name = \"t\"\nduration = \"1m\"\n\
                [[groups]]\ncount = 1\ntype = \"Public\"\nsize = { dist = \"zipf\", min = 3, max = 9 }\n";
    let s = parse_str(text, "t.toml").unwrap();
    assert_eq!(
        s.groups[0].size,
        SizeDist::Zipf {
            min: 3,
            max: 9,
            exponent: 1.0
        }
    );
}

#[test]
fn unknown_field_names_key_line_and_path() {
    // Lines 1-6 are the header; [reading] is line 7, bogus line 9.
    let e = err(&with_header(
        "[reading]\nread_probability = 0.5\nbogus = 1\n",
    ));
    assert_at(&e, 9, "reading.bogus");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Unknown));
    let shown = e.to_string();
    assert!(
        shown.starts_with("t.toml:9: reading.bogus: unknown field `bogus`"),
        "{shown}"
    );
    assert!(
        shown.contains("read_probability"),
        "lists the known fields: {shown}"
    );
}

#[test]
fn unknown_top_level_section() {
    let e = err("name = \"t\"\nduration = \"1m\"\n[readng]\nread_probability = 0.5\n");
    assert_at(&e, 3, "readng");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Unknown));
}

#[test]
fn out_of_range_value_names_its_line_and_path() {
    let e = err(&with_header("[reading]\nread_probability = 1.5\n"));
    assert_at(&e, 8, "reading.read_probability");
    assert!(matches!(e, ScenarioError::Invalid { .. }));
    let shown = e.to_string();
    assert_eq!(
        shown,
        "t.toml:8: reading.read_probability: must be in 0..=1, got 1.5; write a fraction such as 0.25"
    );
}

#[test]
fn syntax_error_names_its_line() {
    let e = err("name = \"t\"\nduration = \"1m\"\n\n[reading\nbatch_max = 3\n");
    assert!(matches!(e, ScenarioError::Syntax { .. }), "{e}");
    assert_eq!(e.line(), Some(4));
    assert_eq!(e.field_path(), None);
    assert!(
        e.to_string().starts_with("t.toml:4: TOML syntax error:"),
        "{e}"
    );

    let e = err("name = \"t\"\nname = \"u\"\n");
    assert!(matches!(e, ScenarioError::Syntax { .. }), "{e}");
    assert_eq!(e.line(), Some(2));

    let e = err("name = \"t\"\nduration = 1m\n");
    assert!(matches!(e, ScenarioError::Syntax { .. }), "{e}");
    assert_eq!(e.line(), Some(2));
}

#[test]
fn wrong_type_names_line_and_path() {
    let e = err(&with_header("\n[population]\nusers = \"many\"\n"));
    assert_at(&e, 9, "population.users");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::WrongType));
    assert!(e.to_string().contains("whole number"), "hint: {e}");

    // A number where a duration string belongs.
    let e = err(&with_header("[checks]\nliveness_bound = 5\n"));
    assert_at(&e, 8, "checks.liveness_bound");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::WrongType));
    assert!(e.to_string().contains("\"5s\""), "hint: {e}");

    // A scalar where a distribution table belongs.
    let e = err(&with_header("[reading]\ndelay = \"5s\"\n"));
    assert_at(&e, 8, "reading.delay");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::WrongType));
    assert!(e.to_string().contains("dist = "), "hint: {e}");
}

#[test]
fn out_of_type_range_integer_is_a_bad_value() {
    let e = err(&with_header("[c2c]\npairs = -3\n"));
    assert_at(&e, 8, "c2c.pairs");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::BadValue));
}

#[test]
fn bad_duration_names_line_and_path() {
    let e = err(&with_header(
        "[checks]\nfinal_pull_share = 0.5\nliveness_bound = \"5 parsecs\"\n",
    ));
    assert_at(&e, 9, "checks.liveness_bound");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::BadValue));
    assert!(
        e.to_string().contains("invalid duration \"5 parsecs\""),
        "{e}"
    );

    let e = err("name = \"t\"\nduration = \"ten minutes\"\n");
    assert_at(&e, 2, "duration");
}

#[test]
fn bad_duration_inside_a_distribution_names_the_inner_field() {
    // Inline table.
    let e = err(&with_header(
        "[reading]\ndelay = { dist = \"exp\", mean = \"5x\", max = \"60s\" }\n",
    ));
    assert_at(&e, 8, "reading.delay.mean");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::BadValue));
    // Standard table: the line of the key itself, not the table header.
    let e = err(&with_header(
        "[network.latency]\ndist = \"lognormal\"\nmedian = \"20ms\"\nsigma = 0.5\nmax = \"lots\"\n",
    ));
    assert_at(&e, 11, "network.latency.max");
}

#[test]
fn nested_array_path_from_deserialization() {
    let text = "name = \"t\"\nduration = \"1m\"\n\
                [[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n\
                [[groups]]\ncount = 1\ntype = \"Meeting\"\n\
                size = { dist = \"uniform\", min = 3, max = \"big\" }\n";
    let e = err(text);
    assert_at(&e, 10, "groups[1].size.max");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::WrongType));

    // Unknown and missing fields inside a distribution.
    let e = err(&text.replace("max = \"big\"", "maximum = 9"));
    assert_at(&e, 10, "groups[1].size.maximum");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Unknown));
    let e = err(&text.replace(", max = \"big\"", ""));
    assert_at(&e, 10, "groups[1].size.max");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Missing));

    // Unknown distribution name.
    let e = err(&text.replace("\"uniform\"", "\"normal\""));
    assert_at(&e, 10, "groups[1].size.dist");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::BadValue));

    // Unknown group type (fields are read in key order, so make `size` valid first).
    let e = err(&text
        .replace("\"Meeting\"", "\"meeting\"")
        .replace("\"big\"", "9"));
    assert_at(&e, 9, "groups[1].type");
    assert!(e.to_string().contains("case-sensitive"), "{e}");
}

#[test]
fn nested_array_path_from_validation() {
    let text = "name = \"t\"\nduration = \"1m\"\n\
                [[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n\
                [[groups]]\ncount = 1\ntype = \"Meeting\"\n\
                size.dist = \"uniform\"\nsize.min = 3\nsize.max = 2\n";
    let e = err(text);
    assert_at(&e, 12, "groups[1].size.max");
    assert_eq!(
        e.to_string(),
        "t.toml:12: groups[1].size.max: must be >= min (3), got 2; raise max or lower min"
    );
}

#[test]
fn inline_array_of_groups() {
    let text = "name = \"t\"\nduration = \"1m\"\ngroups = [\n\
                  { count = 1, type = \"Work\", size = { dist = \"fixed\", value = 3 } },\n\
                  { count = 1, type = \"Work\", size = { dist = \"zipf\", min = 3, max = 5, exponent = 0.0 } },\n\
                ]\n";
    let e = err(text);
    assert_at(&e, 5, "groups[1].size.exponent");
}

#[test]
fn missing_required_field_points_at_its_table() {
    let text = "name = \"t\"\nduration = \"1m\"\n\
                [[groups]]\ncount = 1\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n\
                \n[[groups]]\ntype = \"Work\"\nsize = { dist = \"fixed\", value = 3 }\n";
    let e = err(text);
    assert_at(&e, 8, "groups[1].count");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Missing));
    assert!(e.to_string().contains("add `count = ...`"), "{e}");

    let e = err("# no name\nduration = \"1m\"\n");
    assert_at(&e, 1, "name");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Missing));

    let e = err(&with_header("[reading]\ndelay = { mean = \"1s\" }\n"));
    assert_at(&e, 8, "reading.delay.dist");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Missing));
}

#[test]
fn array_element_errors_name_the_element_line() {
    let e = err(&with_header(
        "[receipts]\nenabled_types = [\n  \"Work\",\n  \"Meetng\",\n]\n",
    ));
    assert_at(&e, 10, "receipts.enabled_types[1]");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::BadValue));
}

#[test]
fn validation_reports_every_problem_with_lines() {
    let e = err(&with_header(
        "[traffic]\nreceipt_share = -0.1\nbody_bytes = 70000\n[pulls]\nhistory_page = 0\n",
    ));
    let got: Vec<(Option<usize>, &str)> = e
        .problems()
        .iter()
        .map(|p| (p.line, p.path.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(8), "traffic.receipt_share"),
            (Some(9), "traffic.body_bytes"),
            (Some(11), "pulls.history_page"),
        ]
    );
    assert_eq!(e.to_string().lines().count(), 3, "{e}");
    assert_at(&e, 8, "traffic.receipt_share");
}

#[test]
fn problem_with_a_default_value_says_so() {
    // 2 users allow 1 pair; the default c2c.pairs is 100 and [c2c] is not written.
    let e =
        err(&with_header("[population]\nusers = 2\n")
            .replace("min = 3, max = 5", "min = 2, max = 2"));
    let p = &e.problems()[0];
    assert_eq!(p.path, "c2c.pairs");
    assert_eq!(p.line, None);
    assert!(p.message.contains("the default"), "{p}");
    assert!(e.to_string().starts_with("t.toml: c2c.pairs: "), "{e}");

    // The section exists but the field does not: point at the section.
    let e = err(&with_header("[population]\nusers = 2\n[c2c]\n")
        .replace("min = 3, max = 5", "min = 2, max = 2"));
    assert_eq!(e.problems()[0].line, Some(9));
}

#[test]
fn validate_checks_ranges_and_cross_field_rules() {
    let ok = parse_str(&with_header(""), "t.toml").unwrap();
    assert_eq!(validate(&ok), Ok(()));

    let paths = |s: &Scenario| -> Vec<String> {
        validate(s)
            .unwrap_err()
            .into_iter()
            .map(|p| p.path)
            .collect()
    };

    let mut s = ok.clone();
    s.name = " ".into();
    s.duration = Dur::from_secs(31 * 24 * 3600);
    s.population.users = 1;
    s.population.online_share = f64::NAN;
    assert_eq!(
        paths(&s),
        [
            "name",
            "duration",
            "population.users",
            "population.online_share",
            "groups[0].size.max",
            "c2c.pairs"
        ]
    );

    let mut s = ok.clone();
    s.groups[0].count = 0;
    s.c2c.pairs = 0;
    assert_eq!(paths(&s), ["groups[0].count", "groups"]);

    let mut s = ok.clone();
    s.groups[0].size = SizeDist::Fixed { value: 1 };
    s.groups[0].traffic_weight = -1.0;
    s.receipts.max_group_size = 0;
    s.reading.batch_max = 101;
    s.pulls.max_pages = 0;
    s.pulls.member_list_page = 0;
    s.checks.liveness_bound = Dur::from_micros(0);
    s.traffic.c2c_messages_per_sec = f64::INFINITY;
    assert_eq!(
        paths(&s),
        [
            "groups[0].traffic_weight",
            "groups[0].size.value",
            "receipts.max_group_size",
            "traffic.c2c_messages_per_sec",
            "reading.batch_max",
            "pulls.member_list_page",
            "pulls.max_pages",
            "checks.liveness_bound"
        ]
    );

    let mut s = ok.clone();
    s.population.online_share = 0.0005; // 1000 users -> 0.5 online
    s.reading.delay = DelayDist::Uniform {
        min: Dur::from_secs(2),
        max: Dur::from_secs(1),
    };
    s.network.latency = DelayDist::Lognormal {
        median: Dur::from_millis(20),
        sigma: 6.0,
        max: Dur::from_millis(10),
    };
    assert_eq!(
        paths(&s),
        [
            "c2c.pairs",
            "reading.delay.max",
            "network.latency.sigma",
            "network.latency.max"
        ]
    );

    let mut s = ok.clone();
    s.reading.delay = DelayDist::Exp {
        mean: Dur::from_secs(0),
        max: Dur::from_secs(1),
    };
    s.network.latency = DelayDist::Exp {
        mean: Dur::from_secs(2),
        max: Dur::from_secs(1),
    };
    s.groups[0].size = SizeDist::Zipf {
        min: 1,
        max: 2000,
        exponent: 1.0,
    };
    assert_eq!(
        paths(&s),
        [
            "groups[0].size.min",
            "groups[0].size.max",
            "reading.delay.mean",
            "network.latency.max"
        ]
    );

    // Group traffic with nowhere to go.
    let mut s = ok.clone();
    s.groups[0].traffic_weight = 0.0;
    assert_eq!(paths(&s), ["traffic.group_messages_per_sec"]);
    s.traffic.group_messages_per_sec = 0.0;
    assert_eq!(validate(&s), Ok(()));

    // Only 1:1 conversations is fine.
    let mut s = ok;
    s.groups.clear();
    assert_eq!(validate(&s), Ok(()));
}

#[test]
fn shipped_smoke_scenario_parses_and_validates() {
    let s = parse_str(SMOKE, "scenarios/smoke.toml").unwrap();
    assert_eq!(validate(&s), Ok(()));
    assert_eq!(s.name, "smoke");
    assert_eq!(s.seed, 42);
    assert_eq!(s.duration, Dur::from_secs(600));
    assert_eq!(s.population.users, 2000);
    assert_eq!(s.c2c.pairs, 600);
    let groups: u32 = s.groups.iter().map(|g| g.count).sum();
    assert!(groups >= 200, "{groups} groups");
    let types: Vec<GroupType> = s.groups.iter().map(|g| g.group_type).collect();
    for t in [GroupType::Work, GroupType::Meeting, GroupType::Community] {
        assert!(types.contains(&t), "{t:?} missing");
    }
    // Some groups exceed the receipt size limit, so the limit is exercised.
    let largest = s
        .groups
        .iter()
        .map(|g| match g.size {
            SizeDist::Fixed { value } => value,
            SizeDist::Uniform { max, .. } | SizeDist::Zipf { max, .. } => max,
        })
        .max()
        .unwrap();
    assert!(largest > s.receipts.max_group_size);
    assert_eq!(s.checks.liveness_bound, Dur::from_secs(5));
}

#[test]
fn shipped_large_scenario_parses_and_validates() {
    let s = parse_str(LARGE, "scenarios/large.toml").unwrap();
    assert_eq!(validate(&s), Ok(()));
    assert_eq!(s.name, "large");
    assert_eq!(s.seed, 42);
    assert_eq!(s.population.users, 100_000);
    assert_eq!(s.groups.iter().map(|g| g.count).sum::<u32>(), 10_000);
    assert_eq!(s.c2c.pairs, 20_000);
    assert_eq!(s.checks.final_list_share, 0.02);
}

#[test]
fn load_file_reads_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, SMOKE).unwrap();
    assert_eq!(load_file(&good).unwrap().name, "smoke");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nduration = \"1m\"\n[reading]\nbatch_max = 0\n",
    )
    .unwrap();
    let e = load_file(&bad).unwrap_err();
    assert_at(&e, 4, "reading.batch_max");
    assert!(
        e.to_string()
            .starts_with(&format!("{}:4: reading.batch_max:", bad.display())),
        "{e}"
    );

    let missing = dir.path().join("missing.toml");
    let e = load_file(&missing).unwrap_err();
    assert!(matches!(e, ScenarioError::Io { .. }), "{e}");
    assert_eq!(e.line(), None);
    assert!(e.to_string().contains("missing.toml"), "{e}");
}

#[test]
fn schema_is_json_with_properties() {
    let text = json_schema();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let props = v["properties"].as_object().expect("top-level properties");
    for key in ["name", "duration", "groups", "reading", "network", "checks"] {
        assert!(props.contains_key(key), "{key} missing");
    }
    assert_eq!(v["additionalProperties"], serde_json::Value::Bool(false));
    assert!(v["required"].as_array().unwrap().contains(&"name".into()));
}

#[test]
fn line_of_counts_newlines_before_offset() {
    assert_eq!(line_of("a\nb\nc", 0), 1);
    assert_eq!(line_of("a\nb\nc", 2), 2);
    assert_eq!(line_of("a\nb\nc", 4), 3);
    assert_eq!(line_of("a\n", 99), 2);
}

/// The shadow structs that locate errors inside distributions must accept exactly the
/// fields of the real variants: serialize each variant, drop the tag, read it back.
#[test]
fn shadow_structs_match_distribution_variants() {
    fn fields<T: serde::Serialize>(v: &T) -> toml::Value {
        let toml::Value::Table(mut t) = toml::Value::try_from(v).unwrap() else {
            panic!("a distribution serializes as a table")
        };
        assert!(t.remove("dist").is_some());
        toml::Value::Table(t)
    }
    let d = Dur::from_millis;
    let sizes = [
        SizeDist::Fixed { value: 3 },
        SizeDist::Uniform { min: 3, max: 9 },
        SizeDist::Zipf {
            min: 3,
            max: 9,
            exponent: 1.5,
        },
    ];
    let checks_size: [fn(toml::Value) -> Option<_>; 3] = [
        first_error::<shadow::SizeFixed>,
        first_error::<shadow::SizeUniform>,
        first_error::<shadow::SizeZipf>,
    ];
    for (v, check) in sizes.iter().zip(checks_size) {
        assert_eq!(check(fields(v)), None, "{v:?}");
    }
    let delays = [
        DelayDist::Fixed { value: d(1) },
        DelayDist::Uniform {
            min: d(1),
            max: d(2),
        },
        DelayDist::Exp {
            mean: d(1),
            max: d(2),
        },
        DelayDist::Lognormal {
            median: d(1),
            sigma: 0.5,
            max: d(2),
        },
    ];
    let checks_delay: [fn(toml::Value) -> Option<_>; 4] = [
        first_error::<shadow::DelayFixed>,
        first_error::<shadow::DelayUniform>,
        first_error::<shadow::DelayExp>,
        first_error::<shadow::DelayLognormal>,
    ];
    for (v, check) in delays.iter().zip(checks_delay) {
        assert_eq!(check(fields(v)), None, "{v:?}");
    }
    // And they reject what the real types reject.
    let extra = toml::Value::Table(toml::from_str("value = 3\nextra = 1").unwrap());
    assert!(first_error::<shadow::SizeFixed>(extra).is_some());
}

#[test]
fn slo_section_parses_keys_aliases_and_round_trips() {
    let s = parse_str(
        &with_header(
            "[slo]\nsend_ack_p99 = \"50ms\"\nnotify_p99 = \"250ms\"\nreceipt_ack_max = \"1s\"\n\
             receipts_per_second_min = 1.5\nops_per_second_min = 10\nviolations_max = 0\n",
        ),
        "t.toml",
    )
    .unwrap();
    use crate::hop::Hop;
    assert_eq!(
        s.slo.latency.get(&(Hop::SendAck, Stat::P99)),
        Some(&Dur::from_millis(50))
    );
    assert_eq!(
        s.slo.latency.get(&(Hop::ReceiptNotify, Stat::P99)),
        Some(&Dur::from_millis(250))
    );
    assert_eq!(
        s.slo.latency.get(&(Hop::ReceiptAck, Stat::Max)),
        Some(&Dur::from_secs(1))
    );
    assert_eq!(s.slo.receipts_per_second_min, Some(1.5));
    assert_eq!(s.slo.ops_per_second_min, Some(10.0));
    assert_eq!(s.slo.violations_max, Some(0));
    // Serialises under canonical names and reads back the same.
    let text = toml::to_string(&s).unwrap();
    assert!(text.contains("receipt_to_notified_p99"), "{text}");
    let back: Scenario = toml::from_str(&text).unwrap();
    assert_eq!(back.slo, s.slo);
    // A scenario without the section leaves it out of its serialisation.
    let plain = parse_str(&with_header(""), "t.toml").unwrap();
    assert!(plain.slo.is_empty());
    assert!(!toml::to_string(&plain).unwrap().contains("slo"));
}

#[test]
fn slo_unknown_key_names_line_path_and_valid_keys() {
    // Header lines 1-6, [slo] line 7, the bad key line 9.
    let e = err(&with_header(
        "[slo]\nsend_ack_p99 = \"50ms\"\nsend_ack_p95 = \"60ms\"\n",
    ));
    assert_at(&e, 9, "slo.send_ack_p95");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Unknown));
    let shown = e.to_string();
    assert!(shown.contains("receipt_to_notified"), "{shown}");
    assert!(shown.contains("p999"), "{shown}");

    let e = err(&with_header("[slo]\nbogus_hop_p99 = \"1s\"\n"));
    assert_at(&e, 8, "slo.bogus_hop_p99");
}

#[test]
fn slo_bad_values_name_line_and_path() {
    let e = err(&with_header("[slo]\nnotify_p99 = 250\n"));
    assert_at(&e, 8, "slo.notify_p99");
    let e = err(&with_header("[slo]\nnotify_p99 = \"fast\"\n"));
    assert_at(&e, 8, "slo.notify_p99");
    let e = err(&with_header("[slo]\nviolations_max = -1\n"));
    assert_at(&e, 8, "slo.violations_max");
    let e = err(&with_header(
        "[slo]\nnotify_p99 = \"1s\"\nreceipt_to_notified_p99 = \"2s\"\n",
    ));
    assert_at(&e, 9, "slo.receipt_to_notified_p99");
    let e = err(&with_header("[slo]\nops_per_second_min = -3.0\n"));
    assert_at(&e, 8, "slo.ops_per_second_min");
}

#[test]
fn semantics_profile_defaults_to_tencent_and_rejects_the_unknown() {
    use crate::protocol::Profile;
    let s = parse_str(&with_header(""), "t.toml").unwrap();
    assert_eq!(s.semantics.profile, Profile::Tencent);
    // The default is not written back, so reports of Tencent runs read as before.
    assert!(!toml::to_string(&s).unwrap().contains("semantics"));
    let m = parse_str(
        &with_header("[semantics]\nprofile = \"matrix\"\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!(m.semantics.profile, Profile::Matrix);
    assert!(
        toml::to_string(&m)
            .unwrap()
            .contains("profile = \"matrix\"")
    );
    let e = err(&with_header("[semantics]\nprofile = \"xmpp\"\n"));
    assert_at(&e, 8, "semantics.profile");
    let e = err(&with_header(
        "[semantics]\nprofile = \"matrix\"\nstrict = true\n",
    ));
    assert_at(&e, 9, "semantics.strict");
    assert_eq!(e.field_kind(), Some(FieldErrorKind::Unknown));
    assert!(json_schema().contains("\"matrix\""));
}

#[test]
fn pulls_misuse_share_is_a_share_that_stays_unwritten_at_zero() {
    let e = err(&with_header("[pulls]\nmisuse_share = -0.1\n"));
    assert_at(&e, 8, "pulls.misuse_share");
    let s = parse_str(&with_header("[pulls]\nmisuse_share = 0.05\n"), "t.toml").unwrap();
    assert_eq!(s.pulls.misuse_share, 0.05);
    assert!(toml::to_string(&s).unwrap().contains("misuse_share = 0.05"));
    // At 0 (the default) it is not written: scenarios echoed in reports stay as they were.
    let s = parse_str(&with_header(""), "t.toml").unwrap();
    assert_eq!(s.pulls.misuse_share, 0.0);
    assert!(!serde_json::to_string(&s.pulls).unwrap().contains("misuse"));
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    let pulls = &schema["$defs"]["Pulls"]["properties"]["misuse_share"];
    assert!(pulls["description"].as_str().unwrap().contains("malformed"));
}

mod devices;
