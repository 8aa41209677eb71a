//! Benchmarks of the reference model (`readsim::model::Model`): the cost of one operation on
//! a prepared state, with push fan-out included. State is built outside the timed region; a
//! routine that consumes state (receipts can be committed once) gets a fresh clone per
//! iteration through `iter_batched`, and a routine that only grows state (sends) is reset
//! outside the timer every few thousand iterations so memory stays bounded.
//!
//! Run: `cargo bench --bench model` (add `-- --quick` for a fast look).

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use readsim::model::{Delivery, Model};
use readsim::protocol::{
    AdminRequest, Conv, GroupId, GroupType, MsgId, ReadFilter, ReceiptConfig, Request, Response,
    UserId,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Receipt size limit for every bench: raised so groups of thousands take receipts.
const MAX_GROUP_SIZE: u32 = 5_000;
/// The group every bench uses.
const G: GroupId = GroupId(0);
/// The member that sends; every other member is in the audience.
const SENDER: UserId = UserId(0);
/// Virtual time of every request (the model has no clock; time only sets timestamps).
const NOW: u64 = 1_000_000;

fn config() -> ReceiptConfig {
    ReceiptConfig {
        enabled_types: vec![GroupType::Work, GroupType::Public, GroupType::Meeting],
        max_group_size: MAX_GROUP_SIZE,
    }
}

fn admin(m: &mut Model, req: AdminRequest) {
    let resp = m.admin(&req);
    assert_eq!(resp, Response::AdminDone, "{req:?}");
}

/// A model with users `0..members`, all in one Work group `G`.
fn group_model(members: u32) -> Model {
    let mut m = Model::new(config());
    for u in 0..members {
        admin(&mut m, AdminRequest::CreateUser { user: UserId(u) });
    }
    admin(
        &mut m,
        AdminRequest::CreateGroup {
            group: G,
            group_type: GroupType::Work,
            members: (0..members).map(UserId).collect(),
        },
    );
    m
}

fn send_req() -> Request {
    Request::SendMessage {
        conv: Conv::Group(G),
        need_read_receipt: true,
        body_len: 64,
    }
}

/// `SENDER` sends one receipt-needing message to `G`; returns its id.
fn send(m: &mut Model, out: &mut Vec<Delivery>) -> MsgId {
    match m.apply(NOW, SENDER, &send_req(), out) {
        Response::Sent { msg_id, .. } => msg_id,
        other => panic!("send failed: {other:?}"),
    }
}

fn receipt_req(ids: Vec<MsgId>) -> Request {
    Request::SendReadReceipts { msg_ids: ids }
}

/// `reader` sends receipts for `ids`, which must all be accepted.
fn read(m: &mut Model, reader: UserId, ids: &[MsgId], out: &mut Vec<Delivery>) {
    match m.apply(NOW, reader, &receipt_req(ids.to_vec()), out) {
        Response::ReceiptsSent { results } => {
            assert!(results.iter().all(|r| r.result.is_ok()), "{results:?}")
        }
        other => panic!("receipts failed: {other:?}"),
    }
}

/// A `members`-member group with one message from `SENDER`, no receipts yet, and one
/// single-message receipt request per audience member (ascending user id).
fn one_message(members: u32) -> (Model, Vec<(UserId, Request)>) {
    let mut m = group_model(members);
    let id = send(&mut m, &mut Vec::new());
    let reqs = (1..members)
        .map(|u| (UserId(u), receipt_req(vec![id])))
        .collect();
    (m, reqs)
}

/// Commits every receipt of `reqs` on a fresh clone of `base`, timing only the receipts.
fn bench_all_receipts(b: &mut criterion::Bencher<'_>, base: &Model, reqs: &[(UserId, Request)]) {
    b.iter_batched(
        || (base.clone(), Vec::with_capacity(4)),
        |(mut m, mut out)| {
            for (reader, req) in reqs {
                out.clear();
                black_box(m.apply(NOW, *reader, req, &mut out));
            }
            // Returned so the state is dropped outside the timer.
            (m, out)
        },
        BatchSize::LargeInput,
    );
}

/// (a) One receipt-needing send to a group, including the `new_message` push to every other
/// member. Sends only append, so the model is reset outside the timer every `CHUNK` sends.
fn send_message(c: &mut Criterion) {
    const CHUNK: u64 = 4_096;
    let mut group = c.benchmark_group("send_message");
    group.throughput(Throughput::Elements(1));
    for members in [20u32, 2_000] {
        let base = group_model(members);
        let req = send_req();
        group.bench_with_input(BenchmarkId::new("members", members), &members, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let mut m = base.clone();
                    let mut out = Vec::with_capacity(members as usize);
                    let start = Instant::now();
                    for _ in 0..n {
                        out.clear();
                        black_box(m.apply(NOW, SENDER, &req, &mut out));
                    }
                    total += start.elapsed();
                    left -= n;
                }
                total
            });
        });
    }
    group.finish();
}

