//! The single writer: one thread owns the SQLite connection and applies every operation
//! (reads too) in arrival order. It takes whatever is queued (up to `max_batch` jobs), applies
//! the lot in one transaction, commits, and only then releases the responses and pushes, in
//! the order the operations were applied (group commit). Frames for a connection are enqueued
//! here, so each socket sees them in commit order and never sees uncommitted state.
//!
//! This is an independent implementation of SEMANTICS.md over SQL tables; it must agree with
//! `crate::model::Model` on every result, error code and cursor.

use super::store::Store;
use crate::protocol::{ErrorCode, GroupType, MAX_BATCH, ReceiptConfig};
use crate::wire::{
    MAX_BODY_BYTES, PushFrame, WireConv, WireEntry, WireError, WireFilter, WireHistoryMessage,
    WireReceiptResult, WireRequest, admin, ok, valid_id,
};
use axum::extract::ws::Utf8Bytes;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::{Notify, mpsc, oneshot};

/// Users named `u<n>` with `n` below this get id `n`; others get ids from here up.
const DENSE_LIMIT: i64 = 1 << 24;

/// A client connection as the writer sees it: its bounded send queue.
#[derive(Clone)]
pub(crate) struct ConnHandle {
    pub id: u64,
    pub user: i64,
    pub tx: mpsc::Sender<Utf8Bytes>,
    /// Set and notified when the queue overflowed; the socket task then says why and closes.
    pub kicked: Arc<(AtomicBool, Notify)>,
}

pub(crate) type AdminReply = oneshot::Sender<Result<serde_json::Value, ErrorCode>>;

/// Admin operations that go through the writer (the batch is separate).
pub(crate) enum AdminOp {
    Batch(admin::BatchOp),
    GetConfig,
    /// Whether the user exists; `Ok(null)` if so.
    UserExists(String),
}

pub(crate) enum Job {
    Client {
        user: i64,
        conn: u64,
        req_id: u64,
        op: WireRequest,
    },
    /// A frame the socket task made itself (a bad-frame error); routed here to keep order.
    Reply {
        user: i64,
        conn: u64,
        frame: Utf8Bytes,
    },
    Register(ConnHandle),
    Unregister {
        user: i64,
        conn: u64,
    },
    /// The internal id of a user, if it exists (token check at connect).
    Resolve {
        name: String,
        reply: oneshot::Sender<Option<i64>>,
    },
    Admin {
        op: AdminOp,
        reply: AdminReply,
    },
    AdminBatch {
        ops: Vec<admin::BatchOp>,
        reply: oneshot::Sender<Vec<admin::BatchResult>>,
    },
    Shutdown,
}

/// What a batch releases after its commit, in order.
enum Out {
    Response {
        user: i64,
        conn: u64,
        req_id: Option<u64>,
        frame: Utf8Bytes,
    },
    Push {
        user: i64,
        frame: Utf8Bytes,
    },
    Register(ConnHandle),
    Unregister {
        user: i64,
        conn: u64,
    },
    Resolve(oneshot::Sender<Option<i64>>, Option<i64>),
    Admin(AdminReply, Result<serde_json::Value, ErrorCode>),
    AdminBatch(
        oneshot::Sender<Vec<admin::BatchResult>>,
        Vec<admin::BatchResult>,
    ),
}

struct GroupInfo {
    name: String,
    gtype: GroupType,
    version: i64,
    member_count: i64,
    last_seq: i64,
}

struct MsgRow {
    id: i64,
    conv: i64,
    sender: i64,
    seq: i64,
    need: bool,
    group_ver: Option<i64>,
    peer: Option<i64>,
    audience_len: i64,
    read_count: i64,
}

/// A SQL failure inside a batch: the whole batch is rolled back and answered INTERNAL.
type Fatal = rusqlite::Error;

