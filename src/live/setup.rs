//! Setting up a live run: the target (a child server or a given URL), provisioning through
//! the admin API, one WebSocket per online client (through the fault proxy when the run
//! has faults) and the fault links; then the scheduler drives the traffic.

use super::admin::Admin;
use super::inbound::Inbound;
use super::inject::FaultSetup;
use super::sched::Scheduler;
use super::stats::{DriveConfig, DriveStats};
use super::{LiveError, LiveOptions, LiveTarget, conn, faults, proxy, server};
use crate::faults::FaultPlan;
use crate::history::{Event, Observer};
use crate::progress::Counters;
use crate::protocol::{ErrorCode, UserId};
use crate::scenario::Scenario;
use crate::wire;
use crate::workload::Workload;
use futures_util::StreamExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

type Child = Option<Arc<Mutex<server::ChildServer>>>;

/// Starts the child server (`--target server`) or takes the given URL; returns the child,
/// the WebSocket base URL and the admin token.
pub(super) fn start_target(opts: &LiveOptions) -> Result<(Child, String, String), LiveError> {
    match &opts.target {
        LiveTarget::Server => {
            let s = server::ChildServer::start(&opts.log_dir.join("server.log"))?;
            let base = format!("ws://{}", s.addr);
            let token = s.admin_token.clone();
            Ok((Some(Arc::new(Mutex::new(s))), base, token))
        }
        LiveTarget::Url(u) => {
            let token = opts.admin_token.clone().ok_or_else(|| {
                LiveError::Usage(format!(
                    "--target {u} needs --admin-token (the server's admin bearer token)"
                ))
            })?;
            Ok((None, u.clone(), token))
        }
    }
}

/// What `drive` works on.
pub(super) struct Setup<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub workload: Workload,
    pub online: Vec<UserId>,
    pub ws_base: &'a str,
    pub http_base: String,
    pub admin_token: String,
    pub child: Child,
    /// Set on Ctrl-C (see `DriveConfig::interrupted`).
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
}

/// The online clients' open connections.
struct Connected {
    /// Per user, its socket's frame sender and its token (None: offline).
    senders: Vec<Option<UnboundedSender<wire::ClientFrame>>>,
    tokens: Vec<Option<String>>,
    /// Reader and writer of each connection.
    tasks: Vec<(JoinHandle<()>, JoinHandle<()>)>,
}

/// Provisions, connects, and runs the scheduler; returns its counters, the clients
/// connected at once, and the seconds the setup took.
pub(super) async fn drive<O: Observer>(
    setup: Setup<'_>,
    opts: &LiveOptions,
    counters: Arc<Counters>,
    obs: &mut O,
) -> Result<(DriveStats, u64, f64), LiveError> {
    let started = Instant::now();
    let admin = Admin::new(setup.http_base.clone(), setup.admin_token.clone())?;
    let admin_ops = provision(&admin, &setup.workload, obs).await?;
    // With faults, clients go through the loopback fault proxy, which can delay, stall and
    // cut each one's connection; the admin API goes to the server directly.
    // The workload drew the fault plan (after swarm) for exactly these online users.
    let plan = setup.workload.fault_plan().clone();
    let proxy = if plan.active || setup.scenario.churn.per_minute > 0.0 {
        let up = faults::upstream_of(setup.ws_base).await?;
        Some(Arc::new(proxy::Proxy::start(up, setup.seed).await?))
    } else {
        None
    };
    let (in_tx, mut in_rx) = tokio::sync::mpsc::unbounded_channel::<Inbound>();
    let conns = connect_all(&setup, &admin, proxy.as_deref(), opts, &in_tx, obs).await?;
    let peak = conns.tasks.len() as u64;
    let fault_setup = proxy.map(|proxy| {
        let links = faults::LiveLinks {
            inbound: in_tx.clone(),
            proxy,
            tokens: Arc::new(conns.tokens),
            server: setup.child.clone(),
            admin: Arc::new(Mutex::new(admin.clone())),
            delay: Some(proxy::DelayFault {
                p: plan.faults.delay,
                dist: plan.faults.extra_delay.clone(),
            }),
        };
        fault_setup(&plan, links, setup.child.is_some(), setup.ws_base)
    });
    drop(in_tx);
    let setup_seconds = started.elapsed().as_secs_f64();
    if opts.progress {
        eprintln!(
            "live: {admin_ops} admin operations, {peak} clients connected in {setup_seconds:.1}s"
        );
    }
    let cfg = DriveConfig {
        drain_timeout: opts.drain_timeout,
        progress: opts.progress,
        counters: Some(counters),
        interrupted: Some(setup.interrupted.clone()),
        ..DriveConfig::default()
    };
    let mut sched = Scheduler::new(setup.workload, conns.senders, obs, Instant::now(), cfg);
    if let Some(f) = fault_setup {
        sched = sched.with_faults(f);
    }
    let stats = sched.drive(&mut in_rx).await;
    close_all(conns.tasks).await;
    Ok((stats, peak, setup_seconds))
}

