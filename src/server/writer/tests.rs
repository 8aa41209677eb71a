//! The group-commit loop with real queues: release order, rollback, shutdown.

use super::*;
use crate::server::registry::{Kick, KickReason};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

fn writer(max_batch: usize) -> (Writer, Arc<AtomicUsize>) {
    let online = Arc::new(AtomicUsize::new(0));
    let w = Writer::new(
        Store::in_memory().unwrap(),
        max_batch,
        Arc::clone(&online),
        Planted::default(),
    )
    .unwrap();
    (w, online)
}

/// Users u1..=u3 and group g1 of all three, applied as one admin batch.
fn setup(w: &mut Writer) {
    let mut ops: Vec<admin::BatchOp> = (1..=3)
        .map(|u| admin::BatchOp::CreateUser {
            user_id: format!("u{u}"),
        })
        .collect();
    ops.push(admin::BatchOp::CreateGroup {
        group_id: "g1".into(),
        group_type: crate::protocol::GroupType::Work,
        members: vec!["u1".into(), "u2".into(), "u3".into()],
    });
    let (reply, mut rx) = oneshot::channel();
    w.batch(&mut vec![Job::AdminBatch { ops, reply }]);
    assert!(rx.try_recv().unwrap().iter().all(|r| r.error.is_none()));
}

/// A registered connection of `u<user>` and what it receives.
fn connect(user: i64) -> (Job, mpsc::Receiver<Utf8Bytes>) {
    let (tx, rx) = mpsc::channel(64);
    let h = ConnHandle {
        id: user as u64 * 10,
        user,
        tx,
        kicked: Arc::new(Kick::default()),
    };
    (Job::Register(h), rx)
}

fn client(user: i64, req_id: u64, op: Value) -> Job {
    Job::Client {
        user,
        conn: user as u64 * 10,
        req_id,
        op: serde_json::from_value(op).unwrap(),
        at: std::time::Instant::now(),
    }
}

/// Each frame received, reduced to what identifies it: `push:<kind>` or `resp:<id>:<ok|code>`.
fn frames(rx: &mut mpsc::Receiver<Utf8Bytes>) -> Vec<String> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|f| {
            let v: Value = serde_json::from_str(f.as_str()).unwrap();
            match v.get("push") {
                Some(p) => format!("push:{}", p.as_str().unwrap()),
                None if v.get("ok").is_some() => format!("resp:{}:ok", v["id"]),
                None => format!("resp:{}:{}", v["id"], v["error"]["code"]),
            }
        })
        .collect()
}

fn send_group(need: bool) -> Value {
    json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": need})
}

#[test]
fn a_batch_releases_frames_in_the_order_it_applied_them() {
    let (mut w, online) = writer(16);
    setup(&mut w);
    let (r1, mut c1) = connect(1);
    let (r2, mut c2) = connect(2);
    w.batch(&mut vec![r1, r2]);
    assert_eq!(online.load(Ordering::Relaxed), 2);
    // One batch: u1 sends m1, u2 acknowledges it (ids are predictable).
    w.batch(&mut vec![
        client(1, 7, send_group(true)),
        client(
            2,
            8,
            json!({"op": "send_message_read_receipts", "msg_ids": ["m1"]}),
        ),
    ]);
    assert_eq!(
        frames(&mut c1),
        ["push:hello", "resp:7:ok", "push:receipts"]
    );
    assert_eq!(
        frames(&mut c2),
        ["push:hello", "push:new_message", "resp:8:ok"]
    );
}

#[test]
fn a_failed_batch_rolls_back_answers_internal_and_pushes_nothing() {
    let (mut w, _) = writer(16);
    setup(&mut w);
    let (r1, mut c1) = connect(1);
    let (r2, mut c2) = connect(2);
    w.batch(&mut vec![r1, r2]);
    frames(&mut c1);
    frames(&mut c2);
    w.sem
        .store()
        .execute_for_test(
            "CREATE TRIGGER no_messages BEFORE INSERT ON messages \
             BEGIN SELECT RAISE(ABORT, 'planted failure'); END",
        )
        .unwrap();
    let (reply, mut created) = oneshot::channel();
    let create = admin::BatchOp::CreateUser {
        user_id: "u9".into(),
    };
    w.batch(&mut vec![
        Job::AdminBatch {
            ops: vec![create],
            reply,
        },
        // Applied (and would push c2c_read to u1), then undone by the failure.
        client(
            2,
            1,
            json!({"op": "mark_c2c_message_as_read", "peer": "u1"}),
        ),
        client(1, 2, send_group(false)),
        // After the failure: not applied at all.
        client(
            2,
            3,
            json!({"op": "get_history", "conv": {"c2c": "u1"}, "count": 1}),
        ),
    ]);
    let internal = ErrorCode::Internal.code();
    // No c2c_read push. Nor an answer to request 2: the job that hit the SQL failure is
    // dropped unanswered (as before the issue-9 reshape; flagged to be fixed separately).
    assert_eq!(frames(&mut c1), Vec::<String>::new());
    assert_eq!(
        frames(&mut c2),
        [format!("resp:1:{internal}"), format!("resp:3:{internal}")]
    );
    let results = created.try_recv().unwrap();
    assert_eq!(results[0].error.as_ref().unwrap().code, internal);
    // The user created earlier in the batch was rolled back, caches included.
    let (reply, mut found) = oneshot::channel();
    w.batch(&mut vec![Job::Resolve {
        name: "u9".into(),
        reply,
    }]);
    assert_eq!(found.try_recv().unwrap(), None);
}

