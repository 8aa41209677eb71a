//! How the live scheduler is configured, and the counters it reports beyond the history.

use crate::progress::Counters;
use crate::protocol::Micros;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// How the scheduler ends its phases and reports progress.
#[derive(Clone, Debug)]
pub struct DriveConfig {
    /// Once no timer is pending and nothing is in flight, wait this long for trailing pushes
    /// (which may start reads) before calling the phase done.
    pub settle: Duration,
    /// Once no timer is pending, give up on operations still in flight after this long
    /// without any frame arriving; they are reported as outstanding.
    pub drain_timeout: Duration,
    /// Print a progress line to stderr once a second.
    pub progress: bool,
    /// Counters the observers publish (violations found so far), for the progress line.
    pub counters: Option<Arc<Counters>>,
    /// Set when the user interrupts the run (Ctrl-C): the scheduler stops within ~100 ms,
    /// sends nothing more and ends the history where it is (no quiet phase, no final checks,
    /// no end-of-run liveness verdict on pushes still in flight).
    pub interrupted: Option<Arc<AtomicBool>>,
}

impl Default for DriveConfig {
    fn default() -> Self {
        DriveConfig {
            settle: Duration::from_millis(300),
            drain_timeout: Duration::from_secs(30),
            progress: false,
            counters: None,
            interrupted: None,
        }
    }
}

/// Counters of a live run, beyond what the history says.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DriveStats {
    /// Operations sent.
    pub invoked: u64,
    /// Operations answered.
    pub completed: u64,
    /// Per-message successes of `send_message_read_receipts` responses.
    pub acked_receipts: u64,
    /// Times of the first and last receipt acknowledgement.
    pub first_receipt_ack: Option<Micros>,
    pub last_receipt_ack: Option<Micros>,
    /// Operations still unanswered when a phase gave up waiting (timeout or closed socket).
    pub outstanding: u64,
    /// Operations not sent because the client's connection was gone.
    pub not_sent: u64,
    /// Frames that did not map to the protocol (malformed, unknown response id).
    pub bad_frames: u64,
    /// A few examples of what went wrong, for the terminal.
    pub problems: Vec<String>,
    /// Connections closed during the run that no injected fault explains.
    pub disconnects: u64,
    /// Operations given up on (request timeout, or the connection closed first).
    pub lost: u64,
    /// Responses that arrived after their operation was given up on (ignored).
    pub late_responses: u64,
    /// Frames from a connection the scheduler had already given up on (ignored).
    pub stale_frames: u64,
    /// With several devices per user (`[population] devices`): pushes taken off each
    /// device's connections, by device (empty with one device).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pushes_by_device: Vec<u64>,
    /// Pushes about conversations of other shards, which reach this shard's connections of
    /// shared users (ignored: they are the other shard's history; `live::foreign`).
    pub foreign_pushes: u64,
    /// Injected faults carried out: cuts, stalls, crashes; and restarts and reconnects.
    pub cuts: u64,
    pub stalls: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub reconnects: u64,
    /// Clients that could not reconnect, and server restarts that failed.
    pub reconnect_failures: u64,
    pub restart_failures: u64,
    /// Churn admin operations applied, and those that could not be sent.
    pub admin_ops: u64,
    pub admin_failures: u64,
    /// Online clients, and those connected when the run ended.
    pub online: u64,
    pub connected_at_end: u64,
    /// What the run did about faults, once each (e.g. faults a TCP stream cannot carry).
    pub notes: Vec<String>,
    /// Time of the last event (End).
    pub end: Micros,
    /// The user interrupted the run (Ctrl-C); the history stops where it was.
    pub interrupted: bool,
    /// Worker threads the sockets ran on (`--io-threads`; 0: the scheduler's own thread).
    /// Latencies near the harness's limit depend on it.
    pub io_threads: u64,
}

impl DriveStats {
    /// Acknowledged receipts per second between the first and the last acknowledgement.
    pub fn acked_receipts_per_second(&self) -> f64 {
        match (self.first_receipt_ack, self.last_receipt_ack) {
            (Some(a), Some(b)) if b > a => self.acked_receipts as f64 / ((b - a) as f64 / 1e6),
            _ => 0.0,
        }
    }

    /// Problems that make a live run incomplete. With faults configured, disconnects and
    /// lost operations are expected (the workload recovers from them); without, a dropped
    /// connection means the run did not do what it was asked.
    pub fn incomplete(&self, faults: bool) -> u64 {
        let unexpected = if faults { 0 } else { self.disconnects };
        self.outstanding
            + self.not_sent
            + self.bad_frames
            + unexpected
            + self.reconnect_failures
            + self.restart_failures
            + self.admin_failures
            + self.online.saturating_sub(self.connected_at_end)
    }

    pub(super) fn problem(&mut self, p: String) {
        if self.problems.len() < 10 {
            self.problems.push(p);
        }
    }

    /// Records note `n` once (what the run did about faults).
    pub(super) fn note(&mut self, n: &str) {
        if !self.notes.iter().any(|x| x == n) {
            self.notes.push(n.to_string());
        }
    }
}
