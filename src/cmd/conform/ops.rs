//! Each client operation and the push it causes, on the happy path.

use super::client::{Client, code};
use super::{Ctx, Outcome, Row, check, expect, page, pull, receipts, send_c2c, send_group};
use serde_json::{Value, json};
use std::time::Duration;

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    vec![
        check(
            "S4",
            "a refused receipt-asking send is not stored without the flag",
            not_degraded(ctx),
        )
        .await,
        check(
            "R4",
            "a refused receipt changes no count and pushes nothing",
            refused_receipt_quiet(ctx),
        )
        .await,
        check(
            "C5",
            "is_peer_read stays true after later marks and receipts",
            peer_read_stays(ctx),
        )
        .await,
        check(
            "S9",
            "send_message pushes new_message to each member, not the sender",
            new_message_push(ctx),
        )
        .await,
        check(
            "S8",
            "seq is 1, 2, 3 in a fresh conversation",
            numbering(ctx),
        )
        .await,
        check(
            "S5",
            "a refused send leaves no seq gap",
            refused_send_no_gap(ctx),
        )
        .await,
        check(
            "S7",
            "a 1:1 send may ask for a receipt",
            c2c_receipt_send(ctx),
        )
        .await,
        check(
            "R7",
            "a receipt pushes `receipts` with the new count to the sender",
            receipts_push(ctx),
        )
        .await,
        check(
            "I1",
            "a count pull shows read + unread = audience",
            count_pull(ctx),
        )
        .await,
        check(
            "M2",
            "member lists: readers in the read list, the rest unread",
            member_lists(ctx),
        )
        .await,
        check(
            "R9",
            "a 1:1 receipt makes is_peer_read true",
            c2c_receipt(ctx),
        )
        .await,
        check(
            "C4",
            "mark_c2c_message_as_read pushes c2c_read to the peer, every time",
            c2c_read_push(ctx),
        )
        .await,
        check(
            "C3",
            "a second mark's timestamp is not smaller than the first",
            mark_timestamps(ctx),
        )
        .await,
        check(
            "C2",
            "a mark covers the peer's earlier messages, not later ones",
            mark_covers(ctx),
        )
        .await,
        check(
            "H1",
            "history is newest first with is_self and before_seq",
            history(ctx),
        )
        .await,
        check(
            "S10",
            "a later joiner is not in the audience",
            later_joiner(ctx),
        )
        .await,
        check(
            "R5",
            "a reader who left gets READER_LEFT_GROUP",
            leaver(ctx),
        )
        .await,
        check(
            "P3",
            "a sender who left may still pull counts",
            sender_left(ctx),
        )
        .await,
        check("P4", "a pull pushes nothing", quiet_pull(ctx)).await,
        check(
            "D1",
            "every connection of a user gets each push",
            two_devices(ctx),
        )
        .await,
    ]
}

const QUIET: Duration = Duration::from_millis(300);

async fn new_message_push(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(3, "Work").await?;
    let ack = s.clients[0]
        .ok(json!({"op": "send_message", "conv": {"group": s.group}, "need_read_receipt": true}))
        .await?;
    for k in ["msg_id", "seq", "timestamp_ms"] {
        expect(ack.get(k).is_some(), || {
            format!("send answer lacks {k}: {ack}")
        })?;
    }
    for c in &mut s.clients[1..] {
        let p = c.push_of("new_message").await?;
        let want = json!({"group": s.group});
        expect(
            p["msg_id"] == ack["msg_id"]
                && p["conv"] == want
                && p["sender"] == s.users[0].as_str()
                && p["seq"] == ack["seq"],
            || format!("push {p} does not match the send {ack}"),
        )?;
    }
    let own = s.clients[0].pushes_for("new_message", QUIET).await;
    expect(own.is_empty(), || {
        format!("the sender got its own new_message: {own:?}")
    })?;
    Ok(format!("2 members pushed {}", ack["msg_id"]))
}

