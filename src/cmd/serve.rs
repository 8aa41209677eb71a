//! `readsim serve`: the reference server on a listening address, until SIGINT or SIGTERM.

use super::{Classify, ExitStatus};
use crate::server::{self, ServerConfig, ServerError, Store};
use std::io::Write;
use std::path::PathBuf;

/// What `readsim serve` was asked to do.
pub struct ServeOptions {
    pub listen: String,
    /// SQLite file; None keeps everything in memory.
    pub db: Option<PathBuf>,
    /// Token signing secret, hex (random if None).
    pub secret: Option<String>,
    pub admin_token: Option<String>,
    pub limits: Limits,
}

/// The server's self-protection knobs (see `ServerConfig`).
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    pub ws_ping_interval: std::time::Duration,
    pub ws_idle_timeout: std::time::Duration,
    pub max_token_ttl_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("--secret must be hex ({0}); give an even number of 0-9a-f digits")]
    Secret(hex::FromHexError),
    #[error("cannot listen on {addr}: {source}; choose a free address (port 0 picks one)")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[cfg(feature = "planted-bugs")]
    #[error(
        "{PLANTED_BUG_VAR}={0:?} names no planted server bug; known: {known}",
        known = planted_bug_names()
    )]
    PlantedBug(String),
}

/// The environment variable a test build of `readsim serve` takes a planted bug from
/// (src/server/planted.rs).
#[cfg(feature = "planted-bugs")]
pub const PLANTED_BUG_VAR: &str = "READSIM_PLANTED_SERVER_BUG";

#[cfg(feature = "planted-bugs")]
fn planted_bug_names() -> String {
    let names: Vec<&str> = server::ServerBug::ALL.iter().map(|b| b.name()).collect();
    names.join(", ")
}

/// The bug `READSIM_PLANTED_SERVER_BUG` names, if set (and not empty).
#[cfg(feature = "planted-bugs")]
fn planted_bug_from_env() -> Result<Option<server::ServerBug>, ServeError> {
    let Some(name) = std::env::var_os(PLANTED_BUG_VAR) else {
        return Ok(None);
    };
    let name = name.to_string_lossy();
    let name = name.trim();
    if name.is_empty() {
        return Ok(None);
    }
    server::ServerBug::from_name(name)
        .map(Some)
        .ok_or_else(|| ServeError::PlantedBug(name.to_owned()))
}

impl Classify for ServeError {
    fn exit_status(&self) -> ExitStatus {
        match self {
            ServeError::Secret(_) => ExitStatus::BadInput,
            #[cfg(feature = "planted-bugs")]
            ServeError::PlantedBug(_) => ExitStatus::BadInput,
            _ => ExitStatus::HarnessFailed,
        }
    }
}

/// Serves until a signal; the first stdout line names the address and credentials.
pub fn execute(o: ServeOptions) -> Result<ExitStatus, ServeError> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a run's server.log is read as plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_max_level(tracing::Level::INFO)
        .init();
    let mut cfg = ServerConfig::random();
    let secret_note = match o.secret {
        Some(h) => {
            cfg.secret = hex::decode(h.trim()).map_err(ServeError::Secret)?;
            String::new()
        }
        None => format!(" secret={}", hex::encode(&cfg.secret)),
    };
    if let Some(t) = o.admin_token {
        cfg.admin_token = t;
    }
    let l = o.limits;
    cfg.max_connections = l.max_connections;
    cfg.header_timeout = l.header_timeout;
    cfg.idle_timeout = l.idle_timeout;
    cfg.body_timeout = l.body_timeout;
    cfg.ws_ping_interval = l.ws_ping_interval;
    cfg.ws_idle_timeout = l.ws_idle_timeout;
    cfg.max_token_ttl_secs = l.max_token_ttl_secs;
    #[cfg(feature = "planted-bugs")]
    if let Some(bug) = planted_bug_from_env()? {
        cfg.planted_bug = Some(bug);
        eprintln!(
            "readsim serve: planted server bug {} ({PLANTED_BUG_VAR}): wrong on purpose",
            bug.name()
        );
    }
    let store = match &o.db {
        Some(p) => Store::open(p)?,
        None => Store::in_memory()?,
    };
    let rt = tokio::runtime::Runtime::new().map_err(ServeError::Runtime)?;
    rt.block_on(async move {
        let listen_err = |source| ServeError::Listen {
            addr: o.listen.clone(),
            source,
        };
        let listener = tokio::net::TcpListener::bind(&o.listen)
            .await
            .map_err(listen_err)?;
        let addr = listener.local_addr().map_err(listen_err)?;
        let mut out = std::io::stdout();
        // The parent process reads this line to learn the address; if it cannot be written
        // the server still serves.
        let _ = writeln!(
            out,
            "readsim serve listening on {addr} admin_token={}{secret_note}",
            cfg.admin_token
        )
        .and_then(|_| out.flush());
        server::run(listener, store, cfg, server::shutdown_signal()).await?;
        Ok(ExitStatus::Pass)
    })
}
