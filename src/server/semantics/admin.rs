//! Admin writes: users, groups, memberships, the receipt config.

use super::{OpResult, Semantics, dense_user_id};
use crate::protocol::{ErrorCode, GroupType, ReceiptConfig};
use crate::server::store::{GroupRow, SqlResult};
use crate::wire::{admin, valid_id};

impl Semantics {
    /// Applies one admin write (a batch op or its single-op HTTP form).
    pub(crate) fn admin(&mut self, op: admin::BatchOp) -> OpResult<()> {
        use admin::BatchOp;
        match op {
            BatchOp::CreateUser { user_id } => self.create_user(user_id),
            BatchOp::CreateGroup {
                group_id,
                group_type,
                members,
            } => self.create_group(group_id, group_type, &members),
            BatchOp::AddMember { group_id, user_id } => self.add_member(&group_id, &user_id),
            BatchOp::RemoveMember { group_id, user_id } => self.remove_member(&group_id, &user_id),
            BatchOp::SetReceiptConfig {
                enabled_types,
                max_group_size,
            } => self.set_receipt_config(enabled_types, max_group_size),
        }
    }

    fn create_user(&mut self, name: String) -> OpResult<()> {
        if !valid_id(&name) {
            return Err(ErrorCode::InvalidId.into());
        }
        if self.users.contains_key(&name) {
            return Err(ErrorCode::UserExists.into());
        }
        let id = match dense_user_id(&name) {
            Some(n) => n,
            None => {
                self.next_other_user += 1;
                self.next_other_user - 1
            }
        };
        self.store.insert_user(id, &name)?;
        self.users.insert(name.clone(), id);
        self.user_names.insert(id, name);
        Ok(())
    }

    fn create_group(&mut self, name: String, gtype: GroupType, members: &[String]) -> OpResult<()> {
        if !valid_id(&name) || !members.iter().all(|m| valid_id(m)) {
            return Err(ErrorCode::InvalidId.into());
        }
        if self.groups.contains_key(&name) {
            return Err(ErrorCode::GroupExists.into());
        }
        let mut ids = members
            .iter()
            .map(|m| self.users.get(m).copied().ok_or(ErrorCode::UserNotFound))
            .collect::<Result<Vec<i64>, _>>()?;
        ids.sort_unstable();
        ids.dedup();
        let gid = self.store.insert_group(&name, gtype, &ids)?;
        self.groups.insert(name.clone(), gid);
        self.group_info.insert(
            gid,
            GroupRow {
                name,
                gtype,
                version: 0,
                member_count: ids.len() as i64,
                last_seq: 0,
            },
        );
        Ok(())
    }

    /// A join (`delta` 1) or leave (-1): the group's membership version grows by one.
    fn bump_group(&mut self, gid: i64, delta: i64) -> SqlResult<i64> {
        let g = self.group_info.get_mut(&gid).expect("cached group");
        g.version += 1;
        g.member_count += delta;
        self.store
            .set_group_version(gid, g.version, g.member_count)?;
        Ok(g.version)
    }

    fn add_member(&mut self, group: &str, user: &str) -> OpResult<()> {
        if !valid_id(group) || !valid_id(user) {
            return Err(ErrorCode::InvalidId.into());
        }
        let uid = *self.users.get(user).ok_or(ErrorCode::UserNotFound)?;
        let gid = *self.groups.get(group).ok_or(ErrorCode::GroupNotFound)?;
        if self.store.is_member(gid, uid)? {
            return Err(ErrorCode::AlreadyMember.into());
        }
        let ver = self.bump_group(gid, 1)?;
        self.store.join(gid, uid, ver)?;
        Ok(())
    }

    fn remove_member(&mut self, group: &str, user: &str) -> OpResult<()> {
        if !valid_id(group) || !valid_id(user) {
            return Err(ErrorCode::InvalidId.into());
        }
        let gid = *self.groups.get(group).ok_or(ErrorCode::GroupNotFound)?;
        // An unknown user is simply not a member.
        let uid = *self.users.get(user).ok_or(ErrorCode::NotGroupMember)?;
        if !self.store.is_member(gid, uid)? {
            return Err(ErrorCode::NotGroupMember.into());
        }
        let ver = self.bump_group(gid, -1)?;
        self.store.leave(gid, uid, ver)?;
        Ok(())
    }

    fn set_receipt_config(
        &mut self,
        mut enabled_types: Vec<GroupType>,
        max_group_size: u32,
    ) -> OpResult<()> {
        enabled_types.sort();
        enabled_types.dedup();
        let c = admin::Config {
            enabled_types,
            max_group_size,
        };
        self.store.set_receipt_config(&c)?;
        self.config = ReceiptConfig {
            enabled_types: c.enabled_types,
            max_group_size: c.max_group_size,
        };
        Ok(())
    }
}
