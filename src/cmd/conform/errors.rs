//! Refusals: every documented error code of the client operations, in the documented order
//! (a table over one fixture; refusals change nothing, so the rows do not interfere), E1's
//! "an outsider gets the answer of an unknown id", and the admin API's errors (A1, A2).

use super::client::{Client, code};
use super::{Ctx, Outcome, Row, check, expect, send_c2c, send_group, skip};
use serde_json::{Value, json};

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    let mut rows = match Fixture::make(ctx).await {
        Ok(mut f) => {
            let mut rows = Vec::new();
            for case in cases(&f) {
                rows.push(check(case.rule, case.name, run_case(&mut f, &case)).await);
            }
            rows
        }
        Err(e) => vec![check("S1", "refusal table fixture", async { Err(e) }).await],
    };
    rows.push(
        check(
            "S3",
            "a receipt-asking send to a group over max_group_size is GROUP_TOO_LARGE_FOR_RECEIPTS",
            too_large(ctx),
        )
        .await,
    );
    rows.push(check("A1", "admin refusals: INVALID_ID, USER_EXISTS, GROUP_EXISTS, ALREADY_MEMBER, USER_NOT_FOUND, NOT_GROUP_MEMBER", admin_errors(ctx)).await);
    rows.push(
        check(
            "A2",
            "the stored receipt config is deduplicated, in declaration order",
            config_order(ctx),
        )
        .await,
    );
    rows
}

/// Who makes the call.
#[derive(Copy, Clone)]
enum Who {
    /// The sender of the fixture's messages.
    Sender,
    /// A member of both groups, in the audience of every message.
    Member,
    /// A user in no conversation of the fixture.
    Outsider,
}

/// Where the expected code is.
#[derive(Copy, Clone)]
enum At {
    Whole,
    /// `ok.results[i]` (receipts) or `ok.entries[i]` (pulls).
    Item(usize),
}

struct Case {
    rule: &'static str,
    name: &'static str,
    who: Who,
    op: Value,
    want: u64,
    at: At,
}

struct Fixture {
    sender: String,
    clients: [Client; 3],
    group: String,
    community: String,
    /// Group message asking for receipts; group message without; the second group's message
    /// asking for receipts; a 1:1 message (sender to member) asking for receipts.
    gm: String,
    gn: String,
    g2m: String,
    cm: String,
    unknown_user: String,
    unknown_group: String,
    unknown_msg: String,
}

impl Fixture {
    async fn make(ctx: &Ctx) -> Result<Fixture, String> {
        let users = ctx.users(3).await?;
        let pair = [users[0].clone(), users[1].clone()];
        let group = ctx.group("Work", &pair).await?;
        let group2 = ctx.group("Work", &pair).await?;
        let community = ctx.group("Community", &pair).await?;
        let mut s = ctx.client(&users[0]).await?;
        let m = ctx.client(&users[1]).await?;
        let o = ctx.client(&users[2]).await?;
        let gm = send_group(&mut s, &group, true).await?;
        let gn = send_group(&mut s, &group, false).await?;
        let g2m = send_group(&mut s, &group2, true).await?;
        let cm = send_c2c(&mut s, &users[1], true).await?;
        Ok(Fixture {
            sender: users[0].clone(),
            clients: [s, m, o],
            group,
            community,
            gm,
            gn,
            g2m,
            cm,
            unknown_user: ctx.fresh('u'),
            unknown_group: ctx.fresh('g'),
            unknown_msg: ctx.unknown_msg(),
        })
    }
}

fn send(conv: Value, need: bool) -> Value {
    json!({"op": "send_message", "conv": conv, "need_read_receipt": need})
}
fn rcpt(ids: &[&str]) -> Value {
    json!({"op": "send_message_read_receipts", "msg_ids": ids})
}
fn pull(ids: &[&str]) -> Value {
    json!({"op": "get_message_read_receipts", "msg_ids": ids})
}
fn list(id: &str, count: u32) -> Value {
    json!({"op": "get_group_message_read_member_list", "msg_id": id, "filter": "unread", "next_seq": 0, "count": count})
}
fn mark(peer: &str) -> Value {
    json!({"op": "mark_c2c_message_as_read", "peer": peer})
}
fn history(conv: Value, count: u32) -> Value {
    json!({"op": "get_history", "conv": conv, "count": count})
}

fn case(rule: &'static str, name: &'static str, who: Who, op: Value, want: u64, at: At) -> Case {
    Case {
        rule,
        name,
        who,
        op,
        want,
        at,
    }
}

