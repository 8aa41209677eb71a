//! Unit tests of the reference model, one group per rule of docs/semantics.md.
//! Each test is named after the rule it checks; docs/semantics.md points back at these names.

use super::*;
use crate::protocol::{
    AdminRequest, Conv, ErrorCode, GroupId, GroupType, HistoryMessage, MsgId, Push, ReadFilter,
    ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use std::collections::BTreeSet;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn u(i: u32) -> UserId {
    UserId(i)
}

fn g(i: u32) -> GroupId {
    GroupId(i)
}

fn users(ids: &[u32]) -> Vec<UserId> {
    ids.iter().copied().map(UserId).collect()
}

/// A model plus a clock that advances one millisecond per call, and the pushes of the last call.
struct H {
    m: Model,
    now: Micros,
    pushes: Vec<Delivery>,
}

impl H {
    /// A model with users `0..n` and the default receipt configuration.
    fn new(n: u32) -> H {
        H::with_config(n, ReceiptConfig::default())
    }

    fn with_config(n: u32, config: ReceiptConfig) -> H {
        let mut m = Model::new(config);
        for i in 0..n {
            assert_eq!(
                m.admin(&AdminRequest::CreateUser { user: u(i) }),
                Response::AdminDone
            );
        }
        H {
            m,
            now: 1_000_000,
            pushes: Vec::new(),
        }
    }

    fn admin(&mut self, req: AdminRequest) -> Response {
        self.m.admin(&req)
    }

    fn group(&mut self, id: u32, t: GroupType, members: &[u32]) {
        let r = self.admin(AdminRequest::CreateGroup {
            group: g(id),
            group_type: t,
            members: users(members),
        });
        assert_eq!(r, Response::AdminDone);
    }

    fn add(&mut self, group: u32, user: u32) {
        let r = self.admin(AdminRequest::AddMember {
            group: g(group),
            user: u(user),
        });
        assert_eq!(r, Response::AdminDone);
    }

    fn remove(&mut self, group: u32, user: u32) {
        let r = self.admin(AdminRequest::RemoveMember {
            group: g(group),
            user: u(user),
        });
        assert_eq!(r, Response::AdminDone);
    }

    /// Calls the model as `user`, one millisecond after the previous call.
    fn call(&mut self, user: u32, req: Request) -> Response {
        self.now += 1000;
        self.call_at(self.now, user, req)
    }

    fn call_at(&mut self, now: Micros, user: u32, req: Request) -> Response {
        self.pushes.clear();
        self.m.apply(now, u(user), &req, &mut self.pushes)
    }

    fn try_send(&mut self, user: u32, conv: Conv, need: bool) -> Response {
        self.call(
            user,
            Request::SendMessage {
                conv,
                need_read_receipt: need,
                body_len: 10,
            },
        )
    }

    fn send(&mut self, user: u32, conv: Conv, need: bool) -> MsgId {
        match self.try_send(user, conv, need) {
            Response::Sent { msg_id, .. } => msg_id,
            other => panic!("send failed: {other:?}"),
        }
    }

    fn read_resp(&mut self, user: u32, ids: &[MsgId]) -> Response {
        self.call(
            user,
            Request::SendReadReceipts {
                msg_ids: ids.to_vec(),
            },
        )
    }

    /// Per-message results of a receipt batch that must be accepted as a whole.
    fn read(&mut self, user: u32, ids: &[MsgId]) -> Vec<Result<(), ErrorCode>> {
        match self.read_resp(user, ids) {
            Response::ReceiptsSent { results } => {
                assert_eq!(
                    results.iter().map(|r| r.msg_id).collect::<Vec<_>>(),
                    ids,
                    "one result per id, in request order"
                );
                results.into_iter().map(|r| r.result).collect()
            }
            other => panic!("receipt batch rejected: {other:?}"),
        }
    }

    fn get_resp(&mut self, user: u32, ids: &[MsgId]) -> Response {
        self.call(
            user,
            Request::GetReadReceipts {
                msg_ids: ids.to_vec(),
            },
        )
    }

    fn get(&mut self, user: u32, ids: &[MsgId]) -> Vec<Result<ReceiptEntry, ErrorCode>> {
        match self.get_resp(user, ids) {
            Response::ReadReceipts { entries } => {
                assert_eq!(
                    entries.iter().map(|e| e.msg_id).collect::<Vec<_>>(),
                    ids,
                    "one entry per id, in request order"
                );
                assert!(self.pushes.is_empty(), "a pull pushes nothing");
                entries.into_iter().map(|e| e.result).collect()
            }
            other => panic!("receipt pull rejected: {other:?}"),
        }
    }

    /// (read_count, unread_count) of a group message, pulled by its sender.
    fn counts(&mut self, sender: u32, id: MsgId) -> (u32, u32) {
        match self.get(sender, &[id]).remove(0) {
            Ok(ReceiptEntry::Group {
                read_count,
                unread_count,
                ..
            }) => (read_count, unread_count),
            other => panic!("not a group entry: {other:?}"),
        }
    }

    fn peer_read(&mut self, sender: u32, id: MsgId) -> bool {
        match self.get(sender, &[id]).remove(0) {
            Ok(ReceiptEntry::C2c { is_peer_read, .. }) => is_peer_read,
            other => panic!("not a C2C entry: {other:?}"),
        }
    }

    fn page(
        &mut self,
        user: u32,
        id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> Response {
        self.call(
            user,
            Request::GetReadMemberList {
                msg_id: id,
                filter,
                next_seq,
                count,
            },
        )
    }

    /// One page that must succeed: (members, next_seq, is_finished).
    fn page_ok(
        &mut self,
        user: u32,
        id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> (Vec<UserId>, u64, bool) {
        match self.page(user, id, filter, next_seq, count) {
            Response::MemberList {
                members,
                next_seq,
                is_finished,
            } => (members, next_seq, is_finished),
            other => panic!("member list failed: {other:?}"),
        }
    }

    /// The whole list, paged with page size `k`.
    fn list_all(&mut self, user: u32, id: MsgId, filter: ReadFilter, k: u32) -> Vec<UserId> {
        let mut all = Vec::new();
        let mut cursor = 0;
        for _ in 0..10_000 {
            let (members, next, done) = self.page_ok(user, id, filter, cursor, k);
            assert!(members.len() <= k as usize);
            all.extend(members);
            cursor = next;
            if done {
                return all;
            }
        }
        panic!("paging never finished");
    }

    fn mark(&mut self, user: u32, peer: u32) -> Response {
        self.call(user, Request::MarkC2cRead { peer: u(peer) })
    }

    fn history(&mut self, user: u32, conv: Conv, before_seq: u64, count: u32) -> Response {
        self.call(
            user,
            Request::GetHistory {
                conv,
                before_seq,
                count,
            },
        )
    }

    fn history_ok(
        &mut self,
        user: u32,
        conv: Conv,
        before_seq: u64,
        count: u32,
    ) -> Vec<HistoryMessage> {
        match self.history(user, conv, before_seq, count) {
            Response::History { messages } => messages,
            other => panic!("history failed: {other:?}"),
        }
    }
}

fn err(code: ErrorCode) -> Response {
    Response::Error { code }
}

fn receipt_pushes(pushes: &[Delivery]) -> Vec<(UserId, Vec<ReceiptEntry>)> {
    pushes
        .iter()
        .filter_map(|d| match &d.push {
            Push::Receipts { entries } => Some((d.to, entries.clone())),
            _ => None,
        })
        .collect()
}

fn group_entry(id: MsgId, group: u32, read: u32, unread: u32) -> ReceiptEntry {
    ReceiptEntry::Group {
        msg_id: id,
        group_id: g(group),
        read_count: read,
        unread_count: unread,
    }
}

/// Users 0..6, group 1 (Work) = {0,1,2,3}.
fn work_group() -> H {
    let mut h = H::new(6);
    h.group(1, GroupType::Work, &[0, 1, 2, 3]);
    h
}

mod admin;
mod audience;
mod c2c;
mod docs;
mod history;
mod member_lists;
mod pull_counts;
mod receipt_batches;
mod receipts;
mod scale;
mod send;
