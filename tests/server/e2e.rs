//! End to end over real sockets: sends, receipts, pushes with the right counts, member
//! lists, 1:1 read state, admin membership changes and the slow-consumer cut-off.

use crate::server_common;

use reqwest::Method;
use serde_json::{Value, json};
use server_common::{TestServer, code};
use std::collections::HashMap;

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn group_receipt_reaches_the_sender_with_correct_counts() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2", "u3"]).await;
    s.group("g1", &["u1", "u2", "u3"]).await;
    let mut a = s.client("u1").await;
    let mut b = s.client("u2").await;
    let sent = a
        .ok(json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": true, "body": "hello"}))
        .await;
    assert_eq!(sent["seq"], 1);
    let m = sent["msg_id"].as_str().unwrap().to_string();
    let nm = b.push_of("new_message").await;
    assert_eq!(nm["msg_id"], m.as_str());
    assert_eq!(nm["conv"], json!({"group": "g1"}));
    assert_eq!(nm["sender"], "u1");
    assert_eq!(nm["need_read_receipt"], true);

    let r = b
        .ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert_eq!(r, json!({"results": [{"msg_id": m}]}));
    let p = a.push_of("receipts").await;
    assert_eq!(
        p["entries"],
        json!([{"msg_id": m, "group_id": "g1", "read_count": 1, "unread_count": 1}])
    );
    // A repeat succeeds and pushes nothing; the sender's pull agrees.
    b.ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
        .await;
    let pull = a
        .ok(json!({"op": "get_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert_eq!(pull["entries"][0]["read_count"], 1);
    assert!(a.pushes.is_empty(), "{:?}", a.pushes);
    // Member lists.
    let read = a
        .ok(json!({"op": "get_group_message_read_member_list", "msg_id": m, "filter": "read", "next_seq": 0, "count": 10}))
        .await;
    assert_eq!(
        read,
        json!({"members": ["u2"], "next_seq": 1, "is_finished": true})
    );
    let unread = a
        .ok(json!({"op": "get_group_message_read_member_list", "msg_id": m, "filter": "unread", "next_seq": 0, "count": 10}))
        .await;
    assert_eq!(
        unread,
        json!({"members": ["u3"], "next_seq": 4, "is_finished": true})
    );
    // Per-message errors in order: unknown, not in audience (the sender), not the sender.
    let r = a
        .ok(json!({"op": "send_message_read_receipts", "msg_ids": ["m999", m]}))
        .await;
    assert_eq!(r["results"][0]["error"]["code"], 2003);
    assert_eq!(r["results"][1]["error"]["code"], 2007);
    let r = b
        .ok(json!({"op": "get_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert_eq!(r["entries"][0]["error"]["code"], 2010);

    // Audience snapshot: u4 joins later and cannot read; u3 leaves and gets READER_LEFT_GROUP.
    s.users(&["u4"]).await;
    s.admin_ok(
        Method::POST,
        "/v1/admin/groups/g1/members",
        Some(json!({"user_id": "u4"})),
    )
    .await;
    s.admin_ok(Method::DELETE, "/v1/admin/groups/g1/members/u3", None)
        .await;
    let (st, v) = s
        .admin(Method::DELETE, "/v1/admin/groups/g1/members/u3", None)
        .await;
    assert_eq!((st, code(&v)), (409, 2004), "{v}");
    let mut d = s.client("u4").await;
    let r = d
        .ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert_eq!(r["results"][0]["error"]["code"], 2007);
    let mut c = s.client("u3").await;
    let r = c
        .ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert_eq!(r["results"][0]["error"]["code"], 2009);
    let pull = a
        .ok(json!({"op": "get_message_read_receipts", "msg_ids": [m]}))
        .await;
    assert_eq!(
        pull["entries"][0]["unread_count"], 1,
        "the leaver stays unread"
    );
    for cl in [a, b, c, d] {
        cl.close().await;
    }
    s.stop().await;
}

#[tokio::test]
async fn c2c_mark_read_and_receipts() {
    let s = TestServer::memory().await;
    s.users(&["u1", "u2"]).await;
    let mut a = s.client("u1").await;
    let mut b = s.client("u2").await;
    let m1 = a
        .ok(json!({"op": "send_message", "conv": {"c2c": "u2"}, "need_read_receipt": true, "body": ""}))
        .await["msg_id"]
        .as_str()
        .unwrap()
        .to_string();
    let nm = b.push_of("new_message").await;
    assert_eq!(nm["conv"], json!({"c2c": "u1"}));
    let mk = b
        .ok(json!({"op": "mark_c2c_message_as_read", "peer": "u1"}))
        .await;
    let p = a.push_of("c2c_read").await;
    assert_eq!(p["user_id"], "u2");
    assert_eq!(p["timestamp_ms"], mk["timestamp_ms"]);
    let m2 = a
        .ok(json!({"op": "send_message", "conv": {"c2c": "u2"}, "need_read_receipt": true, "body": ""}))
        .await["msg_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = a
        .ok(json!({"op": "get_message_read_receipts", "msg_ids": [m1, m2]}))
        .await;
    assert_eq!(
        r["entries"][0],
        json!({"msg_id": m1, "user_id": "u2", "is_peer_read": true})
    );
    assert_eq!(
        r["entries"][1],
        json!({"msg_id": m2, "user_id": "u2", "is_peer_read": false})
    );
    // A receipt for m1 (already covered by the mark) is still a new receipt: one push.
    b.ok(json!({"op": "send_message_read_receipts", "msg_ids": [m1, m2]}))
        .await;
    let p = a.push_of("receipts").await;
    assert_eq!(p["entries"].as_array().unwrap().len(), 2, "{p}");
    let mk2 = b
        .ok(json!({"op": "mark_c2c_message_as_read", "peer": "u1"}))
        .await;
    assert!(mk2["timestamp_ms"].as_u64() >= mk["timestamp_ms"].as_u64());
    let h = a
        .ok(json!({"op": "get_history", "conv": {"c2c": "u2"}, "before_seq": 0, "count": 1}))
        .await;
    assert_eq!(h["messages"][0]["seq"], 2);
    assert_eq!(h["messages"][0]["is_self"], true);
    let r = a
        .call(json!({"op": "mark_c2c_message_as_read", "peer": "u1"}))
        .await;
    assert_eq!(code(&r), 2012);
    s.stop().await;
}

#[tokio::test]
async fn member_list_paging_and_batch_provisioning() {
    let s = TestServer::memory().await;
    let mut ops: Vec<Value> = (0..300)
        .map(|i| json!({"op": "create_user", "user_id": format!("u{i}")}))
        .collect();
    let members: Vec<String> = (0..300).map(|i| format!("u{i}")).collect();
    ops.push(json!({"op": "set_receipt_config", "enabled_types": ["Meeting", "Work", "Work"], "max_group_size": 1000}));
    ops.push(json!({"op": "create_group", "group_id": "g0", "type": "Work", "members": members}));
    ops.push(json!({"op": "create_user", "user_id": "u0"}));
    let r = s
        .admin_ok(Method::POST, "/v1/admin/batch", Some(json!({"ops": ops})))
        .await;
    let r = r.as_array().unwrap();
    assert_eq!(r.len(), 303);
    assert!(r[..302].iter().all(|x| x.get("error").is_none()));
    assert_eq!(r[302]["error"]["code"], 2013);
    let cfg = s
        .admin_ok(Method::GET, "/v1/admin/receipt_config", None)
        .await;
    assert_eq!(
        cfg,
        json!({"enabled_types": ["Work", "Meeting"], "max_group_size": 1000})
    );

    let mut a = s.client("u5").await;
    let m = a
        .ok(json!({"op": "send_message", "conv": {"group": "g0"}, "need_read_receipt": true, "body": ""}))
        .await["msg_id"]
        .as_str()
        .unwrap()
        .to_string();
    let readers = [7, 3, 250, 0];
    for u in readers {
        let mut c = s.client(&format!("u{u}")).await;
        c.ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
            .await;
        c.close().await;
    }
    let mut read = Vec::new();
    let mut cur = 0;
    loop {
        let p = a
            .ok(json!({"op": "get_group_message_read_member_list", "msg_id": m, "filter": "read", "next_seq": cur, "count": 3}))
            .await;
        read.extend(strs(&p["members"]));
        cur = p["next_seq"].as_u64().unwrap();
        if p["is_finished"] == true {
            break;
        }
    }
    assert_eq!(read, ["u7", "u3", "u250", "u0"]);
    let mut unread = Vec::new();
    let mut cur = 0;
    loop {
        let p = a
            .ok(json!({"op": "get_group_message_read_member_list", "msg_id": m, "filter": "unread", "next_seq": cur, "count": 100}))
            .await;
        unread.extend(strs(&p["members"]));
        cur = p["next_seq"].as_u64().unwrap();
        if p["is_finished"] == true {
            break;
        }
    }
    let expect: Vec<String> = (0..300)
        .filter(|u| *u != 5 && !readers.contains(u))
        .map(|u| format!("u{u}"))
        .collect();
    assert_eq!(unread, expect);
    a.close().await;
    s.stop().await;
}

#[tokio::test]
async fn slow_consumer_is_closed_with_a_reason_and_others_continue() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut cfg = readsim::server::ServerConfig::random();
    cfg.send_queue = 16;
    let s = TestServer::start_with(readsim::server::Store::in_memory().unwrap(), cfg).await;
    s.users(&["u1", "u2"]).await;
    s.group("g1", &["u1", "u2"]).await;
    // u2 connects with a tiny receive buffer and then reads nothing.
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(2048).unwrap();
    let stream = sock.connect(s.addr).await.unwrap();
    let mut rq = format!("ws://{}/v1/ws", s.addr)
        .into_client_request()
        .unwrap();
    let token = s.token("u2").await;
    rq.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut slow, _) = tokio_tungstenite::client_async(rq, stream).await.unwrap();
    let mut a = s.client("u1").await;
    // Sends pipelined 8 at a time (u1's own queue holds 16): each pushes new_message to u2,
    // until the server has dropped u2 (the socket buffers hold a few MB first).
    let mut n = 0;
    for chunk in 0..100_000 / 8 {
        if chunk % 25 == 0 {
            let h: Value = s
                .http
                .get(s.url("/v1/health"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if h["connections"] == 1 {
                break;
            }
        }
        n += 8;
        for i in 0..8 {
            let f = json!({"id": chunk * 8 + i, "op": "send_message", "conv": {"group": "g1"},
                "need_read_receipt": false, "body": ""});
            a.send_raw(f.to_string()).await;
        }
        for _ in 0..8 {
            let r = a.response().await;
            assert!(r.get("ok").is_some(), "{r}");
        }
    }
    // Now u2 reads: some pushes, then `closing` with the reason, then the close.
    let mut closing = None;
    let mut frames = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(server_common::WAIT, slow.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
            frames += 1;
            let f: Value = serde_json::from_str(t.as_str()).unwrap();
            if f["push"] == "closing" {
                closing = Some(f);
            }
        }
    }
    let closing = closing.expect("a closing push before the close");
    assert!(
        closing["reason"]
            .as_str()
            .unwrap()
            .contains("slow consumer"),
        "{closing}"
    );
    assert!(frames < n, "u2 was cut off ({frames} frames)");
    // The sender and the server carry on.
    a.ok(json!({"op": "get_history", "conv": {"group": "g1"}, "before_seq": 0, "count": 1}))
        .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receipts_push_monotone_counts_to_every_sender_connection() {
    let s = TestServer::memory().await;
    let readers: Vec<String> = (1..=24).map(|i| format!("u{i}")).collect();
    let mut ops = vec![json!({"op": "create_user", "user_id": "u0"})];
    ops.extend(
        readers
            .iter()
            .map(|u| json!({"op": "create_user", "user_id": u})),
    );
    let mut members = readers.clone();
    members.push("u0".into());
    ops.push(
        json!({"op": "create_group", "group_id": "g1", "type": "Meeting", "members": members}),
    );
    s.admin_ok(Method::POST, "/v1/admin/batch", Some(json!({"ops": ops})))
        .await;
    // The sender holds two connections; both must see every count, never going back.
    let mut a1 = s.client("u0").await;
    let mut a2 = s.client("u0").await;
    let mut msgs = Vec::new();
    for _ in 0..4 {
        let r = a1
            .ok(json!({"op": "send_message", "conv": {"group": "g1"}, "need_read_receipt": true, "body": ""}))
            .await;
        msgs.push(r["msg_id"].as_str().unwrap().to_string());
    }
    let mut tasks = Vec::new();
    for r in &readers {
        let mut c = s.client(r).await;
        let msgs = msgs.clone();
        tasks.push(tokio::spawn(async move {
            for m in &msgs {
                c.ok(json!({"op": "send_message_read_receipts", "msg_ids": [m]}))
                    .await;
            }
            c.close().await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for a in [&mut a1, &mut a2] {
        let mut last: HashMap<String, u64> = HashMap::new();
        let mut seen = 0;
        while seen < readers.len() * msgs.len() {
            let p = a.push_of("receipts").await;
            for e in p["entries"].as_array().unwrap() {
                let (read, unread) = (
                    e["read_count"].as_u64().unwrap(),
                    e["unread_count"].as_u64().unwrap(),
                );
                assert_eq!(read + unread, readers.len() as u64, "{e}");
                let prev = last.insert(e["msg_id"].as_str().unwrap().to_string(), read);
                assert!(prev.is_none_or(|p| p < read), "counts never decrease: {e}");
                seen += 1;
            }
        }
        assert!(
            last.values().all(|&n| n == readers.len() as u64),
            "{last:?}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn admin_batch_provisions_100k_users_and_10k_groups_in_one_call() {
    let s = TestServer::memory().await;
    let mut ops: Vec<Value> = (0..100_000)
        .map(|i| json!({"op": "create_user", "user_id": format!("u{i}")}))
        .collect();
    ops.extend((0..10_000).map(|g| {
        let members: Vec<String> = (0..10).map(|k| format!("u{}", (g * 10 + k) % 100_000)).collect();
        json!({"op": "create_group", "group_id": format!("g{g}"), "type": "Work", "members": members})
    }));
    let t = std::time::Instant::now();
    let v = s
        .admin_ok(Method::POST, "/v1/admin/batch", Some(json!({"ops": ops})))
        .await;
    let took = t.elapsed();
    let v = v.as_array().unwrap();
    assert_eq!(v.len(), 110_000);
    assert!(v.iter().all(|r| r.get("error").is_none()));
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
    let mut c = s.client("u99999").await;
    let h = c
        .ok(json!({"op": "get_history", "conv": {"group": "g9999"}, "before_seq": 0, "count": 1}))
        .await;
    assert_eq!(h, json!({"messages": []}));
    s.stop().await;
}