/// The table: every refusal of S1..S2, R1..R3, P1..P2, M1, C1, H1..H2 and E1.
fn cases(f: &Fixture) -> Vec<Case> {
    use At::{Item, Whole};
    use Who::{Member as M, Outsider as O, Sender as S};
    let g = json!({"group": f.group});
    let (gm, gn, g2m, cm, unk) = (
        f.gm.as_str(),
        f.gn.as_str(),
        f.g2m.as_str(),
        f.cm.as_str(),
        f.unknown_msg.as_str(),
    );
    let many: Vec<&str> = vec![gm; 101];
    let mixed_many: Vec<&str> = (0..101)
        .map(|i| if i % 2 == 0 { gm } else { g2m })
        .collect();
    vec![
        case(
            "S1",
            "send to an unknown group: GROUP_NOT_FOUND",
            M,
            send(json!({"group": f.unknown_group}), true),
            2002,
            Whole,
        ),
        case(
            "S1",
            "send by a non-member: NOT_GROUP_MEMBER",
            O,
            send(g.clone(), false),
            2004,
            Whole,
        ),
        case(
            "S1",
            "non-member before type: NOT_GROUP_MEMBER",
            O,
            send(json!({"group": f.community}), true),
            2004,
            Whole,
        ),
        case(
            "S2",
            "receipts asked in a Community: RECEIPTS_DISABLED_FOR_GROUP_TYPE",
            S,
            send(json!({"group": f.community}), true),
            2005,
            Whole,
        ),
        case(
            "S1",
            "1:1 send to oneself: SELF_CONVERSATION",
            S,
            send(json!({"c2c": f.sender}), true),
            2012,
            Whole,
        ),
        case(
            "S1",
            "1:1 send to an unknown peer: USER_NOT_FOUND",
            S,
            send(json!({"c2c": f.unknown_user}), true),
            2001,
            Whole,
        ),
        case(
            "R1",
            "empty receipt batch: BATCH_SIZE",
            M,
            rcpt(&[]),
            1002,
            Whole,
        ),
        case(
            "R1",
            "101 receipt ids (duplicates count): BATCH_SIZE",
            M,
            rcpt(&many),
            1002,
            Whole,
        ),
        case(
            "R1",
            "receipts of two conversations: MIXED_CONVERSATIONS",
            M,
            rcpt(&[gm, g2m]),
            1003,
            Whole,
        ),
        case(
            "R1",
            "batch size before mixed: BATCH_SIZE",
            M,
            rcpt(&mixed_many),
            1002,
            Whole,
        ),
        case(
            "R2",
            "receipt of an unknown id: MESSAGE_NOT_FOUND for it",
            M,
            rcpt(&[unk]),
            2003,
            Item(0),
        ),
        case(
            "R3",
            "receipt by the sender: NOT_IN_AUDIENCE",
            S,
            rcpt(&[gm]),
            2007,
            Item(0),
        ),
        case(
            "R3",
            "receipt of a message without: RECEIPT_NOT_REQUESTED",
            M,
            rcpt(&[gn]),
            2008,
            Item(0),
        ),
        case(
            "R3",
            "audience before requested: NOT_IN_AUDIENCE",
            S,
            rcpt(&[gn]),
            2007,
            Item(0),
        ),
        case(
            "P1",
            "empty count pull: BATCH_SIZE",
            S,
            pull(&[]),
            1002,
            Whole,
        ),
        case(
            "P1",
            "101 ids in a count pull: BATCH_SIZE",
            S,
            pull(&many),
            1002,
            Whole,
        ),
        case(
            "P1",
            "count pull of two conversations: MIXED_CONVERSATIONS",
            S,
            pull(&[gm, g2m]),
            1003,
            Whole,
        ),
        case(
            "P2",
            "count pull by a non-sender: NOT_MESSAGE_SENDER",
            M,
            pull(&[gm]),
            2010,
            Item(0),
        ),
        case(
            "P2",
            "count pull of a message without: RECEIPT_NOT_REQUESTED",
            S,
            pull(&[gn]),
            2008,
            Item(0),
        ),
        case(
            "P2",
            "sender before requested: NOT_MESSAGE_SENDER",
            M,
            pull(&[gn]),
            2010,
            Item(0),
        ),
        case(
            "M1",
            "member list count 0: COUNT_OUT_OF_RANGE",
            S,
            list(gm, 0),
            1004,
            Whole,
        ),
        case(
            "M1",
            "member list count 101: COUNT_OUT_OF_RANGE",
            S,
            list(gm, 101),
            1004,
            Whole,
        ),
        case(
            "M1",
            "count before the message: COUNT_OUT_OF_RANGE",
            O,
            list(unk, 0),
            1004,
            Whole,
        ),
        case(
            "M1",
            "member list of an unknown id: MESSAGE_NOT_FOUND",
            S,
            list(unk, 10),
            2003,
            Whole,
        ),
        case(
            "M1",
            "member list by a non-sender: NOT_MESSAGE_SENDER",
            M,
            list(gm, 10),
            2010,
            Whole,
        ),
        case(
            "M1",
            "member list of a 1:1 message: NOT_GROUP_MESSAGE",
            S,
            list(cm, 10),
            2011,
            Whole,
        ),
        case(
            "M1",
            "member list of a message without: RECEIPT_NOT_REQUESTED",
            S,
            list(gn, 10),
            2008,
            Whole,
        ),
        case(
            "C1",
            "mark oneself read: SELF_CONVERSATION",
            S,
            mark(&f.sender),
            2012,
            Whole,
        ),
        case(
            "C1",
            "mark an unknown peer read: USER_NOT_FOUND",
            S,
            mark(&f.unknown_user),
            2001,
            Whole,
        ),
        case(
            "H1",
            "history count 0: COUNT_OUT_OF_RANGE",
            S,
            history(g.clone(), 0),
            1004,
            Whole,
        ),
        case(
            "H1",
            "history count 101: COUNT_OUT_OF_RANGE",
            S,
            history(g.clone(), 101),
            1004,
            Whole,
        ),
        case(
            "H1",
            "count before the group: COUNT_OUT_OF_RANGE",
            S,
            history(json!({"group": f.unknown_group}), 0),
            1004,
            Whole,
        ),
        case(
            "H2",
            "history of an unknown group: GROUP_NOT_FOUND",
            S,
            history(json!({"group": f.unknown_group}), 5),
            2002,
            Whole,
        ),
        case(
            "H2",
            "history by a non-member: NOT_CONVERSATION_PARTY",
            O,
            history(g, 5),
            2016,
            Whole,
        ),
        case(
            "H2",
            "1:1 history with oneself: SELF_CONVERSATION",
            S,
            history(json!({"c2c": f.sender}), 5),
            2012,
            Whole,
        ),
        case(
            "H2",
            "1:1 history with an unknown peer: USER_NOT_FOUND",
            S,
            history(json!({"c2c": f.unknown_user}), 5),
            2001,
            Whole,
        ),
        case(
            "E1",
            "outsider's receipt: MESSAGE_NOT_FOUND, as for an unknown id",
            O,
            rcpt(&[gm]),
            2003,
            Item(0),
        ),
        case(
            "E1",
            "outsider's receipt of an unknown id: MESSAGE_NOT_FOUND",
            O,
            rcpt(&[unk]),
            2003,
            Item(0),
        ),
        case(
            "E1",
            "outsider's count pull: MESSAGE_NOT_FOUND",
            O,
            pull(&[gm]),
            2003,
            Item(0),
        ),
        case(
            "E1",
            "outsider's count pull of an unknown id: MESSAGE_NOT_FOUND",
            O,
            pull(&[unk]),
            2003,
            Item(0),
        ),
        case(
            "E1",
            "outsider's member list: MESSAGE_NOT_FOUND",
            O,
            list(gm, 10),
            2003,
            Whole,
        ),
        case(
            "E1",
            "outsider's member list of an unknown id: MESSAGE_NOT_FOUND",
            O,
            list(unk, 10),
            2003,
            Whole,
        ),
        case(
            "E1",
            "outsider's 1:1 count pull: MESSAGE_NOT_FOUND",
            O,
            pull(&[cm]),
            2003,
            Item(0),
        ),
        case(
            "E1",
            "outsider's ids of two conversations are not MIXED_CONVERSATIONS",
            O,
            pull(&[gm, g2m]),
            2003,
            Item(1),
        ),
    ]
}