pub(crate) struct Engine {
    db: Connection,
    users: HashMap<String, i64>,
    user_names: HashMap<i64, String>,
    next_other_user: i64,
    groups: HashMap<String, i64>,
    group_info: HashMap<i64, GroupInfo>,
    config: ReceiptConfig,
    /// Server time in ms: the wall clock, never going back (also across restarts).
    clock_ms: i64,
    registry: HashMap<i64, Vec<ConnHandle>>,
    /// Connections in the registry, published for `/v1/health`.
    online: Arc<AtomicUsize>,
    max_batch: usize,
    /// Test-only defect (see `ServerConfig::planted_bug`); None in every real server.
    pub(crate) planted_bug: Option<super::ServerBug>,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn type_str(t: GroupType) -> &'static str {
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

/// `m<n>` in canonical decimal, else None (an unknown message).
fn parse_msg_id(s: &str) -> Option<i64> {
    let n: i64 = s.strip_prefix('m')?.parse().ok()?;
    (n > 0 && format!("m{n}") == s).then_some(n)
}

/// The id a new user named `name` gets if it is a readsim `u<n>`.
fn dense_user_id(name: &str) -> Option<i64> {
    let n: i64 = name.strip_prefix('u')?.parse().ok()?;
    ((0..DENSE_LIMIT).contains(&n) && format!("u{n}") == name).then_some(n)
}

fn ok_frame<T: serde::Serialize>(req_id: u64, body: &T) -> Utf8Bytes {
    let body = serde_json::to_string(body).expect("wire types serialize");
    format!("{{\"id\":{req_id},\"ok\":{body}}}").into()
}

/// The response frame for a whole-request error; `req_id` None gives `"id": null`.
pub(crate) fn error_frame(req_id: Option<u64>, code: ErrorCode) -> Utf8Bytes {
    let f = crate::wire::ResponseFrame {
        id: req_id,
        ok: None,
        error: Some(code.into()),
    };
    serde_json::to_string(&f)
        .expect("wire types serialize")
        .into()
}

fn push_frame(p: &PushFrame) -> Utf8Bytes {
    serde_json::to_string(p)
        .expect("wire types serialize")
        .into()
}

fn code_result(r: Result<(), ErrorCode>) -> Option<WireError> {
    r.err().map(WireError::from)
}

/// Every string id of a request has the documented syntax, and the body fits.
fn validate(op: &WireRequest) -> Result<(), ErrorCode> {
    let conv_ok = |c: &WireConv| match c {
        WireConv::Group(s) | WireConv::C2c(s) => valid_id(s),
    };
    let ok = match op {
        WireRequest::SendMessage { conv, body, .. } => {
            if body.len() > MAX_BODY_BYTES {
                return Err(ErrorCode::FrameTooLarge);
            }
            conv_ok(conv)
        }
        WireRequest::SendMessageReadReceipts { msg_ids }
        | WireRequest::GetMessageReadReceipts { msg_ids } => msg_ids.iter().all(|m| valid_id(m)),
        WireRequest::GetGroupMessageReadMemberList { msg_id, .. } => valid_id(msg_id),
        WireRequest::MarkC2cMessageAsRead { peer } => valid_id(peer),
        WireRequest::GetHistory { conv, .. } => conv_ok(conv),
    };
    if ok {
        Ok(())
    } else {
        Err(ErrorCode::InvalidId)
    }
}

impl Engine {
    pub(crate) fn new(
        store: Store,
        max_batch: usize,
        online: Arc<AtomicUsize>,
    ) -> Result<Engine, rusqlite::Error> {
        let mut e = Engine {
            db: store.conn,
            users: HashMap::new(),
            user_names: HashMap::new(),
            next_other_user: DENSE_LIMIT,
            groups: HashMap::new(),
            group_info: HashMap::new(),
            config: ReceiptConfig::default(),
            clock_ms: 0,
            registry: HashMap::new(),
            online,
            max_batch: max_batch.max(1),
            planted_bug: None,
        };
        e.load()?;
        Ok(e)
    }

