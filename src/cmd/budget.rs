//! The memory budget of `run` and `validate` (`--max-memory SIZE`): parsed from the flag or
//! derived from the machine (80% of MemTotal in /proc/meminfo, 8 GiB where that is unknown),
//! and the watcher that ends a simulated run which outgrows it (VmRSS of /proc/self/status,
//! read every 100 ms on a thread of its own; it only raises a stop flag the simulator polls).

use crate::report::{current_rss_bytes, mem_total_bytes};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Budget where the machine's memory is unknown.
pub const FALLBACK_BUDGET: u64 = 8 * 1024 * 1024 * 1024;

/// What `--max-memory` says in `--help` and in refusals.
pub const FLAG: &str = "--max-memory";

/// The budget: `flag` when given, else 80% of the machine's memory.
pub fn budget(flag: Option<u64>) -> u64 {
    flag.unwrap_or_else(machine_default)
}

/// 80% of MemTotal, or [`FALLBACK_BUDGET`] where /proc/meminfo cannot be read.
pub fn machine_default() -> u64 {
    mem_total_bytes().map_or(FALLBACK_BUDGET, |total| total / 5 * 4)
}

/// The hint a refusal carries.
pub fn hint(budget: u64) -> String {
    format!(
        "raise the budget with {FLAG} (now {}; default 80% of the machine's memory)",
        crate::scenario::bytes(budget)
    )
}

/// Parses a size: a number with an optional unit, B, K/KB/KiB, M/MB/MiB, G/GB/GiB, T/TB/TiB
/// (powers of 1024 all), e.g. "512MiB", "8G", "1.5GiB".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: write a number with a unit, e.g. \"8GiB\""))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => {
            return Err(format!(
                "invalid size unit in {s:?}: use B, KiB, MiB, GiB or TiB, e.g. \"8GiB\""
            ));
        }
    };
    let bytes = n * (1u64 << shift) as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("invalid size {s:?}: must be at least 1 byte"));
    }
    Ok(bytes as u64)
}

/// A thread that raises `stop` once this process's resident memory exceeds the budget.
/// Dropping the watcher ends the thread.
pub struct Watcher {
    done: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
    /// Set by the watcher alone: a live run shares `stop` with Ctrl-C, which is no overrun.
    over: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watcher {
    pub fn start(budget: u64) -> Watcher {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let over = Arc::new(AtomicBool::new(false));
        let (d, s, o) = (done.clone(), stop.clone(), over.clone());
        let thread = std::thread::Builder::new()
            .name("readsim-memory".into())
            .spawn(move || {
                while !d.load(Ordering::Relaxed) {
                    if current_rss_bytes() > budget {
                        o.store(true, Ordering::Relaxed);
                        s.store(true, Ordering::Relaxed);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        Watcher {
            done,
            stop,
            over,
            thread,
        }
    }

    /// Whether the budget was exceeded (not merely stopped by someone else).
    pub fn tripped(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("8G"), Ok(8 << 30));
        assert_eq!(parse_size("1.5 GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("8 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn the_machine_default_is_positive_and_the_watcher_trips_on_a_tiny_budget() {
        assert!(machine_default() > 0);
        let w = Watcher::start(1);
        for _ in 0..50 {
            if w.tripped() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(w.tripped() || current_rss_bytes() == 0);
        let w = Watcher::start(u64::MAX);
        std::thread::sleep(Duration::from_millis(150));
        assert!(!w.tripped());
    }
}
