//! The reference server (`readsim serve`): the wire protocol of `docs/protocol.md` over
//! axum, an independent implementation of SEMANTICS.md over SQLite, group commit by a single
//! writer thread, push fan-out with bounded per-connection queues.
//!
//! Library layout in the mini-redis style: the binary only parses flags, binds and prints;
//! [`run`] serves a bound listener until `shutdown` resolves, so tests bind port 0.
//!
//! Shutdown order: stop accepting; every socket stops reading, gets the answers to what it
//! already sent, a `closing` push and a close frame; the writer commits what is queued,
//! checkpoints the WAL and stops.

// Layout: `http` (admin API) and `ws` (client sockets) turn requests into writer jobs and
// share only `respond`; `writer` runs the group-commit loop over `semantics` (the rules),
// `store` (all SQL) and `registry` (open connections); `framing` makes the frames.
mod auth;
mod checkpointer;
mod commit_stats;
mod framing;
mod gate;
mod http;
mod planted;
mod registry;
mod respond;
mod semantics;
mod store;
mod writer;
mod ws;

pub use auth::{TokenError, mint_token, mint_token_gen, unix_now, verify_token};
pub use gate::REFUSE_SLOTS;
#[cfg(feature = "planted-bugs")]
pub use planted::ServerBug;
pub use store::Store;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use planted::Planted;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Frames a connection may have queued before it counts as a slow consumer and is closed.
pub const DEFAULT_SEND_QUEUE: usize = 1024;
/// Most jobs applied in one transaction.
pub const DEFAULT_MAX_BATCH: usize = 4096;
/// Largest WebSocket message the server reads at all; beyond `wire::MAX_FRAME_BYTES` and up
/// to this it answers `FRAME_TOO_LARGE` and keeps the connection, beyond this it closes it.
pub const HARD_FRAME_LIMIT: usize = 1024 * 1024;
/// Largest body of an admin request other than `/v1/admin/batch` (which may be
/// `wire::MAX_ADMIN_BODY_BYTES`): one user, group or token request is far smaller.
pub const MAX_ADMIN_SMALL_BODY: usize = 64 * 1024;
/// Descriptors kept free under the open-file limit when `max_connections` is derived from it:
/// the database and its WAL, the listener, and the answers to sockets over the limit.
pub const FD_RESERVE: usize = 64 + gate::REFUSE_SLOTS;
/// Default `max_token_ttl_secs`: 31 days, so the harness's tokens for its longest scenario
/// (30 days, plus an hour of slack) still fit.
pub const DEFAULT_MAX_TOKEN_TTL_SECS: u64 = 31 * 24 * 3600;

/// Credentials and tuning of a server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The admin credential (`Authorization: Bearer <admin_token>` on `/v1/admin/...`).
    pub admin_token: String,
    /// The HMAC-SHA256 key client tokens are signed with.
    pub secret: Vec<u8>,
    /// Per-connection send queue, in frames (default 1024).
    pub send_queue: usize,
    /// Most operations per transaction (default 4096).
    pub max_batch: usize,
    /// Open TCP connections (HTTP and WebSocket) at most; a socket over it gets HTTP 503, or
    /// its `/v1/health` answer. 0 (the default): [`default_max_connections`] at start.
    pub max_connections: usize,
    /// Time from connect to a complete first request head (default 10 s).
    pub header_timeout: Duration,
    /// Time an HTTP connection may wait between requests (default 60 s).
    pub idle_timeout: Duration,
    /// Time an admin request body may take to arrive, once its head did (default 30 s).
    pub body_timeout: Duration,
    /// How often the server pings each WebSocket (default 30 s).
    pub ws_ping_interval: Duration,
    /// A WebSocket from which nothing (frame, ping or pong) arrived for this long is closed
    /// with code 4000 (default 75 s: two missed pings and some slack).
    pub ws_idle_timeout: Duration,
    /// Longest token the admin API issues, in seconds (default 31 days); longer `ttl_secs`
    /// is `BAD_REQUEST`.
    pub max_token_ttl_secs: u64,
    /// Tests only (feature `planted-bugs`, see `planted.rs`): plants a bug so the
    /// model-vs-server test can prove it catches it.
    #[cfg(feature = "planted-bugs")]
    pub planted_bug: Option<ServerBug>,
}

