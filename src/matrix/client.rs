//! A typed client for the Matrix client-server API (v3): the calls readsim makes as one
//! virtual user. One [`MatrixClient`] per user (each with its own `reqwest::Client`, so its
//! connections are its own and a fault proxy can cut one user without touching the others).
//!
//! The base URL may point at readsim's fault proxy instead of the homeserver; the proxy
//! files connections by a query parameter (`readsim_client=N`), so the client puts the
//! `extra_query` it was given on every request. Nothing here retries: a 429 or a transport
//! failure goes back to the caller, which counts it and decides.

use super::error::{ErrCode, MatrixError};
use super::events::RoomEvent;
use super::sync::{self, NEED_READ_RECEIPT, ParseError, SyncBatch};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// `/sync` filter: only what the read-receipt view needs. Timeline: messages and membership;
/// state: membership (what a limited timeline skipped); ephemeral: receipts; no presence,
/// account data or typing. The timeline limit is generous so a client that was away for a
/// while still gets its messages in one answer (a cut timeline is reported as a gap).
pub const SYNC_FILTER: &str = r#"{"presence":{"types":[]},"account_data":{"types":[]},"room":{"timeline":{"types":["m.room.message","m.room.member"],"limit":1000},"state":{"types":["m.room.member"]},"ephemeral":{"types":["m.receipt"]},"account_data":{"types":[]}}}"#;

const CLIENT_V3: &str = "/_matrix/client/v3";

/// Options of `POST /createRoom`.
#[derive(Clone, Debug, Default)]
pub struct NewRoom {
    /// Users invited at creation (full ids, `@u:server`).
    pub invite: Vec<String>,
    /// A 1:1 chat (`is_direct`).
    pub is_direct: bool,
    pub name: Option<String>,
}

/// One page of `GET /rooms/{r}/messages?dir=b`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagesPage {
    /// Messages and membership changes, newest first (the server's backwards order).
    pub events: Vec<RoomEvent>,
    /// The `from` token of the next (older) page; `None` when there is no older event.
    pub end: Option<String>,
}

#[derive(Clone)]
pub struct MatrixClient {
    http: reqwest::Client,
    /// `http://host:port` (maybe with a path prefix), no trailing slash, no query.
    base: String,
    /// `k=v&k2=v2` put on every request (empty: none).
    extra_query: String,
    token: Option<String>,
    /// Per-request limit; a `/sync` long poll gets its poll timeout on top.
    timeout: Option<Duration>,
}

/// An HTTP client for one virtual user: no redirects (a homeserver API never redirects, and
/// following one would hide a misconfigured base URL), a bounded connect.
pub fn user_http_client() -> Result<reqwest::Client, MatrixError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| MatrixError::BadBaseUrl {
            url: String::new(),
            what: format!("cannot build the HTTP client: {e}"),
        })
}

/// Percent-encodes everything but RFC 3986 unreserved characters: room ids (`!r:server`),
/// event ids (`$...`) and user ids (`@u:server`) in paths and queries.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl MatrixClient {
    /// `base_url` is `http://host:port[/prefix]`; a query on it (`?readsim_client=3`) is kept
    /// on every request, and so is `extra_query` (`readsim_client=3`, without `?`).
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        extra_query: &str,
    ) -> Result<MatrixClient, MatrixError> {
        let bad = |what: &str| MatrixError::BadBaseUrl {
            url: base_url.to_string(),
            what: what.to_string(),
        };
        let (base, own_query) = base_url.split_once('?').unwrap_or((base_url, ""));
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| bad("expected http://HOST:PORT"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("no host"));
        }
        if base.contains('#') || base.chars().any(char::is_whitespace) {
            return Err(bad("no fragment or whitespace allowed"));
        }
        let query: Vec<&str> = [own_query, extra_query.trim_start_matches(['?', '&'])]
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
            .collect();
        Ok(MatrixClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            extra_query: query.join("&"),
            token: None,
            timeout: None,
        })
    }

    /// The same client acting as the user `token` belongs to.
    pub fn with_token(mut self, token: impl Into<String>) -> MatrixClient {
        self.token = Some(token.into());
        self
    }

    /// Fails a request with a transport error after `t` (a `/sync` gets its poll on top).
    pub fn with_timeout(mut self, t: Duration) -> MatrixClient {
        self.timeout = Some(t);
        self
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The full URL of `path` (already encoded) with `query` pairs (encoded here) and the
    /// extra query.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{path}", self.base);
        let mut sep = '?';
        for (k, v) in query {
            url.push(sep);
            url.push_str(&encode(k));
            url.push('=');
            url.push_str(&encode(v));
            sep = '&';
        }
        if !self.extra_query.is_empty() {
            url.push(sep);
            url.push_str(&self.extra_query);
        }
        url
    }

    /// One call: the parsed JSON body of a success, or the error it was.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        extra_timeout: Duration,
    ) -> Result<Answer, MatrixError> {
        let endpoint = format!("{method} {path}");
        let mut req = self.http.request(method, self.url(path, query));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(t) = self.timeout {
            req = req.timeout(t + extra_timeout);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |e: reqwest::Error, sent: bool| MatrixError::Transport {
            endpoint: endpoint.clone(),
            detail: e.without_url().to_string(),
            may_have_been_sent: sent,
        };
        let resp = match req.send().await {
            Ok(r) => r,
            // A failed connect (or a request that could not be built) never reached the
            // server; anything later (reset, timeout waiting for the answer) may have.
            Err(e) => {
                let sent = !(e.is_connect() || e.is_builder());
                return Err(transport(e, sent));
            }
        };
        let status = resp.status().as_u16();
        let retry_header = retry_after_header(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| transport(e, true))?;
        if (200..300).contains(&status) {
            return match serde_json::from_slice(&bytes) {
                Ok(body) => Ok(Answer {
                    endpoint,
                    status,
                    body,
                }),
                Err(e) => Err(MatrixError::BadAnswer {
                    endpoint,
                    status,
                    path: "$".into(),
                    what: format!("not JSON ({e})"),
                }),
            };
        }
        Err(http_error(endpoint, status, &bytes, retry_header))
    }
}

