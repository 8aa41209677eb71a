//! A client's connection: operations as the homeserver sees them and as the scheduler gets
//! them answered, pushes derived from `/sync`, and the connection's end.

use super::super::fake::{Req, membership};
use super::*;

fn receipts_op(ids: &[&str]) -> WireRequest {
    WireRequest::SendMessageReadReceipts {
        msg_ids: ids.iter().map(|s| s.to_string()).collect(),
    }
}

fn history_op(g: u32, before_seq: u64, count: u32) -> WireRequest {
    WireRequest::GetHistory {
        conv: group(g),
        before_seq,
        count,
    }
}

fn list_op(msg: &str, filter: WireFilter) -> WireRequest {
    WireRequest::GetGroupMessageReadMemberList {
        msg_id: msg.into(),
        filter,
        next_seq: 0,
        count: 10,
    }
}

fn group_entry(msg: &str, g: u32, read: u32, unread: u32) -> WireEntry {
    WireEntry {
        msg_id: msg.into(),
        group_id: Some(format!("g{g}")),
        read_count: Some(read),
        unread_count: Some(unread),
        ..WireEntry::default()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// Operations

#[tokio::test]
async fn a_send_is_a_put_with_a_txn_id_numbered_per_room_in_answer_order() {
    let (fake, b) = provisioned(3).await;
    let mut c = connect(&b, 1).await;
    let t0 = now_ms();
    let mut sent = Vec::new();
    for need in [true, false, true] {
        sent.push(c.sent(group(1), need).await);
    }
    let other_room = c.sent(group(2), true).await;
    let puts = fake.reqs_to("PUT", "/send/m.room.message/");
    assert_eq!(puts.len(), 4);
    let room = room_of(&b, 1);
    for (i, (put, s)) in puts.iter().zip(&sent).enumerate() {
        assert!(put.path.starts_with(&format!(
            "/_matrix/client/v3/rooms/{room}/send/m.room.message/"
        )));
        assert_eq!(put.token.as_deref(), Some("tok-u1"));
        assert_eq!(put.body["msgtype"], "m.text");
        assert_eq!(put.body["body"], "hello");
        assert_eq!(put.body["readsim.need_read_receipt"], json!(i != 1));
        // The answer's event id is the message id; seqs count the room's answers from 1.
        assert_eq!(s.seq, i as u64 + 1);
        assert!(s.msg_id.starts_with('$'), "{s:?}");
        assert!(s.timestamp_ms >= t0 && s.timestamp_ms <= now_ms(), "{s:?}");
    }
    // Each send has its own transaction id (the same one would be the same event).
    let mut txns: Vec<&str> = puts
        .iter()
        .map(|p| p.path.rsplit('/').next().unwrap())
        .collect();
    txns.sort();
    txns.dedup();
    assert_eq!(txns.len(), 4);
    assert_eq!(other_room.seq, 1, "another room counts on its own");
}

#[tokio::test]
async fn concurrent_sends_in_one_room_are_serialised_and_numbered_in_answer_order() {
    let (fake, b) = provisioned(3).await;
    let mut c = connect(&b, 1).await;
    // The first send to reach the homeserver is answered late: without the room's send lock
    // the second would be in flight meanwhile and could be answered first.
    fake.on("PUT", "/send/", Reply::later(400, Reply::Default));
    c.send(send_op(group(1), true));
    c.send(send_op(group(1), true));
    let first = c.response().await;
    let second = c.response().await;
    let seq = |r: &ResponseFrame| r.ok.as_ref().unwrap()["seq"].as_u64().unwrap();
    assert_eq!((seq(&first), seq(&second)), (1, 2));
    assert_eq!(fake.max_sends_in_flight(), 1);
    assert_eq!(fake.reqs_to("PUT", "/send/").len(), 2);
}

#[tokio::test]
async fn receipts_are_one_post_per_id_in_batch_order_and_a_refusal_stays_in_its_slot() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let m1 = u1.sent(group(1), true).await.msg_id;
    let m2 = u1.sent(group(2), true).await.msg_id;
    let m3 = u1.sent(group(1), false).await.msg_id;
    let mut u2 = connect(&b, 2).await;
    fake.on("POST", &format!("/receipt/m.read/{m2}"), Reply::forbidden());
    let r: ok::ReceiptsSent = u2.ok(receipts_op(&[&m3, "$never-sent", &m2, &m1])).await;
    let errors: Vec<Option<&str>> = r
        .results
        .iter()
        .map(|x| x.error.as_ref().map(|e| e.name.as_str()))
        .collect();
    assert_eq!(errors, [None, None, Some("NOT_IN_AUDIENCE"), None]);
    let ids: Vec<&str> = r.results.iter().map(|x| x.msg_id.as_str()).collect();
    assert_eq!(ids, [m3.as_str(), "$never-sent", &m2, &m1]);
    // An id the run never sent costs no call (Synapse would answer 200 and change nothing).
    let posts = fake.reqs_to("POST", "/receipt/m.read/");
    let (g1, g2) = (room_of(&b, 1), room_of(&b, 2));
    let want: Vec<String> = [(&g1, &m3), (&g2, &m2), (&g1, &m1)]
        .iter()
        .map(|(r, m)| format!("/_matrix/client/v3/rooms/{r}/receipt/m.read/{m}"))
        .collect();
    let got: Vec<&str> = posts.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(got, want);
    assert!(posts.iter().all(|p| p.token.as_deref() == Some("tok-u2")));
}

#[tokio::test]
async fn receipt_and_count_batches_out_of_range_are_batch_size_without_a_call() {
    let (fake, b) = provisioned(3).await;
    let mut c = connect(&b, 2).await;
    let many: Vec<String> = (0..101).map(|i| format!("$m{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(c.error(receipts_op(&[])).await, "BATCH_SIZE");
    assert_eq!(c.error(receipts_op(&many)).await, "BATCH_SIZE");
    let counts = |ids: &[&str]| WireRequest::GetMessageReadReceipts {
        msg_ids: ids.iter().map(|s| s.to_string()).collect(),
    };
    assert_eq!(c.error(counts(&[])).await, "BATCH_SIZE");
    assert_eq!(c.error(counts(&many)).await, "BATCH_SIZE");
    assert!(fake.reqs_to("POST", "/receipt/").is_empty());
}

#[tokio::test]
async fn mark_read_sets_both_markers_on_the_latest_message_of_the_chat() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let c2c = || WireConv::C2c("u2".into());
    // The first send to a peer makes the 1:1 room: direct, made by the sender, the peer
    // invited and joined with its own token.
    let first = u1.sent(c2c(), true).await;
    let latest = u1.sent(c2c(), true).await;
    assert_eq!((first.seq, latest.seq), (1, 2));
    let creates = fake.reqs_to("POST", "/createRoom");
    let create = creates.last().unwrap();
    assert_eq!(create.token.as_deref(), Some("tok-u1"));
    assert_eq!(create.body["is_direct"], json!(true));
    assert_eq!(create.body["invite"], json!([mx(2)]));
    let room = b.shared.room(ConvKey::Pair(UserId(1), UserId(2))).unwrap();
    let joins = fake.reqs_to("POST", &format!("/join/{room}"));
    assert_eq!(joins.len(), 1);
    assert_eq!(joins[0].token.as_deref(), Some("tok-u2"));

    let mut u2 = connect(&b, 2).await;
    let mark = |peer: &str| WireRequest::MarkC2cMessageAsRead { peer: peer.into() };
    let done: ok::MarkedRead = u2.ok(mark("u1")).await;
    assert!(done.timestamp_ms > 0);
    let marks = fake.reqs_to("POST", "/read_markers");
    assert_eq!(marks.len(), 1);
    assert_eq!(
        marks[0].path,
        format!("/_matrix/client/v3/rooms/{room}/read_markers")
    );
    assert_eq!(marks[0].token.as_deref(), Some("tok-u2"));
    assert_eq!(
        marks[0].body,
        json!({"m.fully_read": latest.msg_id, "m.read": latest.msg_id})
    );
    // A chat with no room yet has nothing to mark: done, without a call.
    let _: ok::MarkedRead = u2.ok(mark("u3")).await;
    assert_eq!(fake.reqs_to("POST", "/read_markers").len(), 1);
    assert_eq!(u2.error(mark("u2")).await, "SELF_CONVERSATION");
    assert_eq!(u2.error(mark("u9")).await, "USER_NOT_FOUND");
    fake.on("POST", "/read_markers", Reply::forbidden());
    assert_eq!(u2.error(mark("u1")).await, "NOT_CONVERSATION_PARTY");
}

#[tokio::test]
async fn history_maps_messages_to_seqs_and_respects_before_seq_and_count() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        sent.push(u1.sent(group(1), true).await);
    }
    let (e1, e2, e3) = (&sent[0].msg_id, &sent[1].msg_id, &sent[2].msg_id);
    let msg = |e: &str| message(e, &mx(1), 5, true);
    // Page one (newest first) holds a membership change and a message the run never sent
    // (no seq: left out); page two the oldest message.
    let page1 = json!({"chunk": [msg(e3), membership(&mx(2), "join"), msg("$foreign"), msg(e2)],
        "start": "t0", "end": "p2"});
    let page2 = json!({"chunk": [msg(e1)], "start": "p2"});
    fake.on("GET", "/messages", Reply::Json(200, page1));
    fake.on("GET", "/messages", Reply::Json(200, page2));
    let h: ok::History = u1.ok(history_op(1, 3, 2)).await;
    let got: Vec<(&str, u64)> = h
        .messages
        .iter()
        .map(|m| (m.msg_id.as_str(), m.seq))
        .collect();
    assert_eq!(got, [(e2.as_str(), 2), (e1.as_str(), 1)]);
    for (m, s) in h.messages.iter().zip([&sent[1], &sent[0]]) {
        // The send's timestamp, not the server's origin_server_ts: pushes and history agree.
        assert_eq!(m.timestamp_ms, s.timestamp_ms);
        assert!(
            m.is_self && m.need_read_receipt && m.sender == "u1",
            "{m:?}"
        );
    }
    let gets = fake.reqs_to("GET", "/messages");
    assert_eq!(gets.len(), 2);
    assert!(gets.iter().all(|g| g.query("dir") == Some("b")));
    assert_eq!(gets[0].query("from"), None);
    assert_eq!(gets[1].query("from"), Some("p2"));

    // From the newest: one page holds enough.
    let page = json!({"chunk": [msg(e3), msg(e2), msg(e1)], "start": "t0", "end": "p2"});
    fake.on("GET", "/messages", Reply::Json(200, page));
    let h: ok::History = u1.ok(history_op(1, 0, 2)).await;
    let seqs: Vec<u64> = h.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [3, 2]);
    assert_eq!(fake.reqs_to("GET", "/messages").len(), 3);

    assert_eq!(u1.error(history_op(1, 0, 0)).await, "COUNT_OUT_OF_RANGE");
    assert_eq!(u1.error(history_op(1, 0, 101)).await, "COUNT_OUT_OF_RANGE");
    assert_eq!(u1.error(history_op(9, 0, 5)).await, "GROUP_NOT_FOUND");
    fake.on("GET", "/messages", Reply::forbidden());
    assert_eq!(
        u1.error(history_op(1, 0, 5)).await,
        "NOT_CONVERSATION_PARTY"
    );
}

