//! Sampling the scenario's distributions from a seeded stream. A core module: the workload
//! and the fault plan both draw from it (so neither depends on the other for it).

use crate::protocol::Micros;
use crate::scenario::{DelayDist, SizeDist, StepSpan};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp, Exp1, LogNormal, Zipf};

/// A whole number from `d` (validated: min <= max, min >= 1).
pub fn sample_size<R: Rng>(d: &SizeDist, rng: &mut R) -> u32 {
    match *d {
        SizeDist::Fixed { value } => value,
        SizeDist::Uniform { min, max } => rng.random_range(min..=max),
        SizeDist::Zipf { min, max, exponent } => {
            let n = f64::from(max - min + 1);
            let z = Zipf::new(n, exponent).expect("validated zipf parameters");
            let k: f64 = z.sample(rng);
            min + (k as u32).saturating_sub(1).min(max - min)
        }
    }
}

/// A delay in microseconds from `d`, cut at its maximum.
pub fn sample_delay<R: Rng>(d: &DelayDist, rng: &mut R) -> Micros {
    match *d {
        DelayDist::Fixed { value } => value.micros,
        DelayDist::Uniform { min, max } => rng.random_range(min.micros..=max.micros),
        DelayDist::Exp { mean, max } => {
            if mean.micros == 0 {
                return 0;
            }
            let e = Exp::new(1.0 / mean.micros as f64).expect("validated mean");
            let x: f64 = e.sample(rng);
            (x as u64).min(max.micros)
        }
        DelayDist::Lognormal { median, sigma, max } => {
            if median.micros == 0 {
                return 0;
            }
            let l = LogNormal::new((median.micros as f64).ln(), sigma).expect("validated sigma");
            let x: f64 = l.sample(rng);
            (x as u64).min(max.micros)
        }
    }
}

/// Time to the next arrival of a Poisson process of `rate_per_sec`; None if the rate is 0.
pub fn next_arrival<R: Rng>(rate_per_sec: f64, rng: &mut R) -> Option<Micros> {
    if rate_per_sec <= 0.0 || !rate_per_sec.is_finite() {
        return None;
    }
    let e = Exp::new(rate_per_sec / 1e6).expect("positive rate");
    let x: f64 = e.sample(rng);
    Some((x as u64).max(1))
}

