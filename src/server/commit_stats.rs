//! How group commit went: how many jobs each commit carried and how long each batch took
//! (apply, commit and release). The writer logs it when it stops, so whoever tunes a server
//! sees whether batches grow under load or every commit pays its own fsync.

use hdrhistogram::Histogram;
use std::time::Duration;

pub(crate) struct CommitStats {
    /// Jobs over all batches (the histogram's mean is rounded past 3 digits).
    total_jobs: u64,
    jobs: Histogram<u64>,
    micros: Histogram<u64>,
}

impl Default for CommitStats {
    fn default() -> CommitStats {
        // Fixed bounds: larger values are recorded as the bound (saturating), never dropped.
        let bounded =
            |high| Histogram::new_with_bounds(1, high, 3).expect("1..high at 3 digits is valid");
        CommitStats {
            total_jobs: 0,
            jobs: bounded(1 << 24),
            micros: bounded(3_600_000_000),
        }
    }
}

impl CommitStats {
    /// One batch of `jobs` jobs that took `took`.
    pub(crate) fn record(&mut self, jobs: usize, took: Duration) {
        self.total_jobs += jobs as u64;
        self.jobs.saturating_record(jobs as u64);
        self.micros
            .saturating_record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    /// One line for the log; None before the first batch.
    pub(crate) fn summary(&self) -> Option<String> {
        if self.jobs.is_empty() {
            return None;
        }
        let (j, t) = (&self.jobs, &self.micros);
        let ms = |q: f64| t.value_at_quantile(q) as f64 / 1000.0;
        Some(format!(
            "group commit: {} batches of {} jobs; jobs per batch p50 {} p90 {} p99 {} max {}; \
             batch time p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            j.len(),
            self.total_jobs,
            j.value_at_quantile(0.5),
            j.value_at_quantile(0.9),
            j.value_at_quantile(0.99),
            j.max(),
            ms(0.5),
            ms(0.99),
            t.max() as f64 / 1000.0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_say_before_the_first_batch() {
        assert_eq!(CommitStats::default().summary(), None);
    }

    #[test]
    fn the_summary_counts_batches_and_jobs_and_reads_their_quantiles() {
        let mut s = CommitStats::default();
        for _ in 0..98 {
            s.record(2, Duration::from_micros(300));
        }
        s.record(40, Duration::from_millis(3));
        s.record(500, Duration::from_millis(12));
        let line = s.summary().expect("two batches recorded");
        assert!(line.contains("100 batches of 736 jobs"), "{line}");
        assert!(line.contains("p50 2 p90 2 p99 40 max 500"), "{line}");
        assert!(line.contains("p50 0.30 ms"), "{line}");
        assert!(line.contains("max 12.0"), "{line}");
    }
}
