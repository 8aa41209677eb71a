//! The seam between the live driver and what it drives. Everything protocol-specific the
//! driver does goes through a [`Backend`] (health, provisioning, client credentials, client
//! connections, churn admin calls, following a restarted server), and the process a run
//! starts and may crash-restart is a [`ChildTarget`]. The scheduler, workload, faults,
//! checker and reports never see a wire: between the scheduler and a backend the vocabulary
//! is readsim's operations in string-id form ([`ClientFrame`] out, [`Incoming`] in, see
//! `src/wire` and `inbound.rs`). The readsim WebSocket backend passes them through as JSON;
//! other backends translate them.
//!
//! Adding a backend: one file here implementing [`Backend`] (and [`ChildTarget`] if the run
//! starts the server), and one row in [`KINDS`] (docs/architecture.md, "Adding a backend").

pub mod matrix;
pub mod readsim;

use super::LiveError;
use super::LiveOptions;
use super::inbound::Inbound;
use super::proxy::ClientRoute;
use crate::driver::ConnNo;
use crate::history::Device;
use crate::protocol::{AdminRequest, Profile, Response, UserId};
use crate::wire::ClientFrame;
use futures_util::future::BoxFuture;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// A client's credential, opaque to the driver: minted once per online user at setup and
/// reused for every reconnect (so it must survive a restart of the target). readsim: a client
/// token from `/v1/admin/tokens`; Matrix: an access token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential(pub String);

/// A credential is a secret: debug output names the type only.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credential(..)")
    }
}

/// Which connection a backend opens, and where its traffic goes.
#[derive(Clone, Debug)]
pub struct ConnSpec {
    pub client: UserId,
    /// Which of `client`'s devices this connection is (`[population] devices`; 0 when the
    /// user holds one); every [`Inbound`] of the connection carries it.
    pub device: Device,
    /// The scheduler's number of this connection of `client` (0 = the first); every
    /// [`Inbound`] of the connection carries it, so the scheduler can ignore stale ones.
    pub conn: ConnNo,
    /// Where the connection's frames, its close, and (with `announce`) its sender go.
    pub inbound: UnboundedSender<Inbound>,
    /// Send [`Inbound::Connected`] (with a clone of [`Conn::tx`]) before any frame: set for
    /// reconnects, where the scheduler learns of the connection only this way.
    pub announce: bool,
    /// Through the fault proxy (every TCP connection of the client must name it, see
    /// [`ClientRoute`]), or None: straight to the target.
    pub route: Option<ClientRoute>,
}

/// One open client connection (however many sockets it uses).
pub struct Conn {
    /// Operations to send, in order. Dropping every clone of it must end the connection:
    /// its tasks finish and its sockets close.
    pub tx: UnboundedSender<ClientFrame>,
    /// The connection's tasks (aborted when the run ends).
    pub tasks: Vec<JoinHandle<()>>,
}

/// Why one churn admin operation failed: `sent` says whether it may have reached the server
/// (a refused connection did not, and is retried while a crashed server restarts; a reset
/// after sending might have, and is not retried).
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct AdminSendError {
    pub sent: bool,
    pub detail: String,
}

/// What the live driver needs from a target, whatever its protocol. Object-safe: the run
/// holds an `Arc<dyn Backend>` shared by setup and the fault tasks.
pub trait Backend: Send + Sync {
    /// Polls the target until it answers as healthy; Err after `within`, saying what was
    /// seen last and what to check.
    fn wait_healthy(&self, within: Duration) -> BoxFuture<'_, Result<(), LiveError>>;

