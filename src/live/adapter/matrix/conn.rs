//! One client's connection to a Matrix homeserver: its own HTTP client (through the fault
//! proxy in fault runs: every request names the client), an initial `/sync` that brings its
//! view up to date without pushing anything (pushes are not queued for a client that was
//! away, docs/semantics.md §11), then a `/sync` long-poll loop whose updates become
//! `new_message` and `receipts` pushes, and an operation loop answering the scheduler's
//! frames, each operation on its own task (the load is open-loop).

use super::ops::{self, OpCtx};
use super::state::{Shared, lock, pair_key};
use crate::driver::ConnNo;
use crate::history::Device;
use crate::live::LiveError;
use crate::live::adapter::{Conn, ConnSpec};
use crate::live::inbound::{Inbound, Incoming};
use crate::live::proxy::CLIENT_PARAM;
use crate::matrix::client::{MatrixClient, NewRoom, user_http_client};
use crate::matrix::error::MatrixError;
use crate::matrix::sync::SyncBatch;
use crate::protocol::UserId;
use crate::wire::ClientFrame;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// How long one `/sync` long poll waits for news.
const LONG_POLL: Duration = Duration::from_secs(30);

/// How long any other request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens `spec.client`'s connection as the holder of `token`; returns once its view is up
/// to date with the homeserver.
pub(super) async fn open(
    shared: Arc<Shared>,
    base: String,
    token: String,
    spec: ConnSpec,
) -> Result<Conn, LiveError> {
    // One connection per user (Backend::max_devices is 1): always device 0.
    let ConnSpec {
        client,
        conn,
        inbound,
        announce,
        route,
        ..
    } = spec;
    let fail = |e: MatrixError| LiveError::Connect {
        client: client.0,
        detail: e.to_string(),
    };
    let (url, query) = match &route {
        Some(r) => (r.base_url("http"), format!("{CLIENT_PARAM}={}", client.0)),
        None => (base.clone(), String::new()),
    };
    let http = user_http_client().map_err(fail)?;
    let mc = MatrixClient::new(http, &url, &query)
        .map_err(fail)?
        .with_token(token)
        .with_timeout(REQUEST_TIMEOUT);
    let first = mc.sync(None, Duration::ZERO).await.map_err(fail)?;
    let side = shared.client(client);
    {
        let mut s = lock(&side);
        s.link = None;
        let tl = lock(&shared.timeline);
        for u in &first.rooms {
            // Absorbed, not pushed: this is what happened while the client was away.
            let _ = s.view.apply(u, &tl);
        }
        s.since = Some(first.next_batch.clone());
    }
    let (tx, rx) = unbounded_channel::<ClientFrame>();
    if announce
        && inbound
            .send(Inbound::Connected {
                client,
                device: Device::FIRST,
                conn,
                tx: tx.clone(),
            })
            .is_err()
    {
        return Err(LiveError::Connect {
            client: client.0,
            detail: "the run is over".into(),
        });
    }
    lock(&side).link = Some((conn, inbound.clone()));
    let ctx = OpCtx {
        shared: shared.clone(),
        mc: mc.clone(),
        me: client,
        side,
        txn_prefix: format!("rs{}.{}.{}", client.0, conn, now_tag()),
        direct_base: base,
    };
    let sync = tokio::spawn(sync_loop(ctx.clone(), conn, inbound.clone()));
    // Made here, not in the task: a task aborted before its first poll never runs a line.
    let teardown = Teardown {
        ctx: ctx.clone(),
        conn,
        sync: sync.abort_handle(),
    };
    let work = tokio::spawn(op_loop(ctx, rx, conn, inbound, teardown));
    // Both tasks are the connection's: the driver aborts what it is given at the run's end,
    // and a sync task left out would go on long-polling with nobody to tell.
    Ok(Conn {
        tx,
        tasks: vec![work, sync],
    })
}