#[test]
fn shutdown_answers_what_was_queued_behind_it_and_disconnects_everyone() {
    // One job per batch, so the second resolve is still queued when Shutdown is applied.
    let (mut w, online) = writer(1);
    setup(&mut w);
    let (tx, rx) = mpsc::channel(16);
    let (reg, mut conn) = connect(1);
    let (a, mut ra) = oneshot::channel();
    let (b, mut rb) = oneshot::channel();
    tx.try_send(reg).ok().unwrap();
    let resolve = |name: &str, reply| Job::Resolve {
        name: name.into(),
        reply,
    };
    tx.try_send(resolve("u1", a)).ok().unwrap();
    tx.try_send(Job::Shutdown).ok().unwrap();
    tx.try_send(resolve("u2", b)).ok().unwrap();
    std::thread::spawn(move || w.run(rx)).join().unwrap();
    assert_eq!(ra.try_recv().unwrap(), Some((1, 0)));
    assert_eq!(rb.try_recv().unwrap(), Some((2, 0)));
    assert_eq!(online.load(Ordering::Relaxed), 0);
    // The registry dropped the handle: the connection's queue is closed after the hello.
    assert_eq!(frames(&mut conn), ["push:hello"]);
    assert!(conn.is_closed());
    drop(tx);
}

#[test]
fn admin_jobs_answer_through_their_reply() {
    let (mut w, _) = writer(16);
    setup(&mut w);
    let (r1, mut exists) = oneshot::channel();
    let (r2, mut missing) = oneshot::channel();
    let (r3, mut dup) = oneshot::channel();
    let (r4, mut config) = oneshot::channel();
    w.batch(&mut vec![
        Job::Admin {
            op: AdminOp::TokenGeneration("u1".into()),
            reply: r1,
        },
        Job::Admin {
            op: AdminOp::TokenGeneration("u7".into()),
            reply: r2,
        },
        Job::Admin {
            op: AdminOp::Batch(admin::BatchOp::CreateUser {
                user_id: "u1".into(),
            }),
            reply: r3,
        },
        Job::Admin {
            op: AdminOp::GetConfig,
            reply: r4,
        },
    ]);
    assert_eq!(exists.try_recv().unwrap(), Ok(json!(0)));
    assert_eq!(missing.try_recv().unwrap(), Err(ErrorCode::UserNotFound));
    assert_eq!(dup.try_recv().unwrap(), Err(ErrorCode::UserExists));
    assert_eq!(
        config.try_recv().unwrap().unwrap()["max_group_size"],
        json!(200)
    );
}

#[test]
fn revoking_tokens_bumps_the_generation_kicks_the_connections_and_survives_reload() {
    let (mut w, _) = writer(16);
    setup(&mut w);
    let (tx, _rx) = mpsc::channel(4);
    let kick = Arc::new(Kick::default());
    let h = ConnHandle {
        id: 10,
        user: 1,
        tx,
        kicked: Arc::clone(&kick),
    };
    let (r1, mut revoked) = oneshot::channel();
    let (r2, mut unknown) = oneshot::channel();
    let (r3, mut generation) = oneshot::channel();
    w.batch(&mut vec![
        Job::Register(h),
        Job::Admin {
            op: AdminOp::RevokeTokens("u1".into()),
            reply: r1,
        },
        Job::Admin {
            op: AdminOp::RevokeTokens("u7".into()),
            reply: r2,
        },
        Job::Admin {
            op: AdminOp::TokenGeneration("u1".into()),
            reply: r3,
        },
    ]);
    assert_eq!(revoked.try_recv().unwrap(), Ok(json!({})));
    assert_eq!(unknown.try_recv().unwrap(), Err(ErrorCode::UserNotFound));
    assert_eq!(generation.try_recv().unwrap(), Ok(json!(1)));
    assert_eq!(kick.reason(), Some(KickReason::Revoked));
    // The generation is stored, not only cached.
    w.sem.load().unwrap();
    assert_eq!(w.sem.resolve("u1"), Some((1, 1)));
    assert_eq!(w.sem.resolve("u2"), Some((2, 0)));
}

/// F1 broken on purpose: the batch is answered while its transaction stays open, so a
/// process killed now (another connection sees the file as a restart would) loses it.
#[cfg(feature = "planted-bugs")]
#[test]
fn the_planted_ack_before_commit_answers_what_a_crash_would_lose() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("readsim.db");
    let bugs = Planted::with(crate::server::ServerBug::AckBeforeCommit);
    let store = Store::open(&path).unwrap();
    let mut w = Writer::new(store, 16, Arc::new(AtomicUsize::new(0)), bugs).unwrap();
    let disk = rusqlite::Connection::open(&path).unwrap();
    let users = |c: &rusqlite::Connection| -> i64 {
        c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
            .unwrap()
    };
    setup(&mut w);
    assert_eq!(users(&disk), 0, "answered, not committed");
    // A graceful stop still commits.
    let (tx, rx) = mpsc::channel(1);
    tx.try_send(Job::Shutdown).ok().unwrap();
    std::thread::spawn(move || w.run(rx)).join().unwrap();
    assert_eq!(users(&disk), 3);
}
