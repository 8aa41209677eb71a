//! readsim: a thin CLI over the library. Exit codes: 0 all checks hold, 1 a violation (or a
//! failed determinism check), 2 bad usage or a bad scenario file.

use anyhow::Result;
use clap::{Parser, Subcommand};
use readsim::run::{RunError, RunOptions};
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
Reports go to reports/latest/ (report.json, report.md, run.json).\n\
Exit codes: 0 all checks hold, 1 a violation was found, 2 bad usage or a bad scenario file."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario in the simulator against the reference model and check it.
    ///
    /// Same scenario + seed => byte-identical report.json. On a violation, the report and
    /// the terminal name the invariant, the message, and the command that replays it.
    Run {
        /// Scenario file (TOML); see `readsim schema` and scenarios/smoke.toml.
        file: PathBuf,
        /// Seed of every random decision (overrides the file's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Directory for report.json, report.md and run.json.
        #[arg(long, default_value = "reports/latest")]
        out: PathBuf,
        /// Run twice and fail (exit 1) unless both traces and reports are identical.
        #[arg(long)]
        check_determinism: bool,
    },
    /// Check a scenario file without running it; errors name the line and field path.
    Validate {
        /// Scenario file (TOML).
        file: PathBuf,
    },
    /// Print the JSON schema of the scenario file format.
    Schema,
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
        } => {
            let opts = RunOptions {
                file,
                seed,
                out: out.clone(),
                check_determinism,
            };
            match readsim::run::run(&opts) {
                Ok(r) => {
                    print!("{}", r.terminal);
                    if check_determinism {
                        println!(
                            "determinism check: passed (two runs, identical trace and report.json)"
                        );
                    }
                    println!("reports written to {}", out.display());
                    if r.violations_total > 0 {
                        eprintln!(
                            "{} violation(s) found; replay with: {}",
                            r.violations_total, r.replay
                        );
                        return Ok(ExitCode::from(1));
                    }
                    Ok(ExitCode::SUCCESS)
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
        Command::Schema => {
            println!("{}", readsim::scenario::json_schema());
            Ok(ExitCode::SUCCESS)
        }
    }
}
