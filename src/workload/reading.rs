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
        let (delay, need, mark, again) = if burst {
            // Everyone reads at once, spread over a few milliseconds.
            let spread = self.faults.faults.burst_spread.micros;
            let mut rng = self
                .streams
                .rng(Purpose::Bursts, entity(&[m.msg.0, u64::from(client.0)]));
            (rng.random_range(0..=spread), true, false, None)
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
            // Drawn last, and only when on, so runs without repeats keep their streams.
            let again = (r.repeat_share > 0.0 && rng.random_bool(r.repeat_share))
                .then(|| delay + sample_delay(&r.delay, &mut rng));
            (delay, m.need_read_receipt, mark, again)
        };
        let timer = Timer::Read {
            user: client,
            msg: m.msg,
            key: m.key,
            sender: m.sender,
            need,
            mark,
            burst,
        };
        out.push(Action::Timer {
            at: now + delay,
            timer: timer.clone(),
        });
        // Reading it again later (reopening the chat): the same receipt or mark once more.
        if let Some(again) = again {
            out.push(Action::Timer {
                at: now + again,
                timer,
            });
        }
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
        self.misuse_batch(user, key, &b.ids[..b.ids.len().min(max)], out);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Conv, GroupId};
    use crate::workload::testkit;

    /// A group member of the small scenario who is online.
    fn reader(w: &Workload) -> (UserId, ConvKey) {
        let g = GroupId(0);
        (w.members.online(&w.plan, g)[0], ConvKey::Group(g))
    }

    fn read(user: UserId, key: ConvKey, msg: u64) -> Timer {
        read_as(user, key, msg, false, false)
    }

    /// A due read; a mark-read needs no receipt, anything else does.
    fn read_as(user: UserId, key: ConvKey, msg: u64, mark: bool, burst: bool) -> Timer {
        Timer::Read {
            user,
            msg: MsgId(msg),
            key,
            sender: UserId(0),
            need: !mark,
            mark,
            burst,
        }
    }

    #[test]
    fn a_full_batch_goes_out_at_once_and_a_stale_flush_is_ignored() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = reader(&w);
        let mut out = Vec::new();
        for m in 1..=3 {
            w.on_timer(10 * m, read(u, key, m), &mut out);
        }
        assert!(out.contains(&Action::Timer {
            at: 10 + 500_000,
            timer: Timer::Flush { user: u, key },
        }));
        assert_eq!(
            testkit::receipts(&out),
            [(u, vec![MsgId(1), MsgId(2), MsgId(3)])]
        );
        out.clear();
        w.on_timer(200_000, read(u, key, 4), &mut out);
        w.on_timer(500_010, Timer::Flush { user: u, key }, &mut out);
        assert!(testkit::receipts(&out).is_empty(), "stale flush: {out:?}");
        w.on_timer(700_000, Timer::Flush { user: u, key }, &mut out);
        assert_eq!(testkit::receipts(&out), [(u, vec![MsgId(4)])]);
    }

    #[test]
    fn offline_reader_queues_and_sends_in_allowed_sizes_on_reconnect() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = reader(&w);
        w.on_disconnect(0, u);
        let mut out = Vec::new();
        for m in 1..=7 {
            w.on_timer(m, read(u, key, m), &mut out);
        }
        assert!(testkit::receipts(&out).is_empty());
        out.clear();
        w.on_reconnect(100, u, &mut out);
        let sizes: Vec<usize> = testkit::receipts(&out)
            .iter()
            .map(|(_, ids)| ids.len())
            .collect();
        assert_eq!(sizes, [3, 3, 1], "batch_max is 3");
    }

    #[test]
    fn mark_read_and_burst_receipts_need_the_connection() {
        let mut w = testkit::workload(testkit::SMALL, 1);
        let (u, key) = reader(&w);
        let mark = read_as(u, key, 1, true, false);
        let burst = read_as(u, key, 2, false, true);
        let mut out = Vec::new();
        w.on_timer(1, mark.clone(), &mut out);
        w.on_timer(1, burst.clone(), &mut out);
        assert_eq!(testkit::invokes(&out).len(), 2);
        assert_eq!(testkit::receipts(&out), [(u, vec![MsgId(2)])]);
        out.clear();
        w.on_disconnect(2, u);
        w.on_timer(3, mark, &mut out);
        w.on_timer(3, burst, &mut out);
        assert!(testkit::invokes(&out).is_empty(), "{out:?}");
        // The offline burst receipt waits in the batch instead.
        assert!(w.has_batch(u, key));
    }

    /// The Read timers in `out`, with their times.
    fn read_timers(out: &[Action]) -> Vec<(Micros, Timer)> {
        out.iter()
            .filter_map(|a| match a {
                Action::Timer { at, timer } if matches!(timer, Timer::Read { .. }) => {
                    Some((*at, timer.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn repeat_share_reads_a_message_again_later_and_draws_nothing_at_zero() {
        let g = GroupId(0);
        let timers = |share: f64| {
            let text = format!(
                "{}\nread_probability = 1.0\nrepeat_share = {share}\n",
                testkit::SMALL
            );
            let mut w = testkit::workload(&text, 4);
            let (a, b) = (
                w.members.online(&w.plan, g)[0],
                w.members.online(&w.plan, g)[1],
            );
            let push = Push::NewMessage {
                msg_id: MsgId(5),
                conv: Conv::Group(g),
                sender: a,
                seq: 3,
                timestamp_ms: 0,
                need_read_receipt: true,
            };
            let mut out = Vec::new();
            w.on_push(10, b, &push, &mut out);
            read_timers(&out)
        };
        let once = timers(0.0);
        let twice = timers(1.0);
        assert_eq!(once.len(), 1, "{once:?}");
        assert_eq!(twice.len(), 2, "{twice:?}");
        // The first read is the one a run without repeats makes; the second comes later.
        assert_eq!(twice[0], once[0]);
        assert_eq!(twice[1].1, once[0].1);
        assert!(twice[1].0 >= twice[0].0);
    }

    #[test]
    fn read_decisions_are_per_message_and_skip_own_messages() {
        let text = format!("{}\nread_probability = 1.0\n", testkit::SMALL);
        let mut w = testkit::workload(&text, 4);
        let g = GroupId(0);
        let (a, b) = (
            w.members.online(&w.plan, g)[0],
            w.members.online(&w.plan, g)[1],
        );
        let push = |need_read_receipt| Push::NewMessage {
            msg_id: MsgId(5),
            conv: Conv::Group(g),
            sender: a,
            seq: 3,
            timestamp_ms: 0,
            need_read_receipt,
        };
        let mut own = Vec::new();
        w.on_push(10, a, &push(true), &mut own);
        assert!(own.is_empty(), "a sender does not read its own message");
        let (mut first, mut again) = (Vec::new(), Vec::new());
        w.on_push(10, b, &push(true), &mut first);
        w.on_push(10, b, &push(true), &mut again);
        assert_eq!(first.len(), 1, "read_probability 1 reads it: {first:?}");
        assert_eq!(first, again, "same message, same decision");
        let mut none = Vec::new();
        w.on_push(10, b, &push(false), &mut none);
        assert!(
            none.is_empty(),
            "a group read without receipt needs nothing"
        );
    }
}
