//! The operation vocabulary every target speaks: requests, responses, pushes and the one
//! error-code table. The model answers these directly; a wire target translates them to and
//! from the JSON frames of `docs/protocol.md`. Ids are compact integers here; the wire
//! adapter maps them to the string ids a server sees (`u17`, `g3`, server-chosen message ids).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Virtual or monotonic time in microseconds since the start of a run.
pub type Micros = u64;

/// Largest batch a receipt call, a count pull or a page may carry (docs/semantics.md).
pub const MAX_BATCH: usize = 100;

/// A user, by dense index. On the wire it is the string `u{index}`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UserId(pub u32);

/// A group, by dense index. On the wire it is the string `g{index}`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupId(pub u32);

/// A server-assigned message id. The model assigns 1, 2, 3, ...; a wire target maps whatever
/// the server returns to a local number of its own.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MsgId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "u{}", self.0)
    }
}
impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}
impl MsgId {
    /// An id no service issues: ids count up from 1 in commit order (S8) and none commits
    /// 2^62 messages. A misusing client names it as the unknown id of R2, P2 and M1.
    pub const NEVER_ISSUED: MsgId = MsgId(u64::MAX / 2);

    /// Whether no service can have issued this id (S8), so that the only right answer to a
    /// call naming it is MESSAGE_NOT_FOUND (R2). Ids the checker has merely not seen yet
    /// are not: another client's message may be in flight.
    pub fn surely_unknown(self) -> bool {
        self.0 >= 1 << 62
    }
}

impl UserId {
    /// A user no service has: dense user ids stop below 2^24 (A1: `create_user` answers
    /// INVALID_ID above). A misusing client marks a 1:1 chat with it read (C1).
    pub const NEVER_CREATED: UserId = UserId(u32::MAX / 2);

    /// Whether no service can have created this user (A1), so USER_NOT_FOUND is the only
    /// right answer to a call naming it as a peer. Users missing from this run's world may
    /// still exist on a server that other runs provisioned.
    pub fn surely_unknown(self) -> bool {
        self.0 >= 1 << 24
    }
}

impl fmt::Display for MsgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// Group types of the vendor. Only some may ever carry read receipts.
#[derive(
    Copy,
    Clone,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum GroupType {
    Work,
    Public,
    Meeting,
    Community,
    AVChatRoom,
}

impl GroupType {
    pub const ALL: [GroupType; 5] = [
        GroupType::Work,
        GroupType::Public,
        GroupType::Meeting,
        GroupType::Community,
        GroupType::AVChatRoom,
    ];

    /// Community and AVChatRoom never support receipts, whatever the configuration says.
    pub fn can_have_receipts(self) -> bool {
        !matches!(self, GroupType::Community | GroupType::AVChatRoom)
    }
}

/// A conversation as named by the user acting: a group, or the other party of a 1:1 chat.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Conv {
    Group(GroupId),
    C2c(UserId),
}

/// A conversation independent of who looks at it: a 1:1 chat is the unordered pair (low, high).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConvKey {
    Group(GroupId),
    Pair(UserId, UserId),
}

impl ConvKey {
    /// The key of `conv` as named by `me`.
    pub fn of(me: UserId, conv: Conv) -> ConvKey {
        match conv {
            Conv::Group(g) => ConvKey::Group(g),
            Conv::C2c(peer) => ConvKey::Pair(me.min(peer), me.max(peer)),
        }
    }

    /// How `me` names this conversation.
    pub fn as_seen_by(self, me: UserId) -> Conv {
        match self {
            ConvKey::Group(g) => Conv::Group(g),
            ConvKey::Pair(a, b) => Conv::C2c(if a == me { b } else { a }),
        }
    }
}

/// Which member list to page.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReadFilter {
    Read,
    Unread,
}

/// The service's receipt configuration (the vendor's console switch plus the size limit).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReceiptConfig {
    /// Group types for which group receipts are switched on.
    pub enabled_types: Vec<GroupType>,
    /// Largest member count (sender included) at send time for which group receipts work.
    pub max_group_size: u32,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        ReceiptConfig {
            enabled_types: vec![GroupType::Work, GroupType::Public, GroupType::Meeting],
            max_group_size: 200,
        }
    }
}

impl ReceiptConfig {
    /// Whether a group of this type and size may take a message that needs receipts.
    pub fn supports(&self, t: GroupType) -> bool {
        t.can_have_receipts() && self.enabled_types.contains(&t)
    }
}

/// The semantics a target is held to: docs/semantics.md (`Tencent`, the default) or the
/// Matrix profile of docs/matrix.md (rules MX1..MX10). Model and checker both read it from
/// the scenario's `[semantics]` section; it never travels on the wire.
#[derive(
    Copy,
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// docs/semantics.md: audience snapshots, per-message receipts, c2c_read pushes.
    #[default]
    Tencent,
    /// docs/matrix.md: one read marker per (user, conversation), current-membership counts.
    Matrix,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Tencent => "tencent",
            Profile::Matrix => "matrix",
        }
    }

    pub fn is_matrix(self) -> bool {
        self == Profile::Matrix
    }
}

