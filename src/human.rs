//! Human-friendly numbers for the reports, the terminal and SLO results: three significant
//! digits, the unit that keeps them short ("850us", "12.3ms", "1.20s", "12.3 MiB").

/// A latency in microseconds: "850us", "12.3ms", "1.20s".
pub fn format_micros(us: u64) -> String {
    if us < 1000 {
        return format!("{us}us");
    }
    let ms = us as f64 / 1e3;
    if ms < 999.5 {
        return format!("{}ms", sig3(ms));
    }
    format!("{}s", sig3(us as f64 / 1e6))
}

/// Seconds as a duration: "0us" .. "1.20s", like [`format_micros`].
pub fn format_seconds(secs: f64) -> String {
    if secs.is_finite() && secs > 0.0 {
        format_micros((secs * 1e6).round() as u64)
    } else {
        "0us".to_string()
    }
}

/// A byte count: "512 B", "12.3 KiB", "1.20 GiB"; 0 means not measured.
pub fn format_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "unknown".to_string();
    }
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    for unit in ["KiB", "MiB", "GiB"] {
        v /= 1024.0;
        if v < 1023.5 || unit == "GiB" {
            return format!("{} {unit}", sig3(v));
        }
    }
    unreachable!("the loop returns at GiB")
}

/// A rate: "0", "0.50", "12.3", "1234".
pub fn format_rate(per_sec: f64) -> String {
    if !per_sec.is_finite() || per_sec <= 0.0 {
        "0".to_string()
    } else if per_sec >= 999.5 {
        format!("{per_sec:.0}")
    } else if per_sec < 1.0 {
        format!("{per_sec:.2}")
    } else {
        sig3(per_sec)
    }
}

/// `x >= 1` with three significant digits (more for x >= 1000: integers are kept whole).
fn sig3(x: f64) -> String {
    if x < 9.995 {
        format!("{x:.2}")
    } else if x < 99.95 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}