// ---------------------------------------------------------------------------------------------
// Pushes, counts and lists from /sync

#[tokio::test]
async fn synced_receipts_push_counts_to_the_sender_and_answer_its_pulls_cumulatively() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let m1 = u1.sent(group(1), true).await.msg_id;
    let m2 = u1.sent(group(1), true).await.msg_id;
    let room = room_of(&b, 1);
    // u2 reads m2: MX3 makes that a read of m1 too. The batch also echoes u1's own sends,
    // which must change nothing.
    let tl = vec![message(&m1, &mx(1), 1, true), message(&m2, &mx(1), 2, true)];
    let batch = sync_body("b1", &room, tl, vec![receipt(&m2, &mx(2))]);
    fake.sync("tok-u1", Reply::Json(200, batch.clone()));
    let want = vec![group_entry(&m1, 1, 1, 1), group_entry(&m2, 1, 1, 1)];
    assert_eq!(
        u1.push().await,
        PushFrame::Receipts {
            entries: want.clone()
        }
    );
    let counts = WireRequest::GetMessageReadReceipts {
        msg_ids: vec![m1.clone(), m2.clone()],
    };
    let r: ok::ReadReceipts = u1.ok(counts.clone()).await;
    assert_eq!(r.entries, want);
    let read: ok::MemberList = u1.ok(list_op(&m1, WireFilter::Read)).await;
    assert_eq!(
        (read.members, read.is_finished),
        (vec!["u2".to_string()], true)
    );
    let unread: ok::MemberList = u1.ok(list_op(&m1, WireFilter::Unread)).await;
    assert_eq!(unread.members, ["u3"]);

    // The same batch again (a retried long poll) derives nothing.
    fake.sync("tok-u1", Reply::Json(200, batch));
    u1.quiet().await;
    // u3 reads m1 only: one entry, m2 still unread by u3.
    let batch = sync_body("b2", &room, vec![], vec![receipt(&m1, &mx(3))]);
    fake.sync("tok-u1", Reply::Json(200, batch));
    assert_eq!(
        u1.push().await,
        PushFrame::Receipts {
            entries: vec![group_entry(&m1, 1, 2, 0)]
        }
    );
    let r: ok::ReadReceipts = u1.ok(counts).await;
    assert_eq!(
        r.entries,
        [group_entry(&m1, 1, 2, 0), group_entry(&m2, 1, 1, 1)]
    );
    // The long polls pass each batch's next_batch on.
    let sinces: Vec<Option<String>> = fake
        .reqs_to("GET", "/sync")
        .iter()
        .map(|r| r.query("since").map(str::to_string))
        .collect();
    assert_eq!(
        sinces[..4],
        [
            None,
            Some("b0".into()),
            Some("b1".into()),
            Some("b1".into())
        ]
    );
}

