//! Latency per hop in HdrHistograms (microseconds, 3 significant digits) and operation
//! counts, computed from history alone, so simulated and live runs measure alike.
//! Latency counts from an operation's intended start (wrk2-style: no coordinated omission).

use crate::history::{Event, MsgMap, Observer, OpId};
use crate::protocol::{Micros, MsgId, OpKind, Push, ReceiptEntry, Request, Response, UserId};
use hdrhistogram::Histogram;
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// The hops of the send -> read -> receipt -> notify -> pull cycle that get a histogram.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hop {
    /// Send invoked -> its acknowledgement.
    SendAck,
    /// Send invoked -> the `new_message` push at each online recipient.
    DeliveryPush,
    /// Receipt batch invoked -> its acknowledgement.
    ReceiptAck,
    /// Receipt invoked -> the sender's first push that covers it.
    ReceiptNotify,
    /// Count pull (`get_message_read_receipts`) invoked -> response.
    Pull,
    /// Member-list page invoked -> response.
    MemberListPage,
    /// Receipt invoked -> the sender's first count pull that shows it.
    ReceiptVisibleInPull,
    /// History page invoked -> response.
    HistoryPull,
    /// `mark_c2c_message_as_read` invoked -> acknowledgement.
    MarkReadAck,
    /// How late the harness started operations after their intended time.
    HarnessLateness,
}

impl Hop {
    pub const ALL: [Hop; 10] = [
        Hop::SendAck,
        Hop::DeliveryPush,
        Hop::ReceiptAck,
        Hop::ReceiptNotify,
        Hop::Pull,
        Hop::MemberListPage,
        Hop::ReceiptVisibleInPull,
        Hop::HistoryPull,
        Hop::MarkReadAck,
        Hop::HarnessLateness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Hop::SendAck => "send_ack",
            Hop::DeliveryPush => "delivery_push",
            Hop::ReceiptAck => "receipt_ack",
            Hop::ReceiptNotify => "receipt_to_notified",
            Hop::Pull => "receipt_pull",
            Hop::MemberListPage => "member_list_page",
            Hop::ReceiptVisibleInPull => "receipt_to_visible_in_pull",
            Hop::HistoryPull => "history_pull",
            Hop::MarkReadAck => "mark_read_ack",
            Hop::HarnessLateness => "harness_lateness",
        }
    }
}

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

/// Receipts of one message waiting to be seen by its sender, in invoke order.
#[derive(Default)]
struct Pending {
    /// Intended start of each distinct reader's first receipt (or mark) for this message.
    invoked: Vec<(UserId, Micros)>,
    queued: RoaringBitmap,
    /// How many of `invoked` a push has already covered / a pull has already shown.
    notified: u32,
    shown: u32,
}

struct OpInfo {
    intended: Micros,
    kind: OpKind,
    /// Receipt batches: message ids, to attribute notify latency per message.
    msgs: Vec<MsgId>,
}

