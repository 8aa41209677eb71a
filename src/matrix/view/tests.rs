//! The view against the Matrix profile's rules it derives (docs/matrix.md: MX2, MX3, MX6,
//! MX7, MX8, MX9's `latest`), 1:1 rooms, pending events, replays and hostile input.

use super::*;
use crate::matrix::events::{RoomEvent, RoomUpdate};
use crate::matrix::timeline::Timeline;
use crate::protocol::{ErrorCode, ReadFilter};

const ROOM: &str = "!group:localhost";
const DM: &str = "!dm:localhost";

fn u(n: u32) -> String {
    format!("@u{n}:localhost")
}

fn view_of(me: u32) -> View {
    View::new(&u(me), Names::new("localhost")).unwrap()
}

fn msg(id: &str, sender: u32, need: bool) -> RoomEvent {
    RoomEvent::Message {
        event_id: id.into(),
        sender: u(sender),
        need_read_receipt: need,
        ts_ms: 1000,
    }
}

fn rcpt(user: u32, id: &str) -> RoomEvent {
    RoomEvent::Receipt {
        user: u(user),
        event_id: id.into(),
        ts_ms: 2000,
    }
}

fn member(user: u32, joined: bool) -> RoomEvent {
    RoomEvent::Membership {
        user: u(user),
        joined,
    }
}

fn update(room: &str, events: Vec<RoomEvent>) -> RoomUpdate {
    RoomUpdate {
        room_id: room.into(),
        events,
    }
}

fn group(read: u32, unread: u32) -> Counts {
    Counts::Group {
        read_count: read,
        unread_count: unread,
    }
}

/// One client (`me` = u1) of a run, with the run's timeline; sends go through the timeline in
/// order, as the adapter does them.
struct Fx {
    tl: Timeline,
    v: View,
}

impl Fx {
    /// u1's view of ROOM with members u1..=n.
    fn group(n: u32) -> Fx {
        let mut v = view_of(1);
        let members: Vec<String> = (1..=n).map(u).collect();
        v.set_members(ROOM, &members);
        Fx {
            tl: Timeline::new(),
            v,
        }
    }

    /// A successful send in `room`: mine through `note_sent`, others' as their sync shows it.
    fn send_in(&mut self, room: &str, id: &str, sender: u32, need: bool) -> Vec<Derived> {
        let seq = self.tl.record_sent(room, id);
        if sender == 1 {
            self.v.note_sent(room, id, seq, need)
        } else {
            self.v
                .apply(&update(room, vec![msg(id, sender, need)]), &self.tl)
        }
    }

    fn send(&mut self, id: &str, sender: u32, need: bool) -> Vec<Derived> {
        self.send_in(ROOM, id, sender, need)
    }

    fn sync(&mut self, events: Vec<RoomEvent>) -> Vec<Derived> {
        self.v.apply(&update(ROOM, events), &self.tl)
    }
}

/// The receipts pushes of `d`, each as its (event id, counts) list.
fn pushes(d: &[Derived]) -> Vec<Vec<(String, Counts)>> {
    d.iter()
        .filter_map(|d| match d {
            Derived::Receipts { entries, .. } => Some(
                entries
                    .iter()
                    .map(|e| (e.event_id.clone(), e.counts))
                    .collect(),
            ),
            Derived::NewMessage { .. } => None,
        })
        .collect()
}

fn one(id: &str, counts: Counts) -> Vec<(String, Counts)> {
    vec![(id.to_string(), counts)]
}

#[test]
fn new_message_for_others_messages_never_for_mine() {
    let mut f = Fx::group(3);
    let d = f.send("$a", 2, true);
    assert_eq!(
        d,
        vec![Derived::NewMessage {
            room: ROOM.into(),
            event_id: "$a".into(),
            sender: UserId(2),
            seq: 1,
            ts_ms: 1000,
            need_read_receipt: true,
        }]
    );
    assert!(f.send("$b", 1, true).is_empty());
    // My own message's sync echo, after the send answer placed it: nothing new.
    assert!(f.sync(vec![msg("$b", 1, true)]).is_empty());
    // My message seen only through sync (no note_sent) is placed, still without a push.
    f.tl.record_sent(ROOM, "$c");
    assert!(f.sync(vec![msg("$c", 1, false)]).is_empty());
    assert_eq!(f.v.seq("$c"), Some(3));
    assert_eq!(f.v.sender("$c"), Some(UserId(1)));
    assert_eq!(f.v.need_read_receipt("$c"), Some(false));
    assert_eq!(f.v.room_of("$a"), Some(ROOM));
    assert_eq!(f.v.latest(ROOM), Some("$c"));
}

