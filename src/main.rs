//! readsim: the clap types of the CLI and a short dispatch to `readsim::cmd`, where each
//! command lives. Exit codes (`cmd::ExitStatus`): 0 pass, 1 the target failed a check, an SLO
//! or a comparison, 2 bad usage or input, 3 readsim itself could not do its job.

use clap::{Parser, Subcommand};
use readsim::cmd::{self, Classify, ExitStatus};
use readsim::target::faulty::Bug;
use std::path::PathBuf;
use std::process::ExitCode;

/// The simulator allocates and frees small buffers on every event; mimalloc's thread-local
/// free lists make that markedly cheaper than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "readsim",
    version,
    about = "Deterministic simulation and load testing for chat message read receipts",
    long_about = "readsim drives thousands of virtual chat clients through the read-receipt \
cycle (send -> read -> receipt -> notify -> pull) on a seeded virtual clock, checks every \
invariant of the receipt semantics, and records the latency of every hop.\n\n\
Start with:  readsim run scenarios/smoke.toml\n\
Reports go to reports/latest/ (report.json, report.md, report.html, run.json).\n\
Exit codes: 0 pass; 1 the target failed a check or an SLO (or compare found a regression, or a \
replay differed); 2 bad usage or a bad input file; 3 readsim itself could not do its job (an I/O \
error such as an unwritable --out, a server that would not start, provisioning that failed, a \
determinism bug); 130 a live run stopped with Ctrl-C (its reports are written, marked \
interrupted)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format of `run` and `compare`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Aligned tables for people.
    Text,
    /// One JSON document for machines.
    Json,
    /// A Markdown table, regressions first (compare only; for PR comments).
    Markdown,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario and check it: simulated against the reference model (default), or live
    /// against a server (`--target server` or `--target ws://HOST:PORT`).
    ///
    /// Simulated: same scenario + seed => byte-identical report.json. On a violation, the report and
    /// the terminal name the invariant, the message, and the command that replays it.
    Run {
        /// Scenario file (TOML); see `readsim schema` and scenarios/smoke.toml.
        file: PathBuf,
        /// Seed of every random decision (overrides the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Directory for report.json, report.md, report.html and run.json.
        #[arg(long, default_value = "reports/latest")]
        out: PathBuf,
        /// Run twice and fail (exit 1) unless both traces and reports are identical.
        #[arg(long)]
        check_determinism: bool,
        /// What to drive: `model` (simulated, deterministic), `server` (start `readsim serve`
        /// on a free loopback port with a temporary database and drive it live),
        /// `ws://HOST:PORT` (drive a server that is already up; needs --admin-token),
        /// `synapse` (start a Synapse homeserver from a venv, see --synapse-venv; use a
        /// scenario with `[semantics] profile = "matrix"`, e.g. scenarios/matrix-smoke.toml),
        /// or `matrix://HOST:PORT[/SERVER_NAME]` (a Matrix homeserver that is up; needs
        /// --registration-secret; SERVER_NAME defaults to localhost). docs/matrix.md.
        #[arg(long, default_value = "model")]
        target: String,
        /// Admin bearer token of the server named by `--target ws://...`.
        #[arg(long, env = "READSIM_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// The `registration_shared_secret` of the homeserver named by
        /// `--target matrix://...` (users are made with shared-secret registration).
        #[arg(long, env = "READSIM_REGISTRATION_SECRET")]
        registration_secret: Option<String>,
        /// Hold the run to this semantics profile instead of the scenario's `[semantics]
        /// profile`: `tencent` (docs/semantics.md) or `matrix` (docs/matrix.md). The traffic is
        /// the same; e.g. run a Matrix scenario against `--target server` with `--profile
        /// tencent` to compare the two backends with `readsim compare`.
        #[arg(long, value_parser = parse_profile)]
        profile: Option<readsim::protocol::Profile>,
        /// The Python venv holding Synapse for `--target synapse` (default:
        /// READSIM_SYNAPSE_VENV, else ~/.cache/readsim/synapse-venv; make one with
        /// scripts/install-synapse.sh).
        #[arg(long)]
        synapse_venv: Option<PathBuf>,
        /// Override the scenario's traffic duration (e.g. "20s").
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Live runs: how long to wait for unanswered operations after the schedule ends.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
        drain_timeout: std::time::Duration,
        /// Live runs: worker threads for the client sockets. 0 runs them on the scheduler's
        /// own thread: no cross-thread wake-up per frame, the least CPU and lateness (on 2
        /// cores it still drove scenarios/load-peak.toml's ~23,000 receipts/s). But a frame
        /// is then stamped when that thread gets to it: near the thread's limit, latencies
        /// include its queueing (load-peak's p50 doubled), so time such rates with 2 or more.
        /// Default: 0 on up to 2 CPUs (harness and server usually share them), else one per
        /// CPU.
        #[arg(long)]
        io_threads: Option<usize>,
        /// No progress bar or line on stderr (they are also off when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
        /// Simulate a copy of the model with a planted bug to watch readsim catch it:
        /// lost-notification, page-skips-entry, page-never-finishes, counts-one-too-many,
        /// unread-lists-reader, and (with faults or churn, e.g. scenarios/faults.toml)
        /// lost-notification-after-reconnect, later-joiner-counted, duplicate-counted-twice,
        /// count-backwards-after-restart; batch-size-off-by-one (with pulls.misuse_share, e.g.
        /// scenarios/misuse.toml); push-to-one-device (with population.devices > 1, e.g.
        /// scenarios/devices.toml); and (on a Matrix-profile scenario such as
        /// scenarios/matrix-sim.toml) marker-moves-backwards, earlier-not-covered,
        /// later-joiner-receipt-dropped, leaver-pulls-counts.
        /// Replay commands of such runs carry this flag.
        #[arg(long, value_parser = parse_bug)]
        plant_bug: Option<Bug>,
        /// What to print on stdout: `text` (the summary table) or `json` (a machine-readable
        /// summary: verdict, SLOs, percentiles per hop, counts, wall-clock figures).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// On a violation (simulated runs), shrink the scenario right away and write
        /// FILE's stem + `.shrunk.toml` with its one-line replay command.
        #[arg(long, conflicts_with = "duration")]
        shrink: bool,
        /// Memory budget, e.g. "4GiB" or "512MiB" (default: 80% of the machine's memory from
        /// /proc/meminfo, 8 GiB where unknown). A scenario whose estimated peak memory (see
        /// `readsim validate`) exceeds it is refused before starting (exit 2); a simulated
        /// run whose resident memory outgrows it is stopped without reports (exit 3).
        #[arg(long, value_parser = cmd::budget::parse_size)]
        max_memory: Option<u64>,
        /// Drive only shard I of N (0-based): every group and 1:1 pair belongs to exactly one
        /// shard (a fixed hash of its id, mod N), with its sends, reads, pulls and churn; a
        /// user appears in each shard that has one of its conversations. Run I = 0..N-1
        /// (anywhere, in any order) and join the reports with `readsim merge`. 0/1 is the
        /// whole run; the same seed and shard give the same report. `env/N` takes I from
        /// JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), `env:VAR/N` from VAR; a
        /// `{shard}` in --out becomes I.
        #[arg(long, value_parser = parse_shard, default_value = "0/1")]
        shard: readsim::scenario::Shard,
        /// Live runs: provision and connect, then begin the traffic phase at this wall time
        /// (RFC 3339, e.g. 2026-12-01T10:00:00Z), so the shards of a fleet start together; a
        /// run not ready by then fails (exit 3) instead of starting late. At most 1h ahead.
        /// run.json records the start. Simulated runs (virtual clock) ignore it.
        #[arg(long, env = "READSIM_START_AT", value_parser = cmd::start_at::parse_rfc3339)]
        start_at: Option<std::time::SystemTime>,
        /// --start-at as milliseconds since the Unix epoch (`$(( $(date +%s) * 1000 + 30000 ))`).
        #[arg(long, conflicts_with = "start_at")]
        start_at_epoch_ms: Option<u64>,
    },
    /// Re-run the simulated run recorded in a report.json (its embedded scenario, seed and
    /// target, planted bug included) and confirm it is the same run: same trace hash, same
    /// violations. Exit 0 when it reproduces exactly, 1 when it does not.
    Replay {
        /// A report.json written by `readsim run`, or the directory holding it.
        report: PathBuf,
    },
    /// Run many seeds of a scenario in the simulator, on all cores, and stop at the first
    /// failing seed with the commands that replay and shrink it.
    Sweep {
        /// Scenario file (TOML).
        file: PathBuf,
        /// Seeds to run: N, or A..B with both ends included.
        #[arg(long, default_value = "1..100")]
        seeds: String,
        /// Runs in parallel (default: the number of cores).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run every seed even after a failure.
        #[arg(long)]
        keep_going: bool,
        /// Sweep a copy of the model with this bug planted (see `run --plant-bug`).
        #[arg(long, value_parser = parse_bug)]
        plant_bug: Option<Bug>,
        /// Run only shard I of N (0-based) of the seeds: seed S belongs to shard S mod N, so
        /// `--seeds 1..1000 --shard 7/64` runs 7, 71, 135, ...; the N shards together run
        /// every seed of the range exactly once. `env/N` takes I from JOB_COMPLETION_INDEX,
        /// `env:VAR/N` from VAR; a `{shard}` in --out becomes I.
        #[arg(long, value_parser = parse_shard, default_value = "0/1")]
        shard: readsim::scenario::Shard,
        /// Write DIR/sweep.json: the seeds run, passed and failed and the first failures with
        /// their replay and shrink commands; `readsim merge` joins the shards' sweep.json
        /// into the sweep of the whole range.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Reduce a failing scenario (group classes, users, groups, sizes, pairs, page sizes,
    /// duration, rates, each fault kind, churn) to a small one that breaks the same invariant
    /// under the same seed; write it and its replay command.
    Shrink {
        /// Scenario file (TOML) that fails.
        file: PathBuf,
        /// The failing seed (default: the file's).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the small scenario (default: FILE's stem + `.shrunk.toml`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Most candidate runs to try.
        #[arg(long, default_value_t = 500)]
        max_runs: u32,
        /// Shrink against a copy of the model with this bug planted.
        #[arg(long, value_parser = parse_bug)]
        plant_bug: Option<Bug>,
    },
    /// Compare two reports (or two sets of runs): every hop's percentiles and the throughput,
    /// with deltas; exit 1 on a regression. Simulated reports compare exactly; for live
    /// reports give several runs per side (comma-separated) and only changes beyond the
    /// run-to-run spread are called.
    Compare {
        /// Baseline: report.json files or directories holding one, comma-separated.
        baseline: String,
        /// New: report.json files or directories holding one, comma-separated.
        new: String,
        /// Regression threshold in percent, KEY=PCT; KEY is a hop (receipt_to_notified), a
        /// percentile (p50, p90, p99, p999), `throughput` or `default` (5). Repeatable.
        #[arg(long = "threshold")]
        thresholds: Vec<String>,
        /// Each side names N runs: BASELINE and NEW are prefixes that expand to PREFIX1 ..
        /// PREFIXN (e.g. `--runs 5 runs/a runs/b` compares runs/a1..a5 with runs/b1..b5).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        runs: Option<u32>,
        /// What to print on stdout: `text`, `json` or `markdown` (a table for PR comments,
        /// biggest regressions first).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also write the Markdown table to FILE.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// Check a scenario file without running it and print the estimated size of its run
    /// (operations and pushes, connections, peak memory); errors name the line and field
    /// path. A scenario whose estimate exceeds the memory budget or 1e9 operations is
    /// refused (exit 2) with the field that drives it.
    Validate {
        /// Scenario file (TOML, at most 1 MiB).
        file: PathBuf,
        /// Memory budget the estimate must fit, as for `run --max-memory` (default: 80% of
        /// the machine's memory, 8 GiB where unknown).
        #[arg(long, value_parser = cmd::budget::parse_size)]
        max_memory: Option<u64>,
        /// Also estimate one shard of N (what one process of a fleet, one pod, holds: its
        /// connections, messages and peak memory); the budget applies to the shard.
        #[arg(long, value_parser = parse_shard, default_value = "0/1")]
        shard: readsim::scenario::Shard,
    },
    /// Join the reports of a run's shards (`run FILE --shard I/N`, I = 0..N-1) into one
    /// report of the whole run: report.json, report.md, report.html and run.json in --out;
    /// or a sweep's shards (`sweep FILE --seeds A..B --shard I/N --out DIR`) into the
    /// sweep.json of the whole range.
    ///
    /// Every hop's latency histogram is the exact merge of the shards' HdrHistograms (not
    /// averaged percentiles); operation counts, errors, receipts and per-second throughput
    /// add up; the SLOs are evaluated again on the merged figures; any shard's violation
    /// fails the merged verdict and is listed with that shard's replay command.
    ///
    /// Reports of different runs (scenario, seed, readsim version, target, N) or the same
    /// shard twice are refused (exit 2); a missing shard is an error naming it unless
    /// --allow-partial. Exit 0 when the merged run passed, 1 when it failed.
    ///
    /// Example: for i in 0 1 2 3; do readsim run s.toml --shard $i/4 --out out/$i; done;
    /// readsim merge out/0 out/1 out/2 out/3 --out out/all
    Merge {
        /// The shards' report.json (or sweep.json) files, or the directories holding them.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Directory for the merged report (or sweep.json).
        #[arg(long)]
        out: PathBuf,
        /// Write the report even if shards are missing; its first line names them, and the
        /// merged verdict fails as incomplete.
        #[arg(long)]
        allow_partial: bool,
    },
    /// Check that a server implements docs/protocol.md: every documented behaviour (each
    /// operation and push, each error code in its order, paging edges, batch limits,
    /// duplicates, auth refusals, bad frames, close codes, the doc's literal examples) as a
    /// small named check on fresh users and groups. Prints `rule | check | pass/fail/skip |
    /// what was seen` and which rules of docs/semantics.md are covered. Checks that need a
    /// server conform started (`--target server`: limits, 4000, 1001, the admin examples) are
    /// skipped otherwise, never failed. Exit 0 when no check failed, 1 on any failure, 2 on
    /// bad usage, 3 when the target cannot be reached.
    Conform {
        /// `server` (start `readsim serve` on a free loopback port with a temporary
        /// database) or `ws://HOST:PORT` (a server that is up; needs --admin-token).
        #[arg(required_unless_present = "target", conflicts_with = "target")]
        url: Option<String>,
        /// The same as TARGET, as an option (`--target server`).
        #[arg(long)]
        target: Option<String>,
        /// Admin bearer token of the server named by `ws://...`.
        #[arg(long, env = "READSIM_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        /// `text` (the table) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also send the admin-API examples of docs/protocol.md literally to a `ws://` target:
        /// they create the doc's ids (u17, g3, u1, ...) on it. Always on with `--target server`.
        #[arg(long)]
        admin_examples: bool,
    },
    /// Print the JSON schema of the scenario file format.
    Schema,
    /// Run the reference server (docs/protocol.md): WebSocket clients at /v1/ws, admin API at
    /// /v1/admin. The first stdout line is `readsim serve listening on ADDR admin_token=T`
    /// (plus `secret=HEX` when the secret was generated). Stops gracefully on SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free port; the line above names it).
        #[arg(long, default_value = "127.0.0.1:7878")]
        listen: String,
        /// SQLite database file (WAL mode), created or reopened.
        #[arg(long, conflicts_with = "memory", required_unless_present = "memory")]
        db: Option<PathBuf>,
        /// Keep everything in memory; nothing survives the process.
        #[arg(long)]
        memory: bool,
        /// Token signing secret, hex (random if not given).
        #[arg(long, env = "READSIM_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Admin bearer token (random if not given).
        #[arg(long, env = "READSIM_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
        #[command(flatten)]
        limits: ServeLimits,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help and version on stdout (exit 0) and usage errors on stderr.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let status = dispatch(cli.command).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        e.exit_status()
    });
    ExitCode::from(status.code())
}