/// Creates the scenario's users and groups (history: `Admin` at time 0); returns how many
/// admin operations that took.
async fn provision<O: Observer>(
    admin: &Admin,
    workload: &Workload,
    obs: &mut O,
) -> Result<usize, LiveError> {
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
    Ok(reqs.len())
}

/// Mints a token for each online client and opens its connection (history: `Connect` at
/// time 0); frames go to `in_tx`.
async fn connect_all<O: Observer>(
    setup: &Setup<'_>,
    admin: &Admin,
    proxy: Option<&proxy::Proxy>,
    opts: &LiveOptions,
    in_tx: &UnboundedSender<Inbound>,
    obs: &mut O,
) -> Result<Connected, LiveError> {
    let url = |u: UserId| match proxy {
        Some(p) => format!("ws://{}{}", p.addr, proxy::client_path(u)),
        None => format!("{}/v1/ws", setup.ws_base),
    };
    // Tokens outlive the run comfortably.
    let ttl = setup.scenario.duration.micros / 1_000_000 + 3600;
    let opened: Vec<Result<(UserId, String, conn::Ws), LiveError>> =
        futures_util::stream::iter(setup.online.clone())
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
    let users = setup.workload.plan().users as usize;
    let mut out = Connected {
        senders: vec![None; users],
        tokens: vec![None; users],
        tasks: Vec::new(),
    };
    for c in opened {
        let (u, token, ws) = c?;
        let conn = conn::spawn(ws, u, 0, in_tx.clone(), false);
        out.senders[u.0 as usize] = Some(conn.tx);
        out.tokens[u.0 as usize] = Some(token);
        out.tasks.push((conn.reader, conn.writer));
        obs.observe(&Event::Connect { t: 0, client: u });
    }
    Ok(out)
}

/// The fault side of the run, saying once what of the plan a live run cannot do.
fn fault_setup(
    plan: &FaultPlan,
    links: faults::LiveLinks,
    own_server: bool,
    ws_base: &str,
) -> FaultSetup {
    let f = &plan.faults;
    let sim_only = f.sim_only_kinds();
    if !sim_only.is_empty() {
        eprintln!(
            "live: faults {} are ignored (simulator only: a TCP stream cannot lose, repeat or \
             reorder a frame without breaking)",
            sim_only.join("/")
        );
    }
    if !own_server && f.crashes > 0 {
        eprintln!("live: crashes are skipped: --target {ws_base} is not a server this run started");
    }
    FaultSetup {
        links: Box::new(links),
        schedule: plan.schedule.clone(),
        until: plan.until,
        request_timeout: Duration::from_micros(f.request_timeout.micros),
    }
}

/// The scheduler dropped the senders, so writers close their sockets: wait a little for
/// that, then stop every task.
async fn close_all(mut tasks: Vec<(JoinHandle<()>, JoinHandle<()>)>) {
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
}
