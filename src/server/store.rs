//! The SQLite store: opening, pragmas and every statement (docs/protocol.md, "Storage"); the
//! tables are in `schema.sql`.
//!
//! Audience snapshots are not copied per message. Each group has a membership `version` that
//! grows by one on every join or leave; `memberships` holds one row per membership interval
//! `[joined_ver, left_ver)` (`left_ver` NULL while current), and every group message records
//! the `group_ver` it was sent at. "u was in the audience of m" is then one primary-key probe:
//! an interval of (group, u) with `joined_ver <= m.group_ver < left_ver`. Storage is
//! O(members + changes) per group, never O(messages x members).

//!
//! Every SQL statement of the server lives here; the semantics (`semantics/`) decide what to
//! run and never see SQL. Statements go through the prepared-statement cache.

use super::ServerError;
use super::checkpointer::{self, Checkpointer, WalGauge};
use crate::protocol::{GroupType, ReceiptConfig};
use crate::wire::admin;
use rusqlite::{Connection, OptionalExtension, params};
use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An opened database with the schema in place. Moved into the server's single writer.
pub struct Store {
    conn: Connection,
    /// The database file (None: in memory).
    path: Option<PathBuf>,
    /// The background checkpointer's WAL gauge; unset while SQLite checkpoints
    /// automatically (in memory, or no background checkpointer).
    wal_gauge: OnceCell<Arc<WalGauge>>,
}

/// A SQL failure inside a batch: the whole batch is rolled back and answered INTERNAL.
pub(crate) type Fatal = rusqlite::Error;
pub(crate) type SqlResult<T> = Result<T, Fatal>;

/// The tables and indexes, created if missing (`schema.sql`).
const SCHEMA: &str = include_str!("schema.sql");

impl Store {
    /// Opens (or creates) the database at `path`: WAL, `synchronous = FULL`.
    pub fn open(path: &Path) -> Result<Store, ServerError> {
        let conn = Connection::open(path)?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(ServerError::Store(format!(
                "{}: journal_mode is {mode}, WAL is required",
                path.display()
            )));
        }
        Store::init(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database (`--memory`): nothing survives the process.
    pub fn in_memory() -> Result<Store, ServerError> {
        Store::init(Connection::open_in_memory()?, None)
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Store, ServerError> {
        // FULL: the WAL is fsynced at every commit, so an acknowledged receipt survives a
        // power loss too, not only a killed process. Group commit pays one fsync per batch.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "cache_size", -65536)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(Store {
            conn,
            path,
            wal_gauge: OnceCell::new(),
        })
    }

    /// Moves WAL checkpoints to a background thread (see [`Checkpointer`]); None for an
    /// in-memory database, or if the thread could not start (SQLite's own stay on).
    pub(crate) fn background_checkpoints(&self) -> Option<Checkpointer> {
        self.checkpoints_with(Checkpointer::start)
    }

    /// [`Store::background_checkpoints`] with the thread started by `start` (tests).
    pub(crate) fn checkpoints_with(
        &self,
        start: impl FnOnce(&Path) -> Option<Checkpointer>,
    ) -> Option<Checkpointer> {
        let ckpt = start(self.path.as_deref()?)?;
        match self.conn.pragma_update(None, "wal_autocheckpoint", 0) {
            Ok(()) => {
                let _ = self.wal_gauge.set(ckpt.gauge());
                Some(ckpt)
            }
            Err(e) => {
                tracing::warn!("background checkpoints off: {e}");
                None
            }
        }
    }
}

/// A `groups` row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GroupRow {
    pub name: String,
    pub gtype: GroupType,
    pub version: i64,
    pub member_count: i64,
    pub last_seq: i64,
}

/// The columns of a `messages` row the rules need (not the body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MsgRow {
    pub id: i64,
    pub conv: i64,
    pub sender: i64,
    pub seq: i64,
    pub need: bool,
    pub group_ver: Option<i64>,
    pub peer: Option<i64>,
    pub audience_len: i64,
    pub read_count: i64,
}

/// A message to insert (its id is assigned by SQLite).
pub(crate) struct NewMessage<'a> {
    pub conv: i64,
    pub sender: i64,
    pub seq: i64,
    pub ts: i64,
    pub need: bool,
    pub group_ver: Option<i64>,
    pub peer: Option<i64>,
    pub audience_len: i64,
    pub body: &'a str,
}

/// One message of a history page: (id, sender, need_receipt, seq, ts).
pub(crate) type HistoryRow = (i64, i64, bool, i64, i64);

