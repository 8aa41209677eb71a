//! Routes, the admin HTTP API and its credential checks.

// Early returns carry a finished `Response`; boxing them would only add noise.
#![allow(clippy::result_large_err)]

use super::App;
use super::respond::{bearer, error_response};
use super::writer::{AdminOp, Job};
use crate::protocol::ErrorCode;
use crate::wire::{MAX_ADMIN_BODY_BYTES, admin};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tokio::sync::oneshot;

/// The admin API and `/v1/health`; `mod.rs` adds `/v1/ws`, the body limit and the state.
pub(crate) fn routes(app: Arc<App>) -> Router<Arc<App>> {
    let admin = Router::new()
        .route("/v1/admin/users", post(create_user))
        .route("/v1/admin/groups", post(create_group))
        .route("/v1/admin/groups/{group_id}/members", post(add_member))
        .route(
            "/v1/admin/groups/{group_id}/members/{user_id}",
            delete(remove_member),
        )
        .route("/v1/admin/receipt_config", get(get_config).put(set_config))
        .route("/v1/admin/tokens", post(issue_token))
        .route(
            "/v1/admin/users/{user_id}/revoke_tokens",
            post(revoke_tokens),
        )
        .route("/v1/admin/batch", post(batch))
        // Before any body is read: see `admin_gate`.
        .route_layer(axum::middleware::from_fn_with_state(app, admin_gate));
    Router::new().route("/v1/health", get(health)).merge(admin)
}

/// Marks a response as the last on its connection: a request whose body was not read leaves
/// that body unread on the socket, so the connection cannot serve another request.
fn last(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Every admin request passes here first: the credential is checked on the head alone (an
/// unauthenticated request is answered without reading a byte of its body), then the body is
/// read within its size limit and `body_timeout`, and handed on buffered.
async fn admin_gate(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Err(r) = check_admin(&app, req.headers()) {
        return last(r);
    }
    let limit = if req.uri().path() == "/v1/admin/batch" {
        MAX_ADMIN_BODY_BYTES
    } else {
        super::MAX_ADMIN_SMALL_BODY
    };
    let too_large = || {
        last(error_response(
            ErrorCode::FrameTooLarge,
            Some(format!(
                "this admin body is limited to {limit} bytes; send less (split a batch)"
            )),
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let bytes =
        match tokio::time::timeout(app.cfg.body_timeout, axum::body::to_bytes(body, limit)).await {
            Ok(Ok(b)) => b,
            Ok(Err(_)) => return too_large(),
            Err(_) => {
                return last(error_response(
                    ErrorCode::BadRequest,
                    Some(format!(
                        "the request body did not arrive within {:?}; send it at once",
                        app.cfg.body_timeout
                    )),
                ));
            }
        };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
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

/// The `/v1/health` body, also given by the gate when the server is full.
pub(crate) fn health_body(connections: usize) -> serde_json::Value {
    serde_json::json!({
        "status": "ok",
        "protocol": crate::wire::PROTOCOL_VERSION,
        "connections": connections,
    })
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let online = app.online.load(std::sync::atomic::Ordering::Relaxed);
    axum::Json(health_body(online)).into_response()
}

async fn create_user(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
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
    body: Result<Bytes, BytesRejection>,
) -> Response {
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
    body: Result<Bytes, BytesRejection>,
) -> Response {
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
) -> Response {
    admin_op(
        &app,
        AdminOp::Batch(admin::BatchOp::RemoveMember { group_id, user_id }),
    )
    .await
}

async fn get_config(State(app): State<Arc<App>>) -> Response {
    admin_op(&app, AdminOp::GetConfig).await
}

async fn set_config(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
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

async fn issue_token(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    let b: admin::TokenRequest = match parse(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let max = app.cfg.max_token_ttl_secs;
    if b.ttl_secs == 0 || b.ttl_secs > max {
        return error_response(
            ErrorCode::BadRequest,
            Some(format!(
                "ttl_secs must be 1 to {max}; ask again for a shorter token"
            )),
        );
    }
    let (reply, rx) = oneshot::channel();
    let job = Job::Admin {
        op: AdminOp::TokenGeneration(b.user_id.clone()),
        reply,
    };
    let generation = match submit(&app, job, rx).await {
        Ok(Ok(g)) => g.as_u64().unwrap_or(0),
        Ok(Err(code)) => return error_response(code, None),
        Err(r) => return r,
    };
    let expiry = super::unix_now().saturating_add(b.ttl_secs);
    axum::Json(admin::Token {
        token: super::mint_token_gen(&app.cfg.secret, &b.user_id, expiry, generation),
    })
    .into_response()
}

/// Invalidates every token of the user issued so far and closes their connections (code
/// 4002); tokens issued afterwards work.
async fn revoke_tokens(State(app): State<Arc<App>>, Path(user_id): Path<String>) -> Response {
    admin_op(&app, AdminOp::RevokeTokens(user_id)).await
}

async fn batch(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
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
