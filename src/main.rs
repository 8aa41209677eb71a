//! readsim: a thin CLI over the library. Exit codes: 0 all checks and SLOs hold, 1 a
//! violation, a missed SLO or a regression (or a failed determinism check), 2 bad usage or a
//! bad scenario file.

use anyhow::Result;
use clap::{Parser, Subcommand};
use readsim::run::{RunError, RunOptions};
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
Exit codes: 0 all checks and SLOs hold, 1 a violation was found or an SLO missed, 2 bad usage \
or a bad scenario file."
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
        /// on a free loopback port with a temporary database and drive it live), or
        /// `ws://HOST:PORT` (drive a server that is already up; needs --admin-token).
        #[arg(long, default_value = "model")]
        target: String,
        /// Admin bearer token of the server named by `--target ws://...`.
        #[arg(long, env = "READSIM_ADMIN_TOKEN")]
        admin_token: Option<String>,
        /// Override the scenario's traffic duration (e.g. "20s").
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// Live runs: how long to wait for unanswered operations after the schedule ends.
        #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
        drain_timeout: std::time::Duration,
        /// No progress bar or line on stderr (they are also off when stderr is not a terminal).
        #[arg(long)]
        quiet: bool,
        /// Simulate a copy of the model with a planted bug to watch readsim catch it:
        /// lost-notification, page-skips-entry, counts-one-too-many, unread-lists-reader, and
        /// (with faults or churn, e.g. scenarios/faults.toml) lost-notification-after-reconnect,
        /// later-joiner-counted, duplicate-counted-twice, count-backwards-after-restart.
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
    /// Check a scenario file without running it; errors name the line and field path.
    Validate {
        /// Scenario file (TOML).
        file: PathBuf,
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
    },
}