/// Streaming metrics observer.
pub struct Metrics {
    /// One histogram per hop, indexed by `Hop as usize`.
    hist: Vec<Histogram<u64>>,
    /// Completed operations and pushes by kind, indexed by `count_index` (see `ops()`).
    counts: [u64; COUNTED.len()],
    /// Error results (whole-request and per-message) by error name.
    pub errors: BTreeMap<&'static str, u64>,
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
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            hist: Hop::ALL.iter().map(|_| new_histogram()).collect(),
            counts: [0; COUNTED.len()],
            errors: BTreeMap::new(),
            ops_in_flight: FxHashMap::default(),
            send_started: MsgMap::default(),
            early_pushes: FxHashMap::default(),
            receipts: MsgMap::default(),
            first_t: None,
            last_t: 0,
            per_second: Vec::new(),
            quiet: false,
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
        let sec = (t / 1_000_000) as usize;
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
        let lat: Vec<u64> = p.invoked[*done as usize..upto]
            .iter()
            .map(|&(_, started)| t.saturating_sub(started))
            .collect();
        *done = upto as u32;
        let hop = if by_push {
            Hop::ReceiptNotify
        } else {
            Hop::ReceiptVisibleInPull
        };
        for l in lat {
            self.record(hop, l);
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

impl Observer for Metrics {
    fn observe(&mut self, ev: &Event<'_>) {
        let t = ev.time();
        if self.first_t.is_none() {
            self.first_t = Some(t);
        }
        self.last_t = self.last_t.max(t);
        match *ev {
            Event::Invoke {
                t,
                intended,
                client,
                op,
                req,
            } => {
                self.record(Hop::HarnessLateness, t.saturating_sub(intended));
                let msgs = match req {
                    Request::SendReadReceipts { msg_ids } => {
                        for &m in msg_ids {
                            let p = self.receipts.get_or_insert_with(m, Pending::default);
                            if p.queued.insert(client.0) {
                                p.invoked.push((client, intended));
                            }
                        }
                        msg_ids.clone()
                    }
                    _ => Vec::new(),
                };
                self.ops_in_flight.insert(
                    (client, op),
                    OpInfo {
                        intended,
                        kind: req.kind(),
                        msgs,
                    },
                );
            }
            Event::Complete {
                t,
                client,
                op,
                resp,
            } => {
                let Some(info) = self.ops_in_flight.remove(&(client, op)) else {
                    return;
                };
                self.count(info.kind.name(), t);
                let lat = t.saturating_sub(info.intended);
                if let Some(code) = resp.error_code() {
                    self.error(code);
                }
                match (info.kind, resp) {
                    (OpKind::SendMessage, Response::Sent { msg_id, .. }) => {
                        self.record(Hop::SendAck, lat);
                        self.send_started.insert(*msg_id, info.intended);
                        if let Some(early) = self.early_pushes.remove(msg_id) {
                            for at in early {
                                self.record(Hop::DeliveryPush, at.saturating_sub(info.intended));
                            }
                        }
                    }
                    (OpKind::SendMessage, _) => self.record(Hop::SendAck, lat),
                    (OpKind::SendReadReceipts, r) => {
                        self.record(Hop::ReceiptAck, lat);
                        // A refused receipt will never be notified: stop waiting for it.
                        let failed: Vec<MsgId> = match r {
                            Response::ReceiptsSent { results } => {
                                for res in results {
                                    if let Err(code) = res.result {
                                        self.error(code);
                                    }
                                }
                                results
                                    .iter()
                                    .filter(|r| r.result.is_err())
                                    .map(|r| r.msg_id)
                                    .collect()
                            }
                            _ => info.msgs.clone(),
                        };
                        for m in failed {
                            if let Some(p) = self.receipts.get_mut(&m) {
                                p.invoked.retain(|&(u, _)| u != client);
                            }
                        }
                    }
                    (OpKind::GetReadReceipts, r) => {
                        self.record(Hop::Pull, lat);
                        if let Response::ReadReceipts { entries } = r {
                            for e in entries {
                                match &e.result {
                                    Ok(entry) if !self.quiet => self.entry_covered(entry, t, false),
                                    Ok(_) => {}
                                    Err(code) => self.error(*code),
                                }
                            }
                        }
                    }
                    (OpKind::GetReadMemberList, _) => self.record(Hop::MemberListPage, lat),
                    (OpKind::GetHistory, _) => self.record(Hop::HistoryPull, lat),
                    (OpKind::MarkC2cRead, _) => self.record(Hop::MarkReadAck, lat),
                }
            }
            Event::Push { t, push, .. } => {
                self.count(push.kind_name(), t);
                match push {
                    Push::NewMessage { msg_id, .. } => match self.send_started.get(msg_id) {
                        Some(&s) => self.record(Hop::DeliveryPush, t.saturating_sub(s)),
                        // The push beat the sender's ack; time it once the ack arrives.
                        None => self.early_pushes.entry(*msg_id).or_default().push(t),
                    },
                    Push::Receipts { entries } => {
                        for e in entries {
                            self.entry_covered(e, t, true);
                        }
                    }
                    Push::C2cRead { .. } => {}
                }
            }
            Event::Lost { client, op, .. } => {
                // No response will come: not a latency sample, but counted so a run with
                // faults shows how many calls were given up.
                if self.ops_in_flight.remove(&(client, op)).is_some() {
                    *self.errors.entry("LOST_NO_RESPONSE").or_insert(0) += 1;
                }
            }
            Event::Quiet { .. } => self.quiet = true,
            _ => {}
        }
    }
}