/// A client operation, acting as the authenticated user.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Request {
    SendMessage {
        conv: Conv,
        need_read_receipt: bool,
        /// Body size in bytes; bodies carry no meaning for receipts, so only their size travels.
        body_len: u32,
    },
    SendReadReceipts {
        msg_ids: Vec<MsgId>,
    },
    GetReadReceipts {
        msg_ids: Vec<MsgId>,
    },
    GetReadMemberList {
        msg_id: MsgId,
        filter: ReadFilter,
        next_seq: u64,
        count: u32,
    },
    MarkC2cRead {
        peer: UserId,
    },
    GetHistory {
        conv: Conv,
        /// 0 means "from the newest message".
        before_seq: u64,
        count: u32,
    },
}

impl Request {
    pub fn kind(&self) -> OpKind {
        match self {
            Request::SendMessage { .. } => OpKind::SendMessage,
            Request::SendReadReceipts { .. } => OpKind::SendReadReceipts,
            Request::GetReadReceipts { .. } => OpKind::GetReadReceipts,
            Request::GetReadMemberList { .. } => OpKind::GetReadMemberList,
            Request::MarkC2cRead { .. } => OpKind::MarkC2cRead,
            Request::GetHistory { .. } => OpKind::GetHistory,
        }
    }
}

/// Operation kinds, for counting and reporting.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpKind {
    SendMessage,
    SendReadReceipts,
    GetReadReceipts,
    GetReadMemberList,
    MarkC2cRead,
    GetHistory,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::SendMessage => "send_message",
            OpKind::SendReadReceipts => "send_message_read_receipts",
            OpKind::GetReadReceipts => "get_message_read_receipts",
            OpKind::GetReadMemberList => "get_group_message_read_member_list",
            OpKind::MarkC2cRead => "mark_c2c_message_as_read",
            OpKind::GetHistory => "get_history",
        }
    }
}

/// Server-side administration, done with the admin credential.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AdminRequest {
    CreateUser {
        user: UserId,
    },
    CreateGroup {
        group: GroupId,
        group_type: GroupType,
        members: Vec<UserId>,
    },
    AddMember {
        group: GroupId,
        user: UserId,
    },
    RemoveMember {
        group: GroupId,
        user: UserId,
    },
    SetReceiptConfig {
        config: ReceiptConfig,
    },
    GetReceiptConfig,
}

/// One message's receipt state, as pulled by its sender or pushed to it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReceiptEntry {
    Group {
        msg_id: MsgId,
        group_id: GroupId,
        read_count: u32,
        unread_count: u32,
    },
    C2c {
        msg_id: MsgId,
        /// The peer: the only possible reader.
        user_id: UserId,
        is_peer_read: bool,
    },
}

impl ReceiptEntry {
    pub fn msg_id(&self) -> MsgId {
        match self {
            ReceiptEntry::Group { msg_id, .. } | ReceiptEntry::C2c { msg_id, .. } => *msg_id,
        }
    }
}

/// The outcome for one message of a batch call.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PerMessage<T> {
    pub msg_id: MsgId,
    pub result: Result<T, ErrorCode>,
}

/// A message as history returns it to the user who asked.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HistoryMessage {
    pub msg_id: MsgId,
    pub sender: UserId,
    pub is_self: bool,
    pub need_read_receipt: bool,
    pub seq: u64,
    pub timestamp_ms: u64,
}

/// The answer to a [`Request`] or an [`AdminRequest`]. A whole-request error is `Error`;
/// per-message errors of batch calls live inside their lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Response {
    Sent {
        msg_id: MsgId,
        seq: u64,
        timestamp_ms: u64,
    },
    ReceiptsSent {
        results: Vec<PerMessage<()>>,
    },
    ReadReceipts {
        entries: Vec<PerMessage<ReceiptEntry>>,
    },
    MemberList {
        members: Vec<UserId>,
        next_seq: u64,
        is_finished: bool,
    },
    MarkedRead {
        timestamp_ms: u64,
    },
    History {
        messages: Vec<HistoryMessage>,
    },
    AdminDone,
    Config {
        config: ReceiptConfig,
    },
    Error {
        code: ErrorCode,
    },
}

impl Response {
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Response::Error { code } => Some(*code),
            _ => None,
        }
    }
}

/// A frame the server sends on its own to every open connection of a user.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Push {
    NewMessage {
        msg_id: MsgId,
        /// The conversation as the recipient names it.
        conv: Conv,
        sender: UserId,
        seq: u64,
        timestamp_ms: u64,
        need_read_receipt: bool,
    },
    Receipts {
        entries: Vec<ReceiptEntry>,
    },
    C2cRead {
        /// The user who marked the conversation read.
        user_id: UserId,
        timestamp_ms: u64,
    },
}

