//! Latency per hop in HdrHistograms (microseconds, 3 significant digits) and operation
//! counts, computed from history alone, so simulated and live runs measure alike.
//! Latency counts from an operation's intended start (wrk2-style: no coordinated omission).

mod observe;
mod steps;

pub use steps::StepMetrics;

use crate::history::{MsgMap, OpId};
pub use crate::hop::Hop;
use crate::protocol::{GroupId, Micros, MsgId, OpKind, ReceiptEntry, UserId};
use hdrhistogram::Histogram;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
/// Names of everything counted: operation kinds, then push kinds.
const COUNTED: [&str; 9] = [
    "send_message",
    "send_message_read_receipts",
    "get_message_read_receipts",
    "get_group_message_read_member_list",
    "mark_c2c_message_as_read",
    "get_history",
    "push_new_message",
    "push_receipts",
    "push_c2c_read",
];

fn count_index(name: &str) -> usize {
    // Names are &'static strs from OpKind::name / Push::kind_name: compare pointers first.
    COUNTED
        .iter()
        .position(|n| std::ptr::eq(*n, name) || *n == name)
        .expect("every counted name is listed in COUNTED")
}

/// Highest latency a histogram tracks exactly (one hour); larger values saturate there.
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3).expect("static bounds are valid")
}

/// Width of one receipt-completeness bucket: receipts are counted by whole seconds since
/// their message's send.
pub const COMPLETENESS_BUCKET_US: u64 = 1_000_000;
/// Receipts acknowledged later than this many buckets after the send share the last bucket,
/// so a pathological run cannot grow the vector without bound.
pub const COMPLETENESS_BUCKETS_MAX: usize = 600;

/// Longest run the per-second throughput vector covers (35 days: the longest scenario plus
/// its delays); later operations share the last second, so a hostile event time cannot size
/// the vector.
pub const PER_SECOND_MAX: usize = 35 * 24 * 3600;

/// Audience-size buckets for notify latency by group size: (label, smallest, largest).
/// A 1:1 message has an audience of 1.
pub const AUDIENCE_BUCKETS: [(&str, u32, u32); 5] = [
    ("1", 1, 1),
    ("2-10", 2, 10),
    ("11-50", 11, 50),
    ("51-200", 51, 200),
    ("201+", 201, u32::MAX),
];

/// Index into [`AUDIENCE_BUCKETS`] of an audience of `n` (0 counts as 1).
pub fn audience_bucket(n: u32) -> usize {
    AUDIENCE_BUCKETS
        .iter()
        .position(|&(_, lo, hi)| (lo..=hi).contains(&n.max(1)))
        .unwrap_or(AUDIENCE_BUCKETS.len() - 1)
}

/// How fast audiences read: counts per fixed time bucket, never per-message vectors, so the
/// memory stays flat however long the run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Completeness {
    /// Receipt-needing messages whose send was acknowledged.
    pub messages: u64,
    /// Sum of their audience sizes (members at send time minus the sender; 1 for 1:1 chats),
    /// as the harness counts them from admin history; the share of readers is relative to it.
    pub audience_total: u64,
    /// Distinct readers' receipts acknowledged, by whole seconds between the send's intended
    /// start and the receipt's acknowledgement (index = second; the last absorbs the tail).
    pub acked_by_second: Vec<u64>,
}

impl Completeness {
    /// All receipts acknowledged.
    pub fn acked_total(&self) -> u64 {
        self.acked_by_second.iter().sum()
    }

    /// Cumulative share (0..=1) of the audience that has read by the end of each second.
    pub fn cumulative_share(&self) -> Vec<f64> {
        let mut sum = 0u64;
        self.acked_by_second
            .iter()
            .map(|&n| {
                sum += n;
                if self.audience_total == 0 {
                    0.0
                } else {
                    sum as f64 / self.audience_total as f64
                }
            })
            .collect()
    }

    fn record(&mut self, since_send: Micros) {
        let i = ((since_send / COMPLETENESS_BUCKET_US) as usize).min(COMPLETENESS_BUCKETS_MAX - 1);
        if self.acked_by_second.len() <= i {
            self.acked_by_second.resize(i + 1, 0);
        }
        self.acked_by_second[i] += 1;
    }
}

/// Readers of one message kept in a list (looked up by scanning it), up to this many.
const QUEUED_SCAN_MAX: usize = 32;