/// How a group type is spelled in the `groups.type` column.
pub(crate) fn type_str(t: GroupType) -> &'static str {
    match t {
        GroupType::Work => "Work",
        GroupType::Public => "Public",
        GroupType::Meeting => "Meeting",
        GroupType::Community => "Community",
        GroupType::AVChatRoom => "AVChatRoom",
    }
}

fn type_parse(s: &str) -> GroupType {
    GroupType::ALL
        .into_iter()
        .find(|t| type_str(*t) == s)
        .unwrap_or(GroupType::Community)
}

// ---- transactions ----------------------------------------------------------------------
impl Store {
    pub(crate) fn begin(&self) -> SqlResult<()> {
        self.conn.execute_batch("BEGIN IMMEDIATE")
    }

    pub(crate) fn commit(&self) -> SqlResult<()> {
        self.conn.execute_batch("COMMIT")?;
        if let Some(gauge) = self.wal_gauge.get() {
            checkpointer::catch_up(&self.conn, gauge);
        }
        Ok(())
    }

    pub(crate) fn rollback(&self) -> SqlResult<()> {
        self.conn.execute_batch("ROLLBACK")
    }

    /// Raw SQL, for tests that need to break the database.
    #[cfg(test)]
    pub(crate) fn execute_for_test(&self, sql: &str) -> SqlResult<()> {
        self.conn.execute_batch(sql)
    }

    /// At shutdown: fold the WAL into the database so the next open starts clean.
    pub(crate) fn checkpoint(&self) -> SqlResult<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")
    }
}

// ---- loading the caches ----------------------------------------------------------------
impl Store {
    pub(crate) fn users(&self) -> SqlResult<Vec<(i64, String)>> {
        let mut st = self.conn.prepare("SELECT id, name FROM users")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }

    pub(crate) fn groups(&self) -> SqlResult<Vec<(i64, GroupRow)>> {
        let mut st = self
            .conn
            .prepare("SELECT id, name, type, version, member_count, last_seq FROM groups")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get(0)?,
                GroupRow {
                    name: r.get(1)?,
                    gtype: type_parse(&r.get::<_, String>(2)?),
                    version: r.get(3)?,
                    member_count: r.get(4)?,
                    last_seq: r.get(5)?,
                },
            ))
        })?;
        rows.collect()
    }

    /// The stored receipt config; the default if none was ever set (or it does not parse).
    pub(crate) fn receipt_config(&self) -> SqlResult<ReceiptConfig> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'receipt_config'",
                [],
                |r| r.get::<_, String>(0),
            )
            .optional()?
            .and_then(|s| serde_json::from_str::<admin::Config>(&s).ok())
            .map(|c| ReceiptConfig {
                enabled_types: c.enabled_types,
                max_group_size: c.max_group_size,
            })
            .unwrap_or_default())
    }

    pub(crate) fn set_receipt_config(&self, c: &admin::Config) -> SqlResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta (key, value) VALUES ('receipt_config', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![serde_json::to_string(c).expect("serializes")])?;
        Ok(())
    }

    /// The latest server timestamp ever stored (messages and read marks), 0 if none: the
    /// server clock restarts from here so it never goes back.
    pub(crate) fn latest_ts(&self) -> SqlResult<i64> {
        let t: Option<i64> = self.conn.query_row(
            "SELECT MAX(t) FROM (SELECT MAX(ts) AS t FROM messages \
             UNION ALL SELECT MAX(ts_lo) FROM pairs UNION ALL SELECT MAX(ts_hi) FROM pairs)",
            [],
            |r| r.get(0),
        )?;
        Ok(t.unwrap_or(0))
    }
}