#[tokio::test]
async fn a_synced_message_from_another_user_is_a_new_message_push_once() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let mut u2 = connect(&b, 2).await;
    let s = u2.sent(group(1), true).await;
    let room = room_of(&b, 1);
    // The server's origin_server_ts (7) is not what the push shows: the send's answer is.
    let batch = sync_body(
        "b1",
        &room,
        vec![message(&s.msg_id, &mx(2), 7, true)],
        vec![],
    );
    fake.sync("tok-u1", Reply::Json(200, batch.clone()));
    let want = PushFrame::NewMessage {
        msg_id: s.msg_id.clone(),
        conv: group(1),
        sender: "u2".into(),
        seq: 1,
        timestamp_ms: s.timestamp_ms,
        need_read_receipt: true,
    };
    assert_eq!(u1.push().await, want);
    fake.sync("tok-u1", Reply::Json(200, batch));
    u1.quiet().await;
    u2.quiet().await;
}

#[tokio::test]
async fn a_message_synced_before_its_send_is_answered_is_pushed_once_it_has_a_seq() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let mut u2 = connect(&b, 2).await;
    let room = room_of(&b, 1);
    let early = Reply::Json(200, json!({"event_id": "$early"}));
    fake.on("PUT", "/send/", Reply::later(500, early));
    u2.send(send_op(group(1), false));
    let batch = sync_body(
        "b1",
        &room,
        vec![message("$early", &mx(2), 7, false)],
        vec![],
    );
    fake.sync("tok-u1", Reply::Json(200, batch));
    let sent = u2.response().await;
    let sent: ok::Sent = serde_json::from_value(sent.ok.unwrap()).unwrap();
    match u1.push().await {
        PushFrame::NewMessage {
            msg_id,
            seq,
            timestamp_ms,
            ..
        } => assert_eq!(
            (msg_id.as_str(), seq, timestamp_ms),
            ("$early", 1, sent.timestamp_ms)
        ),
        p => panic!("{p:?}"),
    }
    u1.quiet().await;
}

