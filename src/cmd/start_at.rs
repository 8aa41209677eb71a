//! `run --start-at` / `--start-at-epoch-ms`: the wall time a fleet's shards begin their
//! traffic phases together (the waiting is the live driver's, `live::start`). Parsed here;
//! a start more than [`MAX_LEAD`] ahead is refused as a likely mistake (a wrong date or
//! unit), and a simulated run, whose clock is virtual, ignores the flag with a note.

use std::time::{Duration, SystemTime};

/// How far ahead a common start may be.
pub const MAX_LEAD: Duration = Duration::from_secs(3600);

/// Reads an RFC 3339 time: `2026-12-01T10:00:00Z`, with optional fractional seconds, and
/// `Z` or a `+HH:MM` / `-HH:MM` offset.
pub fn parse_rfc3339(s: &str) -> Result<SystemTime, String> {
    let bad = || {
        format!(
            "invalid --start-at {s:?}: write an RFC 3339 time such as 2026-12-01T10:00:00Z or \
             2026-12-01T11:00:00+01:00 (`date -u -d '+30 seconds' +%Y-%m-%dT%H:%M:%SZ`), or \
             use --start-at-epoch-ms"
        )
    };
    let s = s.trim();
    let (base, offset_secs) = split_offset(s).ok_or_else(bad)?;
    let utc = humantime::parse_rfc3339(&format!("{base}Z")).map_err(|_| bad())?;
    let shift = Duration::from_secs(offset_secs.unsigned_abs());
    // Local time = UTC + offset, so UTC = local - offset.
    Ok(if offset_secs >= 0 {
        utc - shift
    } else {
        utc + shift
    })
}

/// Splits `...Z` or `...+HH:MM` into the local date-time and the offset in seconds.
fn split_offset(s: &str) -> Option<(&str, i64)> {
    if let Some(base) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((base, 0));
    }
    let at = s.len().checked_sub(6)?;
    let (base, off) = s.split_at(at);
    let sign = match off.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = off[1..].split_once(':')?;
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 || off.len() != 6 {
        return None;
    }
    Some((base, sign * (h * 3600 + m * 60)))
}

/// Refuses a common start more than [`MAX_LEAD`] ahead of now.
pub fn check_lead(at: SystemTime) -> Result<(), String> {
    match at.duration_since(SystemTime::now()) {
        Ok(lead) if lead > MAX_LEAD => Err(format!(
            "--start-at is {} ahead; a common start is at most {} ahead (a fleet needs seconds \
             to a few minutes to provision and connect): check the date, the time zone, or \
             that --start-at-epoch-ms is in milliseconds",
            humantime::format_duration(Duration::from_secs(lead.as_secs())),
            humantime::format_duration(MAX_LEAD)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::start::{epoch_ms, from_epoch_ms};

    #[test]
    fn reads_utc_and_offset_times_and_refuses_the_rest() {
        let t = |s| parse_rfc3339(s).map(epoch_ms);
        assert_eq!(t("2026-12-01T10:00:00Z"), Ok(1_796_119_200_000));
        assert_eq!(t("2026-12-01T10:00:00.250Z"), Ok(1_796_119_200_250));
        assert_eq!(t("2026-12-01T11:30:00+01:30"), Ok(1_796_119_200_000));
        assert_eq!(t("2026-12-01T05:00:00-05:00"), Ok(1_796_119_200_000));
        for bad in [
            "2026-12-01 10:00:00",
            "2026-12-01T10:00:00",
            "2026-12-01T10:00:00+1:00",
            "2026-12-01T10:00:00+25:00",
            "tomorrow",
            "",
        ] {
            let e = parse_rfc3339(bad).unwrap_err();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_start_hours_ahead_is_refused() {
        let now = SystemTime::now();
        assert!(check_lead(now + Duration::from_secs(30)).is_ok());
        assert!(check_lead(now - Duration::from_secs(30)).is_ok());
        let e = check_lead(now + Duration::from_secs(7200)).unwrap_err();
        assert!(e.contains("at most 1h ahead"), "{e}");
        // Seconds given for milliseconds land in 1970: in the past, so the shard says late.
        assert!(check_lead(from_epoch_ms(1_796_119_200)).is_ok());
    }
}