async fn run_case(f: &mut Fixture, c: &Case) -> Outcome {
    let client = &mut f.clients[c.who as usize];
    let r = client.call(c.op.clone()).await?;
    let got = match c.at {
        At::Whole => code(&r),
        At::Item(i) => {
            let list = if r["ok"].get("results").is_some() {
                &r["ok"]["results"]
            } else {
                &r["ok"]["entries"]
            };
            let item = &list[i];
            if item.is_null() {
                code(&r)
            } else {
                item["error"]["code"].as_u64().unwrap_or(0)
            }
        }
    };
    let name =
        |c: u64| crate::protocol::ErrorCode::from_code(c as u32).map_or("success", |e| e.name());
    expect(got == c.want, || {
        format!("got {} ({}): {}", got, name(got), r)
    })?;
    Ok(format!("{} {}", got, name(got)))
}

async fn too_large(ctx: &Ctx) -> Outcome {
    let config = ctx
        .admin
        .ok(reqwest::Method::GET, "/v1/admin/receipt_config", None)
        .await?;
    let max = config["max_group_size"]
        .as_u64()
        .ok_or_else(|| format!("config {config}"))?;
    if max > 1000 {
        // Provisioning more than 1000 users for one check is not "small": say so.
        return Err(skip(format!(
            "max_group_size is {max}: a group over it needs more than 1000 users"
        )));
    }
    let users: Vec<String> = (0..=max).map(|_| ctx.fresh('u')).collect();
    let group = ctx.fresh('g');
    let mut ops: Vec<Value> = users
        .iter()
        .map(|u| json!({"op": "create_user", "user_id": u}))
        .collect();
    ops.push(json!({"op": "create_group", "group_id": group, "type": "Work", "members": users}));
    let results = ctx
        .admin
        .post("/v1/admin/batch", json!({"ops": ops}))
        .await?;
    let failed = results
        .as_array()
        .map(|a| a.iter().filter(|r| r.get("error").is_some()).count());
    expect(failed == Some(0), || {
        format!("batch provisioning: {failed:?} failed")
    })?;
    let mut c = ctx.client(&users[0]).await?;
    let r = c.call(send(json!({"group": group}), true)).await?;
    expect(code(&r) == 2006, || {
        format!("send to {} members: {r}", max + 1)
    })?;
    let plain = c.call(send(json!({"group": group}), false)).await?;
    expect(code(&plain) == 0, || {
        format!("send without receipts: {plain}")
    })?;
    Ok(format!(
        "{} members: 2006; without receipts accepted",
        max + 1
    ))
}

