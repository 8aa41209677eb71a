//! Setting up a live run: provisioning, one connection per online client (through the
//! fault proxy when the run has faults) and the fault links, all through the target's
//! [`Backend`]; then the scheduler drives the traffic.

use super::adapter::{Backend, Conn, ConnSpec, Credential, SharedChild};
use super::inbound::Inbound;
use super::inject::FaultSetup;
use super::proxy::ClientRoute;
use super::sched::Scheduler;
use super::stats::{DriveConfig, DriveStats};
use super::{LiveError, LiveOptions, faults, proxy, start};
use crate::faults::FaultPlan;
use crate::history::{Device, Event, Observer};
use crate::progress::Counters;
use crate::protocol::{AdminRequest, ErrorCode, Response, UserId};
use crate::scenario::{Scenario, Shard};
use crate::wire;
use crate::workload::Workload;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

/// What `drive` works on.
pub(super) struct Setup<'a> {
    pub scenario: &'a Scenario,
    pub seed: u64,
    pub workload: Workload,
    pub online: Vec<UserId>,
    pub backend: Arc<dyn Backend>,
    pub child: Option<SharedChild>,
    /// Set on Ctrl-C (see `DriveConfig::interrupted`).
    pub interrupted: Arc<std::sync::atomic::AtomicBool>,
}

/// The online clients' open connections.
struct Connected {
    /// Per user, its connections' frame senders (one per device; empty: offline) and its
    /// credential (None: offline).
    senders: Vec<Vec<UnboundedSender<wire::ClientFrame>>>,
    creds: Vec<Option<Credential>>,
    /// The tasks of every connection.
    tasks: Vec<JoinHandle<()>>,
    /// Connections opened.
    count: u64,
}

/// What `drive` did.
pub(super) struct Driven {
    /// The scheduler's counters.
    pub stats: DriveStats,
    /// Clients connected at once.
    pub peak_clients: u64,
    /// Seconds provisioning and connecting took.
    pub setup_seconds: f64,
    /// When the traffic phase began (after waiting for `--start-at`).
    pub started_at: SystemTime,
}

/// Provisions, connects, waits for the common start if there is one, and runs the
/// scheduler.
pub(super) async fn drive<O: Observer>(
    setup: Setup<'_>,
    opts: &LiveOptions,
    counters: Arc<Counters>,
    obs: &mut O,
) -> Result<Driven, LiveError> {
    let started = Instant::now();
    let backend = setup.backend.clone();
    let admin_ops = provision(backend.as_ref(), &setup.workload, setup.scenario.shard, obs).await?;
    // With faults, clients go through the loopback fault proxy, which can delay, stall and
    // cut each one's connections; admin calls go to the target directly.
    // The workload drew the fault plan (after swarm) for exactly these online users.
    let plan = setup.workload.fault_plan().clone();
    let target = opts.target.name();
    let proxy = if plan.active || setup.scenario.churn.per_minute > 0.0 {
        let up = faults::upstream_of(&backend.client_addr(), &target).await?;
        Some(Arc::new(proxy::Proxy::start(up, setup.seed).await?))
    } else {
        None
    };
    let (in_tx, mut in_rx) = tokio::sync::mpsc::unbounded_channel::<Inbound>();
    let devices = setup.scenario.population.device_count();
    let conns = connect_all(&setup, proxy.as_deref(), opts, &in_tx, obs).await?;
    let peak = conns.count;
    let fault_setup = proxy.map(|proxy| {
        let links = faults::LiveLinks {
            inbound: in_tx.clone(),
            proxy,
            creds: Arc::new(conns.creds),
            devices,
            server: setup.child.clone(),
            backend: backend.clone(),
            delay: Some(proxy::DelayFault {
                p: plan.faults.delay,
                dist: plan.faults.extra_delay.clone(),
            }),
        };
        fault_setup(&plan, links, setup.child.is_some(), &target)
    });
    drop(in_tx);
    let setup_seconds = started.elapsed().as_secs_f64();
    if opts.progress {
        let per = if devices > 1 {
            format!(" ({devices} devices each)")
        } else {
            String::new()
        };
        eprintln!(
            "live: {admin_ops} admin operations, {peak} connections{per} open in {setup_seconds:.1}s"
        );
    }
    let cfg = DriveConfig {
        drain_timeout: opts.drain_timeout,
        progress: opts.progress,
        counters: Some(counters),
        interrupted: Some(setup.interrupted.clone()),
        ..DriveConfig::default()
    };
    let started_at = match start::wait_until(opts.start_at, &setup.interrupted, setup_seconds).await
    {
        Ok(t) => t,
        Err(e) => {
            drop(conns.senders);
            close_all(conns.tasks).await;
            return Err(e);
        }
    };
    let mut sched = Scheduler::new(setup.workload, conns.senders, obs, Instant::now(), cfg);
    if let Some(f) = fault_setup {
        sched = sched.with_faults(f);
    }
    let stats = sched.drive(&mut in_rx).await;
    close_all(conns.tasks).await;
    Ok(Driven {
        stats,
        peak_clients: peak,
        setup_seconds,
        started_at,
    })
}

