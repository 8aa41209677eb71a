//! How busy the machine was during a run, for `run.json` and the terminal: a latency figure
//! measured while other processes or the hypervisor (CPU steal) took the cores is not the
//! figure of a quiet machine, and the report should say so rather than leave it to guesswork.
//! Read from the first line of /proc/stat at the start and at the end of the run.

use std::sync::OnceLock;

/// The machine's CPU time in ticks, summed over every CPU (the `cpu` line of /proc/stat).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HostTicks {
    /// user + nice + system + irq + softirq: time some process or the kernel ran.
    busy: u64,
    /// idle + iowait.
    idle: u64,
    /// Time the hypervisor ran something else while this machine wanted to run.
    steal: u64,
}

/// The machine over the run: shares of all its CPU time, 0 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostLoad {
    pub cpus: u32,
    /// Share of the machine's CPU time spent running anything (this run, its server, other
    /// processes, the kernel).
    pub busy_share: f64,
    /// Share taken by the hypervisor for other guests (steal): time the run wanted and lost.
    pub steal_share: f64,
}

static START: OnceLock<Option<HostTicks>> = OnceLock::new();

/// Notes the machine's counters at the start of a run (later calls keep the first).
pub fn mark_start() {
    START.get_or_init(read);
}

/// The machine's load since [`mark_start`]; None if it was not called, /proc/stat is not
/// readable, or no time passed.
pub fn since_start() -> Option<HostLoad> {
    let start = (*START.get()?)?;
    let end = read()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    load_between(start, end, cpus)
}

fn read() -> Option<HostTicks> {
    parse_cpu_line(std::fs::read_to_string("/proc/stat").ok()?.lines().next()?)
}

/// The aggregate `cpu` line: user nice system idle iowait irq softirq steal [guest ...].
/// Guest time is already counted in user and nice, so it is left out.
pub(crate) fn parse_cpu_line(line: &str) -> Option<HostTicks> {
    let mut f = line.split_whitespace();
    if f.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = f.take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v[..] else {
        return None;
    };
    Some(HostTicks {
        busy: user + nice + system + irq + softirq,
        idle: idle + iowait,
        steal,
    })
}

pub(crate) fn load_between(a: HostTicks, b: HostTicks, cpus: u32) -> Option<HostLoad> {
    let busy = b.busy.checked_sub(a.busy)?;
    let idle = b.idle.checked_sub(a.idle)?;
    let steal = b.steal.checked_sub(a.steal)?;
    let total = (busy + idle + steal) as f64;
    (total > 0.0).then(|| HostLoad {
        cpus,
        busy_share: busy as f64 / total,
        steal_share: steal as f64 / total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_line_is_split_into_busy_idle_and_steal() {
        let t = parse_cpu_line("cpu  100 5 20 300 10 1 2 7 50 0").expect("a cpu line");
        assert_eq!(
            t,
            HostTicks {
                busy: 128,
                idle: 310,
                steal: 7
            }
        );
        assert_eq!(
            parse_cpu_line("cpu0 1 2 3 4 5 6 7 8"),
            None,
            "one CPU's line"
        );
        assert_eq!(parse_cpu_line("cpu 1 2 3"), None, "too short");
        assert_eq!(parse_cpu_line("cpu 1 2 x 4 5 6 7 8"), None);
    }

    #[test]
    fn shares_are_of_the_time_between_two_readings() {
        let a = parse_cpu_line("cpu 100 0 0 100 0 0 0 0").unwrap();
        let b = parse_cpu_line("cpu 160 0 10 120 0 0 0 10").unwrap();
        let l = load_between(a, b, 2).expect("time passed");
        assert_eq!(l.busy_share, 0.7);
        assert_eq!(l.steal_share, 0.1);
        assert_eq!(load_between(a, a, 2), None, "no time passed");
        assert_eq!(load_between(b, a, 2), None, "counters went back");
    }

    #[test]
    fn this_machine_reports_its_load_since_the_start() {
        mark_start();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(60) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let l = since_start().expect("Linux has /proc/stat");
        assert!(l.busy_share > 0.0 && l.busy_share <= 1.0, "{l:?}");
        assert!((0.0..=1.0).contains(&l.steal_share), "{l:?}");
        assert!(l.cpus >= 1);
    }
}
