//! Routes, the admin HTTP API and its credential checks.

// Early returns carry a finished `Response`; boxing them would only add noise.
#![allow(clippy::result_large_err)]

use super::App;
use super::respond::{bearer, error_response};
use super::writer::{AdminOp, Job};
use crate::protocol::ErrorCode;
use crate::wire::{MAX_ADMIN_BODY_BYTES, admin};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The admin API and `/v1/health`; `mod.rs` adds `/v1/ws`, the body limit and the state.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/admin/users", post(create_user))
        .route("/v1/admin/groups", post(create_group))
        .route("/v1/admin/groups/{group_id}/members", post(add_member))
        .route(
            "/v1/admin/groups/{group_id}/members/{user_id}",
            delete(remove_member),
        )
        .route("/v1/admin/receipt_config", get(get_config).put(set_config))
        .route("/v1/admin/tokens", post(issue_token))
        .route("/v1/admin/batch", post(batch))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Admin credential check: none or a wrong one is 401 UNAUTHENTICATED; a valid *user* token
/// is 403 FORBIDDEN (authenticated, but not allowed to administer).
fn check_admin(app: &App, headers: &HeaderMap) -> Result<(), Response> {
    let Some(t) = bearer(headers) else {
        return Err(error_response(
            ErrorCode::Unauthenticated,
            Some("admin API: send Authorization: Bearer <admin token>".into()),
        ));
    };
    if constant_time_eq(t.as_bytes(), app.cfg.admin_token.as_bytes()) {
        return Ok(());
    }
    if super::verify_token(&app.cfg.secret, t, super::unix_now()).is_ok() {
        return Err(error_response(
            ErrorCode::Forbidden,
            Some("a user token cannot use the admin API; use the admin token".into()),
        ));
    }
    Err(error_response(
        ErrorCode::Unauthenticated,
        Some("wrong admin token".into()),
    ))
}

fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, Response> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error_response(
                ErrorCode::FrameTooLarge,
                Some(format!(
                    "admin bodies are limited to {MAX_ADMIN_BODY_BYTES} bytes; split the batch"
                )),
            )
        } else {
            error_response(ErrorCode::BadRequest, Some(e.body_text()))
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        error_response(
            ErrorCode::BadRequest,
            Some(format!("{}: {e}", ErrorCode::BadRequest.message())),
        )
    })
}

async fn submit<T>(app: &App, job: Job, rx: oneshot::Receiver<T>) -> Result<T, Response> {
    let down = || {
        error_response(
            ErrorCode::Internal,
            Some("the server is shutting down".into()),
        )
    };
    app.jobs.send(job).await.map_err(|_| down())?;
    rx.await.map_err(|_| down())
}

async fn admin_op(app: &App, op: AdminOp) -> Response {
    let (reply, rx) = oneshot::channel();
    match submit(app, Job::Admin { op, reply }, rx).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(code)) => error_response(code, None),
        Err(r) => r,
    }
}

macro_rules! admin_guard {
    ($app:expr, $headers:expr) => {
        if let Err(r) = check_admin(&$app, &$headers) {
            return r;
        }
    };
}

async fn health(State(app): State<Arc<App>>) -> Response {
    axum::Json(serde_json::json!({
        "status": "ok",
        "protocol": crate::wire::PROTOCOL_VERSION,
        "connections": app.online.load(std::sync::atomic::Ordering::Relaxed),
    }))
    .into_response()
}

async fn create_user(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admin_guard!(app, headers);
    let b: admin::CreateUser = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    admin_op(
        &app,
        AdminOp::Batch(admin::BatchOp::CreateUser { user_id: b.user_id }),
    )
    .await
}

async fn create_group(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admin_guard!(app, headers);
    let b: admin::CreateGroup = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    admin_op(
        &app,
        AdminOp::Batch(admin::BatchOp::CreateGroup {
            group_id: b.group_id,
            group_type: b.group_type,
            members: b.members,
        }),
    )
    .await
}

async fn add_member(
    State(app): State<Arc<App>>,
    Path(group_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admin_guard!(app, headers);
    let b: admin::Member = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    admin_op(
        &app,
        AdminOp::Batch(admin::BatchOp::AddMember {
            group_id,
            user_id: b.user_id,
        }),
    )
    .await
}

async fn remove_member(
    State(app): State<Arc<App>>,
    Path((group_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    admin_guard!(app, headers);
    admin_op(
        &app,
        AdminOp::Batch(admin::BatchOp::RemoveMember { group_id, user_id }),
    )
    .await
}

async fn get_config(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    admin_guard!(app, headers);
    admin_op(&app, AdminOp::GetConfig).await
}

async fn set_config(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admin_guard!(app, headers);
    let b: admin::Config = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let set = admin_op(
        &app,
        AdminOp::Batch(admin::BatchOp::SetReceiptConfig {
            enabled_types: b.enabled_types,
            max_group_size: b.max_group_size,
        }),
    )
    .await;
    if !set.status().is_success() {
        return set;
    }
    admin_op(&app, AdminOp::GetConfig).await
}

async fn issue_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admin_guard!(app, headers);
    let b: admin::TokenRequest = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let exists = admin_op(&app, AdminOp::UserExists(b.user_id.clone())).await;
    if !exists.status().is_success() {
        return exists;
    }
    let expiry = super::unix_now().saturating_add(b.ttl_secs);
    axum::Json(admin::Token {
        token: super::mint_token(&app.cfg.secret, &b.user_id, expiry),
    })
    .into_response()
}

async fn batch(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    admin_guard!(app, headers);
    let b: admin::Batch = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (reply, rx) = oneshot::channel();
    match submit(&app, Job::AdminBatch { ops: b.ops, reply }, rx).await {
        Ok(results) => axum::Json(results).into_response(),
        Err(r) => r,
    }
}
