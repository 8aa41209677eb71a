//! The naive reference: docs/semantics.md over plain `Vec`s and `BTreeSet`s.

use super::*;

#[derive(Clone, Debug)]
pub(super) struct RefMsg {
    pub(super) conv: ConvKey,
    pub(super) sender: UserId,
    pub(super) seq: u64,
    pub(super) timestamp_ms: u64,
    pub(super) need: bool,
    /// Who may read it: group members at send time minus the sender, or the peer.
    pub(super) audience: BTreeSet<UserId>,
    /// Receipts in commit order.
    pub(super) readers: Vec<UserId>,
}

#[derive(Clone, Debug)]
pub(super) struct RefGroup {
    pub(super) group_type: GroupType,
    pub(super) members: BTreeSet<UserId>,
}

#[derive(Clone, Debug)]
pub(super) struct RefState {
    pub(super) config: ReceiptConfig,
    pub(super) users: BTreeSet<UserId>,
    pub(super) groups: BTreeMap<GroupId, RefGroup>,
    /// `MsgId(i + 1)` is `msgs[i]`.
    pub(super) msgs: Vec<RefMsg>,
    /// (marker, message): the marker marked its 1:1 chat read after this message was sent.
    pub(super) marked: BTreeSet<(UserId, MsgId)>,
    /// Last timestamp each (marker, peer) announced.
    pub(super) mark_ts: BTreeMap<(UserId, UserId), u64>,
    pub(super) now: Micros,
    /// What the model must answer to the step just applied, and the pushes it must make.
    pub(super) expected: Option<(Response, Vec<Delivery>)>,
    /// The setup, replayed on the model by `init_test`.
    pub(super) setup: Vec<AdminRequest>,
}

#[derive(Clone, Debug)]
pub(super) enum Op {
    Client { user: UserId, req: Request },
    Admin(AdminRequest),
}

#[derive(Clone, Debug)]
pub(super) struct Step {
    /// Clock change in microseconds before the op; negative now and then (clocks may step back).
    pub(super) dt: i64,
    pub(super) op: Op,
}

impl RefState {
    pub(super) fn msg(&self, id: MsgId) -> Option<&RefMsg> {
        let i = usize::try_from(id.0.checked_sub(1)?).ok()?;
        self.msgs.get(i)
    }

    pub(super) fn is_peer_read(&self, id: MsgId, m: &RefMsg) -> bool {
        let peer = *m.audience.iter().next().expect("C2C audience is the peer");
        m.readers.contains(&peer) || self.marked.contains(&(peer, id))
    }

    pub(super) fn entry(&self, id: MsgId) -> ReceiptEntry {
        let m = self.msg(id).expect("known");
        match m.conv {
            ConvKey::Group(g) => ReceiptEntry::Group {
                msg_id: id,
                group_id: g,
                read_count: m.readers.len() as u32,
                unread_count: (m.audience.len() - m.readers.len()) as u32,
            },
            ConvKey::Pair(..) => ReceiptEntry::C2c {
                msg_id: id,
                user_id: *m.audience.iter().next().unwrap(),
                is_peer_read: self.is_peer_read(id, m),
            },
        }
    }

    pub(super) fn conv_msgs(&self, key: ConvKey) -> Vec<MsgId> {
        (1..=self.msgs.len() as u64)
            .map(MsgId)
            .filter(|&id| self.msg(id).unwrap().conv == key)
            .collect()
    }

    pub(super) fn admin(&mut self, req: &AdminRequest) -> Result<Response, ErrorCode> {
        match req {
            AdminRequest::CreateUser { user } => {
                if !self.users.insert(*user) {
                    return Err(ErrorCode::UserExists);
                }
            }
            AdminRequest::CreateGroup {
                group,
                group_type,
                members,
            } => {
                if self.groups.contains_key(group) {
                    return Err(ErrorCode::GroupExists);
                }
                if members.iter().any(|u| !self.users.contains(u)) {
                    return Err(ErrorCode::UserNotFound);
                }
                self.groups.insert(
                    *group,
                    RefGroup {
                        group_type: *group_type,
                        members: members.iter().copied().collect(),
                    },
                );
            }
            AdminRequest::AddMember { group, user } => {
                if !self.users.contains(user) {
                    return Err(ErrorCode::UserNotFound);
                }
                let g = self.groups.get_mut(group).ok_or(ErrorCode::GroupNotFound)?;
                if !g.members.insert(*user) {
                    return Err(ErrorCode::AlreadyMember);
                }
            }
            AdminRequest::RemoveMember { group, user } => {
                let g = self.groups.get_mut(group).ok_or(ErrorCode::GroupNotFound)?;
                if !g.members.remove(user) {
                    return Err(ErrorCode::NotGroupMember);
                }
            }
            AdminRequest::SetReceiptConfig { config } => {
                let types: BTreeSet<GroupType> = config.enabled_types.iter().copied().collect();
                self.config = ReceiptConfig {
                    enabled_types: types.into_iter().collect(),
                    max_group_size: config.max_group_size,
                };
            }
            AdminRequest::GetReceiptConfig => {
                return Ok(Response::Config {
                    config: self.config.clone(),
                });
            }
        }
        Ok(Response::AdminDone)
    }

