//! A fake Matrix homeserver for the adapter's unit tests: an axum app on 127.0.0.1:0 that
//! answers the client-server calls the adapter makes with hand-written bodies, records every
//! request it got, and can be told to answer one call badly (an error status, a body that is
//! not JSON, a reset connection, a late answer). Just enough state to be believable:
//! shared-secret registration checks its MAC and single-use nonces, sends are idempotent per
//! transaction id, rooms and events get fresh ids. `/sync` answers come from a per-token
//! script; with none queued a long poll waits for one (or its timeout) like Synapse does.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha1::Sha1;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// The registration shared secret the fake checks MACs with.
pub(super) const SECRET: &str = "fake-shared-secret";
/// The fake's server name.
pub(super) const SERVER: &str = "localhost";

/// One request the fake got, decoded.
#[derive(Clone, Debug)]
pub(super) struct Req {
    pub method: String,
    /// Percent-decoded path.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The bearer token, if any.
    pub token: Option<String>,
    /// The JSON body (Null when none or not JSON).
    pub body: Value,
}

impl Req {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// How the fake answers one call.
#[derive(Clone, Debug)]
pub(super) enum Reply {
    Json(u16, Value),
    /// A body that is not JSON.
    Raw(u16, &'static str),
    /// The connection dies after the request was read (headers maybe, no usable body).
    Reset,
    /// The fake's own answer (`Default`) or another one, after a delay.
    Delay(Duration, Box<Reply>),
    /// What the fake would answer by itself.
    Default,
}

impl Reply {
    pub fn forbidden() -> Reply {
        Reply::Json(
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "You are not allowed"}),
        )
    }
    pub fn rate_limited(ms: u64) -> Reply {
        Reply::Json(
            429,
            json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": ms}),
        )
    }
    pub fn internal() -> Reply {
        Reply::Json(
            500,
            json!({"errcode": "M_UNKNOWN", "error": "Internal server error"}),
        )
    }
    pub fn later(ms: u64, r: Reply) -> Reply {
        Reply::Delay(Duration::from_millis(ms), Box::new(r))
    }
}

/// A one-shot override: the first request of `method` whose path contains `path` gets `reply`.
struct Override {
    method: &'static str,
    path: String,
    reply: Reply,
}

#[derive(Default)]
struct Book {
    reqs: Vec<Req>,
    overrides: Vec<Override>,
    users: HashSet<String>,
    nonces: HashSet<String>,
    counter: u64,
    /// (token, txn) -> event id: a repeated send is the same event, as Synapse does it.
    txns: HashMap<(String, String), String>,
    /// Each token's scripted `/sync` answers, oldest first.
    syncs: HashMap<String, VecDeque<Reply>>,
    sends_in_flight: usize,
    max_sends_in_flight: usize,
}

/// The fake homeserver; cheap to clone (tests keep one, the server task another).
#[derive(Clone)]
pub(super) struct Fake {
    state: Arc<Mutex<Book>>,
    /// Wakes the long polls when a `/sync` answer is queued.
    synced: Arc<Notify>,
    pub addr: String,
}

fn lock(s: &Mutex<Book>) -> MutexGuard<'_, Book> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl Fake {
    /// Starts the fake on a free port of 127.0.0.1 (on the test's runtime).
    pub async fn start() -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = Fake {
            state: Arc::default(),
            synced: Arc::default(),
            addr: listener.local_addr().unwrap().to_string(),
        };
        let app = Router::new().fallback(handle).with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    /// The next request of `method` to a path containing `path` gets `reply` (once).
    pub fn on(&self, method: &'static str, path: &str, reply: Reply) {
        lock(&self.state).overrides.push(Override {
            method,
            path: path.to_string(),
            reply,
        });
    }

    /// Queues a `/sync` answer for the holder of `token`.
    pub fn sync(&self, token: &str, reply: Reply) {
        let mut s = lock(&self.state);
        s.syncs
            .entry(token.to_string())
            .or_default()
            .push_back(reply);
        self.synced.notify_waiters();
    }

    /// A user registered before the run (its registration is `M_USER_IN_USE`).
    pub fn existing_user(&self, localpart: &str) {
        lock(&self.state).users.insert(localpart.to_string());
    }

    /// Every request so far, in arrival order.
    pub fn reqs(&self) -> Vec<Req> {
        lock(&self.state).reqs.clone()
    }

    /// The requests of `method` whose path contains `path`.
    pub fn reqs_to(&self, method: &str, path: &str) -> Vec<Req> {
        self.reqs()
            .into_iter()
            .filter(|r| r.method == method && r.path.contains(path))
            .collect()
    }

    /// The most sends the fake ever had in flight at once.
    pub fn max_sends_in_flight(&self) -> usize {
        lock(&self.state).max_sends_in_flight
    }

    fn next_id(&self, prefix: &str) -> String {
        let mut s = lock(&self.state);
        s.counter += 1;
        format!("{prefix}{}:{SERVER}", s.counter)
    }
}