#[test]
fn new_message_only_while_i_am_a_member() {
    let mut tl = Timeline::new();
    let mut v = view_of(1);
    for id in ["$old", "$new", "$gone"] {
        tl.record_sent(ROOM, id);
    }
    // The room as my join shows it: recent history, my join, then what came after.
    let d = v.apply(
        &update(
            ROOM,
            vec![msg("$old", 2, true), member(1, true), msg("$new", 2, true)],
        ),
        &tl,
    );
    assert!(matches!(&d[..], [Derived::NewMessage { event_id, seq: 2, .. }] if event_id == "$new"));
    assert_eq!((v.seq("$old"), v.latest(ROOM)), (Some(1), Some("$new")));
    assert!(
        v.apply(
            &update(ROOM, vec![member(1, false), msg("$gone", 2, false)]),
            &tl
        )
        .is_empty()
    );
    assert_eq!(v.seq("$gone"), Some(3));
}

#[test]
fn mx2_a_marker_never_moves_back_and_repeats_change_nothing() {
    let mut f = Fx::group(3);
    f.send("$1", 1, true);
    f.send("$2", 1, true);
    f.send("$3", 2, false);
    assert_eq!(pushes(&f.sync(vec![rcpt(2, "$3")])).len(), 1);
    assert_eq!(f.v.marker(ROOM, UserId(2)), 3);
    // Older and repeated receipts: success without effect, no push.
    assert!(f.sync(vec![rcpt(2, "$1"), rcpt(2, "$3")]).is_empty());
    assert_eq!(f.v.marker(ROOM, UserId(2)), 3);
    assert_eq!(f.v.counts("$1"), Some(group(1, 1)));
}

#[test]
fn mx3_a_receipt_reads_every_earlier_message_and_lists_only_mine_that_asked() {
    let mut f = Fx::group(5);
    f.send("$1", 1, true);
    f.send("$2", 3, true);
    f.send("$3", 1, true);
    f.send("$4", 1, false);
    f.send("$5", 1, true);
    let d = f.sync(vec![rcpt(2, "$4")]);
    assert_eq!(
        pushes(&d),
        vec![vec![("$1".into(), group(1, 3)), ("$3".into(), group(1, 3))]]
    );
    // $4 did not ask, yet it is read (MX1: the receipt counts, only the push skips it).
    assert_eq!(f.v.counts("$4"), Some(group(1, 3)));
    assert_eq!(f.v.counts("$5"), Some(group(0, 4)));
    // Another reader covering all three: counts after its move, in seq order.
    let d = f.sync(vec![rcpt(3, "$5")]);
    assert_eq!(
        pushes(&d),
        vec![vec![
            ("$1".into(), group(2, 2)),
            ("$3".into(), group(2, 2)),
            ("$5".into(), group(1, 3)),
        ]]
    );
    // u2 moving on lists only what is new to u2.
    assert_eq!(
        pushes(&f.sync(vec![rcpt(2, "$5")])),
        vec![one("$5", group(2, 2))]
    );
    // $2 is u3's: its audience is everyone but u3, and u3's own receipt does not count.
    assert_eq!(f.v.counts("$2"), Some(group(1, 3)));
}

#[test]
fn mx6_counts_follow_the_current_members() {
    let mut f = Fx::group(3);
    f.send("$1", 1, true);
    assert_eq!(
        pushes(&f.sync(vec![rcpt(2, "$1")])),
        vec![one("$1", group(1, 1))]
    );
    // A later joiner starts unread and counts once it reads (a message from before it joined).
    assert!(f.sync(vec![member(9, true)]).is_empty());
    assert_eq!(f.v.counts("$1"), Some(group(1, 2)));
    assert_eq!(
        pushes(&f.sync(vec![rcpt(9, "$1")])),
        vec![one("$1", group(2, 1))]
    );
    // A leaver drops out of both lists.
    f.sync(vec![member(2, false)]);
    assert_eq!(f.v.counts("$1"), Some(group(1, 1)));
    assert_eq!(f.v.members(ROOM), vec![UserId(1), UserId(3), UserId(9)]);
    // A former member's receipt moves its marker but notifies nobody (MX7: current members).
    f.send("$2", 1, true);
    assert!(f.sync(vec![rcpt(2, "$2")]).is_empty());
    assert_eq!(f.v.marker(ROOM, UserId(2)), 2);
    // Back in the room, its reads count again.
    f.sync(vec![member(2, true)]);
    assert_eq!(f.v.counts("$2"), Some(group(1, 2)));
    assert_eq!(f.v.counts("$1"), Some(group(2, 1)));
}

