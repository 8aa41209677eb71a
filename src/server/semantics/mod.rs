//! The semantics: the rules of SEMANTICS.md applied to one request, over the store. This is an
//! independent implementation of those rules over SQL tables; it must agree with
//! `crate::model::Model` on every result, error code and cursor.
//!
//! It runs inside the writer's transaction and knows nothing of batching or sockets: each
//! operation returns its answer (or an [`OpError`]) and appends the pushes it causes. The
//! in-memory caches (users, groups, config, clock) mirror committed-or-pending rows; the
//! writer calls [`Semantics::load`] after a rollback to resync them.

mod admin;
mod messages;
mod receipts;
#[cfg(test)]
mod tests;

use super::framing::ok_frame;
use super::planted::Planted;
use super::store::{Fatal, GroupRow, SqlResult, Store};
use crate::protocol::{ErrorCode, ReceiptConfig};
use crate::wire::{MAX_BODY_BYTES, WireConv, WireRequest, valid_id};
use axum::extract::ws::Utf8Bytes;
use std::collections::HashMap;

/// Users named `u<n>` with `n` below this get id `n`; others get ids from here up.
const DENSE_LIMIT: i64 = 1 << 24;

/// Why an operation did not succeed: a rule said no (the answer is that error code), or SQL
/// failed (the whole batch is rolled back). `?` works for both.
#[derive(Debug)]
pub(crate) enum OpError {
    Rule(ErrorCode),
    Fatal(Fatal),
}

impl From<ErrorCode> for OpError {
    fn from(c: ErrorCode) -> OpError {
        OpError::Rule(c)
    }
}

impl From<Fatal> for OpError {
    fn from(e: Fatal) -> OpError {
        OpError::Fatal(e)
    }
}

pub(crate) type OpResult<T> = Result<T, OpError>;

/// Splits an outcome where it becomes an answer: rule errors are answered (`Ok(Err(code))`),
/// SQL failures propagate.
pub(crate) fn answer<T>(r: OpResult<T>) -> Result<Result<T, ErrorCode>, Fatal> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(OpError::Rule(c)) => Ok(Err(c)),
        Err(OpError::Fatal(e)) => Err(e),
    }
}

/// A push caused by an operation, for every connection of `user`.
pub(crate) struct Push {
    pub user: i64,
    pub frame: Utf8Bytes,
}

/// Who is connected when an operation applies: group messages are pushed only to members
/// online then.
pub(crate) trait Online {
    fn nobody(&self) -> bool;
    fn is_online(&self, user: i64) -> bool;
}