/// `run --shrink`: shrink the failing scenario and say where the small case is.
fn shrink_and_report(file: &std::path::Path, seed: Option<u64>, bug: Option<Bug>) -> Result<()> {
    eprintln!("shrinking {} ...", file.display());
    let r = readsim::shrink::shrink_file(file, seed, bug, 500, None)?;
    match (r.shrunk, r.written, r.replay, r.signature) {
        (Some(s), Some(path), Some(cmd), Some(sig)) => {
            eprintln!(
                "shrunk `{}` failure in {} runs to {} users, {} groups, {} pairs, {} of traffic",
                sig.name(),
                s.runs,
                s.scenario.population.users,
                s.scenario.groups.iter().map(|g| g.count).sum::<u32>(),
                s.scenario.c2c.pairs,
                s.scenario.duration
            );
            eprintln!("wrote {}\nreplay: {cmd}", path.display());
        }
        _ => eprintln!("the failure did not reproduce from the file alone; nothing shrunk"),
    }
    Ok(())
}

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            file,
            seed,
            out,
            check_determinism,
            target,
            admin_token,
            duration,
            drain_timeout,
            quiet,
            plant_bug,
            format,
            shrink,
        } => {
            if format == Format::Markdown {
                eprintln!(
                    "error: run writes report.md itself; --format takes text or json for run"
                );
                return Ok(ExitCode::from(2));
            }
            let live = match readsim::live::LiveTarget::parse(&target) {
                Ok(t) => t.map(|target| readsim::live::LiveOptions {
                    target,
                    admin_token,
                    progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
                    log_dir: out.clone(),
                    drain_timeout,
                    connect_parallelism: 64,
                }),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            let live_run = live.is_some();
            let file_for_shrink = file.clone();
            let opts = RunOptions {
                file,
                seed,
                out: out.clone(),
                check_determinism,
                live,
                duration: duration
                    .map(|d| readsim::scenario::Dur::from_micros(d.as_micros() as u64)),
                plant_bug,
                progress: !quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            };
            match readsim::run::run(&opts) {
                Ok(r) => {
                    if format == Format::Json {
                        let mut v = r.json_summary(&out);
                        if check_determinism {
                            v["determinism_check"] = "passed".into();
                        }
                        println!("{}", serde_json::to_string_pretty(&v)?);
                    } else {
                        print!("{}", r.terminal);
                        if check_determinism {
                            println!(
                                "determinism check: passed (two runs, identical trace and \
                                 report.json)"
                            );
                        }
                        println!("reports written to {}", out.display());
                    }
                    let failed_slo = readsim::slo::failed_names(&r.slo);
                    if !failed_slo.is_empty() {
                        eprintln!(
                            "SLO not met: {}; see the slo lines above and report.md",
                            failed_slo.join(", ")
                        );
                    }
                    if r.violations_total > 0 {
                        eprintln!(
                            "{} violation(s) found; replay with: {}",
                            r.violations_total, r.replay
                        );
                        if shrink {
                            if live_run {
                                eprintln!(
                                    "--shrink: live runs are not shrunk (their timing is not reproducible); shrink a simulated run of the scenario"
                                );
                            } else {
                                shrink_and_report(&file_for_shrink, seed, plant_bug)?;
                            }
                        }
                        return Ok(ExitCode::from(1));
                    }
                    if r.incomplete > 0 {
                        eprintln!(
                            "the live run is incomplete ({} operations or connections lost, see \
                             `problem:` lines above); replay with: {}",
                            r.incomplete, r.replay
                        );
                        return Ok(ExitCode::from(1));
                    }
                    if !failed_slo.is_empty() {
                        return Ok(ExitCode::from(1));
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(RunError::Live(e @ readsim::live::LiveError::Usage(_))) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
                Err(RunError::Scenario(e)) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Replay { report } => match readsim::replay::replay(&report) {
            Ok(r) => {
                println!(
                    "replayed {} seed={} target={}: trace {} (recorded {}), {} violation(s) \
                     (recorded {})",
                    r.scenario,
                    r.seed,
                    r.target,
                    r.replayed_hash,
                    r.recorded_hash,
                    r.violations_total,
                    r.recorded_violations
                );
                for v in r
                    .violations
                    .iter()
                    .take(readsim::report::TERMINAL_VIOLATIONS)
                {
                    println!("  - {v}");
                }
                if r.exact() {
                    println!("REPRODUCED exactly");
                    Ok(ExitCode::SUCCESS)
                } else {
                    println!(
                        "NOT REPRODUCED: the trace differs (another readsim version, or a \
                         determinism bug: please report it with the report.json)"
                    );
                    Ok(ExitCode::from(1))
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Validate { file } => match readsim::scenario::load_file(&file) {
            Ok(s) => {
                println!("{}: ok (scenario {:?})", file.display(), s.name);
                Ok(ExitCode::SUCCESS)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(ExitCode::from(2))
            }
        },
        Command::Sweep {
            file,
            seeds,
            jobs,
            keep_going,
            plant_bug,
        } => sweep(&file, &seeds, jobs, keep_going, plant_bug),
        Command::Shrink {
            file,
            seed,
            out,
            max_runs,
            plant_bug,
        } => shrink(&file, seed, out.as_deref(), max_runs, plant_bug),
        Command::Compare {
            baseline,
            new,
            thresholds,
            runs,
            format,
            markdown,
        } => compare(
            &baseline,
            &new,
            &thresholds,
            runs,
            format,
            markdown.as_deref(),
        ),
        Command::Schema => {
            println!("{}", readsim::scenario::json_schema());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            listen,
            db,
            memory,
            secret,
            admin_token,
        } => serve(listen, db.filter(|_| !memory), secret, admin_token),
    }
}

fn serve(
    listen: String,
    db: Option<PathBuf>,
    secret: Option<String>,
    admin_token: Option<String>,
) -> Result<ExitCode> {
    use readsim::server::{ServerConfig, Store};
    use std::io::Write;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let mut cfg = ServerConfig::random();
    let secret_note = match secret {
        Some(h) => {
            cfg.secret =
                hex::decode(h.trim()).map_err(|e| anyhow::anyhow!("--secret must be hex: {e}"))?;
            String::new()
        }
        None => format!(" secret={}", hex::encode(&cfg.secret)),
    };
    if let Some(t) = admin_token {
        cfg.admin_token = t;
    }
    let store = match &db {
        Some(p) => Store::open(p)?,
        None => Store::in_memory()?,
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(
            out,
            "readsim serve listening on {addr} admin_token={}{secret_note}",
            cfg.admin_token
        )?;
        out.flush()?;
        readsim::server::run(listener, store, cfg, readsim::server::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

fn parse_bug(s: &str) -> Result<Bug, String> {
    Bug::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Bug::ALL.iter().map(|b| b.name()).collect();
        format!("unknown bug {s:?}; plantable bugs: {}", names.join(", "))
    })
}

fn sweep(
    file: &std::path::Path,
    seeds: &str,
    jobs: Option<usize>,
    keep_going: bool,
    bug: Option<Bug>,
) -> Result<ExitCode> {
    let range = match readsim::sweep::parse_seeds(seeds) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let scenario = match readsim::scenario::load_file(file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let summary = readsim::sweep::sweep(
        &scenario,
        file,
        range,
        bug,
        jobs,
        keep_going,
        |r| match &r.first {
            None => println!("seed {:>6}  pass  {:>9} ops", r.seed, r.ops),
            Some(v) => println!(
                "seed {:>6}  FAIL  {} violation(s), first: {}",
                r.seed, r.violations, v
            ),
        },
    );
    let failed = summary.results.iter().filter(|r| !r.passed()).count();
    let ops = summary.total_ops();
    println!(
        "{} seeds: {} passed, {} failed; {} ops simulated in {:.1}s ({:.0} ops/s)",
        summary.results.len(),
        summary.results.len() - failed,
        failed,
        ops,
        summary.wall_seconds,
        ops as f64 / summary.wall_seconds.max(1e-9)
    );
    match summary.first_failure {
        None => Ok(ExitCode::SUCCESS),
        Some(seed) => {
            let bug_flag = bug
                .map(|b| format!(" --plant-bug {}", b.name()))
                .unwrap_or_default();
            eprintln!(
                "seed {seed} fails. Replay: {}\nShrink:  readsim shrink {} --seed {seed}{bug_flag}",
                readsim::sweep::replay(file, seed, bug),
                file.display()
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn shrink(
    file: &std::path::Path,
    seed: Option<u64>,
    out: Option<&std::path::Path>,
    max_runs: u32,
    bug: Option<Bug>,
) -> Result<ExitCode> {
    match readsim::shrink::shrink_file(file, seed, bug, max_runs, out) {
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Ok(r) => match (r.signature, r.shrunk, r.written, r.replay) {
            (Some(sig), Some(shrunk), Some(path), Some(replay)) => {
                let s = &shrunk.scenario;
                let groups: u32 = s.groups.iter().map(|g| g.count).sum();
                println!(
                    "shrunk `{}` failure in {} runs ({} steps) to {} users, {} groups, {} pairs, {} of traffic",
                    sig.name(),
                    shrunk.runs,
                    shrunk.steps,
                    s.population.users,
                    groups,
                    s.c2c.pairs,
                    s.duration
                );
                println!("wrote {}", path.display());
                println!("replay: {replay}");
                Ok(ExitCode::SUCCESS)
            }
            _ => {
                eprintln!(
                    "{} passes with this seed: nothing to shrink (find a failing seed with \
                     `readsim sweep`)",
                    file.display()
                );
                Ok(ExitCode::from(2))
            }
        },
    }
}

fn compare(
    baseline: &str,
    new: &str,
    thresholds: &[String],
    runs: Option<u32>,
    format: Format,
    markdown: Option<&std::path::Path>,
) -> Result<ExitCode> {
    use readsim::compare::{Side, Thresholds};
    let paths = |s: &str| -> Result<Vec<PathBuf>, String> {
        match runs {
            Some(_) if s.contains(',') => Err(format!(
                "--runs expands one prefix per side, but {s:?} lists several paths; \
                 give a prefix (e.g. runs/a for runs/a1..runs/aN) or drop --runs"
            )),
            Some(n) => Ok((1..=n).map(|i| PathBuf::from(format!("{s}{i}"))).collect()),
            None => Ok(s
                .split(',')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect()),
        }
    };
    let (base_paths, new_paths) = match (paths(baseline), paths(new)) {
        (Ok(b), Ok(n)) => (b, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let loaded = Thresholds::parse(thresholds).and_then(|t| {
        Ok((
            t,
            Side::load(&base_paths, "baseline")?,
            Side::load(&new_paths, "new")?,
        ))
    });
    match loaded {
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
        Ok((t, b, n)) => {
            let c = readsim::compare::compare(&b, &n, &t);
            let md = readsim::compare::render_markdown(&c);
            if let Some(path) = markdown {
                std::fs::write(path, &md).map_err(|e| {
                    anyhow::anyhow!(
                        "cannot write {}: {e}; choose a writable path",
                        path.display()
                    )
                })?;
            }
            match format {
                Format::Text => print!("{}", readsim::compare::render(&c)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&c.to_json())?),
                Format::Markdown => print!("{md}"),
            }
            Ok(if c.has_regression() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