/// Receipts of one message waiting to be seen by its sender, in invoke order.
#[derive(Default)]
struct Pending {
    /// Audience size at send time (0 until the send is acknowledged), for the
    /// notify-latency-by-audience-size histograms.
    audience: u32,
    /// Intended start of each distinct reader's first receipt (or mark) for this message.
    invoked: Vec<(UserId, Micros)>,
    /// Every reader ever queued here (a failed receipt leaves `invoked` but stays queued,
    /// so a retry is not a first receipt): a list up to [`QUEUED_SCAN_MAX`], then a bitmap
    /// (a sparse bitmap costs ~50 bytes per reader over a million user ids).
    queued_few: Vec<UserId>,
    queued: Option<RoaringBitmap>,
    /// How many of `invoked` a push has already covered / a pull has already shown.
    notified: u32,
    shown: u32,
}

impl Pending {
    /// Records `client`'s first receipt at `intended`; false if it had queued one already.
    fn queue(&mut self, client: UserId, intended: Micros) -> bool {
        let known = match &self.queued {
            Some(set) => set.contains(client.0),
            None => self.queued_few.contains(&client),
        };
        if known {
            return false;
        }
        self.invoked.push((client, intended));
        match &mut self.queued {
            Some(set) => {
                set.insert(client.0);
            }
            None => {
                self.queued_few.push(client);
                if self.queued_few.len() > QUEUED_SCAN_MAX {
                    self.queued = Some(self.queued_few.iter().map(|u| u.0).collect());
                    self.queued_few = Vec::new();
                }
            }
        }
        true
    }
}

struct OpInfo {
    intended: Micros,
    kind: OpKind,
    /// Receipt batches: each message id, and whether this client had not sent a receipt for
    /// it before (so a repeated receipt is not counted twice towards completeness). One
    /// vector, not two: a receipt batch is invoked millions of times in a large run.
    receipts: Vec<(MsgId, bool)>,
    /// Receipt-needing sends: the audience size when invoked.
    audience: Option<u32>,
}

/// Streaming metrics observer.
pub struct Metrics {
    /// One histogram per hop, indexed by `Hop as usize`.
    hist: Vec<Histogram<u64>>,
    /// Completed operations and pushes by kind, indexed by `count_index` (see `ops()`).
    counts: [u64; COUNTED.len()],
    /// Error results (whole-request and per-message) by protocol error code.
    pub errors: BTreeMap<&'static str, u64>,
    /// Operations that got no response (timed out, or lost with their connection or a
    /// crashed server): a harness-side outcome, not a protocol error code.
    pub lost: u64,
    ops_in_flight: FxHashMap<(UserId, OpId), OpInfo>,
    /// Intended start of the send of each message, for delivery latency.
    send_started: MsgMap<Micros>,
    /// `new_message` pushes that arrived before their send's ack: (message, arrival).
    early_pushes: FxHashMap<MsgId, Vec<Micros>>,
    receipts: MsgMap<Pending>,
    /// Virtual or wall time of the first and last event, for throughput.
    pub first_t: Option<Micros>,
    pub last_t: Micros,
    /// Completed operations per second of the run (index = second), for throughput plots.
    pub per_second: Vec<u64>,
    /// After `Quiet` only the harness's own final checks run: they are not user traffic, so
    /// they do not time receipt visibility.
    quiet: bool,
    /// Members of each group, from admin history (creation, joins, leaves), for audience
    /// sizes. A BTreeMap: it is only touched by admin events and sends.
    group_members: BTreeMap<GroupId, u32>,
    /// Share of audiences that have read, by time since send.
    pub completeness: Completeness,
    /// Receipt invoked -> sender notified, by audience size (indexed like
    /// [`AUDIENCE_BUCKETS`]).
    notify_by_audience: Vec<Histogram<u64>>,
    /// The rate staircase's steps (`Metrics::with_steps`); empty without one.
    steps: Vec<StepMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            hist: Hop::ALL.iter().map(|_| new_histogram()).collect(),
            counts: [0; COUNTED.len()],
            errors: BTreeMap::new(),
            lost: 0,
            ops_in_flight: FxHashMap::default(),
            send_started: MsgMap::default(),
            early_pushes: FxHashMap::default(),
            receipts: MsgMap::default(),
            first_t: None,
            last_t: 0,
            per_second: Vec::new(),
            quiet: false,
            group_members: BTreeMap::new(),
            completeness: Completeness::default(),
            notify_by_audience: AUDIENCE_BUCKETS.iter().map(|_| new_histogram()).collect(),
            steps: Vec::new(),
        }
    }
}