pub(crate) struct Semantics {
    store: Store,
    users: HashMap<String, i64>,
    user_names: HashMap<i64, String>,
    next_other_user: i64,
    groups: HashMap<String, i64>,
    group_info: HashMap<i64, GroupRow>,
    config: ReceiptConfig,
    /// Server time in ms: the wall clock, never going back (also across restarts).
    clock_ms: i64,
    /// How often each user's tokens were revoked (absent: never).
    token_gen: HashMap<i64, u64>,
    /// Deliberate defects (tests only; see `planted.rs`).
    bugs: Planted,
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
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

impl Semantics {
    pub(crate) fn new(store: Store, bugs: Planted) -> SqlResult<Semantics> {
        let mut s = Semantics {
            store,
            users: HashMap::new(),
            user_names: HashMap::new(),
            next_other_user: DENSE_LIMIT,
            groups: HashMap::new(),
            group_info: HashMap::new(),
            config: ReceiptConfig::default(),
            clock_ms: 0,
            token_gen: HashMap::new(),
            bugs,
        };
        s.load()?;
        Ok(s)
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The planted defect and its memory (the writer's own defects live there too).
    pub(crate) fn bugs(&mut self) -> &mut Planted {
        &mut self.bugs
    }

    /// (Re)loads the in-memory caches from the committed tables.
    pub(crate) fn load(&mut self) -> SqlResult<()> {
        self.users.clear();
        self.user_names.clear();
        self.groups.clear();
        self.group_info.clear();
        self.next_other_user = DENSE_LIMIT;
        for (id, name) in self.store.users()? {
            self.next_other_user = self.next_other_user.max(id + 1);
            self.users.insert(name.clone(), id);
            self.user_names.insert(id, name);
        }
        for (id, g) in self.store.groups()? {
            self.groups.insert(g.name.clone(), id);
            self.group_info.insert(id, g);
        }
        self.config = self.store.receipt_config()?;
        self.clock_ms = self.store.latest_ts()?;
        self.token_gen = self.store.token_generations()?.into_iter().collect();
        Ok(())
    }

    /// The internal id of a user and their token generation, if the user exists (token check
    /// at connect).
    pub(crate) fn resolve(&self, name: &str) -> Option<(i64, u64)> {
        let id = *self.users.get(name)?;
        Some((id, self.token_gen.get(&id).copied().unwrap_or(0)))
    }

    /// The generation new tokens of `name` are signed with.
    pub(crate) fn token_generation(&self, name: &str) -> Result<u64, ErrorCode> {
        self.user_exists(name)?;
        Ok(self.resolve(name).map_or(0, |(_, g)| g))
    }

    /// Revokes every token of `name` issued so far; returns the user's id.
    pub(crate) fn revoke_tokens(&mut self, name: &str) -> OpResult<i64> {
        self.user_exists(name)?;
        let (id, g) = self.resolve(name).ok_or(ErrorCode::UserNotFound)?;
        self.store.set_token_generation(id, g + 1)?;
        self.token_gen.insert(id, g + 1);
        Ok(id)
    }

    pub(crate) fn user_exists(&self, name: &str) -> Result<(), ErrorCode> {
        if !valid_id(name) {
            Err(ErrorCode::InvalidId)
        } else if self.users.contains_key(name) {
            Ok(())
        } else {
            Err(ErrorCode::UserNotFound)
        }
    }

    /// The receipt config as the admin API shows it.
    pub(crate) fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(crate::wire::config_to_wire(&self.config)).expect("config serializes")
    }

    /// The name of a user id ("" if unknown, which the callers rule out).
    pub(crate) fn name(&self, user: i64) -> String {
        self.user_names.get(&user).cloned().unwrap_or_default()
    }

    fn tick(&mut self) -> i64 {
        self.clock_ms = self.clock_ms.max(wall_ms());
        self.clock_ms
    }

    /// Applies a client request of `user`; returns its `ok` response frame and appends the
    /// pushes it causes to `pushes`.
    pub(crate) fn client(
        &mut self,
        user: i64,
        req_id: u64,
        op: WireRequest,
        online: &dyn Online,
        pushes: &mut Vec<Push>,
    ) -> OpResult<Utf8Bytes> {
        validate(&op)?;
        if !self.user_names.contains_key(&user) {
            return Err(ErrorCode::UserNotFound.into());
        }
        Ok(match op {
            WireRequest::SendMessage {
                conv,
                need_read_receipt,
                body,
            } => {
                let sent = self.send_message(user, conv, need_read_receipt, &body, online, pushes);
                ok_frame(req_id, &sent?)
            }
            WireRequest::SendMessageReadReceipts { msg_ids } => {
                ok_frame(req_id, &self.send_receipts(user, &msg_ids, pushes)?)
            }
            WireRequest::GetMessageReadReceipts { msg_ids } => {
                ok_frame(req_id, &self.get_receipts(user, &msg_ids)?)
            }
            WireRequest::GetGroupMessageReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => ok_frame(
                req_id,
                &self.member_list(user, &msg_id, filter, next_seq, count)?,
            ),
            WireRequest::MarkC2cMessageAsRead { peer } => {
                ok_frame(req_id, &self.mark_c2c_read(user, &peer, pushes)?)
            }
            WireRequest::GetHistory {
                conv,
                before_seq,
                count,
            } => ok_frame(req_id, &self.history(user, conv, before_seq, count)?),
        })
    }
}

/// A page size of 1..=MAX_BATCH.
fn check_count(count: u32) -> Result<(), ErrorCode> {
    if count == 0 || count as usize > crate::protocol::MAX_BATCH {
        Err(ErrorCode::CountOutOfRange)
    } else {
        Ok(())
    }
}
