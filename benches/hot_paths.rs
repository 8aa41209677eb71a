//! Benchmarks of the simulator's per-event hot paths, each on its own: the event queue
//! (pop + push at a steady depth), and the streaming checker and the metrics, fed the
//! recorded history of a short run of `scenarios/smoke.toml` (every operation kind, churn, faults, two devices), so each
//! iteration does the same work a real run asks of it. The model's own operations are in
//! `benches/model.rs`, a whole run in `benches/sim.rs`.
//!
//! Run: `cargo bench --bench hot_paths` (add `-- --quick` for a fast look, as CI does).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use readsim::check::{CheckConfig, Checker};
use readsim::history::{Event, Observer, OwnedEvent};
use readsim::metrics::Metrics;
use readsim::model::Model;
use readsim::scenario::{Dur, Scenario, load_file};
use readsim::sim::queue::EventQueue;
use readsim::target::ModelTarget;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

/// Virtual seconds of the smoke recorded: enough for every kind of event, short enough that
/// one pass over the history takes well under a second.
const RECORDED_SECONDS: u64 = 10;

/// Keeps every event of a run, owned, in order.
#[derive(Default)]
struct Recorder(Vec<OwnedEvent>);

impl Observer for Recorder {
    fn observe(&mut self, ev: &Event<'_>) {
        self.0.push(OwnedEvent::from(ev));
    }
}

fn smoke() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
    let mut s = load_file(&path).expect("scenarios/smoke.toml loads");
    s.duration = Dur::from_micros(RECORDED_SECONDS * 1_000_000);
    s
}

/// The smoke's history, and the checker configuration its run uses.
fn recorded() -> (Vec<OwnedEvent>, CheckConfig) {
    let s = smoke();
    let mut target = ModelTarget::new(Model::with_profile(
        s.receipts.config(),
        s.semantics.profile,
    ));
    let mut rec = Recorder::default();
    readsim::sim::run_observed(&s, s.seed, &mut target, &mut rec);
    let cfg = CheckConfig::for_scenario(&s, "bench".into(), 10);
    assert!(
        rec.0.len() > 10_000,
        "the recorded smoke is too short to measure"
    );
    (rec.0, cfg)
}

fn checker_observe(c: &mut Criterion, history: &[OwnedEvent], cfg: &CheckConfig) {
    // The recorded run passes its checks; a checker that disagrees is measuring a bug.
    let mut check = Checker::new(cfg.clone());
    history.iter().for_each(|e| check.observe(&e.as_event()));
    assert_eq!(check.violations_total(), 0, "{:?}", check.violations());

    let mut group = c.benchmark_group("checker");
    group.throughput(Throughput::Elements(history.len() as u64));
    group.bench_function("observe_smoke_history", |b| {
        b.iter_batched(
            || Checker::new(cfg.clone()),
            |mut check| {
                history.iter().for_each(|e| check.observe(&e.as_event()));
                check
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn metrics_observe(c: &mut Criterion, history: &[OwnedEvent]) {
    let mut group = c.benchmark_group("metrics");
    group.throughput(Throughput::Elements(history.len() as u64));
    group.bench_function("observe_smoke_history", |b| {
        b.iter_batched(
            Metrics::default,
            |mut m| {
                history.iter().for_each(|e| m.observe(&e.as_event()));
                assert!(m.total_ops() > 0);
                m
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Delays at which the queue bench schedules: a deterministic spread of 0 .. 30 s, mostly
/// under 50 ms, like network hops and read delays.
fn queue_delays(n: u64) -> Vec<u64> {
    (0..n)
        .map(|i| {
            let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            if h % 8 == 0 {
                h % 30_000_000
            } else {
                h % 50_000
            }
        })
        .collect()
}

/// Keeps about `depth` events queued: each pop schedules one more at a delay from `delays`.
fn churn_queue(delays: &[u64], depth: usize) -> u64 {
    let mut q = EventQueue::default();
    let mut now = 0;
    for (i, d) in delays.iter().take(depth).enumerate() {
        q.push(now + d, i);
    }
    let mut sum = 0u64;
    for d in &delays[depth.min(delays.len())..] {
        let (t, ev) = q.pop().expect("the queue is never empty here");
        now = t;
        sum = sum.wrapping_add(ev as u64);
        q.push(now + d, ev);
    }
    sum
}

fn event_queue(c: &mut Criterion) {
    // 10,000 queued (a busy simulation's depth), then 200,000 pop + push pairs.
    let depth = 10_000;
    let delays = queue_delays(depth as u64 + 200_000);
    let mut group = c.benchmark_group("event_queue");
    group.throughput(Throughput::Elements((delays.len() - depth) as u64));
    group.bench_function("pop_push_10k_deep", |b| {
        b.iter(|| black_box(churn_queue(black_box(&delays), depth)))
    });
    group.finish();
}

fn hot_paths(c: &mut Criterion) {
    let (history, cfg) = recorded();
    eprintln!("hot_paths: {} recorded events", history.len());
    event_queue(c);
    checker_observe(c, &history, &cfg);
    metrics_observe(c, &history);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = hot_paths
}
criterion_main!(benches);