/// (b) Every member of a 2,000-member group but the sender (1,999 distinct readers) sends a
/// receipt for one message, one request each; throughput is per receipt, including the
/// `receipts` push to the sender.
fn send_read_receipts(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_message_read_receipts");
    let (base, reqs) = one_message(2_000);
    group.throughput(Throughput::Elements(reqs.len() as u64));
    group.bench_function("distinct_readers_of_one_message/2000_members", |b| {
        bench_all_receipts(b, &base, &reqs)
    });
    group.finish();
}

/// (c) The sender pulls the receipt counts of 100 of its messages in one batch.
fn get_read_receipts(c: &mut Criterion) {
    let mut group = c.benchmark_group("get_message_read_receipts");
    let mut m = group_model(2_000);
    let mut out = Vec::new();
    let ids: Vec<MsgId> = (0..100).map(|_| send(&mut m, &mut out)).collect();
    // Some receipts on every message, so counts are not all zero.
    for u in 1..=50 {
        out.clear();
        read(&mut m, UserId(u), &ids, &mut out);
    }
    let req = Request::GetReadReceipts { msg_ids: ids };
    group.throughput(Throughput::Elements(100));
    group.bench_function("batch_100", |b| {
        b.iter(|| black_box(m.apply(NOW, SENDER, black_box(&req), &mut out)))
    });
    group.finish();
}

/// (d) The sender pages a whole member list (page 100) of a message of a 2,000-member group
/// that half the audience has read (every odd user id, so the unread walk must skip read
/// members throughout). Throughput is per listed member.
fn member_list_paging(c: &mut Criterion) {
    const PAGE: u32 = 100;
    let mut group = c.benchmark_group("member_list_paging");
    let mut m = group_model(2_000);
    let mut out = Vec::new();
    let id = send(&mut m, &mut out);
    for u in (1..2_000).step_by(2) {
        out.clear();
        read(&mut m, UserId(u), &[id], &mut out);
    }
    // Pages through the whole list; returns the number of members listed.
    let page_all = |m: &mut Model, filter: ReadFilter, out: &mut Vec<Delivery>| -> u64 {
        let (mut next_seq, mut listed) = (0, 0u64);
        loop {
            let req = Request::GetReadMemberList {
                msg_id: id,
                filter,
                next_seq,
                count: PAGE,
            };
            match m.apply(NOW, SENDER, &req, out) {
                Response::MemberList {
                    members,
                    next_seq: next,
                    is_finished,
                } => {
                    listed += members.len() as u64;
                    black_box(members);
                    if is_finished {
                        return listed;
                    }
                    next_seq = next;
                }
                other => panic!("member list failed: {other:?}"),
            }
        }
    };
    for (name, filter) in [("read", ReadFilter::Read), ("unread", ReadFilter::Unread)] {
        let listed = page_all(&mut m, filter, &mut out);
        assert_eq!(
            listed,
            if filter == ReadFilter::Read {
                1_000
            } else {
                999
            }
        );
        group.throughput(Throughput::Elements(listed));
        group.bench_function(BenchmarkId::new("half_read_2000_members", name), |b| {
            b.iter(|| page_all(&mut m, black_box(filter), &mut out))
        });
    }
    group.finish();
}

/// (e) Per-receipt cost against group size: the whole audience of one message sends its
/// receipts, one request each. A flat time per element across sizes means the cost of all
/// receipts of a message is linear, not quadratic, in the group size.
fn receipts_vs_group_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("receipts_vs_group_size");
    for members in [10u32, 100, 1_000, 5_000] {
        let (base, reqs) = one_message(members);
        group.throughput(Throughput::Elements(reqs.len() as u64));
        group.bench_with_input(BenchmarkId::new("members", members), &members, |b, _| {
            bench_all_receipts(b, &base, &reqs)
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    send_message,
    send_read_receipts,
    get_read_receipts,
    member_list_paging,
    receipts_vs_group_size
);
criterion_main!(benches);
