//! A deliberately broken target for proving that readsim finds bugs: the model with one
//! planted bug. Used by tests and by `readsim run/sweep/shrink --plant-bug NAME`; never a
//! reference for anything.

use super::{ModelTarget, Target};
use crate::model::Delivery;
use crate::protocol::{
    AdminRequest, Micros, Push, ReadFilter, ReceiptEntry, Request, Response, UserId,
};

/// The bugs that can be planted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bug {
    /// Receipts pushes of every 7th message are lost (a lost notification).
    LostNotification,
    /// A read-list page that continues a paging (next_seq > 0) skips its first entry.
    PageSkipsEntry,
    /// Count pulls of messages with more than 3 audience members report one read too many.
    CountsOneTooMany,
    /// The unread list forgets that the first reader has read.
    UnreadListsReader,
}

impl Bug {
    pub const ALL: [Bug; 4] = [
        Bug::LostNotification,
        Bug::PageSkipsEntry,
        Bug::CountsOneTooMany,
        Bug::UnreadListsReader,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::LostNotification => "lost-notification",
            Bug::PageSkipsEntry => "page-skips-entry",
            Bug::CountsOneTooMany => "counts-one-too-many",
            Bug::UnreadListsReader => "unread-lists-reader",
        }
    }

    pub fn parse(s: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|b| b.name() == s)
    }
}

/// The model with `bug` planted.
pub struct FaultyTarget {
    inner: ModelTarget,
    bug: Bug,
}

impl FaultyTarget {
    pub fn new(inner: ModelTarget, bug: Bug) -> FaultyTarget {
        FaultyTarget { inner, bug }
    }
}

impl Target for FaultyTarget {
    fn name(&self) -> &str {
        "model+bug"
    }

    fn admin(&mut self, now: Micros, req: &AdminRequest) -> Response {
        self.inner.admin(now, req)
    }

    fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response {
        let first = out.len();
        let mut resp = self.inner.apply(now, user, req, out);
        match (self.bug, req, &mut resp) {
            (Bug::LostNotification, _, _) => {
                let mut i = first;
                while i < out.len() {
                    let lost = matches!(&out[i].push, Push::Receipts { entries }
                        if entries.iter().any(|e| e.msg_id().0 % 7 == 0));
                    if lost {
                        out.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
            (
                Bug::PageSkipsEntry,
                Request::GetReadMemberList {
                    filter: ReadFilter::Read,
                    next_seq,
                    ..
                },
                Response::MemberList { members, .. },
            ) if *next_seq > 0 && !members.is_empty() => {
                members.remove(0);
            }
            (Bug::CountsOneTooMany, _, Response::ReadReceipts { entries }) => {
                for e in entries.iter_mut() {
                    if let Ok(ReceiptEntry::Group {
                        read_count,
                        unread_count,
                        ..
                    }) = &mut e.result
                        && *read_count + *unread_count > 3
                        && *unread_count > 0
                    {
                        *read_count += 1;
                        *unread_count -= 1;
                    }
                }
            }
            (
                Bug::UnreadListsReader,
                Request::GetReadMemberList {
                    msg_id,
                    filter: ReadFilter::Unread,
                    next_seq: 0,
                    ..
                },
                Response::MemberList { members, .. },
            ) => {
                let mut probe = Vec::new();
                let read = self.inner.apply(
                    now,
                    user,
                    &Request::GetReadMemberList {
                        msg_id: *msg_id,
                        filter: ReadFilter::Read,
                        next_seq: 0,
                        count: 1,
                    },
                    &mut probe,
                );
                if let Response::MemberList { members: r, .. } = read
                    && let Some(&u) = r.first()
                    && !members.contains(&u)
                {
                    members.insert(0, u);
                }
            }
            _ => {}
        }
        resp
    }
}
