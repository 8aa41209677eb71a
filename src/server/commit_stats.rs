//! How group commit went: how many jobs each commit carried, how long each batch took
//! (apply, commit and release), and how long a client's operation spent in the writer (queued
//! behind the batch in progress, then in its own). The writer logs it when it stops, so whoever
//! tunes a server sees whether batches grow under load or every commit pays its own fsync, and
//! how much of a client's latency the server's own queue and commits account for.

use hdrhistogram::Histogram;
use std::time::Duration;

pub(crate) struct CommitStats {
    /// Jobs over all batches (the histogram's mean is rounded past 3 digits).
    total_jobs: u64,
    jobs: Histogram<u64>,
    micros: Histogram<u64>,
    /// Per client operation: read from its socket until its batch was committed and its answer
    /// handed to the socket's send queue.
    op_micros: Histogram<u64>,
    /// Per client operation: read from its socket until its batch started.
    queued_micros: Histogram<u64>,
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
            op_micros: bounded(3_600_000_000),
            queued_micros: bounded(3_600_000_000),
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

    /// One client operation: `queued` until its batch started, `total` until it was released.
    pub(crate) fn record_op(&mut self, queued: Duration, total: Duration) {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.queued_micros.saturating_record(us(queued));
        self.op_micros.saturating_record(us(total));
    }

    /// One line for the log; None before the first batch.
    pub(crate) fn summary(&self) -> Option<String> {
        if self.jobs.is_empty() {
            return None;
        }
        let (j, t) = (&self.jobs, &self.micros);
        let mut line = format!(
            "group commit: {} batches of {} jobs; jobs per batch p50 {} p90 {} p99 {} max {}; \
             batch time p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            j.len(),
            self.total_jobs,
            j.value_at_quantile(0.5),
            j.value_at_quantile(0.9),
            j.value_at_quantile(0.99),
            j.max(),
            ms(t, 0.5),
            ms(t, 0.99),
            ms(t, 1.0),
        );
        let (o, w) = (&self.op_micros, &self.queued_micros);
        // Only admin calls and connections (no client operation): nothing to say about them.
        if !o.is_empty() {
            line += &format!(
                "; a client operation in the writer p50 {:.2} ms p99 {:.2} ms max {:.2} ms, of \
                 which queued p50 {:.2} ms p99 {:.2} ms",
                ms(o, 0.5),
                ms(o, 0.99),
                ms(o, 1.0),
                ms(w, 0.5),
                ms(w, 0.99),
            );
        }
        Some(line)
    }
}

/// The `q` quantile of a histogram of microseconds, in milliseconds (1.0: the maximum).
fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_to_say_before_the_first_batch() {
        assert_eq!(CommitStats::default().summary(), None);
    }

    #[test]
    fn batches_without_client_operations_say_nothing_about_them() {
        let mut s = CommitStats::default();
        s.record(3, Duration::from_micros(200));
        let line = s.summary().expect("a batch recorded");
        assert!(line.contains("1 batches of 3 jobs"), "{line}");
        assert!(!line.contains("client operation"), "{line}");
    }

    #[test]
    fn the_summary_counts_batches_and_jobs_and_reads_their_quantiles() {
        let mut s = CommitStats::default();
        for _ in 0..98 {
            s.record(2, Duration::from_micros(300));
        }
        s.record(40, Duration::from_millis(3));
        s.record(500, Duration::from_millis(12));
        for i in 1..=100 {
            s.record_op(
                Duration::from_micros(i * 10),
                Duration::from_micros(i * 100),
            );
        }
        let line = s.summary().expect("two batches recorded");
        assert!(line.contains("100 batches of 736 jobs"), "{line}");
        assert!(line.contains("p50 2 p90 2 p99 40 max 500"), "{line}");
        assert!(line.contains("p50 0.30 ms"), "{line}");
        assert!(line.contains("max 12.0"), "{line}");
        assert!(
            line.contains("writer p50 5.00 ms p99 9.90 ms max 10.0"),
            "{line}"
        );
        assert!(line.contains("queued p50 0.50 ms p99 0.99 ms"), "{line}");
    }
}
