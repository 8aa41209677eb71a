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

    /// The CPU time spent after `earlier` (a reading of the same counter).
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user_seconds: (self.user_seconds - earlier.user_seconds).max(0.0),
            system_seconds: (self.system_seconds - earlier.system_seconds).max(0.0),
        }
    }

    /// `12.0s (user 6.10s, system 5.90s)`, as every report writes it.
    pub fn describe(self) -> String {
        use crate::human::format_seconds;
        format!(
            "{} (user {}, system {})",
            format_seconds(self.total()),
            format_seconds(self.user_seconds),
            format_seconds(self.system_seconds)
        )
    }

    /// Two readings added up (shards of a fleet).
    pub fn plus(self, other: CpuTime) -> CpuTime {
        CpuTime {
            user_seconds: self.user_seconds + other.user_seconds,
            system_seconds: self.system_seconds + other.system_seconds,
        }
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

/// CPU time of the child processes this process has started and waited for (cutime and
/// cstime of /proc/self/stat): a server a live run started, killed and restarted is counted
/// once each instance has been reaped.
pub fn children_cpu() -> Option<CpuTime> {
    parse_children(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

/// Fields 14 and 15 (utime, stime) of a /proc stat line.
pub(crate) fn parse_stat(stat: &str) -> Option<CpuTime> {
    // After the name come field 3 (state) onwards: utime is the 12th of those, stime the 13th.
    times_after(stat, 11)
}

/// Fields 16 and 17 (cutime, cstime: waited-for children) of a /proc stat line.
pub(crate) fn parse_children(stat: &str) -> Option<CpuTime> {
    times_after(stat, 13)
}

/// Two tick counts, `skip` fields after the command name. The name (field 2) is in
/// parentheses and may hold spaces or parentheses itself, so fields are counted after the
/// last ')'.
fn times_after(stat: &str, skip: usize) -> Option<CpuTime> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace().skip(skip);
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
    fn children_times_are_fields_16_and_17() {
        let line = "4242 (read sim) x) R 1 2 3 4 5 6 7 8 9 10 4200 150 2500 75 20 0 3 0";
        let kids = parse_children(line).expect("a well-formed line");
        assert_eq!((kids.user_seconds, kids.system_seconds), (25.0, 0.75));
        assert_eq!(
            parse_children("1 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13"),
            None
        );
    }

    #[test]
    fn since_and_plus_are_per_field_and_never_negative() {
        let a = CpuTime {
            user_seconds: 3.0,
            system_seconds: 1.0,
        };
        let b = CpuTime {
            user_seconds: 5.5,
            system_seconds: 1.0,
        };
        assert_eq!(b.since(a).user_seconds, 2.5);
        assert_eq!(b.since(a).system_seconds, 0.0);
        assert_eq!(
            a.since(b).user_seconds,
            0.0,
            "a counter reset is not negative time"
        );
        assert_eq!(a.plus(b).total(), 10.5);
        assert_eq!(b.describe(), "6.50s (user 5.50s, system 1.00s)");
    }

    #[test]
    fn a_waited_for_child_is_counted_in_children_cpu() {
        let before = children_cpu().expect("Linux has /proc/self/stat");
        // A child that burns ~0.3 s of CPU, then is reaped by `status()`.
        let ok = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh runs");
        assert!(ok.success());
        let after = children_cpu().expect("Linux has /proc/self/stat");
        assert!(after.since(before).total() > 0.0, "{before:?} -> {after:?}");
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
