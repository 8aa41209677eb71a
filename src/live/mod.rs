//! The live driver: the same seeded [`Workload`] on the real clock against a real server.
//! What is specific to the server's protocol is a backend ([`adapter`]: today readsim's own,
//! `docs/protocol.md` over WebSockets); provisioning goes through its admin calls, every
//! online virtual client holds its own connection, and one scheduler task owns the workload,
//! its timers and the message-id map (see [`sched`]); history goes to the same observers as
//! the simulator's.
//!
//! Times in history are microseconds since the traffic phase started (monotonic clock);
//! provisioning and connections happen before, at time 0.

pub mod adapter;
pub mod faults;
mod foreign;
mod inbound;
mod inject;
mod io;
pub mod proxy;
pub mod sched;
pub mod server;
mod setup;
pub mod start;
mod stats;

pub use crate::driver::TimerQueue;
pub use inbound::{Inbound, Incoming};
pub use inject::{FaultLinks, FaultSetup};
pub use sched::Scheduler;
pub use server::parse_ready;
pub use stats::{DriveConfig, DriveStats};

use crate::observers::Observers;
use crate::pipe::Pipe;
use crate::progress::{CountViolations, Counters};
use crate::protocol::UserId;
use crate::scenario::Scenario;
use crate::workload::Workload;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where a live run goes: one of the backends of [`adapter::KINDS`] and the `--target`
/// value that named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveTarget {
    /// Index into [`adapter::KINDS`].
    kind: usize,
    /// The `--target` value (a URL without its trailing `/`).
    arg: String,
}

impl LiveTarget {
    /// Parses `--target`: `model` (None: the simulated path) or a value one of
    /// [`adapter::KINDS`] takes (`server`, `ws://HOST:PORT`, ...).
    pub fn parse(s: &str) -> Result<Option<LiveTarget>, String> {
        if s == "model" {
            return Ok(None);
        }
        if s.starts_with("wss://") {
            return Err(format!(
                "--target {s}: TLS is not supported; put readsim next to the server and use ws://"
            ));
        }
        match adapter::KINDS.iter().position(|k| k.takes(s)) {
            Some(kind) => Ok(Some(LiveTarget {
                kind,
                arg: match adapter::KINDS[kind].name {
                    adapter::Name::Word(_) => s.into(),
                    adapter::Name::Scheme(_) => s.trim_end_matches('/').into(),
                },
            })),
            None => Err(format!(
                "--target {s:?}: expected `model`, {}",
                adapter::usage()
            )),
        }
    }

    /// The name reports give the target: the word that names it, or its URL.
    pub fn name(&self) -> String {
        self.arg.clone()
    }

    /// Starts the target (a child process) or reaches it, per its kind.
    pub fn open(&self, opts: &LiveOptions) -> Result<adapter::Opened, LiveError> {
        (adapter::KINDS[self.kind].open)(&self.arg, opts)
    }
}

/// What a live run was asked to do.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub target: LiveTarget,
    /// Admin bearer token (required for a target that is already up, `ws://HOST:PORT`).
    pub admin_token: Option<String>,
    /// Progress line on stderr once a second.
    pub progress: bool,
    /// Where the child server's stderr log goes (`server.log`).
    pub log_dir: PathBuf,
    /// How long to wait for unanswered operations once no timer is pending.
    pub drain_timeout: Duration,
    /// Connections opened concurrently while connecting.
    pub connect_parallelism: usize,
    /// `--io-threads`: worker threads for the client sockets; 0 runs them on the
    /// scheduler's own thread. None: [`default_io_threads`].
    pub io_threads: Option<usize>,
    /// `--registration-secret`: a Matrix homeserver's `registration_shared_secret`
    /// (`--target matrix://HOST:PORT`).
    pub registration_secret: Option<String>,
    /// `--synapse-venv`: where `--target synapse` finds Synapse.
    pub synapse_venv: Option<PathBuf>,
    /// `--start-at`: begin the traffic phase at this wall time, once provisioned and
    /// connected, or fail if not ready by then (`start.rs`); None: as soon as ready.
    pub start_at: Option<std::time::SystemTime>,
    /// Raised from outside to stop the run as Ctrl-C does (reports of what ran are written):
    /// the memory watcher of `readsim run --max-memory`. None: only Ctrl-C stops it.
    pub stop: Option<Arc<AtomicBool>>,
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
    #[error(
        "not ready by --start-at: provisioning and connecting took {setup_seconds:.1}s and \
         ended {} after the common start, so this shard stops rather than start late; give \
         the fleet more lead time (a later --start-at) or make each shard smaller (more \
         shards)",
        humantime::format_duration(Duration::from_millis(*.late_ms))
    )]
    Late { late_ms: u64, setup_seconds: f64 },
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
    /// Whether this run started its target as a child process (`--target server` or
    /// `synapse`; stopped and reaped by the time the run returns), rather than drive one
    /// someone else runs.
    pub started_target: bool,
    /// Wall time the traffic phase began (ms since the Unix epoch): `--start-at` when one
    /// was given. Time 0 of the history.
    pub traffic_started_at_ms: u64,
    /// What the backend says about the figures (which hops it derived), for the reports.
    pub notes: Vec<String>,
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
    let devices = scenario.population.device_count();
    let sockets = online.len() as u64 * u64::from(devices);
    let limit = raise_nofile(sockets);
    if limit != 0 && limit < sockets + 64 {
        return Err(LiveError::Usage(format!(
            "{sockets} client connections need {} open files but the limit is {limit}; raise \
             it (ulimit -n)",
            sockets + 64
        )));
    }
    let adapter::Opened { backend, child } = opts.target.open(opts)?;
    if devices > backend.max_devices() {
        return Err(LiveError::Usage(format!(
            "[population] devices = {devices}, but --target {} holds at most {} connection(s) \
             per user; set devices = 1 for this target",
            opts.target.name(),
            backend.max_devices()
        )));
    }
    let notes = target_notes(backend.as_ref(), scenario);
    let io_threads = opts.io_threads.unwrap_or_else(default_io_threads);
    let rt = runtime(io_threads)?;
    let counters = Arc::new(Counters::default());
    let interrupted = opts.stop.clone().unwrap_or_default();
    rt.spawn(stop_on_ctrl_c(interrupted.clone()));
    let mut pipe = Pipe::new(CountViolations::new(
        Observers::new(scenario, check),
        counters.clone(),
    ));
    let result = rt.block_on(setup::drive(
        setup::Setup {
            scenario,
            seed,
            workload,
            online,
            backend,
            child: child.clone(),
            interrupted,
        },
        opts,
        counters,
        &mut pipe,
    ));
    // The scheduler's sockets are closed by now; give the runtime a moment to finish.
    rt.shutdown_timeout(Duration::from_secs(2));
    let observers = pipe.finish().inner;
    let started_target = child.is_some();
    if let Some(s) = child {
        s.lock().unwrap_or_else(|e| e.into_inner()).stop();
    }
    let mut d = result?;
    d.stats.io_threads = io_threads as u64;
    Ok(LiveOutcome {
        observers,
        stats: d.stats,
        peak_clients: d.peak_clients,
        target_name: opts.target.name(),
        setup_seconds: d.setup_seconds,
        started_target,
        traffic_started_at_ms: start::epoch_ms(d.started_at),
        notes,
    })
}

