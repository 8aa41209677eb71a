//! A common start (`run --start-at`): the shards of a fleet provision and connect each on
//! its own, then wait for one wall time to begin their traffic phases together, so their
//! load adds up. A shard that is not ready by then fails instead of starting late (a late
//! shard's load would not add up, and its report could not be aligned with the others').

use super::LiveError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 for a time before it).
pub fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The wall time `ms` milliseconds after the Unix epoch.
pub fn from_epoch_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// Waits until `at` (at once without one), or until the run is interrupted; returns the wall
/// time the traffic phase begins. `setup_seconds` is what provisioning and connecting took,
/// for the message when `at` has passed already.
pub(super) async fn wait_until(
    at: Option<SystemTime>,
    interrupted: &AtomicBool,
    setup_seconds: f64,
) -> Result<SystemTime, LiveError> {
    let Some(at) = at else {
        return Ok(SystemTime::now());
    };
    if let Err(late) = at.duration_since(SystemTime::now()) {
        return Err(LiveError::Late {
            late_ms: u64::try_from(late.duration().as_millis()).unwrap_or(u64::MAX),
            setup_seconds,
        });
    }
    // Short sleeps so Ctrl-C is heard, and a wall clock stepped meanwhile is followed.
    while !interrupted.load(Ordering::Relaxed) {
        match at.duration_since(SystemTime::now()) {
            Ok(left) if !left.is_zero() => {
                tokio::time::sleep(left.min(Duration::from_millis(100))).await;
            }
            _ => break,
        }
    }
    Ok(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_start_and_refuses_one_that_has_passed() {
        let never = AtomicBool::new(false);
        let at = SystemTime::now() + Duration::from_millis(300);
        let began = wait_until(Some(at), &never, 1.0).await.unwrap();
        assert!(began >= at);
        assert!(began < at + Duration::from_secs(2));
        let past = SystemTime::now() - Duration::from_secs(5);
        let e = wait_until(Some(past), &never, 12.5).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("not ready by --start-at"), "{text}");
        assert!(
            text.contains("12.5s") && text.contains("ended 5s"),
            "{text}"
        );
        let stop = AtomicBool::new(true);
        let far = SystemTime::now() + Duration::from_secs(600);
        let began = wait_until(Some(far), &stop, 0.0).await.unwrap();
        assert!(began < far, "an interrupt ends the wait");
        assert_eq!(
            epoch_ms(from_epoch_ms(1_700_000_000_123)),
            1_700_000_000_123
        );
    }
}
