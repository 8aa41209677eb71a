//! The admin HTTP client: health, bulk provisioning (`POST /v1/admin/batch`) and user tokens
//! (`POST /v1/admin/tokens`), all with the admin bearer token.

use super::LiveError;
use crate::protocol::{AdminRequest, ErrorCode, Response};
use crate::wire::{self, WireError, admin};
use std::time::{Duration, Instant};

/// Admin operations per batch request (well under the 8 MiB body limit for groups of a few
/// hundred members).
const BATCH_OPS: usize = 500;

#[derive(Clone)]
pub struct Admin {
    http: reqwest::Client,
    /// `http://HOST:PORT`.
    base: String,
    token: String,
}

impl Admin {
    pub fn new(base: String, token: String) -> Result<Admin, LiveError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| LiveError::Admin(format!("cannot build the HTTP client: {e}")))?;
        Ok(Admin { http, base, token })
    }

    /// Polls `GET /v1/health` until it answers 200 or `within` has passed.
    pub async fn wait_healthy(&self, within: Duration) -> Result<(), LiveError> {
        let deadline = Instant::now() + within;
        let url = format!("{}/v1/health", self.base);
        loop {
            let last = match self.http.get(&url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => format!("status {}", r.status()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(LiveError::Admin(format!(
                    "{url} did not become healthy within {within:?} (last: {last}); is the server up?"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn post<B: serde::Serialize>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<serde_json::Value, LiveError> {
        let url = format!("{}{path}", self.base);
        let r = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| LiveError::Admin(format!("POST {url}: {e}")))?;
        let status = r.status();
        let text = r
            .text()
            .await
            .map_err(|e| LiveError::Admin(format!("POST {url}: reading the body: {e}")))?;
        if !status.is_success() {
            return Err(LiveError::Admin(format!(
                "POST {url}: status {status}: {text}; check --admin-token and the server's log"
            )));
        }
        serde_json::from_str(&text)
            .map_err(|e| LiveError::Admin(format!("POST {url}: body is not JSON ({e}): {text}")))
    }

    /// Applies `reqs` in order through the batch endpoint; one response per request.
    pub async fn provision(&self, reqs: &[AdminRequest]) -> Result<Vec<Response>, LiveError> {
        let mut out = Vec::with_capacity(reqs.len());
        for chunk in reqs.chunks(BATCH_OPS) {
            let ops: Vec<admin::BatchOp> = chunk.iter().filter_map(wire::admin_op).collect();
            if ops.len() != chunk.len() {
                return Err(LiveError::Admin(
                    "provisioning holds a read-only admin request; this is a readsim bug".into(),
                ));
            }
            let v = self.post("/v1/admin/batch", &admin::Batch { ops }).await?;
            let list = match &v {
                serde_json::Value::Array(_) => v.clone(),
                serde_json::Value::Object(o) => {
                    o.get("results").cloned().unwrap_or(serde_json::Value::Null)
                }
                _ => serde_json::Value::Null,
            };
            let results: Vec<admin::BatchResult> = serde_json::from_value(list).map_err(|e| {
                LiveError::Admin(format!(
                    "/v1/admin/batch answered {v}, not a list of results ({e})"
                ))
            })?;
            if results.len() != chunk.len() {
                return Err(LiveError::Admin(format!(
                    "/v1/admin/batch answered {} results for {} operations",
                    results.len(),
                    chunk.len()
                )));
            }
            out.extend(results.into_iter().map(|r| match r.error {
                None => Response::AdminDone,
                Some(e) => Response::Error { code: code(&e) },
            }));
        }
        Ok(out)
    }

    /// A client token for `user_id`, valid `ttl_secs`.
    pub async fn token(&self, user_id: String, ttl_secs: u64) -> Result<String, LiveError> {
        let v = self
            .post(
                "/v1/admin/tokens",
                &admin::TokenRequest { user_id, ttl_secs },
            )
            .await?;
        let t: admin::Token = serde_json::from_value(v.clone()).map_err(|e| {
            LiveError::Admin(format!("/v1/admin/tokens answered {v}, not a token ({e})"))
        })?;
        Ok(t.token)
    }
}

fn code(e: &WireError) -> ErrorCode {
    ErrorCode::from_code(e.code).unwrap_or(ErrorCode::Internal)
}

/// Why one churn admin operation failed: `sent` says whether it may have reached the server
/// (a refused connection did not; a reset after sending might have).
#[derive(Debug)]
pub struct AdminSendError {
    pub sent: bool,
    pub detail: String,
}

impl Admin {
    /// Applies one admin operation through the batch endpoint.
    pub async fn apply_one(&self, req: &AdminRequest) -> Result<Response, AdminSendError> {
        let Some(op) = wire::admin_op(req) else {
            return Err(AdminSendError {
                sent: false,
                detail: format!("{req:?} is read-only; churn sends only changes"),
            });
        };
        let url = format!("{}/v1/admin/batch", self.base);
        let r = self
            .http
            .post(&url)
            .bearer_auth(&self.token)
            .json(&admin::Batch { ops: vec![op] })
            .send()
            .await
            .map_err(|e| AdminSendError {
                sent: !e.is_connect(),
                detail: format!("POST {url}: {e}"),
            })?;
        let text = r.text().await.map_err(|e| AdminSendError {
            sent: true,
            detail: format!("POST {url}: reading the body: {e}"),
        })?;
        let results: Vec<admin::BatchResult> =
            serde_json::from_str(&text).map_err(|e| AdminSendError {
                sent: true,
                detail: format!("POST {url}: answered {text}, not a list of results ({e})"),
            })?;
        match results.into_iter().next() {
            Some(r) => Ok(match r.error {
                None => Response::AdminDone,
                Some(e) => Response::Error { code: code(&e) },
            }),
            None => Err(AdminSendError {
                sent: true,
                detail: format!("POST {url}: no result for one operation"),
            }),
        }
    }

    /// The same client pointed at another `http://HOST:PORT` (a restarted server).
    pub fn with_base(&self, base: String) -> Admin {
        Admin {
            base,
            ..self.clone()
        }
    }
}