/// A success answer, kept with its endpoint and status so a malformed body can be reported.
pub(crate) struct Answer {
    endpoint: String,
    status: u16,
    body: Value,
}

impl Answer {
    /// Applies a parser to the body; its error becomes [`MatrixError::BadAnswer`].
    pub(crate) fn parse<T>(
        &self,
        f: impl FnOnce(&Value) -> Result<T, ParseError>,
    ) -> Result<T, MatrixError> {
        f(&self.body).map_err(|e| MatrixError::BadAnswer {
            endpoint: self.endpoint.clone(),
            status: self.status,
            path: e.path,
            what: e.what,
        })
    }

    /// A string field at the top level of the body.
    pub(crate) fn string(&self, key: &str) -> Result<String, MatrixError> {
        self.parse(|v| Ok(sync::req_str(sync::as_obj(v, "$")?, key, "$")?.to_string()))
    }
}

/// The `Retry-After` header in milliseconds (seconds form only; dates are not worth it here).
fn retry_after_header(h: &reqwest::header::HeaderMap) -> Option<u64> {
    let secs: u64 = h
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(secs.saturating_mul(1000))
}

/// An error status into [`MatrixError::Http`], reading the standard error body
/// (`{errcode, error, retry_after_ms}`) when there is one.
fn http_error(
    endpoint: String,
    status: u16,
    bytes: &[u8],
    retry_header: Option<u64>,
) -> MatrixError {
    let body: Option<Value> = serde_json::from_slice(bytes).ok();
    let field = |k: &str| body.as_ref().and_then(|b| b.get(k));
    let errcode = field("errcode").and_then(Value::as_str).map(ErrCode::parse);
    let message = match field("error").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        // Not a Matrix error object: show the start of what came (a proxy page, say).
        None => String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
    };
    MatrixError::Http {
        endpoint,
        status,
        errcode,
        message,
        retry_after_ms: field("retry_after_ms")
            .and_then(Value::as_u64)
            .or(retry_header),
    }
}

fn room_path(room: &str, rest: &str) -> String {
    format!("{CLIENT_V3}/rooms/{}{rest}", encode(room))
}

const NO_EXTRA: Duration = Duration::ZERO;

impl MatrixClient {
    async fn post(&self, path: &str, body: &Value) -> Result<Answer, MatrixError> {
        self.call(Method::POST, path, &[], Some(body), NO_EXTRA)
            .await
    }

    /// `POST /createRoom` with preset `private_chat` (invite-only, history visible to
    /// members): the new room's id.
    pub async fn create_room(&self, room: &NewRoom) -> Result<String, MatrixError> {
        let mut body = json!({"preset": "private_chat", "invite": room.invite});
        if room.is_direct {
            body["is_direct"] = json!(true);
        }
        if let Some(name) = &room.name {
            body["name"] = json!(name);
        }
        let path = format!("{CLIENT_V3}/createRoom");
        self.post(&path, &body).await?.string("room_id")
    }

    /// `POST /rooms/{r}/invite`.
    pub async fn invite(&self, room: &str, user: &str) -> Result<(), MatrixError> {
        let body = json!({"user_id": user});
        self.post(&room_path(room, "/invite"), &body)
            .await
            .map(drop)
    }

    /// `POST /join/{r}`: the joined room's id.
    pub async fn join(&self, room: &str) -> Result<String, MatrixError> {
        let path = format!("{CLIENT_V3}/join/{}", encode(room));
        self.post(&path, &json!({})).await?.string("room_id")
    }

