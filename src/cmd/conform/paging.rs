//! Paging edges (page sizes 1 and 100, cursors across a receipt arriving between pages),
//! batch limits and duplicate receipts.

use super::client::code;
use super::{Ctx, Outcome, Row, check, expect, page, pull, receipts, send_group};
use serde_json::{Value, json};

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    vec![
        check(
            "M3",
            "read list in pages of 1: commit order, each reader once",
            read_pages_of_one(ctx),
        )
        .await,
        check(
            "M4",
            "unread list in pages of 1: each member once",
            unread_pages_of_one(ctx),
        )
        .await,
        check(
            "M5",
            "is_finished on the last page, no trailing empty page",
            finished(ctx),
        )
        .await,
        check("M5", "a page of 100 holds the whole list", page_of_100(ctx)).await,
        check(
            "M6",
            "unread cursor stable across a receipt between pages",
            unread_across_receipt(ctx),
        )
        .await,
        check(
            "M6",
            "read cursor stable across a receipt between pages",
            read_across_receipt(ctx),
        )
        .await,
        check(
            "I2",
            "read and unread lists in pages of 2 are disjoint and make the audience",
            lists_exact(ctx),
        )
        .await,
        check("R1", "a batch of 100 ids is accepted", batch_100(ctx)).await,
        check(
            "R6",
            "a repeated receipt succeeds and changes nothing",
            duplicate_receipt(ctx),
        )
        .await,
        check(
            "R8",
            "one receipts push per sender per batch",
            one_push_per_batch(ctx),
        )
        .await,
    ]
}