/// `--io-threads` when not given: none on a machine of up to 2 CPUs, else one per CPU.
/// On a small machine the harness shares the cores with the server it drives, and sockets
/// on the scheduler's thread save a cross-thread wake-up per frame in each direction
/// (measured on 2 cores: ~27% less harness CPU at the same rate, and lower lateness).
pub fn default_io_threads() -> usize {
    io_threads_for(std::thread::available_parallelism().map_or(1, |n| n.get()))
}

fn io_threads_for(cpus: usize) -> usize {
    if cpus <= 2 { 0 } else { cpus }
}

/// The harness's runtime: the scheduler runs on the calling thread (`block_on`), the sockets
/// on `io_threads` workers, or on the calling thread too when 0.
fn runtime(io_threads: usize) -> Result<tokio::runtime::Runtime, LiveError> {
    let mut b = match io_threads {
        0 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    b.enable_all().build().map_err(LiveError::Runtime)
}

/// The backend's notes, and a note (also said at once on stderr) when the scenario holds the
/// target to rules other than the ones it implements.
fn target_notes(backend: &dyn adapter::Backend, scenario: &Scenario) -> Vec<String> {
    let mut notes = backend.notes();
    let (native, held) = (backend.native_profile(), scenario.semantics.profile);
    if native != held {
        let note = format!(
            "this target implements the {} rules but the run holds it to the {} rules \
             ([semantics] or --profile); violations may be differences of rules, not bugs",
            native.name(),
            held.name()
        );
        eprintln!("warning: {note}");
        notes.push(note);
    }
    notes
}

/// The first Ctrl-C stops the run gracefully (traffic stops, the reports of what ran are
/// written, marked interrupted, and the child server is stopped); a second one quits at once.
async fn stop_on_ctrl_c(flag: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return; // No signal handling here: Ctrl-C keeps its default effect.
    }
    flag.store(true, Ordering::Relaxed);
    eprintln!(
        "interrupted: stopping traffic and writing the reports of what ran (Ctrl-C again to \
         quit at once)"
    );
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

#[cfg(test)]
mod tests {
    use super::{LiveTarget, io_threads_for};

    #[test]
    fn sockets_share_the_schedulers_thread_on_up_to_two_cpus_else_get_one_worker_per_cpu() {
        let by_cpus: Vec<usize> = [1, 2, 3, 8].map(io_threads_for).into();
        assert_eq!(by_cpus, [0, 0, 3, 8]);
    }

    #[test]
    fn targets_parse() {
        let name = |s| LiveTarget::parse(s).map(|t| t.map(|t| t.name()));
        assert_eq!(name("model"), Ok(None));
        assert_eq!(name("server"), Ok(Some("server".into())));
        assert_eq!(
            name("ws://127.0.0.1:80/"),
            Ok(Some("ws://127.0.0.1:80".into()))
        );
        assert_ne!(
            LiveTarget::parse("server").unwrap(),
            LiveTarget::parse("ws://x").unwrap()
        );
        assert!(LiveTarget::parse("server/").is_err());
        assert!(LiveTarget::parse("wss://x").is_err());
        let e = LiveTarget::parse("http://x").unwrap_err();
        assert!(
            e.ends_with(
                "expected `model`, `server`, `ws://HOST:PORT`, `synapse` or `matrix://HOST:PORT`"
            ),
            "{e}"
        );
        assert_eq!(name("synapse"), Ok(Some("synapse".into())));
        assert_eq!(
            name("matrix://127.0.0.1:8008/"),
            Ok(Some("matrix://127.0.0.1:8008".into()))
        );
    }
}
