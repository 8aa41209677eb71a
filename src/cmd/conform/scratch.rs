//! A scratch `readsim serve` of conform's own (in memory, loopback, a free port), started with
//! small limits so the connection cap, the head timeout, the idle close and the shutdown close
//! can be provoked in bounded time. Only with `--target server`: the target is then this same
//! executable, so the scratch server is the server under test with other knobs; a `ws://`
//! target's limits are its operator's and cannot be lowered from here.

use super::client::{Admin, Client, Seen};
use crate::live::server::parse_ready;
use serde_json::json;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Longest wait for the ready line.
const READY_WITHIN: Duration = Duration::from_secs(20);

pub struct Scratch {
    child: Child,
    /// `HOST:PORT`.
    pub addr: String,
    pub admin_token: String,
}

impl Scratch {
    /// `readsim serve --memory --listen 127.0.0.1:0` plus `args` (e.g. `--max-connections 4`).
    /// Its stderr is discarded: the check shows what the client saw. Killed on drop.
    pub async fn start(args: &[&str]) -> Result<Scratch, Seen> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find readsim: {e}"))?;
        let mut child = Command::new(exe)
            .args(["serve", "--memory", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start a scratch readsim serve: {e}"))?;
        let stdout = child.stdout.take().ok_or("the scratch server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(READY_WITHIN, lines.next_line())
            .await
            .map_err(|_| format!("scratch server: no ready line within {READY_WITHIN:?}"))?
            .map_err(|e| format!("scratch server's stdout: {e}"))?
            .unwrap_or_default();
        let (addr, admin_token) =
            parse_ready(&line).ok_or_else(|| format!("scratch server said {line:?}"))?;
        // Keep draining stdout so the server never blocks writing to it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Scratch {
            child,
            addr,
            admin_token,
        })
    }

    pub fn admin(&self) -> Admin {
        Admin {
            // No pooled keep-alive connection: it would hold a slot of a small connection cap.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap_or_default(),
            addr: self.addr.clone(),
            token: self.admin_token.clone(),
        }
    }

    /// A token of a new user `user` (the scratch server starts empty).
    pub async fn token(&self, user: &str) -> Result<String, Seen> {
        let admin = self.admin();
        admin
            .post("/v1/admin/users", json!({"user_id": user}))
            .await?;
        admin.token_for(user, 3600).await
    }

    /// A connected client of a new user `user`.
    pub async fn client(&self, user: &str) -> Result<Client, Seen> {
        Client::connect(&self.addr, &self.token(user).await?).await
    }

    /// SIGTERM (the graceful shutdown docs/protocol.md describes), without waiting.
    pub fn terminate(&self) -> Result<(), Seen> {
        let pid = self.child.id().ok_or("the scratch server already exited")?;
        let ok = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(())
        } else {
            Err(format!(
                "could not send SIGTERM to the scratch server (pid {pid})"
            ))
        }
    }
}