/// Creates the scenario's users and groups (history: `Admin` at time 0); returns how many
/// admin operations that took.
async fn provision<O: Observer>(
    backend: &dyn Backend,
    workload: &Workload,
    shard: Shard,
    obs: &mut O,
) -> Result<usize, LiveError> {
    backend.wait_healthy(Duration::from_secs(30)).await?;
    let reqs = workload.plan().provisioning();
    let resps = backend.provision(&reqs).await?;
    if resps.len() != reqs.len() {
        return Err(LiveError::Admin(format!(
            "the backend answered {} results for {} provisioning operations; this is a bug \
             in its adapter",
            resps.len(),
            reqs.len()
        )));
    }
    let resps = settle_existing(&reqs, resps, shard)?;
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

/// The provisioning answers as the run sees them. Shards of one run share users (a user in
/// conversations of several shards is created by each of them, in whatever order they
/// start), so in a sharded run `USER_EXISTS` is the user this run wants and counts as
/// created: a user holds nothing but its id. A group belongs to exactly one shard, so
/// `GROUP_EXISTS` means an earlier run (or an earlier attempt of this shard) made it, with
/// messages and receipts the checker cannot know: refused, as is any `USER_EXISTS` of an
/// unsharded run (no other process of the run creates users).
fn settle_existing(
    reqs: &[AdminRequest],
    mut resps: Vec<Response>,
    shard: Shard,
) -> Result<Vec<Response>, LiveError> {
    let mut stale = None;
    for (req, resp) in reqs.iter().zip(resps.iter_mut()) {
        match (req, resp.error_code()) {
            (AdminRequest::CreateUser { .. }, Some(ErrorCode::UserExists)) if !shard.is_whole() => {
                *resp = Response::AdminDone;
            }
            (AdminRequest::CreateUser { user }, Some(ErrorCode::UserExists)) => {
                stale.get_or_insert(format!("user {}", wire::user_str(*user)));
            }
            (AdminRequest::CreateGroup { group, .. }, Some(ErrorCode::GroupExists)) => {
                stale.get_or_insert(format!("group {}", wire::group_str(*group)));
            }
            _ => {}
        }
    }
    match stale {
        None => Ok(resps),
        Some(what) => Err(LiveError::Admin(format!(
            "the server already holds {what} of this scenario ({}); its messages and receipts \
             are unknown to this run, so run against a server with a fresh database{}",
            if what.starts_with("user") {
                "USER_EXISTS"
            } else {
                "GROUP_EXISTS"
            },
            if shard.is_whole() {
                ""
            } else {
                " (shards of one run share users, never groups: was this shard run twice \
                 against the same server?)"
            }
        ))),
    }
}

/// One online client at setup: its credential and its connections, by device.
type Opened = (UserId, Credential, Vec<Conn>);

/// Mints a credential for each online client and opens its connections, one per device,
/// device 0 first (history: `Connect` at time 0); frames go to `in_tx`.
async fn connect_all<O: Observer>(
    setup: &Setup<'_>,
    proxy: Option<&proxy::Proxy>,
    opts: &LiveOptions,
    in_tx: &UnboundedSender<Inbound>,
    obs: &mut O,
) -> Result<Connected, LiveError> {
    // Credentials outlive the run comfortably.
    let ttl = Duration::from_secs(setup.scenario.duration.micros / 1_000_000 + 3600);
    let devices = setup.scenario.population.device_count();
    let opened: Vec<Result<Opened, LiveError>> = futures_util::stream::iter(setup.online.clone())
        .map(|client| {
            let backend = setup.backend.clone();
            let spec = |device: u8| ConnSpec {
                client,
                device: Device(device),
                conn: 0,
                inbound: in_tx.clone(),
                announce: false,
                route: proxy.map(|p| ClientRoute {
                    proxy: p.addr,
                    client,
                }),
            };
            let specs: Vec<ConnSpec> = (0..devices).map(spec).collect();
            async move {
                let cred = backend.credential(client, ttl).await?;
                let mut conns = Vec::new();
                for spec in specs {
                    conns.push(backend.connect(&cred, spec).await?);
                }
                Ok((client, cred, conns))
            }
        })
        .buffered(opts.connect_parallelism.max(1))
        .collect()
        .await;
    let users = setup.workload.plan().users as usize;
    let mut out = Connected {
        senders: vec![Vec::new(); users],
        creds: vec![None; users],
        tasks: Vec::new(),
        count: 0,
    };
    let mut failed = None;
    for c in opened {
        match c {
            Ok((u, cred, conns)) => {
                out.creds[u.0 as usize] = Some(cred);
                for conn in conns {
                    out.senders[u.0 as usize].push(conn.tx);
                    out.tasks.extend(conn.tasks);
                    out.count += 1;
                }
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failed {
        // The run ends here: the connections opened so far go with it.
        for t in out.tasks {
            t.abort();
        }
        return Err(e);
    }
    // History in the order of the online list, as the connections were asked for.
    for &u in &setup.online {
        obs.observe(&Event::Connect { t: 0, client: u });
    }
    Ok(out)
}

/// The fault side of the run, saying once what of the plan a live run cannot do.
fn fault_setup(
    plan: &FaultPlan,
    links: faults::LiveLinks,
    own_server: bool,
    target: &str,
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
        eprintln!("live: crashes are skipped: --target {target} is not a server this run started");
    }
    FaultSetup {
        links: Box::new(links),
        schedule: plan.schedule.clone(),
        until: plan.until,
        request_timeout: Duration::from_micros(f.request_timeout.micros),
    }
}

/// The scheduler dropped the senders, so connections close (writers close their sockets):
/// wait a little for that, then stop every task.
async fn close_all(mut tasks: Vec<JoinHandle<()>>) {
    let close = async {
        for t in &mut tasks {
            let _ = t.await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
    for t in tasks {
        t.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{GroupId, GroupType};

    fn reqs() -> Vec<AdminRequest> {
        vec![
            AdminRequest::CreateUser { user: UserId(1) },
            AdminRequest::CreateGroup {
                group: GroupId(2),
                group_type: GroupType::Work,
                members: vec![UserId(1)],
            },
        ]
    }

    fn err(code: ErrorCode) -> Response {
        Response::Error { code }
    }

    #[test]
    fn a_shard_takes_a_user_another_shard_made_but_never_a_group() {
        let shard = Shard { index: 1, count: 3 };
        let user_exists = vec![err(ErrorCode::UserExists), Response::AdminDone];
        let settled = settle_existing(&reqs(), user_exists.clone(), shard).unwrap();
        assert_eq!(settled, [Response::AdminDone, Response::AdminDone]);
        // Unsharded, no other process creates users: an existing one is a stale server.
        let e = settle_existing(&reqs(), user_exists, Shard::WHOLE).unwrap_err();
        assert!(e.to_string().contains("user u1"), "{e}");
        assert!(e.to_string().contains("fresh database"), "{e}");
        let group_exists = vec![Response::AdminDone, err(ErrorCode::GroupExists)];
        let e = settle_existing(&reqs(), group_exists, shard).unwrap_err();
        assert!(e.to_string().contains("group g2"), "{e}");
        assert!(e.to_string().contains("run twice"), "{e}");
        // Other errors pass through for the checker to judge.
        let other = vec![err(ErrorCode::InvalidId), Response::AdminDone];
        assert_eq!(
            settle_existing(&reqs(), other.clone(), shard).unwrap(),
            other
        );
    }
}
