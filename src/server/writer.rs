//! The single writer: one thread owns the store and applies every operation (reads too) in
//! arrival order. It takes whatever is queued (up to `max_batch` jobs), applies the lot in one
//! transaction, commits, and only then releases the responses and pushes, in the order the
//! operations were applied (group commit). Frames for a connection are enqueued here, so each
//! socket sees them in commit order and never sees uncommitted state.

use super::commit_stats::CommitStats;
use super::framing::{error_frame, push_frame};
use super::planted::{Planted, planted};
use super::registry::{ConnHandle, Registry};
use super::semantics::{Online, OpResult, Push, Semantics, answer};
use super::store::{Fatal, SqlResult, Store};
use crate::protocol::ErrorCode;
use crate::wire::{PushFrame, WireError, WireRequest, admin};
use axum::extract::ws::Utf8Bytes;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

pub(crate) type AdminReply = oneshot::Sender<Result<serde_json::Value, ErrorCode>>;

/// Admin operations that go through the writer (the batch is separate).
pub(crate) enum AdminOp {
    Batch(admin::BatchOp),
    GetConfig,
    /// The generation new tokens of the user are signed with (`USER_NOT_FOUND` if none).
    TokenGeneration(String),
    /// Revokes the user's tokens and closes their connections.
    RevokeTokens(String),
}

