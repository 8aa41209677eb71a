//! Tick labels for the axes of the HTML report's charts: short, without needless digits.

/// Percentile axis label for x = number of nines: 0 -> "0%", 1 -> "90%", 3 -> "99.9%".
pub fn nines_label(x: f64) -> String {
    let n = x.round() as i32;
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        _ => format!("99.{}%", "9".repeat((n - 2) as usize)),
    }
}

/// A latency tick label from microseconds, without needless digits: "500us", "20ms",
/// "1.5s".
pub fn dur_label(us: f64) -> String {
    if us >= 1e6 {
        format!("{}s", trim(us / 1e6))
    } else if us >= 1e3 {
        format!("{}ms", trim(us / 1e3))
    } else {
        format!("{}us", trim(us))
    }
}

/// Seconds on a time axis: "0s", "90s", "12m", "1.5h".
pub fn secs_label(v: f64) -> String {
    if v >= 5400.0 {
        format!("{}h", trim(v / 3600.0))
    } else if v >= 600.0 {
        format!("{}m", trim(v / 60.0))
    } else {
        format!("{}s", trim(v))
    }
}

/// A number without a trailing ".0".
pub fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// A count on a linear axis: "9999", "12k", "1.5M".
pub fn count_label(v: f64) -> String {
    if v >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}
