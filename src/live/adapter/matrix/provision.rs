//! Provisioning and churn on a Matrix homeserver: users by shared-secret registration, a
//! group as a private room the provisioning user makes and every member joins, membership
//! changes as invite + join and kick (docs/matrix.md, "The mapping").

use super::state::{group_key, lock};
use super::{ADMIN_USER, AdminSendError, MatrixBackend};
use crate::live::LiveError;
use crate::matrix::client::NewRoom;
use crate::matrix::error::{ErrCode, MatrixError};
use crate::matrix::register;
use crate::protocol::{AdminRequest, ErrorCode, GroupId, Response, UserId};
use futures_util::StreamExt;

/// Registrations and joins in flight at once while provisioning.
const PARALLEL: usize = 8;

/// Every readsim user's password (a test homeserver's throwaway accounts).
fn password(localpart: &str) -> String {
    format!("readsim-{localpart}")
}

fn admin_err(what: &str, e: MatrixError) -> LiveError {
    LiveError::Admin(format!("{what}: {e}; see the homeserver's log"))
}

impl MatrixBackend {
    /// Applies the provisioning list in order (users concurrently, then groups).
    pub(super) async fn provision_all(
        &self,
        reqs: &[AdminRequest],
    ) -> Result<Vec<Response>, LiveError> {
        let anon = self.client(None)?;
        let admin = register::provision(&anon, &self.secret, ADMIN_USER, &password(ADMIN_USER))
            .await
            .map_err(|e| admin_err("registering the provisioning user", e))?;
        *lock(&self.admin) = Some(admin.access_token);
        let mut out = Vec::with_capacity(reqs.len());
        let mut rest = reqs;
        while let Some(first) = rest.first() {
            let n = rest
                .iter()
                .take_while(|r| std::mem::discriminant(*r) == std::mem::discriminant(first))
                .count();
            let (run, tail) = rest.split_at(n);
            // Futures made up front: a closure in the stream trips the Send check of the
            // boxed future (rust-lang/rust#102211).
            let calls: Vec<_> = run.iter().map(|r| self.provision_one(r)).collect();
            let answers: Vec<Result<Response, LiveError>> = futures_util::stream::iter(calls)
                .buffered(PARALLEL)
                .collect()
                .await;
            for a in answers {
                out.push(a?);
            }
            rest = tail;
        }
        Ok(out)
    }

    async fn provision_one(&self, req: &AdminRequest) -> Result<Response, LiveError> {
        match req {
            // MX1: no receipt configuration on Matrix; every room takes receipts.
            AdminRequest::SetReceiptConfig { .. } => Ok(Response::AdminDone),
            AdminRequest::CreateUser { user } => self.create_user(*user).await,
            AdminRequest::CreateGroup { group, members, .. } => {
                self.create_group(*group, members).await
            }
            other => Err(LiveError::Admin(format!(
                "provisioning holds {other:?}; only creations are expected (a readsim bug)"
            ))),
        }
    }

    async fn create_user(&self, user: UserId) -> Result<Response, LiveError> {
        let local = crate::wire::user_str(user);
        let anon = self.client(None)?;
        match register::register(&anon, &self.secret, &local, &password(&local)).await {
            Ok(s) => {
                lock(&self.shared.tokens).insert(user, s.access_token);
                Ok(Response::AdminDone)
            }
            // Registered before: by another shard of this run (shards share users) or by an
            // earlier run. Log in as a new device, so this process can act as the user when
            // the driver accepts an existing user (a sharded run); USER_EXISTS either way.
            Err(e) if e.errcode() == Some(&ErrCode::UserInUse) => {
                if let Ok(s) = register::login(&anon, &local, &password(&local)).await {
                    lock(&self.shared.tokens).insert(user, s.access_token);
                }
                Ok(Response::Error {
                    code: ErrorCode::UserExists,
                })
            }
            Err(e) => Err(admin_err(&format!("registering {local}"), e)),
        }
    }