/// Any command's error, with the exit status it means.
type CmdResult = Result<ExitStatus, Box<dyn Classify>>;

fn boxed<E: Classify + 'static>(r: Result<ExitStatus, E>) -> CmdResult {
    r.map_err(|e| Box::new(e) as Box<dyn Classify>)
}

fn dispatch(command: Command) -> CmdResult {
    match command {
        Command::Run { .. } => run(command),
        Command::Replay { report } => boxed(cmd::replay::execute(&report)),
        Command::Validate {
            file,
            max_memory,
            shard,
        } => boxed(cmd::validate::execute(
            &file,
            cmd::budget::budget(max_memory),
            shard,
        )),
        Command::Schema => Ok(cmd::validate::schema()),
        Command::Conform {
            url,
            target,
            admin_token,
            format,
            admin_examples,
        } => {
            let format = match format {
                Format::Text => cmd::conform::ConformFormat::Text,
                Format::Json => cmd::conform::ConformFormat::Json,
                Format::Markdown => {
                    eprintln!("error: conform prints text or json");
                    return Ok(ExitStatus::BadInput);
                }
            };
            boxed(cmd::conform::execute(&cmd::conform::ConformOptions {
                target: url.or(target).unwrap_or_default(),
                admin_token,
                format,
                log: None,
                admin_examples,
            }))
        }
        Command::Merge {
            reports,
            out,
            allow_partial,
        } => boxed(cmd::merge::execute(&cmd::merge::MergeOptions {
            inputs: reports,
            out,
            allow_partial,
        })),
        Command::Sweep {
            file,
            seeds,
            jobs,
            keep_going,
            plant_bug,
            shard,
            out,
        } => boxed(cmd::sweep::execute(&cmd::sweep::SweepOptions {
            file,
            seeds,
            jobs,
            keep_going,
            bug: plant_bug,
            shard,
            out: out.map(|o| cmd::shard_arg::out_dir(&o, shard)),
        })),
        Command::Shrink {
            file,
            seed,
            out,
            max_runs,
            plant_bug,
        } => boxed(cmd::shrink::execute(
            &file,
            seed,
            out.as_deref(),
            max_runs,
            plant_bug,
        )),
        Command::Compare {
            baseline,
            new,
            thresholds,
            runs,
            format,
            markdown,
        } => boxed(cmd::compare::execute(&cmd::compare::CompareOptions {
            baseline,
            new,
            thresholds,
            runs,
            format: match format {
                Format::Text => cmd::compare::CompareFormat::Text,
                Format::Json => cmd::compare::CompareFormat::Json,
                Format::Markdown => cmd::compare::CompareFormat::Markdown,
            },
            markdown,
        })),
        Command::Serve {
            listen,
            db,
            memory,
            secret,
            admin_token,
            limits: l,
        } => boxed(cmd::serve::execute(cmd::serve::ServeOptions {
            listen,
            db: db.filter(|_| !memory),
            secret,
            admin_token,
            limits: cmd::serve::Limits {
                max_connections: l.max_connections,
                header_timeout: l.header_timeout,
                idle_timeout: l.idle_timeout,
                body_timeout: l.body_timeout,
                ws_ping_interval: l.ws_ping_interval,
                ws_idle_timeout: l.ws_idle_timeout,
                max_token_ttl_secs: l.max_token_ttl.as_secs(),
            },
        })),
    }
}