// ---- users, groups, memberships --------------------------------------------------------
impl Store {
    /// (user, generation) of every user whose tokens were ever revoked.
    pub(crate) fn token_generations(&self) -> SqlResult<Vec<(i64, u64)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT user, generation FROM token_generations")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        rows.collect()
    }

    pub(crate) fn set_token_generation(&self, user: i64, generation: u64) -> SqlResult<()> {
        let g = i64::try_from(generation).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "INSERT INTO token_generations (user, generation) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET generation = excluded.generation",
            )?
            .execute(params![user, g])?;
        Ok(())
    }

    pub(crate) fn insert_user(&self, id: i64, name: &str) -> SqlResult<()> {
        self.conn
            .prepare_cached("INSERT INTO users (id, name) VALUES (?1, ?2)")?
            .execute(params![id, name])?;
        Ok(())
    }

    /// A new group at version 0 whose members (`ids`, distinct) joined at version 0.
    pub(crate) fn insert_group(&self, name: &str, gtype: GroupType, ids: &[i64]) -> SqlResult<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO groups (name, type, version, member_count, last_seq) \
                 VALUES (?1, ?2, 0, ?3, 0)",
            )?
            .execute(params![name, type_str(gtype), ids.len() as i64])?;
        let gid = self.conn.last_insert_rowid();
        for &u in ids {
            self.join(gid, u, 0)?;
        }
        Ok(gid)
    }

    pub(crate) fn set_group_version(&self, gid: i64, version: i64, members: i64) -> SqlResult<()> {
        self.conn
            .prepare_cached("UPDATE groups SET version = ?2, member_count = ?3 WHERE id = ?1")?
            .execute(params![gid, version, members])?;
        Ok(())
    }

    pub(crate) fn set_group_last_seq(&self, gid: i64, seq: i64) -> SqlResult<()> {
        self.conn
            .prepare_cached("UPDATE groups SET last_seq = ?2 WHERE id = ?1")?
            .execute(params![gid, seq])?;
        Ok(())
    }

    /// Opens a membership interval at version `ver`.
    pub(crate) fn join(&self, gid: i64, uid: i64, ver: i64) -> SqlResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO memberships (group_id, user_id, joined_ver, left_ver) \
                 VALUES (?1, ?2, ?3, NULL)",
            )?
            .execute(params![gid, uid, ver])?;
        Ok(())
    }

    /// Closes the current membership interval at version `ver`.
    pub(crate) fn leave(&self, gid: i64, uid: i64, ver: i64) -> SqlResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE memberships SET left_ver = ?3 \
                 WHERE group_id = ?1 AND user_id = ?2 AND left_ver IS NULL",
            )?
            .execute(params![gid, uid, ver])?;
        Ok(())
    }

    pub(crate) fn is_member(&self, group: i64, user: i64) -> SqlResult<bool> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2 \
                 AND left_ver IS NULL LIMIT 1",
            )?
            .exists(params![group, user])
    }

    /// Whether `user` was a member of `group` at membership version `ver`.
    pub(crate) fn was_member(&self, group: i64, user: i64, ver: i64) -> SqlResult<bool> {
        self.conn
            .prepare_cached(
                "SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2 \
                 AND joined_ver <= ?3 AND (left_ver IS NULL OR left_ver > ?3) LIMIT 1",
            )?
            .exists(params![group, user, ver])
    }

    pub(crate) fn current_members(&self, group: i64) -> SqlResult<Vec<i64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT user_id FROM memberships WHERE group_id = ?1 AND left_ver IS NULL",
        )?;
        let rows = st.query_map(params![group], |r| r.get(0))?;
        rows.collect()
    }
}

// ---- 1:1 pairs ---------------------------------------------------------------------------
impl Store {
    /// The pair row of two users (in either order), created if `create`.
    pub(crate) fn pair(&self, a: i64, b: i64, create: bool) -> SqlResult<Option<i64>> {
        let (lo, hi) = (a.min(b), a.max(b));
        let id = self
            .conn
            .prepare_cached("SELECT id FROM pairs WHERE lo = ?1 AND hi = ?2")?
            .query_row(params![lo, hi], |r| r.get(0))
            .optional()?;
        if id.is_some() || !create {
            return Ok(id);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO pairs (lo, hi, last_seq, upto_lo, upto_hi, ts_lo, ts_hi) \
                 VALUES (?1, ?2, 0, 0, 0, 0, 0)",
            )?
            .execute(params![lo, hi])?;
        Ok(Some(self.conn.last_insert_rowid()))
    }

    /// Takes the next seq of a pair.
    pub(crate) fn next_pair_seq(&self, pair: i64) -> SqlResult<i64> {
        self.conn
            .prepare_cached(
                "UPDATE pairs SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
            )?
            .query_row(params![pair], |r| r.get(0))
    }