/// The token a registered or logged-in user gets.
pub(super) fn token_of(localpart: &str) -> String {
    format!("tok-{localpart}")
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = Req {
        method: method.to_string(),
        path: percent_decode(uri.path()),
        query: uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect(),
        token: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let reply = {
        let mut s = lock(&fake.state);
        s.reqs.push(req.clone());
        let at = s
            .overrides
            .iter()
            .position(|o| o.method == req.method && req.path.contains(&o.path));
        at.map(|i| s.overrides.remove(i).reply)
    };
    if req.path.ends_with("/sync") && reply.is_none() {
        return sync(&fake, &req).await;
    }
    let is_send = req.path.contains("/send/");
    if is_send {
        let mut s = lock(&fake.state);
        s.sends_in_flight += 1;
        s.max_sends_in_flight = s.max_sends_in_flight.max(s.sends_in_flight);
    }
    let resp = render(&fake, &req, reply.unwrap_or(Reply::Default)).await;
    if is_send {
        lock(&fake.state).sends_in_flight -= 1;
    }
    resp
}

/// A reply as an HTTP response (delays waited out here).
async fn render(fake: &Fake, req: &Req, mut reply: Reply) -> Response {
    loop {
        match reply {
            Reply::Delay(d, r) => {
                tokio::time::sleep(d).await;
                reply = *r;
            }
            Reply::Default => reply = default_answer(fake, req),
            Reply::Json(status, v) => return respond(status, Body::from(v.to_string())),
            Reply::Raw(status, text) => return respond(status, Body::from(text)),
            Reply::Reset => {
                let broken = futures_util::stream::once(async {
                    Err::<Bytes, std::io::Error>(std::io::Error::other("fake reset"))
                });
                return respond(200, Body::from_stream(broken));
            }
        }
    }
}

fn respond(status: u16, body: Body) -> Response {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// `/sync`: the token's next scripted answer; none queued: at once for `timeout=0`, else
/// after waiting up to the timeout for one. Nothing is held while waiting, so two
/// connections of one user (a reconnect) poll side by side, and a poll the client gave up
/// on takes nothing with it.
async fn sync(fake: &Fake, req: &Req) -> Response {
    let token = req.token.clone().unwrap_or_default();
    let wait: u64 = req
        .query("timeout")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(wait.min(30_000));
    let next = loop {
        // Registered before the queue is looked at, so a reply queued in between wakes it.
        let woken = fake.synced.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let queued = lock(&fake.state)
            .syncs
            .get_mut(&token)
            .and_then(VecDeque::pop_front);
        if queued.is_some() || wait == 0 {
            break queued;
        }
        if tokio::time::timeout_at(deadline, woken).await.is_err() {
            break None;
        }
    };
    let empty = json!({"next_batch": req.query("since").unwrap_or("b0")});
    render(fake, req, next.unwrap_or(Reply::Json(200, empty))).await
}

fn m_error(status: u16, code: &str) -> Reply {
    Reply::Json(status, json!({"errcode": code, "error": code}))
}

/// What a well-behaved homeserver would answer `req`.
fn default_answer(fake: &Fake, req: &Req) -> Reply {
    let p = req.path.as_str();
    let ok = |v: Value| Reply::Json(200, v);
    match (req.method.as_str(), p) {
        ("GET", "/_matrix/client/versions") => ok(json!({"versions": ["v1.11"]})),
        ("GET", "/_synapse/admin/v1/register") => {
            let nonce = fake.next_id("nonce");
            lock(&fake.state).nonces.insert(nonce.clone());
            ok(json!({ "nonce": nonce }))
        }
        ("POST", "/_synapse/admin/v1/register") => register(fake, &req.body),
        ("POST", "/_matrix/client/v3/login") => {
            let user = req.body["identifier"]["user"].as_str().unwrap_or("");
            if !lock(&fake.state).users.contains(user) {
                return m_error(403, "M_FORBIDDEN");
            }
            ok(
                json!({"user_id": format!("@{user}:{SERVER}"), "access_token": token_of(user),
                "device_id": "DEV"}),
            )
        }
        ("POST", "/_matrix/client/v3/createRoom") => ok(json!({"room_id": fake.next_id("!r")})),
        ("POST", _) if p.starts_with("/_matrix/client/v3/join/") => {
            ok(json!({"room_id": p.trim_start_matches("/_matrix/client/v3/join/")}))
        }
        ("PUT", _) if p.contains("/send/m.room.message/") => {
            let txn = p.rsplit('/').next().unwrap_or("").to_string();
            let key = (req.token.clone().unwrap_or_default(), txn);
            let known = lock(&fake.state).txns.get(&key).cloned();
            let event = known.unwrap_or_else(|| fake.next_id("$e"));
            lock(&fake.state).txns.insert(key, event.clone());
            ok(json!({ "event_id": event }))
        }
        ("GET", _) if p.ends_with("/messages") => ok(json!({"chunk": [], "start": "t0"})),
        ("POST", _) if p.starts_with("/_matrix/client/v3/rooms/") => ok(json!({})),
        _ => m_error(404, "M_UNRECOGNIZED"),
    }
}

/// Synapse's shared-secret registration, MAC checked independently of the adapter's code.
fn register(fake: &Fake, body: &Value) -> Reply {
    let field = |k: &str| body[k].as_str().unwrap_or("").to_string();
    let (nonce, user, pw) = (field("nonce"), field("username"), field("password"));
    let admin = if body["admin"] == json!(true) {
        "admin"
    } else {
        "notadmin"
    };
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{nonce}\0{user}\0{pw}\0{admin}").as_bytes());
    let want = hex::encode(mac.finalize().into_bytes());
    let mut s = lock(&fake.state);
    if !s.nonces.remove(&nonce) {
        return m_error(400, "M_UNKNOWN"); // "unrecognised nonce", as Synapse says it
    }
    if field("mac") != want {
        return m_error(403, "M_FORBIDDEN");
    }
    if !s.users.insert(user.clone()) {
        return m_error(400, "M_USER_IN_USE");
    }
    Reply::Json(
        200,
        json!({"user_id": format!("@{user}:{SERVER}"), "access_token": token_of(&user),
            "device_id": "DEV"}),
    )
}

/// A `/sync` body with one joined room's timeline and ephemeral events.
pub(super) fn sync_body(
    next: &str,
    room: &str,
    timeline: Vec<Value>,
    ephemeral: Vec<Value>,
) -> Value {
    json!({
        "next_batch": next,
        "rooms": {"join": {room: {
            "timeline": {"events": timeline, "limited": false},
            "ephemeral": {"events": ephemeral},
        }}}
    })
}

pub(super) fn message(event_id: &str, sender: &str, ts: u64, need: bool) -> Value {
    json!({"type": "m.room.message", "event_id": event_id, "sender": sender,
        "origin_server_ts": ts,
        "content": {"msgtype": "m.text", "body": "hi", "readsim.need_read_receipt": need}})
}

pub(super) fn membership(user: &str, membership: &str) -> Value {
    json!({"type": "m.room.member", "event_id": format!("$m-{user}-{membership}"),
        "sender": user, "state_key": user, "origin_server_ts": 1,
        "content": {"membership": membership}})
}

pub(super) fn receipt(event_id: &str, user: &str) -> Value {
    json!({"type": "m.receipt", "content": {event_id: {"m.read": {user: {"ts": 1}}}}})
}