pub(crate) enum Job {
    Client {
        user: i64,
        conn: u64,
        req_id: u64,
        op: WireRequest,
        /// When the socket task read the frame (the group-commit log's time in the writer).
        at: Instant,
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
    /// The internal id and token generation of a user, if it exists (token check at connect).
    Resolve {
        name: String,
        reply: oneshot::Sender<Option<(i64, u64)>>,
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

impl Job {
    /// When a client's operation was read from its socket; None for every other job.
    fn arrived(&self) -> Option<Instant> {
        match self {
            Job::Client { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// What a batch releases after its commit, in order.
enum Out {
    Response {
        user: i64,
        conn: u64,
        req_id: Option<u64>,
        frame: Utf8Bytes,
    },
    Push(Push),
    Register(ConnHandle),
    Unregister {
        user: i64,
        conn: u64,
    },
    Resolve(oneshot::Sender<Option<(i64, u64)>>, Option<(i64, u64)>),
    /// Close every connection of a user whose tokens were revoked.
    Kick(i64),
    Admin(AdminReply, Result<serde_json::Value, ErrorCode>),
    AdminBatch(
        oneshot::Sender<Vec<admin::BatchResult>>,
        Vec<admin::BatchResult>,
    ),
}

impl Online for Registry {
    fn nobody(&self) -> bool {
        self.is_empty()
    }

    fn is_online(&self, user: i64) -> bool {
        Registry::is_online(self, user)
    }
}

pub(crate) struct Writer {
    sem: Semantics,
    registry: Registry,
    max_batch: usize,
    /// Scratch space for the pushes of one operation.
    pushes: Vec<Push>,
    /// Batch sizes and times, logged when the writer stops.
    stats: CommitStats,
    /// When each client operation of the batch in progress was read (reused across batches).
    arrived: Vec<Instant>,
}

impl Writer {
    pub(crate) fn new(
        store: Store,
        max_batch: usize,
        online: Arc<AtomicUsize>,
        bugs: Planted,
    ) -> SqlResult<Writer> {
        Ok(Writer {
            registry: Registry::new(online, bugs.fresh()),
            sem: Semantics::new(store, bugs)?,
            max_batch: max_batch.max(1),
            pushes: Vec::new(),
            stats: CommitStats::default(),
            arrived: Vec::new(),
        })
    }

    /// Runs until a `Shutdown` job (or until every sender is gone), then checkpoints.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let checkpoints = self.sem.store().background_checkpoints();
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
        if planted!(self.sem.bugs(), AckBeforeCommit) && self.sem.bugs().state.tx_open() {
            // AckBeforeCommit: a graceful stop still commits what it answered.
            self.sem.bugs().state.tx_closed();
            if let Err(e) = self.sem.store().commit() {
                tracing::error!("commit at shutdown failed: {e}");
            }
        }
        self.registry.clear();
        if let Some(line) = self.stats.summary() {
            tracing::info!("{line}");
        }
        drop(checkpoints);
        if let Err(e) = self.sem.store().checkpoint() {
            tracing::warn!("checkpoint at shutdown failed: {e}");
        }
    }

    /// Applies `jobs` in one transaction, commits, then releases their outputs.
    fn batch(&mut self, jobs: &mut Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let started = Instant::now();
        let n = jobs.len();
        self.arrived.clear();
        self.arrived.extend(jobs.iter().filter_map(Job::arrived));
        let mut outs = Vec::with_capacity(jobs.len() * 2);
        let mut failed =
            if planted!(self.sem.bugs(), AckBeforeCommit) && self.sem.bugs().state.tx_open() {
                // AckBeforeCommit: an earlier batch's transaction is still open; this joins it.
                None
            } else {
                self.sem.store().begin().err()
            };
        for job in jobs.drain(..) {
            if failed.is_none() {
                if let Err(e) = self.apply(job, &mut outs) {
                    failed = Some(e);
                }
            } else {
                fail_job(job, &mut outs);
            }
        }
        let defer = planted!(self.sem.bugs(), AckBeforeCommit)
            && failed.is_none()
            && self.sem.bugs().state.defer_commit(Instant::now());
        if failed.is_none()
            && !defer
            && let Err(e) = self.sem.store().commit()
        {
            failed = Some(e);
        }
        if let Some(e) = failed {
            tracing::error!("batch failed, rolled back: {e}");
            if planted!(self.sem.bugs(), AckBeforeCommit) {
                self.sem.bugs().state.tx_closed();
            }
            let _ = self.sem.store().rollback();
            if let Err(e) = self.sem.load() {
                tracing::error!("reloading state after a failed batch: {e}");
            }
            outs = outs.into_iter().filter_map(fail_out).collect();
        }
        self.dispatch(outs);
        let done = Instant::now();
        self.stats.record(n, done - started);
        for &at in &self.arrived {
            self.stats.record_op(started - at, done - at);
        }
    }

    fn apply(&mut self, job: Job, outs: &mut Vec<Out>) -> Result<(), Fatal> {
        match job {
            Job::Client {
                user,
                conn,
                req_id,
                op,
                ..
            } => {
                let r = self
                    .sem
                    .client(user, req_id, op, &self.registry, &mut self.pushes);
                // Drained before `?`, so a failed operation leaves no pushes behind (the failed
                // batch drops them from `outs`).
                outs.extend(self.pushes.drain(..).map(Out::Push));
                let frame = answer(r)?.unwrap_or_else(|code| error_frame(Some(req_id), code));
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
            Job::Resolve { name, reply } => outs.push(Out::Resolve(reply, self.sem.resolve(&name))),
            Job::Admin {
                op: AdminOp::RevokeTokens(name),
                reply,
            } => {
                let r = answer(self.sem.revoke_tokens(&name))?;
                if let Ok(user) = r {
                    outs.push(Out::Kick(user));
                }
                outs.push(Out::Admin(reply, r.map(|_| serde_json::json!({}))));
            }
            Job::Admin { op, reply } => outs.push(Out::Admin(reply, answer(self.admin(op))?)),
            Job::AdminBatch { ops, reply } => {
                let mut results = Vec::with_capacity(ops.len());
                for op in ops {
                    let r = answer(self.sem.admin(op))?;
                    results.push(admin::BatchResult {
                        error: r.err().map(WireError::from),
                    });
                }
                outs.push(Out::AdminBatch(reply, results));
            }
            Job::Shutdown => {}
        }
        Ok(())
    }

    /// A single admin operation's `ok` body.
    fn admin(&mut self, op: AdminOp) -> OpResult<serde_json::Value> {
        Ok(match op {
            AdminOp::Batch(op) => {
                self.sem.admin(op)?;
                serde_json::json!({})
            }
            AdminOp::GetConfig => self.sem.config_json(),
            AdminOp::TokenGeneration(name) => serde_json::json!(self.sem.token_generation(&name)?),
            AdminOp::RevokeTokens(name) => {
                self.sem.revoke_tokens(&name)?;
                serde_json::json!({})
            }
        })
    }

    /// Releases a committed (or failed and rewritten) batch's outputs, in order.
    fn dispatch(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Response {
                    user, conn, frame, ..
                } => self.registry.respond(user, conn, frame),
                Out::Push(p) => self.registry.push(p.user, &p.frame),
                Out::Register(h) => {
                    // The hello is the connection's first frame, and it is sent only once the
                    // connection is registered: whatever commits after it is pushed to it.
                    let hello = push_frame(&PushFrame::Hello {
                        user_id: self.sem.name(h.user),
                        protocol: crate::wire::PROTOCOL_VERSION.into(),
                    });
                    self.registry.register(h, hello);
                }
                Out::Unregister { user, conn } => self.registry.unregister(user, conn),
                Out::Kick(user) => self.registry.kick_user(user),
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
        self.registry.publish();
    }
}

/// `n` INTERNAL results, the answer to an admin batch that did not commit.
fn internal_results(n: usize) -> Vec<admin::BatchResult> {
    vec![
        admin::BatchResult {
            error: Some(ErrorCode::Internal.into())
        };
        n
    ]
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
        Job::AdminBatch { ops, reply } => {
            outs.push(Out::AdminBatch(reply, internal_results(ops.len())))
        }
        Job::Shutdown => {}
    }
}

/// Rewrites the output of an applied job whose batch then failed to commit: its answers
/// become INTERNAL and its pushes vanish (nothing they report was committed).
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
        Out::Push(_) | Out::Kick(_) => return None,
        Out::Resolve(tx, _) => Out::Resolve(tx, None),
        Out::Admin(tx, _) => Out::Admin(tx, Err(ErrorCode::Internal)),
        Out::AdminBatch(tx, v) => Out::AdminBatch(tx, internal_results(v.len())),
        other => other,
    })
}

#[cfg(test)]
mod tests;