#[tokio::test]
async fn the_initial_sync_after_connect_pushes_nothing() {
    let (fake, b) = provisioned(3).await;
    let mut u2 = connect(&b, 2).await;
    let s = u2.sent(group(1), true).await;
    let room = room_of(&b, 1);
    // What happened while u1 was away: a message for it, and its own receipt.
    let tl = vec![message(&s.msg_id, &mx(2), 7, true)];
    let batch = sync_body("b7", &room, tl, vec![receipt(&s.msg_id, &mx(3))]);
    fake.sync("tok-u1", Reply::Json(200, batch));
    let mut u1 = connect(&b, 1).await;
    u1.quiet().await;
    u2.quiet().await;
    let syncs = fake.reqs_to("GET", "/sync");
    let u1s: Vec<&Req> = syncs
        .iter()
        .filter(|r| r.token.as_deref() == Some("tok-u1"))
        .collect();
    assert_eq!(u1s[0].query("timeout"), Some("0"));
    assert_eq!(u1s[0].query("since"), None);
    assert_eq!(u1s[1].query("since"), Some("b7"));
}

// ---------------------------------------------------------------------------------------------
// Hostile answers and the connection's end

#[tokio::test]
async fn bad_send_answers_are_internal_and_never_number_a_message() {
    let (fake, b) = provisioned(3).await;
    let mut c = connect(&b, 1).await;
    let bad = [
        Reply::Json(200, json!({})),
        Reply::Json(200, json!({"event_id": 5})),
        Reply::Raw(200, "<html>surprise</html>"),
        Reply::rate_limited(50),
        Reply::internal(),
    ];
    for r in bad {
        fake.on("PUT", "/send/", r.clone());
        assert_eq!(c.error(send_op(group(1), true)).await, "INTERNAL", "{r:?}");
    }
    fake.on("PUT", "/send/", Reply::forbidden());
    assert_eq!(c.error(send_op(group(1), true)).await, "NOT_GROUP_MEMBER");
    assert_eq!(c.error(send_op(group(9), true)).await, "GROUP_NOT_FOUND");
    // No answer at all leaves the operation unanswered (like a lost frame); the next one is
    // answered and is the room's first message.
    fake.on("PUT", "/send/", Reply::Reset);
    let lost = c.send(send_op(group(1), true));
    let s = c.call(send_op(group(1), true)).await;
    assert_ne!(s.id, Some(lost));
    assert_eq!(s.ok.unwrap()["seq"], 1);
}

