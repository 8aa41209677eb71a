//! The Synapse launcher: finds the Python venv Synapse is installed in, writes a config for
//! one run into the run's out dir (`OUT/synapse/`: homeserver.yaml, the SQLite database,
//! synapse.log), starts Synapse as a child process on a free loopback port, waits for
//! `GET /health`, and stops, kills (crash fault) and restarts it on the same database.
//! Plain blocking methods (like `live::server::ChildServer`) so any driver can wrap them.

use super::synapse_config::{self, SERVER_NAME, Secrets};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the venv when `--synapse-venv` is not given.
pub const VENV_ENV: &str = "READSIM_SYNAPSE_VENV";
/// The install script, relative to the repository root.
pub const INSTALL_SCRIPT: &str = "scripts/install-synapse.sh";
/// A first start creates the database schema; on a busy 2-core machine that took ~10 s.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a SIGTERM gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum SynapseError {
    #[error(
        "no usable Synapse in {venv} ({origin}): {detail}. Install it with: {}",
        install_command(venv)
    )]
    NotInstalled {
        venv: PathBuf,
        /// Where the path came from: `--synapse-venv`, `READSIM_SYNAPSE_VENV`, the default.
        origin: String,
        detail: String,
    },
    #[error(
        "cannot locate the default Synapse venv: neither XDG_CACHE_HOME nor HOME is set; pass --synapse-venv or set {VENV_ENV}"
    )]
    NoHome,
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Synapse did not start: {what}. The end of {}:\n{tail}", log.display())]
    Start {
        what: String,
        log: PathBuf,
        tail: String,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SynapseError {
    let path = path.to_path_buf();
    move |source| SynapseError::Io { what, path, source }
}

/// `$XDG_CACHE_HOME/readsim/synapse-venv`, else `~/.cache/readsim/synapse-venv` (relative
/// XDG paths are ignored, as the XDG spec says).
pub fn default_venv() -> Option<PathBuf> {
    let nonempty = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = nonempty("XDG_CACHE_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| nonempty("HOME").map(|h| h.join(".cache")))?;
    Some(cache.join("readsim").join("synapse-venv"))
}

/// The one command that installs Synapse into `venv` (no argument for the default path).
pub fn install_command(venv: &Path) -> String {
    if default_venv().as_deref() == Some(venv) {
        INSTALL_SCRIPT.to_string()
    } else {
        format!("{INSTALL_SCRIPT} '{}'", venv.display())
    }
}

/// The venv to use: `flag` (`--synapse-venv`), else `$READSIM_SYNAPSE_VENV`, else
/// [`default_venv`]; checked to import `synapse`. Returns it with Synapse's version.
pub fn find_venv(flag: Option<PathBuf>) -> Result<(PathBuf, String), SynapseError> {
    let env = std::env::var_os(VENV_ENV).filter(|v| !v.is_empty());
    let (venv, origin) = match (flag, env) {
        (Some(p), _) => (p, "from --synapse-venv".to_string()),
        (None, Some(p)) => (PathBuf::from(p), format!("from {VENV_ENV}")),
        (None, None) => (
            default_venv().ok_or(SynapseError::NoHome)?,
            "the default location".to_string(),
        ),
    };
    let version = check_venv(&venv, &origin)?;
    Ok((venv, version))
}

/// Synapse's version if `venv/bin/python` can import it.
pub fn check_venv(venv: &Path, origin: &str) -> Result<String, SynapseError> {
    let not = |detail: String| SynapseError::NotInstalled {
        venv: venv.to_path_buf(),
        origin: origin.to_string(),
        detail,
    };
    let python = venv.join("bin").join("python");
    if !python.exists() {
        return Err(not(format!("{} does not exist", python.display())));
    }
    let out = Command::new(&python)
        .args(["-c", "import synapse; print(synapse.__version__)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| not(format!("cannot run {}: {e}", python.display())))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(not(format!("`import synapse` failed ({last})")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A running (or killed, between a crash and its restart) Synapse of one run.
pub struct Synapse {
    /// `http://127.0.0.1:PORT`; changes only if a restart had to take another port.
    pub base_url: String,
    pub port: u16,
    /// For shared-secret registration (`matrix::register`).
    pub shared_secret: String,
    /// `localhost`: user ids are `@name:localhost`.
    pub server_name: String,
    /// Synapse's version (`1.163.2`).
    pub version: String,
    /// Restarts so far.
    pub restarts: u32,
    secrets: Secrets,
    python: PathBuf,
    /// `OUT/synapse`: config, database, media, logs.
    dir: PathBuf,
    child: Option<Child>,
}

fn free_port() -> Result<u16, SynapseError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind", Path::new("127.0.0.1:0")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(io("read the address of", Path::new("127.0.0.1:0")))
}

impl Synapse {
    /// Writes the config into `out_dir/synapse/` and starts Synapse from `venv` on a free
    /// loopback port, returning once `GET /health` answers.
    pub fn start(venv: &Path, out_dir: &Path) -> Result<Synapse, SynapseError> {
        let version = check_venv(venv, "given to Synapse::start")?;
        let dir = out_dir.join("synapse");
        // Every run starts on an empty homeserver: an earlier run's database in the same out
        // dir would hold this run's users and rooms already.
        for stale in [
            "homeserver.db",
            "homeserver.db-wal",
            "homeserver.db-shm",
            "synapse.log",
        ] {
            let _ = std::fs::remove_file(dir.join(stale));
        }
        let _ = std::fs::remove_dir_all(dir.join("media_store"));
        std::fs::create_dir_all(dir.join("media_store")).map_err(io("create", &dir))?;
        // Absolute: Synapse runs in this directory, and the config names its files by path.
        let dir = std::fs::canonicalize(&dir).map_err(io("resolve", &dir))?;
        let key = dir.join("signing.key");
        std::fs::write(&key, synapse_config::signing_key()).map_err(io("write", &key))?;
        let log = dir.join("synapse.log");
        std::fs::write(
            dir.join("log.config"),
            synapse_config::log_config_yaml(&log),
        )
        .map_err(io("write", &dir.join("log.config")))?;
        let secrets = Secrets::random();
        let mut s = Synapse {
            base_url: String::new(),
            port: 0,
            shared_secret: secrets.registration_shared_secret.clone(),
            server_name: SERVER_NAME.to_string(),
            version,
            restarts: 0,
            secrets,
            python: venv.join("bin").join("python"),
            dir,
            child: None,
        };
        // The free port is only free until someone else binds it: try a few.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match s.spawn(free_port()?) {
                Err(e) if attempts < 3 && port_taken(&e) => continue,
                other => return other.map(|()| s),
            }
        }
    }

    /// Synapse's own log.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("synapse.log")
    }

    /// `OUT/synapse`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The child's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `user` as a full Matrix id on this server.
    pub fn user_id(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.server_name)
    }

    /// Appends a line to synapse.log so a post-mortem sees where the harness acted (Python
    /// opened it for appending too, so lines do not overwrite each other).
    fn note(&self, what: &str) {
        let log = self.log_path();
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "=== readsim: {what}");
        }
    }

    /// Starts Synapse on `port` with this run's config and waits until it is healthy.
    fn spawn(&mut self, port: u16) -> Result<(), SynapseError> {
        let config = self.dir.join("homeserver.yaml");
        let yaml = synapse_config::homeserver_yaml(&self.dir, port, &self.secrets);
        std::fs::write(&config, yaml).map_err(io("write", &config))?;
        // Python's own stderr (import errors, a config it rejects before logging is set up).
        let stderr_path = self.dir.join("stderr.log");
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)
            .map_err(io("open", &stderr_path))?;
        let stdout = stderr.try_clone().map_err(io("open", &stderr_path))?;
        let child = Command::new(&self.python)
            .args(["-m", "synapse.app.homeserver", "--config-path"])
            .arg(&config)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(io("start", &self.python))?;
        self.note(&format!("started Synapse, pid {}, port {port}", child.id()));
        self.child = Some(child);
        self.port = port;
        self.base_url = format!("http://127.0.0.1:{port}");
        self.wait_healthy(START_TIMEOUT)
    }

    /// Polls `GET /health` until it answers 200; fails at once if the child exits.
    fn wait_healthy(&mut self, within: Duration) -> Result<(), SynapseError> {
        let deadline = Instant::now() + within;
        loop {
            let exited = match self.child.as_mut().map(Child::try_wait) {
                Some(Ok(None)) => None,
                Some(Ok(Some(status))) => Some(format!("it exited ({status})")),
                Some(Err(e)) => Some(format!("cannot watch it: {e}")),
                None => Some("it is not running".to_string()),
            };
            if let Some(what) = exited {
                self.child = None;
                return Err(self.start_error(what));
            }
            if health_ok(self.port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill_child();
                let what = format!("GET /health did not answer 200 within {within:?}");
                return Err(self.start_error(what));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_error(&self, what: String) -> SynapseError {
        let log = self.log_path();
        let mut text = tail(&log, 20);
        let stderr = tail(&self.dir.join("stderr.log"), 10);
        if !stderr.trim().is_empty() {
            text.push_str("\n--- stderr.log:\n");
            text.push_str(&stderr);
        }
        SynapseError::Start {
            what,
            log,
            tail: text,
        }
    }

    fn kill_child(&mut self) -> Option<u32> {
        let mut child = self.child.take()?;
        let _ = child.kill();
        let _ = child.wait();
        Some(child.id())
    }

    /// SIGKILL (a crash: nothing flushed, in-flight requests lost) and wait for the exit.
    /// The database stays for [`Synapse::restart`].
    pub fn kill(&mut self) {
        if let Some(pid) = self.kill_child() {
            self.note(&format!("killed Synapse (SIGKILL), pid {pid}"));
        }
    }

    /// Starts Synapse again (killing it first if it runs) with the same config, database
    /// and secrets, so users, rooms and tokens survive. Same port if it can be bound again
    /// within ~2 s, else a fresh one: returns whether `base_url` changed.
    pub fn restart(&mut self) -> Result<bool, SynapseError> {
        self.kill();
        self.restarts += 1;
        let old = self.port;
        self.note(&format!("restart #{} on port {old}", self.restarts));
        let mut last = None;
        for _ in 0..10 {
            match self.spawn(old) {
                Ok(()) => return Ok(false),
                Err(e) if port_taken(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        self.note(&format!(
            "port {old} stays taken ({why}); restarting on a fresh port"
        ));
        self.spawn(free_port()?)?;
        Ok(true)
    }

    /// SIGTERM, then SIGKILL if it has not exited within 15 s. Files stay in the out dir.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // No libc in the crate: `kill -TERM` does the signal (as live::server does).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP_GRACE;
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(child.try_wait(), Ok(None)) {
            let _ = child.kill();
            self.note("Synapse ignored SIGTERM for 15 s: killed");
        }
        let _ = child.wait();
        self.note(&format!("stopped Synapse, pid {}", child.id()));
    }
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A start that failed because another socket holds the port.
fn port_taken(e: &SynapseError) -> bool {
    matches!(e, SynapseError::Start { tail, .. }
        if tail.contains("Address already in use") || tail.contains("CannotListenError"))
}

/// One `GET /health` over a fresh connection (std only: the launcher is blocking code).
fn health_ok(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let mut n = 0;
    while n < head.len() {
        match s.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    let head = String::from_utf8_lossy(&head[..n]);
    head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200")
}

/// The last `lines` lines of a log file, or a note that it cannot be read.
fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            // Only the end matters; a long run's log can be large.
            let start = bytes.len().saturating_sub(64 * 1024);
            let text = String::from_utf8_lossy(&bytes[start..]);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_venv_without_synapse_names_the_install_command() {
        let dir = tempfile::tempdir().unwrap();
        let e = check_venv(dir.path(), "from --synapse-venv").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("bin/python does not exist"), "{msg}");
        assert!(
            msg.contains(&format!(
                "Install it with: scripts/install-synapse.sh '{}'",
                dir.path().display()
            )),
            "{msg}"
        );
        let e = find_venv(Some(dir.path().to_path_buf())).unwrap_err();
        assert!(e.to_string().contains("from --synapse-venv"), "{e}");
    }

    #[test]
    fn the_default_venv_lives_in_the_cache_dir() {
        if let Some(d) = default_venv() {
            assert!(d.ends_with("readsim/synapse-venv"), "{}", d.display());
            assert_eq!(install_command(&d), INSTALL_SCRIPT);
        }
    }

    #[test]
    fn port_conflicts_are_recognised_from_the_log() {
        let e = SynapseError::Start {
            what: "it exited".into(),
            log: PathBuf::from("x"),
            tail: "twisted.internet.error.CannotListenError: Couldn't listen on 127.0.0.1:8008: [Errno 98] Address already in use.".into(),
        };
        assert!(port_taken(&e));
    }

    #[test]
    fn health_is_false_when_nothing_listens() {
        assert!(!health_ok(free_port().unwrap()));
    }

    #[test]
    fn tails_keep_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("l");
        std::fs::write(&f, "a\nb\nc\nd\n").unwrap();
        assert_eq!(tail(&f, 2), "c\nd");
        assert!(tail(&dir.path().join("none"), 2).starts_with("(cannot read"));
    }
}
