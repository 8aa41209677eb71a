//! Summary figures of a hop's histogram for the reports; the number formatting they share
//! with the SLO results lives in [`crate::human`].

pub use crate::human::{format_bytes, format_micros, format_rate, format_seconds};
use hdrhistogram::Histogram;

/// The summary figures of one hop's histogram, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HopSummary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl HopSummary {
    /// Every hop that has samples, in `Hop::ALL` order, with its summary: the rows of each
    /// report's latency table.
    pub fn with_samples(m: &crate::metrics::Metrics) -> Vec<(crate::hop::Hop, HopSummary)> {
        crate::hop::Hop::ALL
            .iter()
            .map(|&h| (h, HopSummary::of(m.histogram(h))))
            .filter(|(_, sum)| sum.count > 0)
            .collect()
    }

    /// All zero for an empty histogram.
    pub fn of(h: &Histogram<u64>) -> HopSummary {
        if h.is_empty() {
            return HopSummary {
                count: 0,
                p50: 0,
                p90: 0,
                p99: 0,
                p999: 0,
                max: 0,
                mean: 0.0,
            };
        }
        HopSummary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}
