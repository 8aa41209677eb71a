//! `--target server`: start `readsim serve` (this same executable) as a child process on a
//! free loopback port with a fresh database in a temporary directory, and stop it after.

use super::LiveError;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The first stdout line of `readsim serve`: `readsim serve listening on ADDR admin_token=T`.
const READY_PREFIX: &str = "readsim serve listening on ";

pub struct ChildServer {
    child: Option<Child>,
    /// `HOST:PORT` it listens on.
    pub addr: String,
    pub admin_token: String,
    dir: PathBuf,
}

impl ChildServer {
    /// Starts the server; its stderr goes to `log` (kept for post-mortems).
    pub fn start(log: &std::path::Path) -> Result<ChildServer, LiveError> {
        let exe = std::env::current_exe()
            .map_err(|e| LiveError::Server(format!("cannot find this executable: {e}")))?;
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
        let stderr = std::fs::File::create(log)
            .map_err(|e| LiveError::Server(format!("cannot create {}: {e}", log.display())))?;
        let mut child = Command::new(&exe)
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--db")
            .arg(dir.join("readsim.db"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| LiveError::Server(format!("cannot start {} serve: {e}", exe.display())))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // Read the first line, then keep draining stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            let res = r.read_line(&mut line).map(|_| line);
            let _ = tx.send(res);
            let _ = std::io::copy(&mut r.take(u64::MAX), &mut std::io::sink());
        });
        let mut server = ChildServer {
            child: Some(child),
            addr: String::new(),
            admin_token: String::new(),
            dir,
        };
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(server.fail(format!("reading its stdout: {e}"), log)),
            Err(_) => return Err(server.fail("no ready line within 30s".into(), log)),
        };
        let Some((addr, token)) = parse_ready(&line) else {
            return Err(server.fail(format!("unexpected first line {line:?}"), log));
        };
        server.addr = addr;
        server.admin_token = token;
        Ok(server)
    }

    fn fail(&mut self, what: String, log: &std::path::Path) -> LiveError {
        self.stop();
        LiveError::Server(format!(
            "`readsim serve` did not start: {what}; its stderr is in {}",
            log.display()
        ))
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