    async fn create_group(&self, g: GroupId, members: &[UserId]) -> Result<Response, LiveError> {
        if self.shared.room(group_key(g)).is_some() {
            return Ok(Response::Error {
                code: ErrorCode::GroupExists,
            });
        }
        let names = &self.shared.names;
        let mut tokens = Vec::with_capacity(members.len());
        for &m in members {
            match self.shared.token(m) {
                Some(t) => tokens.push(t),
                None => {
                    return Ok(Response::Error {
                        code: ErrorCode::UserNotFound,
                    });
                }
            }
        }
        let room = self
            .admin_client()?
            .create_room(&NewRoom {
                invite: members.iter().map(|&m| names.matrix(m)).collect(),
                is_direct: false,
                name: Some(crate::wire::group_str(g)),
            })
            .await
            .map_err(|e| admin_err(&format!("creating the room of g{}", g.0), e))?;
        self.join_all(&room, tokens).await?;
        lock(&self.shared.rooms).insert(group_key(g), room.clone());
        let ids: Vec<String> = members.iter().map(|&m| names.matrix(m)).collect();
        for &m in members {
            lock(&self.shared.client(m)).view.set_members(&room, &ids);
        }
        Ok(Response::AdminDone)
    }

    async fn join_all(&self, room: &str, tokens: Vec<String>) -> Result<(), LiveError> {
        let clients = tokens
            .into_iter()
            .map(|t| self.client(Some(t)))
            .collect::<Result<Vec<_>, _>>()?;
        let calls: Vec<_> = clients.iter().map(|c| c.join(room)).collect();
        let joins: Vec<Result<String, MatrixError>> = futures_util::stream::iter(calls)
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for j in joins {
            j.map_err(|e| admin_err(&format!("joining {room}"), e))?;
        }
        Ok(())
    }

    /// One churn change: `add_member` is an invite by the provisioning user and the
    /// user's join; `remove_member` is a kick.
    pub(super) async fn churn(&self, req: &AdminRequest) -> Result<Response, AdminSendError> {
        let unsent = |detail: String| AdminSendError {
            sent: false,
            detail,
        };
        let admin = self.admin_client().map_err(|e| unsent(e.to_string()))?;
        match *req {
            AdminRequest::AddMember { group, user } => {
                let Some(token) = self.shared.token(user) else {
                    return Ok(error(ErrorCode::UserNotFound));
                };
                let Some(room) = self.shared.room(group_key(group)) else {
                    return Ok(error(ErrorCode::GroupNotFound));
                };
                let who = self.shared.names.matrix(user);
                if let Err(e) = admin.invite(&room, &who).await {
                    return answer(e, ErrorCode::AlreadyMember);
                }
                // From here the call has changed the room (the user is invited): whatever
                // fails now, it was sent, and a retry would find the invite and stop there.
                let sent = |detail: String| AdminSendError { sent: true, detail };
                let joiner = self.client(Some(token)).map_err(|e| sent(e.to_string()))?;
                match joiner.join(&room).await {
                    Ok(_) => Ok(Response::AdminDone),
                    Err(e) => answer(e, ErrorCode::Internal).map_err(|e| sent(e.detail)),
                }
            }
            AdminRequest::RemoveMember { group, user } => {
                let Some(room) = self.shared.room(group_key(group)) else {
                    return Ok(error(ErrorCode::GroupNotFound));
                };
                let who = self.shared.names.matrix(user);
                match admin.kick(&room, &who, Some("readsim churn")).await {
                    Ok(()) => Ok(Response::AdminDone),
                    Err(e) => answer(e, ErrorCode::NotGroupMember),
                }
            }
            ref other => Err(unsent(format!(
                "{other:?} is not a membership change; churn sends only those"
            ))),
        }
    }
}

fn error(code: ErrorCode) -> Response {
    Response::Error { code }
}

/// A churn call's failure: a refusal (403) is readsim's `refused` code; anything else the
/// homeserver answered is `INTERNAL`; no answer at all is a send error.
fn answer(e: MatrixError, refused: ErrorCode) -> Result<Response, AdminSendError> {
    match e.status() {
        Some(403) => Ok(error(refused)),
        Some(_) => Ok(error(ErrorCode::Internal)),
        None => Err(AdminSendError {
            sent: e.may_have_been_sent(),
            detail: e.to_string(),
        }),
    }
}