impl Push {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Push::NewMessage { .. } => "push_new_message",
            Push::Receipts { .. } => "push_receipts",
            Push::C2cRead { .. } => "push_c2c_read",
        }
    }
}

macro_rules! error_codes {
    ($( $(#[doc = $doc:expr])* $name:ident = $code:expr, $wire:expr, $msg:expr; )*) => {
        /// The one error-code table, shared by the model and every server (docs/protocol.md).
        /// Numbers are stable: never renumber, only add.
        #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $name, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The stable numeric code.
            pub fn code(self) -> u32 {
                match self { $(ErrorCode::$name => $code,)* }
            }

            /// The stable wire name, e.g. `NOT_IN_AUDIENCE`.
            pub fn name(self) -> &'static str {
                match self { $(ErrorCode::$name => $wire,)* }
            }

            /// What the caller should do about it.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$name => $msg,)* }
            }

            pub fn from_code(code: u32) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes! {
    BadRequest = 1001, "BAD_REQUEST", "the frame is not valid JSON of a known operation with the documented field types; fix the client";
    BatchSize = 1002, "BATCH_SIZE", "a batch must hold 1 to 100 message ids; split or fill the batch";
    MixedConversations = 1003, "MIXED_CONVERSATIONS", "all messages of one batch must belong to one conversation; send one batch per conversation";
    CountOutOfRange = 1004, "COUNT_OUT_OF_RANGE", "count must be between 1 and 100";
    InvalidId = 1005, "INVALID_ID", "ids are 1 to 32 characters of [A-Za-z0-9_-]";
    FrameTooLarge = 1006, "FRAME_TOO_LARGE", "the frame or one of its fields is over the documented size limit; send less";
    Unauthenticated = 1101, "UNAUTHENTICATED", "present a valid, unexpired token for this user";
    Forbidden = 1102, "FORBIDDEN", "the credential does not allow this operation; use the admin credential or act as yourself";
    UserNotFound = 2001, "USER_NOT_FOUND", "create the user through the admin API first";
    GroupNotFound = 2002, "GROUP_NOT_FOUND", "create the group through the admin API first";
    MessageNotFound = 2003, "MESSAGE_NOT_FOUND", "the message id is unknown; use the id the send returned";
    NotGroupMember = 2004, "NOT_GROUP_MEMBER", "only current members may do this in a group; add the user first";
    ReceiptsDisabledForGroupType = 2005, "RECEIPTS_DISABLED_FOR_GROUP_TYPE", "this group type does not take read receipts; enable it in the receipt configuration (never possible for Community and AVChatRoom) or send without need_read_receipt";
    GroupTooLargeForReceipts = 2006, "GROUP_TOO_LARGE_FOR_RECEIPTS", "the group has more members than receipt_max_group_size; raise the limit or send without need_read_receipt";
    NotInAudience = 2007, "NOT_IN_AUDIENCE", "only the message's audience (members at send time, minus the sender) may send a receipt";
    ReceiptNotRequested = 2008, "RECEIPT_NOT_REQUESTED", "the message was sent without need_read_receipt";
    ReaderLeftGroup = 2009, "READER_LEFT_GROUP", "the reader left the group after the send and can no longer send receipts";
    NotMessageSender = 2010, "NOT_MESSAGE_SENDER", "only the sender of a message may read its receipts";
    NotGroupMessage = 2011, "NOT_GROUP_MESSAGE", "member lists exist only for group messages; use get_message_read_receipts for 1:1 messages";
    SelfConversation = 2012, "SELF_CONVERSATION", "a 1:1 conversation needs two different users";
    UserExists = 2013, "USER_EXISTS", "the user already exists; nothing to do";
    GroupExists = 2014, "GROUP_EXISTS", "the group already exists; pick another id";
    AlreadyMember = 2015, "ALREADY_MEMBER", "the user is already a member; nothing to do";
    NotConversationParty = 2016, "NOT_CONVERSATION_PARTY", "only members of the group or the two parties of a 1:1 chat may read its history";
    Internal = 5001, "INTERNAL", "the server failed; retry, and report it if it persists";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.code(), self.message())
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::BTreeSet::new();
        for &e in ErrorCode::ALL {
            assert!(seen.insert(e.code()), "duplicate code {}", e.code());
            assert_eq!(ErrorCode::from_code(e.code()), Some(e));
        }
        assert_eq!(ErrorCode::from_code(0), None);
    }

    #[test]
    fn conv_key_is_symmetric() {
        let (a, b) = (UserId(3), UserId(9));
        assert_eq!(ConvKey::of(a, Conv::C2c(b)), ConvKey::of(b, Conv::C2c(a)));
        assert_eq!(ConvKey::of(a, Conv::C2c(b)).as_seen_by(a), Conv::C2c(b));
        assert_eq!(ConvKey::of(a, Conv::C2c(b)).as_seen_by(b), Conv::C2c(a));
    }
}
