//! `--target server`: start `readsim serve` (this same executable) as a child process on a
//! free loopback port with a fresh database in a temporary directory, and stop it after.

use super::LiveError;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first stdout line of `readsim serve`: `readsim serve listening on ADDR admin_token=T`.
const READY_PREFIX: &str = "readsim serve listening on ";

pub struct ChildServer {
    child: Option<Child>,
    /// `HOST:PORT` it listens on.
    pub addr: String,
    pub admin_token: String,
    /// Token signing secret, hex: passed on every start so tokens minted before a restart
    /// stay valid after it.
    secret: String,
    dir: PathBuf,
    exe: PathBuf,
    log: PathBuf,
    /// Restarts so far (named in the log).
    pub restarts: u32,
}

/// 16 random bytes, hex.
fn random_hex() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b[..]);
    hex::encode(b)
}

impl ChildServer {
    /// Starts the server; its stderr goes to `log` (kept for post-mortems).
    pub fn start(log: &Path) -> Result<ChildServer, LiveError> {
        let exe = std::env::current_exe()
            .map_err(|e| LiveError::Server(format!("cannot find this executable: {e}")))?;
        ChildServer::start_exe(&exe, log)
    }

    /// Starts `exe serve` (`exe` is a readsim binary; tests pass the built one).
    pub fn start_exe(exe: &Path, log: &Path) -> Result<ChildServer, LiveError> {
        let dir = std::env::temp_dir().join(format!(
            "readsim-live-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| LiveError::Server(format!("cannot create {}: {e}", dir.display())))?;
        if let Some(parent) = log.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        std::fs::File::create(log)
            .map_err(|e| LiveError::Server(format!("cannot create {}: {e}", log.display())))?;
        let mut server = ChildServer {
            child: None,
            addr: String::new(),
            admin_token: random_hex(),
            secret: hex::encode([random_hex(), random_hex()].concat()),
            dir,
            exe: exe.to_path_buf(),
            log: log.to_path_buf(),
            restarts: 0,
        };
        server.spawn("127.0.0.1:0")?;
        Ok(server)
    }

    /// Appends a line to the server's log, so a post-mortem sees where the harness acted.
    fn note(&self, what: &str) {
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&self.log) {
            let _ = writeln!(f, "=== readsim live driver: {what}");
        }
    }

    /// Starts `readsim serve` on `listen` with this server's database and credentials and
    /// waits for its ready line.
    fn spawn(&mut self, listen: &str) -> Result<(), LiveError> {
        let exe = &self.exe;
        let stderr = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .map_err(|e| LiveError::Server(format!("cannot open {}: {e}", self.log.display())))?;
        let mut child = Command::new(exe)
            .arg("serve")
            .arg("--listen")
            .arg(listen)
            .arg("--db")
            .arg(self.dir.join("readsim.db"))
            .arg("--secret")
            .arg(&self.secret)
            .arg("--admin-token")
            .arg(&self.admin_token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| LiveError::Server(format!("cannot start {} serve: {e}", exe.display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LiveError::Server("the child's stdout is not piped".into()));
        };
        self.child = Some(child);
        let (tx, rx) = std::sync::mpsc::channel();
        // Read the first line, then keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let res = r.read_line(&mut line).map(|_| line);
            let _ = tx.send(res);
            let _ = std::io::copy(&mut r.take(u64::MAX), &mut std::io::sink());
        });
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(self.fail(format!("reading its stdout: {e}"))),
            Err(_) => return Err(self.fail("no ready line within 30s".into())),
        };
        let Some((addr, _)) = parse_ready(&line) else {
            return Err(self.fail(format!("unexpected first line {line:?}")));
        };
        self.addr = addr;
        Ok(())
    }

    /// Kills the server at once (SIGKILL: no graceful shutdown, in-flight work is lost) and
    /// waits for it to exit. The database stays for [`ChildServer::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            self.note(&format!("killed the server (SIGKILL), pid {}", child.id()));
        }
    }

    /// Starts the server again on the same database with the same credentials, on the same
    /// address if it can be bound again (else on a fresh port: `addr` says which). Returns
    /// whether the address changed.
    pub fn restart(&mut self) -> Result<bool, LiveError> {
        self.kill();
        self.restarts += 1;
        self.note(&format!(
            "restart #{} on {} (same database and credentials)",
            self.restarts, self.addr
        ));
        let old = self.addr.clone();
        let mut last = None;
        // The port is usually free again at once (the listener binds with SO_REUSEADDR), but
        // another socket may have taken it meanwhile: retry a little, then take any port.
        for _ in 0..5 {
            match self.spawn(&old) {
                Ok(()) => return Ok(false),
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.note(&format!(
            "{old} could not be bound again ({}); restarting on a fresh port",
            last.map(|e| e.to_string()).unwrap_or_default()
        ));
        self.spawn("127.0.0.1:0")?;
        Ok(self.addr != old)
    }

    fn fail(&mut self, what: String) -> LiveError {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        LiveError::Server(format!(
            "`readsim serve` did not start: {what}; its stderr is in {}",
            self.log.display()
        ))
    }

    /// Where its stderr goes (and the harness's notes of kills and restarts).
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// SIGTERM, then SIGKILL if it has not exited within 10 s; removes the database.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `readsim serve listening on ADDR admin_token=TOKEN` -> (ADDR, TOKEN).
pub fn parse_ready(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix(READY_PREFIX)?;
    let mut parts = rest.split_whitespace();
    let addr = parts.next()?.to_string();
    let token = parts
        .find_map(|p| p.strip_prefix("admin_token="))?
        .to_string();
    Some((addr, token))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_ready_line() {
        assert_eq!(
            super::parse_ready("readsim serve listening on 127.0.0.1:4567 admin_token=abc\n"),
            Some(("127.0.0.1:4567".into(), "abc".into()))
        );
        assert_eq!(super::parse_ready("hello"), None);
    }
}