/// Time from `now` to the next arrival of a Poisson process whose rate is `rate_per_sec`
/// times the scale of the staircase step in force (`spans`, as `Traffic::step_spans` gives
/// them); None if the rate is 0. One unit-exponential draw per arrival, spent as "rate
/// mass" across step boundaries (time rescaling), so the arrivals are an exact
/// inhomogeneous Poisson process, and each arrival takes the same single draw from the
/// stream whatever the steps: the schedule is a pure function of the seed and `now`.
pub fn next_arrival_stepped<R: Rng>(
    rate_per_sec: f64,
    spans: &[StepSpan],
    now: Micros,
    rng: &mut R,
) -> Option<Micros> {
    if rate_per_sec <= 0.0 || !rate_per_sec.is_finite() {
        return None;
    }
    let mut mass: f64 = Exp1.sample(rng);
    let mut t = now as f64;
    let first = spans.partition_point(|s| s.from <= now).saturating_sub(1);
    for (i, span) in spans.iter().enumerate().skip(first) {
        let per_us = rate_per_sec * span.scale / 1e6;
        // The last step lasts for ever: arrivals past the run's end are dropped by the caller.
        let end = if i + 1 == spans.len() {
            f64::INFINITY
        } else {
            span.to as f64
        };
        if per_us > 0.0 && t + mass / per_us < end {
            let at = t + mass / per_us;
            return Some(((at - now as f64) as u64).max(1));
        }
        if per_us > 0.0 {
            mass -= (end - t) * per_us;
        }
        t = end;
    }
    // No spans: the base rate for ever. (Spans whose scales are all 0 never arrive.)
    spans
        .is_empty()
        .then(|| ((mass * 1e6 / rate_per_sec) as u64).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, Streams};
    use crate::scenario::Dur;

    #[test]
    fn sizes_stay_in_range() {
        let mut rng = Streams::new(1).rng(Purpose::Membership, 0);
        let z = SizeDist::Zipf {
            min: 3,
            max: 40,
            exponent: 1.1,
        };
        let u = SizeDist::Uniform { min: 5, max: 9 };
        let mut small = 0;
        for _ in 0..2000 {
            let a = sample_size(&z, &mut rng);
            assert!((3..=40).contains(&a));
            small += (a < 10) as u32;
            assert!((5..=9).contains(&sample_size(&u, &mut rng)));
        }
        assert!(
            small > 1000,
            "zipf favours small sizes, got {small}/2000 below 10"
        );
        assert_eq!(sample_size(&SizeDist::Fixed { value: 7 }, &mut rng), 7);
    }

    #[test]
    fn delays_are_cut_and_near_their_mean() {
        let mut rng = Streams::new(2).rng(Purpose::Reads, 0);
        let d = DelayDist::Exp {
            mean: Dur::from_millis(100),
            max: Dur::from_secs(1),
        };
        let n = 20_000u64;
        let sum: u64 = (0..n)
            .map(|_| {
                let x = sample_delay(&d, &mut rng);
                assert!(x <= 1_000_000);
                x
            })
            .sum();
        let mean = sum / n;
        assert!((90_000..110_000).contains(&mean), "mean {mean}");
        let l = DelayDist::Lognormal {
            median: Dur::from_millis(20),
            sigma: 0.5,
            max: Dur::from_millis(50),
        };
        assert!((0..1000).all(|_| sample_delay(&l, &mut rng) <= 50_000));
    }

    #[test]
    fn poisson_arrivals_match_rate() {
        let mut rng = Streams::new(3).rng(Purpose::Sends, 0);
        let n = 10_000;
        let total: u64 = (0..n).map(|_| next_arrival(50.0, &mut rng).unwrap()).sum();
        let mean = total / n;
        assert!(
            (18_000..22_000).contains(&mean),
            "mean gap {mean}us for 50/s"
        );
        assert_eq!(next_arrival(0.0, &mut rng), None);
    }

    #[test]
    fn stepped_arrivals_spend_one_draw_across_step_boundaries() {
        let spans = [
            StepSpan {
                from: 0,
                to: 1_000_000,
                scale: 1.0,
            },
            StepSpan {
                from: 1_000_000,
                to: 2_000_000,
                scale: 10.0,
            },
        ];
        // The same draw, replayed: unit mass e is 1e6*e us at 1/s; past the 1 s boundary the
        // rest of it goes ten times as fast.
        let draw = |seed| {
            let mut rng = Streams::new(seed).rng(Purpose::Sends, 0);
            let e: f64 = Exp1.sample(&mut rng);
            let mut rng = Streams::new(seed).rng(Purpose::Sends, 0);
            (e, next_arrival_stepped(1.0, &spans, 0, &mut rng).unwrap())
        };
        for seed in 0..50 {
            let (e, got) = draw(seed);
            let want = if e < 1.0 {
                e * 1e6
            } else {
                1e6 + (e - 1.0) * 1e5
            };
            assert!(
                (got as f64 - want).abs() <= 1.0,
                "seed {seed}: {got} vs {want}"
            );
        }
        // From inside the last step the rate is that step's, for ever.
        let mut rng = Streams::new(3).rng(Purpose::Sends, 0);
        let n = 10_000;
        let total: u64 = (0..n)
            .map(|_| next_arrival_stepped(5.0, &spans, 1_500_000, &mut rng).unwrap())
            .sum();
        let mean = total / n;
        assert!(
            (18_000..22_000).contains(&mean),
            "mean gap {mean}us for 50/s"
        );
        assert_eq!(next_arrival_stepped(0.0, &spans, 0, &mut rng), None);
    }
}
