//! Memory figures read from /proc: this process's peak and current resident set (for
//! `run.json` and the memory budget's watcher) and the machine's total (the budget's default).
//! One parser for the `NAME:   1234 kB` lines all three files share.

/// Peak resident set size (VmHWM of /proc/self/status) in bytes; 0 where unavailable
/// (not Linux, /proc not mounted).
pub fn peak_rss_bytes() -> u64 {
    proc_kib_field("/proc/self/status", "VmHWM:").unwrap_or(0)
}

/// Current resident set size (VmRSS of /proc/self/status) in bytes; 0 where unavailable.
pub fn current_rss_bytes() -> u64 {
    proc_kib_field("/proc/self/status", "VmRSS:").unwrap_or(0)
}

/// The machine's memory (MemTotal of /proc/meminfo) in bytes; None where unavailable.
pub fn mem_total_bytes() -> Option<u64> {
    proc_kib_field("/proc/meminfo", "MemTotal:")
}

fn proc_kib_field(path: &str, name: &str) -> Option<u64> {
    kib_field(&std::fs::read_to_string(path).ok()?, name)
}

/// The `NAME:   1234 kB` line of a /proc file, in bytes; None if absent or malformed (the
/// kernel writes every such field in kB).
pub(crate) fn kib_field(text: &str, name: &str) -> Option<u64> {
    let rest = text.lines().find_map(|l| l.strip_prefix(name))?;
    let mut parts = rest.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") => Some(n.saturating_mul(1024)),
        _ => None,
    }
}