#[test]
fn mx7_one_push_per_receipt_event_never_for_my_own_receipt() {
    let mut f = Fx::group(4);
    f.send("$1", 1, true);
    f.send("$2", 2, false);
    // One m.receipt carrying two readers arrives as two Receipt events: two pushes, each with
    // the counts after its own move.
    let d = f.sync(vec![rcpt(2, "$2"), rcpt(3, "$2")]);
    assert_eq!(
        pushes(&d),
        vec![one("$1", group(1, 2)), one("$1", group(2, 1))]
    );
    // My receipt for my own message moves my marker and counts nobody.
    f.send("$3", 1, true);
    assert!(f.sync(vec![rcpt(1, "$3")]).is_empty());
    assert_eq!(f.v.marker(ROOM, UserId(1)), 3);
    assert_eq!(f.v.counts("$3"), Some(group(0, 3)));
    // A move that passes only messages that did not ask pushes nothing.
    f.send("$4", 1, false);
    let d = f.sync(vec![rcpt(4, "$1"), rcpt(4, "$2")]);
    assert_eq!(pushes(&d), vec![one("$1", group(3, 0))]);
    // u2 moving past $3 and $4 lists $3 alone.
    assert_eq!(
        pushes(&f.sync(vec![rcpt(2, "$4")])),
        vec![one("$3", group(1, 2))]
    );
}

/// Pages `filter` to the end with page size 2, checking each page's shape.
fn page_all(v: &View, id: &str, filter: ReadFilter) -> Vec<UserId> {
    let (mut all, mut next) = (Vec::new(), 0);
    for _ in 0..100 {
        let p = v.member_list(id, filter, next, 2).unwrap();
        assert!(p.members.len() <= 2);
        assert!(
            !p.members.is_empty() || all.is_empty(),
            "empty trailing page"
        );
        all.extend(&p.members);
        next = p.next_seq;
        if p.is_finished {
            return all;
        }
    }
    panic!("paging never finished");
}

#[test]
fn mx8_both_lists_page_ascending_by_user_and_cover_everyone_once() {
    let mut f = Fx::group(8);
    let more: Vec<String> = (1..=8).chain([12, 30]).map(u).collect();
    f.v.set_members(ROOM, &more);
    f.send("$1", 1, true);
    f.sync(vec![rcpt(12, "$1"), rcpt(5, "$1"), rcpt(3, "$1")]);
    let read = page_all(&f.v, "$1", ReadFilter::Read);
    let unread = page_all(&f.v, "$1", ReadFilter::Unread);
    assert_eq!(read, [3, 5, 12].map(UserId));
    assert_eq!(unread, [2, 4, 6, 7, 8, 30].map(UserId));
    assert_eq!(f.v.counts("$1"), Some(group(3, 6)));
    // The cursor is the smallest user id still to consider.
    let p = f.v.member_list("$1", ReadFilter::Unread, 5, 2).unwrap();
    assert_eq!(
        (p.members, p.next_seq, p.is_finished),
        (vec![UserId(6), UserId(7)], 8, false)
    );
    let p = f.v.member_list("$1", ReadFilter::Read, 0, 2).unwrap();
    assert_eq!(p.to_wire().members, ["u3", "u5"]);
    assert_eq!((p.next_seq, p.is_finished), (6, false));
    // Exactly a page left: finished, no trailing empty page.
    let p = f.v.member_list("$1", ReadFilter::Unread, 8, 2).unwrap();
    assert_eq!((p.members.len(), p.is_finished), (2, true));
    for past in [31, u64::from(u32::MAX) + 5] {
        let p = f.v.member_list("$1", ReadFilter::Read, past, 2).unwrap();
        assert_eq!(
            (p.members.is_empty(), p.next_seq, p.is_finished),
            (true, past, true)
        );
    }
}

