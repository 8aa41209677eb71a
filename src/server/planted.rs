//! Deliberate server defects, so the model-vs-server tests and the live smoke can prove they
//! catch one.
//!
//! Gated by the cargo feature `planted-bugs`, not `cfg(test)`: integration tests link the
//! library built *without* `cfg(test)`. The crate dev-depends on itself with that feature
//! (Cargo.toml), so `cargo test` (lib and integration tests alike, and the `readsim` binary
//! it builds for them) builds it in, while `cargo build`, `cargo install` and the release
//! binary do not: there `ServerBug` and `ServerConfig::planted_bug` do not exist and every
//! [`planted!`] check is the constant `false`, so no defect is reachable from production.
//!
//! A test enables one with `cfg.planted_bug = Some(ServerBug::…)`. A `readsim serve` built
//! with the feature reads the environment variable `READSIM_PLANTED_SERVER_BUG` (a
//! [`ServerBug::name`], e.g. `count-duplicate-receipt`; an unknown name is a usage error,
//! exit 2) and says on stderr which bug it runs with. `readsim run --target server` starts
//! its child server from the same executable with the same environment, restarts after a
//! crash fault included, so `tests/live/planted_server.rs` plants each bug in a live run.
//!
//! To add a defect: add a variant below (and to [`ServerBug::ALL`]), and guard the faulty
//! branch with `planted!(self.bugs, Variant)`. A defect that needs memory (a counter, the
//! time of the last mark) keeps it in [`BugState`], which stays empty and untouched without
//! one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A deliberate defect for `ServerConfig::planted_bug` (tests only). One or more per rule
/// family of docs/semantics.md; each names the rule it breaks.
#[cfg(feature = "planted-bugs")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerBug {
    /// Duplicates (R6): a repeated receipt from the same reader is counted again (read count
    /// + 1, and a push). `semantics/receipts.rs`, `receipt`.
    CountDuplicateReceipt,
    /// Audience (R3, S10): a member who joined after the send may send a receipt, and it is
    /// counted (the audience check also accepts current members). `receipts.rs`,
    /// `check_receipt`.
    LaterJoinerCounted,
    /// Audience (I1, S10): the unread count of a group message is the group's current
    /// membership (minus the sender and the readers) instead of its audience snapshot.
    /// `receipts.rs`, `entry`.
    UnreadFromCurrentMembership,
    /// Membership checks (R5): a receipt's reader is checked against the audience snapshot
    /// only, not against the current membership, so a reader who left the group after the
    /// send may still send receipts, and they count. `receipts.rs`, `check_receipt`.
    SkipLeaverCheck,
    /// Configuration (S2): a receipt-asking send to a group type that takes no receipts is
    /// accepted (the type check is missing). `messages.rs`, `group_target`.
    ReceiptsInDisabledType,
    /// Paging (M4, M5): unread-list pages take their look-ahead row as the cursor, so the
    /// first member of every next page is skipped. `receipts.rs`, `unread_page`.
    UnreadPageSkipsEntry,
    /// Pushes (R7): every 7th `receipts` push to a sender is dropped. `receipts.rs`,
    /// `send_receipts`.
    DropReceiptsPush,
    /// 1:1 marks (C4): a `c2c_read` push is dropped when another mark of the same chat
    /// (either side) came less than a second before (a "debounce"). `messages.rs`,
    /// `mark_c2c_read`.
    DropC2cReadWithinSecond,
    /// Durability (F1): the writer answers a batch before it is committed and commits at
    /// most once a second, keeping the transaction open in between, so a SIGKILL loses
    /// acknowledged receipts (and messages). `writer.rs`, `batch`.
    AckBeforeCommit,
    /// Pushes to several devices (D1): a push reaches only the first connection its user
    /// opened, so a user on several devices hears of it on one of them. `registry.rs`.
    PushToOneDevice,
    /// Close codes (wire/close): a WebSocket protocol violation closes with 1001 (the
    /// shutdown code) instead of 1002, so a client cannot tell "reconnect" from "you sent
    /// garbage". `ws.rs`, `Bye::planted`. Only `readsim conform` sees it (no workload sends
    /// bad framing).
    ProtocolErrorClosesAsShutdown,
}

#[cfg(feature = "planted-bugs")]
impl ServerBug {
    pub const ALL: [ServerBug; 11] = [
        ServerBug::CountDuplicateReceipt,
        ServerBug::LaterJoinerCounted,
        ServerBug::UnreadFromCurrentMembership,
        ServerBug::SkipLeaverCheck,
        ServerBug::ReceiptsInDisabledType,
        ServerBug::UnreadPageSkipsEntry,
        ServerBug::DropReceiptsPush,
        ServerBug::DropC2cReadWithinSecond,
        ServerBug::AckBeforeCommit,
        ServerBug::PushToOneDevice,
        ServerBug::ProtocolErrorClosesAsShutdown,
    ];