/// The string items of a JSON array, sorted.
pub fn sorted(v: &Value) -> Vec<String> {
    let mut out = strings(v);
    out.sort();
    out
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Pages `filter` of `id` with `count` to the end: members in page order and the pages.
async fn all_pages(
    c: &mut super::Client,
    id: &str,
    filter: &str,
    count: u32,
) -> Result<(Vec<String>, Vec<Value>), String> {
    let (mut members, mut pages, mut cursor) = (Vec::new(), Vec::new(), 0);
    for _ in 0..50 {
        let p = page(c, id, filter, cursor, count).await?;
        members.extend(strings(&p["members"]));
        cursor = p["next_seq"]
            .as_u64()
            .ok_or_else(|| format!("page without next_seq: {p}"))?;
        let done = p["is_finished"] == true;
        pages.push(p);
        if done {
            return Ok((members, pages));
        }
    }
    Err(format!("not finished after 50 pages: {members:?}"))
}

async fn read_pages_of_one(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(4, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    for k in [3, 1, 2] {
        receipts(&mut s.clients[k], &[&id]).await?;
    }
    let (members, pages) = all_pages(&mut s.clients[0], &id, "read", 1).await?;
    let want = [&s.users[3], &s.users[1], &s.users[2]];
    expect(members.iter().eq(want), || {
        format!("read list {members:?}, want {want:?}")
    })?;
    expect(pages.len() == 3, || {
        format!("{} pages for 3 readers", pages.len())
    })?;
    Ok(format!("3 pages: {members:?}"))
}

async fn unread_pages_of_one(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(5, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    receipts(&mut s.clients[2], &[&id]).await?;
    let (mut members, pages) = all_pages(&mut s.clients[0], &id, "unread", 1).await?;
    members.sort();
    let mut want = vec![s.users[1].clone(), s.users[3].clone(), s.users[4].clone()];
    want.sort();
    expect(members == want, || {
        format!("unread list {members:?}, want {want:?}")
    })?;
    expect(pages.len() == 3, || {
        format!("{} pages for 3 unread", pages.len())
    })?;
    Ok(format!("3 pages, {} members", members.len()))
}

async fn finished(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(3, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let (_, pages) = all_pages(&mut s.clients[0], &id, "unread", 2).await?;
    expect(pages.len() == 1 && pages[0]["is_finished"] == true, || {
        format!("pages {pages:?}")
    })?;
    let (_, read) = all_pages(&mut s.clients[0], &id, "read", 5).await?;
    expect(read.len() == 1 && read[0]["members"] == json!([]), || {
        format!("empty read list: {read:?}")
    })?;
    Ok("2 of 2 in one finished page; empty read list finished".into())
}

async fn page_of_100(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(4, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let p = page(&mut s.clients[0], &id, "unread", 0, 100).await?;
    expect(
        strings(&p["members"]).len() == 3 && p["is_finished"] == true,
        || format!("page {p}"),
    )?;
    Ok(format!("{}", p["members"]))
}

async fn unread_across_receipt(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(5, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let first = page(&mut s.clients[0], &id, "unread", 0, 2).await?;
    let seen = strings(&first["members"]);
    // A member of the first page reads between pages: the rest must neither repeat nor skip.
    let reader = s
        .users
        .iter()
        .position(|u| Some(u) == seen.first())
        .ok_or_else(|| format!("page {first}"))?;
    receipts(&mut s.clients[reader], &[&id]).await?;
    let cursor = first["next_seq"].as_u64().unwrap_or(0);
    let rest = page(&mut s.clients[0], &id, "unread", cursor, 100).await?;
    let mut all = seen.clone();
    all.extend(strings(&rest["members"]));
    all.sort();
    let mut want: Vec<String> = s.users[1..].to_vec();
    want.sort();
    expect(all == want, || format!("pages {first} then {rest}"))?;
    Ok(format!(
        "{} + {} members, none repeated",
        seen.len(),
        strings(&rest["members"]).len()
    ))
}

async fn read_across_receipt(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(4, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    receipts(&mut s.clients[1], &[&id]).await?;
    receipts(&mut s.clients[2], &[&id]).await?;
    let first = page(&mut s.clients[0], &id, "read", 0, 1).await?;
    receipts(&mut s.clients[3], &[&id]).await?;
    let cursor = first["next_seq"].as_u64().unwrap_or(0);
    let (rest, _) = all_pages_from(&mut s.clients[0], &id, cursor).await?;
    let mut all = strings(&first["members"]);
    all.extend(rest);
    let want = [&s.users[1], &s.users[2], &s.users[3]];
    expect(all.iter().eq(want), || {
        format!("read list across a receipt {all:?}, want {want:?}")
    })?;
    Ok(format!("{all:?}"))
}

async fn all_pages_from(
    c: &mut super::Client,
    id: &str,
    mut cursor: u64,
) -> Result<(Vec<String>, usize), String> {
    let mut members = Vec::new();
    for n in 1..=20 {
        let p = page(c, id, "read", cursor, 1).await?;
        members.extend(strings(&p["members"]));
        cursor = p["next_seq"].as_u64().unwrap_or(0);
        if p["is_finished"] == true {
            return Ok((members, n));
        }
    }
    Err(format!("read list not finished: {members:?}"))
}

async fn batch_100(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    let ids = vec![id.as_str(); 100];
    let r = s.clients[1]
        .call(json!({"op": "send_message_read_receipts", "msg_ids": ids}))
        .await?;
    let n = r["ok"]["results"].as_array().map(Vec::len);
    expect(code(&r) == 0 && n == Some(100), || format!("100 ids: {r}"))?;
    let p = s.clients[0]
        .call(json!({"op": "get_message_read_receipts", "msg_ids": ids}))
        .await?;
    let n = p["ok"]["entries"].as_array().map(Vec::len);
    expect(code(&p) == 0 && n == Some(100), || {
        format!("pull of 100 ids: {p}")
    })?;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(e["read_count"] == 1, || {
        format!("100 copies of one id counted {e}")
    })?;
    Ok("100 results, 100 entries, counted once".into())
}

async fn duplicate_receipt(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(3, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    receipts(&mut s.clients[1], &[&id]).await?;
    s.clients[0].push_of("receipts").await?;
    let again = receipts(&mut s.clients[1], &[&id]).await?;
    expect(again["results"] == json!([{"msg_id": id}]), || {
        format!("repeat answered {again}")
    })?;
    let e = pull(&mut s.clients[0], &id).await?;
    expect(e["read_count"] == 1 && e["unread_count"] == 1, || {
        format!("after a repeat: {e}")
    })?;
    let (members, _) = all_pages(&mut s.clients[0], &id, "read", 10).await?;
    expect(members.len() == 1, || {
        format!("read list after a repeat: {members:?}")
    })?;
    let pushes = s.clients[0]
        .pushes_for("receipts", std::time::Duration::from_millis(300))
        .await;
    let moved = pushes.iter().any(|p| p["entries"][0]["read_count"] != 1);
    expect(!moved, || format!("push after a repeat: {pushes:?}"))?;
    Ok("success; read 1, unread 1; one reader".into())
}

async fn one_push_per_batch(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    let a = send_group(&mut s.clients[0], &s.group, true).await?;
    let b = send_group(&mut s.clients[0], &s.group, true).await?;
    receipts(&mut s.clients[1], &[&a, &b]).await?;
    let pushes = s.clients[0]
        .pushes_for("receipts", std::time::Duration::from_millis(300))
        .await;
    expect(pushes.len() == 1, || {
        format!("{} pushes for one batch: {pushes:?}", pushes.len())
    })?;
    let n = pushes[0]["entries"].as_array().map(Vec::len);
    expect(n == Some(2), || format!("push {}", pushes[0]))?;
    Ok("one push with 2 entries".into())
}

async fn lists_exact(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(6, "Work").await?;
    let id = send_group(&mut s.clients[0], &s.group, true).await?;
    for k in [2, 5, 3] {
        receipts(&mut s.clients[k], &[&id]).await?;
    }
    let (read, _) = all_pages(&mut s.clients[0], &id, "read", 2).await?;
    let (unread, _) = all_pages(&mut s.clients[0], &id, "unread", 2).await?;
    let mut all: Vec<String> = read.iter().chain(&unread).cloned().collect();
    all.sort();
    let mut want: Vec<String> = s.users[1..].to_vec();
    want.sort();
    expect(all == want && read.len() == 3, || {
        format!("read {read:?}, unread {unread:?}")
    })?;
    Ok(format!("{} read + {} unread = 5", read.len(), unread.len()))
}
