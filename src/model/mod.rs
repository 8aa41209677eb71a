//! The reference semantics (docs/semantics.md) as a pure state machine: no I/O, no clock; time is
//! an argument. Every target is judged against what this does.
//!
//! Cost model, so groups of thousands stay cheap: a group's member set is an
//! `Arc<RoaringBitmap>` shared copy-on-write with every message sent while it was current, so
//! an audience snapshot costs nothing unless membership changes. A message's readers are an
//! append-only vector (read order) plus a bitmap (membership test); no operation scans the
//! audience except paging the unread list, which walks at most one page past read members.

mod history;
mod matrix;
mod readers;

use crate::protocol::{
    AdminRequest, Conv, ConvKey, ErrorCode, GroupId, GroupType, MAX_BATCH, Micros, MsgId,
    PerMessage, Profile, Push, ReadFilter, ReceiptConfig, ReceiptEntry, Request, Response, UserId,
};
use crate::user_set::UserSet;
use readers::Readers;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Group ids and user ids are dense indices below this bound (the wire adapter maps names).
pub const MAX_DENSE_ID: u32 = 1 << 24;

/// A push the model asks its caller to deliver to every open connection of `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Delivery {
    pub to: UserId,
    /// None: every connection of `to` (what the model always asks). Some(d): only `to`'s
    /// connection d, which only a planted bug asks (`PushToOneDevice`).
    pub device: Option<u8>,
    pub push: Push,
}

#[derive(Clone, Debug)]
struct Group {
    group_type: GroupType,
    /// Current members. Messages hold clones of this `Arc` as their audience snapshot.
    members: Arc<UserSet>,
    /// Message ids by `seq - 1`.
    messages: Vec<MsgId>,
}

#[derive(Clone, Debug, Default)]
struct Pair {
    /// Message ids by `seq - 1`.
    messages: Vec<MsgId>,
    /// Highest seq each side (0 = low user, 1 = high user) has marked read.
    read_upto: [u64; 2],
    /// Timestamp of each side's last mark-read, so pushed timestamps never decrease.
    read_ts: [u64; 2],
}

#[derive(Clone, Debug)]
enum Audience {
    /// Group members at send time (the sender is in it and is excluded on every query).
    Group(Arc<UserSet>),
    Peer(UserId),
}

#[derive(Clone, Debug)]
struct Message {
    conv: ConvKey,
    sender: UserId,
    seq: u64,
    timestamp_ms: u64,
    need_read_receipt: bool,
    audience: Audience,
    readers: Readers,
}

impl Message {
    fn audience_len(&self) -> u32 {
        match &self.audience {
            Audience::Group(m) => (m.len() as u32).saturating_sub(1),
            Audience::Peer(_) => 1,
        }
    }

    fn in_audience(&self, u: UserId) -> bool {
        u != self.sender
            && match &self.audience {
                Audience::Group(m) => m.contains(u.0),
                Audience::Peer(p) => *p == u,
            }
    }
}

/// The reference model. Cloneable so tests can fork a state.
#[derive(Clone, Debug, Default)]
pub struct Model {
    config: ReceiptConfig,
    profile: Profile,
    /// Read markers and leaves, kept only under the Matrix profile (`matrix.rs`).
    mx: matrix::MxState,
    users: RoaringBitmap,
    groups: Vec<Option<Group>>,
    pairs: BTreeMap<(UserId, UserId), Pair>,
    /// Message `MsgId(n)` is at index `n - 1`.
    messages: Vec<Message>,
}

/// A message's receipt state as the model knows it; for checkers and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageView {
    pub conv: ConvKey,
    pub sender: UserId,
    pub seq: u64,
    pub need_read_receipt: bool,
    pub audience_len: u32,
    pub read_count: u32,
}

impl Model {
    pub fn new(config: ReceiptConfig) -> Model {
        Model {
            config,
            ..Model::default()
        }
    }

