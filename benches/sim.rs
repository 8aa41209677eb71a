//! End-to-end benchmark of a simulated run: workload, simulated network, reference model,
//! streaming checker, metrics and trace hash, on a small inline scenario. Throughput is the
//! number of operations and pushes the run completes (from a calibration run; the run is
//! deterministic, so every iteration does the same work), so criterion prints ops/s of wall
//! time.
//!
//! Run: `cargo bench --bench sim` (about a minute on two cores).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use readsim::check::CheckConfig;
use readsim::model::Model;
use readsim::observers::{SimOutcome, simulate};
use readsim::scenario::{Scenario, parse_str};
use readsim::target::ModelTarget;
use std::hint::black_box;
use std::time::{Duration, Instant};

const SEED: u64 = 7;

/// 2,000 users, 200 groups, 500 pairs, 30 virtual seconds at moderate rates.
const SMALL: &str = r#"
name = "bench-small"
seed = 7
duration = "30s"

[population]
users = 2000
online_share = 0.9

[[groups]]
name = "work"
count = 120
type = "Work"
size = { dist = "zipf", min = 3, max = 150, exponent = 1.2 }

[[groups]]
name = "public"
count = 50
type = "Public"
size = { dist = "uniform", min = 3, max = 60 }
traffic_weight = 0.8

# Straddles the receipt size limit (200), so rejected sends are part of the mix.
[[groups]]
name = "meeting"
count = 20
type = "Meeting"
size = { dist = "uniform", min = 150, max = 260 }

[[groups]]
name = "community"
count = 10
type = "Community"
size = { dist = "uniform", min = 20, max = 300 }
traffic_weight = 0.5

[c2c]
pairs = 500

[receipts]
enabled_types = ["Work", "Public", "Meeting"]
max_group_size = 200

[traffic]
group_messages_per_sec = 20.0
c2c_messages_per_sec = 10.0
receipt_share = 0.8
misuse_share = 0.02

[reading]
read_probability = 0.9
delay = { dist = "exp", mean = "3s", max = "30s" }

[pulls]
per_user_per_minute = 0.5
"#;

fn target(s: &Scenario) -> ModelTarget {
    ModelTarget::new(Model::new(s.receipts.config()))
}

fn run(s: &Scenario, target: &mut ModelTarget) -> SimOutcome {
    simulate(s, SEED, target, CheckConfig::default())
}

fn sim_small(c: &mut Criterion) {
    let scenario = parse_str(SMALL, "benches/sim.rs").expect("the inline scenario is valid");

    // Calibration: the op count for throughput, and a sanity check of the run.
    let started = Instant::now();
    let out = run(&scenario, &mut target(&scenario));
    let wall = started.elapsed();
    let ops = out.observers.metrics.total_ops();
    let violations = out.observers.checker.violations_total();
    eprintln!(
        "sim/small calibration: {ops} ops in {:.1} virtual s, {:.1} ms wall, {violations} violations",
        out.end as f64 / 1e6,
        wall.as_secs_f64() * 1e3,
    );
    if violations > 0 {
        eprintln!("warning: the calibration run found violations; the model or checker is off");
    }
    assert!(ops > 0, "the calibration run did nothing");
    drop(out);

    let mut group = c.benchmark_group("sim");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(3));
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(ops));
    group.bench_function("small_2000_users_30s", |b| {
        b.iter_batched(
            || target(&scenario),
            // The outcome and target are returned so they are dropped outside the timer.
            |mut t| (black_box(run(&scenario, &mut t)), t),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, sim_small);
criterion_main!(benches);
