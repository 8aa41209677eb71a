//! The model's rules for get_group_message_read_member_list.

use super::*;

/// Users 0..=12; group 1 (Work) holds all; user 0 sends one message with receipts.
fn big_group() -> (H, MsgId) {
    let mut h = H::new(13);
    let all: Vec<u32> = (0..13).collect();
    h.group(1, GroupType::Work, &all);
    let id = h.send(0, Conv::Group(g(1)), true);
    (h, id)
}

#[test]
fn member_list_read_in_read_order_unread_in_audience_order() {
    let (mut h, id) = big_group();
    let readers = [9, 2, 12, 5, 1];
    for r in readers {
        h.read(r, &[id]);
    }
    assert_eq!(h.list_all(0, id, ReadFilter::Read, 100), users(&readers));
    assert_eq!(
        h.list_all(0, id, ReadFilter::Unread, 100),
        users(&[3, 4, 6, 7, 8, 10, 11])
    );
}

#[test]
fn member_list_count_out_of_range_and_wrong_messages() {
    let (mut h, id) = big_group();
    for filter in [ReadFilter::Read, ReadFilter::Unread] {
        assert_eq!(h.page(0, id, filter, 0, 0), err(ErrorCode::CountOutOfRange));
        assert_eq!(
            h.page(0, id, filter, 0, 101),
            err(ErrorCode::CountOutOfRange)
        );
        assert!(matches!(
            h.page(0, id, filter, 0, 100),
            Response::MemberList { .. }
        ));
        assert_eq!(
            h.page(1, id, filter, 0, 10),
            err(ErrorCode::NotMessageSender)
        );
        assert_eq!(
            h.page(0, MsgId(99), filter, 0, 10),
            err(ErrorCode::MessageNotFound)
        );
    }
    let c = h.send(0, Conv::C2c(u(1)), true);
    assert_eq!(
        h.page(0, c, ReadFilter::Read, 0, 10),
        err(ErrorCode::NotGroupMessage)
    );
    assert_eq!(
        h.page(1, c, ReadFilter::Read, 0, 10),
        err(ErrorCode::NotMessageSender),
        "permission is checked before the message kind"
    );
    let plain = h.send(0, Conv::Group(g(1)), false);
    assert_eq!(
        h.page(0, plain, ReadFilter::Unread, 0, 10),
        err(ErrorCode::ReceiptNotRequested)
    );
    // COUNT_OUT_OF_RANGE is checked before the message exists.
    assert_eq!(
        h.page(0, MsgId(99), ReadFilter::Read, 0, 0),
        err(ErrorCode::CountOutOfRange)
    );
}

#[test]
fn member_list_cursor_encodings() {
    let (mut h, id) = big_group();
    for r in [7, 3, 11] {
        h.read(r, &[id]);
    }
    // Read list: the cursor is the position in read order.
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Read, 0, 2),
        (users(&[7, 3]), 2, false)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Read, 2, 2),
        (users(&[11]), 3, true)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Read, 50, 2),
        (vec![], 3, true),
        "a cursor past the end is an empty, finished page"
    );
    // Unread list: the cursor is the next user id to consider.
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Unread, 0, 3),
        (users(&[1, 2, 4]), 5, false)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Unread, 5, 3),
        (users(&[5, 6, 8]), 9, false)
    );
    assert_eq!(
        h.page_ok(0, id, ReadFilter::Unread, 9, 3),
        (users(&[9, 10, 12]), 13, true),
        "is_finished as soon as nothing is left, without an empty extra page"
    );
}

#[test]
fn member_list_paging_with_page_size_k_covers_everything_once() {
    let (mut h, id) = big_group();
    for r in [4, 10, 1, 7, 12, 2] {
        h.read(r, &[id]);
    }
    let read = h.list_all(0, id, ReadFilter::Read, 100);
    let unread = h.list_all(0, id, ReadFilter::Unread, 100);
    for k in 1..=13 {
        assert_eq!(h.list_all(0, id, ReadFilter::Read, k), read, "k={k}");
        assert_eq!(h.list_all(0, id, ReadFilter::Unread, k), unread, "k={k}");
    }
    let r: BTreeSet<UserId> = read.iter().copied().collect();
    let un: BTreeSet<UserId> = unread.iter().copied().collect();
    assert_eq!(r.len(), read.len(), "no repeats");
    assert_eq!(un.len(), unread.len(), "no repeats");
    assert!(r.is_disjoint(&un));
    let union: Vec<UserId> = r.union(&un).copied().collect();
    assert_eq!(union, h.m.audience(id));
    assert_eq!(h.counts(0, id), (read.len() as u32, unread.len() as u32));
}

#[test]
fn member_list_paging_while_receipts_arrive_never_repeats_and_misses_no_stayer() {
    for k in 1..=4u32 {
        // Unread list: receipts arrive before and after the cursor between pages.
        let (mut h, id) = big_group();
        h.read(6, &[id]);
        let at_start: BTreeSet<UserId> = h
            .list_all(0, id, ReadFilter::Unread, 100)
            .into_iter()
            .collect();
        let arrivals = [1, 11, 3, 9, 2, 12];
        let mut listed = Vec::new();
        let mut cursor = 0;
        let mut step = 0;
        let mut done_unread = false;
        for _ in 0..100 {
            let (members, next, done) = h.page_ok(0, id, ReadFilter::Unread, cursor, k);
            listed.extend(members);
            cursor = next;
            if done {
                done_unread = true;
                break;
            }
            if let Some(&r) = arrivals.get(step) {
                h.read(r, &[id]);
            }
            step += 1;
        }
        assert!(done_unread, "k={k}: unread paging never finished");
        let set: BTreeSet<UserId> = listed.iter().copied().collect();
        assert_eq!(set.len(), listed.len(), "k={k}: never repeats a member");
        let became_read: BTreeSet<UserId> = arrivals[..step.min(arrivals.len())]
            .iter()
            .copied()
            .map(UserId)
            .collect();
        for stayer in at_start.difference(&became_read) {
            assert!(set.contains(stayer), "k={k}: missed {stayer}");
        }
        assert!(set.is_subset(&at_start));

        // Read list: readers keep arriving between pages; all of them show, once, in order.
        let (mut h, id) = big_group();
        for r in [5, 8] {
            h.read(r, &[id]);
        }
        let arrivals = [3, 12, 1, 7, 10];
        let mut listed = Vec::new();
        let mut cursor = 0;
        for step in 0..100 {
            let (members, next, done) = h.page_ok(0, id, ReadFilter::Read, cursor, k);
            listed.extend(members);
            cursor = next;
            if let Some(&r) = arrivals.get(step) {
                h.read(r, &[id]);
            } else if done {
                break;
            }
        }
        assert_eq!(listed, users(&[5, 8, 3, 12, 1, 7, 10]), "k={k}");
    }
}

#[test]
fn member_list_leaver_stays_in_unread_list() {
    let (mut h, id) = big_group();
    h.remove(1, 4);
    assert!(h.list_all(0, id, ReadFilter::Unread, 3).contains(&u(4)));
    assert_eq!(h.counts(0, id), (0, 12));
}
