//! Per-step figures of a rate staircase (`[traffic] steps`): for each step's time range,
//! receipt->notified latency of the receipts intended to start in it, the receipts
//! acknowledged during it and the sends intended in it. Steps are few (at most 101), each one
//! histogram and two counters, so memory stays flat however long the run.

use super::{Metrics, new_histogram};
use crate::protocol::Micros;
use hdrhistogram::Histogram;

/// One step of the staircase as measured.
#[derive(Clone, Debug)]
pub struct StepMetrics {
    /// `[from, to)`, microseconds since traffic started.
    pub from: Micros,
    pub to: Micros,
    /// Receipt invoked -> sender notified, for receipts whose operation was intended to start
    /// in this step (wherever the push landed), so a step is judged by the load it offered.
    pub notify: Histogram<u64>,
    /// First receipts of a reader acknowledged (success) during the step, by ack time: the
    /// throughput the target kept up with while this step's load was offered.
    pub acked_receipts: u64,
    /// Sends intended to start in the step (what the open-loop schedule actually offered).
    pub sends: u64,
}

impl StepMetrics {
    /// Length of the step in seconds (at least 1 us, so rates never divide by zero).
    pub fn seconds(&self) -> f64 {
        self.to.saturating_sub(self.from).max(1) as f64 / 1e6
    }
}

impl Metrics {
    /// Metrics that also keep per-step figures for the staircase `[from, to)` ranges
    /// (increasing, as `Traffic::step_spans` gives them); empty ranges keep none.
    pub fn with_steps(ranges: &[(Micros, Micros)]) -> Metrics {
        Metrics {
            steps: ranges
                .iter()
                .map(|&(from, to)| StepMetrics {
                    from,
                    to,
                    notify: new_histogram(),
                    acked_receipts: 0,
                    sends: 0,
                })
                .collect(),
            ..Metrics::default()
        }
    }

    /// The staircase's steps in time order (empty without `[traffic] steps`).
    pub fn steps(&self) -> &[StepMetrics] {
        &self.steps
    }

    /// The step whose range holds `t` (None before the first or from the last one's end).
    pub(super) fn step_of(&mut self, t: Micros) -> Option<&mut StepMetrics> {
        let i = self.steps.partition_point(|s| s.from <= t).checked_sub(1)?;
        self.steps.get_mut(i).filter(|s| t < s.to)
    }

    /// A receipt intended to start at `started` was notified `latency` later.
    pub(super) fn step_notified(&mut self, started: Micros, latency: u64) {
        if let Some(s) = self.step_of(started) {
            s.notify.saturating_record(latency);
        }
    }

    /// A reader's first receipt of a message was acknowledged at `t`.
    pub(super) fn step_acked(&mut self, t: Micros) {
        if let Some(s) = self.step_of(t) {
            s.acked_receipts += 1;
        }
    }

    /// A send was invoked, intended to start at `intended`.
    pub(super) fn step_sent(&mut self, intended: Micros) {
        if let Some(s) = self.step_of(intended) {
            s.sends += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, Observer, OpId};
    use crate::protocol::{Conv, MsgId, PerMessage, Push, ReceiptEntry, Request, Response, UserId};

    fn invoke(m: &mut Metrics, t: Micros, client: u32, op: OpId, req: &Request) {
        m.observe(&Event::Invoke {
            t,
            intended: t,
            client: UserId(client),
            device: crate::history::Device::FIRST,
            op,
            req,
        });
    }

    fn complete(m: &mut Metrics, t: Micros, client: u32, op: OpId, resp: &Response) {
        m.observe(&Event::Complete {
            t,
            client: UserId(client),
            op,
            resp,
        });
    }

    /// Sender 0 sends message 1 at `t`; reader 1 sends its receipt at `read`, acked 1 ms
    /// later; the push reaches the sender at `notified`.
    fn one_receipt(m: &mut Metrics, n: u64, t: Micros, read: Micros, notified: Micros) {
        let msg = MsgId(n);
        let send = Request::SendMessage {
            conv: Conv::C2c(UserId(1)),
            need_read_receipt: true,
            body_len: 1,
        };
        invoke(m, t, 0, 2 * n, &send);
        let sent = Response::Sent {
            msg_id: msg,
            seq: n,
            timestamp_ms: 0,
        };
        complete(m, t + 1, 0, 2 * n, &sent);
        let receipt = Request::SendReadReceipts { msg_ids: vec![msg] };
        invoke(m, read, 1, 2 * n + 1, &receipt);
        let results = vec![PerMessage {
            msg_id: msg,
            result: Ok(()),
        }];
        complete(
            m,
            read + 1_000,
            1,
            2 * n + 1,
            &Response::ReceiptsSent { results },
        );
        let entries = vec![ReceiptEntry::C2c {
            msg_id: msg,
            user_id: UserId(1),
            is_peer_read: true,
        }];
        let push = Push::Receipts { entries };
        m.observe(&Event::Push {
            t: notified,
            client: UserId(0),
            device: crate::history::Device::FIRST,
            push: &push,
        });
    }

    #[test]
    fn samples_belong_to_the_step_their_receipt_was_intended_in() {
        let mut m = Metrics::with_steps(&[(0, 10_000_000), (10_000_000, 20_000_000)]);
        // Read in step 0, notified (late) in step 1: a step-0 sample.
        one_receipt(&mut m, 1, 1_000_000, 9_000_000, 12_000_000);
        // Read and notified in step 1.
        one_receipt(&mut m, 2, 11_000_000, 11_500_000, 11_600_000);
        // Read after the last step: counted nowhere per step.
        one_receipt(&mut m, 3, 19_000_000, 25_000_000, 25_100_000);
        let s = m.steps();
        assert_eq!((s[0].notify.len(), s[1].notify.len()), (1, 1));
        assert_eq!(s[0].notify.max(), s[0].notify.highest_equivalent(3_000_000));
        assert!(s[1].notify.max() <= 100_100);
        // Acks by ack time: 9.001s in step 0, 11.501s in step 1, 25.001s in none.
        assert_eq!((s[0].acked_receipts, s[1].acked_receipts), (1, 1));
        assert_eq!((s[0].sends, s[1].sends), (1, 2));
        assert_eq!(s[0].seconds(), 10.0);
    }

    #[test]
    fn without_steps_nothing_is_kept() {
        let mut m = Metrics::default();
        one_receipt(&mut m, 1, 1_000_000, 2_000_000, 2_500_000);
        assert!(m.steps().is_empty());
        assert_eq!(m.histogram(super::super::Hop::ReceiptNotify).len(), 1);
    }
}
