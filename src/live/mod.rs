//! The live driver: the same seeded [`Workload`] on the real clock against a server speaking
//! `docs/protocol.md` over WebSockets. Provisioning goes through the admin HTTP API, every
//! online virtual client holds its own WebSocket, and one scheduler task owns the workload,
//! its timers and the message-id map (see [`sched`]); history goes to the same observers as
//! the simulator's.
//!
//! Times in history are microseconds since the traffic phase started (monotonic clock);
//! provisioning and connections happen before, at time 0.

mod admin;
mod conn;
pub mod faults;
mod inbound;
mod inject;
mod io;
pub mod proxy;
pub mod sched;
pub mod server;
mod stats;

pub use crate::driver::TimerQueue;
pub use inbound::{Inbound, Incoming};
pub use inject::{FaultLinks, FaultSetup};
pub use sched::Scheduler;
pub use server::parse_ready;
pub use stats::{DriveConfig, DriveStats};

use crate::history::{Event, Observer};
use crate::observers::Observers;
use crate::pipe::Pipe;
use crate::progress::{CountViolations, Counters};
use crate::protocol::{ErrorCode, UserId};
use crate::scenario::Scenario;
use crate::wire;
use crate::workload::Workload;
use futures_util::StreamExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a live run goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LiveTarget {
    /// Start `readsim serve` as a child process and stop it after.
    Server,
    /// A server already up at this `ws://HOST:PORT` base URL.
    Url(String),
}

impl LiveTarget {
    /// Parses `--target`: `model` (None: the simulated path), `server`, or `ws://HOST:PORT`.
    pub fn parse(s: &str) -> Result<Option<LiveTarget>, String> {
        match s {
            "model" => Ok(None),
            "server" => Ok(Some(LiveTarget::Server)),
            u if u.starts_with("ws://") => {
                Ok(Some(LiveTarget::Url(u.trim_end_matches('/').into())))
            }
            u if u.starts_with("wss://") => Err(format!(
                "--target {u}: TLS is not supported; put readsim next to the server and use ws://"
            )),
            other => Err(format!(
                "--target {other:?}: expected `model`, `server` or `ws://HOST:PORT`"
            )),
        }
    }

    /// The name reports give the target.
    pub fn name(&self) -> String {
        match self {
            LiveTarget::Server => "server".into(),
            LiveTarget::Url(u) => u.clone(),
        }
    }
}

/// What a live run was asked to do.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub target: LiveTarget,
    /// Admin bearer token (required for `LiveTarget::Url`).
    pub admin_token: Option<String>,
    /// Progress line on stderr once a second.
    pub progress: bool,
    /// Where the child server's stderr log goes (`server.log`).
    pub log_dir: PathBuf,
    /// How long to wait for unanswered operations once no timer is pending.
    pub drain_timeout: Duration,
    /// Connections opened concurrently while connecting.
    pub connect_parallelism: usize,
}