#[test]
fn mx8_a_read_during_paging_never_repeats_a_member() {
    let mut f = Fx::group(7);
    f.send("$1", 1, true);
    let first = f.v.member_list("$1", ReadFilter::Unread, 0, 2).unwrap();
    assert_eq!(first.members, [UserId(2), UserId(3)]);
    // u3 (already listed) and u6 (not yet) read in between.
    f.sync(vec![rcpt(3, "$1"), rcpt(6, "$1")]);
    let mut rest = Vec::new();
    let mut next = first.next_seq;
    loop {
        let p = f.v.member_list("$1", ReadFilter::Unread, next, 2).unwrap();
        rest.extend(p.members);
        next = p.next_seq;
        if p.is_finished {
            break;
        }
    }
    assert_eq!(rest, [4, 5, 7].map(UserId));
}

#[test]
fn pulls_answer_readsims_errors_in_check_order() {
    let mut f = Fx::group(3);
    f.v.set_direct(DM, UserId(2));
    f.send("$mine", 1, true);
    f.send("$quiet", 1, false);
    f.send("$theirs", 2, true);
    f.send_in(DM, "$dm", 1, true);
    let list = |id: &str, count| f.v.member_list(id, ReadFilter::Read, 0, count);
    assert_eq!(list("$nope", 0), Err(ErrorCode::CountOutOfRange));
    assert_eq!(list("$mine", 101), Err(ErrorCode::CountOutOfRange));
    assert_eq!(list("$nope", 1), Err(ErrorCode::MessageNotFound));
    assert_eq!(list("$theirs", 1), Err(ErrorCode::NotMessageSender));
    assert_eq!(list("$dm", 1), Err(ErrorCode::NotGroupMessage));
    assert_eq!(list("$quiet", 1), Err(ErrorCode::ReceiptNotRequested));
    assert!(list("$mine", 100).is_ok());
    assert_eq!(f.v.receipt_entry("$nope"), Err(ErrorCode::MessageNotFound));
    assert_eq!(
        f.v.receipt_entry("$theirs"),
        Err(ErrorCode::NotMessageSender)
    );
    assert_eq!(
        f.v.receipt_entry("$quiet"),
        Err(ErrorCode::ReceiptNotRequested)
    );
    assert_eq!(f.v.receipt_entry("$mine"), Ok(group(0, 2)));
    assert_eq!(
        f.v.receipt_entry("$dm"),
        Ok(Counts::Direct {
            peer: UserId(2),
            is_peer_read: false
        })
    );
}

#[test]
fn one_to_one_rooms_say_whether_the_peer_read() {
    let mut f = Fx::group(2);
    f.v.set_direct(DM, UserId(2));
    f.v.set_members(DM, &[u(1), u(2)]);
    f.send_in(DM, "$d1", 1, true);
    f.send_in(DM, "$d2", 2, false);
    f.send_in(DM, "$d3", 1, true);
    assert_eq!(f.v.latest(DM), Some("$d3"));
    let read = Counts::Direct {
        peer: UserId(2),
        is_peer_read: true,
    };
    let d = f.v.apply(&update(DM, vec![rcpt(2, "$d2")]), &f.tl);
    assert_eq!(pushes(&d), vec![one("$d1", read)]);
    assert_eq!(
        f.v.counts("$d3"),
        Some(Counts::Direct {
            peer: UserId(2),
            is_peer_read: false
        })
    );
    // The peer's own message is read by me once my marker reaches it.
    f.v.apply(&update(DM, vec![rcpt(1, "$d2")]), &f.tl);
    assert_eq!(
        f.v.counts("$d2"),
        Some(Counts::Direct {
            peer: UserId(1),
            is_peer_read: true
        })
    );
    // A third user's receipt in a 1:1 room (hostile) is nobody's read.
    assert!(
        f.v.apply(&update(DM, vec![rcpt(7, "$d3")]), &f.tl)
            .is_empty()
    );
    let e = read.wire_entry("m9", "unused");
    assert_eq!(
        (
            e.msg_id.as_str(),
            e.user_id.as_deref(),
            e.is_peer_read,
            e.group_id
        ),
        ("m9", Some("u2"), Some(true), None)
    );
    let e = group(3, 4).wire_entry("m1", "g3");
    assert_eq!(
        (
            e.group_id.as_deref(),
            e.read_count,
            e.unread_count,
            e.user_id
        ),
        (Some("g3"), Some(3), Some(4), None)
    );
}