    /// A model held to `profile`'s rules (docs/semantics.md or docs/matrix.md).
    pub fn with_profile(config: ReceiptConfig, profile: Profile) -> Model {
        Model {
            config,
            profile,
            ..Model::default()
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    pub fn config(&self) -> &ReceiptConfig {
        &self.config
    }

    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    pub fn message(&self, id: MsgId) -> Option<MessageView> {
        if self.profile.is_matrix() {
            return self.mx_view(id);
        }
        let m = self.msg(id)?;
        Some(MessageView {
            conv: m.conv,
            sender: m.sender,
            seq: m.seq,
            need_read_receipt: m.need_read_receipt,
            audience_len: m.audience_len(),
            read_count: self.read_count(m),
        })
    }

    /// The audience snapshot of a message (members at send time but the sender, or the peer)
    /// in ascending user id.
    pub fn audience(&self, id: MsgId) -> Vec<UserId> {
        match self.msg(id) {
            None => Vec::new(),
            Some(m) => match &m.audience {
                Audience::Group(s) => s.iter().map(UserId).filter(|&u| u != m.sender).collect(),
                Audience::Peer(p) => vec![*p],
            },
        }
    }

    pub fn is_member(&self, g: GroupId, u: UserId) -> bool {
        self.group(g).is_some_and(|g| g.members.contains(u.0))
    }

    pub fn group_size(&self, g: GroupId) -> Option<u32> {
        self.group(g).map(|g| g.members.len() as u32)
    }

    fn msg(&self, id: MsgId) -> Option<&Message> {
        let i = id.0.checked_sub(1)?;
        self.messages.get(usize::try_from(i).ok()?)
    }

    /// Message `id` as `user` may know it (semantics.md E1): only its sender, its audience and
    /// the current members of its group learn that it exists; to anybody else it is unknown.
    fn visible_msg(&self, user: UserId, id: MsgId) -> Option<&Message> {
        self.msg(id).filter(|m| {
            m.sender == user
                || m.in_audience(user)
                || matches!(m.conv, ConvKey::Group(g) if self.is_member(g, user))
        })
    }

    fn group(&self, g: GroupId) -> Option<&Group> {
        self.groups.get(g.0 as usize).and_then(|g| g.as_ref())
    }

    fn read_count(&self, m: &Message) -> u32 {
        match m.audience {
            Audience::Group(_) => m.readers.order.len() as u32,
            Audience::Peer(_) => self.is_peer_read(m) as u32,
        }
    }

    fn is_peer_read(&self, m: &Message) -> bool {
        let (ConvKey::Pair(lo, hi), Audience::Peer(peer)) = (m.conv, &m.audience) else {
            return false;
        };
        let side = usize::from(*peer == hi);
        let marked = self
            .pairs
            .get(&(lo, hi))
            .is_some_and(|p| p.read_upto[side] >= m.seq);
        marked || m.readers.contains(*peer)
    }

    fn entry(&self, id: MsgId, m: &Message) -> ReceiptEntry {
        match (&m.audience, m.conv) {
            (Audience::Peer(peer), _) => ReceiptEntry::C2c {
                msg_id: id,
                user_id: *peer,
                is_peer_read: self.is_peer_read(m),
            },
            (Audience::Group(_), ConvKey::Group(g)) => {
                let read = m.readers.order.len() as u32;
                ReceiptEntry::Group {
                    msg_id: id,
                    group_id: g,
                    read_count: read,
                    unread_count: m.audience_len() - read,
                }
            }
            (Audience::Group(_), ConvKey::Pair(..)) => unreachable!("group audience in a pair"),
        }
    }

    /// Applies an administrative request.
    pub fn admin(&mut self, req: &AdminRequest) -> Response {
        match self.try_admin(req) {
            Ok(r) => r,
            Err(code) => Response::Error { code },
        }
    }

    fn try_admin(&mut self, req: &AdminRequest) -> Result<Response, ErrorCode> {
        match req {
            AdminRequest::CreateUser { user } => {
                check_dense(user.0)?;
                if !self.users.insert(user.0) {
                    return Err(ErrorCode::UserExists);
                }
            }
            AdminRequest::CreateGroup {
                group,
                group_type,
                members,
            } => {
                check_dense(group.0)?;
                if self.group(*group).is_some() {
                    return Err(ErrorCode::GroupExists);
                }
                if let Some(u) = members.iter().find(|u| !self.users.contains(u.0)) {
                    let _ = u;
                    return Err(ErrorCode::UserNotFound);
                }
                let idx = group.0 as usize;
                if self.groups.len() <= idx {
                    self.groups.resize(idx + 1, None);
                }
                self.groups[idx] = Some(Group {
                    group_type: *group_type,
                    members: Arc::new(members.iter().map(|u| u.0).collect()),
                    messages: Vec::new(),
                });
            }
            AdminRequest::AddMember { group, user } => {
                if !self.users.contains(user.0) {
                    return Err(ErrorCode::UserNotFound);
                }
                let g = self.group_mut(*group)?;
                if g.members.contains(user.0) {
                    return Err(ErrorCode::AlreadyMember);
                }
                // Copy-on-write: messages sent before keep the old snapshot.
                Arc::make_mut(&mut g.members).insert(user.0);
            }
            AdminRequest::RemoveMember { group, user } => {
                let g = self.group_mut(*group)?;
                if !g.members.contains(user.0) {
                    return Err(ErrorCode::NotGroupMember);
                }
                Arc::make_mut(&mut g.members).remove(user.0);
                let seen = g.messages.len() as u64;
                if self.profile.is_matrix() {
                    self.mx.left(*group, *user, seen);
                }
            }
            AdminRequest::SetReceiptConfig { config } => {
                let mut c = config.clone();
                c.enabled_types.sort();
                c.enabled_types.dedup();
                self.config = c;
            }
            AdminRequest::GetReceiptConfig => {
                return Ok(Response::Config {
                    config: self.config.clone(),
                });
            }
        }
        Ok(Response::AdminDone)
    }

    fn group_mut(&mut self, g: GroupId) -> Result<&mut Group, ErrorCode> {
        self.groups
            .get_mut(g.0 as usize)
            .and_then(|g| g.as_mut())
            .ok_or(ErrorCode::GroupNotFound)
    }

    /// Applies a client request made by `user` at time `now`; pushes go to `out`.
    pub fn apply(
        &mut self,
        now: Micros,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Response {
        let r = if !self.users.contains(user.0) {
            Err(ErrorCode::UserNotFound)
        } else if self.profile.is_matrix() && !matches!(req, Request::SendMessage { .. }) {
            self.apply_matrix(now, user, req, out)
        } else {
            match req {
                Request::SendMessage {
                    conv,
                    need_read_receipt,
                    ..
                } => self.send_message(now, user, *conv, *need_read_receipt, out),
                Request::SendReadReceipts { msg_ids } => self.send_receipts(user, msg_ids, out),
                Request::GetReadReceipts { msg_ids } => self.get_receipts(user, msg_ids),
                Request::GetReadMemberList {
                    msg_id,
                    filter,
                    next_seq,
                    count,
                } => self.member_list(user, *msg_id, *filter, *next_seq, *count),
                Request::MarkC2cRead { peer } => self.mark_c2c_read(now, user, *peer, out),
                Request::GetHistory {
                    conv,
                    before_seq,
                    count,
                } => self.history(user, *conv, *before_seq, *count),
            }
        };
        r.unwrap_or_else(|code| Response::Error { code })
    }

    fn send_message(
        &mut self,
        now: Micros,
        sender: UserId,
        conv: Conv,
        need_read_receipt: bool,
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        let id = MsgId(self.messages.len() as u64 + 1);
        let timestamp_ms = now / 1000;
        let (key, seq, audience) = match conv {
            Conv::Group(gid) => self.append_to_group(gid, sender, need_read_receipt, id)?,
            Conv::C2c(peer) => self.append_to_pair(sender, peer, id)?,
        };
        let m = Message {
            conv: key,
            sender,
            seq,
            timestamp_ms,
            need_read_receipt,
            audience,
            readers: Readers::default(),
        };
        push_new_message(id, &m, out);
        self.messages.push(m);
        Ok(Response::Sent {
            msg_id: id,
            seq,
            timestamp_ms,
        })
    }

    /// Checks that `sender` may send to group `gid` (with receipts, if asked) and appends
    /// message `id` to it; returns its conversation, seq and audience snapshot.
    fn append_to_group(
        &mut self,
        gid: GroupId,
        sender: UserId,
        need_read_receipt: bool,
        id: MsgId,
    ) -> Result<(ConvKey, u64, Audience), ErrorCode> {
        // MX1: under the Matrix profile every group takes receipts.
        let gated = !self.profile.is_matrix();
        let config = &self.config;
        let g = self
            .groups
            .get_mut(gid.0 as usize)
            .and_then(|g| g.as_mut())
            .ok_or(ErrorCode::GroupNotFound)?;
        if !g.members.contains(sender.0) {
            return Err(ErrorCode::NotGroupMember);
        }
        if need_read_receipt && gated {
            if !config.supports(g.group_type) {
                return Err(ErrorCode::ReceiptsDisabledForGroupType);
            }
            if g.members.len() > u64::from(config.max_group_size) {
                return Err(ErrorCode::GroupTooLargeForReceipts);
            }
        }
        g.messages.push(id);
        Ok((
            ConvKey::Group(gid),
            g.messages.len() as u64,
            Audience::Group(Arc::clone(&g.members)),
        ))
    }

    /// Checks that `sender` may write to `peer` and appends message `id` to their 1:1
    /// conversation; returns its conversation, seq and audience.
    fn append_to_pair(
        &mut self,
        sender: UserId,
        peer: UserId,
        id: MsgId,
    ) -> Result<(ConvKey, u64, Audience), ErrorCode> {
        if peer == sender {
            return Err(ErrorCode::SelfConversation);
        }
        if !self.users.contains(peer.0) {
            return Err(ErrorCode::UserNotFound);
        }
        let key = ConvKey::of(sender, Conv::C2c(peer));
        let ConvKey::Pair(lo, hi) = key else {
            unreachable!()
        };
        let p = self.pairs.entry((lo, hi)).or_default();
        p.messages.push(id);
        Ok((key, p.messages.len() as u64, Audience::Peer(peer)))
    }

    /// Batch rules shared by the receipt calls: 1..=100 ids, and all ids known to `user` in
    /// one conversation (unknown ids are reported per message, not as a mix).
    fn check_batch(&self, user: UserId, ids: &[MsgId]) -> Result<(), ErrorCode> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(ErrorCode::BatchSize);
        }
        let mut conv = None;
        for m in ids.iter().filter_map(|&id| self.visible_msg(user, id)) {
            match conv {
                None => conv = Some(m.conv),
                Some(c) if c != m.conv => return Err(ErrorCode::MixedConversations),
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn receipt_error(&self, reader: UserId, m: &Message) -> Option<ErrorCode> {
        if !m.in_audience(reader) {
            return Some(ErrorCode::NotInAudience);
        }
        if !m.need_read_receipt {
            return Some(ErrorCode::ReceiptNotRequested);
        }
        if let ConvKey::Group(g) = m.conv
            && !self.is_member(g, reader)
        {
            return Some(ErrorCode::ReaderLeftGroup);
        }
        None
    }

    fn send_receipts(
        &mut self,
        reader: UserId,
        ids: &[MsgId],
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        self.check_batch(reader, ids)?;
        let mut results = Vec::with_capacity(ids.len());
        // New receipts, grouped by the sender to notify (one push per sender per batch).
        let mut notify: BTreeMap<UserId, Vec<MsgId>> = BTreeMap::new();
        for &id in ids {
            let result = match self.visible_msg(reader, id) {
                None => Err(ErrorCode::MessageNotFound),
                Some(m) => match self.receipt_error(reader, m) {
                    Some(code) => Err(code),
                    None => {
                        let i = (id.0 - 1) as usize;
                        let m = &mut self.messages[i];
                        if m.readers.insert(reader) {
                            notify.entry(m.sender).or_default().push(id);
                        }
                        Ok(())
                    }
                },
            };
            results.push(PerMessage { msg_id: id, result });
        }
        for (sender, msgs) in notify {
            let entries = msgs
                .into_iter()
                .map(|id| self.entry(id, self.msg(id).expect("just read")))
                .collect();
            out.push(Delivery {
                to: sender,
                device: None,
                push: Push::Receipts { entries },
            });
        }
        Ok(Response::ReceiptsSent { results })
    }

    fn get_receipts(&self, user: UserId, ids: &[MsgId]) -> Result<Response, ErrorCode> {
        self.check_batch(user, ids)?;
        let entries = ids
            .iter()
            .map(|&id| PerMessage {
                msg_id: id,
                result: match self.visible_msg(user, id) {
                    None => Err(ErrorCode::MessageNotFound),
                    Some(m) if m.sender != user => Err(ErrorCode::NotMessageSender),
                    Some(m) if !m.need_read_receipt => Err(ErrorCode::ReceiptNotRequested),
                    Some(m) => Ok(self.entry(id, m)),
                },
            })
            .collect();
        Ok(Response::ReadReceipts { entries })
    }

    fn member_list(
        &self,
        user: UserId,
        id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    ) -> Result<Response, ErrorCode> {
        if count == 0 || count as usize > MAX_BATCH {
            return Err(ErrorCode::CountOutOfRange);
        }
        let m = self
            .visible_msg(user, id)
            .ok_or(ErrorCode::MessageNotFound)?;
        if m.sender != user {
            return Err(ErrorCode::NotMessageSender);
        }
        let Audience::Group(snapshot) = &m.audience else {
            return Err(ErrorCode::NotGroupMessage);
        };
        if !m.need_read_receipt {
            return Err(ErrorCode::ReceiptNotRequested);
        }
        let count = count as usize;
        Ok(match filter {
            // Cursor = position in the append-only read order: stable as receipts arrive.
            ReadFilter::Read => {
                let order = &m.readers.order;
                let start = usize::try_from(next_seq)
                    .unwrap_or(usize::MAX)
                    .min(order.len());
                let end = (start + count).min(order.len());
                Response::MemberList {
                    members: order[start..end].to_vec(),
                    next_seq: end as u64,
                    is_finished: end == order.len(),
                }
            }
            // Cursor = the next user id in audience order, never an offset.
            ReadFilter::Unread => {
                let from = u32::try_from(next_seq).unwrap_or(u32::MAX);
                let mut it = snapshot
                    .iter_from(from)
                    .filter(|&u| u != m.sender.0 && !m.readers.contains(UserId(u)));
                let members: Vec<UserId> = it.by_ref().take(count).map(UserId).collect();
                let is_finished = it.next().is_none();
                let next_seq = members.last().map_or(next_seq, |u| u64::from(u.0) + 1);
                Response::MemberList {
                    members,
                    next_seq,
                    is_finished,
                }
            }
        })
    }

    fn mark_c2c_read(
        &mut self,
        now: Micros,
        user: UserId,
        peer: UserId,
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        if peer == user {
            return Err(ErrorCode::SelfConversation);
        }
        if !self.users.contains(peer.0) {
            return Err(ErrorCode::UserNotFound);
        }
        let (lo, hi) = (user.min(peer), user.max(peer));
        let side = usize::from(user == hi);
        let p = self.pairs.entry((lo, hi)).or_default();
        p.read_upto[side] = p.messages.len() as u64;
        p.read_ts[side] = p.read_ts[side].max(now / 1000);
        let timestamp_ms = p.read_ts[side];
        out.push(Delivery {
            to: peer,
            device: None,
            push: Push::C2cRead {
                user_id: user,
                timestamp_ms,
            },
        });
        Ok(Response::MarkedRead { timestamp_ms })
    }
}

fn check_dense(id: u32) -> Result<(), ErrorCode> {
    if id >= MAX_DENSE_ID {
        Err(ErrorCode::InvalidId)
    } else {
        Ok(())
    }
}

/// A `new_message` push of message `id` to each member of its audience but the sender.
fn push_new_message(id: MsgId, m: &Message, out: &mut Vec<Delivery>) {
    match &m.audience {
        Audience::Group(members) => {
            for u in members.iter().map(UserId).filter(|&u| u != m.sender) {
                out.push(Delivery {
                    to: u,
                    device: None,
                    push: new_message_push(id, m, u),
                });
            }
        }
        Audience::Peer(p) => out.push(Delivery {
            to: *p,
            device: None,
            push: new_message_push(id, m, *p),
        }),
    }
}

fn new_message_push(id: MsgId, m: &Message, to: UserId) -> Push {
    Push::NewMessage {
        msg_id: id,
        conv: m.conv.as_seen_by(to),
        sender: m.sender,
        seq: m.seq,
        timestamp_ms: m.timestamp_ms,
        need_read_receipt: m.need_read_receipt,
    }
}

#[cfg(test)]
mod tests;