    /// (Re)loads the in-memory caches from the committed tables.
    fn load(&mut self) -> Result<(), rusqlite::Error> {
        self.users.clear();
        self.user_names.clear();
        self.groups.clear();
        self.group_info.clear();
        self.next_other_user = DENSE_LIMIT;
        {
            let mut st = self.db.prepare("SELECT id, name FROM users")?;
            let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            for row in rows {
                let (id, name) = row?;
                self.next_other_user = self.next_other_user.max(id + 1);
                self.users.insert(name.clone(), id);
                self.user_names.insert(id, name);
            }
            let mut st = self
                .db
                .prepare("SELECT id, name, type, version, member_count, last_seq FROM groups")?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    GroupInfo {
                        name: r.get(1)?,
                        gtype: type_parse(&r.get::<_, String>(2)?),
                        version: r.get(3)?,
                        member_count: r.get(4)?,
                        last_seq: r.get(5)?,
                    },
                ))
            })?;
            for row in rows {
                let (id, g) = row?;
                self.groups.insert(g.name.clone(), id);
                self.group_info.insert(id, g);
            }
        }
        self.config = self
            .db
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
            .unwrap_or_default();
        let clock: Option<i64> = self.db.query_row(
            "SELECT MAX(t) FROM (SELECT MAX(ts) AS t FROM messages \
             UNION ALL SELECT MAX(ts_lo) FROM pairs UNION ALL SELECT MAX(ts_hi) FROM pairs)",
            [],
            |r| r.get(0),
        )?;
        self.clock_ms = clock.unwrap_or(0);
        Ok(())
    }

    /// Runs until a `Shutdown` job (or until every sender is gone), then checkpoints.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut jobs = Vec::with_capacity(self.max_batch);
        let mut stopping = false;
        while !stopping {
            match rx.blocking_recv() {
                Some(j) => jobs.push(j),
                None => break,
            }
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            stopping = jobs.iter().any(|j| matches!(j, Job::Shutdown));
            self.batch(&mut jobs);
        }
        // Finish whatever was queued behind the shutdown.
        rx.close();
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
            if jobs.len() >= self.max_batch {
                self.batch(&mut jobs);
            }
        }
        self.batch(&mut jobs);
        self.registry.clear();
        self.online.store(0, Ordering::Relaxed);
        if let Err(e) = self
            .db
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")
        {
            tracing::warn!("checkpoint at shutdown failed: {e}");
        }
    }

    /// Applies `jobs` in one transaction, commits, then releases their outputs.
    fn batch(&mut self, jobs: &mut Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let mut outs = Vec::with_capacity(jobs.len() * 2);
        let began = self.db.execute_batch("BEGIN IMMEDIATE");
        let mut failed = began.err();
        for job in jobs.drain(..) {
            if failed.is_none() {
                if let Err(e) = self.job(job, &mut outs) {
                    failed = Some(e);
                }
            } else {
                fail_job(job, &mut outs);
            }
        }
        if failed.is_none()
            && let Err(e) = self.db.execute_batch("COMMIT")
        {
            failed = Some(e);
        }
        if let Some(e) = failed {
            tracing::error!("batch failed, rolled back: {e}");
            let _ = self.db.execute_batch("ROLLBACK");
            if let Err(e) = self.load() {
                tracing::error!("reloading state after a failed batch: {e}");
            }
            outs = outs.into_iter().filter_map(fail_out).collect();
        }
        self.dispatch(outs);
    }

    fn dispatch(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Response {
                    user, conn, frame, ..
                } => {
                    if let Some(conns) = self.registry.get_mut(&user) {
                        if let Some(i) = conns.iter().position(|c| c.id == conn)
                            && !offer(&conns[i], frame)
                        {
                            conns.swap_remove(i);
                        }
                        if conns.is_empty() {
                            self.registry.remove(&user);
                        }
                    }
                }
                Out::Push { user, frame } => {
                    if let Some(conns) = self.registry.get_mut(&user) {
                        conns.retain(|c| offer(c, frame.clone()));
                        if conns.is_empty() {
                            self.registry.remove(&user);
                        }
                    }
                }
                Out::Register(h) => {
                    // The hello is the connection's first frame, and it is sent only once the
                    // connection is registered: whatever commits after it is pushed to it.
                    let hello = push_frame(&PushFrame::Hello {
                        user_id: self.name(h.user),
                        protocol: crate::wire::PROTOCOL_VERSION.into(),
                    });
                    if offer(&h, hello) {
                        self.registry.entry(h.user).or_default().push(h);
                    }
                }
                Out::Unregister { user, conn } => {
                    if let Some(conns) = self.registry.get_mut(&user) {
                        conns.retain(|c| c.id != conn);
                        if conns.is_empty() {
                            self.registry.remove(&user);
                        }
                    }
                }
                Out::Resolve(tx, v) => {
                    let _ = tx.send(v);
                }
                Out::Admin(tx, v) => {
                    let _ = tx.send(v);
                }
                Out::AdminBatch(tx, v) => {
                    let _ = tx.send(v);
                }
            }
        }
        let n = self.registry.values().map(Vec::len).sum();
        self.online.store(n, Ordering::Relaxed);
    }

    fn job(&mut self, job: Job, outs: &mut Vec<Out>) -> Result<(), Fatal> {
        match job {
            Job::Client {
                user,
                conn,
                req_id,
                op,
            } => {
                let frame = match validate(&op) {
                    Err(code) => error_frame(Some(req_id), code),
                    Ok(()) => match self.client(user, req_id, op, outs)? {
                        Ok(frame) => frame,
                        Err(code) => error_frame(Some(req_id), code),
                    },
                };
                // After the pushes this operation caused; all released after the commit.
                outs.push(Out::Response {
                    user,
                    conn,
                    req_id: Some(req_id),
                    frame,
                });
            }
            Job::Reply { user, conn, frame } => outs.push(Out::Response {
                user,
                conn,
                req_id: None,
                frame,
            }),
            Job::Register(h) => outs.push(Out::Register(h)),
            Job::Unregister { user, conn } => outs.push(Out::Unregister { user, conn }),
            Job::Resolve { name, reply } => {
                let id = self.users.get(&name).copied();
                outs.push(Out::Resolve(reply, id));
            }
            Job::Admin { op, reply } => {
                let r = match op {
                    AdminOp::Batch(op) => self.admin(op)?.map(|()| serde_json::json!({})),
                    AdminOp::GetConfig => Ok(serde_json::to_value(crate::wire::config_to_wire(
                        &self.config,
                    ))
                    .expect("config serializes")),
                    AdminOp::UserExists(name) => {
                        if !valid_id(&name) {
                            Err(ErrorCode::InvalidId)
                        } else if self.users.contains_key(&name) {
                            Ok(serde_json::Value::Null)
                        } else {
                            Err(ErrorCode::UserNotFound)
                        }
                    }
                };
                outs.push(Out::Admin(reply, r));
            }
            Job::AdminBatch { ops, reply } => {
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    results.push(admin::BatchResult {
                        error: code_result(self.admin(op)?),
                    });
                }
                outs.push(Out::AdminBatch(reply, results));
            }
            Job::Shutdown => {}
        }
        Ok(())
    }

    fn tick(&mut self) -> i64 {
        self.clock_ms = self.clock_ms.max(wall_ms());
        self.clock_ms
    }

    fn name(&self, user: i64) -> String {
        self.user_names.get(&user).cloned().unwrap_or_default()
    }

    // ---- membership ------------------------------------------------------------------

    fn is_member(&self, group: i64, user: i64) -> Result<bool, Fatal> {
        self.db
            .prepare_cached(
                "SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2 \
                 AND left_ver IS NULL LIMIT 1",
            )?
            .exists(params![group, user])
    }

    /// Whether `user` was a member of `group` at membership version `ver`.
    fn was_member(&self, group: i64, user: i64, ver: i64) -> Result<bool, Fatal> {
        self.db
            .prepare_cached(
                "SELECT 1 FROM memberships WHERE group_id = ?1 AND user_id = ?2 \
                 AND joined_ver <= ?3 AND (left_ver IS NULL OR left_ver > ?3) LIMIT 1",
            )?
            .exists(params![group, user, ver])
    }

    fn current_members(&self, group: i64) -> Result<Vec<i64>, Fatal> {
        let mut st = self.db.prepare_cached(
            "SELECT user_id FROM memberships WHERE group_id = ?1 AND left_ver IS NULL",
        )?;
        let rows = st.query_map(params![group], |r| r.get(0))?;
        rows.collect()
    }

    // ---- admin -----------------------------------------------------------------------

    fn admin(&mut self, op: admin::BatchOp) -> Result<Result<(), ErrorCode>, Fatal> {
        use admin::BatchOp;
        Ok(match op {
            BatchOp::CreateUser { user_id } => self.create_user(user_id)?,
            BatchOp::CreateGroup {
                group_id,
                group_type,
                members,
            } => self.create_group(group_id, group_type, members)?,
            BatchOp::AddMember { group_id, user_id } => self.add_member(&group_id, &user_id)?,
            BatchOp::RemoveMember { group_id, user_id } => {
                self.remove_member(&group_id, &user_id)?
            }
            BatchOp::SetReceiptConfig {
                mut enabled_types,
                max_group_size,
            } => {
                enabled_types.sort();
                enabled_types.dedup();
                let c = admin::Config {
                    enabled_types,
                    max_group_size,
                };
                self.db
                    .prepare_cached(
                        "INSERT INTO meta (key, value) VALUES ('receipt_config', ?1) \
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![serde_json::to_string(&c).expect("serializes")])?;
                self.config = ReceiptConfig {
                    enabled_types: c.enabled_types,
                    max_group_size: c.max_group_size,
                };
                Ok(())
            }
        })
    }

    fn create_user(&mut self, name: String) -> Result<Result<(), ErrorCode>, Fatal> {
        if !valid_id(&name) {
            return Ok(Err(ErrorCode::InvalidId));
        }
        if self.users.contains_key(&name) {
            return Ok(Err(ErrorCode::UserExists));
        }
        let id = match dense_user_id(&name) {
            Some(n) => n,
            None => {
                self.next_other_user += 1;
                self.next_other_user - 1
            }
        };
        self.db
            .prepare_cached("INSERT INTO users (id, name) VALUES (?1, ?2)")?
            .execute(params![id, name])?;
        self.users.insert(name.clone(), id);
        self.user_names.insert(id, name);
        Ok(Ok(()))
    }

    fn create_group(
        &mut self,
        name: String,
        gtype: GroupType,
        members: Vec<String>,
    ) -> Result<Result<(), ErrorCode>, Fatal> {
        if !valid_id(&name) || !members.iter().all(|m| valid_id(m)) {
            return Ok(Err(ErrorCode::InvalidId));
        }
        if self.groups.contains_key(&name) {
            return Ok(Err(ErrorCode::GroupExists));
        }
        let mut ids = Vec::with_capacity(members.len());
        for m in &members {
            match self.users.get(m) {
                Some(&id) => ids.push(id),
                None => return Ok(Err(ErrorCode::UserNotFound)),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        self.db
            .prepare_cached(
                "INSERT INTO groups (name, type, version, member_count, last_seq) \
                 VALUES (?1, ?2, 0, ?3, 0)",
            )?
            .execute(params![name, type_str(gtype), ids.len() as i64])?;
        let gid = self.db.last_insert_rowid();
        {
            let mut st = self.db.prepare_cached(
                "INSERT INTO memberships (group_id, user_id, joined_ver, left_ver) \
                 VALUES (?1, ?2, 0, NULL)",
            )?;
            for &u in &ids {
                st.execute(params![gid, u])?;
            }
        }
        self.groups.insert(name.clone(), gid);
        self.group_info.insert(
            gid,
            GroupInfo {
                name,
                gtype,
                version: 0,
                member_count: ids.len() as i64,
                last_seq: 0,
            },
        );
        Ok(Ok(()))
    }

    fn bump_group(&mut self, gid: i64, delta: i64) -> Result<i64, Fatal> {
        let g = self.group_info.get_mut(&gid).expect("cached group");
        g.version += 1;
        g.member_count += delta;
        self.db
            .prepare_cached("UPDATE groups SET version = ?2, member_count = ?3 WHERE id = ?1")?
            .execute(params![gid, g.version, g.member_count])?;
        Ok(g.version)
    }

    fn add_member(&mut self, group: &str, user: &str) -> Result<Result<(), ErrorCode>, Fatal> {
        if !valid_id(group) || !valid_id(user) {
            return Ok(Err(ErrorCode::InvalidId));
        }
        let Some(&uid) = self.users.get(user) else {
            return Ok(Err(ErrorCode::UserNotFound));
        };
        let Some(&gid) = self.groups.get(group) else {
            return Ok(Err(ErrorCode::GroupNotFound));
        };
        if self.is_member(gid, uid)? {
            return Ok(Err(ErrorCode::AlreadyMember));
        }
        let ver = self.bump_group(gid, 1)?;
        self.db
            .prepare_cached(
                "INSERT INTO memberships (group_id, user_id, joined_ver, left_ver) \
                 VALUES (?1, ?2, ?3, NULL)",
            )?
            .execute(params![gid, uid, ver])?;
        Ok(Ok(()))
    }

    fn remove_member(&mut self, group: &str, user: &str) -> Result<Result<(), ErrorCode>, Fatal> {
        if !valid_id(group) || !valid_id(user) {
            return Ok(Err(ErrorCode::InvalidId));
        }
        let Some(&gid) = self.groups.get(group) else {
            return Ok(Err(ErrorCode::GroupNotFound));
        };
        let Some(&uid) = self.users.get(user) else {
            return Ok(Err(ErrorCode::NotGroupMember));
        };
        if !self.is_member(gid, uid)? {
            return Ok(Err(ErrorCode::NotGroupMember));
        }
        let ver = self.bump_group(gid, -1)?;
        self.db
            .prepare_cached(
                "UPDATE memberships SET left_ver = ?3 \
                 WHERE group_id = ?1 AND user_id = ?2 AND left_ver IS NULL",
            )?
            .execute(params![gid, uid, ver])?;
        Ok(Ok(()))
    }

    // ---- client operations -------------------------------------------------------------

    fn client(
        &mut self,
        user: i64,
        req_id: u64,
        op: WireRequest,
        outs: &mut Vec<Out>,
    ) -> Result<Result<Utf8Bytes, ErrorCode>, Fatal> {
        if !self.user_names.contains_key(&user) {
            return Ok(Err(ErrorCode::UserNotFound));
        }
        match op {
            WireRequest::SendMessage {
                conv,
                need_read_receipt,
                body,
            } => Ok(self
                .send_message(user, conv, need_read_receipt, body, outs)?
                .map(|b| ok_frame(req_id, &b))),
            WireRequest::SendMessageReadReceipts { msg_ids } => Ok(self
                .send_receipts(user, &msg_ids, outs)?
                .map(|b| ok_frame(req_id, &b))),
            WireRequest::GetMessageReadReceipts { msg_ids } => Ok(self
                .get_receipts(user, &msg_ids)?
                .map(|b| ok_frame(req_id, &b))),
            WireRequest::GetGroupMessageReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => Ok(self
                .member_list(user, &msg_id, filter, next_seq, count)?
                .map(|b| ok_frame(req_id, &b))),
            WireRequest::MarkC2cMessageAsRead { peer } => Ok(self
                .mark_c2c_read(user, &peer, outs)?
                .map(|b| ok_frame(req_id, &b))),
            WireRequest::GetHistory {
                conv,
                before_seq,
                count,
            } => Ok(self
                .history(user, conv, before_seq, count)?
                .map(|b| ok_frame(req_id, &b))),
        }
    }

    /// The pair row (id, lo, hi) of two users, created if `create`.
    fn pair(&self, a: i64, b: i64, create: bool) -> Result<Option<i64>, Fatal> {
        let (lo, hi) = (a.min(b), a.max(b));
        let id = self
            .db
            .prepare_cached("SELECT id FROM pairs WHERE lo = ?1 AND hi = ?2")?
            .query_row(params![lo, hi], |r| r.get(0))
            .optional()?;
        if id.is_some() || !create {
            return Ok(id);
        }
        self.db
            .prepare_cached(
                "INSERT INTO pairs (lo, hi, last_seq, upto_lo, upto_hi, ts_lo, ts_hi) \
                 VALUES (?1, ?2, 0, 0, 0, 0, 0)",
            )?
            .execute(params![lo, hi])?;
        Ok(Some(self.db.last_insert_rowid()))
    }

    fn send_message(
        &mut self,
        sender: i64,
        conv: WireConv,
        need: bool,
        body: String,
        outs: &mut Vec<Out>,
    ) -> Result<Result<ok::Sent, ErrorCode>, Fatal> {
        let sender_name = self.name(sender);
        let (conv_key, seq, group_ver, peer, audience_len);
        let recipients: Vec<(i64, WireConv)>;
        match conv {
            WireConv::Group(name) => {
                let Some(&gid) = self.groups.get(&name) else {
                    return Ok(Err(ErrorCode::GroupNotFound));
                };
                if !self.is_member(gid, sender)? {
                    return Ok(Err(ErrorCode::NotGroupMember));
                }
                let g = &self.group_info[&gid];
                if need {
                    if !self.config.supports(g.gtype) {
                        return Ok(Err(ErrorCode::ReceiptsDisabledForGroupType));
                    }
                    if g.member_count > i64::from(self.config.max_group_size) {
                        return Ok(Err(ErrorCode::GroupTooLargeForReceipts));
                    }
                }
                conv_key = gid;
                seq = g.last_seq + 1;
                group_ver = Some(g.version);
                peer = None;
                audience_len = g.member_count - 1;
                let online: Vec<i64> = if self.registry.is_empty() {
                    Vec::new()
                } else {
                    self.current_members(gid)?
                        .into_iter()
                        .filter(|u| *u != sender && self.registry.contains_key(u))
                        .collect()
                };
                let wc = WireConv::Group(name);
                recipients = online.into_iter().map(|u| (u, wc.clone())).collect();
                self.db
                    .prepare_cached("UPDATE groups SET last_seq = ?2 WHERE id = ?1")?
                    .execute(params![gid, seq])?;
                self.group_info.get_mut(&gid).expect("cached").last_seq = seq;
            }
            WireConv::C2c(peer_name) => {
                if peer_name == sender_name {
                    return Ok(Err(ErrorCode::SelfConversation));
                }
                let Some(&pid) = self.users.get(&peer_name) else {
                    return Ok(Err(ErrorCode::UserNotFound));
                };
                let pair = self.pair(sender, pid, true)?.expect("created");
                let last: i64 = self
                    .db
                    .prepare_cached(
                        "UPDATE pairs SET last_seq = last_seq + 1 WHERE id = ?1 RETURNING last_seq",
                    )?
                    .query_row(params![pair], |r| r.get(0))?;
                conv_key = -pair;
                seq = last;
                group_ver = None;
                peer = Some(pid);
                audience_len = 1;
                recipients = vec![(pid, WireConv::C2c(sender_name.clone()))];
            }
        }
        let ts = self.tick();
        self.db
            .prepare_cached(
                "INSERT INTO messages (conv, sender, seq, ts, need_receipt, group_ver, peer, \
                 audience_len, read_count, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9)",
            )?
            .execute(params![
                conv_key,
                sender,
                seq,
                ts,
                need,
                group_ver,
                peer,
                audience_len,
                body
            ])?;
        let msg_id = format!("m{}", self.db.last_insert_rowid());
        let mut frame: Option<(WireConv, Utf8Bytes)> = None;
        for (u, wc) in recipients {
            let f = match &frame {
                Some((c, f)) if *c == wc => f.clone(),
                _ => {
                    let f = push_frame(&PushFrame::NewMessage {
                        msg_id: msg_id.clone(),
                        conv: wc.clone(),
                        sender: sender_name.clone(),
                        seq: seq as u64,
                        timestamp_ms: ts as u64,
                        need_read_receipt: need,
                    });
                    frame = Some((wc, f.clone()));
                    f
                }
            };
            outs.push(Out::Push { user: u, frame: f });
        }
        Ok(Ok(ok::Sent {
            msg_id,
            seq: seq as u64,
            timestamp_ms: ts as u64,
        }))
    }

    fn load_msg(&self, wire_id: &str) -> Result<Option<MsgRow>, Fatal> {
        let Some(id) = parse_msg_id(wire_id) else {
            return Ok(None);
        };
        self.db
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

    /// The batch rules: 1..=100 ids, all known ones in one conversation.
    fn load_batch(&self, ids: &[String]) -> Result<Result<Vec<Option<MsgRow>>, ErrorCode>, Fatal> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Ok(Err(ErrorCode::BatchSize));
        }
        let rows = ids
            .iter()
            .map(|s| self.load_msg(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut convs = rows.iter().flatten().map(|m| m.conv);
        if let Some(first) = convs.next()
            && convs.any(|c| c != first)
        {
            return Ok(Err(ErrorCode::MixedConversations));
        }
        Ok(Ok(rows))
    }

    fn entry(&self, m: &MsgRow) -> Result<WireEntry, Fatal> {
        let msg_id = format!("m{}", m.id);
        if m.conv > 0 {
            return Ok(WireEntry {
                msg_id,
                group_id: Some(self.group_info[&m.conv].name.clone()),
                read_count: Some(m.read_count as u32),
                unread_count: Some((m.audience_len - m.read_count) as u32),
                ..WireEntry::default()
            });
        }
        let peer = m.peer.expect("1:1 messages have a peer");
        let mut read = m.read_count > 0;
        if !read {
            let (lo, upto_lo, upto_hi): (i64, i64, i64) = self
                .db
                .prepare_cached("SELECT lo, upto_lo, upto_hi FROM pairs WHERE id = ?1")?
                .query_row(params![-m.conv], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let upto = if peer == lo { upto_lo } else { upto_hi };
            read = upto >= m.seq;
        }
        Ok(WireEntry {
            msg_id,
            user_id: Some(self.name(peer)),
            is_peer_read: Some(read),
            ..WireEntry::default()
        })
    }

    fn receipt_error(&self, reader: i64, m: &MsgRow) -> Result<Option<ErrorCode>, Fatal> {
        let in_audience = reader != m.sender
            && match m.group_ver {
                Some(ver) => self.was_member(m.conv, reader, ver)?,
                None => m.peer == Some(reader),
            };
        if !in_audience {
            return Ok(Some(ErrorCode::NotInAudience));
        }
        if !m.need {
            return Ok(Some(ErrorCode::ReceiptNotRequested));
        }
        if m.conv > 0 && !self.is_member(m.conv, reader)? {
            return Ok(Some(ErrorCode::ReaderLeftGroup));
        }
        Ok(None)
    }

    fn send_receipts(
        &mut self,
        reader: i64,
        ids: &[String],
        outs: &mut Vec<Out>,
    ) -> Result<Result<ok::ReceiptsSent, ErrorCode>, Fatal> {
        let rows = match self.load_batch(ids)? {
            Ok(r) => r,
            Err(code) => return Ok(Err(code)),
        };
        let mut results = Vec::with_capacity(ids.len());
        let mut notify: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for (wire_id, row) in ids.iter().zip(rows) {
            let result = match row {
                None => Err(ErrorCode::MessageNotFound),
                Some(m) => match self.receipt_error(reader, &m)? {
                    Some(code) => Err(code),
                    None => {
                        let new = self
                            .db
                            .prepare_cached(
                                "INSERT INTO receipts (msg_id, read_order, reader) \
                                 SELECT id, read_count, ?2 FROM messages WHERE id = ?1 \
                                 ON CONFLICT DO NOTHING",
                            )?
                            .execute(params![m.id, reader])?
                            > 0;
                        let recount =
                            self.planted_bug == Some(super::ServerBug::CountDuplicateReceipt);
                        if new || recount {
                            self.db
                                .prepare_cached(
                                    "UPDATE messages SET read_count = read_count + 1 \
                                     WHERE id = ?1",
                                )?
                                .execute(params![m.id])?;
                            notify.entry(m.sender).or_default().push(m.id);
                        }
                        Ok(())
                    }
                },
            };
            results.push(WireReceiptResult {
                msg_id: wire_id.clone(),
                error: code_result(result),
            });
        }
        for (sender, msgs) in notify {
            let mut entries = Vec::with_capacity(msgs.len());
            for id in msgs {
                let m = self.load_msg(&format!("m{id}"))?.expect("just written");
                entries.push(self.entry(&m)?);
            }
            outs.push(Out::Push {
                user: sender,
                frame: push_frame(&PushFrame::Receipts { entries }),
            });
        }
        Ok(Ok(ok::ReceiptsSent { results }))
    }

    fn get_receipts(
        &self,
        user: i64,
        ids: &[String],
    ) -> Result<Result<ok::ReadReceipts, ErrorCode>, Fatal> {
        let rows = match self.load_batch(ids)? {
            Ok(r) => r,
            Err(code) => return Ok(Err(code)),
        };
        let mut entries = Vec::with_capacity(ids.len());
        for (wire_id, row) in ids.iter().zip(rows) {
            let err = match &row {
                None => Some(ErrorCode::MessageNotFound),
                Some(m) if m.sender != user => Some(ErrorCode::NotMessageSender),
                Some(m) if !m.need => Some(ErrorCode::ReceiptNotRequested),
                Some(_) => None,
            };
            entries.push(match (err, row) {
                (Some(code), _) => WireEntry {
                    msg_id: wire_id.clone(),
                    error: Some(code.into()),
                    ..WireEntry::default()
                },
                (None, Some(m)) => WireEntry {
                    // Echo the id as asked (it is canonical, else it would be unknown).
                    msg_id: wire_id.clone(),
                    ..self.entry(&m)?
                },
                (None, None) => unreachable!("unknown ids are errors"),
            });
        }
        Ok(Ok(ok::ReadReceipts { entries }))
    }

    fn member_list(
        &self,
        user: i64,
        msg_id: &str,
        filter: WireFilter,
        next_seq: u64,
        count: u32,
    ) -> Result<Result<ok::MemberList, ErrorCode>, Fatal> {
        if count == 0 || count as usize > MAX_BATCH {
            return Ok(Err(ErrorCode::CountOutOfRange));
        }
        let Some(m) = self.load_msg(msg_id)? else {
            return Ok(Err(ErrorCode::MessageNotFound));
        };
        if m.sender != user {
            return Ok(Err(ErrorCode::NotMessageSender));
        }
        let Some(ver) = m.group_ver else {
            return Ok(Err(ErrorCode::NotGroupMessage));
        };
        if !m.need {
            return Ok(Err(ErrorCode::ReceiptNotRequested));
        }
        let count = i64::from(count);
        let ids: Vec<i64>;
        let (next, is_finished);
        match filter {
            // Cursor: a position in the append-only read order.
            WireFilter::Read => {
                let start = i64::try_from(next_seq)
                    .unwrap_or(i64::MAX)
                    .min(m.read_count);
                let mut st = self.db.prepare_cached(
                    "SELECT reader FROM receipts WHERE msg_id = ?1 AND read_order >= ?2 \
                     ORDER BY read_order LIMIT ?3",
                )?;
                ids = st
                    .query_map(params![m.id, start, count], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let end = start + ids.len() as i64;
                next = end as u64;
                is_finished = end == m.read_count;
            }
            // Cursor: the smallest user id still to consider, in ascending id order.
            WireFilter::Unread => {
                let from = i64::try_from(next_seq).unwrap_or(i64::MAX);
                let mut st = self.db.prepare_cached(
                    "SELECT s.user_id FROM memberships s WHERE s.group_id = ?1 \
                     AND s.user_id >= ?2 AND s.joined_ver <= ?3 \
                     AND (s.left_ver IS NULL OR s.left_ver > ?3) AND s.user_id != ?4 \
                     AND NOT EXISTS (SELECT 1 FROM receipts r \
                                     WHERE r.msg_id = ?5 AND r.reader = s.user_id) \
                     ORDER BY s.user_id LIMIT ?6",
                )?;
                let mut got: Vec<i64> = st
                    .query_map(params![m.conv, from, ver, m.sender, m.id, count + 1], |r| {
                        r.get(0)
                    })?
                    .collect::<Result<_, _>>()?;
                is_finished = got.len() as i64 <= count;
                got.truncate(count as usize);
                next = got.last().map_or(next_seq, |u| (u + 1) as u64);
                ids = got;
            }
        }
        Ok(Ok(ok::MemberList {
            members: ids.into_iter().map(|u| self.name(u)).collect(),
            next_seq: next,
            is_finished,
        }))
    }

    fn mark_c2c_read(
        &mut self,
        user: i64,
        peer: &str,
        outs: &mut Vec<Out>,
    ) -> Result<Result<ok::MarkedRead, ErrorCode>, Fatal> {
        let me = self.name(user);
        if peer == me {
            return Ok(Err(ErrorCode::SelfConversation));
        }
        let Some(&pid) = self.users.get(peer) else {
            return Ok(Err(ErrorCode::UserNotFound));
        };
        let pair = self.pair(user, pid, true)?.expect("created");
        let now = self.tick();
        let sql = if user < pid {
            "UPDATE pairs SET upto_lo = last_seq, ts_lo = MAX(ts_lo, ?2) WHERE id = ?1 \
             RETURNING ts_lo"
        } else {
            "UPDATE pairs SET upto_hi = last_seq, ts_hi = MAX(ts_hi, ?2) WHERE id = ?1 \
             RETURNING ts_hi"
        };
        let ts: i64 = self
            .db
            .prepare_cached(sql)?
            .query_row(params![pair, now], |r| r.get(0))?;
        outs.push(Out::Push {
            user: pid,
            frame: push_frame(&PushFrame::C2cRead {
                user_id: me,
                timestamp_ms: ts as u64,
            }),
        });
        Ok(Ok(ok::MarkedRead {
            timestamp_ms: ts as u64,
        }))
    }

    fn history(
        &self,
        user: i64,
        conv: WireConv,
        before_seq: u64,
        count: u32,
    ) -> Result<Result<ok::History, ErrorCode>, Fatal> {
        if count == 0 || count as usize > MAX_BATCH {
            return Ok(Err(ErrorCode::CountOutOfRange));
        }
        let key = match conv {
            WireConv::Group(name) => {
                let Some(&gid) = self.groups.get(&name) else {
                    return Ok(Err(ErrorCode::GroupNotFound));
                };
                if !self.is_member(gid, user)? {
                    return Ok(Err(ErrorCode::NotConversationParty));
                }
                gid
            }
            WireConv::C2c(peer) => {
                if peer == self.name(user) {
                    return Ok(Err(ErrorCode::SelfConversation));
                }
                let Some(&pid) = self.users.get(&peer) else {
                    return Ok(Err(ErrorCode::UserNotFound));
                };
                match self.pair(user, pid, false)? {
                    Some(p) => -p,
                    None => return Ok(Ok(ok::History { messages: vec![] })),
                }
            }
        };
        let upto = if before_seq == 0 {
            i64::MAX
        } else {
            i64::try_from(before_seq - 1).unwrap_or(i64::MAX)
        };
        let mut st = self.db.prepare_cached(
            "SELECT id, sender, need_receipt, seq, ts FROM messages \
             WHERE conv = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![key, upto, i64::from(count)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut messages = Vec::new();
        for row in rows {
            let (id, sender, need, seq, ts) = row?;
            messages.push(WireHistoryMessage {
                msg_id: format!("m{id}"),
                sender: self.name(sender),
                is_self: sender == user,
                need_read_receipt: need,
                seq: seq as u64,
                timestamp_ms: ts as u64,
            });
        }
        Ok(Ok(ok::History { messages }))
    }
}

/// Offers a frame to a connection's queue; false if the connection is gone or overflowed
/// (it is then told to close and leaves the registry).
fn offer(c: &ConnHandle, frame: Utf8Bytes) -> bool {
    match c.tx.try_send(frame) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            c.kicked.0.store(true, Ordering::SeqCst);
            c.kicked.1.notify_one();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// The answer to a job of a failed batch (nothing of it was committed).
fn fail_job(job: Job, outs: &mut Vec<Out>) {
    match job {
        Job::Client {
            user, conn, req_id, ..
        } => outs.push(Out::Response {
            user,
            conn,
            req_id: Some(req_id),
            frame: error_frame(Some(req_id), ErrorCode::Internal),
        }),
        Job::Reply { user, conn, frame } => outs.push(Out::Response {
            user,
            conn,
            req_id: None,
            frame,
        }),
        Job::Register(h) => outs.push(Out::Register(h)),
        Job::Unregister { user, conn } => outs.push(Out::Unregister { user, conn }),
        Job::Resolve { reply, .. } => outs.push(Out::Resolve(reply, None)),
        Job::Admin { reply, .. } => outs.push(Out::Admin(reply, Err(ErrorCode::Internal))),
        Job::AdminBatch { ops, reply } => outs.push(Out::AdminBatch(
            reply,
            vec![
                admin::BatchResult {
                    error: Some(ErrorCode::Internal.into())
                };
                ops.len()
            ],
        )),
        Job::Shutdown => {}
    }
}

/// Rewrites the output of an applied job whose batch then failed to commit.
fn fail_out(o: Out) -> Option<Out> {
    Some(match o {
        Out::Response {
            user,
            conn,
            req_id: Some(id),
            ..
        } => Out::Response {
            user,
            conn,
            req_id: Some(id),
            frame: error_frame(Some(id), ErrorCode::Internal),
        },
        Out::Push { .. } => return None,
        Out::Resolve(tx, _) => Out::Resolve(tx, None),
        Out::Admin(tx, _) => Out::Admin(tx, Err(ErrorCode::Internal)),
        Out::AdminBatch(tx, v) => Out::AdminBatch(
            tx,
            vec![
                admin::BatchResult {
                    error: Some(ErrorCode::Internal.into())
                };
                v.len()
            ],
        ),
        other => other,
    })
}