#[test]
fn a_receipt_before_its_message_waits_and_is_pushed_once_send_answer_first() {
    let mut f = Fx::group(3);
    // u2 saw my message and receipted it before my send answer came back.
    assert!(f.sync(vec![rcpt(2, "$1")]).is_empty());
    assert_eq!(f.v.pending(), (0, 1));
    assert_eq!(f.v.marker(ROOM, UserId(2)), 0);
    let seq = f.tl.record_sent(ROOM, "$1");
    assert!(f.v.note_sent(ROOM, "$1", seq, true).is_empty());
    let d = f.v.resolve_pending(&f.tl);
    assert_eq!(pushes(&d), vec![one("$1", group(1, 1))]);
    assert_eq!(f.v.pending(), (0, 0));
    assert!(f.v.resolve_pending(&f.tl).is_empty());
}

#[test]
fn a_receipt_before_its_message_waits_and_is_pushed_once_pending_first() {
    let mut f = Fx::group(3);
    f.sync(vec![rcpt(2, "$1")]);
    let seq = f.tl.record_sent(ROOM, "$1");
    // The receipt resolves before the view holds my message: the marker moves, nothing of
    // mine is known to list yet...
    assert!(f.v.resolve_pending(&f.tl).is_empty());
    assert_eq!(f.v.marker(ROOM, UserId(2)), 1);
    // ...so placing the message notifies the read it missed, once.
    assert_eq!(
        pushes(&f.v.note_sent(ROOM, "$1", seq, true)),
        vec![one("$1", group(1, 1))]
    );
    assert!(f.sync(vec![msg("$1", 1, true), rcpt(2, "$1")]).is_empty());
}

#[test]
fn a_message_before_its_seq_waits_for_the_timeline() {
    let mut f = Fx::group(3);
    // u2's message reaches my sync (twice: a replay) before u2's send answer is recorded.
    assert!(f.sync(vec![msg("$a", 2, true)]).is_empty());
    assert!(f.sync(vec![msg("$a", 2, true)]).is_empty());
    assert_eq!(f.v.pending(), (1, 0));
    assert_eq!(f.v.counts("$a"), None);
    f.tl.record_sent(ROOM, "$a");
    let d = f.v.resolve_pending(&f.tl);
    assert!(matches!(&d[..], [Derived::NewMessage { seq: 1, event_id, .. }] if event_id == "$a"));
    assert!(f.v.resolve_pending(&f.tl).is_empty());
    // The next sync also retries what waits, before its own events (seq order kept).
    f.sync(vec![msg("$b", 3, false)]);
    f.tl.record_sent(ROOM, "$b");
    f.tl.record_sent(ROOM, "$c");
    let d = f.sync(vec![msg("$c", 2, false)]);
    let seqs: Vec<u64> = d
        .iter()
        .map(|d| match d {
            Derived::NewMessage { seq, .. } => *seq,
            Derived::Receipts { .. } => 0,
        })
        .collect();
    assert_eq!(seqs, [2, 3]);
}

#[test]
fn a_batch_delivered_twice_derives_nothing_the_second_time() {
    let mut f = Fx::group(4);
    f.send("$1", 1, true);
    f.tl.record_sent(ROOM, "$2");
    let batch = vec![
        msg("$2", 2, true),
        member(9, true),
        member(4, false),
        rcpt(2, "$2"),
        rcpt(3, "$1"),
    ];
    let first = f.sync(batch.clone());
    assert_eq!(first.len(), 3);
    // Counts over the members after the batch's timeline: u9 in, u4 out.
    assert_eq!(
        pushes(&first),
        vec![one("$1", group(1, 2)), one("$1", group(2, 1))]
    );
    let state = (f.v.counts("$1"), f.v.members(ROOM), f.v.counts("$2"));
    assert!(f.sync(batch).is_empty());
    assert_eq!(
        state,
        (f.v.counts("$1"), f.v.members(ROOM), f.v.counts("$2"))
    );
}

