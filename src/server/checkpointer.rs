//! WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the commit
//! that crosses 1,000 WAL pages: the writer stalls while pages are copied into the database
//! and the database file is fsynced, and every request queued behind that batch waits. Here a
//! thread with its own connection copies the WAL into the database in the background
//! (`PASSIVE`: it never blocks the writer). The WAL only restarts from its beginning when a
//! transaction begins with every frame copied, which a checkpoint running beside steady
//! commits rarely leaves; so once the WAL passes [`WAL_RESTART_FRAMES`] the writer runs one
//! checkpoint itself, between transactions. By then the background has copied nearly
//! everything, so that turn is short, and the WAL file stays bounded.

use rusqlite::Connection;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the background thread copies the WAL into the database.
const INTERVAL: Duration = Duration::from_millis(50);

/// WAL frames (of about 4 KiB) past which the writer checkpoints itself so the WAL restarts.
pub(crate) const WAL_RESTART_FRAMES: i64 = 4096;

/// The WAL's size as the last checkpoint found it, shared by the background thread and the
/// writer.
#[derive(Debug)]
pub(crate) struct WalGauge {
    frames: AtomicI64,
    restart_at: i64,
}

/// The background checkpoint thread; dropping it stops and joins the thread.
pub(crate) struct Checkpointer {
    stop: Arc<AtomicBool>,
    gauge: Arc<WalGauge>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread on its own connection to `path`. None (and a warning) if the
    /// database cannot be opened a second time: the writer then keeps SQLite's automatic
    /// checkpoints.
    pub(crate) fn start(path: &Path) -> Option<Checkpointer> {
        Checkpointer::start_with(path, INTERVAL, WAL_RESTART_FRAMES)
    }

    /// [`Checkpointer::start`] with its timing made small for tests.
    fn start_with(path: &Path, interval: Duration, restart_at: i64) -> Option<Checkpointer> {
        let conn = match open(path) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("background checkpoints off ({}): {e}", path.display());
                return None;
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let gauge = Arc::new(WalGauge {
            frames: AtomicI64::new(0),
            restart_at,
        });
        let (flag, g) = (Arc::clone(&stop), Arc::clone(&gauge));
        let thread = std::thread::Builder::new()
            .name("readsim-checkpoint".into())
            .spawn(move || run(conn, &flag, &g, interval))
            .map_err(|e| tracing::warn!("background checkpoints off: {e}"))
            .ok()?;
        Some(Checkpointer {
            stop,
            gauge,
            thread: Some(thread),
        })
    }

    /// The WAL gauge the writer reads after each commit (see [`catch_up`]).
    pub(crate) fn gauge(&self) -> Arc<WalGauge> {
        Arc::clone(&self.gauge)
    }
}

/// The writer's turn, after a commit: once the WAL is past [`WAL_RESTART_FRAMES`], copy what
/// the background has not yet, so the next transaction restarts the WAL. A turn that could not
/// finish (the background held the checkpoint) is tried again after the next commit.
pub(crate) fn catch_up(conn: &Connection, gauge: &WalGauge) {
    if gauge.frames.load(Ordering::Relaxed) <= gauge.restart_at {
        return;
    }
    match passive(conn) {
        Ok(p) if p.complete() => gauge.frames.store(0, Ordering::Relaxed),
        Ok(_) => {}
        Err(e) => tracing::warn!("checkpoint after commit: {e}"),
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_millis(100))?;
    // Its own automatic checkpoints are off too: this connection never writes.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

fn run(conn: Connection, stop: &AtomicBool, gauge: &WalGauge, interval: Duration) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(interval);
        match passive(&conn) {
            Ok(p) => gauge.frames.store(p.wal_frames, Ordering::Relaxed),
            // A transient I/O error: the next turn tries again.
            Err(e) => tracing::debug!("background checkpoint: {e}"),
        }
    }
}

/// What one `PASSIVE` checkpoint did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pass {
    /// Another checkpoint held the lock: nothing was done.
    pub busy: bool,
    pub wal_frames: i64,
    pub copied: i64,
}

impl Pass {
    /// Every frame of the WAL is in the database: the next transaction restarts the WAL.
    pub fn complete(&self) -> bool {
        !self.busy && self.copied == self.wal_frames
    }
}

/// One `PASSIVE` checkpoint (it waits for nobody, and nobody waits for it).
pub(crate) fn passive(conn: &Connection) -> rusqlite::Result<Pass> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok(Pass {
            busy: r.get::<_, i64>(0)? != 0,
            wal_frames: r.get(1)?,
            copied: r.get(2)?,
        })
    })
}

#[cfg(test)]
#[path = "checkpointer_tests.rs"]
mod tests;
