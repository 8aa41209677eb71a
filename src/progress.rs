//! Progress on stderr for both drivers: the bar of simulated runs (terminals only) and the
//! once-a-second line of live runs. Both only read counters that observers and drivers
//! publish: the runs, their event order and everything they report are the same with or
//! without it. Wall-clock time is read here, outside the deterministic core.

use crate::history::{Event, Observer, OwnedEvent};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the driver-side observer publishes virtual time and operation counts: rare
/// enough to cost nothing per event, often enough for a smooth bar.
const PUBLISH_EVERY: u64 = 1024;

/// Counters shared between the run and the progress display.
#[derive(Debug, Default)]
pub struct Counters {
    /// Virtual time of the latest event published, microseconds.
    pub virtual_us: AtomicU64,
    /// Completed operations and pushes so far.
    pub ops: AtomicU64,
    /// Invariant violations found so far (published by the observer thread).
    pub violations: AtomicU64,
    done: AtomicBool,
}

/// Wraps the driver's observer: forwards every event unchanged, counting operations and
/// publishing the virtual clock every [`PUBLISH_EVERY`] events.
pub struct Watched<'a, O: Observer> {
    inner: &'a mut O,
    counters: &'a Counters,
    seen: u64,
    ops: u64,
}

impl<'a, O: Observer> Watched<'a, O> {
    pub fn new(inner: &'a mut O, counters: &'a Counters) -> Self {
        Watched {
            inner,
            counters,
            seen: 0,
            ops: 0,
        }
    }

    fn track(&mut self, ev: &Event<'_>) {
        if matches!(ev, Event::Complete { .. } | Event::Push { .. }) {
            self.ops += 1;
        }
        self.seen += 1;
        if self.seen.is_multiple_of(PUBLISH_EVERY) {
            self.counters.virtual_us.store(ev.time(), Ordering::Relaxed);
            self.counters.ops.store(self.ops, Ordering::Relaxed);
        }
    }
}

impl<O: Observer> Observer for Watched<'_, O> {
    fn observe(&mut self, ev: &Event<'_>) {
        self.track(ev);
        self.inner.observe(ev);
    }

    fn observe_owned(&mut self, ev: OwnedEvent) {
        self.track(&ev.as_event());
        self.inner.observe_owned(ev);
    }
}

/// Wraps the checking observers: publishes the violation count after each event.
pub struct CountViolations {
    pub inner: crate::observers::Observers,
    counters: Arc<Counters>,
}

impl CountViolations {
    pub fn new(inner: crate::observers::Observers, counters: Arc<Counters>) -> Self {
        CountViolations { inner, counters }
    }

    fn publish(&self) {
        self.counters
            .violations
            .store(self.inner.checker.violations_total(), Ordering::Relaxed);
    }
}

impl Observer for CountViolations {
    fn observe(&mut self, ev: &Event<'_>) {
        self.inner.observe(ev);
        self.publish();
    }

    fn observe_owned(&mut self, ev: OwnedEvent) {
        self.inner.observe_owned(ev);
        self.publish();
    }
}

/// The bar, redrawn ten times a second by its own thread until [`SimProgress::finish`].
pub struct SimProgress {
    pub counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl SimProgress {
    /// Starts drawing on stderr; `duration_us` is the scenario's traffic phase, the bar's
    /// length (drain and final checks follow it).
    pub fn start(duration_us: u64) -> SimProgress {
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        let bar = ProgressBar::with_draw_target(
            Some(duration_us.max(1)),
            ProgressDrawTarget::stderr_with_hz(10),
        );
        bar.set_style(
            ProgressStyle::with_template("sim [{bar:32.cyan/blue}] {percent:>3}% {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let thread = std::thread::Builder::new()
            .name("readsim-progress".into())
            .spawn(move || {
                let started = Instant::now();
                while !shared.done.load(Ordering::Relaxed) {
                    let t = shared.virtual_us.load(Ordering::Relaxed);
                    let ops = shared.ops.load(Ordering::Relaxed);
                    let wall = started.elapsed().as_secs_f64();
                    bar.set_position(t.min(duration_us));
                    let phase = if t > duration_us { " (draining)" } else { "" };
                    bar.set_message(format!(
                        "virtual {} / {}{phase}, wall {}, {} ops/s, {} violations",
                        crate::human::format_seconds(t as f64 / 1e6),
                        crate::human::format_seconds(duration_us as f64 / 1e6),
                        crate::human::format_seconds(wall),
                        crate::human::format_rate(ops as f64 / wall.max(1e-3)),
                        shared.violations.load(Ordering::Relaxed)
                    ));
                    std::thread::sleep(Duration::from_millis(100));
                }
                bar.finish_and_clear();
            })
            .ok();
        SimProgress { counters, thread }
    }

    /// Stops and clears the bar.
    pub fn finish(mut self) {
        self.counters.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the live progress line shows.
pub struct LiveStatus<'a> {
    pub phase: &'a str,
    /// Operations sent so far.
    pub invoked: u64,
    pub in_flight: usize,
    pub timers: usize,
    pub acked_receipts: u64,
}

/// The live scheduler's progress line, redrawn in place once a second (the scheduler calls
/// [`LiveLine::tick`] from its loop; no thread of its own).
pub struct LiveLine {
    epoch: Instant,
    next: Instant,
    last_invoked: u64,
    counters: Option<Arc<Counters>>,
}

impl LiveLine {
    /// Starts a phase at `now`; times are shown since `epoch` (the traffic phase's start).
    pub fn new(
        epoch: Instant,
        now: Instant,
        invoked: u64,
        counters: Option<Arc<Counters>>,
    ) -> Self {
        LiveLine {
            epoch,
            next: now + Duration::from_secs(1),
            last_invoked: invoked,
            counters,
        }
    }

    /// When the line is next due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Redraws the line if it is due at `now`.
    pub fn tick(&mut self, now: Instant, s: &LiveStatus<'_>) {
        if now < self.next {
            return;
        }
        let elapsed = now.duration_since(self.epoch).as_secs_f64();
        let ops = s.invoked - self.last_invoked;
        self.last_invoked = s.invoked;
        let violations = self
            .counters
            .as_ref()
            .map(|c| format!("  violations {}", c.violations.load(Ordering::Relaxed)))
            .unwrap_or_default();
        let _ = write!(
            std::io::stderr(),
            "\r{}: {elapsed:6.1}s  {ops:6} ops/s  in flight {:6}  timers {:7}  \
             receipts acked {:9}{violations}\x1b[K",
            s.phase,
            s.in_flight,
            s.timers,
            s.acked_receipts
        );
        self.next = now + Duration::from_secs(1);
    }

    /// Ends the line.
    pub fn finish(self) {
        let _ = writeln!(std::io::stderr());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::TraceHash;

    #[test]
    fn watched_forwards_every_event_and_publishes_counts() {
        let counters = Counters::default();
        let mut direct = TraceHash::default();
        let mut inner = TraceHash::default();
        {
            let mut w = Watched::new(&mut inner, &counters);
            for t in 0..(PUBLISH_EVERY * 3) {
                let ev = Event::Quiet { t };
                direct.observe(&ev);
                w.observe(&ev);
            }
        }
        assert_eq!(inner.value(), direct.value());
        assert_eq!(
            counters.virtual_us.load(Ordering::Relaxed),
            PUBLISH_EVERY * 3 - 1
        );
        assert_eq!(counters.ops.load(Ordering::Relaxed), 0);
    }
}