#[test]
fn a_late_joiner_numbers_what_it_sees_as_everyone_does() {
    // u1 sends from the start; u3 joins after $1 and never sees it in its own sync.
    let mut tl = Timeline::new();
    let mut sender = view_of(1);
    let mut late = view_of(3);
    sender.set_members(ROOM, &[u(1), u(2), u(3)]);
    late.set_members(ROOM, &[u(1), u(2), u(3)]);
    let s1 = tl.record_sent(ROOM, "$1");
    sender.note_sent(ROOM, "$1", s1, true);
    let s2 = tl.record_sent(ROOM, "$2");
    sender.note_sent(ROOM, "$2", s2, true);
    let d = late.apply(&update(ROOM, vec![msg("$2", 1, true)]), &tl);
    assert!(matches!(&d[..], [Derived::NewMessage { seq: 2, .. }]));
    assert_eq!(late.seq("$1"), None);
    // u3 receipts $1 (history visibility lets it); the sender's sync shows that receipt.
    let d = sender.apply(&update(ROOM, vec![rcpt(3, "$1")]), &tl);
    assert_eq!(pushes(&d), vec![one("$1", group(1, 1))]);
    // The late joiner's view places the marker by the timeline too, without the message.
    late.apply(&update(ROOM, vec![rcpt(2, "$1")]), &tl);
    assert_eq!(late.marker(ROOM, UserId(2)), 1);
}

#[test]
fn hostile_input_changes_nothing_it_should_not_and_never_panics() {
    let mut f = Fx::group(3);
    f.send("$1", 1, true);
    // Foreign users: counted, never members, senders or readers.
    let d = f.sync(vec![
        member(2, false),
        RoomEvent::Membership {
            user: "@admin:localhost".into(),
            joined: true,
        },
        RoomEvent::Receipt {
            user: "@u2:elsewhere".into(),
            event_id: "$1".into(),
            ts_ms: 0,
        },
    ]);
    assert!(d.is_empty());
    assert_eq!(f.v.ignored().foreign_users, 2);
    assert_eq!(f.v.members(ROOM), vec![UserId(1), UserId(3)]);
    // An event id named in another room moves no marker there.
    assert!(
        f.v.apply(&update("!other", vec![rcpt(3, "$1")]), &f.tl)
            .is_empty()
    );
    assert_eq!(f.v.marker("!other", UserId(3)), 0);
    assert_eq!(f.v.marker(ROOM, UserId(3)), 0);
    // A seq already taken, or 0, places nothing.
    assert!(f.v.note_sent(ROOM, "$dup", 1, true).is_empty());
    assert!(f.v.note_sent(ROOM, "$zero", 0, true).is_empty());
    assert_eq!(f.v.ignored().conflicting, 2);
    assert_eq!((f.v.seq("$dup"), f.v.seq("$zero")), (None, None));
    // Receipts for events nobody sent wait, boundedly.
    let junk: Vec<RoomEvent> = (0..MAX_PENDING + 10)
        .map(|i| rcpt(3, &format!("$junk{i}")))
        .collect();
    assert!(f.sync(junk).is_empty());
    assert_eq!(f.v.pending(), (0, MAX_PENDING));
    assert_eq!(f.v.ignored().pending_dropped, 10);
    // Queries about things the view never saw.
    assert_eq!(f.v.counts("$junk1"), None);
    assert_eq!(f.v.latest("!nowhere"), None);
    assert_eq!(f.v.members("!nowhere"), Vec::<UserId>::new());
    assert!(View::new("@admin:localhost", Names::new("localhost")).is_none());
}

#[test]
fn a_view_moves_to_the_clients_task() {
    fn sendable<T: Send>() {}
    sendable::<View>();
}

/// MX11: once I (the sender) left the group, the homeserver syncs me nothing of it, so my
/// pulls and lists there are refused; back in the room, they are answered again.
#[test]
fn mx11_a_sender_who_left_may_not_pull_its_counts_or_lists() {
    let mut f = Fx::group(3);
    f.send("$1", 1, true);
    f.send("$2", 2, true);
    assert_eq!(f.v.receipt_entry("$1"), Ok(group(0, 2)));
    f.sync(vec![member(1, false)]);
    assert_eq!(
        f.v.receipt_entry("$1"),
        Err(ErrorCode::NotConversationParty)
    );
    assert_eq!(
        f.v.member_list("$1", ReadFilter::Read, 0, 10),
        Err(ErrorCode::NotConversationParty)
    );
    // Who is not the sender hears that first, as before.
    assert_eq!(f.v.receipt_entry("$2"), Err(ErrorCode::NotMessageSender));
    f.sync(vec![member(1, true)]);
    assert!(f.v.receipt_entry("$1").is_ok());
}
