//! CPU time of this process, for `run.json`: the speed figure that is comparable across
//! machines with different core counts is operations per core-second (user + system CPU of
//! every thread), not operations per wall second.

/// User and system CPU time of this process so far, all threads (finished ones included).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CpuTime {
    pub user_seconds: f64,
    pub system_seconds: f64,
}

impl CpuTime {
    pub fn total(self) -> f64 {
        self.user_seconds + self.system_seconds
    }
}

/// /proc reports times in USER_HZ ticks, which Linux fixes at 100 per second for every
/// architecture's /proc ABI, whatever the kernel's own tick rate.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time of this process (utime and stime of /proc/self/stat); `None` where unavailable
/// (not Linux, /proc not mounted).
pub fn process_cpu() -> Option<CpuTime> {
    parse_stat(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Fields 14 and 15 (utime, stime) of a /proc stat line. The command name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted after the
/// last ')'.
pub(crate) fn parse_stat(stat: &str) -> Option<CpuTime> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name come field 3 (state) onwards: utime is the 12th of those, stime the 13th.
    let mut fields = after.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(CpuTime {
        user_seconds: user as f64 / TICKS_PER_SECOND,
        system_seconds: system as f64 / TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        // A name with a space and a ')' must not shift the fields.
        let line = "4242 (read sim) x) R 1 2 3 4 5 6 7 8 9 10 4200 150 0 0 20 0 3 0";
        let cpu = parse_stat(line).expect("a well-formed line");
        assert_eq!(cpu.user_seconds, 42.0);
        assert_eq!(cpu.system_seconds, 1.5);
        assert_eq!(cpu.total(), 43.5);
    }

    #[test]
    fn malformed_lines_give_none() {
        assert_eq!(parse_stat("no parenthesis at all"), None);
        assert_eq!(parse_stat("1 (x) R 1 2"), None);
        assert_eq!(parse_stat("1 (x) R 1 2 3 4 5 6 7 8 9 10 ab 3"), None);
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        // Burn a little CPU so even a coarse tick counter moves off zero.
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let cpu = process_cpu().expect("Linux has /proc/self/stat");
        assert!(cpu.total() > 0.0, "{cpu:?} after 50 ms of spinning");
    }
}
