//! `[traffic] steps` and `saturation_p99`: both forms parse, resolve into spans, and bad
//! input is reported with its line and field path.

use crate::scenario::*;

/// A valid file: lines 1-6 are the header, `[traffic]` is line 7, `body` starts on line 8.
fn traffic(body: &str) -> String {
    format!(
        "name = \"t\"\nduration = \"1m\"\n\
         [[groups]]\ncount = 2\ntype = \"Work\"\nsize = {{ dist = \"uniform\", min = 3, max = 5 }}\n\
         [traffic]\n{body}"
    )
}

/// Every problem of an invalid file, as (line, path).
fn problems(text: &str) -> Vec<(Option<usize>, String)> {
    match parse_str(text, "t.toml") {
        Ok(s) => panic!("expected an error, parsed {:?}", s.traffic),
        Err(ScenarioError::Invalid { problems, .. }) => {
            problems.into_iter().map(|p| (p.line, p.path)).collect()
        }
        Err(e) => vec![(e.line(), e.field_path().unwrap_or("").to_string())],
    }
}

#[test]
fn every_form_resolves_into_geometric_spans() {
    let s = parse_str(
        &traffic("steps = { every = \"15s\", factor = 1.5, count = 3 }\n"),
        "t.toml",
    )
    .unwrap();
    let spans = s.traffic.step_spans(s.duration);
    let got: Vec<(u64, u64, f64)> = spans.iter().map(|p| (p.from, p.to, p.scale)).collect();
    assert_eq!(
        got,
        [
            (0, 15_000_000, 1.0),
            (15_000_000, 30_000_000, 1.5),
            (30_000_000, 45_000_000, 2.25),
            (45_000_000, 60_000_000, 3.375),
        ]
    );
    assert_eq!(s.traffic.saturation_p99, DEFAULT_SATURATION_P99);
    assert_eq!(scale_at(&spans, 14_999_999), 1.0);
    assert_eq!(scale_at(&spans, 15_000_000), 1.5);
    assert!((mean_scale(&spans, s.duration) - (1.0 + 1.5 + 2.25 + 3.375) / 4.0).abs() < 1e-12);
}

#[test]
fn list_form_and_threshold_parse_and_round_trip() {
    let text = traffic(
        "saturation_p99 = \"500ms\"\n\
         [[traffic.steps]]\nat = \"20s\"\nscale = 2.0\n\
         [[traffic.steps]]\nat = \"40s\"\nscale = 0.5\n",
    );
    let s = parse_str(&text, "t.toml").unwrap();
    assert_eq!(s.traffic.saturation_p99, Dur::from_millis(500));
    let spans = s.traffic.step_spans(s.duration);
    assert_eq!(spans.len(), 3);
    assert_eq!((spans[1].from, spans[1].scale), (20_000_000, 2.0));
    assert_eq!(
        (spans[2].from, spans[2].to, spans[2].scale),
        (40_000_000, 60_000_000, 0.5)
    );
    // The scenario as report.json embeds it parses back to the same staircase.
    let back: Scenario = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert_eq!(back.traffic.steps, s.traffic.steps);
}

#[test]
fn without_steps_the_traffic_section_serializes_as_before() {
    let s = parse_str(&traffic(""), "t.toml").unwrap();
    assert!(s.traffic.step_spans(s.duration).is_empty());
    let json = serde_json::to_value(&s.traffic).unwrap();
    assert!(
        json.get("steps").is_none() && json.get("saturation_p99").is_none(),
        "{json}"
    );
}

#[test]
fn bad_every_fields_name_their_line_and_path() {
    let p = problems(&traffic(
        "steps = { every = \"0s\", factor = -1.0, count = 0 }\n",
    ));
    assert_eq!(
        p,
        [
            (Some(8), "traffic.steps.every".to_string()),
            (Some(8), "traffic.steps.factor".to_string()),
            (Some(8), "traffic.steps.count".to_string()),
        ]
    );
    // Four 20 s steps start at 80 s, after a 60 s run.
    let p = problems(&traffic(
        "steps = { every = \"20s\", factor = 2.0, count = 3 }\n",
    ));
    assert_eq!(p, [(Some(8), "traffic.steps.count".to_string())]);
    let p = problems(&traffic(
        "steps = { every = \"5s\", factr = 2.0, count = 3 }\n",
    ));
    assert_eq!(p, [(Some(8), "traffic.steps.factr".to_string())]);
}

#[test]
fn bad_list_steps_name_their_element() {
    let text = traffic(
        "[[traffic.steps]]\nat = \"30s\"\nscale = 2.0\n\
         [[traffic.steps]]\nat = \"20s\"\nscale = 0.0\n\
         [[traffic.steps]]\nat = \"90s\"\nscale = 3.0\n",
    );
    assert_eq!(
        problems(&text),
        [
            (Some(12), "traffic.steps[1].at".to_string()),
            (Some(13), "traffic.steps[1].scale".to_string()),
            (Some(15), "traffic.steps[2].at".to_string()),
        ]
    );
    let text = traffic("[[traffic.steps]]\nat = \"30s\"\nscale = \"x\"\n");
    assert_eq!(
        problems(&text),
        [(Some(10), "traffic.steps[0].scale".to_string())]
    );
    let text = traffic("steps = 3\n");
    assert_eq!(problems(&text), [(Some(8), "traffic.steps".to_string())]);
}

#[test]
fn bad_threshold_and_oversized_rates_are_refused() {
    let p = problems(&traffic("saturation_p99 = \"0s\"\n"));
    assert_eq!(p, [(Some(8), "traffic.saturation_p99".to_string())]);
    let p = problems(&traffic(
        "group_messages_per_sec = 1000.0\n[[traffic.steps]]\nat = \"30s\"\nscale = 100000.0\n",
    ));
    assert_eq!(p, [(Some(9), "traffic.steps".to_string())]);
}