async fn admin_errors(ctx: &Ctx) -> Outcome {
    use reqwest::Method;
    let users = ctx.users(2).await?;
    let group = ctx.group("Work", &users[..1]).await?;
    let members = format!("/v1/admin/groups/{group}/members");
    let cases: Vec<(Method, String, Value, (u16, u64))> = vec![
        (
            Method::POST,
            "/v1/admin/users".into(),
            json!({"user_id": "bad id!"}),
            (400, 1005),
        ),
        (
            Method::POST,
            "/v1/admin/users".into(),
            json!({"user_id": users[0]}),
            (409, 2013),
        ),
        (
            Method::POST,
            "/v1/admin/groups".into(),
            json!({"group_id": group, "type": "Work", "members": []}),
            (409, 2014),
        ),
        (
            Method::POST,
            "/v1/admin/groups".into(),
            json!({"group_id": ctx.fresh('g'), "type": "Work", "members": [ctx.fresh('u')]}),
            (404, 2001),
        ),
        (
            Method::POST,
            members.clone(),
            json!({"user_id": users[0]}),
            (409, 2015),
        ),
        (
            Method::POST,
            members.clone(),
            json!({"user_id": ctx.fresh('u')}),
            (404, 2001),
        ),
        (
            Method::POST,
            format!("/v1/admin/groups/{}/members", ctx.fresh('g')),
            json!({"user_id": users[1]}),
            (404, 2002),
        ),
        (
            Method::DELETE,
            format!("{members}/{}", users[1]),
            Value::Null,
            (409, 2004),
        ),
    ];
    for (m, path, body, want) in cases {
        let body = if body.is_null() { None } else { Some(&body) };
        let (s, v) = ctx.admin.call(m.clone(), &path, body).await?;
        expect((s, code(&v)) == want, || {
            format!("{m} {path}: {s} {v}, want {want:?}")
        })?;
    }
    Ok("8 refusals with the documented code and status".into())
}

async fn config_order(ctx: &Ctx) -> Outcome {
    let get = ctx
        .admin
        .ok(reqwest::Method::GET, "/v1/admin/receipt_config", None)
        .await?;
    let order = ["Work", "Public", "Meeting", "Community", "AVChatRoom"];
    let types: Vec<String> = get["enabled_types"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let mut shuffled: Vec<String> = types.iter().rev().cloned().collect();
    shuffled.extend(types.iter().cloned());
    let body = json!({"enabled_types": shuffled, "max_group_size": get["max_group_size"]});
    let put = ctx
        .admin
        .ok(reqwest::Method::PUT, "/v1/admin/receipt_config", Some(body))
        .await?;
    let mut want = types.clone();
    want.sort_by_key(|t| order.iter().position(|o| o == t));
    want.dedup();
    expect(
        put["enabled_types"] == json!(want) && put["max_group_size"] == get["max_group_size"],
        || format!("stored {put} for {get} reversed and doubled"),
    )?;
    Ok(format!("{}", put["enabled_types"]))
}