impl Metrics {
    pub fn histogram(&self, hop: Hop) -> &Histogram<u64> {
        &self.hist[hop as usize]
    }

    pub fn histograms(&self) -> impl Iterator<Item = (Hop, &Histogram<u64>)> {
        Hop::ALL.iter().map(|&h| (h, &self.hist[h as usize]))
    }

    /// Receipt invoked -> sender notified, for messages whose audience size falls in each of
    /// [`AUDIENCE_BUCKETS`], in that order.
    pub fn notify_by_audience(&self) -> impl Iterator<Item = (&'static str, &Histogram<u64>)> {
        AUDIENCE_BUCKETS
            .iter()
            .zip(&self.notify_by_audience)
            .map(|(&(label, _, _), h)| (label, h))
    }

    /// Total completed operations plus delivered pushes.
    pub fn total_ops(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn record(&mut self, hop: Hop, us: u64) {
        self.hist[hop as usize].saturating_record(us);
    }

    /// Completed operations by kind and pushes by kind (kinds never seen are left out).
    pub fn ops(&self) -> BTreeMap<&'static str, u64> {
        COUNTED
            .iter()
            .zip(self.counts)
            .filter(|&(_, n)| n > 0)
            .map(|(&name, n)| (name, n))
            .collect()
    }

    fn count(&mut self, name: &'static str, t: Micros) {
        self.counts[count_index(name)] += 1;
        let sec = ((t / 1_000_000) as usize).min(PER_SECOND_MAX - 1);
        if self.per_second.len() <= sec {
            self.per_second.resize(sec + 1, 0);
        }
        self.per_second[sec] += 1;
    }

    fn error(&mut self, code: crate::protocol::ErrorCode) {
        *self.errors.entry(code.name()).or_insert(0) += 1;
    }

    /// A push or pull at `t` shows `covered` receipts of `msg`: time the newly covered ones,
    /// attributing counts to receipts in invoke order (counts carry no reader ids).
    fn covered(&mut self, msg: MsgId, covered: u32, t: Micros, by_push: bool) {
        let Some(p) = self.receipts.get_mut(&msg) else {
            return;
        };
        let done = if by_push {
            &mut p.notified
        } else {
            &mut p.shown
        };
        let upto = (covered as usize).min(p.invoked.len());
        if upto <= *done as usize {
            return;
        }
        let from = *done as usize;
        *done = upto as u32;
        let bucket = audience_bucket(p.audience);
        // Lent out while the histograms (also `self`) record, instead of copying the
        // latencies into a vector per push.
        let invoked = std::mem::take(&mut p.invoked);
        let hop = if by_push {
            Hop::ReceiptNotify
        } else {
            Hop::ReceiptVisibleInPull
        };
        for &(_, started) in &invoked[from..upto] {
            let l = t.saturating_sub(started);
            self.record(hop, l);
            if by_push {
                self.notify_by_audience[bucket].saturating_record(l);
                self.step_notified(started, l);
            }
        }
        if let Some(p) = self.receipts.get_mut(&msg) {
            p.invoked = invoked;
        }
    }

    fn entry_covered(&mut self, e: &ReceiptEntry, t: Micros, by_push: bool) {
        match *e {
            ReceiptEntry::Group {
                msg_id, read_count, ..
            } => self.covered(msg_id, read_count, t, by_push),
            ReceiptEntry::C2c {
                msg_id,
                is_peer_read,
                ..
            } => self.covered(msg_id, is_peer_read as u32, t, by_push),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_event_time_cannot_size_the_per_second_vector() {
        let mut m = Metrics::default();
        m.count("send_message", 1_500_000);
        m.count("send_message", u64::MAX / 2);
        m.count("send_message", u64::MAX);
        assert_eq!(m.per_second.len(), PER_SECOND_MAX);
        assert_eq!(m.per_second[1], 1);
        assert_eq!(
            m.per_second[PER_SECOND_MAX - 1],
            2,
            "the tail shares the last second"
        );
        assert_eq!(m.total_ops(), 3);
    }
}