    /// The kebab-case name `READSIM_PLANTED_SERVER_BUG` takes.
    pub fn name(self) -> &'static str {
        match self {
            ServerBug::CountDuplicateReceipt => "count-duplicate-receipt",
            ServerBug::LaterJoinerCounted => "later-joiner-counted",
            ServerBug::UnreadFromCurrentMembership => "unread-from-current-membership",
            ServerBug::SkipLeaverCheck => "skip-leaver-check",
            ServerBug::ReceiptsInDisabledType => "receipts-in-disabled-type",
            ServerBug::UnreadPageSkipsEntry => "unread-page-skips-entry",
            ServerBug::DropReceiptsPush => "drop-receipts-push",
            ServerBug::DropC2cReadWithinSecond => "drop-c2c-read-within-second",
            ServerBug::AckBeforeCommit => "ack-before-commit",
            ServerBug::PushToOneDevice => "push-to-one-device",
            ServerBug::ProtocolErrorClosesAsShutdown => "protocol-error-closes-as-shutdown",
        }
    }

    /// The bug of that [`ServerBug::name`], if any.
    pub fn from_name(name: &str) -> Option<ServerBug> {
        ServerBug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Every push the `DropReceiptsPush` defect sends this many, it drops one.
pub(crate) const DROP_EVERY: u64 = 7;
/// `DropC2cReadWithinSecond`: marks of one chat closer than this lose their push.
pub(crate) const DEBOUNCE_MS: i64 = 1000;
/// `AckBeforeCommit`: the longest a transaction stays open while its batches are answered.
pub(crate) const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// The defect a server runs with (none without the feature), and its memory.
#[derive(Debug, Default)]
pub(crate) struct Planted {
    #[cfg(feature = "planted-bugs")]
    pub bug: Option<ServerBug>,
    pub state: BugState,
}

impl Planted {
    /// The same defect with nothing remembered yet: for a second component (the registry)
    /// that checks the defect but keeps no state of its own.
    pub(crate) fn fresh(&self) -> Planted {
        Planted {
            #[cfg(feature = "planted-bugs")]
            bug: self.bug,
            state: BugState::default(),
        }
    }
}

/// What some defects remember between operations. Only touched behind a [`planted!`] check,
/// so it stays empty on a correct server.
#[derive(Debug, Default)]
pub(crate) struct BugState {
    /// `receipts` pushes made so far.
    receipt_pushes: u64,
    /// Per 1:1 pair, the server time of its last mark.
    last_mark_ms: HashMap<i64, i64>,
    /// Since when a transaction is open with answered batches in it.
    open_since: Option<Instant>,
}

impl BugState {
    /// Counts a `receipts` push; true for every [`DROP_EVERY`]th.
    pub(crate) fn drop_this_push(&mut self) -> bool {
        self.receipt_pushes += 1;
        self.receipt_pushes.is_multiple_of(DROP_EVERY)
    }

    /// Records a mark of `pair` at `now_ms`; true if the previous one was less than
    /// [`DEBOUNCE_MS`] before.
    pub(crate) fn mark_within_debounce(&mut self, pair: i64, now_ms: i64) -> bool {
        let prev = self.last_mark_ms.insert(pair, now_ms);
        prev.is_some_and(|p| now_ms - p < DEBOUNCE_MS)
    }

    /// Whether a transaction is open from an earlier batch (do not begin another).
    pub(crate) fn tx_open(&self) -> bool {
        self.open_since.is_some()
    }

    /// After a batch was applied: true to leave its transaction open (it is answered all the
    /// same), false to commit now (the transaction is then closed).
    pub(crate) fn defer_commit(&mut self, now: Instant) -> bool {
        let since = *self.open_since.get_or_insert(now);
        if now.duration_since(since) < COMMIT_EVERY {
            true
        } else {
            self.open_since = None;
            false
        }
    }

    /// The open transaction ended (committed at shutdown, or rolled back).
    pub(crate) fn tx_closed(&mut self) {
        self.open_since = None;
    }
}

impl Planted {
    pub(crate) fn from_config(_cfg: &super::ServerConfig) -> Planted {
        Planted {
            #[cfg(feature = "planted-bugs")]
            bug: _cfg.planted_bug,
            state: BugState::default(),
        }
    }

    /// A server with `bug` planted.
    #[cfg(all(test, feature = "planted-bugs"))]
    pub(crate) fn with(bug: ServerBug) -> Planted {
        Planted {
            bug: Some(bug),
            state: BugState::default(),
        }
    }
}

/// `planted!(bugs, Variant)`: whether the defect `ServerBug::Variant` is planted in `bugs`
/// (a [`Planted`]). Always `false` without the `planted-bugs` feature.
#[cfg(feature = "planted-bugs")]
macro_rules! planted {
    ($bugs:expr, $bug:ident) => {
        $bugs.bug == Some($crate::server::ServerBug::$bug)
    };
}

#[cfg(not(feature = "planted-bugs"))]
macro_rules! planted {
    ($bugs:expr, $bug:ident) => {{
        let _ = &$bugs;
        false
    }};
}

pub(crate) use planted;

#[cfg(all(test, feature = "planted-bugs"))]
mod tests {
    use super::*;

    #[test]
    fn names_are_kebab_case_and_round_trip() {
        for b in ServerBug::ALL {
            assert_eq!(ServerBug::from_name(b.name()), Some(b));
            assert!(
                b.name()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{}",
                b.name()
            );
        }
        assert_eq!(ServerBug::from_name("CountDuplicateReceipt"), None);
    }

    #[test]
    fn every_seventh_push_is_dropped() {
        let mut s = BugState::default();
        let dropped: Vec<u64> = (1..=21).filter(|_| s.drop_this_push()).collect();
        assert_eq!(dropped.len(), 3);
    }

    #[test]
    fn marks_within_a_second_of_the_chat_s_last_are_debounced() {
        let mut s = BugState::default();
        assert!(!s.mark_within_debounce(1, 10_000));
        assert!(s.mark_within_debounce(1, 10_999));
        assert!(!s.mark_within_debounce(2, 10_999), "another chat");
        assert!(!s.mark_within_debounce(1, 12_000));
    }

    #[test]
    fn commits_are_deferred_for_a_second() {
        let mut s = BugState::default();
        let t0 = Instant::now();
        assert!(s.defer_commit(t0));
        assert!(s.tx_open());
        assert!(s.defer_commit(t0 + Duration::from_millis(900)));
        assert!(!s.defer_commit(t0 + COMMIT_EVERY));
        assert!(!s.tx_open());
    }
}
