//! The Matrix backend: readsim's operations on a Matrix homeserver (client-server API v3),
//! as docs/matrix.md maps them. `--target synapse` starts a Synapse of its own
//! (`src/matrix/synapse.rs`); `--target matrix://HOST:PORT` with `--registration-secret`
//! drives a homeserver that is already up. Users come from shared-secret registration; a
//! group is a private room made by the provisioning user `@readsim-admin` (who stays in it to
//! invite and kick, and whom every view leaves out); a 1:1 chat is a room of two made on its
//! first use. Each client holds a `/sync` long poll ([`conn`]); its operations are mapped in
//! [`ops`]; counts, lists and `receipts` pushes are derived from what its sync shows
//! (`src/matrix/view`).

mod conn;
#[cfg(test)]
mod fake;
mod ops;
mod provision;
mod state;
#[cfg(test)]
mod tests;

use super::{AdminSendError, Backend, ChildTarget, Conn, ConnSpec, Credential, Kind, Name, Opened};
use crate::live::{LiveError, LiveOptions};
use crate::matrix::client::{MatrixClient, user_http_client};
use crate::matrix::names::Names;
use crate::matrix::synapse::{Synapse, find_venv};
use crate::protocol::{AdminRequest, Profile, Response, UserId};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use state::{Shared, lock};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `--target synapse`: start a Synapse from the venv (`--synapse-venv`,
/// `READSIM_SYNAPSE_VENV`, or `~/.cache/readsim/synapse-venv`).
pub const SYNAPSE: Kind = Kind {
    name: Name::Word("synapse"),
    usage: "synapse",
    open: start_synapse,
};

/// `--target matrix://HOST:PORT`: a homeserver that is up; needs `--registration-secret`.
pub const AT_URL: Kind = Kind {
    name: Name::Scheme("matrix://"),
    usage: "matrix://HOST:PORT",
    open: at_url,
};

/// The provisioning user's localpart.
const ADMIN_USER: &str = "readsim-admin";

fn start_synapse(_target: &str, opts: &LiveOptions) -> Result<Opened, LiveError> {
    let (venv, _version) =
        find_venv(opts.synapse_venv.clone()).map_err(|e| LiveError::Usage(e.to_string()))?;
    let hs = Synapse::start(&venv, &opts.log_dir).map_err(|e| LiveError::Server(e.to_string()))?;
    let addr = format!("127.0.0.1:{}", hs.port);
    let backend = MatrixBackend::new(addr, hs.shared_secret.clone(), &hs.server_name);
    let child: Box<dyn ChildTarget> = Box::new(SynapseChild {
        log: hs.log_path(),
        hs,
    });
    Ok(Opened {
        backend: Arc::new(backend),
        child: Some(Arc::new(Mutex::new(child))),
    })
}

fn at_url(target: &str, opts: &LiveOptions) -> Result<Opened, LiveError> {
    let secret = opts.registration_secret.clone().ok_or_else(|| {
        LiveError::Usage(format!(
            "--target {target} needs --registration-secret (the homeserver's \
             registration_shared_secret)"
        ))
    })?;
    let rest = target.trim_start_matches("matrix://");
    let (addr, server) = match rest.split_once('/') {
        Some((a, s)) if !s.is_empty() => (a.to_string(), s.to_string()),
        _ => (rest.to_string(), "localhost".to_string()),
    };
    Ok(Opened {
        backend: Arc::new(MatrixBackend::new(addr, secret, &server)),
        child: None,
    })
}

/// The spawned Synapse as the run's child target (kill and restart for crash faults).
struct SynapseChild {
    hs: Synapse,
    log: PathBuf,
}

impl ChildTarget for SynapseChild {
    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.hs.port)
    }
    fn kill(&mut self) {
        self.hs.kill()
    }
    fn restart(&mut self) -> Result<bool, LiveError> {
        self.hs
            .restart()
            .map_err(|e| LiveError::Server(e.to_string()))
    }
    fn stop(&mut self) {
        self.hs.stop()
    }
    fn log(&self) -> &Path {
        &self.log
    }
}

/// A Matrix homeserver at `HOST:PORT`.
pub struct MatrixBackend {
    base: Mutex<String>,
    secret: String,
    shared: Arc<Shared>,
    /// The provisioning user's access token (after `provision`).
    admin: Mutex<Option<String>>,
}