fn run(command: Command) -> CmdResult {
    let Command::Run {
        file,
        seed,
        out,
        check_determinism,
        target,
        admin_token,
        registration_secret,
        synapse_venv,
        profile,
        duration,
        drain_timeout,
        io_threads,
        quiet,
        plant_bug,
        format,
        shrink,
        max_memory,
        shard,
        start_at,
        start_at_epoch_ms,
    } = command
    else {
        unreachable!("run() is only called for `run`")
    };
    let format = match format {
        Format::Text => cmd::run::Format::Text,
        Format::Json => cmd::run::Format::Json,
        Format::Markdown => {
            eprintln!("error: run writes report.md itself; --format takes text or json for run");
            return Ok(ExitStatus::BadInput);
        }
    };
    let progress = !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let out = cmd::shard_arg::out_dir(&out, shard);
    let live = match readsim::live::LiveTarget::parse(&target) {
        Ok(t) => t.map(|target| readsim::live::LiveOptions {
            target,
            admin_token,
            progress,
            log_dir: out.clone(),
            drain_timeout,
            connect_parallelism: 64,
            io_threads,
            registration_secret,
            synapse_venv,
            start_at: None,
            stop: None,
        }),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitStatus::BadInput);
        }
    };
    let opts = cmd::run::RunOptions {
        file,
        seed,
        out,
        check_determinism,
        live,
        duration: duration.map(|d| readsim::scenario::Dur::from_micros(d.as_micros() as u64)),
        profile,
        plant_bug,
        progress,
        budget: cmd::budget::budget(max_memory),
        shard,
        start_at: start_at.or(start_at_epoch_ms.map(readsim::live::start::from_epoch_ms)),
    };
    boxed(cmd::run::execute(&opts, format, shrink))
}