    /// The seq `reader` has read up to in a pair.
    pub(crate) fn pair_read_upto(&self, pair: i64, reader: i64) -> SqlResult<i64> {
        let (lo, upto_lo, upto_hi): (i64, i64, i64) = self
            .conn
            .prepare_cached("SELECT lo, upto_lo, upto_hi FROM pairs WHERE id = ?1")?
            .query_row(params![pair], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(if reader == lo { upto_lo } else { upto_hi })
    }

    /// `reader` has read everything in the pair so far; returns the mark's timestamp, which
    /// never goes back (the larger of the old one and `now`).
    pub(crate) fn mark_pair_read(&self, pair: i64, reader_is_lo: bool, now: i64) -> SqlResult<i64> {
        let sql = if reader_is_lo {
            "UPDATE pairs SET upto_lo = last_seq, ts_lo = MAX(ts_lo, ?2) WHERE id = ?1 \
             RETURNING ts_lo"
        } else {
            "UPDATE pairs SET upto_hi = last_seq, ts_hi = MAX(ts_hi, ?2) WHERE id = ?1 \
             RETURNING ts_hi"
        };
        self.conn
            .prepare_cached(sql)?
            .query_row(params![pair, now], |r| r.get(0))
    }
}

// ---- messages and receipts ---------------------------------------------------------------
impl Store {
    pub(crate) fn insert_message(&self, m: &NewMessage) -> SqlResult<i64> {
        self.conn
            .prepare_cached(
                "INSERT INTO messages (conv, sender, seq, ts, need_receipt, group_ver, peer, \
                 audience_len, read_count, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
            )?
            .execute(params![
                m.conv,
                m.sender,
                m.seq,
                m.ts,
                m.need,
                m.group_ver,
                m.peer,
                m.audience_len,
                m.body
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub(crate) fn message(&self, id: i64) -> SqlResult<Option<MsgRow>> {
        self.conn
            .prepare_cached(
                "SELECT id, conv, sender, seq, need_receipt, group_ver, peer, audience_len, \
                 read_count FROM messages WHERE id = ?1",
            )?
            .query_row(params![id], |r| {
                Ok(MsgRow {
                    id: r.get(0)?,
                    conv: r.get(1)?,
                    sender: r.get(2)?,
                    seq: r.get(3)?,
                    need: r.get(4)?,
                    group_ver: r.get(5)?,
                    peer: r.get(6)?,
                    audience_len: r.get(7)?,
                    read_count: r.get(8)?,
                })
            })
            .optional()
    }

    /// Records that `reader` read `msg`, at position `read_count` (the message's current
    /// count, which the caller holds) of its read order; false if it already had.
    pub(crate) fn insert_receipt(&self, msg: i64, read_count: i64, reader: i64) -> SqlResult<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "INSERT INTO receipts (msg_id, read_order, reader) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![msg, read_count, reader])?
            > 0)
    }

    pub(crate) fn bump_read_count(&self, msg: i64) -> SqlResult<()> {
        self.conn
            .prepare_cached("UPDATE messages SET read_count = read_count + 1 WHERE id = ?1")?
            .execute(params![msg])?;
        Ok(())
    }

    /// Up to `limit` readers of `msg` from position `start` of its read order.
    pub(crate) fn readers(&self, msg: i64, start: i64, limit: i64) -> SqlResult<Vec<i64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT reader FROM receipts WHERE msg_id = ?1 AND read_order >= ?2 \
             ORDER BY read_order LIMIT ?3",
        )?;
        let rows = st.query_map(params![msg, start, limit], |r| r.get(0))?;
        rows.collect()
    }

    /// Up to `limit` members of the audience of `m` (members at its `group_ver` but the
    /// sender) who have not read it, with id `>= from`, in ascending id order.
    pub(crate) fn unread_members(
        &self,
        m: &MsgRow,
        ver: i64,
        from: i64,
        limit: i64,
    ) -> SqlResult<Vec<i64>> {
        let mut st = self.conn.prepare_cached(
            "SELECT s.user_id FROM memberships s WHERE s.group_id = ?1 \
             AND s.user_id >= ?2 AND s.joined_ver <= ?3 \
             AND (s.left_ver IS NULL OR s.left_ver > ?3) AND s.user_id != ?4 \
             AND NOT EXISTS (SELECT 1 FROM receipts r \
                             WHERE r.msg_id = ?5 AND r.reader = s.user_id) \
             ORDER BY s.user_id LIMIT ?6",
        )?;
        let rows = st.query_map(params![m.conv, from, ver, m.sender, m.id, limit], |r| {
            r.get(0)
        })?;
        rows.collect()
    }