async fn numbering(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let mut seqs = Vec::new();
    for _ in 0..3 {
        let ok = s.clients[0]
            .ok(json!({"op": "send_message", "conv": {"group": s.group}, "need_read_receipt": false}))
            .await?;
        seqs.push(ok["seq"].as_u64().unwrap_or(0));
    }
    expect(seqs == [1, 2, 3], || format!("seqs {seqs:?}"))?;
    Ok(format!("seqs {seqs:?}"))
}

async fn refused_send_no_gap(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Community").await?;
    let g = s.group.clone();
    let c = &mut s.clients[0];
    let first = c
        .ok(json!({"op": "send_message", "conv": {"group": g}, "need_read_receipt": false}))
        .await?;
    let refused = c
        .call(json!({"op": "send_message", "conv": {"group": g}, "need_read_receipt": true}))
        .await?;
    expect(code(&refused) == 2005, || {
        format!("receipt-asking send to Community: {refused}")
    })?;
    let second = c
        .ok(json!({"op": "send_message", "conv": {"group": g}, "need_read_receipt": false}))
        .await?;
    expect(first["seq"] == 1 && second["seq"] == 2, || {
        format!("seqs {} then {}", first["seq"], second["seq"])
    })?;
    let pushes = s.clients[1].pushes_for("new_message", QUIET).await;
    expect(pushes.len() == 2, || {
        format!("member got {} new_message pushes, want 2", pushes.len())
    })?;
    Ok("seqs 1, 2 around a refused send; 2 pushes".into())
}

async fn c2c_receipt_send(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let mut a = ctx.client(&users[0]).await?;
    let mut b = ctx.client(&users[1]).await?;
    let id = send_c2c(&mut a, &users[1], true).await?;
    let p = b.push_of("new_message").await?;
    expect(
        p["conv"] == json!({"c2c": users[0]}) && p["need_read_receipt"] == true,
        || format!("peer's push {p}"),
    )?;
    Ok(format!("{id} pushed to the peer as conv c2c sender"))
}