impl ServerConfig {
    pub fn new(admin_token: String, secret: Vec<u8>) -> ServerConfig {
        ServerConfig {
            admin_token,
            secret,
            send_queue: DEFAULT_SEND_QUEUE,
            max_batch: DEFAULT_MAX_BATCH,
            max_connections: 0,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            ws_ping_interval: Duration::from_secs(30),
            ws_idle_timeout: Duration::from_secs(75),
            max_token_ttl_secs: DEFAULT_MAX_TOKEN_TTL_SECS,
            #[cfg(feature = "planted-bugs")]
            planted_bug: None,
        }
    }

    /// Fresh random credentials (32-byte secret, 128-bit admin token).
    pub fn random() -> ServerConfig {
        let mut secret = vec![0u8; 32];
        rand::fill(&mut secret[..]);
        ServerConfig::new(random_hex(16), secret)
    }
}

/// Raises the soft open-file limit to the hard one, then returns it minus [`FD_RESERVE`] (at
/// least 16): connections are refused before `accept` itself would fail for want of
/// descriptors.
pub fn default_max_connections() -> usize {
    let soft = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024);
    let soft = usize::try_from(soft).unwrap_or(usize::MAX);
    soft.saturating_sub(FD_RESERVE).max(16)
}

/// `n` random bytes as lowercase hex.
pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("store: {0}")]
    Store(String),
}

/// What the request handlers share.
pub(crate) struct App {
    pub cfg: ServerConfig,
    pub jobs: mpsc::Sender<writer::Job>,
    /// True once shutdown started: sockets stop reading and close.
    pub stop: watch::Receiver<bool>,
    pub next_conn: AtomicU64,
    /// Open client connections (as the writer last counted them).
    pub online: Arc<AtomicUsize>,
    /// Dropped with the last `App`: `run` waits for that before stopping the writer.
    _alive: mpsc::Sender<()>,
}

/// Serves `listener` until `shutdown` resolves, then shuts down gracefully (see the module
/// docs). Errors: the store could not be loaded, or serving failed.
pub async fn run(
    listener: TcpListener,
    store: Store,
    cfg: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let online = Arc::new(AtomicUsize::new(0));
    let bugs = Planted::from_config(&cfg);
    let writer = writer::Writer::new(store, cfg.max_batch, Arc::clone(&online), bugs)?;
    let (jobs, rx) = mpsc::channel(65_536);
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("readsim-writer".into())
        .spawn(move || {
            writer.run(rx);
            let _ = done_tx.send(());
        })?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let app = Arc::new(App {
        cfg,
        jobs: jobs.clone(),
        stop: stop_rx,
        next_conn: AtomicU64::new(1),
        online,
        _alive: alive_tx,
    });
    let max_connections = match app.cfg.max_connections {
        0 => default_max_connections(),
        n => n,
    };
    let gate_cfg = gate::GateConfig {
        max_connections,
        header_timeout: app.cfg.header_timeout,
        online: Arc::clone(&app.online),
    };
    let router = router(app);
    let listener = gate::Gate::new(listener, gate_cfg);
    let service = router.into_make_service_with_connect_info::<gate::ConnWatch>();
    let served = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        })
        .await;
    // Sockets are closing on their own; give them a bounded time to drain.
    let _ = tokio::time::timeout(Duration::from_secs(10), alive_rx.recv()).await;
    let _ = jobs.send(writer::Job::Shutdown).await;
    drop(jobs);
    let _ = done_rx.await;
    served?;
    Ok(())
}

/// Every route. Built here so `http` and `ws` need not know each other.
fn router(app: Arc<App>) -> Router {
    let idle = app.cfg.idle_timeout;
    http::routes(Arc::clone(&app))
        .route("/v1/ws", get(ws::upgrade))
        // The admin gate reads bodies itself, within its own limits.
        .layer(DefaultBodyLimit::max(crate::wire::MAX_ADMIN_BODY_BYTES))
        .layer(axum::middleware::from_fn(gate::tracker(idle)))
        .with_state(app)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