    /// Up to `limit` messages of conversation `conv` with seq `<= upto`, newest first.
    pub(crate) fn history(&self, conv: i64, upto: i64, limit: i64) -> SqlResult<Vec<HistoryRow>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, sender, need_receipt, seq, ts FROM messages \
             WHERE conv = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![conv, upto, limit], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::in_memory().unwrap()
    }

    fn message(s: &Store, conv: i64, sender: i64, seq: i64, ts: i64) -> i64 {
        s.insert_message(&NewMessage {
            conv,
            sender,
            seq,
            ts,
            need: true,
            group_ver: (conv > 0).then_some(0),
            peer: (conv < 0).then_some(2),
            audience_len: 1,
            body: "",
        })
        .unwrap()
    }

    #[test]
    fn membership_intervals_answer_was_member_at_each_version() {
        let s = store();
        let g = s.insert_group("g", GroupType::Work, &[1]).unwrap();
        // u2 joins at 1, leaves at 3, rejoins at 5.
        s.join(g, 2, 1).unwrap();
        s.leave(g, 2, 3).unwrap();
        s.join(g, 2, 5).unwrap();
        let at: Vec<bool> = (0..7).map(|v| s.was_member(g, 2, v).unwrap()).collect();
        assert_eq!(at, [false, true, true, false, false, true, true]);
        assert!(s.is_member(g, 2).unwrap());
        s.leave(g, 2, 6).unwrap();
        assert!(!s.is_member(g, 2).unwrap());
        assert!(s.was_member(g, 1, 6).unwrap());
        assert_eq!(s.current_members(g).unwrap(), [1]);
    }

    #[test]
    fn receipts_are_recorded_once_in_read_order() {
        let s = store();
        let m = message(&s, 1, 1, 1, 10);
        for (order, reader) in [(0, 5), (1, 3)] {
            assert!(s.insert_receipt(m, order, reader).unwrap());
            s.bump_read_count(m).unwrap();
        }
        assert!(
            !s.insert_receipt(m, 2, 5).unwrap(),
            "a repeat is not recorded"
        );
        assert_eq!(s.readers(m, 0, 10).unwrap(), [5, 3]);
        assert_eq!(s.readers(m, 1, 10).unwrap(), [3]);
        assert_eq!(s.message(m).unwrap().unwrap().read_count, 2);
        assert_eq!(s.message(m + 1).unwrap(), None);
    }

    #[test]
    fn unread_members_skip_sender_readers_and_later_joiners() {
        let s = store();
        let g = s.insert_group("g", GroupType::Work, &[1, 2, 3, 4]).unwrap();
        s.join(g, 5, 1).unwrap();
        let m = s.message(message(&s, g, 1, 1, 10)).unwrap().unwrap();
        s.insert_receipt(m.id, m.read_count, 3).unwrap();
        assert_eq!(s.unread_members(&m, 0, 0, 10).unwrap(), [2, 4]);
        assert_eq!(s.unread_members(&m, 0, 3, 10).unwrap(), [4]);
        assert_eq!(s.unread_members(&m, 0, 0, 1).unwrap(), [2]);
    }

    #[test]
    fn a_pair_is_the_same_in_either_order_and_marks_are_per_side() {
        let s = store();
        assert_eq!(s.pair(7, 3, false).unwrap(), None);
        let p = s.pair(7, 3, true).unwrap().unwrap();
        assert_eq!(s.pair(3, 7, false).unwrap(), Some(p));
        assert_eq!(s.next_pair_seq(p).unwrap(), 1);
        assert_eq!(s.next_pair_seq(p).unwrap(), 2);
        // 3 is the low side.
        assert_eq!(s.mark_pair_read(p, true, 50).unwrap(), 50);
        assert_eq!(
            s.mark_pair_read(p, true, 40).unwrap(),
            50,
            "never goes back"
        );
        assert_eq!(s.pair_read_upto(p, 3).unwrap(), 2);
        assert_eq!(s.pair_read_upto(p, 7).unwrap(), 0);
        assert_eq!(s.latest_ts().unwrap(), 50);
        message(&s, -p, 3, 3, 60);
        assert_eq!(s.latest_ts().unwrap(), 60);
    }

    #[test]
    fn groups_and_config_round_trip() {
        let s = store();
        assert_eq!(s.receipt_config().unwrap(), ReceiptConfig::default());
        assert_eq!(s.latest_ts().unwrap(), 0);
        for t in GroupType::ALL {
            s.insert_group(type_str(t), t, &[]).unwrap();
        }
        let types: Vec<GroupType> = s
            .groups()
            .unwrap()
            .into_iter()
            .map(|(_, g)| g.gtype)
            .collect();
        assert_eq!(types, GroupType::ALL);
        let c = admin::Config {
            enabled_types: vec![GroupType::Meeting],
            max_group_size: 9,
        };
        s.set_receipt_config(&c).unwrap();
        s.set_receipt_config(&c).unwrap();
        assert_eq!(s.receipt_config().unwrap().max_group_size, 9);
    }
}
