//! Credentials (docs/protocol.md, "Credentials" and "Client connection"): forged, expired,
//! revoked and borrowed tokens, the admin token on the socket, a user token on the admin API.

use super::client::{Client, code};
use super::{Ctx, Outcome, Row, check, expect};
use serde_json::{Value, json};
use std::time::Duration;

pub async fn run(ctx: &Ctx) -> Vec<Row> {
    vec![
        check(
            "wire/auth",
            "a forged token fails the upgrade: 401 UNAUTHENTICATED",
            forged(ctx),
        )
        .await,
        check(
            "wire/auth",
            "another user's signature under my name fails: 401",
            borrowed(ctx),
        )
        .await,
        check(
            "wire/auth",
            "a token names its user: hello and sends are that user's",
            token_names_user(ctx),
        )
        .await,
        check(
            "wire/auth",
            "the admin token on the socket: 401",
            admin_on_socket(ctx),
        )
        .await,
        check(
            "wire/auth",
            "a user token on the admin API: 403 FORBIDDEN",
            user_on_admin(ctx),
        )
        .await,
        check(
            "wire/auth",
            "no credential on the admin API: 401",
            none_on_admin(ctx),
        )
        .await,
        check(
            "wire/auth",
            "?token= and a lowercase bearer are accepted; the header wins",
            token_forms(ctx),
        )
        .await,
        check(
            "wire/close",
            "an expiring token closes its socket (4001), then fails the upgrade",
            expired(ctx),
        )
        .await,
        check(
            "wire/close",
            "revoking closes the user's sockets (4002) and refuses the token",
            revoked(ctx),
        )
        .await,
    ]
}

/// The upgrade with this `Authorization` value must be refused 401 UNAUTHENTICATED.
async fn refused(ctx: &Ctx, path: &str, auth: Option<&str>) -> Outcome {
    match Client::upgrade(&ctx.addr, path, auth).await? {
        Ok(c) => Err(format!("upgrade accepted, hello {}", c.hello)),
        Err((s, body)) => {
            expect(s == 401 && code(&body) == 1101, || format!("{s} {body}"))?;
            Ok(format!(
                "{s} {}",
                body["error"]["name"].as_str().unwrap_or("?")
            ))
        }
    }
}

/// `token` with its last field (the signature) replaced by `sig`.
fn with_sig(token: &str, sig: &str) -> String {
    match token.rsplit_once('.') {
        Some((head, _)) => format!("{head}.{sig}"),
        None => format!("{token}.{sig}"),
    }
}

async fn forged(ctx: &Ctx) -> Outcome {
    let u = ctx.users(1).await?.remove(0);
    let t = ctx.admin.token_for(&u, 3600).await?;
    let sig_len = t.rsplit('.').next().map_or(64, str::len);
    let forged = with_sig(&t, &"0".repeat(sig_len));
    refused(ctx, "/v1/ws", Some(&format!("Bearer {forged}"))).await
}

async fn borrowed(ctx: &Ctx) -> Outcome {
    let users = ctx.users(2).await?;
    let t = ctx.admin.token_for(&users[0], 3600).await?;
    let Some((_, rest)) = t.split_once('.') else {
        return Err(format!("token {t:?} is not user.expiry.sig"));
    };
    let other = format!("{}.{rest}", users[1]);
    refused(ctx, "/v1/ws", Some(&format!("Bearer {other}"))).await
}

async fn token_names_user(ctx: &Ctx) -> Outcome {
    let mut s = ctx.scene(2, "Work").await?;
    expect(s.clients[1].hello["user_id"] == s.users[1].as_str(), || {
        format!("hello {}", s.clients[1].hello)
    })?;
    super::send_group(&mut s.clients[1], &s.group, false).await?;
    let p = s.clients[0].push_of("new_message").await?;
    expect(p["sender"] == s.users[1].as_str(), || format!("push {p}"))?;
    Ok("hello and sender name the token's user".into())
}

async fn admin_on_socket(ctx: &Ctx) -> Outcome {
    let auth = format!("Bearer {}", ctx.admin.token);
    refused(ctx, "/v1/ws", Some(&auth)).await
}