/// Distinguishes this run's transaction ids from an earlier run's on the same homeserver.
fn now_tag() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Ends the connection when the operation loop ends, whether it returned (the scheduler
/// dropped its sender) or was aborted (the run's end): the sync loop stops and the client's
/// pushes stop going to this connection (its link holds a sender of the inbound channel).
struct Teardown {
    ctx: OpCtx,
    conn: ConnNo,
    sync: tokio::task::AbortHandle,
}

impl Drop for Teardown {
    fn drop(&mut self) {
        self.sync.abort();
        unlink(&self.ctx, self.conn);
    }
}

/// Answers the scheduler's frames until it drops the sender; then the connection ends.
async fn op_loop(
    ctx: OpCtx,
    mut rx: UnboundedReceiver<ClientFrame>,
    conn: ConnNo,
    inbound: UnboundedSender<Inbound>,
    _teardown: Teardown,
) {
    // Dropped with this task, so an abort ends the operations in flight too.
    let mut ops = tokio::task::JoinSet::new();
    while let Some(f) = rx.recv().await {
        let ctx = ctx.clone();
        let inbound = inbound.clone();
        ops.spawn(async move {
            let Some(r) = ops::answer(&ctx, f).await else {
                return;
            };
            let _ = inbound.send(Inbound::Frame {
                client: ctx.me,
                device: Device::FIRST,
                conn,
                at: Instant::now(),
                frame: Incoming::Response(r),
            });
        });
        while ops.try_join_next().is_some() {}
    }
}

/// Applies one `/sync` answer to the client's view and pushes what it derives.
pub(super) fn apply_sync(ctx: &OpCtx, batch: SyncBatch) {
    let mut side = lock(&ctx.side);
    let mut derived = Vec::new();
    {
        let tl = lock(&ctx.shared.timeline);
        for u in &batch.rooms {
            derived.extend(side.view.apply(u, &tl));
        }
    }
    side.since = Some(batch.next_batch);
    ctx.shared.deliver(ctx.me, &side, derived);
}

fn unlink(ctx: &OpCtx, conn: ConnNo) {
    let mut side = lock(&ctx.side);
    if side.link.as_ref().is_some_and(|(c, _)| *c == conn) {
        side.link = None;
    }
}

/// Long-polls `/sync` and turns each update into pushes; a failure ends the connection.
async fn sync_loop(ctx: OpCtx, conn: ConnNo, inbound: UnboundedSender<Inbound>) {
    let reason = loop {
        let since = lock(&ctx.side).since.clone();
        match ctx.mc.sync(since.as_deref(), LONG_POLL).await {
            Ok(batch) => apply_sync(&ctx, batch),
            Err(e) if e.is_rate_limited() => {
                // Counted in the history by the operations it delays; the sync just waits.
                let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                tokio::time::sleep(wait.min(Duration::from_secs(10))).await;
            }
            Err(e) => break e.to_string(),
        }
    };
    unlink(&ctx, conn);
    let _ = inbound.send(Inbound::Closed {
        client: ctx.me,
        device: Device::FIRST,
        conn,
        reason: format!("/sync failed: {reason}"),
    });
}

/// The 1:1 room of `a` and `b`, made now if the run has none yet: `me` creates it (direct,
/// inviting the peer) and the peer joins; both views learn it is 1:1.
pub(super) async fn direct_room(ctx: &OpCtx, a: UserId, b: UserId) -> Result<String, MatrixError> {
    let key = pair_key(a, b);
    let guard = ctx.shared.send_lock(&format!("pair {} {}", a.0, b.0));
    let _one = guard.lock().await;
    if let Some(r) = ctx.shared.room(key) {
        return Ok(r);
    }
    let peer = if a == ctx.me { b } else { a };
    let names = &ctx.shared.names;
    let room = ctx
        .mc
        .create_room(&NewRoom {
            invite: vec![names.matrix(peer)],
            is_direct: true,
            name: None,
        })
        .await?;
    let token = ctx.shared.token(peer).unwrap_or_default();
    let peer_client = MatrixClient::new(user_http_client()?, &ctx.direct_base, "")?
        .with_token(token)
        .with_timeout(REQUEST_TIMEOUT);
    peer_client.join(&room).await?;
    let ids = [names.matrix(a), names.matrix(b)];
    for (u, other) in [(a, b), (b, a)] {
        let side = ctx.shared.client(u);
        let mut side = lock(&side);
        side.view.set_members(&room, &ids);
        side.view.set_direct(&room, other);
    }
    lock(&ctx.shared.rooms).insert(key, room.clone());
    Ok(room)
}