async fn receipts_push(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(3, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let r = receipts(&mut s.clients[1], &[&id]).await?;
    expect(r["results"] == json!([{"msg_id": id}]), || {
        format!("receipt results {r}")
    })?;
    let p = s.clients[0].push_of("receipts").await?;
    let e = &p["entries"][0];
    expect(
        e["msg_id"] == id.as_str()
            && e["read_count"] == 1
            && e["unread_count"] == 1
            && e["group_id"] == s.group.as_str(),
        || format!("push {p}"),
    )?;
    Ok("read 1, unread 1 pushed".into())
}

async fn count_pull(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(4, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    receipts(&mut s.clients[1], &[&id]).await?;
    receipts(&mut s.clients[2], &[&id]).await?;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(e["read_count"] == 2 && e["unread_count"] == 1, || {
        format!("entry {e}")
    })?;
    Ok(format!("{e}"))
}

async fn member_lists(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(4, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    receipts(&mut s.clients[2], &[&id]).await?;
    let read = page(&mut s.clients[0], &id, "read", 0, 100).await?;
    let unread = page(&mut s.clients[0], &id, "unread", 0, 100).await?;
    // Ascending user-id order is the server's own key order: compare as sets.
    let got_unread = super::paging::sorted(&unread["members"]);
    let want_unread = vec![s.users[1].clone(), s.users[3].clone()];
    expect(
        read["members"] == json!([s.users[2]]) && read["is_finished"] == true,
        || format!("read page {read}"),
    )?;
    expect(
        got_unread == want_unread && unread["is_finished"] == true,
        || format!("unread page {unread}"),
    )?;
    Ok(format!(
        "read {} unread {}",
        read["members"], unread["members"]
    ))
}

async fn c2c_receipt(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let mut a = ctx.client(&users[0]).await?;
    let mut b = ctx.client(&users[1]).await?;
    let id = send_c2c(&mut a, &users[1], true).await?;
    let before = pull(&mut a, &id).await?;
    receipts(&mut b, &[&id]).await?;
    let p = a.push_of("receipts").await?;
    let after = pull(&mut a, &id).await?;
    expect(
        before["is_peer_read"] == false && before["user_id"] == users[1].as_str(),
        || format!("before: {before}"),
    )?;
    expect(after["is_peer_read"] == true, || format!("after: {after}"))?;
    expect(p["entries"][0]["is_peer_read"] == true, || {
        format!("push: {p}")
    })?;
    Ok("false, then true (pushed and pulled)".into())
}

async fn mark(c: &mut Client, peer: &str) -> Result<Value, String> {
    c.ok(json!({"op": "mark_c2c_message_as_read", "peer": peer}))
        .await
}

async fn c2c_read_push(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let mut a = ctx.client(&users[0]).await?;
    let mut b = ctx.client(&users[1]).await?;
    let m1 = mark(&mut a, &users[1]).await?;
    let p1 = b.push_of("c2c_read").await?;
    let m2 = mark(&mut a, &users[1]).await?;
    let p2 = b.push_of("c2c_read").await?;
    expect(
        p1["user_id"] == users[0].as_str() && p1["timestamp_ms"] == m1["timestamp_ms"],
        || format!("first push {p1} for {m1}"),
    )?;
    let (t1, t2) = (m1["timestamp_ms"].as_u64(), m2["timestamp_ms"].as_u64());
    expect(t1.is_some() && t2 >= t1, || {
        format!("mark timestamps {t1:?} then {t2:?}")
    })?;
    expect(p2["timestamp_ms"] == m2["timestamp_ms"], || {
        format!("second push {p2} for {m2}")
    })?;
    Ok(format!(
        "two marks, two pushes, timestamps {t1:?} <= {t2:?}"
    ))
}

async fn mark_timestamps(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let mut a = ctx.client(&users[0]).await?;
    let mut stamps = Vec::new();
    for _ in 0..3 {
        stamps.push(mark(&mut a, &users[1]).await?["timestamp_ms"].as_u64());
    }
    let ordered = stamps.iter().all(Option::is_some) && stamps.windows(2).all(|w| w[0] <= w[1]);
    expect(ordered, || format!("timestamps {stamps:?}"))?;
    Ok(format!("{stamps:?}"))
}

async fn mark_covers(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let mut a = ctx.client(&users[0]).await?;
    let mut b = ctx.client(&users[1]).await?;
    let before = send_c2c(&mut a, &users[1], true).await?;
    mark(&mut b, &users[0]).await?;
    let after = send_c2c(&mut a, &users[1], true).await?;
    let e1 = pull(&mut a, &before).await?;
    let e2 = pull(&mut a, &after).await?;
    expect(
        e1["is_peer_read"] == true && e2["is_peer_read"] == false,
        || format!("before mark {e1}, after mark {e2}"),
    )?;
    Ok("earlier read, later unread".into())
}

async fn history(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let m1 = send_group(&mut s.clients[0], &s.group, true).await?;
    let m2 = send_group(&mut s.clients[1], &s.group, false).await?;
    let conv = json!({"group": s.group});
    let h = s.clients[0]
        .ok(json!({"op": "get_history", "conv": conv, "count": 10}))
        .await?;
    let ids: Vec<&str> = h["messages"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["msg_id"].as_str()).collect())
        .unwrap_or_default();
    expect(ids == [m2.as_str(), m1.as_str()], || format!("history {h}"))?;
    let msgs = &h["messages"];
    expect(
        msgs[0]["is_self"] == false
            && msgs[1]["is_self"] == true
            && msgs[1]["need_read_receipt"] == true
            && msgs[1]["sender"] == s.users[0].as_str(),
        || format!("history {h}"),
    )?;
    let older = s.clients[0]
        .ok(json!({"op": "get_history", "conv": conv, "before_seq": 2, "count": 10}))
        .await?;
    expect(
        older["messages"].as_array().map(Vec::len) == Some(1)
            && older["messages"][0]["msg_id"] == m1.as_str(),
        || format!("before_seq 2: {older}"),
    )?;
    let one = s.clients[0]
        .ok(json!({"op": "get_history", "conv": conv, "count": 1}))
        .await?;
    expect(one["messages"].as_array().map(Vec::len) == Some(1), || {
        format!("count 1: {one}")
    })?;
    Ok("newest first; before_seq and count honoured".into())
}

async fn later_joiner(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let late = ctx.users(1).await?.remove(0);
    ctx.admin
        .post(
            &format!("/v1/admin/groups/{}/members", s.group),
            json!({"user_id": late}),
        )
        .await?;
    let mut c = ctx.client(&late).await?;
    let r = receipts(&mut c, &[&id]).await?;
    expect(r["results"][0]["error"]["code"] == 2007, || {
        format!("later joiner's receipt: {r}")
    })?;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(e["read_count"] == 0 && e["unread_count"] == 1, || {
        format!("counts after: {e}")
    })?;
    Ok("NOT_IN_AUDIENCE; counts 0/1".into())
}

async fn leaver(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(3, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let path = format!("/v1/admin/groups/{}/members/{}", s.group, s.users[1]);
    ctx.admin.ok(reqwest::Method::DELETE, &path, None).await?;
    let r = receipts(&mut s.clients[1], &[&id]).await?;
    expect(r["results"][0]["error"]["code"] == 2009, || {
        format!("leaver's receipt: {r}")
    })?;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(e["read_count"] == 0 && e["unread_count"] == 2, || {
        format!("counts after: {e}")
    })?;
    Ok("READER_LEFT_GROUP; counts unchanged".into())
}

async fn sender_left(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let path = format!("/v1/admin/groups/{}/members/{}", s.group, s.users[0]);
    ctx.admin.ok(reqwest::Method::DELETE, &path, None).await?;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(e["read_count"] == 0 && e["unread_count"] == 1, || {
        format!("pull after leaving: {e}")
    })?;
    Ok(format!("{e}"))
}

async fn quiet_pull(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    pull(&mut s.clients[0], &id).await?;
    page(&mut s.clients[0], &id, "unread", 0, 10).await?;
    let got = s.clients[0].pushes_for("receipts", QUIET).await;
    expect(got.is_empty(), || format!("pushes after pulls: {got:?}"))?;
    Ok("no push".into())
}

async fn two_devices(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let mut second = ctx.client(&s.users[1]).await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let p1 = s.clients[1].push_of("new_message").await?;
    let p2 = second.push_of("new_message").await?;
    expect(p1["msg_id"] == id.as_str() && p1 == p2, || {
        format!("devices saw {p1} and {p2}")
    })?;
    Ok("both devices got the same new_message".into())
}

async fn not_degraded(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "AVChatRoom").await?;
    let g = json!({"group": s.group});
    let r = s.clients[0]
        .call(json!({"op": "send_message", "conv": g, "need_read_receipt": true}))
        .await?;
    expect(code(&r) == 2005, || {
        format!("receipt-asking send to AVChatRoom: {r}")
    })?;
    let h = s.clients[1]
        .ok(json!({"op": "get_history", "conv": g, "count": 10}))
        .await?;
    expect(h["messages"] == json!([]), || {
        format!("history after the refusal: {h}")
    })?;
    Ok("2005; history empty".into())
}

async fn refused_receipt_quiet(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let r = receipts(&mut s.clients[0], &[&id]).await?;
    expect(r["results"][0]["error"]["code"] == 2007, || {
        format!("sender's own receipt: {r}")
    })?;
    let pushes = s.clients[0].pushes_for("receipts", QUIET).await;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(
        pushes.is_empty() && e["read_count"] == 0 && e["unread_count"] == 1,
        || format!("pushes {pushes:?}, counts {e}"),
    )?;
    Ok("NOT_IN_AUDIENCE; counts 0/1, no push".into())
}

async fn peer_read_stays(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let mut a = ctx.client(&users[0]).await?;
    let mut b = ctx.client(&users[1]).await?;
    let id = send_c2c(&mut a, &users[1], true).await?;
    receipts(&mut b, &[&id]).await?;
    mark(&mut b, &users[0]).await?;
    receipts(&mut b, &[&id]).await?;
    send_c2c(&mut a, &users[1], true).await?;
    let e = pull(&mut a, &id).await?;
    expect(e["is_peer_read"] == true, || {
        format!("after later marks and receipts: {e}")
    })?;
    Ok("still true".into())
}