/// Why a live run could not run (violations are not errors: they are in the report).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Server(String),
    #[error("admin API: {0}")]
    Admin(String),
    #[error(
        "client u{client} could not connect: {detail}; check the server is up, the address, \
         and the open-file limit (ulimit -n)"
    )]
    Connect { client: u32, detail: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What a live run leaves behind.
pub struct LiveOutcome {
    pub observers: Observers,
    pub stats: DriveStats,
    /// Most WebSocket connections open at once.
    pub peak_clients: u64,
    pub target_name: String,
    /// Seconds spent provisioning and connecting before the traffic phase.
    pub setup_seconds: f64,
}

/// Raises the soft open-file limit towards what `clients` sockets need; returns the limit.
pub fn raise_nofile(clients: u64) -> u64 {
    rlimit::increase_nofile_limit(clients * 2 + 1024).unwrap_or(0)
}

/// Runs `scenario` live; history goes to the checker, metrics and trace hash.
pub fn run_live(
    scenario: &Scenario,
    seed: u64,
    check: crate::check::CheckConfig,
    opts: &LiveOptions,
) -> Result<LiveOutcome, LiveError> {
    let workload = Workload::new(scenario, seed);
    let online: Vec<UserId> = (0..workload.plan().users)
        .map(UserId)
        .filter(|&u| workload.plan().is_online(u))
        .collect();
    let limit = raise_nofile(online.len() as u64);
    if limit != 0 && limit < online.len() as u64 + 64 {
        return Err(LiveError::Usage(format!(
            "{} clients need {} open files but the limit is {limit}; raise it (ulimit -n)",
            online.len(),
            online.len() + 64
        )));
    }
    let mut child = None;
    let (ws_base, admin_token) = match &opts.target {
        LiveTarget::Server => {
            let s = server::ChildServer::start(&opts.log_dir.join("server.log"))?;
            let base = format!("ws://{}", s.addr);
            let token = s.admin_token.clone();
            child = Some(Arc::new(Mutex::new(s)));
            (base, token)
        }
        LiveTarget::Url(u) => {
            let token = opts.admin_token.clone().ok_or_else(|| {
                LiveError::Usage(format!(
                    "--target {u} needs --admin-token (the server's admin bearer token)"
                ))
            })?;
            (u.clone(), token)
        }
    };
    let http_base = format!("http://{}", ws_base.trim_start_matches("ws://"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(LiveError::Runtime)?;
    let counters = Arc::new(Counters::default());
    let mut pipe = Pipe::new(CountViolations::new(
        Observers::new(check),
        counters.clone(),
    ));
    let result = rt.block_on(drive(
        Setup {
            scenario,
            seed,
            workload,
            online,
            ws_base: &ws_base,
            http_base,
            admin_token,
            child: child.clone(),
        },
        opts,
        counters,
        &mut pipe,
    ));
    // The scheduler's sockets are closed by now; give the runtime a moment to finish.
    rt.shutdown_timeout(Duration::from_secs(2));
    let observers = pipe.finish().inner;
    if let Some(s) = child {
        s.lock().unwrap_or_else(|e| e.into_inner()).stop();
    }
    let (stats, peak_clients, setup_seconds) = result?;
    Ok(LiveOutcome {
        observers,
        stats,
        peak_clients,
        target_name: opts.target.name(),
        setup_seconds,
    })
}

/// What `drive` works on.
struct Setup<'a> {
    scenario: &'a Scenario,
    seed: u64,
    workload: Workload,
    online: Vec<UserId>,
    ws_base: &'a str,
    http_base: String,
    admin_token: String,
    child: Option<Arc<Mutex<server::ChildServer>>>,
}

async fn drive<O: Observer>(
    setup: Setup<'_>,
    opts: &LiveOptions,
    counters: Arc<Counters>,
    obs: &mut O,
) -> Result<(DriveStats, u64, f64), LiveError> {
    let Setup {
        scenario,
        seed,
        workload,
        online,
        ws_base,
        http_base,
        admin_token,
        child,
    } = setup;
    let duration = scenario.duration.micros;
    let started = Instant::now();
    let admin = admin::Admin::new(http_base, admin_token)?;
    admin.wait_healthy(Duration::from_secs(30)).await?;
    let reqs = workload.plan().provisioning();
    let resps = admin.provision(&reqs).await?;
    let exists = resps.iter().filter(|r| {
        matches!(
            r.error_code(),
            Some(ErrorCode::UserExists | ErrorCode::GroupExists)
        )
    });
    if exists.count() > 0 {
        return Err(LiveError::Admin(
            "the server already holds users or groups of this scenario (USER_EXISTS / \
             GROUP_EXISTS while provisioning); run against a server with a fresh database"
                .into(),
        ));
    }
    for (req, resp) in reqs.iter().zip(&resps) {
        obs.observe(&Event::Admin {
            t: 0,
            invoked: 0,
            req,
            resp,
        });
    }
    // With faults, clients go through the loopback fault proxy, which can delay, stall and
    // cut each one's connection; the admin API goes to the server directly.
    // The workload drew the fault plan (after swarm) for exactly these online users.
    let plan = workload.fault_plan().clone();
    let faulty = plan.active || scenario.churn.per_minute > 0.0;
    let proxy = if faulty {
        let up = faults::upstream_of(ws_base).await?;
        Some(Arc::new(proxy::Proxy::start(up, seed).await?))
    } else {
        None
    };
    let url = |u: UserId| match &proxy {
        Some(p) => format!("ws://{}{}", p.addr, proxy::client_path(u)),
        None => format!("{ws_base}/v1/ws"),
    };
    // Tokens outlive the run comfortably.
    let ttl = duration / 1_000_000 + 3600;
    let conns: Vec<Result<(UserId, String, conn::Ws), LiveError>> =
        futures_util::stream::iter(online)
            .map(|u| {
                let admin = admin.clone();
                let url = url(u);
                async move {
                    let token = admin.token(wire::user_str(u), ttl).await?;
                    let ws = conn::connect(&url, &token, u).await?;
                    Ok((u, token, ws))
                }
            })
            .buffered(opts.connect_parallelism.max(1))
            .collect()
            .await;
    let (in_tx, mut in_rx) = tokio::sync::mpsc::unbounded_channel::<Inbound>();
    let users = workload.plan().users as usize;
    let mut senders = vec![None; users];
    let mut tokens = vec![None; users];
    let mut tasks = Vec::new();
    let mut peak = 0u64;
    for c in conns {
        let (u, token, ws) = c?;
        let conn = conn::spawn(ws, u, 0, in_tx.clone(), false);
        senders[u.0 as usize] = Some(conn.tx);
        tokens[u.0 as usize] = Some(token);
        tasks.push((conn.reader, conn.writer));
        peak += 1;
        obs.observe(&Event::Connect { t: 0, client: u });
    }
    let fault_setup = proxy.map(|proxy| {
        let f = &plan.faults;
        if f.drop > 0.0 || f.duplicate > 0.0 || f.reorder > 0.0 {
            eprintln!(
                "live: faults drop/duplicate/reorder are ignored (simulator only: a TCP stream \
                 cannot lose, repeat or reorder a frame without breaking)"
            );
        }
        if child.is_none() && f.crashes > 0 {
            eprintln!(
                "live: crashes are skipped: --target {ws_base} is not a server this run started"
            );
        }
        FaultSetup {
            links: Box::new(faults::LiveLinks {
                inbound: in_tx.clone(),
                proxy,
                tokens: Arc::new(tokens),
                server: child,
                admin: Arc::new(Mutex::new(admin.clone())),
                delay: Some(proxy::DelayFault {
                    p: f.delay,
                    dist: f.extra_delay.clone(),
                }),
            }),
            schedule: plan.schedule.clone(),
            until: plan.until,
            request_timeout: Duration::from_micros(f.request_timeout.micros),
        }
    });
    drop(in_tx);
    let setup_seconds = started.elapsed().as_secs_f64();
    if opts.progress {
        eprintln!(
            "live: {} admin operations, {peak} clients connected in {setup_seconds:.1}s",
            reqs.len()
        );
    }
    let cfg = DriveConfig {
        drain_timeout: opts.drain_timeout,
        progress: opts.progress,
        counters: Some(counters),
        ..DriveConfig::default()
    };
    let mut sched = Scheduler::new(workload, senders, obs, Instant::now(), cfg);
    if let Some(f) = fault_setup {
        sched = sched.with_faults(f);
    }
    let stats = sched.drive(&mut in_rx).await;
    // The scheduler dropped the senders: writers close their sockets.
    let close = async {
        for (_, w) in &mut tasks {
            let _ = w.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
    for (r, w) in tasks {
        r.abort();
        w.abort();
    }
    Ok((stats, peak, setup_seconds))
}

#[cfg(test)]
mod tests {
    use super::LiveTarget;

    #[test]
    fn targets_parse() {
        assert_eq!(LiveTarget::parse("model"), Ok(None));
        assert_eq!(LiveTarget::parse("server"), Ok(Some(LiveTarget::Server)));
        assert_eq!(
            LiveTarget::parse("ws://127.0.0.1:80/"),
            Ok(Some(LiveTarget::Url("ws://127.0.0.1:80".into())))
        );
        assert!(LiveTarget::parse("wss://x").is_err());
        assert!(LiveTarget::parse("http://x").is_err());
    }
}