#[tokio::test]
async fn a_failed_sync_closes_the_connection_once() {
    let failures = [
        Reply::internal(),
        Reply::Raw(200, "not json"),
        Reply::Json(200, json!({"rooms": {"join": []}})),
        Reply::Reset,
    ];
    for failure in failures {
        let (fake, b) = provisioned(3).await;
        let mut c = connect(&b, 1).await;
        fake.sync("tok-u1", failure.clone());
        let reason = c.closed().await;
        assert!(reason.contains("/sync"), "{failure:?}: {reason}");
        c.quiet().await;
        let polls = fake.reqs_to("GET", "/sync").len();
        assert_eq!(polls, 2, "{failure:?}: the loop stopped after its failure");
        // The operations still get answers until the scheduler drops the connection.
        assert_eq!(c.sent(group(1), true).await.seq, 1);
    }
}

#[tokio::test]
async fn a_rate_limited_sync_waits_and_polls_on() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let m = u1.sent(group(1), true).await.msg_id;
    let room = room_of(&b, 1);
    fake.sync("tok-u1", Reply::rate_limited(100));
    let batch = sync_body("b1", &room, vec![], vec![receipt(&m, &mx(2))]);
    fake.sync("tok-u1", Reply::Json(200, batch));
    assert_eq!(
        u1.push().await,
        PushFrame::Receipts {
            entries: vec![group_entry(&m, 1, 1, 1)]
        }
    );
}

#[tokio::test]
async fn dropping_the_sender_ends_the_connections_tasks() {
    let (fake, b) = provisioned(3).await;
    let Client { conn, mut rx, .. } = connect(&b, 1).await;
    let Conn { tx, tasks } = conn;
    drop(tx);
    for t in tasks {
        let end = tokio::time::timeout(WAIT, t).await;
        // Ended or cancelled by the connection's own teardown, never a panic.
        assert!(
            !end.expect("a task outlives its connection")
                .is_err_and(|e| e.is_panic())
        );
    }
    // Every holder of the inbound sender (the sync loop, the pushes' link) let it go, and
    // no Closed was reported: the scheduler ended this connection itself.
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(None) => {}
        other => panic!("expected the inbound channel to close, got {other:?}"),
    }
    let _ = fake;
}

