//! Fault execution for live runs: [`LiveLinks`] carries out the fault plan's cuts, stalls
//! and crashes on the real clock through the fault proxy and the child target, and
//! reconnects clients and applies churn through the [`Backend`] (results go back to the
//! scheduler on its inbound channel). Nothing here knows the target's protocol.

use super::LiveError;
use super::adapter::{Backend, ConnSpec, Credential, SharedChild};
use super::inbound::Inbound;
use super::inject::FaultLinks;
use super::proxy::{ClientRoute, DelayFault, Proxy};
use crate::driver::ConnNo;
use crate::history::Device;
use crate::protocol::{AdminRequest, Micros, UserId};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Connection attempts per reconnect: 100 ms doubling to 2 s, about 45 s in all, which
/// outlasts a server restart with room to spare.
const RECONNECT_ATTEMPTS: u32 = 25;
const BACKOFF_FIRST: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Attempts of one churn admin operation while the server is down (not sent each time).
const ADMIN_ATTEMPTS: u32 = 120;

/// Carries out faults against a live target.
pub struct LiveLinks {
    pub inbound: UnboundedSender<Inbound>,
    pub proxy: Arc<Proxy>,
    /// Each online user's credential (minted at setup; valid across restarts).
    pub creds: Arc<Vec<Option<Credential>>>,
    /// Connections per user (`[population] devices`): a reconnect opens them all.
    pub devices: u8,
    /// The child target, if this run started one (None: crashes cannot be done).
    pub server: Option<SharedChild>,
    pub backend: Arc<dyn Backend>,
    /// The fault phase's extra delay.
    pub delay: Option<DelayFault>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FaultLinks for LiveLinks {
    /// Opens the client's connections again, one device after the other (device 0 first);
    /// the client is back once the scheduler has heard of them all.
    fn reconnect(&self, client: UserId, conn_no: ConnNo) {
        let inbound = self.inbound.clone();
        let backend = self.backend.clone();
        let route = ClientRoute {
            proxy: self.proxy.addr,
            client,
        };
        let cred = self.creds.get(client.0 as usize).cloned().flatten();
        let devices = self.devices;
        tokio::spawn(async move {
            let failed = |detail: String| Inbound::ReconnectFailed {
                client,
                conn: conn_no,
                detail,
            };
            let Some(cred) = cred else {
                let why = "no token for this client (it was offline at setup)";
                let _ = inbound.send(failed(why.into()));
                return;
            };
            for device in (0..devices).map(Device) {
                let spec = ConnSpec {
                    client,
                    device,
                    conn: conn_no,
                    inbound: inbound.clone(),
                    // The connection is announced before any of its frames.
                    announce: true,
                    route: Some(route.clone()),
                };
                if let Err(last) = connect_with_backoff(backend.as_ref(), &cred, spec).await {
                    let detail = format!("{RECONNECT_ATTEMPTS} attempts failed, the last: {last}");
                    let _ = inbound.send(failed(detail));
                    return;
                }
            }
        });
    }

    fn cut(&self, client: UserId) -> bool {
        self.proxy.cut(client)
    }

    fn stall(&self, client: UserId, length: Duration) -> bool {
        self.proxy.stall(client, length)
    }

    fn delay(&self, on: bool) {
        self.proxy
            .set_delay(if on { self.delay.clone() } else { None });
    }

    fn crash(&self, downtime: Duration) -> bool {
        let Some(server) = self.server.clone() else {
            return false;
        };
        let inbound = self.inbound.clone();
        let proxy = self.proxy.clone();
        let backend = self.backend.clone();
        tokio::spawn(async move {
            let s = server.clone();
            let _ = tokio::task::spawn_blocking(move || lock(&s).kill()).await;
            tokio::time::sleep(downtime).await;
            let s = server.clone();
            let restarted = tokio::task::spawn_blocking(move || {
                let mut s = lock(&s);
                s.restart().map(|moved| (moved, s.addr()))
            })
            .await;
            let r = match restarted {
                Ok(Ok((moved, addr))) => {
                    if moved {
                        // Another socket took the port: point the proxy and the backend
                        // at the new one.
                        match addr.parse() {
                            Ok(a) => proxy.set_upstream(a),
                            Err(e) => {
                                let _ = inbound.send(Inbound::ServerUp(Err(format!(
                                    "restarted on an unreadable address {addr}: {e}"
                                ))));
                                return;
                            }
                        }
                        backend.repoint(&addr);
                    }
                    Ok(())
                }
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(format!("the restart task failed: {e}")),
            };
            let _ = inbound.send(Inbound::ServerUp(r));
        });
        true
    }

    fn admin(&self, req: AdminRequest, invoked: Micros) {
        let inbound = self.inbound.clone();
        let backend = self.backend.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            for _ in 0..ADMIN_ATTEMPTS {
                match backend.apply_one(&req).await {
                    Ok(resp) => {
                        let at = std::time::Instant::now();
                        let _ = inbound.send(Inbound::AdminDone {
                            invoked,
                            at,
                            req,
                            resp: Ok(resp),
                        });
                        return;
                    }
                    // Refused: the server is down (a crash) and nothing was sent; retry.
                    Err(e) if !e.sent => last = e.detail,
                    Err(e) => {
                        last = format!("{}; it may or may not have taken effect", e.detail);
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let _ = inbound.send(Inbound::AdminDone {
                invoked,
                at: std::time::Instant::now(),
                req,
                resp: Err(last),
            });
        });
    }
}

/// Opens `spec`'s connection, retrying with backoff (bounded); Err: the last failure. Its
/// tasks run on; the scheduler holds its sender from the announcement.
async fn connect_with_backoff(
    backend: &dyn Backend,
    cred: &Credential,
    spec: ConnSpec,
) -> Result<(), String> {
    let mut backoff = BACKOFF_FIRST;
    let mut last = String::new();
    for _ in 0..RECONNECT_ATTEMPTS {
        match backend.connect(cred, spec.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    Err(last)
}

/// Resolves the target's `HOST:PORT` (where client connections go) for the proxy's
/// upstream; `target` names it in the error.
pub async fn upstream_of(hostport: &str, target: &str) -> Result<std::net::SocketAddr, LiveError> {
    tokio::net::lookup_host(hostport)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| {
            LiveError::Usage(format!(
                "--target {target}: cannot resolve {hostport} for the fault proxy"
            ))
        })
}