impl MatrixBackend {
    pub fn new(addr: String, secret: String, server_name: &str) -> MatrixBackend {
        MatrixBackend {
            base: Mutex::new(addr),
            secret,
            shared: Arc::new(Shared::new(Names::new(server_name))),
            admin: Mutex::new(None),
        }
    }

    fn base_url(&self) -> String {
        format!("http://{}", lock(&self.base))
    }

    /// A client of the homeserver acting as nobody (registration) or as `token`.
    fn client(&self, token: Option<String>) -> Result<MatrixClient, LiveError> {
        let http = user_http_client().map_err(|e| LiveError::Admin(e.to_string()))?;
        let c = MatrixClient::new(http, &self.base_url(), "")
            .map_err(|e| LiveError::Admin(e.to_string()))?
            .with_timeout(Duration::from_secs(60));
        Ok(match token {
            Some(t) => c.with_token(t),
            None => c,
        })
    }

    fn admin_client(&self) -> Result<MatrixClient, LiveError> {
        let token = lock(&self.admin)
            .clone()
            .ok_or_else(|| LiveError::Admin("the provisioning user is not logged in yet".into()))?;
        self.client(Some(token))
    }

    async fn healthy(&self, within: Duration) -> Result<(), LiveError> {
        let url = format!("{}/_matrix/client/versions", self.base_url());
        let http = user_http_client().map_err(|e| LiveError::Admin(e.to_string()))?;
        let every = Duration::from_millis(100);
        super::poll_healthy(&http, &url, within, every, "the homeserver").await
    }

    async fn credential_of(&self, user: UserId) -> Result<Credential, LiveError> {
        self.shared.token(user).map(Credential).ok_or_else(|| {
            LiveError::Admin(format!(
                "u{} has no access token: it was not provisioned by this run",
                user.0
            ))
        })
    }
}

impl Backend for MatrixBackend {
    fn wait_healthy(&self, within: Duration) -> BoxFuture<'_, Result<(), LiveError>> {
        self.healthy(within).boxed()
    }

    fn provision<'a>(
        &'a self,
        reqs: &'a [AdminRequest],
    ) -> BoxFuture<'a, Result<Vec<Response>, LiveError>> {
        self.provision_all(reqs).boxed()
    }

    fn credential(
        &self,
        user: UserId,
        _ttl: Duration,
    ) -> BoxFuture<'_, Result<Credential, LiveError>> {
        self.credential_of(user).boxed()
    }

    fn connect<'a>(
        &'a self,
        cred: &'a Credential,
        spec: ConnSpec,
    ) -> BoxFuture<'a, Result<Conn, LiveError>> {
        let base = self.base_url();
        conn::open(self.shared.clone(), base, cred.0.clone(), spec).boxed()
    }

    fn apply_one<'a>(
        &'a self,
        req: &'a AdminRequest,
    ) -> BoxFuture<'a, Result<Response, AdminSendError>> {
        self.churn(req).boxed()
    }

    fn client_addr(&self) -> String {
        lock(&self.base).clone()
    }

    fn repoint(&self, addr: &str) {
        *lock(&self.base) = addr.to_string();
    }

    fn notes(&self) -> Vec<String> {
        NOTES.iter().map(|n| n.to_string()).collect()
    }

    fn native_profile(&self) -> Profile {
        Profile::Matrix
    }
}

/// Which hops a Matrix homeserver answers and which the adapter derives (docs/matrix.md, "The
/// mapping"), for every report of a Matrix run.
const NOTES: &[&str] = &[
    "Matrix homeserver (docs/matrix.md): send_ack, receipt_ack, mark_read_ack and \
     history_pull are the homeserver's answers; the send's seq is the adapter's (sends are \
     serialised per room, Matrix answers a send with an event id only) and its timestamp_ms \
     the adapter's clock",
    "receipt_pull and member_list_page are derived by the adapter from the sender's /sync \
     view (joined members and m.receipt events), after a /sync that does not wait: Matrix has \
     no receipt-count or member-list call",
    "delivery_push is a timeline event reaching the member's /sync long poll; \
     receipt_to_notified is an m.receipt event reaching the sender's /sync and the adapter \
     deriving the counts of the messages it newly covers (MX7)",
];