#[tokio::test]
async fn aborting_the_connections_tasks_ends_it_too() {
    let (fake, b) = provisioned(3).await;
    let mut c = connect(&b, 1).await;
    // The run's end aborts the tasks it was given while the scheduler may still hold the
    // sender: nothing of the connection may outlive that (no long poll, no push link).
    for t in &c.conn.tasks {
        t.abort();
    }
    match tokio::time::timeout(WAIT, c.rx.recv()).await {
        Ok(None) => {}
        other => panic!("expected the inbound channel to close, got {other:?}"),
    }
    let polls = fake.reqs_to("GET", "/sync").len();
    tokio::time::sleep(QUIET).await;
    assert_eq!(fake.reqs_to("GET", "/sync").len(), polls);
}

#[tokio::test]
async fn a_one_to_one_chat_pushes_the_message_to_the_peer_and_its_read_to_the_sender() {
    let (fake, b) = provisioned(3).await;
    let mut u1 = connect(&b, 1).await;
    let mut u2 = connect(&b, 2).await;
    let s = u1.sent(WireConv::C2c("u2".into()), true).await;
    let room = b.shared.room(ConvKey::Pair(UserId(1), UserId(2))).unwrap();
    let batch = sync_body(
        "b1",
        &room,
        vec![message(&s.msg_id, &mx(1), 7, true)],
        vec![],
    );
    fake.sync("tok-u2", Reply::Json(200, batch));
    match u2.push().await {
        // The peer sees the chat named by the other party.
        PushFrame::NewMessage { conv, seq, .. } => {
            assert_eq!((conv, seq), (WireConv::C2c("u1".into()), 1))
        }
        p => panic!("{p:?}"),
    }
    let batch = sync_body("b1", &room, vec![], vec![receipt(&s.msg_id, &mx(2))]);
    fake.sync("tok-u1", Reply::Json(200, batch));
    let read = WireEntry {
        msg_id: s.msg_id.clone(),
        user_id: Some("u2".into()),
        is_peer_read: Some(true),
        ..WireEntry::default()
    };
    assert_eq!(
        u1.push().await,
        PushFrame::Receipts {
            entries: vec![read]
        }
    );
    let list = list_op(&s.msg_id, WireFilter::Read);
    assert_eq!(u1.error(list).await, "NOT_GROUP_MESSAGE");
}

#[tokio::test]
async fn a_reconnect_is_announced_and_takes_the_pushes_from_the_old_connection() {
    let (fake, b) = provisioned(3).await;
    let old = connect(&b, 1).await;
    let m = {
        let mut old = old;
        let m = old.sent(group(1), true).await.msg_id;
        // The old connection ends (its sender dropped) after the new one is up, as the
        // scheduler does it: its teardown must not unlink the new connection.
        let (tx, mut rx) = unbounded_channel();
        let spec = ConnSpec {
            client: UserId(1),
            device: crate::history::Device::FIRST,
            conn: 1,
            inbound: tx,
            announce: true,
            route: None,
        };
        let cred = b.credential(UserId(1), WAIT).await.unwrap();
        let new = b.connect(&cred, spec).await.unwrap();
        match rx.recv().await {
            Some(Inbound::Connected { conn: 1, .. }) => {}
            other => panic!("expected Connected first, got {other:?}"),
        }
        drop(old.conn.tx);
        for t in old.conn.tasks {
            let _ = t.await;
        }
        (m, new, rx)
    };
    let (m, _new, mut rx) = m;
    let room = room_of(&b, 1);
    let batch = sync_body("b1", &room, vec![], vec![receipt(&m, &mx(2))]);
    fake.sync("tok-u1", Reply::Json(200, batch));
    match tokio::time::timeout(WAIT, rx.recv()).await {
        Ok(Some(Inbound::Frame {
            conn: 1,
            frame: Incoming::Push(PushFrame::Receipts { entries }),
            ..
        })) => assert_eq!(entries, [group_entry(&m, 1, 1, 1)]),
        other => panic!("expected a receipts push on the new connection, got {other:?}"),
    }
}