async fn user_on_admin(ctx: &Ctx) -> Outcome {
    let u = ctx.users(1).await?.remove(0);
    let t = ctx.admin.token_for(&u, 3600).await?;
    let body = json!({"user_id": ctx.fresh('u')});
    let (s, v) = ctx
        .admin
        .call_as(&t, reqwest::Method::POST, "/v1/admin/users", Some(&body))
        .await?;
    expect(s == 403 && code(&v) == 1102, || format!("{s} {v}"))?;
    Ok(format!(
        "{s} {}",
        v["error"]["name"].as_str().unwrap_or("?")
    ))
}

async fn none_on_admin(ctx: &Ctx) -> Outcome {
    let body = json!({"user_id": ctx.fresh('u')});
    let (s, v) = ctx
        .admin
        .call_as(
            "wrong",
            reqwest::Method::POST,
            "/v1/admin/users",
            Some(&body),
        )
        .await?;
    expect(s == 401 && code(&v) == 1101, || {
        format!("wrong credential: {s} {v}")
    })?;
    let resp = ctx
        .admin
        .http
        .get(ctx.admin.url("/v1/admin/receipt_config"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let s = resp.status().as_u16();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    expect(s == 401 && code(&v) == 1101, || {
        format!("no credential: {s} {v}")
    })?;
    Ok("401 UNAUTHENTICATED both".into())
}

async fn token_forms(ctx: &Ctx) -> Outcome {
    let u = ctx.users(1).await?.remove(0);
    let t = ctx.admin.token_for(&u, 3600).await?;
    let q = Client::upgrade(&ctx.addr, &format!("/v1/ws?token={t}"), None).await?;
    expect(q.is_ok(), || {
        format!("?token= refused: {:?}", q.as_ref().err())
    })?;
    let lower = Client::upgrade(&ctx.addr, "/v1/ws", Some(&format!("bearer {t}"))).await?;
    expect(lower.is_ok(), || {
        format!("lowercase bearer refused: {:?}", lower.as_ref().err())
    })?;
    let forged = with_sig(&t, &"0".repeat(64));
    let path = format!("/v1/ws?token={t}");
    refused(ctx, &path, Some(&format!("Bearer {forged}"))).await?;
    Ok("query and lowercase accepted; a forged header wins over a valid query".into())
}

async fn expired(ctx: &Ctx) -> Outcome {
    let u = ctx.users(1).await?.remove(0);
    let t = ctx.admin.token_for(&u, 2).await?;
    let mut c = Client::connect(&ctx.addr, &t).await?;
    let (frames, close) = c.until_close(Duration::from_secs(6)).await;
    let closing = frames.iter().any(|f| f["push"] == "closing");
    expect(closing && close.as_ref().map(|c| c.0) == Some(4001), || {
        format!("frames {frames:?}, close {close:?}")
    })?;
    refused(ctx, "/v1/ws", Some(&format!("Bearer {t}"))).await?;
    Ok("closing + 4001, then 401".into())
}

async fn revoked(ctx: &Ctx) -> Outcome {
    let u = ctx.users(1).await?.remove(0);
    let t = ctx.admin.token_for(&u, 3600).await?;
    let mut c = Client::connect(&ctx.addr, &t).await?;
    let path = format!("/v1/admin/users/{u}/revoke_tokens");
    ctx.admin.ok(reqwest::Method::POST, &path, None).await?;
    let (frames, close) = c.until_close(Duration::from_secs(5)).await;
    let closing = frames.iter().any(|f| f["push"] == "closing");
    expect(closing && close.as_ref().map(|c| c.0) == Some(4002), || {
        format!("frames {frames:?}, close {close:?}")
    })?;
    refused(ctx, "/v1/ws", Some(&format!("Bearer {t}"))).await?;
    let fresh = ctx.admin.token_for(&u, 3600).await?;
    Client::connect(&ctx.addr, &fresh).await?;
    Ok("closing + 4002; old token 401; a new token works".into())
}
