//! What the rules prescribe for a call, and how an answer breaks it: pure functions of the
//! checker's knowledge, so each rule is tested on its own.

use super::book::{Audience, Book, MsgState};
use super::sink::Finding;
use super::violation::Invariant;
use super::world::World;
use crate::protocol::{Conv, ErrorCode, MAX_BATCH, Micros, MsgId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Expect {
    Ok,
    Err(ErrorCode),
    /// The checker cannot tell (e.g. an id it never saw); anything goes.
    Unknown,
}

pub(super) fn expect_send(world: &World, client: UserId, conv: Conv, need: bool) -> Expect {
    let cfg = &world.receipt_config;
    match conv {
        Conv::Group(g) => {
            let Some(info) = world.groups.get(&g) else {
                return Expect::Err(ErrorCode::GroupNotFound);
            };
            if !info.members.contains(client.0) {
                return Expect::Err(ErrorCode::NotGroupMember);
            }
            // MX1: the Matrix profile gates nothing.
            let gated = need && !world.profile.is_matrix();
            if gated && !cfg.supports(info.group_type) {
                return Expect::Err(ErrorCode::ReceiptsDisabledForGroupType);
            }
            if gated && info.members.len() > u64::from(cfg.max_group_size) {
                return Expect::Err(ErrorCode::GroupTooLargeForReceipts);
            }
            Expect::Ok
        }
        Conv::C2c(peer) if peer == client => Expect::Err(ErrorCode::SelfConversation),
        Conv::C2c(peer) if !world.users.contains(peer.0) => Expect::Err(ErrorCode::UserNotFound),
        Conv::C2c(_) => Expect::Ok,
    }
}

/// Whether `client` may learn that `m` exists (semantics.md E1: its sender, its audience and
/// the current members of its group); None while the client's membership is in flux (a
/// change in flight now: completions re-check changes made while the call was in flight).
pub(super) fn visible(world: &World, client: UserId, m: &MsgState) -> Option<bool> {
    if world.profile.is_matrix() {
        return super::mx::visible(world, client, m);
    }
    if client == m.sender || m.in_audience(client) {
        return Some(true);
    }
    match m.audience {
        Audience::Peer(_) => Some(false),
        Audience::Group(g, _)
            if m.may_be_in_audience(client) || world.unsettled(g, client, Micros::MAX) =>
        {
            None
        }
        Audience::Group(g, _) => Some(world.is_member(g, client)),
    }
}

/// An expectation of a non-sender's call that hangs on E1 visibility, relaxed if `client`'s
/// membership in `m`'s group changed since `since` (the call may have been applied either side
/// of the change).
pub(super) fn unsettled_visibility(
    world: &World,
    client: UserId,
    m: Option<&MsgState>,
    since: Micros,
    expect: Expect,
) -> Expect {
    let hangs = matches!(
        expect,
        Expect::Err(ErrorCode::NotMessageSender | ErrorCode::MessageNotFound)
    );
    // MX11: a sender whose membership changed while the call was in flight may get either
    // its answer or NOT_CONVERSATION_PARTY.
    let own = world.profile.is_matrix() && m.is_some_and(|m| m.sender == client);
    match m.map(|m| &m.audience) {
        Some(&Audience::Group(g, _)) if (hangs || own) && world.unsettled(g, client, since) => {
            Expect::Unknown
        }
        _ => expect,
    }
}

/// Whether a batch of `client` obeys the batch rules, as far as the checker knows its
/// messages (None: it cannot tell, as a message may or may not be visible to the client).
pub(super) fn batch_ok(world: &World, book: &Book, client: UserId, ids: &[MsgId]) -> Option<bool> {
    if ids.is_empty() || ids.len() > MAX_BATCH {
        return Some(false);
    }
    let (mut sure, mut maybe) = (Vec::new(), Vec::new());
    for m in ids.iter().filter_map(|id| book.get(id)) {
        match visible(world, client, m) {
            Some(true) => sure.push(m.conv),
            Some(false) => {}
            None => maybe.push(m.conv),
        }
    }
    let mixed = |convs: &[_]| convs.iter().any(|c| Some(c) != convs.first());
    if mixed(&sure) {
        return Some(false);
    }
    let all: Vec<_> = sure.iter().chain(&maybe).copied().collect();
    if mixed(&all) { None } else { Some(true) }
}

pub(super) fn expect_receipt(world: &World, reader: UserId, m: &MsgState) -> Expect {
    if !m.in_audience(reader) && m.may_be_in_audience(reader) {
        return Expect::Unknown;
    }
    if !m.in_audience(reader) {
        return match visible(world, reader, m) {
            Some(true) => Expect::Err(ErrorCode::NotInAudience),
            Some(false) => Expect::Err(ErrorCode::MessageNotFound),
            None => Expect::Unknown,
        };
    }
    if !m.need {
        return Expect::Err(ErrorCode::ReceiptNotRequested);
    }
    if let Audience::Group(g, _) = m.audience
        && !world.is_member(g, reader)
    {
        return Expect::Err(ErrorCode::ReaderLeftGroup);
    }
    Expect::Ok
}

/// The answer for an id no service issued (R2, the Tencent profile): MESSAGE_NOT_FOUND for
/// that id alone. None for any other id (one the checker has not seen may be in flight).
pub(super) fn never_issued(world: &World, id: MsgId) -> Option<Expect> {
    (!world.profile.is_matrix() && id.surely_unknown())
        .then_some(Expect::Err(ErrorCode::MessageNotFound))
}

/// The answer to a mark-read of oneself or of a user no service has (C1); None for any
/// other mark, which the checker does not judge by its answer.
pub(super) fn mark_refusal(world: &World, client: UserId, peer: UserId) -> Option<Expect> {
    if world.profile.is_matrix() {
        return None;
    }
    if peer == client {
        Some(Expect::Err(ErrorCode::SelfConversation))
    } else if peer.surely_unknown() {
        Some(Expect::Err(ErrorCode::UserNotFound))
    } else {
        None
    }
}

/// The answer to a non-sender asking about `m`: not the sender if it may know `m`, else the
/// answer for an unknown id (E1).
fn not_sender(world: &World, client: UserId, m: &MsgState) -> Expect {
    match visible(world, client, m) {
        Some(true) => Expect::Err(ErrorCode::NotMessageSender),
        Some(false) => Expect::Err(ErrorCode::MessageNotFound),
        None => Expect::Unknown,
    }
}

pub(super) fn expect_pull(world: &World, client: UserId, m: Option<&MsgState>) -> Expect {
    match m {
        None => Expect::Unknown,
        Some(m) if m.sender != client => not_sender(world, client, m),
        Some(m) if world.profile.is_matrix() => super::mx::expect_own(world, m, own_pull(m)),
        Some(m) => own_pull(m),
    }
}

/// P2 for the sender of `m`.
fn own_pull(m: &MsgState) -> Expect {
    match m.need {
        false => Expect::Err(ErrorCode::ReceiptNotRequested),
        true => Expect::Ok,
    }
}

/// A member-list page of `count` members of `m`, asked by `client`.
pub(super) fn expect_page(
    world: &World,
    client: UserId,
    count: u32,
    m: Option<&MsgState>,
) -> Expect {
    if count == 0 || count as usize > MAX_BATCH {
        return Expect::Err(ErrorCode::CountOutOfRange);
    }
    match m {
        None => Expect::Unknown,
        Some(m) if m.sender != client => not_sender(world, client, m),
        Some(m) if world.profile.is_matrix() => super::mx::expect_own(world, m, own_page(m)),
        Some(m) => own_page(m),
    }
}

/// M1 for the sender of `m`.
fn own_page(m: &MsgState) -> Expect {
    if m.peer().is_some() {
        Expect::Err(ErrorCode::NotGroupMessage)
    } else {
        own_pull(m)
    }
}

/// How the result `got` of call `what` breaks `expect`, if it does.
pub(super) fn result_finding<T>(
    what: &str,
    expect: &Expect,
    got: &Result<T, ErrorCode>,
) -> Option<Finding> {
    let (observed, bound) = match (expect, got) {
        (Expect::Unknown, _) | (Expect::Ok, Ok(_)) => return None,
        (Expect::Err(e), Err(g)) if e == g => return None,
        (Expect::Ok, Err(g)) => (
            format!("{what} failed with {}", g.name()),
            "success".to_string(),
        ),
        (Expect::Err(e), Ok(_)) => (format!("{what} succeeded"), format!("error {}", e.name())),
        (Expect::Err(e), Err(g)) => (
            format!("{what} failed with {}", g.name()),
            format!("error {}", e.name()),
        ),
    };
    Some(Finding::new(Invariant::ResultCodes, observed, bound))
}

/// The batch rules, as seen in an answer: a batch that breaks them is rejected whole; one
/// that keeps them is answered with one result per requested id, in request order.
/// `answer` is Ok(ids match the request) or the whole-request error.
pub(super) fn batch_finding(
    what: &str,
    batch_ok: Option<bool>,
    answer: Result<bool, ErrorCode>,
) -> Option<Finding> {
    let (observed, bound) = match answer {
        Ok(_) if batch_ok == Some(false) => (
            format!("{what} accepted"),
            "whole batch rejected (BATCH_SIZE or MIXED_CONVERSATIONS)".to_string(),
        ),
        Ok(false) => (
            format!("{what} answered with other ids than requested"),
            "one result per requested id, in request order".to_string(),
        ),
        Err(code) if batch_ok == Some(true) => (
            format!("{what} rejected with {}", code.name()),
            "a valid batch is accepted".to_string(),
        ),
        _ => return None,
    };
    Some(Finding::new(Invariant::ResultCodes, observed, bound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::book::Sighting;
    use crate::protocol::{
        AdminRequest, ConvKey, GroupId, GroupType, ReceiptConfig, Response, UserId,
    };

    const G: GroupId = GroupId(1);
    const COMMUNITY: GroupId = GroupId(2);

    fn u(i: u32) -> UserId {
        UserId(i)
    }

    /// Users 1..=4; group 1 (work) of 1, 2, 3; group 2 (community) of 1, 2.
    fn world() -> World {
        let mut w = World::default();
        for i in 1..=4 {
            w.on_admin(
                0,
                &AdminRequest::CreateUser { user: u(i) },
                &Response::AdminDone,
            );
        }
        let groups = [
            (G, GroupType::Work, 3),
            (COMMUNITY, GroupType::Community, 2),
        ];
        for (group, group_type, n) in groups {
            let members = (1..=n).map(u).collect();
            let req = AdminRequest::CreateGroup {
                group,
                group_type,
                members,
            };
            w.on_admin(0, &req, &Response::AdminDone);
        }
        w
    }

    fn book_with(w: &World, msgs: &[(u64, ConvKey, bool)]) -> Book {
        let mut b = Book::default();
        for (i, &(id, key, need)) in msgs.iter().enumerate() {
            let s = Sighting {
                id: MsgId(id),
                key,
                sender: u(1),
                seq: i as u64 + 1,
                timestamp_ms: 0,
                need,
                acked_send: Some(0),
            };
            b.sight(w, 0, &s);
        }
        b
    }

    #[test]
    fn send_rules() {
        let mut w = world();
        let send = |w: &World, c: u32, conv, need| expect_send(w, u(c), conv, need);
        assert_eq!(send(&w, 1, Conv::Group(G), true), Expect::Ok);
        assert_eq!(
            send(&w, 1, Conv::Group(GroupId(9)), false),
            Expect::Err(ErrorCode::GroupNotFound)
        );
        assert_eq!(
            send(&w, 4, Conv::Group(G), false),
            Expect::Err(ErrorCode::NotGroupMember)
        );
        assert_eq!(
            send(&w, 1, Conv::Group(COMMUNITY), true),
            Expect::Err(ErrorCode::ReceiptsDisabledForGroupType)
        );
        assert_eq!(send(&w, 1, Conv::Group(COMMUNITY), false), Expect::Ok);
        assert_eq!(
            send(&w, 1, Conv::C2c(u(1)), false),
            Expect::Err(ErrorCode::SelfConversation)
        );
        assert_eq!(
            send(&w, 1, Conv::C2c(u(7)), false),
            Expect::Err(ErrorCode::UserNotFound)
        );
        assert_eq!(send(&w, 1, Conv::C2c(u(2)), false), Expect::Ok);
        // Three members (sender included) against a limit of three: still fine; of two: not.
        let config = |max_group_size| ReceiptConfig {
            max_group_size,
            ..ReceiptConfig::default()
        };
        w.receipt_config = config(3);
        assert_eq!(send(&w, 1, Conv::Group(G), true), Expect::Ok);
        w.receipt_config = config(2);
        assert_eq!(
            send(&w, 1, Conv::Group(G), true),
            Expect::Err(ErrorCode::GroupTooLargeForReceipts)
        );
        assert_eq!(send(&w, 1, Conv::Group(G), false), Expect::Ok);
    }

    #[test]
    fn batch_rules() {
        let w = world();
        let pair = ConvKey::Pair(u(1), u(2));
        let b = book_with(
            &w,
            &[(1, ConvKey::Group(G), true), (2, ConvKey::Group(G), true)],
        );
        let ok = |c: u32, ids: &[MsgId]| batch_ok(&w, &b, u(c), ids);
        assert_eq!(ok(1, &[MsgId(1), MsgId(2)]), Some(true));
        assert_eq!(ok(1, &[]), Some(false));
        assert_eq!(ok(1, &vec![MsgId(1); MAX_BATCH + 1]), Some(false));
        assert_eq!(ok(1, &vec![MsgId(1); MAX_BATCH]), Some(true));
        // Unknown ids do not count against mixing.
        assert_eq!(ok(1, &[MsgId(1), MsgId(77)]), Some(true));
        let b = book_with(&w, &[(1, ConvKey::Group(G), true), (2, pair, true)]);
        let ok = |c: u32, ids: &[MsgId]| batch_ok(&w, &b, u(c), ids);
        assert_eq!(ok(1, &[MsgId(1), MsgId(2)]), Some(false));
        // Nor do ids the client may not see (E1): u3 is in G but not in the 1:1 chat, u4 in
        // neither.
        assert_eq!(ok(3, &[MsgId(1), MsgId(2)]), Some(true));
        assert_eq!(ok(4, &[MsgId(1), MsgId(2)]), Some(true));
    }

    #[test]
    fn receipt_rules() {
        let mut w = world();
        let b = book_with(
            &w,
            &[(1, ConvKey::Group(G), true), (2, ConvKey::Group(G), false)],
        );
        let m1 = b.get(&MsgId(1)).unwrap();
        assert_eq!(expect_receipt(&w, u(2), m1), Expect::Ok);
        assert_eq!(
            expect_receipt(&w, u(1), m1),
            Expect::Err(ErrorCode::NotInAudience),
            "the sender is not its own audience"
        );
        assert_eq!(
            expect_receipt(&w, u(4), m1),
            Expect::Err(ErrorCode::MessageNotFound),
            "an outsider gets the answer for an unknown id"
        );
        let m2 = b.get(&MsgId(2)).unwrap();
        assert_eq!(
            expect_receipt(&w, u(2), m2),
            Expect::Err(ErrorCode::ReceiptNotRequested)
        );
        let leave = AdminRequest::RemoveMember {
            group: G,
            user: u(3),
        };
        w.on_admin(1, &leave, &Response::AdminDone);
        assert_eq!(
            expect_receipt(&w, u(3), m1),
            Expect::Err(ErrorCode::ReaderLeftGroup)
        );
    }

    #[test]
    fn a_maybe_member_may_get_either_answer() {
        let mut w = world();
        w.on_admin_invoke(&AdminRequest::AddMember {
            group: G,
            user: u(4),
        });
        let b = book_with(&w, &[(1, ConvKey::Group(G), true)]);
        let m = b.get(&MsgId(1)).unwrap();
        assert_eq!(expect_receipt(&w, u(4), m), Expect::Unknown);
        // Whether u4 may see the message (E1) is open too, for pulls and pages.
        assert_eq!(expect_pull(&w, u(4), Some(m)), Expect::Unknown);
        assert_eq!(expect_page(&w, u(4), 1, Some(m)), Expect::Unknown);
    }

    #[test]
    fn visibility_follows_membership_and_is_open_while_it_changes() {
        let mut w = world();
        let b = book_with(&w, &[(1, ConvKey::Group(G), true)]);
        let m = b.get(&MsgId(1));
        let not_found = Expect::Err(ErrorCode::MessageNotFound);
        let not_sender = Expect::Err(ErrorCode::NotMessageSender);
        assert_eq!(expect_pull(&w, u(4), m), not_found);
        let join = AdminRequest::AddMember {
            group: G,
            user: u(4),
        };
        w.on_admin_invoke(&join);
        assert_eq!(expect_pull(&w, u(4), m), Expect::Unknown);
        w.on_admin(50, &join, &Response::AdminDone);
        assert_eq!(expect_pull(&w, u(4), m), not_sender);
        assert_eq!(expect_page(&w, u(4), 1, m), not_sender);
        // A call in flight across the change may get either answer.
        assert_eq!(
            unsettled_visibility(&w, u(4), m, 40, not_found),
            Expect::Unknown
        );
        assert_eq!(
            unsettled_visibility(&w, u(4), m, 60, not_sender),
            not_sender
        );
    }

    #[test]
    fn pull_and_page_rules() {
        let w = world();
        let pair = ConvKey::Pair(u(1), u(2));
        let b = book_with(
            &w,
            &[
                (1, ConvKey::Group(G), true),
                (2, pair, true),
                (3, ConvKey::Group(G), false),
            ],
        );
        let m = |id| b.get(&MsgId(id));
        assert_eq!(expect_pull(&w, u(1), m(1)), Expect::Ok);
        assert_eq!(expect_pull(&w, u(1), m(2)), Expect::Ok);
        assert_eq!(expect_pull(&w, u(1), None), Expect::Unknown);
        assert_eq!(
            expect_pull(&w, u(2), m(1)),
            Expect::Err(ErrorCode::NotMessageSender)
        );
        assert_eq!(
            expect_pull(&w, u(4), m(1)),
            Expect::Err(ErrorCode::MessageNotFound)
        );
        assert_eq!(
            expect_pull(&w, u(3), m(2)),
            Expect::Err(ErrorCode::MessageNotFound)
        );
        assert_eq!(
            expect_page(&w, u(4), 1, m(1)),
            Expect::Err(ErrorCode::MessageNotFound)
        );
        assert_eq!(
            expect_pull(&w, u(1), m(3)),
            Expect::Err(ErrorCode::ReceiptNotRequested)
        );
        assert_eq!(expect_page(&w, u(1), 10, m(1)), Expect::Ok);
        assert_eq!(expect_page(&w, u(1), 10, None), Expect::Unknown);
        for count in [0, MAX_BATCH as u32 + 1] {
            assert_eq!(
                expect_page(&w, u(1), count, None),
                Expect::Err(ErrorCode::CountOutOfRange)
            );
        }
        assert_eq!(expect_page(&w, u(1), MAX_BATCH as u32, m(1)), Expect::Ok);
        assert_eq!(
            expect_page(&w, u(2), 1, m(1)),
            Expect::Err(ErrorCode::NotMessageSender)
        );
        assert_eq!(
            expect_page(&w, u(1), 1, m(2)),
            Expect::Err(ErrorCode::NotGroupMessage)
        );
        assert_eq!(
            expect_page(&w, u(1), 1, m(3)),
            Expect::Err(ErrorCode::ReceiptNotRequested)
        );
    }

    #[test]
    fn mx11_a_sender_who_left_gets_not_conversation_party_either_way_while_it_changes() {
        let mut w = world();
        w.profile = crate::protocol::Profile::Matrix;
        let pair = ConvKey::Pair(u(1), u(2));
        let b = book_with(
            &w,
            &[
                (1, ConvKey::Group(G), true),
                (2, pair, true),
                (3, ConvKey::Group(G), false),
            ],
        );
        let m = |id| b.get(&MsgId(id));
        let gone = Expect::Err(ErrorCode::NotConversationParty);
        assert_eq!(expect_pull(&w, u(1), m(1)), Expect::Ok, "a sure member");
        let leave = AdminRequest::RemoveMember {
            group: G,
            user: u(1),
        };
        w.on_admin_invoke(&leave);
        assert_eq!(
            expect_pull(&w, u(1), m(1)),
            Expect::Unknown,
            "leave in flight"
        );
        w.on_admin(100, &leave, &Response::AdminDone);
        assert_eq!(expect_pull(&w, u(1), m(1)), gone);
        // Before RECEIPT_NOT_REQUESTED; never for 1:1; after the sender check.
        assert_eq!(expect_pull(&w, u(1), m(3)), gone);
        assert_eq!(expect_page(&w, u(1), 5, m(3)), gone);
        assert_eq!(expect_pull(&w, u(1), m(2)), Expect::Ok);
        assert_eq!(
            expect_page(&w, u(1), 5, m(2)),
            Expect::Err(ErrorCode::NotGroupMessage)
        );
        assert_eq!(
            expect_pull(&w, u(2), m(1)),
            Expect::Err(ErrorCode::NotMessageSender)
        );
        // A call in flight across the leave may get either answer; one after it may not.
        assert_eq!(
            unsettled_visibility(&w, u(1), m(1), 50, gone),
            Expect::Unknown
        );
        assert_eq!(unsettled_visibility(&w, u(1), m(1), 150, gone), gone);
        // Under the Tencent profile the sender keeps access (P3).
        w.profile = crate::protocol::Profile::Tencent;
        assert_eq!(expect_pull(&w, u(1), m(1)), Expect::Ok);
        assert_eq!(
            unsettled_visibility(&w, u(1), m(1), 50, Expect::Ok),
            Expect::Ok
        );
    }

    #[test]
    fn result_findings_name_the_call_and_the_codes() {
        let ok: Result<(), ErrorCode> = Ok(());
        let refused: Result<(), ErrorCode> = Err(ErrorCode::NotInAudience);
        assert_eq!(result_finding("x", &Expect::Ok, &ok), None);
        assert_eq!(result_finding("x", &Expect::Unknown, &refused), None);
        let same = Expect::Err(ErrorCode::NotInAudience);
        assert_eq!(result_finding("x", &same, &refused), None);
        let f = result_finding("read receipt", &Expect::Ok, &refused).unwrap();
        assert_eq!(f.invariant, Invariant::ResultCodes);
        assert_eq!(
            (f.observed.as_str(), f.bound.as_str()),
            ("read receipt failed with NOT_IN_AUDIENCE", "success")
        );
        let f = result_finding("send", &same, &ok).unwrap();
        assert_eq!(f.observed, "send succeeded");
        assert_eq!(f.bound, "error NOT_IN_AUDIENCE");
        let other = Expect::Err(ErrorCode::ReaderLeftGroup);
        let f = result_finding("r", &other, &refused).unwrap();
        assert_eq!(f.bound, "error READER_LEFT_GROUP");
    }

    #[test]
    fn batch_findings() {
        assert_eq!(batch_finding("b", Some(true), Ok(true)), None);
        assert_eq!(
            batch_finding("b", Some(false), Err(ErrorCode::BatchSize)),
            None
        );
        // Cannot tell (a message may or may not be visible): no finding either way.
        assert_eq!(batch_finding("b", None, Ok(true)), None);
        assert_eq!(
            batch_finding("b", None, Err(ErrorCode::MixedConversations)),
            None
        );
        let f = batch_finding("b", Some(false), Ok(true)).unwrap();
        assert_eq!(f.observed, "b accepted");
        let f = batch_finding("b", Some(true), Ok(false)).unwrap();
        assert_eq!(f.observed, "b answered with other ids than requested");
        let f = batch_finding("b", Some(true), Err(ErrorCode::Internal)).unwrap();
        assert_eq!(f.observed, "b rejected with INTERNAL");
        assert_eq!(f.bound, "a valid batch is accepted");
    }
}
