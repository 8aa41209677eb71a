use super::*;
use crate::server::store::Store;
use std::path::PathBuf;

/// WAL frames the file at `db` holds room for (its size over one frame: header + page).
fn wal_frames_on_disk(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let len = std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len());
    len / (4096 + 24)
}

/// `n` commits of one row each, about one 4 KiB page apiece.
fn commit_rows(store: &Store, from: usize, n: usize) {
    for i in from..from + n {
        store.begin().unwrap();
        let sql = format!("INSERT INTO t VALUES ({i}, randomblob(3000))");
        store.execute_for_test(&sql).unwrap();
        store.commit().unwrap();
    }
}

fn fresh(dir: &tempfile::TempDir) -> (PathBuf, Store) {
    let path = dir.path().join("db");
    let store = Store::open(&path).unwrap();
    store
        .execute_for_test("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)")
        .unwrap();
    (path, store)
}

#[test]
fn the_wal_restarts_under_steady_commits_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir);
    let start = |p: &Path| Checkpointer::start_with(p, Duration::from_millis(2), 64);
    let ckpt = store
        .checkpoints_with(start)
        .expect("a file database checkpoints");
    commit_rows(&store, 0, 1500);
    // Without restarts the WAL would hold every commit's frame: 1,500 or more.
    let frames = wal_frames_on_disk(&path);
    assert!(frames < 1000, "the WAL grew to {frames} frames");
    drop(ckpt);
    drop(store);
    let reopened = rusqlite::Connection::open(&path).unwrap();
    let rows: i64 = reopened
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1500);
}

#[test]
fn without_the_background_thread_sqlite_keeps_checkpointing_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir);
    assert!(store.checkpoints_with(|_| None).is_none());
    // SQLite's automatic checkpoint (1,000 pages) still restarts the WAL.
    commit_rows(&store, 0, 2500);
    let frames = wal_frames_on_disk(&path);
    assert!(frames < 2000, "the WAL grew to {frames} frames");
}

#[test]
fn an_in_memory_store_has_no_background_checkpoints() {
    let store = Store::in_memory().unwrap();
    assert!(store.background_checkpoints().is_none());
}

#[test]
fn the_writer_checkpoints_only_past_the_restart_size_and_resets_the_gauge() {
    let dir = tempfile::tempdir().unwrap();
    let (path, store) = fresh(&dir);
    commit_rows(&store, 0, 10);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let gauge = WalGauge {
        frames: AtomicI64::new(10),
        restart_at: 64,
    };
    catch_up(&conn, &gauge);
    assert_eq!(gauge.frames.load(Ordering::Relaxed), 10, "below: no turn");
    gauge.frames.store(65, Ordering::Relaxed);
    catch_up(&conn, &gauge);
    assert_eq!(
        gauge.frames.load(Ordering::Relaxed),
        0,
        "a complete turn resets"
    );
    let p = passive(&conn).unwrap();
    assert!(p.complete(), "{p:?}");
}