    /// `POST /rooms/{r}/leave`.
    pub async fn leave(&self, room: &str) -> Result<(), MatrixError> {
        self.post(&room_path(room, "/leave"), &json!({}))
            .await
            .map(drop)
    }

    /// `POST /rooms/{r}/kick`.
    pub async fn kick(
        &self,
        room: &str,
        user: &str,
        reason: Option<&str>,
    ) -> Result<(), MatrixError> {
        let mut body = json!({"user_id": user});
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        self.post(&room_path(room, "/kick"), &body).await.map(drop)
    }

    /// `PUT /rooms/{r}/send/m.room.message/{txn}`: a text message; the event id. Sending
    /// again with the same `txn_id` (same token) gives the same event, not a second one, so
    /// a send whose answer was lost can be repeated safely.
    pub async fn send_text(
        &self,
        room: &str,
        txn_id: &str,
        text: &str,
        need_read_receipt: bool,
    ) -> Result<String, MatrixError> {
        let body = json!({"msgtype": "m.text", "body": text, NEED_READ_RECEIPT: need_read_receipt});
        let path = room_path(room, &format!("/send/m.room.message/{}", encode(txn_id)));
        self.call(Method::PUT, &path, &[], Some(&body), NO_EXTRA)
            .await?
            .string("event_id")
    }

    /// `POST /rooms/{r}/receipt/m.read/{event}` (public, unthreaded).
    pub async fn read_receipt(&self, room: &str, event_id: &str) -> Result<(), MatrixError> {
        let path = room_path(room, &format!("/receipt/m.read/{}", encode(event_id)));
        self.post(&path, &json!({})).await.map(drop)
    }

    /// `POST /rooms/{r}/read_markers`: the fully-read marker and the public read receipt.
    pub async fn read_markers(&self, room: &str, event_id: &str) -> Result<(), MatrixError> {
        let body = json!({"m.fully_read": event_id, "m.read": event_id});
        self.post(&room_path(room, "/read_markers"), &body)
            .await
            .map(drop)
    }

    /// `GET /rooms/{r}/joined_members`: the joined users' ids, sorted.
    pub async fn joined_members(&self, room: &str) -> Result<Vec<String>, MatrixError> {
        let path = room_path(room, "/joined_members");
        let answer = self.call(Method::GET, &path, &[], None, NO_EXTRA).await?;
        answer.parse(|v| {
            let joined = sync::as_obj(v, "$")?;
            let joined = sync::opt_obj(joined, "joined", "$")?.ok_or_else(|| ParseError {
                path: "joined".into(),
                what: "missing".into(),
            })?;
            let mut ids: Vec<String> = joined.keys().cloned().collect();
            ids.sort();
            Ok(ids)
        })
    }

    /// `GET /rooms/{r}/messages?dir=b&limit=N[&from=T]`: a page of history, newest first.
    pub async fn messages(
        &self,
        room: &str,
        limit: u32,
        from: Option<&str>,
    ) -> Result<MessagesPage, MatrixError> {
        let limit = limit.to_string();
        let mut query = vec![("dir", "b"), ("limit", limit.as_str())];
        if let Some(f) = from {
            query.push(("from", f));
        }
        let path = room_path(room, "/messages");
        let answer = self
            .call(Method::GET, &path, &query, None, NO_EXTRA)
            .await?;
        answer.parse(parse_messages)
    }

    /// `GET /sync` with [`SYNC_FILTER`], long-polling up to `timeout` (zero: answer at once).
    /// `since` is the previous batch's `next_batch` (`None`: an initial sync).
    pub async fn sync(
        &self,
        since: Option<&str>,
        timeout: Duration,
    ) -> Result<SyncBatch, MatrixError> {
        let ms = timeout.as_millis().to_string();
        let mut query = vec![("timeout", ms.as_str()), ("filter", SYNC_FILTER)];
        if let Some(s) = since {
            query.push(("since", s));
        }
        let path = format!("{CLIENT_V3}/sync");
        let answer = self.call(Method::GET, &path, &query, None, timeout).await?;
        answer.parse(sync::parse_sync)
    }
}

/// A `/messages` body: `{chunk: [event...], start, end?}`.
fn parse_messages(v: &Value) -> Result<MessagesPage, ParseError> {
    let root = sync::as_obj(v, "$")?;
    let mut events = Vec::new();
    for (i, ev) in sync::opt_arr(root, "chunk", "$")?.iter().enumerate() {
        if let Some(e) = sync::parse_timeline_event(ev, &format!("chunk[{i}]"))? {
            events.push(e);
        }
    }
    let end = match root.get("end") {
        None | Some(Value::Null) => None,
        Some(_) => Some(sync::req_str(root, "end", "$")?.to_string()),
    };
    Ok(MessagesPage { events, end })
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