    pub(super) fn client(
        &mut self,
        user: UserId,
        req: &Request,
        out: &mut Vec<Delivery>,
    ) -> Result<Response, ErrorCode> {
        if !self.users.contains(&user) {
            return Err(ErrorCode::UserNotFound);
        }
        match req {
            Request::SendMessage {
                conv,
                need_read_receipt: need,
                ..
            } => {
                let (key, audience) = match *conv {
                    Conv::Group(gid) => {
                        let g = self.groups.get(&gid).ok_or(ErrorCode::GroupNotFound)?;
                        if !g.members.contains(&user) {
                            return Err(ErrorCode::NotGroupMember);
                        }
                        if *need {
                            let t = g.group_type;
                            let never = matches!(t, GroupType::Community | GroupType::AVChatRoom);
                            if never || !self.config.enabled_types.contains(&t) {
                                return Err(ErrorCode::ReceiptsDisabledForGroupType);
                            }
                            if g.members.len() > self.config.max_group_size as usize {
                                return Err(ErrorCode::GroupTooLargeForReceipts);
                            }
                        }
                        let mut a = g.members.clone();
                        a.remove(&user);
                        (ConvKey::Group(gid), a)
                    }
                    Conv::C2c(peer) => {
                        if peer == user {
                            return Err(ErrorCode::SelfConversation);
                        }
                        if !self.users.contains(&peer) {
                            return Err(ErrorCode::UserNotFound);
                        }
                        let key = ConvKey::Pair(user.min(peer), user.max(peer));
                        (key, BTreeSet::from([peer]))
                    }
                };
                let msg_id = MsgId(self.msgs.len() as u64 + 1);
                let seq = self.conv_msgs(key).len() as u64 + 1;
                let timestamp_ms = self.now / 1000;
                for &to in &audience {
                    out.push(Delivery {
                        to,
                        device: None,
                        push: Push::NewMessage {
                            msg_id,
                            conv: match key {
                                ConvKey::Group(g) => Conv::Group(g),
                                ConvKey::Pair(..) => Conv::C2c(user),
                            },
                            sender: user,
                            seq,
                            timestamp_ms,
                            need_read_receipt: *need,
                        },
                    });
                }
                self.msgs.push(RefMsg {
                    conv: key,
                    sender: user,
                    seq,
                    timestamp_ms,
                    need: *need,
                    audience,
                    readers: Vec::new(),
                });
                Ok(Response::Sent {
                    msg_id,
                    seq,
                    timestamp_ms,
                })
            }
            Request::SendReadReceipts { msg_ids } => {
                self.batch_rules(user, msg_ids)?;
                let mut results = Vec::new();
                let mut fresh: Vec<MsgId> = Vec::new();
                for &id in msg_ids {
                    let result = match self.seen(user, id) {
                        None => Err(ErrorCode::MessageNotFound),
                        Some(m) if !m.audience.contains(&user) => Err(ErrorCode::NotInAudience),
                        Some(m) if !m.need => Err(ErrorCode::ReceiptNotRequested),
                        Some(RefMsg {
                            conv: ConvKey::Group(g),
                            ..
                        }) if !self.groups[g].members.contains(&user) => {
                            Err(ErrorCode::ReaderLeftGroup)
                        }
                        Some(m) => {
                            if !m.readers.contains(&user) {
                                let i = (id.0 - 1) as usize;
                                self.msgs[i].readers.push(user);
                                fresh.push(id);
                            }
                            Ok(())
                        }
                    };
                    results.push(PerMessage { msg_id: id, result });
                }
                let senders: BTreeSet<UserId> = fresh
                    .iter()
                    .map(|&id| self.msg(id).unwrap().sender)
                    .collect();
                for sender in senders {
                    let entries = fresh
                        .iter()
                        .filter(|&&id| self.msg(id).unwrap().sender == sender)
                        .map(|&id| self.entry(id))
                        .collect();
                    out.push(Delivery {
                        to: sender,
                        device: None,
                        push: Push::Receipts { entries },
                    });
                }
                Ok(Response::ReceiptsSent { results })
            }
            Request::GetReadReceipts { msg_ids } => {
                self.batch_rules(user, msg_ids)?;
                let entries = msg_ids
                    .iter()
                    .map(|&id| PerMessage {
                        msg_id: id,
                        result: match self.seen(user, id) {
                            None => Err(ErrorCode::MessageNotFound),
                            Some(m) if m.sender != user => Err(ErrorCode::NotMessageSender),
                            Some(m) if !m.need => Err(ErrorCode::ReceiptNotRequested),
                            Some(_) => Ok(self.entry(id)),
                        },
                    })
                    .collect();
                Ok(Response::ReadReceipts { entries })
            }
            Request::GetReadMemberList {
                msg_id,
                filter,
                next_seq,
                count,
            } => {
                if *count == 0 || *count as usize > MAX_BATCH {
                    return Err(ErrorCode::CountOutOfRange);
                }
                let m = self.seen(user, *msg_id).ok_or(ErrorCode::MessageNotFound)?;
                if m.sender != user {
                    return Err(ErrorCode::NotMessageSender);
                }
                if !matches!(m.conv, ConvKey::Group(_)) {
                    return Err(ErrorCode::NotGroupMessage);
                }
                if !m.need {
                    return Err(ErrorCode::ReceiptNotRequested);
                }
                let count = *count as usize;
                Ok(match filter {
                    ReadFilter::Read => {
                        let rest: Vec<UserId> = m
                            .readers
                            .iter()
                            .copied()
                            .skip(usize::try_from(*next_seq).unwrap_or(usize::MAX))
                            .collect();
                        let members: Vec<UserId> = rest.iter().copied().take(count).collect();
                        let consumed = m.readers.len() - rest.len() + members.len();
                        Response::MemberList {
                            is_finished: consumed == m.readers.len(),
                            next_seq: consumed as u64,
                            members,
                        }
                    }
                    ReadFilter::Unread => {
                        let rest: Vec<UserId> = m
                            .audience
                            .iter()
                            .copied()
                            .filter(|u| u64::from(u.0) >= *next_seq && !m.readers.contains(u))
                            .collect();
                        let members: Vec<UserId> = rest.iter().copied().take(count).collect();
                        Response::MemberList {
                            is_finished: rest.len() == members.len(),
                            next_seq: members.last().map_or(*next_seq, |u| u64::from(u.0) + 1),
                            members,
                        }
                    }
                })
            }
            Request::MarkC2cRead { peer } => {
                if *peer == user {
                    return Err(ErrorCode::SelfConversation);
                }
                if !self.users.contains(peer) {
                    return Err(ErrorCode::UserNotFound);
                }
                for id in self.conv_msgs(ConvKey::Pair(user.min(*peer), user.max(*peer))) {
                    self.marked.insert((user, id));
                }
                let last = self.mark_ts.entry((user, *peer)).or_insert(0);
                *last = (*last).max(self.now / 1000);
                let timestamp_ms = *last;
                out.push(Delivery {
                    to: *peer,
                    device: None,
                    push: Push::C2cRead {
                        user_id: user,
                        timestamp_ms,
                    },
                });
                Ok(Response::MarkedRead { timestamp_ms })
            }
            Request::GetHistory {
                conv,
                before_seq,
                count,
            } => {
                if *count == 0 || *count as usize > MAX_BATCH {
                    return Err(ErrorCode::CountOutOfRange);
                }
                let key = match *conv {
                    Conv::Group(gid) => {
                        let g = self.groups.get(&gid).ok_or(ErrorCode::GroupNotFound)?;
                        if !g.members.contains(&user) {
                            return Err(ErrorCode::NotConversationParty);
                        }
                        ConvKey::Group(gid)
                    }
                    Conv::C2c(peer) => {
                        if peer == user {
                            return Err(ErrorCode::SelfConversation);
                        }
                        if !self.users.contains(&peer) {
                            return Err(ErrorCode::UserNotFound);
                        }
                        ConvKey::Pair(user.min(peer), user.max(peer))
                    }
                };
                let messages = self
                    .conv_msgs(key)
                    .into_iter()
                    .rev()
                    .filter(|&id| *before_seq == 0 || self.msg(id).unwrap().seq < *before_seq)
                    .take(*count as usize)
                    .map(|id| {
                        let m = self.msg(id).unwrap();
                        HistoryMessage {
                            msg_id: id,
                            sender: m.sender,
                            is_self: m.sender == user,
                            need_read_receipt: m.need,
                            seq: m.seq,
                            timestamp_ms: m.timestamp_ms,
                        }
                    })
                    .collect();
                Ok(Response::History { messages })
            }
        }
    }

    /// A message as `user` may know it (E1): the sender, the audience and the group's current
    /// members see it; for anybody else it does not exist.
    pub(super) fn seen(&self, user: UserId, id: MsgId) -> Option<&RefMsg> {
        let m = self.msg(id)?;
        let member = match m.conv {
            ConvKey::Group(g) => self.groups[&g].members.contains(&user),
            ConvKey::Pair(..) => false,
        };
        (m.sender == user || m.audience.contains(&user) || member).then_some(m)
    }

    /// 1..=100 ids, and the ones known to `user` all in one conversation.
    pub(super) fn batch_rules(&self, user: UserId, ids: &[MsgId]) -> Result<(), ErrorCode> {
        if ids.is_empty() || ids.len() > MAX_BATCH {
            return Err(ErrorCode::BatchSize);
        }
        let convs: BTreeSet<ConvKey> = ids
            .iter()
            .filter_map(|&id| self.seen(user, id))
            .map(|m| m.conv)
            .collect();
        if convs.len() > 1 {
            return Err(ErrorCode::MixedConversations);
        }
        Ok(())
    }
}
