//! Reading: whether and when a client reads a message it learnt of, and how its receipts
//! go out (batched per conversation, at once in a burst, or as a 1:1 mark-read).

use super::{Action, Tag, Timer, Workload, conv_entity};
use crate::dist::sample_delay;
use crate::protocol::{ConvKey, Micros, MsgId, Push, Request, UserId};
use crate::rng::{Purpose, entity};
use rand::RngExt;

/// Receipts a reader collected for one conversation, sent together at `flush_at`.
pub(super) struct Batch {
    ids: Vec<MsgId>,
    flush_at: Micros,
}

/// A message a client learnt of (by push or by catching up on history).
pub(super) struct Seen {
    pub(super) msg: MsgId,
    pub(super) key: ConvKey,
    pub(super) sender: UserId,
    pub(super) seq: u64,
    pub(super) need_read_receipt: bool,
}

impl Workload {
    /// A push of someone else's new message: the client may read it.
    pub(super) fn pushed(
        &mut self,
        now: Micros,
        client: UserId,
        push: &Push,
        out: &mut Vec<Action>,
    ) {
        let Push::NewMessage {
            msg_id,
            conv,
            sender,
            seq,
            need_read_receipt,
            ..
        } = *push
        else {
            return;
        };
        if sender == client {
            return;
        }
        let seen = Seen {
            msg: msg_id,
            key: ConvKey::of(client, conv),
            sender,
            seq,
            need_read_receipt,
        };
        self.decide_read(now, client, &seen, out);
    }

    /// Whether and when `client` reads a message it learnt of (by push or by catching up).
    /// The decision comes from the (conversation, seq, reader) stream, so a message seen
    /// twice gets the same decision (and a repeated receipt, which is idempotent).
    pub(super) fn decide_read(
        &mut self,
        now: Micros,
        client: UserId,
        m: &Seen,
        out: &mut Vec<Action>,
    ) {
        let burst = m.need_read_receipt && self.in_burst(now, m.key);
        let (delay, need, mark) = if burst {
            // Everyone reads at once, spread over a few milliseconds.
            let spread = self.faults.faults.burst_spread.micros;
            let mut rng = self
                .streams
                .rng(Purpose::Bursts, entity(&[m.msg.0, u64::from(client.0)]));
            (rng.random_range(0..=spread), true, false)
        } else {
            let [k, a, b] = conv_entity(m.key);
            let mut rng = self.streams.rng(
                Purpose::Reads,
                entity(&[k, a, b, m.seq, u64::from(client.0)]),
            );
            let r = &self.scenario.reading;
            if !rng.random_bool(r.read_probability) {
                return;
            }
            let delay = sample_delay(&r.delay, &mut rng);
            let mark = matches!(m.key, ConvKey::Pair(..)) && rng.random_bool(r.c2c_mark_read_share);
            if !mark && !m.need_read_receipt {
                return;
            }
            (delay, m.need_read_receipt, mark)
        };
        out.push(Action::Timer {
            at: now + delay,
            timer: Timer::Read {
                user: client,
                msg: m.msg,
                key: m.key,
                sender: m.sender,
                need,
                mark,
                burst,
            },
        });
    }

    /// A `Timer::Read` fired: the reader marks the 1:1 conversation read, sends a burst
    /// receipt at once, or adds the receipt to its batch.
    pub(super) fn read_due(&mut self, now: Micros, timer: Timer, out: &mut Vec<Action>) {
        let Timer::Read {
            user,
            msg,
            key,
            sender,
            need,
            mark,
            burst,
        } = timer
        else {
            return;
        };
        let online = !self.offline.contains(&user);
        if mark {
            // A mark-read needs the connection; an offline reader skips it.
            if online {
                out.push(Action::Invoke {
                    client: user,
                    req: Request::MarkC2cRead { peer: sender },
                    tag: Tag::Mark,
                });
            }
        } else if burst && online {
            out.push(Action::Invoke {
                client: user,
                req: Request::SendReadReceipts { msg_ids: vec![msg] },
                tag: Tag::Receipts { key, attempt: 0 },
            });
        } else if need {
            // Offline burst readers land here too: their receipt waits in the batch.
            self.add_to_batch(now, user, key, msg, out);
        }
    }

    /// Adds `msg` to `user`'s batch for `key`; the first receipt of a batch sets its flush
    /// time, and a full batch (or a zero window) goes out at once.
    pub(super) fn add_to_batch(
        &mut self,
        now: Micros,
        user: UserId,
        key: ConvKey,
        msg: MsgId,
        out: &mut Vec<Action>,
    ) {
        let r = &self.scenario.reading;
        let flush_at = now + r.batch_window.micros;
        let b = self.batches.entry((user, key)).or_insert(Batch {
            ids: Vec::new(),
            flush_at,
        });
        if b.ids.is_empty() {
            b.flush_at = flush_at;
            if r.batch_window.micros > 0 {
                out.push(Action::Timer {
                    at: flush_at,
                    timer: Timer::Flush { user, key },
                });
            }
        }
        b.ids.push(msg);
        if b.ids.len() >= r.batch_max as usize || r.batch_window.micros == 0 {
            self.flush(user, key, out);
        }
    }

    /// A `Timer::Flush` fired; it is stale (and ignored) unless it is the batch's own time.
    pub(super) fn flush_due(
        &mut self,
        now: Micros,
        user: UserId,
        key: ConvKey,
        out: &mut Vec<Action>,
    ) {
        let due = self
            .batches
            .get(&(user, key))
            .is_some_and(|b| b.flush_at == now);
        if due {
            self.flush(user, key, out);
        }
    }

    /// Whether `user` holds receipts for `key` not yet sent.
    pub(super) fn has_batch(&self, user: UserId, key: ConvKey) -> bool {
        self.batches.contains_key(&(user, key))
    }

    /// Sends `user`'s batch for `key`.
    pub(super) fn flush(&mut self, user: UserId, key: ConvKey, out: &mut Vec<Action>) {
        // Offline readers keep their batch; it goes out when they reconnect.
        if self.offline.contains(&user) {
            return;
        }
        let Some(b) = self.batches.remove(&(user, key)) else {
            return;
        };
        // A batch that grew while its reader was offline goes out in allowed sizes.
        let max = self.scenario.reading.batch_max.max(1) as usize;
        for chunk in b.ids.chunks(max) {
            out.push(Action::Invoke {
                client: user,
                req: Request::SendReadReceipts {
                    msg_ids: chunk.to_vec(),
                },
                tag: Tag::Receipts { key, attempt: 0 },
            });
        }
    }
}
