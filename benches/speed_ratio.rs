//! Operations per core-second of `readsim run scenarios/large.toml` (every check on), next to
//! a bare discrete-event loop over the same population and rates built and run in the same
//! process a moment later: a binary heap of events, one read bitmap per message, no model, no
//! checks, one thread. Absolute speeds vary from machine to machine and minute to minute; the
//! ratio of the two, taken in one run, is what compares across machines.
//!
//! Run: `cargo bench --bench speed_ratio` (the whole 2-minute scenario, about a minute of
//! CPU), or `cargo bench --bench speed_ratio -- --quick` (20 virtual seconds, as CI does).
//! Nothing here gates on a number: it prints the figures.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use readsim::report::{CpuTime, RunStats, process_cpu};
use readsim::scenario::{Scenario, load_file, mean_delay, mean_size};
use roaring::RoaringBitmap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCENARIO: &str = "scenarios/large.toml";

/// Virtual seconds of traffic in `--quick` mode.
const QUICK_SECONDS: u64 = 20;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scenario = load_file(&root.join(SCENARIO)).expect("scenarios/large.toml loads");
    let seconds = if quick {
        QUICK_SECONDS
    } else {
        scenario.duration.micros / 1_000_000
    };

    let (ops, readsim_cpu) = readsim_run(root, seconds);
    let readsim_rate = ops as f64 / readsim_cpu.total();
    println!(
        "readsim run {SCENARIO} ({seconds} s of traffic, every check on): {ops} ops, CPU {:.2} s \
         (user {:.2}, system {:.2}): {:.0} ops per core-second",
        readsim_cpu.total(),
        readsim_cpu.user_seconds,
        readsim_cpu.system_seconds,
        readsim_rate
    );

    let before = process_cpu().expect("Linux reports CPU time in /proc/self/stat");
    let events = bare_loop(&scenario, seconds);
    let after = process_cpu().expect("Linux reports CPU time in /proc/self/stat");
    let bare_cpu = (after.total() - before.total()).max(0.01);
    let bare_rate = events as f64 / bare_cpu;
    println!(
        "bare event loop (same population and rates; binary heap, read bitmaps, no model, no \
         checks, one thread): {events} events, CPU {bare_cpu:.2} s: {bare_rate:.0} events per \
         core-second"
    );
    println!(
        "ratio readsim / bare loop: {:.2} (1.0 = as fast per core as the bare loop)",
        readsim_rate / bare_rate
    );
}

/// Runs the release binary on the scenario and reads its ops and CPU time from run.json.
fn readsim_run(root: &Path, seconds: u64) -> (u64, CpuTime) {
    let out = std::env::temp_dir().join(format!("readsim-speed-ratio-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_readsim"))
        .current_dir(root)
        .args(["run", SCENARIO, "--quiet", "--duration"])
        .arg(format!("{seconds}s"))
        .arg("--out")
        .arg(&out)
        .status()
        .expect("readsim starts");
    assert!(status.success(), "readsim run {SCENARIO} failed: {status}");
    let stats = read_run_json(&out.join("run.json"));
    let _ = std::fs::remove_dir_all(&out);
    let cpu = stats.cpu.expect("run.json reports the run's CPU time");
    let rate = stats
        .ops_per_cpu_second
        .expect("run.json reports ops per core-second");
    ((rate * cpu.total()).round() as u64, cpu)
}

fn read_run_json(path: &PathBuf) -> RunStats {
    let text = std::fs::read_to_string(path).expect("readsim wrote run.json");
    serde_json::from_str(&text).expect("run.json parses")
}

/// What the bare loop schedules: the cycle send -> deliver -> read -> notify.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// The next message of the open-loop send process.
    Send,
    /// Message `msg` reaches one member of its audience.
    Deliver { msg: u32, member: u32 },
    /// That member reads it.
    Read { msg: u32, member: u32 },
    /// The sender hears of the read.
    Notify,
}

/// Conversations' audience sizes (the sender excluded): each group its class's mean size,
/// each 1:1 pair one.
fn audiences(s: &Scenario) -> Vec<u32> {
    let mut sizes = Vec::new();
    for class in &s.groups {
        let audience = (mean_size(&class.size).round() as u32)
            .saturating_sub(1)
            .max(1);
        sizes.extend(std::iter::repeat_n(audience, class.count as usize));
    }
    sizes.extend(std::iter::repeat_n(1, s.c2c.pairs as usize));
    sizes
}

/// Runs the bare loop for `seconds` of sends; returns the events it processed.
fn bare_loop(s: &Scenario, seconds: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
    let convs = audiences(s);
    let rate = s.traffic.group_messages_per_sec + s.traffic.c2c_messages_per_sec;
    let mean_read_us = mean_delay(&s.reading.delay);
    let read_probability = s.reading.read_probability;
    let end = seconds * 1_000_000;
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, at: u64, ev: Ev| {
        seq += 1;
        heap.push(Reverse((at, seq, ev)));
    };
    push(&mut heap, 0, Ev::Send);
    let mut readers: Vec<RoaringBitmap> = Vec::new();
    let mut events = 0u64;
    while let Some(Reverse((now, _, ev))) = heap.pop() {
        events += 1;
        match ev {
            Ev::Send => {
                let audience = convs[rng.random_range(0..convs.len())];
                let msg = readers.len() as u32;
                readers.push(RoaringBitmap::new());
                for member in 0..audience {
                    push(&mut heap, now + 1_000, Ev::Deliver { msg, member });
                }
                let gap = (-rng.random::<f64>().ln() / rate * 1e6) as u64;
                if now + gap < end {
                    push(&mut heap, now + gap.max(1), Ev::Send);
                }
            }
            Ev::Deliver { msg, member } => {
                if rng.random::<f64>() < read_probability {
                    let delay = (-rng.random::<f64>().ln() * mean_read_us).min(30e6) as u64;
                    push(&mut heap, now + delay, Ev::Read { msg, member });
                }
            }
            Ev::Read { msg, member } => {
                if readers[msg as usize].insert(member) {
                    push(&mut heap, now + 1_000, Ev::Notify);
                }
            }
            Ev::Notify => {}
        }
    }
    events
}