/// How `readsim serve` protects itself from clients (docs/protocol.md, "Connection limit and
/// timeouts").
#[derive(clap::Args)]
struct ServeLimits {
    /// Open connections at most (HTTP and WebSocket); over it a socket gets HTTP 503 (its
    /// `/v1/health` is still answered). 0: the open-file limit, raised to the hard limit,
    /// less a reserve.
    #[arg(long, default_value_t = 0)]
    max_connections: usize,
    /// Time from connect to a complete first request head.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10s")]
    header_timeout: std::time::Duration,
    /// Time an HTTP connection may wait between requests.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    idle_timeout: std::time::Duration,
    /// Time an admin request body may take to arrive once its head did.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    body_timeout: std::time::Duration,
    /// How often the server pings each WebSocket.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    ws_ping_interval: std::time::Duration,
    /// A WebSocket silent this long (no frame, ping or pong) is closed with code 4000.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "75s")]
    ws_idle_timeout: std::time::Duration,
    /// Longest token lifetime the admin API issues (longer `ttl_secs` is BAD_REQUEST).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "31days")]
    max_token_ttl: std::time::Duration,
}

fn parse_profile(s: &str) -> Result<readsim::protocol::Profile, String> {
    match s {
        "tencent" => Ok(readsim::protocol::Profile::Tencent),
        "matrix" => Ok(readsim::protocol::Profile::Matrix),
        other => Err(format!("unknown profile {other:?}; use tencent or matrix")),
    }
}

fn parse_shard(s: &str) -> Result<readsim::scenario::Shard, String> {
    cmd::shard_arg::resolve(s)
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    Bug::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        format!("unknown bug {s:?}; plantable bugs: {}", names.join(", "))
    })
}