    /// Applies `reqs` (creations only: users, groups, members, receipt configuration) in
    /// order; exactly one [`Response`] per request, in the same order: `AdminDone`, or
    /// `Error { code }` with readsim's code for what went wrong. "Already exists" is
    /// `USER_EXISTS` / `GROUP_EXISTS` for a user or group the target holds from before this
    /// run; the driver refuses to run on such a target (the history would not be its own), so
    /// a backend must map its own "exists" answers (Matrix: `M_USER_IN_USE`, a taken room
    /// alias) to those codes. Err: the provisioning as a whole could not be done.
    fn provision<'a>(
        &'a self,
        reqs: &'a [AdminRequest],
    ) -> BoxFuture<'a, Result<Vec<Response>, LiveError>>;

    /// Mints (or logs in for) a credential of `user`, valid at least `ttl`.
    fn credential(
        &self,
        user: UserId,
        ttl: Duration,
    ) -> BoxFuture<'_, Result<Credential, LiveError>>;

    /// Opens `spec.client`'s connection as the holder of `cred` and returns once it is
    /// ready for operations (readsim: the `hello` push arrived). From then on its tasks send
    /// the [`Conn::tx`] frames and deliver `Inbound::Frame` for every response and push (in
    /// arrival order, timestamped when taken off the wire) and one `Inbound::Closed` when the
    /// connection ends other than by dropping `tx`. Err: this attempt failed (the fault side
    /// retries with backoff).
    fn connect<'a>(
        &'a self,
        cred: &'a Credential,
        spec: ConnSpec,
    ) -> BoxFuture<'a, Result<Conn, LiveError>>;

    /// Applies one churn admin operation (a membership change); `AdminSendError::sent`
    /// must be false only when nothing can have reached the target.
    fn apply_one<'a>(
        &'a self,
        req: &'a AdminRequest,
    ) -> BoxFuture<'a, Result<Response, AdminSendError>>;

    /// `HOST:PORT` client connections go to (the fault proxy's upstream).
    fn client_addr(&self) -> String;

    /// The target was restarted on `addr` (`HOST:PORT`): admin calls and direct
    /// connections go there from now on.
    fn repoint(&self, addr: &str);

    /// What the reports should say about this backend's figures: which hops the target
    /// answers itself and which the backend derives from what it was sent, and anything it
    /// counted that the history does not show. Empty when every answer is the target's.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The semantics profile this backend's servers implement (readsim's protocol: the
    /// Tencent-style rules of docs/semantics.md).
    fn native_profile(&self) -> Profile {
        Profile::Tencent
    }

    /// How many connections of one user at once (`[population] devices`) the backend can
    /// hold apart: 1 unless it says more (its per-client state must then be per connection).
    fn max_devices(&self) -> u8 {
        1
    }
}

/// Polls `GET url` every `every` until it answers 2xx or `within` has passed; the error names
/// the URL, the last answer seen and `what` to check. Every backend's `wait_healthy`.
pub async fn poll_healthy(
    http: &reqwest::Client,
    url: &str,
    within: Duration,
    every: Duration,
    what: &str,
) -> Result<(), LiveError> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let last = match http.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => format!("status {}", r.status()),
            Err(e) => e.to_string(),
        };
        if std::time::Instant::now() >= deadline {
            return Err(LiveError::Admin(format!(
                "{url} did not become healthy within {within:?} (last: {last}); is {what} up?"
            )));
        }
        tokio::time::sleep(every).await;
    }
}

/// A target process the run starts, may crash (SIGKILL) and restart, and stops at the end.
/// Its methods block (they run on `spawn_blocking` in the fault tasks).
pub trait ChildTarget: Send {
    /// `HOST:PORT` it listens on now.
    fn addr(&self) -> String;
    /// Kills it at once (no graceful shutdown) and waits for it; its data stays.
    fn kill(&mut self);
    /// Starts it again on the same data with the same credentials (credentials minted
    /// before stay valid), on the same address if it can be bound again, else on a fresh
    /// port. Returns whether the address changed (then [`Backend::repoint`] follows it).
    fn restart(&mut self) -> Result<bool, LiveError>;
    /// Stops it gracefully (forcefully after a bound) and removes its data.
    fn stop(&mut self);
    /// Its log, kept in the run's out dir; kills and restarts are noted in it.
    fn log(&self) -> &Path;
}

/// The child process of a run, shared by the fault tasks and the run's end.
pub type SharedChild = Arc<Mutex<Box<dyn ChildTarget>>>;

/// A target ready for setup.
pub struct Opened {
    pub backend: Arc<dyn Backend>,
    /// The process this run started, or None (someone else's server: crashes are skipped).
    pub child: Option<SharedChild>,
}

/// How `--target` names a kind of backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name {
    /// Exactly this word: the run starts the target (`server`).
    Word(&'static str),
    /// A URL with this scheme prefix: a target that is already up (`ws://`).
    Scheme(&'static str),
}

/// One kind of target: how `--target` names it and how a run opens it.
pub struct Kind {
    pub name: Name,
    /// How usage errors spell it (`ws://HOST:PORT`).
    pub usage: &'static str,
    /// Starts or reaches the target; `target` is the `--target` value (trailing `/` trimmed).
    pub open: fn(target: &str, opts: &LiveOptions) -> Result<Opened, LiveError>,
}

/// Every backend `--target` can select, in the order usage errors list them. Adding a
/// backend is one row here.
pub static KINDS: &[Kind] = &[
    readsim::CHILD,
    readsim::AT_URL,
    matrix::SYNAPSE,
    matrix::AT_URL,
];

impl Kind {
    /// Whether `--target arg` names this kind.
    pub fn takes(&self, arg: &str) -> bool {
        match self.name {
            Name::Word(w) => arg == w,
            Name::Scheme(s) => arg.starts_with(s),
        }
    }
}

/// The `--target` values [`KINDS`] take, for usage errors: "`server` or `ws://HOST:PORT`".
pub fn usage() -> String {
    let names: Vec<String> = KINDS.iter().map(|k| format!("`{}`", k.usage)).collect();
    match names.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}
