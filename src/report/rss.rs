//! Peak resident memory of this process, for `run.json`.

/// Peak resident set size (VmHWM of /proc/self/status) in bytes; 0 where unavailable
/// (not Linux, /proc not mounted).
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .map(|status| parse_vm_hwm(&status))
        .unwrap_or(0)
}

/// The `VmHWM:   1234 kB` line of a /proc status file, in bytes; 0 if absent or malformed.
pub(crate) fn parse_vm_hwm(status: &str) -> u64 {
    let Some(rest) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) else {
        return 0;
    };
    let mut parts = rest.split_whitespace();
    let Some(Ok(n)) = parts.next().map(str::parse::<u64>) else {
        return 0;
    };
    match parts.next() {
        Some("kB") | None => n.saturating_mul(1024),
        Some("mB") => n.saturating_mul(1024 * 1024),
        Some(_) => 0,
    }
}
